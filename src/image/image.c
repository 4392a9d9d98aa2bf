#include "image/image.h"

#include <stdlib.h>
#include <string.h>

int dv_image_alloc(dv_image *im, int w, int h, dv_err *e)
{
    memset(im, 0, sizeof *im);
    if (w <= 0 || h <= 0 || (size_t)w > SIZE_MAX / 3 / (size_t)h)
        return dv_fail(e, DOCVL_ELIMIT, "image of %d x %d pixels is not allowed", w, h);
    im->rgb = malloc((size_t)w * h * 3);
    if (!im->rgb)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a %d x %d image", w, h);
    im->w = w;
    im->h = h;
    return DOCVL_OK;
}

void dv_image_free(dv_image *im)
{
    if (!im)
        return;
    free(im->rgb);
    im->rgb = NULL;
    im->w = im->h = 0;
}
