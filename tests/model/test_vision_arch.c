/* The vision path on architectures the goldens do not cover, written by the
 * model writer: equivalences that must hold exactly, and shapes (padding
 * windows, window larger than the grid, select_layer) that
 * must run cleanly and deterministically. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "weights/checkpoint.h"
#include "weights/config.h"
#include "mkmodel/mkmodel.h"
#include "model/vision.h"
#include "testutil.h"

typedef void (*mutate_fn)(JsonObject *vision_params, JsonObject *aligner_params);

/* tiny-f32's config.json, changed by `mutate`, written as a random model. */
static char *make_model(const char *base_case, mutate_fn mutate)
{
    char *src = test_data(base_case), *cfg_in = g_build_filename(src, "config.json", NULL);
    JsonParser *p = json_parser_new();
    g_assert_true(json_parser_load_from_file(p, cfg_in, NULL));
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    JsonObject *vp = json_object_get_object_member(
        json_object_get_object_member(root, "vision_config"), "params");
    JsonObject *ap = json_object_get_object_member(
        json_object_get_object_member(root, "aligner_config"), "params");
    if (mutate)
        mutate(vp, ap);
    char *dir = test_tmpdir(), *cfg_out = g_build_filename(dir, "in-config.json", NULL);
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, json_parser_get_root(p));
    g_assert_true(json_generator_to_file(gen, cfg_out, NULL));
    char *model = g_build_filename(dir, "model", NULL);
    dv_mkmodel_opts o = { .out_dir = model, .config_path = cfg_out, .dtype = DV_F32, .seed = 7,
                          .shards = 1, .quiet = 1 };
    dv_err e = { 0 };
    if (dv_mkmodel(&o, &e))
        g_error("mkmodel: %s", e.msg);
    g_object_unref(gen);
    g_object_unref(p);
    g_free(cfg_out);
    g_free(cfg_in);
    g_free(src);
    g_free(model);
    return dir;
}

/* Runs the vision path on a fixed pseudo-random square; caller frees. */
static float *run_model(const char *dir, int *n_out)
{
    char *model = g_build_filename(dir, "model", NULL);
    dv_err e = { 0 };
    dv_config cfg;
    dv_checkpoint *ck;
    dv_vision *v;
    if (dv_config_load(model, &cfg, &e) || dv_checkpoint_open(model, &ck, &e) ||
        dv_vision_bind(&cfg, ck, 1, &v, &e))
        g_error("%s", e.msg);
    size_t s = (size_t)cfg.pre.image_h, n = (size_t)dv_vision_tokens(v) * dv_vision_embed_dim(v);
    float *px = g_new(float, 3 * s * s), *out = g_new(float, n);
    guint32 r = 12345;
    for (size_t i = 0; i < 3 * s * s; i++) {
        r = r * 1664525u + 1013904223u;
        px[i] = (float)((r >> 24) / 255.0);
    }
    dv_ctx ctx = { .n_threads = 1 };
    if (dv_vision_forward(v, px, out, NULL, &ctx, &e))
        g_error("%s", e.msg);
    for (size_t i = 0; i < n; i++)
        g_assert_true(isfinite(out[i]));
    *n_out = (int)n;
    dv_vision_free(v);
    dv_checkpoint_close(ck);
    g_free(px);
    g_free(model);
    return out;
}

static void set_ints(JsonObject *o, const char *key, const int *v, int n)
{
    JsonArray *a = json_array_new();
    for (int i = 0; i < n; i++)
        json_array_add_int_element(a, v[i]);
    json_object_set_array_member(o, key, a);
}

static JsonObject *sam_of(JsonObject *vp) { return json_object_get_object_member(vp, "high_res_cfg"); }
static JsonObject *low_of(JsonObject *vp) { return json_object_get_object_member(vp, "low_res_cfg"); }

/* SAM on 64 px: a 4x4 grid. With window 4 a windowed block is one unpadded
 * window, which is exactly global attention with the same tables. */
static void sam64(JsonObject *vp)
{
    json_object_set_int_member(sam_of(vp), "image_size", 64);
    json_object_set_int_member(sam_of(vp), "window_size", 4);
}

static void all_global(JsonObject *vp, JsonObject *ap)
{
    (void)ap;
    sam64(vp);
    const int g[] = { 0, 1, 2, 3 };
    set_ints(sam_of(vp), "global_attn_indexes", g, 4);
}

static void one_window(JsonObject *vp, JsonObject *ap)
{
    (void)ap;
    sam64(vp);
    const int g[] = { 0, 1, 2 };   /* same first global block: the hd branch reads it */
    set_ints(sam_of(vp), "global_attn_indexes", g, 3);
}

static void test_window_equals_global(void)
{
    char *a = make_model("golden/tiny-f32", all_global);
    char *b = make_model("golden/tiny-f32", one_window);
    int na, nb;
    float *oa = run_model(a, &na), *ob = run_model(b, &nb);
    g_assert_cmpint(na, ==, nb);
    double worst = 0;
    for (int i = 0; i < na; i++)
        worst = fmax(worst, fabs(oa[i] - ob[i]));
    g_assert_cmpfloat(worst, <, 1e-5);
    test_rmtree(a);
    test_rmtree(b);
    g_free(a);
    g_free(b);
    g_free(oa);
    g_free(ob);
}

/* 3 heads, window 5 over a 12x12 grid (padding to 15), first global block
 * 0, SigLIP dropping its last block. */
static void odd_shapes(JsonObject *vp, JsonObject *ap)
{
    JsonObject *s = sam_of(vp), *l = low_of(vp);
    json_object_set_int_member(s, "image_size", 192);
    json_object_set_int_member(s, "window_size", 5);
    json_object_set_int_member(s, "width", 24);
    json_object_set_int_member(s, "heads", 3);
    json_object_set_int_member(s, "layers", 3);
    const int g[] = { 2, 0 }, ds[] = { 20, 32 };
    set_ints(s, "global_attn_indexes", g, 2);
    set_ints(s, "downsample_channels", ds, 2);
    json_object_set_int_member(l, "layers", 3);
    json_object_set_int_member(l, "select_layer", -2);
    (void)ap;
}

/* Window larger than the grid: one window, mostly padding. */
static void big_window(JsonObject *vp, JsonObject *ap)
{
    (void)ap;
    json_object_set_int_member(sam_of(vp), "image_size", 96);
    json_object_set_int_member(sam_of(vp), "window_size", 8);
}

static void check_runs(const char *base, mutate_fn m)
{
    char *d = make_model(base, m);
    int n1, n2;
    float *o1 = run_model(d, &n1), *o2 = run_model(d, &n2);
    g_assert_cmpint(n1, ==, n2);
    g_assert_cmpmem(o1, n1 * sizeof(float), o2, n2 * sizeof(float));
    test_rmtree(d);
    g_free(d);
    g_free(o1);
    g_free(o2);
}

static void test_odd_shapes(void) { check_runs("golden/tiny-f32", odd_shapes); }
static void test_big_window(void) { check_runs("golden/tiny-f32", big_window); }

/* SigLIP-only with 4 heads and three blocks, the last one dropped. */
static void siglip_variant(JsonObject *vp, JsonObject *ap)
{
    (void)ap;
    json_object_set_int_member(vp, "heads", 4);
    json_object_set_int_member(vp, "layers", 3);
    json_object_set_int_member(vp, "select_layer", -2);
}

static void test_siglip_variant(void) { check_runs("golden/tiny-siglip-f32", siglip_variant); }

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vision-arch/window-equals-global", test_window_equals_global);
    g_test_add_func("/vision-arch/odd-shapes", test_odd_shapes);
    g_test_add_func("/vision-arch/big-window", test_big_window);
    g_test_add_func("/vision-arch/siglip-variant", test_siglip_variant);
    return g_test_run();
}
