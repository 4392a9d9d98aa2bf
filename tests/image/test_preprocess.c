/* Preprocessing: Pillow-exact bicubic against the goldens' pixel tensors,
 * the geometry rules, and invariants on synthetic images. */
#include <glib.h>
#include <stb_image.h>
#include <string.h>

#include "image/preprocess.h"
#include "image/resize.h"
#include "weights/config.h"
#include "weights/safetensors.h"
#include "testutil.h"

static dv_preproc_cfg cfg_of(int size)
{
    dv_preproc_cfg c = { .image_h = size, .image_w = size, .min_size = 14, .has_image_mean = 1,
                         .image_mean = { 0.5f, 0.5f, 0.5f }, .image_std = { 0.5f, 0.5f, 0.5f },
                         .rescale_factor = 1.0f / 255, .do_normalize = 0 };
    return c;
}

/* Decodes the case's PNG as RGB; comp 1 or 4 converts through gray / RGBA
 * the way a decoder would before preprocessing. */
static dv_image load_png(const char *path, int comp)
{
    int w, h, n;
    unsigned char *px = stbi_load(path, &w, &h, &n, comp);
    g_assert_nonnull(px);
    dv_image im;
    dv_err e = { 0 };
    g_assert_cmpint(dv_image_alloc(&im, w, h, &e), ==, DOCVL_OK);
    for (size_t i = 0; i < (size_t)w * h; i++)
        for (int c = 0; c < 3; c++)
            im.rgb[i * 3 + c] = px[i * comp + (comp == 1 ? 0 : c)];
    stbi_image_free(px);
    return im;
}

static void check_golden_case(const char *name, const char *png)
{
    char *dir = test_data(name);
    char *img = g_build_filename(dir, png, NULL);
    char *gpath = g_build_filename(dir, "goldens.safetensors", NULL);
    dv_err e = { 0 };
    dv_config cfg;
    g_assert_cmpint(dv_config_load(dir, &cfg, &e), ==, DOCVL_OK);
    dv_safetensors *gold;
    g_assert_cmpint(dv_safetensors_open(gpath, &gold, &e), ==, DOCVL_OK);
    const dv_tensor *ref = dv_safetensors_find(gold, "pixel_values_u8");
    g_assert_nonnull(ref);
    int s = cfg.pre.image_h;
    g_assert_cmpint(cfg.pre.image_w, ==, s);
    g_assert_cmpint(ref->shape[1], ==, s);

    dv_image im = load_png(img, 3);
    size_t n = 3 * (size_t)s * s;
    uint8_t *u8 = g_malloc(n);
    float *f = g_malloc(n * sizeof *f);
    dv_pre_geom g;
    g_assert_cmpint(dv_preprocess(&im, &cfg.pre, u8, f, &g, &e), ==, DOCVL_OK);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += u8[i] != ((const uint8_t *)ref->data)[i];
    g_assert_cmpuint(bad, ==, 0);
    for (size_t i = 0; i < n; i += 997)
        g_assert_cmpfloat(f[i], ==, (float)(u8[i] / 255.0));
    dv_image_free(&im);
    g_free(u8);
    g_free(f);
    dv_safetensors_close(gold);
    g_free(gpath);
    g_free(img);
    g_free(dir);
}

static void test_golden_downscale(void) { check_golden_case("golden/tiny-f32", "doc_1200x800.png"); }
static void test_golden_upscale(void) { check_golden_case("golden/tiny-bf16", "doc_640x640.png"); }
static void test_golden_384(void) { check_golden_case("golden/tiny-siglip-f32", "doc_1000x700.png"); }

static void expect_geom(int w, int h, int size, int rw, int rh, int px, int py)
{
    dv_preproc_cfg c = cfg_of(size);
    dv_pre_geom g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_preprocess_geometry(w, h, &c, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.resized_w, ==, rw);
    g_assert_cmpint(g.resized_h, ==, rh);
    g_assert_cmpint(g.paste_x, ==, px);
    g_assert_cmpint(g.paste_y, ==, py);
    g_assert_cmpint(g.out_w, ==, size);
    g_assert_cmpint(g.out_h, ==, size);
}

static void test_geometry(void)
{
    expect_geom(1200, 800, 1024, 1024, 682, 0, 171);   /* int(), not round() */
    expect_geom(1000, 700, 384, 384, 268, 0, 58);
    expect_geom(1, 1, 1024, 1024, 1024, 0, 0);
    expect_geom(3000, 5, 1024, 1024, 14, 0, 505);       /* min_size */
    expect_geom(5, 3000, 384, 14, 384, 185, 0);
    expect_geom(701, 1023, 1024, 701, 1024, 161, 0);
    dv_preproc_cfg c = cfg_of(1024);
    c.has_image_mean = 0;
    dv_pre_geom g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_preprocess_geometry(10, 20, &c, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.background[0], ==, 127);
    c = cfg_of(1024);
    c.image_mean[1] = 0.48145466f;
    g_assert_cmpint(dv_preprocess_geometry(10, 20, &c, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.background[1], ==, 122);
    g_assert_cmpint(dv_preprocess_geometry(0, 20, &c, &g, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "0 x 20"));
}

/* A constant image is constant after any resize; the pad keeps its colour. */
static void check_constant(int w, int h, int size)
{
    dv_image im;
    dv_err e = { 0 };
    g_assert_cmpint(dv_image_alloc(&im, w, h, &e), ==, DOCVL_OK);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        im.rgb[i * 3] = 200;
        im.rgb[i * 3 + 1] = 3;
        im.rgb[i * 3 + 2] = 255;
    }
    dv_preproc_cfg c = cfg_of(size);
    size_t plane = (size_t)size * size;
    uint8_t *u8 = g_malloc(3 * plane);
    dv_pre_geom g;
    g_assert_cmpint(dv_preprocess(&im, &c, u8, NULL, &g, &e), ==, DOCVL_OK);
    const uint8_t want[3] = { 200, 3, 255 };
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            int inside = x >= g.paste_x && x < g.paste_x + g.resized_w && y >= g.paste_y &&
                         y < g.paste_y + g.resized_h;
            for (int ch = 0; ch < 3; ch++)
                g_assert_cmpint(u8[ch * plane + (size_t)y * size + x], ==, inside ? want[ch] : 127);
        }
    g_free(u8);
    dv_image_free(&im);
}

static void test_constant(void)
{
    check_constant(1, 1, 64);
    check_constant(3000, 5, 96);
    check_constant(5, 3000, 96);
    check_constant(17, 9, 384);     /* upscale */
    check_constant(333, 200, 100);  /* downscale */
}

/* Same size is the identity (Pillow copies). */
static void test_identity(void)
{
    int s = 48;
    dv_image im;
    dv_err e = { 0 };
    g_assert_cmpint(dv_image_alloc(&im, s, s, &e), ==, DOCVL_OK);
    for (size_t i = 0; i < (size_t)s * s * 3; i++)
        im.rgb[i] = (uint8_t)(i * 7919 % 251);
    dv_preproc_cfg c = cfg_of(s);
    uint8_t *u8 = g_malloc(3 * (size_t)s * s);
    g_assert_cmpint(dv_preprocess(&im, &c, u8, NULL, NULL, &e), ==, DOCVL_OK);
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++)
            for (int ch = 0; ch < 3; ch++)
                g_assert_cmpint(u8[(size_t)ch * s * s + (size_t)y * s + x], ==,
                                im.rgb[((size_t)y * s + x) * 3 + ch]);
    g_free(u8);
    dv_image_free(&im);
}

/* do_normalize: (v/255 - mean) / std per channel; off: v/255 exactly. */
static void test_normalize(void)
{
    dv_preproc_cfg c = cfg_of(4);
    c.image_mean[2] = 0.25f;
    c.image_std[2] = 0.125f;
    uint8_t u8[3 * 16];
    float f[3 * 16];
    for (int i = 0; i < 48; i++)
        u8[i] = (uint8_t)(i * 5);
    dv_preprocess_to_float(u8, &c, f);
    for (int i = 0; i < 48; i++)
        g_assert_cmpfloat(f[i], ==, (float)(u8[i] / 255.0));
    c.do_normalize = 1;
    dv_preprocess_to_float(u8, &c, f);
    for (int i = 0; i < 48; i++) {
        double m = i < 32 ? 0.5 : 0.25, sd = i < 32 ? 0.5 : 0.125;
        g_assert_cmpfloat_with_epsilon(f[i], (u8[i] / 255.0 - m) / sd, 1e-6);
    }
}

/* A horizontal ramp shrunk or enlarged stays ordered and in range; bicubic's
 * negative lobes overshoot at a hard edge and must be clipped, not wrapped. */
static void test_ramp_and_edge(void)
{
    enum { W = 300, H = 3, DW = 77, UW = 911 };
    uint8_t src[W * H], small[DW * H], big[UW * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            src[y * W + x] = (uint8_t)(x * 255 / (W - 1));
    dv_err e = { 0 };
    g_assert_cmpint(dv_resize_bicubic_u8(src, W, H, 1, small, DW, H, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_resize_bicubic_u8(src, W, H, 1, big, UW, H, &e), ==, DOCVL_OK);
    for (int x = 1; x < DW; x++)
        g_assert_cmpint(small[x], >=, small[x - 1]);
    for (int x = 1; x < UW; x++)
        g_assert_cmpint(big[x], >=, big[x - 1]);
    g_assert_cmpint(small[0], <=, 2);
    g_assert_cmpint(small[DW - 1], >=, 253);

    uint8_t edge[8] = { 0, 0, 0, 0, 255, 255, 255, 255 }, up[20];
    g_assert_cmpint(dv_resize_bicubic_u8(edge, 8, 1, 1, up, 20, 1, &e), ==, DOCVL_OK);
    int saw0 = 0, saw255 = 0;
    for (int i = 0; i < 20; i++) {
        saw0 |= up[i] == 0;
        saw255 |= up[i] == 255;
        /* a wrapped undershoot would show as a bright pixel on the dark side */
        if (i <= 8)
            g_assert_cmpint(up[i], <, 128);
        else if (i >= 11)
            g_assert_cmpint(up[i], >, 128);
    }
    g_assert_true(saw0 && saw255);
    g_assert_cmpint(dv_resize_bicubic_u8(edge, 0, 1, 1, up, 20, 1, &e), ==, DOCVL_EINVAL);
}

/* Gray or RGBA input converted to RGB: all planes of a gray image stay equal
 * and the opaque RGBA decode gives the RGB result. */
static void test_converted_inputs(void)
{
    char *png = test_data("golden/tiny-bf16/doc_640x640.png");
    dv_image gray = load_png(png, 1), rgba = load_png(png, 4), rgb = load_png(png, 3);
    dv_preproc_cfg c = cfg_of(256);
    size_t plane = 256 * 256;
    uint8_t *a = g_malloc(3 * plane), *b = g_malloc(3 * plane);
    dv_err e = { 0 };
    g_assert_cmpint(dv_preprocess(&gray, &c, a, NULL, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpmem(a, plane, a + plane, plane);
    g_assert_cmpmem(a, plane, a + 2 * plane, plane);
    g_assert_cmpint(dv_preprocess(&rgba, &c, a, NULL, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_preprocess(&rgb, &c, b, NULL, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpmem(a, 3 * plane, b, 3 * plane);
    g_free(a);
    g_free(b);
    dv_image_free(&gray);
    dv_image_free(&rgba);
    dv_image_free(&rgb);
    g_free(png);
}

/* docvl's line input: 32 x 512. */
static dv_preproc_cfg line_cfg(void)
{
    dv_preproc_cfg c = cfg_of(32);
    c.image_w = 512;
    return c;
}

/* A w x h line on coloured paper with a dark ink bar over a tenth of it. */
static dv_image paper_line(int w, int h, const uint8_t paper[3])
{
    dv_image im;
    dv_err e = { 0 };
    g_assert_cmpint(dv_image_alloc(&im, w, h, &e), ==, DOCVL_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int ink = y >= h / 3 && y < h / 3 + h / 5 && x >= w / 10 && x < w / 10 + w / 2;
            for (int c = 0; c < 3; c++)
                im.rgb[((size_t)y * w + x) * 3 + c] = ink ? 10 : paper[c];
        }
    return im;
}

static void test_line_geometry(void)
{
    dv_preproc_cfg c = line_cfg();
    dv_pre_geom g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_preprocess_geometry(100, 20, &c, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.resized_h, ==, 32);
    g_assert_cmpint(g.resized_w, ==, 160);   /* 100 * 32 / 20: the aspect ratio kept */
    g_assert_cmpint(g.paste_x, ==, 0);
    g_assert_cmpint(g.paste_y, ==, 0);
    g_assert_cmpint(g.out_w, ==, 512);
    g_assert_cmpint(g.out_h, ==, 32);
    g_assert_cmpint(dv_preprocess_geometry(1000, 20, &c, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.resized_w, ==, 512);   /* 1600 wide: squeezed */
    g_assert_cmpint(dv_preprocess_geometry(2, 300, &c, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.resized_w, ==, 1);     /* never nothing */
    g_assert_cmpint(dv_preprocess_geometry(33, 64, &c, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.resized_w, ==, 17);    /* 16.5 rounds up */
}

/* A narrow line is padded on the right with its paper tone, per channel;
 * the float tensor is the same pixels / 255. */
static void test_line_pad(void)
{
    const uint8_t paper[3] = { 231, 222, 190 };
    dv_image im = paper_line(100, 20, paper);
    dv_preproc_cfg c = line_cfg();
    size_t plane = 32 * 512;
    uint8_t *u8 = g_malloc(3 * plane);
    float *f = g_malloc(3 * plane * sizeof *f);
    dv_pre_geom g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_preprocess(&im, &c, u8, f, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.resized_w, ==, 160);
    for (int ch = 0; ch < 3; ch++) {
        g_assert_cmpint(g.background[ch], ==, paper[ch]);
        for (int y = 0; y < 32; y++) {
            /* the resized line's paper corner, the first pad column, the last */
            g_assert_cmpint(u8[ch * plane + (size_t)y * 512], ==, paper[ch]);
            for (int x = 160; x < 512; x++)
                g_assert_cmpint(u8[ch * plane + (size_t)y * 512 + x], ==, paper[ch]);
        }
        /* ink survives the resize inside the line */
        g_assert_cmpint(u8[ch * plane + 14 * 512 + 60], <, 60);
    }
    for (size_t i = 0; i < 3 * plane; i += 101)
        g_assert_cmpfloat(f[i], ==, (float)(u8[i] / 255.0));
    g_free(u8);
    g_free(f);
    dv_image_free(&im);
}

/* A line longer than the input is squeezed to its width: no pad column,
 * and ink reaches across in proportion. */
static void test_line_squeeze(void)
{
    const uint8_t paper[3] = { 250, 250, 250 };
    dv_image im = paper_line(2000, 40, paper);
    dv_preproc_cfg c = line_cfg();
    size_t plane = 32 * 512;
    uint8_t *u8 = g_malloc(3 * plane);
    dv_pre_geom g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_preprocess(&im, &c, u8, NULL, &g, &e), ==, DOCVL_OK);
    g_assert_cmpint(g.resized_w, ==, 512);
    /* the bar spans x 200..1200 of 2000: 51..307 of 512 after the squeeze */
    g_assert_cmpint(u8[15 * 512 + 60], <, 60);
    g_assert_cmpint(u8[15 * 512 + 300], <, 60);
    g_assert_cmpint(u8[15 * 512 + 320], ==, 250);
    g_assert_cmpint(u8[15 * 512 + 511], ==, 250);
    g_free(u8);
    dv_image_free(&im);
}

/* A line already at the input's size passes through unchanged. */
static void test_line_identity(void)
{
    dv_image im;
    dv_err e = { 0 };
    g_assert_cmpint(dv_image_alloc(&im, 512, 32, &e), ==, DOCVL_OK);
    for (size_t i = 0; i < (size_t)512 * 32 * 3; i++)
        im.rgb[i] = (uint8_t)(i * 7919 % 251);
    dv_preproc_cfg c = line_cfg();
    size_t plane = 32 * 512;
    uint8_t *u8 = g_malloc(3 * plane);
    g_assert_cmpint(dv_preprocess(&im, &c, u8, NULL, NULL, &e), ==, DOCVL_OK);
    for (size_t i = 0; i < plane; i++)
        for (int ch = 0; ch < 3; ch++)
            g_assert_cmpint(u8[ch * plane + i], ==, im.rgb[i * 3 + ch]);
    g_free(u8);
    dv_image_free(&im);
}

/* Antialiased bilinear: constants stay constant, a 2:1 shrink of a ramp
 * averages neighbours, identity when sizes match. */
static void test_bilinear_aa(void)
{
    enum { N = 16 };
    float src[N * N], dst[(N / 2) * (N / 2)];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            src[y * N + x] = (float)x;
    dv_err e = { 0 };
    g_assert_cmpint(dv_resize_bilinear_aa_f32(src, 1, N, N, dst, N / 2, N / 2, &e), ==, DOCVL_OK);
    /* interior output x covers inputs 2x-1..2x+2 with weights 1,3,3,1 / 8 */
    for (int x = 1; x < N / 2 - 1; x++)
        g_assert_cmpfloat_with_epsilon(dst[3 * (N / 2) + x], 2 * x + 0.5f, 1e-5);
    float same[N * N];
    g_assert_cmpint(dv_resize_bilinear_aa_f32(src, 1, N, N, same, N, N, &e), ==, DOCVL_OK);
    for (int i = 0; i < N * N; i++)
        g_assert_cmpfloat_with_epsilon(same[i], src[i], 1e-6);
}

static void test_bilinear_nhwc(void)
{
    /* 2x2 -> 4x4 with align_corners=False: corners copy, 1/4-3/4 mixes inside */
    float src[4] = { 0, 1, 2, 3 }, dst[16];
    dv_resize_bilinear_nhwc(src, 2, 2, 1, dst, 4, 4);
    g_assert_cmpfloat(dst[0], ==, 0);
    g_assert_cmpfloat(dst[15], ==, 3);
    g_assert_cmpfloat_with_epsilon(dst[1], 0.25f, 1e-6);
    g_assert_cmpfloat_with_epsilon(dst[5], 0.25f + 0.5f, 1e-6);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/preprocess/golden-downscale", test_golden_downscale);
    g_test_add_func("/preprocess/golden-upscale", test_golden_upscale);
    g_test_add_func("/preprocess/golden-384", test_golden_384);
    g_test_add_func("/preprocess/geometry", test_geometry);
    g_test_add_func("/preprocess/constant", test_constant);
    g_test_add_func("/preprocess/identity", test_identity);
    g_test_add_func("/preprocess/normalize", test_normalize);
    g_test_add_func("/preprocess/ramp-edge", test_ramp_and_edge);
    g_test_add_func("/preprocess/converted", test_converted_inputs);
    g_test_add_func("/resize/bilinear-aa", test_bilinear_aa);
    g_test_add_func("/resize/bilinear-nhwc", test_bilinear_nhwc);
    g_test_add_func("/preprocess/line-geometry", test_line_geometry);
    g_test_add_func("/preprocess/line-pad", test_line_pad);
    g_test_add_func("/preprocess/line-squeeze", test_line_squeeze);
    g_test_add_func("/preprocess/line-identity", test_line_identity);
    return g_test_run();
}
