/* Page selections: "1-3,7,10-end" and its error cases. */
#include <string.h>

#include "doc/pages.h"
#include "testutil.h"

static void expect(const char *spec, int n_pages, const int *want, int n_want)
{
    dv_err e = {0};
    int *idx = NULL, n = 0;
    int rc = dv_pages_parse(spec, n_pages, &idx, &n, &e);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    g_assert_cmpint(n, ==, n_want);
    for (int i = 0; i < n; i++)
        g_assert_cmpint(idx[i], ==, want[i]);
    free(idx);
}

static void expect_error(const char *spec, int n_pages)
{
    dv_err e = {0};
    int *idx = NULL, n = 0;
    g_assert_cmpint(dv_pages_parse(spec, n_pages, &idx, &n, &e), ==, DOCVL_EINVAL);
    g_assert_null(idx);
    g_assert_cmpint(n, ==, 0);
    g_assert_cmpuint(strlen(e.msg), >, 0);
}

static void test_ranges(void)
{
    expect("1-3,7,10-end", 12, (int[]){0, 1, 2, 6, 9, 10, 11}, 7);
    expect(" 2 , 4 - 5 ", 5, (int[]){1, 3, 4}, 3);
    expect("end", 4, (int[]){3}, 1);
    expect("3-", 5, (int[]){2, 3, 4}, 3);
    expect("5,1", 5, (int[]){4, 0}, 2);   /* the order written is kept */
    expect("1-3,2-4", 5, (int[]){0, 1, 2, 3}, 4); /* each page once */
}

static void test_all(void)
{
    expect(NULL, 3, (int[]){0, 1, 2}, 3);
    expect("", 3, (int[]){0, 1, 2}, 3);
}

static void test_errors(void)
{
    expect_error("0", 5);
    expect_error("6", 5);
    expect_error("4-2", 5);
    expect_error("1,,2", 5);
    expect_error("1;2", 5);
    expect_error("a", 5);
    expect_error("1-x", 5);
    expect_error("99999999999999", 5);
    expect_error("1", 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pages/ranges", test_ranges);
    g_test_add_func("/pages/all", test_all);
    g_test_add_func("/pages/errors", test_errors);
    return g_test_run();
}
