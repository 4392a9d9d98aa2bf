/* SigLIP ViT (timm VisionTransformer as DeepSeek-VL builds it): patch conv,
 * absolute position embedding, pre-norm blocks, final LayerNorm; no class
 * token, and the attention-pool head is never used. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "model/towers.h"


static int check_cfg(const dv_siglip_cfg *c, dv_err *e)
{
    if (c->patch_size <= 0 || c->image_h <= 0 || c->image_w <= 0 || c->image_h % c->patch_size ||
        c->image_w % c->patch_size)
        return dv_fail(e, DOCVL_EMODEL, "SigLIP image_size %dx%d (height x width) is not a multiple "
                       "of patch_size %d", c->image_h, c->image_w, c->patch_size);
    if (c->heads <= 0 || c->width % c->heads)
        return dv_fail(e, DOCVL_EMODEL, "SigLIP width %d does not split into %d heads", c->width,
                       c->heads);
    if (c->class_token)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "SigLIP with a class token is not supported");
    if (dv_siglip_kept_blocks(c) <= 0)
        return dv_fail(e, DOCVL_EMODEL, "SigLIP select_layer %d keeps no block of %d",
                       c->select_layer, c->layers);
    return DOCVL_OK;
}

static void *field(void *obj, int slot, int i, int bias)
{
    dv_siglip *s = obj;
    switch (slot) {
    case DV_VIT_PATCH: return &s->patch_embed;
    case DV_VIT_POS: return &s->pos;
    case DV_VIT_NORM: return bias ? &s->norm_b : &s->norm_w;
    }
    return i >= 0 && i < s->depth ? tw_block_field(&s->blocks[i], slot, bias) : NULL;
}

int dv_siglip_bind(const dv_config *cfg, const dv_checkpoint *ck, const dv_placed *p, int widen,
                   dv_siglip *s, dv_err *e)
{
    const dv_siglip_cfg *c = &cfg->siglip;
    memset(s, 0, sizeof *s);
    int rc = check_cfg(c, e);
    if (rc)
        return rc;
    s->image_h = c->image_h;
    s->image_w = c->image_w;
    s->patch = c->patch_size;
    s->grid_h = dv_siglip_grid_h(c);
    s->grid_w = dv_siglip_grid_w(c);
    s->n_tok = s->grid_h * s->grid_w;
    s->width = c->width;
    s->heads = c->heads;
    s->mlp = c->mlp_dim;
    s->depth = dv_siglip_kept_blocks(c);
    memcpy(s->mean, c->pixel_mean, sizeof s->mean);
    memcpy(s->std, c->pixel_std, sizeof s->std);
    if (!(s->blocks = calloc((size_t)s->depth, sizeof *s->blocks)))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %d SigLIP blocks", s->depth);
    return tw_bind_module(cfg, ck, p, widen, field, s, e);
}

void dv_siglip_free(dv_siglip *s)
{
    dv_conv2d_free(&s->patch_embed);
    for (int i = 0; s->blocks && i < s->depth; i++)
        tw_block_free(&s->blocks[i]);
    free(s->blocks);
    free(s->pos);
    free(s->norm_w);
    free(s->norm_b);
    memset(s, 0, sizeof *s);
}

static int block_forward(const dv_siglip *s, const vit_block *b, float *x, const vit_work *w,
                         float *scratch, const dv_ctx *ctx, dv_err *e)
{
    int n = s->n_tok, c = s->width, hd = c / s->heads;
    dv_layernorm_ctx(x, w->xn, n, c, b->n1w, b->n1b, 1e-6f, ctx);
    dv_linear_forward(&b->qkv, w->xn, n, w->qkv, ctx);
    dv_attn a = { .n_q = n, .n_kv = n, .n_heads = s->heads, .n_kv_heads = s->heads,
                  .head_dim = hd, .q = w->qkv, .k = w->qkv + c, .v = w->qkv + 2 * c,
                  .q_stride = 3 * (size_t)c, .k_stride = 3 * (size_t)c,
                  .v_stride = 3 * (size_t)c, .out = w->att, .out_stride = (size_t)c,
                  .scale = (float)(1.0 / sqrt((double)hd)) };
    int rc = dv_attention(&a, scratch, ctx, e);
    if (rc)
        return rc;
    dv_linear_forward(&b->proj, w->att, n, w->tmp, ctx);
    dv_add(x, w->tmp, (size_t)n * c);
    tw_block_mlp(b, x, n, c, w, ctx);
    return DOCVL_OK;
}

static void tap(float *dst, const float *src, size_t n)
{
    if (dst)
        memcpy(dst, src, n * sizeof *src);
}

int dv_siglip_forward(const dv_siglip *s, const float *pixels, float *out,
                      const dv_vision_taps *taps, tw_arena *ar, const dv_ctx *ctx, dv_err *e)
{
    size_t n = (size_t)s->n_tok * s->width;
    float *x = tw_take(ar, n);
    vit_work w = { 0 };
    dv_attn shape = { .head_dim = s->width / s->heads };
    float *scratch = tw_take(ar, dv_attention_scratch_floats(&shape));
    int rc = !x || !scratch ? dv_fail(e, DOCVL_ENOMEM, "out of memory for SigLIP activations")
                            : tw_work_alloc(&w, ar, s->n_tok, s->width, s->mlp, 0, e);
    if (!rc)
        rc = dv_patch_embed(&s->patch_embed, pixels, s->image_h, s->image_w, s->mean, s->std, x,
                            ctx, e);
    if (!rc) {
        dv_add(x, s->pos, n);
        tap(taps ? taps->siglip_embed : NULL, x, n);
    }
    for (int i = 0; i < s->depth && !rc; i++)
        if ((rc = block_forward(s, &s->blocks[i], x, &w, scratch, ctx, e)))
            dv_wrap(e, "SigLIP block %d", i);
    if (!rc) {
        tap(taps ? taps->siglip_blocks_out : NULL, x, n);
        dv_layernorm(x, out, s->n_tok, s->width, s->norm_w, s->norm_b, 1e-6f);
        tap(taps ? taps->siglip_out : NULL, out, n);
    }
    return rc;
}
