/* Exit status 1 (output not writable), long documents read page by page (a
 * 20-page PDF must not cost 20 pages of memory), and a run that goes on past
 * pages it cannot read. */
#include <cairo-pdf.h>
#include <sys/resource.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "clitest.h"

static void test_unwritable_output(void)
{
    char *pdf = sample("born-digital.pdf");
    cli_result r = CLI(NULL, "-o", "/nonexistent-docvl-dir/out.txt", pdf);
    g_assert_cmpint(r.status, ==, 1);
    g_assert_nonnull(strstr(r.err, "/nonexistent-docvl-dir"));
    cli_result_free(&r);
    if (g_file_test("/dev/full", G_FILE_TEST_EXISTS)) {
        /* stdout that cannot take the text: a write error, not success */
        char *cmd = g_strdup_printf("exec '%s' '%s' > /dev/full", g_getenv("DOCVL_EXE"), pdf);
        int status = system(cmd);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 1);
        g_free(cmd);
    }
    g_free(pdf);
}

/* n letter-size pages of text, drawn by Cairo: a born-digital PDF. */
static void write_pdf(const char *path, int pages)
{
    cairo_surface_t *s = cairo_pdf_surface_create(path, 612, 792);
    cairo_t *cr = cairo_create(s);
    cairo_select_font_face(cr, "serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 11);
    for (int p = 0; p < pages; p++) {
        for (int line = 0; line < 50; line++) {
            char text[128];
            snprintf(text, sizeof text, "Page %d line %d: the quick brown fox jumps over the dog.",
                     p + 1, line + 1);
            cairo_move_to(cr, 72, 72 + 13 * line);
            cairo_show_text(cr, text);
        }
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    g_assert_cmpint(cairo_surface_status(s), ==, CAIRO_STATUS_SUCCESS);
}

/* Peak RSS (KiB) of one docvl run, from wait4's rusage of the child. */
static long peak_rss_kib(const char *pdf, const char *pages, int *n_formfeeds)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        /* AddressSanitizer's quarantine holds up to 256 MB of freed blocks,
         * which would count as pages held: the child keeps none of it */
        const char *asan = g_getenv("ASAN_OPTIONS");
        if (asan) {
            char *opts = g_strconcat(asan, ":quarantine_size_mb=0", NULL);
            g_setenv("ASAN_OPTIONS", opts, TRUE);
        }
        execl(g_getenv("DOCVL_EXE"), "docvl", "--dpi", "300", "--pages", pages, pdf, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *n_formfeeds = 0;
    char buf[4096];
    ssize_t got;
    while ((got = read(fds[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++)
            *n_formfeeds += buf[i] == '\f';
    close(fds[0]);
    int status;
    struct rusage ru;
    g_assert_cmpint(wait4(pid, &status, 0, &ru), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    return ru.ru_maxrss;
}

static void test_twenty_pages_streamed(void)
{
    char *dir = test_tmpdir(), *pdf = g_build_filename(dir, "twenty.pdf", NULL);
    write_pdf(pdf, 20);
    int ff2, ff20;
    long two = peak_rss_kib(pdf, "1-2", &ff2);
    long twenty = peak_rss_kib(pdf, "1-end", &ff20);
    g_assert_cmpint(ff2, ==, 2);
    g_assert_cmpint(ff20, ==, 20);
    /* One 300 dpi letter page is 2550 x 3300 RGB = 25 MB (more with Cairo's
     * surface): holding the 18 extra pages would add over 450 MB. */
    g_test_message("peak RSS: 2 pages %ld KiB, 20 pages %ld KiB", two, twenty);
    g_assert_cmpint(twenty, <, two + 100 * 1024);
    remove(pdf);
    test_rmtree(dir);
    g_free(pdf);
    g_free(dir);
}

/* Three pages; the middle one only a drawing, without text: without a
 * model it cannot be read. */
static void write_gap_pdf(const char *path)
{
    cairo_surface_t *s = cairo_pdf_surface_create(path, 612, 792);
    cairo_t *cr = cairo_create(s);
    cairo_select_font_face(cr, "serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 14);
    for (int p = 1; p <= 3; p++) {
        if (p == 2) {
            cairo_rectangle(cr, 100, 100, 300, 200);
            cairo_fill(cr);
        } else {
            char text[64];
            snprintf(text, sizeof text, "This is readable page %d.", p);
            cairo_move_to(cr, 72, 72);
            cairo_show_text(cr, text);
        }
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

/* A page that needs the missing model is reported (its number and why),
 * written empty, and the run goes on to the next page and the next input;
 * the status at the end is 4, with the download hint once. */
static void test_goes_on_past_failed_pages(void)
{
    char *dir = test_tmpdir(), *gap = g_build_filename(dir, "gap.pdf", NULL);
    write_gap_pdf(gap);
    cli_result r = CLI(NULL, gap);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_nonnull(strstr(r.out, "readable page 1"));
    g_assert_nonnull(strstr(r.out, "readable page 3"));
    g_assert_cmpint(count_char(r.out, '\f'), ==, 3);
    g_assert_nonnull(strstr(r.err, "page 2: it needs the model"));
    /* the file as given, as errors name it */
    char *named = g_strdup_printf("docvl: %s: page 2", gap);
    g_assert_nonnull(strstr(r.err, named));
    g_free(named);
    g_assert_null(strstr(r.err, "page 1:"));
    g_assert_nonnull(strstr(r.err, "huggingface-cli download"));
    cli_result_free(&r);
    char *scan = sample("scan.pdf"), *pdf = sample("born-digital.pdf"), *outdir =
        g_build_filename(dir, "out", NULL);
    g_assert_cmpint(g_mkdir(outdir, 0755), ==, 0);
    r = CLI(NULL, "-o", outdir, scan, gap, pdf);
    g_assert_cmpint(r.status, ==, 4);
    const char *written[] = {"scan.txt", "gap.txt", "born-digital.txt"};
    for (size_t i = 0; i < G_N_ELEMENTS(written); i++) {
        char *path = g_build_filename(outdir, written[i], NULL);
        g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
        g_free(path);
    }
    g_assert_nonnull(strstr(r.err, "2 pages could not be read without a model"));
    cli_result_free(&r);
    test_rmtree(dir);
    g_free(outdir);
    g_free(scan);
    g_free(pdf);
    g_free(gap);
    g_free(dir);
}

/* Three pages with a running head, a running foot with the page number
 * and a note set sideways in the left margin around two body lines; under
 * the head, each page's own caption over a header line that all pages
 * repeat (a table's head, not furniture). */
static void write_furniture_pdf(const char *path)
{
    cairo_surface_t *s = cairo_pdf_surface_create(path, 612, 792);
    cairo_t *cr = cairo_create(s);
    cairo_select_font_face(cr, "serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    for (int p = 1; p <= 3; p++) {
        char text[64];
        cairo_set_font_size(cr, 9);
        cairo_move_to(cr, 72, 40);
        cairo_show_text(cr, "The Journal of Testing, Volume 3");
        static const char *const fruit[] = { "apples", "pears", "plums" };
        snprintf(text, sizeof text, "Table of %s", fruit[p - 1]);
        cairo_move_to(cr, 72, 60);
        cairo_show_text(cr, text);
        cairo_move_to(cr, 72, 71);
        cairo_show_text(cr, "Name Count Price");
        snprintf(text, sizeof text, "Page %d of 3", p);
        cairo_move_to(cr, 280, 770);
        cairo_show_text(cr, text);
        cairo_set_font_size(cr, 12);
        for (int l = 0; l < 2; l++) {
            snprintf(text, sizeof text, "Body line %d of page %d says something.", l + 1, p);
            cairo_move_to(cr, 72, 200 + 20 * l);
            cairo_show_text(cr, text);
        }
        cairo_save(cr);
        cairo_move_to(cr, 30, 600);
        cairo_rotate(cr, -G_PI / 2);
        cairo_set_font_size(cr, 10);
        cairo_show_text(cr, "Downloaded from example.org");
        cairo_restore(cr);
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

/* Markdown leaves running heads and feet, page numbers and sideways
 * margin notes out (repeated across pages, or a number at the page's
 * foot); --keep-furniture keeps them, txt always does. Also on two corpus
 * documents: the running head and page numbers of an ICDAR 2013 report,
 * and the foot of a single PLOS page, which carries its page number. */
static void test_furniture(void)
{
    char *dir = test_tmpdir(), *pdf = g_build_filename(dir, "furniture.pdf", NULL);
    write_furniture_pdf(pdf);
    const char *furniture[] = {"Journal of Testing", "Page 2 of 3", "Downloaded"};
    cli_result r = CLI(NULL, "-f", "md", pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "Body line 2 of page 3 says something."));
    for (size_t i = 0; i < G_N_ELEMENTS(furniture); i++)
        g_assert_null(strstr(r.out, furniture[i]));
    /* repeated, but under a line of the page's own: the body's */
    g_assert_nonnull(strstr(r.out, "Table of pears"));
    g_assert_nonnull(strstr(r.out, "Count Price"));
    cli_result_free(&r);
    const char *keep[][4] = {{"-f", "md", "--keep-furniture", NULL}, {"-f", "txt", NULL, NULL}};
    for (size_t k = 0; k < G_N_ELEMENTS(keep); k++) {
        const char *args[] = {keep[k][0], keep[k][1], keep[k][2] ? keep[k][2] : pdf,
                              keep[k][2] ? pdf : NULL, NULL};
        r = cli_run(NULL, args);
        g_assert_cmpint(r.status, ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(furniture); i++)
            g_assert_nonnull(strstr(r.out, furniture[i]));
        cli_result_free(&r);
    }
    char *report = test_data("icdar2013/us-015.pdf");
    r = CLI(NULL, "-f", "md", report);
    g_assert_null(strstr(r.out, "Contains Nonbinding Recommendations"));
    g_assert_false(g_regex_match_simple("\n9\n", r.out, 0, 0));
    cli_result_free(&r);
    r = CLI(NULL, report);
    g_assert_nonnull(strstr(r.out, "Contains Nonbinding Recommendations"));
    cli_result_free(&r);
    char *plos = test_data("corpus/born_digital/plos_hf_ff0f0b_pg2.pdf");
    r = CLI(NULL, "-f", "md", plos);
    g_assert_nonnull(strstr(r.out, "Lassa Fever in Post-Conflict Sierra Leone"));
    g_assert_null(strstr(r.out, "www.plosntds.org"));
    cli_result_free(&r);
    test_rmtree(dir);
    g_free(plos);
    g_free(report);
    g_free(pdf);
    g_free(dir);
}

static void assert_all_lines_prefixed(const char *err)
{
    char **lines = g_strsplit(err, "\n", -1);
    for (char **l = lines; *l; l++)
        if (**l && **l != ' ')   /* the model hint's continuation lines are indented */
            g_assert_true(g_str_has_prefix(*l, "docvl: ") || g_str_has_prefix(*l, "and pass"));
    g_strfreev(lines);
}

/* Messages a newcomer reads: a page that cannot be drawn fails with its
 * reason, not "needs the model" (no model could help), status 5 not 4,
 * and nothing Poppler says in the trial run reaches stderr bare; a
 * doubtful layer is described, not named by its verdict. */
static void test_messages(void)
{
    char *bomb = test_data("corpus/malformed/bomb_giant.pdf");
    cli_result r = CLI(NULL, bomb);
    g_assert_cmpint(r.status, ==, 5);
    g_assert_nonnull(strstr(r.err, "page 1: page needs more than"));
    g_assert_null(strstr(r.err, "model"));
    assert_all_lines_prefixed(r.err);
    cli_result_free(&r);
    char *ocr = test_data("corpus/malformed/malformed-from-issue-932.pdf");
    r = CLI(NULL, ocr);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.err, "scanned picture"));
    g_assert_null(strstr(r.err, "on-image"));
    cli_result_free(&r);
    char *image = sample("phototest.tif");
    r = CLI(NULL, "--text-layer", "only", image);
    g_assert_null(strstr(r.err, "text layer"));
    cli_result_free(&r);
    g_free(image);
    g_free(ocr);
    g_free(bomb);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/exit-1-unwritable-output", test_unwritable_output);
    g_test_add_func("/cli/twenty-pages-streamed", test_twenty_pages_streamed);
    g_test_add_func("/cli/goes-on-past-failed-pages", test_goes_on_past_failed_pages);
    g_test_add_func("/cli/furniture", test_furniture);
    g_test_add_func("/cli/messages", test_messages);
    return g_test_run();
}
