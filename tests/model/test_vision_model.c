/* The vision path on the golden cases (fed the golden pixels), the fp32
 * product it runs (dv_gemm), and its binding checks: every tensor is found
 * by name and checked by shape. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/safetensors.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"
#include "model/vision.h"
#include "testutil.h"

typedef struct fixture {
    char *dir;
    dv_config cfg;
    dv_checkpoint *ck;
    dv_safetensors *gold;
} fixture;

static void open_case(fixture *f, const char *name)
{
    dv_err e = { 0 };
    f->dir = test_data(name);
    char *g = g_build_filename(f->dir, "goldens.safetensors", NULL);
    g_assert_cmpint(dv_config_load(f->dir, &f->cfg, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_checkpoint_open(f->dir, &f->ck, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_safetensors_open(g, &f->gold, &e), ==, DOCVL_OK);
    g_free(g);
}

static void close_case(fixture *f)
{
    dv_checkpoint_close(f->ck);
    dv_safetensors_close(f->gold);
    g_free(f->dir);
}

static float *golden_pixels(const fixture *f)
{
    const dv_tensor *t = dv_safetensors_find(f->gold, "pixel_values_u8");
    g_assert_nonnull(t);
    size_t n = (size_t)dv_tensor_numel(t);
    float *p = g_new(float, n);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(((const uint8_t *)t->data)[i] / 255.0);
    return p;
}

/* The README rule: |c - ref| <= 2e-5 * max|ref| + 1e-4 * |ref|. */
static double worst_ratio(const dv_tensor *ref, const float *got)
{
    size_t n = (size_t)dv_tensor_numel(ref);
    const float *r = ref->data;
    double mx = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs(r[i]));
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(got[i] - r[i]) / (2e-5 * mx + 1e-4 * fabs(r[i])));
    return worst;
}

static float *run(const fixture *f, int widen, const dv_vision_taps *taps)
{
    dv_err e = { 0 };
    dv_vision *v;
    g_assert_cmpint(dv_vision_bind(&f->cfg, f->ck, widen, &v, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_vision_tokens(v), ==, 576);
    g_assert_cmpint(dv_vision_embed_dim(v), ==, f->cfg.aligner.n_embed);
    float *px = golden_pixels(f), *out = g_new(float, 576 * (size_t)f->cfg.aligner.n_embed);
    dv_ctx ctx = { .n_threads = 1 };
    g_assert_cmpint(dv_vision_forward(v, px, out, taps, &ctx, &e), ==, DOCVL_OK);
    g_free(px);
    dv_vision_free(v);
    return out;
}

static void check_case(const char *name)
{
    fixture f;
    open_case(&f, name);
    float *out = run(&f, 1, NULL);
    const dv_tensor *ref = dv_safetensors_find(f.gold, "aligner_out");
    g_assert_cmpfloat(worst_ratio(ref, out), <=, 1.0);
    g_free(out);
    close_case(&f);
}

static void test_hybrid(void) { check_case("golden/tiny-f32"); }
static void test_siglip_only(void) { check_case("golden/tiny-siglip-f32"); }

/* BF16 weights kept 16-bit (streamed widening) or widened at load agree. */
static void test_bf16_widen(void)
{
    fixture f;
    open_case(&f, "golden/tiny-bf16");
    float sam_a[576 * 32], sam_b[576 * 32];
    dv_vision_taps ta = { .sam_out = sam_a }, tb = { .sam_out = sam_b };
    float *a = run(&f, 0, &ta), *b = run(&f, 1, &tb);
    size_t n = 576 * (size_t)f.cfg.aligner.n_embed;
    for (size_t i = 0; i < n; i++)
        g_assert_cmpfloat_with_epsilon(a[i], b[i], 1e-5);
    g_assert_cmpfloat(worst_ratio(dv_safetensors_find(f.gold, "sam_out"), sam_a), <=, 1.0);
    g_assert_cmpfloat(worst_ratio(dv_safetensors_find(f.gold, "aligner_out"), a), <=, 1.0);
    g_free(a);
    g_free(b);
    close_case(&f);
}

/* The towers and the aligner run the fp32 product the vision path chose at
 * bind (dv_gemm_choose), whatever product the caller's context names:
 * docvl's AVX-512 one and OpenBLAS's each give the golden image embeddings
 * within tolerance, the same choice the same bits again (on one thread and
 * on two), and where AVX-512 runs SAM's output, SigLIP's and the
 * aligner's each differ in bits between the two (a tower left on OpenBLAS
 * would give OpenBLAS's bits). Weights as stored: f32 products on the
 * mapped f32 weights, widened panels of the bf16 ones. */
static void check_gemm(const char *name)
{
    fixture f;
    open_case(&f, name);
    dv_err e = { 0 };
    dv_vision *v;
    g_assert_cmpint(dv_vision_bind(&f.cfg, f.ck, DV_TOWERS_STORED, &v, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_vision_gemm(v), ==, dv_gemm_choose());
    size_t n = 576 * (size_t)f.cfg.aligner.n_embed, ns = dv_vision_tap_len(v, "sam_out");
    size_t nl = dv_vision_tap_len(v, "siglip_out");
    g_assert_cmpuint(ns, >, 0);
    float *px = golden_pixels(&f), *out[3], *sam[3], *sig[3];
    dv_pool *pool;
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, DOCVL_OK);
    const dv_gemm runs[3] = { DV_GEMM_OWN, DV_GEMM_OWN, DV_GEMM_BLAS };
    for (int i = 0; i < 3; i++) {
        dv_vision_set_gemm(v, runs[i]);
        g_assert_cmpint(dv_vision_gemm(v), ==, runs[i]);
        dv_gemm other = runs[i] == DV_GEMM_OWN ? DV_GEMM_BLAS : DV_GEMM_OWN;
        dv_ctx ctx = { .n_threads = i == 1 ? 2 : 1, .pool = i == 1 ? pool : NULL, .gemm = other };
        out[i] = g_new(float, n), sam[i] = g_new(float, ns), sig[i] = g_new(float, nl);
        dv_vision_taps taps = { .sam_out = sam[i], .siglip_out = sig[i] };
        g_assert_cmpint(dv_vision_forward(v, px, out[i], &taps, &ctx, &e), ==, DOCVL_OK);
        g_assert_cmpfloat(worst_ratio(dv_safetensors_find(f.gold, "aligner_out"), out[i]), <=,
                          1.0);
    }
    g_assert_cmpmem(out[0], n * sizeof(float), out[1], n * sizeof(float));
    g_assert_cmpmem(sam[0], ns * sizeof(float), sam[1], ns * sizeof(float));
    g_assert_cmpmem(sig[0], nl * sizeof(float), sig[1], nl * sizeof(float));
    int avx512 = dv_cpu_has_avx512();
    g_assert_true((memcmp(out[0], out[2], n * sizeof(float)) != 0) == avx512);
    g_assert_true((memcmp(sam[0], sam[2], ns * sizeof(float)) != 0) == avx512);
    g_assert_true((memcmp(sig[0], sig[2], nl * sizeof(float)) != 0) == avx512);
    for (int i = 0; i < 3; i++)
        g_free(out[i]), g_free(sam[i]), g_free(sig[i]);
    g_free(px);
    dv_pool_free(pool);
    dv_vision_free(v);
    close_case(&f);
}

static void test_gemm_choice(void)
{
    check_gemm("golden/tiny-f32");
    check_gemm("golden/tiny-bf16");
}

/* ||out - ref|| / ||ref|| over the reference's elements. */
static double relative_l2(const dv_tensor *ref, const float *out)
{
    const float *r = ref->data;
    double num = 0, den = 0;
    for (size_t i = 0; i < (size_t)dv_tensor_numel(ref); i++) {
        num += (out[i] - r[i]) * (double)(out[i] - r[i]);
        den += (double)r[i] * r[i];
    }
    return sqrt(num / den);
}

/* Towers held in q8 (the speed formats' towers; int8 products where the CPU
 * has them, else q8 panels): the image embeddings within 5% (relative L2)
 * of the reference (measured 2.1-2.2%), and not the f32 towers' numbers. */
static void check_q8_towers(const char *name)
{
    fixture f;
    open_case(&f, name);
    float *out = run(&f, DV_TOWERS_Q8, NULL);
    const dv_tensor *ref = dv_safetensors_find(f.gold, "aligner_out");
    double rel = relative_l2(ref, out);
    g_assert_cmpfloat(rel, <=, 0.05);
    g_assert_cmpfloat(worst_ratio(ref, out), >, 1.0);
    g_free(out);
    close_case(&f);
}

static void test_q8_towers(void)
{
    check_q8_towers("golden/tiny-f32");
    check_q8_towers("golden/tiny-siglip-f32");
}

/* --weights bf16's towers (DV_TOWERS_BF16) with a pool: BF16 matrices as
 * bf16 products where the CPU has them (AVX-512 BF16, DOCVL_KERNELS not
 * f32): tiny-bf16's image embeddings within 2% (relative L2) of the
 * reference (measured 0.26%), and not the exact numbers; elsewhere the
 * matrices are widened, the f32 towers' numbers within the reference's
 * tolerance. F32 matrices (tiny-f32) never take the bf16 products. */
static float *run_bf16_towers(const fixture *f)
{
    dv_err e = { 0 };
    dv_vision *v;
    dv_pool *pool;
    g_assert_cmpint(dv_vision_bind(&f->cfg, f->ck, DV_TOWERS_BF16, &v, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, DOCVL_OK);
    float *px = golden_pixels(f), *out = g_new(float, 576 * (size_t)f->cfg.aligner.n_embed);
    dv_ctx ctx = { .n_threads = 2, .pool = pool };
    g_assert_cmpint(dv_vision_forward(v, px, out, NULL, &ctx, &e), ==, DOCVL_OK);
    g_free(px);
    dv_pool_free(pool);
    dv_vision_free(v);
    return out;
}

static void test_bf16_towers(void)
{
    fixture f;
    open_case(&f, "golden/tiny-bf16");
    float *out = run_bf16_towers(&f);
    const dv_tensor *ref = dv_safetensors_find(f.gold, "aligner_out");
    double rel = relative_l2(ref, out);
    g_test_message("bf16 towers: image embeddings %.3g relative L2 from the reference",
                   rel);
    g_assert_cmpfloat(rel, <=, 0.02);
    if (dv_cpu_bgemm_level() >= 2)
        g_assert_cmpfloat(worst_ratio(ref, out), >, 1.0);
    else
        g_assert_cmpfloat(worst_ratio(ref, out), <=, 1.0);
    g_free(out);
    close_case(&f);
    open_case(&f, "golden/tiny-f32");
    out = run_bf16_towers(&f);
    g_assert_cmpfloat(worst_ratio(dv_safetensors_find(f.gold, "aligner_out"), out), <=, 1.0);
    g_free(out);
    close_case(&f);
}

static void expect_bind_error(const fixture *f, const dv_config *cfg, const char *what)
{
    dv_err e = { 0 };
    dv_vision *v = NULL;
    g_assert_cmpint(dv_vision_bind(cfg, f->ck, 1, &v, &e), ==, DOCVL_EMODEL);
    g_assert_null(v);
    if (!strstr(e.msg, what))
        g_error("message \"%s\" lacks \"%s\"", e.msg, what);
}

static void test_bind_errors(void)
{
    fixture f;
    open_case(&f, "golden/tiny-f32");
    dv_config c = f.cfg;
    c.sam.mlp_dim = 100;   /* lin1 is [128, 32] in the file */
    expect_bind_error(&f, &c, "vision_tower_high.vision_tower.blocks.0.mlp.lin1.weight\" has "
                              "shape [128, 32], expected [100, 32]");
    c = f.cfg;
    c.siglip.layers = 3;   /* the file has 2 blocks */
    expect_bind_error(&f, &c, "vision_tower_low.vision_tower.blocks.2.norm1.weight\" is missing");
    c = f.cfg;
    c.sam.window_size = 8; /* rel_pos tables are sized for 14 */
    expect_bind_error(&f, &c, "rel_pos_h\" has shape [27, 16], expected [15, 16]");
    c = f.cfg;
    c.aligner.n_embed = 32;
    expect_bind_error(&f, &c, "aligner.high_up_proj.weight");
    c = f.cfg;
    c.pre.image_h = c.pre.image_w = 512;
    expect_bind_error(&f, &c, "image_size 512x512");
    close_case(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vision/hybrid", test_hybrid);
    g_test_add_func("/vision/siglip-only", test_siglip_only);
    g_test_add_func("/vision/bf16-widen", test_bf16_widen);
    g_test_add_func("/vision/q8-towers", test_q8_towers);
    g_test_add_func("/vision/bf16-towers", test_bf16_towers);
    g_test_add_func("/vision/gemm_choice", test_gemm_choice);
    g_test_add_func("/vision/bind-errors", test_bind_errors);
    return g_test_run();
}
