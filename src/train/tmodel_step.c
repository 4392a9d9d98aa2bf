/* One training sample through the model: vision path per image, spliced
 * embeddings, decoder, cross-entropy; then the backward pass through the
 * parts that train (and no further than the first one that does).
 *
 * Memory, one sample (f32): the forward keeps per decoder layer and token
 * 8 hidden-wide rows (input, normed, q, k, v, attention out, mid, normed)
 * and 3 intermediate-wide ones (gate, up, product), plus logits [T, vocab]
 * reused as their gradient; per vision block and token 9 width rows and 2
 * MLP rows, only for towers that get a backward pass. No [T, T] score matrix
 * exists: attention keeps one log-sum-exp per row and its backward recomputes
 * 64-query blocks. Only one image's vision activations live at a time (other
 * images are recomputed in the backward pass). For deepseek-vl-1.3b (~2.0e9
 * parameters) with T = 1024 (576 image tokens): weights + gradients 16 GB,
 * decoder activations 24 x 1024 x (8 x 2048 + 3 x 5632) x 4 B = 3.3 GB,
 * logits 0.4 GB, SigLIP-L when it trains 24 x 576 x (9 x 1024 + 2 x 4096)
 * x 4 B = 0.96 GB: about 21 GB before the optimizer's two moments (16 GB). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/resize.h"
#include "kernels/pool.h"
#include "train/ctc.h"
#include "train/tmodel_impl.h"

/* One image's vision path: its activations and outputs. */
typedef struct vis_run {
    tg_pool pool;
    const float *pixels;
    float *low_pixels, *sam_out, *sig_out, *embeds;
    tg_sam_act sam;
    tg_siglip_act sig;
    tg_aligner_act al;
} vis_run;

typedef struct step {
    dv_tmodel *m;
    tm_impl *I;
    const dv_tsample *s;
    tg_pool pool;
    int n_tok, hybrid, vis_grad, sam_grad, sig_grad;
    int train;               /* a backward pass follows: keep what it reads */
    int llm_bwd;             /* the backward pass runs through the decoder */
    float *x, *logits, *dx;
    tg_llm_act la;           /* the decoder's activations */
    vis_run vis;             /* the last image run (the only one kept) */
    dv_tprof *prof;          /* NULL: not timed */
    tg_pool *keep;           /* NULL, or the run's kept pools [step, vision] */
    double t_mark;           /* end of the last timed phase */
} step;

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Charges the time since the last mark to phase ph. */
static void tick(step *st, dv_tphase ph)
{
    if (!st->prof)
        return;
    double t = seconds();
    st->prof->s[ph] += t - st->t_mark;
    st->t_mark = t;
}

static int check_sample(const step *st, dv_err *e)
{
    const dv_tsample *s = st->s;
    const dv_lm_cfg *c = &st->m->cfg.lm;
    if (s->n_tokens <= 0 || !s->ids || s->n_images < 0 || (s->n_images && !s->pixels))
        return dv_fail(e, DOCVL_EINVAL, "training sample of %d tokens and %d images is empty or "
                       "lacks its arrays", s->n_tokens, s->n_images);
    int img = 0;
    for (int i = 0; i < s->n_tokens; i++) {
        if (s->ids[i] < 0 || s->ids[i] >= c->vocab)
            return dv_fail(e, DOCVL_EINVAL, "token id %d at position %d is outside the "
                           "vocabulary [0, %d)", (int)s->ids[i], i, c->vocab);
        if (s->labels && s->labels[i] != DV_IGNORE_LABEL &&
            (s->labels[i] < 0 || s->labels[i] >= c->vocab))
            return dv_fail(e, DOCVL_EINVAL, "label %d at position %d is neither a token of the "
                           "vocabulary nor %d", (int)s->labels[i], i, DV_IGNORE_LABEL);
        img += s->ids[i] == st->I->image_token_id;
    }
    if (s->n_images && st->I->image_token_id < 0)
        return dv_fail(e, DOCVL_EINVAL, "the sample has images but the image token id is unknown "
                       "(dv_tmodel_set_image_token)");
    if (s->n_images && img != s->n_images * st->n_tok)
        return dv_fail(e, DOCVL_EINVAL, "%d image tokens in the sample, but %d images need %d "
                       "each", img, s->n_images, st->n_tok);
    return DOCVL_OK;
}

static size_t pixels_per_image(const dv_config *c)
{
    return (size_t)3 * c->pre.image_h * c->pre.image_w;
}

static int vision_fwd(step *st, int k, dv_err *e)
{
    const dv_config *c = &st->m->cfg;
    tm_impl *I = st->I;
    vis_run *v = &st->vis;
    tg_pool_reset(&v->pool);
    v->pixels = st->s->pixels + (size_t)k * pixels_per_image(c);
    size_t n = (size_t)st->n_tok;
    v->sig_out = tg_alloc(&v->pool, n * I->sig.v.width);
    v->embeds = tg_alloc(&v->pool, n * I->al.n_embed);
    const float *sig_in = v->pixels;
    int rc = DOCVL_OK;
    if (st->hybrid) {
        int ls = c->siglip.image_h, S = c->pre.image_h;   /* the hybrid's inputs are square */
        v->sam_out = tg_alloc(&v->pool, n * I->sam.ch[1]);
        v->low_pixels = tg_alloc(&v->pool, (size_t)3 * ls * ls);
        rc = tg_pool_check(&v->pool, "vision outputs", e);
        if (!rc && !(rc = tg_sam_fwd(&I->sam, v->pixels, v->sam_out, &v->sam,
                                    st->train && st->m->trainable[DV_PART_SAM_BODY], &v->pool, e)))
            rc = dv_resize_bilinear_aa_f32(v->pixels, 3, S, S, v->low_pixels, ls, ls, e);
        sig_in = v->low_pixels;
    }
    if (!rc)
        rc = tg_pool_check(&v->pool, "vision outputs", e);
    if (!rc)
        rc = tg_siglip_fwd(&I->sig, sig_in, v->sig_out, &v->sig, st->train && st->sig_grad,
                           &v->pool, e);
    tick(st, DV_PH_VISION_FWD);
    if (!rc)
        rc = tg_aligner_fwd(&I->al, v->sam_out, v->sig_out, (int)n, v->embeds, &v->al, &v->pool, e);
    tick(st, DV_PH_ALIGNER_FWD);
    return rc ? dv_wrap(e, "image %d", k) : DOCVL_OK;
}

/* Rows of the k-th image's tokens, in order (to == 1: embeds into x). */
static void image_rows(step *st, int k, float *rows, int to_x)
{
    size_t H = (size_t)st->m->cfg.lm.hidden;
    int seen = 0;
    for (int i = 0; i < st->s->n_tokens; i++) {
        if (st->s->ids[i] != st->I->image_token_id)
            continue;
        int img = seen / st->n_tok, r = seen % st->n_tok;
        seen++;
        if (img != k)
            continue;
        float *xr = (to_x ? st->x : st->dx) + (size_t)i * H, *rr = rows + (size_t)r * H;
        memcpy(to_x ? xr : rr, to_x ? rr : xr, H * sizeof *rr);
    }
}

static int forward(step *st, dv_err *e)
{
    const dv_lm_cfg *c = &st->m->cfg.lm;
    size_t T = (size_t)st->s->n_tokens, H = (size_t)c->hidden;
    st->x = tg_alloc(&st->pool, T * H);
    st->logits = tg_alloc(&st->pool, T * (size_t)c->vocab);
    int rc = tg_pool_check(&st->pool, "the decoder input", e);
    for (size_t i = 0; !rc && i < T; i++)
        memcpy(st->x + i * H, st->I->lm.embed.w + (size_t)st->s->ids[i] * H, H * sizeof(float));
    for (int k = 0; !rc && k < st->s->n_images; k++)
        if (!(rc = vision_fwd(st, k, e)))
            image_rows(st, k, st->vis.embeds, 1);
    tick(st, DV_PH_DECODER_FWD);
    if (!rc)
        rc = tg_llm_fwd(&st->I->lm, st->x, (int)T, st->logits, &st->la, st->train && st->llm_bwd,
                        &st->pool, e);
    tick(st, DV_PH_DECODER_FWD);
    return rc;
}

static int vision_bwd(step *st, int k, const float *drows, dv_err *e)
{
    tm_impl *I = st->I;
    const int *tr = st->m->trainable;
    int rc = DOCVL_OK;
    /* the forward pass kept the last image's activations only */
    if (k != st->s->n_images - 1 && (rc = vision_fwd(st, k, e)))
        return rc;
    vis_run *v = &st->vis;
    size_t n = (size_t)st->n_tok;
    float *dsig = st->sig_grad ? tg_alloc(&v->pool, n * I->sig.v.width) : NULL;
    float *dsam = st->sam_grad ? tg_alloc(&v->pool, n * I->sam.ch[1]) : NULL;
    if ((rc = tg_pool_check(&v->pool, "vision gradients", e)))
        return rc;
    tick(st, DV_PH_VISION_BWD);
    rc = tg_aligner_bwd(&I->al, &v->al, (int)n, drows, tr[DV_PART_ALIGNER], dsam, dsig, &v->pool,
                        e);
    tick(st, DV_PH_ALIGNER_BWD);
    if (!rc && dsig)
        rc = tg_siglip_bwd(&I->sig, &v->sig, dsig, 1, e);
    if (!rc && dsam)
        rc = tg_sam_bwd(&I->sam, &v->sam, dsam, tr[DV_PART_SAM_BODY], tr[DV_PART_SAM_NECK], e);
    tick(st, DV_PH_VISION_BWD);
    return rc ? dv_wrap(e, "image %d backward", k) : DOCVL_OK;
}

static int backward(step *st, dv_err *e)
{
    const dv_lm_cfg *c = &st->m->cfg.lm;
    size_t T = (size_t)st->s->n_tokens, H = (size_t)c->hidden;
    int llm = st->m->trainable[DV_PART_LLM];
    if (!st->llm_bwd)
        return DOCVL_OK;
    st->dx = tg_alloc(&st->pool, T * H);
    float *rows = st->s->n_images ? tg_alloc(&st->pool, (size_t)st->n_tok * H) : NULL;
    int rc = tg_pool_check(&st->pool, "decoder input gradients", e);
    if (!rc)
        rc = tg_llm_bwd(&st->I->lm, &st->la, st->logits, st->dx, llm, &st->pool, e);
    if (rc)
        return rc;
    for (size_t i = 0; llm && i < T; i++) {
        if (st->s->ids[i] == st->I->image_token_id && st->s->n_images)
            continue;   /* these rows are the aligner's, not the embedding table's */
        float *g = st->I->lm.embed.g + (size_t)st->s->ids[i] * H;
        for (size_t j = 0; j < H; j++)
            g[j] += st->dx[i * H + j];
    }
    tick(st, DV_PH_DECODER_BWD);
    for (int k = st->s->n_images - 1; st->vis_grad && k >= 0 && !rc; k--) {
        image_rows(st, k, rows, 0);
        rc = vision_bwd(st, k, rows, e);
    }
    return rc;
}

static void step_init(step *st, dv_tmodel *m, tm_impl *I, const dv_tsample *s, int train,
                      dv_tprof *prof, tg_pool *keep)
{
    memset(st, 0, sizeof *st);
    if ((st->keep = keep)) {
        st->pool = keep[0];
        st->vis.pool = keep[1];
        tg_pool_reset(&st->pool);
        tg_pool_reset(&st->vis.pool);
    }
    st->prof = prof;
    st->t_mark = prof ? seconds() : 0;
    st->m = m;
    st->I = I ? I : m->impl;
    st->s = s;
    st->n_tok = dv_config_image_tokens(&m->cfg);
    st->hybrid = dv_config_has_tower(&m->cfg, DV_TOWER_SAM);
    const int *tr = m->trainable;
    st->sig_grad = tr[DV_PART_SIGLIP];
    st->sam_grad = st->hybrid && (tr[DV_PART_SAM_BODY] || tr[DV_PART_SAM_NECK]);
    st->vis_grad = tr[DV_PART_ALIGNER] || st->sig_grad || st->sam_grad;
    st->llm_bwd = tr[DV_PART_LLM] || (st->vis_grad && s->n_images);
    st->train = train;
}

static void step_free(step *st)
{
    if (st->keep) {   /* the buffers go back to the run for its next step */
        st->keep[0] = st->pool;
        st->keep[1] = st->vis.pool;
        return;
    }
    tg_pool_free(&st->vis.pool);
    tg_pool_free(&st->pool);
}

/* The reading warm-up (dv_tsample.ctc_target): the aligner's rows averaged
 * over each column of the patch grid are the frames, read through the
 * decoder's final norm and output layer, so the image rows learn to look
 * like what predicts the glyph in their column. The image token is the
 * blank: no text ever predicts it. A target too long for the columns
 * counts nothing and trains nothing. */
static int ctc_pass(step *st, int train, double *nll, int *counted, dv_err *e)
{
    const dv_tsample *s = st->s;
    const dv_config *c = &st->m->cfg;
    tm_impl *I = st->I;
    int gh = dv_siglip_grid_h(&c->siglip), gw = dv_siglip_grid_w(&c->siglip);
    int H = c->lm.hidden, V = c->lm.vocab, blank = I->image_token_id;
    *nll = 0;
    *counted = 0;
    if (st->hybrid || s->n_images != 1 || !s->pixels || gh * gw != st->n_tok || blank < 0)
        return dv_fail(e, DOCVL_EINVAL, "a CTC sample needs one image (it has %d), a SigLIP-only "
                       "model (%s) and a known image token (%d)", s->n_images,
                       st->hybrid ? "hybrid" : "yes", (int)blank);
    int rc = vision_fwd(st, 0, e);
    vis_run *v = &st->vis;
    float *frames = tg_alloc(&v->pool, (size_t)gw * H), *xn = tg_alloc(&v->pool, (size_t)gw * H);
    float *rstd = tg_alloc(&v->pool, (size_t)gw), *logits = tg_alloc(&v->pool, (size_t)gw * V);
    if (!rc)
        rc = tg_pool_check(&v->pool, "CTC frames", e);
    if (rc)
        return rc;
    for (int r = 0; r < gh; r++)
        for (int col = 0; col < gw; col++)
            for (int j = 0; j < H; j++)
                frames[(size_t)col * H + j] += v->embeds[((size_t)r * gw + col) * H + j] / gh;
    tg_rmsnorm_fwd(frames, xn, gw, H, I->lm.norm.w, c->lm.rms_eps, rstd);
    tg_linear_fwd(xn, I->lm.head.w, NULL, gw, H, V, logits);
    int L = s->n_ctc_target;
    double loss = tg_ctc_loss(logits, gw, V, s->ctc_target, L, blank, L ? 1.0f / (float)L : 0.0f,
                              train ? logits : NULL);
    if (isnan(loss))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the CTC loss of %d frames", gw);
    if (isinf(loss))
        return DOCVL_OK;
    *nll = loss;
    *counted = L;
    if (!train || !L || !st->vis_grad)
        return DOCVL_OK;
    int wl = st->m->trainable[DV_PART_LLM];
    float *dxn = tg_alloc(&v->pool, (size_t)gw * H), *dframes = tg_alloc(&v->pool, (size_t)gw * H);
    float *drows = tg_alloc(&v->pool, (size_t)st->n_tok * H);
    if ((rc = tg_pool_check(&v->pool, "CTC gradients", e)))
        return rc;
    tg_linear_bwd(logits, xn, I->lm.head.w, gw, H, V, dxn, TG_G(I->lm.head, wl), NULL);
    tg_rmsnorm_bwd(dxn, frames, rstd, gw, H, I->lm.norm.w, dframes, TG_G(I->lm.norm, wl));
    for (int r = 0; r < gh; r++)
        for (int col = 0; col < gw; col++)
            for (int j = 0; j < H; j++)
                drows[((size_t)r * gw + col) * H + j] = dframes[(size_t)col * H + j] / gh;
    return vision_bwd(st, 0, drows, e);
}

/* The pass both entry points share: forward, loss, optionally backward. */
static int run(dv_tmodel *m, tm_impl *I, tg_pool *keep, const dv_tsample *s, int train,
               double *nll, int *counted, float *logits_out, dv_tprof *prof, const dv_ctx *ctx,
               dv_err *e)
{
    step st;
    step_init(&st, m, I, s, train, prof, keep);
    dv_ctx_apply(ctx);
    if (s->ctc_target) {
        int rc = ctc_pass(&st, train, nll, counted, e);
        tick(&st, DV_PH_LOSS);
        step_free(&st);
        return rc;
    }
    int rc = check_sample(&st, e);
    if (!rc)
        rc = forward(&st, e);
    size_t V = (size_t)m->cfg.lm.vocab, T = (size_t)s->n_tokens;
    if (!rc && logits_out)
        memcpy(logits_out, st.logits, T * V * sizeof *logits_out);
    *counted = 0;
    *nll = 0;
    if (!rc && s->labels) {
        int n = 0;
        for (size_t i = 0; i < T; i++)
            n += s->labels[i] != DV_IGNORE_LABEL;
        *nll = tg_cross_entropy(st.logits, s->labels, (int)T, (int)V, n ? 1.0f / (float)n : 0.0f,
                                train ? st.logits : NULL, counted);
    }
    tick(&st, DV_PH_LOSS);
    if (!rc && train && *counted)
        rc = backward(&st, e);
    step_free(&st);
    return rc;
}

int dv_tmodel_forward_backward(dv_tmodel *m, const dv_tsample *s, float *loss, int *n_counted,
                               const dv_ctx *ctx, dv_err *e)
{
    double nll;
    int rc = run(m, NULL, NULL, s, 1, &nll, n_counted, NULL, NULL, ctx, e);
    *loss = !rc && *n_counted ? (float)(nll / *n_counted) : 0.0f;
    return rc ? dv_wrap(e, "training step") : DOCVL_OK;
}

int dv_tmodel_nll(dv_tmodel *m, const dv_tsample *s, double *nll_sum, int *n_counted,
                  float *logits, const dv_ctx *ctx, dv_err *e)
{
    int rc = run(m, NULL, NULL, s, 0, nll_sum, n_counted, logits, NULL, ctx, e);
    return rc ? dv_wrap(e, "forward pass") : DOCVL_OK;
}


/* ---- the batched step: samples side by side on the pool's threads ---- */

#define TWS_MAX_THREADS 64

struct dv_tws {
    int n_threads;
    float *g_lo;             /* the model's gradients: [g_lo, g_lo + g_n) */
    size_t g_n;
    float *gbuf[TWS_MAX_THREADS];      /* thread t's gradients (t >= 1) */
    tm_impl views[TWS_MAX_THREADS];    /* the model's views, g moved into gbuf[t] */
    tg_pool pools[TWS_MAX_THREADS][2]; /* thread t's kept step and vision buffers */
};

/* Moves w's gradient pointer from the model's buffer into `to`. */
static void move_g(const dv_tws *ws, float *to, tg_w *w)
{
    uintptr_t g = (uintptr_t)w->g, lo = (uintptr_t)ws->g_lo;
    if (w->g && g >= lo && g < lo + ws->g_n * sizeof(float))
        w->g = to + (w->g - ws->g_lo);
}

static void move_block(const dv_tws *ws, float *to, tg_block *b)
{
    tg_w *all[] = { &b->n1w, &b->n1b, &b->n2w, &b->n2b, &b->qkv_w, &b->qkv_b, &b->proj_w,
                    &b->proj_b, &b->fc1_w, &b->fc1_b, &b->fc2_w, &b->fc2_b, &b->rel_h, &b->rel_w };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        move_g(ws, to, all[i]);
}

static void move_layer(const dv_tws *ws, float *to, tg_layer *l)
{
    tg_w *all[] = { &l->attn_norm, &l->mlp_norm, &l->q, &l->k, &l->v, &l->o, &l->gate, &l->up,
                    &l->down };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        move_g(ws, to, all[i]);
}

/* Copies of the SigLIP, aligner and decoder views whose gradients land in
 * `to` (their arrays are the copy's own). */
static int clone_views(const dv_tws *ws, const tm_impl *I, float *to, tm_impl *out)
{
    *out = *I;
    tg_siglip *s = &out->sig;
    tg_aligner *a = &out->al;
    tg_llm *l = &out->lm;
    s->blocks = malloc((size_t)s->depth * sizeof *s->blocks + 1);
    a->lw = malloc((size_t)a->n_layers * sizeof *a->lw + 1);
    a->lb = malloc((size_t)a->n_layers * sizeof *a->lb + 1);
    l->layers = malloc((size_t)l->c.layers * sizeof *l->layers + 1);
    if (!s->blocks || !a->lw || !a->lb || !l->layers)
        return -1;
    memcpy(s->blocks, I->sig.blocks, (size_t)s->depth * sizeof *s->blocks);
    memcpy(a->lw, I->al.lw, (size_t)a->n_layers * sizeof *a->lw);
    memcpy(a->lb, I->al.lb, (size_t)a->n_layers * sizeof *a->lb);
    memcpy(l->layers, I->lm.layers, (size_t)l->c.layers * sizeof *l->layers);
    tg_w *top[] = { &s->patch_w, &s->patch_b, &s->pos, &s->norm_w, &s->norm_b, &a->high_w,
                    &a->high_b, &a->low_w, &a->low_b, &l->embed, &l->norm, &l->head };
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
        move_g(ws, to, top[i]);
    for (int i = 0; i < s->depth; i++)
        move_block(ws, to, &s->blocks[i]);
    for (int i = 0; i < a->n_layers; i++) {
        move_g(ws, to, &a->lw[i]);
        move_g(ws, to, &a->lb[i]);
    }
    for (int i = 0; i < l->c.layers; i++)
        move_layer(ws, to, &l->layers[i]);
    return 0;
}

void dv_tws_free(dv_tws *ws)
{
    if (!ws)
        return;
    for (int t = 0; t < ws->n_threads; t++) {
        tg_pool_free(&ws->pools[t][0]);
        tg_pool_free(&ws->pools[t][1]);
    }
    for (int t = 1; t < ws->n_threads; t++) {
        free(ws->gbuf[t]);
        free(ws->views[t].sig.blocks);
        free(ws->views[t].al.lw);
        free(ws->views[t].al.lb);
        free(ws->views[t].lm.layers);
    }
    free(ws);
}

int dv_tws_new(const dv_tmodel *m, int n_threads, dv_tws **out, dv_err *e)
{
    *out = NULL;
    dv_tws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the training workspace");
    ws->n_threads = !dv_family_of(&m->cfg)->train_one_sample && n_threads > 1
                        ? (n_threads < TWS_MAX_THREADS ? n_threads : TWS_MAX_THREADS) : 1;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < m->n_params; i++) {
        const dv_param *p = &m->params[i];
        lo = (uintptr_t)p->g < lo ? (uintptr_t)p->g : lo;
        hi = (uintptr_t)(p->g + p->n) > hi ? (uintptr_t)(p->g + p->n) : hi;
    }
    for (int t = 0; t < TWS_MAX_THREADS; t++)
        ws->pools[t][0].keep = ws->pools[t][1].keep = 1;
    ws->g_lo = (float *)lo;
    ws->g_n = hi > lo ? (hi - lo) / sizeof(float) : 0;
    for (int t = 1; t < ws->n_threads; t++) {
        ws->gbuf[t] = malloc((ws->g_n ? ws->g_n : 1) * sizeof(float));
        if (!ws->gbuf[t] || clone_views(ws, m->impl, ws->gbuf[t], &ws->views[t])) {
            ws->n_threads = t + 1;   /* frees what exists */
            dv_tws_free(ws);
            return dv_fail(e, DOCVL_ENOMEM, "out of memory for thread %d's gradients (%zu "
                           "floats)", t, ws->g_n);
        }
    }
    *out = ws;
    return DOCVL_OK;
}

typedef struct batch_job {
    dv_tmodel *m;
    dv_tws *ws;
    const dv_tsample *s;
    int n;
    const dv_ctx *ctx;       /* pool-free: the parts never hand work on */
    double loss[TWS_MAX_THREADS];
    int counted[TWS_MAX_THREADS], rc[TWS_MAX_THREADS], failed_at[TWS_MAX_THREADS];
    dv_err err[TWS_MAX_THREADS];
    dv_tprof prof[TWS_MAX_THREADS];
    int timed, parts;
} batch_job;

/* Thread `part`'s samples part, part + n_parts, ... in order. */
static void batch_part(void *arg, int part, int n_parts)
{
    batch_job *j = arg;
    tm_impl *I = part ? &j->ws->views[part] : NULL;
    if (part)
        memset(j->ws->gbuf[part], 0, j->ws->g_n * sizeof(float));
    for (int k = part; k < j->n && !j->rc[part]; k += n_parts) {
        double nll;
        int counted;
        j->rc[part] = run(j->m, I, j->ws ? j->ws->pools[part] : NULL, &j->s[k], 1, &nll,
                          &counted, NULL, j->timed ? &j->prof[part] : NULL, j->ctx,
                          &j->err[part]);
        j->failed_at[part] = k;
        /* the float mean, as dv_tmodel_forward_backward reports it */
        j->loss[part] += counted ? (float)(nll / counted) : 0.0;
        j->counted[part] += counted;
    }
}

/* The pool runs every thread; those beyond the workspace's stay idle. */
static void batch_pool_part(void *arg, int part, int n_parts)
{
    (void)n_parts;
    batch_job *j = arg;
    if (part < j->parts)
        batch_part(j, part, j->parts);
}

typedef struct sum_job {
    float *g;
    float *const *parts;
    int n_parts;
} sum_job;

static void sum_range(void *arg, int lo, int hi)
{
    const sum_job *j = arg;
    for (int t = 1; t < j->n_parts; t++)
        for (int i = lo; i < hi; i++)
            j->g[i] += j->parts[t][i];
}

int dv_tmodel_forward_backward_batch(dv_tmodel *m, dv_tws *ws, const dv_tsample *s, int n,
                                     double *loss_sum, int *n_counted, dv_tprof *prof,
                                     const dv_ctx *ctx, dv_err *e)
{
    dv_pool *pool = ctx ? ctx->pool : NULL;
    int parts = ws && pool ? dv_pool_threads(pool) : 1;
    parts = ws && parts > ws->n_threads ? ws->n_threads : parts;
    parts = parts > n ? n : parts;
    batch_job *j = calloc(1, sizeof *j);
    if (!j)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the batch");
    dv_ctx one = ctx ? *ctx : (dv_ctx){ .n_threads = 1 };
    if (parts > 1) {
        /* each part one BLAS thread, set before they start: two cores, two threads */
        one = (dv_ctx){ .n_threads = 1 };
        dv_ctx_apply(&one);
    }
    *j = (batch_job){ .m = m, .ws = ws, .s = s, .n = n, .ctx = &one, .timed = prof != NULL,
                      .parts = parts };
    if (parts > 1)
        dv_pool_run(pool, batch_pool_part, j);
    else
        batch_part(j, 0, 1);
    int rc = DOCVL_OK;
    *loss_sum = 0;
    *n_counted = 0;
    for (int t = 0; t < parts; t++) {
        if (j->rc[t] && !rc) {
            *e = j->err[t];
            rc = dv_wrap(e, "training step, sample %d", j->failed_at[t]);
        }
        *loss_sum += j->loss[t];
        *n_counted += j->counted[t];
        for (int p = 0; prof && p < DV_PH_COUNT; p++)
            prof->s[p] += j->prof[t].s[p] / parts;
    }
    if (!rc && parts > 1) {
        sum_job sj = { ws->g_lo, ws->gbuf, parts };
        dv_pool_for(pool, (int)ws->g_n, 1 << 16, sum_range, &sj);
    }
    free(j);
    return rc;
}
