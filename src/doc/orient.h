/* Page orientation: pages scanned or placed sideways or upside down, found
 * from the statistics of ascenders and descenders (Leptonica's
 * pixOrientDetect) and undone by exact quarter turns, before layout and the
 * model see the page. */
#ifndef DV_DOC_ORIENT_H
#define DV_DOC_ORIENT_H

#include "base/error.h"
#include "image/image.h"

/* Sets *rotate_deg to the clockwise turn (0, 90, 180 or 270) that makes the
 * text upright, 0 when the text is upright or the evidence is weak (too
 * little text, no clear winner, or "upside down" on a page without prose
 * lines, where tables of figures fool the statistics); *conf (may be NULL)
 * to the strength of the evidence (Leptonica's confidence; 8 or more is
 * needed). The statistics are those of Latin-like scripts: pages in scripts
 * without ascenders and descenders (Hebrew, CJK) can be misjudged. */
int dv_orient_detect(const dv_image *page, int *rotate_deg, double *conf, dv_err *e);

/* Turns in clockwise by deg (a multiple of 90) into *out (a new image). */
int dv_orient_rotate(const dv_image *in, int deg, dv_image *out, dv_err *e);

/* Levels text lines that descend to the right by deg degrees (a layout's
 * skew_deg, a few degrees at most): in turned about its centre by deg
 * counter-clockwise into *out, of the same size, bilinear, white where no
 * page was. */
int dv_orient_deskew(const dv_image *in, double deg, dv_image *out, dv_err *e);

#endif
