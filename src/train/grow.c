/* docvl-train grow: a trained model copied into a bigger one with the same
 * function (grow.h). The new model starts as docvl-train --init would make
 * it; the old tensors are written over its top-left corners, and the parts
 * whose values would change the function are zeroed. */
#include "train/grow.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "train/tmodel_impl.h"

#define VP "vision_config.params."
#define LC "language_config."

/* ---- the configurations ------------------------------------------------- */

static int differs(dv_err *e, const char *field, long long was, long long now)
{
    return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: %s differs (%lld in the model, %lld in the new "
                   "config); grow only adds tower layers, tower mlp_ratio, decoder layers, "
                   "decoder intermediate_size and decoder hidden_size (heads of the same "
                   "head_dim)", field, was, now);
}

static int differs_f(dv_err *e, const char *field, double was, double now)
{
    return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: %s differs (%g in the model, %g in the new "
                   "config); grow cannot change it", field, was, now);
}

static int shrinks(dv_err *e, const char *field, long long was, long long now)
{
    return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: %s would shrink from %lld to %lld; grow only "
                   "adds", field, was, now);
}

/* The tower's fixed fields: LayerNorm subtracts the mean over the width, so
 * zero-padded features would shift every normalised value (no exact wider
 * tower); heads and the input geometry change what attention and the
 * patches compute. */
static int check_tower(const dv_siglip_cfg *o, const dv_siglip_cfg *n, dv_err *e)
{
    if (o->width != n->width)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: " VP "width differs (%d in the model, %d in "
                       "the new config): the tower cannot widen exactly, its LayerNorm subtracts "
                       "the mean over the width, which zero-padded features would change; grow "
                       "its layers or mlp_ratio instead", o->width, n->width);
    if (strcmp(o->model_name, n->model_name))
        return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: " VP "model_name differs (\"%s\" in the "
                       "model, \"%s\" in the new config)", o->model_name, n->model_name);
    if (o->image_h != n->image_h)
        return differs(e, VP "image_size (height)", o->image_h, n->image_h);
    if (o->image_w != n->image_w)
        return differs(e, VP "image_size (width)", o->image_w, n->image_w);
    const struct { const char *f; int a, b; } same[] = {
        { VP "patch_size", o->patch_size, n->patch_size }, { VP "heads", o->heads, n->heads },
        { VP "select_layer", o->select_layer, n->select_layer },
        { VP "class_token", o->class_token, n->class_token },
        { VP "global_pool", o->attn_pool, n->attn_pool },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(same); i++)
        if (same[i].a != same[i].b)
            return differs(e, same[i].f, same[i].a, same[i].b);
    for (int c = 0; c < 3; c++) {
        if (o->pixel_mean[c] != n->pixel_mean[c])
            return differs_f(e, VP "pixel_mean", o->pixel_mean[c], n->pixel_mean[c]);
        if (o->pixel_std[c] != n->pixel_std[c])
            return differs_f(e, VP "pixel_std", o->pixel_std[c], n->pixel_std[c]);
    }
    if (n->depth < o->depth)
        return shrinks(e, VP "layers", o->layers, n->layers);
    if (n->mlp_dim < o->mlp_dim)
        return shrinks(e, VP "mlp_ratio (MLP width)", o->mlp_dim, n->mlp_dim);
    return DOCVL_OK;
}

/* The decoder's fixed fields. head_dim fixes attention's scale and RoPE;
 * the heads-per-kv-head ratio keeps each old query head on its old kv head. */
static int check_lm(const dv_lm_cfg *o, const dv_lm_cfg *n, dv_err *e)
{
    const struct { const char *f; long long a, b; } same[] = {
        { LC "vocab_size", o->vocab, n->vocab },
        { LC "hidden_size / num_attention_heads (head_dim)", o->head_dim, n->head_dim },
        { LC "num_attention_heads / num_key_value_heads", o->heads / o->kv_heads,
          n->heads / n->kv_heads },
        { LC "max_position_embeddings", o->max_pos, n->max_pos },
        { LC "tie_word_embeddings", o->tie_word_embeddings, n->tie_word_embeddings },
        { LC "bos_token_id", o->bos_id, n->bos_id }, { LC "eos_token_id", o->eos_id, n->eos_id },
        { LC "pad_token_id", o->pad_id, n->pad_id },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(same); i++)
        if (same[i].a != same[i].b)
            return differs(e, same[i].f, same[i].a, same[i].b);
    if (o->rms_eps != n->rms_eps)
        return differs_f(e, LC "rms_norm_eps", o->rms_eps, n->rms_eps);
    if (o->rope_theta != n->rope_theta)
        return differs_f(e, LC "rope_theta", o->rope_theta, n->rope_theta);
    if (n->hidden < o->hidden)
        return shrinks(e, LC "hidden_size", o->hidden, n->hidden);
    if (n->intermediate < o->intermediate)
        return shrinks(e, LC "intermediate_size", o->intermediate, n->intermediate);
    if (n->layers < o->layers)
        return shrinks(e, LC "num_hidden_layers", o->layers, n->layers);
    return DOCVL_OK;
}

static const char *projector(dv_projector t)
{
    return t == DV_PROJ_MLP_GELU ? "mlp_gelu" : "low_high_hybrid_split_mlp_gelu";
}

int dv_grow_config(const dv_config *old, const dv_config *req, dv_config *grown, dv_err *e)
{
    if (old->family != DV_FAMILY_SIGLIP)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: the model is a hybrid (SAM + SigLIP); grow "
                       "handles SigLIP-only models (vision_config.cls CLIPVisionTower)");
    if (req->family != DV_FAMILY_SIGLIP)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: vision_config.cls differs (CLIPVisionTower "
                       "in the model, HybridVisionTower in the new config)");
    if (old->hf_layout != req->hf_layout)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: the config layout differs (%s in the "
                       "model, %s in the new config)", old->hf_layout ? "transformers'" : "original",
                       req->hf_layout ? "transformers'" : "original");
    int rc = check_tower(&old->siglip, &req->siglip, e);
    if (!rc)
        rc = check_lm(&old->lm, &req->lm, e);
    if (rc)
        return rc;
    const dv_aligner_cfg *oa = &old->aligner, *na = &req->aligner;
    if (oa->type != na->type)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "grow: aligner_config.params.projector_type "
                       "differs (%s in the model, %s in the new config)", projector(oa->type),
                       projector(na->type));
    if (oa->depth != na->depth)
        return differs(e, "aligner_config.params.depth", oa->depth, na->depth);
    *grown = *old;
    dv_siglip_cfg *s = &grown->siglip;
    s->layers = req->siglip.layers;
    s->mlp_ratio = req->siglip.mlp_ratio;
    s->mlp_dim = req->siglip.mlp_dim;
    s->depth = req->siglip.depth;
    dv_lm_cfg *l = &grown->lm;
    l->hidden = req->lm.hidden;
    l->intermediate = req->lm.intermediate;
    l->layers = req->lm.layers;
    l->heads = req->lm.heads;
    l->kv_heads = req->lm.kv_heads;
    /* zero-padding multiplies the mean square by old/new: eps follows it */
    l->rms_eps = (float)((double)old->lm.rms_eps * old->lm.hidden / req->lm.hidden);
    grown->aligner.n_embed = req->lm.hidden;
    return DOCVL_OK;
}

/* ---- the weights ------------------------------------------------------- */

/* The old layer at new position j, or -1 for a new one: the k = n_new -
 * n_old new layers are spread over the gaps after the old ones (old layer i
 * goes to i + round(i k / n_old)), so the first layer stays first and the
 * new ones interleave rather than pile up at the end. */
static int old_layer_at(int j, int n_old, int n_new)
{
    int k = n_new - n_old;
    for (int i = 0; i < n_old; i++)
        if (i + (2 * i * k + n_old) / (2 * n_old) == j)
            return i;
    return -1;
}

/* src (rows x cols, row-major) into the top-left corner of dst, whose rows
 * are dcols long. */
static void put_block(float *dst, int dcols, const float *src, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        memcpy(dst + (size_t)r * dcols, src + (size_t)r * cols, (size_t)cols * sizeof *dst);
}

/* Zero everything of a rows x cols matrix outside its top-left keep_r x
 * keep_c corner. */
static void zero_outside(float *w, int rows, int cols, int keep_r, int keep_c)
{
    for (int r = 0; r < rows; r++)
        for (int c = r < keep_r ? keep_c : 0; c < cols; c++)
            w[(size_t)r * cols + c] = 0.0f;
}

/* Columns [c0, cols) of rows [0, rows) to zero. */
static void zero_cols(float *w, int rows, int cols, int c0)
{
    for (int r = 0; r < rows; r++)
        memset(w + (size_t)r * cols + c0, 0, (size_t)(cols - c0) * sizeof *w);
}

static void copy_n(tg_w d, tg_w s, size_t n) { memcpy(d.w, s.w, n * sizeof *d.w); }

static void zero_n(tg_w d, size_t n) { memset(d.w, 0, n * sizeof *d.w); }

/* A SigLIP block: old i's values, its MLP widened from mo to mn units (new
 * fc1 rows keep their --init values, new fc2 columns are zero). */
static void tower_block_copy(tg_block *d, const tg_block *s, int width, int mo, int mn)
{
    size_t w = (size_t)width;
    copy_n(d->n1w, s->n1w, w);
    copy_n(d->n1b, s->n1b, w);
    copy_n(d->n2w, s->n2w, w);
    copy_n(d->n2b, s->n2b, w);
    copy_n(d->qkv_w, s->qkv_w, 3 * w * w);
    copy_n(d->qkv_b, s->qkv_b, 3 * w);
    copy_n(d->proj_w, s->proj_w, w * w);
    copy_n(d->proj_b, s->proj_b, w);
    put_block(d->fc1_w.w, width, s->fc1_w.w, mo, width);
    copy_n(d->fc1_b, s->fc1_b, (size_t)mo);
    put_block(d->fc2_w.w, mn, s->fc2_w.w, width, mo);
    zero_cols(d->fc2_w.w, width, mn, mo);
    copy_n(d->fc2_b, s->fc2_b, w);
}

static void grow_tower(tm_impl *N, const tm_impl *O)
{
    const tg_siglip *o = &O->sig;
    tg_siglip *n = &N->sig;
    size_t w = (size_t)o->v.width;
    copy_n(n->patch_w, o->patch_w, w * 3 * (size_t)o->patch * o->patch);
    copy_n(n->patch_b, o->patch_b, w);
    copy_n(n->pos, o->pos, w * (size_t)o->n);
    copy_n(n->norm_w, o->norm_w, w);
    copy_n(n->norm_b, o->norm_b, w);
    for (int j = 0; j < n->depth; j++) {
        int i = old_layer_at(j, o->depth, n->depth);
        tg_block *d = &n->blocks[j];
        if (i >= 0) {
            tower_block_copy(d, &o->blocks[i], o->v.width, o->v.mlp, n->v.mlp);
            continue;
        }
        /* a new block: both residual branches add zero */
        zero_n(d->proj_w, w * w);
        zero_n(d->proj_b, w);
        zero_n(d->fc2_w, w * (size_t)n->v.mlp);
        zero_n(d->fc2_b, w);
    }
}

/* mlp_gelu: layers.0 (in -> n), GELU, layers.2 (n -> n). The new hidden
 * units (rows of layers.0) keep their --init values; the old outputs must
 * not read them (new columns of later layers zero) and the new outputs,
 * the decoder's new features, must be zero (last layer's new rows, bias). */
static void grow_aligner(tm_impl *N, const tm_impl *O)
{
    const tg_aligner *o = &O->al;
    tg_aligner *n = &N->al;
    int eo = o->n_embed, en = n->n_embed;
    for (int k = 0; k < o->n_layers; k++) {
        int io = k ? eo : o->in_low, in = k ? en : n->in_low;
        put_block(n->lw[k].w, in, o->lw[k].w, eo, io);
        memcpy(n->lb[k].w, o->lb[k].w, (size_t)eo * sizeof(float));
        if (k)
            zero_cols(n->lw[k].w, eo, in, io);
        if (k == o->n_layers - 1) {
            zero_outside(n->lw[k].w, en, in, eo, in);
            memset(n->lb[k].w + eo, 0, (size_t)(en - eo) * sizeof(float));
        }
    }
}

/* An RMSNorm weight of the wider stream: old values times scale; the new
 * features' weights (which multiply zeros until they train) the mean of
 * those. */
static void norm_copy(tg_w d, tg_w s, int no, int nn, float scale)
{
    double sum = 0;
    for (int i = 0; i < no; i++) {
        d.w[i] = s.w[i] * scale;
        sum += d.w[i];
    }
    for (int i = no; i < nn; i++)
        d.w[i] = (float)(sum / no);
}

/* Decoder layer j from old layer L: q/k/v and gate/up keep their --init
 * values outside the old corner (new heads, new units, and columns that
 * read the stream's new features, which are zero); o_proj and down_proj
 * are zero outside it (new heads and units write nothing, the stream's new
 * features receive nothing). */
static void lm_layer_copy(tg_layer *d, const tg_layer *s, const dv_lm_cfg *o, const dv_lm_cfg *n,
                          float scale)
{
    int hd = o->head_dim, qo = o->heads * hd, qn = n->heads * hd;
    int kvo = o->kv_heads * hd;
    norm_copy(d->attn_norm, s->attn_norm, o->hidden, n->hidden, scale);
    norm_copy(d->mlp_norm, s->mlp_norm, o->hidden, n->hidden, scale);
    put_block(d->q.w, n->hidden, s->q.w, qo, o->hidden);
    put_block(d->k.w, n->hidden, s->k.w, kvo, o->hidden);
    put_block(d->v.w, n->hidden, s->v.w, kvo, o->hidden);
    put_block(d->o.w, qn, s->o.w, o->hidden, qo);
    zero_outside(d->o.w, n->hidden, qn, o->hidden, qo);
    put_block(d->gate.w, n->hidden, s->gate.w, o->intermediate, o->hidden);
    put_block(d->up.w, n->hidden, s->up.w, o->intermediate, o->hidden);
    put_block(d->down.w, n->intermediate, s->down.w, o->hidden, o->intermediate);
    zero_outside(d->down.w, n->hidden, n->intermediate, o->hidden, o->intermediate);
}

static void grow_lm(tm_impl *N, const tm_impl *O)
{
    const dv_lm_cfg *o = &O->lm.c, *n = &N->lm.c;
    /* RMSNorm of the zero-padded stream: mean square times o/n, eps times
     * o/n (dv_grow_config), so rsqrt grows by sqrt(n/o): weights times
     * sqrt(o/n) give the old values exactly */
    float scale = (float)sqrt((double)o->hidden / n->hidden);
    put_block(N->lm.embed.w, n->hidden, O->lm.embed.w, o->vocab, o->hidden);
    zero_cols(N->lm.embed.w, n->vocab, n->hidden, o->hidden);
    /* the head reads the stream's new features, zero: its new columns keep
     * their --init values (tied: the embedding's, zero) */
    if (!o->tie_word_embeddings)
        put_block(N->lm.head.w, n->hidden, O->lm.head.w, o->vocab, o->hidden);
    norm_copy(N->lm.norm, O->lm.norm, o->hidden, n->hidden, scale);
    size_t on = (size_t)n->hidden * n->heads * n->head_dim;
    size_t dn = (size_t)n->hidden * n->intermediate;
    for (int j = 0; j < n->layers; j++) {
        int i = old_layer_at(j, o->layers, n->layers);
        tg_layer *d = &N->lm.layers[j];
        if (i >= 0) {
            lm_layer_copy(d, &O->lm.layers[i], o, n, scale);
        } else {
            zero_n(d->o, on);
            zero_n(d->down, dn);
        }
    }
}

/* Stored-but-unused tensors (the tower's attn_pool) of unchanged shape. */
static void copy_unused(tm_impl *N, const tm_impl *O)
{
    for (int i = 0; i < N->n_specs; i++) {
        const dv_schema_entry *s = &N->specs[i];
        for (int k = 0; !s->used && k < O->n_specs; k++) {
            const dv_schema_entry *t = &O->specs[k];
            if (!strcmp(s->name, t->name) && dv_schema_numel(s) == dv_schema_numel(t) &&
                !memcmp(s->shape, t->shape, sizeof s->shape))
                memcpy(N->tensor_w[i], O->tensor_w[k], (size_t)dv_schema_numel(s) * sizeof(float));
        }
    }
}

int dv_tmodel_grow(const dv_tmodel *old, const dv_config *req, uint64_t seed, dv_tmodel **out,
                   dv_err *e)
{
    *out = NULL;
    dv_config cfg;
    int rc = dv_grow_config(&old->cfg, req, &cfg, e);
    dv_tmodel *m = NULL;
    if (!rc)
        rc = dv_tmodel_init_random(&cfg, seed, &m, e);
    if (rc)
        return rc;
    tm_impl *N = m->impl;
    const tm_impl *O = old->impl;
    grow_tower(N, O);
    grow_aligner(N, O);
    grow_lm(N, O);
    copy_unused(N, O);
    N->image_token_id = O->image_token_id;
    if (O->src_dir && !(N->src_dir = strdup(O->src_dir))) {
        dv_tmodel_free(m);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory");
    }
    *out = m;
    return DOCVL_OK;
}

/* ---- the directory ------------------------------------------------------- */

/* config.json for the grown model: the new config's text, with its
 * rms_norm_eps replaced when the decoder widened (the only value grow
 * changes). */
static int grown_config_text(const char *text, size_t len, const char *what, const dv_config *g,
                             const dv_config *req, char **out, dv_err *e)
{
    if (g->lm.rms_eps == req->lm.rms_eps)
        return (*out = g_strndup(text, len)) ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory");
    JsonParser *p = NULL;
    JsonNode *root = NULL;
    int rc = dv_json_parse(text, len, len + 1, what, &p, &root, e);
    JsonObject *lc = NULL;
    if (!rc && dv_json_obj(json_node_get_object(root), g->hf_layout ? "text_config"
                           : "language_config", what, &lc, e) <= 0)
        rc = e->code ? e->code : dv_fail(e, DOCVL_EMODEL, "%s: no language config", what);
    if (!rc) {
        json_object_set_double_member(lc, "rms_norm_eps",
                                      dv_json_short_float((double)g->lm.rms_eps));
        JsonGenerator *gen = json_generator_new();
        json_generator_set_pretty(gen, TRUE);
        json_generator_set_root(gen, root);
        *out = json_generator_to_data(gen, NULL);
        g_object_unref(gen);
    }
    if (p)
        g_object_unref(p);
    return rc;
}

static void fill_info(dv_grow_info *info, const dv_tmodel *o, const dv_tmodel *n)
{
    const dv_config *a = &o->cfg, *b = &n->cfg;
    *info = (dv_grow_info){
        .params_old = dv_tmodel_numel(o), .params_new = dv_tmodel_numel(n),
        .tower_layers = { a->siglip.depth, b->siglip.depth },
        .tower_mlp = { a->siglip.mlp_dim, b->siglip.mlp_dim },
        .lm_layers = { a->lm.layers, b->lm.layers }, .lm_hidden = { a->lm.hidden, b->lm.hidden },
        .lm_ffn = { a->lm.intermediate, b->lm.intermediate },
        .rms_eps = { a->lm.rms_eps, b->lm.rms_eps },
    };
}

int dv_grow_dir(const char *model_dir, const char *config_path, const char *out_dir,
                uint64_t seed, dv_grow_info *info, dv_err *e)
{
    dv_tmodel *old = NULL, *m = NULL;
    char *text = NULL;
    size_t len = 0;
    dv_config req;
    int rc = dv_tmodel_load(model_dir, &old, e);
    if (!rc)
        rc = dv_read_file(config_path, (size_t)16 << 20, &text, &len, e);
    if (!rc)
        rc = dv_config_parse_json(text, len, config_path, &req, e);
    if (!rc)
        rc = dv_tmodel_grow(old, &req, seed, &m, e);
    if (!rc)
        rc = grown_config_text(text, len, config_path, &m->cfg, &req,
                               &((tm_impl *)m->impl)->config_text, e);
    if (!rc)
        rc = dv_tmodel_save(m, out_dir, NULL, e);
    if (!rc && info)
        fill_info(info, old, m);
    free(text);
    dv_tmodel_free(m);
    dv_tmodel_free(old);
    return rc ? dv_wrap(e, "growing %s to %s", model_dir, config_path) : DOCVL_OK;
}
