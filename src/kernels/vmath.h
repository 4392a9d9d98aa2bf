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
/* The same two into another buffer (y or h may alias the input): one pass
 * instead of a copy and a pass. */
void dv_vgelu_into(const float *x, float *y, size_t n);
void dv_vsilu_mul_into(const float *gate, const float *up, float *h, size_t n);
/* y[i] *= a */
void dv_vscale(float *y, float a, size_t n);
/* y[i] = a[i] b[i] (y may be a or b) */
void dv_vmul(const float *a, const float *b, float *y, size_t n);
/* y[i] += x[i] */
void dv_vadd(float *y, const float *x, size_t n);
/* y[r ys + i] += x[r xs + i] for rows r < rows, i < n: a stride of 0 adds
 * one row to every row (a bias) or every row into one (a column sum, in
 * row order). */
void dv_vadd_rows(float *y, size_t ys, const float *x, size_t xs, size_t rows, size_t n);

/* Softmax of each of `rows` rows of n in s, in place; lse[r] = the row's
 * log-sum-exp (max + log of the shifted sum). Masked scores (-inf) give 0. */
void dv_vsoftmax_lse(float *s, size_t rows, size_t n, float *lse);
/* log sum exp(z[i]) over i < n (n >= 1), summed in double from the largest:
 * a vocabulary's worth keeps its digits (the loss, a token's probability). */
double dv_logsumexp(const float *z, int n);
/* p[r][i] = exp(p[r][i] - shift[r]): a softmax again from its saved lse. */
void dv_vexp_rows(float *p, size_t rows, size_t n, const float *shift);

/* The training step's backward passes (all write, none accumulate):
 * dx[i] = dy[i] gelu'(x[i]) of the exact GELU above. */
void dv_vgelu_grad(const float *dy, const float *x, float *dx, size_t n);
/* y = gelu(x) and d = gelu'(x) in one pass (d may alias x): the forward
 * pass keeps d instead of x, and its backward is dy d, with the bits of
 * dv_vgelu_into and dv_vgelu_grad. */
void dv_vgelu_and_grad(const float *x, float *y, float *d, size_t n);
/* Of h = silu(g) u: dg[i] = dh[i] u[i] silu'(g[i]), du[i] = dh[i] silu(g[i]). */
void dv_vsilu_mul_grad(const float *dh, const float *g, const float *u, float *dg, float *du,
                       size_t n);
/* Softmax backward of `rows` rows of n probabilities p:
 * dp[i] = p[i] (dp[i] - sum_j p[j] dp[j]) within each row. */
void dv_vsoftmax_grad(const float *p, float *dp, size_t rows, size_t n);
/* RoPE (rotate_half) of each of the heads of each row of x (row r at
 * r stride, head h at h hd): the halves (a, b) of a head become
 * (a c - b s sign, b c + a s sign), c and s row r's hd / 2 angles in
 * cosv and sinv; sign -1 applies the inverse (the backward pass). */
void dv_vrope(float *x, int rows, int heads, int hd, size_t stride, const float *cosv,
              const float *sinv, float sign);

/* The same kernels in a chosen form, for tests: simd = 0 scalar, 1 AVX2
 * (only where dv_cpu_vec_level() >= 1), 2 AVX-512 where the kernel has such
 * a form (exp, the softmax rows, GELU, SiLU and their gradients) and
 * dv_cpu_vec_level() is 2, else as 1. The plain names take 2. */
float dv_vexp_shift_sum_simd(float *x, size_t n, float shift, int simd);
void dv_vgelu_simd(float *x, size_t n, int simd);
void dv_vsilu_mul_simd(float *gate, const float *up, size_t n, int simd);
void dv_vgelu_into_simd(const float *x, float *y, size_t n, int simd);
void dv_vsilu_mul_into_simd(const float *gate, const float *up, float *h, size_t n, int simd);
void dv_vscale_simd(float *y, float a, size_t n, int simd);
void dv_vmul_simd(const float *a, const float *b, float *y, size_t n, int simd);
void dv_vadd_rows_simd(float *y, size_t ys, const float *x, size_t xs, size_t rows, size_t n,
                       int simd);
void dv_vgelu_grad_simd(const float *dy, const float *x, float *dx, size_t n, int simd);
void dv_vgelu_and_grad_simd(const float *x, float *y, float *d, size_t n, int simd);
void dv_vsilu_mul_grad_simd(const float *dh, const float *g, const float *u, float *dg,
                            float *du, size_t n, int simd);
void dv_vsoftmax_grad_simd(const float *p, float *dp, size_t rows, size_t n, int simd);
void dv_vsoftmax_lse_simd(float *s, size_t rows, size_t n, float *lse, int simd);
void dv_vexp_rows_simd(float *p, size_t rows, size_t n, const float *shift, int simd);
void dv_vrope_simd(float *x, int rows, int heads, int hd, size_t stride, const float *cosv,
                   const float *sinv, float sign, int simd);

#endif
