/* The DeepSeek-LLM decoder, exactly HF LlamaForCausalLM, with a KV cache. */
#ifndef DV_LLAMA_H
#define DV_LLAMA_H

#include <stdint.h>

#include "base/ctx.h"
#include "base/error.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "model/decoder.h"
#include "kernels/quant.h"

typedef struct dv_llama dv_llama;         /* bound weights */
typedef struct dv_llama_state dv_llama_state;  /* KV cache + activations for one sequence */

int dv_llama_bind(const dv_config *cfg, const dv_checkpoint *ck, int widen, dv_llama **out,
                  dv_err *e);

/* How the decoder keeps its matrices. widen: 16-bit -> f32 at load. qfmt:
 * block-quantize the layer matrices at load (kernels/quant.h), head_qfmt the
 * lm_head. Pages of the mapped checkpoint that were widened or quantized are
 * released from memory. n_threads: threads for that work (0: all cores).
 *
 * cache_dir (NULL: none): when both formats quantize, the quantized rows are
 * mapped from a cache file there (weights/qcache.h) that matches this
 * checkpoint and format, and the checkpoint's pages of those matrices are
 * never read; without one they are quantized and the file is written (not
 * when it would leave less than cache_min_free bytes free, 0: 1 GiB). A cache
 * that cannot be read or written never fails the load: cache_status (may be
 * NULL; the caller frees it with dv_qcache_status_free) says what happened. */
typedef struct dv_qcache_status dv_qcache_status;
typedef struct dv_lm_weights {
    int widen;
    dv_qfmt qfmt, head_qfmt;
    int n_threads;
    const char *cache_dir;
    uint64_t cache_min_free;
    dv_qcache_status *cache_status;
    int kv_f16;     /* states keep the KV cache in f16: half the bytes each decoded
                       token reads; costs ~1e-3 relative in attention outputs */
    int bf16_products; /* BF16 layer matrices' many-row products (prefill) as bf16
                          products where the CPU has them (dv_linear_use_bf16):
                          activations rounded to bf16; 0 keeps them exact */
} dv_lm_weights;

int dv_llama_bind_ex(const dv_config *cfg, const dv_checkpoint *ck, const dv_lm_weights *w,
                     dv_llama **out, dv_err *e);
/* Bytes one cached key or value element takes in this model's states (4 or 2). */
int dv_llama_kv_elem_bytes(const dv_llama *m);
/* Bytes of decoder weights read for one token (layers and lm_head, as held). */
size_t dv_llama_weight_bytes(const dv_llama *m);
void dv_llama_free(dv_llama *m);
/* The fp32 product of the decoder's many-row products and prefill
 * attention (kernels/sgemm512.h): dv_gemm_choose() at bind, passed down in
 * the context of every pass. Setting it is for tests and benches comparing
 * the two; it changes results in their last bits. */
void dv_llama_set_gemm(dv_llama *m, dv_gemm g);
dv_gemm dv_llama_gemm(const dv_llama *m);

/* max_tokens: cache capacity (<= max_position_embeddings). */
int dv_llama_state_new(const dv_llama *m, int max_tokens, dv_llama_state **out, dv_err *e);
void dv_llama_state_free(dv_llama_state *s);
void dv_llama_state_reset(dv_llama_state *s);
int dv_llama_state_pos(const dv_llama_state *s);
/* dst takes src's tokens (its cached keys and values and its position): a
 * prompt prefilled once, continued as several sequences. dst's capacity must
 * hold them. */
int dv_llama_state_copy(dv_llama_state *dst, const dv_llama_state *src, dv_err *e);
/* The cached keys and values of positions [pos0, pos0 + n) in layer li, as
 * floats (an f16 cache widened): k and v [n, kv_heads * head_dim]. For
 * tests and tools comparing caches. */
int dv_llama_state_rows(const dv_llama_state *s, int li, int pos0, int n, float *k, float *v,
                        dv_err *e);
int dv_llama_state_capacity(const dv_llama_state *s);

/* The language config the decoder was bound with (sizes, eps, context). */
const dv_lm_cfg *dv_llama_cfg(const dv_llama *m);

/* Token embeddings for ids into out [n, hidden]. */
int dv_llama_embed(const dv_llama *m, const int32_t *ids, int n, float *out, dv_err *e);

/* Runs n input embeddings [n, hidden] at the next positions, appending to the
 * cache. logits: [n, vocab] if all_logits, else [vocab] for the last position
 * (may be NULL). layer0_out: optional tap [n, hidden]. */
int dv_llama_forward(const dv_llama *m, dv_llama_state *s, const float *embeds, int n,
                     float *logits, int all_logits, float *layer0_out, const dv_ctx *ctx,
                     dv_err *e);

/* One token for each of n states (sequences decoded side by side, each at its
 * own position): embeds [n, hidden], logits [n, vocab] (may be NULL). Each
 * weight row is read once for all n; every state's logits equal those of a
 * one-token dv_llama_forward on it, bit for bit. */
int dv_llama_forward_batch(const dv_llama *m, dv_llama_state *const *s, int n,
                           const float *embeds, float *logits, const dv_ctx *ctx, dv_err *e);

/* The prompts of n states at once: embeds[i] [len[i], hidden] at state i's
 * next positions; logits [n, vocab] of each prompt's last position (may be
 * NULL). Each state ends as dv_llama_forward leaves it and its logits are
 * the same bit for bit: the prompts' rows are stacked in every product only
 * where each row then gets what it gets alone (int8 products of q8/q4
 * weights, prompts of more than a few tokens, one chunk each); otherwise
 * the prompts run one after the other. */
int dv_llama_prefill_batch(const dv_llama *m, dv_llama_state *const *s, int n,
                           const float *const *embeds, const int *len, float *logits,
                           const dv_ctx *ctx, dv_err *e);

/* The decoder as generation sees it (model/decoder.h); states are
 * dv_llama_state. */
dv_decoder dv_llama_decoder(const dv_llama *m);

#endif
