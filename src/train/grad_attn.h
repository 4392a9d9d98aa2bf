/* Softmax attention with a hand-written backward pass. The forward keeps
 * the log-sum-exp of each score row; the backward recomputes the
 * probabilities one block of queries at a time (as FlashAttention does), so
 * no [queries, keys] matrix outlives a block: memory stays O(tokens * dim).
 * Where the caller gives a buffer for them (p), the forward keeps the
 * probabilities instead and the backward reads them: short sequences,
 * whose [queries, keys] blocks are no larger than their q, k and v.
 * Covers the towers' bidirectional attention, the decoder's causal GQA, and
 * SAM's decomposed relative positions (an additive per-query bias). */
#ifndef DV_GRAD_ATTN_H
#define DV_GRAD_ATTN_H

#include <stddef.h>

#include "base/error.h"
#include "kernels/pool.h"
#include "kernels/sgemm512.h"

typedef struct tg_attn {
    int n, n_heads, n_kv_heads, head_dim;   /* n queries = n keys (one sequence) */
    /* row i of head h starts at base + i * stride + h * head_dim */
    const float *q, *k, *v;
    size_t q_stride, k_stride, v_stride;
    float *out;
    size_t out_stride;
    float scale;             /* on q.k, before the bias */
    int causal;              /* query i sees keys j <= i */
    /* SAM relative positions (n_heads must be 1): score(i, key (kh, kw)) +=
     * rel_h[i * g + kh] + rel_w[i * g + kw] over a g x g grid of keys */
    int rel_g;
    const float *rel_h, *rel_w;
    float *lse;              /* [n_heads, n]: written by fwd, read by bwd */
    float *p;                /* NULL, or tg_attn_p_floats(): written by fwd, read by bwd */
    dv_gemm gemm;            /* the product its blocks run (zero: cblas_sgemm) */
} tg_attn;

/* Floats of the probabilities an attention of n tokens and n_heads heads
 * keeps (each query block's rows over the keys it sees). */
size_t tg_attn_p_floats(int n, int n_heads, int causal);
/* Whether a layer keeps them: when they take no more than twice its
 * q, k and v (qkv_floats), so the activations grow by a small share. */
#define TG_ATTN_KEEP_P(p_floats, qkv_floats) ((p_floats) <= 2 * (qkv_floats))

int tg_attn_fwd(const tg_attn *a, dv_err *e);

/* dout rows of dout_stride (head h at + h * head_dim). Gradients are ADDED
 * to dq/dk/dv (same strides as q/k/v) and, with relative positions, to
 * drel_h/drel_w ([n, g]); any of them may be NULL when not wanted. With
 * write, dq, dk and dv are written instead (their heads' columns of the
 * n rows: no clearing first); the relative tables' are still added. */
typedef struct tg_attn_grads {
    const float *dout;
    size_t dout_stride;
    float *dq, *dk, *dv;
    float *drel_h, *drel_w;
    int write;
} tg_attn_grads;

int tg_attn_bwd(const tg_attn *a, const tg_attn_grads *g, dv_err *e);

/* count independent attentions (sequences, heads) split over tp (NULL:
 * one after another): the forward pass when g is NULL, else the backward
 * with g[i] for a[i]. Their outputs and gradients must not overlap. */
int tg_attn_many(dv_pool *tp, const tg_attn *a, const tg_attn_grads *g, int count, dv_err *e);

#endif
