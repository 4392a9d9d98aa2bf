#include "kernels/qgemm.h"

#include <stdlib.h>
#include <string.h>

#include "docvl.h"

#include "kernels/simd_x86.h"

/* One block of a repacked group: q[k][j][i] is element 4 k + i of the block
 * of the group's row j, so one 64-byte load gives 4 bytes of 16 rows. */
typedef struct qg_block {
    int32_t comp[DV_QG_NR];  /* -128 * sum of the row's block */
    float d[DV_QG_NR];
    int8_t q[DV_QBLOCK / 4][DV_QG_NR][4];
} qg_block;

/* One block of a repacked group of q4 rows: q[k][j][i] is byte 4 k + i of
 * the group's row j's block (element 4 k + i in its low nibble, 16 + 4 k + i
 * in its high one), so one 64-byte load gives both nibbles of 16 rows; the
 * group's bytes are its rows' bytes. */
typedef struct qg4_block {
    float d[DV_QG_NR];
    uint8_t q[DV_QBLOCK / 8][DV_QG_NR][4];
} qg4_block;

/* Activation rows per register tile: 6 x 2 integer sums and 6 x 2 f32
 * accumulators take 24 of the 32 vector registers (4 rows measured 8-10%
 * slower: the panel is read once per tile). Each tile runs over the whole row: the
 * group's panel (1280 bytes a block: 80 KiB at in = 2048, 220 KiB at 5504)
 * streams from L2 well enough, and passes over fewer blocks at a time (16,
 * to stay in L1) measured 30% slower at in = 2048 and 60% at 5504: their
 * partial sums went back to y between passes. */
#define QG_MR 6

size_t dv_qg_panel_bytes(dv_qfmt f, int in)
{
    return (f == DV_Q4 ? sizeof(qg4_block) : sizeof(qg_block)) * (size_t)dv_qblocks(in);
}

int dv_qg_act_alloc(dv_qg_act *a, int n, int in, int q4)
{
    int nb = dv_qblocks(in);
    size_t vals = (size_t)n * (size_t)nb * DV_QBLOCK, blocks = (size_t)n * (size_t)nb;
    *a = (dv_qg_act){ .n = n, .nb = nb };
    a->q = malloc(vals ? vals : 1);
    a->d = malloc((blocks ? blocks : 1) * sizeof *a->d);
    if (q4) {
        a->qs = malloc(vals ? vals : 1);
        a->s8 = malloc((blocks ? blocks : 1) * sizeof *a->s8);
    }
    if (!a->q || !a->d || (q4 && (!a->qs || !a->s8))) {
        dv_qg_act_free(a);
        return DOCVL_ENOMEM;
    }
    return DOCVL_OK;
}

void dv_qg_act_free(dv_qg_act *a)
{
    free(a->q);
    free(a->d);
    free(a->qs);
    free(a->s8);
    *a = (dv_qg_act){ 0 };
}

/* One block's values offset by 128 (restrict: without it GCC -O2 leaves
 * the loop scalar, a tenth of a line model's tower time). */
static void offset_block(uint8_t *restrict q, const int8_t *restrict v)
{
    for (int j = 0; j < DV_QBLOCK; j++)
        q[j] = (uint8_t)(v[j] + 128);
}

void dv_qg_quantize_rows(const float *x, int in, int lo, int hi, const dv_qg_act *a)
{
    size_t row = (size_t)a->nb * DV_QBLOCK;
    dv_q8_block blk[64];
    for (int t = lo; t < hi; t++) {
        for (int b0 = 0; b0 < a->nb; b0 += 64) {
            int nbk = a->nb - b0 < 64 ? a->nb - b0 : 64;
            int len = in - b0 * DV_QBLOCK < nbk * DV_QBLOCK ? in - b0 * DV_QBLOCK : nbk * DV_QBLOCK;
            dv_quantize_row(DV_Q8, x + (size_t)t * in + (size_t)b0 * DV_QBLOCK, len, blk);
            for (int b = 0; b < nbk; b++) {
                size_t at = (size_t)t * row + (size_t)(b0 + b) * DV_QBLOCK;
                offset_block(a->q + at, blk[b].q);
                a->d[(size_t)t * a->nb + b0 + b] = blk[b].d;
                if (a->qs) {
                    int32_t sum = 0;
                    for (int j = 0; j < DV_QBLOCK; j++)
                        sum += blk[b].q[j];
                    memcpy(a->qs + at, blk[b].q, DV_QBLOCK);
                    a->s8[(size_t)t * a->nb + b0 + b] = -8 * sum;
                }
            }
        }
    }
}

static void pack_scalar_q4(const void *w, int in, int r0, int rows, qg4_block *p)
{
    int nb = dv_qblocks(in);
    size_t qrow = dv_qrow_bytes(DV_Q4, in);
    for (int j = 0; j < rows; j++) {
        const dv_q4_block *q = (const dv_q4_block *)((const char *)w + (size_t)(r0 + j) * qrow);
        for (int b = 0; b < nb; b++) {
            p[b].d[j] = q[b].d;
            for (int k = 0; k < DV_QBLOCK / 2; k++)
                p[b].q[k / 4][j][k % 4] = q[b].q[k];
        }
    }
}

static void pack_scalar_q8(const void *w, int in, int r0, int rows, qg_block *p)
{
    int nb = dv_qblocks(in);
    size_t qrow = dv_qrow_bytes(DV_Q8, in);
    for (int j = 0; j < rows; j++) {
        const dv_q8_block *q = (const dv_q8_block *)((const char *)w + (size_t)(r0 + j) * qrow);
        for (int b = 0; b < nb; b++) {
            int32_t sum = 0;
            p[b].d[j] = q[b].d;
            for (int k = 0; k < DV_QBLOCK; k++) {
                p[b].q[k / 4][j][k % 4] = q[b].q[k];
                sum += q[b].q[k];
            }
            p[b].comp[j] = -128 * sum;
        }
    }
}

#if DV_X86
#define VNNI512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* A q8 block of 16 rows (row j's block at row[j], j < 16) into the panel's
 * vectors q[k][h..h+16) by a transpose in registers: 8 loads of two rows
 * and 24 shuffles, against 8 gathers of 16 loads each (the gather form took
 * 20% of prefill's product time); rows outside m become 0. */
VNNI512 static void pack_q8_block16(const char *const row[16], __mmask16 m, qg_block *p, int h)
{
    __m512i v[8], t[8], u[8];
    for (int i = 0; i < 8; i++)
        v[i] = _mm512_mask_broadcast_i64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(row[i] + 4))), 0xf0,
            _mm256_loadu_si256((const __m256i *)(row[i + 8] + 4)));
    /* per 128-bit lane: rows i (lanes 0-1) and i + 8 (lanes 2-3), dwords 0-3 / 4-7 */
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int g = 0; g < 8; g += 4) {
        u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    /* u[k] holds dword k (lanes 0, 2) and k + 4 (lanes 1, 3) of rows 0-3 and
     * 8-11, u[k + 4] the same of rows 4-7 and 12-15 */
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    const __m512i u128 = _mm512_set1_epi8((char)0x80);
    __m512i sum = _mm512_setzero_si512();
    for (int k = 0; k < 4; k++) {
        __m512i a = _mm512_maskz_mov_epi32(m, _mm512_permutex2var_epi64(u[k], lo, u[k + 4]));
        __m512i b = _mm512_maskz_mov_epi32(m, _mm512_permutex2var_epi64(u[k], hi, u[k + 4]));
        _mm512_storeu_si512(p->q[k][h], a);
        _mm512_storeu_si512(p->q[k + 4][h], b);
        sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sum, u128, a), u128, b);
    }
    _mm512_storeu_si512(p->comp + h, _mm512_sub_epi32(_mm512_setzero_si512(), sum));
}

/* A q4 block of 16 rows the same way: 4 loads of four rows' 16 bytes,
 * transposed by dwords, the bytes kept (rows outside m become 0). */
VNNI512 static void pack_q4_block16(const char *const row[16], __mmask16 m, qg4_block *p, int h)
{
    __m512i v[4], t[4];
    for (int i = 0; i < 4; i++) {   /* lane L of v[i]: row 4 L + i */
        __m512i x = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(row[i] + 4)));
        x = _mm512_inserti32x4(x, _mm_loadu_si128((const __m128i *)(row[i + 4] + 4)), 1);
        x = _mm512_inserti32x4(x, _mm_loadu_si128((const __m128i *)(row[i + 8] + 4)), 2);
        v[i] = _mm512_inserti32x4(x, _mm_loadu_si128((const __m128i *)(row[i + 12] + 4)), 3);
    }
    t[0] = _mm512_unpacklo_epi32(v[0], v[1]);
    t[1] = _mm512_unpackhi_epi32(v[0], v[1]);
    t[2] = _mm512_unpacklo_epi32(v[2], v[3]);
    t[3] = _mm512_unpackhi_epi32(v[2], v[3]);
    for (int k = 0; k < 4; k++) {   /* dword k of the 16 rows, in row order */
        __m512i g = k % 2 ? _mm512_unpackhi_epi64(t[k / 2], t[k / 2 + 2])
                          : _mm512_unpacklo_epi64(t[k / 2], t[k / 2 + 2]);
        _mm512_storeu_si512(p->q[k][h], _mm512_maskz_mov_epi32(m, g));
    }
}

/* 16 rows at a time; rows past `rows` read row 0's blocks and are zeroed by
 * the mask. The scales are one gather per block. */
VNNI512 static void pack_vnni(dv_qfmt f, const void *w, int in, int r0, int rows, void *panel)
{
    qg_block *p8 = panel;
    qg4_block *p4 = panel;
    int nb = dv_qblocks(in);
    size_t qrow = dv_qrow_bytes(f, in), blk = qrow / (size_t)nb;
    for (int h = 0; h < DV_QG_NR; h += 16) {
        int live = rows - h < 0 ? 0 : rows - h > 16 ? 16 : rows - h;
        __mmask16 m = (__mmask16)((1u << live) - 1);
        const char *base = (const char *)w + (size_t)(live ? r0 + h : r0) * qrow;
        __m512i off = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                           12, 13, 14, 15),
                                         _mm512_set1_epi32((int)qrow));
        const char *row[16];
        for (int j = 0; j < 16; j++)
            row[j] = j < live ? base + (size_t)j * qrow : base;
        for (int b = 0; b < nb; b++) {
            __m512 d = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, off, row[0], 1);
            if (f == DV_Q8) {
                _mm512_storeu_ps(p8[b].d + h, d);
                pack_q8_block16(row, m, p8 + b, h);
            } else {
                _mm512_storeu_ps(p4[b].d + h, d);
                pack_q4_block16(row, m, p4 + b, h);
            }
            for (int j = 0; j < 16; j++)
                row[j] += blk;
        }
    }
}
#endif

void dv_qg_pack(dv_qfmt f, const void *w, int in, int r0, int rows, void *panel, int level)
{
#if DV_X86
    if (level >= 2) {
        pack_vnni(f, w, in, r0, rows, panel);
        return;
    }
#else
    (void)level;
#endif
    memset(panel, 0, dv_qg_panel_bytes(f, in));
    if (f == DV_Q4)
        pack_scalar_q4(w, in, r0, rows, panel);
    else
        pack_scalar_q8(w, in, r0, rows, panel);
}

/* ---- scalar form ---- */

static void qgemm_scalar(const qg_block *p, const dv_qg_act *a, float *y, size_t ldy, int cols)
{
    size_t row = (size_t)a->nb * DV_QBLOCK;
    for (int t = 0; t < a->n; t++)
        for (int j = 0; j < cols; j++) {
            float sum = 0.0f;
            for (int b = 0; b < a->nb; b++) {
                const uint8_t *x = a->q + (size_t)t * row + (size_t)b * DV_QBLOCK;
                int32_t acc = p[b].comp[j];
                for (int k = 0; k < DV_QBLOCK; k++)
                    acc += (int32_t)x[k] * p[b].q[k / 4][j][k % 4];
                sum += p[b].d[j] * a->d[(size_t)t * a->nb + b] * (float)acc;
            }
            y[(size_t)t * ldy + j] = sum;
        }
}

/* The integer sums are those of qgemm_scalar (so the floats too): each
 * nibble less 8 times the signed activation. */
static void qgemm_scalar_q4(const qg4_block *p, const dv_qg_act *a, float *y, size_t ldy, int cols)
{
    size_t row = (size_t)a->nb * DV_QBLOCK;
    for (int t = 0; t < a->n; t++)
        for (int j = 0; j < cols; j++) {
            float sum = 0.0f;
            for (int b = 0; b < a->nb; b++) {
                const uint8_t *x = a->q + (size_t)t * row + (size_t)b * DV_QBLOCK;
                int32_t acc = 0;
                for (int k = 0; k < DV_QBLOCK / 2; k++) {
                    uint8_t v = p[b].q[k / 4][j][k % 4];
                    acc += ((int32_t)x[k] - 128) * ((v & 15) - 8) +
                           ((int32_t)x[k + DV_QBLOCK / 2] - 128) * ((v >> 4) - 8);
                }
                sum += p[b].d[j] * a->d[(size_t)t * a->nb + b] * (float)acc;
            }
            y[(size_t)t * ldy + j] = sum;
        }
}

/* ---- AVX-512 VNNI form ---- */

#if DV_X86
/* mr activation rows (from row t0) against the group: integer sums per
 * block start from the panel's offset correction, then join the f32
 * accumulators scaled by the two blocks' scales. */
/* The first tile over a q4 group reads its panel from memory (a decoding
 * step's few rows are one tile): it asks for the panel this many bytes
 * ahead, which the hardware prefetchers alone did not keep up with (a
 * 5-row product of 4096-wide q4 rows over 112 MB of panels, 1 thread,
 * quiet: 4.0-5.0 ms against 6.6-8.1 without; 16 rows 10.5-10.8 against
 * 12.0-14.2). q8 groups, twice the bytes a block for the same work,
 * measured no better with it (8.9-9.2 against 8.4-9.2 ms), so do without. */
#define QG_AHEAD_BYTES 5120

/* Prefetches the lines of one block QG_AHEAD_BYTES past blk. */
static inline __attribute__((always_inline)) void prefetch_block(const void *blk, size_t bytes)
{
    const char *ahead = (const char *)blk + (QG_AHEAD_BYTES / bytes + 1) * bytes;
#pragma GCC unroll 20
    for (size_t l = 0; l < bytes; l += 64)
        _mm_prefetch(ahead + l, _MM_HINT_T0);
}

/* One block's integer sums of a tile's rows into their float sums: acc[t]
 * += s[t] x the panel's 32 weight scales wd x row t's activation scale
 * (dx[t * nb]). */
VNNI512 static inline __attribute__((always_inline)) void
tile_scale(int mr, __m512i s[QG_MR][2], const float *wd, const float *dx, int nb,
           __m512 acc[QG_MR][2])
{
    __m512 d0 = _mm512_loadu_ps(wd), d1 = _mm512_loadu_ps(wd + 16);
#pragma GCC unroll 6
    for (int t = 0; t < mr; t++) {
        __m512 sx = _mm512_set1_ps(dx[(size_t)t * nb]);
        acc[t][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t][0]), _mm512_mul_ps(d0, sx), acc[t][0]);
        acc[t][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t][1]), _mm512_mul_ps(d1, sx), acc[t][1]);
    }
}

/* A tile's rows of 32 outputs (masked to the panel's columns) to y. */
VNNI512 static inline __attribute__((always_inline)) void
tile_store(int mr, __m512 acc[QG_MR][2], float *y, size_t ldy, __mmask16 m0, __mmask16 m1)
{
#pragma GCC unroll 6
    for (int t = 0; t < mr; t++) {
        _mm512_mask_storeu_ps(y + (size_t)t * ldy, m0, acc[t][0]);
        _mm512_mask_storeu_ps(y + (size_t)t * ldy + 16, m1, acc[t][1]);
    }
}

VNNI512 static inline __attribute__((always_inline)) void
tile_vnni(int mr, const qg_block *p, const dv_qg_act *a, int t0, float *y, size_t ldy,
          __mmask16 m0, __mmask16 m1)
{
    size_t row = (size_t)a->nb * DV_QBLOCK;
    __m512 acc[QG_MR][2];
    /* every loop over mr unrolled: the accumulators must live in registers */
#pragma GCC unroll 6
    for (int t = 0; t < mr; t++)
        acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    const uint8_t *x = a->q + (size_t)t0 * row;
    const float *dx = a->d + (size_t)t0 * a->nb;
    for (int b = 0; b < a->nb; b++) {
        const qg_block *blk = p + b;
        __m512i s[QG_MR][2];
        __m512i c0 = _mm512_loadu_si512(blk->comp), c1 = _mm512_loadu_si512(blk->comp + 16);
#pragma GCC unroll 6
        for (int t = 0; t < mr; t++) {
            s[t][0] = c0;
            s[t][1] = c1;
        }
#pragma GCC unroll 8
        for (int k = 0; k < DV_QBLOCK / 4; k++) {
            __m512i w0 = _mm512_loadu_si512(blk->q[k][0]);
            __m512i w1 = _mm512_loadu_si512(blk->q[k][16]);
#pragma GCC unroll 6
            for (int t = 0; t < mr; t++) {
                int32_t four;
                memcpy(&four, x + (size_t)t * row + (size_t)b * DV_QBLOCK + 4 * k, 4);
                __m512i xb = _mm512_set1_epi32(four);
                s[t][0] = _mm512_dpbusd_epi32(s[t][0], xb, w0);
                s[t][1] = _mm512_dpbusd_epi32(s[t][1], xb, w1);
            }
        }
        tile_scale(mr, s, blk->d, dx + b, a->nb, acc);
    }
    tile_store(mr, acc, y + (size_t)t0 * ldy, ldy, m0, m1);
}

/* The q4 group: the same steps, each 64-byte load giving 16 rows' low
 * nibbles (elements 4 k ..) and high ones (16 + 4 k ..) as the unsigned
 * operand against the signed activations; the sums start at the
 * activation block's -8 * sum instead of the panel's correction. The
 * integer sums equal tile_vnni's on the unpacked values, so its floats do. */
VNNI512 static inline __attribute__((always_inline)) void
tile_vnni4(int mr, const qg4_block *p, const dv_qg_act *a, int t0, float *y, size_t ldy,
           __mmask16 m0, __mmask16 m1)
{
    size_t row = (size_t)a->nb * DV_QBLOCK;
    __m512 acc[QG_MR][2];
#pragma GCC unroll 6
    for (int t = 0; t < mr; t++)
        acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    const int8_t *x = a->qs + (size_t)t0 * row;
    const float *dx = a->d + (size_t)t0 * a->nb;
    const int32_t *sx8 = a->s8 + (size_t)t0 * a->nb;
    const __m512i low = _mm512_set1_epi8(15);
    for (int b = 0; b < a->nb; b++) {
        const qg4_block *blk = p + b;
        if (t0 == 0)
            prefetch_block(blk, sizeof *blk);
        __m512i s[QG_MR][2];
#pragma GCC unroll 6
        for (int t = 0; t < mr; t++)
            s[t][0] = s[t][1] = _mm512_set1_epi32(sx8[(size_t)t * a->nb + b]);
#pragma GCC unroll 4
        for (int k = 0; k < DV_QBLOCK / 8; k++) {
            __m512i g0 = _mm512_loadu_si512(blk->q[k][0]);
            __m512i g1 = _mm512_loadu_si512(blk->q[k][16]);
            __m512i l0 = _mm512_and_si512(g0, low), l1 = _mm512_and_si512(g1, low);
            __m512i h0 = _mm512_and_si512(_mm512_srli_epi16(g0, 4), low);
            __m512i h1 = _mm512_and_si512(_mm512_srli_epi16(g1, 4), low);
#pragma GCC unroll 6
            for (int t = 0; t < mr; t++) {
                int32_t lo4, hi4;
                const int8_t *xb = x + (size_t)t * row + (size_t)b * DV_QBLOCK + 4 * k;
                memcpy(&lo4, xb, 4);
                memcpy(&hi4, xb + DV_QBLOCK / 2, 4);
                __m512i xl = _mm512_set1_epi32(lo4), xh = _mm512_set1_epi32(hi4);
                s[t][0] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(s[t][0], l0, xl), h0, xh);
                s[t][1] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(s[t][1], l1, xl), h1, xh);
            }
        }
        tile_scale(mr, s, blk->d, dx + b, a->nb, acc);
    }
    tile_store(mr, acc, y + (size_t)t0 * ldy, ldy, m0, m1);
}

#define QG_TILES(TILE, P)                                                              \
    do {                                                                               \
        __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);            \
        __mmask16 m1 =                                                                 \
            (__mmask16)(cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1); \
        int t0 = 0;                                                                    \
        for (; t0 + QG_MR <= a->n; t0 += QG_MR)                                        \
            TILE(QG_MR, P, a, t0, y, ldy, m0, m1);                                     \
        switch (a->n - t0) {                                                           \
        case 5: TILE(5, P, a, t0, y, ldy, m0, m1); break;                              \
        case 4: TILE(4, P, a, t0, y, ldy, m0, m1); break;                              \
        case 3: TILE(3, P, a, t0, y, ldy, m0, m1); break;                              \
        case 2: TILE(2, P, a, t0, y, ldy, m0, m1); break;                              \
        case 1: TILE(1, P, a, t0, y, ldy, m0, m1); break;                              \
        default: break;                                                                \
        }                                                                              \
    } while (0)

VNNI512 static void qgemm_vnni(const qg_block *p, const dv_qg_act *a, float *y, size_t ldy,
                               int cols)
{
    QG_TILES(tile_vnni, p);
}

VNNI512 static void qgemm_vnni4(const qg4_block *p, const dv_qg_act *a, float *y, size_t ldy,
                                int cols)
{
    QG_TILES(tile_vnni4, p);
}
#endif

void dv_qgemm_group(dv_qfmt f, const void *panel, const dv_qg_act *a, float *y, size_t ldy,
                    int cols, int level)
{
#if DV_X86
    if (level >= 2) {
        if (f == DV_Q4)
            qgemm_vnni4(panel, a, y, ldy, cols);
        else
            qgemm_vnni(panel, a, y, ldy, cols);
        return;
    }
#else
    (void)level;
#endif
    if (f == DV_Q4)
        qgemm_scalar_q4(panel, a, y, ldy, cols);
    else
        qgemm_scalar(panel, a, y, ldy, cols);
}
