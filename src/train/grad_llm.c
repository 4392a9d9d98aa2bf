/* The decoder (HF LlamaForCausalLM) forward and backward over one training
 * sequence: RMSNorm, q/k/v, RoPE (rotate_half), causal GQA attention, o_proj,
 * SiLU-gated MLP, final norm, lm_head. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/grad_attn.h"
#include "train/grad_model.h"

static int alloc_layer(const dv_lm_cfg *c, int n, tg_layer_act *A, tg_pool *pool)
{
    size_t N = (size_t)n, H = (size_t)c->hidden, F = (size_t)c->intermediate;
    size_t kv = (size_t)c->kv_heads * c->head_dim;
    A->x_in = tg_alloc_raw(pool, N * H);
    A->rs1 = tg_alloc_raw(pool, N);
    A->xn1 = tg_alloc_raw(pool, N * H);
    A->qkv = tg_alloc_raw(pool, N * (H + 2 * kv));
    A->k = A->qkv;
    A->q = A->qkv + kv;
    A->v = A->qkv + kv + H;
    A->lse = tg_alloc_raw(pool, (size_t)c->heads * N);
    A->att = tg_alloc_raw(pool, N * H);
    A->x_mid = tg_alloc_raw(pool, N * H);
    A->rs2 = tg_alloc_raw(pool, N);
    A->xn2 = tg_alloc_raw(pool, N * H);
    A->gu = tg_alloc_raw(pool, N * 2 * F);
    A->hm = tg_alloc_raw(pool, N * F);
    return pool->failed;
}

/* The attention of sequence i's rows, kv head g and the query heads that
 * share it (the items of one layer's attention: they never overlap). */
static tg_attn seq_attn(const dv_lm_cfg *c, const tg_llm_act *act, const tg_layer_act *A, int i,
                        int g)
{
    size_t kv = (size_t)c->kv_heads * c->head_dim, H = (size_t)c->hidden, W = H + 2 * kv;
    size_t r0 = (size_t)act->seq[i], len = (size_t)act->seq[i + 1] - r0;
    int group = c->heads / c->kv_heads;
    size_t qcol = (size_t)g * group * c->head_dim, kcol = (size_t)g * c->head_dim;
    return (tg_attn){ .n = (int)len, .n_heads = group, .n_kv_heads = 1,
                      .head_dim = c->head_dim, .q = A->q + r0 * W + qcol,
                      .k = A->k + r0 * W + kcol, .v = A->v + r0 * W + kcol, .q_stride = W,
                      .k_stride = W, .v_stride = W, .out = A->att + r0 * H + qcol,
                      .out_stride = H, .scale = (float)(1.0 / sqrt((double)c->head_dim)),
                      .causal = 1, .lse = A->lse + r0 * c->heads + (size_t)g * group * len };
}

/* Every sequence's attention, split over the pool: forward when dq is
 * NULL, else backward from datt into dq, dk, dv (laid out as q, k, v in
 * qkv). */
static int layer_attn(const tg_llm *m, const tg_llm_act *act, const tg_layer_act *A,
                      const float *datt, float *dq, float *dk, float *dv, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    int count = act->nseq * c->kv_heads;
    tg_attn *at = malloc((size_t)count * sizeof *at);
    tg_attn_grads *g = dq ? malloc((size_t)count * sizeof *g) : NULL;
    if (!at || (dq && !g)) {
        free(at), free(g);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the decoder's attention");
    }
    for (int i = 0; i < count; i++) {
        at[i] = seq_attn(c, act, A, i / c->kv_heads, i % c->kv_heads);
        at[i].gemm = m->gemm;
        if (!g)
            continue;
        /* the gradients sit where the values do in their own buffers */
        g[i] = (tg_attn_grads){ .dout = datt + (at[i].out - A->att),
                                .dout_stride = at[i].out_stride, .dq = dq + (at[i].q - A->q),
                                .dk = dk + (at[i].k - A->k), .dv = dv + (at[i].v - A->v),
                                .write = 1 };
    }
    for (size_t i = 0, kept = 0; A->p && i < (size_t)count; i++) {
        at[i].p = A->p + kept;
        kept += tg_attn_p_floats(at[i].n, at[i].n_heads, 1);
    }
    int rc = tg_attn_many(m->tp, at, g, count, e);
    free(at), free(g);
    return rc;
}

/* The attention probabilities layer A keeps for the backward pass, or
 * NULL (recomputed there) where they would take too much memory. */
static float *alloc_p(const dv_lm_cfg *c, const tg_llm_act *act, tg_pool *pool)
{
    size_t floats = 0, qkv = (size_t)act->n * (c->hidden + 2 * c->kv_heads * c->head_dim);
    for (int i = 0; i < act->nseq; i++)
        floats += (size_t)c->kv_heads * tg_attn_p_floats(act->seq[i + 1] - act->seq[i],
                                                         c->heads / c->kv_heads, 1);
    return TG_ATTN_KEEP_P(floats, qkv) ? tg_alloc_raw(pool, floats) : NULL;
}

static int layer_fwd(const tg_llm *m, const tg_layer *L, const tg_llm_act *act, tg_layer_act *A,
                     float *x, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    int n = act->n, H = c->hidden, F = c->intermediate, kv = c->kv_heads * c->head_dim;
    size_t NH = (size_t)n * H, W = (size_t)H + 2 * kv;
    dv_pool *tp = m->tp;
    memcpy(A->x_in, x, NH * sizeof *x);
    tg_rmsnorm_fwd_mt(tp, x, A->xn1, n, H, L->attn_norm.w, c->rms_eps, A->rs1);
    tg_linear_fwd_mt(tp, m->gemm, A->xn1, L->k.w, NULL, n, H, (int)W, A->qkv);
    tg_rope_apply(A->q, n, c->heads, c->head_dim, W, act->cosv, act->sinv, 0);
    tg_rope_apply(A->k, n, c->kv_heads, c->head_dim, W, act->cosv, act->sinv, 0);
    int rc = layer_attn(m, act, A, NULL, NULL, NULL, NULL, e);
    if (rc)
        return rc;
    tg_linear_fwd_add_mt(tp, m->gemm, A->att, L->o.w, NULL, n, H, H, x);
    memcpy(A->x_mid, x, NH * sizeof *x);
    tg_rmsnorm_fwd_mt(tp, x, A->xn2, n, H, L->mlp_norm.w, c->rms_eps, A->rs2);
    tg_linear_fwd_mt(tp, m->gemm, A->xn2, L->gate.w, NULL, n, H, 2 * F, A->gu);
    tg_silu_mul_fwd_mt(tp, A->gu, n, F, A->hm);
    tg_linear_fwd_add_mt(tp, m->gemm, A->hm, L->down.w, NULL, n, F, H, x);
    return DOCVL_OK;
}

/* Layer l with its activations kept in the step's pool, or in one of its
 * own freed at once (forward only). */
static int layer_fwd_opt(const tg_llm *m, int l, const tg_llm_act *act, int keep, float *x,
                         tg_pool *pool, dv_err *e)
{
    tg_pool own = { 0 };
    tg_layer_act scratch;
    tg_layer_act *A = keep ? &act->layers[l] : &scratch;
    A->p = keep ? alloc_p(&m->c, act, pool) : NULL;
    int rc = alloc_layer(&m->c, act->n, A, keep ? pool : &own)
                 ? dv_fail(e, DOCVL_ENOMEM, "out of memory for decoder layer %d", l)
                 : layer_fwd(m, &m->layers[l], act, A, x, e);
    tg_pool_free(&own);
    return rc;
}

/* Whether b follows a's n values, in the weights and in the gradients. */
static int follows(const tg_w *a, size_t n, const tg_w *b)
{
    return b->w == a->w + n && (a->g ? b->g == a->g + n : !b->g);
}

/* The step runs k_proj, q_proj and v_proj as one product, gate_proj and
 * up_proj as another: each group's weights must follow one another (as
 * tmodel.c lays them out). */
static int check_fused(const tg_llm *m, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    size_t H = (size_t)c->hidden, kv = (size_t)c->kv_heads * c->head_dim;
    for (int l = 0; l < c->layers; l++) {
        const tg_layer *L = &m->layers[l];
        if (!follows(&L->k, kv * H, &L->q) || !follows(&L->q, H * H, &L->v) ||
            !follows(&L->gate, (size_t)c->intermediate * H, &L->up))
            return dv_fail(e, DOCVL_EINVAL, "decoder layer %d: k_proj, q_proj, v_proj or "
                           "gate_proj, up_proj are not adjacent in the parameter buffer", l);
    }
    return DOCVL_OK;
}

int tg_llm_fwd(const tg_llm *m, const float *x_in, int n, float *logits, tg_llm_act *act, int keep,
               tg_pool *pool, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    size_t H = (size_t)c->hidden;
    if (check_fused(m, e))
        return e->code;
    act->n = n;
    if (!act->nseq) {
        act->seq = tg_alloc_bytes(pool, 2 * sizeof *act->seq);
        if (act->seq) {
            act->seq[1] = n;
            act->nseq = 1;
        }
    }
    act->cosv = tg_alloc_raw(pool, (size_t)n * c->head_dim / 2);
    act->sinv = tg_alloc_raw(pool, (size_t)n * c->head_dim / 2);
    act->layers = keep ? tg_alloc_bytes(pool, (size_t)c->layers * sizeof *act->layers) : NULL;
    size_t nh = act->head_rows ? (size_t)act->nhead : (size_t)n;
    act->x_last = tg_alloc_raw(pool, (size_t)n * H);
    act->head_x = act->head_rows ? tg_alloc_raw(pool, nh * H) : NULL;
    act->rs = tg_alloc_raw(pool, nh);
    act->xn = tg_alloc_raw(pool, nh * H);
    int rc = tg_pool_check(pool, "decoder activations", e);
    if (rc)
        return rc;
    for (int i = 0; i < act->nseq; i++)
        if (act->seq[i + 1] - act->seq[i] > c->max_pos)
            return dv_fail(e, DOCVL_ECONTEXT, "%d tokens exceed the context length %d",
                           act->seq[i + 1] - act->seq[i], c->max_pos);
    /* every sequence counts its positions from 0: the longest one's tables,
     * copied to the others */
    size_t half = (size_t)c->head_dim / 2;
    int longest = 0;
    for (int i = 0; i < act->nseq; i++)
        longest = act->seq[i + 1] - act->seq[i] > act->seq[longest + 1] - act->seq[longest]
                      ? i : longest;
    float *cos0 = act->cosv + act->seq[longest] * half;
    float *sin0 = act->sinv + act->seq[longest] * half;
    int len0 = act->seq[longest + 1] - act->seq[longest];
    if (m->rope_cos && len0 <= m->rope_n) {   /* the same values, made once */
        memcpy(cos0, m->rope_cos, (size_t)len0 * half * sizeof *cos0);
        memcpy(sin0, m->rope_sin, (size_t)len0 * half * sizeof *sin0);
    } else {
        tg_rope_tables(0, len0, c->head_dim, c->rope_theta, cos0, sin0);
    }
    for (int i = 0; i < act->nseq; i++) {
        size_t r0 = (size_t)act->seq[i] * half, len = (act->seq[i + 1] - act->seq[i]) * half;
        if (i != longest) {
            memcpy(act->cosv + r0, cos0, len * sizeof *cos0);
            memcpy(act->sinv + r0, sin0, len * sizeof *sin0);
        }
    }
    memcpy(act->x_last, x_in, (size_t)n * H * sizeof *x_in);
    for (int l = 0; l < c->layers && !rc; l++)
        if ((rc = layer_fwd_opt(m, l, act, keep, act->x_last, pool, e)))
            dv_wrap(e, "decoder layer %d", l);
    if (rc)
        return rc;
    const float *xh = act->x_last;
    if (act->head_rows) {
        for (size_t j = 0; j < nh; j++)
            memcpy(act->head_x + j * H, act->x_last + (size_t)act->head_rows[j] * H,
                   H * sizeof *xh);
        xh = act->head_x;
    }
    if (!nh)
        return DOCVL_OK;
    tg_rmsnorm_fwd_mt(m->tp, xh, act->xn, (int)nh, (int)H, m->norm.w, c->rms_eps, act->rs);
    if (logits)
        tg_linear_fwd_mt(m->tp, m->gemm, act->xn, m->head.w, NULL, (int)nh, (int)H, c->vocab,
                         logits);
    return DOCVL_OK;
}

/* Per-layer gradient scratch, reused by every layer: dgu and dqkv laid
 * out as gu and qkv, dq, dk, dv pointing into dqkv. */
typedef struct llm_grads {
    float *dhm, *dgu, *dxn, *datt, *dqkv, *dq, *dk, *dv;
} llm_grads;

/* dx: d(layer output) in, d(layer input) out. */
static int layer_bwd(const tg_llm *m, const tg_layer *L, const tg_llm_act *act,
                     const tg_layer_act *A, float *dx, int wg, const llm_grads *s, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    int n = act->n, H = c->hidden, F = c->intermediate, kv = c->kv_heads * c->head_dim;
    size_t W = (size_t)H + 2 * kv;
    dv_pool *tp = m->tp;
    tg_linear_bwd_set_mt(tp, m->gemm, dx, A->hm, L->down.w, n, F, H, s->dhm, TG_G(L->down, wg),
                         NULL);
    tg_silu_mul_bwd_mt(tp, s->dhm, A->gu, n, F, s->dgu);
    tg_linear_bwd_set_mt(tp, m->gemm, s->dgu, A->xn2, L->gate.w, n, H, 2 * F, s->dxn,
                         TG_G(L->gate, wg), NULL);
    tg_rmsnorm_bwd_mt(tp, s->dxn, A->x_mid, A->rs2, n, H, L->mlp_norm.w, dx,
                      TG_G(L->mlp_norm, wg));

    /* the attention writes dqkv whole: its sequences and heads cover it */
    tg_linear_bwd_set_mt(tp, m->gemm, dx, A->att, L->o.w, n, H, H, s->datt, TG_G(L->o, wg), NULL);
    int rc = layer_attn(m, act, A, s->datt, s->dq, s->dk, s->dv, e);
    if (rc)
        return rc;
    tg_rope_apply(s->dq, n, c->heads, c->head_dim, W, act->cosv, act->sinv, 1);
    tg_rope_apply(s->dk, n, c->kv_heads, c->head_dim, W, act->cosv, act->sinv, 1);
    tg_linear_bwd_set_mt(tp, m->gemm, s->dqkv, A->xn1, L->k.w, n, H, (int)W, s->dxn, TG_G(L->k, wg),
                         NULL);
    tg_rmsnorm_bwd_mt(tp, s->dxn, A->x_in, A->rs1, n, H, L->attn_norm.w, dx,
                      TG_G(L->attn_norm, wg));
    return DOCVL_OK;
}

int tg_llm_bwd(const tg_llm *m, const tg_llm_act *act, const float *dlogits, float *dx_out,
               int wg, tg_pool *pool, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    size_t N = (size_t)act->n, H = (size_t)c->hidden, F = (size_t)c->intermediate;
    size_t kv = (size_t)c->kv_heads * c->head_dim;
    size_t nh = act->head_rows ? (size_t)act->nhead : N;
    /* each pass writes its buffer or clears what it accumulates into */
    llm_grads s = { .dhm = tg_alloc_raw(pool, N * F), .dgu = tg_alloc_raw(pool, N * 2 * F),
                    .dxn = tg_alloc_raw(pool, N * H), .datt = tg_alloc_raw(pool, N * H),
                    .dqkv = tg_alloc_raw(pool, N * (H + 2 * kv)) };
    /* the layers add into dx: the caller's buffer, cleared, when it wants it */
    float *dx = dx_out ? dx_out : tg_alloc_raw(pool, N * H);
    float *dhead = act->head_rows ? tg_alloc(pool, nh * H) : NULL;
    int rc = tg_pool_check(pool, "decoder gradients", e);
    if (rc)
        return rc;
    s.dk = s.dqkv;
    s.dq = s.dqkv + kv;
    s.dv = s.dqkv + kv + H;
    if (nh)
        tg_linear_bwd_set_mt(m->tp, m->gemm, dlogits, act->xn, m->head.w, (int)nh, (int)H, c->vocab,
                             s.dxn, TG_G(m->head, wg), NULL);
    if (act->head_rows) {   /* the other rows' gradient starts at 0 */
        tg_rmsnorm_bwd_mt(m->tp, s.dxn, act->head_x, act->rs, (int)nh, (int)H, m->norm.w, dhead,
                          TG_G(m->norm, wg));
        memset(dx, 0, N * H * sizeof *dx);
        for (size_t j = 0; j < nh; j++)
            memcpy(dx + (size_t)act->head_rows[j] * H, dhead + j * H, H * sizeof *dx);
    } else {
        memset(dx, 0, N * H * sizeof *dx);
        tg_rmsnorm_bwd_mt(m->tp, s.dxn, act->x_last, act->rs, (int)N, (int)H, m->norm.w, dx,
                          TG_G(m->norm, wg));
    }
    for (int l = c->layers - 1; l >= 0 && !rc; l--)
        if ((rc = layer_bwd(m, &m->layers[l], act, &act->layers[l], dx, wg, &s, e)))
            dv_wrap(e, "decoder layer %d backward", l);
    return rc;
}
