/* The seam under generation: what text generation needs of a decoder
 * (token embeddings, a forward pass appending to a state, the state's
 * bookkeeping), so generate.c and the reader know no concrete network. A
 * family's decoder fills in the ops (llama.c: dv_llama_decoder). */
#ifndef DV_DECODER_H
#define DV_DECODER_H

#include <stdint.h>

#include "base/ctx.h"
#include "base/error.h"

typedef struct dv_decoder_ops {
    /* ids -> out [n, hidden] */
    int (*embed)(const void *model, const int32_t *ids, int n, float *out, dv_err *e);
    /* n embeddings [n, hidden] at the state's next positions; logits [vocab]
     * of the last position (may be NULL) */
    int (*forward)(const void *model, void *state, const float *embeds, int n, float *logits,
                   const dv_ctx *ctx, dv_err *e);
    int (*state_new)(const void *model, int max_tokens, void **out, dv_err *e);
    void (*state_free)(void *state);
    void (*state_reset)(void *state);
    int (*state_pos)(const void *state);
    int (*state_capacity)(const void *state);
    /* one token for each of n states: embeds [n, hidden], logits [n, vocab];
     * each state's logits those of a one-token forward on it alone */
    int (*forward_batch)(const void *model, void *const *states, int n, const float *embeds,
                         float *logits, const dv_ctx *ctx, dv_err *e);
    /* optional: n prompts (embeds[i] [len[i], hidden]) into n states,
     * logits [n, vocab] of their last positions, each what forward gives
     * it alone */
    int (*prefill_batch)(const void *model, void *const *states, int n,
                         const float *const *embeds, const int *len, float *logits,
                         const dv_ctx *ctx, dv_err *e);
    /* optional: dst takes src's cached tokens and position (dst's capacity
     * holds them): a prompt's start prefilled once, shared by several */
    int (*state_copy)(void *dst, const void *src, dv_err *e);
} dv_decoder_ops;

typedef struct dv_decoder {
    const dv_decoder_ops *ops;
    const void *model;
    int vocab, hidden;
    int context;          /* max_position_embeddings */
} dv_decoder;

#endif
