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

typedef struct dv_text_table {
    int n_rows, n_cols;     /* the first row is the header */
    char **cells;           /* n_rows * n_cols, row major, UTF-8 as in the words; "" when empty */
    int *spans;             /* n_rows * n_cols: the columns a cell covers from its own
                               (a header over several); 1 for most, 0 for empty cells */
    dv_rect box;
} dv_text_table;

typedef struct dv_text_tables {
    dv_text_table *tables;
    int n_tables;
    /* For each word of the page, in block, line and word order: the index of
     * the table it belongs to, or -1. */
    int *word_table;
    int n_words;
} dv_text_tables;

/* Finds p's tables. No tables (not an error) for pages without blocks or
 * with more than DV_TEXT_TABLE_MAX_WORDS words. out is cleared first;
 * free it with dv_text_tables_free whatever the result. */
int dv_text_tables_find(const dv_page_result *p, dv_text_tables *out, dv_err *e);
void dv_text_tables_free(dv_text_tables *t);

#endif
