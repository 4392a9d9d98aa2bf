/* The public reading API (docvl_open, docvl_read_file) on the text-layer path. */
#include <string.h>

#include "docvl.h"
#include "testutil.h"

static char *sample(const char *name)
{
    char *rel = g_build_filename("..", "..", "samples", name, NULL);
    char *p = test_data(rel);
    g_free(rel);
    return p;
}

/* A context without a model: text layers only. */
static docvl_context *open_no_model(void)
{
    docvl_context *ctx = NULL;
    g_assert_cmpint(docvl_open(NULL, NULL, &ctx, NULL), ==, DOCVL_OK);
    return ctx;
}

static int count_ff(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\f';
    return n;
}

static void test_read_text(void)
{
    char *pdf = sample("born-digital.pdf");
    docvl_context *ctx = open_no_model();
    docvl_params o = docvl_default_params();
    o.text_layer = DOCVL_TEXT_LAYER_ONLY;
    char *out = NULL;
    docvl_error err;
    size_t len = 0;
    docvl_read_stats st;
    g_assert_cmpint(docvl_read_file(ctx, pdf, &o, &out, &len, &st, &err), ==, DOCVL_OK);
    g_assert_cmpuint(len, ==, strlen(out));
    g_assert_cmpint(count_ff(out), ==, 4);
    g_assert_cmpint(st.pages, ==, 4);
    g_assert_cmpint(st.pages_failed, ==, 0);
    g_assert_cmpstr(err.msg, ==, "");
    free(out);
    o.format = DOCVL_FORMAT_MARKDOWN;
    o.pages = "4";
    g_assert_cmpint(docvl_read_file(ctx, pdf, &o, &out, NULL, NULL, NULL), ==, DOCVL_OK);
    g_assert_true(g_str_has_prefix(out, "<!-- page 4 -->"));
    free(out);
    docvl_close(ctx);
    g_free(pdf);
}

/* Tables of a text-layer page come out as GFM tables in Markdown unless
 * no_text_tables asks for plain lines. */
static void test_read_tables(void)
{
    char *pdf = test_data("corpus/tables/eu-006.pdf");
    docvl_context *ctx = open_no_model();
    docvl_params o = docvl_default_params();
    o.format = DOCVL_FORMAT_MARKDOWN;
    o.text_layer = DOCVL_TEXT_LAYER_ONLY;
    char *out = NULL;
    g_assert_cmpint(docvl_read_file(ctx, pdf, &o, &out, NULL, NULL, NULL), ==, DOCVL_OK);
    g_assert_nonnull(strstr(out, "| Monoprix | 28% |"));
    free(out);
    o.text_tables = 0;
    g_assert_cmpint(docvl_read_file(ctx, pdf, &o, &out, NULL, NULL, NULL), ==, DOCVL_OK);
    g_assert_null(strstr(out, "| --- |"));
    g_assert_nonnull(strstr(out, "Monoprix"));
    free(out);
    docvl_close(ctx);
    g_free(pdf);
}

static void test_read_errors(void)
{
    char *scan = sample("scan.pdf"), *pdf = sample("born-digital.pdf");
    docvl_context *ctx = open_no_model();
    char *out = (char *)"x";
    docvl_error err;
    g_assert_cmpint(docvl_read_file(ctx, "/nonexistent.pdf", NULL, &out, NULL, NULL, &err),
                    ==, DOCVL_EIO);
    g_assert_null(out);
    g_assert_nonnull(strstr(err.msg, "/nonexistent.pdf"));
    g_assert_cmpint(err.stage, ==, DOCVL_STAGE_INPUT);
    g_assert_cmpint(docvl_read_file(ctx, scan, NULL, &out, NULL, NULL, &err), ==,
                    DOCVL_EMODEL);
    g_assert_null(out);
    g_assert_cmpint(err.stage, ==, DOCVL_STAGE_MODEL);
    docvl_params o = docvl_default_params();
    o.pages = "5";
    g_assert_cmpint(docvl_read_file(ctx, pdf, &o, &out, NULL, NULL, &err), ==, DOCVL_EINVAL);
    g_assert_cmpint(err.stage, ==, DOCVL_STAGE_OPTIONS);
    o.pages = NULL;
    o.format = (docvl_format)7;
    g_assert_cmpint(docvl_read_file(ctx, pdf, &o, &out, NULL, NULL, &err), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(err.msg, "format"));
    docvl_close(ctx);
    g_free(scan);
    g_free(pdf);
}

/* The defaults are the command line's: q8 weights kept in the weight cache,
 * 200 dpi, tiles, automatic text layer, Markdown tables. */
static void test_defaults(void)
{
    docvl_open_params op = docvl_open_default_params();
    g_assert_cmpint(op.weights, ==, DOCVL_WEIGHTS_Q8);
    g_assert_cmpint(op.no_cache, ==, 0);
    g_assert_null(op.cache_dir);
    g_assert_cmpint(op.n_threads, ==, 0);
    docvl_params p = docvl_default_params();
    g_assert_cmpint(p.format, ==, DOCVL_FORMAT_TEXT);
    g_assert_cmpfloat(p.dpi, ==, 200);
    g_assert_cmpint(p.tiles, ==, 1);
    g_assert_cmpint(p.text_layer, ==, DOCVL_TEXT_LAYER_AUTO);
    g_assert_cmpint(p.max_tokens, ==, 2048);
    g_assert_cmpint(p.text_tables, ==, 1);
    g_assert_cmpfloat(p.page_timeout, ==, 0);
}

static docvl_context *open_tiny(void)
{
    char *m = test_data("golden/tiny-siglip-f32");
    docvl_open_params op = docvl_open_default_params();
    op.no_cache = 1;    /* nothing written under the home directory */
    docvl_context *ctx = NULL;
    docvl_error err;
    g_assert_cmpint(docvl_open(m, &op, &ctx, &err), ==, DOCVL_OK);
    g_free(m);
    return ctx;
}

/* Several documents through one context: the model is loaded at the first
 * page that needs it, once; born-digital pages never load it. */
static void test_one_load(void)
{
    char *pdf = sample("born-digital.pdf"), *img = sample("phototest.tif");
    docvl_context *ctx = open_tiny();
    docvl_params p = docvl_default_params();
    p.max_tokens = 2;
    p.tiles = 0;
    docvl_read_stats st;
    char *out = NULL;
    g_assert_cmpint(docvl_read_file(ctx, pdf, &p, &out, NULL, &st, NULL), ==, DOCVL_OK);
    g_assert_cmpint(st.model_loads, ==, 0);
    g_assert_cmpint(st.model_pages, ==, 0);
    free(out);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(docvl_read_file(ctx, img, &p, &out, NULL, &st, NULL), ==, DOCVL_OK);
        g_assert_cmpint(st.model_pages, ==, 1);
        g_assert_cmpint(st.model_loads, ==, i == 0);
        free(out);
    }
    docvl_model_details info;
    g_assert_cmpint(docvl_model_info(ctx, &info, NULL), ==, DOCVL_OK);
    g_assert_cmpint(info.loads, ==, 1);
    g_assert_cmpint(info.image_size, ==, 384);
    g_assert_nonnull(strstr(info.family, "SigLIP"));
    g_assert_nonnull(strstr(info.text, "image tokens: "));
    docvl_close(ctx);
    /* docvl_model_info loads a model not loaded yet; reads then reuse it */
    ctx = open_tiny();
    g_assert_cmpint(docvl_model_info(ctx, &info, NULL), ==, DOCVL_OK);
    g_assert_cmpint(info.loads, ==, 1);
    g_assert_cmpint(docvl_read_file(ctx, img, &p, &out, NULL, &st, NULL), ==, DOCVL_OK);
    g_assert_cmpint(st.model_loads, ==, 0);
    free(out);
    docvl_close(ctx);
    g_free(pdf);
    g_free(img);
}

typedef struct observed {
    int progress, messages, polls;
    int stop_after;     /* polls; 0: never stop */
} observed;

static void on_progress(void *user, const docvl_progress *p)
{
    observed *o = user;
    g_assert_cmpint(p->n_pages, ==, 1);
    o->progress++;
}

static void on_message(void *user, int failure, const char *msg)
{
    (void)failure;
    (void)msg;
    ((observed *)user)->messages++;
}

static int should_abort(void *user)
{
    observed *o = user;
    return o->stop_after && ++o->polls >= o->stop_after;
}

/* Progress reaches the caller per page, tile and token; should_abort stops
 * the read with DOCVL_EINTERRUPTED. */
static void test_callbacks(void)
{
    char *img = sample("phototest.tif");
    docvl_context *ctx = open_tiny();
    docvl_params p = docvl_default_params();
    p.max_tokens = 3;
    p.tiles = 0;
    observed o = { 0 };
    p.on_progress = on_progress;
    p.on_message = on_message;
    p.should_abort = should_abort;
    p.user = &o;
    char *out = NULL;
    g_assert_cmpint(docvl_read_file(ctx, img, &p, &out, NULL, NULL, NULL), ==, DOCVL_OK);
    /* the page, its tile, and each generated token */
    g_assert_cmpint(o.progress, >=, 3);
    free(out);
    o = (observed){ .stop_after = 3 };
    docvl_error err;
    g_assert_cmpint(docvl_read_file(ctx, img, &p, &out, NULL, NULL, &err), ==,
                    DOCVL_EINTERRUPTED);
    g_assert_null(out);
    g_assert_cmpint(o.polls, >=, 3);
    docvl_close(ctx);
    g_free(img);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/api/read-text", test_read_text);
    g_test_add_func("/api/read-tables", test_read_tables);
    g_test_add_func("/api/read-errors", test_read_errors);
    g_test_add_func("/api/defaults", test_defaults);
    g_test_add_func("/api/one-load", test_one_load);
    g_test_add_func("/api/callbacks", test_callbacks);
    return g_test_run();
}
