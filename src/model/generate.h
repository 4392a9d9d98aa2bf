/* Text generation: prefill the prompt embeddings, then one token at a time
 * with the KV cache until eos, a stop string, the loop guard or
 * max_new_tokens. */
#ifndef DV_GENERATE_H
#define DV_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/ctx.h"
#include "base/error.h"
#include "model/decoder.h"
#include "text/loopguard.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

#define DV_GEN_MAX_EOS 8
#define DV_GEN_MAX_STOP 8

typedef enum dv_stop_reason {
    DV_STOP_MAX_TOKENS,
    DV_STOP_EOS,
    DV_STOP_STRING,
    DV_STOP_LOOP,
    DV_STOP_CALLBACK,
    DV_STOP_CONTEXT,     /* fit_context: the context length ended it */
} dv_stop_reason;

/* Progress: called once per generated token with the text that became final
 * since the last call (possibly empty: an incomplete UTF-8 sequence or a
 * possible start of a stop string is held back). When generation ends at eos
 * or max_new_tokens with text still held back, one more call (step n_ids,
 * id -1) passes it on, so the calls' texts add up to the result's text
 * (except after a loop, whose repeats are cut from the result). Non-zero
 * stops generation. */
typedef int (*dv_gen_token_fn)(void *user, int step, int32_t id, const char *text, size_t len);

typedef struct dv_gen_opts {
    int max_new_tokens;
    dv_sampler_opts sampler;
    int n_eos;
    int32_t eos_ids[DV_GEN_MAX_EOS];    /* ids that end generation (not part of the output) */
    int n_stop;
    const char *stop[DV_GEN_MAX_STOP];  /* text that ends generation (cut from the output) */
    float repetition_penalty;           /* 1: off (HF semantics, see dv_repetition_penalty) */
    const int32_t *context_ids;         /* prompt ids the penalty also counts (may be NULL) */
    size_t n_context_ids;
    dv_loopguard_opts guard;
    int skip_special;                   /* drop special tokens from the text */
    int fit_context;                    /* 0: prompt + max_new_tokens beyond the context is
                                         * DOCVL_ECONTEXT; 1: generate only what fits (a
                                         * prompt that fills the context is still an error) */
    int score;                          /* fill the result's logprob (a log-softmax over the
                                         * vocabulary per token: off by default) */
    dv_gen_token_fn on_token;
    void *user;
} dv_gen_opts;

/* Greedy, 512 new tokens, stop string "User:", no repetition penalty, the
 * default loop guard, special tokens skipped; eos_ids empty (set them from
 * the tokenizer or the model's generation config). */
void dv_gen_opts_default(dv_gen_opts *o);

typedef struct dv_gen_result {
    int32_t *ids;       /* generated ids, eos excluded; after a loop, cut to one copy */
    int n_ids;
    char *text;         /* decoded ids, cut at a stop string; NULL without tokenizer */
    int degenerate;     /* the loop guard tripped */
    dv_stop_reason stop;
    int stopped;        /* on_token returned non-zero (also when the same token
                         * ended generation for another reason, or in the
                         * last call that passes held-back text on) */
    double logprob;     /* with opts.score: the sum over the picked tokens, eos
                         * included, of their log-probability under the logits
                         * they were picked from (after the repetition penalty) */
    int n_scored;       /* the tokens summed there */
} dv_gen_result;

void dv_gen_result_free(dv_gen_result *r);

/* Generates after the n prompt embeddings [n, hidden], appending to state s
 * of decoder m (made by its ops; it may already hold earlier turns). tok may be NULL (no text, no stop
 * strings). Prompt + max_new_tokens beyond the cache capacity or the model's
 * context length is DOCVL_ECONTEXT before any work is done (unless
 * fit_context). */
int dv_generate_with(const dv_decoder *m, void *s, const dv_tokenizer *tok,
                     const float *embeds, int n, const dv_gen_opts *o, dv_gen_result *r,
                     const dv_ctx *ctx, dv_err *e);

/* One sequence of dv_generate_batch: its state (fresh, or holding earlier
 * turns), prompt embeddings [n, hidden], options and result. shared (0 to
 * n - 1): the prompt's first rows, prefilled on their own before the rest
 * (a page's tiles: the system prompt before the image); 0: the prompt at
 * once. */
typedef struct dv_gen_seq {
    void *state;
    const float *embeds;
    int n;
    const dv_gen_opts *o;
    dv_gen_result *r;
    int shared;
} dv_gen_seq;

/* Generates for count sequences side by side: each prompt is prefilled alone,
 * then every token is one decoder step for all sequences still generating
 * (the decoder's forward_batch: the weights read once for all of them); a
 * sequence leaves the batch where it would have stopped alone (eos, a stop
 * string, the loop guard, max_new_tokens, its callback). Each result is the
 * one dv_generate_with gives that sequence alone, token for token (each has
 * its own sampler and callback). On error every result is empty.
 *
 * A sequence with shared rows has them prefilled first, then the rest of
 * its prompt. Where every state is empty and every sequence has the same
 * shared rows (the same count and embeddings, bit for bit), they are
 * prefilled once and their keys and values copied into every state (the
 * decoder's state_copy), which gives each state what its own prefill of
 * them gives: each result is the one dv_generate_batch gives the sequence
 * alone, with the same split (the split itself rounds differently from a
 * prefill of the whole prompt, as any other chunking of it does). */
int dv_generate_batch(const dv_decoder *m, const dv_tokenizer *tok, const dv_gen_seq *seqs,
                      int count, const dv_ctx *ctx, dv_err *e);

/* The new tokens a fresh state would allow after n prompt tokens (checks
 * the options as dv_generate does): a fresh state's capacity is n + that. */
int dv_generate_budget(const dv_decoder *m, int n, const dv_gen_opts *o, int *max_new, dv_err *e);

/* Same with a fresh state sized for the prompt and max_new_tokens. */
int dv_generate(const dv_decoder *m, const dv_tokenizer *tok, const float *embeds, int n,
                const dv_gen_opts *o, dv_gen_result *r, const dv_ctx *ctx, dv_err *e);

#endif
