#include "text/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct dv_sampler_cand {
    float logit;
    int32_t id;
} cand;

double dv_sampler_uniform(dv_sampler *s) { return dv_rng_uniform(&s->rng); }

int dv_sampler_init(dv_sampler *s, const dv_sampler_opts *o, int vocab, dv_err *e)
{
    memset(s, 0, sizeof *s);
    s->o = o ? *o : DV_SAMPLER_GREEDY;
    if (vocab <= 0)
        return dv_fail(e, DOCVL_EINVAL, "sampler over a vocabulary of %d ids", vocab);
    if (!isfinite(s->o.temperature) || !(s->o.top_p == s->o.top_p))
        return dv_fail(e, DOCVL_EINVAL, "sampler: temperature %g / top_p %g must be numbers",
                       (double)s->o.temperature, (double)s->o.top_p);
    dv_rng_seed(&s->rng, s->o.seed);
    s->n = vocab;
    if (s->o.temperature <= 0)
        return DOCVL_OK;   /* greedy needs no scratch */
    s->cand = malloc((size_t)vocab * sizeof *s->cand);
    s->prob = malloc((size_t)vocab * sizeof *s->prob);
    if (!s->cand || !s->prob) {
        dv_sampler_free(s);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a sampler over %d ids", vocab);
    }
    return DOCVL_OK;
}

void dv_sampler_free(dv_sampler *s)
{
    free(s->cand);
    free(s->prob);
    s->cand = NULL;
    s->prob = NULL;
}

int32_t dv_argmax(const float *x, int n)
{
    int32_t best = -1;
    for (int i = 0; i < n; i++)
        if (x[i] == x[i] && (best < 0 || x[i] > x[best]))
            best = i;
    return best < 0 ? 0 : best;
}

/* Higher logit first; equal logits by lower id, so top-k = 1 is greedy. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Sorted non-NaN candidates, cut to top_k. Returns their count. */
static int candidates(dv_sampler *s, const float *logits, int n)
{
    cand *c = s->cand;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (logits[i] == logits[i])
            c[m++] = (cand){ logits[i], i };
    qsort(c, (size_t)m, sizeof *c, cand_cmp);
    if (s->o.top_k > 0 && s->o.top_k < m)
        m = s->o.top_k;
    return m;
}

/* Unnormalized probabilities of the sorted candidates, cut to the top_p
 * nucleus (at least one). Returns the number kept and their mass in *total. */
static int nucleus(dv_sampler *s, const cand *c, int m, double *total)
{
    double sum = 0, T = s->o.temperature;
    for (int i = 0; i < m; i++)
        sum += s->prob[i] = exp(((double)c[i].logit - c[0].logit) / T);
    if (!(s->o.top_p < 1.0f)) {
        *total = sum;
        return m;
    }
    double need = (double)s->o.top_p * sum, cum = 0;
    int keep = 0;
    while (keep < m && (keep == 0 || cum < need))
        cum += s->prob[keep++];
    *total = cum;
    return keep;
}

int32_t dv_sampler_pick(dv_sampler *s, const float *logits, int n)
{
    if (n > s->n)
        n = s->n;
    if (s->o.temperature <= 0 || !s->cand)
        return dv_argmax(logits, n);
    int m = candidates(s, logits, n);
    if (m == 0)
        return 0;
    const cand *c = s->cand;
    /* an infinite top logit (or every logit -inf) makes the softmax
     * undefined; the only sensible pick is the top candidate */
    if (!isfinite(c[0].logit))
        return c[0].id;
    double total;
    int keep = nucleus(s, c, m, &total);
    double u = dv_sampler_uniform(s) * total;
    for (int i = 0; i < keep; i++) {
        if (u < s->prob[i])
            return c[i].id;
        u -= s->prob[i];
    }
    return c[keep - 1].id;   /* rounding left u just past the end */
}

void dv_repetition_penalty(float *logits, int n, const int32_t *ids, size_t n_ids, float penalty,
                           uint8_t *mark)
{
    if (!(penalty > 0) || penalty == 1.0f)
        return;
    /* once per distinct id, as the reference's gather/scatter does */
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= n || mark[id])
            continue;
        mark[id] = 1;
        logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
    }
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] >= 0 && ids[i] < n)
            mark[ids[i]] = 0;
}
