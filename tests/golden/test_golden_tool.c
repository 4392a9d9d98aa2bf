/* docvl-golden's contract: exit 0 within tolerance, 1 on a mismatch, 2 on
 * usage, 4 when a case cannot be run; one line per stage. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char *tool_path(void)
{
    const char *root = g_getenv("DOCVL_BUILD_ROOT");
    g_assert_nonnull(root);
    return g_build_filename(root, "src", "cli", "docvl-golden", NULL);
}

/* Runs the tool; returns its exit status, stdout and stderr through out and err. */
static int run_tool(const char *const *args, char **out, char **err)
{
    char *tool = tool_path();
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, tool);
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    int status = 0;
    GError *ge = NULL;
    gboolean ok = g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out,
                               err, &status, &ge);
    g_assert_no_error(ge);
    g_assert_true(ok);
    g_ptr_array_free(argv, TRUE);
    g_free(tool);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_usage(void)
{
    char *out, *err;
    const char *none[] = { NULL };
    g_assert_cmpint(run_tool(none, &out, &err), ==, 2);
    g_assert_nonnull(strstr(err, "usage"));
    g_free(out);
    g_free(err);
    const char *bad[] = { "-t", "zero", "x", NULL };
    g_assert_cmpint(run_tool(bad, &out, &err), ==, 2);
    g_free(out);
    g_free(err);
}

static void test_missing_case(void)
{
    char *out, *err;
    const char *args[] = { "/nonexistent/golden-case", NULL };
    g_assert_cmpint(run_tool(args, &out, &err), ==, 4);
    g_assert_nonnull(strstr(err, "/nonexistent/golden-case"));
    g_free(out);
    g_free(err);
}

static void test_pass(void)
{
    char *dir = test_data("golden/tiny-siglip-f32"), *out, *err;
    const char *args[] = { "--vision-only", dir, NULL };
    g_assert_cmpint(run_tool(args, &out, &err), ==, 0);
    const char *stages[] = { "pixel_values_u8", "siglip_embed", "siglip_blocks_out", "siglip_out",
                             "aligner_out" };
    for (size_t i = 0; i < G_N_ELEMENTS(stages); i++)
        g_assert_nonnull(strstr(out, stages[i]));
    g_assert_null(strstr(out, "FAIL"));
    g_free(out);
    g_free(err);
    g_free(dir);
}

/* A copy of a case whose siglip_out tolerance is zero: the tiny float32
 * rounding differences must now be reported as a mismatch. */
static char *strict_case(void)
{
    char *src = test_data("golden/tiny-siglip-f32"), *dst = test_tmpdir();
    GDir *d = g_dir_open(src, 0, NULL);
    const char *n;
    while ((n = g_dir_read_name(d))) {
        if (strcmp(n, "case.json") == 0)
            continue;
        char *from = g_build_filename(src, n, NULL), *to = g_build_filename(dst, n, NULL);
        g_assert_cmpint(symlink(from, to), ==, 0);
        g_free(from);
        g_free(to);
    }
    g_dir_close(d);
    char *cpath = g_build_filename(src, "case.json", NULL);
    JsonParser *p = json_parser_new();
    g_assert_true(json_parser_load_from_file(p, cpath, NULL));
    JsonObject *golds = json_object_get_object_member(json_node_get_object(json_parser_get_root(p)),
                                                      "goldens");
    JsonObject *so = json_object_get_object_member(golds, "siglip_out");
    json_object_set_double_member(so, "atol", 0.0);
    json_object_set_double_member(so, "rtol", 0.0);
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, json_parser_get_root(p));
    char *out = g_build_filename(dst, "case.json", NULL);
    g_assert_true(json_generator_to_file(gen, out, NULL));
    g_object_unref(gen);
    g_object_unref(p);
    g_free(out);
    g_free(cpath);
    g_free(src);
    return dst;
}

static void test_mismatch(void)
{
    char *dir = strict_case(), *out, *err;
    const char *args[] = { "--vision-only", dir, NULL };
    g_assert_cmpint(run_tool(args, &out, &err), ==, 1);
    const char *line = strstr(out, "siglip_out");
    g_assert_nonnull(line);
    const char *eol = strchr(line, '\n');
    g_assert_nonnull(g_strstr_len(line, eol - line, "FAIL"));
    g_assert_nonnull(strstr(out, "aligner_out"));   /* later stages still reported */
    test_rmtree(dir);
    g_free(dir);
    g_free(out);
    g_free(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/golden-tool/usage", test_usage);
    g_test_add_func("/golden-tool/missing-case", test_missing_case);
    g_test_add_func("/golden-tool/pass", test_pass);
    g_test_add_func("/golden-tool/mismatch", test_mismatch);
    return g_test_run();
}
