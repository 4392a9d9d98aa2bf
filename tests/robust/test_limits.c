/* Each documented resource limit (docs/limits.md) that can be reached
 * cheaply is reached here, and its error code and message checked: the
 * message is the one the table quotes. Limits that are not errors (a PDF
 * page's pixels, tokens per tile, HTML table caps) are checked by their
 * effect, one past the limit and at it. */
#include <string.h>
#include <sys/mman.h>

#include "../cli/clitest.h"
#include "base/json.h"
#include "doc/document.h"
#include "image/decode.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/safetensors.h"
#include "out/htmltable.h"
#include "model/reader.h"
#include "text/tokenizer.h"
#include "testutil.h"

static void expect(int rc, const dv_err *e, int code, const char *text)
{
    if (rc != code || !strstr(e->msg, text))
        g_printerr("got %d \"%s\", wanted %d \"...%s...\"\n", rc, e->msg, code, text);
    g_assert_cmpint(rc, ==, code);
    g_assert_nonnull(strstr(e->msg, text));
}

static void test_input_size(void)
{
    static const uint8_t bytes[100] = { '%', 'P', 'D', 'F' };
    dv_doc_options o = { NULL, 64 };
    dv_doc *d = NULL;
    dv_err e = { 0 };
    int rc = dv_doc_open_memory(bytes, sizeof bytes, &o, &d, &e);
    expect(rc, &e, DOCVL_ELIMIT, "input of 100 bytes exceeds the limit of 64 bytes");
    g_assert_null(d);
}

/* A one-page PDF whose page has the given MediaBox (the page tree claims
 * `count` pages). Caller frees. */
static GString *pdf_page(int count, const char *mediabox)
{
    GString *pdf = g_string_new("%PDF-1.4\n");
    char *objs[3] = { g_strdup("<< /Type /Catalog /Pages 2 0 R >>"),
                      g_strdup_printf("<< /Type /Pages /Kids [3 0 R] /Count %d >>", count),
                      g_strdup_printf("<< /Type /Page /Parent 2 0 R /MediaBox [%s] >>", mediabox) };
    size_t offs[3];
    for (int i = 0; i < 3; i++) {
        offs[i] = pdf->len;
        g_string_append_printf(pdf, "%d 0 obj\n%s\nendobj\n", i + 1, objs[i]);
        g_free(objs[i]);
    }
    size_t xref = pdf->len;
    g_string_append(pdf, "xref\n0 4\n0000000000 65535 f \n");
    for (int i = 0; i < 3; i++)
        g_string_append_printf(pdf, "%010zu 00000 n \n", offs[i]);
    g_string_append_printf(pdf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
                           count + 1, xref);
    return pdf;
}

/* Renders the page of pdf_page(1, mediabox) at the default dpi and pixel
 * limit. */
static void render_box(const char *mediabox, dv_rendered_page *rp)
{
    GString *pdf = pdf_page(1, mediabox);
    dv_doc *d = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_doc_open_memory((const uint8_t *)pdf->str, pdf->len, NULL, &d, &e), ==,
                    DOCVL_OK);
    int rc = dv_doc_render_page(d, 0, NULL, rp, &e);
    if (rc)
        g_printerr("%s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    dv_doc_close(d);
    g_string_free(pdf, TRUE);
}

/* A 300-byte PDF whose page tree claims 200 000 pages (Poppler believes
 * its /Count): refused at open, before any per-page bookkeeping. */
static void test_pages(void)
{
    GString *pdf = pdf_page(200000, "0 0 10 10");
    dv_doc *d = NULL;
    dv_err e = { 0 };
    int rc = dv_doc_open_memory((const uint8_t *)pdf->str, pdf->len, NULL, &d, &e);
    expect(rc, &e, DOCVL_ELIMIT, "document has 200000 pages, the limit is 100000");
    g_assert_null(d);
    g_string_free(pdf, TRUE);
}

/* A PNG header claiming 10000 x 10000 pixels: refused before decoding. */
static void test_pixels(void)
{
    static const uint8_t png[] = {
        0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
        0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10, 8, 2, 0, 0, 0, 0, 0, 0, 0,
    };
    dv_image im;
    dv_err e = { 0 };
    int rc = dv_image_decode(png, sizeof png, 0, DV_DOC_DEFAULT_MAX_PIXELS, &im, &e);
    expect(rc, &e, DOCVL_ELIMIT,
           "image of 10000 x 10000 pixels exceeds the limit of 32000000 pixels");
}

static void test_json_size(void)
{
    JsonParser *p;
    JsonNode *root;
    dv_err e = { 0 };
    int rc = dv_json_parse("[1, 2, 3]", 9, 8, "x.json", &p, &root, &e);
    expect(rc, &e, DOCVL_ELIMIT, "x.json: 9 bytes of JSON, the limit is 8");
}

static void test_json_depth(void)
{
    char text[DV_JSON_MAX_DEPTH + 2];
    memset(text, '[', sizeof text);
    JsonParser *p;
    JsonNode *root;
    dv_err e = { 0 };
    int rc = dv_json_parse(text, sizeof text, 1 << 20, "x.json", &p, &root, &e);
    expect(rc, &e, DOCVL_ELIMIT, "x.json: JSON nested deeper than 64 levels");
}

static void test_st_header(void)
{
    /* 8-byte little-endian header length just over 100 MiB */
    uint8_t b[16] = { 0x01, 0x00, 0x40, 0x06, 0, 0, 0, 0, '{', '}' };
    dv_safetensors *st = NULL;
    dv_err e = { 0 };
    int rc = dv_safetensors_parse(b, sizeof b, "m.safetensors", &st, &e);
    expect(rc, &e, DOCVL_ELIMIT, "m.safetensors: header of 104857601 bytes, the limit is 104857600");
}

static void test_st_tensors(void)
{
    GString *h = g_string_new("{");
    for (int i = 0; i <= DV_ST_MAX_TENSORS; i++)
        g_string_append_printf(h, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                               i ? "," : "", i);
    g_string_append_c(h, '}');
    uint8_t *b = g_malloc(8 + h->len);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)h->len >> (8 * i));
    memcpy(b + 8, h->str, h->len);
    dv_safetensors *st = NULL;
    dv_err e = { 0 };
    int rc = dv_safetensors_parse(b, 8 + h->len, "m.safetensors", &st, &e);
    expect(rc, &e, DOCVL_ELIMIT, "m.safetensors: 200001 tensors, the limit is 200000");
    g_free(b);
    g_string_free(h, TRUE);
}

static void test_vocab(void)
{
    const char *json = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":4000000},"
                       "\"merges\":[]}}";
    dv_tokenizer *t = NULL;
    dv_err e = { 0 };
    int rc = dv_tokenizer_load(json, strlen(json), NULL, 0, "tokenizer.json", &t, &e);
    expect(rc, &e, DOCVL_ELIMIT, "model.vocab[\"b\"]: id 4000000 outside 0..3999999");
    g_assert_null(t);
}

/* The trial run's bounds count what drawing the page adds: a caller that
 * already holds more address space than the bound (a loaded model: the
 * 1.3B maps 4 GB) still gets its pages drawn. */
static void test_trial_big_caller(void)
{
    size_t big = (size_t)3 << 30;
    void *held = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g_assert_true(held != MAP_FAILED);
    const char *root = g_getenv("DOCVL_SAMPLES");
    char *path = g_build_filename(root ? root : "samples", "born-digital.pdf", NULL);
    dv_doc *d = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_doc_open_file(path, NULL, &d, &e), ==, DOCVL_OK);
    dv_render_options ro = { 50, 0 };
    dv_rendered_page rp;
    int rc = dv_doc_render_page(d, 0, &ro, &rp, &e);
    if (rc)
        g_printerr("%s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    dv_image_free(&rp.image);
    dv_doc_close(d);
    g_free(path);
    munmap(held, big);
}

/* The note a page gets when its dpi was lowered (docs/limits.md). */
static void expect_lowered(const dv_rendered_page *rp, const char *size_pt)
{
    char *want = g_strdup_printf("page 1 (%s pt) rendered at %.1f dpi instead of 200.0 to stay "
                                 "within 32000000 pixels and 32767 px a side", size_pt, rp->dpi);
    if (strcmp(rp->warning, want) != 0)
        g_printerr("got \"%s\", wanted \"%s\"\n", rp->warning, want);
    g_assert_cmpstr(rp->warning, ==, want);
    g_free(want);
    g_assert_cmpfloat(rp->dpi, <, DV_DOC_DEFAULT_DPI);
    g_assert_cmpint((long long)rp->image.w * rp->image.h, <=, DV_DOC_DEFAULT_MAX_PIXELS);
    g_assert_cmpint(rp->image.w, <=, DV_DOC_MAX_SIDE);
    g_assert_cmpint(rp->image.h, <=, DV_DOC_MAX_SIDE);
}

/* 1800 x 2304 pt at 200 dpi is 5000 x 6400 = 32 000 000 pixels exactly:
 * drawn as asked. One point taller does not fit: the dpi drops, with the
 * note, and the pixels stay within the limit. */
static void test_pdf_pixels(void)
{
    dv_rendered_page rp;
    render_box("0 0 1800 2304", &rp);
    g_assert_cmpstr(rp.warning, ==, "");
    g_assert_cmpfloat(rp.dpi, ==, DV_DOC_DEFAULT_DPI);
    g_assert_cmpint(rp.image.w, ==, 5000);
    g_assert_cmpint(rp.image.h, ==, 6400);
    dv_image_free(&rp.image);

    render_box("0 0 1800 2305", &rp);
    expect_lowered(&rp, "1800 x 2305");
    g_assert_cmpint((long long)rp.image.w * rp.image.h, >, 31900000);   /* the highest that fits */
    dv_image_free(&rp.image);
}

/* 32767 pixels a side: 11796 pt at 200 dpi is 32767 px wide and fits;
 * 12000 pt (33334 px) is drawn at a lower dpi although its pixel count is
 * far below the limit. */
static void test_pdf_side(void)
{
    dv_rendered_page rp;
    render_box("0 0 11796 10", &rp);
    g_assert_cmpstr(rp.warning, ==, "");
    g_assert_cmpint(rp.image.w, ==, DV_DOC_MAX_SIDE);
    dv_image_free(&rp.image);

    render_box("0 0 12000 10", &rp);
    expect_lowered(&rp, "12000 x 10");
    g_assert_cmpint(rp.image.w, >, 32700);
    dv_image_free(&rp.image);
}
/* ------------------------------------------------------------ generation */

/* A copy of the tiny golden model whose context is max_pos tokens. */
static char *tiny_model(int max_pos)
{
    static const char *files[] = { "config.json", "model.safetensors", "tokenizer.json",
                                   "tokenizer_config.json", "preprocessor_config.json",
                                   "processor_config.json" };
    char *src = test_data("golden/tiny-siglip-f32"), *dir = test_tmpdir();
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        char *from = g_build_filename(src, files[i], NULL);
        char *to = g_build_filename(dir, files[i], NULL);
        char *text = NULL;
        gsize len = 0;
        g_assert_true(g_file_get_contents(from, &text, &len, NULL));
        GString *s = g_string_new_len(text, (gssize)len);
        if (i == 0) {
            char *ctx = g_strdup_printf("\"max_position_embeddings\": %d", max_pos);
            guint n = g_string_replace(s, "\"max_position_embeddings\": 2048", ctx, 0);
            g_assert_cmpuint(n, ==, 1);
            g_free(ctx);
        }
        test_write_file(to, s->str, s->len);
        g_string_free(s, TRUE);
        g_free(text);
        g_free(from);
        g_free(to);
    }
    g_free(src);
    return dir;
}

/* One white tile read by the model in dir, greedily. */
static int read_tile(const char *dir, int max_tokens, dv_tile_result *res, dv_err *e)
{
    dv_reader *r = NULL;
    int rc = dv_reader_open(dir, 1, 0, NULL, &r, e);
    if (rc)
        g_printerr("%s\n", e->msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    dv_image im;
    g_assert_cmpint(dv_image_alloc(&im, 384, 384, e), ==, DOCVL_OK);
    memset(im.rgb, 255, (size_t)im.w * im.h * 3);
    dv_tile_opts o = { .instruction = "Read the text.", .max_tokens = max_tokens };
    memset(res, 0, sizeof *res);
    rc = dv_reader_read(r, &im, &o, res, e);
    dv_image_free(&im);
    dv_reader_free(r);
    return rc;
}

/* The length of the prompt of a tile ("Read the text."): from the error of
 * a context too short for the prompt itself. */
static int prompt_tokens(void)
{
    char *dir = tiny_model(16);
    dv_tile_result res;
    dv_err e = { 0 };
    int rc = read_tile(dir, 1 << 20, &res, &e);
    expect(rc, &e, DOCVL_ECONTEXT,
           "exceed the context length (max_position_embeddings) of 16 tokens");
    const char *at = strstr(e.msg, "cached + ");
    int prompt = 0;
    g_assert_nonnull(at);
    g_assert_cmpint(sscanf(at, "cached + %d prompt tokens", &prompt), ==, 1);
    g_assert_cmpint(prompt, >, 576);   /* 576 image tokens and the chat text */
    test_rmtree(dir);
    g_free(dir);
    return prompt;
}

/* --max-tokens is a ceiling: with the largest value allowed (1048576) a
 * tile's generation ends where the model's context does. With a context of
 * the prompt's length + 2 the tile gets exactly 2 tokens (the same model
 * asked for 3 in its full context gives 3: the stop is the context's); with
 * no room left at all the tile fails (DOCVL_ECONTEXT). */
static void test_context_end(void)
{
    int prompt = prompt_tokens();
    dv_tile_result res;
    char *dir = tiny_model(prompt + 2);
    dv_err e = { 0 };
    int rc = read_tile(dir, 1 << 20, &res, &e);
    if (rc)
        g_printerr("%s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    g_assert_cmpint(res.n_tokens, ==, 2);
    dv_tile_result_free(&res);
    test_rmtree(dir);
    g_free(dir);

    dir = tiny_model(2048);
    dv_err e2 = { 0 };
    rc = read_tile(dir, 3, &res, &e2);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    g_assert_cmpint(res.n_tokens, ==, 3);
    dv_tile_result_free(&res);
    test_rmtree(dir);
    g_free(dir);

    dir = tiny_model(prompt);
    dv_err e3 = { 0 };
    char *want = g_strdup_printf("0 cached + %d prompt tokens + max_new_tokens 1048576", prompt);
    expect(read_tile(dir, 1 << 20, &res, &e3), &e3, DOCVL_ECONTEXT, want);
    g_free(want);
    test_rmtree(dir);
    g_free(dir);
}

/* The command line takes --max-tokens up to 1048576 and refuses one more;
 * at 1048576, a page read (one tile) with a model whose context ends 2
 * tokens after the prompt succeeds. */
static void test_max_tokens_cli(void)
{
    cli_result r = CLI(NULL, "--max-tokens", "1048577", "x.png");
    g_assert_cmpint(r.status, ==, 2);
    g_assert_nonnull(
        strstr(r.err, "--max-tokens wants a whole number from 1 to 1048576, not '1048577'"));
    cli_result_free(&r);
    char *dir = tiny_model(prompt_tokens() + 2);
    char *img = test_data("golden/tiny-siglip-f32/doc_1000x700.png");
    r = CLI(NULL, "-m", dir, "--tiles", "off", "--prompt", "Read the text.", "--max-tokens",
            "1048576", img);
    if (r.status)
        g_printerr("%s\n", r.err);
    g_assert_cmpint(r.status, ==, 0);
    cli_result_free(&r);
    test_rmtree(dir);
    g_free(dir);
    g_free(img);
}

/* ------------------------------------------------------------ tokenizer */

static const char small_bpe[] = "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}";

/* Loads {small_bpe, extra} (extra: more members, or ""). */
static int load_tok(const char *extra, dv_tokenizer **t, dv_err *e)
{
    char *json = g_strdup_printf("{%s%s%s}", small_bpe, *extra ? "," : "", extra);
    int rc = dv_tokenizer_load(json, strlen(json), NULL, 0, "tokenizer.json", t, e);
    g_free(json);
    return rc;
}

/* A 1 GiB + 1 length is refused before a byte of the text is read: the text
 * is a mapping that may not be read at all. */
static void test_encode_size(void)
{
    dv_tokenizer *t = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(load_tok("", &t, &e), ==, DOCVL_OK);
    size_t len = ((size_t)1 << 30) + 1;
    void *text = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g_assert_true(text != MAP_FAILED);
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = dv_tokenizer_encode(t, text, len, 0, &ids, &n, &e);
    expect(rc, &e, DOCVL_ELIMIT, "encode: 1073741825 bytes of text, the limit is 1 GiB");
    g_assert_null(ids);
    munmap(text, len);
    dv_tokenizer_free(t);
}

/* 4 000 001 merges, all null: the count is refused before any entry is
 * looked at (json-glib still builds the 4M nodes). */
static void test_merges(void)
{
    GString *j = g_string_sized_new(21 << 20);
    g_string_append(j, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[null");
    for (int i = 1; i <= 4000000; i++)
        g_string_append(j, ",null");
    g_string_append(j, "]}}");
    dv_tokenizer *t = NULL;
    dv_err e = { 0 };
    int rc = dv_tokenizer_load(j->str, j->len, NULL, 0, "tokenizer.json", &t, &e);
    expect(rc, &e, DOCVL_ELIMIT, "model.merges: 4000001 merges, the limit is 4000000");
    g_assert_null(t);
    g_string_free(j, TRUE);
}

static void test_added_count(void)
{
    GString *j = g_string_new("\"added_tokens\":[null");
    for (int i = 1; i <= 1000000; i++)
        g_string_append(j, ",null");
    g_string_append_c(j, ']');
    dv_tokenizer *t = NULL;
    dv_err e = { 0 };
    expect(load_tok(j->str, &t, &e), &e, DOCVL_ELIMIT,
           "added_tokens: 1000001 entries, the limit is 1000000");
    g_assert_null(t);
    g_string_free(j, TRUE);
}

static int load_added(size_t len, dv_tokenizer **t, dv_err *e, char **content)
{
    *content = g_malloc(len + 1);
    memset(*content, 'x', len);
    (*content)[len] = '\0';
    char *extra = g_strdup_printf("\"added_tokens\":[{\"id\":1,\"content\":\"%s\"}]", *content);
    int rc = load_tok(extra, t, e);
    g_free(extra);
    return rc;
}

static void test_added_bytes(void)
{
    dv_tokenizer *t = NULL;
    dv_err e = { 0 };
    char *content;
    g_assert_cmpint(load_added(4096, &t, &e, &content), ==, DOCVL_OK);
    g_assert_cmpint(dv_tokenizer_token_id(t, content), ==, 1);
    dv_tokenizer_free(t);
    g_free(content);
    t = NULL;
    dv_err e2 = { 0 };
    expect(load_added(4097, &t, &e2, &content), &e2, DOCVL_ELIMIT,
           "added_tokens[0]: content of 4097 bytes, limit 4096");
    g_assert_null(t);
    g_free(content);
}

/* member: "pre_tokenizer" or "normalizer"; list: its Sequence's array. */
static int load_sequence(const char *member, const char *list, const char *entry, int n,
                         dv_tokenizer **t, dv_err *e)
{
    GString *j = g_string_new(NULL);
    g_string_printf(j, "\"%s\":{\"type\":\"Sequence\",\"%s\":[", member, list);
    for (int i = 0; i < n; i++)
        g_string_append_printf(j, "%s%s", i ? "," : "", entry);
    g_string_append(j, "]}");
    int rc = load_tok(j->str, t, e);
    g_string_free(j, TRUE);
    return rc;
}

static void test_sequences(void)
{
    static const struct {
        const char *member, *list, *entry, *msg;
    } seq[] = {
        { "pre_tokenizer", "pretokenizers", "{\"type\":\"Digits\",\"individual_digits\":true}",
          "pre_tokenizer Sequence: 65 entries, the limit is 64" },
        { "normalizer", "normalizers", "{\"type\":\"Lowercase\"}",
          "normalizer Sequence: 65 entries, the limit is 64" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(seq); i++) {
        dv_tokenizer *t = NULL;
        dv_err e = { 0 };
        int rc = load_sequence(seq[i].member, seq[i].list, seq[i].entry, 64, &t, &e);
        if (rc)
            g_printerr("%s\n", e.msg);
        g_assert_cmpint(rc, ==, DOCVL_OK);
        dv_tokenizer_free(t);
        t = NULL;
        dv_err e2 = { 0 };
        rc = load_sequence(seq[i].member, seq[i].list, seq[i].entry, 65, &t, &e2);
        expect(rc, &e2, DOCVL_ELIMIT, seq[i].msg);
        g_assert_null(t);
    }
}

/* A Split pattern of len bytes: a PCRE comment around 'a's, then \s (the
 * comment compiles to nothing, so 256 KiB of it stays a small regex). */
static int load_regex(size_t len, dv_tokenizer **t, dv_err *e)
{
    GString *re = g_string_new("(?#");
    while (re->len < len - 3)
        g_string_append_c(re, 'a');
    g_string_append(re, ")\\\\s");   /* \\s in JSON: 2 bytes of regex */
    g_assert_cmpuint(re->len - 1, ==, len);
    char *extra = g_strdup_printf("\"pre_tokenizer\":{\"type\":\"Split\","
                                  "\"pattern\":{\"Regex\":\"%s\"},"
                                  "\"behavior\":\"Isolated\",\"invert\":false}", re->str);
    int rc = load_tok(extra, t, e);
    g_free(extra);
    g_string_free(re, TRUE);
    return rc;
}

static void test_regex(void)
{
    dv_tokenizer *t = NULL;
    dv_err e = { 0 };
    int rc = load_regex(262144, &t, &e);
    if (rc)
        g_printerr("%s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    dv_tokenizer_free(t);
    t = NULL;
    dv_err e2 = { 0 };
    expect(load_regex(262145, &t, &e2), &e2, DOCVL_ELIMIT,
           "pre_tokenizer Split: regex of 262145 bytes, the limit is 262144");
    g_assert_null(t);
}

/* ------------------------------------------------------------ model files */

/* A model directory: the tiny golden config.json and special_tokens_map.json
 * with a bos_token of len bytes. */
static int load_special(size_t len, dv_config *cfg, dv_err *e)
{
    char *dir = tiny_model(2048);
    char *tok = g_malloc(len + 1);
    memset(tok, 'b', len);
    tok[len] = '\0';
    char *json = g_strdup_printf("{\"bos_token\": \"%s\"}", tok);
    char *path = g_build_filename(dir, "special_tokens_map.json", NULL);
    test_write_file(path, json, strlen(json));
    memset(cfg, 0, sizeof *cfg);
    int rc = dv_config_load(dir, cfg, e);
    if (rc == DOCVL_OK)
        g_assert_cmpstr(cfg->tok.bos, ==, tok);
    test_rmtree(dir);
    g_free(path);
    g_free(json);
    g_free(tok);
    g_free(dir);
    return rc;
}

static void test_special_token(void)
{
    dv_config cfg;
    dv_err e = { 0 };
    int rc = load_special(95, &cfg, &e);
    if (rc)
        g_printerr("%s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    dv_err e2 = { 0 };
    expect(load_special(96, &cfg, &e2), &e2, DOCVL_ELIMIT,
           "special_tokens_map.json: \"bos_token\" is longer than 95 bytes");
    /* tokenizer_config.json's entries, here an AddedToken object, alike */
    char *eos = g_strnfill(96, 'e');
    char *json = g_strdup_printf("{\"eos_token\": {\"content\": \"%s\"}}", eos);
    dv_err e3 = { 0 };
    expect(dv_config_parse_side("tokenizer_config.json", json, strlen(json), &cfg, &e3), &e3,
           DOCVL_ELIMIT, "tokenizer_config.json: \"eos_token\" is longer than 95 bytes");
    g_free(json);
    g_free(eos);
}

/* Shards s<first>.safetensors .. s<n - 1>.safetensors in dir, each holding
 * one empty tensor, and the index naming all n from s0000 on. */
static void write_shards(const char *dir, int first, int n)
{
    GString *index = g_string_new("{\"weight_map\":{");
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%04d.safetensors", i);
        g_string_append_printf(index, "%s\"t%d\":\"%s\"", i ? "," : "", i, name);
        if (i < first)
            continue;
        GString *h = g_string_new(NULL);
        g_string_printf(h, "{\"t%d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", i);
        while (h->len % 8)
            g_string_append_c(h, ' ');
        uint8_t b[8];
        for (int k = 0; k < 8; k++)
            b[k] = (uint8_t)((uint64_t)h->len >> (8 * k));
        g_string_prepend_len(h, (const char *)b, 8);
        char *path = g_build_filename(dir, name, NULL);
        test_write_file(path, h->str, h->len);
        g_free(path);
        g_string_free(h, TRUE);
    }
    g_string_append(index, "}}");
    char *path = g_build_filename(dir, "model.safetensors.index.json", NULL);
    test_write_file(path, index->str, index->len);
    g_free(path);
    g_string_free(index, TRUE);
}

/* 1024 shards open; one more shard file named in the index is refused. */
static void test_shards(void)
{
    char *dir = test_tmpdir();
    write_shards(dir, 0, DV_MAX_SHARDS);
    dv_checkpoint *ck = NULL;
    dv_err e = { 0 };
    int rc = dv_checkpoint_open(dir, &ck, &e);
    if (rc)
        g_printerr("%s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    g_assert_cmpint(ck->n_shards, ==, DV_MAX_SHARDS);
    g_assert_nonnull(dv_checkpoint_find(ck, "t1023"));
    dv_checkpoint_close(ck);

    write_shards(dir, DV_MAX_SHARDS, DV_MAX_SHARDS + 1);
    dv_err e2 = { 0 };
    char *want = g_strdup_printf("%s: more than 1024 shards", dir);
    expect(dv_checkpoint_open(dir, &ck, &e2), &e2, DOCVL_ELIMIT, want);
    g_assert_null(ck);
    g_free(want);
    test_rmtree(dir);
    g_free(dir);
}

/* ------------------------------------------------------------ HTML tables */

/* The GFM lines of html's table. */
static char **gfm_lines(const char *html)
{
    GString *out = g_string_new(NULL);
    dv_err e = { 0 };
    int rc = dv_html_table_to_gfm(html, strlen(html), out, &e);
    if (rc)
        g_printerr("%s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    char **lines = g_strsplit(out->str, "\n", -1);
    g_string_free(out, TRUE);
    return lines;
}

static int n_cells(const char *line)
{
    return count_char(line, '|') - 1;
}

/* A colspan of 65 covers 64 columns (as does 64); a rowspan of 65 covers 64
 * rows: row 64 starts with its own cell. */
static void test_table_span(void)
{
    for (int span = 64; span <= 65; span++) {
        char *html = g_strdup_printf("<table><tr><td colspan=\"%d\">a</td><td>b</td></tr></table>",
                                     span);
        char **l = gfm_lines(html);
        g_assert_cmpint(n_cells(l[0]), ==, 65);
        g_assert_nonnull(strstr(l[0], "| a | b |"));
        g_strfreev(l);
        g_free(html);
    }
    GString *h = g_string_new("<table><tr><td rowspan=\"65\">A</td><td>h</td></tr>");
    for (int i = 1; i < 70; i++)
        g_string_append_printf(h, "<tr><td>r%d</td></tr>", i);
    g_string_append(h, "</table>");
    char **l = gfm_lines(h->str);   /* line 0 the header, 1 the rule, i + 1 row i */
    g_assert_cmpstr(l[64], ==, "| A | r63 |");
    g_assert_cmpstr(l[65], ==, "| r64 |  |");
    g_strfreev(l);
    g_string_free(h, TRUE);
}

/* 513 cells in a row: 512 columns kept. */
static void test_table_cols(void)
{
    GString *h = g_string_new("<table><tr>");
    for (int i = 0; i <= DV_TABLE_MAX_COLS; i++)
        g_string_append_printf(h, "<td>c%d</td>", i);
    g_string_append(h, "</tr></table>");
    char **l = gfm_lines(h->str);
    g_assert_cmpint(n_cells(l[0]), ==, DV_TABLE_MAX_COLS);
    g_assert_nonnull(strstr(l[0], "| c511 |"));
    g_assert_null(strstr(l[0], "c512"));
    g_strfreev(l);
    g_string_free(h, TRUE);
}

/* 20 001 rows: the first 20 000 kept, the last dropped; a rowspan on the
 * last row kept adds none. */
static void test_table_rows(void)
{
    GString *h = g_string_new("<table>");
    for (int i = 0; i <= DV_TABLE_MAX_ROWS; i++)
        g_string_append_printf(h, i == DV_TABLE_MAX_ROWS - 1 ? "<tr><td rowspan=\"3\">r%d</td></tr>"
                                                             : "<tr><td>r%d</td></tr>", i);
    g_string_append(h, "</table>");
    char **l = gfm_lines(h->str);
    guint n = g_strv_length(l);
    while (n && !*l[n - 1])
        n--;
    g_assert_cmpuint(n, ==, DV_TABLE_MAX_ROWS + 1);   /* and the rule under the header */
    g_assert_cmpstr(l[n - 1], ==, "| r19999 |");
    g_strfreev(l);
    g_string_free(h, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/limits/input-size", test_input_size);
    g_test_add_func("/limits/pages", test_pages);
    g_test_add_func("/limits/pixels", test_pixels);
    g_test_add_func("/limits/json-size", test_json_size);
    g_test_add_func("/limits/json-depth", test_json_depth);
    g_test_add_func("/limits/safetensors-header", test_st_header);
    g_test_add_func("/limits/safetensors-tensors", test_st_tensors);
    g_test_add_func("/limits/vocab", test_vocab);
    g_test_add_func("/limits/trial-big-caller", test_trial_big_caller);
    g_test_add_func("/limits/pdf-pixels", test_pdf_pixels);
    g_test_add_func("/limits/pdf-side", test_pdf_side);
    g_test_add_func("/limits/context-end", test_context_end);
    g_test_add_func("/limits/max-tokens-cli", test_max_tokens_cli);
    g_test_add_func("/limits/encode-size", test_encode_size);
    g_test_add_func("/limits/merges", test_merges);
    g_test_add_func("/limits/added-tokens-count", test_added_count);
    g_test_add_func("/limits/added-token-bytes", test_added_bytes);
    g_test_add_func("/limits/sequences", test_sequences);
    g_test_add_func("/limits/regex", test_regex);
    g_test_add_func("/limits/special-token", test_special_token);
    g_test_add_func("/limits/shards", test_shards);
    g_test_add_func("/limits/table-span", test_table_span);
    g_test_add_func("/limits/table-cols", test_table_cols);
    g_test_add_func("/limits/table-rows", test_table_rows);
    return g_test_run();
}
