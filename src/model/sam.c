/* SAM-B image encoder as DeepSeek-VL uses it (ViTDet backbone): windowed and
 * global attention blocks with decomposed relative positions, a conv neck,
 * interpolation to 96x96 and two stride-2 convs, plus the "hd" branch (a
 * second neck on the first global block's output, scaled by a learned alpha). */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/resize.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/pool.h"
#include "kernels/sgemm512.h"
#include "model/towers.h"

static int is_global(const dv_sam_cfg *c, int i)
{
    for (int k = 0; k < c->n_global; k++)
        if (c->global_attn_indexes[k] == i)
            return 1;
    return 0;
}

static int check_cfg(const dv_sam_cfg *c, dv_err *e)
{
    if (c->patch_size <= 0 || c->image_size <= 0 || c->image_size % c->patch_size)
        return dv_fail(e, DOCVL_EMODEL, "SAM image_size %d is not a multiple of patch_size %d",
                       c->image_size, c->patch_size);
    if (c->heads <= 0 || c->width % c->heads)
        return dv_fail(e, DOCVL_EMODEL, "SAM width %d does not split into %d heads", c->width,
                       c->heads);
    if (c->n_global <= 0)
        return dv_fail(e, DOCVL_EMODEL, "SAM needs a global attention block for its hd branch");
    if (c->window_size <= 0)
        return dv_fail(e, DOCVL_EMODEL, "SAM window_size %d", c->window_size);
    for (int i = 0; i < 2; i++)
        if (c->downsample_channels[i] <= 0)
            return dv_fail(e, DOCVL_EUNSUPPORTED, "SAM downsample_channels[%d] = %d", i,
                           c->downsample_channels[i]);
    return DOCVL_OK;
}

static void free_neck(sam_neck *n)
{
    dv_conv2d_free(&n->c1);
    dv_conv2d_free(&n->c3);
    free(n->ln1w);
    free(n->ln1b);
    free(n->ln2w);
    free(n->ln2b);
}

static void *neck_field(sam_neck *n, int which, int bias)
{
    switch (which) {
    case 0: return &n->c1;
    case 1: return bias ? &n->ln1b : &n->ln1w;
    case 2: return &n->c3;
    default: return bias ? &n->ln2b : &n->ln2w;
    }
}

static void *field(void *obj, int slot, int i, int bias)
{
    dv_sam *s = obj;
    if (slot >= DV_SAM_NECK_C1 && slot <= DV_SAM_NECK_LN2)
        return neck_field(&s->neck, slot - DV_SAM_NECK_C1, bias);
    if (slot >= DV_SAM_HD_C1 && slot <= DV_SAM_HD_LN2)
        return neck_field(&s->neck_hd, slot - DV_SAM_HD_C1, bias);
    switch (slot) {
    case DV_VIT_PATCH: return &s->patch_embed;
    case DV_VIT_POS: return &s->pos;
    case DV_SAM_DOWN0: return &s->down[0];
    case DV_SAM_DOWN1: return &s->down[1];
    case DV_SAM_ALPHA: return &s->hd_alpha;
    }
    return i >= 0 && i < s->layers ? tw_block_field(&s->blocks[i], slot, bias) : NULL;
}

int dv_sam_bind(const dv_config *cfg, const dv_checkpoint *ck, const dv_placed *p, int widen,
                dv_sam *s, dv_err *e)
{
    const dv_sam_cfg *c = &cfg->sam;
    memset(s, 0, sizeof *s);
    int rc = check_cfg(c, e);
    if (rc)
        return rc;
    s->image_size = c->image_size;
    s->patch = c->patch_size;
    s->grid = c->image_size / c->patch_size;
    s->width = c->width;
    s->heads = c->heads;
    s->layers = c->layers;
    s->mlp = c->mlp_dim;
    s->first_global = s->layers;
    for (int k = 0; k < c->n_global; k++)
        if (c->global_attn_indexes[k] < s->first_global)
            s->first_global = c->global_attn_indexes[k];
    memcpy(s->mean, c->pixel_mean, sizeof s->mean);
    memcpy(s->std, c->pixel_std, sizeof s->std);
    s->n_down = 2;
    s->out_ch = c->downsample_channels[1];
    if (!(s->blocks = calloc((size_t)s->layers, sizeof *s->blocks)))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %d SAM blocks", s->layers);
    for (int i = 0; i < s->layers; i++)
        s->blocks[i].window = is_global(c, i) ? 0 : c->window_size;
    return tw_bind_module(cfg, ck, p, widen, field, s, e);
}

void dv_sam_free(dv_sam *s)
{
    dv_conv2d_free(&s->patch_embed);
    for (int i = 0; s->blocks && i < s->layers; i++)
        tw_block_free(&s->blocks[i]);
    free(s->blocks);
    free(s->pos);
    free_neck(&s->neck);
    free_neck(&s->neck_hd);
    for (int i = 0; i < s->n_down; i++)
        dv_conv2d_free(&s->down[i]);
    free(s->hd_alpha);
    memset(s, 0, sizeof *s);
}

static int down_size(int n) { return (n + 2 - 3) / 2 + 1; }

int dv_sam_out_grid(const dv_sam *s)
{
    int g = DV_SAM_INTERP_SIZE;
    for (int i = 0; i < s->n_down; i++)
        g = down_size(g);
    return g;
}

/* ---- attention with decomposed relative positions ---- */

/* Per head: rel_h[i][kh] = q_i . Rh[qh - kh + g - 1] and likewise for w, with
 * the UNSCALED q (as upstream); added to every score of query i and key
 * (kh, kw). */
typedef struct relpos {
    int g;               /* side of the (square) attended grid */
    float *rel_h, *rel_w;/* [n, g] */
} relpos;

static void relpos_bias(void *user, int head, int q0, int nq, int k0, int nk, float *s, int ld)
{
    (void)head;
    const relpos *r = user;
    for (int i = 0; i < nq; i++) {
        const float *rh = r->rel_h + (size_t)(q0 + i) * r->g;
        const float *rw = r->rel_w + (size_t)(q0 + i) * r->g;
        float *row = s + (size_t)i * ld;
        /* keys run along grid rows: one rel_h value per run of rel_w values */
        for (int j = 0; j < nk;) {
            int kh = (k0 + j) / r->g, kw = (k0 + j) % r->g;
            int len = r->g - kw < nk - j ? r->g - kw : nk - j;
            float bh = rh[kh];
            for (int t = 0; t < len; t++)
                row[j + t] += bh + rw[kw + t];
            j += len;
        }
    }
}

/* full = q R^T ([n, 2g-1]) by sgemm, then rel[i][k] = full[i][coord(i) - k + g - 1]. */
static void relpos_table(dv_gemm gm, const float *q, size_t q_stride, int n, int g, int hd,
                         const float *R, int along_h, float *full, float *rel)
{
    int L = 2 * g - 1;
    dv_sgemm(gm, 0, 1, n, L, hd, 1.0f, q, (int)q_stride, R, hd, 0.0f, full, L);
    for (int i = 0; i < n; i++) {
        const float *fi = full + (size_t)i * L;
        int c = along_h ? i / g : i % g;
        for (int k = 0; k < g; k++)
            rel[(size_t)i * g + k] = fi[c - k + g - 1];
    }
}

/* Attention of n = g*g tokens whose q|k|v rows (stride 3*width) start at qkv;
 * out rows of `width`. rel: scratch of n * (4g - 1) floats. */
static int relpos_attention(const dv_sam *s, const vit_block *b, const float *qkv, int g,
                            float *out, float *rel, float *scratch, const dv_ctx *ctx, dv_err *e)
{
    int n = g * g, c = s->width, hd = c / s->heads;
    relpos r = { .g = g, .rel_h = rel, .rel_w = rel + (size_t)n * g };
    float *full = rel + 2 * (size_t)n * g;
    dv_gemm gm = dv_ctx_gemm(ctx);
    dv_ctx_apply(ctx);
    for (int h = 0; h < s->heads; h++) {
        const float *q = qkv + (size_t)h * hd;
        relpos_table(gm, q, 3 * (size_t)c, n, g, hd, b->rel_h, 1, full, r.rel_h);
        relpos_table(gm, q, 3 * (size_t)c, n, g, hd, b->rel_w, 0, full, r.rel_w);
        dv_attn a = { .n_q = n, .n_kv = n, .n_heads = 1, .n_kv_heads = 1, .head_dim = hd,
                      .q = q, .k = q + c, .v = q + 2 * c, .q_stride = 3 * (size_t)c,
                      .k_stride = 3 * (size_t)c, .v_stride = 3 * (size_t)c,
                      .out = out + (size_t)h * hd, .out_stride = (size_t)c,
                      .scale = (float)(1.0 / sqrt((double)hd)), .bias = relpos_bias,
                      .bias_user = &r };
        int rc = dv_attention(&a, scratch, ctx, e);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}

/* ---- blocks ---- */

/* A window's products (196 x 27 x 64, 196 x 196 x 64) are too small to
 * split: whole windows go to threads, each with a single-threaded BLAS and
 * its own slice of `scratch` (window_scratch_floats each, from the arena). */
typedef struct win_job {
    const dv_sam *s;
    const vit_block *b;
    const vit_work *w;
    float *scratch;
    dv_gemm gemm;        /* the caller's product, for each window's */
    atomic_int failed;
    dv_err err;          /* the first failure's */
} win_job;

/* One thread's rel tables ([n, 4w - 1]) then its attention scratch. */
static size_t window_rel_floats(int ws) { return (size_t)ws * ws * (4 * (size_t)ws - 1); }

static size_t window_scratch_floats(const dv_sam *s, int ws)
{
    dv_attn shape = { .head_dim = s->width / s->heads };
    return window_rel_floats(ws) + dv_attention_scratch_floats(&shape);
}

static void windows_chunk(void *arg, int part, int lo, int hi)
{
    win_job *j = arg;
    int ws = j->b->window, per = ws * ws, c = j->s->width;
    float *rel = j->scratch + (size_t)part * window_scratch_floats(j->s, ws);
    dv_err e = { 0 };
    dv_ctx one = { .n_threads = 1, .gemm = j->gemm };
    int rc = DOCVL_OK;
    for (int win = lo; !rc && win < hi; win++) {
        size_t off = (size_t)win * per;
        rc = relpos_attention(j->s, j->b, j->w->qkv + off * 3 * c, ws, j->w->att + off * c, rel,
                              rel + window_rel_floats(ws), &one, &e);
    }
    if (rc && atomic_exchange(&j->failed, 1) == 0)
        j->err = e;
}

static int windows_run(const dv_sam *s, const vit_block *b, const vit_work *w, int n_win,
                       float *scratch, const dv_ctx *ctx, dv_err *e)
{
    win_job j = { .s = s, .b = b, .w = w, .scratch = scratch,
                  .gemm = dv_ctx_gemm(ctx) };
    atomic_init(&j.failed, 0);
    /* with a pool, OpenBLAS already runs single-threaded in each worker */
    dv_pool_for_parts(ctx ? ctx->pool : NULL, n_win, 1, windows_chunk, &j);
    if (atomic_load(&j.failed)) {
        *e = j.err;
        return e->code;
    }
    return DOCVL_OK;
}

/* Windowed block attention: the normed grid (xn_grid, [G*G, C]) is zero-padded
 * to a multiple of the window and cut into windows (w->xn, window order);
 * padded tokens go through qkv and attention like the others (upstream does
 * not mask them); results are cropped back into grid order in `out`. */
static int window_attention(const dv_sam *s, const vit_block *b, const float *xn_grid,
                            const vit_work *w, float *out, float *win_scratch, const dv_ctx *ctx,
                            dv_err *e)
{
    int G = s->grid, ws = b->window, c = s->width;
    int nw = (G + ws - 1) / ws, per = ws * ws;
    size_t row = (size_t)c * sizeof(float);
    memset(w->xn, 0, (size_t)nw * nw * per * row);
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++) {
            size_t win = (size_t)(y / ws) * nw + x / ws, at = win * per + (y % ws) * ws + x % ws;
            memcpy(w->xn + at * c, xn_grid + ((size_t)y * G + x) * c, row);
        }
    dv_linear_forward(&b->qkv, w->xn, nw * nw * per, w->qkv, ctx);
    int rc = windows_run(s, b, w, nw * nw, win_scratch, ctx, e);
    if (rc)
        return rc;
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++) {
            size_t win = (size_t)(y / ws) * nw + x / ws, at = win * per + (y % ws) * ws + x % ws;
            memcpy(out + ((size_t)y * G + x) * c, w->att + at * c, row);
        }
    return DOCVL_OK;
}

/* A pass's block buffers, all from the arena: the shared block scratch, the
 * global blocks' attention scratch, and each pool thread's window scratch. */
typedef struct sam_work {
    vit_work v;
    float *attn;
    float *windows;
} sam_work;

static int block_forward(const dv_sam *s, const vit_block *b, float *x, const sam_work *sw,
                         const dv_ctx *ctx, dv_err *e)
{
    int n = s->grid * s->grid, c = s->width, rc;
    const vit_work *w = &sw->v;
    if (b->window) {
        dv_layernorm_ctx(x, w->tmp, n, c, b->n1w, b->n1b, 1e-6f, ctx);
        rc = window_attention(s, b, w->tmp, w, w->tmp, sw->windows, ctx, e);
        if (rc)
            return rc;
        dv_linear_forward(&b->proj, w->tmp, n, w->xn, ctx);
        dv_add(x, w->xn, (size_t)n * c);
    } else {
        dv_layernorm_ctx(x, w->xn, n, c, b->n1w, b->n1b, 1e-6f, ctx);
        dv_linear_forward(&b->qkv, w->xn, n, w->qkv, ctx);
        if ((rc = relpos_attention(s, b, w->qkv, s->grid, w->att, w->rel, sw->attn, ctx, e)))
            return rc;
        dv_linear_forward(&b->proj, w->att, n, w->tmp, ctx);
        dv_add(x, w->tmp, (size_t)n * c);
    }
    tw_block_mlp(b, x, n, c, w, ctx);
    return DOCVL_OK;
}

/* ---- neck, interpolation, downsamples ---- */

static void to_chw(const float *hwc, int hw, int c, float *chw)
{
    for (int i = 0; i < hw; i++)
        for (int k = 0; k < c; k++)
            chw[(size_t)k * hw + i] = hwc[(size_t)i * c + k];
}

/* neck (conv1x1, LN2d, conv3x3, LN2d) -> bilinear to 96 -> downsamples.
 * feat [G*G, C] -> out [og*og, out_ch]. tap_neck gets [P, G, G]. */
static int neck_branch(const dv_sam *s, const sam_neck *nk, const float *feat, float *out,
                       float *tap_neck, tw_arena *ar, const dv_ctx *ctx, dv_err *e)
{
    int G = s->grid, n = G * G, p = nk->c1.cout, isz = DV_SAM_INTERP_SIZE;
    int g1 = down_size(isz), c0 = s->down[0].cout;
    float *a = tw_take(ar, (size_t)n * p), *b = tw_take(ar, (size_t)n * p);
    float *up = tw_take(ar, (size_t)isz * isz * p);
    float *d0 = tw_take(ar, (size_t)g1 * g1 * c0);
    int rc = !a || !b || !up || !d0 ? dv_fail(e, DOCVL_ENOMEM, "out of memory for the SAM neck")
                                    : dv_conv2d_nhwc(&nk->c1, feat, G, G, a, ctx, e);
    if (!rc) {
        dv_layernorm(a, a, n, p, nk->ln1w, nk->ln1b, 1e-6f);
        rc = dv_conv2d_nhwc(&nk->c3, a, G, G, b, ctx, e);
    }
    if (!rc) {
        dv_layernorm(b, b, n, p, nk->ln2w, nk->ln2b, 1e-6f);
        if (tap_neck)
            to_chw(b, n, p, tap_neck);
        dv_resize_bilinear_nhwc(b, G, G, p, up, isz, isz);
        rc = dv_conv2d_nhwc(&s->down[0], up, isz, isz, d0, ctx, e);
    }
    if (!rc)
        rc = dv_conv2d_nhwc(&s->down[1], d0, g1, g1, out, ctx, e);
    return rc;
}

/* The largest window side (0: all blocks global). */
static int window_side(const dv_sam *s)
{
    int w = 0;
    for (int i = 0; i < s->layers; i++)
        w = s->blocks[i].window > w ? s->blocks[i].window : w;
    return w;
}

static size_t rel_floats(const dv_sam *s)
{
    size_t global = window_rel_floats(s->grid), win = window_rel_floats(window_side(s));
    return global > win ? global : win;
}

static int padded_tokens(const dv_sam *s)
{
    int n = s->grid * s->grid;
    for (int i = 0; i < s->layers; i++) {
        int ws = s->blocks[i].window;
        if (ws > 0) {
            int side = (s->grid + ws - 1) / ws * ws;
            n = side * side > n ? side * side : n;
        }
    }
    return n;
}

static int sam_work_alloc(const dv_sam *s, sam_work *sw, tw_arena *ar, const dv_ctx *ctx,
                          dv_err *e)
{
    dv_attn shape = { .head_dim = s->width / s->heads };
    int ws = window_side(s), parts = dv_pool_threads(ctx ? ctx->pool : NULL);
    sw->attn = tw_take(ar, dv_attention_scratch_floats(&shape));
    sw->windows = ws ? tw_take(ar, (size_t)parts * window_scratch_floats(s, ws)) : NULL;
    if (!sw->attn || (ws && !sw->windows))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for SAM attention");
    return tw_work_alloc(&sw->v, ar, padded_tokens(s), s->width, s->mlp, rel_floats(s), e);
}

static int run_blocks(const dv_sam *s, float *x, float *hd_src, const dv_vision_taps *taps,
                      tw_arena *ar, const dv_ctx *ctx, dv_err *e)
{
    sam_work w = { 0 };
    int rc = sam_work_alloc(s, &w, ar, ctx, e);
    size_t n = (size_t)s->grid * s->grid * s->width;
    for (int i = 0; i < s->layers && !rc; i++) {
        if ((rc = block_forward(s, &s->blocks[i], x, &w, ctx, e))) {
            dv_wrap(e, "SAM block %d", i);
            break;
        }
        if (i == 0 && taps && taps->sam_block0_out)
            memcpy(taps->sam_block0_out, x, n * sizeof *x);
        if (i == s->first_global)
            memcpy(hd_src, x, n * sizeof *x);
    }
    return rc;
}

int dv_sam_forward(const dv_sam *s, const float *pixels, float *out, const dv_vision_taps *taps,
                   tw_arena *ar, const dv_ctx *ctx, dv_err *e)
{
    size_t n = (size_t)s->grid * s->grid * s->width;
    int og = dv_sam_out_grid(s);
    size_t no = (size_t)og * og * s->out_ch;
    float *x = tw_take(ar, n), *hd_src = tw_take(ar, n);
    float *hd = tw_take(ar, no);
    int rc = !x || !hd_src || !hd ? dv_fail(e, DOCVL_ENOMEM, "out of memory for SAM activations")
                                  : dv_patch_embed(&s->patch_embed, pixels, s->image_size,
                                                   s->image_size, s->mean, s->std, x, ctx, e);
    if (!rc) {
        dv_add(x, s->pos, n);
        rc = run_blocks(s, x, hd_src, taps, ar, ctx, e);
    }
    if (!rc)
        rc = neck_branch(s, &s->neck, x, out, taps ? taps->sam_neck_out : NULL, ar, ctx, e);
    if (!rc && taps && taps->sam_main_branch)
        to_chw(out, og * og, s->out_ch, taps->sam_main_branch);
    if (!rc)
        rc = neck_branch(s, &s->neck_hd, hd_src, hd, NULL, ar, ctx, e);
    if (!rc) {
        if (taps && taps->sam_hd_branch)
            to_chw(hd, og * og, s->out_ch, taps->sam_hd_branch);
        for (size_t i = 0; i < no; i++)
            out[i] += hd[i] * s->hd_alpha[0];
        if (taps && taps->sam_out)
            memcpy(taps->sam_out, out, no * sizeof *out);
    }
    return rc;
}
