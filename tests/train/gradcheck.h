/* Central finite differences against hand-written gradients, for the
 * trainer's gradient-check tests. The loss is evaluated in float (the
 * trainer's arithmetic) and summed in double; eps and the tolerance are
 * chosen per test for float's noise. */
#ifndef DV_TEST_GRADCHECK_H
#define DV_TEST_GRADCHECK_H

#include <glib.h>
#include <math.h>
#include <stdint.h>

typedef double (*gc_loss_fn)(void *user);

/* Deterministic values in [-1, 1). */
static inline float gc_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline void gc_fill(float *x, size_t n, uint64_t *s, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = gc_rand(s) * scale;
}

/* The first index from `start` on (cyclically) whose |g| is at least min. */
static inline size_t gc_pick(const float *g, size_t n, size_t start, double min)
{
    for (size_t k = 0; k < n; k++)
        if (fabs(g[(start + k) % n]) >= min)
            return (start + k) % n;
    return start % n;
}

/* Compares g (the analytic gradient of loss w.r.t. x) with central
 * differences at up to `samples` indices: the largest |g| first, then spread
 * ones whose |g| is at least sig * max|g| (a float loss's rounding noise
 * swamps the difference quotient of much smaller entries). The relative
 * error of an entry is |a - n| / max(|a|, |n|, floor), floor = sig * max|g|.
 * Returns the largest. */
static inline double gc_check_sig(float *x, const float *g, size_t n, int samples, float eps,
                                  double sig, gc_loss_fn loss, void *user)
{
    double gmax = 0;
    size_t imax = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(g[i]) > gmax) {
            gmax = fabs(g[i]);
            imax = i;
        }
    double floor = sig * gmax + 1e-7, worst = 0;
    for (int k = 0; k < samples && (size_t)k < n; k++) {
        size_t i = k == 0 ? imax : gc_pick(g, n, (size_t)((double)k / samples * n + k * 7919) % n,
                                           sig * gmax);
        float save = x[i];
        x[i] = save + eps;
        double lp = loss(user);
        x[i] = save - eps;
        double lm = loss(user);
        x[i] = save;
        double num = (lp - lm) / (2.0 * eps), a = g[i];
        double den = fmax(fmax(fabs(a), fabs(num)), floor);
        double rel = isfinite(num) ? fabs(a - num) / den : INFINITY;
        if (rel > worst)
            worst = rel;
        if (rel > 1e-2 && g_getenv("GC_DEBUG"))
            g_test_message("  [%zu] analytic %.6e numeric %.6e (max |g| %.3e)", i, a, num, gmax);
    }
    return worst;
}

/* Small problems with O(1) values: every entry counts down to 1e-3 max|g|. */
static inline double gc_check(float *x, const float *g, size_t n, int samples, float eps,
                              gc_loss_fn loss, void *user)
{
    return gc_check_sig(x, g, n, samples, eps, 1e-3, loss, user);
}

#endif
