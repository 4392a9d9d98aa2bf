/* Internal to kernels/vmath.c: the AVX-512 forms of its exp-based kernels,
 * sixteen lanes at a time. Every lane runs the AVX2 form's operations in
 * the same order, so each element's bits equal the AVX2 form's; only the
 * sums (exp_shift_sum, the softmax's) add in another order. Call only where
 * dv_cpu_has_avx512(). */
#ifndef DV_VMATH512_H
#define DV_VMATH512_H

#include <stddef.h>

/* Below EXP_LO exp() is under FLT_MIN: the result is flushed to 0, which is
 * also what a masked (-inf) score must give. Above EXP_HI it would overflow. */
#define DV_EXP_LO -87.33654475f
#define DV_EXP_HI 88.0f
#define DV_INV_SQRT_2PI 0.39894228040143268f

/* The bodies both widths share, written once so that their lanes run the
 * same operations. P is the intrinsics' prefix (_mm256 or _mm512), V and VI
 * its float and integer vectors, round_fn (rounding with an immediate) and
 * cast_fn (integer bits as floats) the operations named differently at the
 * two widths. */

/* The body of exp over one vector x: DV_EXP, then the lanes below EXP_LO
 * zeroed by zero_below(x, y). */
#define DV_EXP_BODY(P, V, VI, round_fn, cast_fn, zero_below, x)                                \
    V exp_;                                                                                     \
    DV_EXP(P, V, VI, round_fn, cast_fn, x, exp_);                                               \
    return zero_below(x, exp_)

/* y = exp(x) for x in [EXP_LO, EXP_HI] (the caller zeroes lanes below):
 * x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2 is exact),
 * exp(r) by a degree-6 minimax polynomial (the Cephes expf coefficients),
 * 2^n put into the exponent bits. */
#define DV_EXP(P, V, VI, round_fn, cast_fn, x, y)                                               \
    do {                                                                                        \
        V x_ = P##_min_ps(P##_max_ps(x, P##_set1_ps(DV_EXP_LO)), P##_set1_ps(DV_EXP_HI));     \
        V n_ = round_fn(P##_mul_ps(x_, P##_set1_ps(1.44269504088896341f)),                     \
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);                         \
        V r_ = P##_fnmadd_ps(n_, P##_set1_ps(0.693359375f), x_);                               \
        r_ = P##_fnmadd_ps(n_, P##_set1_ps(-2.12194440e-4f), r_);                              \
        V p_ = P##_set1_ps(1.9875691500e-4f);                                                  \
        p_ = P##_fmadd_ps(p_, r_, P##_set1_ps(1.3981999507e-3f));                              \
        p_ = P##_fmadd_ps(p_, r_, P##_set1_ps(8.3334519073e-3f));                              \
        p_ = P##_fmadd_ps(p_, r_, P##_set1_ps(4.1665795894e-2f));                              \
        p_ = P##_fmadd_ps(p_, r_, P##_set1_ps(1.6666665459e-1f));                              \
        p_ = P##_fmadd_ps(p_, r_, P##_set1_ps(5.0000001201e-1f));                              \
        V y_ = P##_fmadd_ps(P##_mul_ps(p_, r_), r_, P##_add_ps(r_, P##_set1_ps(1.0f)));        \
        VI e_ = P##_slli_epi32(P##_add_epi32(P##_cvtps_epi32(n_), P##_set1_epi32(127)), 23);  \
        (y) = P##_mul_ps(y_, cast_fn(e_));                                                      \
    } while (0)

/* r = erfc(|u|) for u = -x / sqrt 2: erfc(z) = t exp(-z^2 + P(t)),
 * t = 1 / (1 + z/2), with the Chebyshev-fitted P of Numerical Recipes'
 * erfcc (relative error < 1.2e-7 everywhere); the caller takes
 * erfc(-z) = 2 - erfc(z) where u < 0. abs_fn: |v|; exp_fn: the width's exp. */
#define DV_ERFC(P, V, abs_fn, exp_fn, x, u, r)                                                  \
    do {                                                                                        \
        (u) = P##_mul_ps(x, P##_set1_ps(-0.70710678118654752f));                                \
        V z_ = abs_fn(u);                                                                       \
        V t_ = P##_div_ps(P##_set1_ps(1.0f),                                                    \
                          P##_fmadd_ps(z_, P##_set1_ps(0.5f), P##_set1_ps(1.0f)));              \
        static const float c_[] = { 0.17087277f,  -0.82215223f, 1.48851587f, -1.13520398f,     \
                                    0.27886807f,  -0.18628806f, 0.09678418f, 0.37409196f,      \
                                    1.00002368f,  -1.26551223f };                               \
        V p_ = P##_set1_ps(c_[0]);                                                              \
        for (int k_ = 1; k_ < 10; k_++)                                                         \
            p_ = P##_fmadd_ps(p_, t_, P##_set1_ps(c_[k_]));                                     \
        (r) = P##_mul_ps(t_, exp_fn(P##_fnmadd_ps(z_, z_, p_)));                                \
    } while (0)

/* The softmax of each row with its log-sum-exp, and exp from a saved
 * log-sum-exp, from one form's max, exp-and-sum and scale of a row. */
#define DV_SOFTMAX_LSE_ROWS(s, rows, n, lse, max_fn, exp_sum_fn, scale_fn)                      \
    for (size_t r_ = 0; r_ < (rows); r_++) {                                                    \
        float *row_ = (s) + r_ * (n), mx_ = max_fn(row_, n);                                    \
        float sum_ = exp_sum_fn(row_, n, mx_);                                                  \
        scale_fn(row_, 1.0f / sum_, n);                                                         \
        (lse)[r_] = mx_ + logf(sum_);                                                           \
    }
#define DV_EXP_ROWS(p, rows, n, shift, exp_sum_fn)                                              \
    for (size_t r_ = 0; r_ < (rows); r_++)                                                      \
        exp_sum_fn((p) + r_ * (n), n, (shift)[r_])

float dv_exp_shift_sum_avx512(float *x, size_t n, float shift);
void dv_gelu_avx512(const float *x, float *y, size_t n);
void dv_gelu_grad_avx512(const float *dy, const float *x, float *dx, size_t n);
void dv_gelu_and_grad_avx512(const float *x, float *y, float *d, size_t n);
void dv_silu_mul_avx512(const float *gate, const float *up, float *h, size_t n);
void dv_silu_mul_grad_avx512(const float *dh, const float *g, const float *u, float *dg,
                             float *du, size_t n);
void dv_softmax_lse_avx512(float *s, size_t rows, size_t n, float *lse);
void dv_exp_rows_avx512(float *p, size_t rows, size_t n, const float *shift);

#endif
