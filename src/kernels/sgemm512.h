/* docvl's own fp32 matrix product for CPUs with AVX-512 F, beside
 * cblas_sgemm. The trainer's products are small (a substack's 64-256 rows
 * against 128-1024 columns): OpenBLAS's AVX2 kernels, which an environment
 * forcing OPENBLAS_CORETYPE=Haswell gives even on an AVX-512 CPU, run them at
 * half the CPU's fp32 rate. Which product a caller runs is chosen once per
 * model (dv_gemm_choose) and passed down with the calls, never kept in a
 * static. */
#ifndef DV_SGEMM512_H
#define DV_SGEMM512_H

/* Which fp32 product a caller's matrix products run. */
typedef enum dv_gemm {
    DV_GEMM_BLAS = 0,   /* cblas_sgemm (OpenBLAS) */
    DV_GEMM_OWN = 1,    /* dv_sgemm512: AVX-512 F, cache-blocked, packed panels */
} dv_gemm;

/* The product for this CPU, this OpenBLAS and the environment: DV_GEMM_OWN
 * where the CPU runs AVX-512 F (the OS saving its registers) and OpenBLAS
 * runs narrower kernels than its AVX-512 ones (OPENBLAS_CORETYPE=Haswell,
 * or a core it does not know); DV_GEMM_BLAS elsewhere. DOCVL_OWN_SGEMM=0
 * gives DV_GEMM_BLAS always, DOCVL_OWN_SGEMM=1 DV_GEMM_OWN wherever AVX-512
 * F runs. Reads the environment on every call: call it once when a model
 * or context is made and keep the answer there. */
dv_gemm dv_gemm_choose(void);
/* "openblas" or "docvl-avx512", for logs and benches. */
const char *dv_gemm_name(dv_gemm g);

/* Row-major C[m, n] = alpha op(A) op(B) + beta C, op(X) = X or its
 * transpose (ta, tb non-zero), as cblas_sgemm(CblasRowMajor, ...): A is
 * [m, k] (ta 0) or [k, m] (ta 1) with row stride lda; B [k, n] or [n, k]
 * with ldb. beta 0 writes C without reading it. g DV_GEMM_OWN on a CPU
 * without AVX-512 F, or when the kernel's panels find no memory, runs
 * cblas_sgemm instead. */
void dv_sgemm(dv_gemm g, int ta, int tb, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* The AVX-512 kernel itself (same arguments); -1 without doing anything
 * when this CPU lacks AVX-512 F or memory for the panels runs out, else 0.
 * Each element of C is one chain of fused multiply-adds over k in order
 * (blocks of DV_SGEMM512_KC added into C one after another), whatever m, n
 * and the element's place: a product of some of A's rows gives the bits of
 * those rows of the whole product. */
int dv_sgemm512(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc);

#define DV_SGEMM512_KC 256

#endif
