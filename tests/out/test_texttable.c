/* Tables found in text-layer word boxes (doc/tables.h) and written as GFM
 * by the Markdown writer. Pages are built from word boxes the way the
 * pipeline builds them (dv_pipeline_text_page), in pixels: words 20 px
 * high, 10 px a character, 5 px word spaces. */
#include <limits.h>
#include <string.h>

#include "doc/tables.h"
#include "out/writer.h"
#include "pipeline/text.h"
#include "testutil.h"

#define CH 10   /* width of a character */
#define SP 5    /* a word space */
#define LH 20   /* word height */

typedef struct words {
    GArray *w;  /* of dv_word */
} words;

static void word_at(words *ws, const char *text, int x0, int y0, int x1, int y1)
{
    dv_word w = { g_strdup(text), { x0, y0, x1, y1 }, 0 };
    g_array_append_val(ws->w, w);
}

/* One word per space-separated part of text, from x at line y; returns
 * the x where the text ends. */
static int text_at(words *ws, const char *text, int x, int y)
{
    char **parts = g_strsplit(text, " ", -1);
    for (char **p = parts; *p; p++) {
        if (!**p)
            continue;
        int w = (int)g_utf8_strlen(*p, -1) * CH;
        word_at(ws, *p, x, y, x + w, y + LH);
        x += w + SP;
    }
    g_strfreev(parts);
    return x - SP;
}

/* text ending at x (right-aligned numbers) */
static void text_right(words *ws, const char *text, int x, int y)
{
    int w = (int)g_utf8_strlen(text, -1) * CH + SP * (int)(strchr(text, ' ') != NULL);
    text_at(ws, text, x - w, y);
}

static void page_of(words *ws, dv_page_result *p)
{
    dv_page_text t = { 0 };
    t.words = (dv_word *)ws->w->data;
    t.n_words = (int)ws->w->len;
    dv_page_init(p, 1, 1000, 1400, 100);
    dv_pipeline_text_page(&t, p);
    for (guint i = 0; i < ws->w->len; i++)
        g_free(g_array_index(ws->w, dv_word, i).text);
    g_array_free(ws->w, TRUE);
}

/* p written in fmt, its tables found first when text_tables asks for them,
 * as the pipeline does (the writers only format what the page carries). */
static char *written(dv_format fmt, const dv_page_result *p, int text_tables)
{
    GString *out = g_string_new(NULL);
    dv_sink sink = { dv_sink_gstring, out };
    dv_writer_options opt = { 0 };
    dv_writer *w = NULL;
    dv_err e = { 0 };
    dv_page_result q = *p;
    memset(&q.tables, 0, sizeof q.tables);
    if (text_tables)
        g_assert_cmpint(dv_text_tables_find(&q, &q.tables, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_writer_new(fmt, sink, &opt, &w, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_writer_page(w, &q, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_writer_finish(w, &e), ==, DOCVL_OK);
    dv_writer_free(w);
    dv_page_tables_free(&q.tables);
    return g_string_free(out, FALSE);
}

static char *markdown(const dv_page_result *p, int text_tables)
{
    return written(DV_FMT_MARKDOWN, p, text_tables);
}

static int count_tables(const dv_page_result *p)
{
    dv_page_tables tt;
    dv_err e = { 0 };
    g_assert_cmpint(dv_text_tables_find(p, &tt, &e), ==, DOCVL_OK);
    int n = tt.n_tables;
    dv_page_tables_free(&tt);
    return n;
}

static const char para1[] = "The harvest was good this year and the prices";
static const char para1b[] = "stayed close to those of the last season.";
static const char para2[] = "Prices are in euros per kilogram at the market.";

/* A paragraph, a 4 x 3 table (a two-word cell, right-aligned numbers, an
 * empty cell), a paragraph. */
static void table_page(dv_page_result *p, const char *fruit)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, para1b, 100, 125);
    static const char *const rows[][3] = {
        { "Fruit", "Count", "Price" },
        { NULL, "12", "1.50" },
        { "Pears", "7", "" },
        { "Dried plums", "130", "12.25" },
    };
    for (int r = 0; r < 4; r++) {
        int y = 200 + 25 * r;
        text_at(&ws, rows[r][0] ? rows[r][0] : fruit, 100, y);
        text_right(&ws, rows[r][1], 450, y);
        if (*rows[r][2])
            text_right(&ws, rows[r][2], 700, y);
    }
    text_at(&ws, para2, 100, 350);
    page_of(&ws, p);
}

static void test_table_between_paragraphs(void)
{
    dv_page_result p;
    table_page(&p, "Apples");
    g_assert_cmpint(count_tables(&p), ==, 1);
    char *md = markdown(&p, 1);
    g_assert_cmpstr(md, ==,
                    "<!-- page 1 -->\n\n"
                    "The harvest was good this year and the prices\n"
                    "stayed close to those of the last season.\n\n"
                    "| Fruit | Count | Price |\n"
                    "| --- | --- | --- |\n"
                    "| Apples | 12 | 1.50 |\n"
                    "| Pears | 7 |  |\n"
                    "| Dried plums | 130 | 12.25 |\n\n"
                    "Prices are in euros per kilogram at the market.\n");
    g_free(md);
    /* off: the words as lines, as before */
    md = markdown(&p, 0);
    g_assert_null(strstr(md, "| --- |"));
    g_assert_nonnull(strstr(md, "Dried plums 130 12.25\n"));
    g_free(md);
    dv_page_clear(&p);
}

/* hOCR: the table's box as an ocr_table area, its words still in their
 * blocks; none when table detection is off. */
static void test_hocr_table_area(void)
{
    dv_page_result p;
    table_page(&p, "Apples");
    char *h = written(DV_FMT_HOCR, &p, 1);
    g_assert_nonnull(strstr(h, "<div class=\"ocr_table\" id=\"table_1_1\" title=\"bbox 100 200 700 295\"></div>"));
    g_assert_nonnull(strstr(h, ">Pears</span>"));
    g_free(h);
    h = written(DV_FMT_HOCR, &p, 0);
    g_assert_null(strstr(h, "class=\"ocr_table\""));
    g_free(h);
    dv_page_clear(&p);
}

static void test_pipes_escaped(void)
{
    dv_page_result p;
    table_page(&p, "A|B");
    char *md = markdown(&p, 1);
    g_assert_nonnull(strstr(md, "| A\\|B | 12 | 1.50 |\n"));
    g_free(md);
    dv_page_clear(&p);
}

/* A header cell over both number columns (repeated in each, as model
 * HTML colspans are), header cells on two lines, a row label wrapped onto
 * a lower-case second line, and a number with its thousands set apart:
 * each is one cell. */
static void test_structure(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Releases per medium", 402, 200);
    text_at(&ws, "Pollutant", 100, 225);
    text_right(&ws, "to air", 450, 225);
    text_right(&ws, "to water", 600, 225);
    text_right(&ws, "kg/year", 450, 245);
    text_right(&ws, "kg/year", 600, 245);
    static const char *const rows[][3] = {
        { "Carbon dioxide", "15 455", "1.5" },
        { "Nitrous oxides and", "200", "-" },
        { "other compounds", "", "" },
        { "Methane", "100", "12" },
    };
    for (int r = 0; r < 4; r++) {
        int y = 275 + 25 * r;
        text_at(&ws, rows[r][0], 100, y);
        if (*rows[r][1])
            text_right(&ws, rows[r][1], 450, y);
        if (*rows[r][2])
            text_right(&ws, rows[r][2], 600, y);
    }
    text_at(&ws, para2, 100, 450);
    dv_page_result p;
    page_of(&ws, &p);
    char *md = markdown(&p, 1);
    g_test_message("%s", md);
    g_assert_nonnull(strstr(md, "\n\n"
                                "|  | Releases per medium | Releases per medium |\n"
                                "| --- | --- | --- |\n"
                                "| Pollutant | to air kg/year | to water kg/year |\n"
                                "| Carbon dioxide | 15 455 | 1.5 |\n"
                                "| Nitrous oxides and other compounds | 200 | - |\n"
                                "| Methane | 100 | 12 |\n\n"));
    g_free(md);
    dv_page_clear(&p);
}

static const char *const prose[] = {
    "when the rows of a page are read from its text layer",
    "the words come with boxes and the lines they make up",
    "are long and dense so that no gap between them runs",
    "down the page in the same place from one line to the",
    "next one which is what a table would need to be seen",
    "as one by the detector and this is why two columns of",
    "text set side by side must stay two columns of text",
    "even when their lines sit on the same baselines as",
};

/* Two columns of prose on shared baselines: a wide gutter in every row. */
static void test_two_columns_no_table(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    for (int r = 0; r < 24; r++) {
        text_at(&ws, prose[r % 8], 50, 100 + 25 * r);
        text_at(&ws, prose[(r + 3) % 8], 620, 100 + 25 * r);
    }
    dv_page_result p;
    page_of(&ws, &p);
    g_assert_cmpint(count_tables(&p), ==, 0);
    char *md = markdown(&p, 1);
    g_assert_null(strstr(md, "| --- |"));
    g_free(md);
    dv_page_clear(&p);
}

/* One column of prose, a numbered list and a running head and page number
 * (two cells on one row, but one row). */
static void test_paragraph_page_no_table(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, "Annual report", 100, 40);
    text_at(&ws, "7", 880, 40);
    for (int r = 0; r < 8; r++)
        text_at(&ws, prose[r], 100, 100 + 25 * r);
    for (int r = 0; r < 5; r++) {
        char n[8];
        g_snprintf(n, sizeof n, "%d.", r + 1);
        text_at(&ws, n, 100, 350 + 25 * r);
        text_at(&ws, prose[r], 140, 350 + 25 * r);
    }
    dv_page_result p;
    page_of(&ws, &p);
    g_assert_cmpint(count_tables(&p), ==, 0);
    dv_page_clear(&p);
}

/* Zero-width, inverted, overlapping and huge boxes: no crash,
 * every table's cells filled, and pages over the word cap left alone. */
static void test_odd_boxes(void)
{
    dv_page_result p;
    dv_page_init(&p, 1, 100, 100, 72);
    dv_page_block *b = dv_page_add_block(&p, (dv_box){ 0, 0, 1, 1 });
    dv_page_line *l = dv_page_block_add_line(b, (dv_box){ 0, 0, 1, 1 });
    GRand *rng = g_rand_new_with_seed(7);
    for (int i = 0; i < 6000; i++) {
        int x = g_rand_int_range(rng, -1000000, 1000000), y = g_rand_int_range(rng, 0, 50) * 10;
        int w = (i % 5 == 0) ? 0 : g_rand_int_range(rng, -5, 300);
        dv_box r = { x, y, x + w, y + (i % 7 == 0 ? 0 : 12) };
        /* far outside any page, yet sums of two coordinates still fit */
        if (i % 97 == 0)
            r.x1 = INT_MAX / 4;
        if (i % 101 == 0)
            r.y0 = INT_MIN / 4;
        dv_page_line_add_word(l, i % 3 ? "12" : "a|b", i % 3 ? 2 : 3, r);
    }
    dv_page_tables tt;
    dv_err e = { 0 };
    g_assert_cmpint(dv_text_tables_find(&p, &tt, &e), ==, DOCVL_OK);
    for (int t = 0; t < tt.n_tables; t++)
        for (int k = 0; k < tt.tables[t].n_rows * tt.tables[t].n_cols; k++)
            g_assert_nonnull(tt.tables[t].cells[k]);
    dv_page_tables_free(&tt);
    char *md = markdown(&p, 1);
    g_assert_nonnull(md);
    g_free(md);
    /* past the cap: never a table, even of a perfect grid */
    dv_page_clear_content(&p);
    b = dv_page_add_block(&p, (dv_box){ 0, 0, 1, 1 });
    l = dv_page_block_add_line(b, (dv_box){ 0, 0, 1, 1 });
    for (int i = 0; i <= DV_TEXT_TABLE_MAX_WORDS; i++) {
        int x = (i % 4) * 200, y = (i / 4) * 25;
        dv_page_line_add_word(l, "42", 2, (dv_box){ x, y, x + 20, y + 20 });
    }
    g_assert_cmpint(count_tables(&p), ==, 0);
    dv_page_clear(&p);
    g_rand_free(rng);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/texttable/between_paragraphs", test_table_between_paragraphs);
    g_test_add_func("/texttable/pipes_escaped", test_pipes_escaped);
    g_test_add_func("/texttable/structure", test_structure);
    g_test_add_func("/texttable/hocr_area", test_hocr_table_area);
    g_test_add_func("/texttable/two_columns", test_two_columns_no_table);
    g_test_add_func("/texttable/paragraph_page", test_paragraph_page_no_table);
    g_test_add_func("/texttable/odd_boxes", test_odd_boxes);
    return g_test_run();
}
