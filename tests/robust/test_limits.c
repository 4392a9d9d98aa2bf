/* Each documented resource limit (docs/limits.md) that can be reached
 * cheaply is reached here, and its error code and message checked: the
 * message is the one the table quotes. */
#include <string.h>
#include <sys/mman.h>

#include "base/json.h"
#include "doc/document.h"
#include "image/decode.h"
#include "model/safetensors.h"
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

/* A 300-byte PDF whose page tree claims 200 000 pages (Poppler believes
 * its /Count): refused at open, before any per-page bookkeeping. */
static void test_pages(void)
{
    GString *pdf = g_string_new("%PDF-1.4\n");
    const char *objs[] = { "<< /Type /Catalog /Pages 2 0 R >>",
                           "<< /Type /Pages /Kids [3 0 R] /Count 200000 >>",
                           "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>" };
    size_t offs[3];
    for (int i = 0; i < 3; i++) {
        offs[i] = pdf->len;
        g_string_append_printf(pdf, "%d 0 obj\n%s\nendobj\n", i + 1, objs[i]);
    }
    size_t xref = pdf->len;
    g_string_append(pdf, "xref\n0 4\n0000000000 65535 f \n");
    for (int i = 0; i < 3; i++)
        g_string_append_printf(pdf, "%010zu 00000 n \n", offs[i]);
    g_string_append_printf(pdf, "trailer\n<< /Size 200001 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
                           xref);
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
    return g_test_run();
}
