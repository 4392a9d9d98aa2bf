/* VLMImageProcessor: an RGB image becomes the model's square input. The
 * longest side is resized to S (Pillow BICUBIC), the other side to
 * max(int(side / longest * S), min_size); the result is pasted centred on an
 * S x S background of int(image_mean * 255) (127 without image_mean).
 *
 * docvl's line models (a non-square H x W input, cfg->image_h != image_w)
 * read one text line: it is resized (the same resampler) to height H,
 * keeping its aspect ratio (width rounded, at least 1); a line wider than W
 * is squeezed to W, a narrower one is padded on the right with its paper
 * tone: per channel, the DV_LINE_PAPER_PERCENTILE-th percentile of the
 * resized line's values. Ink covers well under half of a text line, so that
 * percentile lies in the paper's values whatever the ink's colour (light
 * text on a dark ground is the exception it does not handle); a higher one
 * would follow the paper's noise and speckle up. One function serves the
 * reader and the trainer's pixel loader, so a line is read with the pixels
 * it was trained on. */
#ifndef DV_PREPROCESS_H
#define DV_PREPROCESS_H

#include <stdint.h>

#include "base/error.h"
#include "image/image.h"
#include "weights/config.h"

#define DV_LINE_PAPER_PERCENTILE 75

typedef struct dv_pre_geom {
    int resized_w, resized_h;   /* after the resize, before the paste */
    int paste_x, paste_y;       /* top-left corner of the resized image */
    int out_w, out_h;           /* the model's input (a square but for line models) */
    uint8_t background[3];      /* line models: the line's paper tone, known only
                                 * after the resize (dv_preprocess fills it) */
} dv_pre_geom;

/* The geometry for a w x h image; an error if sides or cfg are unusable. */
int dv_preprocess_geometry(int w, int h, const dv_preproc_cfg *cfg, dv_pre_geom *g, dv_err *e);

/* Fills the model's input image, planar: u8 [3, H, W] (may be NULL) and
 * pixels [3, H, W] = float32(u8 / 255) (may be NULL), normalised with
 * image_mean/std only when cfg->do_normalize (the released towers normalise
 * themselves). geom (may be NULL) receives the geometry used. */
int dv_preprocess(const dv_image *im, const dv_preproc_cfg *cfg, uint8_t *u8, float *pixels,
                  dv_pre_geom *geom, dv_err *e);

/* The float tensor of a u8 [3, H, W] input (cfg->image_h x image_w):
 * float32(u8 / 255), normalised only when cfg->do_normalize. */
void dv_preprocess_to_float(const uint8_t *u8, const dv_preproc_cfg *cfg, float *pixels);

#endif
