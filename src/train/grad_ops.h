/* Forward and hand-written backward passes of the row-wise operations the
 * trainer needs (llm.c style: each backward ADDS into the gradients it is
 * given, so branches that meet simply sum). Forward math equals the inference
 * kernels (src/kernels/ops.c): same accumulation in double, same formulas.
 * Matrix products run the product g names (kernels/sgemm512.h: docvl's own
 * AVX-512 one or cblas_sgemm), chosen once per model. x is [n, d] row-major. */
#ifndef DV_GRAD_OPS_H
#define DV_GRAD_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/pool.h"
#include "kernels/sgemm512.h"

/* Every buffer of one training step, freed together: one failure check at
 * the end of a run of allocations instead of one per buffer. */
typedef struct tg_pool {
    int n, cap, failed;
    void **p;
    /* keep != 0: tg_pool_reset keeps the buffers, and the allocations after
     * it take them again in order (zeroed) where they are large enough: a
     * training run's steps allocate the same sequence, so after the first
     * one no memory is requested (and no page faulted in) again */
    int keep, used;
    size_t *size;
} tg_pool;

/* n floats, zeroed; NULL (and pool->failed) when memory runs out. */
float *tg_alloc(tg_pool *pool, size_t n);
/* n floats NOT zeroed, for a buffer its user writes whole before reading
 * it (activations): a kept pool's steps skip clearing it. */
float *tg_alloc_raw(tg_pool *pool, size_t n);
/* The same for any zeroed object of `bytes` bytes. */
void *tg_alloc_bytes(tg_pool *pool, size_t bytes);
void tg_pool_free(tg_pool *pool);
/* Ends a use of the buffers: a keeping pool keeps them for the next
 * allocations, any other frees them (as tg_pool_free). */
void tg_pool_reset(tg_pool *pool);
/* DOCVL_ENOMEM with `what` when an allocation failed, else DOCVL_OK. */
int tg_pool_check(const tg_pool *pool, const char *what, dv_err *e);

/* y = x W^T + b: x [n, in], W [out, in] (PyTorch layout), b [out] or NULL. */
void tg_linear_fwd(dv_gemm g, const float *x, const float *w, const float *b, int n, int in,
                   int out, float *y);
/* y += x W^T + b: a residual branch's output added where it lands (no
 * buffer for it, no separate pass to add it). */
void tg_linear_fwd_add(dv_gemm g, const float *x, const float *w, const float *b, int n, int in,
                       int out, float *y);
/* dx += dy W; dw += dy^T x; db += column sums of dy. Any of dx, dw, db may
 * be NULL (not wanted: frozen weights, or an input that needs no gradient). */
void tg_linear_bwd(dv_gemm g, const float *dy, const float *x, const float *w, int n, int in,
                   int out, float *dx, float *dw, float *db);

/* LayerNorm over d (biased variance). Saves mean and 1/std per row for the
 * backward pass. w/b may be NULL. y may alias x. */
void tg_layernorm_fwd(const float *x, float *y, int n, int d, const float *w, const float *b,
                      float eps, float *mean, float *rstd);
/* x: the forward input. dx may alias nothing; any grad pointer may be NULL. */
void tg_layernorm_bwd(const float *dy, const float *x, const float *mean, const float *rstd,
                      int n, int d, const float *w, float *dx, float *dw, float *db);

/* Its two halves: dx of rows [lo, hi); dw/db of columns [lo, hi) over
 * all n rows, in row order (either may be NULL). */
void tg_layernorm_bwd_rows(const float *dy, const float *x, const float *mean,
                           const float *rstd, int lo, int hi, int d, const float *w, float *dx);
void tg_layernorm_bwd_cols(const float *dy, const float *x, const float *mean,
                           const float *rstd, int n, int d, int lo, int hi, float *dw, float *db);

/* RMSNorm as HF LlamaRMSNorm; saves 1/rms per row. */
void tg_rmsnorm_fwd(const float *x, float *y, int n, int d, const float *w, float eps,
                    float *rstd);
void tg_rmsnorm_bwd(const float *dy, const float *x, const float *rstd, int n, int d,
                    const float *w, float *dx, float *dw);

void tg_rmsnorm_bwd_rows(const float *dy, const float *x, const float *rstd, int lo, int hi,
                         int d, const float *w, float *dx);
void tg_rmsnorm_bwd_cols(const float *dy, const float *x, const float *rstd, int n, int d,
                         int lo, int hi, float *dw);

/* Exact-erf GELU: y = gelu(x) (y may alias x only in forward-only use). */
void tg_gelu_fwd(const float *x, float *y, size_t n);
/* dx = dy * gelu'(x): written, not added (the one exception to "adds",
 * with the SiLU pass below: their gradients never meet another branch's). */
void tg_gelu_bwd(const float *dy, const float *x, float *dx, size_t n);

/* h = silu(g) * u. */
void tg_silu_mul_fwd(const float *g, const float *u, float *h, size_t n);
/* dg = dh u silu'(g); du = dh silu(g) (written, as tg_gelu_bwd). */
void tg_silu_mul_bwd(const float *dh, const float *g, const float *u, float *dg, float *du,
                     size_t n);

/* RoPE tables (rotate_half) for positions pos0..pos0+n-1: [n, hd/2]. */
void tg_rope_tables(int pos0, int n, int hd, float theta, float *cosv, float *sinv);
/* Rotates each head of each row in place; inverse = 1 applies the transpose
 * (the backward pass of a rotation). */
void tg_rope_apply(float *x, int n, int heads, int hd, size_t stride, const float *cosv,
                   const float *sinv, int inverse);

/* Cross-entropy of logits [n, V] against labels (ignore < 0): returns the
 * summed NLL over counted rows (double) and their count. When dlogits is
 * non-NULL it receives (softmax - onehot) * scale for counted rows, 0 for
 * ignored ones (dlogits may alias logits), the softmax and its
 * log-sum-exp then summed in float (the vector exp) instead of double. */
double tg_cross_entropy(float *logits, const int32_t *labels, int n, int V, float scale,
                        float *dlogits, int *n_counted);

/* ---- the same split over a thread pool tp (grad_par.c), for the batched
 * step's stacked rows. tp NULL: the calling thread (a product then is one
 * sgemm on the BLAS threads the context set). The bits equal the functions
 * above except a weight gradient's (tg_linear_bwd_mt's dw), whose rows are
 * cut into one slice per thread of tp: the same bits for the same thread
 * count. ---- */
void tg_linear_fwd_mt(dv_pool *tp, dv_gemm g, const float *x, const float *w, const float *b,
                      int n, int in, int out, float *y);
void tg_linear_fwd_add_mt(dv_pool *tp, dv_gemm g, const float *x, const float *w, const float *b,
                          int n, int in, int out, float *y);
void tg_linear_bwd_mt(dv_pool *tp, dv_gemm g, const float *dy, const float *x, const float *w,
                      int n, int in, int out, float *dx, float *dw, float *db);
/* The same with dx = dy W written, not added: a buffer nothing has added
 * into yet needs no clearing first. */
void tg_linear_bwd_set_mt(dv_pool *tp, dv_gemm g, const float *dy, const float *x, const float *w,
                          int n, int in, int out, float *dx, float *dw, float *db);
void tg_layernorm_fwd_mt(dv_pool *tp, const float *x, float *y, int n, int d, const float *w,
                         const float *b, float eps, float *mean, float *rstd);
void tg_layernorm_bwd_mt(dv_pool *tp, const float *dy, const float *x, const float *mean,
                         const float *rstd, int n, int d, const float *w, float *dx, float *dw,
                         float *db);
void tg_rmsnorm_fwd_mt(dv_pool *tp, const float *x, float *y, int n, int d, const float *w,
                       float eps, float *rstd);
void tg_rmsnorm_bwd_mt(dv_pool *tp, const float *dy, const float *x, const float *rstd, int n,
                       int d, const float *w, float *dx, float *dw);
/* GELU for a backward pass to come: y = gelu(x), and x is replaced by
 * gelu'(x), which is all the backward needs of it; the backward is then
 * dx = dy gelu'(x), a product instead of the erfc and exp again (the
 * bits of tg_gelu_fwd and tg_gelu_bwd). */
void tg_gelu_fwd_mt(dv_pool *tp, float *x, float *y, size_t n);
void tg_gelu_bwd_mt(dv_pool *tp, const float *dy, const float *dgelu, float *dx, size_t n);
/* The SiLU pair over n rows of gu [n, 2f], each row g then u (the output
 * of one product of the adjacent gate and up weights): h [n, f]; dgu
 * [n, 2f] receives dg then du. */
void tg_silu_mul_fwd_mt(dv_pool *tp, const float *gu, int n, int f, float *h);
void tg_silu_mul_bwd_mt(dv_pool *tp, const float *dh, const float *gu, int n, int f,
                        float *dgu);
/* y += x. */
void tg_add_mt(dv_pool *tp, float *y, const float *x, size_t n);

#endif
