#include "kernels/attention.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pool.h"
#include "kernels/quant.h"

/* 64 queries x 256 keys of scores = 64 KiB: stays in L2 with the q/k/v
 * panels the two sgemm calls read. */
#define BLOCK_Q 64
#define BLOCK_K 256
#define MAX_WORKERS 64
/* Scores a worker thread must have to be worth starting (~1 ms of work):
 * a decode step's few thousand scores stay on the caller's thread. */
#define MIN_SCORES_PER_WORKER (1 << 17)

typedef struct attn_work {
    float *s;      /* [BLOCK_Q, BLOCK_K] scores, then probabilities */
    float *o;      /* [BLOCK_Q, head_dim] unnormalised output */
    float *m, *l;  /* running row max and row sum */
} attn_work;

size_t dv_attention_scratch_floats(const dv_attn *a)
{
    return (size_t)BLOCK_Q * BLOCK_K + (size_t)BLOCK_Q * a->head_dim + 2 * BLOCK_Q;
}

static int check_args(const dv_attn *a, dv_err *e)
{
    if (a->n_q < 0 || a->n_kv <= 0 || a->n_heads <= 0 || a->head_dim <= 0 || a->n_kv_heads <= 0 ||
        a->n_heads % a->n_kv_heads || !a->q || !a->k || !a->v || !a->out)
        return dv_fail(e, DOCVL_EINVAL,
                       "attention over %d queries, %d keys, %d/%d heads of %d is not valid",
                       a->n_q, a->n_kv, a->n_heads, a->n_kv_heads, a->head_dim);
    if (a->causal && a->q_pos0 < 0)
        return dv_fail(e, DOCVL_EINVAL, "causal attention from position %d", a->q_pos0);
    return DOCVL_OK;
}

/* Masks keys beyond each query's position (causal), then folds the block
 * into the running max/sum and rescales the accumulated output rows. */
static void online_softmax(const dv_attn *a, attn_work *w, int q0, int nq, int k0, int nk)
{
    for (int i = 0; i < nq; i++) {
        float *s = w->s + (size_t)i * BLOCK_K;
        int valid = nk;
        if (a->causal) {
            int last = a->q_pos0 + q0 + i - k0;   /* last visible key in this block */
            valid = last + 1 < nk ? (last + 1 > 0 ? last + 1 : 0) : nk;
        }
        float mx = w->m[i];
        for (int j = 0; j < valid; j++)
            mx = s[j] > mx ? s[j] : mx;
        if (mx == -INFINITY)
            valid = 0;  /* every key masked by the bias so far */
        float corr = w->m[i] == -INFINITY ? 0.0f : expf(w->m[i] - mx);
        float sum = 0.0f;
        for (int j = 0; j < valid; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        for (int j = valid; j < nk; j++)
            s[j] = 0.0f;
        if (valid == 0)
            continue;   /* nothing visible: keep the row's state as it is */
        w->l[i] = w->l[i] * corr + sum;
        w->m[i] = mx;
        float *o = w->o + (size_t)i * a->head_dim;
        for (int d = 0; d < a->head_dim; d++)
            o[d] *= corr;
    }
}

static void query_block(const dv_attn *a, attn_work *w, int h, int q0, int nq)
{
    int hd = a->head_dim, kvh = h / (a->n_heads / a->n_kv_heads);
    const float *q = a->q + (size_t)q0 * a->q_stride + (size_t)h * hd;
    const float *k = a->k + (size_t)kvh * hd, *v = a->v + (size_t)kvh * hd;
    for (int i = 0; i < nq; i++) {
        w->m[i] = -INFINITY;
        w->l[i] = 0.0f;
    }
    memset(w->o, 0, (size_t)nq * hd * sizeof *w->o);
    int k_end = a->n_kv;
    if (a->causal && a->q_pos0 + q0 + nq < k_end)
        k_end = a->q_pos0 + q0 + nq;
    for (int k0 = 0; k0 < k_end; k0 += BLOCK_K) {
        int nk = k_end - k0 < BLOCK_K ? k_end - k0 : BLOCK_K;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, hd, a->scale, q,
                    (int)a->q_stride, k + (size_t)k0 * a->k_stride, (int)a->k_stride, 0.0f, w->s,
                    BLOCK_K);
        if (a->bias)
            a->bias(a->bias_user, h, q0, nq, k0, nk, w->s, BLOCK_K);
        online_softmax(a, w, q0, nq, k0, nk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, nk, 1.0f, w->s, BLOCK_K,
                    v + (size_t)k0 * a->v_stride, (int)a->v_stride, 1.0f, w->o, hd);
    }
    for (int i = 0; i < nq; i++) {
        float inv = w->l[i] > 0.0f ? 1.0f / w->l[i] : 0.0f;
        float *out = a->out + (size_t)(q0 + i) * a->out_stride + (size_t)h * hd;
        for (int d = 0; d < hd; d++)
            out[d] = w->o[(size_t)i * hd + d] * inv;
    }
}

/* One worker's share: (head, query block) items t, t + n, t + 2n, ... */
typedef struct attn_job {
    const dv_attn *a;
    float *buf;
    int first, step;
} attn_job;

static void *attn_worker(void *arg)
{
    const attn_job *j = arg;
    const dv_attn *a = j->a;
    attn_work w = { .s = j->buf, .o = j->buf + (size_t)BLOCK_Q * BLOCK_K };
    w.m = w.o + (size_t)BLOCK_Q * a->head_dim;
    w.l = w.m + BLOCK_Q;
    int qblocks = (a->n_q + BLOCK_Q - 1) / BLOCK_Q;
    for (int it = j->first; it < a->n_heads * qblocks; it += j->step) {
        int h = it / qblocks, q0 = it % qblocks * BLOCK_Q;
        query_block(a, &w, h, q0, a->n_q - q0 < BLOCK_Q ? a->n_q - q0 : BLOCK_Q);
    }
    return NULL;
}

/* Starts workers 1..n-1, each with its own scratch; returns how many
 * threads (the caller's included) will run. A worker that cannot start is
 * not an error: the caller's thread takes its items. */
static int spawn_workers(attn_job *jobs, pthread_t *tid, int n, size_t per)
{
    for (int t = 1; t < n; t++) {
        jobs[t].step = n;
        if (!(jobs[t].buf = malloc(per * sizeof(float))))
            return t;
        if (pthread_create(&tid[t], NULL, attn_worker, &jobs[t])) {
            free(jobs[t].buf);
            return t;
        }
    }
    return n;
}

/* After a partial start, the started workers keep their stride n; the
 * caller covers the items of the missing ones too. */
static void run_caller_share(attn_job *self, int started, int n)
{
    for (int t = 0; t < n; t++)
        if (t == 0 || t >= started) {
            attn_job j = *self;
            j.first = t;
            j.step = n;
            attn_worker(&j);
        }
}

/* ---- a few queries (one-token decoding) ----
 * Blocks and sgemm do not pay for one query row: plain dot products over the
 * cache, the (head, query) rows split over the context's pool. No BLAS call,
 * so OpenBLAS's threads stay asleep between decoding steps. */
#define FEW_QUERIES 4

typedef struct few_job {
    const dv_attn *a;
    int simd, failed;
} few_job;

static void few_row(const dv_attn *a, int h, int i, float *s, int simd)
{
    int hd = a->head_dim, kvh = h / (a->n_heads / a->n_kv_heads);
    const float *q = a->q + (size_t)i * a->q_stride + (size_t)h * hd;
    const float *k = a->k + (size_t)kvh * hd, *v = a->v + (size_t)kvh * hd;
    float *out = a->out + (size_t)i * a->out_stride + (size_t)h * hd;
    int nk = a->n_kv;
    if (a->causal && a->q_pos0 + i + 1 < nk)
        nk = a->q_pos0 + i + 1;
    memset(out, 0, (size_t)hd * sizeof *out);
    if (nk <= 0)
        return;
    float mx = -INFINITY, sum = 0.0f;
    for (int j = 0; j < nk; j++) {
        s[j] = a->scale * dv_f32_dot(q, k + (size_t)j * a->k_stride, hd, simd);
        mx = s[j] > mx ? s[j] : mx;
    }
    for (int j = 0; j < nk; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    for (int j = 0; j < nk; j++)
        dv_f32_axpy(out, s[j] / sum, v + (size_t)j * a->v_stride, hd, simd);
}

static void few_part(void *arg, int part, int n_parts)
{
    few_job *j = arg;
    const dv_attn *a = j->a;
    int lo, hi;
    dv_pool_range(a->n_heads * a->n_q, 1, part, n_parts, &lo, &hi);
    if (lo >= hi)
        return;
    float *s = malloc((size_t)a->n_kv * sizeof *s);
    if (!s) {
        j->failed = 1; /* benign race: every writer stores 1 */
        return;
    }
    for (int it = lo; it < hi; it++)
        few_row(a, it % a->n_heads, it / a->n_heads, s, j->simd);
    free(s);
}

static int few_queries(const dv_attn *a, const dv_ctx *ctx, dv_err *e)
{
    few_job j = { .a = a, .simd = dv_cpu_has_avx2_fma() };
    dv_pool_run(ctx ? ctx->pool : NULL, few_part, &j);
    if (j.failed)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for attention scores over %d keys", a->n_kv);
    return DOCVL_OK;
}

int dv_attention(const dv_attn *a, float *scratch, const dv_ctx *ctx, dv_err *e)
{
    int rc = check_args(a, e);
    if (rc)
        return rc;
    if (a->n_q <= FEW_QUERIES && !a->bias)
        return few_queries(a, ctx, e);
    size_t per = dv_attention_scratch_floats(a);
    int items = a->n_heads * ((a->n_q + BLOCK_Q - 1) / BLOCK_Q);
    int n = ctx && ctx->n_threads > 1 ? ctx->n_threads : 1;
    double scores = (double)a->n_q * a->n_kv * a->n_heads;
    if (n > scores / MIN_SCORES_PER_WORKER)
        n = (int)(scores / MIN_SCORES_PER_WORKER);
    n = n > MAX_WORKERS ? MAX_WORKERS : n > items ? items : n;
    n = n < 1 ? 1 : n;
    attn_job jobs[MAX_WORKERS];
    pthread_t tid[MAX_WORKERS];
    for (int t = 0; t < n; t++)
        jobs[t] = (attn_job){ .a = a, .first = t, .step = n };
    jobs[0].buf = scratch ? scratch : malloc(per * sizeof(float));
    if (!jobs[0].buf)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for attention scratch");
    /* The block products are too small for OpenBLAS's own threads (their
     * wake-up costs more than the product): the threads of the budget run
     * (head, query block) items instead, each with a single-threaded BLAS. */
    dv_ctx one = { .n_threads = 1 };
    dv_ctx_apply(&one);
    int started = spawn_workers(jobs, tid, n, per);
    run_caller_share(&jobs[0], started, n);
    for (int t = 1; t < started; t++) {
        pthread_join(tid[t], NULL);
        free(jobs[t].buf);
    }
    if (jobs[0].buf != scratch)
        free(jobs[0].buf);
    dv_ctx_apply(ctx);
    return DOCVL_OK;
}
