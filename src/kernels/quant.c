#include "kernels/quant.h"
#include "kernels/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/simd_x86.h"

size_t dv_qrow_bytes(dv_qfmt f, int in)
{
    size_t blk = f == DV_Q8 ? sizeof(dv_q8_block) : f == DV_Q4 ? sizeof(dv_q4_block) : 0;
    return blk * (size_t)dv_qblocks(in);
}

const char *dv_qfmt_name(dv_qfmt f)
{
    return f == DV_Q8 ? "q8" : f == DV_Q4 ? "q4" : "none";
}

/* The block's values, zero-padded past the row's end. */
static void load_block(const float *x, int in, int b, float v[DV_QBLOCK])
{
    int j0 = b * DV_QBLOCK;
    for (int j = 0; j < DV_QBLOCK; j++)
        v[j] = j0 + j < in ? x[j0 + j] : 0.0f;
}

static void quantize_q8_scalar(const float *x, int in, dv_q8_block *dst)
{
    for (int b = 0; b < dv_qblocks(in); b++) {
        float v[DV_QBLOCK], amax = 0.0f;
        load_block(x, in, b, v);
        for (int j = 0; j < DV_QBLOCK; j++)
            amax = fabsf(v[j]) > amax ? fabsf(v[j]) : amax;
        float d = amax / 127.0f, inv = d > 0.0f ? 1.0f / d : 0.0f;
        dst[b].d = d;
        for (int j = 0; j < DV_QBLOCK; j++)
            dst[b].q[j] = (int8_t)lrintf(v[j] * inv);
    }
}

static void quantize_q4(const float *x, int in, dv_q4_block *dst)
{
    for (int b = 0; b < dv_qblocks(in); b++) {
        float v[DV_QBLOCK], vmax = 0.0f;
        load_block(x, in, b, v);
        for (int j = 0; j < DV_QBLOCK; j++)
            if (fabsf(v[j]) > fabsf(vmax))
                vmax = v[j];
        float d = vmax / -8.0f, inv = d != 0.0f ? 1.0f / d : 0.0f;
        dst[b].d = d;
        for (int j = 0; j < DV_QBLOCK / 2; j++) {
            long lo = lrintf(v[j] * inv) + 8, hi = lrintf(v[j + DV_QBLOCK / 2] * inv) + 8;
            lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
            hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
            dst[b].q[j] = (uint8_t)(lo | hi << 4);
        }
    }
}


void dv_dequantize_row(dv_qfmt f, const void *src, int in, float *dst)
{
    for (int b = 0; b < dv_qblocks(in); b++) {
        float v[DV_QBLOCK];
        if (f == DV_Q8) {
            const dv_q8_block *q = (const dv_q8_block *)src + b;
            for (int j = 0; j < DV_QBLOCK; j++)
                v[j] = q->d * q->q[j];
        } else {
            const dv_q4_block *q = (const dv_q4_block *)src + b;
            for (int j = 0; j < DV_QBLOCK / 2; j++) {
                v[j] = q->d * (float)((q->q[j] & 15) - 8);
                v[j + DV_QBLOCK / 2] = q->d * (float)((q->q[j] >> 4) - 8);
            }
        }
        int j0 = b * DV_QBLOCK, n = in - j0 < DV_QBLOCK ? in - j0 : DV_QBLOCK;
        memcpy(dst + j0, v, (size_t)n * sizeof *v);
    }
}

/* ---- scalar kernels ---- */

static float qdot_q8_scalar(const dv_q8_block *w, const dv_q8_block *x, int nb)
{
    float sum = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t acc = 0;
        for (int j = 0; j < DV_QBLOCK; j++)
            acc += (int32_t)w[b].q[j] * x[b].q[j];
        sum += w[b].d * x[b].d * (float)acc;
    }
    return sum;
}

static float qdot_q4_scalar(const dv_q4_block *w, const dv_q8_block *x, int nb)
{
    float sum = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t acc = 0;
        for (int j = 0; j < DV_QBLOCK / 2; j++) {
            acc += ((w[b].q[j] & 15) - 8) * (int32_t)x[b].q[j];
            acc += ((w[b].q[j] >> 4) - 8) * (int32_t)x[b].q[j + DV_QBLOCK / 2];
        }
        sum += w[b].d * x[b].d * (float)acc;
    }
    return sum;
}

static float bf16_dot_scalar(const uint16_t *w, const float *x, int n)
{
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        union { uint32_t u; float f; } v = { (uint32_t)w[i] << 16 };
        sum += v.f * x[i];
    }
    return sum;
}

/* ---- AVX2 + FMA kernels ---- */

#if DV_X86
/* Eight int32 sums of products of 32 signed bytes. maddubs wants one unsigned
 * operand: |w| times x carrying w's sign gives the same products, and no pair
 * sum overflows int16 because |w| <= 127 (q8) or <= 8 (q4). */
AVX2 static __m256i dot_i8(__m256i w, __m256i x)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

AVX2 static float qdot_q8_avx2(const dv_q8_block *w, const dv_q8_block *x, int nb)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i p0 = dot_i8(_mm256_loadu_si256((const __m256i *)w[b].q),
                            _mm256_loadu_si256((const __m256i *)x[b].q));
        __m256i p1 = dot_i8(_mm256_loadu_si256((const __m256i *)w[b + 1].q),
                            _mm256_loadu_si256((const __m256i *)x[b + 1].q));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(w[b].d * x[b].d), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(w[b + 1].d * x[b + 1].d), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; b < nb; b++) {
        __m256i p = dot_i8(_mm256_loadu_si256((const __m256i *)w[b].q),
                           _mm256_loadu_si256((const __m256i *)x[b].q));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(w[b].d * x[b].d), _mm256_cvtepi32_ps(p), acc0);
    }
    return dv_hsum8(_mm256_add_ps(acc0, acc1));
}

/* The low and high nibbles of 16 bytes as 32 unsigned values 0..15, in
 * element order. */
AVX2 static __m256i nibbles_q4(const uint8_t *q)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)q);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* sum (u - 8) x over a block = sum u x - 8 sum x: the unsigned nibbles go
 * straight into maddubs (no sign fix-up; 2 * 15 * 127 cannot saturate) and
 * each block's integer sums start from its -8 sum x per 4-byte lane, counted
 * once per activation row by the caller (dv_q4_offsets). */
AVX2 static float qdot_q4_avx2(const dv_q4_block *w, const dv_q8_block *x, const int32_t *off,
                               int nb)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256i ones = _mm256_set1_epi16(1);
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i p0 = _mm256_madd_epi16(
            _mm256_maddubs_epi16(nibbles_q4(w[b].q), _mm256_loadu_si256((const __m256i *)x[b].q)),
            ones);
        __m256i p1 = _mm256_madd_epi16(
            _mm256_maddubs_epi16(nibbles_q4(w[b + 1].q),
                                 _mm256_loadu_si256((const __m256i *)x[b + 1].q)),
            ones);
        p0 = _mm256_add_epi32(p0, _mm256_loadu_si256((const __m256i *)(off + 8 * b)));
        p1 = _mm256_add_epi32(p1, _mm256_loadu_si256((const __m256i *)(off + 8 * b + 8)));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(w[b].d * x[b].d), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(w[b + 1].d * x[b + 1].d), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; b < nb; b++) {
        __m256i p = _mm256_madd_epi16(
            _mm256_maddubs_epi16(nibbles_q4(w[b].q), _mm256_loadu_si256((const __m256i *)x[b].q)),
            ones);
        p = _mm256_add_epi32(p, _mm256_loadu_si256((const __m256i *)(off + 8 * b)));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(w[b].d * x[b].d), _mm256_cvtepi32_ps(p), acc0);
    }
    return dv_hsum8(_mm256_add_ps(acc0, acc1));
}

/* AVX-VNNI (vpdpbusd) multiplies unsigned by signed bytes and sums each
 * four into 32 bits in one instruction: the maddubs + madd pairs above. */
#define VNNI __attribute__((target("avx2,fma,avxvnni")))

/* One weight row against n <= DV_QDOT_ROWS activation rows: each weight
 * block is loaded (and its signs taken) once for all of them, and each row's
 * sums run through the same instructions in the same order as for a row
 * alone, so every result is the single-row float bit for bit. Inlined with
 * a constant n, the accumulators stay in registers. */
VNNI static inline __attribute__((always_inline)) void
qdot_q8_vnni_n(const dv_q8_block *w, const dv_q8_block *const *x, int nb, int n, float *out)
{
    __m256 acc0[DV_QDOT_ROWS], acc1[DV_QDOT_ROWS];
#pragma GCC unroll 4
    for (int t = 0; t < n; t++)
        acc0[t] = acc1[t] = _mm256_setzero_ps();
    __m256i z = _mm256_setzero_si256();
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)w[b].q);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)w[b + 1].q);
        __m256i a0 = _mm256_sign_epi8(w0, w0), a1 = _mm256_sign_epi8(w1, w1);
#pragma GCC unroll 4
        for (int t = 0; t < n; t++) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)x[t][b].q);
            __m256i x1 = _mm256_loadu_si256((const __m256i *)x[t][b + 1].q);
            __m256i p0 = _mm256_dpbusd_avx_epi32(z, a0, _mm256_sign_epi8(x0, w0));
            __m256i p1 = _mm256_dpbusd_avx_epi32(z, a1, _mm256_sign_epi8(x1, w1));
            acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(w[b].d * x[t][b].d), _mm256_cvtepi32_ps(p0),
                                      acc0[t]);
            acc1[t] = _mm256_fmadd_ps(_mm256_set1_ps(w[b + 1].d * x[t][b + 1].d),
                                      _mm256_cvtepi32_ps(p1), acc1[t]);
        }
    }
    for (; b < nb; b++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)w[b].q);
        __m256i av = _mm256_sign_epi8(wv, wv);
#pragma GCC unroll 4
        for (int t = 0; t < n; t++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)x[t][b].q);
            __m256i p = _mm256_dpbusd_avx_epi32(z, av, _mm256_sign_epi8(xv, wv));
            acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(w[b].d * x[t][b].d), _mm256_cvtepi32_ps(p),
                                      acc0[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < n; t++)
        out[t] = dv_hsum8(_mm256_add_ps(acc0[t], acc1[t]));
}

VNNI static inline __attribute__((always_inline)) void
qdot_q4_vnni_n(const dv_q4_block *w, const dv_q8_block *const *x, const int32_t *const *off,
               int nb, int n, float *out)
{
    __m256 acc0[DV_QDOT_ROWS], acc1[DV_QDOT_ROWS];
#pragma GCC unroll 4
    for (int t = 0; t < n; t++)
        acc0[t] = acc1[t] = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i u0 = nibbles_q4(w[b].q), u1 = nibbles_q4(w[b + 1].q);
#pragma GCC unroll 4
        for (int t = 0; t < n; t++) {
            __m256i p0 = _mm256_dpbusd_avx_epi32(
                _mm256_loadu_si256((const __m256i *)(off[t] + 8 * b)), u0,
                _mm256_loadu_si256((const __m256i *)x[t][b].q));
            __m256i p1 = _mm256_dpbusd_avx_epi32(
                _mm256_loadu_si256((const __m256i *)(off[t] + 8 * b + 8)), u1,
                _mm256_loadu_si256((const __m256i *)x[t][b + 1].q));
            acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(w[b].d * x[t][b].d), _mm256_cvtepi32_ps(p0),
                                      acc0[t]);
            acc1[t] = _mm256_fmadd_ps(_mm256_set1_ps(w[b + 1].d * x[t][b + 1].d),
                                      _mm256_cvtepi32_ps(p1), acc1[t]);
        }
    }
    for (; b < nb; b++) {
        __m256i u = nibbles_q4(w[b].q);
#pragma GCC unroll 4
        for (int t = 0; t < n; t++) {
            __m256i p = _mm256_dpbusd_avx_epi32(
                _mm256_loadu_si256((const __m256i *)(off[t] + 8 * b)), u,
                _mm256_loadu_si256((const __m256i *)x[t][b].q));
            acc0[t] = _mm256_fmadd_ps(_mm256_set1_ps(w[b].d * x[t][b].d), _mm256_cvtepi32_ps(p),
                                      acc0[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < n; t++)
        out[t] = dv_hsum8(_mm256_add_ps(acc0[t], acc1[t]));
}

/* The forms for each row count: a constant n each, so nothing spills. */
#define QDOT_ROWS_FORMS(n)                                                                   \
    VNNI static void qdot_q8_vnni_##n(const dv_q8_block *w, const dv_q8_block *const *x,     \
                                      int nb, float *out)                                    \
    {                                                                                        \
        qdot_q8_vnni_n(w, x, nb, n, out);                                                    \
    }                                                                                        \
    VNNI static void qdot_q4_vnni_##n(const dv_q4_block *w, const dv_q8_block *const *x,     \
                                      const int32_t *const *off, int nb, float *out)         \
    {                                                                                        \
        qdot_q4_vnni_n(w, x, off, nb, n, out);                                               \
    }
QDOT_ROWS_FORMS(1)
QDOT_ROWS_FORMS(2)
QDOT_ROWS_FORMS(3)
QDOT_ROWS_FORMS(4)

/* ---- AVX-512 VNNI: two blocks per instruction ----
 * Lanes 0-7 hold a pair's first block and lanes 8-15 its second: the
 * two-accumulator sums of the AVX-VNNI kernels above, lane for lane, so each
 * float is theirs. q8 cannot take signs per byte here (no vpsignb): the
 * activations go in as unsigned x + 128 and each weight block's 128 * sum w
 * (counted once for all rows) is where its integer sums start. */
#define VNNI512 __attribute__((target("avx2,fma,avxvnni,avx512f,avx512bw,avx512vl,avx512vnni")))

VNNI512 static inline __m512 pair_scales(float d0, float d1)
{
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(d0)),
                                               _mm256_castps_pd(_mm256_set1_ps(d1)), 1));
}

VNNI512 static inline __m512i pair_bytes(__m256i a, __m256i b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* One weight row (q8 or q4) against n activation rows in the pairs layout
 * (dv_qx_prepare); an odd last block as the AVX-VNNI form takes it. */
VNNI512 static inline __attribute__((always_inline)) void
qrows_512_n(dv_qfmt f, const void *w, const char *const *aux, const int32_t *const *off, int nb,
            int n, float *out)
{
    const dv_q8_block *w8 = w;
    const dv_q4_block *w4 = w;
    size_t qbytes = (size_t)(nb + 1) / 2 * 64;
    __m512 acc[DV_QDOT_ROWS];
#pragma GCC unroll 4
    for (int t = 0; t < n; t++)
        acc[t] = _mm512_setzero_ps();
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int p = 0; p < nb / 2; p++) {
        int b = 2 * p;
        __m512i wv, start = _mm512_setzero_si512();
        __m512 wd;
        if (f == DV_Q8) {
            wv = pair_bytes(_mm256_loadu_si256((const __m256i *)w8[b].q),
                            _mm256_loadu_si256((const __m256i *)w8[b + 1].q));
            start = _mm512_sub_epi32(start, _mm512_dpbusd_epi32(start, flip, wv));
            wd = pair_scales(w8[b].d, w8[b + 1].d);
        } else {
            wv = pair_bytes(nibbles_q4(w4[b].q), nibbles_q4(w4[b + 1].q));
            wd = pair_scales(w4[b].d, w4[b + 1].d);
        }
#pragma GCC unroll 4
        for (int t = 0; t < n; t++) {
            __m512i xv = _mm512_loadu_si512(aux[t] + (size_t)p * 64), sums;
            if (f == DV_Q8)
                sums = _mm512_dpbusd_epi32(start, _mm512_xor_si512(xv, flip), wv);
            else
                sums = _mm512_dpbusd_epi32(_mm512_loadu_si512(off[t] + 8 * b), wv, xv);
            __m512 xd = _mm512_loadu_ps((const float *)(aux[t] + qbytes) + (size_t)p * 16);
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(wd, xd), _mm512_cvtepi32_ps(sums), acc[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < n; t++) {
        __m256 lo = _mm512_castps512_ps256(acc[t]);
        __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t]), 1));
        if (nb % 2) {
            int b = nb - 1;
            const int8_t *xq = (const int8_t *)aux[t] + (size_t)(nb / 2) * 64;
            float xd = ((const float *)(aux[t] + qbytes))[(size_t)(nb / 2) * 16];
            __m256i xv = _mm256_loadu_si256((const __m256i *)xq), sums;
            float wd;
            if (f == DV_Q8) {
                __m256i wv = _mm256_loadu_si256((const __m256i *)w8[b].q);
                sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(wv, wv),
                                           _mm256_sign_epi8(xv, wv));
                wd = w8[b].d;
            } else {
                sums = _mm256_dpbusd_epi32(_mm256_loadu_si256((const __m256i *)(off[t] + 8 * b)),
                                           nibbles_q4(w4[b].q), xv);
                wd = w4[b].d;
            }
            lo = _mm256_fmadd_ps(_mm256_set1_ps(wd * xd), _mm256_cvtepi32_ps(sums), lo);
        }
        out[t] = dv_hsum8(_mm256_add_ps(lo, hi));
    }
}

#define QROWS_512_FORMS(n)                                                                   \
    VNNI512 static void qrows_q8_512_##n(const void *w, const char *const *aux,              \
                                         const int32_t *const *off, int nb, float *out)      \
    {                                                                                        \
        qrows_512_n(DV_Q8, w, aux, off, nb, n, out);                                         \
    }                                                                                        \
    VNNI512 static void qrows_q4_512_##n(const void *w, const char *const *aux,              \
                                         const int32_t *const *off, int nb, float *out)      \
    {                                                                                        \
        qrows_512_n(DV_Q4, w, aux, off, nb, n, out);                                         \
    }
QROWS_512_FORMS(1)
QROWS_512_FORMS(2)
QROWS_512_FORMS(3)
QROWS_512_FORMS(4)

static void qrows_512(dv_qfmt f, const void *w, const char *const *aux, const int32_t *const *off,
                      int n, int nb, float *out)
{
    typedef void (*fn)(const void *, const char *const *, const int32_t *const *, int, float *);
    static const fn q8[DV_QDOT_ROWS] = { qrows_q8_512_1, qrows_q8_512_2, qrows_q8_512_3,
                                         qrows_q8_512_4 };
    static const fn q4[DV_QDOT_ROWS] = { qrows_q4_512_1, qrows_q4_512_2, qrows_q4_512_3,
                                         qrows_q4_512_4 };
    if (f == DV_Q8)
        q8[n - 1](w, aux, off, nb, out);
    else
        q4[n - 1](w, aux, off, nb, out);
}

static void qdot_rows_vnni(dv_qfmt f, const void *w, const dv_q8_block *const *x,
                           const int32_t *const *off, int n, int nb, float *out)
{
    typedef void (*q8_fn)(const dv_q8_block *, const dv_q8_block *const *, int, float *);
    typedef void (*q4_fn)(const dv_q4_block *, const dv_q8_block *const *, const int32_t *const *,
                          int, float *);
    static const q8_fn q8[DV_QDOT_ROWS] = { qdot_q8_vnni_1, qdot_q8_vnni_2, qdot_q8_vnni_3,
                                            qdot_q8_vnni_4 };
    static const q4_fn q4[DV_QDOT_ROWS] = { qdot_q4_vnni_1, qdot_q4_vnni_2, qdot_q4_vnni_3,
                                            qdot_q4_vnni_4 };
    if (f == DV_Q8)
        q8[n - 1](w, x, nb, out);
    else
        q4[n - 1](w, x, off, nb, out);
}

/* The same rounding as the scalar form: |x| max, one division, x * (1/d)
 * rounded to nearest even (cvtps under the default MXCSR, like lrintf). */
AVX2 static void quantize_q8_avx2(const float *x, int in, dv_q8_block *dst)
{
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int b = 0; b < dv_qblocks(in); b++) {
        float buf[DV_QBLOCK];
        const float *p = x + (size_t)b * DV_QBLOCK;
        if ((b + 1) * DV_QBLOCK > in) {
            load_block(x, in, b, buf);
            p = buf;
        }
        __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
        __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_and_ps(v1, abs_mask)),
                                 _mm256_max_ps(_mm256_and_ps(v2, abs_mask), _mm256_and_ps(v3, abs_mask)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h);
        float d = amax / 127.0f, inv = d > 0.0f ? 1.0f / d : 0.0f;
        dst[b].d = d;
        __m256 s = _mm256_set1_ps(inv);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, s)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, s));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, s)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, s));
        /* packs work per 128-bit lane: undo the interleave with a permute */
        __m256i w = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        w = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)dst[b].q, w);
    }
}

AVX2 static __m256 load_bf16(const uint16_t *w)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)w));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AVX2 static float bf16_dot_avx2(const uint16_t *w, const float *x, int n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(load_bf16(w + i), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(load_bf16(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
    }
    float sum = dv_hsum8(_mm256_add_ps(acc0, acc1));
    return sum + bf16_dot_scalar(w + i, x + i, n - i);
}
#endif

void dv_quantize_row(dv_qfmt f, const float *x, int in, void *dst)
{
    if (f == DV_Q8) {
#if DV_X86
        if (dv_cpu_has_avx2_fma()) {
            quantize_q8_avx2(x, in, dst);
            return;
        }
#endif
        quantize_q8_scalar(x, in, dst);
    } else if (f == DV_Q4) {
        quantize_q4(x, in, dst);
    }
}

void dv_quantize_row_q8_simd(const float *x, int in, dv_q8_block *dst, int simd)
{
#if DV_X86
    if (simd) {
        quantize_q8_avx2(x, in, dst);
        return;
    }
#else
    (void)simd;
#endif
    quantize_q8_scalar(x, in, dst);
}

void dv_q4_offsets(const dv_q8_block *x, int nb, int32_t *off)
{
    for (int b = 0; b < nb; b++)
        for (int l = 0; l < 8; l++) {
            const int8_t *q = x[b].q + 4 * l;
            off[8 * b + l] = -8 * (q[0] + q[1] + q[2] + q[3]);
        }
}

float dv_qdot_sums(dv_qfmt f, const void *w, const dv_q8_block *x, const int32_t *off, int in,
                   int simd)
{
    int nb = dv_qblocks(in);
#if DV_X86
    if (simd >= 2) {
        float r;
        qdot_rows_vnni(f, w, &x, &off, 1, nb, &r);
        return r;
    }
    if (simd)
        return f == DV_Q8 ? qdot_q8_avx2(w, x, nb) : qdot_q4_avx2(w, x, off, nb);
#else
    (void)simd;
    (void)off;
#endif
    return f == DV_Q8 ? qdot_q8_scalar(w, x, nb) : qdot_q4_scalar(w, x, nb);
}

size_t dv_qx_bytes(int in)
{
    size_t pairs = (size_t)(dv_qblocks(in) + 1) / 2;
    return pairs * 64 + pairs * 16 * sizeof(float);
}

void dv_qx_prepare(const dv_q8_block *x, int in, void *aux)
{
    int nb = dv_qblocks(in);
    size_t qbytes = (size_t)(nb + 1) / 2 * 64;
    int8_t *q = aux;
    float *d = (float *)((char *)aux + qbytes);
    memset(aux, 0, dv_qx_bytes(in));
    for (int b = 0; b < nb; b++) {
        memcpy(q + (size_t)b * DV_QBLOCK, x[b].q, DV_QBLOCK);
        for (int l = 0; l < 8; l++)
            d[(size_t)b / 2 * 16 + (size_t)(b % 2) * 8 + l] = x[b].d;
    }
}

void dv_qdot_sums_rows(dv_qfmt f, const void *w, const dv_q8_block *const *x,
                       const int32_t *const *off, const void *const *aux, int n, int in,
                       int simd, float *out)
{
#if DV_X86
    if (simd >= 3 && aux) {
        qrows_512(f, w, (const char *const *)aux, off, n, dv_qblocks(in), out);
        return;
    }
    if (simd >= 2) {
        qdot_rows_vnni(f, w, x, off, n, dv_qblocks(in), out);
        return;
    }
#endif
    for (int t = 0; t < n; t++)
        out[t] = dv_qdot_sums(f, w, x[t], off[t], in, simd);
}

float dv_qdot(dv_qfmt f, const void *w, const dv_q8_block *x, int in, int simd)
{
    if (f != DV_Q4)
        return dv_qdot_sums(f, w, x, NULL, in, simd);
    int nb = dv_qblocks(in);
    int32_t stack[8 * 64], *sums = nb <= 64 ? stack : malloc((size_t)nb * 8 * sizeof *sums);
    if (!sums)  /* the scalar form needs no offsets */
        return dv_qdot_sums(f, w, x, NULL, in, 0);
    dv_q4_offsets(x, nb, sums);
    float r = dv_qdot_sums(f, w, x, sums, in, simd);
    if (sums != stack)
        free(sums);
    return r;
}

float dv_bf16_dot(const uint16_t *w, const float *x, int n, int simd)
{
#if DV_X86
    if (simd)
        return bf16_dot_avx2(w, x, n);
#else
    (void)simd;
#endif
    return bf16_dot_scalar(w, x, n);
}
