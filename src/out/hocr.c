/* hOCR 1.2 (http://kba.github.io/hocr-spec/1.2/) as XHTML. The head and
 * every page are built with libxml2's tree API and serialized one page at a
 * time, so long documents stream; only the <html>/<body> envelope is
 * literal text, because a tree cannot be dumped half-open. */
#include "out/format.h"

#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <math.h>
#include <string.h>

#define HOCR_CAPS "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocr_table"

static const char envelope_open[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n"
    "    \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n"
    "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n";

/* Serializes node (not its siblings) indented at level. */
static int dump_node(GString *out, xmlDocPtr doc, xmlNodePtr node, int level, dv_err *e)
{
    xmlBufferPtr buf = xmlBufferCreate();
    if (!buf)
        return dv_fail(e, DOCVL_ENOMEM, "hOCR: no memory for serialization");
    int n = xmlNodeDump(buf, doc, node, level, 1);
    int rc = DOCVL_OK;
    if (n < 0)
        rc = dv_fail(e, DOCVL_EINTERNAL, "hOCR: serializing <%s> failed", node->name);
    else
        g_string_append_len(out, (const char *)xmlBufferContent(buf), xmlBufferLength(buf));
    xmlBufferFree(buf);
    return rc;
}

static xmlNodePtr add_el(xmlNodePtr parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, (const xmlChar *)name, (const xmlChar *)text);
}

static void set_attr(xmlNodePtr n, const char *name, const char *value)
{
    xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

static void add_meta(xmlNodePtr head, const char *name, const char *content)
{
    xmlNodePtr m = add_el(head, "meta", NULL);
    set_attr(m, "name", name);
    set_attr(m, "content", content);
}

static int hocr_begin(GString *out, const dv_writer_options *opt, dv_err *e)
{
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr head = xmlNewDocNode(doc, NULL, (const xmlChar *)"head", NULL);
    if (!doc || !head) {
        xmlFreeNode(head);
        xmlFreeDoc(doc);
        return dv_fail(e, DOCVL_ENOMEM, "hOCR: no memory for the head");
    }
    xmlDocSetRootElement(doc, head);
    char *title = dv_clean_text(opt && opt->title ? opt->title : "");
    add_el(head, "title", title);
    g_free(title);
    xmlNodePtr ct = add_el(head, "meta", NULL);
    set_attr(ct, "http-equiv", "Content-Type");
    set_attr(ct, "content", "text/html;charset=utf-8");
    add_meta(head, "ocr-system", "docvl " DOCVL_VERSION);
    add_meta(head, "ocr-capabilities", HOCR_CAPS);
    g_string_append(out, envelope_open);
    g_string_append(out, " ");
    int rc = dump_node(out, doc, head, 1, e);
    g_string_append(out, "\n <body>\n");
    xmlFreeDoc(doc);
    return rc;
}

static void title_bbox(GString *t, dv_box b)
{
    g_string_append_printf(t, "bbox %d %d %d %d", b.x0, b.y0, b.x1, b.y1);
}

static xmlNodePtr add_span(xmlNodePtr parent, const char *el, const char *cls, const char *id,
                           GString *title, const char *text)
{
    xmlNodePtr n = add_el(parent, el, text);
    set_attr(n, "class", cls);
    set_attr(n, "id", id);
    set_attr(n, "title", title->str);
    return n;
}

static void add_words(xmlNodePtr line, const dv_page_line *l, const char *prefix)
{
    for (int w = 0; w < l->n_words; w++) {
        char *text = dv_clean_text(l->words[w].text);
        g_strstrip(text);
        if (*text) {
            char id[96];
            snprintf(id, sizeof id, "word_%s_%d", prefix, w + 1);
            GString *t = g_string_new(NULL);
            title_bbox(t, l->words[w].box);
            add_span(line, "span", "ocrx_word", id, t, text);
            g_string_free(t, TRUE);
        }
        g_free(text);
    }
}

/* ocr_carea > ocr_par > ocr_line > ocrx_word for one block. */
static void add_block(xmlNodePtr page, const dv_page_block *b, int page_no, int bi)
{
    char id[64];
    GString *t = g_string_new(NULL);
    title_bbox(t, b->box);
    snprintf(id, sizeof id, "block_%d_%d", page_no, bi + 1);
    xmlNodePtr area = add_span(page, "div", "ocr_carea", id, t, NULL);
    snprintf(id, sizeof id, "par_%d_%d", page_no, bi + 1);
    xmlNodePtr par = add_span(area, "p", "ocr_par", id, t, NULL);
    for (int l = 0; l < b->n_lines; l++) {
        g_string_truncate(t, 0);
        title_bbox(t, b->lines[l].box);
        g_string_append(t, "; baseline 0 0");
        char prefix[48];
        snprintf(prefix, sizeof prefix, "%d_%d_%d", page_no, bi + 1, l + 1);
        snprintf(id, sizeof id, "line_%s", prefix);
        xmlNodePtr line = add_span(par, "span", "ocr_line", id, t, NULL);
        add_words(line, &b->lines[l], prefix);
    }
    g_string_free(t, TRUE);
}

static xmlNodePtr page_node(xmlDocPtr doc, const dv_page_result *p)
{
    xmlNodePtr page = xmlNewDocNode(doc, NULL, (const xmlChar *)"div", NULL);
    if (!page)
        return NULL;
    char id[32];
    snprintf(id, sizeof id, "page_%d", p->page_no);
    GString *t = g_string_new(NULL);
    if (p->image) {
        char *img = dv_clean_text(p->image);
        /* hOCR quotes the image name; a quote inside would end it early */
        g_strdelimit(img, "\"", '\'');
        g_string_append_printf(t, "image \"%s\"; ", img);
        g_free(img);
    }
    dv_box full = { 0, 0, p->width, p->height };
    title_bbox(t, full);
    g_string_append_printf(t, "; ppageno %d", p->page_no - 1);
    if (p->dpi > 0)
        g_string_append_printf(t, "; scan_res %ld %ld", lround(p->dpi), lround(p->dpi));
    set_attr(page, "class", "ocr_page");
    set_attr(page, "id", id);
    set_attr(page, "title", t->str);
    g_string_free(t, TRUE);
    return page;
}

/* Pages with text but no boxes (a model page nobody aligned) get lines
 * stacked down the page, so the hOCR still carries every word. */
static void add_blocks(xmlNodePtr node, const dv_page_result *p)
{
    if (p->n_blocks > 0 || !p->text) {
        for (int b = 0; b < p->n_blocks; b++)
            add_block(node, &p->blocks[b], p->page_no, b);
        return;
    }
    dv_page_result tmp;
    dv_page_init(&tmp, p->page_no, p->width, p->height, p->dpi);
    tmp.text = g_strdup(p->text);
    dv_err e = { 0 };
    if (dv_page_align_text(&tmp, NULL, 0, &e) == DOCVL_OK)
        for (int b = 0; b < tmp.n_blocks; b++)
            add_block(node, &tmp.blocks[b], p->page_no, b);
    dv_page_clear(&tmp);
}

/* The page's tables (found by document analysis, doc/tables.h) as ocr_table
 * areas after its blocks: their boxes, so that readers of the hOCR know where
 * the tables are; the words stay in their blocks, as in the other formats. */
static void add_tables(xmlNodePtr node, const dv_page_result *p)
{
    const dv_page_tables *tt = &p->tables;
    GString *t = g_string_new(NULL);
    for (int i = 0; i < tt->n_tables; i++) {
        char id[48];
        snprintf(id, sizeof id, "table_%d_%d", p->page_no, i + 1);
        g_string_truncate(t, 0);
        title_bbox(t, tt->tables[i].box);
        add_span(node, "div", "ocr_table", id, t, ""); /* "": <div></div>, not <div/> */
    }
    g_string_free(t, TRUE);
}

static int hocr_page(GString *out, const dv_page_result *p, int index,
                     const dv_writer_options *opt, dv_err *e)
{
    (void)index;
    (void)opt;
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr node = doc ? page_node(doc, p) : NULL;
    if (!node) {
        xmlFreeDoc(doc);
        return dv_fail(e, DOCVL_ENOMEM, "hOCR: no memory for page %d", p->page_no);
    }
    xmlDocSetRootElement(doc, node);
    add_blocks(node, p);
    add_tables(node, p);
    g_string_append(out, "  ");
    int rc = dump_node(out, doc, node, 2, e);
    g_string_append_c(out, '\n');
    xmlFreeDoc(doc);
    return rc;
}

static int hocr_end(GString *out, dv_err *e)
{
    (void)e;
    g_string_append(out, " </body>\n</html>\n");
    return DOCVL_OK;
}

const dv_format_ops dv_hocr_ops = { hocr_begin, hocr_page, hocr_end };
