#include "train/trainer.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "kernels/pool.h"
#include "weights/config.h"
#include "text/tokenizer.h"
#include "train/data.h"
#include "train/mask.h"
#include "train/optim.h"
#include "train/pixels.h"
#include "train/sched.h"
#include "train/stages.h"
#include "train/tmodel.h"
#include "train/trainlog.h"
#include "base/rng.h"

/* The data order's generator is seeded apart from the weights' so the two
 * never share a stream. */
#define DATA_SEED_SALT 0x6461746131ull

/* A micro-batch's samples, drawn in order (the data generator's sequence
 * does not depend on the batch size), then their forward and backward
 * passes at once; their gradients are added to the sum. */
typedef struct micro {
    int n;
    dv_seq *seq;
    float **pixels;
    dv_tsample *ts;
    int32_t **ctc;              /* --objective ctc: each sample's answer tokens */
    size_t *n_ctc;
} micro;

typedef struct run {
    const dv_train_opts *o;
    const dv_ctx *ctx;
    dv_tmodel *m;
    dv_tokenizer *tok;
    const char *tok_dir;
    dv_manifest man;
    dv_corpus corpus;
    dv_seq_opts so;
    dv_adamw opt;
    dv_rng rng;
    dv_sched sched;
    dv_trainlog log;
    dv_pool *pool;              /* a batch's work is split over it: ctx's, or own_pool */
    dv_pool *own_pool;          /* made here when ctx brings none of the right size */
    dv_tws *ws;
    dv_ctx step_ctx;            /* ctx with the pool */
    micro batch;                /* one micro-batch's tables, kept from step to step */
    long tokens;                /* tokens seen in this run */
    double last_loss;
} run;

void dv_train_opts_default(dv_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->stage = 1;
    o->mix = (dv_mix){ 7, 3 };
    o->steps = 100;
    o->lr = 1e-4;
    o->min_lr = 0;
    o->warmup = 0;
    o->batch = 1;
    o->accum = 1;
    o->clip = 1.0;
    o->weight_decay = 0.0;
    o->seed = 42;
}

static int check_opts(const dv_train_opts *o, dv_err *e)
{
    if (!!o->model_dir + !!o->init_config + 0 != 1 && !o->resume_dir)
        return dv_fail(e, DOCVL_EINVAL, "give exactly one of --model DIR and --init CONFIG.json "
                       "(or --resume DIR)");
    if (!o->data && !o->text)
        return dv_fail(e, DOCVL_EINVAL, "no training data: give --data and/or --text");
    if (!o->out_dir)
        return dv_fail(e, DOCVL_EINVAL, "no output directory (--out DIR)");
    if (o->steps < 1 || o->batch < 1 || o->accum < 1 || o->warmup < 0 || o->stop_after < 0)
        return dv_fail(e, DOCVL_EINVAL, "steps, batch and accum must be at least 1; warmup and "
                       "stop-after at least 0");
    if (!(o->lr > 0) || !(o->min_lr >= 0) || !(o->clip >= 0) || !(o->weight_decay >= 0))
        return dv_fail(e, DOCVL_EINVAL, "lr must be > 0; min-lr, clip and wd >= 0");
    if (o->ctc && (o->text || !o->data))
        return dv_fail(e, DOCVL_EINVAL, "the CTC objective reads images: give --data and no "
                       "--text");
    return DOCVL_OK;
}

/* path: a config.json, or a model directory's configuration (config.json
 * with its processor and preprocessor files: the prompt and input they
 * declare), initialised at random. */
static int init_from_config(const char *path, uint64_t seed, dv_tmodel **m, dv_err *e)
{
    dv_config cfg;
    int rc;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        rc = dv_config_load(path, &cfg, e);
    } else {
        char *text = NULL;
        size_t len = 0;
        if (dv_read_file(path, (size_t)16 << 20, &text, &len, e))
            return e->code;
        rc = dv_config_parse_json(text, len, path, &cfg, e);
        free(text);
    }
    return rc ? rc : dv_tmodel_init_random(&cfg, seed, m, e);
}

/* Copies every tensor of dir whose name and shape match one of m's; the
 * others keep their random values. None matching is an error: a warm start
 * from an unrelated model is a mistake, not a choice. */
static int warm_start(dv_tmodel *m, const char *dir, FILE *progress, dv_err *e)
{
    dv_tmodel *from = NULL;
    if (dv_tmodel_load(dir, &from, e))
        return e->code;
    int copied = 0;
    for (int i = 0; i < m->n_params; i++) {
        dv_param *p = &m->params[i], *q = dv_tmodel_param(from, p->name);
        if (q && q->ndim == p->ndim && !memcmp(q->shape, p->shape, sizeof p->shape)) {
            memcpy(p->w, q->w, p->n * sizeof *p->w);
            copied++;
        } else if (progress) {
            fprintf(progress, "warm start: %s stays random (%s in %s)\n", p->name,
                    q ? "another shape" : "absent", dir);
        }
    }
    dv_tmodel_free(from);
    if (!copied)
        return dv_fail(e, DOCVL_EMODEL, "%s: no tensor matches the new model's names and shapes",
                       dir);
    if (progress)
        fprintf(progress, "warm start: %d of %d tensors from %s\n", copied, m->n_params, dir);
    return DOCVL_OK;
}

static int open_model(run *r, dv_err *e)
{
    const dv_train_opts *o = r->o;
    const char *dir = o->resume_dir ? o->resume_dir : o->model_dir;
    if (o->from_dir && o->resume_dir)
        return dv_fail(e, DOCVL_EINVAL, "--from DIR starts a run; --resume continues one");
    int rc = dir ? dv_tmodel_load(dir, &r->m, e)
                 : init_from_config(o->init_config, o->seed, &r->m, e);
    if (rc)
        return dv_wrap(e, "%s", dir ? dir : o->init_config);
    if (o->from_dir && (rc = warm_start(r->m, o->from_dir, o->progress, e)))
        return dv_wrap(e, "--from");
    r->tok_dir = o->tokenizer_dir ? o->tokenizer_dir : dir;
    if (!r->tok_dir && g_file_test(o->init_config, G_FILE_TEST_IS_DIR))
        r->tok_dir = o->init_config;
    if (!r->tok_dir)
        return dv_fail(e, DOCVL_EINVAL, "--init needs --tokenizer DIR (a directory with "
                       "tokenizer.json)");
    char *tj = g_build_filename(r->tok_dir, "tokenizer.json", NULL);
    rc = dv_tokenizer_open(tj, &r->tok, e);
    g_free(tj);
    return rc;
}

static int set_trainable(run *r, dv_err *e)
{
    if (dv_stage_parts(r->o->stage, r->m->trainable, e))
        return e->code;
    for (int i = 0; i < r->o->n_overrides; i++)
        if (dv_stage_override(r->o->overrides[i], r->m->trainable, e))
            return e->code;
    return DOCVL_OK;
}

static void seq_opts(run *r)
{
    const dv_config *c = &r->m->cfg;
    r->so = (dv_seq_opts){ .tok = r->tok, .image_tag = c->proc.image_tag,
                           .image_id = dv_tokenizer_token_id(r->tok, c->proc.image_tag),
                           .n_img_tokens = dv_config_image_tokens(c), .add_bos = c->proc.add_bos,
                           .system = c->proc.system_prompt,
                           .supervise = dv_stage_supervise(r->o->stage), .answer_eos = 1,
                           .max_tokens = r->o->max_tokens > 0 ? r->o->max_tokens : c->lm.max_pos };
    dv_tmodel_set_image_token(r->m, r->so.image_id);
}

static int load_data(run *r, dv_err *e)
{
    if (r->o->data && dv_manifest_load(r->o->data, &r->man, e))
        return e->code;
    if (r->o->text && dv_corpus_load(r->o->text, &r->corpus, e))
        return e->code;
    if (r->man.n + r->corpus.n == 0)
        return dv_fail(e, DOCVL_EINVAL, "the training data holds no samples");
    if (r->man.n && r->so.image_id < 0)
        return dv_fail(e, DOCVL_EMODEL, "the tokenizer has no %s token", r->so.image_tag);
    return DOCVL_OK;
}

/* All of a conversation's images as one [n, 3, H, W] block. */
static int conv_pixels(const run *r, const dv_conv *c, float **out, dv_err *e)
{
    size_t per = (size_t)3 * r->m->cfg.pre.image_h * r->m->cfg.pre.image_w;
    *out = NULL;
    if (!c->n_images)
        return DOCVL_OK;
    float *all = malloc((size_t)c->n_images * per * sizeof *all);
    if (!all)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %d images", c->n_images);
    for (int i = 0; i < c->n_images; i++) {
        float *one;
        if (dv_pixels_load(c->images[i], &r->m->cfg, &one, e)) {
            free(all);
            return e->code;
        }
        memcpy(all + (size_t)i * per, one, per * sizeof *all);
        free(one);
    }
    *out = all;
    return DOCVL_OK;
}

/* The CTC objective's target: the last answer's tokens, without bos and
 * without the space the chat template puts before an answer. */
static int ctc_target(const run *r, const dv_conv *c, int32_t **ids, size_t *n, dv_err *e)
{
    if (c->n_images != 1 || c->n_turns < 2)
        return dv_fail(e, DOCVL_EINVAL, "the CTC objective needs one image and an answer per "
                       "sample (this one has %d images, %d turns)", c->n_images, c->n_turns);
    char *text = g_strstrip(g_strdup(c->turns[c->n_turns - 1].content));
    int rc = dv_tokenizer_encode(r->tok, text, strlen(text), 0, ids, n, e);
    g_free(text);
    return rc;
}

static int draw_sample(run *r, dv_seq *seq, float **pixels, int32_t **ctc, size_t *n_ctc,
                       dv_err *e)
{
    long idx;
    int kind = dv_mix_draw(&r->o->mix, &r->rng, r->corpus.n, r->man.n, &idx);
    *pixels = NULL;
    if (kind == DV_KIND_LANGUAGE) {
        if (dv_seq_from_text(&r->so, r->corpus.docs[idx], seq, e))
            return dv_wrap(e, "%s paragraph %ld", r->o->text, idx + 1);
        return DOCVL_OK;
    }
    const dv_conv *c = &r->man.convs[idx];
    if (dv_seq_from_conv(&r->so, c, seq, e) || conv_pixels(r, c, pixels, e) ||
        (r->o->ctc && ctc_target(r, c, ctc, n_ctc, e)))
        return dv_wrap(e, "%s sample %ld", r->o->data, idx + 1);
    return DOCVL_OK;
}

static void micro_free(micro *b)
{
    for (int k = 0; k < b->n; k++) {
        dv_seq_free(&b->seq[k]);
        free(b->pixels[k]);
        free(b->ctc[k]);
    }
    b->n = 0;
}

static int micro_batch(run *r, micro *b, int n, double *loss_sum, dv_err *e)
{
    int rc = DOCVL_OK;
    for (b->n = 0; b->n < n && !rc; b->n++) {
        dv_seq *seq = &b->seq[b->n];
        memset(seq, 0, sizeof *seq);
        b->ctc[b->n] = NULL;
        b->n_ctc[b->n] = 0;
        if ((rc = draw_sample(r, seq, &b->pixels[b->n], &b->ctc[b->n], &b->n_ctc[b->n], e)))
            break;
        b->ts[b->n] = (dv_tsample){ .n_images = seq->n_images, .pixels = b->pixels[b->n],
                                    .n_tokens = seq->n, .ids = seq->ids, .labels = seq->labels,
                                    .ctc_target = b->ctc[b->n], .n_ctc_target = (int)b->n_ctc[b->n] };
        r->tokens += seq->n;
    }
    double loss = 0;
    int counted = 0;
    if (!rc)
        rc = dv_tmodel_forward_backward_batch(r->m, r->ws, b->ts, n, &loss, &counted, NULL,
                                              &r->step_ctx, e);
    *loss_sum += loss;
    micro_free(b);
    return rc;
}

static int one_step(run *r, long step, dv_err *e)
{
    gint64 t0 = g_get_monotonic_time();
    long tokens0 = r->tokens;
    int n = r->o->batch * r->o->accum, per = r->o->batch;
    double loss = 0;
    int rc = DOCVL_OK;
    dv_tmodel_zero_grad(r->m);
    for (int k = 0; k < r->o->accum && !rc; k++)
        rc = micro_batch(r, &r->batch, per, &loss, e);
    if (rc)
        return dv_wrap(e, "step %ld", step + 1);
    /* each sample's gradient is of its own mean: the step averages samples */
    double scale = 1.0 / n;
    double norm = dv_grad_norm_pool(r->m, scale, r->pool);
    double lr = dv_sched_lr(&r->sched, step);
    dv_adamw_step(&r->opt, r->m, lr, scale * dv_clip_factor(norm, r->o->clip));
    double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
    double tps = secs > 0 ? (double)(r->tokens - tokens0) / secs : 0.0;
    r->last_loss = loss / n;
    if (r->o->progress)
        fprintf(r->o->progress, "step %ld/%ld loss %.4f lr %.3g grad-norm %.3g tokens/s %.0f\n",
                step + 1, r->o->steps, loss / n, lr, norm, tps);
    return dv_trainlog_row(&r->log, step + 1, loss / n, lr, norm, tps, e);
}

static int save(run *r, dv_err *e)
{
    const char *dir = r->o->out_dir;
    if (g_mkdir_with_parents(dir, 0755) != 0)
        return dv_fail(e, DOCVL_EIO, "%s: cannot create: %s", dir, strerror(errno));
    if (dv_tmodel_save(r->m, dir, r->tok_dir, e))
        return dv_wrap(e, "saving the checkpoint");
    char *path = g_build_filename(dir, DV_TRAIN_STATE_FILE, NULL);
    int rc = dv_adamw_save(&r->opt, r->m, r->rng.s, 4, path, e);
    g_free(path);
    return rc;
}

static int start(run *r, dv_err *e)
{
    const dv_train_opts *o = r->o;
    if (open_model(r, e) || set_trainable(r, e))
        return e->code;
    seq_opts(r);
    if (load_data(r, e))
        return e->code;
    dv_adamw_opts ao = DV_ADAMW_DEFAULTS;
    ao.weight_decay = o->weight_decay;
    if (dv_adamw_init(&r->opt, r->m, &ao, e))
        return e->code;
    int threads = r->ctx && r->ctx->n_threads > 0 ? r->ctx->n_threads : 1;
    if (r->ctx && r->ctx->pool && dv_pool_threads(r->ctx->pool) == threads)
        r->pool = r->ctx->pool;
    else if (dv_pool_new(threads, &r->own_pool, e))
        return e->code;
    else
        r->pool = r->own_pool;
    if (dv_tws_new(r->m, threads, &r->ws, e))
        return e->code;
    r->step_ctx = (dv_ctx){ .n_threads = threads, .pool = r->pool };
    r->opt.pool = r->pool;
    micro *b = &r->batch;
    b->seq = calloc((size_t)o->batch, sizeof *b->seq);
    b->pixels = calloc((size_t)o->batch, sizeof *b->pixels);
    b->ts = calloc((size_t)o->batch, sizeof *b->ts);
    b->ctc = calloc((size_t)o->batch, sizeof *b->ctc);
    b->n_ctc = calloc((size_t)o->batch, sizeof *b->n_ctc);
    if (!b->seq || !b->pixels || !b->ts || !b->ctc || !b->n_ctc)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a batch of %d", o->batch);
    dv_rng_seed(&r->rng, o->seed ^ DATA_SEED_SALT);
    if (o->resume_dir) {
        char *path = g_build_filename(o->resume_dir, DV_TRAIN_STATE_FILE, NULL);
        int rc = dv_adamw_load(&r->opt, r->m, r->rng.s, 4, path, e);
        g_free(path);
        if (rc)
            return dv_wrap(e, "resuming");
    }
    r->sched = (dv_sched){ .lr = o->lr, .min_lr = o->min_lr, .warmup = o->warmup,
                           .total = o->steps };
    if (g_mkdir_with_parents(o->out_dir, 0755) != 0)
        return dv_fail(e, DOCVL_EIO, "%s: cannot create: %s", o->out_dir, strerror(errno));
    char *log = g_build_filename(o->out_dir, DV_TRAIN_LOG_FILE, NULL);
    int rc = dv_trainlog_open(&r->log, log, e);
    g_free(log);
    return rc;
}

static int loop(run *r, dv_train_report *rep, dv_err *e)
{
    const dv_train_opts *o = r->o;
    long end = o->stop_after > 0 && o->stop_after < o->steps ? o->stop_after : o->steps;
    gint64 t0 = g_get_monotonic_time();
    for (long step = r->opt.step; step < end; step++) {
        if (one_step(r, step, e))
            return e->code;
        rep->steps_done++;
        if (o->save_every > 0 && (step + 1) % o->save_every == 0 && step + 1 < end &&
            save(r, e))
            return e->code;
    }
    double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
    rep->tokens_per_s = secs > 0 ? (double)r->tokens / secs : 0.0;
    rep->last_loss = r->last_loss;
    if (save(r, e))
        return e->code;
    char *tsv = g_build_filename(o->out_dir, DV_TRAIN_LOG_FILE, NULL);
    char *png = g_build_filename(o->out_dir, DV_TRAIN_PLOT_FILE, NULL);
    int rc = dv_trainlog_close(&r->log, e);
    if (!rc)
        rc = dv_plot_trainlog(tsv, png, e);
    g_free(tsv);
    g_free(png);
    return rc;
}

int dv_train_run(const dv_train_opts *o, dv_train_report *rep, const dv_ctx *ctx, dv_err *e)
{
    memset(rep, 0, sizeof *rep);
    if (check_opts(o, e))
        return e->code;
    run r = { .o = o, .ctx = ctx };
    int rc = start(&r, e);
    if (!rc)
        rc = loop(&r, rep, e);
    dv_err ignore = {0};
    if (r.log.f)
        dv_trainlog_close(&r.log, &ignore);
    dv_adamw_free(&r.opt);
    dv_tws_free(r.ws);
    free(r.batch.seq), free(r.batch.pixels), free(r.batch.ts), free(r.batch.ctc), free(r.batch.n_ctc);
    dv_pool_free(r.own_pool);
    dv_manifest_free(&r.man);
    dv_corpus_free(&r.corpus);
    dv_tokenizer_free(r.tok);
    if (r.m)
        dv_tmodel_free(r.m);
    return rc;
}
