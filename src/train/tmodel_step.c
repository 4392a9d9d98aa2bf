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

/* Charges the time since *mark to phase ph (prof NULL: not timed). */
static void tick_prof(dv_tprof *prof, double *mark, dv_tphase ph)
{
    if (!prof)
        return;
    double t = seconds();
    prof->s[ph] += t - *mark;
    *mark = t;
}

static void tick(step *st, dv_tphase ph)
{
    tick_prof(st->prof, &st->t_mark, ph);
}

static int check_sample(const dv_tmodel *m, const tm_impl *I, int n_tok, const dv_tsample *s,
                        dv_err *e)
{
    const dv_lm_cfg *c = &m->cfg.lm;
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
        img += s->ids[i] == I->image_token_id;
    }
    if (s->n_images && I->image_token_id < 0)
        return dv_fail(e, DOCVL_EINVAL, "the sample has images but the image token id is unknown "
                       "(dv_tmodel_set_image_token)");
    if (s->n_images && img != s->n_images * n_tok)
        return dv_fail(e, DOCVL_EINVAL, "%d image tokens in the sample, but %d images need %d "
                       "each", img, s->n_images, n_tok);
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
        rc = tg_siglip_bwd(&I->sig, &v->sig, dsig, 1, &v->pool, e);
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
static int ctc_check(const dv_config *c, const tm_impl *I, int hybrid, int n_tok,
                     const dv_tsample *s, dv_err *e)
{
    int gh = dv_siglip_grid_h(&c->siglip), gw = dv_siglip_grid_w(&c->siglip);
    if (hybrid || s->n_images != 1 || !s->pixels || gh * gw != n_tok || I->image_token_id < 0)
        return dv_fail(e, DOCVL_EINVAL, "a CTC sample needs one image (it has %d), a SigLIP-only "
                       "model (%s) and a known image token (%d)", s->n_images,
                       hybrid ? "hybrid" : "yes", (int)I->image_token_id);
    return DOCVL_OK;
}

/* One image's frames [gw, H] (zeroed before) from its rows [gh x gw, H]. */
static void ctc_frames(const float *rows, int gh, int gw, int H, float *frames)
{
    for (int r = 0; r < gh; r++)
        for (int col = 0; col < gw; col++)
            for (int j = 0; j < H; j++)
                frames[(size_t)col * H + j] += rows[((size_t)r * gw + col) * H + j] / gh;
}

/* The rows' gradient from their frames': each row its column's share. */
static void ctc_frames_bwd(const float *dframes, int gh, int gw, int H, float *drows)
{
    for (int r = 0; r < gh; r++)
        for (int col = 0; col < gw; col++)
            for (int j = 0; j < H; j++)
                drows[((size_t)r * gw + col) * H + j] = dframes[(size_t)col * H + j] / gh;
}

/* s's CTC loss off its frames' logits [gw, V], their gradient written over
 * them when train: *nll and *counted stay 0 for a target the frames cannot
 * hold. */
static int ctc_loss(const tm_impl *I, const dv_tsample *s, float *logits, int gw, int V,
                    int train, double *nll, int *counted, dv_err *e)
{
    int L = s->n_ctc_target;
    double loss = tg_ctc_loss(logits, gw, V, s->ctc_target, L, I->image_token_id,
                              L ? 1.0f / (float)L : 0.0f, train ? logits : NULL);
    *nll = 0;
    *counted = 0;
    if (isnan(loss))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the CTC loss of %d frames", gw);
    if (isinf(loss))
        return DOCVL_OK;
    *nll = loss;
    *counted = L;
    return DOCVL_OK;
}

static int ctc_pass(step *st, int train, double *nll, int *counted, dv_err *e)
{
    const dv_tsample *s = st->s;
    const dv_config *c = &st->m->cfg;
    tm_impl *I = st->I;
    int gh = dv_siglip_grid_h(&c->siglip), gw = dv_siglip_grid_w(&c->siglip);
    int H = c->lm.hidden, V = c->lm.vocab;
    *nll = 0;
    *counted = 0;
    int rc = ctc_check(c, I, st->hybrid, st->n_tok, s, e);
    if (rc || (rc = vision_fwd(st, 0, e)))
        return rc;
    vis_run *v = &st->vis;
    float *frames = tg_alloc(&v->pool, (size_t)gw * H), *xn = tg_alloc(&v->pool, (size_t)gw * H);
    float *rstd = tg_alloc(&v->pool, (size_t)gw), *logits = tg_alloc(&v->pool, (size_t)gw * V);
    if ((rc = tg_pool_check(&v->pool, "CTC frames", e)))
        return rc;
    ctc_frames(v->embeds, gh, gw, H, frames);
    tg_rmsnorm_fwd(frames, xn, gw, H, I->lm.norm.w, c->lm.rms_eps, rstd);
    tg_linear_fwd(I->lm.gemm, xn, I->lm.head.w, NULL, gw, H, V, logits);
    if ((rc = ctc_loss(I, s, logits, gw, V, train, nll, counted, e)))
        return rc;
    if (!train || !*counted || !st->vis_grad)
        return DOCVL_OK;
    int wl = st->m->trainable[DV_PART_LLM];
    float *dxn = tg_alloc(&v->pool, (size_t)gw * H), *dframes = tg_alloc(&v->pool, (size_t)gw * H);
    float *drows = tg_alloc(&v->pool, (size_t)st->n_tok * H);
    if ((rc = tg_pool_check(&v->pool, "CTC gradients", e)))
        return rc;
    tg_linear_bwd(I->lm.gemm, logits, xn, I->lm.head.w, gw, H, V, dxn, TG_G(I->lm.head, wl), NULL);
    tg_rmsnorm_bwd(dxn, frames, rstd, gw, H, I->lm.norm.w, dframes, TG_G(I->lm.norm, wl));
    ctc_frames_bwd(dframes, gh, gw, H, drows);
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
    int rc = check_sample(m, st.I, st.n_tok, s, e);
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


/* ---- the batched step: the samples' rows stacked, one matrix product per
 * layer over all of them (images x tokens in the tower and the aligner,
 * samples x tokens in the decoder), attention per sample and head; hybrid
 * (SAM) models one sample at a time.
 *
 * On several threads the batch is cut into groups of consecutive samples,
 * each stacked on one thread (its products one sgemm each) with a gradient
 * buffer of its own; threads take the groups as they come and the buffers
 * are added in group order. A thread synchronises with the others once per
 * step, not at every pass: on a machine whose cores are shared with other
 * work, a pass split over the threads (~1000 per step) waits at its end for
 * whichever thread the OS has put aside, and the step then gets about one
 * core. Where a batch has fewer samples than two, or the groups' gradient
 * buffers would take more than GROUP_GRAD_BYTES, the whole batch is one
 * stack whose every pass is split over ctx->pool's threads instead. ---- */

#define TWS_MAX_GROUPS 64
#define TWS_MAX_THREADS 64
/* Groups per thread: a thread held up by the machine's other work delays
 * one group, while the others take the rest. */
#define GROUPS_PER_THREAD 2
#define GROUP_GRAD_BYTES ((size_t)512 << 20)

struct dv_tws {
    int n_groups;            /* gradient buffers (1: the whole batch, split per pass) */
    float *g_lo;             /* the model's gradients: [g_lo, g_lo + g_n) */
    size_t g_n;
    float *gbuf[TWS_MAX_GROUPS];       /* group g's gradients (g >= 1) */
    int dirty;               /* a gbuf may hold values (a step failed): clear before use */
    tm_impl views[TWS_MAX_GROUPS];     /* the model's views, g moved into gbuf[g] */
    tg_pool act[TWS_MAX_THREADS];      /* thread t's stacked step buffers, kept */
    tg_pool one[2];          /* one sample's step and vision buffers (hybrid models) */
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
    for (int t = 0; t < TWS_MAX_THREADS; t++)
        tg_pool_free(&ws->act[t]);
    tg_pool_free(&ws->one[0]);
    tg_pool_free(&ws->one[1]);
    for (int g = 1; g < ws->n_groups; g++) {
        free(ws->gbuf[g]);
        free(ws->views[g].sig.blocks);
        free(ws->views[g].al.lw);
        free(ws->views[g].al.lb);
        free(ws->views[g].lm.layers);
    }
    free(ws);
}

/* How many groups a run on n_threads cuts its batches into (1: none). */
static int tws_groups(const dv_tmodel *m, int n_threads, size_t g_n)
{
    if (dv_family_of(&m->cfg)->train_one_sample || n_threads < 2)
        return 1;
    long groups = (long)GROUPS_PER_THREAD * (n_threads < TWS_MAX_THREADS ? n_threads
                                                                         : TWS_MAX_THREADS);
    size_t fit = 1 + GROUP_GRAD_BYTES / ((g_n ? g_n : 1) * sizeof(float));
    groups = (size_t)groups < fit ? groups : (long)fit;
    return groups > TWS_MAX_GROUPS ? TWS_MAX_GROUPS : (int)groups;
}

int dv_tws_new(const dv_tmodel *m, int n_threads, dv_tws **out, dv_err *e)
{
    *out = NULL;
    dv_tws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the training workspace");
    for (int t = 0; t < TWS_MAX_THREADS; t++)
        ws->act[t].keep = 1;
    ws->one[0].keep = ws->one[1].keep = 1;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < m->n_params; i++) {
        const dv_param *p = &m->params[i];
        lo = (uintptr_t)p->g < lo ? (uintptr_t)p->g : lo;
        hi = (uintptr_t)(p->g + p->n) > hi ? (uintptr_t)(p->g + p->n) : hi;
    }
    ws->g_lo = (float *)lo;
    ws->g_n = hi > lo ? (hi - lo) / sizeof(float) : 0;
    int groups = tws_groups(m, n_threads, ws->g_n);
    for (ws->n_groups = 1; ws->n_groups < groups; ws->n_groups++) {
        int g = ws->n_groups;
        ws->gbuf[g] = calloc(ws->g_n ? ws->g_n : 1, sizeof(float));
        if (!ws->gbuf[g] || clone_views(ws, m->impl, ws->gbuf[g], &ws->views[g])) {
            ws->n_groups++;   /* frees what exists */
            dv_tws_free(ws);
            return dv_fail(e, DOCVL_ENOMEM, "out of memory for batch group %d's gradients "
                           "(%zu floats)", g, ws->g_n);
        }
    }
    *out = ws;
    return DOCVL_OK;
}

/* One stacked micro-batch: views of the model with the thread pool (and the
 * tower's image count) set, and the buffers of the whole batch. A CTC
 * sample's image goes through the tower and the aligner with the others';
 * its frames (all CTC samples' stacked) then through the final norm and
 * the output layer, and it has no rows in the decoder. */
typedef struct stack {
    dv_tmodel *m;
    const tm_impl *I;
    const dv_tsample *s;
    int n, n_tok, n_img, rows;
    int n_ctc, gh, gw;       /* CTC samples, the patch grid whose columns are frames */
    int sig_grad, vis_grad, llm_bwd;
    tg_pool *pool;
    dv_tprof *prof;
    double t_mark;
    tg_siglip sig;
    tg_aligner al;
    tg_llm lm;
    float *px, *sig_out, *embeds, *x, *logits, *dx;
    float *frames, *fxn, *frstd, *flogits;   /* [n_ctc x gw] rows of the CTC samples */
    int *row0;               /* [n] sample k's first row: in x, or in frames for CTC */
    int *img0;               /* [n] its first image */
    double *nll;             /* [n] each sample's summed NLL */
    int *counted;            /* [n] its counted labels */
    int *failed;             /* [n] its loss could not be computed (out of memory) */
    /* the labelled decoder rows, the only ones through the output layer and
     * the loss: nlab of them, lab_row[j] the row, lab[j] its label; sample
     * k's are lab0[k] .. lab0[k + 1] - 1 (logits has nlab rows) */
    int nlab, *lab_row, *lab0;
    int32_t *lab;
    tg_siglip_act sa;
    tg_aligner_act aa;
    tg_llm_act la;
} stack;

/* Image token rows between the decoder's rows and the aligner's (images
 * in sample order, each one's n_tok rows in order): to_x copies embeds
 * into x, else dx into drows. */
static void splice(const stack *b, float *drows, int to_x)
{
    size_t H = (size_t)b->m->cfg.lm.hidden;
    for (int k = 0; k < b->n; k++) {
        const dv_tsample *s = &b->s[k];
        size_t seen = 0, r0 = (size_t)b->row0[k];
        for (int i = 0; s->n_images && !s->ctc_target && i < s->n_tokens; i++) {
            if (s->ids[i] != b->I->image_token_id)
                continue;
            size_t at = (size_t)b->img0[k] * b->n_tok + seen++;
            if (to_x)
                memcpy(b->x + (r0 + i) * H, b->embeds + at * H, H * sizeof(float));
            else
                memcpy(drows + at * H, b->dx + (r0 + i) * H, H * sizeof(float));
        }
    }
}

/* The samples' places: decoder rows (la.seq over the next-token samples),
 * frames, images. */
static int stack_layout(stack *b, dv_err *e)
{
    tg_pool *p = b->pool;
    b->la.seq = tg_alloc_bytes(p, (size_t)(b->n + 1) * sizeof *b->la.seq);
    b->row0 = tg_alloc_bytes(p, (size_t)b->n * sizeof *b->row0);
    b->img0 = tg_alloc_bytes(p, (size_t)b->n * sizeof *b->img0);
    b->nll = tg_alloc_bytes(p, (size_t)b->n * sizeof *b->nll);
    b->counted = tg_alloc_bytes(p, (size_t)b->n * sizeof *b->counted);
    b->failed = tg_alloc_bytes(p, (size_t)b->n * sizeof *b->failed);
    b->lab0 = tg_alloc_bytes(p, (size_t)(b->n + 1) * sizeof *b->lab0);
    for (int k = 0; k < b->n && b->lab0; k++) {
        const dv_tsample *s = &b->s[k];
        int n = 0;
        for (int i = 0; !s->ctc_target && s->labels && i < s->n_tokens; i++)
            n += s->labels[i] != DV_IGNORE_LABEL;
        b->lab0[k + 1] = b->lab0[k] + n;
    }
    b->nlab = b->lab0 ? b->lab0[b->n] : 0;
    b->lab_row = tg_alloc_bytes(p, (size_t)b->nlab * sizeof *b->lab_row);
    b->lab = tg_alloc_bytes(p, (size_t)b->nlab * sizeof *b->lab);
    if (!b->la.seq || !b->row0 || !b->img0 || !b->nll || !b->counted || !b->failed ||
        !b->lab0 || !b->lab_row || !b->lab)
        return tg_pool_check(p, "the batch's tables", e);
    b->la.seq[0] = 0;
    b->la.nseq = 0;
    for (int k = 0, img = 0, frame = 0; k < b->n; img += b->s[k].n_images, k++) {
        b->img0[k] = img;
        if (b->s[k].ctc_target) {
            b->row0[k] = frame;
            frame += b->gw;
            continue;
        }
        b->row0[k] = b->la.seq[b->la.nseq];
        b->la.seq[b->la.nseq + 1] = b->row0[k] + b->s[k].n_tokens;
        b->la.nseq++;
        for (int i = 0, j = b->lab0[k]; j < b->lab0[k + 1]; i++)
            if (b->s[k].labels[i] != DV_IGNORE_LABEL) {
                b->lab_row[j] = b->row0[k] + i;
                b->lab[j++] = b->s[k].labels[i];
            }
    }
    b->rows = b->la.seq[b->la.nseq];
    b->la.nhead = b->nlab;
    b->la.head_rows = b->lab_row;
    return DOCVL_OK;
}

static int stack_alloc(stack *b, dv_err *e)
{
    const dv_config *c = &b->m->cfg;
    size_t H = (size_t)c->lm.hidden, ir = (size_t)b->n_img * b->n_tok;
    size_t px = pixels_per_image(c), nf = (size_t)b->n_ctc * b->gw;
    tg_pool *p = b->pool;
    int rc = stack_layout(b, e);
    if (rc)
        return rc;
    if (b->rows) {
        b->x = tg_alloc_raw(p, (size_t)b->rows * H);
        b->logits = tg_alloc_raw(p, (size_t)b->nlab * c->lm.vocab);
    }
    if (b->n_img) {
        b->px = tg_alloc_raw(p, (size_t)b->n_img * px);
        b->sig_out = tg_alloc_raw(p, ir * b->sig.v.width);
        b->embeds = tg_alloc_raw(p, ir * b->al.n_embed);
    }
    if (nf) {
        b->frames = tg_alloc(p, nf * H);   /* the rows add into it */
        b->fxn = tg_alloc_raw(p, nf * H);
        b->frstd = tg_alloc_raw(p, nf);
        b->flogits = tg_alloc_raw(p, nf * c->lm.vocab);
    }
    rc = tg_pool_check(p, "the batch's inputs", e);
    for (int k = 0; !rc && k < b->n; k++)
        if (b->s[k].n_images)   /* a text-only sample has no pixel array */
            memcpy(b->px + (size_t)b->img0[k] * px, b->s[k].pixels,
                   (size_t)b->s[k].n_images * px * sizeof *b->px);
    return rc;
}

/* The CTC samples' frames through the final norm and the output layer. */
static void ctc_forward(stack *b)
{
    size_t H = (size_t)b->m->cfg.lm.hidden, nf = (size_t)b->n_ctc * b->gw;
    for (int k = 0; k < b->n; k++)
        if (b->s[k].ctc_target)
            ctc_frames(b->embeds + (size_t)b->img0[k] * b->n_tok * H, b->gh, b->gw, (int)H,
                       b->frames + (size_t)b->row0[k] * H);
    tg_rmsnorm_fwd_mt(b->lm.tp, b->frames, b->fxn, (int)nf, (int)H, b->lm.norm.w,
                      b->m->cfg.lm.rms_eps, b->frstd);
    tg_linear_fwd_mt(b->lm.tp, b->lm.gemm, b->fxn, b->lm.head.w, NULL, (int)nf, (int)H,
                     b->m->cfg.lm.vocab, b->flogits);
}

static int stack_forward(stack *b, dv_err *e)
{
    int rc = stack_alloc(b, e);
    size_t H = (size_t)b->m->cfg.lm.hidden;
    for (int k = 0; !rc && k < b->n; k++)
        for (int i = 0; !b->s[k].ctc_target && i < b->s[k].n_tokens; i++)
            memcpy(b->x + (size_t)(b->row0[k] + i) * H,
                   b->I->lm.embed.w + (size_t)b->s[k].ids[i] * H, H * sizeof(float));
    tick_prof(b->prof, &b->t_mark, DV_PH_DECODER_FWD);
    if (!rc && b->n_img) {
        rc = tg_siglip_fwd(&b->sig, b->px, b->sig_out, &b->sa, b->sig_grad, b->pool, e);
        tick_prof(b->prof, &b->t_mark, DV_PH_VISION_FWD);
        if (!rc)
            rc = tg_aligner_fwd(&b->al, NULL, b->sig_out, b->n_img * b->n_tok, b->embeds, &b->aa,
                                b->pool, e);
        tick_prof(b->prof, &b->t_mark, DV_PH_ALIGNER_FWD);
        if (!rc && b->rows)
            splice(b, NULL, 1);
        if (!rc && b->n_ctc)
            ctc_forward(b);
        tick_prof(b->prof, &b->t_mark, DV_PH_LOSS);
    }
    if (!rc && b->rows)
        rc = tg_llm_fwd(&b->lm, b->x, b->rows, b->logits, &b->la, b->llm_bwd, b->pool, e);
    tick_prof(b->prof, &b->t_mark, DV_PH_DECODER_FWD);
    return rc;
}

/* Each sample's cross-entropy or CTC loss, its gradient (scaled by 1 / its
 * counted labels) written over its logits. */
static void loss_chunk(void *arg, int part, int lo, int hi)
{
    (void)part;
    stack *b = arg;
    size_t V = (size_t)b->m->cfg.lm.vocab;
    for (int k = lo; k < hi; k++) {
        const dv_tsample *s = &b->s[k];
        b->nll[k] = 0;
        b->counted[k] = 0;
        b->failed[k] = 0;
        if (s->ctc_target) {
            dv_err ignore = { 0 };   /* only memory can fail: the caller says so */
            b->failed[k] = ctc_loss(b->I, s, b->flogits + (size_t)b->row0[k] * V, b->gw, (int)V,
                                    1, &b->nll[k], &b->counted[k], &ignore);
            continue;
        }
        int j0 = b->lab0[k], n = b->lab0[k + 1] - j0;
        float *z = b->logits + (size_t)j0 * V;
        if (n)   /* its labelled rows only: no other row has logits */
            b->nll[k] = tg_cross_entropy(z, b->lab + j0, n, (int)V, 1.0f / (float)n, z,
                                         &b->counted[k]);
    }
}

/* The CTC samples' gradients from their logits' down to their image rows. */
static int ctc_backward(stack *b, float *drows, dv_err *e)
{
    size_t H = (size_t)b->m->cfg.lm.hidden, nf = (size_t)b->n_ctc * b->gw;
    int wl = b->m->trainable[DV_PART_LLM];
    float *dxn = tg_alloc(b->pool, nf * H), *dframes = tg_alloc(b->pool, nf * H);
    int rc = tg_pool_check(b->pool, "the CTC samples' gradients", e);
    if (rc)
        return rc;
    tg_linear_bwd_mt(b->lm.tp, b->lm.gemm, b->flogits, b->fxn, b->lm.head.w, (int)nf, (int)H,
                     b->m->cfg.lm.vocab, dxn, TG_G(b->lm.head, wl), NULL);
    tg_rmsnorm_bwd_mt(b->lm.tp, dxn, b->frames, b->frstd, (int)nf, (int)H, b->lm.norm.w, dframes,
                      TG_G(b->lm.norm, wl));
    for (int k = 0; k < b->n; k++)
        if (b->s[k].ctc_target)
            ctc_frames_bwd(dframes + (size_t)b->row0[k] * H, b->gh, b->gw, (int)H,
                           drows + (size_t)b->img0[k] * b->n_tok * H);
    return DOCVL_OK;
}

/* The decoder's backward pass, and its gradient of the image rows. */
static int decoder_backward(stack *b, float *drows, dv_err *e)
{
    const int *tr = b->m->trainable;
    size_t H = (size_t)b->m->cfg.lm.hidden;
    b->dx = tg_alloc_raw(b->pool, (size_t)b->rows * H);
    int rc = tg_pool_check(b->pool, "the batch's gradients", e);
    if (!rc)
        rc = tg_llm_bwd(&b->lm, &b->la, b->logits, b->dx, tr[DV_PART_LLM], b->pool, e);
    for (int k = 0; !rc && tr[DV_PART_LLM] && k < b->n; k++)
        for (int i = 0; !b->s[k].ctc_target && i < b->s[k].n_tokens; i++) {
            const dv_tsample *s = &b->s[k];
            if (s->n_images && s->ids[i] == b->I->image_token_id)
                continue;   /* these rows are the aligner's, not the embedding table's */
            float *g = b->I->lm.embed.g + (size_t)s->ids[i] * H;
            const float *d = b->dx + (size_t)(b->row0[k] + i) * H;
            for (size_t j = 0; j < H; j++)
                g[j] += d[j];
        }
    if (!rc && drows)
        splice(b, drows, 0);
    return rc;
}

static int stack_backward(stack *b, dv_err *e)
{
    const int *tr = b->m->trainable;
    size_t ir = (size_t)b->n_img * b->n_tok, H = (size_t)b->m->cfg.lm.hidden;
    if (!b->llm_bwd)
        return DOCVL_OK;
    float *drows = b->n_img && b->vis_grad ? tg_alloc_raw(b->pool, ir * H) : NULL;
    float *dsig = drows && b->sig_grad ? tg_alloc(b->pool, ir * b->sig.v.width) : NULL;
    int rc = tg_pool_check(b->pool, "the batch's gradients", e);
    if (!rc && b->rows)
        rc = decoder_backward(b, drows, e);
    tick_prof(b->prof, &b->t_mark, DV_PH_DECODER_BWD);
    if (rc || !drows)
        return rc;
    if (b->n_ctc && (rc = ctc_backward(b, drows, e)))
        return rc;
    tick_prof(b->prof, &b->t_mark, DV_PH_LOSS);
    rc = tg_aligner_bwd(&b->al, &b->aa, (int)ir, drows, tr[DV_PART_ALIGNER], NULL, dsig, b->pool,
                        e);
    tick_prof(b->prof, &b->t_mark, DV_PH_ALIGNER_BWD);
    if (!rc && dsig)
        rc = tg_siglip_bwd(&b->sig, &b->sa, dsig, 1, b->pool, e);
    tick_prof(b->prof, &b->t_mark, DV_PH_VISION_BWD);
    return rc;
}

static void stack_init(stack *b, dv_tmodel *m, const tm_impl *I, const dv_tsample *s, int n,
                       tg_pool *pool, dv_pool *tp, dv_tprof *prof)
{
    memset(b, 0, sizeof *b);
    const int *tr = m->trainable;
    *b = (stack){ .m = m, .I = I, .s = s, .n = n, .pool = pool, .prof = prof,
                  .t_mark = prof ? seconds() : 0, .sig = I->sig, .al = I->al, .lm = I->lm,
                  .n_tok = dv_config_image_tokens(&m->cfg),
                  .gh = dv_siglip_grid_h(&m->cfg.siglip), .gw = dv_siglip_grid_w(&m->cfg.siglip) };
    for (int k = 0; k < n; k++) {
        b->n_img += s[k].n_images;
        b->n_ctc += s[k].ctc_target != NULL;
    }
    b->sig.v.images = b->n_img;
    b->sig.v.tp = b->al.tp = b->lm.tp = tp;
    b->sig_grad = tr[DV_PART_SIGLIP];
    b->vis_grad = tr[DV_PART_ALIGNER] || b->sig_grad;
    b->llm_bwd = tr[DV_PART_LLM] || (b->vis_grad && b->n_img);
}

/* Whether sample s trains: a next-token sample without a counted label
 * adds nothing to the loss or the gradients. */
static int sample_trains(const dv_tsample *s)
{
    if (s->ctc_target)
        return 1;
    for (int i = 0; s->labels && i < s->n_tokens; i++)
        if (s->labels[i] != DV_IGNORE_LABEL)
            return 1;
    return 0;
}

/* Which batch sample the stacked samples' k-th is (orig NULL: k). */
static int batch_index(const int *orig, int k)
{
    return orig ? orig[k] : k;
}

/* Samples s[0, n) (the stacked samples' k0, ...; checked) stacked, their
 * gradients added into I's; loss[k] and counted[k] each one's mean loss
 * and counted labels. pool (NULL: made for the call) keeps the buffers;
 * tp splits every pass (NULL: the calling thread). */
static int stacked(dv_tmodel *m, const tm_impl *I, tg_pool *pool, const dv_tsample *s, int n,
                   int k0, const int *orig, float *loss, int *counted, dv_tprof *prof,
                   dv_pool *tp, dv_err *e)
{
    tg_pool own = { 0 };
    pool = pool ? pool : &own;
    tg_pool_reset(pool);
    stack b;
    stack_init(&b, m, I, s, n, pool, tp, prof);
    int rc = DOCVL_OK, any = 0;
    if ((rc = stack_forward(&b, e)))
        dv_wrap(e, "training step");
    if (!rc) {
        dv_pool_for_parts(tp, n, 1, loss_chunk, &b);
        for (int k = 0; k < n && !rc; k++) {
            if (b.failed[k])
                rc = dv_fail(e, DOCVL_ENOMEM, "training step, sample %d: out of memory for its "
                             "CTC loss of %d frames", batch_index(orig, k0 + k), b.gw);
            /* the float mean, as dv_tmodel_forward_backward reports it */
            loss[k] = b.counted[k] ? (float)(b.nll[k] / b.counted[k]) : 0.0f;
            counted[k] = b.counted[k];
            any |= counted[k] > 0;
        }
        tick_prof(prof, &b.t_mark, DV_PH_LOSS);
    }
    if (!rc && any && (rc = stack_backward(&b, e)))
        dv_wrap(e, "training step backward");
    tg_pool_free(&own);
    return rc;
}

/* Decoder rows (tokens) of one stack that one thread runs: a stack's
 * activations then stay near the core's caches from one pass to the next
 * (measured on the built-in line reader's shapes, 88-212 tokens a sample,
 * batch 32, one thread, in one quiet window: median CPU per step 0.21 s
 * for stacks of 256 rows and of 512, 0.24 s for 1024 and 0.23 s for one
 * stack of the batch, the best runs 0.18, 0.20, 0.21, 0.23 s). */
#define SUBSTACK_TOKENS 256

/* Samples [k0, k1) on the calling thread as consecutive stacks of about
 * SUBSTACK_TOKENS rows (at least one sample each), their gradients added
 * into I's one after another; loss and counted are indexed by sample. */
static int substacks(dv_tmodel *m, const tm_impl *I, tg_pool *pool, const dv_tsample *s, int k0,
                     int k1, const int *orig, float *loss, int *counted, dv_tprof *prof,
                     dv_err *e)
{
    for (int a = k0, b; a < k1; a = b) {
        int rows = s[a].n_tokens;
        for (b = a + 1; b < k1 && rows + s[b].n_tokens <= SUBSTACK_TOKENS; b++)
            rows += s[b].n_tokens;
        int rc = stacked(m, I, pool, s + a, b - a, a, orig, loss + a, counted + a, prof, NULL,
                         e);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}

/* The groups of a batch, taken by the pool's threads as they come. */
typedef struct group_job {
    dv_tmodel *m;
    dv_tws *ws;
    const dv_tsample *s;
    const int *orig;         /* the batch's index of s[k] */
    int n, groups, threads;
    int bound[TWS_MAX_GROUPS + 1];   /* group g: samples bound[g] .. bound[g + 1] - 1 */
    float *loss;             /* [n] */
    int *counted;            /* [n] */
    int rc[TWS_MAX_GROUPS];
    dv_err err[TWS_MAX_GROUPS];
    dv_tprof prof[TWS_MAX_GROUPS];
    int timed;
} group_job;

/* The groups' first samples b[0..groups) and b[groups] = n: consecutive
 * samples with about the same tokens in each group, at least one (not
 * the same count: a batch's samples differ in length, and a thread given
 * the longer ones would keep the other waiting at the end of the step). */
static void group_bounds(const dv_tsample *s, int n, int groups, int *b)
{
    long total = 0, seen = 0;
    for (int k = 0; k < n; k++)
        total += s[k].n_tokens;
    b[0] = 0;
    for (int g = 1, k = 0; g < groups; g++) {
        while (k < n && (seen * groups < total * g || k <= b[g - 1])) {
            seen += s[k].n_tokens;
            k++;
        }
        b[g] = k < n - (groups - g) ? k : n - (groups - g);
    }
    b[groups] = n;
}

static void group_chunk(void *arg, int part, int lo, int hi)
{
    group_job *j = arg;
    for (int g = lo; g < hi; g++) {
        int k0 = j->bound[g], k1 = j->bound[g + 1];
        const tm_impl *I = g ? &j->ws->views[g] : j->m->impl;
        j->rc[g] = substacks(j->m, I, &j->ws->act[part], j->s, k0, k1, j->orig, j->loss,
                             j->counted, j->timed ? &j->prof[g] : NULL, &j->err[g]);
    }
}

typedef struct sum_job {
    float *g;
    float *const *parts;
    int n_parts;
} sum_job;

/* Adds the groups' buffers in group order and clears them for the next
 * step in the same pass (no clearing pass of its own before the groups). */
static void sum_range(void *arg, int lo, int hi)
{
    const sum_job *j = arg;
    for (int t = 1; t < j->n_parts; t++)
        for (int i = lo; i < hi; i++) {
            j->g[i] += j->parts[t][i];
            j->parts[t][i] = 0.0f;
        }
}

/* Runs the groups, then adds their gradients in group order. */
static int run_groups(group_job *j, dv_pool *tp, dv_tprof *prof, dv_err *e)
{
    for (int g = 1; j->ws->dirty && g < j->ws->n_groups; g++)
        memset(j->ws->gbuf[g], 0, j->ws->g_n * sizeof(float));
    j->ws->dirty = 1;
    dv_pool_for_parts(tp, j->groups, 1, group_chunk, j);
    for (int g = 0; g < j->groups; g++)
        if (j->rc[g]) {
            *e = j->err[g];
            return e->code;
        }
    for (int g = 0; prof && g < j->groups; g++)
        for (int p = 0; p < DV_PH_COUNT; p++)   /* the wall time, as if spread evenly */
            prof->s[p] += j->prof[g].s[p] / j->threads;
    sum_job sj = { j->ws->g_lo, j->ws->gbuf, j->groups };
    dv_pool_for(tp, (int)j->ws->g_n, 1 << 16, sum_range, &sj);
    j->ws->dirty = 0;
    return DOCVL_OK;
}

static int stacked_batch(dv_tmodel *m, dv_tws *ws, const dv_tsample *s, int n, const int *orig,
                         float *loss, int *counted, dv_tprof *prof, dv_pool *tp, dv_err *e)
{
    int threads = dv_pool_threads(tp);
    int groups = ws && threads > 1 ? ws->n_groups : 1;
    groups = groups < n ? groups : n;
    if (n < 1)
        return DOCVL_OK;
    if (groups < 2 && threads > 1)
        return stacked(m, m->impl, ws ? &ws->act[0] : NULL, s, n, 0, orig, loss, counted, prof,
                       tp, e);
    if (groups < 2)
        return substacks(m, m->impl, ws ? &ws->act[0] : NULL, s, 0, n, orig, loss, counted,
                         prof, e);
    group_job *j = calloc(1, sizeof *j);
    if (!j)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the batch's groups");
    *j = (group_job){ .m = m, .ws = ws, .s = s, .orig = orig, .n = n, .groups = groups,
                      .threads = threads, .loss = loss, .counted = counted,
                      .timed = prof != NULL };
    group_bounds(s, n, groups, j->bound);
    int rc = run_groups(j, tp, prof, e);
    free(j);
    return rc;
}

/* Every sample checked, then the ones that train stacked (a sample without
 * a counted label would run the tower and the decoder for nothing). */
static int batch_stacked(dv_tmodel *m, dv_tws *ws, const dv_tsample *s, int n, double *loss_sum,
                         int *n_counted, dv_tprof *prof, const dv_ctx *ctx, dv_err *e)
{
    size_t cap = (size_t)(n > 0 ? n : 1);
    float *loss = malloc(cap * sizeof *loss);
    int *counted = malloc(cap * sizeof *counted), *orig = malloc(cap * sizeof *orig);
    dv_tsample *use = malloc(cap * sizeof *use);
    int rc = loss && counted && orig && use
                 ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory for %d losses", n);
    const tm_impl *I = m->impl;
    int n_tok = dv_config_image_tokens(&m->cfg), nu = 0;
    for (int k = 0; !rc && k < n; k++) {
        rc = s[k].ctc_target ? ctc_check(&m->cfg, I, 0, n_tok, &s[k], e)
                             : check_sample(m, I, n_tok, &s[k], e);
        if (rc)
            dv_wrap(e, "training step, sample %d", k);
        else if (sample_trains(&s[k])) {
            use[nu] = s[k];
            orig[nu++] = k;
        }
    }
    dv_ctx_apply(ctx);   /* with a pool: each thread one BLAS thread */
    if (!rc)
        rc = stacked_batch(m, ws, use, nu, orig, loss, counted, prof, ctx ? ctx->pool : NULL, e);
    for (int k = 0; !rc && k < nu; k++) {
        *loss_sum += loss[k];
        *n_counted += counted[k];
    }
    free(loss);
    free(counted);
    free(orig);
    free(use);
    return rc;
}

int dv_tmodel_forward_backward_batch(dv_tmodel *m, dv_tws *ws, const dv_tsample *s, int n,
                                     double *loss_sum, int *n_counted, dv_tprof *prof,
                                     const dv_ctx *ctx, dv_err *e)
{
    *loss_sum = 0;
    *n_counted = 0;
    if (!dv_family_of(&m->cfg)->train_one_sample)
        return batch_stacked(m, ws, s, n, loss_sum, n_counted, prof, ctx, e);
    for (int k = 0; k < n; k++) {
        double nll;
        int counted;
        int rc = run(m, NULL, ws ? ws->one : NULL, &s[k], 1, &nll, &counted, NULL, prof, ctx, e);
        if (rc)
            return dv_wrap(e, "training step, sample %d", k);
        *loss_sum += counted ? (float)(nll / counted) : 0.0;
        *n_counted += counted;
    }
    return DOCVL_OK;
}
