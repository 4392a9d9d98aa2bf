/* An image file as the model's input tensor: decode, then the
 * VLMImageProcessor steps of image/preprocess.h. */
#ifndef DV_PIXELS_H
#define DV_PIXELS_H

#include "base/error.h"
#include "weights/config.h"

#define DV_PIXELS_MAX_FILE ((size_t)256 << 20)
#define DV_PIXELS_MAX_PIXELS ((size_t)1 << 28)

/* *out: malloc'ed [3, H, W] floats, H x W = cfg->pre.image_h x image_w (a
 * line model's line padded or squeezed as the reader does it). */
int dv_pixels_load(const char *path, const dv_config *cfg, float **out, dv_err *e);

#endif
