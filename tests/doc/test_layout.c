/* Layout analysis on scans with known structure: line counts against the
 * transcriptions, two columns on the Linn brochure, skew on its skewed scan,
 * and boxes in the coordinates of the original page. */
#include <math.h>
#include <string.h>

#include "doc/document.h"
#include "doc/layout.h"
#include "glyphpage.h"
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

/* Where line i of l stands: 0 in the left column (ending left of the
 * gutter at x), 1 in the right one (starting right of it), -1 across it. */
static int column_of(const dv_layout *l, int i, int x)
{
    dv_box b = l->lines[i];
    return b.x1 <= x ? 0 : b.x0 >= x ? 1 : -1;
}

/* No line of the right column comes before one of the left column, among
 * the lines between rows y0 and y1; returns how many lines each column
 * has there. */
static void assert_column_by_column(const dv_layout *l, int gutter, int y0, int y1, int *n)
{
    int seen_right = 0;
    n[0] = n[1] = 0;
    for (int i = 0; i < l->n_lines; i++) {
        if (l->lines[i].y0 < y0 || l->lines[i].y1 > y1)
            continue;
        int c = column_of(l, i, gutter);
        if (c < 0)
            continue;
        if (c == 0 && seen_right)
            g_error("line %d (%d,%d) of the left column comes after the right column's", i,
                    l->lines[i].x0, l->lines[i].y0);
        seen_right |= c == 1;
        n[c]++;
    }
}

/* Two columns of glyph lines with a picture across the gutter and a
 * caption under it, also across: no X-Y cut divides them, and the left
 * column is still read before the right one. */
static void test_columns_around_picture(void)
{
    dv_image im = glyph_page(1300, 1500);
    for (int r = 0; r < 30; r++) {
        int y = 60 + 44 * r;
        int beside = y + GLYPH_H > 480 && y < 850;   /* rows beside picture or caption */
        glyph_draw(&im, 60, y, GLYPH_H, beside ? "the lazy dog jumps" : "the quick brown fox jumps");
        glyph_draw(&im, beside ? 900 : 760, y, GLYPH_H,
                   beside ? "a fox and the dog" : "over the lazy dog and fox");
    }
    glyph_fill(&im, 440, 480, 820, 790);
    glyph_draw(&im, 450, 810, GLYPH_H, "a caption of the picture");
    dv_layout l;
    dv_err e = { 0 };
    g_assert_cmpint(dv_layout_analyze(&im, NULL, &l, &e), ==, DOCVL_OK);
    check_structure(&l);
    g_assert_cmpint(l.n_lines, ==, 61);
    g_assert_cmpint(l.n_columns, ==, 2);
    int n[2];
    assert_column_by_column(&l, 630, 0, 1500, n);
    g_assert_cmpint(n[0], ==, 30);
    g_assert_cmpint(n[1], ==, 30);
    dv_layout_free(&l);
    dv_image_free(&im);
}

/* A ruled table of short cells, which no cut divides either (the rules
 * span the columns), is still read row by row. */
static void test_table_rows(void)
{
    dv_image im = glyph_page(1000, 600);
    for (int r = 0; r < 6; r++) {
        int y = 60 + 60 * r;
        glyph_fill(&im, 50, y - 12, 950, y - 9);
        glyph_draw(&im, 60, y, GLYPH_H, "cell one");
        glyph_draw(&im, 400, y, GLYPH_H, "12.50");
        glyph_draw(&im, 700, y, GLYPH_H, "a b c");
    }
    dv_layout l;
    dv_err e = { 0 };
    g_assert_cmpint(dv_layout_analyze(&im, NULL, &l, &e), ==, DOCVL_OK);
    g_assert_cmpint(l.n_lines, ==, 18);
    for (int i = 1; i < l.n_lines; i++)
        g_assert_cmpint(l.lines[i].y0, >=, l.lines[i - 1].y0);
    dv_layout_free(&l);
    dv_image_free(&im);
}

/* A rule drawn in pieces (dashes of two character widths, 3 px high, as
 * a hatched bar's strokes or a scanner edge's specks) holds no letter and
 * is no text line; a lone dash as a table cell's entry still is. */
static void test_rule_lines(void)
{
    dv_image im = glyph_page(1000, 700);
    for (int x = 60; x + 2 * GLYPH_H <= 60 + 14 * GLYPH_H; x += 2 * GLYPH_H + GLYPH_H / 2)
        glyph_fill(&im, x, 30, x + 2 * GLYPH_H, 33);
    for (int r = 0; r < 10; r++)
        glyph_draw(&im, 60, 80 + 50 * r, GLYPH_H, "the quick brown fox jumps");
    glyph_fill(&im, 400, 620, 400 + 2 * GLYPH_H - 8, 623);   /* a dash alone */
    dv_layout l;
    dv_err e = { 0 };
    g_assert_cmpint(dv_layout_analyze(&im, NULL, &l, &e), ==, DOCVL_OK);
    check_structure(&l);
    g_assert_cmpint(l.n_lines, ==, 11);
    for (int i = 0; i < l.n_lines; i++)
        g_assert_cmpint(l.lines[i].y0, >, 40);
    dv_layout_free(&l);
    dv_image_free(&im);
}

/* UNLV's magazine page: two justified columns, a photograph and its
 * caption across the gutter. Each column is read whole, left then right;
 * lines split at the wide spaces of justified lines or by a lone quotation
 * mark are joined (the transcription has 115 lines, counting the page's
 * foot and the caption's seven). */
static void test_magazine_columns(void)
{
    dv_image page;
    dv_layout l;
    analyze("corpus/images/8087_054.3B.tif", &page, &l);
    check_structure(&l);
    g_assert_cmpint(l.n_lines, >=, 110);
    g_assert_cmpint(l.n_lines, <=, 126);
    g_assert_cmpint(l.n_columns, ==, 2);
    int n[2];
    /* the body lies between rows 600 and 3150, the gutter at x 1270 */
    assert_column_by_column(&l, 1270, 600, 3150, n);
    g_assert_cmpint(n[0], >=, 45);
    g_assert_cmpint(n[1], >=, 45);
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
    g_test_add_func("/layout/columns-around-picture", test_columns_around_picture);
    g_test_add_func("/layout/table-rows", test_table_rows);
    g_test_add_func("/layout/magazine-columns", test_magazine_columns);
    g_test_add_func("/layout/rule-lines", test_rule_lines);
    g_test_add_func("/layout/blank-and-bad", test_blank_and_bad);
    return g_test_run();
}
