/* Picks the next token from a row of logits: greedy by default (argmax, the
 * lowest id on ties, as the reference does), or sampling with temperature,
 * top-k and top-p. The random generator lives in the sampler, seeded
 * explicitly, so the same seed and logits give the same tokens. */
#ifndef DV_SAMPLER_H
#define DV_SAMPLER_H

#include <stdint.h>

#include "base/error.h"
#include "base/rng.h"

typedef struct dv_sampler_opts {
    float temperature;   /* <= 0: greedy (top_k / top_p ignored) */
    int top_k;           /* <= 0: off */
    float top_p;         /* >= 1: off; keeps the smallest set whose mass reaches top_p */
    uint64_t seed;
} dv_sampler_opts;

/* Greedy decoding. */
#define DV_SAMPLER_GREEDY ((dv_sampler_opts){ .temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .seed = 0 })

typedef struct dv_sampler {
    dv_sampler_opts o;
    dv_rng rng;
    int n;               /* scratch capacity (vocabulary) */
    struct dv_sampler_cand *cand;   /* candidates sorted by logit (private) */
    double *prob;
} dv_sampler;

int dv_sampler_init(dv_sampler *s, const dv_sampler_opts *o, int vocab, dv_err *e);
void dv_sampler_free(dv_sampler *s);

/* The id chosen from logits[0..n) (n <= vocab). NaN logits are never chosen;
 * if all are NaN, returns 0. */
int32_t dv_sampler_pick(dv_sampler *s, const float *logits, int n);

/* HF's repetition penalty: each distinct id of ids[0..n_ids) that is below
 * n has its logit divided by penalty if positive, multiplied if not.
 * penalty 1 (or <= 0) changes nothing. mark: n bytes of zeros, left zeroed. */
void dv_repetition_penalty(float *logits, int n, const int32_t *ids, size_t n_ids, float penalty,
                           uint8_t *mark);

/* Argmax, lowest index on ties, NaN skipped. */
int32_t dv_argmax(const float *x, int n);

/* Next uniform double in [0, 1) from the sampler's generator. */
double dv_sampler_uniform(dv_sampler *s);

#endif
