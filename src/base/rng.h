/* docvl's random numbers (the sampler's, the trainer's): xoshiro256** seeded
 * through splitmix64. The state is a plain struct the caller owns, so a run
 * is repeatable from its seed and resumable from the four saved words. */
#ifndef DV_RNG_H
#define DV_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct dv_rng {
    uint64_t s[4];
} dv_rng;

/* FNV-1a over n bytes, continuing from h (start with DV_FNV1A_BASIS): names
 * to seeds, and the weight cache's checksums. */
#define DV_FNV1A_BASIS 0xcbf29ce484222325ull
uint64_t dv_fnv1a(uint64_t h, const void *data, size_t n);

/* splitmix64: advances *state and returns the next value (seeds, and the
 * weight generators below). */
uint64_t dv_splitmix64(uint64_t *state);

/* Random weights for made-up models (docvl-mkmodel, the trainer's random
 * init): a tensor's stream is splitmix64 from dv_name_seed(seed, name), so
 * its values do not depend on the other tensors; dv_weight_normal is a sum
 * of four 16-bit uniforms standardised, close enough to a normal for random
 * weights and one generator call per value (the 7B has 7e9). */
uint64_t dv_name_seed(uint64_t seed, const char *name);
float dv_weight_normal(uint64_t *state);

void dv_rng_seed(dv_rng *r, uint64_t seed);
uint64_t dv_rng_next(dv_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double dv_rng_uniform(dv_rng *r);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint64_t dv_rng_below(dv_rng *r, uint64_t n);
/* Standard normal (Box-Muller; one value per call keeps the state simple). */
double dv_rng_normal(dv_rng *r);

#endif
