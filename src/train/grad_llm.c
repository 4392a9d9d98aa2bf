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
    A->x_in = tg_alloc(pool, N * H);
    A->rs1 = tg_alloc(pool, N);
    A->xn1 = tg_alloc(pool, N * H);
    A->q = tg_alloc(pool, N * H);
    A->k = tg_alloc(pool, N * kv);
    A->v = tg_alloc(pool, N * kv);
    A->lse = tg_alloc(pool, (size_t)c->heads * N);
    A->att = tg_alloc(pool, N * H);
    A->x_mid = tg_alloc(pool, N * H);
    A->rs2 = tg_alloc(pool, N);
    A->xn2 = tg_alloc(pool, N * H);
    A->gate = tg_alloc(pool, N * F);
    A->up = tg_alloc(pool, N * F);
    A->hm = tg_alloc(pool, N * F);
    return pool->failed;
}

static tg_attn layer_attn(const dv_lm_cfg *c, const tg_layer_act *A, int n)
{
    size_t kv = (size_t)c->kv_heads * c->head_dim;
    return (tg_attn){ .n = n, .n_heads = c->heads, .n_kv_heads = c->kv_heads,
                      .head_dim = c->head_dim, .q = A->q, .k = A->k, .v = A->v,
                      .q_stride = (size_t)c->hidden, .k_stride = kv, .v_stride = kv,
                      .out = A->att, .out_stride = (size_t)c->hidden,
                      .scale = (float)(1.0 / sqrt((double)c->head_dim)), .causal = 1,
                      .lse = A->lse };
}

static int layer_fwd(const tg_llm *m, const tg_layer *L, const tg_llm_act *act, tg_layer_act *A,
                     float *x, float *tmp, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    int n = act->n, H = c->hidden, F = c->intermediate, kv = c->kv_heads * c->head_dim;
    memcpy(A->x_in, x, (size_t)n * H * sizeof *x);
    tg_rmsnorm_fwd(x, A->xn1, n, H, L->attn_norm.w, c->rms_eps, A->rs1);
    tg_linear_fwd(A->xn1, L->q.w, NULL, n, H, H, A->q);
    tg_linear_fwd(A->xn1, L->k.w, NULL, n, H, kv, A->k);
    tg_linear_fwd(A->xn1, L->v.w, NULL, n, H, kv, A->v);
    tg_rope_apply(A->q, n, c->heads, c->head_dim, (size_t)H, act->cosv, act->sinv, 0);
    tg_rope_apply(A->k, n, c->kv_heads, c->head_dim, (size_t)kv, act->cosv, act->sinv, 0);
    tg_attn at = layer_attn(c, A, n);
    int rc = tg_attn_fwd(&at, e);
    if (rc)
        return rc;
    tg_linear_fwd(A->att, L->o.w, NULL, n, H, H, tmp);
    for (size_t i = 0; i < (size_t)n * H; i++)
        x[i] += tmp[i];
    memcpy(A->x_mid, x, (size_t)n * H * sizeof *x);
    tg_rmsnorm_fwd(x, A->xn2, n, H, L->mlp_norm.w, c->rms_eps, A->rs2);
    tg_linear_fwd(A->xn2, L->gate.w, NULL, n, H, F, A->gate);
    tg_linear_fwd(A->xn2, L->up.w, NULL, n, H, F, A->up);
    tg_silu_mul_fwd(A->gate, A->up, A->hm, (size_t)n * F);
    tg_linear_fwd(A->hm, L->down.w, NULL, n, F, H, tmp);
    for (size_t i = 0; i < (size_t)n * H; i++)
        x[i] += tmp[i];
    return DOCVL_OK;
}

/* Layer l with its activations kept in the step's pool, or in one of its
 * own freed at once (forward only). */
static int layer_fwd_opt(const tg_llm *m, int l, const tg_llm_act *act, int keep, float *x,
                         float *tmp, tg_pool *pool, dv_err *e)
{
    tg_pool own = { 0 };
    tg_layer_act scratch;
    tg_layer_act *A = keep ? &act->layers[l] : &scratch;
    int rc = alloc_layer(&m->c, act->n, A, keep ? pool : &own)
                 ? dv_fail(e, DOCVL_ENOMEM, "out of memory for decoder layer %d", l)
                 : layer_fwd(m, &m->layers[l], act, A, x, tmp, e);
    tg_pool_free(&own);
    return rc;
}

int tg_llm_fwd(const tg_llm *m, const float *x_in, int n, float *logits, tg_llm_act *act, int keep,
               tg_pool *pool, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    size_t H = (size_t)c->hidden;
    if (n > c->max_pos)
        return dv_fail(e, DOCVL_ECONTEXT, "%d tokens exceed the context length %d", n, c->max_pos);
    act->n = n;
    act->cosv = tg_alloc(pool, (size_t)n * c->head_dim / 2);
    act->sinv = tg_alloc(pool, (size_t)n * c->head_dim / 2);
    act->layers = keep ? tg_alloc_bytes(pool, (size_t)c->layers * sizeof *act->layers) : NULL;
    act->x_last = tg_alloc(pool, (size_t)n * H);
    act->rs = tg_alloc(pool, (size_t)n);
    act->xn = tg_alloc(pool, (size_t)n * H);
    float *tmp = tg_alloc(pool, (size_t)n * H);
    int rc = tg_pool_check(pool, "decoder activations", e);
    if (rc)
        return rc;
    tg_rope_tables(0, n, c->head_dim, c->rope_theta, act->cosv, act->sinv);
    memcpy(act->x_last, x_in, (size_t)n * H * sizeof *x_in);
    for (int l = 0; l < c->layers && !rc; l++)
        if ((rc = layer_fwd_opt(m, l, act, keep, act->x_last, tmp, pool, e)))
            dv_wrap(e, "decoder layer %d", l);
    if (rc)
        return rc;
    tg_rmsnorm_fwd(act->x_last, act->xn, n, (int)H, m->norm.w, c->rms_eps, act->rs);
    if (logits)
        tg_linear_fwd(act->xn, m->head.w, NULL, n, (int)H, c->vocab, logits);
    return DOCVL_OK;
}

/* Per-layer gradient scratch, reused by every layer. */
typedef struct llm_grads {
    float *dhm, *dgate, *dup, *dxn, *datt, *dq, *dk, *dv;
} llm_grads;

/* dx: d(layer output) in, d(layer input) out. */
static int layer_bwd(const tg_llm *m, const tg_layer *L, const tg_llm_act *act,
                     const tg_layer_act *A, float *dx, int wg, const llm_grads *s, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    int n = act->n, H = c->hidden, F = c->intermediate, kv = c->kv_heads * c->head_dim;
    size_t NH = (size_t)n * H, NF = (size_t)n * F, NK = (size_t)n * kv;
    memset(s->dhm, 0, NF * sizeof(float));
    memset(s->dgate, 0, NF * sizeof(float));
    memset(s->dup, 0, NF * sizeof(float));
    memset(s->dxn, 0, NH * sizeof(float));
    tg_linear_bwd(dx, A->hm, L->down.w, n, F, H, s->dhm, TG_G(L->down, wg), NULL);
    tg_silu_mul_bwd(s->dhm, A->gate, A->up, s->dgate, s->dup, NF);
    tg_linear_bwd(s->dgate, A->xn2, L->gate.w, n, H, F, s->dxn, TG_G(L->gate, wg), NULL);
    tg_linear_bwd(s->dup, A->xn2, L->up.w, n, H, F, s->dxn, TG_G(L->up, wg), NULL);
    tg_rmsnorm_bwd(s->dxn, A->x_mid, A->rs2, n, H, L->mlp_norm.w, dx, TG_G(L->mlp_norm, wg));

    memset(s->datt, 0, NH * sizeof(float));
    memset(s->dq, 0, NH * sizeof(float));
    memset(s->dk, 0, NK * sizeof(float));
    memset(s->dv, 0, NK * sizeof(float));
    tg_linear_bwd(dx, A->att, L->o.w, n, H, H, s->datt, TG_G(L->o, wg), NULL);
    tg_attn at = layer_attn(c, A, n);
    tg_attn_grads g = { .dout = s->datt, .dout_stride = (size_t)H, .dq = s->dq, .dk = s->dk,
                        .dv = s->dv };
    int rc = tg_attn_bwd(&at, &g, e);
    if (rc)
        return rc;
    tg_rope_apply(s->dq, n, c->heads, c->head_dim, (size_t)H, act->cosv, act->sinv, 1);
    tg_rope_apply(s->dk, n, c->kv_heads, c->head_dim, (size_t)kv, act->cosv, act->sinv, 1);
    memset(s->dxn, 0, NH * sizeof(float));
    tg_linear_bwd(s->dq, A->xn1, L->q.w, n, H, H, s->dxn, TG_G(L->q, wg), NULL);
    tg_linear_bwd(s->dk, A->xn1, L->k.w, n, H, kv, s->dxn, TG_G(L->k, wg), NULL);
    tg_linear_bwd(s->dv, A->xn1, L->v.w, n, H, kv, s->dxn, TG_G(L->v, wg), NULL);
    tg_rmsnorm_bwd(s->dxn, A->x_in, A->rs1, n, H, L->attn_norm.w, dx, TG_G(L->attn_norm, wg));
    return DOCVL_OK;
}

int tg_llm_bwd(const tg_llm *m, const tg_llm_act *act, const float *dlogits, float *dx_out,
               int wg, tg_pool *pool, dv_err *e)
{
    const dv_lm_cfg *c = &m->c;
    size_t N = (size_t)act->n, H = (size_t)c->hidden, F = (size_t)c->intermediate;
    size_t kv = (size_t)c->kv_heads * c->head_dim;
    llm_grads s = { tg_alloc(pool, N * F), tg_alloc(pool, N * F), tg_alloc(pool, N * F),
                    tg_alloc(pool, N * H), tg_alloc(pool, N * H), tg_alloc(pool, N * H),
                    tg_alloc(pool, N * kv), tg_alloc(pool, N * kv) };
    float *dx = tg_alloc(pool, N * H);
    int rc = tg_pool_check(pool, "decoder gradients", e);
    if (rc)
        return rc;
    tg_linear_bwd(dlogits, act->xn, m->head.w, (int)N, (int)H, c->vocab, s.dxn,
                  TG_G(m->head, wg), NULL);
    tg_rmsnorm_bwd(s.dxn, act->x_last, act->rs, (int)N, (int)H, m->norm.w, dx, TG_G(m->norm, wg));
    for (int l = c->layers - 1; l >= 0 && !rc; l--)
        if ((rc = layer_bwd(m, &m->layers[l], act, &act->layers[l], dx, wg, &s, e)))
            dv_wrap(e, "decoder layer %d backward", l);
    if (!rc && dx_out)
        memcpy(dx_out, dx, N * H * sizeof *dx);
    return rc;
}
