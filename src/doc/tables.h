/* Tables in a text-layer page: runs of word rows whose words fall into the
 * same columns, found from the word boxes alone (docs/tables.md).
 *
 * Rows are the page's words grouped by vertical position (not the reading
 * order's lines, which may follow a table column by column). A run of rows
 * is a table while the x ranges free of ink in all its rows (the vertical
 * whitespace gaps between columns) keep splitting it into the same columns;
 * a row whose words bridge a gap ends it. The run is kept only when it looks
 * like data rather than prose: several narrow cells or numeric content, so
 * that paragraphs, two text columns, lists and running heads stay text. */
#ifndef DV_DOC_TABLES_H
#define DV_DOC_TABLES_H

#include "base/error.h"
#include "out/page.h"

/* Pages with more words are left alone: the search stays bounded. */
#define DV_TEXT_TABLE_MAX_WORDS 20000

/* Finds p's tables. No tables (not an error) for pages without blocks or
 * with more than DV_TEXT_TABLE_MAX_WORDS words. out is cleared first (not
 * freed: it may be p->tables); free it with dv_page_tables_free whatever
 * the result. */
int dv_text_tables_find(const dv_page_result *p, dv_page_tables *out, dv_err *e);

#endif
