/* Page orientation: pages scanned or placed sideways or upside down, found
 * from the statistics of ascenders and descenders (Leptonica's
 * pixOrientDetect) or, where those are too weak (a page of a few lines,
 * type much larger than book type), from the page's glyphs (orient.c), and
 * undone by exact quarter turns, before layout and the model see the page. */
#ifndef DV_DOC_ORIENT_H
#define DV_DOC_ORIENT_H

#include "base/error.h"
#include "image/image.h"

/* Sets *rotate_deg to the clockwise turn (0, 90, 180 or 270) that makes the
 * text upright, 0 when the text is upright or the evidence is weak.
 * Leptonica decides when its confidence is 8 or more and well ahead of the
 * other axis ("upside down" only on a page of prose lines, where tables of
 * figures fool the statistics). Otherwise the glyphs decide: sideways when
 * their nearest neighbours lie mostly above or below them (twice as many
 * as beside them, at least 20), and which way up by the glyphs that
 * reach above the x-height and below the baseline on the text lines
 * (twice as many one way as the other, at least 8; upside down only on
 * prose). *conf (may be NULL) is Leptonica's confidence. The statistics
 * are those of Latin-like scripts: pages in scripts without ascenders and
 * descenders (Hebrew, CJK) can be misjudged. */
int dv_orient_detect(const dv_image *page, int *rotate_deg, double *conf, dv_err *e);

/* Turns in clockwise by deg (a multiple of 90) into *out (a new image). */
int dv_orient_rotate(const dv_image *in, int deg, dv_image *out, dv_err *e);

/* Levels text lines that descend to the right by deg degrees (a layout's
 * skew_deg, a few degrees at most): in turned about its centre by deg
 * counter-clockwise into *out, of the same size, bilinear, white where no
 * page was. */
int dv_orient_deskew(const dv_image *in, double deg, dv_image *out, dv_err *e);

#endif
