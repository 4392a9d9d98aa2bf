/* The pre-norm ViT block both towers share, forward and backward. SAM's
 * blocks partition the normed grid into zero-padded windows (a global block
 * is one window covering the grid): padded tokens go through qkv and
 * attention unmasked, as upstream, and are cropped afterwards, so their
 * gradient reaches only the qkv bias. Relative positions use the UNSCALED q. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/grad_attn.h"
#include "train/grad_model.h"

#define LN_EPS 1e-6f

static int images(const tg_vit *v) { return v->images > 1 ? v->images : 1; }

/* Token rows of all the images. */
static size_t vit_rows(const tg_vit *v) { return (size_t)images(v) * v->grid_h * v->grid_w; }

/* SAM's windows are ws x ws (relative positions need them square); a
 * global block is one window of the whole grid, which a SigLIP line model
 * has wider than high. Stacked images' windows follow one another. */
static void geometry(const tg_vit *v, const tg_block *b, tg_block_act *a)
{
    a->wh = b->window ? b->window : v->grid_h;
    a->ww = b->window ? b->window : v->grid_w;
    a->ws = a->wh;
    a->nwh = (v->grid_h + a->wh - 1) / a->wh;
    a->nww = (v->grid_w + a->ww - 1) / a->ww;
    a->np = images(v) * a->nwh * a->nww * a->wh * a->ww;
}

/* Row of padded window token t among the images' grids, or -1 for padding. */
static int grid_row(const tg_vit *v, const tg_block_act *a, int t)
{
    int per = a->wh * a->ww, per_img = a->nwh * a->nww * per, img = t / per_img;
    int win = t % per_img / per, r = t % per;
    int y = win / a->nww * a->wh + r / a->ww, x = win % a->nww * a->ww + r % a->ww;
    return y < v->grid_h && x < v->grid_w ? (img * v->grid_h + y) * v->grid_w + x : -1;
}

/* A block whose one window is the whole grid (every SigLIP block): the
 * windows are the grid's rows in its order, so the window buffers are
 * the grid's own and nothing is reordered. */
static int grid_windows(const tg_vit *v, const tg_block_act *a)
{
    return a->wh == v->grid_h && a->ww == v->grid_w;
}

/* to_windows: grid -> padded windows (padding zero); else windows -> grid. */
static void reorder(const tg_vit *v, const tg_block_act *a, float *grid, float *win, int to_windows)
{
    size_t row = (size_t)v->width * sizeof(float);
    for (int t = 0; t < a->np; t++) {
        int r = grid_row(v, a, t);
        float *w = win + (size_t)t * v->width;
        if (r < 0) {
            if (to_windows)
                memset(w, 0, row);
            continue;
        }
        float *g = grid + (size_t)r * v->width;
        memcpy(to_windows ? w : g, to_windows ? g : w, row);
    }
}

/* Per-query relative-position tables of one window and head:
 * rel_h[i][k] = q_i . Rh[c_h(i) - k + ws - 1], same along w. */
static void rel_tables(const float *q, size_t stride, int ws, int hd, const float *R, int along_h,
                       float *full, float *rel)
{
    int n = ws * ws, L = 2 * ws - 1;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, L, hd, 1.0f, q, (int)stride, R, hd,
                0.0f, full, L);
    for (int i = 0; i < n; i++) {
        int c = along_h ? i / ws : i % ws;
        for (int k = 0; k < ws; k++)
            rel[(size_t)i * ws + k] = full[(size_t)i * L + c - k + ws - 1];
    }
}

/* The table's transpose: d rel -> dq (always) and dR (when wanted). */
static void rel_tables_bwd(const float *q, float *dq, size_t stride, int ws, int hd,
                           const float *R, float *dR, int along_h, const float *drel, float *dfull)
{
    int n = ws * ws, L = 2 * ws - 1;
    memset(dfull, 0, (size_t)n * L * sizeof *dfull);
    for (int i = 0; i < n; i++) {
        int c = along_h ? i / ws : i % ws;
        for (int k = 0; k < ws; k++)
            dfull[(size_t)i * L + c - k + ws - 1] += drel[(size_t)i * ws + k];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, L, 1.0f, dfull, L, R, hd, 1.0f,
                dq, (int)stride);
    if (dR)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, hd, n, 1.0f, dfull, L, q,
                    (int)stride, 1.0f, dR, hd);
}

/* Relative-position tables of window `win`, head h: rel_h [per, ws], then
 * rel_w [per, ws]; NULL without relative positions. */
static float *window_rel(const tg_block_act *a, int win, int h)
{
    int per = a->wh * a->ww;
    return a->rel ? a->rel + ((size_t)h * a->np + (size_t)win * per) * 2 * a->ws : NULL;
}

/* The attention call of window `win`, head h. */
static tg_attn window_attn(const tg_vit *v, const tg_block_act *a, int win, int h)
{
    int C = v->width, hd = C / v->heads, per = a->wh * a->ww;
    const float *qkv = a->qkv + (size_t)win * per * 3 * C + (size_t)h * hd;
    const float *rel = window_rel(a, win, h);
    return (tg_attn){ .n = per, .n_heads = 1, .n_kv_heads = 1, .head_dim = hd, .q = qkv,
                      .k = qkv + C, .v = qkv + 2 * C, .q_stride = 3 * (size_t)C,
                      .k_stride = 3 * (size_t)C, .v_stride = 3 * (size_t)C,
                      .out = a->attw + (size_t)win * per * C + (size_t)h * hd,
                      .out_stride = (size_t)C, .scale = (float)(1.0 / sqrt((double)hd)),
                      .rel_g = rel ? a->ws : 0, .rel_h = rel,
                      .rel_w = rel ? rel + (size_t)per * a->ws : NULL,
                      .lse = a->lse + (size_t)h * a->np + (size_t)win * per,
                      .p = a->p ? a->p + ((size_t)win * v->heads + h) * tg_attn_p_floats(per, 1, 0)
                                : NULL,
                      .gemm = v->gemm };
}

/* The attention of every window and head: relative-position tables one
 * after another, then the attentions split over the pool. */
static int attn_fwd(const tg_vit *v, const tg_block *b, tg_block_act *a, dv_err *e)
{
    int hd = v->width / v->heads, per = a->wh * a->ww, L = 2 * a->ws - 1;
    int wins = a->np / per, count = wins * v->heads;
    float *full = v->relpos ? malloc((size_t)per * L * sizeof *full) : NULL;
    tg_attn *at = malloc((size_t)count * sizeof *at);
    if ((v->relpos && !full) || !at) {
        free(full), free(at);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a vision block's attention");
    }
    for (int win = 0; win < wins; win++)
        for (int h = 0; h < v->heads; h++) {
            tg_attn *t = &at[win * v->heads + h];
            *t = window_attn(v, a, win, h);
            float *rel = window_rel(a, win, h);
            if (full) {
                rel_tables(t->q, t->q_stride, a->ws, hd, b->rel_h.w, 1, full, rel);
                rel_tables(t->q, t->q_stride, a->ws, hd, b->rel_w.w, 0, full,
                           rel + (size_t)per * a->ws);
            }
        }
    int rc = tg_attn_many(v->tp, at, NULL, count, e);
    free(full), free(at);
    return rc;
}

static int alloc_act(const tg_vit *v, tg_block_act *a, tg_pool *pool, dv_err *e)
{
    size_t n = vit_rows(v), C = (size_t)v->width, np = (size_t)a->np;
    a->x_in = tg_alloc_raw(pool, n * C);
    a->mu1 = tg_alloc_raw(pool, n);
    a->rs1 = tg_alloc_raw(pool, n);
    a->xw = tg_alloc_raw(pool, np * C);
    a->qkv = tg_alloc_raw(pool, np * 3 * C);
    a->lse = tg_alloc_raw(pool, (size_t)v->heads * np);
    size_t per = (size_t)a->wh * a->ww, p = np / per * v->heads * tg_attn_p_floats((int)per, 1, 0);
    a->p = TG_ATTN_KEEP_P(p, np * 3 * C) ? tg_alloc_raw(pool, p) : NULL;
    a->rel = v->relpos ? tg_alloc_raw(pool, (size_t)v->heads * np * 2 * a->ws) : NULL;
    a->att = tg_alloc_raw(pool, n * C);
    a->attw = grid_windows(v, a) ? a->att : tg_alloc_raw(pool, np * C);
    a->x_mid = tg_alloc_raw(pool, n * C);
    a->mu2 = tg_alloc_raw(pool, n);
    a->rs2 = tg_alloc_raw(pool, n);
    a->xn2 = tg_alloc_raw(pool, n * C);
    a->dgelu = tg_alloc_raw(pool, n * (size_t)v->mlp);
    a->h = tg_alloc_raw(pool, n * (size_t)v->mlp);
    return tg_pool_check(pool, "a vision block's activations", e);
}

int tg_block_fwd(const tg_vit *v, const tg_block *b, float *x, tg_block_act *a, tg_pool *pool,
                 dv_err *e)
{
    int n = (int)vit_rows(v), C = v->width;
    size_t nC = (size_t)n * C;
    geometry(v, b, a);
    int rc = alloc_act(v, a, pool, e);
    if (rc)
        return rc;
    int grid = grid_windows(v, a);
    memcpy(a->x_in, x, nC * sizeof *x);
    tg_layernorm_fwd_mt(v->tp, x, grid ? a->xw : a->att, n, C, b->n1w.w, b->n1b.w, LN_EPS,
                        a->mu1, a->rs1);
    if (!grid)
        reorder(v, a, a->att, a->xw, 1);
    tg_linear_fwd_mt(v->tp, v->gemm, a->xw, b->qkv_w.w, b->qkv_b.w, a->np, C, 3 * C, a->qkv);
    if ((rc = attn_fwd(v, b, a, e)))
        return rc;
    if (!grid)
        reorder(v, a, a->att, a->attw, 0);
    tg_linear_fwd_add_mt(v->tp, v->gemm, a->att, b->proj_w.w, b->proj_b.w, n, C, C, x);
    memcpy(a->x_mid, x, nC * sizeof *x);
    tg_layernorm_fwd_mt(v->tp, x, a->xn2, n, C, b->n2w.w, b->n2b.w, LN_EPS, a->mu2, a->rs2);
    /* fc1 writes its output where GELU then leaves its derivative */
    tg_linear_fwd_mt(v->tp, v->gemm, a->xn2, b->fc1_w.w, b->fc1_b.w, n, C, v->mlp, a->dgelu);
    tg_gelu_fwd_mt(v->tp, a->dgelu, a->h, (size_t)n * v->mlp);
    tg_linear_fwd_add_mt(v->tp, v->gemm, a->h, b->fc2_w.w, b->fc2_b.w, n, v->mlp, C, x);
    return DOCVL_OK;
}

int tg_block_work_alloc(const tg_vit *v, const tg_block *b, tg_block_work *w, tg_pool *pool,
                        dv_err *e)
{
    tg_block_act a;
    geometry(v, b, &a);
    size_t n = vit_rows(v), C = (size_t)v->width, M = (size_t)v->mlp, np = (size_t)a.np;
    *w = (tg_block_work){ .dh = tg_alloc_raw(pool, n * M), .dpre = tg_alloc_raw(pool, n * M),
                          .dxn = tg_alloc_raw(pool, n * C), .datt = tg_alloc_raw(pool, n * C),
                          .dattw = tg_alloc_raw(pool, np * C),
                          .dqkv = tg_alloc_raw(pool, np * 3 * C),
                          .dxw = tg_alloc_raw(pool, np * C) };
    return tg_pool_check(pool, "a vision block's gradients", e);
}

/* dx = d(block output) += d through norm2 -> fc1 -> GELU -> fc2. */
static void mlp_bwd(const tg_vit *v, const tg_block *b, const tg_block_act *a, float *dx,
                    int wgrad, const tg_block_work *w)
{
    size_t n = vit_rows(v), C = (size_t)v->width, M = (size_t)v->mlp;
    tg_linear_bwd_set_mt(v->tp, v->gemm, dx, a->h, b->fc2_w.w, (int)n, (int)M, (int)C, w->dh,
                         TG_G(b->fc2_w, wgrad), TG_G(b->fc2_b, wgrad));
    tg_gelu_bwd_mt(v->tp, w->dh, a->dgelu, w->dpre, n * M);
    tg_linear_bwd_set_mt(v->tp, v->gemm, w->dpre, a->xn2, b->fc1_w.w, (int)n, (int)C, (int)M,
                         w->dxn, TG_G(b->fc1_w, wgrad), TG_G(b->fc1_b, wgrad));
    tg_layernorm_bwd_mt(v->tp, w->dxn, a->x_mid, a->mu2, a->rs2, (int)n, (int)C, b->n2w.w, dx,
                        TG_G(b->n2w, wgrad), TG_G(b->n2b, wgrad));
}

/* The attention gradients of window `win`, head h, into dqkv [np, 3C]. */
static tg_attn_grads window_grads(const tg_vit *v, const tg_block_act *a, const float *dattw,
                                  float *dqkv, int win, int h)
{
    int C = v->width, hd = C / v->heads, per = a->wh * a->ww;
    size_t off = (size_t)win * per * 3 * C + (size_t)h * hd;
    return (tg_attn_grads){ .dout = dattw + (size_t)win * per * C + (size_t)h * hd,
                            .dout_stride = (size_t)C, .dq = dqkv + off, .dk = dqkv + off + C,
                            .dv = dqkv + off + 2 * C, .write = 1 };
}

/* Without relative positions every window and head is independent: split
 * over the pool. */
static int attn_bwd_plain(const tg_vit *v, const tg_block_act *a, const float *dattw,
                          float *dqkv, dv_err *e)
{
    int wins = a->np / (a->wh * a->ww), count = wins * v->heads;
    tg_attn *at = malloc((size_t)count * sizeof *at);
    tg_attn_grads *g = malloc((size_t)count * sizeof *g);
    int rc = !at || !g ? dv_fail(e, DOCVL_ENOMEM, "out of memory for attention gradients")
                       : DOCVL_OK;
    for (int i = 0; !rc && i < count; i++) {
        at[i] = window_attn(v, a, i / v->heads, i % v->heads);
        g[i] = window_grads(v, a, dattw, dqkv, i / v->heads, i % v->heads);
    }
    if (!rc)
        rc = tg_attn_many(v->tp, at, g, count, e);
    free(at), free(g);
    return rc;
}

/* Attention backward of every window and head into dqkv [np, 3C]; the
 * relative-position tables' gradients sum into shared dR: one at a time. */
static int attn_bwd(const tg_vit *v, const tg_block *b, const tg_block_act *a, const float *dattw,
                    float *dqkv, int wgrad, dv_err *e)
{
    if (!v->relpos)
        return attn_bwd_plain(v, a, dattw, dqkv, e);
    int hd = v->width / v->heads, per = a->wh * a->ww, L = 2 * a->ws - 1;
    float *drel = malloc((size_t)per * (2 * a->ws + L) * sizeof *drel);
    if (!drel)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for relative-position gradients");
    int rc = DOCVL_OK;
    for (int win = 0; win < a->np / per && !rc; win++)
        for (int h = 0; h < v->heads && !rc; h++) {
            tg_attn at = window_attn(v, a, win, h);
            tg_attn_grads g = window_grads(v, a, dattw, dqkv, win, h);
            memset(drel, 0, (size_t)2 * per * a->ws * sizeof *drel);
            g.drel_h = drel;
            g.drel_w = drel + (size_t)per * a->ws;
            if ((rc = tg_attn_bwd(&at, &g, e)))
                continue;
            float *dfull = drel + (size_t)2 * per * a->ws;
            rel_tables_bwd(at.q, g.dq, at.q_stride, a->ws, hd, b->rel_h.w, TG_G(b->rel_h, wgrad),
                           1, g.drel_h, dfull);
            rel_tables_bwd(at.q, g.dq, at.q_stride, a->ws, hd, b->rel_w.w, TG_G(b->rel_w, wgrad),
                           0, g.drel_w, dfull);
        }
    free(drel);
    return rc;
}

static int block_bwd(const tg_vit *v, const tg_block *b, const tg_block_act *a, float *dx,
                     int wgrad, int need_dx, const tg_block_work *w, dv_err *e)
{
    size_t n = vit_rows(v), C = (size_t)v->width, np = (size_t)a->np;
    mlp_bwd(v, b, a, dx, wgrad, w);
    /* the windows' attention writes dqkv whole (the windows cover its rows) */
    tg_linear_bwd_set_mt(v->tp, v->gemm, dx, a->att, b->proj_w.w, (int)n, (int)C, (int)C, w->datt,
                         TG_G(b->proj_w, wgrad), TG_G(b->proj_b, wgrad));
    int grid = grid_windows(v, a);
    if (!grid)
        reorder(v, a, w->datt, w->dattw, 1);
    int rc = attn_bwd(v, b, a, grid ? w->datt : w->dattw, w->dqkv, wgrad, e);
    if (rc)
        return rc;
    tg_linear_bwd_set_mt(v->tp, v->gemm, w->dqkv, a->xw, b->qkv_w.w, (int)np, (int)C, 3 * (int)C,
                         need_dx || wgrad ? w->dxw : NULL, TG_G(b->qkv_w, wgrad),
                         TG_G(b->qkv_b, wgrad));
    if (!need_dx && !wgrad)
        return DOCVL_OK;
    /* every grid row lies in one window: the reorder writes datt whole */
    if (!grid)
        reorder(v, a, w->datt, w->dxw, 0);
    tg_layernorm_bwd_mt(v->tp, grid ? w->dxw : w->datt, a->x_in, a->mu1, a->rs1, (int)n, (int)C, b->n1w.w,
                        need_dx ? dx : NULL, TG_G(b->n1w, wgrad), TG_G(b->n1b, wgrad));
    return DOCVL_OK;
}

int tg_block_bwd_work(const tg_vit *v, const tg_block *b, const tg_block_act *a, float *dx,
                      int wgrad, int need_dx, const tg_block_work *work, dv_err *e)
{
    return block_bwd(v, b, a, dx, wgrad, need_dx, work, e);
}

int tg_block_bwd(const tg_vit *v, const tg_block *b, const tg_block_act *a, float *dx, int wgrad,
                 int need_dx, dv_err *e)
{
    tg_pool own = { 0 };
    tg_block_work w;
    int rc = tg_block_work_alloc(v, b, &w, &own, e);
    if (!rc)
        rc = block_bwd(v, b, a, dx, wgrad, need_dx, &w, e);
    tg_pool_free(&own);
    return rc;
}

int tg_block_fwd_opt(const tg_vit *v, const tg_block *b, float *x, tg_block_act *kept,
                     tg_pool *pool, dv_err *e)
{
    if (kept)
        return tg_block_fwd(v, b, x, kept, pool, e);
    tg_pool own = { 0 };
    tg_block_act act;
    int rc = tg_block_fwd(v, b, x, &act, &own, e);
    tg_pool_free(&own);
    return rc;
}
