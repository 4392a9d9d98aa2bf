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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/api/read-text", test_read_text);
    g_test_add_func("/api/read-tables", test_read_tables);
    g_test_add_func("/api/read-errors", test_read_errors);
    return g_test_run();
}
