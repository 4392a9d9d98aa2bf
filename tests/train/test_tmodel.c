/* The trainable model against the inference code: its forward gives the
 * goldens' prefill logits, a checkpoint it saves loads in docvl with the
 * same logits, frozen parts get no gradient, and gradients accumulate. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"
#include "model/model.h"
#include "weights/safetensors.h"
#include "testutil.h"
#include "text/prompt.h"
#include "tiny_models.h"
#include "docvl_logits.h"

/* ---- a golden case's input and reference logits ---- */

typedef struct golden {
    dv_safetensors *st;
    float *pixels;
    int32_t *ids;
    int n;
    const float *logits;
    double atol, rtol;
} golden;

static void case_tolerance(const char *dir, double *atol, double *rtol)
{
    char *path = g_build_filename(dir, "case.json", NULL), *text = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    JsonParser *p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, text, (gssize)len, NULL));
    JsonObject *t = json_object_get_object_member(
        json_object_get_object_member(json_node_get_object(json_parser_get_root(p)), "goldens"),
        "logits_prefill");
    *atol = json_object_get_double_member(t, "atol");
    *rtol = json_object_get_double_member(t, "rtol");
    g_object_unref(p);
    g_free(text);
    g_free(path);
}

static golden golden_open(const char *dir)
{
    golden g = { 0 };
    dv_err e = { 0 };
    char *path = g_build_filename(dir, "goldens.safetensors", NULL);
    g_assert_cmpint(dv_safetensors_open(path, &g.st, &e), ==, 0);
    g_free(path);
    const dv_tensor *px = dv_safetensors_find(g.st, "pixel_values_u8");
    const dv_tensor *ids = dv_safetensors_find(g.st, "input_ids");
    const dv_tensor *lg = dv_safetensors_find(g.st, "logits_prefill");
    g_assert_true(px && ids && lg && px->dtype == DV_U8 && ids->dtype == DV_I32 &&
                  lg->dtype == DV_F32);
    size_t np = (size_t)dv_tensor_numel(px);
    g.pixels = g_new(float, np);
    for (size_t i = 0; i < np; i++)
        g.pixels[i] = (float)((const uint8_t *)px->data)[i] / 255.0f;
    g.n = (int)dv_tensor_numel(ids);
    g.ids = g_new(int32_t, g.n);
    memcpy(g.ids, ids->data, (size_t)g.n * sizeof *g.ids);
    g.logits = lg->data;
    case_tolerance(dir, &g.atol, &g.rtol);
    return g;
}

static void golden_close(golden *g)
{
    dv_safetensors_close(g->st);
    g_free(g->pixels);
    g_free(g->ids);
}

/* Worst |c - ref| / (atol + rtol |ref|) over all logits. */
static double worst_ratio(const float *c, const float *ref, size_t n, double atol, double rtol)
{
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)c[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        w = r > w ? r : w;
    }
    return w;
}

static float *tmodel_logits(dv_tmodel *m, const float *pixels, const int32_t *ids, int n)
{
    dv_tsample s = { .n_images = 1, .pixels = pixels, .n_tokens = n, .ids = ids };
    float *logits = g_new(float, (size_t)n * m->cfg.lm.vocab);
    double nll;
    int counted;
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = 1 };
    int rc = dv_tmodel_nll(m, &s, &nll, &counted, logits, &ctx, &e);
    if (rc)
        g_test_message("%s", e.msg);
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpint(counted, ==, 0);
    return logits;
}

static void check_golden(const char *name)
{
    char *root = test_data("golden"), *dir = g_build_filename(root, name, NULL);
    g_free(root);
    golden g = golden_open(dir);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_load(dir, &m, &e), ==, 0);
    g_assert_cmpint(dv_tmodel_image_token(m), ==, 658);
    float *logits = tmodel_logits(m, g.pixels, g.ids, g.n);
    double w = worst_ratio(logits, g.logits, (size_t)g.n * m->cfg.lm.vocab, g.atol, g.rtol);
    g_test_message("%s: worst |c - ref| / allowed = %.3f", name, w);
    g_assert_cmpfloat(w, <=, 1.0);
    g_free(logits);
    dv_tmodel_free(m);
    golden_close(&g);
    g_free(dir);
}

static void test_golden_siglip(void) { check_golden("tiny-siglip-f32"); }
static void test_golden_hybrid(void) { check_golden("tiny-f32"); }

/* ---- saved checkpoints load in docvl with the trainer's logits ---- */


/* One plain gradient step so the saved weights differ from any file. */
static void perturb(dv_tmodel *m, const dv_tsample *s)
{
    float loss;
    int n;
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = 1 };
    dv_tmodel_zero_grad(m);
    g_assert_cmpint(dv_tmodel_forward_backward(m, s, &loss, &n, &ctx, &e), ==, 0);
    g_assert_cmpint(n, >, 0);
    for (int i = 0; i < m->n_params; i++)
        for (size_t j = 0; j < m->params[i].n; j++)
            m->params[i].w[j] -= 0.05f * m->params[i].g[j];
}

static void check_roundtrip(dv_tmodel *m, const char *tokenizer_dir, const float *pixels,
                            const int32_t *ids, const int32_t *labels, int n)
{
    dv_tsample s = { .n_images = 1, .pixels = pixels, .n_tokens = n, .ids = ids, .labels = labels };
    perturb(m, &s);
    char *tmp = test_tmpdir();
    dv_err e = { 0 };
    int rc = dv_tmodel_save(m, tmp, tokenizer_dir, &e);
    if (rc)
        g_test_message("%s", e.msg);
    g_assert_cmpint(rc, ==, 0);
    float *mine = tmodel_logits(m, pixels, ids, n);
    float *theirs = docvl_logits(tmp, pixels, ids, n, dv_tmodel_image_token(m));
    size_t len = (size_t)n * m->cfg.lm.vocab;
    double mx = 0;
    for (size_t i = 0; i < len; i++)
        mx = fabs(mine[i]) > mx ? fabs(mine[i]) : mx;
    double w = worst_ratio(theirs, mine, len, 2e-5 * mx, 1e-4);
    g_test_message("saved and reloaded: worst |docvl - trainer| / allowed = %.3f", w);
    g_assert_cmpfloat(w, <=, 1.0);
    /* the reload as a trainer sees the same weights, bit for bit */
    dv_tmodel *back;
    g_assert_cmpint(dv_tmodel_load(tmp, &back, &e), ==, 0);
    g_assert_cmpint(back->n_params, ==, m->n_params);
    for (int i = 0; i < m->n_params; i++)
        g_assert_cmpmem(back->params[i].w, back->params[i].n * sizeof(float), m->params[i].w,
                        m->params[i].n * sizeof(float));
    dv_tmodel_free(back);
    g_free(mine);
    g_free(theirs);
    test_rmtree(tmp);
    g_free(tmp);
}

/* SigLIP-only: loaded from the golden directory (config.json copied). */
static void test_roundtrip_siglip(void)
{
    char *root = test_data("golden"), *dir = g_build_filename(root, "tiny-siglip-f32", NULL);
    golden g = golden_open(dir);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_load(dir, &m, &e), ==, 0);
    int32_t *labels = g_new(int32_t, g.n);
    for (int i = 0; i < g.n; i++)
        labels[i] = i + 1 < g.n && g.ids[i + 1] != 658 ? g.ids[i + 1] : DV_IGNORE_LABEL;
    check_roundtrip(m, NULL, g.pixels, g.ids, labels, g.n);
    g_free(labels);
    dv_tmodel_free(m);
    golden_close(&g);
    g_free(dir);
    g_free(root);
}

/* Hybrid: a random model (config.json written from the parsed config) with
 * the golden tokenizer. */
static void test_roundtrip_hybrid(void)
{
    dv_config cfg = tiny_config(1);
    cfg.lm.vocab = 659;
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 11, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, 658);
    tiny_sample t = tiny_sample_new(&cfg, 1, 3);
    for (int i = 0; i < t.s.n_tokens; i++)
        if (t.ids[i] == TINY_IMAGE_TOKEN)
            t.ids[i] = 658;
    char *root = test_data("golden"), *tok = g_build_filename(root, "tiny-f32", NULL);
    check_roundtrip(m, tok, t.pixels, t.ids, t.labels, t.s.n_tokens);
    g_free(tok);
    g_free(root);
    tiny_sample_free(&t);
    dv_tmodel_free(m);
}

/* ---- freezing ---- */

static int part_has_grad(const dv_tmodel *m, dv_part part)
{
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].part == part)
            for (size_t j = 0; j < m->params[i].n; j++)
                if (m->params[i].g[j] != 0.0f)
                    return 1;
    return 0;
}

static float *grads_copy(const dv_tmodel *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_params; i++)
        total += m->params[i].n;
    float *g = g_new(float, total), *p = g;
    for (int i = 0; i < m->n_params; i++, p += m->params[i - 1].n)
        memcpy(p, m->params[i].g, m->params[i].n * sizeof *p);
    return g;
}

static void run_step(dv_tmodel *m, const dv_tsample *s, int zero)
{
    float loss;
    int n;
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = 1 };
    if (zero)
        dv_tmodel_zero_grad(m);
    int rc = dv_tmodel_forward_backward(m, s, &loss, &n, &ctx, &e);
    if (rc)
        g_test_message("%s", e.msg);
    g_assert_cmpint(rc, ==, 0);
    g_assert_true(isfinite(loss) && loss > 0);
}

/* Stage freezing: frozen parts keep g == 0 exactly, and the parts that
 * train get the same gradients as with nothing frozen. */
static void check_stage(dv_tmodel *m, const dv_tsample *s, const int *train, const float *full)
{
    memcpy(m->trainable, train, sizeof m->trainable);
    run_step(m, s, 1);
    size_t off = 0;
    for (int i = 0; i < m->n_params; i++) {
        const dv_param *p = &m->params[i];
        for (size_t j = 0; j < p->n; j++) {
            float want = train[p->part] ? full[off + j] : 0.0f;
            if (fabsf(p->g[j] - want) > 1e-5f * (1.0f + fabsf(want)))
                g_test_fail_printf("%s[%zu]: g %g, expected %g", p->name, j, p->g[j], want);
        }
        off += p->n;
    }
}

static void test_freeze(void)
{
    dv_config cfg = tiny_config(1);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 5, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    tiny_sample t = tiny_sample_new(&cfg, 1, 9);
    run_step(m, &t.s, 1);
    for (int p = 0; p < DV_PART_COUNT; p++)
        g_assert_true(part_has_grad(m, (dv_part)p));
    float *full = grads_copy(m);
    /* stage 1: the aligner alone; 2: + LLM; 3: all but the SAM body */
    const int stages[3][DV_PART_COUNT] = {
        { 0, 0, 0, 1, 0 }, { 0, 0, 0, 1, 1 }, { 0, 1, 1, 1, 1 }
    };
    for (int k = 0; k < 3; k++)
        check_stage(m, &t.s, stages[k], full);
    g_assert_true(part_has_grad(m, DV_PART_SAM_NECK));
    g_assert_cmpfloat(dv_tmodel_param(m, "vision_model.vision_tower_high.vision_tower."
                                         "hd_alpha_downsamples")->g[0], !=, 0.0f);
    /* everything frozen: a loss, no gradient anywhere */
    const int none[DV_PART_COUNT] = { 0 };
    check_stage(m, &t.s, none, full);
    g_free(full);
    tiny_sample_free(&t);
    dv_tmodel_free(m);
}

/* Gradients add up over calls; a text-only sample leaves vision alone. */
static void test_accumulate_text_only(void)
{
    dv_config cfg = tiny_config(0);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 6, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    tiny_sample t = tiny_sample_new(&cfg, 0, 4);
    run_step(m, &t.s, 1);
    g_assert_false(part_has_grad(m, DV_PART_SIGLIP));
    g_assert_false(part_has_grad(m, DV_PART_ALIGNER));
    g_assert_true(part_has_grad(m, DV_PART_LLM));
    float *once = grads_copy(m);
    run_step(m, &t.s, 0);
    float *twice = grads_copy(m);
    size_t off = 0;
    for (int i = 0; i < m->n_params; off += m->params[i].n, i++)
        for (size_t j = 0; j < m->params[i].n; j++)
            g_assert_cmpfloat(fabsf(twice[off + j] - 2 * once[off + j]), <=,
                              1e-6f * (1 + fabsf(once[off + j])));
    /* no counted label: loss 0, no gradient, not an error */
    for (int i = 0; i < t.s.n_tokens; i++)
        t.labels[i] = DV_IGNORE_LABEL;
    float loss;
    int n;
    dv_ctx ctx = { .n_threads = 1 };
    dv_tmodel_zero_grad(m);
    g_assert_cmpint(dv_tmodel_forward_backward(m, &t.s, &loss, &n, &ctx, &e), ==, 0);
    g_assert_cmpint(n, ==, 0);
    g_assert_cmpfloat(loss, ==, 0.0f);
    g_assert_false(part_has_grad(m, DV_PART_LLM));
    g_free(once);
    g_free(twice);
    tiny_sample_free(&t);
    dv_tmodel_free(m);
}

/* A batch on two threads (groups of samples, each stacked on one thread
 * with its own gradient buffer; one sample: its passes split over the
 * threads): the gradients and losses of one sample after another, the same
 * bits on a second run, and frozen parts still get nothing. */
static void batch_grads(dv_tmodel *m, dv_tws *ws, const dv_tsample *s, int n,
                        const dv_ctx *ctx, double *loss, int *counted)
{
    dv_err e = { 0 };
    dv_tmodel_zero_grad(m);
    int rc = dv_tmodel_forward_backward_batch(m, ws, s, n, loss, counted, NULL, ctx, &e);
    if (rc)
        g_test_message("%s", e.msg);
    g_assert_cmpint(rc, ==, 0);
}

/* Fails the test where got and want differ beyond float rounding; returns
 * the gradients' length. */
static size_t grads_near(const dv_tmodel *m, const float *got, const float *want)
{
    size_t off = 0;
    for (int i = 0; i < m->n_params; off += m->params[i].n, i++)
        for (size_t j = 0; j < m->params[i].n; j++)
            if (fabsf(got[off + j] - want[off + j]) > 1e-5f * (1.0f + fabsf(want[off + j])))
                g_test_fail_printf("%s[%zu]: g %g, one by one %g", m->params[i].name, j,
                                   got[off + j], want[off + j]);
    return off;
}

/* The batch's gradients (returned) and loss against the one-by-one ones;
 * *counted its counted labels, *len the gradients' length (either NULL). */
static float *batch_near(dv_tmodel *m, dv_tws *ws, const dv_tsample *s, int n, const dv_ctx *ctx,
                         const float *want, double want_loss, int *counted, size_t *len)
{
    double loss;
    int c;
    batch_grads(m, ws, s, n, ctx, &loss, &c);
    g_assert_cmpfloat(fabs(loss - want_loss), <=, 1e-5 * want_loss);
    float *got = grads_copy(m);
    size_t off = grads_near(m, got, want);
    if (counted)
        *counted = c;
    if (len)
        *len = off;
    return got;
}

static void test_batch_threads(void)
{
    enum { N = 3 };
    dv_config cfg = tiny_config(0);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 8, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    for (int p = 0; p < DV_PART_COUNT; p++)
        m->trainable[p] = 1;
    tiny_sample t[N] = { tiny_sample_new(&cfg, 1, 3), tiny_sample_new(&cfg, 0, 4),
                         tiny_sample_new(&cfg, 1, 5) };
    dv_tsample s[N] = { t[0].s, t[1].s, t[2].s };
    double want_loss = 0;
    dv_tmodel_zero_grad(m);
    for (int k = 0; k < N; k++) {
        float loss;
        int n;
        dv_ctx one = { .n_threads = 1 };
        g_assert_cmpint(dv_tmodel_forward_backward(m, &s[k], &loss, &n, &one, &e), ==, 0);
        want_loss += loss;
    }
    float *want = grads_copy(m);
    dv_tmodel_zero_grad(m);
    float want1_loss;
    int want1_n;
    dv_ctx one = { .n_threads = 1 };
    g_assert_cmpint(dv_tmodel_forward_backward(m, &s[0], &want1_loss, &want1_n, &one, &e), ==, 0);
    float *want1 = grads_copy(m);
    dv_pool *pool;
    dv_tws *ws;
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, 0);
    g_assert_cmpint(dv_tws_new(m, 2, &ws, &e), ==, 0);
    dv_ctx ctx = { .n_threads = 2, .pool = pool };
    double loss;
    int counted;
    size_t off;
    float *got = batch_near(m, ws, s, N, &ctx, want, want_loss, NULL, &off);
    float *got1 = batch_near(m, ws, s, 1, &ctx, want1, want1_loss, NULL, NULL);
    batch_grads(m, ws, s, N, &ctx, &loss, &counted);
    float *again = grads_copy(m);
    g_assert_true(memcmp(again, got, off * sizeof *got) == 0);
    m->trainable[DV_PART_SIGLIP] = 0;
    batch_grads(m, ws, s, N, &ctx, &loss, &counted);
    g_assert_false(part_has_grad(m, DV_PART_SIGLIP));
    g_assert_true(part_has_grad(m, DV_PART_ALIGNER));
    g_free(want), g_free(got), g_free(again), g_free(want1), g_free(got1);
    dv_tws_free(ws);
    dv_pool_free(pool);
    for (int k = 0; k < N; k++)
        tiny_sample_free(&t[k]);
    dv_tmodel_free(m);
}

/* The model's product choice (kernels/sgemm512.h): made when the model is,
 * the same choice gives the same bits again (a resumed run's promise), and
 * docvl's own AVX-512 product and cblas_sgemm give the same gradients
 * within rounding, not the same bits (so where AVX-512 runs, the step does
 * run the own product). A hybrid model: SAM's convolutions too. */
static void test_gemm_choice(void)
{
    dv_config cfg = tiny_config(1);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 6, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    g_assert_cmpint(dv_tmodel_gemm(m), ==, dv_gemm_choose());
    tiny_sample t = tiny_sample_new(&cfg, 1, 7);
    dv_tmodel_set_gemm(m, DV_GEMM_OWN);
    run_step(m, &t.s, 1);
    float *own = grads_copy(m);
    run_step(m, &t.s, 1);
    float *again = grads_copy(m);
    dv_tmodel_set_gemm(m, DV_GEMM_BLAS);
    g_assert_cmpint(dv_tmodel_gemm(m), ==, DV_GEMM_BLAS);
    run_step(m, &t.s, 1);
    float *blas = grads_copy(m);
    size_t len = grads_near(m, own, blas);
    g_assert_true(memcmp(again, own, len * sizeof *own) == 0);
    g_assert_true((memcmp(own, blas, len * sizeof *own) != 0) == dv_cpu_has_avx512());
    g_free(own), g_free(again), g_free(blas);
    tiny_sample_free(&t);
    dv_tmodel_free(m);
}

/* Gradients of samples s[0, n) one after another on one thread. */
static float *one_by_one(dv_tmodel *m, const dv_tsample *s, int n, double *loss, int *counted)
{
    dv_err e = { 0 };
    dv_ctx one = { .n_threads = 1 };
    *loss = 0;
    *counted = 0;
    dv_tmodel_zero_grad(m);
    for (int k = 0; k < n; k++) {
        float l;
        int c;
        g_assert_cmpint(dv_tmodel_forward_backward(m, &s[k], &l, &c, &one, &e), ==, 0);
        *loss += l;
        *counted += c;
    }
    return grads_copy(m);
}

/* CTC samples (the reading warm-up) stacked with a next-token one on the
 * line geometry: the stacked step, on one thread and in groups on two,
 * gives each sample's loss and gradients as the per-sample pass does, one
 * that the columns cannot hold counting nothing, and the same bits again. */
static void test_batch_ctc(void)
{
    enum { N = 4 };
    dv_config cfg = tiny_config(0);
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_set_input(&cfg, 16, 64, 8, &e), ==, 0);
    dv_tmodel *m;
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 6, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    for (int p = 0; p < DV_PART_COUNT; p++)
        m->trainable[p] = 1;
    tiny_sample t[N] = { tiny_sample_new(&cfg, 1, 3), tiny_sample_new(&cfg, 1, 4),
                         tiny_sample_new(&cfg, 1, 5), tiny_sample_new(&cfg, 1, 6) };
    dv_tsample s[N] = { t[0].s, t[1].s, t[2].s, t[3].s };
    /* not the image token (7), the blank; 1 x 5 needs 9 of the 8 columns */
    const int32_t a[] = { 9, 9, 3 }, b[] = { 4, 2, 6, 5 }, too_long[] = { 1, 1, 1, 1, 1 };
    s[0].ctc_target = a, s[0].n_ctc_target = 3;
    s[2].ctc_target = too_long, s[2].n_ctc_target = 5;
    s[3].ctc_target = b, s[3].n_ctc_target = 4;
    double want_loss;
    int want_counted;
    float *want = one_by_one(m, s, N, &want_loss, &want_counted);
    g_assert_cmpfloat(want_loss, >, 0);
    dv_pool *pool;
    dv_tws *ws1, *ws2;
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, 0);
    g_assert_cmpint(dv_tws_new(m, 1, &ws1, &e), ==, 0);
    g_assert_cmpint(dv_tws_new(m, 2, &ws2, &e), ==, 0);
    dv_ctx one = { .n_threads = 1 }, two = { .n_threads = 2, .pool = pool };
    double loss;
    int counted;
    size_t off;
    float *got1 = batch_near(m, ws1, s, N, &one, want, want_loss, &counted, &off);
    g_assert_cmpint(counted, ==, want_counted);
    float *got2 = batch_near(m, ws2, s, N, &two, want, want_loss, NULL, NULL);
    batch_grads(m, ws2, s, N, &two, &loss, &counted);
    float *again = grads_copy(m);
    g_assert_true(memcmp(again, got2, off * sizeof *got2) == 0);
    g_free(want), g_free(got1), g_free(got2), g_free(again);
    /* CTC samples only: no decoder rows at all */
    dv_tsample only[2] = { s[0], s[3] };
    want = one_by_one(m, only, 2, &want_loss, &want_counted);
    got1 = batch_near(m, ws1, only, 2, &one, want, want_loss, &counted, NULL);
    g_assert_cmpint(counted, ==, 3 + 4);
    g_free(want), g_free(got1);
    dv_tws_free(ws1);
    dv_tws_free(ws2);
    dv_pool_free(pool);
    for (int k = 0; k < N; k++)
        tiny_sample_free(&t[k]);
    dv_tmodel_free(m);
}

/* dv_tmodel_init_random draws what docvl-mkmodel writes for the same seed. */
/* A sample without a counted label in a batch (the stacked step skips it,
 * and the output layer runs over the labelled rows only): the batch's
 * loss, counted labels and gradients are those of the other samples one
 * after another, on one thread and in groups on two; a batch of such
 * samples counts nothing and trains nothing. */
static void test_batch_unlabelled(void)
{
    enum { N = 4 };
    dv_config cfg = tiny_config(0);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 9, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    tiny_sample t[N] = { tiny_sample_new(&cfg, 1, 3), tiny_sample_new(&cfg, 1, 4),
                         tiny_sample_new(&cfg, 0, 5), tiny_sample_new(&cfg, 1, 6) };
    for (int i = 0; i < t[1].s.n_tokens; i++)
        t[1].labels[i] = DV_IGNORE_LABEL;
    dv_tsample s[N] = { t[0].s, t[1].s, t[2].s, t[3].s };
    dv_tsample others[N - 1] = { s[0], s[2], s[3] };
    double want_loss, loss;
    int want_counted, counted;
    float *want = one_by_one(m, others, N - 1, &want_loss, &want_counted);
    dv_ctx one = { .n_threads = 1 };
    float *got1 = batch_near(m, NULL, s, N, &one, want, want_loss, &counted, NULL);
    g_assert_cmpint(counted, ==, want_counted);
    dv_pool *pool;
    dv_tws *ws;
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, 0);
    g_assert_cmpint(dv_tws_new(m, 2, &ws, &e), ==, 0);
    dv_ctx two = { .n_threads = 2, .pool = pool };
    float *got2 = batch_near(m, ws, s, N, &two, want, want_loss, &counted, NULL);
    g_assert_cmpint(counted, ==, want_counted);
    batch_grads(m, ws, s + 1, 1, &two, &loss, &counted);
    g_assert_cmpint(counted, ==, 0);
    g_assert_cmpfloat(loss, ==, 0.0);
    for (int p = 0; p < DV_PART_COUNT; p++)
        g_assert_false(part_has_grad(m, (dv_part)p));
    g_free(want), g_free(got1), g_free(got2);
    dv_tws_free(ws);
    dv_pool_free(pool);
    for (int k = 0; k < N; k++)
        tiny_sample_free(&t[k]);
    dv_tmodel_free(m);
}

static void test_init_matches_mkmodel(void)
{
    char *tmp = test_tmpdir();
    dv_mkmodel_opts o = { .out_dir = tmp, .arch = "tiny-siglip", .dtype = DV_F32, .seed = 21,
                          .shards = 1, .quiet = 1 };
    dv_err e = { 0 };
    g_assert_cmpint(dv_mkmodel(&o, &e), ==, 0);
    dv_tmodel *disk, *mine;
    g_assert_cmpint(dv_tmodel_load(tmp, &disk, &e), ==, 0);
    g_assert_cmpint(dv_tmodel_init_random(&disk->cfg, 21, &mine, &e), ==, 0);
    g_assert_cmpint(mine->n_params, ==, disk->n_params);
    for (int i = 0; i < mine->n_params; i++)
        g_assert_cmpmem(mine->params[i].w, mine->params[i].n * sizeof(float), disk->params[i].w,
                        disk->params[i].n * sizeof(float));
    dv_tmodel_free(disk);
    dv_tmodel_free(mine);
    test_rmtree(tmp);
    g_free(tmp);
}

/* A model in transformers' layout trains too and is saved in the original
 * layout (config.json written from the parsed config), which docvl loads. */
static void test_hf_layout(void)
{
    char *src = test_tmpdir(), *dst = test_tmpdir();
    dv_mkmodel_opts o = { .out_dir = src, .arch = "tiny-siglip", .dtype = DV_BF16, .seed = 4,
                          .shards = 2, .hf_layout = 1, .quiet = 1 };
    dv_err e = { 0 };
    g_assert_cmpint(dv_mkmodel(&o, &e), ==, 0);
    dv_tmodel *m, *back;
    g_assert_cmpint(dv_tmodel_load(src, &m, &e), ==, 0);
    g_assert_true(m->cfg.hf_layout);
    g_assert_cmpint(dv_tmodel_image_token(m), >=, 0);
    int rc = dv_tmodel_save(m, dst, NULL, &e);
    if (rc)
        g_test_message("%s", e.msg);
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpint(dv_tmodel_load(dst, &back, &e), ==, 0);
    g_assert_false(back->cfg.hf_layout);
    g_assert_cmpint(back->n_params, ==, m->n_params);
    for (int i = 0; i < m->n_params; i++) {
        g_assert_cmpstr(back->params[i].name, ==, m->params[i].name);
        g_assert_cmpmem(back->params[i].w, back->params[i].n * sizeof(float), m->params[i].w,
                        m->params[i].n * sizeof(float));
    }
    dv_model *dm;
    dv_model_opts opts;
    memset(&opts, 0, sizeof opts);
    rc = dv_model_load(dst, &opts, &dm, &e);
    if (rc)
        g_test_message("%s", e.msg);
    g_assert_cmpint(rc, ==, 0);
    dv_model_free(dm);
    dv_tmodel_free(m);
    dv_tmodel_free(back);
    test_rmtree(src);
    test_rmtree(dst);
    g_free(src);
    g_free(dst);
}

/* Bad samples are refused with a message, not a crash. */
static void test_bad_samples(void)
{
    dv_config cfg = tiny_config(0);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 6, &m, &e), ==, 0);
    tiny_sample t = tiny_sample_new(&cfg, 1, 4);
    float loss;
    int n;
    dv_ctx ctx = { .n_threads = 1 };
    /* image token unknown */
    g_assert_cmpint(dv_tmodel_forward_backward(m, &t.s, &loss, &n, &ctx, &e), !=, 0);
    g_assert_nonnull(strstr(e.msg, "image token"));
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    t.ids[0] = 1000;
    dv_err_clear(&e);
    g_assert_cmpint(dv_tmodel_forward_backward(m, &t.s, &loss, &n, &ctx, &e), !=, 0);
    g_assert_nonnull(strstr(e.msg, "outside the vocabulary"));
    t.ids[0] = 1;
    t.s.n_images = 2;
    dv_err_clear(&e);
    g_assert_cmpint(dv_tmodel_forward_backward(m, &t.s, &loss, &n, &ctx, &e), !=, 0);
    g_assert_nonnull(strstr(e.msg, "image tokens"));
    tiny_sample_free(&t);
    dv_tmodel_free(m);
    /* architectures the passes cannot run are refused up front */
    dv_config bad = tiny_config(1);
    bad.pre.image_h = bad.pre.image_w = 256;
    dv_err_clear(&e);
    g_assert_cmpint(dv_tmodel_init_random(&bad, 1, &m, &e), !=, 0);
    g_assert_nonnull(strstr(e.msg, "image_size"));
    bad = tiny_config(1);
    bad.siglip.image_h = bad.siglip.image_w = 128;
    dv_err_clear(&e);
    g_assert_cmpint(dv_tmodel_init_random(&bad, 1, &m, &e), !=, 0);
    g_assert_nonnull(strstr(e.msg, "equal counts"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tmodel/golden/siglip", test_golden_siglip);
    g_test_add_func("/tmodel/golden/hybrid", test_golden_hybrid);
    g_test_add_func("/tmodel/roundtrip/siglip", test_roundtrip_siglip);
    g_test_add_func("/tmodel/roundtrip/hybrid", test_roundtrip_hybrid);
    g_test_add_func("/tmodel/freeze", test_freeze);
    g_test_add_func("/tmodel/accumulate_text_only", test_accumulate_text_only);
    g_test_add_func("/tmodel/batch_threads", test_batch_threads);
    g_test_add_func("/tmodel/gemm_choice", test_gemm_choice);
    g_test_add_func("/tmodel/batch_ctc", test_batch_ctc);
    g_test_add_func("/tmodel/batch_unlabelled", test_batch_unlabelled);
    g_test_add_func("/tmodel/bad_samples", test_bad_samples);
    g_test_add_func("/tmodel/init_matches_mkmodel", test_init_matches_mkmodel);
    g_test_add_func("/tmodel/hf_layout", test_hf_layout);
    return g_test_run();
}
