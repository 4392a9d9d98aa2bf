/* docvl's line geometry end to end: a SigLIP-only model with a 32 x 512
 * input in 8 px patches (a 4 x 64 grid, 256 image tokens, its own position
 * table) written by the model writer, loaded, read through the reader, and
 * fed the same pixels by the trainer's loader. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "image/preprocess.h"
#include "mkmodel/mkmodel.h"
#include "model/model.h"
#include "pipeline/reader.h"
#include "train/pixels.h"
#include "train/render.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "testutil.h"

#define INSTRUCTION "Read the line."

/* The line model in dir/model (layout hf or original); dir is fresh. */
static char *make_line_model(int hf)
{
    char *dir = test_tmpdir(), *model = g_build_filename(dir, "model", NULL);
    dv_mkmodel_opts o = { .out_dir = model, .arch = "tiny-siglip", .dtype = DV_F32, .seed = 3,
                          .shards = 1, .quiet = 1, .hf_layout = hf, .image_h = 32,
                          .image_w = 512, .patch = 8, .reads_lines = 1,
                          .instruction = INSTRUCTION };
    dv_err e = { 0 };
    if (dv_mkmodel(&o, &e))
        g_error("mkmodel: %s", e.msg);
    g_free(dir);
    return model;
}

static void remove_model(char *model)
{
    char *dir = g_path_get_dirname(model);
    test_rmtree(dir);
    g_free(dir);
    g_free(model);
}

/* A text-line-like image: paper 235 with dark strokes. */
static dv_image line_image(int w, int h)
{
    dv_image im;
    dv_err e = { 0 };
    g_assert_cmpint(dv_image_alloc(&im, w, h, &e), ==, DOCVL_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int ink = y > h / 4 && y < 3 * h / 4 && (x / 3) % 4 == 0;
            memset(im.rgb + ((size_t)y * w + x) * 3, ink ? 20 : 235, 3);
        }
    return im;
}

static void check_line_config(const dv_config *c)
{
    g_assert_cmpint(c->siglip.image_h, ==, 32);
    g_assert_cmpint(c->siglip.image_w, ==, 512);
    g_assert_cmpint(c->siglip.patch_size, ==, 8);
    g_assert_cmpint(c->pre.image_h, ==, 32);
    g_assert_cmpint(c->pre.image_w, ==, 512);
    g_assert_cmpint(dv_siglip_grid_h(&c->siglip), ==, 4);
    g_assert_cmpint(dv_siglip_grid_w(&c->siglip), ==, 64);
    g_assert_cmpint(dv_config_image_tokens(c), ==, 256);
    g_assert_cmpint(c->proc.num_image_tokens, ==, 256);
    g_assert_cmpint(c->proc.reads_lines, ==, 1);
    g_assert_cmpint(c->proc.has_instruction, ==, 1);
    g_assert_cmpstr(c->proc.instruction, ==, INSTRUCTION);
}

/* [h, w] and the processor keys survive the writer and the loader, in both
 * layouts; the position table is [1, 4 * 64, width]. */
static void test_round_trip(void)
{
    for (int hf = 0; hf <= 1; hf++) {
        char *model = make_line_model(hf);
        dv_config c;
        dv_err e = { 0 };
        g_assert_cmpint(dv_config_load(model, &c, &e), ==, DOCVL_OK);
        g_assert_cmpint(c.hf_layout, ==, hf);
        check_line_config(&c);
        dv_checkpoint *ck;
        g_assert_cmpint(dv_checkpoint_open(model, &ck, &e), ==, DOCVL_OK);
        /* the HF layout's names are mapped to the original ones */
        const dv_tensor *pos = dv_checkpoint_find(ck, "vision_model.vision_tower.pos_embed");
        g_assert_nonnull(pos);
        g_assert_cmpint(pos->shape[pos->ndim - 2], ==, 256);
        dv_checkpoint_close(ck);
        remove_model(model);
    }
}

/* The processor's token count must be the grid's. */
static void test_token_count_mismatch(void)
{
    char *model = make_line_model(0);
    char *path = g_build_filename(model, "processor_config.json", NULL);
    const char *bad = "{\"image_tag\":\"<image_placeholder>\",\"num_image_tokens\":576}";
    test_write_file(path, bad, strlen(bad));
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_load(model, &c, &e), ==, DOCVL_EMODEL);
    g_assert_nonnull(strstr(e.msg, "num_image_tokens 576"));
    g_assert_nonnull(strstr(e.msg, "makes 256"));
    g_free(path);
    remove_model(model);
}

/* The towers give grid_h * grid_w tokens; a line read end to end; the pipeline's
 * reader carries the geometry and the declared reading. */
static void test_read_line(void)
{
    char *model = make_line_model(0);
    dv_err e = { 0 };
    dv_model *m;
    dv_model_opts mo = { .widen = -1, .weights = DV_WEIGHTS_F32, .n_threads = 1 };
    g_assert_cmpint(dv_model_load(model, &mo, &m, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_vision_tokens(m->vision), ==, 4 * 64);
    dv_image im = line_image(300, 40);
    size_t n_px = (size_t)3 * 32 * 512, n_out = (size_t)256 * m->cfg.lm.hidden;
    float *px = g_new(float, n_px), *out = g_new(float, n_out);
    dv_ctx ctx = { .n_threads = 1 };
    g_assert_cmpint(dv_preprocess(&im, &m->cfg.pre, NULL, px, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_vision_forward(m->vision, px, out, NULL, &ctx, &e), ==, DOCVL_OK);
    for (size_t i = 0; i < n_out; i++)
        g_assert_true(isfinite(out[i]));
    dv_model_free(m);

    docvl_open_params p = { .n_threads = 1 };
    dv_tile_reader r;
    char *note = NULL;
    g_assert_cmpint(dv_model_reader_open(model, &p, NULL, &r, &note, &e), ==, DOCVL_OK);
    g_assert_cmpint(r.input_w, ==, 512);
    g_assert_cmpint(r.input_h, ==, 32);
    g_assert_cmpint(r.image_size, ==, 512);
    g_assert_cmpint(r.reads_lines, ==, 1);
    g_assert_cmpstr(r.instruction, ==, INSTRUCTION);
    dv_tile_opts to = { .instruction = r.instruction, .max_tokens = 3 };
    dv_tile_result res;
    g_assert_cmpint(r.read(r.self, &im, &to, &res, &e), ==, DOCVL_OK);
    g_assert_nonnull(res.text);
    g_assert_cmpint(res.n_tokens, <=, 3);
    dv_tile_result_free(&res);
    dv_model_reader_close(&r);
    g_free(note);
    dv_image_free(&im);
    g_free(px);
    g_free(out);
    remove_model(model);
}

/* A released-style model declares nothing: the pipeline keeps its own. */
static void test_square_reader(void)
{
    char *dir = test_data("golden/tiny-siglip-f32");
    docvl_open_params p = { .n_threads = 1 };
    dv_tile_reader r;
    char *note = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_model_reader_open(dir, &p, NULL, &r, &note, &e), ==, DOCVL_OK);
    g_assert_cmpint(r.input_w, ==, 384);
    g_assert_cmpint(r.input_h, ==, 384);
    g_assert_cmpint(r.image_size, ==, 384);
    g_assert_cmpint(r.reads_lines, ==, 0);
    g_assert_null(r.instruction);
    dv_model_reader_close(&r);
    g_free(note);
    g_free(dir);
}

/* The trainer's pixel loader gives a training line the pixels the reader
 * gives the same line. */
static void test_trainer_pixels(void)
{
    char *model = make_line_model(0);
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_load(model, &c, &e), ==, DOCVL_OK);
    dv_image im = line_image(700, 30);   /* wider than 512 at height 32: squeezed */
    char *png = g_build_filename(model, "line.png", NULL);
    g_assert_cmpint(dv_render_write_png(&im, png, &e), ==, DOCVL_OK);
    size_t n_px = (size_t)3 * 32 * 512;
    float *want = g_new(float, n_px), *got = NULL;
    g_assert_cmpint(dv_preprocess(&im, &c.pre, NULL, want, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_pixels_load(png, &c, &got, &e), ==, DOCVL_OK);
    g_assert_cmpmem(got, n_px * sizeof *got, want, n_px * sizeof *want);
    free(got);
    g_free(want);
    g_free(png);
    dv_image_free(&im);
    remove_model(model);
}

/* SAM reads a square: the hybrid takes no other geometry. */
static void test_hybrid_refuses(void)
{
    char *dir = test_tmpdir(), *model = g_build_filename(dir, "model", NULL);
    dv_mkmodel_opts o = { .out_dir = model, .arch = "tiny-hybrid", .dtype = DV_F32, .shards = 1,
                          .quiet = 1, .image_h = 32, .image_w = 512, .patch = 8 };
    dv_err e = { 0 };
    g_assert_cmpint(dv_mkmodel(&o, &e), ==, DOCVL_EUNSUPPORTED);
    g_assert_nonnull(strstr(e.msg, "SigLIP-only"));
    test_rmtree(dir);
    g_free(model);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/line-model/round-trip", test_round_trip);
    g_test_add_func("/line-model/token-count-mismatch", test_token_count_mismatch);
    g_test_add_func("/line-model/read-line", test_read_line);
    g_test_add_func("/line-model/square-reader", test_square_reader);
    g_test_add_func("/line-model/trainer-pixels", test_trainer_pixels);
    g_test_add_func("/line-model/hybrid-refuses", test_hybrid_refuses);
    return g_test_run();
}
