/* Layer norm and RMS norm of one row, forward and backward, with an
 * AVX2+FMA form chosen at run time and a scalar form where the CPU lacks it
 * (as kernels/vmath.h). The row statistics and the backward pass's row sums
 * are summed in double in both forms (the goldens were made in float64 and
 * long rows lose digits in a float sum), four lanes at a time in the AVX2
 * form, so the two forms can differ in the last bit of a statistic; every
 * per-element step is the scalar form's multiplies and adds in its order
 * (no fused multiply-add), so the weight-gradient rows give the same bits in
 * both. */
#ifndef DV_VNORM_H
#define DV_VNORM_H

#include <stddef.h>

/* y = (x - mean) rstd w + b over one row of d (w, b may be NULL; y may
 * alias x); mean and rstd (1 / std, biased variance) are written when
 * non-NULL. */
void dv_vlayernorm_row(const float *x, float *y, int d, const float *w, const float *b,
                       float eps, float *mean, float *rstd);
/* y = x rstd w, rstd = 1 / sqrt(mean(x^2) + eps) (HF LlamaRMSNorm). */
void dv_vrmsnorm_row(const float *x, float *y, int d, const float *w, float eps, float *rstd);

/* Backward of one row from the forward's input x and statistics: dx += the
 * input gradient for output gradient dy (w may be NULL). */
void dv_vlayernorm_grad_row(const float *dy, const float *x, float mean, float rstd, int d,
                            const float *w, float *dx);
void dv_vrmsnorm_grad_row(const float *dy, const float *x, float rstd, int d, const float *w,
                          float *dx);
/* One row's share of the weight gradients over n columns: dw[j] += dy[j]
 * (x[j] - mean) rstd and db[j] += dy[j] (layer norm; db may be NULL),
 * dw[j] += dy[j] x[j] rstd (RMS norm). */
void dv_vlayernorm_wgrad_row(const float *dy, const float *x, float mean, float rstd, size_t n,
                             float *dw, float *db);
void dv_vrmsnorm_wgrad_row(const float *dy, const float *x, float rstd, size_t n, float *dw);

/* The same in a chosen form, for tests: simd = 0 scalar, 1 AVX2 (only where
 * dv_cpu_has_avx2_fma()). */
void dv_vlayernorm_row_simd(const float *x, float *y, int d, const float *w, const float *b,
                            float eps, float *mean, float *rstd, int simd);
void dv_vrmsnorm_row_simd(const float *x, float *y, int d, const float *w, float eps,
                          float *rstd, int simd);
void dv_vlayernorm_grad_row_simd(const float *dy, const float *x, float mean, float rstd, int d,
                                 const float *w, float *dx, int simd);
void dv_vrmsnorm_grad_row_simd(const float *dy, const float *x, float rstd, int d,
                               const float *w, float *dx, int simd);
void dv_vlayernorm_wgrad_row_simd(const float *dy, const float *x, float mean, float rstd,
                                  size_t n, float *dw, float *db, int simd);
void dv_vrmsnorm_wgrad_row_simd(const float *dy, const float *x, float rstd, size_t n,
                                float *dw, int simd);

#endif
