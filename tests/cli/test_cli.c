/* The docvl command line on the text-layer path (no model): formats, exit
 * codes, stdin, -o atomicity and signals. */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <signal.h>
#include <unistd.h>

#include "clitest.h"

static void test_version_help(void)
{
    cli_result r = CLI(NULL, "--version");
    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(g_str_has_prefix(r.out, "docvl "));
    cli_result_free(&r);
    r = CLI(NULL, "--help");
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "--text-layer"));
    g_assert_cmpstr(r.err, ==, "");
    cli_result_free(&r);
}

static void expect_usage(const char *const *args, const char *msg)
{
    cli_result r = cli_run(NULL, args);
    g_assert_cmpint(r.status, ==, 2);
    g_assert_cmpstr(r.out, ==, "");
    g_assert_nonnull(strstr(r.err, msg));
    cli_result_free(&r);
}

static void test_usage_errors(void)
{
    char *pdf = sample("born-digital.pdf");
    expect_usage((const char *const[]){ "--bogus", pdf, NULL }, "unknown option: --bogus");
    expect_usage((const char *const[]){ "-Z", pdf, NULL }, "unknown option: -Z");
    expect_usage((const char *const[]){ "-f", "pdf", pdf, NULL }, "unknown output format");
    expect_usage((const char *const[]){ pdf, "-f", NULL }, "needs a value");
    expect_usage((const char *const[]){ "--dpi", "7x", pdf, NULL }, "--dpi");
    expect_usage((const char *const[]){ "--threads", "0", pdf, NULL }, "--threads");
    expect_usage((const char *const[]){ "--tiles", "maybe", pdf, NULL }, "--tiles");
    expect_usage((const char *const[]){ NULL }, "no input");
    expect_usage((const char *const[]){ "-", "-", NULL }, "only once");
    expect_usage((const char *const[]){ "--pages", "9", pdf, NULL }, "beyond the last page");
    g_free(pdf);
}

static void test_input_errors(void)
{
    char *dir = test_tmpdir();
    char *empty = g_build_filename(dir, "empty.pdf", NULL);
    char *junk = g_build_filename(dir, "junk.bin", NULL);
    test_write_file(empty, "", 0);
    test_write_file(junk, "not a document at all\n", 22);
    const char *bad[] = { "/nonexistent/x.pdf", empty, junk };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        cli_result r = CLI(NULL, bad[i]);
        g_assert_cmpint(r.status, ==, 3);
        g_assert_cmpstr(r.out, ==, "");
        g_assert_cmpuint(strlen(r.err), >, 0);
        cli_result_free(&r);
    }
    g_free(empty);
    g_free(junk);
    test_rmtree(dir);
    g_free(dir);
}

static void test_model_missing(void)
{
    char *scan = sample("scan.pdf"), *pdf = sample("born-digital.pdf");
    cli_result r = CLI(NULL, scan);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_nonnull(strstr(r.err, "huggingface-cli download"));
    /* the page that cannot be read is written empty and the run goes on
     * (issue #17): only its form feed, no text */
    g_assert_cmpstr(r.out, ==, "\f");
    cli_result_free(&r);
    r = CLI(NULL, "--text-layer", "off", "-m", "/nonexistent/model", pdf);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_nonnull(strstr(r.err, "/nonexistent/model"));
    cli_result_free(&r);
    r = CLI(NULL, "--info", "-m", "/nonexistent/model");
    g_assert_cmpint(r.status, ==, 4);
    cli_result_free(&r);
    g_free(scan);
    g_free(pdf);
}

/* Several inputs on standard output: each document after the first starts
 * with a form feed, and in md with a comment naming its file (several hOCR
 * documents are refused there: one XHTML document each, -o DIR). */
static void test_several_on_stdout(void)
{
    char *pdf = sample("born-digital.pdf"), *table = sample("table.pdf");
    cli_result r = CLI(NULL, pdf, table);
    g_assert_cmpint(r.status, ==, 0);
    char *second = strstr(r.out, "\f\f");   /* 4 pages, then the mark */
    g_assert_nonnull(second);
    g_assert_cmpint(count_char(r.out, '\f'), ==, 4 + 1 + 1);
    g_assert_nonnull(strstr(second, "Animal"));
    cli_result_free(&r);
    r = CLI(NULL, "-f", "md", pdf, table);
    char *first = g_strdup_printf("<!-- document %s -->\n\n<!-- page 1 -->", pdf);
    char *next = g_strdup_printf("\f\n<!-- document %s -->\n\n<!-- page 1 -->", table);
    g_assert_true(g_str_has_prefix(r.out, first));
    g_assert_nonnull(strstr(r.out, next));
    cli_result_free(&r);
    r = CLI(NULL, "-f", "hocr", pdf, table);
    g_assert_cmpint(r.status, ==, 2);
    cli_result_free(&r);
    /* one input: nothing added */
    r = CLI(NULL, "-f", "md", table);
    g_assert_true(g_str_has_prefix(r.out, "<!-- page 1 -->"));
    cli_result_free(&r);
    g_free(first);
    g_free(next);
    g_free(pdf);
    g_free(table);
}

/* An encrypted PDF's message says how to give the password. */
static void test_encrypted_hint(void)
{
    char *pdf = test_data("corpus/malformed/password-example.pdf");
    cli_result r = CLI(NULL, pdf);
    g_assert_cmpint(r.status, ==, 3);
    g_assert_nonnull(strstr(r.err, "encrypted"));
    g_assert_nonnull(strstr(r.err, "--password"));
    cli_result_free(&r);
    g_free(pdf);
}

static void test_text(void)
{
    char *pdf = sample("born-digital.pdf");
    cli_result r = CLI(NULL, pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpint(count_char(r.out, '\f'), ==, 4);
    g_assert_true(g_str_has_suffix(r.out, "\f"));
    g_assert_nonnull(strstr(r.out, "Hello, here is some text without a meaning."));
    g_assert_cmpstr(r.err, ==, "");
    cli_result_free(&r);
    r = CLI(NULL, "--pages", "2-3", pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpint(count_char(r.out, '\f'), ==, 2);
    cli_result_free(&r);
    g_free(pdf);
}

static void test_markdown(void)
{
    char *pdf = sample("born-digital.pdf");
    cli_result r = CLI(NULL, "-f", "md", "--pages", "1,3", pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(g_str_has_prefix(r.out, "<!-- page 1 -->\n\n"));
    g_assert_nonnull(strstr(r.out, "\n<!-- page 3 -->\n\n"));
    g_assert_null(strstr(r.out, "<!-- page 2 -->"));
    g_assert_nonnull(strstr(r.out, "Hello, here is some text"));
    cli_result_free(&r);
    g_free(pdf);
}

static int count_nodes(xmlXPathContextPtr xc, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, xc);
    g_assert_nonnull(o);
    int n = o->nodesetval ? o->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(o);
    return n;
}

static void test_hocr(void)
{
    char *pdf = sample("born-digital.pdf");
    cli_result r = CLI(NULL, "-f", "hocr", pdf);
    g_assert_cmpint(r.status, ==, 0);
    xmlDocPtr doc = xmlReadMemory(r.out, (int)r.out_len, "out.hocr", NULL, XML_PARSE_NONET);
    g_assert_nonnull(doc);
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(xc, (const xmlChar *)"h", (const xmlChar *)"http://www.w3.org/1999/xhtml");
    g_assert_cmpint(count_nodes(xc, "/h:html/h:body/h:div[@class='ocr_page']"), ==, 4);
    g_assert_cmpint(count_nodes(xc, "//h:div[@class='ocr_page'][contains(@title,'ppageno 3')]"),
                    ==, 1);
    g_assert_cmpint(count_nodes(xc, "//h:div[@class='ocr_carea']/h:p[@class='ocr_par']"
                                    "/h:span[@class='ocr_line']/h:span[@class='ocrx_word']"),
                    >, 200);
    g_assert_cmpint(count_nodes(xc, "//h:span[@class='ocrx_word'][not(contains(@title,'bbox '))]"),
                    ==, 0);
    xmlXPathFreeContext(xc);
    xmlFreeDoc(doc);
    cli_result_free(&r);
    g_free(pdf);
}

static void test_stdin(void)
{
    char *pdf = sample("born-digital.pdf"), *img = sample("phototest.tif");
    cli_result a = CLI(NULL, pdf);
    cli_result b = CLI(pdf, "-");
    g_assert_cmpint(b.status, ==, 0);
    g_assert_cmpstr(a.out, ==, b.out);
    cli_result_free(&b);
    /* an image from stdin, text layer only: one empty page */
    b = CLI(img, "--text-layer", "only", "-q", "-");
    g_assert_cmpint(b.status, ==, 0);
    g_assert_cmpstr(b.out, ==, "\f");
    g_assert_cmpstr(b.err, ==, "");
    cli_result_free(&a);
    cli_result_free(&b);
    g_free(pdf);
    g_free(img);
}

static int dir_entries(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    int n = 0;
    while (d && g_dir_read_name(d))
        n++;
    if (d)
        g_dir_close(d);
    return n;
}

static void test_output_file(void)
{
    char *pdf = sample("born-digital.pdf"), *scan = sample("scan.pdf");
    char *dir = test_tmpdir();
    char *out = g_build_filename(dir, "out.txt", NULL);
    cli_result r = CLI(NULL, "-o", out, pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpstr(r.out, ==, "");
    char *text;
    g_assert_true(g_file_get_contents(out, &text, NULL, NULL));
    g_assert_cmpint(count_char(text, '\f'), ==, 4);
    cli_result_free(&r);
    /* a failing run leaves the old file alone and no temporary behind (a
     * model that cannot be loaded fails the run; a page that needs the
     * missing model fails alone and the run goes on, issue #17) */
    r = CLI(NULL, "-o", out, "--pages", "1", "--text-layer", "off", "-m", "/nonexistent/model",
            scan);
    g_assert_cmpint(r.status, ==, 4);
    char *again;
    g_assert_true(g_file_get_contents(out, &again, NULL, NULL));
    g_assert_cmpstr(text, ==, again);
    g_assert_cmpint(dir_entries(dir), ==, 1);
    cli_result_free(&r);
    /* a fresh -o that fails is never created */
    char *out2 = g_build_filename(dir, "never.txt", NULL);
    r = CLI(NULL, "-o", out2, "--text-layer", "off", "-m", "/nonexistent/model", scan);
    g_assert_cmpint(r.status, ==, 4);
    g_assert_false(g_file_test(out2, G_FILE_TEST_EXISTS));
    g_assert_cmpint(dir_entries(dir), ==, 1);
    cli_result_free(&r);
    /* -o naming an input is refused before anything is written */
    r = CLI(NULL, "-o", out, out);
    g_assert_cmpint(r.status, ==, 2);
    g_free(again);
    g_assert_true(g_file_get_contents(out, &again, NULL, NULL));
    g_assert_cmpstr(text, ==, again);
    cli_result_free(&r);
    g_free(again);
    g_free(text);
    g_free(out);
    g_free(out2);
    test_rmtree(dir);
    g_free(dir);
    g_free(pdf);
    g_free(scan);
}

static void test_output_dir(void)
{
    char *pdf = sample("born-digital.pdf"), *table = sample("table.pdf");
    char *dir = test_tmpdir();
    cli_result r = CLI(NULL, "-f", "md", "-o", dir, pdf, table);
    g_assert_cmpint(r.status, ==, 0);
    char *a = g_build_filename(dir, "born-digital.md", NULL);
    char *b = g_build_filename(dir, "table.md", NULL);
    g_assert_true(g_file_test(a, G_FILE_TEST_IS_REGULAR));
    g_assert_true(g_file_test(b, G_FILE_TEST_IS_REGULAR));
    g_assert_cmpint(dir_entries(dir), ==, 2);
    cli_result_free(&r);
    /* several inputs need an existing directory */
    char *nodir = g_build_filename(dir, "missing", NULL);
    r = CLI(NULL, "-o", nodir, pdf, table);
    g_assert_cmpint(r.status, ==, 2);
    cli_result_free(&r);
    /* two inputs that would write the same file */
    r = CLI(NULL, "-o", dir, pdf, pdf);
    g_assert_cmpint(r.status, ==, 2);
    cli_result_free(&r);
    /* several hOCR documents cannot share stdout */
    r = CLI(NULL, "-f", "hocr", pdf, table);
    g_assert_cmpint(r.status, ==, 2);
    cli_result_free(&r);
    g_free(a);
    g_free(b);
    g_free(nodir);
    test_rmtree(dir);
    g_free(dir);
    g_free(pdf);
    g_free(table);
}

/* A signal while docvl waits on stdin: exit 128 + signal and the -o
 * temporary removed. */
static void signal_run(int sig)
{
    char *dir = test_tmpdir();
    char *out = g_build_filename(dir, "out.txt", NULL);
    const char *argv[] = { g_getenv("DOCVL_EXE"), "-o", out, "-", NULL };
    GPid pid;
    int in_fd;
    GError *ge = NULL;
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, &in_fd, NULL, NULL, &ge));
    g_assert_no_error(ge);
    /* the temporary output exists once docvl is reading its input */
    for (int i = 0; i < 500 && dir_entries(dir) == 0; i++)
        g_usleep(10000);
    g_assert_cmpint(dir_entries(dir), ==, 1);
    g_assert_cmpint(write(in_fd, "%PDF-1.4\n", 9), ==, 9);
    g_assert_cmpint(kill(pid, sig), ==, 0);
    int status = 0, done = 0;
    for (int i = 0; i < 1000 && !done; i++) {
        done = waitpid(pid, &status, WNOHANG) == pid;
        if (!done)
            g_usleep(10000);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    g_assert_true(done);
    close(in_fd);
    g_spawn_close_pid(pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 128 + sig);
    g_assert_cmpint(dir_entries(dir), ==, 0);
    g_free(out);
    test_rmtree(dir);
    g_free(dir);
}

static void test_signals(void)
{
    signal_run(SIGTERM);
    signal_run(SIGINT);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/version-help", test_version_help);
    g_test_add_func("/cli/usage-errors", test_usage_errors);
    g_test_add_func("/cli/input-errors", test_input_errors);
    g_test_add_func("/cli/model-missing", test_model_missing);
    g_test_add_func("/cli/text", test_text);
    g_test_add_func("/cli/several-on-stdout", test_several_on_stdout);
    g_test_add_func("/cli/encrypted-hint", test_encrypted_hint);
    g_test_add_func("/cli/markdown", test_markdown);
    g_test_add_func("/cli/hocr", test_hocr);
    g_test_add_func("/cli/stdin", test_stdin);
    g_test_add_func("/cli/output-file", test_output_file);
    g_test_add_func("/cli/output-dir", test_output_dir);
    g_test_add_func("/cli/signals", test_signals);
    return g_test_run();
}
