#include "doc/pictures.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* A character box with at least this share of dark image pixels has ink
 * under it: glyph strokes cover a fifth or more of their box. */
#define INK_SHARE 0.04
#define DARK 128

void dv_pictures_open(PopplerPage *page, dv_pictures *p)
{
    p->page = page;
    p->maps = poppler_page_get_image_mapping(page);
    p->n = (int)g_list_length(p->maps);
    p->surf = p->n ? calloc((size_t)p->n, sizeof *p->surf) : NULL;
    if (!p->surf)
        p->n = 0;
}

void dv_pictures_close(dv_pictures *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->surf[i])
            cairo_surface_destroy(p->surf[i]);
    free(p->surf);
    poppler_page_free_image_mapping(p->maps);
    p->maps = NULL;
    p->surf = NULL;
    p->n = 0;
}

static int inside(const PopplerRectangle *a, double x, double y)
{
    return x >= fmin(a->x1, a->x2) && x <= fmax(a->x1, a->x2) && y >= fmin(a->y1, a->y2) &&
           y <= fmax(a->y1, a->y2);
}

static int gray_at(cairo_surface_t *s, int x, int y)
{
    const uint8_t *row = cairo_image_surface_get_data(s) +
                         (size_t)y * cairo_image_surface_get_stride(s);
    switch (cairo_image_surface_get_format(s)) {
    case CAIRO_FORMAT_RGB24:
    case CAIRO_FORMAT_ARGB32: {
        uint32_t v = ((const uint32_t *)row)[x];
        return (int)(((v >> 16) & 255) * 77 + ((v >> 8) & 255) * 150 + (v & 255) * 29) >> 8;
    }
    case CAIRO_FORMAT_A8:
        return 255 - row[x];
    default:
        return 255;
    }
}

/* Share of dark pixels of surface s inside rect r mapped from area a. */
static double ink_share(cairo_surface_t *s, const PopplerRectangle *a,
                        const PopplerRectangle *r)
{
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    double ax = fmin(a->x1, a->x2), ay = fmin(a->y1, a->y2);
    double aw = fabs(a->x2 - a->x1), ah = fabs(a->y2 - a->y1);
    if (w <= 0 || h <= 0 || aw <= 0 || ah <= 0 || !cairo_image_surface_get_data(s))
        return 0;
    int x0 = (int)floor((fmin(r->x1, r->x2) - ax) / aw * w);
    int x1 = (int)ceil((fmax(r->x1, r->x2) - ax) / aw * w);
    int y0 = (int)floor((fmin(r->y1, r->y2) - ay) / ah * h);
    int y1 = (int)ceil((fmax(r->y1, r->y2) - ay) / ah * h);
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > w ? w : x1, y1 = y1 > h ? h : y1;
    long dark = 0, all = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++, all++)
            dark += gray_at(s, x, y) < DARK;
    return all ? (double)dark / all : 0;
}

int dv_pictures_under(dv_pictures *p, const PopplerRectangle *rect)
{
    double cx = (rect->x1 + rect->x2) / 2, cy = (rect->y1 + rect->y2) / 2;
    int i = 0, found = DV_PIC_NONE;
    for (GList *l = p->maps; l; l = l->next, i++) {
        PopplerImageMapping *m = l->data;
        if (!inside(&m->area, cx, cy))
            continue;
        found = DV_PIC_BLANK;
        if (i >= p->n)
            continue;
        if (!p->surf[i])
            p->surf[i] = poppler_page_get_image(p->page, m->image_id);
        if (p->surf[i] && cairo_surface_status(p->surf[i]) == CAIRO_STATUS_SUCCESS) {
            cairo_surface_flush(p->surf[i]);
            if (ink_share(p->surf[i], &m->area, rect) >= INK_SHARE)
                return DV_PIC_INK;
        }
    }
    return found;
}
