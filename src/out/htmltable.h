/* HTML tables (as models often answer them) to GitHub-flavoured Markdown
 * pipe tables.
 *
 * Rules, as documented in docs/cli.md:
 * - rows are the <tr> of the table in document order (thead, tbody, tfoot
 *   or bare), never those of a nested table (whose text joins its cell's);
 * - the first row is the header row (GFM has exactly one);
 * - a cell spanning r rows and c columns repeats its text in every slot it
 *   covers, so each row of the Markdown reads on its own; spans are capped
 *   (DV_TABLE_MAX_SPAN) and rows spanning past the table's end are dropped;
 * - short rows are padded with empty cells;
 * - <b>/<strong> become **...**, <i>/<em> become _..._, <sup>/<sub> stay as
 *   HTML, <br> and runs of white space become one space; | and the other
 *   Markdown punctuation in cell text are backslash-escaped. */
#ifndef DV_OUT_HTMLTABLE_H
#define DV_OUT_HTMLTABLE_H

#include <glib.h>

#include "base/error.h"

#define DV_TABLE_MAX_SPAN 64
#define DV_TABLE_MAX_COLS 512
#define DV_TABLE_MAX_ROWS 20000

/* Appends the GFM form of the first <table> in html to out. DOCVL_EFORMAT
 * (out untouched) when there is no table or it has no cells. */
int dv_html_table_to_gfm(const char *html, size_t len, GString *out, dv_err *e);

/* Copies Markdown text with every top-level <table>...</table> (an unclosed
 * one runs to the end) replaced by its GFM table set off by blank lines.
 * <html>/<body> tags and a ```html fence right around a converted table go
 * with it. Tables that cannot be converted are kept as they are. Caller
 * frees. */
char *dv_markdown_convert_tables(const char *text);

/* Appends a GFM table of rows x cols cells (row major, Markdown already:
 * escaped by the caller; NULL is empty); the first row is the header. */
void dv_gfm_table(GString *out, char *const *cells, int rows, int cols);

/* Appends s with Markdown's inline punctuation backslash-escaped. */
void dv_md_escape(GString *out, const char *s, size_t len);

#endif
