/* docvl-tokenize end to end: the built program (path in DOCVL_TOKENIZE) on the
 * golden cases, --bos, --help, and its exit codes for bad use and bad input. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"
#include "tok_golden.h"

typedef struct run_result {
    int status;
    char *out, *err;
} run_result;

/* Runs docvl-tokenize ARGS < stdin_path (NULL: /dev/null). */
static run_result run_tool(const char *stdin_path, const char *a1, const char *a2)
{
    const char *exe = g_getenv("DOCVL_TOKENIZE");
    g_assert_nonnull(exe);
    const char *argv[] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" < \"$DV_STDIN\"", exe, a1, a2,
                          NULL};
    char **envp = g_get_environ();
    envp = g_environ_setenv(envp, "DV_STDIN", stdin_path ? stdin_path : "/dev/null", TRUE);
    run_result r = {0};
    GError *ge = NULL;
    gboolean ok = g_spawn_sync(NULL, (char **)argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &r.out,
                               &r.err, &r.status, &ge);
    g_assert_no_error(ge);
    g_assert_true(ok);
    g_strfreev(envp);
    return r;
}

static int exit_code(const run_result *r)
{
    g_assert_true(WIFEXITED(r->status));
    return WEXITSTATUS(r->status);
}

static void free_result(run_result *r)
{
    g_free(r->out);
    g_free(r->err);
}

static char *golden_path(const char *rel)
{
    char *full = g_strconcat("golden/tokenizer/", rel, NULL), *p = test_data(full);
    g_free(full);
    return p;
}

/* Every output line must carry the expected ids and Rust-style decoding. */
/* memcmp may not be given NULL, even for 0 bytes (an empty id list has no data). */
static int same_bytes(const void *a, const void *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

static int compare_output(const char *out, gold_case *v, guint n, int with_bos)
{
    char **lines = g_strsplit(out, "\n", -1);
    int bad = 0;
    guint i = 0;
    for (; lines[i] && lines[i][0]; i++) {
        g_assert_cmpuint(i, <, n);
        JsonParser *p = json_parser_new();
        g_assert_true(json_parser_load_from_data(p, lines[i], -1, NULL));
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        g_assert_cmpstr(json_object_get_string_member(o, "id"), ==, v[i].id);
        GArray *ids = gold_ids(o, "ids");
        const GArray *want = with_bos ? v[i].ids_bos : v[i].ids;
        char *dec = NULL;
        size_t dlen = 0;
        g_assert_cmpint(dv_jsonl_string(lines[i], strlen(lines[i]), "decoded", &dec, &dlen), ==,
                        1);
        if (ids->len != want->len || !same_bytes(ids->data, want->data, ids->len * 4) ||
            (!with_bos && (dlen != v[i].decoded_len || !same_bytes(dec, v[i].decoded, dlen)))) {
            g_test_message("mismatch: %s", lines[i]);
            bad++;
        }
        free(dec);
        g_array_unref(ids);
        g_object_unref(p);
    }
    g_assert_cmpuint(i, ==, n);
    g_strfreev(lines);
    return bad;
}

static void check_golden(const char *name, int with_bos)
{
    char *tok_rel = g_strdup_printf("%s/tokenizer.json", name);
    char *exp_rel = g_strdup_printf("golden/tokenizer/%s.expected.jsonl", name);
    char *tok = golden_path(tok_rel), *cases = golden_path("cases.jsonl");
    guint n;
    gold_case *v = gold_load("golden/tokenizer/cases.jsonl", exp_rel, &n);
    run_result r = run_tool(cases, with_bos ? "--bos" : tok, with_bos ? tok : NULL);
    if (exit_code(&r) != 0)
        g_test_message("stderr: %s", r.err);
    g_assert_cmpint(exit_code(&r), ==, 0);
    int bad = compare_output(r.out, v, n, with_bos);
    if (bad)
        g_test_message("%s: %d of %u lines mismatch", name, bad, n);
    g_assert_cmpint(bad, ==, 0);
    free_result(&r);
    gold_free(v, n);
    g_free(tok_rel);
    g_free(exp_rel);
    g_free(tok);
    g_free(cases);
}

static void test_small(void) { check_golden("deepseek_llm_small", 0); }
static void test_small_bos(void) { check_golden("deepseek_llm_small", 1); }
static void test_vl(void) { check_golden("deepseek_vl", 0); }

static void test_usage(void)
{
    run_result r = run_tool(NULL, "--help", NULL);
    g_assert_cmpint(exit_code(&r), ==, 0);
    g_assert_nonnull(strstr(r.out, "usage: docvl-tokenize"));
    free_result(&r);
    r = run_tool(NULL, NULL, NULL);
    g_assert_cmpint(exit_code(&r), ==, 2);
    g_assert_nonnull(strstr(r.err, "usage"));
    free_result(&r);
    r = run_tool(NULL, "--frobnicate", "x.json");
    g_assert_cmpint(exit_code(&r), ==, 2);
    g_assert_nonnull(strstr(r.err, "--frobnicate"));
    free_result(&r);
    r = run_tool(NULL, "a.json", "b.json");
    g_assert_cmpint(exit_code(&r), ==, 2);
    free_result(&r);
}

static void test_bad_input(void)
{
    run_result r = run_tool(NULL, "/nonexistent/tokenizer.json", NULL);
    g_assert_cmpint(exit_code(&r), ==, 1);
    g_assert_nonnull(strstr(r.err, "/nonexistent/tokenizer.json"));
    free_result(&r);

    char *tok = golden_path("deepseek_llm_small/tokenizer.json");
    char *dir = test_tmpdir(), *in = g_build_filename(dir, "in.jsonl", NULL);
    static const char *bad_lines[] = {
        "{\"id\": \"a\", \"text\": \"ok\"}\n{\"id\": \"b\", \"text\": \"x\"\n",   /* not JSON */
        "{\"id\": \"a\", \"text\": 5}\n",                                         /* no string */
        "{\"text\": \"x\"}\n",                                                    /* no id */
        "[1, 2]\n",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad_lines); i++) {
        test_write_file(in, bad_lines[i], strlen(bad_lines[i]));
        r = run_tool(in, tok, NULL);
        g_test_message("stderr: %s", r.err);
        g_assert_cmpint(exit_code(&r), ==, 1);
        g_assert_nonnull(strstr(r.err, "line"));
        free_result(&r);
    }
    /* the good first line was written before the bad second one stopped the run */
    test_write_file(in, bad_lines[0], strlen(bad_lines[0]));
    r = run_tool(in, tok, NULL);
    g_assert_nonnull(strstr(r.out, "\"id\": \"a\""));
    g_assert_nonnull(strstr(r.err, "line 2"));
    free_result(&r);
    g_free(in);
    g_free(tok);
    test_rmtree(dir);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tokenize_cli/golden/deepseek_llm_small", test_small);
    g_test_add_func("/tokenize_cli/golden/deepseek_llm_small_bos", test_small_bos);
    g_test_add_func("/tokenize_cli/golden/deepseek_vl", test_vl);
    g_test_add_func("/tokenize_cli/usage", test_usage);
    g_test_add_func("/tokenize_cli/bad_input", test_bad_input);
    return g_test_run();
}
