/* Image decoding: every supported format into RGB, alpha over white,
 * palettes, 1-bit TIFF, multi-page TIFF, limits checked before decoding. */
#include <leptonica/allheaders.h>
#include <stb_image_write.h>
#include <string.h>

#include "image/decode.h"
#include "testutil.h"

/* A 6 x 4 test pattern: left half black, right half a colour (gray for 8-bit). */
static PIX *pattern(int depth)
{
    PIX *p = pixCreate(6, 4, depth);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 6; x++) {
            if (depth == 1)
                pixSetPixel(p, x, y, x < 3);
            else if (depth == 8)
                pixSetPixel(p, x, y, x < 3 ? 0 : 200);
            else
                pixSetRGBPixel(p, x, y, x < 3 ? 0 : 200, x < 3 ? 0 : 100, x < 3 ? 0 : 50);
        }
    return p;
}

static GBytes *encode(PIX *p, int format)
{
    l_uint8 *data = NULL;
    size_t size = 0;
    g_assert_cmpint(pixWriteMem(&data, &size, p, format), ==, 0);
    GBytes *b = g_bytes_new(data, size);
    lept_free(data);
    return b;
}

static void decode_ok(GBytes *b, dv_image *im)
{
    dv_err e = {0};
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    int rc = dv_image_decode(d, n, 0, 0, im, &e);
    if (rc)
        g_printerr("decode: %s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
}

static void assert_px(const dv_image *im, int x, int y, int r, int g, int b, int tol)
{
    const uint8_t *p = im->rgb + ((size_t)y * im->w + x) * 3;
    g_assert_cmpint(abs(p[0] - r), <=, tol);
    g_assert_cmpint(abs(p[1] - g), <=, tol);
    g_assert_cmpint(abs(p[2] - b), <=, tol);
}

static void check_format(int format, int depth, dv_image_format want, int tol)
{
    PIX *p = pattern(depth);
    GBytes *b = encode(p, format);
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    g_assert_cmpint(dv_image_sniff(d, n), ==, want);
    dv_image im;
    decode_ok(b, &im);
    g_assert_cmpint(im.w, ==, 6);
    g_assert_cmpint(im.h, ==, 4);
    assert_px(&im, 0, 0, 0, 0, 0, tol);
    if (depth == 1)
        assert_px(&im, 5, 3, 255, 255, 255, 0);
    else if (depth == 8)
        assert_px(&im, 5, 3, 200, 200, 200, tol);
    else
        assert_px(&im, 5, 3, 200, 100, 50, tol);
    dv_image_free(&im);
    g_bytes_unref(b);
    pixDestroy(&p);
}

static void test_formats(void)
{
    check_format(IFF_PNG, 32, DV_IMG_PNG, 0);
    check_format(IFF_PNG, 8, DV_IMG_PNG, 0);
    check_format(IFF_PNG, 1, DV_IMG_PNG, 0);
    check_format(IFF_BMP, 32, DV_IMG_BMP, 0);
    check_format(IFF_PNM, 32, DV_IMG_PNM, 0);
    check_format(IFF_PNM, 8, DV_IMG_PNM, 0);
    check_format(IFF_PNM, 1, DV_IMG_PNM, 0);
    check_format(IFF_TIFF, 32, DV_IMG_TIFF, 0);
    check_format(IFF_TIFF_G4, 1, DV_IMG_TIFF, 0);
    check_format(IFF_TIFF_G3, 1, DV_IMG_TIFF, 0);
    check_format(IFF_GIF, 8, DV_IMG_GIF, 0);
    check_format(IFF_JFIF_JPEG, 8, DV_IMG_JPEG, 12);
    check_format(IFF_WEBP, 32, DV_IMG_WEBP, 40);
}

static void collect(void *ctx, void *data, int size)
{
    g_byte_array_append(ctx, data, (guint)size);
}

/* TGA (no signature) and RGBA through stb: transparent pixels become white. */
static void test_tga_alpha(void)
{
    uint8_t px[2 * 2 * 4] = {255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 0, 128, 10, 20, 30, 255};
    GByteArray *a = g_byte_array_new();
    g_assert_true(stbi_write_tga_to_func(collect, a, 2, 2, 4, px));
    g_assert_cmpint(dv_image_sniff(a->data, a->len), ==, DV_IMG_TGA);
    dv_image im;
    dv_err e = {0};
    g_assert_cmpint(dv_image_decode(a->data, a->len, 0, 0, &im, &e), ==, DOCVL_OK);
    assert_px(&im, 0, 0, 255, 0, 0, 0);
    assert_px(&im, 1, 0, 255, 255, 255, 0);   /* fully transparent blue */
    assert_px(&im, 0, 1, 127, 127, 127, 1);   /* half transparent black */
    assert_px(&im, 1, 1, 10, 20, 30, 0);
    dv_image_free(&im);
    g_byte_array_unref(a);
}

static void test_palette(void)
{
    PIX *p = pixCreate(4, 1, 8);
    PIXCMAP *cm = pixcmapCreate(8);
    pixcmapAddColor(cm, 10, 200, 30);
    pixcmapAddColor(cm, 250, 240, 230);
    pixSetColormap(p, cm);
    pixSetPixel(p, 0, 0, 0);
    pixSetPixel(p, 1, 0, 1);
    GBytes *b = encode(p, IFF_PNG);
    dv_image im;
    decode_ok(b, &im);
    assert_px(&im, 0, 0, 10, 200, 30, 0);
    assert_px(&im, 1, 0, 250, 240, 230, 0);
    dv_image_free(&im);
    g_bytes_unref(b);
    pixDestroy(&p);
}

static void test_multipage_tiff(void)
{
    char *dir = test_tmpdir();
    char *path = g_build_filename(dir, "two.tif", NULL);
    PIX *a = pattern(1), *b = pixCreate(9, 7, 1);
    g_assert_cmpint(pixWriteTiff(path, a, IFF_TIFF_G4, "w"), ==, 0);
    g_assert_cmpint(pixWriteTiff(path, b, IFF_TIFF_G4, "a"), ==, 0);
    gchar *data;
    gsize n;
    g_assert_true(g_file_get_contents(path, &data, &n, NULL));
    dv_err e = {0};
    int count = 0, w, h;
    g_assert_cmpint(dv_image_frame_count((uint8_t *)data, n, &count, &e), ==, DOCVL_OK);
    g_assert_cmpint(count, ==, 2);
    g_assert_cmpint(dv_image_frame_size((uint8_t *)data, n, 1, &w, &h, &e), ==, DOCVL_OK);
    g_assert_cmpint(w, ==, 9);
    g_assert_cmpint(h, ==, 7);
    dv_image im;
    g_assert_cmpint(dv_image_decode((uint8_t *)data, n, 1, 0, &im, &e), ==, DOCVL_OK);
    g_assert_cmpint(im.w, ==, 9);
    assert_px(&im, 8, 6, 255, 255, 255, 0);
    dv_image_free(&im);
    g_assert_cmpint(dv_image_decode((uint8_t *)data, n, 2, 0, &im, &e), ==, DOCVL_EINVAL);
    g_free(data);
    pixDestroy(&a);
    pixDestroy(&b);
    test_rmtree(dir);
    g_free(path);
    g_free(dir);
}

static void decode_file(const char *rel, int w, int h, double max_mean)
{
    char *path = test_data(rel);
    gchar *data;
    gsize n;
    g_assert_true(g_file_get_contents(path, &data, &n, NULL));
    dv_image im;
    dv_err e = {0};
    g_assert_cmpint(dv_image_decode((uint8_t *)data, n, 0, 0, &im, &e), ==, DOCVL_OK);
    g_assert_cmpint(im.w, ==, w);
    g_assert_cmpint(im.h, ==, h);
    /* A page: mostly white paper with some ink. */
    double sum = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        sum += im.rgb[i];
    double mean = sum / ((double)w * h * 3);
    g_assert_cmpfloat(mean, >, 150);
    g_assert_cmpfloat(mean, <, max_mean);
    dv_image_free(&im);
    g_free(data);
    g_free(path);
}

static void test_corpus_files(void)
{
    decode_file("corpus/images/phototest.tif", 640, 480, 254);
    decode_file("corpus/images/eurotext.tif", 1024, 800, 254);
    decode_file("corpus/images/webp-test.webp", 2000, 2829, 255);
}

/* A PNG header claiming 16000 x 16000 pixels is refused before decoding. */
static void test_limits(void)
{
    uint8_t png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                       0, 0, 0x3e, 0x80, 0, 0, 0x3e, 0x80, 8, 2, 0, 0, 0};
    dv_image im;
    dv_err e = {0};
    int w = 0, h = 0;
    g_assert_cmpint(dv_image_frame_size(png, sizeof png, 0, &w, &h, &e), ==, DOCVL_OK);
    g_assert_cmpint(w, ==, 16000);
    g_assert_cmpint(dv_image_decode(png, sizeof png, 0, 1000000, &im, &e), ==, DOCVL_ELIMIT);
    g_assert_null(im.rgb);
    g_assert_nonnull(strstr(e.msg, "16000"));
}

static void test_bad_input(void)
{
    dv_image im;
    dv_err e = {0};
    const uint8_t junk[] = "hello, this is not an image";
    g_assert_cmpint(dv_image_sniff(junk, sizeof junk), ==, DV_IMG_UNKNOWN);
    g_assert_cmpint(dv_image_decode(junk, sizeof junk, 0, 0, &im, &e), ==, DOCVL_EFORMAT);
    dv_err_clear(&e);
    g_assert_cmpint(dv_image_decode(junk, 0, 0, 0, &im, &e), ==, DOCVL_EFORMAT);
    /* A PNG cut after its header. */
    PIX *p = pattern(32);
    GBytes *b = encode(p, IFF_PNG);
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    dv_err_clear(&e);
    g_assert_cmpint(dv_image_decode(d, 40, 0, 0, &im, &e), ==, DOCVL_EFORMAT);
    g_assert_null(im.rgb);
    g_bytes_unref(b);
    pixDestroy(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/decode/formats", test_formats);
    g_test_add_func("/decode/tga-alpha", test_tga_alpha);
    g_test_add_func("/decode/palette", test_palette);
    g_test_add_func("/decode/multipage-tiff", test_multipage_tiff);
    g_test_add_func("/decode/corpus", test_corpus_files);
    g_test_add_func("/decode/limits", test_limits);
    g_test_add_func("/decode/bad-input", test_bad_input);
    return g_test_run();
}
