/* The DeepSeek-LLM decoder (HF LlamaForCausalLM) with a KV cache.
 *
 * Prefill runs in chunks of at most CHUNK_ROWS tokens so activation memory is
 * bounded whatever the prompt length; every chunk appends its keys and values
 * to the cache, so a chunked prefill equals a single one. Attention is the
 * blocked running-softmax kernel (kernels/attention.h), causal over the
 * cache: never a [tokens, tokens] score matrix. */
#include "model/llama.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernels/attention.h"
#include "kernels/kvrow.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/vmath.h"
#include "kernels/pool.h"
#include "model/llama_impl.h"

/* 512 rows: 16-bit weights are widened once per chunk, so fewer chunks
 * mean less widening; activations stay ~80 MB at the 7B's sizes. */
#define CHUNK_ROWS 512

struct dv_llama_state {
    const dv_llama *m;
    int cap, pos, rows;
    size_t kv_dim;
    int kv_f16;
    void *kc, *vc;            /* [layers][cap][kv_dim] floats, or halves when kv_f16 */
    float *kbuf, *vbuf;       /* kv_f16: [rows, kv_dim] new keys/values before rounding */
    float *x, *xn, *q, *att, *tmp, *gate, *up;   /* [rows, ...] activations */
    float *cosv, *sinv;       /* [rows, head_dim / 2] */
    float *attn_scratch;      /* one block of scores and its accumulators */
    dv_pool *pool;            /* made on first use when the caller brings none */
    float *batch;             /* the first state of a batched step keeps the batch's */
    size_t batch_floats;      /* activations from token to token */
};

/* ---- state ---------------------------------------------------------------- */

static void *kv_at(const dv_llama_state *s, void *base, size_t off);

static float *alloc_f(size_t n, int *fail)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        *fail = 1;
    return p;
}

/* A KV cache in 2 MiB pages where the kernel gives them: a batched step of
 * 16 tiles writes a new row in 48 places per tile, and a 4 KiB page fault
 * (this virtual machine's slowest operation) every 4 KiB of them took 7% of
 * the step; the attention reads every cached row each step, a TLB miss per
 * 4 KiB row of it in 4 KiB pages. Untouched pages are never resident, so at
 * most one partly used 2 MiB page per layer and cache is the cost. */
static void *kv_alloc(size_t bytes)
{
    size_t huge = (size_t)2 << 20;
    if (bytes < huge)
        return malloc(bytes ? bytes : 1);
    bytes = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, bytes);
    if (p)
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice: without it, 4 KiB pages */
    return p;
}

int dv_llama_state_new(const dv_llama *m, int max_tokens, dv_llama_state **out, dv_err *e)
{
    *out = NULL;
    const dv_lm_cfg *c = &m->cfg;
    if (max_tokens <= 0)
        return dv_fail(e, DOCVL_EINVAL, "KV cache capacity %d: must be positive", max_tokens);
    if (max_tokens > c->max_pos)
        return dv_fail(e, DOCVL_ECONTEXT,
                       "%d tokens exceed the context length %d (max_position_embeddings)",
                       max_tokens, c->max_pos);
    dv_llama_state *s = calloc(1, sizeof *s);
    if (!s)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the decoder state");
    s->m = m;
    s->cap = max_tokens;
    s->rows = max_tokens < CHUNK_ROWS ? max_tokens : CHUNK_ROWS;
    s->kv_dim = (size_t)c->kv_heads * c->head_dim;
    size_t r = (size_t)s->rows, H = (size_t)c->hidden, F = (size_t)c->intermediate;
    size_t kv = (size_t)c->layers * (size_t)max_tokens * s->kv_dim;
    int fail = 0;
    s->kv_f16 = m->kv_f16;
    size_t kv_bytes = kv * (s->kv_f16 ? sizeof(uint16_t) : sizeof(float));
    if (!(s->kc = kv_alloc(kv_bytes)) || !(s->vc = kv_alloc(kv_bytes)))
        fail = 1;
    if (s->kv_f16) {
        s->kbuf = alloc_f(r * s->kv_dim, &fail);
        s->vbuf = alloc_f(r * s->kv_dim, &fail);
    }
    s->x = alloc_f(r * H, &fail);
    s->xn = alloc_f(r * H, &fail);
    s->q = alloc_f(r * H, &fail);
    s->att = alloc_f(r * H, &fail);
    s->tmp = alloc_f(r * H, &fail);
    s->gate = alloc_f(r * F, &fail);
    s->up = alloc_f(r * F, &fail);
    s->cosv = alloc_f(r * (size_t)c->head_dim / 2, &fail);
    s->sinv = alloc_f(r * (size_t)c->head_dim / 2, &fail);
    s->attn_scratch = alloc_f(dv_attention_scratch_floats(&(dv_attn){ .head_dim = c->head_dim }), &fail);
    if (fail) {
        dv_llama_state_free(s);
        return dv_fail(e, DOCVL_ENOMEM,
                       "out of memory for a KV cache of %d tokens (%zu MiB)", max_tokens,
                       kv_bytes * 2 >> 20);
    }
    *out = s;
    return DOCVL_OK;
}

void dv_llama_state_free(dv_llama_state *s)
{
    if (!s)
        return;
    float *bufs[] = { s->x, s->xn, s->q, s->att, s->tmp, s->gate, s->up, s->cosv, s->sinv,
                      s->attn_scratch, s->kbuf, s->vbuf };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(s->kc);
    free(s->vc);
    free(s->batch);
    dv_pool_free(s->pool);
    free(s);
}

int dv_llama_kv_elem_bytes(const dv_llama *m) { return m->kv_f16 ? 2 : 4; }

void dv_llama_state_reset(dv_llama_state *s) { s->pos = 0; }

int dv_llama_state_copy(dv_llama_state *dst, const dv_llama_state *src, dv_err *e)
{
    if (dst->m != src->m)
        return dv_fail(e, DOCVL_EINVAL, "copying a decoder state between two models");
    if (dst->cap < src->pos)
        return dv_fail(e, DOCVL_ECONTEXT, "a state of %d tokens does not fit a cache of %d",
                       src->pos, dst->cap);
    size_t row = src->kv_dim * (size_t)(src->kv_f16 ? sizeof(uint16_t) : sizeof(float));
    for (int li = 0; li < src->m->cfg.layers; li++) {
        memcpy(kv_at(dst, dst->kc, (size_t)li * dst->cap * dst->kv_dim),
               kv_at(src, src->kc, (size_t)li * src->cap * src->kv_dim), row * (size_t)src->pos);
        memcpy(kv_at(dst, dst->vc, (size_t)li * dst->cap * dst->kv_dim),
               kv_at(src, src->vc, (size_t)li * src->cap * src->kv_dim), row * (size_t)src->pos);
    }
    dst->pos = src->pos;
    return DOCVL_OK;
}

int dv_llama_state_rows(const dv_llama_state *s, int li, int pos0, int n, float *k, float *v,
                        dv_err *e)
{
    if (li < 0 || li >= s->m->cfg.layers || pos0 < 0 || n < 0 || pos0 + n > s->pos)
        return dv_fail(e, DOCVL_EINVAL, "rows [%d, %d) of layer %d: the state holds %d tokens of "
                       "%d layers", pos0, pos0 + n, li, s->pos, s->m->cfg.layers);
    size_t at = ((size_t)li * s->cap + (size_t)pos0) * s->kv_dim, cnt = (size_t)n * s->kv_dim;
    if (s->kv_f16) {
        dv_f16_to_f32_row(kv_at(s, s->kc, at), k, (int)cnt);
        dv_f16_to_f32_row(kv_at(s, s->vc, at), v, (int)cnt);
    } else {
        memcpy(k, kv_at(s, s->kc, at), cnt * sizeof *k);
        memcpy(v, kv_at(s, s->vc, at), cnt * sizeof *v);
    }
    return DOCVL_OK;
}

int dv_llama_state_pos(const dv_llama_state *s) { return s->pos; }
int dv_llama_state_capacity(const dv_llama_state *s) { return s->cap; }

/* ---- forward ------------------------------------------------------------- */

int dv_llama_embed(const dv_llama *m, const int32_t *ids, int n, float *out, dv_err *e)
{
    size_t H = (size_t)m->cfg.hidden;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab)
            return dv_fail(e, DOCVL_EINVAL, "token id %d at position %d is outside the vocabulary [0, %d)",
                           (int)ids[i], i, m->cfg.vocab);
        dv_widen(m->embed, (size_t)ids[i] * H, H, out + (size_t)i * H);
    }
    return DOCVL_OK;
}

/* cos/sin of position * theta^(-2j/d) in double: the reference is float64 and
 * long contexts make the angle large enough for float rounding to show. */
static void rope_compute(const dv_lm_cfg *c, int pos0, int n, float *cosv, float *sinv)
{
    int half = c->head_dim / 2;
    for (int j = 0; j < half; j++) {
        double inv_freq = pow((double)c->rope_theta, -2.0 * j / c->head_dim);
        for (int i = 0; i < n; i++) {
            double a = (double)(pos0 + i) * inv_freq;
            cosv[(size_t)i * half + j] = (float)cos(a);
            sinv[(size_t)i * half + j] = (float)sin(a);
        }
    }
}

/* Positions past this many have no table: 8 MiB of them at head_dim 128. */
#define ROPE_TABLE_MAX_POS 16384

void dv_llama_rope_init(dv_llama *m)
{
    const dv_lm_cfg *c = &m->cfg;
    size_t len = (size_t)c->max_pos * (size_t)(c->head_dim / 2);
    if (c->max_pos <= 0 || c->max_pos > ROPE_TABLE_MAX_POS || len == 0)
        return;
    m->rope_cos = malloc(len * sizeof *m->rope_cos);
    m->rope_sin = malloc(len * sizeof *m->rope_sin);
    if (m->rope_cos && m->rope_sin) {
        rope_compute(c, 0, c->max_pos, m->rope_cos, m->rope_sin);
        return;
    }
    free(m->rope_cos);
    free(m->rope_sin);
    m->rope_cos = m->rope_sin = NULL;
}

/* Positions pos0 .. pos0 + n - 1: copied from the model's tables (the same
 * floats rope_compute makes) where it has them. */
static void rope_tables(const dv_llama *m, int pos0, int n, float *cosv, float *sinv)
{
    size_t half = (size_t)m->cfg.head_dim / 2;
    if (!m->rope_cos || pos0 < 0 || pos0 + n > m->cfg.max_pos) {
        rope_compute(&m->cfg, pos0, n, cosv, sinv);
        return;
    }
    memcpy(cosv, m->rope_cos + (size_t)pos0 * half, (size_t)n * half * sizeof *cosv);
    memcpy(sinv, m->rope_sin + (size_t)pos0 * half, (size_t)n * half * sizeof *sinv);
}

/* rotate_half convention: pairs are (j, j + d/2), not adjacent elements. */
static void rope_apply(float *x, int n, int heads, int hd, size_t stride, const float *cosv,
                       const float *sinv)
{
    int half = hd / 2;
    for (int i = 0; i < n; i++) {
        const float *cr = cosv + (size_t)i * half, *sr = sinv + (size_t)i * half;
        for (int h = 0; h < heads; h++) {
            float *v = x + (size_t)i * stride + (size_t)h * hd;
            for (int j = 0; j < half; j++) {
                float a = v[j], b = v[j + half];
                v[j] = a * cr[j] - b * sr[j];
                v[j + half] = b * cr[j] + a * sr[j];
            }
        }
    }
}

/* Element `off` of a cache of floats or halves. */
static void *kv_at(const dv_llama_state *s, void *base, size_t off)
{
    return s->kv_f16 ? (void *)((uint16_t *)base + off) : (void *)((float *)base + off);
}

/* ---- row-wise steps over the pool ----
 * Norms, residual adds, SiLU and RoPE of a prompt's rows: on one thread they
 * were 6% of a 512-row bf16 prefill while the other thread waited. Split by
 * rows, each row computed by the same calls as alone (SiLU row by row: a
 * vector kernel's tail is per call), so the floats do not depend on the
 * split. Few rows (decoding) stay on the calling thread: waking another
 * costs more than they do. */
#define ROWS_SPLIT_FLOATS (1 << 16)

static void rows_for(const dv_ctx *ctx, int n, size_t width, dv_pool_range_fn fn, void *arg)
{
    dv_pool *pool = ctx ? ctx->pool : NULL;
    if (!pool || dv_pool_threads(pool) < 2 || (size_t)n * width < ROWS_SPLIT_FLOATS) {
        fn(arg, 0, n);
        return;
    }
    int parts = 4 * dv_pool_threads(pool);
    dv_pool_for(pool, n, (n + parts - 1) / parts, fn, arg);
}

/* x += add (when add); xn = RMSNorm(x) * w (when w). */
typedef struct residual_job {
    float *x, *xn;
    const float *add, *w;
    int d;
    float eps;
} residual_job;

static void residual_rows(void *arg, int lo, int hi)
{
    const residual_job *j = arg;
    size_t at = (size_t)lo * j->d, len = (size_t)(hi - lo) * j->d;
    if (j->add)
        dv_add(j->x + at, j->add + at, len);
    if (j->w)
        dv_rmsnorm(j->x + at, j->xn + at, hi - lo, j->d, j->w, j->eps);
}

static void residual(float *x, const float *add, float *xn, const float *w, int n,
                     const dv_lm_cfg *c, const dv_ctx *ctx)
{
    residual_job j = { .x = x, .xn = xn, .add = add, .w = w, .d = c->hidden, .eps = c->rms_eps };
    rows_for(ctx, n, (size_t)c->hidden, residual_rows, &j);
}

typedef struct silu_job {
    float *gate;
    const float *up;
    size_t width;
} silu_job;

static void silu_rows(void *arg, int lo, int hi)
{
    const silu_job *j = arg;
    for (size_t i = (size_t)lo; i < (size_t)hi; i++)
        dv_vsilu_mul(j->gate + i * j->width, j->up + i * j->width, j->width);
}

/* gate = SiLU(gate) * up over n rows of the intermediate width. */
static void silu_mul(float *gate, const float *up, int n, const dv_lm_cfg *c, const dv_ctx *ctx)
{
    silu_job j = { .gate = gate, .up = up, .width = (size_t)c->intermediate };
    rows_for(ctx, n, j.width, silu_rows, &j);
}

/* RoPE on the rows of q and k (row i at position table row i); with
 * k16/v16, k and v then rounded to halves there (an f16 cache). */
typedef struct rope_job {
    const dv_lm_cfg *c;
    float *q, *k;
    const float *v, *cosv, *sinv;
    size_t kv_dim;
    uint16_t *k16, *v16;
} rope_job;

static void rope_rows(void *arg, int lo, int hi)
{
    const rope_job *j = arg;
    const dv_lm_cfg *c = j->c;
    size_t H = (size_t)c->hidden, half = (size_t)c->head_dim / 2, kvd = j->kv_dim;
    const float *cosv = j->cosv + (size_t)lo * half, *sinv = j->sinv + (size_t)lo * half;
    rope_apply(j->q + (size_t)lo * H, hi - lo, c->heads, c->head_dim, H, cosv, sinv);
    rope_apply(j->k + (size_t)lo * kvd, hi - lo, c->kv_heads, c->head_dim, kvd, cosv, sinv);
    if (j->k16) {
        size_t at = (size_t)lo * kvd;
        dv_f32_to_f16_row(j->k + at, j->k16 + at, (hi - lo) * (int)kvd);
        dv_f32_to_f16_row(j->v + at, j->v16 + at, (hi - lo) * (int)kvd);
    }
}

static void rope(rope_job *j, int n, const dv_ctx *ctx)
{
    rows_for(ctx, n, (size_t)j->c->hidden, rope_rows, j);
}

/* Causal attention of n queries q (rows of hidden floats) over everything
 * cached so far (their own keys included) into out. */
/* The attention of n new queries of state s over its cache in layer li. */
static dv_attn attention_of(dv_llama_state *s, int li, int n, const float *q, float *out)
{
    const dv_lm_cfg *c = &s->m->cfg;
    size_t layer_off = (size_t)li * s->cap * s->kv_dim;
    return (dv_attn){ .n_q = n, .n_kv = s->pos + n, .n_heads = c->heads,
                      .n_kv_heads = c->kv_heads, .head_dim = c->head_dim, .q = q,
                      .q_stride = (size_t)c->hidden, .k = kv_at(s, s->kc, layer_off),
                      .k_stride = s->kv_dim, .v = kv_at(s, s->vc, layer_off),
                      .v_stride = s->kv_dim, .kv_f16 = s->kv_f16, .out = out,
                      .out_stride = (size_t)c->hidden,
                      .scale = (float)(1.0 / sqrt((double)c->head_dim)), .causal = 1,
                      .q_pos0 = s->pos };
}

static int attention(dv_llama_state *s, int li, int n, const float *q, float *out,
                     const dv_ctx *ctx, dv_err *e)
{
    dv_attn a = attention_of(s, li, n, q, out);
    return dv_attention(&a, s->attn_scratch, ctx, e);
}

/* A layer after its attention (att [n, hidden]): the output projection and
 * the MLP, each added to x; xn, tmp, gate and up are scratch. */
static void layer_tail(const dv_lm_cfg *c, const llama_layer *L, int n, float *x, float *xn,
                       const float *att, float *tmp, float *gate, float *up, const dv_ctx *ctx)
{
    dv_linear_forward(&L->o, att, n, tmp, ctx);
    residual(x, tmp, xn, L->mlp_norm, n, c, ctx);
    const dv_linear *gu[2] = { &L->gate, &L->up };
    float *gu_out[2] = { gate, up };
    dv_linear_forward_many(gu, gu_out, 2, xn, n, ctx);
    silu_mul(gate, up, n, c, ctx);
    dv_linear_forward(&L->down, gate, n, tmp, ctx);
    residual(x, tmp, NULL, NULL, n, c, ctx);
}

static int layer_forward(dv_llama_state *s, int li, int n, const dv_ctx *ctx, dv_err *e)
{
    const dv_lm_cfg *c = &s->m->cfg;
    const llama_layer *L = &s->m->layers[li];
    size_t cache = ((size_t)li * s->cap + (size_t)s->pos) * s->kv_dim;
    /* an f16 cache takes the new rows after RoPE, rounded once */
    float *kc = s->kv_f16 ? s->kbuf : kv_at(s, s->kc, cache);
    float *vc = s->kv_f16 ? s->vbuf : kv_at(s, s->vc, cache);

    residual(s->x, NULL, s->xn, L->attn_norm, n, c, ctx);
    const dv_linear *qkv[3] = { &L->q, &L->k, &L->v };
    float *qkv_out[3] = { s->q, kc, vc };
    dv_linear_forward_many(qkv, qkv_out, 3, s->xn, n, ctx);
    rope_job rj = { .c = c, .q = s->q, .k = kc, .v = vc, .cosv = s->cosv, .sinv = s->sinv,
                    .kv_dim = s->kv_dim, .k16 = s->kv_f16 ? kv_at(s, s->kc, cache) : NULL,
                    .v16 = s->kv_f16 ? kv_at(s, s->vc, cache) : NULL };
    rope(&rj, n, ctx);
    int rc = attention(s, li, n, s->q, s->att, ctx, e);
    if (rc)
        return rc;
    layer_tail(c, L, n, s->x, s->xn, s->att, s->tmp, s->gate, s->up, ctx);
    return DOCVL_OK;
}

/* Runs n <= s->rows tokens; leaves the final-normed hidden states in s->xn. */
static int chunk_forward(dv_llama_state *s, const float *embeds, int n, float *layer0_out,
                         const dv_ctx *ctx, dv_err *e)
{
    const dv_lm_cfg *c = &s->m->cfg;
    size_t H = (size_t)c->hidden;
    memcpy(s->x, embeds, (size_t)n * H * sizeof *s->x);
    rope_tables(s->m, s->pos, n, s->cosv, s->sinv);
    for (int li = 0; li < c->layers; li++) {
        int rc = layer_forward(s, li, n, ctx, e);
        if (rc)
            return rc;
        if (li == 0 && layer0_out)
            memcpy(layer0_out, s->x, (size_t)n * H * sizeof *s->x);
    }
    residual(s->x, NULL, s->xn, s->m->final_norm, n, c, ctx);
    s->pos += n;
    return DOCVL_OK;
}

void dv_llama_set_gemm(dv_llama *m, dv_gemm g) { m->gemm = g; }
dv_gemm dv_llama_gemm(const dv_llama *m) { return m->gemm; }

/* The caller's pool, or one of the state's own sized to the thread budget:
 * made once per sequence, not per token. */
static int state_pool(dv_llama_state *s, dv_ctx *ctx, dv_err *e)
{
    /* a 1-thread pool starts no thread but gives the products their panel */
    if (ctx->pool)
        return DOCVL_OK;
    if (ctx->n_threads < 1)
        ctx->n_threads = 1;
    if (s->pool && dv_pool_threads(s->pool) != ctx->n_threads) {
        dv_pool_free(s->pool);
        s->pool = NULL;
    }
    if (!s->pool) {
        int rc = dv_pool_new(ctx->n_threads, &s->pool, e);
        if (rc)
            return dv_wrap(e, "starting the decoder's threads");
    }
    ctx->pool = s->pool;
    return DOCVL_OK;
}

int dv_llama_forward(const dv_llama *m, dv_llama_state *s, const float *embeds, int n,
                     float *logits, int all_logits, float *layer0_out, const dv_ctx *ctx,
                     dv_err *e)
{
    if (s->m != m)
        return dv_fail(e, DOCVL_EINVAL, "decoder state belongs to another model");
    if (n <= 0)
        return dv_fail(e, DOCVL_EINVAL, "decoder forward of %d tokens", n);
    if (n > s->cap - s->pos)
        return dv_fail(e, DOCVL_ECONTEXT,
                       "%d more tokens after %d exceed the KV cache capacity %d (context length %d)",
                       n, s->pos, s->cap, m->cfg.max_pos);
    dv_ctx local = dv_ctx_with_gemm(ctx, m->gemm);
    int rc = state_pool(s, &local, e);
    if (rc)
        return rc;
    size_t H = (size_t)m->cfg.hidden, V = (size_t)m->cfg.vocab;
    for (int c0 = 0; c0 < n; c0 += s->rows) {
        int cn = n - c0 < s->rows ? n - c0 : s->rows;
        rc = chunk_forward(s, embeds + (size_t)c0 * H, cn,
                               layer0_out ? layer0_out + (size_t)c0 * H : NULL, &local, e);
        if (rc)
            return rc;
        if (logits && all_logits)
            dv_linear_forward(&m->lm_head, s->xn, cn, logits + (size_t)c0 * V, &local);
        else if (logits && c0 + cn == n)
            dv_linear_forward(&m->lm_head, s->xn + (size_t)(cn - 1) * H, 1, logits, &local);
    }
    return DOCVL_OK;
}

/* ---- sequences side by side ----------------------------------------------
 * One token for each of n states: the products read each weight row once for
 * all of them (dv_linear_forward_rows), each state keeps its own cache,
 * position and attention, and every row goes through the arithmetic of a
 * one-token dv_llama_forward, so each state's logits are the same bit for
 * bit as when it decodes alone. */

typedef struct batch_bufs {
    float *x, *xn, *q, *att, *tmp, *k, *v, *gate, *up, *cosv, *sinv;
} batch_bufs;

/* The step's activations, in a block the first state keeps (grown when a
 * batch is larger than any before), not allocated again at every token. */
static int batch_bufs_new(const dv_lm_cfg *c, dv_llama_state *keeper, int n, batch_bufs *b,
                          dv_err *e)
{
    size_t H = (size_t)c->hidden, F = (size_t)c->intermediate, half = (size_t)c->head_dim / 2;
    size_t rows = (size_t)n, kv_dim = keeper->kv_dim;
    size_t need = rows * (5 * H + 2 * kv_dim + 2 * F + 2 * half);
    if (need > keeper->batch_floats) {
        float *grown = realloc(keeper->batch, need * sizeof *grown);
        if (!grown)
            return dv_fail(e, DOCVL_ENOMEM, "out of memory for the activations of %d sequences",
                           n);
        keeper->batch = grown;
        keeper->batch_floats = need;
    }
    float *p = keeper->batch;
    float **parts[] = { &b->x, &b->xn, &b->q, &b->att, &b->tmp, &b->k, &b->v, &b->gate, &b->up,
                        &b->cosv, &b->sinv };
    size_t len[] = { H, H, H, H, H, kv_dim, kv_dim, F, F, half, half };
    for (size_t i = 0; i < sizeof len / sizeof len[0]; i++) {
        *parts[i] = p;
        p += rows * len[i];
    }
    return DOCVL_OK;
}

/* n new key and value rows of state s from its position, as layer_forward
 * leaves them (rounded once to f16 in an f16 cache). */
static void cache_store(dv_llama_state *s, int li, const float *k, const float *v, int n)
{
    size_t at = ((size_t)li * s->cap + (size_t)s->pos) * s->kv_dim, cnt = (size_t)n * s->kv_dim;
    if (s->kv_f16) {
        dv_f32_to_f16_row(k, kv_at(s, s->kc, at), (int)cnt);
        dv_f32_to_f16_row(v, kv_at(s, s->vc, at), (int)cnt);
    } else {
        memcpy(kv_at(s, s->kc, at), k, cnt * sizeof *k);
        memcpy(kv_at(s, s->vc, at), v, cnt * sizeof *v);
    }
}

static int batch_layer(dv_llama_state *const *s, int n, const batch_bufs *b, int li,
                       const dv_ctx *ctx, dv_err *e)
{
    const dv_lm_cfg *c = &s[0]->m->cfg;
    const llama_layer *L = &s[0]->m->layers[li];
    size_t H = (size_t)c->hidden, kvd = s[0]->kv_dim;

    residual(b->x, NULL, b->xn, L->attn_norm, n, c, ctx);
    const dv_linear *qkv[3] = { &L->q, &L->k, &L->v };
    float *qkv_out[3] = { b->q, b->k, b->v };
    dv_linear_forward_rows(qkv, qkv_out, 3, b->xn, n, ctx);
    rope_job rj = { .c = c, .q = b->q, .k = b->k, .cosv = b->cosv, .sinv = b->sinv,
                    .kv_dim = kvd };
    rope(&rj, n, ctx);
    /* every state's attention in one job: 8 states' scores are too many
     * for one thread, while each state's alone are too few to split */
    enum { MANY = 16 };
    for (int i0 = 0; i0 < n; i0 += MANY) {
        int cn = n - i0 < MANY ? n - i0 : MANY;
        dv_attn a[MANY];
        for (int i = i0; i < i0 + cn; i++) {
            cache_store(s[i], li, b->k + i * kvd, b->v + i * kvd, 1);
            a[i - i0] = attention_of(s[i], li, 1, b->q + i * H, b->att + i * H);
        }
        int rc = dv_attention_many(a, cn, ctx, e);
        if (rc)
            return rc;
    }
    const dv_linear *o = &L->o, *down = &L->down;
    dv_linear_forward_rows(&o, &b->tmp, 1, b->att, n, ctx);
    residual(b->x, b->tmp, b->xn, L->mlp_norm, n, c, ctx);
    const dv_linear *gu[2] = { &L->gate, &L->up };
    float *gu_out[2] = { b->gate, b->up };
    dv_linear_forward_rows(gu, gu_out, 2, b->xn, n, ctx);
    silu_mul(b->gate, b->up, n, c, ctx);
    dv_linear_forward_rows(&down, &b->tmp, 1, b->gate, n, ctx);
    residual(b->x, b->tmp, NULL, NULL, n, c, ctx);
    return DOCVL_OK;
}

static int batch_check(const dv_llama *m, dv_llama_state *const *s, int n, dv_err *e)
{
    if (n <= 0)
        return dv_fail(e, DOCVL_EINVAL, "decoder step of %d sequences", n);
    for (int i = 0; i < n; i++) {
        if (s[i]->m != m)
            return dv_fail(e, DOCVL_EINVAL, "decoder state %d belongs to another model", i);
        if (s[i]->pos >= s[i]->cap)
            return dv_fail(e, DOCVL_ECONTEXT,
                           "sequence %d: a token after %d exceeds the KV cache capacity %d", i,
                           s[i]->pos, s[i]->cap);
        for (int j = 0; j < i; j++)
            if (s[j] == s[i])
                return dv_fail(e, DOCVL_EINVAL, "sequences %d and %d share one state", j, i);
    }
    return DOCVL_OK;
}

int dv_llama_forward_batch(const dv_llama *m, dv_llama_state *const *s, int n,
                           const float *embeds, float *logits, const dv_ctx *ctx, dv_err *e)
{
    int rc = batch_check(m, s, n, e);
    if (rc)
        return rc;
    dv_ctx local = dv_ctx_with_gemm(ctx, m->gemm);
    if ((rc = state_pool(s[0], &local, e)))
        return rc;
    const dv_lm_cfg *c = &m->cfg;
    batch_bufs b;
    if ((rc = batch_bufs_new(c, s[0], n, &b, e)))
        return rc;
    size_t H = (size_t)c->hidden, half = (size_t)c->head_dim / 2;
    memcpy(b.x, embeds, (size_t)n * H * sizeof *b.x);
    for (int i = 0; i < n; i++)
        rope_tables(m, s[i]->pos, 1, b.cosv + i * half, b.sinv + i * half);
    for (int li = 0; li < c->layers && !rc; li++)
        rc = batch_layer(s, n, &b, li, &local, e);
    if (!rc) {
        for (int i = 0; i < n; i++)
            s[i]->pos++;
        residual(b.x, NULL, b.xn, m->final_norm, n, c, &local);
        if (logits) {
            const dv_linear *head = &m->lm_head;
            dv_linear_forward_rows(&head, &logits, 1, b.xn, n, &local);
        }
    }
    return rc;
}

/* ---- prompts side by side ------------------------------------------------
 * Several states' prompts at once: the rows of all of them stacked in every
 * product (each weight packed once for all), RoPE, the cache and attention
 * per state. Only where the products give each row what it gets in a
 * prompt alone (dv_linear_rows_stable) and each prompt is one chunk; else
 * one dv_llama_forward after the other. */

/* Whether these prompts may be stacked: each fits its state as one chunk,
 * and every matrix's rows come out as in a product of one prompt. */
static int prefill_stacks(const dv_llama *m, dv_llama_state *const *s, int n, const int *len)
{
    int least = INT_MAX;
    for (int i = 0; i < n; i++) {
        if (s[i]->m != m || len[i] > s[i]->rows || len[i] > s[i]->cap - s[i]->pos)
            return 0;
        for (int j = 0; j < i; j++)
            if (s[j] == s[i])
                return 0;
        least = len[i] < least ? len[i] : least;
    }
    for (int li = 0; li < m->cfg.layers; li++) {
        const llama_layer *L = &m->layers[li];
        const dv_linear *lin[] = { &L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down };
        for (size_t k = 0; k < sizeof lin / sizeof lin[0]; k++)
            if (!dv_linear_rows_stable(lin[k], least))
                return 0;
    }
    return 1;
}

/* One layer over the stacked rows (b holds rows for sum len); as
 * layer_forward does for each state alone. */
static int stacked_layer(dv_llama_state *const *s, int n, const int *len, int rows,
                         const batch_bufs *b, int li, const dv_ctx *ctx, dv_err *e)
{
    const dv_lm_cfg *c = &s[0]->m->cfg;
    const llama_layer *L = &s[0]->m->layers[li];
    size_t H = (size_t)c->hidden, kvd = s[0]->kv_dim;
    residual(b->x, NULL, b->xn, L->attn_norm, rows, c, ctx);
    const dv_linear *qkv[3] = { &L->q, &L->k, &L->v };
    float *qkv_out[3] = { b->q, b->k, b->v };
    dv_linear_forward_many(qkv, qkv_out, 3, b->xn, rows, ctx);
    rope_job rj = { .c = c, .q = b->q, .k = b->k, .cosv = b->cosv, .sinv = b->sinv,
                    .kv_dim = kvd };
    rope(&rj, rows, ctx);
    for (int i = 0, r0 = 0; i < n; r0 += len[i++]) {
        cache_store(s[i], li, b->k + (size_t)r0 * kvd, b->v + (size_t)r0 * kvd, len[i]);
        int rc = attention(s[i], li, len[i], b->q + (size_t)r0 * H, b->att + (size_t)r0 * H, ctx,
                           e);
        if (rc)
            return rc;
    }
    layer_tail(c, L, rows, b->x, b->xn, b->att, b->tmp, b->gate, b->up, ctx);
    return DOCVL_OK;
}

static int prefill_stacked(const dv_llama *m, dv_llama_state *const *s, int n,
                           const float *const *embeds, const int *len, float *logits,
                           dv_ctx *ctx, dv_err *e)
{
    const dv_lm_cfg *c = &m->cfg;
    size_t H = (size_t)c->hidden, half = (size_t)c->head_dim / 2;
    int rows = 0;
    for (int i = 0; i < n; i++)
        rows += len[i];
    batch_bufs b;
    int rc = batch_bufs_new(c, s[0], rows, &b, e);
    for (int i = 0, r0 = 0; i < n && !rc; r0 += len[i++]) {
        memcpy(b.x + (size_t)r0 * H, embeds[i], (size_t)len[i] * H * sizeof *b.x);
        rope_tables(m, s[i]->pos, len[i], b.cosv + (size_t)r0 * half, b.sinv + (size_t)r0 * half);
    }
    for (int li = 0; li < c->layers && !rc; li++)
        rc = stacked_layer(s, n, len, rows, &b, li, ctx, e);
    if (rc)
        return rc;
    residual(b.x, NULL, b.xn, m->final_norm, rows, c, ctx);
    /* each prompt's last row, gathered: the head's one-row products */
    for (int i = 0, r0 = 0; i < n; r0 += len[i++]) {
        s[i]->pos += len[i];
        memmove(b.x + (size_t)i * H, b.xn + (size_t)(r0 + len[i] - 1) * H, H * sizeof *b.x);
    }
    if (logits) {
        const dv_linear *head = &m->lm_head;
        dv_linear_forward_rows(&head, &logits, 1, b.x, n, ctx);
    }
    return DOCVL_OK;
}

int dv_llama_prefill_batch(const dv_llama *m, dv_llama_state *const *s, int n,
                           const float *const *embeds, const int *len, float *logits,
                           const dv_ctx *ctx, dv_err *e)
{
    size_t V = (size_t)m->cfg.vocab;
    if (n <= 0)
        return dv_fail(e, DOCVL_EINVAL, "prefill of %d sequences", n);
    if (n > 1 && prefill_stacks(m, s, n, len)) {
        dv_ctx local = dv_ctx_with_gemm(ctx, m->gemm);
        int rc = state_pool(s[0], &local, e);
        return rc ? rc : prefill_stacked(m, s, n, embeds, len, logits, &local, e);
    }
    for (int i = 0; i < n; i++) {
        int rc = dv_llama_forward(m, s[i], embeds[i], len[i], logits ? logits + i * V : NULL, 0,
                                  NULL, ctx, e);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}

/* ---- the decoder seam (model/decoder.h) ---------------------------------- */

static int seam_embed(const void *m, const int32_t *ids, int n, float *out, dv_err *e)
{
    return dv_llama_embed(m, ids, n, out, e);
}

static int seam_forward(const void *m, void *s, const float *embeds, int n, float *logits,
                        const dv_ctx *ctx, dv_err *e)
{
    return dv_llama_forward(m, s, embeds, n, logits, 0, NULL, ctx, e);
}

static int seam_state_new(const void *m, int max_tokens, void **out, dv_err *e)
{
    dv_llama_state *s = NULL;
    int rc = dv_llama_state_new(m, max_tokens, &s, e);
    *out = s;
    return rc;
}

static int seam_forward_batch(const void *m, void *const *s, int n, const float *embeds,
                              float *logits, const dv_ctx *ctx, dv_err *e)
{
    return dv_llama_forward_batch(m, (dv_llama_state *const *)s, n, embeds, logits, ctx, e);
}

static int seam_prefill_batch(const void *m, void *const *s, int n, const float *const *embeds,
                              const int *len, float *logits, const dv_ctx *ctx, dv_err *e)
{
    return dv_llama_prefill_batch(m, (dv_llama_state *const *)s, n, embeds, len, logits, ctx, e);
}

static int seam_state_copy(void *dst, const void *src, dv_err *e)
{
    return dv_llama_state_copy(dst, src, e);
}

static void seam_state_free(void *s) { dv_llama_state_free(s); }
static void seam_state_reset(void *s) { dv_llama_state_reset(s); }
static int seam_state_pos(const void *s) { return dv_llama_state_pos(s); }
static int seam_state_capacity(const void *s) { return dv_llama_state_capacity(s); }

static const dv_decoder_ops LLAMA_OPS = {
    seam_embed, seam_forward, seam_state_new, seam_state_free, seam_state_reset, seam_state_pos,
    seam_state_capacity, seam_forward_batch, seam_prefill_batch, seam_state_copy,
};

dv_decoder dv_llama_decoder(const dv_llama *m)
{
    return (dv_decoder){ &LLAMA_OPS, m, m->cfg.vocab, m->cfg.hidden, m->cfg.max_pos };
}
