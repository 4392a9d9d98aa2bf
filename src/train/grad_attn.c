#include "train/grad_attn.h"


#include "kernels/vmath.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Query rows per block: as many as keep a block of scores within 1 MiB
 * (64 rows x 4096 keys: SAM's global attention at full size; a 256-token
 * tower's whole attention), two such blocks in the backward; fewer products
 * of more rows each run nearer sgemm's speed. Causal attention keeps 64-row
 * blocks: a block computes the scores up to its last row, so larger blocks
 * would compute more of the masked half. */
#define BLOCK_FLOATS (64 * 4096)
#define BQ_CAUSAL 64

static int rows_of(int n, int causal)
{
    int rows = causal ? BQ_CAUSAL : BLOCK_FLOATS / n;
    return rows < BQ_CAUSAL ? BQ_CAUSAL : rows > n ? n : rows;
}

static int block_rows(const tg_attn *a) { return rows_of(a->n, a->causal); }

/* Floats of one head's kept probabilities (its query blocks one after
 * another, each [rows, keys it sees]). */
static size_t head_p_floats(int n, int causal)
{
    size_t sum = 0;
    for (int q0 = 0, bq = rows_of(n, causal); q0 < n; q0 += bq) {
        int nq = n - q0 < bq ? n - q0 : bq;
        sum += (size_t)nq * (causal ? q0 + nq : n);
    }
    return sum;
}

size_t tg_attn_p_floats(int n, int n_heads, int causal)
{
    return n > 0 && n_heads > 0 ? (size_t)n_heads * head_p_floats(n, causal) : 0;
}

static int check(const tg_attn *a, dv_err *e)
{
    if (a->n <= 0 || a->n_heads <= 0 || a->n_kv_heads <= 0 || a->n_heads % a->n_kv_heads ||
        a->head_dim <= 0 || (a->rel_g && (a->n_heads != 1 || a->rel_g * a->rel_g != a->n)))
        return dv_fail(e, DOCVL_EINVAL, "training attention over %d tokens, %d/%d heads of %d, "
                       "rel grid %d is not valid", a->n, a->n_heads, a->n_kv_heads, a->head_dim,
                       a->rel_g);
    return DOCVL_OK;
}

/* Keys a query block can see: all, or up to its last row when causal. */
static int key_end(const tg_attn *a, int q0, int nq)
{
    return a->causal ? q0 + nq : a->n;
}

/* Raw scores of queries q0.. of head h against keys 0..nk-1 into s [nq, nk]:
 * scale * q.k + relative-position bias, -inf beyond the causal edge. */
static void scores(const tg_attn *a, int h, int q0, int nq, int nk, float *s)
{
    int hd = a->head_dim, kvh = h / (a->n_heads / a->n_kv_heads);
    const float *q = a->q + (size_t)q0 * a->q_stride + (size_t)h * hd;
    dv_sgemm(a->gemm, 0, 1, nq, nk, hd, a->scale, q, (int)a->q_stride, a->k + (size_t)kvh * hd,
             (int)a->k_stride, 0.0f, s, nk);
    for (int i = 0; i < nq; i++) {
        float *row = s + (size_t)i * nk;
        if (a->rel_g) {   /* keys are the whole g x g grid (check() ensured it) */
            int g = a->rel_g;
            const float *rh = a->rel_h + (size_t)(q0 + i) * g;
            const float *rw = a->rel_w + (size_t)(q0 + i) * g;
            for (int kh = 0; kh < g; kh++)
                for (int kw = 0; kw < g; kw++)
                    row[kh * g + kw] += rh[kh] + rw[kw];
        }
        if (a->causal)
            for (int j = q0 + i + 1; j < nk; j++)
                row[j] = -INFINITY;
    }
}

int tg_attn_fwd(const tg_attn *a, dv_err *e)
{
    int rc = check(a, e);
    if (rc)
        return rc;
    int bq = block_rows(a);
    float *own = a->p ? NULL : malloc((size_t)bq * a->n * sizeof *own);
    if (!a->p && !own)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for attention scores over %d keys", a->n);
    int hd = a->head_dim;
    size_t kept = 0;   /* where the next block's probabilities go in a->p */
    for (int h = 0; h < a->n_heads; h++) {
        int kvh = h / (a->n_heads / a->n_kv_heads);
        for (int q0 = 0; q0 < a->n; q0 += bq) {
            int nq = a->n - q0 < bq ? a->n - q0 : bq, nk = key_end(a, q0, nq);
            float *s = a->p ? a->p + kept : own;
            kept += (size_t)nq * nk;
            scores(a, h, q0, nq, nk, s);
            dv_vsoftmax_lse(s, (size_t)nq, (size_t)nk, a->lse + (size_t)h * a->n + q0);
            dv_sgemm(a->gemm, 0, 0, nq, hd, nk, 1.0f, s, nk, a->v + (size_t)kvh * hd,
                     (int)a->v_stride, 0.0f, a->out + (size_t)q0 * a->out_stride + (size_t)h * hd,
                     (int)a->out_stride);
        }
    }
    free(own);
    return DOCVL_OK;
}

/* Relative-position bias gradient: each score's dS lands on its query's
 * rel_h[kh] and rel_w[kw] entries. */
static void rel_grads(const tg_attn *a, const tg_attn_grads *g, int q0, int nq, int nk,
                      const float *ds)
{
    int G = a->rel_g;
    (void)nk;   /* == G * G */
    for (int i = 0; i < nq; i++) {
        const float *row = ds + (size_t)i * G * G;
        float *dh = g->drel_h ? g->drel_h + (size_t)(q0 + i) * G : NULL;
        float *dw = g->drel_w ? g->drel_w + (size_t)(q0 + i) * G : NULL;
        for (int kh = 0; kh < G; kh++) {
            const float *r = row + (size_t)kh * G;
            float sum = 0;
            for (int kw = 0; kw < G; kw++) {
                sum += r[kw];
                if (dw)
                    dw[kw] += r[kw];
            }
            if (dh)
                dh[kh] += sum;
        }
    }
}

/* One query block of one head: P kept by the forward pass, or
 * recomputed into p from the saved log-sum-exp; dP = dO V^T,
 * dS = P (dP - rowsum(P dP)), then dQ, dK, dV by sgemm. */
static void block_bwd(const tg_attn *a, const tg_attn_grads *g, int h, int q0, int nq,
                      const float *kept, float *p, float *dp, float beta_q, float beta_kv)
{
    int hd = a->head_dim, kvh = h / (a->n_heads / a->n_kv_heads), nk = key_end(a, q0, nq);
    const float *q = a->q + (size_t)q0 * a->q_stride + (size_t)h * hd;
    const float *dout = g->dout + (size_t)q0 * g->dout_stride + (size_t)h * hd;
    if (!kept) {
        scores(a, h, q0, nq, nk, p);
        dv_vexp_rows(p, (size_t)nq, (size_t)nk, a->lse + (size_t)h * a->n + q0);
        kept = p;
    }
    if (g->dv)
        dv_sgemm(a->gemm, 1, 0, nk, hd, nq, 1.0f, kept, nk, dout, (int)g->dout_stride, beta_kv,
                 g->dv + (size_t)kvh * hd, (int)a->v_stride);
    dv_sgemm(a->gemm, 0, 1, nq, nk, hd, 1.0f, dout, (int)g->dout_stride, a->v + (size_t)kvh * hd,
             (int)a->v_stride, 0.0f, dp, nk);
    dv_vsoftmax_grad(kept, dp, (size_t)nq, (size_t)nk);   /* dS, unscaled */
    if (a->rel_g)
        rel_grads(a, g, q0, nq, nk, dp);
    if (g->dq)
        dv_sgemm(a->gemm, 0, 0, nq, hd, nk, a->scale, dp, nk, a->k + (size_t)kvh * hd,
                 (int)a->k_stride, beta_q, g->dq + (size_t)q0 * a->q_stride + (size_t)h * hd,
                 (int)a->q_stride);
    if (g->dk)
        dv_sgemm(a->gemm, 1, 0, nk, hd, nq, a->scale, dp, nk, q, (int)a->q_stride, beta_kv,
                 g->dk + (size_t)kvh * hd, (int)a->k_stride);
}

int tg_attn_bwd(const tg_attn *a, const tg_attn_grads *g, dv_err *e)
{
    int rc = check(a, e);
    if (rc)
        return rc;
    int bq = block_rows(a), nb = (a->n + bq - 1) / bq, group = a->n_heads / a->n_kv_heads;
    /* dP, and P's block where the forward kept none; each block's place in
     * a head's kept probabilities */
    float *dp = malloc((size_t)(a->p ? 1 : 2) * bq * a->n * sizeof *dp);
    size_t *at = malloc(((size_t)nb + 1) * sizeof *at);
    if (!dp || !at) {
        free(dp), free(at);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for attention gradients over %d keys",
                       a->n);
    }
    at[0] = 0;
    for (int b = 0; b < nb; b++) {
        int q0 = b * bq, nq = a->n - q0 < bq ? a->n - q0 : bq;
        at[b + 1] = at[b] + (size_t)nq * key_end(a, q0, nq);
    }
    /* writing: the last block first (it sees every key), so that it writes
     * dk and dv where a group of heads begins and the other blocks add */
    for (int h = 0; h < a->n_heads; h++)
        for (int i = 0; i < nb; i++) {
            int b = g->write ? nb - 1 - i : i, q0 = b * bq, nq = a->n - q0 < bq ? a->n - q0 : bq;
            float beta_q = g->write ? 0.0f : 1.0f;
            float beta_kv = g->write && i == 0 && h % group == 0 ? 0.0f : 1.0f;
            block_bwd(a, g, h, q0, nq, a->p ? a->p + (size_t)h * at[nb] + at[b] : NULL,
                      a->p ? NULL : dp + (size_t)bq * a->n, dp, beta_q, beta_kv);
        }
    free(dp);
    free(at);
    return DOCVL_OK;
}

typedef struct many_job {
    const tg_attn *a;
    const tg_attn_grads *g;
    atomic_int failed;
} many_job;

static void many_chunk(void *arg, int part, int lo, int hi)
{
    (void)part;
    many_job *j = arg;
    for (int i = lo; i < hi; i++) {
        dv_err e = { 0 };   /* the arguments were checked: only memory can fail */
        if (j->g ? tg_attn_bwd(&j->a[i], &j->g[i], &e) : tg_attn_fwd(&j->a[i], &e))
            atomic_store(&j->failed, 1);
    }
}

int tg_attn_many(dv_pool *tp, const tg_attn *a, const tg_attn_grads *g, int count, dv_err *e)
{
    for (int i = 0; i < count; i++) {
        int rc = check(&a[i], e);
        if (rc)
            return rc;
    }
    many_job j = { .a = a, .g = g };
    atomic_init(&j.failed, 0);
    dv_pool_for_parts(tp, count, 1, many_chunk, &j);
    return atomic_load(&j.failed)
               ? dv_fail(e, DOCVL_ENOMEM, "out of memory for attention over %d keys", a->n)
               : DOCVL_OK;
}
