/* The command line and docvl_read give the same bytes for the same options:
 * the CLI is a front end on the public API, with the same defaults. Model
 * pages with the tiny hybrid golden model, and text-layer pages. */
#include "clitest.h"
#include "docvl.h"

typedef struct same_case {
    const char *input;          /* under samples/, or tests/data when data is set */
    int data;
    int model;                  /* read with the tiny model */
    const char *args[10];       /* the CLI's options (NULL-terminated) ... */
    docvl_format format;        /* ... and the same as params */
    const char *pages;
    double dpi;
    int tiles;
    docvl_text_layer text_layer;
    int max_tokens;
} same_case;

static const same_case cases[] = {
    { "phototest.tif", 0, 1, { "--max-tokens", "8" }, DOCVL_FORMAT_TEXT, NULL, 200, 1,
      DOCVL_TEXT_LAYER_AUTO, 8 },
    { "phototest.tif", 0, 1, { "-f", "md", "--max-tokens", "8" }, DOCVL_FORMAT_MARKDOWN, NULL,
      200, 1, DOCVL_TEXT_LAYER_AUTO, 8 },
    { "phototest.tif", 0, 1, { "-f", "hocr", "--max-tokens", "8" }, DOCVL_FORMAT_HOCR, NULL, 200,
      1, DOCVL_TEXT_LAYER_AUTO, 8 },
    { "scan.pdf", 0, 1, { "-f", "hocr", "--dpi", "100", "--max-tokens", "6" }, DOCVL_FORMAT_HOCR,
      NULL, 100, 1, DOCVL_TEXT_LAYER_AUTO, 6 },
    { "born-digital.pdf", 0, 1, { "--pages", "2", "--tiles", "off", "--text-layer", "off",
      "--max-tokens", "5" }, DOCVL_FORMAT_TEXT, "2", 200, 0, DOCVL_TEXT_LAYER_OFF, 5 },
    { "born-digital.pdf", 0, 0, { "-f", "txt" }, DOCVL_FORMAT_TEXT, NULL, 200, 1,
      DOCVL_TEXT_LAYER_AUTO, 2048 },
    { "born-digital.pdf", 0, 0, { "-f", "md" }, DOCVL_FORMAT_MARKDOWN, NULL, 200, 1,
      DOCVL_TEXT_LAYER_AUTO, 2048 },
    { "born-digital.pdf", 0, 0, { "-f", "hocr", "--pages", "1,3" }, DOCVL_FORMAT_HOCR, "1,3", 200,
      1, DOCVL_TEXT_LAYER_AUTO, 2048 },
    { "corpus/tables/eu-006.pdf", 1, 0, { "-f", "md" }, DOCVL_FORMAT_MARKDOWN, NULL, 200, 1,
      DOCVL_TEXT_LAYER_AUTO, 2048 },
    { "corpus/born_digital/multicolumn.pdf", 1, 0, { "-f", "hocr", "--text-layer", "only" },
      DOCVL_FORMAT_HOCR, NULL, 200, 1, DOCVL_TEXT_LAYER_ONLY, 2048 },
};

static char *api_read(docvl_context *ctx, const char *input, const same_case *c)
{
    docvl_params p = docvl_default_params();
    p.format = c->format;
    p.pages = c->pages;
    p.dpi = c->dpi;
    p.tiles = c->tiles;
    p.text_layer = c->text_layer;
    p.max_tokens = c->max_tokens;
    char *out = NULL;
    docvl_error err;
    int rc = docvl_read_file(ctx, input, &p, &out, NULL, NULL, &err);
    if (rc)
        g_test_message("%s: %s", input, err.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    return out;
}

static void test_same_bytes(void)
{
    /* the CLI's environment (tests/cli/meson.build) has no weight cache */
    g_assert_cmpstr(g_getenv("DOCVL_CACHE_DIR"), ==, "");
    char *model = test_data("golden/tiny-f32");
    docvl_context *with = NULL, *without = NULL;
    g_assert_cmpint(docvl_open(model, NULL, &with, NULL), ==, DOCVL_OK);
    g_assert_cmpint(docvl_open(NULL, NULL, &without, NULL), ==, DOCVL_OK);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const same_case *c = &cases[i];
        char *input = c->data ? test_data(c->input) : sample(c->input);
        const char *argv[16];
        int n = 0;
        if (c->model) {
            argv[n++] = "-m";
            argv[n++] = model;
        }
        for (int a = 0; c->args[a]; a++)
            argv[n++] = c->args[a];
        argv[n++] = input;
        argv[n] = NULL;
        cli_result r = cli_run(NULL, argv);
        g_assert_cmpint(r.status, ==, 0);
        char *api = api_read(c->model ? with : without, input, c);
        g_test_message("case %zu: %s, %zu bytes", i, c->input, strlen(api));
        g_assert_cmpuint(r.out_len, >, 0);
        g_assert_cmpstr(r.out, ==, api);
        free(api);
        cli_result_free(&r);
        g_free(input);
    }
    docvl_close(with);
    docvl_close(without);
    g_free(model);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli-api/same-bytes", test_same_bytes);
    return g_test_run();
}
