/* 2-D convolutions as im2col + sgemm through dv_linear, on NHWC activations
 * (a token grid [h*w, c] is already NHWC) with PyTorch weights [out, in, kh, kw]. */
#ifndef DV_CONV_H
#define DV_CONV_H

#include "base/ctx.h"
#include "base/error.h"
#include "kernels/linear.h"
#include "kernels/tensor.h"

typedef struct dv_conv2d {
    dv_linear lin;    /* the weight flattened to [out, in*kh*kw] */
    int cin, cout, kh, kw, stride, pad;
} dv_conv2d;

/* w must be 4-D [out, in, kh, kw]; b may be NULL. */
int dv_conv2d_bind(dv_conv2d *c, const dv_tensor *w, const dv_tensor *b, int stride, int pad,
                   int widen, dv_err *e);
void dv_conv2d_free(dv_conv2d *c);
void dv_conv2d_out_size(const dv_conv2d *c, int h, int w, int *oh, int *ow);

/* x [h, w, cin] -> y [oh, ow, cout]. Columns are built a band of output
 * rows at a time, so the extra memory stays a few MiB. */
int dv_conv2d_nhwc(const dv_conv2d *c, const float *x, int h, int w, float *y, const dv_ctx *ctx,
                   dv_err *e);

/* Patch embedding: a conv with stride == kernel and no padding over a planar
 * image [cin, h, w], each channel normalised as (x - mean) / std on the way
 * (mean/std may be NULL). y [h/kh * w/kw, cout] row-major over the grid. */
int dv_patch_embed(const dv_conv2d *c, const float *img, int h, int w, const float *mean,
                   const float *std, float *y, const dv_ctx *ctx, dv_err *e);

#endif
