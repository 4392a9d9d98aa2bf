/* What compute functions need to know about the run: the thread budget.
 * Travels explicitly; the library keeps no global state of its own. */
#ifndef DV_CTX_H
#define DV_CTX_H

#include <stddef.h>

#include "kernels/sgemm512.h"

struct dv_pool;

typedef struct dv_ctx {
    int n_threads;   /* >= 1: shared by OpenBLAS and docvl's own loops */
    float *scratch;  /* optional work buffer owned by the caller (e.g. a model) */
    size_t scratch_len; /* in floats */
    struct dv_pool *pool; /* optional: n_threads persistent threads (kernels/pool.h)
                             for docvl's own loops; NULL runs them on the caller */
    dv_gemm gemm;    /* the fp32 product the many-row products and prefill attention
                        run (kernels/sgemm512.h). A model's forward passes set it to
                        the model's choice (dv_gemm_choose at load); zero, as a
                        context of the caller's own gives, is cblas_sgemm */
} dv_ctx;

/* Cores available to this process (sched_getaffinity), at least 1. */
int dv_cpu_count(void);

/* Applies the budget to OpenBLAS. OpenBLAS's thread count is process-wide
 * state of that library, so every entry point that computes calls this.
 * With a pool, docvl splits its products over the pool's threads itself and
 * each calls a single-threaded BLAS: OpenBLAS gets 1 thread, so its own
 * workers never spin beside ours (two cores, two busy threads). Without
 * one, OpenBLAS gets n_threads. */
void dv_ctx_apply(const dv_ctx *ctx);

/* The caller's context (NULL: one thread) running product g: a model's
 * passes run the product chosen at bind, whatever context the caller made. */
dv_ctx dv_ctx_with_gemm(const dv_ctx *ctx, dv_gemm g);
/* The product ctx names; cblas_sgemm's for a NULL context. */
dv_gemm dv_ctx_gemm(const dv_ctx *ctx);

#endif
