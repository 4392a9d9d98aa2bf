#include "base/rng.h"

#include <math.h>
#include <string.h>

uint64_t dv_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

uint64_t dv_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The start value is not FNV's offset basis (a digit short of it) but the one
 * docvl-mkmodel has always used: kept, so the models it writes and the
 * trainer's random init stay value for value what they were. */
#define NAME_SEED_START 1469598103934665603ull

uint64_t dv_name_seed(uint64_t seed, const char *name)
{
    return dv_fnv1a(NAME_SEED_START, name, strlen(name)) ^ (seed * 0x9e3779b97f4a7c15ull);
}

float dv_weight_normal(uint64_t *state)
{
    uint64_t v = dv_splitmix64(state);
    double s = (double)(v & 0xffff) + (double)((v >> 16) & 0xffff) +
               (double)((v >> 32) & 0xffff) + (double)(v >> 48);
    return (float)((s - 131070.0) * (1.7320508075688772 / 65536.0));
}

void dv_rng_seed(dv_rng *r, uint64_t seed)
{
    /* splitmix64 never yields four zero words, which xoshiro cannot leave */
    for (int i = 0; i < 4; i++)
        r->s[i] = dv_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t dv_rng_next(dv_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double dv_rng_uniform(dv_rng *r)
{
    return (double)(dv_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t dv_rng_below(dv_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* reject the top partial block so every residue is equally likely */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = dv_rng_next(r);
    while (x >= limit);
    return x % n;
}

double dv_rng_normal(dv_rng *r)
{
    double u1 = 1.0 - dv_rng_uniform(r);   /* (0, 1]: log is finite */
    double u2 = dv_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
