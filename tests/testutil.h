/* Shared helpers for the g_test programs. */
#ifndef DV_TESTUTIL_H
#define DV_TESTUTIL_H

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

/* Path under tests/data (DOCVL_TEST_DATA, set by meson). Caller frees. */
static inline char *test_data(const char *rel)
{
    const char *root = g_getenv("DOCVL_TEST_DATA");
    if (!root)
        root = "tests/data";
    return g_build_filename(root, rel, NULL);
}

/* A fresh temporary directory for one test. Caller frees (and may remove). */
static inline char *test_tmpdir(void)
{
    GError *ge = NULL;
    char *d = g_dir_make_tmp("docvl-test-XXXXXX", &ge);
    g_assert_no_error(ge);
    return d;
}

static inline void test_write_file(const char *path, const void *data, size_t len)
{
    GError *ge = NULL;
    g_file_set_contents(path, data, (gssize)len, &ge);
    g_assert_no_error(ge);
}

/* Removes a directory tree made by test_tmpdir. */
static inline void test_rmtree(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (d) {
        const char *n;
        while ((n = g_dir_read_name(d))) {
            char *p = g_build_filename(dir, n, NULL);
            if (g_file_test(p, G_FILE_TEST_IS_DIR))
                test_rmtree(p);
            else
                remove(p);
            g_free(p);
        }
        g_dir_close(d);
    }
    remove(dir);
}

/* Sets an environment variable for a test and gives back what to restore
 * with test_env_restore (the old value, or NULL when it was unset). */
static inline char *test_env_set(const char *name, const char *value)
{
    char *had = g_strdup(g_getenv(name));
    g_assert_true(g_setenv(name, value, TRUE));
    return had;
}

/* Puts back what test_env_set found, and frees it. */
static inline void test_env_restore(const char *name, char *had)
{
    if (had)
        g_setenv(name, had, TRUE);
    else
        g_unsetenv(name);
    g_free(had);
}

#endif
