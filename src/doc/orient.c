#include "doc/orient.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "doc/layout_parts.h"

/* Leptonica's own decision rule (makeOrientDecision's defaults), without
 * its messages: one direction must be confident and well ahead. */
#define MIN_CONF 8.0
#define MIN_RATIO 2.5
/* Upside-down evidence is trusted only on prose: figures and digits in
 * table cells have no ascenders or descenders to count. */
#define PROSE_LINE_CHARS 12.0

static int decide(double up, double left)
{
    double u = fabs(up), l = fabs(left);
    if (u > MIN_CONF && u > MIN_RATIO * l)
        return up > 0 ? 0 : 180;
    if (l > MIN_CONF && l > MIN_RATIO * u)
        return left > 0 ? 90 : 270;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* 1 when the page's median text line is at least PROSE_LINE_CHARS
 * character heights long. */
static int has_prose(const dv_image *page, dv_err *e)
{
    dv_layout l;
    if (dv_layout_analyze(page, NULL, &l, e))
        return 0;
    int prose = 0;
    if (l.n_lines >= 3 && l.char_h > 0) {
        int *w = malloc((size_t)l.n_lines * sizeof *w);
        if (w) {
            for (int i = 0; i < l.n_lines; i++)
                w[i] = dv_box_w(l.lines[i]);
            qsort(w, (size_t)l.n_lines, sizeof *w, cmp_int);
            prose = w[l.n_lines / 2] >= PROSE_LINE_CHARS * l.char_h;
            free(w);
        }
    }
    dv_layout_free(&l);
    return prose;
}

int dv_orient_detect(const dv_image *page, int *rotate_deg, double *conf, dv_err *e)
{
    *rotate_deg = 0;
    if (conf)
        *conf = 0;
    if (!page || !page->rgb || page->w <= 0 || page->h <= 0)
        return dv_fail(e, DOCVL_EINVAL, "orientation: empty page image");
    PIX *bin = dv_page_ink(page);
    if (!bin)
        return dv_fail(e, DOCVL_ENOMEM, "orientation: out of memory for a %d x %d page",
                       page->w, page->h);
    l_float32 up = 0, left = 0;
    /* Too little text is not an error: the page keeps its orientation. */
    int ok = pixOrientDetect(bin, &up, &left, 0, 0) == 0;
    pixDestroy(&bin);
    if (!ok)
        return DOCVL_OK;
    int deg = decide(up, left);
    if (deg == 180) {
        dv_err le = {0};
        if (!has_prose(page, &le))
            deg = 0;
    }
    *rotate_deg = deg;
    if (conf)
        *conf = fmax(fabs(up), fabs(left));
    return DOCVL_OK;
}

int dv_orient_rotate(const dv_image *in, int deg, dv_image *out, dv_err *e)
{
    deg = ((deg % 360) + 360) % 360;
    if (deg % 90)
        return dv_fail(e, DOCVL_EINVAL, "orientation: %d degrees is not a quarter turn", deg);
    int swap = deg == 90 || deg == 270;
    int rc = dv_image_alloc(out, swap ? in->h : in->w, swap ? in->w : in->h, e);
    if (rc)
        return rc;
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++) {
            int nx, ny;
            switch (deg) {
            case 90: nx = in->h - 1 - y, ny = x; break;
            case 180: nx = in->w - 1 - x, ny = in->h - 1 - y; break;
            case 270: nx = y, ny = in->w - 1 - x; break;
            default: nx = x, ny = y; break;
            }
            memcpy(out->rgb + ((size_t)ny * out->w + nx) * 3,
                   in->rgb + ((size_t)y * in->w + x) * 3, 3);
        }
    return DOCVL_OK;
}

/* Channel c of in at (x, y), bilinear; white off the page. */
static double sample(const dv_image *in, double x, double y, int c)
{
    int x0 = (int)floor(x), y0 = (int)floor(y);
    double fx = x - x0, fy = y - y0, v = 0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            int xi = x0 + i, yj = y0 + j;
            double w = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
            int p = xi >= 0 && yj >= 0 && xi < in->w && yj < in->h
                        ? in->rgb[((size_t)yj * in->w + xi) * 3 + c] : 255;
            v += w * p;
        }
    return v;
}

int dv_orient_deskew(const dv_image *in, double deg, dv_image *out, dv_err *e)
{
    int rc = dv_image_alloc(out, in->w, in->h, e);
    if (rc)
        return rc;
    /* each output pixel comes from the input turned back clockwise */
    double a = deg * M_PI / 180, c = cos(a), s = sin(a);
    double cx = in->w / 2.0, cy = in->h / 2.0;
    for (int y = 0; y < out->h; y++)
        for (int x = 0; x < out->w; x++) {
            double dx = x - cx, dy = y - cy;
            double sx = cx + c * dx - s * dy, sy = cy + s * dx + c * dy;
            uint8_t *d = out->rgb + ((size_t)y * out->w + x) * 3;
            for (int ch = 0; ch < 3; ch++)
                d[ch] = (uint8_t)lround(sample(in, sx, sy, ch));
        }
    return DOCVL_OK;
}
