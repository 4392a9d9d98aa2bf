/* Stage 2's mixture of language-only and multimodal samples (7:3 by default
 * in DeepSeek-VL): each draw picks a kind with probability by ratio and a
 * sample of that kind uniformly, from the trainer's seeded generator. */
#ifndef DV_MIX_H
#define DV_MIX_H

#include "base/error.h"
#include "base/rng.h"

typedef struct dv_mix {
    double language;     /* weights, >= 0, not both 0 */
    double multimodal;
} dv_mix;

/* Parses "A:B" (non-negative numbers, not both zero). */
int dv_mix_parse(const char *spec, dv_mix *m, dv_err *e);

typedef enum dv_kind { DV_KIND_LANGUAGE, DV_KIND_MULTIMODAL } dv_kind;

/* Draws a kind. A kind with no samples is never drawn (n_lang / n_mm are the
 * pool sizes); with both empty, returns -1. *index: the sample within it. */
int dv_mix_draw(const dv_mix *m, dv_rng *r, long n_lang, long n_mm, long *index);

#endif
