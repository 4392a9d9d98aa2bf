/* The trainable model: parameters from the architecture's schema, module
 * views over them, random init, and one sample's forward + backward pass. */
#include "train/tmodel.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "image/resize.h"
#include "train/tmodel_impl.h"

/* ---- parameters ---------------------------------------------------------- */

static int has(const char *name, const char *part) { return strstr(name, part) != NULL; }

/* Stage freezing splits SAM into its body and the neck side (docs/training.md). */
static dv_part part_of(const tg_spec *s)
{
    switch (s->tower) {
    case TG_SAM:
        return has(s->name, ".neck.") || has(s->name, ".neck_hd.") ||
               has(s->name, ".downsamples.") || has(s->name, "hd_alpha_downsamples")
                   ? DV_PART_SAM_NECK : DV_PART_SAM_BODY;
    case TG_SIGLIP: return DV_PART_SIGLIP;
    case TG_ALIGNER: return DV_PART_ALIGNER;
    default: return DV_PART_LLM;
    }
}

/* Matrices decay; norms, biases, hd_alpha and the position tables (absolute
 * and relative) do not: shrinking those toward zero has no regularising
 * meaning. */
static int decay_of(const tg_spec *s)
{
    return s->ndim >= 2 && !has(s->name, "pos_embed") && !has(s->name, "rel_pos_");
}

static size_t spec_numel(const tg_spec *s)
{
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= (size_t)s->shape[i];
    return n;
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
    if (!I->wbuf || !I->gbuf || !I->unused_buf || !I->tensor_w || !m->params)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %zu parameters (%zu MiB with "
                       "gradients)", used, used * 2 * sizeof(float) >> 20);
    size_t off = 0, uoff = 0;
    int k = 0;
    for (int i = 0; i < I->n_specs; i++) {
        const tg_spec *s = &I->specs[i];
        size_t n = spec_numel(s);
        if (!s->used) {
            I->tensor_w[i] = I->unused_buf + uoff;
            uoff += n;
            continue;
        }
        dv_param *p = &m->params[k++];
        if (!(p->name = strdup(s->name)))
            return dv_fail(e, DOCVL_ENOMEM, "out of memory for parameter names");
        p->ndim = s->ndim;
        memcpy(p->shape, s->shape, sizeof p->shape);
        p->n = n;
        p->w = I->wbuf + off;
        p->g = I->gbuf + off;
        p->part = part_of(s);
        p->decay = decay_of(s);
        I->tensor_w[i] = p->w;
        off += n;
    }
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

typedef struct binder {
    dv_tmodel *m;
    dv_err *e;
    int rc;
} binder;

static tg_w bindf(binder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static tg_w bindf(binder *b, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    dv_param *p = b->rc ? NULL : dv_tmodel_param(b->m, name);
    if (!p && !b->rc)
        b->rc = dv_fail(b->e, DOCVL_EMODEL, "the trainer's schema has no tensor %s", name);
    return p ? (tg_w){ p->w, p->g } : (tg_w){ NULL, NULL };
}

static void bind_block(binder *b, const char *pre, int i, int sam, tg_block *k)
{
    const char *fc1 = sam ? "mlp.lin1" : "mlp.fc1", *fc2 = sam ? "mlp.lin2" : "mlp.fc2";
    k->n1w = bindf(b, "%s.blocks.%d.norm1.weight", pre, i);
    k->n1b = bindf(b, "%s.blocks.%d.norm1.bias", pre, i);
    k->n2w = bindf(b, "%s.blocks.%d.norm2.weight", pre, i);
    k->n2b = bindf(b, "%s.blocks.%d.norm2.bias", pre, i);
    k->qkv_w = bindf(b, "%s.blocks.%d.attn.qkv.weight", pre, i);
    k->qkv_b = bindf(b, "%s.blocks.%d.attn.qkv.bias", pre, i);
    k->proj_w = bindf(b, "%s.blocks.%d.attn.proj.weight", pre, i);
    k->proj_b = bindf(b, "%s.blocks.%d.attn.proj.bias", pre, i);
    k->fc1_w = bindf(b, "%s.blocks.%d.%s.weight", pre, i, fc1);
    k->fc1_b = bindf(b, "%s.blocks.%d.%s.bias", pre, i, fc1);
    k->fc2_w = bindf(b, "%s.blocks.%d.%s.weight", pre, i, fc2);
    k->fc2_b = bindf(b, "%s.blocks.%d.%s.bias", pre, i, fc2);
    if (sam) {
        k->rel_h = bindf(b, "%s.blocks.%d.attn.rel_pos_h", pre, i);
        k->rel_w = bindf(b, "%s.blocks.%d.attn.rel_pos_w", pre, i);
    }
}

static void bind_siglip(binder *b, const dv_siglip_cfg *c, const char *pre, tg_siglip *s)
{
    s->image = c->image_size;
    s->patch = c->patch_size;
    s->v = (tg_vit){ .grid = c->image_size / c->patch_size, .width = c->width, .heads = c->heads,
                     .mlp = c->mlp_dim };
    s->n = s->v.grid * s->v.grid;
    s->depth = c->depth;
    memcpy(s->mean, c->pixel_mean, sizeof s->mean);
    memcpy(s->std, c->pixel_std, sizeof s->std);
    s->patch_w = bindf(b, "%s.patch_embed.proj.weight", pre);
    s->patch_b = bindf(b, "%s.patch_embed.proj.bias", pre);
    s->pos = bindf(b, "%s.pos_embed", pre);
    s->norm_w = bindf(b, "%s.norm.weight", pre);
    s->norm_b = bindf(b, "%s.norm.bias", pre);
    s->blocks = calloc((size_t)(s->depth > 0 ? s->depth : 1), sizeof *s->blocks);
    if (!s->blocks && !b->rc)
        b->rc = dv_fail(b->e, DOCVL_ENOMEM, "out of memory for SigLIP blocks");
    for (int i = 0; s->blocks && i < s->depth; i++)
        bind_block(b, pre, i, 0, &s->blocks[i]);
}

static void bind_neck(binder *b, const char *pre, const char *which, tg_neck *n)
{
    n->c1 = bindf(b, "%s.%s.0.weight", pre, which);
    n->ln1w = bindf(b, "%s.%s.1.weight", pre, which);
    n->ln1b = bindf(b, "%s.%s.1.bias", pre, which);
    n->c3 = bindf(b, "%s.%s.2.weight", pre, which);
    n->ln2w = bindf(b, "%s.%s.3.weight", pre, which);
    n->ln2b = bindf(b, "%s.%s.3.bias", pre, which);
}

static int sam_is_global(const dv_sam_cfg *c, int i)
{
    for (int k = 0; k < c->n_global; k++)
        if (c->global_attn_indexes[k] == i)
            return 1;
    return 0;
}

static void bind_sam(binder *b, const dv_sam_cfg *c, tg_sam *s)
{
    const char *pre = "vision_model.vision_tower_high.vision_tower";
    s->image = c->image_size;
    s->patch = c->patch_size;
    s->layers = c->layers;
    s->v = (tg_vit){ .grid = c->image_size / c->patch_size, .width = c->width, .heads = c->heads,
                     .mlp = c->mlp_dim, .relpos = 1 };
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
    s->patch_w = bindf(b, "%s.patch_embed.proj.weight", pre);
    s->patch_b = bindf(b, "%s.patch_embed.proj.bias", pre);
    s->pos = bindf(b, "%s.pos_embed", pre);
    s->blocks = calloc((size_t)(s->layers > 0 ? s->layers : 1), sizeof *s->blocks);
    if (!s->blocks && !b->rc)
        b->rc = dv_fail(b->e, DOCVL_ENOMEM, "out of memory for SAM blocks");
    for (int i = 0; s->blocks && i < s->layers; i++) {
        bind_block(b, pre, i, 1, &s->blocks[i]);
        s->blocks[i].window = sam_is_global(c, i) ? 0 : c->window_size;
    }
    bind_neck(b, pre, "neck", &s->neck);
    bind_neck(b, pre, "neck_hd", &s->neck_hd);
    s->down[0] = bindf(b, "%s.downsamples.0.weight", pre);
    s->down[1] = bindf(b, "%s.downsamples.1.weight", pre);
    s->alpha = bindf(b, "%s.hd_alpha_downsamples", pre);
}

static void bind_aligner(binder *b, const dv_config *c, tg_aligner *a)
{
    a->hybrid = c->aligner.type == DV_PROJ_LOW_HIGH_HYBRID_SPLIT;
    a->n_layers = a->hybrid ? c->aligner.depth - 1 : c->aligner.depth;
    a->n_embed = c->aligner.n_embed;
    a->in_low = c->aligner.input_dim;
    a->in_high = c->sam.downsample_channels[1];
    if (a->n_layers < 0 || a->n_layers > TG_MAX_ALIGNER_LAYERS) {
        if (!b->rc)
            b->rc = dv_fail(b->e, DOCVL_EUNSUPPORTED, "aligner depth %d", c->aligner.depth);
        return;
    }
    if (a->hybrid) {
        a->high_w = bindf(b, "aligner.high_up_proj.weight");
        a->high_b = bindf(b, "aligner.high_up_proj.bias");
        a->low_w = bindf(b, "aligner.low_up_proj.weight");
        a->low_b = bindf(b, "aligner.low_up_proj.bias");
    }
    a->lw = calloc((size_t)a->n_layers + 1, sizeof *a->lw);
    a->lb = calloc((size_t)a->n_layers + 1, sizeof *a->lb);
    if ((!a->lw || !a->lb) && !b->rc)
        b->rc = dv_fail(b->e, DOCVL_ENOMEM, "out of memory for the aligner");
    for (int i = 0; a->lw && a->lb && i < a->n_layers; i++) {
        int idx = a->hybrid ? 2 * i + 1 : 2 * i;   /* GELUs take the slots between */
        a->lw[i] = bindf(b, "aligner.layers.%d.weight", idx);
        a->lb[i] = bindf(b, "aligner.layers.%d.bias", idx);
    }
}

static void bind_llm(binder *b, const dv_lm_cfg *c, tg_llm *l)
{
    const char *p = "language_model.model";
    l->c = *c;
    l->embed = bindf(b, "%s.embed_tokens.weight", p);
    l->norm = bindf(b, "%s.norm.weight", p);
    l->head = c->tie_word_embeddings ? l->embed : bindf(b, "language_model.lm_head.weight");
    l->layers = calloc((size_t)(c->layers > 0 ? c->layers : 1), sizeof *l->layers);
    if (!l->layers && !b->rc)
        b->rc = dv_fail(b->e, DOCVL_ENOMEM, "out of memory for decoder layers");
    for (int i = 0; l->layers && i < c->layers; i++) {
        tg_layer *L = &l->layers[i];
        L->attn_norm = bindf(b, "%s.layers.%d.input_layernorm.weight", p, i);
        L->mlp_norm = bindf(b, "%s.layers.%d.post_attention_layernorm.weight", p, i);
        L->q = bindf(b, "%s.layers.%d.self_attn.q_proj.weight", p, i);
        L->k = bindf(b, "%s.layers.%d.self_attn.k_proj.weight", p, i);
        L->v = bindf(b, "%s.layers.%d.self_attn.v_proj.weight", p, i);
        L->o = bindf(b, "%s.layers.%d.self_attn.o_proj.weight", p, i);
        L->gate = bindf(b, "%s.layers.%d.mlp.gate_proj.weight", p, i);
        L->up = bindf(b, "%s.layers.%d.mlp.up_proj.weight", p, i);
        L->down = bindf(b, "%s.layers.%d.mlp.down_proj.weight", p, i);
    }
}

static int check_siglip(const dv_config *c, dv_err *e)
{
    const dv_siglip_cfg *s = &c->siglip;
    if (s->patch_size <= 0 || s->image_size <= 0 || s->image_size % s->patch_size ||
        s->heads <= 0 || s->width % s->heads || s->class_token || s->depth < 0)
        return dv_fail(e, DOCVL_EMODEL, "SigLIP geometry (image %d, patch %d, width %d, heads %d)"
                       " cannot be trained", s->image_size, s->patch_size, s->width, s->heads);
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
    if (c->pre.image_size != m->image_size)
        return dv_fail(e, DOCVL_EMODEL, "preprocessor image_size %d differs from SAM's %d",
                       c->pre.image_size, m->image_size);
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
    if (c->family == DV_FAMILY_HYBRID)
        return check_sam(c, e);
    if (c->pre.image_size != c->siglip.image_size)
        return dv_fail(e, DOCVL_EMODEL, "preprocessor image_size %d differs from SigLIP's %d",
                       c->pre.image_size, c->siglip.image_size);
    return DOCVL_OK;
}

static int bind_views(dv_tmodel *m, tm_impl *I, dv_err *e)
{
    const dv_config *c = &m->cfg;
    binder b = { .m = m, .e = e };
    int hybrid = c->family == DV_FAMILY_HYBRID;
    if (hybrid)
        bind_sam(&b, &c->sam, &I->sam);
    bind_siglip(&b, &c->siglip, hybrid ? "vision_model.vision_tower_low.vision_tower"
                                       : "vision_model.vision_tower", &I->sig);
    bind_aligner(&b, c, &I->al);
    bind_llm(&b, &c->lm, &I->lm);
    return b.rc;
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
    rc = tg_schema(cfg, &I->specs, &I->n_specs, e);
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
        free(I->src_dir);
        free(I);
    }
    free(m);
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
 * (model/mkmodel.c, base/rng.h) ---- */

static void init_tensor(const tg_spec *t, uint64_t seed, float *v)
{
    uint64_t s = dv_name_seed(seed, t->name);
    float std = t->init == TG_INIT_MATRIX ? (float)(1.0 / sqrt((double)(t->fan_in > 0 ? t->fan_in
                                                                                    : 1)))
                                          : 0.02f;
    size_t n = spec_numel(t);
    for (size_t i = 0; i < n; i++) {
        switch (t->init) {
        case TG_INIT_ONES: v[i] = 1.0f; break;
        case TG_INIT_ZEROS: v[i] = 0.0f; break;
        case TG_INIT_SCALAR: v[i] = 0.5f; break;
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
