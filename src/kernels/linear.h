/* y = x W^T + b for a PyTorch-layout weight W [out, in]. F32 weights go
 * straight to sgemm (the context's: kernels/sgemm512.h) from the mapped
 * file; 16-bit weights stay 16-bit in memory and are widened panel by panel
 * right before each sgemm. Weights may instead be block-quantized at load
 * (kernels/quant.h). Products of a few rows (one-token decoding) read
 * 16-bit and quantized weights directly with fused dot kernels split over
 * the context's thread pool: they are bound by memory bandwidth, so the
 * weights must be read once, as stored. Many-row products (prefill, the
 * towers) widen or dequantize panels and use sgemm. */
#ifndef DV_LINEAR_H
#define DV_LINEAR_H

#include "base/ctx.h"
#include "base/error.h"
#include "kernels/pool.h"
#include "kernels/quant.h"
#include "kernels/tensor.h"

typedef struct dv_linear {
    int in, out;
    dv_dtype dtype;     /* storage of w: F32, F16 or BF16 */
    const void *w;      /* [out, in] row-major */
    float *w_owned;     /* set when the weight was widened at bind time */
    float *b;           /* [out] f32 or NULL */
    dv_qfmt qfmt;       /* DV_QNONE, or w is unused and q holds the weight */
    void *q;            /* [out] rows of dv_qrow_bytes(qfmt, in) bytes */
    int q_mapped;       /* q points into a mapping its binder owns (a weight cache):
                           dv_linear_free leaves it; else q is malloc'ed and freed */
    void *packed;       /* NULL, or q repacked once for the integer many-row kernel
                           (dv_linear_prepack): the panels each product would make;
                           or, with bf16_mm, w repacked for the bf16 kernel */
    int bf16_mm;        /* many-row products of this BF16 weight run as bf16 products
                           (kernels/bgemm.h, dv_linear_use_bf16): activations rounded */
} dv_linear;

/* Binds weight w ([out, in], or [out, in...] flattened for convolutions) and
 * optional bias. widen: copy 16-bit weights to f32 now (faster, 2x memory). */
int dv_linear_bind(dv_linear *L, const dv_tensor *w, const dv_tensor *b, int widen, dv_err *e);
void dv_linear_free(dv_linear *L);

/* Replaces the weight by its block quantization (from whatever it is stored
 * as), splitting the work over pool (may be NULL). */
int dv_linear_quantize(dv_linear *L, dv_qfmt f, dv_pool *pool, dv_err *e);

/* Repacks quantized weights once, where the integer many-row kernel runs,
 * into the layout it reads (kernels/qgemm.h: every group of DV_QG_NR rows),
 * so its products stop repacking them per call; every product of L then
 * runs on the panels, one-row ones (decoding) included, which read them
 * faster than the direct kernel reads q (kernels/linear.c, on_panels): a
 * one-row product's floats move by float rounding against the unpacked
 * weight's; many-row ones keep their bits. 1.11x q8's bytes (1x q4's)
 * held beside q. Nothing is done (DOCVL_OK) for f32/16-bit weights,
 * without the kernel, or without the memory. pool: threads for the work
 * (may be NULL). */
int dv_linear_prepack(dv_linear *L, dv_pool *pool);

/* Lets the many-row products of a BF16 weight (n > 8 rows, with a pool)
 * run as bf16 x bf16 -> f32 products (kernels/bgemm.h) where the CPU has
 * AVX-512 BF16 and DOCVL_KERNELS is not f32: the activations are rounded to
 * bf16 per product, so results move (relative ~2^-9 per product element,
 * docs/weights.md); without this call the products stay exact (f32 panels
 * and sgemm), as docvl-golden and the exact tests need. prepack: repack the
 * weight once now into the kernel's panels (as many bytes again as the
 * weight, held beside it) instead of per product; pool: threads for it (may
 * be NULL). Returns 1 when the bf16 products are on, 0 when not (another
 * dtype, quantized, no such CPU); a prepack without the memory falls back
 * to per-product panels. */
int dv_linear_use_bf16(dv_linear *L, int prepack, dv_pool *pool);

/* Bytes the weight occupies in memory as it is used now. */
size_t dv_linear_weight_bytes(const dv_linear *L);

/* Tells the kernel the mapped pages of [data, data + nbytes) are no longer
 * needed (after widening or quantizing them): they leave the resident set and
 * are read again from the file if ever touched. Only for file mappings. */
void dv_release_mapped(const void *data, size_t nbytes);
/* Asks the kernel to read [data, data + nbytes) of a file mapping ahead (a
 * whole tensor about to be quantized: one large read instead of faults). */
void dv_prefetch_mapped(const void *data, size_t nbytes);

/* x [n, in] -> y [n, out]. y must not alias x. ctx->pool (may be NULL)
 * splits the work over its threads (each with a single-threaded BLAS);
 * without one, OpenBLAS gets ctx->n_threads. Many-row products of f32 and
 * 16-bit weights run ctx->gemm's fp32 product (cblas_sgemm or docvl's
 * AVX-512 one; without a pool the latter runs on the caller's thread). */
void dv_linear_forward(const dv_linear *L, const float *x, int n, float *y, const dv_ctx *ctx);

/* y[m] = x W_m^T for count products sharing x [n, in] (q, k, v): one pool
 * job and one quantization of x when they take the direct few-row path;
 * otherwise one product after the other. */
void dv_linear_forward_many(const dv_linear *const *L, float *const *y, int count, const float *x,
                            int n, const dv_ctx *ctx);

/* The same for n rows whose results must not depend on the other rows
 * (sequences decoded side by side, one token each: their tokens must not
 * depend on the batch). Where dv_linear_rows_alone(L, n, ctx), each row
 * gives exactly what a one-row product of that row gives: weights repacked
 * at load through their kernel on the panels (integer; bf16 with a pool),
 * other quantized and bf16 weights through the direct kernels, each weight row
 * read once for all n rows, other weights one row at a time. Otherwise
 * (q8/q4 weights not repacked, 5 rows or more, the integer kernel and a
 * pool) the integer many-row kernel: each row's floats are the same in any
 * such product (as dv_linear_rows_stable says of prefill), but differ from
 * a one-row product's by float rounding (docs/weights.md). */
void dv_linear_forward_rows(const dv_linear *const *L, float *const *y, int count,
                            const float *x, int n, const dv_ctx *ctx);
int dv_linear_rows_alone(const dv_linear *L, int n, const dv_ctx *ctx);

/* Whether a product of n rows (with a pool) gives each row the floats it
 * gets in any other such product of more than a few rows (of any number,
 * for weights repacked at load): the integer kernel sums each row alone in
 * one fixed order; sgemm promises no such thing, and the direct kernels of
 * a few rows sum in another order. The bf16 kernel (dv_linear_use_bf16)
 * also sums each row alone in one order. Rows of several inputs may then
 * be stacked into one product. */
int dv_linear_rows_stable(const dv_linear *L, int n);

/* The same with an activation applied to each output chunk right after its
 * product (while it is in cache). */
typedef enum dv_act { DV_ACT_NONE = 0, DV_ACT_GELU } dv_act;
void dv_linear_forward_act(const dv_linear *L, const float *x, int n, float *y, dv_act act,
                           const dv_ctx *ctx);

/* Copies a small tensor (norm weights, biases, embeddings rows) to f32. */
float *dv_tensor_to_f32(const dv_tensor *t, dv_err *e);

#endif
