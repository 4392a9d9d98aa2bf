/* Convolutions and bilinear interpolation on NHWC grids with hand-written
 * backward passes: im2col + sgemm forward, sgemm + col2im backward (the
 * weight is PyTorch's [out, in, kh, kw] read as [out, in*kh*kw]). */
#ifndef DV_GRAD_CONV_H
#define DV_GRAD_CONV_H

#include "base/error.h"
#include "kernels/pool.h"
#include "kernels/sgemm512.h"

typedef struct tg_conv {
    int cin, cout, k, stride, pad;
    dv_gemm gemm;   /* the product its im2col products run (zero: cblas_sgemm) */
} tg_conv;

void tg_conv_out(const tg_conv *c, int h, int w, int *oh, int *ow);
/* x [h, w, cin] -> y [oh, ow, cout]; b may be NULL. */
int tg_conv_fwd(const tg_conv *c, const float *x, int h, int w, const float *wt, const float *b,
                float *y, dv_err *e);
/* dx += ..., dw += ..., db += ... (each may be NULL). x: the forward input. */
int tg_conv_bwd(const tg_conv *c, const float *x, int h, int w, const float *wt, const float *dy,
                float *dx, float *dw, float *db, dv_err *e);

/* Patch embedding (conv k x k stride k) over a planar image [cin, h, w],
 * each channel normalised as (x - mean) / std on the way; y [h/k * w/k, cout]. */
int tg_patch_fwd(const tg_conv *c, const float *img, int h, int w, const float *mean,
                 const float *std, const float *wt, const float *b, float *y, dv_err *e);
/* Weight and bias gradients only: pixels are data, never trained. */
int tg_patch_bwd(const tg_conv *c, const float *img, int h, int w, const float *mean,
                 const float *std, const float *dy, float *dw, float *db, dv_err *e);
/* The same over `count` images one after another (rows image by image),
 * the product split over tp (grad_ops.h's *_mt). */
int tg_patch_fwd_many(dv_pool *tp, const tg_conv *c, const float *img, int count, int h, int w,
                      const float *mean, const float *std, const float *wt, const float *b,
                      float *y, dv_err *e);
int tg_patch_bwd_many(dv_pool *tp, const tg_conv *c, const float *img, int count, int h, int w,
                      const float *mean, const float *std, const float *dy, float *dw,
                      float *db, dv_err *e);

/* F.interpolate(bilinear, align_corners=False) [sh, sw, c] -> [dh, dw, c],
 * the inference resize's arithmetic; backward adds each output's gradient to
 * its four sources with the same weights. */
void tg_bilinear_fwd(const float *src, int sh, int sw, int c, float *dst, int dh, int dw);
void tg_bilinear_bwd(const float *ddst, int sh, int sw, int c, float *dsrc, int dh, int dw);

#endif
