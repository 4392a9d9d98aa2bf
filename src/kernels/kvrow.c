/* The few-query attention's kernels over the KV cache: dot products and
 * weighted sums of cached rows (f16 or f32), f16 row conversions, float
 * dot and axpy; each with a scalar form and an AVX2+F16C one. */
#include "kernels/kvrow.h"

#include <string.h>

#include "kernels/tensor.h"

#include "kernels/cpu.h"
#include "kernels/simd_x86.h"

#if DV_X86
AVX2 static float f32_dot_avx2(const float *a, const float *b, int n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    float sum = dv_hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

AVX2 static void f32_axpy_avx2(float *y, float a, const float *x, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* F16C converts 8 halves per instruction, rounding to nearest even both ways. */

F16C static float f16_dot_f16c(const uint16_t *a, const float *b, int n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8)));
        acc0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b + i + 8), acc1);
    }
    float sum = dv_hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += dv_f16_to_f32(a[i]) * b[i];
    return sum;
}

F16C static void f16_axpy_f16c(float *y, float a, const uint16_t *x, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, v, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] += a * dv_f16_to_f32(x[i]);
}

F16C static void f32_to_f16_f16c(const float *x, uint16_t *h, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        h[i] = dv_f32_to_f16(x[i]);
}

F16C static void f16_to_f32_f16c(const uint16_t *h, float *x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        x[i] = dv_f16_to_f32(h[i]);
}

/* The few-query attention's two loops over cached rows (keys, values), f16
 * or f32. Dots go 4 rows at a time so each piece of q is loaded once for
 * four rows and the four sums reduce together; the weighted sum keeps 32
 * output floats in registers across all rows instead of loading and storing
 * the output for every row. */
F16C static inline __m256 load8_kv(const void *base, int f16, size_t at)
{
    if (f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + at)));
    return _mm256_loadu_ps((const float *)base + at);
}

static inline float load1_kv(const void *base, int f16, size_t at)
{
    return f16 ? dv_f16_to_f32(((const uint16_t *)base)[at]) : ((const float *)base)[at];
}

/* Four rows' dots with q: rows r0, r0 + stride, ... (element offsets into
 * rows), each piece of q loaded once for the four. */
F16C __attribute__((always_inline)) static inline void
dot4(const void *rows, int f16, size_t stride, size_t r0, const float *q, int hd, float scale,
     float *s)
{
    int hv = hd / 8 * 8;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int c = 0; c < hv; c += 8) {
        __m256 qv = _mm256_loadu_ps(q + c);
        a0 = _mm256_fmadd_ps(load8_kv(rows, f16, r0 + c), qv, a0);
        a1 = _mm256_fmadd_ps(load8_kv(rows, f16, r0 + stride + c), qv, a1);
        a2 = _mm256_fmadd_ps(load8_kv(rows, f16, r0 + 2 * stride + c), qv, a2);
        a3 = _mm256_fmadd_ps(load8_kv(rows, f16, r0 + 3 * stride + c), qv, a3);
    }
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    float t[4];
    _mm_storeu_ps(t, sum);
    for (int r = 0; r < 4; r++) {
        for (int c = hv; c < hd; c++)
            t[r] += load1_kv(rows, f16, r0 + (size_t)r * stride + c) * q[c];
        s[r] = scale * t[r];
    }
}

/* One row's dot with q (the rows after the last four). */
F16C __attribute__((always_inline)) static inline float
dot1(const void *rows, int f16, size_t r0, const float *q, int hd, float scale)
{
    int hv = hd / 8 * 8;
    __m256 a = _mm256_setzero_ps();
    for (int c = 0; c < hv; c += 8)
        a = _mm256_fmadd_ps(load8_kv(rows, f16, r0 + c), _mm256_loadu_ps(q + c), a);
    float t = dv_hsum8(a);
    for (int c = hv; c < hd; c++)
        t += load1_kv(rows, f16, r0 + c) * q[c];
    return scale * t;
}

F16C __attribute__((always_inline)) static inline void
rows_dot_simd(const void *rows, int f16, size_t stride, int nk, const float *q, int hd,
              float scale, float *s)
{
    int j = 0;
    for (; j + 4 <= nk; j += 4)
        dot4(rows, f16, stride, (size_t)j * stride, q, hd, scale, s + j);
    for (; j < nk; j++)
        s[j] = dot1(rows, f16, (size_t)j * stride, q, hd, scale);
}

F16C __attribute__((always_inline)) static inline void
rows_wsum_simd(const void *rows, int f16, size_t stride, int nk, const float *p, int hd, float *out)
{
    int c0 = 0;
    for (; c0 + 32 <= hd; c0 += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < nk; j++) {
            __m256 pj = _mm256_set1_ps(p[j]);
            size_t r = (size_t)j * stride + c0;
            a0 = _mm256_fmadd_ps(pj, load8_kv(rows, f16, r), a0);
            a1 = _mm256_fmadd_ps(pj, load8_kv(rows, f16, r + 8), a1);
            a2 = _mm256_fmadd_ps(pj, load8_kv(rows, f16, r + 16), a2);
            a3 = _mm256_fmadd_ps(pj, load8_kv(rows, f16, r + 24), a3);
        }
        _mm256_storeu_ps(out + c0, a0);
        _mm256_storeu_ps(out + c0 + 8, a1);
        _mm256_storeu_ps(out + c0 + 16, a2);
        _mm256_storeu_ps(out + c0 + 24, a3);
    }
    for (; c0 + 8 <= hd; c0 += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int j = 0; j < nk; j++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), load8_kv(rows, f16, (size_t)j * stride + c0), a);
        _mm256_storeu_ps(out + c0, a);
    }
    for (; c0 < hd; c0++) {
        float a = 0.0f;
        for (int j = 0; j < nk; j++)
            a += p[j] * load1_kv(rows, f16, (size_t)j * stride + c0);
        out[c0] = a;
    }
}

F16C static void rows_dot_f16(const void *rows, size_t stride, int nk, const float *q, int hd,
                              float scale, float *s)
{
    rows_dot_simd(rows, 1, stride, nk, q, hd, scale, s);
}

F16C static void rows_dot_f32(const void *rows, size_t stride, int nk, const float *q, int hd,
                              float scale, float *s)
{
    rows_dot_simd(rows, 0, stride, nk, q, hd, scale, s);
}

F16C static void rows_wsum_f16(const void *rows, size_t stride, int nk, const float *p, int hd,
                               float *out)
{
    rows_wsum_simd(rows, 1, stride, nk, p, hd, out);
}

F16C static void rows_wsum_f32(const void *rows, size_t stride, int nk, const float *p, int hd,
                               float *out)
{
    rows_wsum_simd(rows, 0, stride, nk, p, hd, out);
}

/* Rows this far ahead of the four being read are asked for, each head's
 * slice as that head's dots or sums start (a request at a time between the
 * products, not a block's 256 at once, which measured slower than none):
 * the hardware's streams alone left a thread reading a cache at 15-19 GB/s
 * where it reads 30-36 GB/s of plain memory; asked for 16 rows ahead, 22-32
 * GB/s (1.3B shapes: 16 heads of 128, f16, one thread). Only advice: the
 * floats do not change. */
#define KV_AHEAD 16

/* Asks for kv head kvh's slice of the 4 rows from row j, where they exist. */
static inline void ahead4(const void *rows, int f16, size_t stride, int nk, int j, int kvh, int hd)
{
    if (j + 4 > nk)
        return;
    size_t es = f16 ? sizeof(uint16_t) : sizeof(float), len = (size_t)hd * es;
    const char *base = (const char *)rows + ((size_t)j * stride + (size_t)kvh * hd) * es;
    for (int r = 0; r < 4; r++)
        for (size_t b = 0; b < len; b += 64)
            __builtin_prefetch(base + (size_t)r * stride * es + b);
}

/* Every head of a row in one pass: the rows of a cache are read front to
 * back (kv_dim values a row, rows one after the other), where a head at a
 * time read 256 bytes of every 4 KiB row, a page apart, which the
 * prefetchers do not follow. Each (row, head) dot and each output float's
 * sum are computed as the head-at-a-time kernels compute them (dot4/dot1,
 * and the weighted sum's multiply-adds in row order), so the floats are
 * theirs bit for bit. */
F16C __attribute__((always_inline)) static inline void
heads_dot_simd(const void *rows, int f16, size_t stride, int nk, int heads, int group,
               const float *q, int hd, float scale, float *s, size_t lds)
{
    int j = 0;
    for (; j + 4 <= nk; j += 4)
        for (int t = 0; t < heads; t++) {
            if (t % group == 0)
                ahead4(rows, f16, stride, nk, j + KV_AHEAD, t / group, hd);
            dot4(rows, f16, stride, (size_t)j * stride + (size_t)(t / group) * hd,
                 q + (size_t)t * hd, hd, scale, s + (size_t)t * lds + j);
        }
    for (; j < nk; j++)
        for (int t = 0; t < heads; t++)
            s[(size_t)t * lds + j] = dot1(rows, f16, (size_t)j * stride + (size_t)(t / group) * hd,
                                          q + (size_t)t * hd, hd, scale);
}

/* out[t] += sum over rows j0 <= j < j0 + m (m <= 4) of p[t][j] * row j, in
 * row order (the output floats stay in L1 across the heads of a row). */
F16C __attribute__((always_inline)) static inline void
heads_wsum_rows(const void *rows, int f16, size_t stride, int j0, int m, int heads, int group,
                const float *p, size_t ldp, int hd, float *out, int nk)
{
    int hv = hd / 8 * 8;
    for (int t = 0; t < heads; t++) {
        if (t % group == 0)
            ahead4(rows, f16, stride, nk, j0 + KV_AHEAD, t / group, hd);
        size_t r0 = (size_t)j0 * stride + (size_t)(t / group) * hd;
        const float *pt = p + (size_t)t * ldp + j0;
        float *o = out + (size_t)t * hd;
        __m256 pv[4];
        for (int r = 0; r < m; r++)
            pv[r] = _mm256_set1_ps(pt[r]);
        for (int c = 0; c < hv; c += 8) {
            __m256 a = _mm256_loadu_ps(o + c);
            for (int r = 0; r < m; r++)
                a = _mm256_fmadd_ps(pv[r], load8_kv(rows, f16, r0 + (size_t)r * stride + c), a);
            _mm256_storeu_ps(o + c, a);
        }
        for (int c = hv; c < hd; c++) {
            float a = o[c];
            for (int r = 0; r < m; r++)
                a += pt[r] * load1_kv(rows, f16, r0 + (size_t)r * stride + c);
            o[c] = a;
        }
    }
}

F16C __attribute__((always_inline)) static inline void
heads_wsum_simd(const void *rows, int f16, size_t stride, int nk, int heads, int group,
                const float *p, size_t ldp, int hd, float *out)
{
    memset(out, 0, (size_t)heads * hd * sizeof *out);
    int j = 0;
    for (; j + 4 <= nk; j += 4)
        heads_wsum_rows(rows, f16, stride, j, 4, heads, group, p, ldp, hd, out, nk);
    for (; j < nk; j++)
        heads_wsum_rows(rows, f16, stride, j, 1, heads, group, p, ldp, hd, out, nk);
}

F16C static void heads_dot_f16(const void *rows, size_t stride, int nk, int heads, int group,
                               const float *q, int hd, float scale, float *s, size_t lds)
{
    heads_dot_simd(rows, 1, stride, nk, heads, group, q, hd, scale, s, lds);
}

F16C static void heads_dot_f32(const void *rows, size_t stride, int nk, int heads, int group,
                               const float *q, int hd, float scale, float *s, size_t lds)
{
    heads_dot_simd(rows, 0, stride, nk, heads, group, q, hd, scale, s, lds);
}

F16C static void heads_wsum_f16(const void *rows, size_t stride, int nk, int heads, int group,
                                const float *p, size_t ldp, int hd, float *out)
{
    heads_wsum_simd(rows, 1, stride, nk, heads, group, p, ldp, hd, out);
}

F16C static void heads_wsum_f32(const void *rows, size_t stride, int nk, int heads, int group,
                                const float *p, size_t ldp, int hd, float *out)
{
    heads_wsum_simd(rows, 0, stride, nk, heads, group, p, ldp, hd, out);
}
#endif

void dv_rows_dot(const void *rows, int f16, size_t stride, int nk, const float *q, int hd,
                 float scale, float *s, int simd)
{
#if DV_X86
    if (simd) {
        (f16 ? rows_dot_f16 : rows_dot_f32)(rows, stride, nk, q, hd, scale, s);
        return;
    }
#else
    (void)simd;
#endif
    for (int j = 0; j < nk; j++) {
        const char *r = (const char *)rows + (size_t)j * stride * (f16 ? 2 : 4);
        s[j] = scale * (f16 ? dv_f16_dot((const uint16_t *)r, q, hd, 0)
                            : dv_f32_dot(q, (const float *)r, hd, 0));
    }
}

void dv_rows_weighted_sum(const void *rows, int f16, size_t stride, int nk, const float *p, int hd,
                          float *out, int simd)
{
#if DV_X86
    if (simd) {
        (f16 ? rows_wsum_f16 : rows_wsum_f32)(rows, stride, nk, p, hd, out);
        return;
    }
#else
    (void)simd;
#endif
    for (int c = 0; c < hd; c++)
        out[c] = 0.0f;
    for (int j = 0; j < nk; j++) {
        const char *r = (const char *)rows + (size_t)j * stride * (f16 ? 2 : 4);
        if (f16)
            dv_f16_axpy(out, p[j], (const uint16_t *)r, hd, 0);
        else
            dv_f32_axpy(out, p[j], (const float *)r, hd, 0);
    }
}

/* The row-at-a-time forms head by head: the same floats as the simd ones. */
static const void *kv_head(const void *rows, int f16, int kvh, int hd)
{
    return (const char *)rows + (size_t)kvh * hd * (f16 ? sizeof(uint16_t) : sizeof(float));
}

void dv_rows_dot_heads(const void *rows, int f16, size_t stride, int nk, int heads, int group,
                       const float *q, int hd, float scale, float *s, size_t lds, int simd)
{
#if DV_X86
    if (simd) {
        (f16 ? heads_dot_f16 : heads_dot_f32)(rows, stride, nk, heads, group, q, hd, scale, s,
                                              lds);
        return;
    }
#endif
    for (int t = 0; t < heads; t++)
        dv_rows_dot(kv_head(rows, f16, t / group, hd), f16, stride, nk, q + (size_t)t * hd, hd,
                    scale, s + (size_t)t * lds, simd);
}

void dv_rows_weighted_sum_heads(const void *rows, int f16, size_t stride, int nk, int heads,
                                int group, const float *p, size_t ldp, int hd, float *out,
                                int simd)
{
#if DV_X86
    if (simd) {
        (f16 ? heads_wsum_f16 : heads_wsum_f32)(rows, stride, nk, heads, group, p, ldp, hd, out);
        return;
    }
#endif
    for (int t = 0; t < heads; t++)
        dv_rows_weighted_sum(kv_head(rows, f16, t / group, hd), f16, stride, nk,
                             p + (size_t)t * ldp, hd, out + (size_t)t * hd, simd);
}

float dv_f16_dot(const uint16_t *a, const float *b, int n, int simd)
{
#if DV_X86
    if (simd)
        return f16_dot_f16c(a, b, n);
#else
    (void)simd;
#endif
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += dv_f16_to_f32(a[i]) * b[i];
    return sum;
}

void dv_f16_axpy(float *y, float a, const uint16_t *x, int n, int simd)
{
#if DV_X86
    if (simd) {
        f16_axpy_f16c(y, a, x, n);
        return;
    }
#else
    (void)simd;
#endif
    for (int i = 0; i < n; i++)
        y[i] += a * dv_f16_to_f32(x[i]);
}

void dv_f32_to_f16_row(const float *x, uint16_t *h, int n)
{
#if DV_X86
    if (dv_cpu_has_f16c()) {
        f32_to_f16_f16c(x, h, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        h[i] = dv_f32_to_f16(x[i]);
}

void dv_f16_to_f32_row(const uint16_t *h, float *x, int n)
{
#if DV_X86
    if (dv_cpu_has_f16c()) {
        f16_to_f32_f16c(h, x, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        x[i] = dv_f16_to_f32(h[i]);
}

float dv_f32_dot(const float *a, const float *b, int n, int simd)
{
#if DV_X86
    if (simd)
        return f32_dot_avx2(a, b, n);
#else
    (void)simd;
#endif
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

void dv_f32_axpy(float *y, float a, const float *x, int n, int simd)
{
#if DV_X86
    if (simd) {
        f32_axpy_avx2(y, a, x, n);
        return;
    }
#else
    (void)simd;
#endif
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}
