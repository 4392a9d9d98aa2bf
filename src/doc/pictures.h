/* The raster images of a PDF page, to ask what lies under a character:
 * an OCR layer sits on a picture of the same text (ink under its glyphs),
 * while born-digital text over a background picture does not. */
#ifndef DV_DOC_PICTURES_H
#define DV_DOC_PICTURES_H

#include <cairo.h>
#include <poppler.h>

typedef struct dv_pictures {
    PopplerPage *page;
    GList *maps;               /* PopplerImageMapping, page points */
    cairo_surface_t **surf;    /* decoded lazily, one per map */
    int n;
} dv_pictures;

/* Never fails: a page whose images cannot be listed has none. */
void dv_pictures_open(PopplerPage *page, dv_pictures *p);
void dv_pictures_close(dv_pictures *p);

enum { DV_PIC_NONE = 0, DV_PIC_BLANK = 1, DV_PIC_INK = 2 };

/* What lies under rect (page points): no image, an image without ink
 * there, or an image with ink there. */
int dv_pictures_under(dv_pictures *p, const PopplerRectangle *rect);

#endif
