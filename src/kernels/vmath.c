#include "kernels/vmath.h"

#include <math.h>

#include "kernels/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DV_X86 1
#else
#define DV_X86 0
#endif

/* Below this exp() is under FLT_MIN: the result is flushed to 0, which is
 * also what a masked (-inf) score must give. Above EXP_HI it would overflow. */
#define EXP_LO -87.33654475f
#define EXP_HI 88.0f

/* ---- scalar forms (libm) ---- */

static float exp_shift_sum_scalar(float *x, size_t n, float shift)
{
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float t = x[i] - shift;
        x[i] = t < EXP_LO ? 0.0f : expf(t);
        sum += x[i];
    }
    return sum;
}

static void gelu_scalar(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * erfcf(-x[i] * 0.70710678118654752f);
}

static void silu_mul_scalar(float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* ---- AVX2 + FMA forms ---- */

#if DV_X86
#define AVX2 __attribute__((target("avx2,fma")))

/* exp by range reduction: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two
 * so n ln2 is exact), exp(r) by a degree-6 minimax polynomial (the Cephes
 * expf coefficients), 2^n put into the exponent bits. */
AVX2 static inline __m256 exp8(__m256 x)
{
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, y);
}

AVX2 static float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static float vmax_avx2(const float *x, size_t n)
{
    __m256 m = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++)
        r = x[i] > r ? x[i] : r;
    return r;
}

/* The tail goes through a zero-padded vector so every element gets the same
 * polynomial (results do not depend on where a row starts). */
AVX2 static float exp_shift_sum_avx2(float *x, size_t n, float shift)
{
    __m256 s = _mm256_set1_ps(shift), acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(x + i, v);
        acc = _mm256_add_ps(acc, v);
    }
    if (i < n) {
        float t[8] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                       -INFINITY, -INFINITY, -INFINITY, -INFINITY };
        for (size_t j = i; j < n; j++)
            t[j - i] = x[j];
        __m256 v = exp8(_mm256_sub_ps(_mm256_loadu_ps(t), s));
        _mm256_storeu_ps(t, v);
        acc = _mm256_add_ps(acc, v);
        for (size_t j = i; j < n; j++)
            x[j] = t[j - i];
    }
    return hsum8(acc);
}

/* erfc(u) = t exp(-u^2 + P(t)), t = 1 / (1 + |u|/2), for u >= 0, with the
 * Chebyshev-fitted P of Numerical Recipes' erfcc (relative error < 1.2e-7
 * everywhere); erfc(-u) = 2 - erfc(u). */
AVX2 static inline __m256 gelu8(__m256 x)
{
    __m256 u = _mm256_mul_ps(x, _mm256_set1_ps(-0.70710678118654752f));
    __m256 z = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), u);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
    static const float c[] = { 0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                               -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f };
    __m256 p = _mm256_set1_ps(c[0]);
    for (int k = 1; k < 10; k++)
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(c[k]));
    __m256 r = _mm256_mul_ps(t, exp8(_mm256_fnmadd_ps(z, z, p)));
    __m256 neg = _mm256_cmp_ps(u, _mm256_setzero_ps(), _CMP_LT_OQ);
    r = _mm256_blendv_ps(r, _mm256_sub_ps(_mm256_set1_ps(2.0f), r), neg);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), r);
}

AVX2 static void gelu_avx2(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float t[8] = { 0 };
        for (size_t j = i; j < n; j++)
            t[j - i] = x[j];
        _mm256_storeu_ps(t, gelu8(_mm256_loadu_ps(t)));
        for (size_t j = i; j < n; j++)
            x[j] = t[j - i];
    }
}

AVX2 static inline __m256 silu8(__m256 g)
{
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

AVX2 static void silu_mul_avx2(float *gate, const float *up, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(gate + i,
                         _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
    if (i < n) {
        float t[8] = { 0 };
        for (size_t j = i; j < n; j++)
            t[j - i] = gate[j];
        _mm256_storeu_ps(t, silu8(_mm256_loadu_ps(t)));
        for (size_t j = i; j < n; j++)
            gate[j] = t[j - i] * up[j];
    }
}
#endif

/* ---- dispatch ---- */

static int use_simd(int simd) { return DV_X86 && simd && dv_cpu_has_avx2_fma(); }

float dv_vmax(const float *x, size_t n)
{
#if DV_X86
    if (use_simd(1))
        return vmax_avx2(x, n);
#endif
    float r = -INFINITY;
    for (size_t i = 0; i < n; i++)
        r = x[i] > r ? x[i] : r;
    return r;
}

float dv_vexp_shift_sum_simd(float *x, size_t n, float shift, int simd)
{
#if DV_X86
    if (use_simd(simd))
        return exp_shift_sum_avx2(x, n, shift);
#endif
    return exp_shift_sum_scalar(x, n, shift);
}

void dv_vgelu_simd(float *x, size_t n, int simd)
{
#if DV_X86
    if (use_simd(simd)) {
        gelu_avx2(x, n);
        return;
    }
#endif
    gelu_scalar(x, n);
}

void dv_vsilu_mul_simd(float *gate, const float *up, size_t n, int simd)
{
#if DV_X86
    if (use_simd(simd)) {
        silu_mul_avx2(gate, up, n);
        return;
    }
#endif
    silu_mul_scalar(gate, up, n);
}

float dv_vexp_shift_sum(float *x, size_t n, float shift)
{
    return dv_vexp_shift_sum_simd(x, n, shift, 1);
}

void dv_vgelu(float *x, size_t n) { dv_vgelu_simd(x, n, 1); }

void dv_vsilu_mul(float *gate, const float *up, size_t n) { dv_vsilu_mul_simd(gate, up, n, 1); }

void dv_vscale(float *y, float a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] *= a;
}
