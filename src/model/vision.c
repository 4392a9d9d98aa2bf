/* The vision path: binds the towers the family's table places and the
 * aligner, and runs them in order (SAM-B on the full image and SigLIP on its
 * downsizing when there is a SAM tower, SigLIP alone otherwise). Also the
 * binding helpers and the ViT block pieces the towers share. */
#include "model/vision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/resize.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "kernels/pool.h"
#include "model/towers.h"

struct dv_vision {
    int has_sam;             /* SAM reads the full image, SigLIP its downsizing */
    int n_tok, n_embed;
    int pixel_size;          /* side of the hybrid's square input */
    dv_sam sam;              /* has_sam only */
    dv_siglip siglip;
    dv_aligner aligner;
    dv_gemm gemm;            /* the fp32 product its passes run (dv_gemm_choose at bind) */
};

void dv_vision_set_gemm(dv_vision *v, dv_gemm g) { v->gemm = g; }
dv_gemm dv_vision_gemm(const dv_vision *v) { return v->gemm; }

static int to_f32(const dv_tensor *t, float **v, dv_err *e)
{
    return (*v = dv_tensor_to_f32(t, e)) ? DOCVL_OK : e->code;
}

static int get(const dv_checkpoint *ck, const dv_tref *t, const dv_tensor **out, dv_err *e)
{
    return dv_checkpoint_get(ck, t->name, t->ndim, t->shape, out, e);
}

/* Widened or quantized: the file's copy is not read again. */
static void release_widened(const dv_checkpoint *ck, const dv_linear *L, const dv_tensor *w)
{
    /* repacked for the bf16 products, the file's copy is read only by
     * products of a few rows (none in the towers), again from the file */
    if ((L->w_owned || L->qfmt != DV_QNONE || L->packed) && dv_checkpoint_is_mapped(ck, w))
        dv_release_mapped(w->data, w->nbytes);
}

static int bind_row(const dv_config *cfg, const dv_checkpoint *ck, const dv_placed *p,
                    const dv_row *r, int i, int widen, tw_field_fn field, void *obj, dv_err *e)
{
    int has_bias = (r->flags & DV_ROW_BIAS) != 0;
    dv_tref wt, bt;
    const dv_tensor *w, *b = NULL;
    int rc = dv_row_tensor(cfg, p, r, i, 0, &wt, e);
    if (!rc && has_bias)
        rc = dv_row_tensor(cfg, p, r, i, 1, &bt, e);
    if (rc)
        return rc;
    void *f = field(obj, r->slot, i, 0), *fb = has_bias ? field(obj, r->slot, i, 1) : NULL;
    if (!f || (has_bias && r->kind == DV_KIND_NORM && !fb))
        return dv_fail(e, DOCVL_EMODEL, "the %s binder has no place for tensor \"%s\"",
                       p->mod->what, wt.name);
    if ((rc = get(ck, &wt, &w, e)) || (has_bias && (rc = get(ck, &bt, &b, e))))
        return rc;
    switch (r->kind) {
    case DV_KIND_LINEAR: {
        int bf16 = widen == DV_TOWERS_BF16 && w->dtype == DV_BF16 && dv_cpu_bgemm_level() >= 2;
        rc = dv_linear_bind(f, w, b, widen == DV_TOWERS_F32 || (widen == DV_TOWERS_BF16 && !bf16),
                            e);
        if (!rc && widen == DV_TOWERS_Q8)
            rc = dv_linear_quantize(f, DV_Q8, NULL, e);
        if (!rc && bf16)
            dv_linear_use_bf16(f, 1, NULL);
        if (!rc)
            release_widened(ck, f, w);
        return rc;
    }
    case DV_KIND_CONV: {
        dv_conv2d *c = f;
        if (!(rc = dv_conv2d_bind(c, w, b, (int)wt.stride, r->pad, widen != DV_TOWERS_STORED, e)))
            release_widened(ck, &c->lin, w);
        return rc;
    }
    case DV_KIND_NORM:
        rc = to_f32(w, f, e);
        return !rc && b ? to_f32(b, fb, e) : rc;
    case DV_KIND_TENSOR:
        return to_f32(w, f, e);
    }
    return DOCVL_OK;
}

int tw_bind_module(const dv_config *cfg, const dv_checkpoint *ck, const dv_placed *p, int widen,
                   tw_field_fn field, void *obj, dv_err *e)
{
    for (int k = 0; k < p->mod->n_rows; k++) {
        const dv_row *r = &p->mod->rows[k];
        if (r->flags & DV_ROW_UNUSED)
            continue;
        int n = dv_row_count(cfg, p->mod, r);
        for (int i = 0; i < n; i++) {
            int rc = bind_row(cfg, ck, p, r, r->rep ? i : -1, widen, field, obj, e);
            if (rc)
                return rc;
        }
    }
    return DOCVL_OK;
}

void *tw_block_field(vit_block *b, int slot, int bias)
{
    switch (slot) {
    case DV_VIT_NORM1: return bias ? (void *)&b->n1b : &b->n1w;
    case DV_VIT_QKV: return &b->qkv;
    case DV_VIT_PROJ: return &b->proj;
    case DV_VIT_REL_H: return &b->rel_h;
    case DV_VIT_REL_W: return &b->rel_w;
    case DV_VIT_NORM2: return bias ? (void *)&b->n2b : &b->n2w;
    case DV_VIT_FC1: return &b->fc1;
    case DV_VIT_FC2: return &b->fc2;
    }
    return NULL;
}

void tw_block_free(vit_block *b)
{
    free(b->n1w);
    free(b->n1b);
    free(b->n2w);
    free(b->n2b);
    free(b->rel_h);
    free(b->rel_w);
    dv_linear_free(&b->qkv);
    dv_linear_free(&b->proj);
    dv_linear_free(&b->fc1);
    dv_linear_free(&b->fc2);
}

void tw_block_mlp(const vit_block *b, float *x, int n, int width, const vit_work *w,
                  const dv_ctx *ctx)
{
    dv_layernorm_ctx(x, w->xn, n, width, b->n2w, b->n2b, 1e-6f, ctx);
    dv_linear_forward_act(&b->fc1, w->xn, n, w->hid, DV_ACT_GELU, ctx);
    dv_linear_forward(&b->fc2, w->hid, n, w->tmp, ctx);
    dv_add(x, w->tmp, (size_t)n * width);
}

#define ARENA_ALIGN 16   /* floats: 64 bytes */

static size_t aligned(size_t n) { return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

float *tw_take(tw_arena *a, size_t n)
{
    n = aligned(n ? n : 1);
    a->used += n;
    if (a->used > a->high)
        a->high = a->used;
    if (a->used <= a->cap)
        return a->main + (a->used - n);
    if (a->n_extra == a->cap_extra) {
        int cap = a->cap_extra ? 2 * a->cap_extra : 16;
        float **p = realloc(a->extra, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        a->extra = p;
        a->cap_extra = cap;
    }
    float *block = aligned_alloc(ARENA_ALIGN * sizeof(float), n * sizeof(float));
    if (block)
        a->extra[a->n_extra++] = block;
    return block;
}

void tw_arena_reset(tw_arena *a)
{
    for (int i = 0; i < a->n_extra; i++)
        free(a->extra[i]);
    a->n_extra = 0;
    a->used = 0;
    if (a->high > a->cap) {   /* one block for the largest pass; if that fails, extras again */
        free(a->main);
        a->main = aligned_alloc(ARENA_ALIGN * sizeof(float), a->high * sizeof(float));
        a->cap = a->main ? a->high : 0;
    }
}

void tw_arena_free(tw_arena *a)
{
    tw_arena_reset(a);
    free(a->main);
    free(a->extra);
    memset(a, 0, sizeof *a);
}

int tw_work_alloc(vit_work *w, tw_arena *a, int n_pad, int width, int mlp, size_t rel_floats,
                  dv_err *e)
{
    size_t n = (size_t)n_pad, c = (size_t)width;
    w->xn = tw_take(a, n * c);
    w->qkv = tw_take(a, n * 3 * c);
    w->att = tw_take(a, n * c);
    w->tmp = tw_take(a, n * c);
    w->hid = tw_take(a, n * (size_t)mlp);
    w->rel = rel_floats ? tw_take(a, rel_floats) : NULL;
    if (!w->xn || !w->qkv || !w->att || !w->tmp || !w->hid || (rel_floats && !w->rel))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a %d-token, %d-wide vision block",
                       n_pad, width);
    return DOCVL_OK;
}

/* ---- the vision path ---- */

static int check_geometry(const dv_config *cfg, const dv_vision *v, dv_err *e)
{
    int want_h = v->has_sam ? v->sam.image_size : v->siglip.image_h;
    int want_w = v->has_sam ? v->sam.image_size : v->siglip.image_w;
    if (cfg->pre.image_h != want_h || cfg->pre.image_w != want_w)
        return dv_fail(e, DOCVL_EMODEL, "preprocessor image_size %dx%d differs from the %s tower's "
                       "image_size %dx%d (height x width)", cfg->pre.image_h, cfg->pre.image_w,
                       v->has_sam ? "SAM" : "SigLIP", want_h, want_w);
    if (v->has_sam) {
        int g = dv_sam_out_grid(&v->sam);
        if (g * g != v->siglip.n_tok)
            return dv_fail(e, DOCVL_EMODEL, "SAM gives %d x %d tokens, SigLIP %d: the aligner "
                           "needs equal counts", g, g, v->siglip.n_tok);
        if (v->sam.out_ch != cfg->aligner.input_dim || v->siglip.width != cfg->aligner.input_dim)
            return dv_fail(e, DOCVL_EMODEL, "aligner input_dim %d, but SAM gives %d channels and "
                           "SigLIP %d", cfg->aligner.input_dim, v->sam.out_ch, v->siglip.width);
    } else if (v->siglip.width != cfg->aligner.input_dim) {
        return dv_fail(e, DOCVL_EMODEL, "aligner input_dim %d, but SigLIP width is %d",
                       cfg->aligner.input_dim, v->siglip.width);
    }
    int tokens = dv_config_image_tokens(cfg);
    if (tokens != v->siglip.n_tok)
        return dv_fail(e, DOCVL_EMODEL, "the processor expects %d image tokens, the towers give %d",
                       tokens, v->siglip.n_tok);
    return DOCVL_OK;
}

static int bind_towers(const dv_config *cfg, const dv_checkpoint *ck, int widen, dv_vision *v,
                       dv_err *e)
{
    dv_placed mods[DV_ARCH_MAX_MODULES];
    int n = dv_arch_modules(cfg, mods), rc = DOCVL_OK;
    const dv_placed *sam = dv_arch_find(mods, n, DV_TOWER_SAM);
    const dv_placed *sig = dv_arch_find(mods, n, DV_TOWER_SIGLIP);
    const dv_placed *al = dv_arch_find(mods, n, DV_TOWER_ALIGNER);
    v->has_sam = sam != NULL;
    if (sam)
        rc = dv_sam_bind(cfg, ck, sam, widen, &v->sam, e);
    if (!rc)
        rc = dv_siglip_bind(cfg, ck, sig, widen, &v->siglip, e);
    return rc ? rc : dv_aligner_bind(cfg, ck, al, widen, &v->aligner, e);
}

int dv_vision_bind(const dv_config *cfg, const dv_checkpoint *ck, int widen, dv_vision **out,
                   dv_err *e)
{
    dv_vision *v = calloc(1, sizeof *v);
    if (!v)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the vision path");
    v->pixel_size = cfg->pre.image_h;   /* hybrid: SAM's square */
    v->gemm = dv_gemm_choose();
    v->n_embed = cfg->aligner.n_embed;
    int rc = bind_towers(cfg, ck, widen, v, e);
    if (!rc)
        rc = check_geometry(cfg, v, e);
    if (rc) {
        dv_vision_free(v);
        return dv_wrap(e, "binding the vision path of %s", ck->dir);
    }
    v->n_tok = v->siglip.n_tok;
    *out = v;
    return DOCVL_OK;
}

void dv_vision_free(dv_vision *v)
{
    if (!v)
        return;
    if (v->has_sam)
        dv_sam_free(&v->sam);
    dv_siglip_free(&v->siglip);
    dv_aligner_free(&v->aligner);
    free(v);
}

int dv_vision_tokens(const dv_vision *v) { return v->n_tok; }
int dv_vision_embed_dim(const dv_vision *v) { return v->n_embed; }

size_t dv_vision_tap_len(const dv_vision *v, const char *stage)
{
    size_t sig = (size_t)v->siglip.n_tok * v->siglip.width;
    if (strcmp(stage, "siglip_embed") == 0 || strcmp(stage, "siglip_blocks_out") == 0 ||
        strcmp(stage, "siglip_out") == 0)
        return sig;
    if (!v->has_sam)
        return 0;
    size_t grid = (size_t)v->sam.grid * v->sam.grid, og = (size_t)dv_sam_out_grid(&v->sam);
    size_t ls = (size_t)v->siglip.image_h;   /* the hybrid's SigLIP is square */
    if (strcmp(stage, "low_res_pixels") == 0)
        return 3 * ls * ls;
    if (strcmp(stage, "sam_block0_out") == 0)
        return grid * v->sam.width;
    if (strcmp(stage, "sam_neck_out") == 0)
        return grid * v->sam.neck.c1.cout;
    if (strcmp(stage, "sam_main_branch") == 0 || strcmp(stage, "sam_hd_branch") == 0 ||
        strcmp(stage, "sam_out") == 0)
        return og * og * v->sam.out_ch;
    return 0;
}

struct dv_vision_work {
    tw_arena arena;
};

int dv_vision_work_new(dv_vision_work **out, dv_err *e)
{
    *out = calloc(1, sizeof **out);
    return *out ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory for the vision work");
}

void dv_vision_work_free(dv_vision_work *w)
{
    if (!w)
        return;
    tw_arena_free(&w->arena);
    free(w);
}

/* Hybrid: SAM on the full square, SigLIP on its antialiased downsizing. */
static int run_hybrid(const dv_vision *v, const float *pixels, float *sam_out, float *low_out,
                      const dv_vision_taps *taps, tw_arena *ar, const dv_ctx *ctx, dv_err *e)
{
    int rc = dv_sam_forward(&v->sam, pixels, sam_out, taps, ar, ctx, e);
    if (rc)
        return dv_wrap(e, "SAM tower");
    int ls = v->siglip.image_h;   /* the hybrid's SigLIP is square */
    float *low = tw_take(ar, (size_t)3 * ls * ls);
    if (!low)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the %dx%d low-resolution image", ls, ls);
    rc = dv_resize_bilinear_aa_f32(pixels, 3, v->pixel_size, v->pixel_size, low, ls, ls, e);
    if (!rc && taps && taps->low_res_pixels)
        memcpy(taps->low_res_pixels, low, (size_t)3 * ls * ls * sizeof *low);
    if (!rc && (rc = dv_siglip_forward(&v->siglip, low, low_out, taps, ar, ctx, e)))
        dv_wrap(e, "SigLIP tower");
    return rc;
}

static int align(const dv_vision *v, const float *sam, const float *siglip, float *out,
                 tw_arena *ar, const dv_ctx *ctx, dv_err *e)
{
    if (dv_aligner_forward(&v->aligner, sam, siglip, v->n_tok, v->n_tok, out, ar, ctx, e))
        return dv_wrap(e, "aligner");
    return DOCVL_OK;
}

/* The caller's pool, or one for this call in *own: docvl's own loops
 * (SAM's windows, panel widening) get threads for these images unless the
 * caller brought a pool: ~100 us against seconds. */
static int with_pool(dv_ctx *local, dv_pool **own, dv_err *e)
{
    *own = NULL;
    if (local->pool)
        return DOCVL_OK;
    /* even of 1 thread: it owns the products' panels */
    local->n_threads = local->n_threads > 0 ? local->n_threads : 1;
    if (dv_pool_new(local->n_threads, own, e))
        return dv_wrap(e, "starting the vision threads");
    local->pool = *own;
    return DOCVL_OK;
}

int dv_vision_align(const dv_vision *v, const float *sam, const float *siglip, float *out,
                    const dv_ctx *ctx, dv_err *e)
{
    tw_arena ar = { 0 };
    dv_ctx local = dv_ctx_with_gemm(ctx, v->gemm);
    dv_pool *pool = NULL;
    /* docvl's product runs on docvl's threads: without a pool the aligner's
     * products would run it on one (OpenBLAS's keep their own threads and
     * their bits) */
    if (local.gemm == DV_GEMM_OWN && with_pool(&local, &pool, e))
        return e->code;
    int rc = align(v, sam, siglip, out, &ar, &local, e);
    tw_arena_free(&ar);
    dv_pool_free(pool);
    return rc;
}

int dv_vision_forward_work(const dv_vision *v, dv_vision_work *w, const float *pixels, float *out,
                           const dv_vision_taps *taps, const dv_ctx *ctx, dv_err *e)
{
    size_t n = (size_t)v->n_tok;
    int hybrid = v->has_sam;
    dv_ctx local = dv_ctx_with_gemm(ctx, v->gemm);
    dv_pool *pool = NULL;
    if (with_pool(&local, &pool, e))
        return e->code;
    ctx = &local;
    tw_arena *ar = &w->arena;
    tw_arena_reset(ar);
    float *low_out = tw_take(ar, n * v->siglip.width);
    float *sam_out = hybrid ? tw_take(ar, n * v->sam.out_ch) : NULL;
    int rc = DOCVL_OK;
    if (!low_out || (hybrid && !sam_out))
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for the tower outputs");
    else if (hybrid)
        rc = run_hybrid(v, pixels, sam_out, low_out, taps, ar, ctx, e);
    else if ((rc = dv_siglip_forward(&v->siglip, pixels, low_out, taps, ar, ctx, e)))
        dv_wrap(e, "SigLIP tower");
    if (!rc)
        rc = align(v, sam_out, low_out, out, ar, ctx, e);
    dv_pool_free(pool);
    return rc;
}

int dv_vision_stacks(const dv_vision *v)
{
    if (v->has_sam)
        return 0;
    const dv_siglip *s = &v->siglip;
    for (int i = 0; i < s->depth; i++) {
        const vit_block *b = &s->blocks[i];
        const dv_linear *L[] = { &b->qkv, &b->proj, &b->fc1, &b->fc2 };
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++)
            if (!dv_linear_rows_stable(L[k], s->n_tok))
                return 0;
    }
    for (int i = 0; i < v->aligner.n_layers; i++)
        if (!dv_linear_rows_stable(&v->aligner.layers[i], s->n_tok))
            return 0;
    return 1;
}

int dv_vision_forward_many(const dv_vision *v, dv_vision_work *w, const float *pixels, int imgs,
                           float *out, const dv_ctx *ctx, dv_err *e)
{
    if (imgs > 1 && !dv_vision_stacks(v))
        return dv_fail(e, DOCVL_EINVAL, "%d images at once through towers that cannot stack them",
                       imgs);
    if (imgs == 1)
        return dv_vision_forward_work(v, w, pixels, out, NULL, ctx, e);
    size_t n = (size_t)v->n_tok * imgs;
    dv_ctx local = dv_ctx_with_gemm(ctx, v->gemm);
    dv_pool *pool = NULL;
    if (with_pool(&local, &pool, e))
        return e->code;
    tw_arena *ar = &w->arena;
    tw_arena_reset(ar);
    float *low_out = tw_take(ar, n * v->siglip.width);
    int rc = low_out ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory for the tower outputs");
    if (!rc && (rc = dv_siglip_forward_many(&v->siglip, pixels, imgs, low_out, NULL, ar, &local,
                                            e)))
        dv_wrap(e, "SigLIP tower");
    if (!rc && (rc = dv_aligner_forward(&v->aligner, NULL, low_out, (int)n, v->n_tok, out, ar,
                                        &local, e)))
        dv_wrap(e, "aligner");
    dv_pool_free(pool);
    return rc;
}

int dv_vision_forward(const dv_vision *v, const float *pixels, float *out,
                      const dv_vision_taps *taps, const dv_ctx *ctx, dv_err *e)
{
    dv_vision_work w = { 0 };
    int rc = dv_vision_forward_work(v, &w, pixels, out, taps, ctx, e);
    tw_arena_free(&w.arena);
    return rc;
}
