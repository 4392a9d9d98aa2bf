/* The DeepSeek-LLM decoder (HF LlamaForCausalLM) with a KV cache.
 *
 * Prefill runs in chunks of at most CHUNK_ROWS tokens so activation memory is
 * bounded whatever the prompt length; every chunk appends its keys and values
 * to the cache, so a chunked prefill equals a single one. Attention is the
 * blocked running-softmax kernel (kernels/attention.h), causal over the
 * cache: never a [tokens, tokens] score matrix. */
#include "model/llama.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/vmath.h"
#include "kernels/pool.h"
#include "model/arch.h"
#include "weights/qcache.h"

/* 512 rows: 16-bit weights are widened once per chunk, so fewer chunks
 * mean less widening; activations stay ~80 MB at the 7B's sizes. */
#define CHUNK_ROWS 512

typedef struct llama_layer {
    float *attn_norm, *mlp_norm;
    dv_linear q, k, v, o, gate, up, down;
} llama_layer;

struct dv_llama {
    dv_lm_cfg cfg;
    const dv_tensor *embed;   /* [vocab, hidden], rows widened on lookup */
    llama_layer *layers;
    float *final_norm;
    dv_linear lm_head;
    int kv_f16;               /* states cache keys and values as f16 */
    dv_qcache *qcache;        /* the weight cache the quantized rows map, or NULL */
};

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
};

/* ---- binding ------------------------------------------------------------- */

static int get_vec(const dv_checkpoint *ck, const char *name, int64_t n, float **out, dv_err *e)
{
    const dv_tensor *t;
    int64_t shape[1] = { n };
    int rc = dv_checkpoint_get(ck, name, 1, shape, &t, e);
    if (rc)
        return rc;
    *out = dv_tensor_to_f32(t, e);
    return *out ? DOCVL_OK : e->code;
}

static int get_linear(const dv_checkpoint *ck, const char *name, int64_t out, int64_t in, int widen,
                      dv_linear *L, dv_err *e)
{
    const dv_tensor *t;
    int64_t shape[2] = { out, in };
    int rc = dv_checkpoint_get(ck, name, 2, shape, &t, e);
    if (rc)
        return rc;
    if (t->dtype != DV_F32 && t->dtype != DV_BF16 && t->dtype != DV_F16)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "tensor \"%s\" has dtype %s; expected F32, BF16 or F16",
                       name, dv_dtype_name(t->dtype));
    /* LLaMA variants with attention_bias / mlp_bias store "<name>.bias"; the
     * DeepSeek models have none */
    char bname[200];
    size_t len = strlen(name);
    const dv_tensor *b = NULL;
    if (len > 7 && strcmp(name + len - 7, ".weight") == 0 && len < sizeof bname) {
        snprintf(bname, sizeof bname, "%.*s.bias", (int)(len - 7), name);
        int64_t bshape[1] = { out };
        if (dv_checkpoint_find(ck, bname) && (rc = dv_checkpoint_get(ck, bname, 1, bshape, &b, e)))
            return rc;
    }
    return dv_linear_bind(L, t, b, widen, e);
}

/* One decoder matrix to bind: its tensor, shape and how it is held. */
typedef struct lm_matrix {
    char name[DV_QCACHE_NAME_MAX];
    int64_t out, in;
    dv_qfmt qfmt;
    dv_linear *L;
} lm_matrix;

static dv_linear *layer_linear(llama_layer *L, int slot)
{
    switch (slot) {
    case DV_LM_Q: return &L->q;
    case DV_LM_K: return &L->k;
    case DV_LM_V: return &L->v;
    case DV_LM_O: return &L->o;
    case DV_LM_GATE: return &L->gate;
    case DV_LM_UP: return &L->up;
    case DV_LM_DOWN: return &L->down;
    }
    return NULL;
}

static float **layer_vec(llama_layer *L, int slot)
{
    return slot == DV_LM_ATTN_NORM ? &L->attn_norm : slot == DV_LM_MLP_NORM ? &L->mlp_norm : NULL;
}

/* The decoder's module in the family table (model/arch.h). */
static const dv_placed *llm_module(const dv_config *cfg, dv_placed mods[DV_ARCH_MAX_MODULES])
{
    return dv_arch_find(mods, dv_arch_modules(cfg, mods), DV_TOWER_LLM);
}

/* Row `slot`'s weight tensor (repetition i) in the decoder's table. */
static int row_ref(const dv_config *cfg, const dv_placed *p, int slot, int i, dv_tref *t,
                   dv_err *e)
{
    const dv_row *r = dv_module_row(p->mod, slot);
    if (!r)
        return dv_fail(e, DOCVL_EMODEL, "the decoder's table has no row %d", slot);
    return dv_row_tensor(cfg, p, r, i, 0, t, e);
}

static int is_layer_matrix(const dv_row *r)
{
    return r->rep == DV_REP_BLOCKS && r->kind == DV_KIND_LINEAR;
}

static int add_matrix(lm_matrix *x, const dv_tref *t, dv_qfmt qfmt, dv_linear *L, dv_err *e)
{
    size_t len = strlen(t->name);
    if (len >= sizeof x->name)
        return dv_fail(e, DOCVL_ELIMIT, "tensor name too long for the weight cache: %s", t->name);
    memcpy(x->name, t->name, len + 1);
    x->out = t->shape[0];
    x->in = t->shape[1];
    x->qfmt = qfmt;
    x->L = L;
    return DOCVL_OK;
}

/* Every matrix the decoder binds, layer by layer in table order, then the
 * head: the one list that binding, the weight cache's check and its writer
 * share. *per_layer: matrices of one layer. */
static lm_matrix *list_matrices(dv_llama *m, const dv_config *cfg, const dv_placed *p,
                                const dv_lm_weights *w, int *n, int *per_layer, dv_err *e)
{
    const dv_module *mod = p->mod;
    *per_layer = 0;
    for (int k = 0; k < mod->n_rows; k++)
        *per_layer += is_layer_matrix(&mod->rows[k]);
    *n = m->cfg.layers * *per_layer + 1;
    lm_matrix *mats = calloc((size_t)*n, sizeof *mats);
    if (!mats) {
        dv_fail(e, DOCVL_ENOMEM, "out of memory binding the decoder");
        return NULL;
    }
    int j = 0, rc = DOCVL_OK;
    dv_tref t;
    for (int i = 0; !rc && i < m->cfg.layers; i++)
        for (int k = 0; !rc && k < mod->n_rows; k++) {
            const dv_row *r = &mod->rows[k];
            dv_linear *L = is_layer_matrix(r) ? layer_linear(&m->layers[i], r->slot) : NULL;
            if (is_layer_matrix(r) && !L)
                rc = dv_fail(e, DOCVL_EMODEL, "the decoder has no matrix for row %s", r->name);
            else if (L && !(rc = dv_row_tensor(cfg, p, r, i, 0, &t, e)))
                rc = add_matrix(&mats[j++], &t, w->qfmt, L, e);
        }
    if (!rc && !(rc = row_ref(cfg, p, DV_LM_HEAD, -1, &t, e)))
        rc = add_matrix(&mats[j], &t, w->head_qfmt, &m->lm_head, e);
    if (rc) {
        free(mats);
        return NULL;
    }
    return mats;
}

/* Quantizes x's linear when asked, or points it at its rows in the weight
 * cache qc (then its checkpoint pages are never read, not even prefetched);
 * after quantizing, the mapped source is not needed any more. */
static int settle(const dv_checkpoint *ck, const lm_matrix *x, dv_pool *pool, const dv_qcache *qc,
                  dv_err *e)
{
    dv_linear *L = x->L;
    const void *rows = qc && x->qfmt != DV_QNONE
                           ? dv_qcache_rows(qc, x->name, x->qfmt, L->out, L->in) : NULL;
    if (rows) {
        /* the mapping is read-only; the kernels only ever read q */
        L->q = (void *)rows;
        L->q_mapped = 1;
        L->qfmt = x->qfmt;
        L->w = NULL;
        return DOCVL_OK;
    }
    /* a tied head finds no tensor of its name: its source is the embedding
     * table, which stays (rows are looked up) */
    const dv_tensor *t = dv_checkpoint_find(ck, x->name);
    int mapped = t && dv_checkpoint_is_mapped(ck, t);
    if (mapped && x->qfmt != DV_QNONE)
        dv_prefetch_mapped(t->data, t->nbytes);
    int rc = dv_linear_quantize(L, x->qfmt, pool, e);
    if (rc)
        return dv_wrap(e, "quantizing \"%s\"", x->name);
    if (mapped && (x->qfmt != DV_QNONE || L->w_owned)) /* the source is not read again */
        dv_release_mapped(t->data, t->nbytes);
    return DOCVL_OK;
}

static int bind_layer(const dv_config *cfg, const dv_placed *p, const dv_checkpoint *ck, int i,
                      const dv_lm_weights *w, dv_pool *pool, const dv_qcache *qc,
                      const lm_matrix *mats, int n_mats, llama_layer *L, dv_err *e)
{
    int rc, widen = w->qfmt == DV_QNONE && w->widen;
    for (int k = 0; k < p->mod->n_rows; k++) {
        const dv_row *r = &p->mod->rows[k];
        float **v = r->rep == DV_REP_BLOCKS && r->kind == DV_KIND_NORM ? layer_vec(L, r->slot)
                                                                        : NULL;
        dv_tref t;
        if (v && ((rc = dv_row_tensor(cfg, p, r, i, 0, &t, e)) ||
                  (rc = get_vec(ck, t.name, t.shape[0], v, e))))
            return rc;
    }
    for (int j = 0; j < n_mats; j++)
        if ((rc = get_linear(ck, mats[j].name, mats[j].out, mats[j].in, widen, mats[j].L, e)) ||
            (rc = settle(ck, &mats[j], pool, qc, e)))
            return rc;
    return DOCVL_OK;
}

/* Untied models carry lm_head; a tied one reuses the embedding matrix. */
static int bind_head(dv_llama *m, const dv_checkpoint *ck, const dv_lm_weights *w, dv_pool *pool,
                     const dv_qcache *qc, const lm_matrix *head, dv_err *e)
{
    const dv_lm_cfg *c = &m->cfg;
    int widen = w->head_qfmt == DV_QNONE && w->widen, rc;
    if (dv_checkpoint_find(ck, head->name) || !c->tie_word_embeddings)
        rc = get_linear(ck, head->name, c->vocab, c->hidden, widen, &m->lm_head, e);
    else
        rc = dv_linear_bind(&m->lm_head, m->embed, NULL, widen, e);
    return rc ? rc : settle(ck, head, pool, qc, e);
}

/* The cache file of this checkpoint and format, mapped, if it holds exactly
 * the matrices listed (names, formats, shapes); else NULL, and the loader
 * quantizes and rewrites it. *key and *path are set whenever a cache applies;
 * e is set only when there can be none (a shard that cannot be stat()ed). */
static dv_qcache *open_cache(const dv_checkpoint *ck, const dv_lm_weights *w, const lm_matrix *mats,
                             int n, char **key, char **path, dv_err *e)
{
    if (dv_qcache_key(ck, w->qfmt, w->head_qfmt, key, e))
        return NULL;
    if (!(*path = dv_qcache_path(w->cache_dir, ck->dir, w->qfmt, *key))) {
        dv_fail(e, DOCVL_ENOMEM, "out of memory");
        return NULL;
    }
    dv_qcache *qc = dv_qcache_open(*path, *key, NULL);
    int ok = qc && dv_qcache_count(qc) == n;
    for (int i = 0; ok && i < n; i++) {
        const lm_matrix *x = &mats[i];
        ok = dv_qcache_rows(qc, x->name, x->qfmt, (int)x->out, (int)x->in) != NULL;
    }
    if (!ok) {
        dv_qcache_close(qc);
        return NULL;
    }
    dv_qcache_prefetch(qc);
    return qc;
}

/* After quantizing: every matrix's rows into the cache file. Failing to
 * write is no failure of the load: the status carries the reason. */
static void write_cache(const lm_matrix *mats, int n, const char *key, const dv_lm_weights *w,
                        dv_qcache_status *st)
{
    dv_qcache_entry *ents = calloc((size_t)n, sizeof *ents);
    dv_err e = { 0 };
    size_t bytes = 0;
    if (!ents) {
        dv_fail(&e, DOCVL_ENOMEM, "out of memory");
    } else {
        for (int i = 0; i < n; i++)
            ents[i] = (dv_qcache_entry){ .name = mats[i].name, .qfmt = mats[i].L->qfmt,
                                         .rows = mats[i].L->out, .in = mats[i].L->in,
                                         .data = mats[i].L->q };
        uint64_t min_free = w->cache_min_free ? w->cache_min_free : DV_QCACHE_MIN_FREE;
        dv_qcache_write(st->path, key, ents, n, min_free, &bytes, &e);
    }
    free(ents);
    st->bytes = bytes;
    if (e.code)
        st->warning = strdup(e.msg);
    else
        st->written = 1;
}

int dv_llama_bind(const dv_config *cfg, const dv_checkpoint *ck, int widen, dv_llama **out,
                  dv_err *e)
{
    dv_lm_weights w = { .widen = widen, .n_threads = 1 };
    return dv_llama_bind_ex(cfg, ck, &w, out, e);
}

int dv_llama_bind_ex(const dv_config *cfg, const dv_checkpoint *ck, const dv_lm_weights *w,
                     dv_llama **out, dv_err *e)
{
    *out = NULL;
    dv_llama *m = calloc(1, sizeof *m);
    if (!m || !(m->layers = calloc((size_t)cfg->lm.layers, sizeof *m->layers))) {
        free(m);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory binding the decoder");
    }
    m->cfg = cfg->lm;
    m->kv_f16 = w->kv_f16;
    const dv_lm_cfg *c = &m->cfg;
    dv_placed mods[DV_ARCH_MAX_MODULES];
    const dv_placed *p = llm_module(cfg, mods);
    int n_mats = 0, per_layer = 0;
    dv_tref et, nt;
    lm_matrix *mats = p ? list_matrices(m, cfg, p, w, &n_mats, &per_layer, e) : NULL;
    int rc = !p ? dv_fail(e, DOCVL_EMODEL, "the family has no decoder")
             : !mats ? e->code
             : row_ref(cfg, p, DV_LM_EMBED, -1, &et, e);
    if (!rc)
        rc = row_ref(cfg, p, DV_LM_NORM, -1, &nt, e);
    if (!rc)
        rc = dv_checkpoint_get(ck, et.name, et.ndim, et.shape, &m->embed, e);
    if (!rc && m->embed->dtype != DV_F32 && m->embed->dtype != DV_BF16 && m->embed->dtype != DV_F16)
        rc = dv_fail(e, DOCVL_EUNSUPPORTED, "tensor \"%s\" has dtype %s; expected F32, BF16 or F16",
                     m->embed->name, dv_dtype_name(m->embed->dtype));
    /* the cache holds whole quantized decoders only */
    int cached = w->cache_dir && w->qfmt != DV_QNONE && w->head_qfmt != DV_QNONE;
    char *key = NULL;
    dv_qcache_status st = { 0 };
    if (!rc && cached) {
        dv_err ce = { 0 };
        m->qcache = open_cache(ck, w, mats, n_mats, &key, &st.path, &ce);
        if (ce.code) { /* no key, no cache; the load goes on without one */
            st.warning = strdup(ce.msg);
            cached = 0;
        }
        st.used = m->qcache != NULL;
    }
    dv_pool *pool = NULL;
    int quant = !m->qcache && (w->qfmt != DV_QNONE || w->head_qfmt != DV_QNONE);
    if (!rc && quant)
        rc = dv_pool_new(w->n_threads > 0 ? w->n_threads : dv_cpu_count(), &pool, e);
    for (int i = 0; !rc && i < c->layers; i++)
        rc = bind_layer(cfg, p, ck, i, w, pool, m->qcache, mats + i * per_layer, per_layer,
                        &m->layers[i], e);
    if (!rc)
        rc = get_vec(ck, nt.name, nt.shape[0], &m->final_norm, e);
    if (!rc)
        rc = bind_head(m, ck, w, pool, m->qcache, &mats[n_mats - 1], e);
    dv_pool_free(pool);
    if (!rc && cached && m->qcache)
        st.bytes = dv_qcache_size(m->qcache);
    else if (!rc && cached)
        write_cache(mats, n_mats, key, w, &st);
    free(key);
    free(mats);
    if (rc) {
        dv_qcache_status_free(&st);
        dv_wrap(e, "binding the language model");
        dv_llama_free(m);
        return rc;
    }
    if (w->cache_status)
        *w->cache_status = st;
    else
        dv_qcache_status_free(&st);
    *out = m;
    return DOCVL_OK;
}

void dv_llama_free(dv_llama *m)
{
    if (!m)
        return;
    for (int i = 0; m->layers && i < m->cfg.layers; i++) {
        llama_layer *L = &m->layers[i];
        free(L->attn_norm);
        free(L->mlp_norm);
        dv_linear *lin[] = { &L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down };
        for (size_t j = 0; j < sizeof lin / sizeof lin[0]; j++)
            dv_linear_free(lin[j]);
    }
    free(m->layers);
    free(m->final_norm);
    dv_linear_free(&m->lm_head);
    dv_qcache_close(m->qcache); /* after the linears whose rows it holds */
    free(m);
}

const dv_lm_cfg *dv_llama_cfg(const dv_llama *m) { return &m->cfg; }

size_t dv_llama_weight_bytes(const dv_llama *m)
{
    size_t n = dv_linear_weight_bytes(&m->lm_head);
    for (int i = 0; i < m->cfg.layers; i++) {
        const llama_layer *L = &m->layers[i];
        const dv_linear *lin[] = { &L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down };
        for (size_t j = 0; j < sizeof lin / sizeof lin[0]; j++)
            n += dv_linear_weight_bytes(lin[j]);
    }
    return n;
}

/* ---- state ---------------------------------------------------------------- */

static float *alloc_f(size_t n, int *fail)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        *fail = 1;
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
    if (!(s->kc = malloc(kv_bytes ? kv_bytes : 1)) || !(s->vc = malloc(kv_bytes ? kv_bytes : 1)))
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
    dv_pool_free(s->pool);
    free(s);
}

int dv_llama_kv_elem_bytes(const dv_llama *m) { return m->kv_f16 ? 2 : 4; }

void dv_llama_state_reset(dv_llama_state *s) { s->pos = 0; }
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
static void rope_tables(const dv_lm_cfg *c, int pos0, int n, float *cosv, float *sinv)
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

/* Causal attention of the chunk's queries over everything cached so far
 * (this chunk's keys included). */
static int attention(dv_llama_state *s, int li, int n, const dv_ctx *ctx, dv_err *e)
{
    const dv_lm_cfg *c = &s->m->cfg;
    size_t layer_off = (size_t)li * s->cap * s->kv_dim;
    dv_attn a = { .n_q = n, .n_kv = s->pos + n, .n_heads = c->heads, .n_kv_heads = c->kv_heads,
                  .head_dim = c->head_dim, .q = s->q, .q_stride = (size_t)c->hidden,
                  .k = kv_at(s, s->kc, layer_off), .k_stride = s->kv_dim,
                  .v = kv_at(s, s->vc, layer_off), .v_stride = s->kv_dim, .kv_f16 = s->kv_f16,
                  .out = s->att, .out_stride = (size_t)c->hidden,
                  .scale = (float)(1.0 / sqrt((double)c->head_dim)), .causal = 1, .q_pos0 = s->pos };
    return dv_attention(&a, s->attn_scratch, ctx, e);
}

static int layer_forward(dv_llama_state *s, int li, int n, const dv_ctx *ctx, dv_err *e)
{
    const dv_lm_cfg *c = &s->m->cfg;
    const llama_layer *L = &s->m->layers[li];
    size_t H = (size_t)c->hidden, cache = ((size_t)li * s->cap + (size_t)s->pos) * s->kv_dim;
    /* an f16 cache takes the new rows after RoPE, rounded once */
    float *kc = s->kv_f16 ? s->kbuf : kv_at(s, s->kc, cache);
    float *vc = s->kv_f16 ? s->vbuf : kv_at(s, s->vc, cache);

    dv_rmsnorm(s->x, s->xn, n, c->hidden, L->attn_norm, c->rms_eps);
    const dv_linear *qkv[3] = { &L->q, &L->k, &L->v };
    float *qkv_out[3] = { s->q, kc, vc };
    dv_linear_forward_many(qkv, qkv_out, 3, s->xn, n, ctx);
    rope_apply(s->q, n, c->heads, c->head_dim, H, s->cosv, s->sinv);
    rope_apply(kc, n, c->kv_heads, c->head_dim, s->kv_dim, s->cosv, s->sinv);
    if (s->kv_f16) {
        dv_f32_to_f16_row(kc, kv_at(s, s->kc, cache), n * (int)s->kv_dim);
        dv_f32_to_f16_row(vc, kv_at(s, s->vc, cache), n * (int)s->kv_dim);
    }
    int rc = attention(s, li, n, ctx, e);
    if (rc)
        return rc;
    dv_linear_forward(&L->o, s->att, n, s->tmp, ctx);
    dv_add(s->x, s->tmp, (size_t)n * H);

    dv_rmsnorm(s->x, s->xn, n, c->hidden, L->mlp_norm, c->rms_eps);
    const dv_linear *gu[2] = { &L->gate, &L->up };
    float *gu_out[2] = { s->gate, s->up };
    dv_linear_forward_many(gu, gu_out, 2, s->xn, n, ctx);
    dv_vsilu_mul(s->gate, s->up, (size_t)n * c->intermediate);
    dv_linear_forward(&L->down, s->gate, n, s->tmp, ctx);
    dv_add(s->x, s->tmp, (size_t)n * H);
    return DOCVL_OK;
}

/* Runs n <= s->rows tokens; leaves the final-normed hidden states in s->xn. */
static int chunk_forward(dv_llama_state *s, const float *embeds, int n, float *layer0_out,
                         const dv_ctx *ctx, dv_err *e)
{
    const dv_lm_cfg *c = &s->m->cfg;
    size_t H = (size_t)c->hidden;
    memcpy(s->x, embeds, (size_t)n * H * sizeof *s->x);
    rope_tables(c, s->pos, n, s->cosv, s->sinv);
    for (int li = 0; li < c->layers; li++) {
        int rc = layer_forward(s, li, n, ctx, e);
        if (rc)
            return rc;
        if (li == 0 && layer0_out)
            memcpy(layer0_out, s->x, (size_t)n * H * sizeof *s->x);
    }
    dv_rmsnorm(s->x, s->xn, n, c->hidden, s->m->final_norm, c->rms_eps);
    s->pos += n;
    return DOCVL_OK;
}

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
    dv_ctx local = ctx ? *ctx : (dv_ctx){ .n_threads = 1 };
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

static void seam_state_free(void *s) { dv_llama_state_free(s); }
static void seam_state_reset(void *s) { dv_llama_state_reset(s); }
static int seam_state_pos(const void *s) { return dv_llama_state_pos(s); }
static int seam_state_capacity(const void *s) { return dv_llama_state_capacity(s); }

static const dv_decoder_ops LLAMA_OPS = {
    seam_embed, seam_forward, seam_state_new, seam_state_free, seam_state_reset, seam_state_pos,
    seam_state_capacity,
};

dv_decoder dv_llama_decoder(const dv_llama *m)
{
    return (dv_decoder){ &LLAMA_OPS, m, m->cfg.vocab, m->cfg.hidden, m->cfg.max_pos };
}
