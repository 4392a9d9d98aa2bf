/* man/docvl.1 renders without groff warnings and documents every option
 * that `docvl --help` lists. */
#include "clitest.h"

static void test_groff_clean(void)
{
    char *groff = g_find_program_in_path("groff");
    if (!groff) {
        g_test_skip("groff is not installed");
        return;
    }
    const char *man = g_getenv("DOCVL_MAN");
    g_assert_nonnull(man);
    const char *argv[] = { groff, "-ww", "-man", "-Tutf8", man, NULL };
    char *out = NULL, *err = NULL;
    int status = 0;
    GError *ge = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL,
                               NULL, &out, &err, &status, &ge));
    g_assert_no_error(ge);
    g_assert_cmpstr(err, ==, "");
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_nonnull(strstr(out, "Interrupted by SIGINT"));
    g_free(out);
    g_free(err);
    g_free(groff);
}

static void test_every_option_documented(void)
{
    char *src = NULL;
    g_assert_true(g_file_get_contents(g_getenv("DOCVL_MAN"), &src, NULL, NULL));
    cli_result r = CLI(NULL, "--help");
    g_assert_cmpint(r.status, ==, 0);
    GRegex *re = g_regex_new("--([a-z][a-z-]+)", 0, 0, NULL);
    GMatchInfo *mi = NULL;
    int n = 0;
    g_regex_match(re, r.out, 0, &mi);
    while (g_match_info_matches(mi)) {
        char *name = g_match_info_fetch(mi, 1);
        /* roff source writes each hyphen as \- */
        char **parts = g_strsplit(name, "-", -1);
        char *joined = g_strjoinv("\\-", parts);
        char *want = g_strconcat("\\-\\-", joined, NULL);
        if (!strstr(src, want))
            g_test_message("man page lacks %s", want);
        g_assert_nonnull(strstr(src, want));
        n++;
        g_free(want);
        g_free(joined);
        g_strfreev(parts);
        g_free(name);
        g_match_info_next(mi, NULL);
    }
    g_assert_cmpint(n, >=, 18);
    g_match_info_free(mi);
    g_regex_unref(re);
    cli_result_free(&r);
    g_free(src);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/man/groff-clean", test_groff_clean);
    g_test_add_func("/man/every-option", test_every_option_documented);
    return g_test_run();
}
