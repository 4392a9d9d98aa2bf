/* Resampling that must agree with the reference implementations to the byte
 * (Pillow's BICUBIC on 8-bit images) or to float rounding (PyTorch's
 * antialiased bilinear on float planes). */
#ifndef DV_RESIZE_H
#define DV_RESIZE_H

#include <stdint.h>

#include "base/error.h"

/* Pillow Image.resize(..., BICUBIC) of an interleaved 8-bit image with
 * `channels` samples per pixel: a = -0.5, support widened by the scale when
 * shrinking, 22-bit fixed-point weights, horizontal pass then vertical pass,
 * each rounded and clipped to 0..255. A pass whose size does not change is
 * skipped, as Pillow does. dst holds dw * dh * channels bytes. */
int dv_resize_bicubic_u8(const uint8_t *src, int sw, int sh, int channels, uint8_t *dst, int dw,
                         int dh, dv_err *e);

/* torch.nn.functional.interpolate(mode="bilinear", antialias=True,
 * align_corners=False) of `planes` float planes [planes, sh, sw] into
 * [planes, dh, dw] (torchvision Resize(antialias=True) on tensors). */
int dv_resize_bilinear_aa_f32(const float *src, int planes, int sw, int sh, float *dst, int dw,
                              int dh, dv_err *e);

/* F.interpolate(mode="bilinear", align_corners=False, antialias=False) on an
 * NHWC grid [sh, sw, c] into [dh, dw, c]. */
void dv_resize_bilinear_nhwc(const float *src, int sh, int sw, int c, float *dst, int dh, int dw);

#endif
