/* Internal stages of layout analysis, split by concern: grouping connected
 * components into lines (lines.c) and ordering lines into blocks (xycut.c,
 * columns.c). */
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

/* The boxes of the 8-connected ink components of bin (malloc'd; none on a
 * blank page or one of more than 200000 specks, which is not text). */
int dv_page_components(PIX *bin, dv_box **boxes, int *n, dv_err *e);

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
 * recursive X-Y cut; a part that no cut divides but that holds lines side
 * by side is ordered by dv_order_columns. */
int dv_xycut(const dv_line_set *s, dv_layout *out, dv_err *e);

/* 1 when two of the n boxes flagged as lines sit side by side (sharing half
 * the rows of the lower one, no columns): text in more than one column. */
int dv_boxes_side_by_side(const dv_box *b, const int *is_line, int n);

/* Reading order of n boxes (is_line[i]: a text line, else a picture) that
 * no X-Y cut divides (columns.c): order[] (n) gets the boxes' indices piece
 * by piece, each piece a run of a column's lines top down (or a picture),
 * starts[] (n + 1) where each piece begins in order[] and its end,
 * *n_pieces their number: 0 when no two pieces of prose stand side by side
 * (a table's cells: read row by row) or the pieces are too many to order;
 * then the boxes are best read top down. *n_columns: the most pieces of
 * prose side by side. */
int dv_order_columns(const dv_box *b, const int *is_line, int n, int *order, int *starts,
                     int *n_pieces, int *n_columns, dv_err *e);

#endif
