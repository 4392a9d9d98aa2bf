/* Layout analysis without the model (Leptonica): adaptive binarization
 * (Sauvola), skew estimation and deskew when the page is a few degrees off,
 * connected components grouped into text lines, lines into blocks by a
 * recursive X-Y cut that prefers column gutters, giving reading order:
 * columns left to right, each top to bottom.
 *
 * All boxes are in pixel coordinates of the page image that was analysed
 * (the ORIGINAL rendered page, also when it was deskewed internally: boxes
 * found on the deskewed page are rotated back and enclosed). */
#ifndef DV_DOC_LAYOUT_H
#define DV_DOC_LAYOUT_H

#include "base/box.h"
#include "base/error.h"
#include "image/image.h"

typedef enum dv_block_kind {
    DV_BLOCK_TEXT = 1,    /* holds text lines */
    DV_BLOCK_FIGURE = 2,  /* ink too large to be text: pictures, rules, frames */
} dv_block_kind;

typedef struct dv_block {
    dv_box box;
    dv_block_kind kind;
    int first_line, n_lines;  /* range in dv_layout.lines */
} dv_block;

typedef struct dv_layout {
    int page_w, page_h;
    double skew_deg;      /* text lines descend to the right by this many degrees */
    double skew_conf;     /* Leptonica's confidence; < 2 means no reliable estimate */
    int deskewed;         /* 1 when lines were found on a deskewed copy */
    double char_h;        /* median character height in pixels (0: no text) */
    dv_box *lines;        /* text lines in reading order, grouped by block */
    int n_lines;
    dv_block *blocks;     /* in reading order */
    int n_blocks;
    int n_columns;        /* most side-by-side text columns found on the page */
} dv_layout;

typedef struct dv_layout_options {
    double max_deskew_deg;  /* deskew only up to this angle; 0: 5 degrees */
} dv_layout_options;

/* Analyses an RGB page. opts may be NULL. */
int dv_layout_analyze(const dv_image *page, const dv_layout_options *opts, dv_layout *out,
                      dv_err *e);
void dv_layout_free(dv_layout *l);

#endif
