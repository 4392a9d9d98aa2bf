/* Layer norm and RMS norm over the rows of x [n, d], forward and backward,
 * with an AVX2+FMA form chosen at run time and a scalar form where the CPU
 * lacks it (as kernels/vmath.h); each call runs all its rows in one form
 * (a call per row costs more than a short row's work). The row statistics
 * and the backward pass's row sums are summed in double in both forms (the
 * goldens were made in float64 and long rows lose digits in a float sum),
 * four lanes at a time in the AVX2 form, so the forms can differ in the
 * last bit of a statistic; every per-element step is the scalar form's
 * multiplies and adds in its order (no fused multiply-add), so the weight
 * gradients, sums down columns in row order, give the same bits in both. */
#ifndef DV_VNORM_H
#define DV_VNORM_H

#include <stddef.h>

/* y = (x - mean) rstd w + b, row by row (w, b may be NULL; y may alias x);
 * each row's mean and rstd (1 / std, biased variance) go to mean[i] and
 * rstd[i] where those are non-NULL. */
void dv_vlayernorm(const float *x, float *y, int n, int d, const float *w, const float *b,
                   float eps, float *mean, float *rstd);
/* y = x rstd w, rstd = 1 / sqrt(mean(x^2) + eps) (HF LlamaRMSNorm). */
void dv_vrmsnorm(const float *x, float *y, int n, int d, const float *w, float eps, float *rstd);

/* Backward from the forward's input x and statistics: dx += the input
 * gradient for output gradient dy (w may be NULL). */
void dv_vlayernorm_grad(const float *dy, const float *x, const float *mean, const float *rstd,
                        int n, int d, const float *w, float *dx);
void dv_vrmsnorm_grad(const float *dy, const float *x, const float *rstd, int n, int d,
                      const float *w, float *dx);
/* The weight gradients of columns [lo, hi), summed over the n rows in row
 * order: dw[j] += dy[i][j] (x[i][j] - mean[i]) rstd[i], db[j] += dy[i][j]
 * (layer norm; dw or db may be NULL), dw[j] += dy[i][j] x[i][j] rstd[i]
 * (RMS norm). */
void dv_vlayernorm_wgrad(const float *dy, const float *x, const float *mean, const float *rstd,
                         int n, int d, int lo, int hi, float *dw, float *db);
void dv_vrmsnorm_wgrad(const float *dy, const float *x, const float *rstd, int n, int d, int lo,
                       int hi, float *dw);

/* The same in a chosen form, for tests: simd = 0 scalar, 1 AVX2 (only where
 * dv_cpu_vec_level() >= 1). */
void dv_vlayernorm_simd(const float *x, float *y, int n, int d, const float *w, const float *b,
                        float eps, float *mean, float *rstd, int simd);
void dv_vrmsnorm_simd(const float *x, float *y, int n, int d, const float *w, float eps,
                      float *rstd, int simd);
void dv_vlayernorm_grad_simd(const float *dy, const float *x, const float *mean,
                             const float *rstd, int n, int d, const float *w, float *dx, int simd);
void dv_vrmsnorm_grad_simd(const float *dy, const float *x, const float *rstd, int n, int d,
                           const float *w, float *dx, int simd);
void dv_vlayernorm_wgrad_simd(const float *dy, const float *x, const float *mean,
                              const float *rstd, int n, int d, int lo, int hi, float *dw,
                              float *db, int simd);
void dv_vrmsnorm_wgrad_simd(const float *dy, const float *x, const float *rstd, int n, int d,
                            int lo, int hi, float *dw, int simd);

#endif
