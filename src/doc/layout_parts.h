/* Internal stages of layout analysis, split by concern: grouping connected
 * components into lines (lines.c) and ordering lines into blocks (xycut.c). */
#ifndef DV_DOC_LAYOUT_PARTS_H
#define DV_DOC_LAYOUT_PARTS_H

#include <leptonica/allheaders.h>

#include "doc/layout.h"

/* The page as 8-bit gray, and that made 1-bit (1 = ink) by Sauvola's
 * adaptive threshold; NULL when out of memory. */
PIX *dv_page_gray(const dv_image *im);
PIX *dv_page_binarize(PIX *gray);
/* Both in one: the page's ink; NULL when out of memory. */
PIX *dv_page_ink(const dv_image *im);

typedef struct dv_line_set {
    dv_box *lines;
    int n_lines;
    dv_box *figures;
    int n_figures;
    double char_h;
} dv_line_set;

/* Groups component boxes into text lines; components too large for text
 * become figures, specks that join no line are dropped. */
int dv_group_lines(const dv_box *comps, int n, int page_h, dv_line_set *out, dv_err *e);
void dv_line_set_free(dv_line_set *s);

/* Fills out->lines, out->blocks and out->n_columns from a line set by a
 * recursive X-Y cut. */
int dv_xycut(const dv_line_set *s, dv_layout *out, dv_err *e);

#endif
