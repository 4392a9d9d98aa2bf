/* Documents: opening PDFs and images from files, memory and stdin, format
 * from bytes, rendering one page at a time, limits and passwords. */
#include <cairo.h>
#include <math.h>
#include <string.h>

#include "doc/document.h"
#include "doc/input.h"
#include "testutil.h"

static dv_doc *open_ok(const char *rel, const char *password)
{
    char *path = test_data(rel);
    dv_doc_options o = {.password = password};
    dv_doc *d = NULL;
    dv_err e = {0};
    int rc = dv_doc_open_file(path, &o, &d, &e);
    if (rc)
        g_printerr("%s: %s\n", rel, e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    g_free(path);
    return d;
}

static int open_code(const char *rel, const char *password, char *msg, size_t len)
{
    char *path = test_data(rel);
    dv_doc_options o = {.password = password};
    dv_doc *d = NULL;
    dv_err e = {0};
    int rc = dv_doc_open_file(path, &o, &d, &e);
    g_free(path);
    if (rc == DOCVL_OK)
        dv_doc_close(d);
    else
        g_assert_null(d);
    if (msg)
        g_strlcpy(msg, e.msg, len);
    return rc;
}

static void render_ok(dv_doc *d, int page, double dpi, size_t max_px, dv_rendered_page *rp)
{
    dv_render_options o = {dpi, max_px};
    dv_err e = {0};
    int rc = dv_doc_render_page(d, page, &o, rp, &e);
    if (rc)
        g_printerr("render: %s\n", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
}

static void test_render_pdf(void)
{
    dv_doc *d = open_ok("corpus/scanned/linn.pdf", NULL);
    g_assert_cmpint(dv_doc_get_kind(d), ==, DV_DOC_PDF);
    g_assert_cmpint(dv_doc_page_count(d), ==, 1);
    dv_rendered_page rp;
    render_ok(d, 0, 0, 0, &rp);   /* defaults: 200 dpi */
    g_assert_cmpfloat(rp.dpi, ==, DV_DOC_DEFAULT_DPI);
    g_assert_cmpint(rp.image.w, ==, 1700);   /* 8.5 in */
    g_assert_cmpint(rp.image.h, ==, 2200);   /* 11 in */
    g_assert_cmpstr(rp.warning, ==, "");
    long dark = 0;
    for (size_t i = 0; i < (size_t)rp.image.w * rp.image.h; i++)
        dark += rp.image.rgb[3 * i + 1] < 128;
    /* Printed text covers a few percent of a page. */
    g_assert_cmpint(dark, >, rp.image.w * rp.image.h / 100);
    g_assert_cmpint(dark, <, rp.image.w * rp.image.h / 5);
    dv_image_free(&rp.image);
    render_ok(d, 0, 72, 0, &rp);
    g_assert_cmpint(rp.image.w, ==, 612);
    dv_image_free(&rp.image);
    dv_err e = {0};
    g_assert_cmpint(dv_doc_render_page(d, 1, NULL, &rp, &e), ==, DOCVL_EINVAL);
    dv_err_clear(&e);
    dv_render_options bad = {5000, 0};
    g_assert_cmpint(dv_doc_render_page(d, 0, &bad, &rp, &e), ==, DOCVL_EINVAL);
    g_assert_null(rp.image.rgb);
    dv_doc_close(d);
}

/* /Rotate: the poppler test file has portrait, landscape, upside-down and
 * seascape pages; it is also encrypted with an owner password only. */
static void test_rotation(void)
{
    dv_doc *d = open_ok("corpus/multipage/orientation.pdf", NULL);
    g_assert_cmpint(dv_doc_page_count(d), ==, 4);
    for (int p = 0; p < 4; p++) {
        dv_rendered_page rp;
        render_ok(d, p, 50, 0, &rp);
        int landscape = rp.image.w > rp.image.h;
        g_assert_cmpint(landscape, ==, p % 2);
        double w, h;
        dv_err e = {0};
        g_assert_cmpint(dv_doc_page_size(d, p, &w, &h, &e), ==, DOCVL_OK);
        g_assert_cmpint(w > h, ==, p % 2);
        dv_image_free(&rp.image);
    }
    dv_doc_close(d);
}

static GBytes *file_bytes(const char *rel)
{
    char *path = test_data(rel);
    gchar *data;
    gsize n;
    g_assert_true(g_file_get_contents(path, &data, &n, NULL));
    g_free(path);
    return g_bytes_new_take(data, n);
}

static void same_pixels(const char *rel, int page)
{
    GBytes *b = file_bytes(rel);
    gsize n;
    const uint8_t *data = g_bytes_get_data(b, &n);
    dv_doc *m = NULL, *f = open_ok(rel, NULL);
    dv_err e = {0};
    g_assert_cmpint(dv_doc_open_memory(data, n, NULL, &m, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_doc_page_count(m), ==, dv_doc_page_count(f));
    dv_rendered_page a, c;
    render_ok(f, page, 100, 0, &a);
    render_ok(m, page, 100, 0, &c);
    g_assert_cmpint(a.image.w, ==, c.image.w);
    g_assert_cmpint(a.image.h, ==, c.image.h);
    g_assert_cmpmem(a.image.rgb, (size_t)a.image.w * a.image.h * 3, c.image.rgb,
                    (size_t)c.image.w * c.image.h * 3);
    dv_image_free(&a.image);
    dv_image_free(&c.image);
    dv_doc_close(m);
    dv_doc_close(f);
    g_bytes_unref(b);
}

static void test_memory_equals_file(void)
{
    same_pixels("corpus/multipage/pdflatex-4-pages.pdf", 2);
    same_pixels("corpus/images/phototest.tif", 0);
}

/* The format comes from the bytes: a TIFF named .pdf is an image, a PDF
 * named .png is a PDF. */
static void test_sniff_not_name(void)
{
    char *dir = test_tmpdir();
    const char *src[2] = {"corpus/images/eurotext.tif", "corpus/scanned/linn.pdf"};
    const char *dst[2] = {"looks.pdf", "looks.png"};
    dv_doc_kind want[2] = {DV_DOC_IMAGE, DV_DOC_PDF};
    for (int i = 0; i < 2; i++) {
        GBytes *b = file_bytes(src[i]);
        gsize n;
        const void *data = g_bytes_get_data(b, &n);
        char *path = g_build_filename(dir, dst[i], NULL);
        test_write_file(path, data, n);
        dv_doc *d = NULL;
        dv_err e = {0};
        g_assert_cmpint(dv_doc_open_file(path, NULL, &d, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_doc_get_kind(d), ==, want[i]);
        dv_doc_close(d);
        g_free(path);
        g_bytes_unref(b);
    }
    const uint8_t text[] = "just some text, not a document";
    dv_doc *d = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_doc_open_memory(text, sizeof text, NULL, &d, &e), ==, DOCVL_EUNSUPPORTED);
    g_assert_null(d);
    test_rmtree(dir);
    g_free(dir);
}

static void test_image_document(void)
{
    dv_doc *d = open_ok("corpus/images/phototest.tif", NULL);
    g_assert_cmpint(dv_doc_get_kind(d), ==, DV_DOC_IMAGE);
    g_assert_cmpint(dv_doc_page_count(d), ==, 1);
    double w, h;
    dv_err e = {0};
    g_assert_cmpint(dv_doc_page_size(d, 0, &w, &h, &e), ==, DOCVL_OK);
    g_assert_cmpfloat(w, ==, 640);
    g_assert_cmpfloat(h, ==, 480);
    dv_rendered_page rp;
    render_ok(d, 0, 0, 0, &rp);
    g_assert_cmpint(rp.image.w, ==, 640);
    g_assert_cmpfloat(rp.dpi, ==, 0);
    dv_image_free(&rp.image);
    dv_render_options small = {0, 1000};
    g_assert_cmpint(dv_doc_render_page(d, 0, &small, &rp, &e), ==, DOCVL_ELIMIT);
    dv_doc_close(d);
}

/* An 8400 pt page at 200 dpi would be 23333 px square: the dpi drops.
 * Poppler 22.12 leaks a cairo pattern drawing that page's huge image, so
 * under LeakSanitizer a letter page at 600 dpi stands in for it. */
static void test_huge_page(void)
{
    int sanitized = g_getenv("DOCVL_SANITIZED") != NULL;
    dv_doc *d = open_ok(sanitized ? "corpus/scanned/linn.pdf" : "corpus/malformed/hugemono.pdf",
                        NULL);
    double side_pt = sanitized ? 612 : 8400, dpi = sanitized ? 600 : 200;
    dv_rendered_page rp;
    size_t max = 4000000;
    render_ok(d, 0, dpi, max, &rp);
    g_assert_cmpuint((size_t)rp.image.w * rp.image.h, <=, max);
    g_assert_cmpuint((size_t)rp.image.w * rp.image.h, >, max * 0.99);
    g_assert_cmpfloat(rp.dpi, <, dpi);
    g_assert_cmpfloat(fabs(rp.image.w - side_pt * rp.dpi / 72), <=, 1);
    g_assert_nonnull(strstr(rp.warning, "dpi"));
    dv_image_free(&rp.image);
    dv_doc_close(d);
}

static void test_passwords(void)
{
    char msg[1024];
    g_assert_cmpint(open_code("corpus/malformed/password-example.pdf", NULL, msg, sizeof msg), ==,
                    DOCVL_EINVAL);
    g_assert_nonnull(strstr(msg, "password"));
    g_assert_cmpint(open_code("corpus/malformed/password-example.pdf", "nope", msg, sizeof msg),
                    ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(msg, "wrong"));
    dv_doc *d = open_ok("corpus/malformed/password-example.pdf", "test");
    g_assert_cmpint(dv_doc_page_count(d), ==, 4);
    dv_doc_close(d);
    d = open_ok("corpus/malformed/qpdf_encrypted-40-bit-R3.pdf", "623");
    g_assert_cmpint(dv_doc_page_count(d), ==, 1);
    dv_doc_close(d);
}

static void test_bad_documents(void)
{
    char msg[1024];
    g_assert_cmpint(open_code("corpus/malformed/empty_0bytes.pdf", NULL, msg, sizeof msg), ==,
                    DOCVL_EFORMAT);
    g_assert_nonnull(strstr(msg, "empty"));
    g_assert_cmpint(open_code("corpus/malformed/qpdf_zero_pages.pdf", NULL, msg, sizeof msg),
                    !=, DOCVL_OK);
    g_assert_cmpint(open_code("corpus/malformed/invalid.pdf", NULL, msg, sizeof msg), ==,
                    DOCVL_EFORMAT);
    g_assert_cmpint(open_code("corpus/does-not-exist.pdf", NULL, msg, sizeof msg), ==, DOCVL_EIO);
    g_assert_nonnull(strstr(msg, "does-not-exist.pdf"));
}

static void test_input_limit(void)
{
    char *path = test_data("corpus/scanned/linn.pdf");
    dv_doc_options o = {.max_input_bytes = 1000};
    dv_doc *d = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_doc_open_file(path, &o, &d, &e), ==, DOCVL_ELIMIT);
    g_assert_null(d);
    GBytes *b = file_bytes("corpus/scanned/linn.pdf");
    gsize n;
    const uint8_t *data = g_bytes_get_data(b, &n);
    dv_err_clear(&e);
    g_assert_cmpint(dv_doc_open_memory(data, n, &o, &d, &e), ==, DOCVL_ELIMIT);
    /* Exactly at the limit is allowed. */
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t len;
    dv_err_clear(&e);
    g_assert_cmpint(dv_read_stream(f, n, "linn", &buf, &len, &e), ==, DOCVL_OK);
    g_assert_cmpuint(len, ==, n);
    g_assert_cmpmem(buf, len, data, n);
    free(buf);
    rewind(f);
    g_assert_cmpint(dv_read_stream(f, n - 1, "linn", &buf, &len, &e), ==, DOCVL_ELIMIT);
    fclose(f);
    g_bytes_unref(b);
    g_free(path);
}

/* "-" reads standard input. */
static void test_stdin(void)
{
    char *path = test_data("corpus/images/phototest.tif");
    g_assert_nonnull(freopen(path, "rb", stdin));
    dv_doc *d = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_doc_open_file("-", NULL, &d, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_doc_get_kind(d), ==, DV_DOC_IMAGE);
    dv_rendered_page rp;
    render_ok(d, 0, 0, 0, &rp);
    g_assert_cmpint(rp.image.w, ==, 640);
    dv_image_free(&rp.image);
    dv_doc_close(d);
    g_free(path);
}

/* A content stream that decodes to a 10^10-pixel JBIG2 image keeps Poppler
 * busy for minutes: the page's trial run refuses it within its time limit,
 * and the refusal sticks. */
static void test_trial_run(void)
{
    char *path = test_data("corpus/malformed/bomb_giant.pdf");
    dv_doc *d = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_doc_open_file(path, NULL, &d, &e), ==, DOCVL_OK);
    dv_doc_set_trial_seconds(d, 2);
    gint64 t0 = g_get_monotonic_time();
    dv_rendered_page rp;
    g_assert_cmpint(dv_doc_render_page(d, 0, NULL, &rp, &e), ==, DOCVL_ELIMIT);
    g_assert_null(rp.image.rgb);
    g_assert_nonnull(strstr(e.msg, "page 1"));
    /* 2 s of CPU time, or 12 s of wall clock on a machine too busy to give it those */
    g_assert_nonnull(strstr(e.msg, "to draw"));
    dv_err_clear(&e);
    g_assert_cmpint(dv_doc_render_page(d, 0, NULL, &rp, &e), ==, DOCVL_ELIMIT);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 20 * G_USEC_PER_SEC);
    dv_doc_close(d);
    g_free(path);
}

static void face_gone(void *flag)
{
    *(int *)flag = 1;
}

/* Cairo holds on to released scaled fonts, and through them to their font
 * faces (a PDF's embedded fonts, its data and glyphs): closing a document
 * that was drawn lets go of every font released before, so a batch of
 * thousands of PDFs does not keep the last few hundred documents' fonts. */
static void test_close_releases_fonts(void)
{
    static const cairo_user_data_key_t key;
    int gone = 0;
    cairo_font_face_t *face = cairo_user_font_face_create();
    cairo_font_face_set_user_data(face, &key, &gone, face_gone);
    cairo_matrix_t m, ctm;
    cairo_matrix_init_scale(&m, 12, 12);
    cairo_matrix_init_identity(&ctm);
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_scaled_font_destroy(cairo_scaled_font_create(face, &m, &ctm, fo));
    cairo_font_options_destroy(fo);
    cairo_font_face_destroy(face);
    g_assert_cmpint(gone, ==, 0);   /* Cairo keeps it for reuse */

    dv_doc *d = open_ok("corpus/born_digital/poppler_text.pdf", NULL);
    dv_rendered_page rp;
    render_ok(d, 0, 72, 0, &rp);
    dv_image_free(&rp.image);
    g_assert_cmpint(gone, ==, 0);
    dv_doc_close(d);
    g_assert_cmpint(gone, ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/document/render-pdf", test_render_pdf);
    g_test_add_func("/document/rotation", test_rotation);
    g_test_add_func("/document/memory-equals-file", test_memory_equals_file);
    g_test_add_func("/document/sniff-not-name", test_sniff_not_name);
    g_test_add_func("/document/image", test_image_document);
    g_test_add_func("/document/huge-page", test_huge_page);
    g_test_add_func("/document/passwords", test_passwords);
    g_test_add_func("/document/bad", test_bad_documents);
    g_test_add_func("/document/input-limit", test_input_limit);
    g_test_add_func("/document/stdin", test_stdin);
    g_test_add_func("/document/trial-run", test_trial_run);
    g_test_add_func("/document/close-releases-fonts", test_close_releases_fonts);
    return g_test_run();
}
