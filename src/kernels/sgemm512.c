/* An AVX-512 F fp32 matrix product (see sgemm512.h), blocked as Goto's:
 * a KC x NC block of B in panels of NR columns, an MC x KC block of A in
 * slivers of MR rows, and a micro-kernel that keeps an MR x NR tile of C in
 * 24 zmm accumulators, adding one broadcast of A times two vectors of B per
 * row and k. A panel of B (KC x NR, 32 KB) stays in L1 while the slivers of
 * A stream past it from L2. An operand whose k-th row or column is already
 * contiguous (A transposed, B not) is read in place; the others are packed
 * k-major by transposing 16 x 16 blocks (the trainer's products are small:
 * a copy of an operand costs a good share of the product). */
#include "kernels/sgemm512.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/blascore.h"
#include "kernels/cpu.h"
#include "kernels/simd_x86.h"

#define MR 12
#define NR 32
#define KC DV_SGEMM512_KC
#define MC 120    /* ten slivers: 120 KB of A per block */
#define NC 512    /* sixteen panels: 512 KB of B per block, within a 1 MB L2 */

dv_gemm dv_gemm_choose(void)
{
    const char *env = getenv("DOCVL_OWN_SGEMM");
    if (!DV_X86 || !dv_cpu_has_avx512() || (env && strcmp(env, "0") == 0))
        return DV_GEMM_BLAS;
    if (env && strcmp(env, "1") == 0)
        return DV_GEMM_OWN;
    /* OpenBLAS's own AVX-512 kernels took 10-18% less CPU time than this
     * product on the trainer's step (bench/README.md): keep them where it
     * runs them, and take over where it runs narrower ones (its AVX2
     * kernels, as an environment forcing OPENBLAS_CORETYPE=Haswell gives) */
    return dv_blas_core_is_avx512(dv_blas_core()) ? DV_GEMM_BLAS : DV_GEMM_OWN;
}

const char *dv_gemm_name(dv_gemm g)
{
    return g == DV_GEMM_OWN ? "docvl-avx512" : "openblas";
}

static void blas(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dv_sgemm(dv_gemm g, int ta, int tb, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (g == DV_GEMM_OWN && !dv_sgemm512(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#if DV_X86
#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#define INLINE512 AVX512 static inline __attribute__((always_inline))

/* Lanes [0, n) of 16 (n <= 16). */
static inline __mmask16 lanes(int n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* Transposes 16 vectors in place: r[i] lane j becomes r[j] lane i
 * (unpacks, then 64-bit, 128-bit and 256-bit lane swaps: 64 shuffles).
 * Every loop unrolled, so the vectors stay in registers. */
INLINE512 void transpose16(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            r[i + 2 * h] = _mm512_shuffle_ps(t[i + h], t[i + h + 2], 0x44);
            r[i + 2 * h + 1] = _mm512_shuffle_ps(t[i + h], t[i + h + 2], 0xee);
        }
#pragma GCC unroll 2
    for (int i = 0; i < 16; i += 8)
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++) {
            t[i + h] = _mm512_shuffle_f32x4(r[i + h], r[i + h + 4], 0x88);
            t[i + h + 4] = _mm512_shuffle_f32x4(r[i + h], r[i + h + 4], 0xdd);
        }
#pragma GCC unroll 8
    for (int h = 0; h < 8; h++) {
        r[h] = _mm512_shuffle_f32x4(t[h], t[h + 8], 0x88);
        r[h + 8] = _mm512_shuffle_f32x4(t[h], t[h + 8], 0xdd);
    }
}

/* One 16 x 16 block: rows [0, nr) of src (row stride ld), columns [0, nc)
 * (the rest read as 0), stored transposed as nc rows of dst (stride w),
 * lanes in st. Rows past nr load nothing (a masked load of no lanes
 * touches no memory) from row 0's address. */
INLINE512 void pack_block(const float *src, size_t ld, int nr, int nc, float *dst, size_t w,
                          __mmask16 st)
{
    __mmask16 m = lanes(nc);
    __m512 v[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        v[i] = _mm512_maskz_loadu_ps(i < nr ? m : 0, src + (i < nr ? i : 0) * ld);
    transpose16(v);
    if (nc == 16) {
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            _mm512_mask_storeu_ps(dst + j * w, st, v[j]);
        return;
    }
    for (int j = 0; j < nc; j++)
        _mm512_mask_storeu_ps(dst + j * w, st, v[j]);
}

/* dst[p * w + r] = src[r * ld + p] for r < rows (0 for rows <= r < w), p <
 * kc: a transposing copy, for A not transposed and B transposed, in
 * blocks of 16 x 16 through registers (gathers took four times as long). */
AVX512 static void pack_t(const float *src, int ld, int rows, int kc, int w, float *dst)
{
    for (int r0 = 0; r0 < w; r0 += 16) {
        int nr = rows - r0 < 16 ? (rows - r0 > 0 ? rows - r0 : 0) : 16;
        const float *s = src + (size_t)(nr ? r0 : 0) * ld;
        for (int p0 = 0; p0 < kc; p0 += 16)
            pack_block(s + p0, (size_t)ld, nr, kc - p0 < 16 ? kc - p0 : 16,
                       dst + (size_t)p0 * w + r0, (size_t)w, lanes(w - r0));
    }
}

/* Rows [i0, i0 + mc) and k [p0, p0 + kc) of A (not transposed) as
 * slivers of MR rows. */
AVX512 static void pack_a(const float *a, int lda, int i0, int mc, int p0, int kc, float *ap)
{
    for (int i = 0; i < mc; i += MR)
        pack_t(a + (size_t)(i0 + i) * lda + p0, lda, mc - i < MR ? mc - i : MR, kc, MR,
               ap + (size_t)i * kc);
}

/* dst[p * NR + r] = src[p * ld + r] for r < cols (0 up to NR): B not
 * transposed, its rows copied into a panel. */
AVX512 static void pack_n(const float *src, int ld, int cols, int kc, float *dst)
{
    __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16 > 0 ? cols - 16 : 0);
    for (int p = 0; p < kc; p++) {
        const float *s = src + (size_t)p * ld;
        _mm512_store_ps(dst + (size_t)p * NR, _mm512_maskz_loadu_ps(m0, s));
        _mm512_store_ps(dst + (size_t)p * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
    }
}

/* Columns [j0, j0 + nc) and k [p0, p0 + kc) of op(B) as panels of NR. */
AVX512 static void pack_b(int tb, const float *b, int ldb, int j0, int nc, int p0, int kc,
                          float *bp)
{
    for (int j = 0; j < nc; j += NR) {
        int cols = nc - j < NR ? nc - j : NR;
        float *d = bp + (size_t)j * kc;
        if (tb)
            pack_t(b + (size_t)(j0 + j) * ldb + p0, ldb, cols, kc, NR, d);
        else
            pack_n(b + (size_t)p0 * ldb + j0 + j, ldb, cols, kc, d);
    }
}

/* C's row = beta C + alpha acc over the lanes in m (beta 0: C not read). */
INLINE512 void store_row(float *c, __mmask16 m, __m512 acc, float alpha, float beta)
{
    __m512 v = alpha == 1.0f ? acc : _mm512_mul_ps(acc, _mm512_set1_ps(alpha));
    if (beta == 1.0f)
        v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, c), v);
    else if (beta != 0.0f)
        v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, c), _mm512_set1_ps(beta), v);
    _mm512_mask_storeu_ps(c, m, v);
}

/* Where a block's operand lies: element (k = p, row or column r) at
 * base[p * ks + r * rs]. Packed: a sliver of A or a panel of B is k-major
 * (ks MR or NR, and row r's sliver at r * kc). In place: A transposed and
 * B not already hold each k's rows or columns side by side (ks the
 * stride, rs 1), so they are read where they are, no copy. */
typedef struct view {
    const float *base;
    size_t ks, rs;
} view;

/* One tile: rows [0, mr) of A's sliver times B's panel of cols columns,
 * kc deep, into C. mr is a constant in every call (tile_rows), so the
 * accumulators unroll into registers. Each accumulator is one chain of
 * FMAs in k order whatever mr: a row's bits never depend on its tile. B's
 * loads are masked to its columns: a panel in place ends where B does. */
INLINE512 void tile(int mr, int kc, const float *ap, size_t as, const float *bp, size_t bs,
                    float *c, int ldc, int cols, float alpha, float beta)
{
    __m512 acc[2 * MR];
#pragma GCC unroll 24
    for (int i = 0; i < 2 * mr; i++)
        acc[i] = _mm512_setzero_ps();
    /* C's tile is read (beta != 0) or written only after the k loop: asking
     * for its lines now hides their misses behind the loop (the trainer's
     * gradients are out of L2 by the time a product adds to them) */
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)i * ldc + 16), _MM_HINT_T0);
    }
    __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16 > 0 ? cols - 16 : 0);
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bp + (size_t)p * bs);
        __m512 b1 = _mm512_maskz_loadu_ps(m1, bp + (size_t)p * bs + 16);
        const float *a = ap + (size_t)p * as;
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 x = _mm512_set1_ps(a[i]);
            acc[2 * i] = _mm512_fmadd_ps(x, b0, acc[2 * i]);
            acc[2 * i + 1] = _mm512_fmadd_ps(x, b1, acc[2 * i + 1]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        store_row(c + (size_t)i * ldc, m0, acc[2 * i], alpha, beta);
        if (cols > 16)
            store_row(c + (size_t)i * ldc + 16, m1, acc[2 * i + 1], alpha, beta);
    }
}

#define TILE(R)                                                                                \
    case R:                                                                                    \
        tile(R, kc, ap, as, bp, bs, c, ldc, cols, alpha, beta);                                \
        break

/* tile() with mr as a constant: full slivers, and each height of the
 * last one. */
AVX512 static void tile_rows(int mr, int kc, const float *ap, size_t as, const float *bp,
                             size_t bs, float *c, int ldc, int cols, float alpha, float beta)
{
    switch (mr) {
        TILE(1); TILE(2); TILE(3); TILE(4); TILE(5); TILE(6);
        TILE(7); TILE(8); TILE(9); TILE(10); TILE(11);
    default:
        tile(MR, kc, ap, as, bp, bs, c, ldc, cols, alpha, beta);
    }
}

/* The blocks' product: every sliver of A against every panel of B. */
AVX512 static void block(int mc, int nc, int kc, view A, view B, float *c, int ldc, float alpha,
                         float beta)
{
    for (int j = 0; j < nc; j += NR) {
        int cols = nc - j < NR ? nc - j : NR;
        for (int i = 0; i < mc; i += MR)
            tile_rows(mc - i < MR ? mc - i : MR, kc, A.base + (size_t)i * A.rs, A.ks,
                      B.base + (size_t)j * B.rs, B.ks, c + (size_t)i * ldc + j, ldc, cols, alpha,
                      beta);
    }
}

/* C *= beta where k is 0 (no product to add), as cblas_sgemm does. */
static void scale_c(int m, int n, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
}

/* A transposed and B not are read in place; the others are packed, into
 * ap and bp. */
AVX512 static void blocked(int ta, int tb, int m, int n, int k, float alpha, const float *a,
                           int lda, const float *b, int ldb, float beta, float *c, int ldc,
                           float *ap, float *bp)
{
    for (int j0 = 0; j0 < n; j0 += NC) {
        int nc = n - j0 < NC ? n - j0 : NC;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int kc = k - p0 < KC ? k - p0 : KC;
            float bet = p0 ? 1.0f : beta;   /* later blocks of k add to the first's */
            pack_b(tb, b, ldb, j0, nc, p0, kc, bp);
            view B = { bp, NR, (size_t)kc };
            for (int i0 = 0; i0 < m; i0 += MC) {
                int mc = m - i0 < MC ? m - i0 : MC;
                view A = { a + (size_t)p0 * lda + i0, (size_t)lda, 1 };
                if (!ta) {
                    pack_a(a, lda, i0, mc, p0, kc, ap);
                    A = (view){ ap, MR, (size_t)kc };
                }
                block(mc, nc, kc, A, B, c + (size_t)i0 * ldc + j0, ldc, alpha, bet);
            }
        }
    }
}

int dv_sgemm512(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc)
{
    if (!dv_cpu_has_avx512())
        return -1;
    if (m <= 0 || n <= 0)
        return 0;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return 0;
    }
    /* panels sized to this product, not the blocks' maximum (the trainer's
     * small products would fault in pages they never use), and none for an
     * operand read in place */
    int kc = k < KC ? k : KC, mc = m < MC ? m : MC, nc = n < NC ? n : NC;
    size_t a_len = ta ? 0 : (size_t)(mc + MR - 1) / MR * MR * kc;
    size_t b_len = (size_t)(nc + NR - 1) / NR * NR * kc;
    float *bp = aligned_alloc(64, ((a_len + b_len) * sizeof(float) + 63) / 64 * 64);
    if (!bp)
        return -1;
    blocked(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bp + b_len, bp);
    free(bp);
    return 0;
}
#else
int dv_sgemm512(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc)
{
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b;
    (void)ldb, (void)beta, (void)c, (void)ldc;
    return -1;
}
#endif
