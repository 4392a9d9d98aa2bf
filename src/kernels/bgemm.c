#include "kernels/bgemm.h"

#include <string.h>

#include "kernels/simd_x86.h"
#include "kernels/tensor.h"

size_t dv_bg_act_words(int n, int in)
{
    size_t slivers = ((size_t)n + DV_BG_MR - 1) / DV_BG_MR;
    return slivers * DV_BG_MR * (size_t)dv_bg_pairs(in);
}

size_t dv_bg_panel_bytes(int in) { return (size_t)dv_bg_pairs(in) * DV_BG_NR * sizeof(uint32_t); }

/* ---- scalar forms ---- */

/* Word p of a row of bf16 values (0 past the row's end). */
static uint32_t bf16_word(const uint16_t *row, int in, int p)
{
    uint32_t hi = 2 * p + 1 < in ? row[2 * p + 1] : 0;
    return row[2 * p] | hi << 16;
}

/* Word p of a row of floats rounded to bf16 (0 past the row's end). */
static uint32_t rounded_word(const float *row, int in, int p)
{
    uint32_t hi = 2 * p + 1 < in ? dv_f32_to_bf16(row[2 * p + 1]) : 0;
    return dv_f32_to_bf16(row[2 * p]) | hi << 16;
}

static void round_scalar(const float *x, int in, int s0, int s1, const dv_bg_act *a)
{
    for (int s = s0; s < s1; s++) {
        uint32_t *d = a->x + (size_t)s * DV_BG_MR * a->k2;
        for (int i = 0; i < DV_BG_MR; i++) {
            int t = s * DV_BG_MR + i;
            for (int p = 0; p < a->k2; p++) {
                d[(size_t)p * DV_BG_MR + i] = t < a->n ? rounded_word(x + (size_t)t * in, in, p) : 0;
            }
        }
    }
}

static void pack_scalar(const uint16_t *w, int in, int r0, int rows, uint32_t *panel)
{
    int k2 = dv_bg_pairs(in);
    memset(panel, 0, dv_bg_panel_bytes(in));
    for (int j = 0; j < rows; j++) {
        const uint16_t *row = w + (size_t)(r0 + j) * in;
        for (int p = 0; p < k2; p++)
            panel[(size_t)p * DV_BG_NR + j] = bf16_word(row, in, p);
    }
}

static float bf16f(uint32_t h) { return dv_bf16_to_f32((uint16_t)h); }

/* One pair of weights by one pair of activations, in f32. */
static float pair_dot(uint32_t ww, uint32_t xw)
{
    return bf16f(ww) * bf16f(xw) + bf16f(ww >> 16) * bf16f(xw >> 16);
}

static void bgemm_scalar(const uint32_t *panels, int rows, const dv_bg_act *a, float *y,
                         size_t ldy)
{
    for (int t = 0; t < a->n; t++) {
        const uint32_t *xs = a->x + (size_t)(t / DV_BG_MR) * DV_BG_MR * a->k2 + t % DV_BG_MR;
        for (int r = 0; r < rows; r++) {
            const uint32_t *panel = panels + (size_t)(r / DV_BG_NR) * DV_BG_NR * a->k2;
            int j = r % DV_BG_NR;
            float acc = 0.0f;
            for (int p = 0; p < a->k2; p++)
                acc += pair_dot(panel[(size_t)p * DV_BG_NR + j], xs[(size_t)p * DV_BG_MR]);
            y[(size_t)t * ldy + r] = acc;
        }
    }
}

/* ---- AVX-512 BF16 forms ---- */

#if DV_X86
#define BF16_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))

/* 16 floats rounded to bf16 (to nearest even, NaN kept quiet: what
 * dv_f32_to_bf16 does) as 8 words of pairs. */
BF16_512 static inline __m256i round16(__m512 v)
{
    __m512i u = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
    /* each 64-bit lane: the even element's bf16 in bits 16-31, the odd's in 48-63 */
    __m512i lo = _mm512_and_si512(_mm512_srli_epi64(r, 16), _mm512_set1_epi64(0xffff));
    __m512i hi = _mm512_and_si512(_mm512_srli_epi64(r, 32), _mm512_set1_epi64(0xffff0000));
    return _mm512_cvtepi64_epi32(_mm512_or_si512(lo, hi));
}

/* One row's words into row[k2] (an odd width's last pair ends in 0). */
BF16_512 static void round_row(const float *x, int in, uint32_t *row)
{
    int k = 0;
    for (; k + 16 <= in; k += 16)
        _mm256_storeu_si256((__m256i *)(row + k / 2), round16(_mm512_loadu_ps(x + k)));
    if (k < in) {
        __mmask16 m = (__mmask16)((1u << (in - k)) - 1);
        __m256i w = round16(_mm512_maskz_loadu_ps(m, x + k));
        _mm256_mask_storeu_epi32(row + k / 2, (__mmask8)((1u << ((in - k + 1) / 2)) - 1), w);
    }
}

BF16_512 static void round_512(const float *x, int in, int s0, int s1, const dv_bg_act *a)
{
    uint32_t row[1024];
    for (int s = s0; s < s1; s++) {
        uint32_t *d = a->x + (size_t)s * DV_BG_MR * a->k2;
        for (int i = 0; i < DV_BG_MR; i++) {
            int t = s * DV_BG_MR + i;
            /* a stack row of 1024 words at a time: widths of any size */
            for (int p0 = 0; p0 < a->k2; p0 += 1024) {
                int np = a->k2 - p0 < 1024 ? a->k2 - p0 : 1024;
                if (t < a->n)
                    round_row(x + (size_t)t * in + 2 * (size_t)p0,
                              in - 2 * p0 < 2048 ? in - 2 * p0 : 2048, row);
                else
                    memset(row, 0, sizeof row);
                for (int p = 0; p < np; p++)
                    d[(size_t)(p0 + p) * DV_BG_MR + i] = row[p];
            }
        }
    }
}

/* Transposes 16 vectors of 16 words in place: r[i] word j becomes r[j]
 * word i (unpacks, then 128-bit lane shuffles). */
BF16_512 static inline __attribute__((always_inline)) void transpose16(__m512i r[16])
{
    __m512i t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* r[4 q + c] now holds, in 128-bit lane L, word c of rows 4 q .. 4 q + 3
     * for the words 4 L + c: gather the lanes */
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        int q = i / 4, c = i % 4;
        t[i] = _mm512_shuffle_i32x4(r[8 * q + c], r[8 * q + 4 + c], 0x88);
        t[i + 8] = _mm512_shuffle_i32x4(r[8 * q + c], r[8 * q + 4 + c], 0xdd);
    }
    /* t[4 q + c]: words c and 8 + c of rows 8 q .. 8 q + 7, t[8 + 4 q + c]
     * words 4 + c and 12 + c: once more across the two halves */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_i32x4(t[c], t[c + 4], 0x88);
        r[c + 8] = _mm512_shuffle_i32x4(t[c], t[c + 4], 0xdd);
        r[c + 4] = _mm512_shuffle_i32x4(t[c + 8], t[c + 12], 0x88);
        r[c + 12] = _mm512_shuffle_i32x4(t[c + 8], t[c + 12], 0xdd);
    }
}

/* 16 rows (row j at base + j * in for j < live; the others 0) into the
 * panel's columns [h, h + 16), 16 words (32 elements) at a time. */
BF16_512 static void pack16(const uint16_t *base, int in, int live, uint32_t *panel, int h)
{
    int k2 = dv_bg_pairs(in);
    for (int p0 = 0; p0 < k2; p0 += 16) {
        int ne = in - 2 * p0 < 32 ? in - 2 * p0 : 32;
        __mmask32 m = ne == 32 ? 0xffffffffu : (__mmask32)((1u << ne) - 1);
        __m512i v[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            v[j] = _mm512_maskz_loadu_epi16(j < live ? m : 0,
                                            base + (size_t)(j < live ? j : 0) * in + 2 * p0);
        transpose16(v);
        int np = k2 - p0 < 16 ? k2 - p0 : 16;
        for (int q = 0; q < np; q++)
            _mm512_storeu_si512(panel + (size_t)(p0 + q) * DV_BG_NR + h, v[q]);
    }
}

BF16_512 static void pack_512(const uint16_t *w, int in, int r0, int rows, uint32_t *panel)
{
    for (int h = 0; h < DV_BG_NR; h += 16) {
        int live = rows - h < 0 ? 0 : rows - h > 16 ? 16 : rows - h;
        pack16(w + (size_t)(live ? r0 + h : r0) * in, in, live, panel, h);
    }
}

/* mr activation rows (a sliver, rows from t0) against the group: 2 mr
 * accumulators, one chain of vdpbf16ps each over the pairs in order; the
 * activation word is a broadcast memory operand. */
BF16_512 static inline __attribute__((always_inline)) void
tile_512(int mr, const uint32_t *panel, const uint32_t *xs, int k2, float *y, size_t ldy,
         __mmask16 m0, __mmask16 m1)
{
    __m512 acc[DV_BG_MR][2];
#pragma GCC unroll 12
    for (int t = 0; t < mr; t++)
        acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    for (int p = 0; p < k2; p++) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(panel + (size_t)p * DV_BG_NR);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(panel + (size_t)p * DV_BG_NR + 16);
        const uint32_t *xp = xs + (size_t)p * DV_BG_MR;
#pragma GCC unroll 12
        for (int t = 0; t < mr; t++) {
            __m512bh xb = (__m512bh)_mm512_set1_epi32((int)xp[t]);
            acc[t][0] = _mm512_dpbf16_ps(acc[t][0], xb, w0);
            acc[t][1] = _mm512_dpbf16_ps(acc[t][1], xb, w1);
        }
    }
#pragma GCC unroll 12
    for (int t = 0; t < mr; t++) {
        _mm512_mask_storeu_ps(y + (size_t)t * ldy, m0, acc[t][0]);
        _mm512_mask_storeu_ps(y + (size_t)t * ldy + 16, m1, acc[t][1]);
    }
}

#define TILE(R)                                                                                \
    case R:                                                                                    \
        tile_512(R, panel, xs, a->k2, yt, ldy, m0, m1);                                        \
        break

/* One sliver of mr rows (from t0) against one group of cols columns. */
BF16_512 static void sliver_group(const uint32_t *panel, const dv_bg_act *a, int t0, float *y,
                                  size_t ldy, int cols)
{
    __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
    __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
    const uint32_t *xs = a->x + (size_t)t0 * a->k2;
    float *yt = y + (size_t)t0 * ldy;
    switch (a->n - t0 < DV_BG_MR ? a->n - t0 : DV_BG_MR) {
        TILE(1); TILE(2); TILE(3); TILE(4); TILE(5); TILE(6);
        TILE(7); TILE(8); TILE(9); TILE(10); TILE(11);
    default:
        tile_512(DV_BG_MR, panel, xs, a->k2, yt, ldy, m0, m1);
    }
}

/* Panels of at most this many bytes are taken together: each sliver of
 * activations (12 rows: 48 KB at 2048 wide) is read once for all of them,
 * from L1/L2, while they stay in this machine's 1 MB L2; one group at a
 * time read the whole activation (2 MB for 512 rows of 2048) from L3 for
 * every 32 weight rows. */
#define PANELS_L2 (512u << 10)

BF16_512 static void bgemm_512(const uint32_t *panels, int rows, const dv_bg_act *a, float *y,
                               size_t ldy)
{
    size_t group = (size_t)DV_BG_NR * a->k2;
    int groups = (rows + DV_BG_NR - 1) / DV_BG_NR;
    int per = (int)(PANELS_L2 / (group * sizeof(uint32_t)));
    per = per < 1 ? 1 : per;
    for (int g0 = 0; g0 < groups; g0 += per) {
        int g1 = groups - g0 < per ? groups : g0 + per;
        for (int t0 = 0; t0 < a->n; t0 += DV_BG_MR)
            for (int g = g0; g < g1; g++) {
                int cols = rows - g * DV_BG_NR < DV_BG_NR ? rows - g * DV_BG_NR : DV_BG_NR;
                sliver_group(panels + (size_t)g * group, a, t0, y + (size_t)g * DV_BG_NR, ldy,
                             cols);
            }
    }
}

/* Four sums of 16 lanes, each pair's products exact, the tail's words
 * masked (an odd width's last word holds one weight and the row's 0). */
BF16_512 static float dot_512(const uint16_t *w, const uint32_t *x, int in)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 128 <= in; i += 128) {
        acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(w + i),
                                (__m512bh)_mm512_loadu_si512(x + i / 2));
        acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(w + i + 32),
                                (__m512bh)_mm512_loadu_si512(x + i / 2 + 16));
        acc2 = _mm512_dpbf16_ps(acc2, (__m512bh)_mm512_loadu_si512(w + i + 64),
                                (__m512bh)_mm512_loadu_si512(x + i / 2 + 32));
        acc3 = _mm512_dpbf16_ps(acc3, (__m512bh)_mm512_loadu_si512(w + i + 96),
                                (__m512bh)_mm512_loadu_si512(x + i / 2 + 48));
    }
    for (; i < in; i += 32) {
        int left = in - i < 32 ? in - i : 32;
        __mmask32 mw = left == 32 ? 0xffffffffu : (1u << left) - 1;
        __mmask16 mx = (__mmask16)((1u << ((left + 1) / 2)) - 1);
        acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_maskz_loadu_epi16(mw, w + i),
                                (__m512bh)_mm512_maskz_loadu_epi32(mx, x + i / 2));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}
#endif

static float dot_scalar(const uint16_t *w, const uint32_t *x, int in)
{
    float acc = 0.0f;
    for (int p = 0; p < dv_bg_pairs(in); p++)
        acc += pair_dot(bf16_word(w, in, p), x[p]);
    return acc;
}

void dv_bg_round_row(const float *x, int in, uint32_t *row, int level)
{
#if DV_X86
    if (level >= 2) {
        round_row(x, in, row);
        return;
    }
#else
    (void)level;
#endif
    for (int p = 0; p < dv_bg_pairs(in); p++)
        row[p] = rounded_word(x, in, p);
}

float dv_bg_dot(const uint16_t *w, const uint32_t *x, int in, int level)
{
#if DV_X86
    if (level >= 2)
        return dot_512(w, x, in);
#else
    (void)level;
#endif
    return dot_scalar(w, x, in);
}

void dv_bg_round_slivers(const float *x, int in, int s0, int s1, const dv_bg_act *a, int level)
{
#if DV_X86
    if (level >= 2) {
        round_512(x, in, s0, s1, a);
        return;
    }
#else
    (void)level;
#endif
    round_scalar(x, in, s0, s1, a);
}

void dv_bg_pack(const uint16_t *w, int in, int r0, int rows, void *panel, int level)
{
#if DV_X86
    if (level >= 2) {
        pack_512(w, in, r0, rows, panel);
        return;
    }
#else
    (void)level;
#endif
    pack_scalar(w, in, r0, rows, panel);
}

void dv_bgemm(const void *panels, int rows, const dv_bg_act *a, float *y, size_t ldy, int level)
{
#if DV_X86
    if (level >= 2) {
        bgemm_512(panels, rows, a, y, ldy);
        return;
    }
#else
    (void)level;
#endif
    bgemm_scalar(panels, rows, a, y, ldy);
}
