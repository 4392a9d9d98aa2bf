/* Binding the DeepSeek-LLM decoder: its tensors from the family table, each
 * matrix widened, kept 16-bit or block-quantized (kernels/quant.h), or
 * mapped from the weight cache (weights/qcache.h), which this file keeps in
 * step with the checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/pool.h"
#include "model/arch.h"
#include "model/llama_impl.h"

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

/* Quantized matrices repacked once for the integer many-row kernel
 * (dv_linear_prepack): prefill's products and batched decoding steps stop
 * repacking them per call (in a step of 16 tiles the repack took as long
 * as the products; in a step of the 7B's 5 tiles, q4, most of the step).
 * Decoding's one-row products then run on the panels too (faster than the
 * row kernel: kernels/linear.c, on_panels). Held beside the stored rows:
 * 1.11x the q8 bytes, 1x the q4 bytes (4.3 GB for the 7B). DOCVL_PREPACK=0
 * in the environment keeps the per-product repack (the memory back, the
 * speed of before; many-row products the same floats). */
static int prepack_quant(const lm_matrix *mats, int n_mats, const dv_lm_weights *w,
                         dv_pool **pool, dv_err *e)
{
    int any = 0;
    for (int i = 0; i < n_mats; i++)
        any |= mats[i].L->qfmt != DV_QNONE;
    const char *env = getenv("DOCVL_PREPACK");
    if (!any || dv_cpu_qgemm_level() < 2 || (env && strcmp(env, "0") == 0))
        return DOCVL_OK;
    if (!*pool && dv_pool_new(w->n_threads > 0 ? w->n_threads : dv_cpu_count(), pool, e))
        return dv_wrap(e, "starting threads to repack the weights");
    for (int i = 0; i < n_mats; i++)
        if (mats[i].L->qfmt != DV_QNONE)
            dv_linear_prepack(mats[i].L, *pool);
    return DOCVL_OK;
}

/* BF16 matrices, lm_head too, marked for the bf16 products
 * (dv_linear_use_bf16), decoding's one-row products included (the
 * activations rounded): on the panels where they are repacked (anonymous
 * 2 MiB pages: one row of the 1.3B read them at 1.2-1.9x the rate of the
 * mapped checkpoint's 4 KiB pages, docs/speed.md), else on the stored rows
 * (kernels/bgemm.h dv_bg_dot). Repacked once here where the panels (as
 * many bytes as the matrices, held beside the mapped checkpoint) take at
 * most a quarter of the memory: the 1.3B's 2.9 GB, not the 7B's 13 GB,
 * whose products repack per call. DOCVL_PREPACK=0 repacks per call always. */
static int use_bf16(const lm_matrix *mats, int n_mats, const dv_lm_weights *w, dv_pool **pool,
                    dv_err *e)
{
    size_t bytes = 0;
    int any = 0;
    for (int i = 0; i < n_mats; i++)
        if (mats[i].L->dtype == DV_BF16 && mats[i].L->qfmt == DV_QNONE) {
            bytes += dv_linear_weight_bytes(mats[i].L);
            any = 1;
        }
    if (!w->bf16_products || !any || dv_cpu_bgemm_level() < 2)
        return DOCVL_OK;
    const char *env = getenv("DOCVL_PREPACK");
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double phys = pages > 0 && page > 0 ? (double)pages * page : 8e9;
    int prepack = (double)bytes <= phys * 0.25 && !(env && strcmp(env, "0") == 0);
    if (prepack && !*pool &&
        dv_pool_new(w->n_threads > 0 ? w->n_threads : dv_cpu_count(), pool, e))
        return dv_wrap(e, "starting threads to repack the weights");
    for (int i = 0; i < n_mats; i++)
        dv_linear_use_bf16(mats[i].L, prepack, *pool);
    return DOCVL_OK;
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
    m->gemm = dv_gemm_choose();
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
    if (!rc)
        rc = prepack_quant(mats, n_mats, w, &pool, e);
    if (!rc)
        rc = use_bf16(mats, n_mats, w, &pool, e);
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
    dv_llama_rope_init(m);
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
    free(m->rope_cos);
    free(m->rope_sin);
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

