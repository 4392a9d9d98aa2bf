/* Pages for the end-to-end tests: text drawn by Cairo in a held-out font
 * (docvl-render's eval split, never trained on) at a scan's resolution,
 * given a light scan look, with the exact text and every word's ink box
 * kept to judge what docvl reads. */
#ifndef DV_TEST_E2EPAGE_H
#define DV_TEST_E2EPAGE_H

#include <cairo.h>
#include <glib.h>
#include <stdint.h>

#include "image/image.h"

typedef struct e2e_box {
    int x, y, w, h;          /* page pixels */
} e2e_box;

typedef struct e2e_page {
    cairo_surface_t *surface;
    cairo_t *cr;
    double dpi;
    GArray *words;           /* e2e_box of every word drawn */
} e2e_page;

/* The held-out fonts (the eval split), or NULL with the reason in *why. */
struct dv_fonts *e2e_fonts(char **why);

/* A white page of w x h inches at dpi, drawing in family i of fonts at pt
 * points. */
void e2e_page_begin(e2e_page *p, double w_in, double h_in, double dpi, const struct dv_fonts *fonts,
                    int family, double pt);
/* The words of text, wrapped within [x, x + w) inches from the first
 * baseline y inches, single-spaced; each drawn line goes to truth with a
 * newline. Returns the baseline below the last line. */
double e2e_page_para(e2e_page *p, double x, double y, double w, const char *text, GString *truth);
/* One word or phrase at (x, baseline y) inches, on one line. */
void e2e_page_text_at(e2e_page *p, double x, double y, const char *text);
/* The page as an RGB image with docvl-render's scan look of the given
 * strength (seeded); p is done with. */
dv_image e2e_page_end(e2e_page *p, double scan, uint64_t seed);

/* An image-only PDF: each image one page, sized for dpi (a scanner's PDF). */
void e2e_write_scan_pdf(const char *path, const dv_image *pages, int n, double dpi);
/* PNG through docvl-render's writer. */
void e2e_write_png(const char *path, const dv_image *im);

#endif
