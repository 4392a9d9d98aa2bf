/* Row-wise operations shared by the towers and the decoder. All in f32;
 * x is [n, d] row-major unless stated. */
#ifndef DV_OPS_H
#define DV_OPS_H

#include <stddef.h>

/* LayerNorm over the last dim (biased variance, as PyTorch). w/b may be NULL. */
void dv_layernorm(const float *x, float *y, int n, int d, const float *w, const float *b, float eps);
/* The same, also keeping each row's mean and 1/std (may be NULL) for a backward pass. */
void dv_layernorm_stats(const float *x, float *y, int n, int d, const float *w, const float *b,
                        float eps, float *mean, float *rstd);
/* dv_layernorm with the rows split over ctx->pool (ctx may be NULL). */
struct dv_ctx;
void dv_layernorm_ctx(const float *x, float *y, int n, int d, const float *w, const float *b,
                      float eps, const struct dv_ctx *ctx);
/* RMSNorm as HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * w. */
void dv_rmsnorm(const float *x, float *y, int n, int d, const float *w, float eps);
/* The same, also keeping each row's 1/rms (may be NULL) for a backward pass. */
void dv_rmsnorm_stats(const float *x, float *y, int n, int d, const float *w, float eps,
                      float *rstd);
/* GELU and SiLU: kernels/vmath.h. */
/* In-place softmax of one row. */
void dv_softmax(float *x, int n);
/* y += x (y and x do not overlap) */
void dv_add(float *y, const float *x, size_t n);

#endif
