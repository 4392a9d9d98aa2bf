/* docvl's random numbers (the sampler's, the trainer's): xoshiro256** seeded
 * through splitmix64. The state is a plain struct the caller owns, so a run
 * is repeatable from its seed and resumable from the four saved words. */
#ifndef DV_RNG_H
#define DV_RNG_H

#include <stdint.h>

typedef struct dv_rng {
    uint64_t s[4];
} dv_rng;

void dv_rng_seed(dv_rng *r, uint64_t seed);
uint64_t dv_rng_next(dv_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double dv_rng_uniform(dv_rng *r);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint64_t dv_rng_below(dv_rng *r, uint64_t n);
/* Standard normal (Box-Muller; one value per call keeps the state simple). */
double dv_rng_normal(dv_rng *r);

#endif
