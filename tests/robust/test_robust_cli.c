/* The command line under failure: pages done before a run stops are kept
 * on stdout (and, with --keep-partial, in the -o file); a page over
 * --page-timeout is abandoned with status 5; -o never names an input, by
 * any spelling or hard link. */
#include <cairo-pdf.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli/clitest.h"

/* Page 1 with a text layer, page 2 blank: with a model that cannot be
 * loaded, page 2 stops the run (status 4) after page 1 was written. (With
 * no model at all page 2 would fail alone and the run go on, issue #17.) */
static char *two_page_pdf(const char *dir)
{
    char *path = g_build_filename(dir, "half.pdf", NULL);
    cairo_surface_t *s = cairo_pdf_surface_create(path, 300, 300);
    cairo_t *cr = cairo_create(s);
    cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 14);
    cairo_move_to(cr, 20, 40);
    cairo_show_text(cr, "Kept before the failure");
    cairo_show_page(cr);
    cairo_show_page(cr);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    g_assert_cmpint(cairo_surface_status(s), ==, CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(s);
    return path;
}

static void test_partial(void)
{
    char *dir = test_tmpdir(), *pdf = two_page_pdf(dir);
    char *out = g_build_filename(dir, "out.txt", NULL);
    /* stdout: page 1 is there although the run failed */
    cli_result r = CLI(NULL, "-m", "/nonexistent/model", pdf);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_nonnull(strstr(r.out, "Kept before the failure"));
    cli_result_free(&r);
    /* -o: nothing by default */
    r = CLI(NULL, "-o", out, "-m", "/nonexistent/model", pdf);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    cli_result_free(&r);
    /* --keep-partial: the pages done, and a note saying so */
    r = CLI(NULL, "--keep-partial", "-o", out, "-m", "/nonexistent/model", pdf);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_nonnull(strstr(r.err, "--keep-partial"));
    char *text = NULL;
    g_assert_true(g_file_get_contents(out, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "Kept before the failure"));
    g_free(text);
    cli_result_free(&r);
    /* no temporary file left behind either way */
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d)))
        g_assert_false(name[0] == '.');
    g_dir_close(d);
    test_rmtree(dir);
    g_free(out);
    g_free(pdf);
    g_free(dir);
}

static void test_page_timeout(void)
{
    char *m = test_data("golden/tiny-siglip-f32"), *img = sample("phototest.tif");
    cli_result r = CLI(NULL, "-m", m, "--max-tokens", "64", "--page-timeout", "0.001", img);
    g_assert_cmpint(r.status, ==, 5);
    g_assert_nonnull(strstr(r.err, "--page-timeout"));
    g_assert_cmpint(count_char(r.out, '\f'), ==, 1);   /* the page is still written (empty) */
    cli_result_free(&r);
    r = CLI(NULL, "--page-timeout", "-1", img);
    g_assert_cmpint(r.status, ==, 2);
    g_assert_nonnull(strstr(r.err, "--page-timeout wants seconds"));
    cli_result_free(&r);
    g_free(m);
    g_free(img);
}

/* -o naming the input through another spelling or a hard link is refused
 * before anything is written, and the input is left as it was. */
static void test_output_is_input(void)
{
    char *dir = test_tmpdir(), *src = sample("born-digital.pdf");
    char *in = g_build_filename(dir, "in.pdf", NULL);
    char *hard = g_build_filename(dir, "link.pdf", NULL);
    char *other = g_strdup_printf("%s/./sub/../in.pdf", dir);
    char *sub = g_build_filename(dir, "sub", NULL);
    gchar *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(src, &data, &len, NULL));
    test_write_file(in, data, len);
    g_assert_cmpint(mkdir(sub, 0700), ==, 0);
    g_assert_cmpint(link(in, hard), ==, 0);
    const char *outs[] = { other, hard };
    for (int i = 0; i < 2; i++) {
        cli_result r = CLI(NULL, "--text-layer", "only", "-o", outs[i], in);
        g_assert_cmpint(r.status, ==, 2);
        g_assert_nonnull(strstr(r.err, "refusing to overwrite"));
        cli_result_free(&r);
        gchar *now = NULL;
        gsize now_len = 0;
        g_assert_true(g_file_get_contents(in, &now, &now_len, NULL));
        g_assert_true(now_len == len && memcmp(now, data, len) == 0);
        g_free(now);
    }
    g_free(data);
    test_rmtree(dir);
    g_free(in);
    g_free(hard);
    g_free(other);
    g_free(sub);
    g_free(src);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/robust-cli/partial", test_partial);
    g_test_add_func("/robust-cli/page-timeout", test_page_timeout);
    g_test_add_func("/robust-cli/output-is-input", test_output_is_input);
    return g_test_run();
}
