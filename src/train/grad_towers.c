/* SigLIP tower and the aligners, forward and backward. */
#include <stdlib.h>
#include <string.h>

#include "train/grad_model.h"

#define LN_EPS 1e-6f

int tg_siglip_fwd(const tg_siglip *s, const float *pixels, float *out, tg_siglip_act *act,
                  int keep, tg_pool *pool, dv_err *e)
{
    int ni = s->v.images > 1 ? s->v.images : 1;
    size_t per = (size_t)s->n * s->v.width, n = (size_t)ni * s->n, C = (size_t)s->v.width;
    tg_conv pc = { .cin = 3, .cout = (int)C, .k = s->patch, .stride = s->patch,
                    .gemm = s->v.gemm };
    act->pixels = pixels;
    act->blocks = keep ? tg_alloc_bytes(pool, (size_t)s->depth * sizeof(tg_block_act)) : NULL;
    act->x_last = tg_alloc_raw(pool, n * C);
    act->mu = tg_alloc_raw(pool, n);
    act->rs = tg_alloc_raw(pool, n);
    int rc = tg_pool_check(pool, "SigLIP activations", e);
    if (!rc)
        rc = tg_patch_fwd_many(s->v.tp, &pc, pixels, ni, s->image_h, s->image_w, s->mean,
                               s->std, s->patch_w.w, s->patch_b.w, act->x_last, e);
    if (rc)
        return rc;
    for (int k = 0; k < ni; k++)
        tg_add_mt(s->v.tp, act->x_last + k * per, s->pos.w, per);
    for (int i = 0; i < s->depth && !rc; i++)
        if ((rc = tg_block_fwd_opt(&s->v, &s->blocks[i], act->x_last,
                                keep ? &act->blocks[i] : NULL, pool, e)))
            dv_wrap(e, "SigLIP block %d", i);
    if (!rc)
        tg_layernorm_fwd_mt(s->v.tp, act->x_last, out, (int)n, (int)C, s->norm_w.w, s->norm_b.w,
                            LN_EPS, act->mu, act->rs);
    return rc;
}

int tg_siglip_bwd(const tg_siglip *s, const tg_siglip_act *act, const float *dout, int wgrad,
                  tg_pool *pool, dv_err *e)
{
    int ni = s->v.images > 1 ? s->v.images : 1;
    size_t per = (size_t)s->n * s->v.width, n = (size_t)ni * s->n, C = (size_t)s->v.width;
    float *dx = tg_alloc(pool, n * C);
    tg_block_work w;
    int rc = tg_pool_check(pool, "SigLIP gradients", e);
    if (!rc && s->depth)
        rc = tg_block_work_alloc(&s->v, &s->blocks[0], &w, pool, e);
    if (rc)
        return rc;
    tg_layernorm_bwd_mt(s->v.tp, dout, act->x_last, act->mu, act->rs, (int)n, (int)C,
                        s->norm_w.w, dx, TG_G(s->norm_w, wgrad), TG_G(s->norm_b, wgrad));
    for (int i = s->depth - 1; i >= 0 && !rc; i--)
        if ((rc = tg_block_bwd_work(&s->v, &s->blocks[i], &act->blocks[i], dx, wgrad, 1, &w,
                                    e)))
            dv_wrap(e, "SigLIP block %d backward", i);
    if (!rc && wgrad) {
        for (int k = 0; k < ni; k++)
            tg_add_mt(s->v.tp, s->pos.g, dx + k * per, per);
        tg_conv pc = { .cin = 3, .cout = (int)C, .k = s->patch, .stride = s->patch,
                    .gemm = s->v.gemm };
        rc = tg_patch_bwd_many(s->v.tp, &pc, act->pixels, ni, s->image_h, s->image_w, s->mean,
                               s->std, dx, s->patch_w.g, s->patch_b.g, e);
    }
    return rc;
}

/* ---- aligner: the head (hybrid: concat(high(h), low(l)) on features;
 * mlp_gelu: layers[0](x)), then GELU and a linear layer per further step ---- */

static int first_gelu(const tg_aligner *a) { return a->hybrid ? 0 : 1; }

int tg_aligner_fwd(const tg_aligner *a, const float *high, const float *low, int n, float *out,
                   tg_aligner_act *act, tg_pool *pool, dv_err *e)
{
    size_t E = (size_t)a->n_embed, half = E / 2;
    int g0 = first_gelu(a);
    if (a->n_layers > TG_MAX_ALIGNER_LAYERS)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "aligner of %d layers", a->n_layers);
    act->high = high;
    act->low = low;
    for (int i = g0; i < a->n_layers; i++) {
        act->pre[i] = tg_alloc_raw(pool, (size_t)n * E);
        act->in[i] = tg_alloc_raw(pool, (size_t)n * E);
    }
    float *tmp = a->hybrid ? tg_alloc(pool, (size_t)n * half) : NULL;
    int rc = tg_pool_check(pool, "aligner activations", e);
    if (rc)
        return rc;
    float *x = g0 < a->n_layers ? act->pre[g0] : out;
    if (a->hybrid) {
        tg_linear_fwd(a->gemm, high, a->high_w.w, a->high_b.w, n, a->in_high, (int)half, tmp);
        for (int i = 0; i < n; i++)
            memcpy(x + (size_t)i * E, tmp + (size_t)i * half, half * sizeof *x);
        tg_linear_fwd(a->gemm, low, a->low_w.w, a->low_b.w, n, a->in_low, (int)half, tmp);
        for (int i = 0; i < n; i++)
            memcpy(x + (size_t)i * E + half, tmp + (size_t)i * half, half * sizeof *x);
    } else {
        tg_linear_fwd_mt(a->tp, a->gemm, low, a->lw[0].w, a->lb[0].w, n, a->in_low, (int)E, x);
    }
    for (int i = g0; i < a->n_layers; i++) {
        tg_gelu_fwd_mt(a->tp, act->pre[i], act->in[i], (size_t)n * E);
        tg_linear_fwd_mt(a->tp, a->gemm, act->in[i], a->lw[i].w, a->lb[i].w, n, (int)E, (int)E,
                         i + 1 < a->n_layers ? act->pre[i + 1] : out);
    }
    return DOCVL_OK;
}

int tg_aligner_bwd(const tg_aligner *a, const tg_aligner_act *act, int n, const float *dout,
                   int wgrad, float *dhigh, float *dlow, tg_pool *pool, dv_err *e)
{
    size_t E = (size_t)a->n_embed, half = E / 2, len = (size_t)n * E;
    float *dy = tg_alloc_raw(pool, len), *din = tg_alloc_raw(pool, len);
    float *dh = a->hybrid ? tg_alloc(pool, (size_t)n * half) : NULL;
    int rc = tg_pool_check(pool, "aligner gradients", e);
    if (rc)
        return rc;
    memcpy(dy, dout, len * sizeof *dy);
    for (int i = a->n_layers - 1; i >= first_gelu(a); i--) {
        tg_linear_bwd_set_mt(a->tp, a->gemm, dy, act->in[i], a->lw[i].w, n, (int)E, (int)E, din,
                             TG_G(a->lw[i], wgrad), TG_G(a->lb[i], wgrad));
        tg_gelu_bwd_mt(a->tp, din, act->pre[i], dy, len);
    }
    if (!a->hybrid) {
        tg_linear_bwd_mt(a->tp, a->gemm, dy, act->low, a->lw[0].w, n, a->in_low, (int)E, dlow,
                         TG_G(a->lw[0], wgrad), TG_G(a->lb[0], wgrad));
        return DOCVL_OK;
    }
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < n; i++)
            memcpy(dh + (size_t)i * half, dy + (size_t)i * E + side * half, half * sizeof *dh);
        if (side == 0)
            tg_linear_bwd(a->gemm, dh, act->high, a->high_w.w, n, a->in_high, (int)half, dhigh,
                          TG_G(a->high_w, wgrad), TG_G(a->high_b, wgrad));
        else
            tg_linear_bwd(a->gemm, dh, act->low, a->low_w.w, n, a->in_low, (int)half, dlow,
                          TG_G(a->low_w, wgrad), TG_G(a->low_b, wgrad));
    }
    return DOCVL_OK;
}
