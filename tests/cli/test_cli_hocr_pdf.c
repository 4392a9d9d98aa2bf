/* hOCR round trip through another tool: docvl's hOCR -> OCRmyPDF's
 * HocrTransform (Debian package ocrmypdf) -> a searchable PDF -> its text
 * (pdftotext when installed, else docvl --text-layer only) holds the words
 * of the original, in order. Skipped when ocrmypdf is missing. */
#include "clitest.h"

static const char transform_py[] =
    "import sys\n"
    "from pathlib import Path\n"
    "from ocrmypdf.hocrtransform import HocrTransform\n"
    "HocrTransform(hocr_filename=sys.argv[1], dpi=float(sys.argv[2]))"
    ".to_pdf(out_filename=Path(sys.argv[3]))\n";

/* A python3 that can import ocrmypdf (Debian's, not a virtualenv's). */
static char *find_python(void)
{
    const char *candidates[] = { "/usr/bin/python3", "python3" };
    for (size_t i = 0; i < G_N_ELEMENTS(candidates); i++) {
        char *py = g_find_program_in_path(candidates[i]);
        if (!py)
            continue;
        const char *argv[] = { py, "-c", "import ocrmypdf.hocrtransform", NULL };
        int status = 1;
        if (g_spawn_sync(NULL, (char **)argv, NULL,
                         G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
                         NULL, &status, NULL) &&
            WIFEXITED(status) && WEXITSTATUS(status) == 0)
            return py;
        g_free(py);
    }
    return NULL;
}

static char *pdf_text(const char *pdf)
{
    char *pdftotext = g_find_program_in_path("pdftotext");
    if (!pdftotext) {
        cli_result r = CLI(NULL, "--text-layer", "only", pdf);
        g_assert_cmpint(r.status, ==, 0);
        g_free(r.err);
        return r.out;
    }
    const char *argv[] = { pdftotext, pdf, "-", NULL };
    char *out = NULL;
    int status = 1;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, &status, NULL));
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_free(pdftotext);
    return out;
}

/* How many of want's words appear in got in the same order. */
static int words_in_order(const char *want, const char *got, int *total)
{
    char **w = g_regex_split_simple("\\s+", want, 0, 0);
    char **g = g_regex_split_simple("\\s+", got, 0, 0);
    int found = 0, j = 0, n = 0;
    for (int i = 0; w[i]; i++) {
        if (!*w[i])
            continue;
        n++;
        for (int k = j; g[k]; k++) {
            if (strcmp(w[i], g[k]) == 0) {
                found++;
                j = k + 1;
                break;
            }
        }
    }
    g_strfreev(w);
    g_strfreev(g);
    *total = n;
    return found;
}

static void test_roundtrip(void)
{
    char *py = find_python();
    if (!py) {
        g_test_skip("python3 with ocrmypdf (Debian package ocrmypdf) is not installed");
        return;
    }
    char *dir = test_tmpdir(), *pdf = sample("born-digital.pdf");
    char *hocr = g_build_filename(dir, "p.hocr", NULL);
    char *out = g_build_filename(dir, "p.pdf", NULL);
    cli_result r = CLI(NULL, "-f", "hocr", "--dpi", "150", "--pages", "2", "-o", hocr, pdf);
    g_assert_cmpint(r.status, ==, 0);
    cli_result_free(&r);
    const char *argv[] = { py, "-c", transform_py, hocr, "150", out, NULL };
    int status = 1;
    char *err = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, &err, &status, NULL));
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        g_test_message("HocrTransform: %s", err);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_free(err);
    r = CLI(NULL, "--pages", "2", pdf);
    g_assert_cmpint(r.status, ==, 0);
    char *back = pdf_text(out);
    int total = 0, found = words_in_order(r.out, back, &total);
    g_test_message("%d of %d words back in order", found, total);
    g_assert_cmpint(total, >, 50);
    g_assert_cmpint(found, >=, total * 95 / 100);
    g_free(back);
    cli_result_free(&r);
    g_free(hocr);
    g_free(out);
    g_free(pdf);
    test_rmtree(dir);
    g_free(dir);
    g_free(py);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/hocr/ocrmypdf-roundtrip", test_roundtrip);
    return g_test_run();
}
