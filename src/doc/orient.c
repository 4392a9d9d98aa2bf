#include "doc/orient.h"

#include <math.h>
#include <string.h>

#include "doc/layout_parts.h"

int dv_orient_detect(const dv_image *page, int *rotate_deg, double *conf, dv_err *e)
{
    *rotate_deg = 0;
    if (conf)
        *conf = 0;
    if (!page || !page->rgb || page->w <= 0 || page->h <= 0)
        return dv_fail(e, DOCVL_EINVAL, "orientation: empty page image");
    PIX *gray = dv_page_gray(page);
    PIX *bin = gray ? dv_page_binarize(gray) : NULL;
    pixDestroy(&gray);
    if (!bin)
        return dv_fail(e, DOCVL_ENOMEM, "orientation: out of memory for a %d x %d page",
                       page->w, page->h);
    l_float32 up = 0, left = 0;
    l_int32 orient = L_TEXT_ORIENT_UNKNOWN;
    /* Too little text is not an error: the page just keeps its orientation. */
    if (pixOrientDetect(bin, &up, &left, 0, 0) == 0 &&
        makeOrientDecision(up, left, 0, 0, &orient, 0) == 0) {
        static const int turn[5] = {0, 0, 90, 180, 270};
        *rotate_deg = orient >= 0 && orient <= 4 ? turn[orient] : 0;
        if (conf)
            *conf = fmax(fabs(up), fabs(left));
    }
    pixDestroy(&bin);
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
