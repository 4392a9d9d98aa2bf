/* A generated corpus for the batch tests: many tiny documents in a nested
 * tree. Most are text-layer PDFs of 1-3 small pages; every 50 documents
 * hold one PNG (needs the model: failed without one), one PDF whose second
 * page has no text (partial without a model) and two malformed files. The
 * content depends only on the index, so two corpora of one size are
 * byte-identical. */
#ifndef DV_TEST_BATCH_CORPUS_H
#define DV_TEST_BATCH_CORPUS_H

#include <cairo-pdf.h>
#include <cairo.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

typedef enum { CORPUS_PDF, CORPUS_PNG, CORPUS_PARTIAL, CORPUS_BAD, CORPUS_TRUNCATED } corpus_kind;

static inline corpus_kind corpus_kind_of(int i)
{
    switch (i % 50) {
    case 7: return CORPUS_PNG;
    case 13: return CORPUS_PARTIAL;
    case 21: return CORPUS_BAD;
    case 33: return CORPUS_TRUNCATED;
    default: return CORPUS_PDF;
    }
}

/* The path of document i relative to the corpus root. */
static inline char *corpus_rel(int i)
{
    const char *ext = corpus_kind_of(i) == CORPUS_PNG ? "png" : "pdf";
    if (i % 3 == 0)
        return g_strdup_printf("d%02d/doc%04d.%s", i % 17, i, ext);
    return g_strdup_printf("d%02d/e%d/doc%04d.%s", i % 17, i % 5, i, ext);
}

static inline void corpus_text_page(cairo_t *cr, int i, int page)
{
    char line[64];
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 9);
    snprintf(line, sizeof line, "Document %d, page %d.", i, page);
    cairo_move_to(cr, 8, 20);
    cairo_show_text(cr, line);
    snprintf(line, sizeof line, "Total %d.%02d EUR", i * 7 + page, (i * 13) % 100);
    cairo_move_to(cr, 8, 34);
    cairo_show_text(cr, line);
}

static inline void corpus_pdf(const char *path, int i, int partial)
{
    cairo_surface_t *s = cairo_pdf_surface_create(path, 160, 48);
    /* no creation date: the same index gives the same bytes */
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, "");
    cairo_t *cr = cairo_create(s);
    int pages = partial ? 2 : 1 + i % 3;
    for (int p = 1; p <= pages; p++) {
        if (partial && p == 2) {
            cairo_set_source_rgb(cr, 0, 0, 0);
            cairo_rectangle(cr, 10, 10, 60, 20);   /* ink, no text */
            cairo_fill(cr);
        } else {
            corpus_text_page(cr, i, p);
        }
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

static inline void corpus_png(const char *path, int i)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 160, 48);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    corpus_text_page(cr, i, 1);
    cairo_destroy(cr);
    cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
}

/* A PDF cut in the middle of its objects, and a file that is no PDF. */
static inline void corpus_broken(const char *path, int i, int truncated)
{
    if (!truncated) {
        char junk[128];
        int n = snprintf(junk, sizeof junk, "%%PDF-1.4\nthis is not a PDF body %d\n", i);
        g_file_set_contents(path, junk, n, NULL);
        return;
    }
    char *tmp = g_strconcat(path, ".tmp", NULL);
    corpus_pdf(tmp, i, 0);
    char *data = NULL;
    gsize len = 0;
    g_file_get_contents(tmp, &data, &len, NULL);
    g_file_set_contents(path, data, (gssize)(len / 3), NULL);
    g_remove(tmp);
    g_free(data);
    g_free(tmp);
}

static inline void corpus_write(const char *root, int n)
{
    for (int i = 0; i < n; i++) {
        char *rel = corpus_rel(i);
        char *path = g_build_filename(root, rel, NULL);
        char *dir = g_path_get_dirname(path);
        g_mkdir_with_parents(dir, 0777);
        switch (corpus_kind_of(i)) {
        case CORPUS_PDF: corpus_pdf(path, i, 0); break;
        case CORPUS_PARTIAL: corpus_pdf(path, i, 1); break;
        case CORPUS_PNG: corpus_png(path, i); break;
        case CORPUS_BAD: corpus_broken(path, i, 0); break;
        case CORPUS_TRUNCATED: corpus_broken(path, i, 1); break;
        }
        g_free(dir);
        g_free(path);
        g_free(rel);
    }
}

#endif
