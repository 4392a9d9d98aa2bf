/* Tables in text-layer pages through the command line: an ICDAR 2013
 * document (tests/data/corpus/tables/eu-006.pdf, born-digital) as Markdown
 * holds its ground-truth cells in the right rows and columns; the tables go
 * with --no-text-tables and never reach txt output. */
#include "clitest.h"

/* The cells of the pipe-table row of md that starts with first_cell, split
 * on unescaped pipes; NULL when there is none. */
static char **row_of(const char *md, const char *first_cell)
{
    char *start = g_strdup_printf("\n| %s |", first_cell);
    const char *p = strstr(md, start);
    g_free(start);
    if (!p)
        return NULL;
    p += 2;
    const char *end = strchr(p, '\n');
    char *line = g_strndup(p, end ? (gsize)(end - p) : strlen(p));
    GPtrArray *cells = g_ptr_array_new();
    GString *cell = g_string_new(NULL);
    for (const char *s = line; *s; s++) {
        if (*s == '\\' && s[1]) {
            g_string_append_c(cell, *++s);
        } else if (*s == '|') {
            g_ptr_array_add(cells, g_strdup(g_strstrip(cell->str)));
            g_string_truncate(cell, 0);
        } else {
            g_string_append_c(cell, *s);
        }
    }
    g_ptr_array_add(cells, NULL);
    g_string_free(cell, TRUE);
    g_free(line);
    return (char **)g_ptr_array_free(cells, FALSE);
}

static void expect_row(const char *md, const char *const *cells)
{
    char **row = row_of(md, cells[0]);
    if (!row)
        g_error("no table row starting with '%s' in:\n%s", cells[0], md);
    g_assert_cmpint(g_strv_length(row), ==, g_strv_length((char **)cells));
    for (int c = 0; cells[c]; c++)
        g_assert_cmpstr(row[c], ==, cells[c]);
    g_strfreev(row);
}

static void test_icdar_md(void)
{
    char *pdf = test_data("corpus/tables/eu-006.pdf");
    cli_result r = CLI(NULL, "-q", "-f", "md", pdf);
    g_assert_cmpint(r.status, ==, 0);
    /* eu-006.gt.md: table 1 (3 columns, 15 rows), table 2 (5 columns) and
     * table 3 (page 2) */
    expect_row(r.out, (const char *const[]){ "Names", "Own brands market share",
                                             "Number of items", NULL });
    g_assert_nonnull(strstr(r.out, "| Names | Own brands market share | Number of items |\n"
                                   "| --- | --- | --- |\n"));
    expect_row(r.out, (const char *const[]){ "Franprix", "28.0", "n.a.", NULL });
    expect_row(r.out, (const char *const[]){ "Système U", "18.5", "985", NULL });
    expect_row(r.out, (const char *const[]){ "Prisunic", "11.7", "550", NULL });
    expect_row(r.out, (const char *const[]){ "Own Brands", "14.7", "17.1", "17.4", "17.1", NULL });
    expect_row(r.out, (const char *const[]){ "Low price items", "4.7", "7.9", "7.3", "6.9", NULL });
    expect_row(r.out, (const char *const[]){ "Retailer", "Own Brands Market Shares", NULL });
    g_assert_nonnull(strstr(r.out, "| Retailer | Own Brands Market Shares |\n| --- | --- |\n"
                                   "| Monoprix | 28% |\n| Casino | 25% |\n"));
    g_assert_cmpint(count_char(r.out, '\n') > 40, ==, 1);
    /* the text around the tables stays as lines */
    g_assert_nonnull(strstr(r.out, "\nSource: LSA, 1998\n"));
    g_assert_null(strstr(r.out, "| Source"));
    cli_result_free(&r);
    g_free(pdf);
}

static void test_icdar_off_and_txt(void)
{
    char *pdf = test_data("corpus/tables/eu-006.pdf");
    cli_result r = CLI(NULL, "-q", "-f", "md", "--no-text-tables", pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_null(strstr(r.out, "| --- |"));
    g_assert_nonnull(strstr(r.out, "\nFranprix\n")); /* the text layer reads it column by column */
    cli_result_free(&r);
    /* the last of the two options wins */
    r = CLI(NULL, "-q", "-f", "md", "--no-text-tables", "--text-tables", pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "| Franprix | 28.0 | n.a. |\n"));
    cli_result_free(&r);
    r = CLI(NULL, "-q", "-f", "txt", pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_null(strchr(r.out, '|'));
    g_assert_nonnull(strstr(r.out, "Franprix"));
    cli_result_free(&r);
    g_free(pdf);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/tables/icdar_md", test_icdar_md);
    g_test_add_func("/cli/tables/off_and_txt", test_icdar_off_and_txt);
    return g_test_run();
}
