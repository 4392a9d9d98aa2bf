/* docvl's weight cache options: --cache-dir writes a cache file there (and
 * says so once), the next run maps it with the same output, --no-cache
 * neither reads nor writes, and the default directory follows
 * $DOCVL_CACHE_DIR, then $XDG_CACHE_HOME/docvl. meson sets DOCVL_CACHE_DIR
 * empty (no cache) so other tests never write to the home directory. */
#include <glib/gstdio.h>

#include "clitest.h"

static int count_dvq(const char *dir)
{
    int n = 0;
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return 0;
    const char *name;
    while ((name = g_dir_read_name(d)))
        n += g_str_has_suffix(name, ".dvq");
    g_dir_close(d);
    return n;
}

static void test_cache_dir(void)
{
    char *m = test_data("golden/tiny-siglip-f32"), *img = sample("phototest.tif");
    char *tmp = test_tmpdir(), *cache = g_build_filename(tmp, "sub", "cache", NULL);
    cli_result plain = CLI(NULL, "-m", m, "--max-tokens", "12", img);
    g_assert_cmpint(plain.status, ==, 0);
    g_assert_null(strstr(plain.err, "cache"));

    cli_result r = CLI(NULL, "-m", m, "--cache-dir", cache, "--max-tokens", "12", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpint(count_dvq(cache), ==, 1);
    g_assert_nonnull(strstr(r.err, "cached q8 weights in "));
    g_assert_nonnull(strstr(r.err, cache));
    g_assert_cmpstr(r.out, ==, plain.out);
    cli_result_free(&r);
    /* mapped this time: silent, same text */
    r = CLI(NULL, "-m", m, "--cache-dir", cache, "--max-tokens", "12", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_null(strstr(r.err, "cache"));
    g_assert_cmpstr(r.out, ==, plain.out);
    cli_result_free(&r);
    /* q4 is another file; -q keeps the note quiet */
    r = CLI(NULL, "-q", "-m", m, "--cache-dir", cache, "--weights", "q4", "--max-tokens", "4", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpstr(r.err, ==, "");
    g_assert_cmpint(count_dvq(cache), ==, 2);
    cli_result_free(&r);

    /* --no-cache wins over --cache-dir */
    char *other = g_build_filename(tmp, "other", NULL);
    r = CLI(NULL, "-m", m, "--cache-dir", other, "--no-cache", "--max-tokens", "12", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_false(g_file_test(other, G_FILE_TEST_EXISTS));
    g_assert_cmpstr(r.out, ==, plain.out);
    cli_result_free(&r);
    r = CLI(NULL, "--cache-dir", "", img);
    g_assert_cmpint(r.status, ==, 2);
    cli_result_free(&r);

    cli_result_free(&plain);
    test_rmtree(tmp);
    g_free(other);
    g_free(cache);
    g_free(tmp);
    g_free(m);
    g_free(img);
}

/* An unwritable cache directory: the run works and warns. */
static void test_unwritable(void)
{
    char *m = test_data("golden/tiny-siglip-f32"), *img = sample("phototest.tif");
    char *tmp = test_tmpdir(), *file = g_build_filename(tmp, "file", NULL);
    char *under = g_build_filename(file, "cache", NULL);
    test_write_file(file, "x", 1);
    cli_result r = CLI(NULL, "-m", m, "--cache-dir", under, "--max-tokens", "4", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.err, "warning: could not write the weight cache"));
    cli_result_free(&r);
    test_rmtree(tmp);
    g_free(under);
    g_free(file);
    g_free(tmp);
    g_free(m);
    g_free(img);
}

/* The default directory: $DOCVL_CACHE_DIR, else $XDG_CACHE_HOME/docvl. */
static void test_environment(void)
{
    char *m = test_data("golden/tiny-siglip-f32"), *img = sample("phototest.tif");
    char *tmp = test_tmpdir(), *env = g_build_filename(tmp, "env", NULL);
    char *xdg_docvl = g_build_filename(tmp, "docvl", NULL);
    g_setenv("DOCVL_CACHE_DIR", env, TRUE);
    cli_result r = CLI(NULL, "-m", m, "--max-tokens", "4", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpint(count_dvq(env), ==, 1);
    cli_result_free(&r);
    g_unsetenv("DOCVL_CACHE_DIR");
    g_setenv("XDG_CACHE_HOME", tmp, TRUE);
    r = CLI(NULL, "-m", m, "--max-tokens", "4", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpint(count_dvq(xdg_docvl), ==, 1);
    cli_result_free(&r);
    g_setenv("DOCVL_CACHE_DIR", "", TRUE); /* empty: off */
    test_rmtree(xdg_docvl);
    r = CLI(NULL, "-m", m, "--max-tokens", "4", img);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_false(g_file_test(xdg_docvl, G_FILE_TEST_EXISTS));
    cli_result_free(&r);
    test_rmtree(tmp);
    g_free(xdg_docvl);
    g_free(env);
    g_free(tmp);
    g_free(m);
    g_free(img);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cache/cache-dir", test_cache_dir);
    g_test_add_func("/cache/unwritable", test_unwritable);
    g_test_add_func("/cache/environment", test_environment);
    return g_test_run();
}
