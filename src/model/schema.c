#include "model/schema.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Builder state: names are composed from a prefix and a printf suffix. */
typedef struct sb {
    dv_schema *s;
    dv_err *e;
    int rc;
    dv_part part;
    int used;
} sb;

static dv_schema_entry *grow(sb *b)
{
    dv_schema *s = b->s;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        dv_schema_entry *p = realloc(s->items, (size_t)cap * sizeof *p);
        if (!p) {
            b->rc = dv_fail(b->e, DOCVL_ENOMEM, "out of memory for the model schema");
            return NULL;
        }
        s->items = p;
        s->cap = cap;
    }
    return &s->items[s->n];
}

/* Adds one tensor; shape given as ndim int64 values. */
static void add(sb *b, dv_init init, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add(sb *b, dv_init init, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (b->rc)
        return;
    dv_schema_entry *t = grow(b);
    if (!t)
        return;
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof t->name) {
        b->rc = dv_fail(b->e, DOCVL_ELIMIT, "tensor name too long: %s...", t->name);
        return;
    }
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->used = b->used;
    t->part = b->part;
    t->init = init;
    t->fan_in = 1;
    for (int i = 1; i < ndim; i++)
        t->fan_in *= shape[i];
    b->s->n++;
}

#define SHAPE(...) (const int64_t[]){ __VA_ARGS__ }
#define NDIM(...) (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t))
#define T(b, init, shp, ...) add(b, init, NDIM shp, SHAPE shp, __VA_ARGS__)

/* weight [out, in] (+ bias [out]) of a linear layer named p + "." */
static void linear(sb *b, int64_t out, int64_t in, int bias, const char *p)
{
    T(b, DV_INIT_MATRIX, (out, in), "%s.weight", p);
    if (bias)
        T(b, DV_INIT_ZEROS, (out), "%s.bias", p);
}

static void norm(sb *b, int64_t dim, int bias, const char *p)
{
    T(b, DV_INIT_ONES, (dim), "%s.weight", p);
    if (bias)
        T(b, DV_INIT_ZEROS, (dim), "%s.bias", p);
}

static void named(char *buf, size_t cap, const char *pre, const char *fmt, int i)
{
    snprintf(buf, cap, "%s", pre);
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, fmt, i);
}

static void sam_block(sb *b, const char *pre, const dv_sam_cfg *s, int i)
{
    char p[160];
    int64_t w = s->width, hd = s->width / s->heads;
    int global = 0;
    for (int g = 0; g < s->n_global; g++)
        global |= s->global_attn_indexes[g] == i;
    int64_t size = global ? s->image_size / s->patch_size : s->window_size;
    named(p, sizeof p, pre, "blocks.%d.norm1", i);
    norm(b, w, 1, p);
    named(p, sizeof p, pre, "blocks.%d.attn.qkv", i);
    linear(b, 3 * w, w, 1, p);
    named(p, sizeof p, pre, "blocks.%d.attn.proj", i);
    linear(b, w, w, 1, p);
    T(b, DV_INIT_SMALL, (2 * size - 1, hd), "%sblocks.%d.attn.rel_pos_h", pre, i);
    T(b, DV_INIT_SMALL, (2 * size - 1, hd), "%sblocks.%d.attn.rel_pos_w", pre, i);
    named(p, sizeof p, pre, "blocks.%d.norm2", i);
    norm(b, w, 1, p);
    named(p, sizeof p, pre, "blocks.%d.mlp.lin1", i);
    linear(b, s->mlp_dim, w, 1, p);
    named(p, sizeof p, pre, "blocks.%d.mlp.lin2", i);
    linear(b, w, s->mlp_dim, 1, p);
}

/* neck / neck_hd: conv1x1 (no bias), LayerNorm2d, conv3x3 (no bias), LayerNorm2d */
static void sam_neck(sb *b, const char *pre, const char *neck, const dv_sam_cfg *s)
{
    int64_t p = s->prompt_embed_dim, w = s->width;
    char n[160];
    T(b, DV_INIT_MATRIX, (p, w, 1, 1), "%s%s.0.weight", pre, neck);
    snprintf(n, sizeof n, "%s%s.1", pre, neck);
    norm(b, p, 1, n);
    T(b, DV_INIT_MATRIX, (p, p, 3, 3), "%s%s.2.weight", pre, neck);
    snprintf(n, sizeof n, "%s%s.3", pre, neck);
    norm(b, p, 1, n);
}

static void sam_tower(sb *b, const dv_sam_cfg *s)
{
    const char *pre = "vision_model.vision_tower_high.vision_tower.";
    int64_t w = s->width, grid = s->image_size / s->patch_size, ps = s->patch_size;
    char p[160];
    b->part = DV_PART_SAM;
    b->used = 1;
    snprintf(p, sizeof p, "%spatch_embed.proj", pre);
    T(b, DV_INIT_MATRIX, (w, 3, ps, ps), "%s.weight", p);
    T(b, DV_INIT_ZEROS, (w), "%s.bias", p);
    T(b, DV_INIT_SMALL, (1, grid, grid, w), "%spos_embed", pre);
    for (int i = 0; i < s->layers; i++)
        sam_block(b, pre, s, i);
    sam_neck(b, pre, "neck", s);
    sam_neck(b, pre, "neck_hd", s);
    int64_t d0 = s->downsample_channels[0], d1 = s->downsample_channels[1];
    T(b, DV_INIT_MATRIX, (d0, s->prompt_embed_dim, 3, 3), "%sdownsamples.0.weight", pre);
    T(b, DV_INIT_MATRIX, (d1, d0, 3, 3), "%sdownsamples.1.weight", pre);
    T(b, DV_INIT_SCALAR, (1), "%shd_alpha_downsamples", pre);
}

/* timm's MAP head (global_pool "map"): stored, never used by DeepSeek-VL. */
static void siglip_pool(sb *b, const char *pre, const dv_siglip_cfg *s)
{
    int64_t w = s->width;
    char p[160];
    b->used = 0;
    T(b, DV_INIT_SMALL, (1, 1, w), "%sattn_pool.latent", pre);
    snprintf(p, sizeof p, "%sattn_pool.q", pre);
    linear(b, w, w, 1, p);
    snprintf(p, sizeof p, "%sattn_pool.kv", pre);
    linear(b, 2 * w, w, 1, p);
    snprintf(p, sizeof p, "%sattn_pool.proj", pre);
    linear(b, w, w, 1, p);
    snprintf(p, sizeof p, "%sattn_pool.norm", pre);
    norm(b, w, 1, p);
    snprintf(p, sizeof p, "%sattn_pool.mlp.fc1", pre);
    linear(b, s->mlp_dim, w, 1, p);
    snprintf(p, sizeof p, "%sattn_pool.mlp.fc2", pre);
    linear(b, w, s->mlp_dim, 1, p);
    b->used = 1;
}

static void siglip_tower(sb *b, const char *pre, const dv_siglip_cfg *s)
{
    int64_t w = s->width, ps = s->patch_size, g = s->image_size / s->patch_size;
    char p[160];
    b->part = DV_PART_SIGLIP;
    b->used = 1;
    snprintf(p, sizeof p, "%spatch_embed.proj", pre);
    T(b, DV_INIT_MATRIX, (w, 3, ps, ps), "%s.weight", p);
    T(b, DV_INIT_ZEROS, (w), "%s.bias", p);
    T(b, DV_INIT_SMALL, (1, g * g, w), "%spos_embed", pre);
    for (int i = 0; i < s->depth; i++) {
        named(p, sizeof p, pre, "blocks.%d.norm1", i);
        norm(b, w, 1, p);
        named(p, sizeof p, pre, "blocks.%d.attn.qkv", i);
        linear(b, 3 * w, w, 1, p);
        named(p, sizeof p, pre, "blocks.%d.attn.proj", i);
        linear(b, w, w, 1, p);
        named(p, sizeof p, pre, "blocks.%d.norm2", i);
        norm(b, w, 1, p);
        named(p, sizeof p, pre, "blocks.%d.mlp.fc1", i);
        linear(b, s->mlp_dim, w, 1, p);
        named(p, sizeof p, pre, "blocks.%d.mlp.fc2", i);
        linear(b, w, s->mlp_dim, 1, p);
    }
    snprintf(p, sizeof p, "%snorm", pre);
    norm(b, w, 1, p);
    if (s->attn_pool)
        siglip_pool(b, pre, s);
}

static void aligner(sb *b, const dv_config *c)
{
    const dv_aligner_cfg *a = &c->aligner;
    b->part = DV_PART_ALIGNER;
    b->used = 1;
    if (a->type == DV_PROJ_MLP_GELU) {
        linear(b, a->n_embed, a->input_dim, 1, "aligner.layers.0");
        linear(b, a->n_embed, a->n_embed, 1, "aligner.layers.2");
        return;
    }
    linear(b, a->n_embed / 2, c->sam.downsample_channels[1], 1, "aligner.high_up_proj");
    linear(b, a->n_embed / 2, a->input_dim, 1, "aligner.low_up_proj");
    linear(b, a->n_embed, a->n_embed, 1, "aligner.layers.1");
}

static void llm(sb *b, const dv_lm_cfg *l)
{
    int64_t h = l->hidden, kv = (int64_t)l->kv_heads * l->head_dim, f = l->intermediate;
    char p[160];
    b->part = DV_PART_LLM;
    b->used = 1;
    T(b, DV_INIT_SMALL, (l->vocab, h), "language_model.model.embed_tokens.weight");
    for (int i = 0; i < l->layers; i++) {
        const char *pre = "language_model.model.layers.";
        named(p, sizeof p, pre, "%d.input_layernorm", i);
        norm(b, h, 0, p);
        named(p, sizeof p, pre, "%d.self_attn.q_proj", i);
        linear(b, h, h, 0, p);
        named(p, sizeof p, pre, "%d.self_attn.k_proj", i);
        linear(b, kv, h, 0, p);
        named(p, sizeof p, pre, "%d.self_attn.v_proj", i);
        linear(b, kv, h, 0, p);
        named(p, sizeof p, pre, "%d.self_attn.o_proj", i);
        linear(b, h, h, 0, p);
        named(p, sizeof p, pre, "%d.post_attention_layernorm", i);
        norm(b, h, 0, p);
        named(p, sizeof p, pre, "%d.mlp.gate_proj", i);
        linear(b, f, h, 0, p);
        named(p, sizeof p, pre, "%d.mlp.up_proj", i);
        linear(b, f, h, 0, p);
        named(p, sizeof p, pre, "%d.mlp.down_proj", i);
        linear(b, h, f, 0, p);
    }
    norm(b, h, 0, "language_model.model.norm");
    if (!l->tie_word_embeddings)
        linear(b, l->vocab, h, 0, "language_model.lm_head");
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const dv_schema_entry *)a)->name, ((const dv_schema_entry *)b)->name);
}

int dv_model_schema(const dv_config *cfg, dv_schema *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    sb b = { .s = out, .e = e };
    if (cfg->family == DV_FAMILY_HYBRID) {
        sam_tower(&b, &cfg->sam);
        siglip_tower(&b, "vision_model.vision_tower_low.vision_tower.", &cfg->siglip);
        /* MultiModalityCausalLM builds these LayerNorms and never calls them. */
        b.part = DV_PART_OTHER;
        b.used = 0;
        norm(&b, cfg->sam.downsample_channels[1], 1, "vision_model.high_layer_norm");
        norm(&b, cfg->siglip.width, 1, "vision_model.low_layer_norm");
    } else {
        siglip_tower(&b, "vision_model.vision_tower.", &cfg->siglip);
    }
    aligner(&b, cfg);
    llm(&b, &cfg->lm);
    if (b.rc) {
        dv_schema_free(out);
        return b.rc;
    }
    qsort(out->items, (size_t)out->n, sizeof *out->items, cmp_entry);
    return DOCVL_OK;
}

void dv_schema_free(dv_schema *s)
{
    free(s->items);
    memset(s, 0, sizeof *s);
}

int64_t dv_schema_numel(const dv_schema_entry *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

int dv_model_validate(const dv_config *cfg, const dv_checkpoint *ck, dv_err *e)
{
    dv_schema s;
    int rc = dv_model_schema(cfg, &s, e);
    if (rc)
        return rc;
    for (int i = 0; i < s.n && !rc; i++) {
        const dv_schema_entry *t = &s.items[i];
        const dv_tensor *found;
        if (!t->used && !dv_checkpoint_find(ck, t->name))
            continue;
        rc = dv_checkpoint_get(ck, t->name, t->ndim, t->shape, &found, e);
    }
    dv_schema_free(&s);
    return rc;
}
