/* The trainable model: parameters from the architecture's schema, module
 * views over them, random init, and one sample's forward + backward pass. */
#include "train/tmodel.h"

#include <glib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "image/resize.h"
#include "train/tmodel_impl.h"

/* ---- parameters ---------------------------------------------------------- */

/* Stage freezing splits SAM into its body and the neck side (docs/training.md). */
static dv_part part_of(const dv_schema_entry *s)
{
    switch (s->tower) {
    case DV_TOWER_SAM: return s->flags & DV_ROW_SAM_NECK ? DV_PART_SAM_NECK : DV_PART_SAM_BODY;
    case DV_TOWER_SIGLIP: return DV_PART_SIGLIP;
    case DV_TOWER_ALIGNER: return DV_PART_ALIGNER;
    default: return DV_PART_LLM;
    }
}

/* Matrices decay; norms, biases, hd_alpha and the position tables (absolute
 * and relative) do not: shrinking those toward zero has no regularising
 * meaning. */
static int decay_of(const dv_schema_entry *s)
{
    return s->ndim >= 2 && !(s->flags & DV_ROW_NODECAY);
}

static size_t spec_numel(const dv_schema_entry *s) { return (size_t)dv_schema_numel(s); }

/* Index of the spec named like spec i with `from` (its name's tail)
 * replaced by `to`, or -1. */
static int sibling_spec(const tm_impl *I, int i, const char *from, const char *to)
{
    const char *name = I->specs[i].name;
    size_t len = strlen(name), lf = strlen(from), lt = strlen(to);
    char want[sizeof I->specs[i].name];
    if (len < lf || strcmp(name + len - lf, from) || len - lf + lt >= sizeof want)
        return -1;
    memcpy(want, name, len - lf);
    memcpy(want + len - lf, to, lt + 1);
    for (int j = 0; j < I->n_specs; j++)
        if (!strcmp(I->specs[j].name, want))
            return j;
    return -1;
}

/* Each used spec's place in the flat buffers: name order, but a decoder
 * layer's o_proj goes before its k_proj, so that k_proj, q_proj and
 * v_proj follow one another as gate_proj and up_proj do, and the step runs
 * each group as one product (grad_llm.c). Names and shapes on disk are
 * not affected. */
static void tensor_offsets(const tm_impl *I, size_t *off)
{
    size_t at = 0;
    for (int i = 0; i < I->n_specs; i++)
        off[i] = SIZE_MAX;
    for (int i = 0; i < I->n_specs; i++) {
        if (!I->specs[i].used || off[i] != SIZE_MAX)
            continue;
        int o = sibling_spec(I, i, ".self_attn.k_proj.weight", ".self_attn.o_proj.weight");
        if (o >= 0 && I->specs[o].used && off[o] == SIZE_MAX) {
            off[o] = at;
            at += spec_numel(&I->specs[o]);
        }
        off[i] = at;
        at += spec_numel(&I->specs[i]);
    }
}

static int alloc_tensors(dv_tmodel *m, tm_impl *I, dv_err *e)
{
    size_t used = 0, unused = 0;
    for (int i = 0; i < I->n_specs; i++) {
        if (I->specs[i].used) {
            used += spec_numel(&I->specs[i]);
            m->n_params++;
        } else {
            unused += spec_numel(&I->specs[i]);
        }
    }
    I->wbuf = calloc(used ? used : 1, sizeof(float));
    I->gbuf = calloc(used ? used : 1, sizeof(float));
    I->unused_buf = calloc(unused ? unused : 1, sizeof(float));
    I->tensor_w = calloc((size_t)I->n_specs + 1, sizeof *I->tensor_w);
    m->params = calloc((size_t)m->n_params + 1, sizeof *m->params);
    size_t *off = malloc(((size_t)I->n_specs + 1) * sizeof *off);
    if (!I->wbuf || !I->gbuf || !I->unused_buf || !I->tensor_w || !m->params || !off) {
        free(off);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %zu parameters (%zu MiB with "
                       "gradients)", used, used * 2 * sizeof(float) >> 20);
    }
    tensor_offsets(I, off);
    size_t uoff = 0;
    int k = 0;
    for (int i = 0; i < I->n_specs; i++) {
        const dv_schema_entry *s = &I->specs[i];
        size_t n = spec_numel(s);
        if (!s->used) {
            I->tensor_w[i] = I->unused_buf + uoff;
            uoff += n;
            continue;
        }
        dv_param *p = &m->params[k++];
        if (!(p->name = strdup(s->name))) {
            free(off);
            return dv_fail(e, DOCVL_ENOMEM, "out of memory for parameter names");
        }
        p->ndim = s->ndim;
        memcpy(p->shape, s->shape, sizeof p->shape);
        p->n = n;
        p->w = I->wbuf + off[i];
        p->g = I->gbuf + off[i];
        p->part = part_of(s);
        p->decay = decay_of(s);
        I->tensor_w[i] = p->w;
    }
    free(off);
    return DOCVL_OK;
}

dv_param *dv_tmodel_param(dv_tmodel *m, const char *name)
{
    int lo = 0, hi = m->n_params - 1;   /* params keep the schema's name order */
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(m->params[mid].name, name);
        if (c == 0)
            return &m->params[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* ---- module views ---------------------------------------------------------- */

/* Each table row's tensor (model/arch.h) lands in one (w, g) field of the
 * trainer's views: these maps go from a row's slot to that field. */
static tg_w *block_field(tg_block *k, int slot, int bias)
{
    switch (slot) {
    case DV_VIT_NORM1: return bias ? &k->n1b : &k->n1w;
    case DV_VIT_QKV: return bias ? &k->qkv_b : &k->qkv_w;
    case DV_VIT_PROJ: return bias ? &k->proj_b : &k->proj_w;
    case DV_VIT_REL_H: return &k->rel_h;
    case DV_VIT_REL_W: return &k->rel_w;
    case DV_VIT_NORM2: return bias ? &k->n2b : &k->n2w;
    case DV_VIT_FC1: return bias ? &k->fc1_b : &k->fc1_w;
    case DV_VIT_FC2: return bias ? &k->fc2_b : &k->fc2_w;
    }
    return NULL;
}

static tg_w *siglip_field(tg_siglip *s, int slot, int i, int bias)
{
    switch (slot) {
    case DV_VIT_PATCH: return bias ? &s->patch_b : &s->patch_w;
    case DV_VIT_POS: return &s->pos;
    case DV_VIT_NORM: return bias ? &s->norm_b : &s->norm_w;
    }
    return i >= 0 && i < s->depth ? block_field(&s->blocks[i], slot, bias) : NULL;
}

static tg_w *neck_field(tg_neck *n, int which, int bias)
{
    tg_w *f[4][2] = { { &n->c1, NULL }, { &n->ln1w, &n->ln1b }, { &n->c3, NULL },
                      { &n->ln2w, &n->ln2b } };
    return f[which][bias];
}

static tg_w *sam_field(tg_sam *s, int slot, int i, int bias)
{
    if (slot >= DV_SAM_NECK_C1 && slot <= DV_SAM_NECK_LN2)
        return neck_field(&s->neck, slot - DV_SAM_NECK_C1, bias);
    if (slot >= DV_SAM_HD_C1 && slot <= DV_SAM_HD_LN2)
        return neck_field(&s->neck_hd, slot - DV_SAM_HD_C1, bias);
    switch (slot) {
    case DV_VIT_PATCH: return bias ? &s->patch_b : &s->patch_w;
    case DV_VIT_POS: return &s->pos;
    case DV_SAM_DOWN0: return &s->down[0];
    case DV_SAM_DOWN1: return &s->down[1];
    case DV_SAM_ALPHA: return &s->alpha;
    }
    return i >= 0 && i < s->layers ? block_field(&s->blocks[i], slot, bias) : NULL;
}

static tg_w *aligner_field(tg_aligner *a, int slot, int i, int bias)
{
    switch (slot) {
    case DV_AL_HIGH: return bias ? &a->high_b : &a->high_w;
    case DV_AL_LOW: return bias ? &a->low_b : &a->low_w;
    case DV_AL_LAYER: return i >= 0 && i < a->n_layers ? bias ? &a->lb[i] : &a->lw[i] : NULL;
    }
    return NULL;
}

static tg_w *llm_field(tg_llm *l, int slot, int i)
{
    switch (slot) {
    case DV_LM_EMBED: return &l->embed;
    case DV_LM_NORM: return &l->norm;
    case DV_LM_HEAD: return &l->head;
    }
    if (i < 0 || i >= l->c.layers)
        return NULL;
    tg_layer *L = &l->layers[i];
    switch (slot) {
    case DV_LM_ATTN_NORM: return &L->attn_norm;
    case DV_LM_Q: return &L->q;
    case DV_LM_K: return &L->k;
    case DV_LM_V: return &L->v;
    case DV_LM_O: return &L->o;
    case DV_LM_MLP_NORM: return &L->mlp_norm;
    case DV_LM_GATE: return &L->gate;
    case DV_LM_UP: return &L->up;
    case DV_LM_DOWN: return &L->down;
    }
    return NULL;
}

static tg_w *view_field(tm_impl *I, const dv_placed *p, const dv_row *r, int i, int bias)
{
    switch (p->mod->tower) {
    case DV_TOWER_SAM: return sam_field(&I->sam, r->slot, i, bias);
    case DV_TOWER_SIGLIP: return siglip_field(&I->sig, r->slot, i, bias);
    case DV_TOWER_ALIGNER: return aligner_field(&I->al, r->slot, i, bias);
    case DV_TOWER_LLM: return llm_field(&I->lm, r->slot, i);
    default: return NULL;
    }
}

static int bind_tensor(void *user, const dv_placed *p, const dv_row *r, int i, int bias,
                       const dv_tref *t, dv_err *e)
{
    dv_tmodel *m = user;
    if (r->flags & DV_ROW_UNUSED)
        return DOCVL_OK;
    tg_w *field = view_field(m->impl, p, r, i, bias);
    dv_param *prm = dv_tmodel_param(m, t->name);
    if (!field || !prm)
        return dv_fail(e, DOCVL_EMODEL, "the trainer has no %s for tensor %s",
                       field ? "parameter" : "view", t->name);
    *field = (tg_w){ prm->w, prm->g };
    return DOCVL_OK;
}

static void *alloc_n(int n, size_t size, int *fail)
{
    void *p = calloc((size_t)(n > 0 ? n : 1), size);
    *fail |= !p;
    return p;
}

static void geometry_siglip(const dv_siglip_cfg *c, tg_siglip *s, int *fail)
{
    s->image_h = c->image_h;
    s->image_w = c->image_w;
    s->patch = c->patch_size;
    s->v = (tg_vit){ .grid_h = dv_siglip_grid_h(c), .grid_w = dv_siglip_grid_w(c),
                     .width = c->width, .heads = c->heads, .mlp = c->mlp_dim };
    s->n = s->v.grid_h * s->v.grid_w;
    s->depth = c->depth;
    memcpy(s->mean, c->pixel_mean, sizeof s->mean);
    memcpy(s->std, c->pixel_std, sizeof s->std);
    s->blocks = alloc_n(s->depth, sizeof *s->blocks, fail);
}

static int sam_is_global(const dv_sam_cfg *c, int i)
{
    for (int k = 0; k < c->n_global; k++)
        if (c->global_attn_indexes[k] == i)
            return 1;
    return 0;
}

static void geometry_sam(const dv_sam_cfg *c, tg_sam *s, int *fail)
{
    s->image = c->image_size;
    s->patch = c->patch_size;
    s->layers = c->layers;
    s->v = (tg_vit){ .grid_h = c->image_size / c->patch_size, .grid_w = c->image_size / c->patch_size,
                     .width = c->width, .heads = c->heads, .mlp = c->mlp_dim, .relpos = 1 };
    s->p = c->prompt_embed_dim;
    s->ch[0] = c->downsample_channels[0];
    s->ch[1] = c->downsample_channels[1];
    s->out_grid = ((DV_SAM_INTERP_SIZE - 1) / 2 + 1 - 1) / 2 + 1;
    s->first_global = c->layers;
    for (int k = 0; k < c->n_global; k++)
        if (c->global_attn_indexes[k] < s->first_global)
            s->first_global = c->global_attn_indexes[k];
    memcpy(s->mean, c->pixel_mean, sizeof s->mean);
    memcpy(s->std, c->pixel_std, sizeof s->std);
    s->blocks = alloc_n(s->layers, sizeof *s->blocks, fail);
    for (int i = 0; s->blocks && i < s->layers; i++)
        s->blocks[i].window = sam_is_global(c, i) ? 0 : c->window_size;
}

static int geometry_aligner(const dv_config *c, tg_aligner *a, int *fail, dv_err *e)
{
    a->hybrid = c->aligner.type == DV_PROJ_LOW_HIGH_HYBRID_SPLIT;
    a->n_layers = a->hybrid ? c->aligner.depth - 1 : c->aligner.depth;
    a->n_embed = c->aligner.n_embed;
    a->in_low = c->aligner.input_dim;
    a->in_high = c->sam.downsample_channels[1];
    if (a->n_layers < 0 || a->n_layers > TG_MAX_ALIGNER_LAYERS)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "aligner depth %d", c->aligner.depth);
    a->lw = alloc_n(a->n_layers + 1, sizeof *a->lw, fail);
    a->lb = alloc_n(a->n_layers + 1, sizeof *a->lb, fail);
    return DOCVL_OK;
}

static int check_siglip(const dv_config *c, dv_err *e)
{
    const dv_siglip_cfg *s = &c->siglip;
    if (s->patch_size <= 0 || s->image_h <= 0 || s->image_w <= 0 || s->image_h % s->patch_size ||
        s->image_w % s->patch_size || s->heads <= 0 || s->width % s->heads || s->class_token ||
        s->depth < 0)
        return dv_fail(e, DOCVL_EMODEL, "SigLIP geometry (image %dx%d, patch %d, width %d, heads "
                       "%d) cannot be trained", s->image_h, s->image_w, s->patch_size, s->width,
                       s->heads);
    if (c->aligner.input_dim != s->width)
        return dv_fail(e, DOCVL_EMODEL, "aligner input_dim %d, but SigLIP width is %d",
                       c->aligner.input_dim, s->width);
    return DOCVL_OK;
}

/* SAM's output grid is fixed by the 96x96 interpolation (24 x 24): SigLIP
 * must give as many tokens for the aligner to pair them. */
static int check_sam(const dv_config *c, dv_err *e)
{
    const dv_sam_cfg *m = &c->sam;
    if (m->patch_size <= 0 || m->image_size <= 0 || m->image_size % m->patch_size ||
        m->heads <= 0 || m->width % m->heads || m->window_size <= 0 || m->n_global <= 0 ||
        m->downsample_channels[0] <= 0 || m->downsample_channels[1] <= 0)
        return dv_fail(e, DOCVL_EMODEL, "SAM geometry (image %d, patch %d, width %d, heads %d, "
                       "window %d) cannot be trained", m->image_size, m->patch_size, m->width,
                       m->heads, m->window_size);
    int og = DV_SAM_OUT_GRID, tok = dv_config_image_tokens(c);
    if (og * og != tok)
        return dv_fail(e, DOCVL_EMODEL, "SAM gives %d x %d tokens, SigLIP %d: the aligner needs "
                       "equal counts", og, og, tok);
    if (c->pre.image_h != m->image_size || c->pre.image_w != m->image_size)
        return dv_fail(e, DOCVL_EMODEL, "preprocessor image_size %dx%d differs from SAM's %d",
                       c->pre.image_h, c->pre.image_w, m->image_size);
    if (c->aligner.n_embed % 2)
        return dv_fail(e, DOCVL_EMODEL, "the hybrid aligner splits n_embed %d in halves",
                       c->aligner.n_embed);
    return DOCVL_OK;
}

static int check_arch(const dv_config *c, dv_err *e)
{
    int rc = check_siglip(c, e);
    if (rc)
        return rc;
    if (c->lm.head_dim <= 0 || c->lm.head_dim % 2 || c->lm.kv_heads <= 0 ||
        c->lm.heads % c->lm.kv_heads || c->lm.vocab <= 0)
        return dv_fail(e, DOCVL_EMODEL, "decoder head_dim %d / heads %d / kv_heads %d cannot be "
                       "trained", c->lm.head_dim, c->lm.heads, c->lm.kv_heads);
    if (c->aligner.n_embed != c->lm.hidden)
        return dv_fail(e, DOCVL_EMODEL, "aligner n_embed %d differs from the decoder's hidden "
                       "size %d", c->aligner.n_embed, c->lm.hidden);
    if (dv_config_has_tower(c, DV_TOWER_SAM))
        return check_sam(c, e);
    if (c->pre.image_h != c->siglip.image_h || c->pre.image_w != c->siglip.image_w)
        return dv_fail(e, DOCVL_EMODEL, "preprocessor image_size %dx%d differs from SigLIP's "
                       "%dx%d", c->pre.image_h, c->pre.image_w, c->siglip.image_h,
                       c->siglip.image_w);
    return DOCVL_OK;
}

/* Positions of the RoPE tables made with the model (longer sequences
 * compute their own): 4096 x 64 pairs, 2 MiB, for a head of 128. */
#define ROPE_TABLE_POSITIONS 4096

/* Geometry from the config, then every tensor of the family's table into
 * its view field. */
static int bind_views(dv_tmodel *m, tm_impl *I, dv_err *e)
{
    const dv_config *c = &m->cfg;
    int fail = 0;
    if (dv_config_has_tower(c, DV_TOWER_SAM))
        geometry_sam(&c->sam, &I->sam, &fail);
    geometry_siglip(&c->siglip, &I->sig, &fail);
    int rc = geometry_aligner(c, &I->al, &fail, e);
    if (rc)
        return rc;
    I->lm.c = c->lm;
    I->lm.layers = alloc_n(c->lm.layers, sizeof *I->lm.layers, &fail);
    /* the RoPE tables every step would otherwise compute again (sincos per
     * position and pair), up to ROPE_TABLE_POSITIONS positions */
    int pos = c->lm.max_pos < ROPE_TABLE_POSITIONS ? c->lm.max_pos : ROPE_TABLE_POSITIONS;
    size_t half = (size_t)c->lm.head_dim / 2;
    if (pos > 0 && half) {
        I->lm.rope_cos = alloc_n(pos * (int)half, sizeof(float), &fail);
        I->lm.rope_sin = alloc_n(pos * (int)half, sizeof(float), &fail);
        if (!fail) {
            I->lm.rope_n = pos;
            tg_rope_tables(0, pos, c->lm.head_dim, c->lm.rope_theta, I->lm.rope_cos,
                           I->lm.rope_sin);
        }
    }
    if (fail)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the trainer's module views");
    dv_tmodel_set_gemm(m, dv_gemm_choose());
    rc = dv_arch_walk(c, bind_tensor, m, e);
    if (!rc && c->lm.tie_word_embeddings)
        I->lm.head = I->lm.embed;
    return rc;
}

/* The schema's entries become the trainer's tensor list (name order). */
static int take_schema(const dv_config *cfg, tm_impl *I, dv_err *e)
{
    dv_schema s;
    int rc = dv_model_schema(cfg, &s, e);
    if (rc)
        return rc;
    I->specs = s.items;
    I->n_specs = s.n;
    return DOCVL_OK;
}

int tm_create(const dv_config *cfg, dv_tmodel **out, dv_err *e)
{
    *out = NULL;
    int rc = check_arch(cfg, e);
    if (rc)
        return rc;
    dv_tmodel *m = calloc(1, sizeof *m);
    tm_impl *I = calloc(1, sizeof *I);
    if (!m || !I) {
        free(m);
        free(I);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the trainable model");
    }
    m->cfg = *cfg;
    m->impl = I;
    I->image_token_id = cfg->image_token_id;
    for (int p = 0; p < DV_PART_COUNT; p++)
        m->trainable[p] = 1;
    rc = take_schema(cfg, I, e);
    if (!rc)
        rc = alloc_tensors(m, I, e);
    if (!rc)
        rc = bind_views(m, I, e);
    if (rc) {
        dv_tmodel_free(m);
        return rc;
    }
    *out = m;
    return DOCVL_OK;
}

/* One choice for every module: a step's products (and so its bits) come
 * from one kernel. */
void dv_tmodel_set_gemm(dv_tmodel *m, dv_gemm g)
{
    tm_impl *I = m->impl;
    I->sam.v.gemm = I->sig.v.gemm = I->al.gemm = I->lm.gemm = g;
}

dv_gemm dv_tmodel_gemm(const dv_tmodel *m)
{
    return ((const tm_impl *)m->impl)->lm.gemm;
}

void dv_tmodel_free(dv_tmodel *m)
{
    if (!m)
        return;
    tm_impl *I = m->impl;
    for (int i = 0; m->params && i < m->n_params; i++)
        free(m->params[i].name);
    free(m->params);
    if (I) {
        free(I->specs);
        free(I->tensor_w);
        free(I->wbuf);
        free(I->gbuf);
        free(I->unused_buf);
        free(I->sam.blocks);
        free(I->sig.blocks);
        free(I->al.lw);
        free(I->al.lb);
        free(I->lm.layers);
        free(I->lm.rope_cos);
        free(I->lm.rope_sin);
        free(I->src_dir);
        g_free(I->config_text);
        free(I);
    }
    free(m);
}

size_t dv_tmodel_numel(const dv_tmodel *m)
{
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        n += m->params[i].n;
    return n;
}

void dv_tmodel_zero_grad(dv_tmodel *m)
{
    for (int i = 0; i < m->n_params; i++)
        memset(m->params[i].g, 0, m->params[i].n * sizeof(float));
}

void dv_tmodel_set_image_token(dv_tmodel *m, int32_t id)
{
    ((tm_impl *)m->impl)->image_token_id = id;
}

int32_t dv_tmodel_image_token(const dv_tmodel *m)
{
    return ((const tm_impl *)m->impl)->image_token_id;
}

/* ---- random init: the scales and generator of tools/docvl-mkmodel
 * (tools/mkmodel/mkmodel.c, base/rng.h) ---- */

static void init_tensor(const dv_schema_entry *t, uint64_t seed, float *v)
{
    uint64_t s = dv_name_seed(seed, t->name);
    float std = t->init == DV_INIT_MATRIX ? (float)(1.0 / sqrt((double)(t->fan_in > 0 ? t->fan_in
                                                                                    : 1)))
                                          : 0.02f;
    size_t n = spec_numel(t);
    for (size_t i = 0; i < n; i++) {
        switch (t->init) {
        case DV_INIT_ONES: v[i] = 1.0f; break;
        case DV_INIT_ZEROS: v[i] = 0.0f; break;
        case DV_INIT_SCALAR: v[i] = 0.5f; break;
        default: v[i] = dv_weight_normal(&s) * std; break;
        }
    }
}

int dv_tmodel_init_random(const dv_config *cfg, uint64_t seed, dv_tmodel **out, dv_err *e)
{
    int rc = tm_create(cfg, out, e);
    if (rc)
        return rc;
    tm_impl *I = (*out)->impl;
    for (int i = 0; i < I->n_specs; i++)
        init_tensor(&I->specs[i], seed, I->tensor_w[i]);
    return DOCVL_OK;
}
