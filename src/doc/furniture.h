/* Page furniture: running heads, running feet, page numbers and notes set
 * sideways in a margin (an arXiv stamp, "Downloaded from ..."), found in
 * a PDF text layer so that Markdown can leave them out, as Markdown
 * readers do (docs/cli.md). A line is furniture when it
 *  - lies in the top or bottom band of the page (FURNITURE_BAND) and a
 *    page up to two before or after has a line of the same text (digits
 *    aside: "Page 3" and "Page 4" match) at about the same height; in the
 *    top band, with no line of the page's own above it or set close below
 *    it (a table's head repeated under each page's caption is the body's);
 *  - is the page's top or bottom line and holds a page number ("12", "- 12 -",
 *    "Page 12", "12 of 40", "xii"), alone or as a part set apart by wide
 *    gaps, centred or in the outer half of the band (a running foot
 *    "Journal | 7 | March 2014" goes with its number);
 *  - runs up or down the page in its left or right margin. */
#ifndef DV_DOC_FURNITURE_H
#define DV_DOC_FURNITURE_H

#include "doc/document.h"
#include "doc/textlayer.h"

/* The margin lines of the pages looked at so far, for one document. */
typedef struct dv_furniture dv_furniture;

int dv_furniture_new(dv_doc *doc, dv_furniture **out, dv_err *e);
void dv_furniture_free(dv_furniture *f);

/* Removes page `index`'s furniture from t's words (boxes at dpi; t->text
 * keeps them); *n_dropped (may be NULL) counts the words removed. Reads
 * the text layers of up to two pages on each side, once each. */
int dv_furniture_strip(dv_furniture *f, int index, double dpi, dv_page_text *t, int *n_dropped,
                       dv_err *e);

#endif
