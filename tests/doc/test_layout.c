/* Layout analysis on scans with known structure: line counts against the
 * transcriptions, two columns on the Linn brochure, skew on its skewed scan,
 * and boxes in the coordinates of the original page. */
#include <math.h>
#include <string.h>

#include "doc/document.h"
#include "doc/layout.h"
#include "testutil.h"

static void analyze(const char *rel, dv_image *page, dv_layout *l)
{
    char *path = test_data(rel);
    dv_doc *d = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_doc_open_file(path, NULL, &d, &e), ==, DOCVL_OK);
    dv_rendered_page rp;
    g_assert_cmpint(dv_doc_render_page(d, 0, NULL, &rp, &e), ==, DOCVL_OK);
    int rc = dv_layout_analyze(&rp.image, NULL, l, &e);
    if (rc)
        g_printerr("%s: %s\n", rel, e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    g_assert_cmpint(l->page_w, ==, rp.image.w);
    g_assert_cmpint(l->page_h, ==, rp.image.h);
    *page = rp.image;
    dv_doc_close(d);
    g_free(path);
}

static int count_nonempty_lines(const char *rel)
{
    char *path = test_data(rel);
    gchar *text;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    gchar **lines = g_strsplit(text, "\n", -1);
    int n = 0;
    for (int i = 0; lines[i]; i++)
        n += *g_strstrip(lines[i]) != '\0';
    g_strfreev(lines);
    g_free(text);
    g_free(path);
    return n;
}

/* Every line box lies on the page, boxes are well formed, blocks hold
 * their lines and come in reading order without overlapping. */
static void check_structure(const dv_layout *l)
{
    int total = 0;
    for (int b = 0; b < l->n_blocks; b++) {
        const dv_block *bl = &l->blocks[b];
        g_assert_cmpint(bl->first_line, ==, total);
        total += bl->n_lines;
        for (int i = 0; i < bl->n_lines; i++) {
            dv_box x = l->lines[bl->first_line + i];
            g_assert_false(dv_box_empty(x));
            g_assert_cmpint(x.x0, >=, 0);
            g_assert_cmpint(x.y0, >=, 0);
            g_assert_cmpint(x.x1, <=, l->page_w);
            g_assert_cmpint(x.y1, <=, l->page_h);
            dv_box in = dv_box_intersect(x, bl->box);
            g_assert_cmpint(dv_box_area(in), ==, dv_box_area(x));
        }
    }
    g_assert_cmpint(total, ==, l->n_lines);
}

static void line_count(const char *img, const char *gt)
{
    dv_image page;
    dv_layout l;
    analyze(img, &page, &l);
    check_structure(&l);
    int want = count_nonempty_lines(gt);
    g_assert_cmpint(want, >, 5);
    g_assert_cmpfloat(abs(l.n_lines - want), <=, 0.05 * want);
    g_assert_cmpint(l.n_columns, ==, 1);
    dv_layout_free(&l);
    dv_image_free(&page);
}

static void test_phototest(void)
{
    line_count("corpus/images/phototest.tif", "corpus/images/phototest.gt.txt");
}

static void test_eurotext(void)
{
    line_count("corpus/images/eurotext.tif", "corpus/images/eurotext.gt.txt");
}

/* Share of dark pixels (green < 128) that lie inside some line box. */
static double ink_in_lines(const dv_image *im, const dv_layout *l)
{
    long ink = 0, inside = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            if (im->rgb[((size_t)y * im->w + x) * 3 + 1] >= 128)
                continue;
            ink++;
            for (int i = 0; i < l->n_lines; i++) {
                dv_box b = l->lines[i];
                if (x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1) {
                    inside++;
                    break;
                }
            }
        }
    return ink ? (double)inside / ink : 0;
}

/* The brochure: title, a full-width list, then two columns, then a list. */
static void test_linn_columns(void)
{
    dv_image page;
    dv_layout l;
    analyze("corpus/scanned/linn.pdf", &page, &l);
    check_structure(&l);
    g_assert_cmpint(l.n_columns, ==, 2);
    g_assert_cmpfloat(fabs(l.skew_deg), <, 0.2);
    g_assert_false(l.deskewed);
    /* The ground truth has 82 text lines (OCR-quality transcription). */
    g_assert_cmpint(l.n_lines, >=, 75);
    g_assert_cmpint(l.n_lines, <=, 95);
    g_assert_cmpfloat(ink_in_lines(&page, &l), >, 0.9);
    /* Reading order: a block in the right column never precedes one in the
     * left column at the same height. */
    for (int i = 0; i < l.n_blocks; i++)
        for (int j = i + 1; j < l.n_blocks; j++) {
            dv_box a = l.blocks[i].box, b = l.blocks[j].box;
            int same_rows = a.y0 < b.y1 && b.y0 < a.y1;
            if (same_rows && b.x1 <= a.x0)
                g_assert_not_reached();
        }
    dv_layout_free(&l);
    dv_image_free(&page);
}

/* linn_skew.pdf places the scan with the matrix
 * [611.6731567 -19.9187622 25.7772217 791.5770264 ...] (its content stream):
 * the image's x axis turns by atan(19.9187622 / 611.6731567) = 1.865 degrees,
 * downwards to the right on screen. */
static void test_skew(void)
{
    double truth = atan2(19.9187622, 611.6731567) * 180 / M_PI;
    dv_image page;
    dv_layout l;
    analyze("corpus/scanned/linn_skew.pdf", &page, &l);
    check_structure(&l);
    g_assert_cmpfloat(fabs(l.skew_deg - truth), <, 0.5);
    g_assert_true(l.deskewed);
    g_assert_cmpint(l.n_columns, ==, 2);
    /* Boxes found on the deskewed copy, mapped back, still hold the ink. */
    g_assert_cmpfloat(ink_in_lines(&page, &l), >, 0.9);
    dv_layout_free(&l);
    dv_image_free(&page);
}

static void test_blank_and_bad(void)
{
    dv_image im;
    dv_err e = {0};
    g_assert_cmpint(dv_image_alloc(&im, 300, 200, &e), ==, DOCVL_OK);
    memset(im.rgb, 255, (size_t)300 * 200 * 3);
    dv_layout l;
    g_assert_cmpint(dv_layout_analyze(&im, NULL, &l, &e), ==, DOCVL_OK);
    g_assert_cmpint(l.n_lines, ==, 0);
    g_assert_cmpint(l.n_blocks, ==, 0);
    dv_layout_free(&l);
    /* One black bar of text height: one line. */
    for (int y = 90; y < 110; y++)
        for (int x = 50; x < 250; x += 12)
            for (int k = 0; k < 8; k++)
                memset(im.rgb + ((size_t)y * 300 + x + k) * 3, 0, 3);
    g_assert_cmpint(dv_layout_analyze(&im, NULL, &l, &e), ==, DOCVL_OK);
    g_assert_cmpint(l.n_lines, ==, 1);
    g_assert_cmpint(l.lines[0].y0, ==, 90);
    g_assert_cmpint(l.lines[0].y1, ==, 110);
    dv_layout_free(&l);
    dv_image_free(&im);
    dv_image empty = {0, 0, NULL};
    g_assert_cmpint(dv_layout_analyze(&empty, NULL, &l, &e), ==, DOCVL_EINVAL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/layout/phototest-lines", test_phototest);
    g_test_add_func("/layout/eurotext-lines", test_eurotext);
    g_test_add_func("/layout/linn-columns", test_linn_columns);
    g_test_add_func("/layout/skew", test_skew);
    g_test_add_func("/layout/blank-and-bad", test_blank_and_bad);
    return g_test_run();
}
