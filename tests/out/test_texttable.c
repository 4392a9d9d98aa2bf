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

/* The page of ws (freed) holds no table. */
static void assert_no_table(words *ws)
{
    dv_page_result p;
    page_of(ws, &p);
    g_assert_cmpint(count_tables(&p), ==, 0);
    dv_page_clear(&p);
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

/* n_rows rows of n_cols cells (row-major, "" for none) from line y, pitch
 * apart: a label from x, then figures ending at right[0 .. n_cols - 2]. */
static void labels_and_figures(words *ws, const char *const *cells, int n_rows, int n_cols,
                               int x, const int *right, int y, int pitch)
{
    for (int r = 0; r < n_rows; r++) {
        const char *const *row = cells + r * n_cols;
        if (*row[0])
            text_at(ws, row[0], x, y + pitch * r);
        for (int c = 1; c < n_cols; c++)
            if (*row[c])
                text_right(ws, row[c], right[c - 1], y + pitch * r);
    }
}

/* ws (page_of takes it) with para2 at para_y below: its Markdown holds
 * each of the strings of expect (NULL-terminated). */
static void assert_markdown_has(words *ws, int para_y, const char *const *expect)
{
    text_at(ws, para2, 100, para_y);
    dv_page_result p;
    page_of(ws, &p);
    char *md = markdown(&p, 1);
    g_test_message("%s", md);
    for (; *expect; expect++)
        g_assert_nonnull(strstr(md, *expect));
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
    static const char *const expect[] = {
        "\n\n"
        "|  | Releases per medium | Releases per medium |\n"
        "| --- | --- | --- |\n"
        "| Pollutant | to air kg/year | to water kg/year |\n"
        "| Carbon dioxide | 15 455 | 1.5 |\n"
        "| Nitrous oxides and other compounds | 200 | - |\n"
        "| Methane | 100 | 12 |\n\n",
        NULL,
    };
    assert_markdown_has(&ws, 450, expect);
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
    assert_no_table(&ws);
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

/* Two tables with the same header, each under a centred title set a line
 * height above it; the first table's last row holds numbers with words.
 * fruit names the second table's first row. */
static void titled_tables_page(dv_page_result *p, const char *title2)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const rows[][3] = {
        { "Apples", "12", "1.50" },  { "Pears", "7", "3.20" },
        { "Plums", "about 130", "about 12" }, { "Leeks", "40", "2.10" },
        { "Onions", "75", "0.90" },  { "Beans", "18", "4.40" },
    };
    for (int t = 0; t < 2; t++) {
        int y = 200 + 160 * t;
        text_at(&ws, t ? title2 : "Fruit prices", 380, y);
        text_at(&ws, "Name", 100, y + 40);
        text_right(&ws, "Count", 450, y + 40);
        text_right(&ws, "Price", 700, y + 40);
        for (int r = 0; r < 3; r++) {
            text_at(&ws, rows[3 * t + r][0], 100, y + 65 + 25 * r);
            text_right(&ws, rows[3 * t + r][1], 450, y + 65 + 25 * r);
            text_right(&ws, rows[3 * t + r][2], 700, y + 65 + 25 * r);
        }
    }
    text_at(&ws, para2, 100, 600);
    page_of(&ws, p);
}

/* A title a line height above a table whose rows are set close is text,
 * not a header row; a second table with the same header starts at its
 * title, and the first keeps its last row even though its cells are not
 * plain numbers. */
static void test_titles(void)
{
    dv_page_result p;
    titled_tables_page(&p, "Vegetable prices");
    g_assert_cmpint(count_tables(&p), ==, 2);
    char *md = markdown(&p, 1);
    g_test_message("%s", md);
    g_assert_null(strstr(md, "| Fruit prices"));
    g_assert_null(strstr(md, "| Vegetable prices"));
    g_assert_nonnull(strstr(md, "\n\n| Name | Count | Price |\n"
                                "| --- | --- | --- |\n"
                                "| Apples | 12 | 1.50 |\n"
                                "| Pears | 7 | 3.20 |\n"
                                "| Plums | about 130 | about 12 |\n\n"));
    g_assert_nonnull(strstr(md, "\n\n| Name | Count | Price |\n"
                                "| --- | --- | --- |\n"
                                "| Leeks | 40 | 2.10 |\n"));
    g_free(md);
    dv_page_clear(&p);
}

/* A cell wrapped over two lines inside a row (its neighbours set in the
 * middle of the row's height) reads line by line, not in x order. */
static void test_two_line_cell(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Name", 100, 200);
    text_right(&ws, "Air", 450, 200);
    text_at(&ws, "Water", 600, 200);
    static const char *const rows[][3] = {
        { "Benzene", "1000", "200 (as" }, { "Toluene", "12", "35" }, { "Xylenes", "8", "14" },
    };
    for (int r = 0; r < 3; r++) {
        int y = 230 + 50 * r;
        text_at(&ws, rows[r][0], 100, y + 10);
        text_right(&ws, rows[r][1], 450, y + 10);
        if (r == 0) {
            /* "200 (as" over "BTEX)", the lower line starting further left */
            text_at(&ws, rows[r][2], 610, y);
            text_at(&ws, "BTEX)", 600, y + 20);
        } else {
            text_at(&ws, rows[r][2], 600, y + 10);
        }
    }
    static const char *const expect[] = {
        "| Benzene | 1000 | 200 (as BTEX) |\n",
        NULL,
    };
    assert_markdown_has(&ws, 450, expect);
}

/* A header under its caption: a spanning header line set as close to the
 * caption as to the header below it stays in the table (a caption's last
 * line is closer to the caption), and a line of years without a row label
 * over labelled data rows is the header's second line, not data. */
static void test_header_under_caption(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, "Table 3. Prices of fruit in two places over two years", 100, 100);
    text_at(&ws, "Prices", 520, 125);
    text_at(&ws, "Name", 100, 150);
    text_right(&ws, "Shop", 550, 150);
    text_right(&ws, "Market", 700, 150);
    text_right(&ws, "1996", 550, 175);
    text_right(&ws, "1997", 700, 175);
    static const char *const rows[][3] = {
        { "Apples", "1.20", "1.10" }, { "Pears", "2.30", "2.00" }, { "Plums", "3.10", "2.90" },
    };
    for (int r = 0; r < 3; r++) {
        text_at(&ws, rows[r][0], 100, 200 + 25 * r);
        text_right(&ws, rows[r][1], 550, 200 + 25 * r);
        text_right(&ws, rows[r][2], 700, 200 + 25 * r);
    }
    static const char *const expect[] = {
        "\n\n|  | Prices |  |\n"
        "| --- | --- | --- |\n"
        "| Name | Shop 1996 | Market 1997 |\n"
        "| Apples | 1.20 | 1.10 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 350, expect);
}

/* Header cells set at the bottom: a line whose cells each keep to their
 * column is the upper line of those cells when the line below fills them
 * and more ("Sample group" and "Total" on the last line). */
static void test_bottom_aligned_header(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Some year", 300, 200);
    text_at(&ws, "No year", 500, 200);
    text_at(&ws, "Sample group", 100, 222);
    text_at(&ws, "Participation", 300, 222);
    text_at(&ws, "Participation", 500, 222);
    text_at(&ws, "Total", 700, 222);
    static const char *const rows[][4] = {
        { "Head start", "79.8%", "20.2%", "100%" },
        { "Control", "13.9%", "86.1%", "100%" },
        { "Others", "50.0%", "50.0%", "100%" },
    };
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            text_at(&ws, rows[r][c], c ? 100 + 200 * c : 100, 250 + 25 * r);
    static const char *const expect[] = {
        "\n\n| Sample group | Some year Participation | "
        "No year Participation | Total |\n"
        "| --- | --- | --- | --- |\n"
        "| Head start | 79.8% | 20.2% | 100% |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* A cell of two lines beside cells set on its middle: its lines overlap
 * the row's line above and below it, and all three are one row. */
static void test_interleaved_cell(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const rows[][4] = {
        { "State", "Tested", "Exempt", "Districts" }, { "NC", "Yes", "No", "5" },
        { "ND", "Yes", "No", "" }, { "OH", "Yes", "Yes", "100" }, { "OK", "Yes", "No", "na" },
    };
    for (int r = 0; r < 5; r++) {
        int y = 200 + 50 * r;
        for (int c = 0; c < 4; c++)
            if (*rows[r][c])
                text_at(&ws, rows[r][c], 100 + 200 * c, y);
        if (r == 2) {
            text_at(&ws, "Respondent", 700, y - 13);
            text_at(&ws, "Not sure", 700, y + 13);
        }
    }
    static const char *const expect[] = {
        "| NC | Yes | No | 5 |\n"
        "| ND | Yes | No | Respondent Not sure |\n"
        "| OH | Yes | Yes | 100 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 450, expect);
}

/* Rows set evenly: a row label's second line alone ("(Douwe Egberts)")
 * is as close to its row as to the next and joins it; a label alone that
 * starts with a capital ("Greece", a row with no data) joins only when
 * clearly closer, so it stays a row here; a section label closer to the
 * rows below it than to the row above stays a row. */
static void test_wrapped_label(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const rows[][3] = {
        { "Brands", "Volume", "Value" },  { "Maison du Cafe", "14.9%", "16.5%" },
        { "(Douwe Egberts)", "", "" },    { "Carte Noire", "17.0%", "16.5%" },
        { "Lavazza", "7.0%", "6.2%" },    { "Greece", "", "" },
        { "Legal", "5.6%", "4.5%" },      { "Projected", "", "" },
        { "Malongo", "3.0%", "3.1%" },    { "Others", "3.3%", "3.4%" },
    };
    for (int r = 0, y = 200; r < 10; r++, y += 25) {
        y += r == 7 ? 20 : 0;
        for (int c = 0; c < 3; c++)
            if (*rows[r][c])
                text_at(&ws, rows[r][c], 100 + 250 * c, y);
    }
    static const char *const expect[] = {
        "| Maison du Cafe (Douwe Egberts) | 14.9% | 16.5% |\n"
        "| Carte Noire | 17.0% | 16.5% |\n",
        "| Lavazza | 7.0% | 6.2% |\n"
        "| Greece |  |  |\n"
        "| Legal | 5.6% | 4.5% |\n"
        "| Projected |  |  |\n"
        "| Malongo | 3.0% | 3.1% |\n",
        NULL,
    };
    assert_markdown_has(&ws, 550, expect);
}

/* A page with a paragraph, two rows set as a table (head over a row
 * label and figures) and a paragraph. */
static void two_row_page(dv_page_result *p, const char *head1, const char *head2)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Product", 100, 200);
    text_right(&ws, head1, 550, 200);
    text_right(&ws, head2, 800, 200);
    text_at(&ws, "Turnover in FFr. m", 100, 230);
    text_right(&ws, "7,581", 550, 230);
    text_right(&ws, "2,517", 800, 230);
    text_at(&ws, para2, 100, 320);
    page_of(&ws, p);
}

/* Two rows make a table when they read as a head of labels over a row
 * label and a figure in every other column; not when the head is figures
 * too (a chart's tick labels beside its axis title). */
static void test_two_rows(void)
{
    dv_page_result p;
    two_row_page(&p, "Roast coffee", "Instant coffee");
    char *md = markdown(&p, 1);
    g_test_message("%s", md);
    g_assert_nonnull(strstr(md, "\n\n| Product | Roast coffee | Instant coffee |\n"
                                "| --- | --- | --- |\n"
                                "| Turnover in FFr. m | 7,581 | 2,517 |\n\n"));
    g_free(md);
    dv_page_clear(&p);
    two_row_page(&p, "0.4", "0.6");
    g_assert_cmpint(count_tables(&p), ==, 0);
    dv_page_clear(&p);
}

/* Rows of long labels (sentences) with two columns of figures beside
 * them: fig0/fig1 fill those columns (figures, or words). */
static void long_label_page(dv_page_result *p, const char *fig0, const char *fig1)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Benefit", 100, 200);
    text_at(&ws, "Districts", 800, 200);
    text_at(&ws, "Schools", 950, 200);
    static const char *const labels[] = {
        "Gives us a more complete picture of our effectiveness",
        "Results in staff confusion about the targets we set",
        "Reduces community support for the public schools here",
        "Allows us to focus on the goals that matter most",
    };
    for (int r = 0; r < 4; r++) {
        text_at(&ws, labels[r], 100, 230 + 30 * r);
        text_at(&ws, fig0, 800, 230 + 30 * r);
        text_at(&ws, fig1, 950, 230 + 30 * r);
    }
    text_at(&ws, para2, 100, 400);
    page_of(&ws, p);
}

/* Row labels of ten words or more beside columns of figures make a table;
 * beside columns of words they stay text. */
static void test_long_labels(void)
{
    dv_page_result p;
    long_label_page(&p, "69%", "65%");
    char *md = markdown(&p, 1);
    g_test_message("%s", md);
    g_assert_nonnull(strstr(md, "| Benefit | Districts | Schools |\n| --- | --- | --- |\n"));
    g_assert_nonnull(strstr(md, "| Results in staff confusion about the targets we set | 69% | 65% |\n"));
    g_free(md);
    dv_page_clear(&p);
    long_label_page(&p, "Agree", "Disagree");
    g_assert_cmpint(count_tables(&p), ==, 0);
    dv_page_clear(&p);
}

/* Rows spaced apart with a closer row of figures missing its last cell
 * (a group's total over its items): a row of its own, not the second line
 * of the row above, since both hold numbers in the same columns. */
static void test_close_row_of_figures(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const rows[][4] = {
        { "Demand", "Plan", "Total", "Page" }, { "Alpha", "1.50", "2.50", "1-4" },
        { "BETA GROUP", "3.50", "4.50", "" },  { "Gamma", "5.50", "6.50", "5-9" },
        { "Delta", "7.50", "8.50", "10-12" },  { "Epsilon", "9.50", "10.50", "13-15" },
    };
    for (int r = 0, y = 200; r < 6; r++) {
        y += r == 2 ? 25 : 40;
        for (int c = 0; c < 4; c++)
            if (*rows[r][c])
                text_at(&ws, rows[r][c], 100 + 200 * c, y);
    }
    static const char *const expect[] = {
        "| Alpha | 1.50 | 2.50 | 1-4 |\n"
        "| BETA GROUP | 3.50 | 4.50 |  |\n"
        "| Gamma | 5.50 | 6.50 | 5-9 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 500, expect);
}

/* A table of tick marks ("x" where a role applies): the marks are not
 * lower-case prose nor letters set vertically. */
static void test_tick_marks(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const rows[][3] = {
        { "Roles and tasks", "Teachers", "Trainers" }, { "Curriculum development", "x", "" },
        { "Supporting students", "x", "x" },          { "Evaluation of education", "x", "" },
        { "Student assessment", "x", "x" },            { "Cooperation with enterprise", "x", "x" },
    };
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 3; c++)
            if (*rows[r][c])
                text_at(&ws, rows[r][c], 100 + 300 * c + (r && c ? 30 : 0), 200 + 25 * r);
    static const char *const expect[] = {
        "| Roles and tasks | Teachers | Trainers |\n"
        "| --- | --- | --- |\n"
        "| Curriculum development | x |  |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* A line of years without a row label over a header line with one is
 * header too, though that line holds no data: the section label under
 * them ("Real estate loans") stays a row of its own. */
static void test_years_over_header(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_right(&ws, "2009", 550, 200);
    text_right(&ws, "2010", 750, 200);
    static const char *const rows[][3] = {
        { "Loan type", "Amount", "Amount" }, { "Real estate loans", "", "" },
        { "Family homes", "4,151", "4,090" }, { "Commercial", "361", "331" },
        { "Other loans", "12", "13" },
    };
    for (int r = 0; r < 5; r++) {
        text_at(&ws, rows[r][0], 100, 225 + 25 * r);
        if (*rows[r][1]) {
            text_right(&ws, rows[r][1], 550, 225 + 25 * r);
            text_right(&ws, rows[r][2], 750, 225 + 25 * r);
        }
    }
    static const char *const expect[] = {
        "| Loan type | 2009 Amount | 2010 Amount |\n| --- | --- | --- |\n"
        "| Real estate loans |  |  |\n"
        "| Family homes | 4,151 | 4,090 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* A head of three levels over six columns: labels of two column groups,
 * one longer than a caption's words may run ("Number of new teacher
 * hires"), over "Control" centred between the two columns it heads, over
 * the columns' own line. Each level is a row; "Control" spans its two
 * columns and does not become a column of its own. */
static void test_group_head_levels(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, "Table 16. Teachers and new teacher hires by control of school", 20, 100);
    text_at(&ws, "Number of teachers", 230, 140);
    text_at(&ws, "Number of new teacher hires", 615, 140);
    text_at(&ws, "Control", 335, 165);
    text_at(&ws, "Control", 780, 165);
    static const int right[] = { 200, 330, 480, 600, 760, 940 };
    static const char *const rows[][7] = {
        { "Year", "Total", "Public", "Private", "Total", "Public", "Private" },
        { "1996", "3,051", "2,667", "384", "-", "-", "-" },
        { "1997", "3,138", "2,746", "391", "-", "-", "-" },
        { "1999", "3,319", "2,911", "408", "305", "222", "83" },
        { "2003", "3,490", "3,049", "441", "311", "236", "74" },
    };
    labels_and_figures(&ws, rows[0], 5, 7, 20, right, 190, 25);
    static const char *const expect[] = {
        "\n\n|  |  | Number of teachers |  |  | Number of new teacher hires |  |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        "|  |  | Control | Control |  | Control | Control |\n"
        "| Year | Total | Public | Private | Total | Public | Private |\n"
        "| 1996 | 3,051 | 2,667 | 384 | - | - | - |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* A stub header of two lines set tight beside column headers of three
 * ("Designation under" over "Initiative"): one header row, though both
 * lines hold a row label. */
static void test_tight_stub_header(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_right(&ws, "Schools", 550, 200);
    text_right(&ws, "Schools not", 750, 200);
    text_at(&ws, "Designation under", 100, 222);
    text_right(&ws, "Under NCLB", 550, 222);
    text_right(&ws, "Under NCLB", 750, 222);
    text_at(&ws, "Initiative", 100, 244);
    text_right(&ws, "(n = 469)", 550, 244);
    text_right(&ws, "(n = 918)", 750, 244);
    static const char *const rows[][3] = {
        { "Low-performing", "34%", "3%" }, { "No designation", "11%", "33%" },
        { "High-performing", "2%", "18%" }, { "Not sure", "14%", "9%" },
    };
    for (int r = 0; r < 4; r++) {
        text_at(&ws, rows[r][0], 100, 280 + 25 * r);
        text_right(&ws, rows[r][1], 550, 280 + 25 * r);
        text_right(&ws, rows[r][2], 750, 280 + 25 * r);
    }
    static const char *const expect[] = {
        "\n\n| Designation under Initiative | Schools Under NCLB (n = 469) |"
        " Schools not Under NCLB (n = 918) |\n"
        "| --- | --- | --- |\n"
        "| Low-performing | 34% | 3% |\n",
        NULL,
    };
    assert_markdown_has(&ws, 450, expect);
}

/* In a table of spaced rows, header lines filling the same cells a line
 * height apart, closer than the header is to the data, are one row. */
static void test_spaced_header_lines(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const head[][3] = { { "Launch:", "1 Year:", "FY 2010" },
                                           { "May 2009", "May 2010", "Sept. 2011" } };
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++)
            text_right(&ws, head[r][c], 450 + 170 * c, 200 + 40 * r);
    static const char *const rows[][4] = {
        { "Data sets", "47", "272,768", "389,933" }, { "Applications", "0", "237", "1,079" },
        { "Downloads", "0", "652,412", "2,348,928" }, { "Nations", "0", "6", "21" },
    };
    for (int r = 0; r < 4; r++) {
        text_at(&ws, rows[r][0], 100, 290 + 50 * r);
        for (int c = 0; c < 3; c++)
            text_right(&ws, rows[r][c + 1], 450 + 170 * c, 290 + 50 * r);
    }
    static const char *const expect[] = {
        "\n\n|  | Launch: May 2009 | 1 Year: May 2010 | FY 2010 Sept. 2011 |\n"
        "| --- | --- | --- | --- |\n"
        "| Data sets | 47 | 272,768 | 389,933 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 550, expect);
}

/* A head line whose label runs into the next column's figure ("Less than
 * $10,000-" over "$10,000" and "14,999"): the figure goes to the column it
 * lies in, not with the label across both. */
static void test_figure_after_label(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Less than", 335, 200);
    text_at(&ws, "$10,000-", 428, 200);
    text_right(&ws, "$15,000-", 600, 200);
    static const char *const rows[][4] = {
        { "Group", "$10,000", "14,999", "29,999" }, { "Total", "23.2", "10.3", "27.0" },
        { "Public", "25.5", "10.2", "26.9" },       { "Private", "20.3", "10.3", "25.7" },
    };
    static const int right[] = { 420, 508, 600 };
    for (int r = 0; r < 4; r++) {
        text_at(&ws, rows[r][0], 100, 222 + 25 * r);
        for (int c = 0; c < 3; c++)
            text_right(&ws, rows[r][c + 1], right[c], 222 + 25 * r);
    }
    static const char *const expect[] = {
        "\n\n|  | Less than | $10,000- | $15,000- |\n"
        "| --- | --- | --- | --- |\n"
        "| Group | $10,000 | 14,999 | 29,999 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* Terms and their descriptions under a head of two short labels: a
 * table, though its descriptions run long. A description's lower-case
 * line continues its row even when the term's last line is set beside it
 * a little lower ("VAS"); so does a description's line in upper case. */
static void test_terms_described(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Type", 100, 200);
    text_at(&ws, "Description", 300, 200);
    static const char *const lines[][2] = {
        { "Visual analog", "A line of fixed length with words that anchor it" },
        { "scale", "at the ends and no words describing positions." },
        { "Anchored or", "A VAS that has the addition of one or more marks" },
        { "categorized", "with reference terms assigned to each mark to help" },
        { NULL, "identify the scale ends (e.g., half-way)." },
        { "Likert scale", "An ordered set of discrete terms or statements" },
        { NULL, "from which patients are asked to choose." },
        { "Checklist", "Checklists provide a simple choice between a set" },
        { NULL, "Of options, such as Yes, No" },
        { "Pictorial scale", "Pictures applied to any of the other types." },
    };
    for (int l = 0, y = 230; l < 10; l++, y += 22) {
        if (lines[l][0])
            text_at(&ws, lines[l][0], 100, y);
        text_at(&ws, lines[l][1], 300, y);
        if (l == 4) /* the term's last line, between this line and the next */
            text_at(&ws, "VAS", 100, y + 11);
    }
    static const char *const expect[] = {
        "\n\n| Type | Description |\n| --- | --- |\n"
        "| Visual analog scale | A line of fixed length with words that anchor it at the ends "
        "and no words describing positions. |\n"
        "| Anchored or categorized VAS | A VAS that has the addition of one or more marks with "
        "reference terms assigned to each mark to help identify the scale ends (e.g., half-way). |\n"
        "| Likert scale | An ordered set of discrete terms or statements from which patients are "
        "asked to choose. |\n"
        "| Checklist | Checklists provide a simple choice between a set Of options, such as Yes, "
        "No |\n"
        "| Pictorial scale | Pictures applied to any of the other types. |\n\n",
        NULL,
    };
    assert_markdown_has(&ws, 520, expect);
}

/* Abbreviations and their names (no descriptions of text) and notes
 * under a table are lists, not tables of terms. */
static void test_short_entries_no_terms(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    static const char *const lines[][2] = {
        { "Sources:", "Names" },       { "LDA", "La Distribution alimentaire" },
        { "AIM", "Retail Monitor" },   { "PBUK", "UK Pocketbook" },
        { "EH", "European Handbook" },
    };
    for (int l = 0; l < 5; l++) {
        text_at(&ws, lines[l][0], 100, 200 + 25 * l);
        text_at(&ws, lines[l][1], 300, 200 + 25 * l);
    }
    assert_no_table(&ws);
}

/* Pieces of prose beside columns of figures (a page of text and a table
 * read sideways): columns of phrases mostly starting in lower case are no
 * table cells, however many figures stand beside them. */
static void test_prose_pieces_no_table(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    static const char *const rows[][2] = {
        { "and purchase", "the NICS check" },       { "scenarios, a one-to-one", "in most of the" },
        { "correlation between", "states, the" }, { "cannot be made", "low handgun rates" },
        { "firearm", "often are" },
    };
    for (int r = 0; r < 5; r++) {
        text_at(&ws, rows[r][0], 50, 200 + 25 * r);
        text_at(&ws, rows[r][1], 330, 200 + 25 * r);
        for (int c = 0; c < 4; c++) {
            char num[16];
            g_snprintf(num, sizeof num, "%d", (r + 1) * (c + 3) * 7);
            text_right(&ws, num, 650 + 90 * c, 200 + 25 * r);
        }
    }
    assert_no_table(&ws);
}

/* A head whose last line holds ranges of figures ("$10,000 | 14,999")
 * beside words starting in lower case ("borrowed", "or more") is no data
 * line: the head line above it, filling the same columns but the first,
 * joins it, under a line of group labels that stays a row. */
static void test_head_of_ranges(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 20, 100);
    text_right(&ws, "Percent", 260, 200);
    text_at(&ws, "Amount borrowed", 560, 200);
    static const char *const rows[][8] = {
        { NULL, "who", "Average", "Less than", "$10,000-", "$15,000-", "$30,000-", "$55,000" },
        { "Group", "borrowed", "amount", "$10,000", "14,999", "29,999", "54,999", "or more" },
        { "Total", "44.8", "$33,200", "23.2", "10.3", "27.0", "20.1", "19.4" },
        { "Public", "44.4", "31,200", "25.5", "10.2", "26.9", "19.3", "18.1" },
        { "Private", "45.9", "36,600", "20.3", "10.3", "25.7", "21.8", "21.8" },
        { "Other", "41.3", "31,900", "11.2", "11.2", "43.2", "15.7", "18.8" },
    };
    for (int r = 0; r < 6; r++) {
        int y = 222 + 22 * r + (r > 1 ? 14 : 0);
        if (rows[r][0])
            text_at(&ws, rows[r][0], 20, y);
        for (int c = 1; c < 8; c++) /* right-aligned, words 5 px apart */
            text_at(&ws, rows[r][c], 160 + 100 * c - CH * (int)strlen(rows[r][c]) +
                                         (strchr(rows[r][c], ' ') ? CH - SP : 0), y);
    }
    static const char *const expect[] = {
        "\n\n|  | Percent |  |  |  | Amount borrowed |  |  |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
        "| Group | who borrowed | Average amount | Less than $10,000 | $10,000- 14,999 |"
        " $15,000- 29,999 | $30,000- 54,999 | $55,000 or more |\n"
        "| Total | 44.8 | $33,200 | 23.2 | 10.3 | 27.0 | 20.1 | 19.4 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 420, expect);
}

/* Two rows, a head of years over a long row label and five figures: a
 * table; the same label beside two figures is no table of two rows. */
static void long_label_row(int figures, dv_page_result *p)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 20, 100);
    text_at(&ws, "Years", 20, 200);
    text_at(&ws, "Budget coefficient for coffee, tea, herb tea", 20, 230);
    for (int c = 0; c < figures; c++) {
        char year[8], share[8];
        g_snprintf(year, sizeof year, "%d", 1990 + c);
        g_snprintf(share, sizeof share, "0.%d", 323 - 7 * c);
        text_right(&ws, year, 560 + 90 * c, 200);
        text_right(&ws, share, 560 + 90 * c, 230);
    }
    text_at(&ws, para2, 20, 320);
    page_of(&ws, p);
}

static void test_two_rows_long_label(void)
{
    dv_page_result p;
    long_label_row(5, &p);
    char *md = markdown(&p, 1);
    g_assert_nonnull(strstr(md, "| Years | 1990 | 1991 | 1992 | 1993 | 1994 |\n"
                                "| --- | --- | --- | --- | --- | --- |\n"
                                "| Budget coefficient for coffee, tea, herb tea | 0.323 | 0.316 |"
                                " 0.309 | 0.302 | 0.295 |\n\n"));
    g_free(md);
    dv_page_clear(&p);
    long_label_row(2, &p);
    g_assert_cmpint(count_tables(&p), ==, 0);
    dv_page_clear(&p);
}

/* A head line of labels between the columns they head (years over two
 * columns each) whose last label, "growth in share", is wider than the
 * narrow column of figures under it and reaches well past the table's
 * right edge: it is still the table's head, not a line of text above it. */
static void test_wide_last_head_label(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "1996", 395, 200);
    text_at(&ws, "1991", 595, 200);
    text_at(&ws, "growth in share", 805, 200);
    static const int right[] = { 400, 500, 600, 700, 900 };
    static const char *const rows[][6] = {
        { "", "Share", "Stores", "Share", "Stores", "(pts)" },
        { "Austria", "17", "568", "14", "530", "3" },
        { "Denmark", "20", "739", "15", "544", "5" },
        { "Finland", "12", "820", "10", "760", "2" },
    };
    labels_and_figures(&ws, rows[0], 4, 6, 100, right, 225, 25);
    static const char *const expect[] = {
        "| growth in share |\n| --- | --- | --- | --- | --- | --- |\n"
        "|  | Share | Stores | Share | Stores | (pts) |\n"
        "| Austria | 17 | 568 | 14 | 530 | 3 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* A head of three lines set tight (closer than the head is to the data):
 * "Age 4" alone over "(Head Start" and "First | Third" over "Year) | K |
 * Grade | Grade" are lines of the same cells, one header row, though the
 * lowest line fills more columns than the one above it. */
static void test_tight_head_lines(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const int x[] = { 100, 400, 560, 680, 800 };
    text_at(&ws, "Age 4", 420, 200);
    text_at(&ws, "(Head Start", 400, 222);
    text_at(&ws, "First", x[3], 222);
    text_at(&ws, "Third", x[4], 222);
    static const char *const rows[][5] = {
        { "Measure", "Year)", "K", "Grade", "Grade" },
        { "Color Identification", "0.16", "NA", "NA", "NA" },
        { "Letter Naming", "0.25", "", "NA", "NA" },
        { "Spelling", "0.15", "", "", "NA" },
    };
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 5; c++)
            if (*rows[r][c])
                text_at(&ws, rows[r][c], x[c] + (c == 1 && r == 0 ? 30 : 0), 244 + 32 * r);
    static const char *const expect[] = {
        "| Measure | Age 4 (Head Start Year) | K | First Grade | Third Grade |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| Color Identification | 0.16 | NA | NA | NA |\n",
        NULL,
    };
    assert_markdown_has(&ws, 450, expect);
}

/* A group label ("Race") set as far above the column heads as a title
 * would be, but centred over the columns it heads rather than over the
 * table, is the table's first header row, not a title left as text. */
static void test_group_label_not_title(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Race", 555, 200);
    static const int right[] = { 300, 450, 600, 750 };
    static const char *const rows[][5] = {
        { "Year", "Total", "White", "Black", "Asian" },
        { "1996", "45,611", "29,217", "7,707", "1,731" },
        { "1997", "46,127", "29,241", "7,851", "1,796" },
        { "1998", "46,539", "29,217", "7,935", "1,846" },
        { "1999", "46,857", "29,032", "8,054", "1,892" },
    };
    labels_and_figures(&ws, rows[0], 5, 5, 100, right, 235, 22);
    static const char *const expect[] = {
        "\n\n|  |  |  | Race |  |\n| --- | --- | --- | --- | --- |\n"
        "| Year | Total | White | Black | Asian |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* A label over the columns past the first, longer than a group label
 * inside a table may run, set close above the rows it heads and centred
 * on those columns rather than on the table, belongs to the table's head,
 * and so does the line of column heads above it. */
static void test_label_over_columns(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const int right[] = { 400, 600, 800, 950 };
    static const char *const rows[][5] = {
        { "Source", "1", "2", "3", "4" },
        { "", "", "", "", "" },
        { "Projections to 2017", "0.4", "0.7", "1.1", "1.4" },
        { "Projections to 2018", "0.2", "0.7", "0.8", "1.1" },
        { "Projections to 2019", "0.3", "0.1", "0.2", "0.5" },
    };
    labels_and_figures(&ws, rows[0], 5, 5, 100, right, 200, 25);
    text_at(&ws, "Gap of the actual to the projected in all its years", 370, 225);
    static const char *const expect[] = {
        "\n\n| Source | 1 | 2 | 3 | 4 |\n| --- | --- | --- | --- | --- |\n"
        "|  | Gap of the actual to the projected in all its years |",
        "| Projections to 2017 | 0.4 | 0.7 | 1.1 | 1.4 |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* Labels of column groups each kept to the middle column of its group
 * ("Total" over "PK-12 | PK-8 | 9-12"), set more than a tight line's gap
 * above the full head line: a header row of their own, not the upper
 * lines of the cells below them (as bottom_aligned_header's are when set
 * tight). */
static void test_group_labels_set_apart(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Total", 255, 208);
    text_at(&ws, "Public", 545, 208);
    static const int right[] = { 200, 300, 400, 500, 600, 700 };
    static const char *const rows[][7] = {
        { "Year", "PK-12", "PK-8", "9-12", "PK-12", "PK-8", "9-12" },
        { "1996", "51,544", "37,481", "14,062", "45,611", "32,762", "12,849" },
        { "1997", "52,071", "37,797", "14,275", "46,127", "33,071", "13,056" },
        { "1998", "52,526", "38,091", "14,435", "46,539", "33,344", "13,195" },
    };
    labels_and_figures(&ws, rows[0], 4, 7, 20, right, 240, 25);
    static const char *const expect[] = {
        "\n\n|  |  | Total |  |  | Public |  |\n| --- | --- | --- | --- | --- | --- | --- |\n"
        "| Year | PK-12 | PK-8 | 9-12 | PK-12 | PK-8 | 9-12 |\n"
        "| 1996 | 51,544 |",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* A title of two lines centred over a table, the second set apart from
 * the table's head: both lines are text, not header rows. */
static void test_title_of_two_lines(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    text_at(&ws, "Fruit prices", 340, 200);
    text_at(&ws, "Season 2004", 345, 222);
    static const char *const rows[][3] = {
        { "Name", "Count", "Price" }, { "Apples", "12", "1.50" },
        { "Pears", "7", "3.20" },    { "Plums", "130", "12.25" },
    };
    for (int r = 0; r < 4; r++) {
        text_at(&ws, rows[r][0], 100, 270 + 25 * r);
        text_right(&ws, rows[r][1], 450, 270 + 25 * r);
        text_right(&ws, rows[r][2], 700, 270 + 25 * r);
    }
    static const char *const expect[] = {
        "Fruit prices\nSeason 2004\n\n| Name | Count | Price |\n| --- | --- | --- |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* Amounts with a dollar sign and a magnitude ("$1.1M", "$0.44M", "$8M")
 * are numbers: a list of programs and their budgets is a table of two
 * columns. */
static void test_amounts_with_magnitude(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const rows[][2] = {
        { "Program", "Budget" },       { "Challenges", "$1.1M" },
        { "IT Dashboard", "$1.06M" },  { "Cloud Computing", "$0.44M" },
        { "Data.gov", "$0.9M" },       { "Total", "$8M" },
    };
    static const int right[] = { 660 };
    labels_and_figures(&ws, rows[0], 6, 2, 100, right, 200, 25);
    static const char *const expect[] = {
        "| Program | Budget |\n| --- | --- |\n| Challenges | $1.1M |\n",
        "| Total | $8M |\n",
        NULL,
    };
    assert_markdown_has(&ws, 400, expect);
}

/* Rows spaced apart (gaps of 1.7 line heights) and a total row set a
 * little further below them (2.2 line heights, past ROW_GAP_MAX): the
 * total is the table's last row, not text after it. */
static void test_spaced_rows_total(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const rows[][3] = {
        { "Fruit", "Count", "Price" }, { "Apples", "12", "1.50" },  { "Pears", "7", "3.20" },
        { "Plums", "130", "12.25" },   { "Total", "149", "16.95" },
    };
    for (int r = 0; r < 5; r++) {
        int y = 200 + 54 * r + (r == 4 ? 10 : 0);
        text_at(&ws, rows[r][0], 100, y);
        text_right(&ws, rows[r][1], 450, y);
        text_right(&ws, rows[r][2], 700, y);
    }
    static const char *const expect[] = {
        "| Plums | 130 | 12.25 |\n| Total | 149 | 16.95 |\n\n",
        NULL,
    };
    assert_markdown_has(&ws, 520, expect);
}

/* Terms and descriptions with section labels that have no description
 * ("Economic assumptions"), terms starting with figures ("18- to
 * 24-year-old population") and a term wrapped over two lines to more
 * than six words: still a table of terms. */
static void test_terms_with_sections(void)
{
    words ws = { g_array_new(FALSE, FALSE, sizeof(dv_word)) };
    text_at(&ws, para1, 100, 100);
    static const char *const lines[][2] = {
        { "Variable", "Assumption" },
        { "Demographic assumptions", NULL },
        { "Population", "Projections are consistent with the Census estimates" },
        { "18- to 24-year-old population", "Census projection: average annual growth of 0.1%" },
        { "25- to 29-year-old population", "Census projection: average annual growth of 0.6%" },
        { "Economic assumptions", NULL },
        { "Disposable income per capita in", "Annual percent changes range between" },
        { "constant dollars", "one and two percent a year" },
        { "Inflation rate", "Inflation rate ranges between 1.0% and 2.0%" },
    };
    for (int l = 0, y = 200; l < 9; l++, y += 22) {
        text_at(&ws, lines[l][0], 100, y);
        if (lines[l][1])
            text_at(&ws, lines[l][1], 450, y);
    }
    static const char *const expect[] = {
        "\n\n| Variable | Assumption |\n| --- | --- |\n| Demographic assumptions |  |\n",
        "| 18- to 24-year-old population | Census projection: average annual growth of 0.1% |\n",
        "| Disposable income per capita in constant dollars | Annual percent changes range "
        "between one and two percent a year |\n",
        NULL,
    };
    assert_markdown_has(&ws, 420, expect);
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
    g_test_add_func("/texttable/titles", test_titles);
    g_test_add_func("/texttable/two_line_cell", test_two_line_cell);
    g_test_add_func("/texttable/header_under_caption", test_header_under_caption);
    g_test_add_func("/texttable/bottom_aligned_header", test_bottom_aligned_header);
    g_test_add_func("/texttable/interleaved_cell", test_interleaved_cell);
    g_test_add_func("/texttable/wrapped_label", test_wrapped_label);
    g_test_add_func("/texttable/two_rows", test_two_rows);
    g_test_add_func("/texttable/long_labels", test_long_labels);
    g_test_add_func("/texttable/close_row_of_figures", test_close_row_of_figures);
    g_test_add_func("/texttable/tick_marks", test_tick_marks);
    g_test_add_func("/texttable/years_over_header", test_years_over_header);
    g_test_add_func("/texttable/group_head_levels", test_group_head_levels);
    g_test_add_func("/texttable/tight_stub_header", test_tight_stub_header);
    g_test_add_func("/texttable/spaced_header_lines", test_spaced_header_lines);
    g_test_add_func("/texttable/figure_after_label", test_figure_after_label);
    g_test_add_func("/texttable/terms_described", test_terms_described);
    g_test_add_func("/texttable/short_entries_no_terms", test_short_entries_no_terms);
    g_test_add_func("/texttable/prose_pieces_no_table", test_prose_pieces_no_table);
    g_test_add_func("/texttable/head_of_ranges", test_head_of_ranges);
    g_test_add_func("/texttable/two_rows_long_label", test_two_rows_long_label);
    g_test_add_func("/texttable/wide_last_head_label", test_wide_last_head_label);
    g_test_add_func("/texttable/tight_head_lines", test_tight_head_lines);
    g_test_add_func("/texttable/group_label_not_title", test_group_label_not_title);
    g_test_add_func("/texttable/label_over_columns", test_label_over_columns);
    g_test_add_func("/texttable/group_labels_set_apart", test_group_labels_set_apart);
    g_test_add_func("/texttable/title_of_two_lines", test_title_of_two_lines);
    g_test_add_func("/texttable/amounts_with_magnitude", test_amounts_with_magnitude);
    g_test_add_func("/texttable/spaced_rows_total", test_spaced_rows_total);
    g_test_add_func("/texttable/terms_with_sections", test_terms_with_sections);
    return g_test_run();
}
