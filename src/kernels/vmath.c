#include "kernels/vmath.h"

#include <math.h>

#include "kernels/cpu.h"
#include "kernels/simd_x86.h"
#include "kernels/vmath512.h"


/* ---- scalar forms (libm) ---- */

static float exp_shift_sum_scalar(float *x, size_t n, float shift)
{
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float t = x[i] - shift;
        x[i] = t < DV_EXP_LO ? 0.0f : expf(t);
        sum += x[i];
    }
    return sum;
}

static void gelu_scalar(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * erfcf(-x[i] * 0.70710678118654752f);
}

static void silu_mul_scalar(const float *gate, const float *up, float *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        h[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void scale_scalar(float *y, float a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] *= a;
}

static void mul_scalar(const float *a, const float *b, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

static void add_scalar(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void add_rows_scalar(float *y, size_t ys, const float *x, size_t xs, size_t rows,
                            size_t n)
{
    for (size_t r = 0; r < rows; r++)
        add_scalar(y + r * ys, x + r * xs, n);
}

/* gelu'(x) = cdf(x) + x pdf(x) of the standard normal. */
static void gelu_grad_scalar(const float *dy, const float *x, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float cdf = 0.5f * erfcf(-x[i] * 0.70710678118654752f);
        float pdf = expf(-0.5f * x[i] * x[i]) * DV_INV_SQRT_2PI;
        dx[i] = dy[i] * (cdf + x[i] * pdf);
    }
}

/* Both at once: y as gelu_scalar, d with dy d the bits of gelu_grad_scalar. */
static void gelu_and_grad_scalar(const float *x, float *y, float *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i], e = erfcf(-v * 0.70710678118654752f);
        float pdf = expf(-0.5f * v * v) * DV_INV_SQRT_2PI;
        y[i] = 0.5f * v * e;
        d[i] = 0.5f * e + v * pdf;
    }
}

/* silu'(g) = s (1 + g (1 - s)), s = sigmoid(g); exp(-g) overflowing to inf
 * gives s = 0, the limit. */
static void silu_mul_grad_scalar(const float *dh, const float *g, const float *u, float *dg,
                                 float *du, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        dg[i] = dh[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] = dh[i] * g[i] * s;
    }
}

static void softmax_grad_scalar(const float *p, float *dp, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++, p += n, dp += n) {
        float dsum = 0.0f;
        for (size_t i = 0; i < n; i++)
            dsum += p[i] * dp[i];
        for (size_t i = 0; i < n; i++)
            dp[i] = p[i] * (dp[i] - dsum);
    }
}

static float max_scalar(const float *x, size_t n)
{
    float r = -INFINITY;
    for (size_t i = 0; i < n; i++)
        r = x[i] > r ? x[i] : r;
    return r;
}

static void softmax_lse_scalar(float *s, size_t rows, size_t n, float *lse)
{
    DV_SOFTMAX_LSE_ROWS(s, rows, n, lse, max_scalar, exp_shift_sum_scalar, scale_scalar);
}

static void exp_rows_scalar(float *p, size_t rows, size_t n, const float *shift)
{
    DV_EXP_ROWS(p, rows, n, shift, exp_shift_sum_scalar);
}

static void rotate_scalar(float *a, float *b, const float *c, const float *s, float sign,
                          size_t i, size_t n)
{
    for (; i < n; i++) {
        float x = a[i], y = b[i], si = sign * s[i];
        a[i] = x * c[i] - y * si;
        b[i] = y * c[i] + x * si;
    }
}

/* Each head of each row: its halves (a, b) rotated by row i's angles. */
static void rope_scalar(float *x, int rows, int heads, int hd, size_t stride, const float *cosv,
                        const float *sinv, float sign)
{
    size_t half = (size_t)hd / 2;
    for (int i = 0; i < rows; i++)
        for (int h = 0; h < heads; h++) {
            float *v = x + (size_t)i * stride + (size_t)h * hd;
            rotate_scalar(v, v + half, cosv + i * half, sinv + i * half, sign, 0, half);
        }
}

/* ---- AVX2 + FMA forms ---- */

#if DV_X86
AVX2 static inline __m256 zero_below8(__m256 x, __m256 y)
{
    return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(DV_EXP_LO), _CMP_LT_OQ), y);
}

/* exp by range reduction and a polynomial (DV_EXP in vmath512.h). */
AVX2 static inline __m256 exp8(__m256 x)
{
    DV_EXP_BODY(_mm256, __m256, __m256i, _mm256_round_ps, _mm256_castsi256_ps, zero_below8, x);
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
    return dv_hsum8(acc);
}

AVX2 static inline __m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

/* 0.5 erfc(-x / sqrt 2) (DV_ERFC in vmath512.h); erfc(-z) = 2 - erfc(z). */
AVX2 static inline __m256 cdf8(__m256 x)
{
    __m256 u, r;
    DV_ERFC(_mm256, __m256, abs8, exp8, x, u, r);
    __m256 neg = _mm256_cmp_ps(u, _mm256_setzero_ps(), _CMP_LT_OQ);
    r = _mm256_blendv_ps(r, _mm256_sub_ps(_mm256_set1_ps(2.0f), r), neg);
    return _mm256_mul_ps(_mm256_set1_ps(0.5f), r);
}

/* x cdf(x) rounds as 0.5 x erfc(..) did: halving is exact. */
AVX2 static inline __m256 gelu8(__m256 x) { return _mm256_mul_ps(x, cdf8(x)); }

AVX2 static void gelu_avx2(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float t[8] = { 0 };
        for (size_t j = i; j < n; j++)
            t[j - i] = x[j];
        _mm256_storeu_ps(t, gelu8(_mm256_loadu_ps(t)));
        for (size_t j = i; j < n; j++)
            y[j] = t[j - i];
    }
}

AVX2 static inline __m256 silu8(__m256 g)
{
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

AVX2 static void silu_mul_avx2(const float *gate, const float *up, float *h, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(h + i,
                         _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
    if (i < n) {
        float t[8] = { 0 };
        for (size_t j = i; j < n; j++)
            t[j - i] = gate[j];
        _mm256_storeu_ps(t, silu8(_mm256_loadu_ps(t)));
        for (size_t j = i; j < n; j++)
            h[j] = t[j - i] * up[j];
    }
}
/* Lanes [0, n) of a vector, n < 8: masked loads read 0 beyond them and
 * masked stores leave memory beyond them alone, so a row's tail takes the
 * same instructions as its body. */
AVX2 static inline __m256i tail_mask(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2 static void scale_avx2(float *y, float a, size_t n)
{
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), va));
    scale_scalar(y + i, a, n - i);
}

AVX2 static void mul_avx2(const float *a, const float *b, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    mul_scalar(a + i, b + i, y + i, n - i);
}

AVX2 static void add_rows_avx2(float *y, size_t ys, const float *x, size_t xs, size_t rows,
                               size_t n)
{
    for (size_t r = 0; r < rows; r++, y += ys, x += xs) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
        add_scalar(y + i, x + i, n - i);
    }
}

AVX2 static inline __m256 gelu_grad8(__m256 dy, __m256 x)
{
    __m256 pdf = exp8(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(-0.5f), x), x));
    pdf = _mm256_mul_ps(pdf, _mm256_set1_ps(DV_INV_SQRT_2PI));
    return _mm256_mul_ps(dy, _mm256_fmadd_ps(x, pdf, cdf8(x)));
}

/* gelu8 into y, gelu_grad8's factor of dy into d, lanes of m only. */
AVX2 static inline void gelu_and_grad8(const float *x, float *y, float *d, __m256i m)
{
    __m256 v = _mm256_maskload_ps(x, m), c = cdf8(v);
    __m256 pdf = exp8(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(-0.5f), v), v));
    pdf = _mm256_mul_ps(pdf, _mm256_set1_ps(DV_INV_SQRT_2PI));
    _mm256_maskstore_ps(y, m, _mm256_mul_ps(v, c));
    _mm256_maskstore_ps(d, m, _mm256_fmadd_ps(v, pdf, c));
}

AVX2 static void gelu_and_grad_avx2(const float *x, float *y, float *d, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        gelu_and_grad8(x + i, y + i, d + i, _mm256_set1_epi32(-1));
    if (i < n)
        gelu_and_grad8(x + i, y + i, d + i, tail_mask(n - i));
}

AVX2 static void gelu_grad_avx2(const float *dy, const float *x, float *dx, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dx + i, gelu_grad8(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(dx + i, m, gelu_grad8(_mm256_maskload_ps(dy + i, m),
                                                  _mm256_maskload_ps(x + i, m)));
    }
}

/* dg and du of 8 elements at i, lanes of m only. */
AVX2 static inline void silu_mul_grad8(const float *dh, const float *g, const float *u,
                                       float *dg, float *du, __m256i m)
{
    __m256 vh = _mm256_maskload_ps(dh, m), vg = _mm256_maskload_ps(g, m);
    __m256 vu = _mm256_maskload_ps(u, m), one = _mm256_set1_ps(1.0f);
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), vg))));
    __m256 hs = _mm256_mul_ps(vh, s);
    __m256 d = _mm256_fmadd_ps(vg, _mm256_sub_ps(one, s), one);
    _mm256_maskstore_ps(dg, m, _mm256_mul_ps(_mm256_mul_ps(hs, vu), d));
    _mm256_maskstore_ps(du, m, _mm256_mul_ps(hs, vg));
}

AVX2 static void silu_mul_grad_avx2(const float *dh, const float *g, const float *u, float *dg,
                                    float *du, size_t n)
{
    __m256i all = _mm256_set1_epi32(-1);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        silu_mul_grad8(dh + i, g + i, u + i, dg + i, du + i, all);
    if (i < n)
        silu_mul_grad8(dh + i, g + i, u + i, dg + i, du + i, tail_mask(n - i));
}

AVX2 static inline void softmax_grad_row_avx2(const float *p, float *dp, size_t n)
{
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(dp + i), acc);
    __m256i m = tail_mask(n - i);
    if (i < n)
        acc = _mm256_fmadd_ps(_mm256_maskload_ps(p + i, m), _mm256_maskload_ps(dp + i, m), acc);
    __m256 dsum = _mm256_set1_ps(dv_hsum8(acc));
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dp + i, _mm256_mul_ps(_mm256_loadu_ps(p + i),
                                               _mm256_sub_ps(_mm256_loadu_ps(dp + i), dsum)));
    if (i < n)
        _mm256_maskstore_ps(dp + i, m, _mm256_mul_ps(_mm256_maskload_ps(p + i, m),
                                                     _mm256_sub_ps(_mm256_maskload_ps(dp + i, m),
                                                                   dsum)));
}

AVX2 static void softmax_grad_avx2(const float *p, float *dp, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++)
        softmax_grad_row_avx2(p + r * n, dp + r * n, n);
}

AVX2 static void softmax_lse_avx2(float *s, size_t rows, size_t n, float *lse)
{
    DV_SOFTMAX_LSE_ROWS(s, rows, n, lse, vmax_avx2, exp_shift_sum_avx2, scale_avx2);
}

AVX2 static void exp_rows_avx2(float *p, size_t rows, size_t n, const float *shift)
{
    DV_EXP_ROWS(p, rows, n, shift, exp_shift_sum_avx2);
}

/* Multiplies and adds apart (no fused form), as the scalar loop: the same bits. */
AVX2 static void rope_avx2(float *x, int rows, int heads, int hd, size_t stride,
                           const float *cosv, const float *sinv, float sign)
{
    size_t half = (size_t)hd / 2;
    __m256 vsign = _mm256_set1_ps(sign);
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < heads; h++) {
            float *a = x + (size_t)r * stride + (size_t)h * hd, *b = a + half;
            const float *c = cosv + r * half, *s = sinv + r * half;
            size_t i = 0;
            for (; i + 8 <= half; i += 8) {
                __m256 va = _mm256_loadu_ps(a + i), vb = _mm256_loadu_ps(b + i);
                __m256 vc = _mm256_loadu_ps(c + i);
                __m256 si = _mm256_mul_ps(vsign, _mm256_loadu_ps(s + i));
                _mm256_storeu_ps(a + i,
                                 _mm256_sub_ps(_mm256_mul_ps(va, vc), _mm256_mul_ps(vb, si)));
                _mm256_storeu_ps(b + i,
                                 _mm256_add_ps(_mm256_mul_ps(vb, vc), _mm256_mul_ps(va, si)));
            }
            rotate_scalar(a, b, c, s, sign, i, half);
        }
}
#endif

/* ---- dispatch ---- */

static int use_simd(int simd) { return DV_X86 && simd && dv_cpu_vec_level() >= 1; }

/* The form the plain entry points ask for: AVX-512 where the kernel has one
 * and the CPU runs it, else AVX2, else scalar. */
#define BEST 2

/* simd 2 and a CPU with AVX-512: the kernel's AVX-512 form (vmath512.c). */
#if DV_X86
#define PICK512(avx512_call)                                                                    \
    do {                                                                                        \
        if (simd >= 2 && dv_cpu_vec_level() >= 2) {                                             \
            avx512_call;                                                                        \
            return;                                                                             \
        }                                                                                       \
    } while (0)
#else
#define PICK512(avx512_call) ((void)0)
#endif

float dv_vmax(const float *x, size_t n)
{
#if DV_X86
    if (use_simd(1))
        return vmax_avx2(x, n);
#endif
    return max_scalar(x, n);
}

float dv_vexp_shift_sum_simd(float *x, size_t n, float shift, int simd)
{
#if DV_X86
    if (simd >= 2 && dv_cpu_vec_level() >= 2)
        return dv_exp_shift_sum_avx512(x, n, shift);
    if (use_simd(simd))
        return exp_shift_sum_avx2(x, n, shift);
#endif
    return exp_shift_sum_scalar(x, n, shift);
}

void dv_vgelu_into_simd(const float *x, float *y, size_t n, int simd)
{
    PICK512(dv_gelu_avx512(x, y, n));
    DV_PICK(simd, gelu_avx2(x, y, n), gelu_scalar(x, y, n));
}

void dv_vsilu_mul_into_simd(const float *gate, const float *up, float *h, size_t n, int simd)
{
    PICK512(dv_silu_mul_avx512(gate, up, h, n));
    DV_PICK(simd, silu_mul_avx2(gate, up, h, n), silu_mul_scalar(gate, up, h, n));
}

void dv_vgelu_simd(float *x, size_t n, int simd) { dv_vgelu_into_simd(x, x, n, simd); }

void dv_vsilu_mul_simd(float *gate, const float *up, size_t n, int simd)
{
    dv_vsilu_mul_into_simd(gate, up, gate, n, simd);
}

float dv_vexp_shift_sum(float *x, size_t n, float shift)
{
    return dv_vexp_shift_sum_simd(x, n, shift, BEST);
}

void dv_vgelu(float *x, size_t n) { dv_vgelu_simd(x, n, BEST); }

void dv_vsilu_mul(float *gate, const float *up, size_t n)
{
    dv_vsilu_mul_simd(gate, up, n, BEST);
}

void dv_vgelu_into(const float *x, float *y, size_t n) { dv_vgelu_into_simd(x, y, n, BEST); }

void dv_vsilu_mul_into(const float *gate, const float *up, float *h, size_t n)
{
    dv_vsilu_mul_into_simd(gate, up, h, n, BEST);
}


void dv_vscale_simd(float *y, float a, size_t n, int simd)
{
    DV_PICK(simd, scale_avx2(y, a, n), scale_scalar(y, a, n));
}

void dv_vmul_simd(const float *a, const float *b, float *y, size_t n, int simd)
{
    DV_PICK(simd, mul_avx2(a, b, y, n), mul_scalar(a, b, y, n));
}

void dv_vmul(const float *a, const float *b, float *y, size_t n) { dv_vmul_simd(a, b, y, n, BEST); }

void dv_vadd_rows_simd(float *y, size_t ys, const float *x, size_t xs, size_t rows, size_t n,
                       int simd)
{
    DV_PICK(simd, add_rows_avx2(y, ys, x, xs, rows, n), add_rows_scalar(y, ys, x, xs, rows, n));
}

void dv_vgelu_grad_simd(const float *dy, const float *x, float *dx, size_t n, int simd)
{
    PICK512(dv_gelu_grad_avx512(dy, x, dx, n));
    DV_PICK(simd, gelu_grad_avx2(dy, x, dx, n), gelu_grad_scalar(dy, x, dx, n));
}

void dv_vgelu_and_grad_simd(const float *x, float *y, float *d, size_t n, int simd)
{
    PICK512(dv_gelu_and_grad_avx512(x, y, d, n));
    DV_PICK(simd, gelu_and_grad_avx2(x, y, d, n), gelu_and_grad_scalar(x, y, d, n));
}

void dv_vgelu_and_grad(const float *x, float *y, float *d, size_t n)
{
    dv_vgelu_and_grad_simd(x, y, d, n, BEST);
}

void dv_vsilu_mul_grad_simd(const float *dh, const float *g, const float *u, float *dg,
                            float *du, size_t n, int simd)
{
    PICK512(dv_silu_mul_grad_avx512(dh, g, u, dg, du, n));
    DV_PICK(simd, silu_mul_grad_avx2(dh, g, u, dg, du, n),
            silu_mul_grad_scalar(dh, g, u, dg, du, n));
}

void dv_vsoftmax_grad_simd(const float *p, float *dp, size_t rows, size_t n, int simd)
{
    DV_PICK(simd, softmax_grad_avx2(p, dp, rows, n), softmax_grad_scalar(p, dp, rows, n));
}

void dv_vsoftmax_lse_simd(float *s, size_t rows, size_t n, float *lse, int simd)
{
    PICK512(dv_softmax_lse_avx512(s, rows, n, lse));
    DV_PICK(simd, softmax_lse_avx2(s, rows, n, lse), softmax_lse_scalar(s, rows, n, lse));
}

void dv_vexp_rows_simd(float *p, size_t rows, size_t n, const float *shift, int simd)
{
    PICK512(dv_exp_rows_avx512(p, rows, n, shift));
    DV_PICK(simd, exp_rows_avx2(p, rows, n, shift), exp_rows_scalar(p, rows, n, shift));
}

void dv_vrope_simd(float *x, int rows, int heads, int hd, size_t stride, const float *cosv,
                   const float *sinv, float sign, int simd)
{
    DV_PICK(simd, rope_avx2(x, rows, heads, hd, stride, cosv, sinv, sign),
            rope_scalar(x, rows, heads, hd, stride, cosv, sinv, sign));
}

void dv_vscale(float *y, float a, size_t n) { dv_vscale_simd(y, a, n, BEST); }

void dv_vadd(float *y, const float *x, size_t n) { dv_vadd_rows_simd(y, 0, x, 0, 1, n, BEST); }

void dv_vadd_rows(float *y, size_t ys, const float *x, size_t xs, size_t rows, size_t n)
{
    dv_vadd_rows_simd(y, ys, x, xs, rows, n, BEST);
}

void dv_vgelu_grad(const float *dy, const float *x, float *dx, size_t n)
{
    dv_vgelu_grad_simd(dy, x, dx, n, BEST);
}

void dv_vsilu_mul_grad(const float *dh, const float *g, const float *u, float *dg, float *du,
                       size_t n)
{
    dv_vsilu_mul_grad_simd(dh, g, u, dg, du, n, BEST);
}

void dv_vsoftmax_grad(const float *p, float *dp, size_t rows, size_t n)
{
    dv_vsoftmax_grad_simd(p, dp, rows, n, BEST);
}

void dv_vsoftmax_lse(float *s, size_t rows, size_t n, float *lse)
{
    dv_vsoftmax_lse_simd(s, rows, n, lse, BEST);
}

void dv_vexp_rows(float *p, size_t rows, size_t n, const float *shift)
{
    dv_vexp_rows_simd(p, rows, n, shift, BEST);
}

void dv_vrope(float *x, int rows, int heads, int hd, size_t stride, const float *cosv,
              const float *sinv, float sign)
{
    dv_vrope_simd(x, rows, heads, hd, stride, cosv, sinv, sign, BEST);
}

double dv_logsumexp(const float *z, int n)
{
    float top = z[0];
    for (int i = 1; i < n; i++)
        top = z[i] > top ? z[i] : top;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)z[i] - top);
    return top + log(sum);
}
