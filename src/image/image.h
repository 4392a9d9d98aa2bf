/* An 8-bit RGB image, interleaved, rows top to bottom: what decoders and
 * the PDF renderer produce and what preprocessing and layout read. */
#ifndef DV_IMAGE_H
#define DV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct dv_image {
    int w, h;
    uint8_t *rgb;    /* w * h * 3 bytes, owned */
} dv_image;

int dv_image_alloc(dv_image *im, int w, int h, dv_err *e);
void dv_image_free(dv_image *im);

#endif
