/* Plain text and hOCR writers, and laying model text out on line boxes. */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdio.h>
#include <string.h>

#include "out/writer.h"
#include "testutil.h"

static char *write_pages(dv_format f, dv_page_result *pages, int n, const char *title)
{
    GString *s = g_string_new(NULL);
    dv_sink sink = { dv_sink_gstring, s };
    dv_writer_options opt = { .title = title };
    dv_writer *w;
    dv_err e = { 0 };
    g_assert_cmpint(dv_writer_new(f, sink, &opt, &w, &e), ==, DOCVL_OK);
    for (int i = 0; i < n; i++)
        g_assert_cmpint(dv_writer_page(w, &pages[i], &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_writer_finish(w, &e), ==, DOCVL_OK);
    dv_writer_free(w);
    return g_string_free(s, FALSE);
}

static void add_line(dv_page_block *b, int y, const char *const *words)
{
    dv_box lb = { 10, y, 10, y + 20 };
    dv_page_line *l = dv_page_block_add_line(b, lb);
    int x = 10;
    for (; *words; words++) {
        dv_box wb = { x, y, x + 30, y + 20 };
        dv_page_line_add_word(l, *words, strlen(*words), wb);
        l->box = dv_box_cover(l->box, wb);
        x += 40;
    }
    b->box = dv_box_cover(b->box, l->box);
}

/* A text-layer page with two blocks, a model page with bare text. */
static void two_pages(dv_page_result p[2])
{
    dv_page_init(&p[0], 1, 800, 1000, 300);
    p[0].source = DV_SRC_TEXT_LAYER;
    p[0].image = g_strdup("scan \"1\".pdf");
    dv_box none = { 0, 0, 0, 0 };
    dv_page_block *b = dv_page_add_block(&p[0], none);
    add_line(b, 10, (const char *const[]){ "Hello", "a<b&c", NULL });
    add_line(b, 40, (const char *const[]){ "world", NULL });
    b = dv_page_add_block(&p[0], none);
    add_line(b, 200, (const char *const[]){ "second", "block\x01", NULL });
    dv_page_init(&p[1], 2, 800, 1000, 300);
    p[1].source = DV_SRC_MODEL;
    p[1].text = g_strdup("model line one\n\nline two here\n");
}

static void test_text(void)
{
    dv_page_result p[3];
    two_pages(p);
    dv_page_init(&p[2], 3, 10, 10, 72);
    char *txt = write_pages(DV_FMT_TEXT, p, 3, NULL);
    g_assert_cmpstr(txt, ==,
                    "Hello a<b&c\nworld\n\nsecond block\n\f"
                    "model line one\n\nline two here\n\f\f");
    g_free(txt);
    for (int i = 0; i < 3; i++)
        dv_page_clear(&p[i]);
}

static int xpath_count(xmlXPathContextPtr xc, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, xc);
    g_assert_nonnull(o);
    int n = o->nodesetval ? o->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(o);
    return n;
}

static char *xpath_string(xmlXPathContextPtr xc, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, xc);
    g_assert_nonnull(o);
    xmlChar *s = xmlXPathCastToString(o);
    char *r = g_strdup((const char *)s);
    xmlFree(s);
    xmlXPathFreeObject(o);
    return r;
}

static void parse_bbox(const char *title, double bb[4])
{
    const char *p = strstr(title, "bbox ");
    g_assert_nonnull(p);
    g_assert_cmpint(sscanf(p, "bbox %lf %lf %lf %lf", &bb[0], &bb[1], &bb[2], &bb[3]), ==, 4);
}

/* Every word's box lies inside its line's, every line's inside the page. */
static void check_nesting(xmlXPathContextPtr xc)
{
    xmlXPathObjectPtr words = xmlXPathEvalExpression(
        (const xmlChar *)"//h:span[@class='ocrx_word']", xc);
    int n = words->nodesetval ? words->nodesetval->nodeNr : 0;
    g_assert_cmpint(n, >, 0);
    for (int i = 0; i < n; i++) {
        xmlNodePtr w = words->nodesetval->nodeTab[i];
        xmlNodePtr line = w->parent;
        xmlChar *wc = xmlGetProp(w, (const xmlChar *)"title");
        xmlChar *lc = xmlGetProp(line, (const xmlChar *)"class");
        xmlChar *lt = xmlGetProp(line, (const xmlChar *)"title");
        g_assert_cmpstr((const char *)lc, ==, "ocr_line");
        double wb[4], lb[4];
        parse_bbox((const char *)wc, wb);
        parse_bbox((const char *)lt, lb);
        g_assert_cmpfloat(wb[0], >=, lb[0]);
        g_assert_cmpfloat(wb[1], >=, lb[1]);
        g_assert_cmpfloat(wb[2], <=, lb[2]);
        g_assert_cmpfloat(wb[3], <=, lb[3]);
        g_assert_cmpfloat(wb[0], <, wb[2]);
        xmlFree(wc);
        xmlFree(lc);
        xmlFree(lt);
    }
    xmlXPathFreeObject(words);
}

static void test_hocr(void)
{
    dv_page_result p[2];
    two_pages(p);
    char *h = write_pages(DV_FMT_HOCR, p, 2, "in & out");
    /* strict XML parse: any malformed markup fails here */
    xmlDocPtr doc = xmlReadMemory(h, (int)strlen(h), "out.hocr", NULL, XML_PARSE_NONET);
    g_assert_nonnull(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    g_assert_cmpstr((const char *)root->name, ==, "html");
    g_assert_cmpstr((const char *)root->ns->href, ==, "http://www.w3.org/1999/xhtml");
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(xc, (const xmlChar *)"h", (const xmlChar *)"http://www.w3.org/1999/xhtml");
    char *s = xpath_string(xc, "//h:meta[@name='ocr-system']/@content");
    g_assert_true(g_str_has_prefix(s, "docvl "));
    g_free(s);
    s = xpath_string(xc, "//h:meta[@name='ocr-capabilities']/@content");
    g_assert_nonnull(strstr(s, "ocrx_word"));
    g_free(s);
    s = xpath_string(xc, "/h:html/h:head/h:title");
    g_assert_cmpstr(s, ==, "in & out");
    g_free(s);
    g_assert_cmpint(xpath_count(xc, "/h:html/h:body/h:div[@class='ocr_page']"), ==, 2);
    s = xpath_string(xc, "(//h:div[@class='ocr_page'])[1]/@title");
    g_assert_cmpstr(s, ==, "image \"scan '1'.pdf\"; bbox 0 0 800 1000; ppageno 0; scan_res 300 300");
    g_free(s);
    g_assert_cmpint(xpath_count(xc, "(//h:div[@class='ocr_page'])[1]/h:div[@class='ocr_carea']"
                                    "/h:p[@class='ocr_par']/h:span[@class='ocr_line']"),
                    ==, 3);
    g_assert_cmpint(xpath_count(xc, "(//h:div[@class='ocr_page'])[1]//h:span[@class='ocrx_word']"),
                    ==, 5);
    s = xpath_string(xc, "(//h:span[@class='ocrx_word'])[2]");
    g_assert_cmpstr(s, ==, "a<b&c");
    g_free(s);
    s = xpath_string(xc, "(//h:span[@class='ocrx_word'])[5]");
    g_assert_cmpstr(s, ==, "block");
    g_free(s);
    /* the model page without boxes still carries every word */
    g_assert_cmpint(xpath_count(xc, "(//h:div[@class='ocr_page'])[2]//h:span[@class='ocr_line']"),
                    ==, 2);
    g_assert_cmpint(xpath_count(xc, "(//h:div[@class='ocr_page'])[2]//h:span[@class='ocrx_word']"),
                    ==, 6);
    g_assert_cmpint(xpath_count(xc, "//*[@id]"), ==,
                    xpath_count(xc, "//*[@id and not(@id=preceding::*/@id)]"));
    check_nesting(xc);
    xmlXPathFreeContext(xc);
    xmlFreeDoc(doc);
    g_free(h);
    dv_page_clear(&p[0]);
    dv_page_clear(&p[1]);
}

static void test_align(void)
{
    dv_page_result p;
    dv_page_init(&p, 1, 1000, 1000, 100);
    p.text = g_strdup("aaa b\n\nccc\nd e f\n");
    dv_box lines[2] = { { 100, 100, 500, 120 }, { 100, 200, 300, 240 } };
    dv_err e = { 0 };
    g_assert_cmpint(dv_page_align_text(&p, lines, 2, &e), ==, DOCVL_OK);
    g_assert_cmpint(p.n_blocks, ==, 1);
    g_assert_cmpint(p.blocks[0].n_lines, ==, 3);
    /* three text lines on two boxes: spread evenly, the two sharing box 0
     * split it into strips */
    dv_page_line *l = p.blocks[0].lines;
    g_assert_cmpint(l[0].box.y0, ==, 100);
    g_assert_cmpint(l[0].box.y1, ==, 110);
    g_assert_cmpint(l[1].box.y0, ==, 110);
    g_assert_cmpint(l[1].box.y1, ==, 120);
    g_assert_cmpint(l[2].box.y0, ==, 200);
    g_assert_cmpint(l[2].box.x1, ==, 300);
    /* "aaa" takes 4/6 of its line, "b" 2/6: the split at 366.67 is stored
     * rounded outwards on both sides */
    g_assert_cmpint(l[0].n_words, ==, 2);
    g_assert_cmpint(l[0].words[0].box.x1, ==, 367);
    g_assert_cmpint(l[0].words[1].box.x0, ==, 366);
    g_assert_cmpint(l[0].words[1].box.x1, ==, 500);
    g_assert_cmpstr(l[2].words[2].text, ==, "f");
    g_assert_cmpint(p.blocks[0].box.y1, ==, 240);
    /* no boxes: lines stacked inside the page */
    g_assert_cmpint(dv_page_align_text(&p, NULL, 0, &e), ==, DOCVL_OK);
    g_assert_cmpint(p.blocks[0].n_lines, ==, 3);
    g_assert_cmpint(p.blocks[0].lines[2].box.y1, <=, 1000);
    g_assert_cmpint(p.blocks[0].lines[0].box.y1, <=, p.blocks[0].lines[1].box.y0);
    g_assert_cmpint(dv_page_align_text(&p, NULL, -1, &e), ==, DOCVL_EINVAL);
    /* blocks move between pages, appended in order */
    dv_page_result q;
    dv_page_init(&q, 1, 1000, 1000, 100);
    dv_page_add_block(&q, lines[0]);
    dv_page_take_blocks(&q, &p);
    g_assert_cmpint(p.n_blocks, ==, 0);
    g_assert_cmpint(q.n_blocks, ==, 2);
    g_assert_cmpint(q.blocks[1].n_lines, ==, 3);
    g_assert_cmpstr(q.blocks[1].lines[2].words[2].text, ==, "f");
    dv_page_clear(&q);
    dv_page_clear(&p);
}

static void test_format_names(void)
{
    dv_format f;
    dv_err e = { 0 };
    g_assert_cmpint(dv_format_parse("MD", &f, &e), ==, DOCVL_OK);
    g_assert_cmpint(f, ==, DV_FMT_MARKDOWN);
    g_assert_cmpint(dv_format_parse("hocr", &f, &e), ==, DOCVL_OK);
    g_assert_cmpstr(dv_format_ext(f), ==, ".hocr");
    g_assert_cmpint(dv_format_parse("pdf", &f, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "pdf"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/writers/text", test_text);
    g_test_add_func("/writers/hocr", test_hocr);
    g_test_add_func("/writers/align", test_align);
    g_test_add_func("/writers/format-names", test_format_names);
    return g_test_run();
}
