/* Markdown writer and HTML table -> GFM conversion. The PubTabNet round trip
 * parses the emitted pipe table back and checks every cell's text against an
 * independent reading of the HTML (XPath + the documented span rule). */
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <string.h>

#include "out/htmltable.h"
#include "out/writer.h"
#include "testutil.h"

#define MAXR 256
#define MAXC 64

typedef struct table {
    char *cell[MAXR][MAXC];
    int rows, cols;
} table;

static void table_free(table *t)
{
    for (int r = 0; r < MAXR; r++)
        for (int c = 0; c < MAXC; c++)
            g_free(t->cell[r][c]);
}

static char *collapse(const char *s)
{
    GString *o = g_string_new(NULL);
    for (; *s; s++) {
        if (g_ascii_isspace(*s)) {
            if (o->len && o->str[o->len - 1] != ' ')
                g_string_append_c(o, ' ');
        } else {
            g_string_append_c(o, *s);
        }
    }
    g_strstrip(o->str);
    char *r = g_strdup(o->str);
    g_string_free(o, TRUE);
    return r;
}

/* A GFM cell back to plain text: escapes undone, emphasis markers and
 * sup/sub tags dropped. */
static char *gfm_cell_text(const char *s, size_t n)
{
    GString *o = g_string_new(NULL);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            g_string_append_c(o, s[++i]);
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '*') {
            i++;
        } else if (s[i] == '_') {
            continue;
        } else if (s[i] == '<') {
            const char *tags[] = { "<sup>", "</sup>", "<sub>", "</sub>" };
            size_t skip = 0;
            for (int k = 0; k < 4; k++)
                if (strncmp(s + i, tags[k], strlen(tags[k])) == 0)
                    skip = strlen(tags[k]);
            if (skip)
                i += skip - 1;
            else
                g_string_append_c(o, s[i]);
        } else {
            g_string_append_c(o, s[i]);
        }
    }
    char *r = collapse(o->str);
    g_string_free(o, TRUE);
    return r;
}

/* Reads the pipe-table lines of md (header, delimiter, body). */
static void parse_gfm(const char *md, table *t)
{
    memset(t, 0, sizeof *t);
    char **lines = g_strsplit(md, "\n", -1);
    int li = 0;
    for (char **l = lines; *l; l++) {
        if ((*l)[0] != '|')
            continue;
        if (li++ == 1) {
            g_assert_true(g_str_has_prefix(*l, "| --- |"));
            continue;
        }
        g_assert_cmpint(t->rows, <, MAXR);
        const char *s = *l + 1;
        int c = 0;
        while (*s) {
            const char *p = s;
            while (*p && !(*p == '|' && p[-1] != '\\'))
                p++;
            if (!*p)
                break;
            g_assert_cmpint(c, <, MAXC);
            t->cell[t->rows][c++] = gfm_cell_text(s, (size_t)(p - s));
            s = p + 1;
        }
        if (c > t->cols)
            t->cols = c;
        t->rows++;
    }
    g_strfreev(lines);
}

static int attr_int(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    int r = v ? atoi((const char *)v) : 1;
    xmlFree(v);
    return r < 1 ? 1 : r;
}

/* The expected grid: rows via XPath, spans repeated into their slots. */
static void expected_grid(const char *html, size_t len, table *t)
{
    memset(t, 0, sizeof *t);
    htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                                    HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
    g_assert_nonnull(doc);
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    /* a line break reads as a space */
    xmlXPathObjectPtr brs = xmlXPathEvalExpression((const xmlChar *)"//br", xc);
    for (int i = 0; brs->nodesetval && i < brs->nodesetval->nodeNr; i++)
        xmlNodeSetContent(brs->nodesetval->nodeTab[i], (const xmlChar *)" ");
    xmlXPathFreeObject(brs);
    xmlXPathObjectPtr rows = xmlXPathEvalExpression(
        (const xmlChar *)"(//table)[1]//tr[count(ancestor::table)=1]", xc);
    g_assert_nonnull(rows);
    int n = rows->nodesetval ? rows->nodesetval->nodeNr : 0;
    g_assert_cmpint(n, <=, MAXR);
    for (int r = 0; r < n; r++) {
        int c = 0;
        for (xmlNodePtr cell = rows->nodesetval->nodeTab[r]->children; cell; cell = cell->next) {
            if (cell->type != XML_ELEMENT_NODE ||
                (strcmp((const char *)cell->name, "td") && strcmp((const char *)cell->name, "th")))
                continue;
            while (c < MAXC && t->cell[r][c])
                c++;
            xmlChar *content = xmlNodeGetContent(cell);
            int rs = attr_int(cell, "rowspan"), cs = attr_int(cell, "colspan");
            for (int i = r; i < r + rs && i < n; i++)
                for (int j = c; j < c + cs && j < MAXC; j++)
                    t->cell[i][j] = collapse((const char *)content);
            xmlFree(content);
            c += cs;
        }
    }
    t->rows = n;
    for (int r = 0; r < n; r++)
        for (int c = 0; c < MAXC; c++)
            if (t->cell[r][c] && c + 1 > t->cols)
                t->cols = c + 1;
    xmlXPathFreeObject(rows);
    xmlXPathFreeContext(xc);
    xmlFreeDoc(doc);
}

static void check_roundtrip(const char *html, size_t len)
{
    GString *md = g_string_new(NULL);
    dv_err e = { 0 };
    g_assert_cmpint(dv_html_table_to_gfm(html, len, md, &e), ==, DOCVL_OK);
    table got, want;
    parse_gfm(md->str, &got);
    expected_grid(html, len, &want);
    g_assert_cmpint(got.rows, ==, want.rows);
    g_assert_cmpint(got.cols, ==, want.cols);
    for (int r = 0; r < want.rows; r++)
        for (int c = 0; c < want.cols; c++)
            g_assert_cmpstr(got.cell[r][c], ==, want.cell[r][c] ? want.cell[r][c] : "");
    table_free(&got);
    table_free(&want);
    g_string_free(md, TRUE);
}

static void test_pubtabnet(void)
{
    char *dir = test_data("pubtabnet");
    GDir *d = g_dir_open(dir, 0, NULL);
    g_assert_nonnull(d);
    int n = 0;
    const char *name;
    while ((name = g_dir_read_name(d))) {
        if (!g_str_has_suffix(name, ".gt.html"))
            continue;
        char *path = g_build_filename(dir, name, NULL);
        char *html;
        gsize len;
        g_assert_true(g_file_get_contents(path, &html, &len, NULL));
        g_test_message("%s", name);
        check_roundtrip(html, len);
        g_free(html);
        g_free(path);
        n++;
    }
    g_dir_close(d);
    g_free(dir);
    g_assert_cmpint(n, >=, 5);
}

static void test_spans_and_inline(void)
{
    const char *html =
        "<table><tr><th rowspan=2>Group</th><th colspan=2><b>Dose</b> (mg)</th></tr>"
        "<tr><td>low</td><td><i>high</i></td></tr>"
        "<tr><td>a|b</td><td>x<br>y</td><td>10<sup>3</sup></td></tr></table>";
    GString *md = g_string_new(NULL);
    dv_err e = { 0 };
    g_assert_cmpint(dv_html_table_to_gfm(html, strlen(html), md, &e), ==, DOCVL_OK);
    const char *want =
        "| Group | **Dose** (mg) | **Dose** (mg) |\n"
        "| --- | --- | --- |\n"
        "| Group | low | _high_ |\n"
        "| a\\|b | x y | 10<sup>3</sup> |\n";
    g_assert_cmpstr(md->str, ==, want);
    g_string_free(md, TRUE);
    check_roundtrip(html, strlen(html));
}

static void test_malformed_tables(void)
{
    dv_err e = { 0 };
    GString *md = g_string_new(NULL);
    const char *none = "<table></table>";
    g_assert_cmpint(dv_html_table_to_gfm(none, strlen(none), md, &e), ==, DOCVL_EFORMAT);
    g_assert_cmpuint(md->len, ==, 0);
    /* unclosed cells and rows, as models write them */
    const char *loose = "<table><tr><td>1<td>2<tr><td>3";
    dv_err_clear(&e);
    g_assert_cmpint(dv_html_table_to_gfm(loose, strlen(loose), md, &e), ==, DOCVL_OK);
    g_assert_cmpstr(md->str, ==, "| 1 | 2 |\n| --- | --- |\n| 3 |  |\n");
    /* a nested table's text joins its cell, it adds no rows */
    g_string_truncate(md, 0);
    const char *nested = "<table><tr><td>a<table><tr><td>x</td><td>y</td></tr></table></td>"
                         "<td>b</td></tr></table>";
    g_assert_cmpint(dv_html_table_to_gfm(nested, strlen(nested), md, &e), ==, DOCVL_OK);
    g_assert_cmpstr(md->str, ==, "| a x y | b |\n| --- | --- |\n");
    /* huge spans are capped */
    g_string_truncate(md, 0);
    const char *wide = "<table><tr><td colspan=100000 rowspan=100000>w</td></tr></table>";
    g_assert_cmpint(dv_html_table_to_gfm(wide, strlen(wide), md, &e), ==, DOCVL_OK);
    /* capped at DV_TABLE_MAX_SPAN columns; the row span ends with the table */
    char **lines = g_strsplit(md->str, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 3);
    g_assert_cmpuint(strlen(lines[0]), ==, 1 + 4 * DV_TABLE_MAX_SPAN);
    g_strfreev(lines);
    g_string_free(md, TRUE);
}

static void test_convert_in_text(void)
{
    const char *text = "# Results\nSee below:\n<TABLE border=1><tr><td>A</td></tr>"
                       "<tr><td>1</td></tr></table>\nAfter.\n<table><tr></tr></table>";
    char *md = dv_markdown_convert_tables(text);
    g_assert_cmpstr(md, ==, "# Results\nSee below:\n\n| A |\n| --- |\n| 1 |\n\nAfter.\n"
                            "<table><tr></tr></table>");
    g_free(md);
}

static char *write_pages(dv_format f, dv_page_result *pages, int n)
{
    GString *s = g_string_new(NULL);
    dv_sink sink = { dv_sink_gstring, s };
    dv_writer *w;
    dv_err e = { 0 };
    g_assert_cmpint(dv_writer_new(f, sink, NULL, &w, &e), ==, DOCVL_OK);
    for (int i = 0; i < n; i++)
        g_assert_cmpint(dv_writer_page(w, &pages[i], &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_writer_finish(w, &e), ==, DOCVL_OK);
    dv_writer_free(w);
    return g_string_free(s, FALSE);
}

static void test_markdown_pages(void)
{
    dv_page_result p[2];
    dv_page_init(&p[0], 1, 100, 100, 72);
    p[0].source = DV_SRC_TEXT_LAYER;
    dv_box b = { 0, 0, 50, 10 };
    dv_page_block *blk = dv_page_add_block(&p[0], b);
    dv_page_line *l = dv_page_block_add_line(blk, b);
    dv_page_line_add_word(l, "#1", 2, b);
    dv_page_line_add_word(l, "a*b_c", 5, b);
    l = dv_page_block_add_line(blk, b);
    dv_page_line_add_word(l, "-", 1, b);
    blk = dv_page_add_block(&p[0], b);
    l = dv_page_block_add_line(blk, b);
    dv_page_line_add_word(l, "2.", 2, b);
    dv_page_line_add_word(l, "x", 1, b);
    /* inside a paragraph: an ordered item numbered 150 would not start a
     * list, nor would a lone "|" make a table; a heading would start */
    l = dv_page_block_add_line(blk, b);
    dv_page_line_add_word(l, "150.", 4, b);
    dv_page_line_add_word(l, "a|b", 3, b);
    dv_page_line_add_word(l, "*x*", 3, b);
    dv_page_line_add_word(l, "[12]", 4, b);
    dv_page_line_add_word(l, "<b>", 3, b);
    dv_page_line_add_word(l, "1<2", 3, b);
    dv_page_line_add_word(l, "hyphen-", 7, b);
    l = dv_page_block_add_line(blk, b);
    dv_page_line_add_word(l, "ated", 4, b);
    l = dv_page_block_add_line(blk, b);
    dv_page_line_add_word(l, "#", 1, b);
    dv_page_line_add_word(l, "x", 1, b);
    dv_page_init(&p[1], 2, 100, 100, 72);
    p[1].source = DV_SRC_MODEL;
    p[1].text = g_strdup("**Bold** title\n\n<table><tr><th>k</th></tr><tr><td>v</td></tr></table>");
    char *md = write_pages(DV_FMT_MARKDOWN, p, 2);
    g_assert_cmpstr(md, ==,
                    "<!-- page 1 -->\n\n#1 a*b_c\n\\-\n\n2\\. x\n"
                    "150. a|b \\*x* [12] \\<b> 1<2 hyphenated\n\\# x\n"
                    "\n<!-- page 2 -->\n\n**Bold** title\n\n| k |\n| --- |\n| v |\n");
    g_free(md);
    dv_page_clear(&p[0]);
    dv_page_clear(&p[1]);
}

/* Fences and html/body wrappers around a table go with it; a fence that
 * holds more than the table stays. */
static void test_wrapped_tables(void)
{
    const char *text = "Intro\n```html\n<html><body><table><tr><td>a</td></tr></table>"
                       "</body></html>\n```\nEnd\n";
    char *md = dv_markdown_convert_tables(text);
    g_assert_cmpstr(md, ==, "Intro\n\n| a |\n| --- |\n\nEnd\n");
    g_free(md);
    const char *code = "```\nx = 1\n<table><tr><td>a</td></tr></table>\n```\n";
    md = dv_markdown_convert_tables(code);
    g_assert_cmpstr(md, ==, "```\nx = 1\n\n| a |\n| --- |\n\n```\n");
    g_free(md);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/markdown/pubtabnet-roundtrip", test_pubtabnet);
    g_test_add_func("/markdown/spans-and-inline", test_spans_and_inline);
    g_test_add_func("/markdown/malformed-tables", test_malformed_tables);
    g_test_add_func("/markdown/tables-in-text", test_convert_in_text);
    g_test_add_func("/markdown/pages", test_markdown_pages);
    g_test_add_func("/markdown/wrapped-tables", test_wrapped_tables);
    return g_test_run();
}
