/* SAM-B tower forward and backward: patch embedding, windowed/global blocks
 * with relative positions, the conv neck, 64 -> 96 bilinear interpolation,
 * two stride-2 downsamples; the hd branch (neck_hd on the first global
 * block's output, same downsamples) scaled by hd_alpha and added. */
#include <stdlib.h>
#include <string.h>

#include "train/grad_model.h"

#define LN_EPS 1e-6f

typedef struct neck_geo {
    tg_conv c1, c3, d0, d1;
    int G, n, up, g0;        /* grid, grid^2, interpolated side, after first downsample */
} neck_geo;

static neck_geo geo(const tg_sam *s)
{
    neck_geo g = {
        .c1 = { .cin = s->v.width, .cout = s->p, .k = 1, .stride = 1, .gemm = s->v.gemm },
        .c3 = { .cin = s->p, .cout = s->p, .k = 3, .stride = 1, .pad = 1, .gemm = s->v.gemm },
        .d0 = { .cin = s->p, .cout = s->ch[0], .k = 3, .stride = 2, .pad = 1, .gemm = s->v.gemm },
        .d1 = { .cin = s->ch[0], .cout = s->ch[1], .k = 3, .stride = 2, .pad = 1,
                .gemm = s->v.gemm },
        .G = s->v.grid_h, .n = s->v.grid_h * s->v.grid_w, .up = DV_SAM_INTERP_SIZE,
    };
    int w;
    tg_conv_out(&g.d0, g.up, g.up, &g.g0, &w);
    return g;
}

static int neck_fwd(const tg_sam *s, const tg_neck *nk, const float *in, tg_neck_act *a,
                    tg_pool *pool, dv_err *e)
{
    neck_geo g = geo(s);
    size_t n = (size_t)g.n, P = (size_t)s->p, og = (size_t)s->out_grid;
    a->in = in;
    a->a = tg_alloc(pool, n * P);
    a->an = tg_alloc(pool, n * P);
    a->b = tg_alloc(pool, n * P);
    a->bn = tg_alloc(pool, n * P);
    a->mu1 = tg_alloc(pool, n);
    a->rs1 = tg_alloc(pool, n);
    a->mu2 = tg_alloc(pool, n);
    a->rs2 = tg_alloc(pool, n);
    a->up = tg_alloc(pool, (size_t)g.up * g.up * P);
    a->d0 = tg_alloc(pool, (size_t)g.g0 * g.g0 * s->ch[0]);
    a->out = tg_alloc(pool, og * og * s->ch[1]);
    int rc = tg_pool_check(pool, "SAM neck activations", e);
    if (!rc)
        rc = tg_conv_fwd(&g.c1, in, g.G, g.G, nk->c1.w, NULL, a->a, e);
    if (rc)
        return rc;
    tg_layernorm_fwd(a->a, a->an, g.n, s->p, nk->ln1w.w, nk->ln1b.w, LN_EPS, a->mu1, a->rs1);
    if ((rc = tg_conv_fwd(&g.c3, a->an, g.G, g.G, nk->c3.w, NULL, a->b, e)))
        return rc;
    tg_layernorm_fwd(a->b, a->bn, g.n, s->p, nk->ln2w.w, nk->ln2b.w, LN_EPS, a->mu2, a->rs2);
    tg_bilinear_fwd(a->bn, g.G, g.G, s->p, a->up, g.up, g.up);
    rc = tg_conv_fwd(&g.d0, a->up, g.up, g.up, s->down[0].w, NULL, a->d0, e);
    return rc ? rc : tg_conv_fwd(&g.d1, a->d0, g.g0, g.g0, s->down[1].w, NULL, a->out, e);
}

/* din (may be NULL: SAM body frozen) += d(neck input). */
static int neck_bwd(const tg_sam *s, const tg_neck *nk, const tg_neck_act *a, const float *dout,
                    int wg, float *din, dv_err *e)
{
    neck_geo g = geo(s);
    size_t n = (size_t)g.n, P = (size_t)s->p;
    float *dd0 = calloc((size_t)g.g0 * g.g0 * s->ch[0], sizeof(float));
    float *dup = calloc((size_t)g.up * g.up * P, sizeof(float));
    float *d1 = calloc(n * P, sizeof(float)), *d2 = calloc(n * P, sizeof(float));
    int rc = !dd0 || !dup || !d1 || !d2
                 ? dv_fail(e, DOCVL_ENOMEM, "out of memory for SAM neck gradients")
                 : tg_conv_bwd(&g.d1, a->d0, g.g0, g.g0, s->down[1].w, dout, dd0,
                               TG_G(s->down[1], wg), NULL, e);
    if (!rc)
        rc = tg_conv_bwd(&g.d0, a->up, g.up, g.up, s->down[0].w, dd0, dup, TG_G(s->down[0], wg),
                         NULL, e);
    if (!rc) {
        tg_bilinear_bwd(dup, g.G, g.G, s->p, d1, g.up, g.up);
        tg_layernorm_bwd(d1, a->b, a->mu2, a->rs2, g.n, s->p, nk->ln2w.w, d2, TG_G(nk->ln2w, wg),
                         TG_G(nk->ln2b, wg));
        memset(d1, 0, n * P * sizeof *d1);
        rc = tg_conv_bwd(&g.c3, a->an, g.G, g.G, nk->c3.w, d2, d1, TG_G(nk->c3, wg), NULL, e);
    }
    if (!rc) {
        memset(d2, 0, n * P * sizeof *d2);
        tg_layernorm_bwd(d1, a->a, a->mu1, a->rs1, g.n, s->p, nk->ln1w.w, d2, TG_G(nk->ln1w, wg),
                         TG_G(nk->ln1b, wg));
        if (din || wg)
            rc = tg_conv_bwd(&g.c1, a->in, g.G, g.G, nk->c1.w, d2, din, TG_G(nk->c1, wg), NULL, e);
    }
    free(dd0), free(dup), free(d1), free(d2);
    return rc;
}

int tg_sam_fwd(const tg_sam *s, const float *pixels, float *out, tg_sam_act *act, int keep_blocks,
               tg_pool *pool, dv_err *e)
{
    size_t n = (size_t)s->v.grid_h * s->v.grid_w, C = (size_t)s->v.width;
    size_t no = (size_t)s->out_grid * s->out_grid * s->ch[1];
    tg_conv pc = { .cin = 3, .cout = (int)C, .k = s->patch, .stride = s->patch,
                    .gemm = s->v.gemm };
    act->pixels = pixels;
    act->blocks = keep_blocks ? tg_alloc_bytes(pool, (size_t)s->layers * sizeof *act->blocks)
                              : NULL;
    act->x_last = tg_alloc(pool, n * C);
    act->hd_src = tg_alloc(pool, n * C);
    int rc = tg_pool_check(pool, "SAM activations", e);
    if (!rc)
        rc = tg_patch_fwd(&pc, pixels, s->image, s->image, s->mean, s->std, s->patch_w.w,
                          s->patch_b.w, act->x_last, e);
    for (size_t i = 0; !rc && i < n * C; i++)
        act->x_last[i] += s->pos.w[i];
    for (int i = 0; i < s->layers && !rc; i++) {
        if ((rc = tg_block_fwd_opt(&s->v, &s->blocks[i], act->x_last,
                                keep_blocks ? &act->blocks[i] : NULL, pool, e)))
            dv_wrap(e, "SAM block %d", i);
        else if (i == s->first_global)
            memcpy(act->hd_src, act->x_last, n * C * sizeof(float));
    }
    if (!rc)
        rc = neck_fwd(s, &s->neck, act->x_last, &act->main, pool, e);
    if (!rc)
        rc = neck_fwd(s, &s->neck_hd, act->hd_src, &act->hd, pool, e);
    if (rc)
        return rc;
    float alpha = s->alpha.w[0];
    for (size_t i = 0; i < no; i++)
        out[i] = act->main.out[i] + act->hd.out[i] * alpha;
    return DOCVL_OK;
}

static int body_bwd(const tg_sam *s, const tg_sam_act *act, float *dx, const float *dhd_src,
                    dv_err *e)
{
    size_t n = (size_t)s->v.grid_h * s->v.grid_w, C = (size_t)s->v.width;
    int rc = DOCVL_OK;
    for (int i = s->layers - 1; i >= 0 && !rc; i--) {
        if (i == s->first_global)
            for (size_t j = 0; j < n * C; j++)
                dx[j] += dhd_src[j];
        if ((rc = tg_block_bwd(&s->v, &s->blocks[i], &act->blocks[i], dx, 1, 1, e)))
            dv_wrap(e, "SAM block %d backward", i);
    }
    if (rc)
        return rc;
    for (size_t j = 0; j < n * C; j++)
        s->pos.g[j] += dx[j];
    tg_conv pc = { .cin = 3, .cout = (int)C, .k = s->patch, .stride = s->patch,
                    .gemm = s->v.gemm };
    return tg_patch_bwd(&pc, act->pixels, s->image, s->image, s->mean, s->std, dx, s->patch_w.g,
                        s->patch_b.g, e);
}

int tg_sam_bwd(const tg_sam *s, const tg_sam_act *act, const float *dout, int body, int neck,
               dv_err *e)
{
    if (!body && !neck)
        return DOCVL_OK;
    size_t n = (size_t)s->v.grid_h * s->v.grid_w, C = (size_t)s->v.width;
    size_t no = (size_t)s->out_grid * s->out_grid * s->ch[1];
    float alpha = s->alpha.w[0];
    float *dhd = malloc(no * sizeof *dhd);
    float *dx = body ? calloc(n * C, sizeof *dx) : NULL;
    float *dsrc = body ? calloc(n * C, sizeof *dsrc) : NULL;
    int rc = !dhd || (body && (!dx || !dsrc))
                 ? dv_fail(e, DOCVL_ENOMEM, "out of memory for SAM gradients") : DOCVL_OK;
    if (!rc) {
        double da = 0;
        for (size_t i = 0; i < no; i++) {
            dhd[i] = dout[i] * alpha;
            da += (double)dout[i] * act->hd.out[i];
        }
        if (neck)
            s->alpha.g[0] += (float)da;
        rc = neck_bwd(s, &s->neck, &act->main, dout, neck, dx, e);
    }
    if (!rc)
        rc = neck_bwd(s, &s->neck_hd, &act->hd, dhd, neck, dsrc, e);
    if (!rc && body)
        rc = body_bwd(s, act, dx, dsrc, e);
    free(dhd), free(dx), free(dsrc);
    return rc;
}
