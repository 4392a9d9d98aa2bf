#include "doc/document.h"

#include <cairo.h>
#include <gio/gio.h>
#include <math.h>
#include <poppler.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/guard.h"
#include "doc/input.h"
#include "image/decode.h"

struct dv_doc {
    dv_doc_kind kind;
    uint8_t *bytes;            /* owned copy; Poppler reads from it lazily */
    size_t len;
    GInputStream *stream;      /* PDF only: reads bytes without copying */
    PopplerDocument *pdf;
    int n_pages;
    double trial_seconds;      /* <= 0: pages are used without a trial run */
    signed char *tried;        /* per page: 0 untried, 1 passed, else the refusal code */
    int drew;                  /* a page was drawn with Cairo in this process */
};

static int open_pdf(dv_doc *doc, const char *password, dv_err *e)
{
    GError *ge = NULL;
    /* Poppler 22's from_bytes/from_data crash on a wrong password (they
     * retry on a freed stream); the GInputStream path does not. */
    doc->stream = g_memory_input_stream_new_from_data(doc->bytes, (gssize)doc->len, NULL);
    doc->pdf = poppler_document_new_from_stream(doc->stream, (goffset)doc->len, password, NULL,
                                                &ge);
    if (!doc->pdf) {
        int enc = ge && g_error_matches(ge, POPPLER_ERROR, POPPLER_ERROR_ENCRYPTED);
        int rc;
        if (enc && password)
            rc = dv_fail(e, DOCVL_EINVAL, "PDF is encrypted and the password is wrong");
        else if (enc)
            rc = dv_fail(e, DOCVL_EINVAL, "PDF is encrypted: a password is required");
        else
            rc = dv_fail(e, DOCVL_EFORMAT, "not a readable PDF: %s",
                         ge ? ge->message : "unknown Poppler error");
        g_clear_error(&ge);
        return rc;
    }
    doc->n_pages = poppler_document_get_n_pages(doc->pdf);
    return DOCVL_OK;
}

static int open_image(dv_doc *doc, dv_err *e)
{
    int n = 0;
    int rc = dv_image_frame_count(doc->bytes, doc->len, &n, e);
    if (rc)
        return dv_wrap(e, "%s image", dv_image_format_name(dv_image_sniff(doc->bytes, doc->len)));
    doc->n_pages = n;
    return DOCVL_OK;
}

static int open_owned(dv_doc *doc, const dv_doc_options *opts, dv_err *e)
{
    if (doc->len == 0)
        return dv_fail(e, DOCVL_EFORMAT, "empty input (0 bytes)");
    int rc;
    switch (dv_input_sniff(doc->bytes, doc->len)) {
    case DV_INPUT_PDF:
        doc->kind = DV_DOC_PDF;
        rc = open_pdf(doc, opts ? opts->password : NULL, e);
        break;
    case DV_INPUT_IMAGE:
        doc->kind = DV_DOC_IMAGE;
        rc = open_image(doc, e);
        break;
    default:
        return dv_fail(e, DOCVL_EUNSUPPORTED,
                       "input is neither a PDF nor a supported image format");
    }
    if (rc == DOCVL_OK && doc->n_pages <= 0)
        rc = dv_fail(e, DOCVL_EFORMAT, "document has no pages");
    /* per-page bookkeeping here and in page selections is sized by it */
    if (rc == DOCVL_OK && doc->n_pages > DV_DOC_MAX_PAGES)
        rc = dv_fail(e, DOCVL_ELIMIT, "document has %d pages, the limit is %d", doc->n_pages,
                     DV_DOC_MAX_PAGES);
    if (rc == DOCVL_OK && doc->kind == DV_DOC_PDF) {
        doc->trial_seconds = DV_GUARD_DEFAULT_SECONDS;
        doc->tried = calloc((size_t)doc->n_pages, 1);
        if (!doc->tried)
            rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for %d pages", doc->n_pages);
    }
    return rc;
}

/* Takes ownership of bytes (malloc'd) whatever happens. */
static int open_bytes(uint8_t *bytes, size_t len, const dv_doc_options *opts, dv_doc **out,
                      dv_err *e)
{
    *out = NULL;
    dv_doc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        free(bytes);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory opening a document");
    }
    doc->bytes = bytes;
    doc->len = len;
    int rc = open_owned(doc, opts, e);
    if (rc) {
        dv_doc_close(doc);
        return rc;
    }
    *out = doc;
    return DOCVL_OK;
}

int dv_doc_open_file(const char *path, const dv_doc_options *opts, dv_doc **out, dv_err *e)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = dv_read_input(path, opts ? opts->max_input_bytes : 0, &bytes, &len, e);
    if (rc)
        return rc;
    rc = open_bytes(bytes, len, opts, out, e);
    return rc ? dv_wrap(e, "%s", strcmp(path, "-") ? path : "standard input") : rc;
}

int dv_doc_open_memory(const uint8_t *data, size_t len, const dv_doc_options *opts,
                       dv_doc **out, dv_err *e)
{
    *out = NULL;
    size_t max = opts && opts->max_input_bytes ? opts->max_input_bytes
                                               : DV_INPUT_DEFAULT_MAX_BYTES;
    if (len > max)
        return dv_fail(e, DOCVL_ELIMIT, "input of %zu bytes exceeds the limit of %zu bytes",
                       len, max);
    if (!data && len)
        return dv_fail(e, DOCVL_EINVAL, "no input data");
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory copying %zu input bytes", len);
    if (len)
        memcpy(copy, data, len);
    return open_bytes(copy, len, opts, out, e);
}

/* Cairo keeps the last CAIRO_HOLDOVERS scaled fonts released, for reuse;
 * each one pins its font face, and a PDF's embedded font brings its FT_Face,
 * its font data and the glyphs drawn with it (measured: ~40 kB a small PDF,
 * ~10 MB once the list is full; more with big embedded fonts). Nothing
 * outside Cairo can evict them (cairo_debug_reset_static_data aborts while
 * Poppler holds a system font), so after a document is closed as many
 * fonts of a fresh, empty user font face go through the list, pushing out
 * every font released before. Fonts in use (another thread's document)
 * are not in the list and stay. About 0.3 ms. */
#define CAIRO_HOLDOVERS 256    /* cairo's CAIRO_SCALED_FONT_MAX_HOLDOVERS (1.16) */

static void evict_released_fonts(void)
{
    cairo_font_face_t *face = cairo_user_font_face_create();
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_matrix_t ctm, m;
    cairo_matrix_init_identity(&ctm);
    for (int i = 1; i <= CAIRO_HOLDOVERS; i++) {
        cairo_matrix_init_scale(&m, i, i);   /* one new scaled font per size */
        cairo_scaled_font_destroy(cairo_scaled_font_create(face, &m, &ctm, fo));
    }
    cairo_font_options_destroy(fo);
    cairo_font_face_destroy(face);
}

void dv_doc_close(dv_doc *doc)
{
    if (!doc)
        return;
    if (doc->pdf)
        g_object_unref(doc->pdf);    /* Poppler lets go of its fonts first */
    if (doc->drew)
        evict_released_fonts();
    if (doc->stream)
        g_object_unref(doc->stream);
    free(doc->tried);
    free(doc->bytes);
    free(doc);
}

void dv_doc_set_trial_seconds(dv_doc *doc, double seconds)
{
    doc->trial_seconds = seconds;
}

int dv_doc_page_count(const dv_doc *doc)
{
    return doc ? doc->n_pages : 0;
}

dv_doc_kind dv_doc_get_kind(const dv_doc *doc)
{
    return doc->kind;
}

static int check_index(const dv_doc *doc, int index, dv_err *e)
{
    if (index < 0 || index >= doc->n_pages)
        return dv_fail(e, DOCVL_EINVAL, "page %d does not exist (the document has %d)",
                       index + 1, doc->n_pages);
    return DOCVL_OK;
}

static PopplerPage *get_page(dv_doc *doc, int index, dv_err *e)
{
    if (doc->kind != DV_DOC_PDF) {
        dv_fail(e, DOCVL_EINVAL, "an image document has no PDF pages");
        return NULL;
    }
    if (check_index(doc, index, e))
        return NULL;
    PopplerPage *page = poppler_document_get_page(doc->pdf, index);
    if (!page)
        dv_fail(e, DOCVL_EFORMAT, "page %d cannot be loaded", index + 1);
    return page;
}

/* The first use of a page's content goes through a bounded trial run. */
static int ensure_tried(dv_doc *doc, int index, PopplerPage *page, dv_err *e)
{
    if (doc->trial_seconds <= 0 || doc->tried[index] == 1)
        return DOCVL_OK;
    if (doc->tried[index] == 0) {
        int rc = dv_guard_try_page(page, doc->trial_seconds, e);
        doc->tried[index] = (signed char)(rc ? rc : 1);
        return rc ? dv_wrap(e, "page %d", index + 1) : DOCVL_OK;
    }
    return dv_fail(e, doc->tried[index], "page %d was refused by its trial run", index + 1);
}

PopplerPage *dv_doc_poppler_page(dv_doc *doc, int index, dv_err *e)
{
    PopplerPage *page = get_page(doc, index, e);
    if (page && ensure_tried(doc, index, page, e)) {
        g_object_unref(page);
        return NULL;
    }
    return page;
}

int dv_doc_page_size(const dv_doc *doc, int index, double *w, double *h, dv_err *e)
{
    int rc = check_index(doc, index, e);
    if (rc)
        return rc;
    if (doc->kind == DV_DOC_IMAGE) {
        int iw = 0, ih = 0;
        rc = dv_image_frame_size(doc->bytes, doc->len, index, &iw, &ih, e);
        *w = iw;
        *h = ih;
        return rc;
    }
    PopplerPage *page = get_page((dv_doc *)doc, index, e);
    if (!page)
        return e->code;
    poppler_page_get_size(page, w, h);
    g_object_unref(page);
    if (!(*w > 0 && *h > 0) || !isfinite(*w) || !isfinite(*h))
        return dv_fail(e, DOCVL_EFORMAT, "page %d has no usable size", index + 1);
    return DOCVL_OK;
}

/* Lowers dpi until the page fits max_pixels and the Cairo side limit. */
static double fit_dpi(double w_pt, double h_pt, double dpi, size_t max_pixels)
{
    double s = dpi / 72.0;
    double px = w_pt * s * h_pt * s;
    if (px > (double)max_pixels)
        dpi *= sqrt((double)max_pixels / px);
    double side = fmax(w_pt, h_pt) * dpi / 72.0;
    if (side > DV_DOC_MAX_SIDE)
        dpi *= DV_DOC_MAX_SIDE / side;
    /* Rounding up the pixel size must not push it back over the limits. */
    while (dpi > 0.01 && (ceil(w_pt * dpi / 72.0) * ceil(h_pt * dpi / 72.0) > (double)max_pixels ||
                          ceil(fmax(w_pt, h_pt) * dpi / 72.0) > DV_DOC_MAX_SIDE))
        dpi *= 0.999;
    return dpi;
}

static void surface_to_rgb(cairo_surface_t *s, dv_image *im)
{
    const uint8_t *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < im->h; y++) {
        const uint32_t *row = (const uint32_t *)(data + (size_t)y * stride);
        uint8_t *d = im->rgb + (size_t)y * im->w * 3;
        for (int x = 0; x < im->w; x++) {
            d[3 * x + 0] = (uint8_t)(row[x] >> 16);
            d[3 * x + 1] = (uint8_t)(row[x] >> 8);
            d[3 * x + 2] = (uint8_t)row[x];
        }
    }
}

static int paint_page(PopplerPage *page, double scale, dv_image *im, dv_err *e)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, im->w, im->h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return dv_fail(e, DOCVL_ENOMEM, "cannot create a %d x %d drawing surface", im->w, im->h);
    }
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, scale, scale);
    poppler_page_render(page, cr);
    int bad = cairo_status(cr) != CAIRO_STATUS_SUCCESS;
    cairo_destroy(cr);
    cairo_surface_flush(s);
    if (!bad)
        surface_to_rgb(s, im);
    cairo_surface_destroy(s);
    return bad ? dv_fail(e, DOCVL_EFORMAT, "drawing the page failed") : DOCVL_OK;
}

static int render_pdf(dv_doc *doc, int index, double dpi, size_t max_pixels,
                      dv_rendered_page *out, dv_err *e)
{
    double w_pt = 0, h_pt = 0;
    int rc = dv_doc_page_size(doc, index, &w_pt, &h_pt, e);
    if (rc)
        return rc;
    double used = fit_dpi(w_pt, h_pt, dpi, max_pixels);
    if (used < dpi * 0.9999)
        snprintf(out->warning, sizeof out->warning,
                 "page %d (%.0f x %.0f pt) rendered at %.1f dpi instead of %.1f to stay "
                 "within %zu pixels and %d px a side", index + 1, w_pt, h_pt, used, dpi,
                 max_pixels, DV_DOC_MAX_SIDE);
    int pw = (int)fmax(1.0, ceil(w_pt * used / 72.0 - 1e-6));
    int ph = (int)fmax(1.0, ceil(h_pt * used / 72.0 - 1e-6));
    PopplerPage *page = dv_doc_poppler_page(doc, index, e);
    if (!page)
        return e->code;
    rc = dv_image_alloc(&out->image, pw, ph, e);
    if (rc) {
        g_object_unref(page);
        return rc;
    }
    rc = paint_page(page, used / 72.0, &out->image, e);
    doc->drew = 1;
    g_object_unref(page);
    if (rc) {
        dv_image_free(&out->image);
        return dv_wrap(e, "page %d", index + 1);
    }
    out->dpi = used;
    return DOCVL_OK;
}

int dv_doc_render_page(dv_doc *doc, int index, const dv_render_options *opts,
                       dv_rendered_page *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    double dpi = opts && opts->dpi > 0 ? opts->dpi : DV_DOC_DEFAULT_DPI;
    size_t max_pixels = opts && opts->max_pixels ? opts->max_pixels : DV_DOC_DEFAULT_MAX_PIXELS;
    if (!(dpi >= DV_DOC_MIN_DPI && dpi <= DV_DOC_MAX_DPI))
        return dv_fail(e, DOCVL_EINVAL, "dpi %g is outside %g..%g", dpi, DV_DOC_MIN_DPI,
                       DV_DOC_MAX_DPI);
    int rc = check_index(doc, index, e);
    if (rc)
        return rc;
    if (doc->kind == DV_DOC_PDF)
        return render_pdf(doc, index, dpi, max_pixels, out, e);
    rc = dv_image_decode(doc->bytes, doc->len, index, max_pixels, &out->image, e);
    return rc ? dv_wrap(e, "page %d", index + 1) : DOCVL_OK;
}
