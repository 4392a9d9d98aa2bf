/* The whole training path can drive a tiny model to memorise a small set:
 * 8 rendered tiles with their answers reach a loss under 0.05. A trainer that
 * cannot overfit 8 samples has a bug (sign, masking, optimizer, gradients). */
#include <glib.h>
#include <string.h>

#include "mkmodel/mkmodel.h"
#include "testutil.h"
#include "train/render.h"
#include "train/trainer.h"

#define N_SAMPLES 8

static void write_manifest(const char *dir, const char *path)
{
    dv_err e = { 0 };
    dv_render_words w;
    g_assert_cmpint(dv_render_words_from_text("report table title page index notes chart summary",
                                              &w, &e), ==, 0);
    GString *m = g_string_new(NULL);
    for (int i = 0; i < N_SAMPLES; i++) {
        dv_render_opts o = DV_RENDER_DEFAULTS;
        o.width = o.height = 96;
        o.min_px = o.max_px = 14;
        o.plain = 1;
        o.max_blocks = 1;
        dv_rendered r;
        g_assert_cmpint(dv_render_tile(&o, &w, (uint64_t)i + 1, &r, &e), ==, 0);
        char *stem = g_strdup_printf("%s/tile%d", dir, i);
        g_assert_cmpint(dv_rendered_write(&r, stem, &e), ==, 0);
        g_string_append_printf(m, "{\"images\": [\"tile%d.png\"], \"conversation\": [{\"role\": "
                               "\"User\", \"content\": \"<image_placeholder>Tile %d.\"}, "
                               "{\"role\": \"Assistant\", \"content\": \"%s\"}]}\n", i, i,
                               w.w[i]);
        g_free(stem);
        dv_rendered_free(&r);
    }
    test_write_file(path, m->str, m->len);
    g_string_free(m, TRUE);
    dv_render_words_free(&w);
}

static void test_overfit_eight(void)
{
    char *dir = test_tmpdir();
    char *model = g_build_filename(dir, "model", NULL), *out = g_build_filename(dir, "run", NULL);
    char *manifest = g_build_filename(dir, "manifest.jsonl", NULL);
    /* The tiny SigLIP-only architecture at 128 px: 64 image tokens keep
     * each step cheap enough for the test suite (and its sanitizer run). */
    char *cfg = g_build_filename(dir, "config.json", NULL);
    char *small = g_strdup(dv_mkmodel_preset("tiny-siglip"));
    char *at = strstr(small, "\"image_size\":384");
    g_assert_nonnull(at);
    memcpy(at, "\"image_size\":128", strlen("\"image_size\":128"));
    test_write_file(cfg, small, strlen(small));
    dv_mkmodel_opts mo = { .out_dir = model, .config_path = cfg, .dtype = DV_F32, .seed = 5,
                           .shards = 1, .quiet = 1 };
    dv_err e = { 0 };
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    g_free(small);
    g_free(cfg);
    write_manifest(dir, manifest);
    dv_train_opts o;
    dv_train_opts_default(&o);
    o.model_dir = model;
    o.data = manifest;
    o.stage = 3;                       /* loss on the answers only */
        o.steps = 150;
    o.lr = 1e-2;
    o.min_lr = 1e-3;
    o.warmup = 3;
    o.batch = N_SAMPLES;               /* every step sees the whole set */
    o.accum = 1;
    o.clip = 1.0;
    o.seed = 11;
    o.out_dir = out;
    dv_train_report rep;
    dv_ctx ctx = { .n_threads = 1 };
    if (dv_train_run(&o, &rep, &ctx, &e))
        g_error("train: %s", e.msg);
    g_test_message("loss after %ld steps: %.4f", rep.steps_done, rep.last_loss);
    g_assert_cmpint(rep.steps_done, ==, 150);
    g_assert_cmpfloat(rep.last_loss, <, 0.05);
    test_rmtree(dir);
    g_free(model);
    g_free(out);
    g_free(manifest);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/train/overfit-8-samples", test_overfit_eight);
    return g_test_run();
}
