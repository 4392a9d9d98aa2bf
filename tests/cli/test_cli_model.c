/* docvl on the model path with the tiny random model of the goldens
 * (tests/data/golden/tiny-siglip-f32): the text is noise, so the checks are
 * about structure: pages, tiles, boxes, valid XHTML, exit codes, and a tile
 * that loops twice making the status 5. */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <math.h>
#include <sys/stat.h>

#include "clitest.h"
#include "mkmodel/mkmodel.h"
#include "weights/safetensors.h"
#include "text/tokenizer.h"

static char *tiny_model(void)
{
    return test_data("golden/tiny-siglip-f32");
}

static void test_text_and_markdown(void)
{
    char *m = tiny_model(), *img = sample("phototest.tif");
    cli_result r = CLI(NULL, "-m", m, "--max-tokens", "24", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpint(count_char(r.out, '\f'), ==, 1);
    g_assert_cmpuint(r.out_len, >, 2);
    g_assert_true(g_utf8_validate(r.out, -1, NULL));
    cli_result_free(&r);
    r = CLI(NULL, "-f", "md", "-m", m, "--max-tokens", "24", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(g_str_has_prefix(r.out, "<!-- page 1 -->\n\n"));
    cli_result_free(&r);
    g_free(m);
    g_free(img);
}

/* Tiles: a scanned page larger than the model's 384-pixel input is cut into
 * several tiles, each reported in the progress lines; text lines are many
 * more reads. */
static void test_tiles(void)
{
    char *m = tiny_model(), *scan = sample("scan.pdf");
    cli_result r = CLI(NULL, "-m", m, "--max-tokens", "4", "--progress", "always", "--dpi", "100",
                       scan);
    g_assert_cmpint(r.status, ==, 0);
    GRegex *re = g_regex_new("tile 1/([0-9]+)", 0, 0, NULL);
    GMatchInfo *mi = NULL;
    g_assert_true(g_regex_match(re, r.err, 0, &mi));
    char *n = g_match_info_fetch(mi, 1);
    g_assert_cmpint(atoi(n), >, 1);
    g_free(n);
    g_match_info_free(mi);
    cli_result_free(&r);
    /* --tiles off: one tile for the page */
    r = CLI(NULL, "-m", m, "--max-tokens", "4", "--progress", "always", "--dpi", "100", "--tiles",
            "off", scan);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.err, "tile 1/1,"));
    g_assert_true(g_regex_match(re, r.err, 0, &mi));
    n = g_match_info_fetch(mi, 1);
    g_assert_cmpint(atoi(n), ==, 1);
    g_free(n);
    g_match_info_free(mi);
    cli_result_free(&r);
    /* --tiles lines with a square model: a read per line segment, more
     * than the page's text lines (its long lines are cut) */
    r = CLI(NULL, "-m", m, "--max-tokens", "2", "--progress", "always", "--dpi", "100", "--tiles",
            "lines", scan);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(g_regex_match(re, r.err, 0, &mi));
    n = g_match_info_fetch(mi, 1);
    g_assert_cmpint(atoi(n), >, 40);
    g_free(n);
    g_match_info_free(mi);
    g_regex_unref(re);
    cli_result_free(&r);
    g_free(m);
    g_free(scan);
}

static double bbox_field(const char *title, int i)
{
    const char *p = strstr(title, "bbox ");
    g_assert_nonnull(p);
    double v[4];
    g_assert_cmpint(sscanf(p, "bbox %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3]), ==, 4);
    return v[i];
}

static void test_hocr(void)
{
    char *m = tiny_model(), *scan = sample("scan.pdf");
    cli_result r = CLI(NULL, "-f", "hocr", "-m", m, "--max-tokens", "40", "--dpi", "100",
                       "--text-layer", "off", scan);
    g_assert_cmpint(r.status, ==, 0);
    xmlDocPtr doc = xmlReadMemory(r.out, (int)r.out_len, "x.hocr", NULL, XML_PARSE_NONET);
    g_assert_nonnull(doc);
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(xc, (const xmlChar *)"h", (const xmlChar *)"http://www.w3.org/1999/xhtml");
    xmlXPathObjectPtr pages = xmlXPathEvalExpression(
        (const xmlChar *)"//h:div[@class='ocr_page']/@title", xc);
    g_assert_cmpint(pages->nodesetval->nodeNr, ==, 1);
    xmlChar *pt = xmlNodeGetContent(pages->nodesetval->nodeTab[0]);
    g_assert_nonnull(strstr((const char *)pt, "scan_res 100 100"));
    double pw = bbox_field((const char *)pt, 2), ph = bbox_field((const char *)pt, 3);
    g_assert_cmpfloat(pw, >, 100);
    xmlXPathObjectPtr words = xmlXPathEvalExpression(
        (const xmlChar *)"//h:span[@class='ocr_line']/h:span[@class='ocrx_word']/@title", xc);
    g_assert_nonnull(words->nodesetval);
    g_assert_cmpint(words->nodesetval->nodeNr, >, 0);
    for (int i = 0; i < words->nodesetval->nodeNr; i++) {
        xmlChar *t = xmlNodeGetContent(words->nodesetval->nodeTab[i]);
        g_assert_cmpfloat(bbox_field((const char *)t, 0), >=, 0);
        g_assert_cmpfloat(bbox_field((const char *)t, 2), <=, pw);
        g_assert_cmpfloat(bbox_field((const char *)t, 3), <=, ph);
        xmlFree(t);
    }
    xmlFree(pt);
    xmlXPathFreeObject(words);
    xmlXPathFreeObject(pages);
    xmlXPathFreeContext(xc);
    xmlFreeDoc(doc);
    cli_result_free(&r);
    g_free(m);
    g_free(scan);
}

static void copy_file(const char *from, const char *to)
{
    char *data;
    gsize len;
    g_assert_true(g_file_get_contents(from, &data, &len, NULL));
    test_write_file(to, data, len);
    g_free(data);
}

static float *tensor(dv_safetensors *st, const char *name, int64_t *rows, int64_t *cols)
{
    const dv_tensor *t = dv_safetensors_find(st, name);
    g_assert_nonnull(t);
    g_assert_cmpint(t->dtype, ==, DV_F32);
    *rows = t->shape[0];
    *cols = t->ndim > 1 ? t->shape[1] : 1;
    return (float *)t->data;   /* our own writable copy of the file */
}

/* The tiny model rewired to say one token forever: layers add nothing,
 * the final norm keeps only feature 0 (made positive in every embedding),
 * and only token `tok` reads it, with a weight that no sampling overcomes. */
static void rewire(char *buf, gsize len, const void *arg)
{
    int32_t tok = *(const int32_t *)arg;
    dv_safetensors *st = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_safetensors_parse(buf, len, "model", &st, &e), ==, DOCVL_OK);
    int64_t r, c;
    for (int i = 0; i < st->n; i++) {
        const char *n = st->tensors[i].name;
        if (g_str_has_suffix(n, "o_proj.weight") || g_str_has_suffix(n, "down_proj.weight"))
            memset((void *)st->tensors[i].data, 0, st->tensors[i].nbytes);
    }
    float *emb = tensor(st, "language_model.model.embed_tokens.weight", &r, &c);
    for (int64_t v = 0; v < r; v++)
        emb[v * c] = fabsf(emb[v * c]) + 1.0f;
    float *norm = tensor(st, "language_model.model.norm.weight", &r, &c);
    memset(norm, 0, (size_t)r * sizeof *norm);
    norm[0] = 1.0f;
    float *head = tensor(st, "language_model.lm_head.weight", &r, &c);
    memset(head, 0, (size_t)(r * c) * sizeof *head);
    head[tok * c] = 1000.0f;
    dv_safetensors_close(st);
}

/* dir/name: the tiny model with its weights file passed through edit. */
static char *edited_model(const char *dir, const char *name,
                          void (*edit)(char *buf, gsize len, const void *arg), const void *arg)
{
    char *src = tiny_model();
    char *dst = g_build_filename(dir, name, NULL);
    g_assert_cmpint(mkdir(dst, 0755), ==, 0);
    const char *files[] = { "config.json", "preprocessor_config.json", "processor_config.json",
                            "tokenizer.json", "tokenizer_config.json" };
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        char *a = g_build_filename(src, files[i], NULL), *b = g_build_filename(dst, files[i], NULL);
        copy_file(a, b);
        g_free(a);
        g_free(b);
    }
    char *mp = g_build_filename(src, "model.safetensors", NULL);
    char *buf;
    gsize len;
    g_assert_true(g_file_get_contents(mp, &buf, &len, NULL));
    edit(buf, len, arg);
    char *out = g_build_filename(dst, "model.safetensors", NULL);
    test_write_file(out, buf, len);
    g_free(out);
    g_free(buf);
    g_free(mp);
    g_free(src);
    return dst;
}

static char *looping_model(const char *dir)
{
    char *src = tiny_model();
    char *tokp = g_build_filename(src, "tokenizer.json", NULL);
    dv_tokenizer *tok = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tokenizer_open(tokp, &tok, &e), ==, DOCVL_OK);
    int32_t x = dv_tokenizer_token_id(tok, "x");
    g_assert_cmpint(x, >=, 0);
    dv_tokenizer_free(tok);
    g_free(tokp);
    g_free(src);
    return edited_model(dir, "looping", rewire, &x);
}

static void test_loop_fails_tile(void)
{
    char *dir = test_tmpdir();
    char *m = looping_model(dir), *img = sample("phototest.tif");
    char *out = g_build_filename(dir, "out.txt", NULL);
    /* -q keeps failures: they are errors */
    cli_result r = CLI(NULL, "-q", "-m", m, "--max-tokens", "120", "--tiles", "off", "-o", out,
                       img);
    g_assert_cmpint(r.status, ==, 5);
    g_assert_nonnull(strstr(r.err, "page 1, tile 1 of 1"));
    /* the document is still written, with the failed tile left out */
    char *text;
    g_assert_true(g_file_get_contents(out, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "\f");
    g_free(text);
    cli_result_free(&r);
    /* a page with a text layer: the failed tile falls back to its words */
    char *pdf = sample("born-digital.pdf");
    r = CLI(NULL, "-m", m, "--max-tokens", "120", "--tiles", "off", "--text-layer", "off",
            "--pages", "1", "--dpi", "72", pdf);
    g_assert_cmpint(r.status, ==, 5);
    g_assert_nonnull(strstr(r.err, "using the text layer there"));
    g_assert_nonnull(strstr(r.out, "Hello, here is some text without a meaning."));
    g_assert_cmpint(count_char(r.out, '\f'), ==, 1);
    cli_result_free(&r);
    /* read by lines, each looping segment is a failed tile that falls back
     * to the layer's words on its ink */
    r = CLI(NULL, "-m", m, "--max-tokens", "40", "--tiles", "lines", "--text-layer", "off",
            "--pages", "1", "--dpi", "72", pdf);
    g_assert_cmpint(r.status, ==, 5);
    g_assert_nonnull(strstr(r.err, "page 1, tile 1 of"));
    g_assert_nonnull(strstr(r.err, "using the text layer there"));
    g_assert_nonnull(strstr(r.out, "Hello, here is some text without a meaning."));
    cli_result_free(&r);
    g_free(pdf);
    g_free(out);
    g_free(m);
    g_free(img);
    test_rmtree(dir);
    g_free(dir);
}

/* The tiles of a page decoded side by side (the default) give the text,
 * boxes and messages one tile after the other gives: q8 weights (read once
 * per token for all tiles) and f32 (one row at a time), groups of 3 with a
 * shorter last one, and tiles that loop (each read again alone, sampled,
 * then failed) on the looping model. */
static void test_decode_batch(void)
{
    char *m = tiny_model(), *scan = sample("scan.pdf");
    const char *weights[] = { "q8", "f32" };
    for (int w = 0; w < 2; w++) {
        cli_result one = CLI(NULL, "-f", "hocr", "-m", m, "--weights", weights[w], "--max-tokens",
                             "30", "--dpi", "100", "--text-layer", "off", "--decode-batch", "1",
                             scan);
        g_assert_cmpint(one.status, ==, 0);
        g_assert_cmpuint(one.out_len, >, 100);
        const char *batches[] = { "0", "3" };
        for (int b = 0; b < 2; b++) {
            cli_result r = CLI(NULL, "-f", "hocr", "-m", m, "--weights", weights[w],
                               "--max-tokens", "30", "--dpi", "100", "--text-layer", "off",
                               "--decode-batch", batches[b], scan);
            g_assert_cmpint(r.status, ==, 0);
            g_assert_cmpstr(r.out, ==, one.out);
            cli_result_free(&r);
        }
        cli_result_free(&one);
    }
    char *dir = test_tmpdir();
    char *lm = looping_model(dir);
    cli_result one = CLI(NULL, "-q", "-m", lm, "--max-tokens", "60", "--dpi", "100",
                         "--text-layer", "off", "--decode-batch", "1", scan);
    cli_result r = CLI(NULL, "-q", "-m", lm, "--max-tokens", "60", "--dpi", "100",
                       "--text-layer", "off", scan);
    g_assert_cmpint(one.status, ==, 5);
    g_assert_cmpint(r.status, ==, 5);
    g_assert_nonnull(strstr(r.err, "page 1, tile 2 of"));
    g_assert_cmpstr(r.out, ==, one.out);
    g_assert_cmpstr(r.err, ==, one.err);
    cli_result_free(&one);
    cli_result_free(&r);
    test_rmtree(dir);
    g_free(dir);
    g_free(lm);
    g_free(m);
    g_free(scan);
}

static void test_ask(void)
{
    char *m = tiny_model(), *pdf = sample("born-digital.pdf");
    /* --ask always goes to the model, one whole-page tile per page */
    cli_result r = CLI(NULL, "-m", m, "--max-tokens", "4", "--progress", "always", "--pages", "1",
                       "--dpi", "50", "--ask", "What is this?", pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.err, "tile 1/1,"));
    g_assert_cmpint(count_char(r.out, '\f'), ==, 1);
    cli_result_free(&r);
    g_free(m);
    g_free(pdf);
}

/* A page scanned sideways is turned upright before the model reads it; the
 * hOCR page is then the turned page. */
static void test_upright(void)
{
    char *m = tiny_model(), *img = test_data("cli/phototest-rotated-L.png");
    cli_result r = CLI(NULL, "-f", "hocr", "-m", m, "--max-tokens", "4", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.err, "turned 90 degrees"));
    g_assert_nonnull(strstr(r.out, "bbox 0 0 640 480; ppageno 0"));
    cli_result_free(&r);
    g_free(m);
    g_free(img);
}

static void test_info(void)
{
    char *m = tiny_model();
    cli_result r = CLI(NULL, "--info", "-m", m);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "SigLIP"));
    g_assert_null(strstr(r.out, "(built in)"));
    cli_result_free(&r);
    /* --no-model after --model: none, text layers only */
    r = CLI(NULL, "--info", "-m", m, "--no-model");
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "model: none"));
    cli_result_free(&r);
    g_free(m);
}

/* Replaces arg[0] by arg[1] (as long) in a safetensors header. */
static void replace_in_header(char *buf, gsize len, const void *arg)
{
    const char *const *ft = arg;
    g_assert_cmpuint(strlen(ft[0]), ==, strlen(ft[1]));
    char *at = g_strstr_len(buf + 8, (gssize)len - 8, ft[0]); /* in the JSON header */
    g_assert_nonnull(at);
    memcpy(at, ft[1], strlen(ft[1]));
}

/* The tiny model with `from` replaced by `to` in its safetensors header: a
 * tensor renamed away, or a shape swapped. */
static char *broken_model(const char *dir, const char *name, const char *from, const char *to)
{
    const char *ft[2] = { from, to };
    return edited_model(dir, name, replace_in_header, ft);
}

/* --info loads the model as reading does: a missing or misshapen tensor is
 * exit 4 with the tensor named, not a description of a model that fails. */
static void test_info_validates(void)
{
    char *dir = test_tmpdir();
    char *missing = broken_model(dir, "missing", "\"language_model.model.norm.weight\"",
                                 "\"language_model.model.norm.weighx\"");
    cli_result r = CLI(NULL, "--info", "-m", missing);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_nonnull(strstr(r.err, "language_model.model.norm.weight"));
    g_assert_null(strstr(r.out, "family"));
    cli_result_free(&r);
    char *shape = broken_model(dir, "shape", "\"shape\":[659,64]", "\"shape\":[64,659]");
    r = CLI(NULL, "--info", "-m", shape);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_nonnull(strstr(r.err, "language_model.lm_head.weight"));
    cli_result_free(&r);
    /* reading a page with it fails the same way */
    char *img = sample("phototest.tif");
    r = CLI(NULL, "-m", shape, img);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_nonnull(strstr(r.err, "language_model.lm_head.weight"));
    cli_result_free(&r);
    g_free(img);
    g_free(missing);
    g_free(shape);
    test_rmtree(dir);
    g_free(dir);
}

/* Several inputs, one load: the model is kept between inputs. */
static void test_inputs_one_load(void)
{
    char *m = tiny_model(), *img = sample("phototest.tif");
    char *rot = test_data("cli/phototest-rotated-L.png");
    cli_result r = CLI(NULL, "-v", "-m", m, "--max-tokens", "2", "--tiles", "off", img, rot, img);
    g_assert_cmpint(r.status, ==, 0);
    /* one per page, and one before each document after the first (the
     * documents' mark on stdout, issue #17) */
    g_assert_cmpint(count_char(r.out, '\f'), ==, 3 + 2);
    g_assert_nonnull(strstr(r.err, "3 pages (3 by the model), 0 failed; 3 tiles, 0 failed; "
                                   "1 model load\n"));
    cli_result_free(&r);
    g_free(m);
    g_free(img);
    g_free(rot);
}

/* A model that reads lines was never taught to answer: --ask says so
 * (usage, status 2) instead of feeding it a whole page. */
static void test_ask_line_model(void)
{
    char *dir = test_tmpdir(), *img = sample("phototest.tif");
    char *m = g_build_filename(dir, "line-model", NULL);
    dv_mkmodel_opts mo = { .out_dir = m, .arch = "tiny-siglip", .dtype = DV_F32, .seed = 4,
                           .shards = 1, .quiet = 1, .image_h = 32, .image_w = 512, .patch = 8,
                           .reads_lines = 1, .instruction = "", .system_prompt = "" };
    dv_err e = {0};
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    cli_result r = CLI(NULL, "-m", m, "--ask", "What is the title?", img);
    g_assert_cmpint(r.status, ==, 2);
    g_assert_nonnull(strstr(r.err, "reads text lines and cannot answer questions"));
    g_assert_cmpuint(r.out_len, ==, 0);
    cli_result_free(&r);
    test_rmtree(dir);
    g_free(m), g_free(img), g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/model/ask-line-model", test_ask_line_model);
    g_test_add_func("/model/text-and-markdown", test_text_and_markdown);
    g_test_add_func("/model/tiles", test_tiles);
    g_test_add_func("/model/hocr", test_hocr);
    g_test_add_func("/model/loop-fails-tile", test_loop_fails_tile);
    g_test_add_func("/model/decode-batch", test_decode_batch);
    g_test_add_func("/model/ask", test_ask);
    g_test_add_func("/model/upright", test_upright);
    g_test_add_func("/model/info", test_info);
    g_test_add_func("/model/info-validates", test_info_validates);
    g_test_add_func("/model/inputs-one-load", test_inputs_one_load);
    return g_test_run();
}
