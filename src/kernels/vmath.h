/* Vectorised elementwise math for the softmax and activation loops. libm's
 * expf and erff are called one float at a time; these work on whole rows,
 * with an AVX2+FMA form chosen at run time and a scalar form (libm) where the
 * CPU lacks it. The AVX2 forms are accurate to a few float ulps (tests/kernels
 * checks them against double precision), far inside the f32 tolerance the
 * goldens allow. */
#ifndef DV_VMATH_H
#define DV_VMATH_H

#include <stddef.h>

/* Largest of x[0..n), -INFINITY for n == 0. */
float dv_vmax(const float *x, size_t n);
/* x[i] = exp(x[i] - shift); returns the sum of the new values. Arguments
 * below about -87.3 (including -INFINITY, masked scores) give exactly 0. */
float dv_vexp_shift_sum(float *x, size_t n, float shift);
/* Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), computed as 0.5 x erfc(-x / sqrt 2)
 * so the negative tail keeps its relative accuracy. */
void dv_vgelu(float *x, size_t n);
/* gate[i] = silu(gate[i]) * up[i]. */
void dv_vsilu_mul(float *gate, const float *up, size_t n);
/* y[i] *= a */
void dv_vscale(float *y, float a, size_t n);
/* y[i] += x[i] */
void dv_vadd(float *y, const float *x, size_t n);

/* The training step's backward passes (all write, none accumulate):
 * dx[i] = dy[i] gelu'(x[i]) of the exact GELU above. */
void dv_vgelu_grad(const float *dy, const float *x, float *dx, size_t n);
/* Of h = silu(g) u: dg[i] = dh[i] u[i] silu'(g[i]), du[i] = dh[i] silu(g[i]). */
void dv_vsilu_mul_grad(const float *dh, const float *g, const float *u, float *dg, float *du,
                       size_t n);
/* Softmax backward of one row of probabilities p: dp[i] = p[i] (dp[i] - sum_j p[j] dp[j]). */
void dv_vsoftmax_grad(const float *p, float *dp, size_t n);
/* One rotation of RoPE's pairs (a[i], b[i]) by the angle whose cosine and
 * sine are c[i], sign s[i]: a' = a c - b s sign, b' = b c + a s sign. */
void dv_vrotate(float *a, float *b, const float *c, const float *s, float sign, size_t n);

/* The same kernels in a chosen form, for tests: simd = 0 scalar, 1 AVX2
 * (only where dv_cpu_has_avx2_fma()). */
float dv_vexp_shift_sum_simd(float *x, size_t n, float shift, int simd);
void dv_vgelu_simd(float *x, size_t n, int simd);
void dv_vsilu_mul_simd(float *gate, const float *up, size_t n, int simd);
void dv_vscale_simd(float *y, float a, size_t n, int simd);
void dv_vadd_simd(float *y, const float *x, size_t n, int simd);
void dv_vgelu_grad_simd(const float *dy, const float *x, float *dx, size_t n, int simd);
void dv_vsilu_mul_grad_simd(const float *dh, const float *g, const float *u, float *dg,
                            float *du, size_t n, int simd);
void dv_vsoftmax_grad_simd(const float *p, float *dp, size_t n, int simd);
void dv_vrotate_simd(float *a, float *b, const float *c, const float *s, float sign, size_t n,
                     int simd);

#endif
