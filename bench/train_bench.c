/* docvl-train-bench: one optimizer step (forward, backward, AdamW) of a
 * model config on a batch of made-up samples, against the machine's sgemm
 * limit measured in the same run; optionally the same step in PyTorch
 * (bench/train_torch.py) on the same weights and batch. Never run by the
 * tests. Options and JSON keys: bench/README.md. */
#include <cblas.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ctx.h"
#include "base/json.h"
#include "base/rng.h"
#include "cli/blas_reexec.h"
#include "kernels/pool.h"
#include "machine.h"
#include "model/arch.h"
#include "weights/config.h"
#include "text/tokenizer.h"
#include "train/optim.h"
#include "train/stages.h"
#include "train/tmodel.h"

typedef struct tb_opts {
    const char *config, *tokenizer, *dump, *torch;
    int batch, threads, text, steps, stage, json;
    int per_pass;            /* the whole batch one stack, every pass split over the threads */
    int ctc;                 /* --objective ctc: each sample's answer read off the columns */
    int image_token;         /* -1: the tokenizer's image placeholder */
    long seed;
} tb_opts;

typedef struct tb_batch {
    int n;
    dv_tsample *s;
    int32_t **ids, **labels;
    float *pixels;           /* n images, one per sample */
    long tokens;
} tb_batch;

/* Step phases: the model's (dv_tprof) plus the bench's own. */
enum { PH_DATA = DV_PH_COUNT, PH_OPTIM, PH_ALL };
static const char *const phase_names[PH_ALL] = {
    "vision_fwd", "aligner_fwd", "decoder_fwd", "loss", "decoder_bwd", "aligner_bwd",
    "vision_bwd", "data", "optimizer"
};

typedef struct tb_result {
    double sgemm_gflops, step_s, step_best_s, gflop, loss0, peak_rss_gb;
    double sgemm_gflops_cpu, step_cpu_s;   /* per CPU second: see bench_cpu_seconds */
    double phase_s[PH_ALL];   /* mean over the timed steps */
    double torch_step_s, torch_loss0;
    /* the interleaved probes (see probe_gflops) and each timed step's
     * fraction of the better of the two around it: median, min, max;
     * probe is the better product each time, probe_blas and probe_own
     * cblas_sgemm's and docvl's own (0 where the model runs OpenBLAS's) */
    double probe[3], frac_probe[3], probe_blas[3], probe_own[3];
    long n_params;
    dv_gemm gemm;            /* the product the model's steps run */
    int image_id;            /* the image placeholder the samples use */
} tb_result;

static int usage(void)
{
    fprintf(stderr, "usage: docvl-train-bench --config CONFIG.json (--tokenizer DIR | "
                    "--image-token ID) [--batch N] [--threads N] [--text N] [--steps N] "
                    "[--stage 1|2|3] [--seed N] [--per-pass] [--objective next-token|ctc] "
                    "[--dump DIR] [--torch SCRIPT] [--json]\n");
    return 2;
}

static int parse_args(int argc, char **argv, tb_opts *o)
{
    *o = (tb_opts){ .batch = 4, .threads = 2, .text = 64, .steps = 3, .stage = 3, .seed = 1,
                    .image_token = -1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--json"))
            o->json = 1, takes = 0;
        else if (!strcmp(a, "--per-pass"))
            o->per_pass = 1, takes = 0;
        else if (!v)
            return -1;
        else if (!strcmp(a, "--config"))
            o->config = v;
        else if (!strcmp(a, "--tokenizer"))
            o->tokenizer = v;
        else if (!strcmp(a, "--dump"))
            o->dump = v;
        else if (!strcmp(a, "--torch"))
            o->torch = v;
        else if (!strcmp(a, "--batch"))
            o->batch = atoi(v);
        else if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--text"))
            o->text = atoi(v);
        else if (!strcmp(a, "--steps"))
            o->steps = atoi(v);
        else if (!strcmp(a, "--stage"))
            o->stage = atoi(v);
        else if (!strcmp(a, "--image-token"))
            o->image_token = atoi(v);
        else if (!strcmp(a, "--seed"))
            o->seed = atol(v);
        else if (!strcmp(a, "--objective") && (!strcmp(v, "ctc") || !strcmp(v, "next-token")))
            o->ctc = !strcmp(v, "ctc");
        else
            return -1;
        i += takes;
    }
    if (!o->config || (!o->tokenizer && o->image_token < 0) || o->batch < 1 || o->threads < 1 ||
        o->text < 8 || o->steps < 1 || (o->ctc && o->torch))
        return -1;
    return 0;
}

/* ---- FLOPs counted from the config: forward x 3 (backward = 2 forward) ---- */

static double vit_flop(const dv_siglip_cfg *s)
{
    double n = (double)dv_siglip_grid_h(s) * dv_siglip_grid_w(s), w = s->width;
    double f = 2 * n * w * 3.0 * s->patch_size * s->patch_size;
    return f + s->depth * (2 * n * (4 * w * w + 2 * w * s->mlp_dim) + 4 * n * n * w);
}

static double aligner_flop(const dv_config *c, double ntok)
{
    double E = c->aligner.n_embed;
    return 2 * ntok * (c->aligner.input_dim * E + (c->aligner.depth - 1) * E * E);
}

/* One sequence of T tokens of which `labelled` carry a label: the output
 * layer runs over those rows only (the trainer computes no other logits);
 * causal attention counts the scores it computes (T (T + 1) / 2 per head). */
static double decoder_flop(const dv_lm_cfg *l, double T, double labelled)
{
    double H = l->hidden, kv = (double)l->kv_heads * l->head_dim;
    double layer = 2 * T * (H * (2 * H + 2 * kv) + 3 * H * l->intermediate);
    layer += 2 * 2 * (T * (T + 1) / 2) * H;
    return l->layers * layer + 2 * labelled * H * l->vocab;
}

/* A CTC sample's decoder work: its frames (the grid's columns) through the
 * output layer. A next-token sample without a label is not counted: the
 * trainer skips it (it adds nothing to the loss or the gradients). */
static double step_flop(const dv_config *c, const tb_batch *b)
{
    double f = 0, ntok = dv_config_image_tokens(c);
    double frames = 2.0 * dv_siglip_grid_w(&c->siglip) * c->lm.hidden * c->lm.vocab;
    for (int k = 0; k < b->n; k++) {
        const dv_tsample *s = &b->s[k];
        int labelled = 0;
        for (int i = 0; i < s->n_tokens; i++)
            labelled += s->labels[i] != DV_IGNORE_LABEL;
        if (!s->ctc_target && !labelled)
            continue;
        f += s->n_images * (vit_flop(&c->siglip) + aligner_flop(c, ntok)) +
             (s->ctc_target ? frames : decoder_flop(&c->lm, s->n_tokens, labelled));
    }
    return 3 * f;
}

/* ---- made-up samples: BOS, 7 prompt tokens, the image, 8 more, an answer
 * (labels on the answer only, as stage 3); sample k's answer is 4k tokens
 * longer than the first, so the lengths differ as real ones do ---- */

static int32_t text_token(dv_rng *r, const dv_config *c, int32_t image_id)
{
    int32_t t;
    do
        t = (int32_t)(dv_rng_next(r) % (uint64_t)(c->lm.vocab - 3));
    while (t == image_id);
    return t;
}

static int make_batch(const dv_config *c, int32_t image_id, const tb_opts *o, dv_rng *r,
                      tb_batch *b)
{
    int ntok = dv_config_image_tokens(c);
    size_t per = (size_t)3 * c->pre.image_h * c->pre.image_w;
    b->n = o->batch;
    b->s = calloc((size_t)b->n, sizeof *b->s);
    b->ids = calloc((size_t)b->n, sizeof *b->ids);
    b->labels = calloc((size_t)b->n, sizeof *b->labels);
    b->pixels = malloc((size_t)b->n * per * sizeof *b->pixels);
    if (!b->s || !b->ids || !b->labels || !b->pixels)
        return -1;
    b->tokens = 0;
    for (int k = 0; k < b->n; k++) {
        int answer = o->text - 16 + 4 * k, T = 16 + ntok + answer;
        int32_t *ids = b->ids[k] = malloc((size_t)T * sizeof *ids);
        int32_t *lab = b->labels[k] = malloc((size_t)T * sizeof *lab);
        if (!ids || !lab)
            return -1;
        ids[0] = c->lm.bos_id;
        for (int i = 1; i < T; i++)
            ids[i] = i >= 8 && i < 8 + ntok ? image_id : text_token(r, c, image_id);
        for (int i = 0; i < T; i++)
            lab[i] = i + 1 < T && i + 1 >= 16 + ntok ? ids[i + 1] : DV_IGNORE_LABEL;
        float *px = b->pixels + (size_t)k * per;
        for (size_t i = 0; i < per; i++)
            px[i] = (float)(dv_rng_next(r) >> 40) / 16777216.0f;
        b->s[k] = (dv_tsample){ .n_images = 1, .pixels = px, .n_tokens = T, .ids = ids,
                                .labels = lab };
        if (o->ctc) {   /* 1 to 12 of the tokens after the image, as the warm-up's lines */
            int L = 1 + k % 12, cols = dv_siglip_grid_w(&c->siglip) / 2, after = T - 8 - ntok;
            L = L < cols ? L : cols;
            b->s[k].ctc_target = ids + 8 + ntok;
            b->s[k].n_ctc_target = L < after ? L : after;
        }
        b->tokens += T;
    }
    return 0;
}

static void free_batch(tb_batch *b)
{
    for (int k = 0; k < b->n && b->ids && b->labels; k++) {
        free(b->ids[k]);
        free(b->labels[k]);
    }
    free(b->ids);
    free(b->labels);
    free(b->s);
    free(b->pixels);
    memset(b, 0, sizeof *b);
}

/* ---- the step ---- */

typedef struct tb_run {
    const tb_opts *o;
    dv_tmodel *m;
    int32_t image_id;
    dv_adamw opt;
    dv_rng rng;
    dv_ctx ctx;
    dv_tws *ws;
} tb_run;

/* One optimizer step on a freshly drawn batch; phase times ADDED to ph. */
static int one_step(tb_run *r, double ph[PH_ALL], double *loss, tb_batch *keep, dv_err *e)
{
    double t0 = bench_now();
    tb_batch b = { 0 };
    if (make_batch(&r->m->cfg, r->image_id, r->o, &r->rng, &b)) {
        free_batch(&b);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the batch");
    }
    double t1 = bench_now();
    ph[PH_DATA] += t1 - t0;
    dv_tprof prof = { { 0 } };
    double loss_sum;
    int counted;
    dv_tmodel_zero_grad(r->m);
    int rc = dv_tmodel_forward_backward_batch(r->m, r->ws, b.s, b.n, &loss_sum, &counted, &prof, &r->ctx,
                                              e);
    double t2 = bench_now();
    if (!rc) {
        double scale = 1.0 / b.n, norm = dv_grad_norm_pool(r->m, scale, r->ctx.pool);
        dv_adamw_step(&r->opt, r->m, 1e-4, scale * dv_clip_factor(norm, 1.0));
    }
    ph[PH_OPTIM] += bench_now() - t2;
    for (int i = 0; i < DV_PH_COUNT; i++)
        ph[i] += prof.s[i];
    *loss = loss_sum / b.n;
    if (keep)
        *keep = b;
    else
        free_batch(&b);
    return rc;
}

/* ---- the sgemm limit beside each step: a short probe on the run's own
 * threads before and after every timed step, so that a change in the
 * machine's load between a probe and a step does not decide the fraction.
 * The probe is the bench's sgemm shape (1024 x 1024 x 4096) with its rows
 * split over docvl's pool, each thread one single-threaded product, as
 * the step uses the cores (OpenBLAS's own threads spin after a product
 * and would take a core from the next step's threads). Where the model
 * runs docvl's own product (kernels/sgemm512.h) the probe times it too and
 * the limit is the better of the two: the machine's best fp32 product
 * that the step could use, not only OpenBLAS's. ---- */

typedef struct tb_probe {
    dv_pool *pool;
    float *a, *b, *c;
    dv_gemm gemm;    /* the model's: DV_GEMM_OWN probes both products */
    dv_gemm run;     /* the product probe_part runs now */
} tb_probe;

enum { PR_M = 1024, PR_N = 1024, PR_K = 4096 };

static int probe_new(tb_probe *p, dv_pool *pool, dv_gemm gemm)
{
    p->pool = pool;
    p->gemm = gemm;
    p->a = bench_random_floats((size_t)PR_M * PR_K, 1);
    p->b = bench_random_floats((size_t)PR_K * PR_N, 2);
    p->c = calloc((size_t)PR_M * PR_N, sizeof *p->c);
    return p->a && p->b && p->c ? 0 : -1;
}

static void probe_free(tb_probe *p)
{
    free(p->a), free(p->b), free(p->c);
}

static void probe_part(void *arg, int part, int n_parts)
{
    const tb_probe *p = arg;
    int lo, hi;
    dv_pool_range(PR_M, 16, part, n_parts, &lo, &hi);
    dv_sgemm(p->run, 0, 1, hi - lo, PR_N, PR_K, 1.0f, p->a + (size_t)lo * PR_K, PR_K, p->b,
             PR_K, 0.0f, p->c + (size_t)lo * PR_N, PR_N);
}

/* GFLOP/s of the better of two products of `run` (about 0.06 s each on
 * one core of this machine with OpenBLAS's AVX2 kernels). */
static double probe_run(tb_probe *p, dv_gemm run)
{
    p->run = run;
    double best = 1e30;
    for (int rep = 0; rep < 2; rep++) {
        double t0 = bench_now();
        dv_pool_run(p->pool, probe_part, p);
        double dt = bench_now() - t0;
        best = dt < best ? dt : best;
    }
    return 2.0 * PR_M * PR_N * PR_K / best / 1e9;
}

/* The limit around a step: cblas_sgemm's probe (into *blas), docvl's own
 * (into *own, 0 where the model runs OpenBLAS's), and the better of them. */
static double probe_gflops(tb_probe *p, double *blas, double *own)
{
    openblas_set_num_threads(1);
    *blas = probe_run(p, DV_GEMM_BLAS);
    *own = p->gemm == DV_GEMM_OWN ? probe_run(p, DV_GEMM_OWN) : 0.0;
    return *own > *blas ? *own : *blas;
}

/* out[0..2] = median, min, max of x[0..n) (sorted in place). */
static void med_range(double *x, int n, double out[3])
{
    qsort(x, (size_t)n, sizeof *x, bench_cmp_double);
    out[0] = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
    out[1] = x[0];
    out[2] = x[n - 1];
}

/* The batch as the torch script reads it: i32 n, then per sample i32 T,
 * i32 T ids, i32 T labels, f32 pixels [3, S, S]. */
static int write_batch(const char *dir, const tb_batch *b, size_t per, dv_err *e)
{
    char *path = g_build_filename(dir, "batch.bin", NULL);
    FILE *f = fopen(path, "wb");
    int bad = !f;
    int32_t n = b->n;
    bad = bad || fwrite(&n, sizeof n, 1, f) != 1;
    for (int k = 0; k < b->n && !bad; k++) {
        int32_t T = b->s[k].n_tokens;
        bad = fwrite(&T, sizeof T, 1, f) != 1 ||
              fwrite(b->ids[k], sizeof(int32_t), (size_t)T, f) != (size_t)T ||
              fwrite(b->labels[k], sizeof(int32_t), (size_t)T, f) != (size_t)T ||
              fwrite(b->s[k].pixels, sizeof(float), per, f) != per;
    }
    if (f && fclose(f))
        bad = 1;
    int rc = bad ? dv_fail(e, DOCVL_EIO, "%s: cannot write the batch", path) : DOCVL_OK;
    g_free(path);
    return rc;
}

static int open_model(tb_run *r, dv_err *e)
{
    char *text = NULL, *tj = NULL;
    size_t len = 0;
    dv_config cfg;
    dv_tokenizer *tok = NULL;
    int rc = dv_read_file(r->o->config, (size_t)16 << 20, &text, &len, e);
    if (!rc)
        rc = dv_config_parse_json(text, len, r->o->config, &cfg, e);
    free(text);
    if (!rc && dv_config_has_tower(&cfg, DV_TOWER_SAM))
        rc = dv_fail(e, DOCVL_EUNSUPPORTED, "%s: the bench counts FLOPs of SigLIP-only configs",
                     r->o->config);
    if (!rc)
        rc = dv_tmodel_init_random(&cfg, (uint64_t)r->o->seed, &r->m, e);
    r->image_id = r->o->image_token;
    if (!rc && r->image_id < 0) {
        tj = g_build_filename(r->o->tokenizer, "tokenizer.json", NULL);
        rc = dv_tokenizer_open(tj, &tok, e);
        g_free(tj);
    }
    if (!rc && tok) {
        r->image_id = dv_tokenizer_token_id(tok, cfg.proc.image_tag);
        dv_tokenizer_free(tok);
        if (r->image_id < 0)
            rc = dv_fail(e, DOCVL_EMODEL, "the tokenizer has no %s token", cfg.proc.image_tag);
    }
    if (!rc) {
        dv_tmodel_set_image_token(r->m, r->image_id);
        rc = dv_stage_parts(r->o->stage, r->m->trainable, e);
    }
    dv_adamw_opts ao = DV_ADAMW_DEFAULTS;
    ao.weight_decay = 0.01;
    if (!rc)
        rc = dv_adamw_init(&r->opt, r->m, &ao, e);
    return rc;
}

/* Step 0 on the initial weights, saved with its batch and loss for the
 * torch script when dumping; then the timed steps, each between two
 * probes. */
static int time_steps(tb_run *r, tb_result *res, const char *dump, tb_probe *pr, dv_err *e)
{
    int S = r->o->steps;
    double ph[PH_ALL] = { 0 }, *step = calloc((size_t)S * 6 + 3, sizeof *step);
    double *cpu = step + S, *frac = cpu + S, *probe = frac + S;   /* probes: S + 1 each */
    double *blas = probe + S + 1, *own = blas + S + 1;
    tb_batch b0;
    if (!step)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory");
    int rc = dump ? dv_tmodel_save(r->m, dump, r->o->tokenizer, e) : DOCVL_OK;
    if (!rc)
        rc = one_step(r, ph, &res->loss0, &b0, e);
    if (!rc && dump)
        rc = write_batch(dump, &b0, (size_t)3 * r->m->cfg.pre.image_h *
                                        r->m->cfg.pre.image_w, e);
    if (!rc) {
        res->gflop = step_flop(&r->m->cfg, &b0) / 1e9;
        free_batch(&b0);
    }
    memset(ph, 0, sizeof ph);
    double loss;
    probe[0] = probe_gflops(pr, &blas[0], &own[0]);
    for (int i = 0; i < S && !rc; i++) {
        double t0 = bench_now(), c0 = bench_cpu_seconds();
        rc = one_step(r, ph, &loss, NULL, e);
        step[i] = bench_now() - t0;
        cpu[i] = bench_cpu_seconds() - c0;
        probe[i + 1] = probe_gflops(pr, &blas[i + 1], &own[i + 1]);
        double limit = probe[i] > probe[i + 1] ? probe[i] : probe[i + 1];
        frac[i] = res->gflop / step[i] / limit;
    }
    if (!rc) {
        med_range(frac, S, res->frac_probe);
        med_range(probe, S + 1, res->probe);
        med_range(blas, S + 1, res->probe_blas);
        med_range(own, S + 1, res->probe_own);
        qsort(step, (size_t)S, sizeof *step, bench_cmp_double);
        res->step_s = step[S / 2];
        res->step_best_s = step[0];
        qsort(cpu, (size_t)S, sizeof *cpu, bench_cmp_double);
        res->step_cpu_s = cpu[S / 2];
        for (int i = 0; i < PH_ALL; i++)
            res->phase_s[i] = ph[i] / S;
    }
    free(step);
    return rc;
}

/* Runs the torch script on the dump; it prints one JSON line with
 * step_s and loss0. */
static int run_torch(const tb_opts *o, const char *dir, tb_result *res, dv_err *e)
{
    char threads[16], steps[16], image[16];
    snprintf(threads, sizeof threads, "%d", o->threads);
    snprintf(steps, sizeof steps, "%d", o->steps);
    snprintf(image, sizeof image, "%d", res->image_id);
    char *argv[] = { (char *)o->torch, (char *)dir, "--threads", threads, "--steps",
                     steps, "--image-token", image, NULL };
    char *out = NULL;
    int status = 0;
    GError *ge = NULL;
    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL,
                      NULL, &out, NULL, &status, &ge)) {
        int rc = dv_fail(e, DOCVL_EIO, "%s: %s", o->torch, ge->message);
        g_error_free(ge);
        return rc;
    }
    const char *js = out ? strrchr(out, '{') : NULL;
    JsonParser *p = NULL;
    JsonNode *root = NULL;
    int rc = !js || !g_spawn_check_wait_status(status, NULL)
                 ? dv_fail(e, DOCVL_EIO, "%s failed (status %d): %s", o->torch, status,
                           out ? out : "")
                 : dv_json_parse(js, strlen(js), 1 << 20, o->torch, &p, &root, e);
    if (!rc) {
        JsonObject *obj = json_node_get_object(root);
        if (dv_json_num(obj, "step_s", o->torch, &res->torch_step_s, e) < 0 ||
            dv_json_num(obj, "loss0", o->torch, &res->torch_loss0, e) < 0)
            rc = e->code;
    }
    if (p)
        g_object_unref(p);
    g_free(out);
    return rc;
}

static void print_table(const tb_opts *o, const tb_result *r, long tokens)
{
    double gfs = r->gflop / r->step_s;
    printf("machine: sgemm %.1f GFLOP/s on %d threads (best of the runs before and after), "
           "OpenBLAS %s kernels\n", r->sgemm_gflops, o->threads, openblas_get_corename());
    printf("model: %.2f M parameters, batch %d, %ld tokens per step%s%s\n", r->n_params / 1e6,
           o->batch, tokens, o->ctc ? ", CTC objective" : "",
           o->per_pass ? " (one stack, every pass split over the threads)" : "");
    printf("step: %.3f s median of %d (best %.3f): %.2f samples/s, %.0f tokens/s\n", r->step_s,
           o->steps, r->step_best_s, o->batch / r->step_s, tokens / r->step_s);
    printf("work: %.1f GFLOP per step (forward x 3): %.1f GFLOP/s, %.0f%% of sgemm\n", r->gflop,
           gfs, 100 * gfs / r->sgemm_gflops);
    printf("beside each step: %.0f%% of the sgemm probe around it, median (%.0f-%.0f%%); "
           "probes %.1f GFLOP/s median (%.1f-%.1f) on %d threads\n", 100 * r->frac_probe[0],
           100 * r->frac_probe[1], 100 * r->frac_probe[2], r->probe[0], r->probe[1], r->probe[2],
           o->threads);
    printf("  the probes' products: OpenBLAS %.1f GFLOP/s median (%.1f-%.1f)", r->probe_blas[0],
           r->probe_blas[1], r->probe_blas[2]);
    if (r->probe_own[0] > 0)
        printf(", docvl's own %.1f (%.1f-%.1f)", r->probe_own[0], r->probe_own[1],
               r->probe_own[2]);
    printf("; the step's products: %s\n", dv_gemm_name(r->gemm));
    printf("per CPU second: %.2f CPU s per step, %.1f GFLOP/CPU s, %.0f%% of sgemm's %.1f on one "
           "thread\n", r->step_cpu_s, r->gflop / r->step_cpu_s,
           100 * r->gflop / r->step_cpu_s / r->sgemm_gflops_cpu, r->sgemm_gflops_cpu);
    for (int i = 0; i < PH_ALL; i++)
        printf("  %-12s %8.1f ms\n", phase_names[i], r->phase_s[i] * 1e3);
    printf("loss at step 0: %.6f\n", r->loss0);
    if (o->torch)
        printf("torch: step %.3f s, loss at step 0 %.6f (|diff| %.2g); docvl / torch speed "
               "%.2fx\n", r->torch_step_s, r->torch_loss0, fabs(r->torch_loss0 - r->loss0),
               r->torch_step_s / r->step_s);
    printf("peak RSS: %.2f GB\n", r->peak_rss_gb);
}

static void print_json(const tb_opts *o, const tb_result *r, long tokens)
{
    double gfs = r->gflop / r->step_s;
    printf("{\"openblas_core\": \"%s\", \"threads\": %d, \"per_pass\": %d, \"batch\": %d, \"params\": %ld, \"tokens_per_step\": %ld, "
           "\"sgemm_gflops\": %.2f, \"step_s\": %.4f, \"step_best_s\": %.4f, "
           "\"samples_per_s\": %.3f, \"tokens_per_s\": %.1f, \"gflop_per_step\": %.3f, "
           "\"gflops\": %.2f, \"frac_sgemm\": %.3f, \"loss0\": %.6f, \"peak_rss_gb\": %.3f",
           openblas_get_corename(), o->threads, o->per_pass, o->batch, r->n_params, tokens, r->sgemm_gflops, r->step_s,
           r->step_best_s, o->batch / r->step_s, tokens / r->step_s, r->gflop, gfs,
           gfs / r->sgemm_gflops, r->loss0, r->peak_rss_gb);
    printf(", \"sgemm_gflops_cpu\": %.2f, \"step_cpu_s\": %.4f, \"frac_sgemm_cpu\": %.3f",
           r->sgemm_gflops_cpu, r->step_cpu_s, r->gflop / r->step_cpu_s / r->sgemm_gflops_cpu);
    printf(", \"probe_gflops\": %.2f, \"probe_gflops_min\": %.2f, \"probe_gflops_max\": %.2f, "
           "\"frac_probe\": %.3f, \"frac_probe_min\": %.3f, \"frac_probe_max\": %.3f",
           r->probe[0], r->probe[1], r->probe[2], r->frac_probe[0], r->frac_probe[1],
           r->frac_probe[2]);
    printf(", \"gemm\": \"%s\", \"probe_openblas_gflops\": %.2f, \"probe_own_gflops\": %.2f",
           dv_gemm_name(r->gemm), r->probe_blas[0], r->probe_own[0]);
    for (int i = 0; i < PH_ALL; i++)
        printf(", \"%s_ms\": %.2f", phase_names[i], r->phase_s[i] * 1e3);
    if (o->torch)
        printf(", \"torch_step_s\": %.4f, \"torch_loss0\": %.6f, \"speed_vs_torch\": %.3f",
               r->torch_step_s, r->torch_loss0, r->torch_step_s / r->step_s);
    printf("}\n");
}

static int bench(const tb_opts *o, dv_err *e)
{
    tb_run r = { .o = o };
    tb_result res = { 0 };
    tb_probe probe = { 0 };
    dv_pool *pool = NULL;
    char *tmp = NULL;
    const char *dump = o->dump;
    int rc = open_model(&r, e);
    if (!rc)
        rc = dv_pool_new(o->threads, &pool, e);
    if (!rc)
        rc = dv_tws_new(r.m, o->per_pass ? 1 : o->threads, &r.ws, e);
    if (!rc && probe_new(&probe, pool, dv_tmodel_gemm(r.m)))
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for the sgemm probe");
    if (!rc && o->torch && !dump) {
        GError *ge = NULL;
        if (!(tmp = g_dir_make_tmp("docvl-train-bench-XXXXXX", &ge))) {
            rc = dv_fail(e, DOCVL_EIO, "temporary directory: %s", ge->message);
            g_error_free(ge);
        }
        dump = tmp;
    }
    if (rc)
        goto out;
    r.ctx = (dv_ctx){ .n_threads = o->threads, .pool = pool };
    r.opt.pool = pool;
    dv_rng_seed(&r.rng, (uint64_t)o->seed);
    res.n_params = (long)dv_tmodel_numel(r.m);
    res.image_id = r.image_id;
    res.gemm = dv_tmodel_gemm(r.m);
    res.sgemm_gflops = bench_sgemm_gflops(o->threads);
    res.sgemm_gflops_cpu = bench_sgemm_gflops_cpu();
    rc = time_steps(&r, &res, dump, &probe, e);
    double again = bench_sgemm_gflops(o->threads), again_cpu = bench_sgemm_gflops_cpu();
    res.sgemm_gflops = again > res.sgemm_gflops ? again : res.sgemm_gflops;
    res.sgemm_gflops_cpu = again_cpu > res.sgemm_gflops_cpu ? again_cpu : res.sgemm_gflops_cpu;
    res.peak_rss_gb = bench_peak_rss_gb();
    if (!rc && o->torch)
        rc = run_torch(o, dump, &res, e);
    if (!rc) {
        int ntok = dv_config_image_tokens(&r.m->cfg);
        long tokens = 0;
        for (int k = 0; k < o->batch; k++)
            tokens += ntok + o->text + 4 * k;
        (o->json ? print_json : print_table)(o, &res, tokens);
    }
out:
    if (tmp) {
        char *cmd[] = { "rm", "-rf", tmp, NULL };
        g_spawn_sync(NULL, cmd, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
        g_free(tmp);
    }
    probe_free(&probe);
    dv_adamw_free(&r.opt);
    dv_tws_free(r.ws);
    dv_pool_free(pool);
    if (r.m)
        dv_tmodel_free(r.m);
    return rc;
}

int main(int argc, char **argv)
{
    cli_blas_reexec("docvl-train-bench", argv);
    tb_opts o;
    if (parse_args(argc, argv, &o))
        return usage();
    dv_err e = { 0 };
    if (bench(&o, &e)) {
        fprintf(stderr, "docvl-train-bench: %s\n", e.msg);
        return 1;
    }
    return 0;
}
