#include "kernels/vmath512.h"

#include <math.h>

#include "kernels/simd_x86.h"

#if DV_X86
#define AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

AVX512 static inline __m512 zero_below16(__m512 x, __m512 y)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(DV_EXP_LO), _CMP_NLT_UQ), y);
}

/* exp8 of kernels/vmath.c, lane for lane. */
AVX512 static inline __m512 exp16(__m512 x)
{
    DV_EXP_BODY(_mm512, __m512, __m512i, _mm512_roundscale_ps, _mm512_castsi512_ps, zero_below16,
                x);
}

/* cdf8 of kernels/vmath.c: 0.5 erfc(-x / sqrt 2). */
AVX512 static inline __m512 cdf16(__m512 x)
{
    __m512 u, r;
    DV_ERFC(_mm512, __m512, _mm512_abs_ps, exp16, x, u, r);
    __mmask16 neg = _mm512_cmp_ps_mask(u, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_mask_sub_ps(r, neg, _mm512_set1_ps(2.0f), r));
}

/* Lanes [0, n) of 16, n < 16. */
static inline __mmask16 tail(size_t n) { return (__mmask16)((1u << n) - 1u); }

/* Tails take masked loads (0 beyond) and stores (memory beyond untouched);
 * the sum skips the masked lanes. */
AVX512 float dv_exp_shift_sum_avx512(float *x, size_t n, float shift)
{
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i < 16 ? tail(n - i) : (__mmask16)0xffff;
        __m512 v = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_set1_ps(shift)));
        _mm512_mask_storeu_ps(x + i, m, v);
        acc = _mm512_mask_add_ps(acc, m, acc, v);
    }
    return _mm512_reduce_add_ps(acc);
}

AVX512 void dv_gelu_avx512(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i < 16 ? tail(n - i) : (__mmask16)0xffff;
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, cdf16(v)));
    }
}

AVX512 void dv_gelu_grad_avx512(const float *dy, const float *x, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i < 16 ? tail(n - i) : (__mmask16)0xffff;
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 pdf = exp16(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(-0.5f), v), v));
        pdf = _mm512_mul_ps(pdf, _mm512_set1_ps(DV_INV_SQRT_2PI));
        __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i),
                                 _mm512_fmadd_ps(v, pdf, cdf16(v)));
        _mm512_mask_storeu_ps(dx + i, m, g);
    }
}

AVX512 void dv_gelu_and_grad_avx512(const float *x, float *y, float *d, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i < 16 ? tail(n - i) : (__mmask16)0xffff;
        __m512 v = _mm512_maskz_loadu_ps(m, x + i), c = cdf16(v);
        __m512 pdf = exp16(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(-0.5f), v), v));
        pdf = _mm512_mul_ps(pdf, _mm512_set1_ps(DV_INV_SQRT_2PI));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, c));
        _mm512_mask_storeu_ps(d + i, m, _mm512_fmadd_ps(v, pdf, c));
    }
}

AVX512 static inline __m512 sigmoid16(__m512 g)
{
    __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
}

/* silu(g) = g / (1 + exp(-g)), as silu8. */
AVX512 void dv_silu_mul_avx512(const float *gate, const float *up, float *h, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i < 16 ? tail(n - i) : (__mmask16)0xffff;
        __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
        __m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(h + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

AVX512 void dv_silu_mul_grad_avx512(const float *dh, const float *g, const float *u, float *dg,
                                    float *du, size_t n)
{
    __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i < 16 ? tail(n - i) : (__mmask16)0xffff;
        __m512 vh = _mm512_maskz_loadu_ps(m, dh + i), vg = _mm512_maskz_loadu_ps(m, g + i);
        __m512 s = sigmoid16(vg), hs = _mm512_mul_ps(vh, s);
        __m512 d = _mm512_fmadd_ps(vg, _mm512_sub_ps(one, s), one);
        _mm512_mask_storeu_ps(dg + i, m,
                              _mm512_mul_ps(_mm512_mul_ps(hs, _mm512_maskz_loadu_ps(m, u + i)), d));
        _mm512_mask_storeu_ps(du + i, m, _mm512_mul_ps(hs, vg));
    }
}
AVX512 static float max16(const float *x, size_t n)
{
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (size_t i = 0; i < n; i += 16)
        m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY),
                                                  n - i < 16 ? tail(n - i) : (__mmask16)0xffff,
                                                  x + i));
    return _mm512_reduce_max_ps(m);
}

AVX512 static void scale16(float *x, float a, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i < 16 ? tail(n - i) : (__mmask16)0xffff;
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i),
                                                      _mm512_set1_ps(a)));
    }
}

AVX512 void dv_softmax_lse_avx512(float *s, size_t rows, size_t n, float *lse)
{
    DV_SOFTMAX_LSE_ROWS(s, rows, n, lse, max16, dv_exp_shift_sum_avx512, scale16);
}

AVX512 void dv_exp_rows_avx512(float *p, size_t rows, size_t n, const float *shift)
{
    DV_EXP_ROWS(p, rows, n, shift, dv_exp_shift_sum_avx512);
}
#endif
