#include "train/ctc.h"

#include "kernels/vmath.h"
#include "train/grad_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log(exp(a) + exp(b)) without overflow; -INFINITY is the log of zero. */
static double lse2(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    double m = a > b ? a : b;
    return m + log(exp(a - m) + exp(b - m));
}

/* Token of the blank-interleaved target at s: blank at even s. */
static int32_t ext(const int32_t *target, int s, int blank)
{
    return s % 2 ? target[s / 2] : blank;
}

/* Whether a path may skip from s - 2 to s: not onto a blank, and not
 * between two equal tokens (they need the blank between them). */
static int may_skip(const int32_t *target, int s, int blank)
{
    return s >= 2 && s % 2 && ext(target, s, blank) != ext(target, s - 2, blank);
}

static int feasible(int T, int V, const int32_t *target, int L, int blank)
{
    if (T <= 0 || L < 0 || blank < 0 || blank >= V)
        return 0;
    int need = L;
    for (int i = 0; i < L; i++) {
        if (target[i] < 0 || target[i] >= V || target[i] == blank)
            return 0;
        need += i > 0 && target[i] == target[i - 1];
    }
    return need <= T;
}

/* Row-wise log-softmax of logits into lp (double). */
static void log_softmax(const float *logits, int T, int V, double *lp)
{
    for (int t = 0; t < T; t++) {
        const float *z = logits + (size_t)t * V;
        double *o = lp + (size_t)t * V;
        double lse = dv_logsumexp(z, V);
        for (int k = 0; k < V; k++)
            o[k] = (double)z[k] - lse;
    }
}

/* alpha[t][s]: log-probability of the paths through frames 0..t that end at
 * s having emitted the target's first (s + 1) / 2 tokens (frame t's emission
 * included). */
static void forward_vars(const double *lp, int T, int V, const int32_t *target, int S, int blank,
                         double *alpha)
{
    for (int s = 0; s < S; s++)
        alpha[s] = s < 2 ? lp[ext(target, s, blank)] : -INFINITY;
    for (int t = 1; t < T; t++) {
        const double *prev = alpha + (size_t)(t - 1) * S;
        double *cur = alpha + (size_t)t * S;
        for (int s = 0; s < S; s++) {
            double a = prev[s];
            if (s >= 1)
                a = lse2(a, prev[s - 1]);
            if (may_skip(target, s, blank))
                a = lse2(a, prev[s - 2]);
            cur[s] = a == -INFINITY ? a : a + lp[(size_t)t * V + ext(target, s, blank)];
        }
    }
}

/* beta[t][s]: log-probability of completing the target from s at frame t
 * over frames t+1..T-1 (frame t's emission not included). */
static void backward_vars(const double *lp, int T, int V, const int32_t *target, int S, int blank,
                          double *beta)
{
    double *last = beta + (size_t)(T - 1) * S;
    for (int s = 0; s < S; s++)
        last[s] = s >= S - 2 ? 0.0 : -INFINITY;
    for (int t = T - 2; t >= 0; t--) {
        const double *next = beta + (size_t)(t + 1) * S, *lpn = lp + (size_t)(t + 1) * V;
        double *cur = beta + (size_t)t * S;
        for (int s = 0; s < S; s++) {
            double b = next[s] + lpn[ext(target, s, blank)];
            if (s + 1 < S)
                b = lse2(b, next[s + 1] + lpn[ext(target, s + 1, blank)]);
            if (s + 2 < S && may_skip(target, s + 2, blank))
                b = lse2(b, next[s + 2] + lpn[ext(target, s + 2, blank)]);
            cur[s] = b;
        }
    }
}

/* dlogits[t][k] = scale * (softmax_t(k) - sum over s with token k of the
 * posterior that frame t sits at s). */
static void gradient(const double *lp, const double *alpha, const double *beta, double logp, int T,
                     int V, const int32_t *target, int S, int blank, float scale, double *occ,
                     float *dlogits)
{
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < V; k++)
            occ[k] = 0;
        for (int s = 0; s < S; s++) {
            double g = alpha[(size_t)t * S + s] + beta[(size_t)t * S + s] - logp;
            if (g > -INFINITY)
                occ[ext(target, s, blank)] += exp(g);
        }
        for (int k = 0; k < V; k++)
            dlogits[(size_t)t * V + k] = (float)((exp(lp[(size_t)t * V + k]) - occ[k]) * scale);
    }
}

double tg_ctc_loss(float *logits, int T, int V, const int32_t *target, int L, int blank,
                   float scale, float *dlogits)
{
    int S = 2 * L + 1;
    double *lp = NULL, *alpha = NULL, *beta = NULL, *occ = NULL;
    double nll = INFINITY;
    if (feasible(T, V, target, L, blank)) {
        lp = malloc((size_t)T * V * sizeof *lp);
        alpha = malloc((size_t)T * S * sizeof *alpha);
        beta = malloc((size_t)T * S * sizeof *beta);
        occ = malloc((size_t)V * sizeof *occ);
        if (!lp || !alpha || !beta || !occ)
            nll = NAN;
    }
    if (lp && alpha && beta && occ) {
        log_softmax(logits, T, V, lp);
        forward_vars(lp, T, V, target, S, blank, alpha);
        const double *end = alpha + (size_t)(T - 1) * S;
        double logp = S >= 2 ? lse2(end[S - 1], end[S - 2]) : end[S - 1];
        if (logp > -INFINITY) {
            nll = -logp;
            if (dlogits) {
                backward_vars(lp, T, V, target, S, blank, beta);
                gradient(lp, alpha, beta, logp, T, V, target, S, blank, scale, occ, dlogits);
            }
        }
    }
    if (dlogits && !isfinite(nll) && T > 0 && V > 0)
        memset(dlogits, 0, (size_t)T * V * sizeof *dlogits);
    free(lp);
    free(alpha);
    free(beta);
    free(occ);
    return nll;
}
