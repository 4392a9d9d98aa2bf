/* Blocked scaled-dot-product attention with a running softmax (the
 * FlashAttention recurrence): scores exist only for one block of queries
 * against one block of keys at a time, so memory stays bounded however long
 * the sequence (SAM's 4096-token global blocks, the decoder's prefill). */
#ifndef DV_ATTENTION_H
#define DV_ATTENTION_H

#include <stddef.h>

#include "base/ctx.h"
#include "base/error.h"

/* Adds an additive bias to a block of raw scores (already scaled):
 * scores[i * ld + j] belongs to query q0 + i and key k0 + j of head `head`. */
typedef void (*dv_attn_bias_fn)(void *user, int head, int q0, int nq, int k0, int nk,
                                float *scores, int ld);

typedef struct dv_attn {
    int n_q, n_kv;          /* queries, keys/values */
    int n_heads, n_kv_heads;/* query head h reads kv head h / (n_heads / n_kv_heads) */
    int head_dim;
    /* row i of head h starts at base + i * stride + h * head_dim: a fused
     * qkv projection output can be used in place */
    const float *q;
    const void *k, *v;      /* float, or uint16_t halves when kv_f16 */
    size_t q_stride, k_stride, v_stride;   /* in elements */
    int kv_f16;             /* k and v hold f16 (a half-size KV cache) */
    float *out;             /* [n_q, n_heads * head_dim] rows of out_stride */
    size_t out_stride;
    float scale;            /* applied to q.k before the bias */
    int causal;             /* query i sees keys j <= q_pos0 + i */
    int q_pos0;
    dv_attn_bias_fn bias;   /* optional */
    void *bias_user;
} dv_attn;

/* Floats of scratch dv_attention needs (one block of scores, accumulators). */
size_t dv_attention_scratch_floats(const dv_attn *a);

/* Computes softmax(scale * q k^T + bias) v per head into out. scratch: at
 * least dv_attention_scratch_floats floats, or NULL to allocate. */
int dv_attention(const dv_attn *a, float *scratch, const dv_ctx *ctx, dv_err *e);

/* The n attentions a[0..n) (several sequences' decoding steps) as one job
 * over ctx's pool: with at most a few queries each and no bias, their
 * (head, query) rows are split over the threads, each row computed as
 * dv_attention computes it alone (the same floats); others run one after
 * the other through dv_attention. */
int dv_attention_many(const dv_attn *a, int n, const dv_ctx *ctx, dv_err *e);

#endif
