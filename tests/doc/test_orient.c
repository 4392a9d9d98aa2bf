/* Orientation: tesseract's phototest page turned left, right and upside
 * down is recognised, and turning it back gives the upright page's lines. */
#include <math.h>
#include <string.h>

#include "doc/document.h"
#include "doc/layout.h"
#include "doc/orient.h"
#include "glyphpage.h"
#include "testutil.h"

static dv_image load(const char *rel)
{
    char *path = test_data(rel);
    dv_doc *d = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_doc_open_file(path, NULL, &d, &e), ==, DOCVL_OK);
    dv_rendered_page rp;
    g_assert_cmpint(dv_doc_render_page(d, 0, NULL, &rp, &e), ==, DOCVL_OK);
    dv_doc_close(d);
    g_free(path);
    return rp.image;
}

static void check(const char *rel, int want)
{
    dv_image im = load(rel);
    int deg = -1;
    double conf = 0;
    dv_err e = {0};
    g_assert_cmpint(dv_orient_detect(&im, &deg, &conf, &e), ==, DOCVL_OK);
    g_assert_cmpint(deg, ==, want);
    g_assert_cmpfloat(conf, >, 4);
    dv_image up;
    g_assert_cmpint(dv_orient_rotate(&im, deg, &up, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_orient_detect(&up, &deg, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpint(deg, ==, 0);
    dv_layout l;
    g_assert_cmpint(dv_layout_analyze(&up, NULL, &l, &e), ==, DOCVL_OK);
    g_assert_cmpint(l.n_lines, ==, 8);   /* phototest.gt.txt */
    g_assert_cmpint(up.w, >, up.h);
    dv_layout_free(&l);
    dv_image_free(&up);
    dv_image_free(&im);
}

static void test_turned_pages(void)
{
    check("corpus/images/phototest.tif", 0);
    check("corpus/images/phototest-rotated-L.png", 90);
    check("corpus/images/phototest-rotated-180.png", 180);
    check("corpus/images/phototest-rotated-R.png", 270);
}

static void test_rotate_pixels(void)
{
    dv_image a, b;
    dv_err e = {0};
    g_assert_cmpint(dv_image_alloc(&a, 3, 2, &e), ==, DOCVL_OK);
    for (int i = 0; i < 18; i++)
        a.rgb[i] = (uint8_t)i;
    g_assert_cmpint(dv_orient_rotate(&a, 90, &b, &e), ==, DOCVL_OK);
    g_assert_cmpint(b.w, ==, 2);
    g_assert_cmpint(b.h, ==, 3);
    /* Clockwise: the bottom-left pixel (0, 1) goes to the top left. */
    g_assert_cmpint(b.rgb[0], ==, a.rgb[(1 * 3 + 0) * 3]);
    g_assert_cmpint(b.rgb[3], ==, a.rgb[0]);
    dv_image_free(&b);
    g_assert_cmpint(dv_orient_rotate(&a, 45, &b, &e), ==, DOCVL_EINVAL);
    /* Four quarter turns give the image back. */
    dv_image c = a, d;
    for (int t = 0; t < 4; t++) {
        g_assert_cmpint(dv_orient_rotate(&c, 90, &d, &e), ==, DOCVL_OK);
        if (c.rgb != a.rgb)
            dv_image_free(&c);
        c = d;
    }
    g_assert_cmpmem(c.rgb, 18, a.rgb, 18);
    dv_image_free(&c);
    dv_image_free(&a);
}

/* A landscape table of figures (camelot's m27.pdf) has no ascender and
 * descender statistics to speak of: it must stay as it is. */
static void test_table_not_turned(void)
{
    dv_image im = load("corpus/tables/m27.pdf");
    int deg = -1;
    dv_err e = {0};
    g_assert_cmpint(dv_orient_detect(&im, &deg, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpint(deg, ==, 0);
    dv_image_free(&im);
}

/* A page of glyph lines descending 2 degrees to the right: the layout
 * finds the skew, and the deskewed page's lines are level, about a glyph
 * high each instead of the 50 pixels their slope spans. */
static void test_deskew(void)
{
    dv_image im = glyph_page(1400, 700);
    for (int l = 0; l < 8; l++)
        glyph_draw_sloped(&im, 60, 80 + 60 * l, GLYPH_H,
                          "the quick brown fox jumps over the lazy dog again",
                          tan(2 * M_PI / 180));
    dv_err e = { 0 };
    dv_layout l;
    g_assert_cmpint(dv_layout_analyze(&im, NULL, &l, &e), ==, DOCVL_OK);
    g_assert_true(l.deskewed);
    g_assert_cmpfloat(fabs(l.skew_deg - 2), <, 0.3);
    dv_image level;
    g_assert_cmpint(dv_orient_deskew(&im, l.skew_deg, &level, &e), ==, DOCVL_OK);
    dv_layout_free(&l);
    g_assert_cmpint(dv_layout_analyze(&level, NULL, &l, &e), ==, DOCVL_OK);
    g_assert_false(l.deskewed);
    g_assert_cmpint(l.n_lines, ==, 8);
    for (int i = 0; i < l.n_lines; i++)
        g_assert_cmpint(dv_box_h(l.lines[i]), <=, GLYPH_H + 8);
    dv_layout_free(&l);
    dv_image_free(&level);
    dv_image_free(&im);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/orient/rotate-pixels", test_rotate_pixels);
    g_test_add_func("/orient/turned-pages", test_turned_pages);
    g_test_add_func("/orient/table-not-turned", test_table_not_turned);
    g_test_add_func("/orient/deskew", test_deskew);
    return g_test_run();
}
