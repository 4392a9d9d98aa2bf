#include "e2epage.h"

#include <cairo-pdf.h>
#include <string.h>

#include "base/rng.h"
#include "train/render.h"
#include "train/render_line.h"

struct dv_fonts *e2e_fonts(char **why)
{
    dv_fonts *f = NULL;
    dv_err e = { 0 };
    if (dv_fonts_open(NULL, DV_SPLIT_EVAL, &f, &e) != DOCVL_OK) {
        *why = g_strdup_printf("held-out fonts: %s", e.msg);
        return NULL;
    }
    if (dv_fonts_count(f) == 0) {
        dv_fonts_free(f);
        *why = g_strdup("no held-out font installed (scripts/deps installs them)");
        return NULL;
    }
    return f;
}

void e2e_page_begin(e2e_page *p, double w_in, double h_in, double dpi, const struct dv_fonts *fonts,
                    int family, double pt)
{
    p->dpi = dpi;
    p->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)(w_in * dpi),
                                            (int)(h_in * dpi));
    p->cr = cairo_create(p->surface);
    p->words = g_array_new(FALSE, FALSE, sizeof(e2e_box));
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_paint(p->cr);
    cairo_set_source_rgb(p->cr, 0, 0, 0);
    int real = 0;
    cairo_set_font_face(p->cr, dv_fonts_face(fonts, family % dv_fonts_count(fonts), 0, &real));
    cairo_set_font_size(p->cr, pt * dpi / 72.0);
}

/* Draws one word at (x, y) pixels and keeps its ink box; returns its advance. */
static double draw_word(e2e_page *p, double x, double y, const char *w)
{
    cairo_text_extents_t t;
    cairo_text_extents(p->cr, w, &t);
    cairo_move_to(p->cr, x, y);
    cairo_show_text(p->cr, w);
    e2e_box b = { (int)(x + t.x_bearing), (int)(y + t.y_bearing), (int)(t.width + 1),
                  (int)(t.height + 1) };
    g_array_append_val(p->words, b);
    return t.x_advance;
}

static double space_px(e2e_page *p)
{
    cairo_text_extents_t t;
    cairo_text_extents(p->cr, " ", &t);
    return t.x_advance;
}

static double line_px(e2e_page *p)
{
    cairo_font_extents_t f;
    cairo_font_extents(p->cr, &f);
    return f.height;
}

double e2e_page_para(e2e_page *p, double x, double y, double w, const char *text, GString *truth)
{
    double x0 = x * p->dpi, right = (x + w) * p->dpi, cx = x0, by = y * p->dpi;
    double sp = space_px(p);
    char **words = g_strsplit_set(text, " \n", -1);
    int line_empty = 1;
    for (char **wd = words; *wd; wd++) {
        if (!**wd)
            continue;
        cairo_text_extents_t t;
        cairo_text_extents(p->cr, *wd, &t);
        if (!line_empty && cx + sp + t.x_advance > right) {
            g_string_append_c(truth, '\n');
            by += line_px(p);
            cx = x0;
            line_empty = 1;
        }
        if (!line_empty) {
            cx += sp;
            g_string_append_c(truth, ' ');
        }
        cx += draw_word(p, cx, by, *wd);
        g_string_append(truth, *wd);
        line_empty = 0;
    }
    g_strfreev(words);
    g_string_append_c(truth, '\n');
    return (by + line_px(p)) / p->dpi;
}

void e2e_page_text_at(e2e_page *p, double x, double y, const char *text)
{
    double cx = x * p->dpi, sp = space_px(p);
    char **words = g_strsplit(text, " ", -1);
    for (char **wd = words; *wd; wd++)
        if (**wd)
            cx += draw_word(p, cx, y * p->dpi, *wd) + sp;
    g_strfreev(words);
}

dv_image e2e_page_end(e2e_page *p, double scan, uint64_t seed)
{
    cairo_surface_flush(p->surface);
    int w = cairo_image_surface_get_width(p->surface), h = cairo_image_surface_get_height(p->surface);
    int stride = cairo_image_surface_get_stride(p->surface);
    const uint8_t *data = cairo_image_surface_get_data(p->surface);
    dv_image im = { 0 };
    dv_err e = { 0 };
    g_assert_cmpint(dv_image_alloc(&im, w, h, &e), ==, DOCVL_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t px;
            memcpy(&px, data + (size_t)y * stride + (size_t)x * 4, 4);
            uint8_t *o = im.rgb + ((size_t)y * w + x) * 3;
            o[0] = (uint8_t)(px >> 16), o[1] = (uint8_t)(px >> 8), o[2] = (uint8_t)px;
        }
    cairo_destroy(p->cr);
    cairo_surface_destroy(p->surface);
    dv_rng r;
    dv_rng_seed(&r, seed);
    dv_render_scan(&im, scan, &r);
    return im;
}

void e2e_write_png(const char *path, const dv_image *im)
{
    dv_err e = { 0 };
    if (dv_render_write_png(im, path, &e))
        g_error("%s", e.msg);
}

void e2e_write_scan_pdf(const char *path, const dv_image *pages, int n, double dpi)
{
    double pt = 72.0 / dpi;
    cairo_surface_t *pdf = cairo_pdf_surface_create(path, pages[0].w * pt, pages[0].h * pt);
    cairo_t *cr = cairo_create(pdf);
    for (int i = 0; i < n; i++) {
        const dv_image *im = &pages[i];
        cairo_pdf_surface_set_size(pdf, im->w * pt, im->h * pt);
        cairo_surface_t *s = dv_render_surface(im, 0);
        g_assert_cmpint(cairo_surface_status(s), ==, CAIRO_STATUS_SUCCESS);
        cairo_save(cr);
        cairo_scale(cr, pt, pt);
        cairo_set_source_surface(cr, s, 0, 0);
        cairo_paint(cr);
        cairo_restore(cr);
        cairo_show_page(cr);
        cairo_surface_destroy(s);
    }
    cairo_destroy(cr);
    cairo_surface_finish(pdf);
    g_assert_cmpint(cairo_surface_status(pdf), ==, CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(pdf);
}
