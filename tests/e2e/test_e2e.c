/* End to end through the built-in model (model/, found without --model or
 * DOCVL_MODEL): pages drawn in held-out fonts, made to look scanned, read
 * by the docvl command and judged by character error rate (whitespace
 * folded), reading order, GFM table shape and hOCR boxes on the ink. The
 * bounds are in e2e_limits.h; every test prints what it measured (in
 * build/meson-logs/testlog.txt). E2E_KEEP=1 keeps the drawn pages and
 * prints where. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/clitest.h"
#include "docvl.h"
#include "e2e_limits.h"
#include "e2epage.h"
#include "ocreval/cer.h"
#include "train/render_line.h"

#define DPI 200.0

/* Prose written for these tests (in no training corpus). */
static const char *const PROSE[] = {
    "The harbour office opens at nine in the morning and closes at five. Visitors who arrive "
    "after hours should leave their papers with the night clerk, who will stamp each form and "
    "return a receipt by post within three working days.",
    "Fresh water is stored in two tanks behind the pump house. The larger tank holds enough for "
    "a week of normal use, and the smaller one is kept full for fires. Both are cleaned every "
    "spring before the fishing season begins.",
    "Each member of the club may borrow four books at a time. Books must be returned within a "
    "month, or the member pays a small fine for every week they are late. Maps and old records "
    "stay in the reading room.",
    "The new bridge across the river was finished last October after two years of work. It "
    "carries a road, a railway line and a path for walkers, and its lamps are lit from dusk "
    "until midnight.",
};

static struct dv_fonts *fonts;
static char *skip_reason;

/* The test's own files, removed at the end. */
static char *tmp;

static char *tmp_path(const char *name)
{
    return g_build_filename(tmp, name, NULL);
}

static int needs_model(void)
{
    if (skip_reason) {
        g_test_skip(skip_reason);
        return 0;
    }
    return 1;
}

static double cer(const char *ref, const char *hyp)
{
    dv_cer c = { 0 };
    g_assert_cmpint(dv_cer_add(ref, hyp, &c), ==, 0);
    return dv_cer_rate(c.char_errors, c.chars);
}

static void report(const char *what, double value, double bound)
{
    g_test_message("%s: %.4f (bound %.2f)", what, value, bound);
}

/* The CER of text against truth, printed and held to at most bound. */
static double assert_cer(const char *what, const char *truth, const char *text, double bound)
{
    double c = cer(truth, text);
    report(what, c, bound);
    g_assert_cmpfloat(c, <=, bound);
    return c;
}

/* A letter-wide page of the given paragraphs in held-out font `family`. */
static dv_image prose_page(int first, int n, int family, double h_in, uint64_t seed,
                           GString *truth)
{
    e2e_page p;
    e2e_page_begin(&p, 8.5, h_in, DPI, fonts, family, 12);
    double y = 1.0;
    for (int i = 0; i < n; i++)
        y = e2e_page_para(&p, 1.0, y, 6.5, PROSE[(first + i) % G_N_ELEMENTS(PROSE)], truth) + 0.2;
    g_array_free(p.words, TRUE);
    return e2e_page_end(&p, 0.5, seed);
}

/* docvl's output, checked for success: exit 0 and nothing reported (a
 * failed or looping segment would be, with status 5). */
static cli_result read_ok(cli_result r)
{
    if (r.status != 0 || r.err[0])
        g_error("docvl exited %d: %s", r.status, r.err);
    return r;
}

/* (a) A scanned page: an image-only PDF at 200 dpi, read to text. */
static void test_page(void)
{
    if (!needs_model())
        return;
    GString *truth = g_string_new(NULL);
    dv_image im = prose_page(0, 3, 0, 5.0, 1, truth);
    char *pdf = tmp_path("page.pdf");
    e2e_write_scan_pdf(pdf, &im, 1, DPI);
    cli_result r = read_ok(CLI(NULL, pdf));
    assert_cer("page CER", truth->str, r.out, E2E_MAX_CER_PAGE);
    cli_result_free(&r);
    dv_image_free(&im);
    g_string_free(truth, TRUE);
    g_free(pdf);
}

/* (b) Two columns: the left one is read before the right one. */
static void test_columns(void)
{
    if (!needs_model())
        return;
    GString *left = g_string_new(NULL), *right = g_string_new(NULL);
    e2e_page p;
    e2e_page_begin(&p, 8.5, 4.5, DPI, fonts, 1, 12);
    e2e_page_para(&p, 0.8, 1.0, 3.2, PROSE[1], left);
    e2e_page_para(&p, 4.5, 1.0, 3.2, PROSE[2], right);
    g_array_free(p.words, TRUE);
    dv_image im = e2e_page_end(&p, 0.5, 2);
    char *png = tmp_path("columns.png");
    e2e_write_png(png, &im);
    cli_result r = read_ok(CLI(NULL, png));
    char *lr = g_strconcat(left->str, right->str, NULL);
    char *rl = g_strconcat(right->str, left->str, NULL);
    double in_order = assert_cer("two columns, CER in reading order", lr, r.out,
                                 E2E_MAX_CER_COLUMNS);
    double reversed = cer(rl, r.out);
    g_test_message("two columns, CER right column first: %.4f", reversed);
    /* the order is what tells the two apart: interleaved lines would be
     * far from both */
    g_assert_cmpfloat(in_order, <, reversed - 0.2);
    cli_result_free(&r);
    dv_image_free(&im);
    g_free(lr), g_free(rl), g_free(png);
    g_string_free(left, TRUE);
    g_string_free(right, TRUE);
}

static const char *const TABLE[4][3] = {
    { "Item", "Count", "Price" },
    { "apples", "12", "3.40" },
    { "bread", "2", "2.15" },
    { "candles", "30", "9.90" },
};

/* The cells of a GFM table's rows (header, then body), the separator row
 * left out: rows of cells, each stripped. */
static GPtrArray *gfm_rows(const char *md)
{
    GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    char **lines = g_strsplit(md, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *s = g_strstrip(*l);
        if (s[0] != '|' || strspn(s, "|-: ") == strlen(s))
            continue;
        s[strlen(s) - 1] = s[strlen(s) - 1] == '|' ? '\0' : s[strlen(s) - 1];
        char **cells = g_strsplit(s + 1, "|", -1);
        for (char **c = cells; *c; c++)
            g_strstrip(*c);
        g_ptr_array_add(rows, cells);
    }
    g_strfreev(lines);
    return rows;
}

/* (c) A table read to GFM: its rows and columns, its cells' text. */
static void test_table(void)
{
    if (!needs_model())
        return;
    e2e_page p;
    e2e_page_begin(&p, 8.5, 5.0, DPI, fonts, 0, 12);
    /* prose above, as tables stand in documents: the page's usual line
     * height is a line of text, not a cell of one short word */
    GString *prose = g_string_new(NULL);
    double y = e2e_page_para(&p, 1.0, 1.0, 6.5, PROSE[0], prose) + 0.3;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            e2e_page_text_at(&p, 1.0 + 2.0 * c, y + 0.25 * r, TABLE[r][c]);
    g_array_free(p.words, TRUE);
    dv_image im = e2e_page_end(&p, 0.5, 3);
    char *png = tmp_path("table.png");
    e2e_write_png(png, &im);
    cli_result r = read_ok(CLI(NULL, "-f", "md", png));
    g_test_message("%s", r.out);
    GPtrArray *rows = gfm_rows(r.out);
    g_assert_cmpuint(rows->len, ==, 4);
    GString *want = g_string_new(NULL), *got = g_string_new(NULL);
    for (guint i = 0; i < rows->len; i++) {
        char **cells = rows->pdata[i];
        g_assert_cmpuint(g_strv_length(cells), ==, 3);
        for (int c = 0; c < 3; c++) {
            g_string_append_printf(want, "%s\n", TABLE[i][c]);
            g_string_append_printf(got, "%s\n", cells[c]);
        }
    }
    assert_cer("table cells CER", want->str, got->str, E2E_MAX_CER_TABLE_CELLS);
    g_string_free(want, TRUE);
    g_string_free(got, TRUE);
    g_string_free(prose, TRUE);
    g_ptr_array_free(rows, TRUE);
    cli_result_free(&r);
    dv_image_free(&im);
    g_free(png);
}

/* The ocrx_word boxes of an hOCR document. */
static GArray *hocr_words(const char *hocr)
{
    GArray *boxes = g_array_new(FALSE, FALSE, sizeof(e2e_box));
    for (const char *s = hocr; (s = strstr(s, "ocrx_word")); s++) {
        const char *b = strstr(s, "bbox ");
        int x0, y0, x1, y1;
        g_assert_nonnull(b);
        g_assert_cmpint(sscanf(b, "bbox %d %d %d %d", &x0, &y0, &x1, &y1), ==, 4);
        e2e_box box = { x0, y0, x1 - x0, y1 - y0 };
        g_array_append_val(boxes, box);
    }
    return boxes;
}

static long overlap(const e2e_box *a, const e2e_box *b)
{
    long w = MIN(a->x + a->w, b->x + b->w) - MAX(a->x, b->x);
    long h = MIN(a->y + a->h, b->y + b->h) - MAX(a->y, b->y);
    return w > 0 && h > 0 ? w * h : 0;
}

/* The share of boxes in a that lie at least half on the boxes of b (which
 * do not overlap one another): a box of two words read as one lies on both. */
static double share_on(const GArray *a, const GArray *b)
{
    int on = 0;
    for (guint i = 0; i < a->len; i++) {
        const e2e_box *x = &g_array_index(a, e2e_box, i);
        long covered = 0;
        for (guint j = 0; j < b->len; j++)
            covered += overlap(x, &g_array_index(b, e2e_box, j));
        on += 2 * covered >= (long)x->w * x->h;
    }
    return a->len ? (double)on / a->len : 0;
}

/* The share of boxes in a that some box of b overlaps. */
static double share_touched(const GArray *a, const GArray *b)
{
    int hit = 0;
    for (guint i = 0; i < a->len; i++)
        for (guint j = 0; j < b->len; j++)
            if (overlap(&g_array_index(a, e2e_box, i), &g_array_index(b, e2e_box, j)) > 0) {
                hit++;
                break;
            }
    return a->len ? (double)hit / a->len : 0;
}

/* (d) hOCR: the word boxes docvl reports lie on the drawn words' ink. */
static void test_hocr_boxes(void)
{
    if (!needs_model())
        return;
    GString *truth = g_string_new(NULL);
    e2e_page p;
    e2e_page_begin(&p, 8.5, 3.0, DPI, fonts, 2, 12);
    e2e_page_para(&p, 1.0, 1.0, 6.5, PROSE[3], truth);
    GArray *drawn = p.words;
    dv_image im = e2e_page_end(&p, 0.5, 4);
    char *png = tmp_path("hocr.png");
    e2e_write_png(png, &im);
    cli_result r = read_ok(CLI(NULL, "-f", "hocr", png));
    GArray *read = hocr_words(r.out);
    g_assert_cmpuint(read->len, >, 0);
    double on_ink = share_on(read, drawn), covered = share_touched(drawn, read);
    g_test_message("%u words drawn, %u boxes read", drawn->len, read->len);
    report("hOCR boxes on a drawn word", on_ink, E2E_MIN_HOCR_ON_INK);
    report("drawn words under a box", covered, E2E_MIN_HOCR_COVERED);
    g_assert_cmpfloat(on_ink, >=, E2E_MIN_HOCR_ON_INK);
    g_assert_cmpfloat(covered, >=, E2E_MIN_HOCR_COVERED);
    g_array_free(read, TRUE);
    g_array_free(drawn, TRUE);
    cli_result_free(&r);
    dv_image_free(&im);
    g_string_free(truth, TRUE);
    g_free(png);
}

/* (e) A page image on stdin, its text on stdout: the same as from a file. */
static void test_stdin(void)
{
    if (!needs_model())
        return;
    GString *truth = g_string_new(NULL);
    dv_image im = prose_page(2, 1, 1, 2.5, 5, truth);
    char *png = tmp_path("stdin.png");
    e2e_write_png(png, &im);
    cli_result piped = read_ok(CLI(png, "-"));
    cli_result named = read_ok(CLI(NULL, png));
    g_assert_cmpstr(piped.out, ==, named.out);
    assert_cer("stdin CER", truth->str, piped.out, E2E_MAX_CER_STDIN);
    cli_result_free(&piped);
    cli_result_free(&named);
    dv_image_free(&im);
    g_string_free(truth, TRUE);
    g_free(png);
}

/* (f) A scanned PDF of three pages: each read, in order, one form feed after
 * each. */
static void test_multipage_pdf(void)
{
    if (!needs_model())
        return;
    enum { PAGES = 3 };
    GString *truth[PAGES];
    dv_image im[PAGES];
    for (int i = 0; i < PAGES; i++) {
        truth[i] = g_string_new(NULL);
        im[i] = prose_page(i, 1, i, 2.5, 10 + (uint64_t)i, truth[i]);
    }
    char *pdf = tmp_path("pages.pdf");
    e2e_write_scan_pdf(pdf, im, PAGES, DPI);
    cli_result r = read_ok(CLI(NULL, pdf));
    g_assert_cmpint(count_char(r.out, '\f'), ==, PAGES);
    char **pages = g_strsplit(r.out, "\f", -1);
    for (int i = 0; i < PAGES; i++) {
        char *what = g_strdup_printf("PDF page %d CER", i + 1);
        double own = assert_cer(what, truth[i]->str, pages[i], E2E_MAX_CER_PDF_PAGE);
        /* in order: each page's text is nearer its own page than the others */
        for (int j = 0; j < PAGES; j++)
            if (j != i)
                g_assert_cmpfloat(own, <, cer(truth[j]->str, pages[i]));
        g_free(what);
    }
    g_strfreev(pages);
    for (int i = 0; i < PAGES; i++) {
        g_string_free(truth[i], TRUE);
        dv_image_free(&im[i]);
    }
    cli_result_free(&r);
    g_free(pdf);
}

/* A real scan read with no model named, against its transcription. */
static void read_scan(const char *input, const char *truth_path, const char *what, double bound)
{
    char *truth = NULL;
    GError *ge = NULL;
    g_assert_true(g_file_get_contents(truth_path, &truth, NULL, &ge));
    cli_result r = read_ok(CLI(NULL, input));
    assert_cer(what, truth, r.out, bound);
    cli_result_free(&r);
    g_free(truth);
}

/* What scripts/quickstart reads: the bundled scanned page. */
static void test_sample_scan(void)
{
    if (!needs_model())
        return;
    char *scan = sample("scan.pdf"), *gt = test_data("corpus/scanned/linn.gt.txt");
    read_scan(scan, gt, "samples/scan.pdf CER", E2E_MAX_CER_SAMPLE_SCAN);
    g_free(scan), g_free(gt);
}

static void test_phototest(void)
{
    if (!needs_model())
        return;
    char *tif = test_data("corpus/images/phototest.tif");
    char *gt = test_data("corpus/images/phototest.gt.txt");
    read_scan(tif, gt, "phototest.tif CER", E2E_MAX_CER_PHOTOTEST);
    g_free(tif), g_free(gt);
}

/* docvl --info names the model it found without being told. */
static void test_info(void)
{
    if (!needs_model())
        return;
    cli_result r = read_ok(CLI(NULL, "--info"));
    g_assert_nonnull(strstr(r.out, docvl_builtin_model()));
    g_assert_nonnull(strstr(r.out, "(built in)"));
    cli_result_free(&r);
}

/* The built-in model reads lines and was never taught to answer: --ask is
 * refused with the usage status and a message saying why. */
static void test_ask_refused(void)
{
    if (!needs_model())
        return;
    char *scan = sample("scan.pdf");
    cli_result r = CLI(NULL, "--ask", "What is this?", scan);
    g_assert_cmpint(r.status, ==, 2);
    g_assert_nonnull(strstr(r.err, "cannot answer questions"));
    g_assert_cmpuint(r.out_len, ==, 0);
    cli_result_free(&r);
    g_free(scan);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* the built-in model, whatever the caller's environment names */
    g_unsetenv("DOCVL_MODEL");
    if (!docvl_builtin_model())
        skip_reason = g_strdup("no built-in model (model/ holds none)");
    else
        fonts = e2e_fonts(&skip_reason);
    tmp = test_tmpdir();
    g_test_add_func("/e2e/page", test_page);
    g_test_add_func("/e2e/columns", test_columns);
    g_test_add_func("/e2e/table-md", test_table);
    g_test_add_func("/e2e/hocr-boxes", test_hocr_boxes);
    g_test_add_func("/e2e/stdin", test_stdin);
    g_test_add_func("/e2e/multipage-pdf", test_multipage_pdf);
    g_test_add_func("/e2e/sample-scan", test_sample_scan);
    g_test_add_func("/e2e/phototest", test_phototest);
    g_test_add_func("/e2e/ask-refused", test_ask_refused);
    g_test_add_func("/e2e/info", test_info);
    int rc = g_test_run();
    if (!g_getenv("E2E_KEEP"))
        test_rmtree(tmp);
    else
        printf("# files kept in %s\n", tmp);
    g_free(tmp);
    g_free(skip_reason);
    if (fonts)
        dv_fonts_free(fonts);
    return rc;
}
