/* The trainer's random numbers: xoshiro256** seeded through splitmix64. The
 * state is a plain struct the caller owns, so a run is repeatable from its
 * seed and resumable from the four saved words. */
#ifndef DV_TRNG_H
#define DV_TRNG_H

#include <stdint.h>

typedef struct dv_trng {
    uint64_t s[4];
} dv_trng;

void dv_trng_seed(dv_trng *r, uint64_t seed);
uint64_t dv_trng_next(dv_trng *r);
/* Uniform in [0, 1) with 53 random bits. */
double dv_trng_uniform(dv_trng *r);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint64_t dv_trng_below(dv_trng *r, uint64_t n);
/* Standard normal (Box-Muller; one value per call keeps the state simple). */
double dv_trng_normal(dv_trng *r);

#endif
