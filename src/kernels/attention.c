#include "kernels/attention.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kvrow.h"
#include "kernels/pool.h"
#include "kernels/sgemm512.h"
#include "kernels/vmath.h"

/* 256 queries x 1024 keys of scores = 1 MiB, about this machine's L2 per
 * core. Blocks this large pack each key block once per 256 queries: SAM's
 * 4096-token global attention runs at 185 GFLOP/s on 2 threads against 162
 * with 64 x 256 blocks (the head_dim-64 products are short, so packing
 * weighs). */
#define BLOCK_Q 256
#define BLOCK_K 1024
/* Scores a worker thread must have to be worth waking (~1 ms of work):
 * a decode step's few thousand scores stay on the caller's thread. */
#define MIN_SCORES_PER_WORKER (1 << 17)
/* The same for the multiply-adds of several sequences' decoding attention
 * (dv_attention_many): 8 sequences of the 1.3B at 700 tokens are 23M a
 * layer, a quarter of a batched step on one thread when not split. */
#define MIN_MACS_PER_WORKER (1 << 21)

typedef struct attn_work {
    float *s;      /* [BLOCK_Q, BLOCK_K] scores, then probabilities */
    float *o;      /* [BLOCK_Q, head_dim] unnormalised output */
    float *m, *l;  /* running row max and row sum */
    float *kw, *vw;/* [BLOCK_K, head_dim] a block of an f16 cache, widened */
} attn_work;

size_t dv_attention_scratch_floats(const dv_attn *a)
{
    return (size_t)BLOCK_Q * BLOCK_K + (size_t)BLOCK_Q * a->head_dim + 2 * BLOCK_Q +
           2 * (size_t)BLOCK_K * a->head_dim;
}

static attn_work work_in(float *buf, const dv_attn *a)
{
    attn_work w = { .s = buf, .o = buf + (size_t)BLOCK_Q * BLOCK_K };
    w.m = w.o + (size_t)BLOCK_Q * a->head_dim;
    w.l = w.m + BLOCK_Q;
    w.kw = w.l + BLOCK_Q;
    w.vw = w.kw + (size_t)BLOCK_K * a->head_dim;
    return w;
}

/* Rows [k0, k0 + nk) of kv head kvh: in place for a float cache; widened
 * into dst (rows of head_dim) for an f16 one. *ld gets the row stride. */
static const float *kv_rows(const dv_attn *a, const void *base, size_t stride, int kvh, int k0,
                            int nk, float *dst, int *ld)
{
    int hd = a->head_dim;
    if (!a->kv_f16) {
        *ld = (int)stride;
        return (const float *)base + (size_t)k0 * stride + (size_t)kvh * hd;
    }
    const uint16_t *h = (const uint16_t *)base + (size_t)k0 * stride + (size_t)kvh * hd;
    for (int j = 0; j < nk; j++)
        dv_f16_to_f32_row(h + (size_t)j * stride, dst + (size_t)j * hd, hd);
    *ld = hd;
    return dst;
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
        float bmx = dv_vmax(s, (size_t)valid), mx = bmx > w->m[i] ? bmx : w->m[i];
        if (mx == -INFINITY)
            valid = 0;  /* every key masked by the bias so far */
        float corr = w->m[i] == -INFINITY ? 0.0f : expf(w->m[i] - mx);
        float sum = valid ? dv_vexp_shift_sum(s, (size_t)valid, mx) : 0.0f;
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

static void query_block(const dv_attn *a, dv_gemm g, attn_work *w, int h, int q0, int nq)
{
    int hd = a->head_dim, kvh = h / (a->n_heads / a->n_kv_heads);
    const float *q = a->q + (size_t)q0 * a->q_stride + (size_t)h * hd;
    for (int i = 0; i < nq; i++) {
        w->m[i] = -INFINITY;
        w->l[i] = 0.0f;
    }
    memset(w->o, 0, (size_t)nq * hd * sizeof *w->o);
    int k_end = a->n_kv;
    if (a->causal && a->q_pos0 + q0 + nq < k_end)
        k_end = a->q_pos0 + q0 + nq;
    for (int k0 = 0; k0 < k_end; k0 += BLOCK_K) {
        int nk = k_end - k0 < BLOCK_K ? k_end - k0 : BLOCK_K, kld, vld;
        const float *k = kv_rows(a, a->k, a->k_stride, kvh, k0, nk, w->kw, &kld);
        dv_sgemm(g, 0, 1, nq, nk, hd, a->scale, q, (int)a->q_stride, k, kld, 0.0f, w->s,
                 BLOCK_K);
        if (a->bias)
            a->bias(a->bias_user, h, q0, nq, k0, nk, w->s, BLOCK_K);
        online_softmax(a, w, q0, nq, k0, nk);
        const float *v = kv_rows(a, a->v, a->v_stride, kvh, k0, nk, w->vw, &vld);
        dv_sgemm(g, 0, 0, nq, hd, nk, 1.0f, w->s, BLOCK_K, v, vld, 1.0f, w->o, hd);
    }
    for (int i = 0; i < nq; i++) {
        float inv = w->l[i] > 0.0f ? 1.0f / w->l[i] : 0.0f;
        float *out = a->out + (size_t)(q0 + i) * a->out_stride + (size_t)h * hd;
        for (int d = 0; d < hd; d++)
            out[d] = w->o[(size_t)i * hd + d] * inv;
    }
}

/* (head, query block) items go to the pool's threads, each with its own
 * scratch and a single-threaded BLAS: the block products are too small for
 * OpenBLAS's own threads (their wake-up costs more than the product). */
typedef struct attn_job {
    const dv_attn *a;
    dv_pool *pool;
    dv_gemm gemm;       /* the blocks' products (ctx's) */
    float *scratch0;    /* the caller's, for a NULL pool */
    atomic_int failed;
} attn_job;

static void attn_chunk(void *arg, int part, int lo, int hi)
{
    attn_job *j = arg;
    const dv_attn *a = j->a;
    float *buf = j->pool ? dv_pool_scratch(j->pool, part, dv_attention_scratch_floats(a))
                         : j->scratch0;
    if (!buf) {
        atomic_store(&j->failed, 1);
        return;
    }
    attn_work w = work_in(buf, a);
    int qblocks = (a->n_q + BLOCK_Q - 1) / BLOCK_Q;
    for (int it = lo; it < hi; it++) {
        int h = it / qblocks, q0 = it % qblocks * BLOCK_Q;
        query_block(a, j->gemm, &w, h, q0, a->n_q - q0 < BLOCK_Q ? a->n_q - q0 : BLOCK_Q);
    }
}

/* ---- a few queries (one-token decoding) ----
 * Blocks and sgemm do not pay for one query row: plain dot products over the
 * cache, the (head, query) rows split over the context's pool. No BLAS call,
 * so OpenBLAS's threads stay asleep between decoding steps. */
#define FEW_QUERIES 4

/* Query row i of a over kv heads [g0, g1) (their query heads side by side):
 * every key row read once for all those heads, front to back, then every
 * value row (dv_rows_dot_heads); s holds (g1 - g0) * group rows of scores. */
static void few_rows(const dv_attn *a, int i, int g0, int g1, float *s, int simd)
{
    int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    int h0 = g0 * group, heads = (g1 - g0) * group;
    const float *q = a->q + (size_t)i * a->q_stride + (size_t)h0 * hd;
    float *out = a->out + (size_t)i * a->out_stride + (size_t)h0 * hd;
    int nk = a->n_kv;
    if (a->causal && a->q_pos0 + i + 1 < nk)
        nk = a->q_pos0 + i + 1;
    if (nk <= 0) {
        memset(out, 0, (size_t)heads * hd * sizeof *out);
        return;
    }
    size_t es = a->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    const char *k = (const char *)a->k + (size_t)g0 * hd * es;
    const char *v = (const char *)a->v + (size_t)g0 * hd * es;
    dv_rows_dot_heads(k, a->kv_f16, a->k_stride, nk, heads, group, q, hd, a->scale, s,
                      (size_t)nk, simd);
    for (int t = 0; t < heads; t++) {
        float *st = s + (size_t)t * nk;
        float mx = dv_vmax(st, (size_t)nk), inv = 1.0f / dv_vexp_shift_sum(st, (size_t)nk, mx);
        dv_vscale(st, inv, (size_t)nk);
    }
    dv_rows_weighted_sum_heads(v, a->kv_f16, a->v_stride, nk, heads, group, s, (size_t)nk, hd,
                               out, simd);
}

/* ctx's pool, or NULL where waking its threads would cost more than the
 * scores to compute. */
static dv_pool *scores_pool(const dv_attn *a, const dv_ctx *ctx)
{
    double scores = (double)a->n_q * a->n_kv * a->n_heads;
    return ctx && scores >= 2.0 * MIN_SCORES_PER_WORKER ? ctx->pool : NULL;
}

/* ---- few queries of one or several sequences (decoding, side by side) ---- */

/* An item is (attention, query row, part of its kv heads): `parts` runs of
 * kv heads per row, enough items for every thread. */
typedef struct many_job {
    const dv_attn *a;
    int n, items, parts, simd, failed;
} many_job;

static void many_part(void *arg, int part, int n_parts)
{
    many_job *j = arg;
    int lo, hi, most = 0, heads = 0;
    dv_pool_range(j->items, 1, part, n_parts, &lo, &hi);
    if (lo >= hi)
        return;
    for (int i = 0; i < j->n; i++) {
        most = j->a[i].n_kv > most ? j->a[i].n_kv : most;
        heads = j->a[i].n_heads > heads ? j->a[i].n_heads : heads;
    }
    float *s = malloc((size_t)(most ? most : 1) * (size_t)heads * sizeof *s);
    if (!s) {
        j->failed = 1; /* benign race: every writer stores 1 */
        return;
    }
    /* item `it` is item (it - first) of the attention it falls in */
    int first = 0;
    for (int i = 0; i < j->n && first < hi; i++) {
        const dv_attn *a = &j->a[i];
        int rows = a->n_q * j->parts;
        int from = lo > first ? lo - first : 0, to = hi - first < rows ? hi - first : rows;
        for (int it = from; it < to; it++) {
            int g0, g1;
            dv_pool_range(a->n_kv_heads, 1, it % j->parts, j->parts, &g0, &g1);
            if (g0 < g1)
                few_rows(a, it / j->parts, g0, g1, s, j->simd);
        }
        first += rows;
    }
    free(s);
}

/* Parts per query row: one where the rows alone give every thread two or
 * more (sequences side by side), else the kv heads split so that they do
 * (one sequence: its heads over the threads, each reading its heads' span
 * of every row). */
static int heads_parts(const dv_attn *a, int n, int rows, const dv_pool *pool)
{
    int want = pool ? 2 * dv_pool_threads(pool) : 1, kv = a[0].n_kv_heads;
    for (int i = 1; i < n; i++)
        kv = a[i].n_kv_heads < kv ? a[i].n_kv_heads : kv;
    int parts = rows >= want ? 1 : (want + rows - 1) / rows;
    return parts < kv ? parts : kv;
}

int dv_attention_many(const dv_attn *a, int n, const dv_ctx *ctx, dv_err *e)
{
    double macs = 0;
    int items = 0, rc = DOCVL_OK;
    for (int i = 0; i < n; i++) {
        if (a[i].n_q > FEW_QUERIES || a[i].bias || (rc = check_args(&a[i], e))) {
            for (int k = 0; k < n && !rc; k++)
                rc = dv_attention(&a[k], NULL, ctx, e);
            return rc;
        }
        items += a[i].n_q;
        macs += 2.0 * a[i].n_q * a[i].n_kv * a[i].n_heads * a[i].head_dim;
    }
    dv_pool *pool = ctx && macs >= 2.0 * MIN_MACS_PER_WORKER ? ctx->pool : NULL;
    many_job j = { .a = a, .n = n, .parts = heads_parts(a, n, items, pool),
                   .simd = dv_cpu_has_f16c() };
    j.items = items * j.parts;
    if (pool)
        dv_pool_run(pool, many_part, &j);
    else
        many_part(&j, 0, 1);
    if (j.failed)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the attention scores of %d sequences",
                       n);
    return DOCVL_OK;
}

/* A KV cache a worker must read to be worth waking (~0.1 ms of memory
 * read): a decode step's few scores each read a whole key and value row, and
 * one thread alone gets about half the machine's memory read (the 1.3B at
 * 512-639 tokens of context decoded 19% slower than at 0-128 with its
 * attention on the caller's thread, bench/compare-llama.md). */
#define MIN_KV_BYTES_PER_WORKER (1 << 20)

static dv_pool *few_pool(const dv_attn *a, const dv_ctx *ctx)
{
    double bytes = 2.0 * a->n_kv * a->n_kv_heads * a->head_dim *
                   (a->kv_f16 ? sizeof(uint16_t) : sizeof(float));
    dv_pool *pool = scores_pool(a, ctx);
    return pool || !ctx || bytes < 2.0 * MIN_KV_BYTES_PER_WORKER ? pool : ctx->pool;
}

static int few_queries(const dv_attn *a, const dv_ctx *ctx, dv_err *e)
{
    dv_pool *pool = few_pool(a, ctx);
    many_job j = { .a = a, .n = 1, .parts = heads_parts(a, 1, a->n_q, pool),
                   .simd = dv_cpu_has_f16c() };
    j.items = a->n_q * j.parts;
    if (pool)
        dv_pool_run(pool, many_part, &j);
    else
        many_part(&j, 0, 1);
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
    int items = a->n_heads * ((a->n_q + BLOCK_Q - 1) / BLOCK_Q);
    attn_job j = { .a = a, .pool = scores_pool(a, ctx), .gemm = dv_ctx_gemm(ctx) };
    atomic_init(&j.failed, 0);
    float *own = NULL;
    if (!j.pool)
        j.scratch0 = scratch ? scratch
                             : (own = malloc(dv_attention_scratch_floats(a) * sizeof(float)));
    if (!j.pool && !j.scratch0)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for attention scratch");
    dv_ctx one = { .n_threads = 1 };
    dv_ctx_apply(&one);
    dv_pool_for_parts(j.pool, items, 1, attn_chunk, &j);
    dv_ctx_apply(ctx);
    free(own);
    if (atomic_load(&j.failed))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for attention scratch");
    return DOCVL_OK;
}
