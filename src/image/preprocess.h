/* VLMImageProcessor: an RGB image becomes the model's square input. The
 * longest side is resized to S (Pillow BICUBIC), the other side to
 * max(int(side / longest * S), min_size); the result is pasted centred on an
 * S x S background of int(image_mean * 255) (127 without image_mean). */
#ifndef DV_PREPROCESS_H
#define DV_PREPROCESS_H

#include <stdint.h>

#include "base/error.h"
#include "image/image.h"
#include "weights/config.h"

typedef struct dv_pre_geom {
    int resized_w, resized_h;   /* after the resize, before the paste */
    int paste_x, paste_y;       /* top-left corner of the resized image */
    int size;                   /* side of the square */
    uint8_t background[3];
} dv_pre_geom;

/* The geometry for a w x h image; an error if sides or cfg are unusable. */
int dv_preprocess_geometry(int w, int h, const dv_preproc_cfg *cfg, dv_pre_geom *g, dv_err *e);

/* Fills the square image, planar: u8 [3, S, S] (may be NULL) and
 * pixels [3, S, S] = float32(u8 / 255) (may be NULL), normalised with
 * image_mean/std only when cfg->do_normalize (the released towers normalise
 * themselves). geom (may be NULL) receives the geometry used. */
int dv_preprocess(const dv_image *im, const dv_preproc_cfg *cfg, uint8_t *u8, float *pixels,
                  dv_pre_geom *geom, dv_err *e);

/* The float tensor of a square u8 [3, S, S] image (S = cfg->image_size):
 * float32(u8 / 255), normalised only when cfg->do_normalize. */
void dv_preprocess_to_float(const uint8_t *u8, const dv_preproc_cfg *cfg, float *pixels);

#endif
