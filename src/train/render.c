#include "train/render.h"

#include <cairo.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

/* Named families only: the generic names (serif, sans-serif, monospace)
 * map to Noto once fonts-noto-core is installed, and Noto is held out for
 * evaluating rendered lines (render_fonts.c). */
static const char *const FAMILIES[] = {
    "DejaVu Serif", "DejaVu Sans", "DejaVu Sans Mono",
    "Liberation Serif", "Liberation Sans", "Liberation Mono",
};
#define N_FAMILIES (sizeof FAMILIES / sizeof FAMILIES[0])

typedef struct layout {
    cairo_t *cr;
    dv_rng *r;
    const dv_render_opts *o;
    const dv_render_words *words;
    long next;                /* index of the next word to draw */
    GString *txt, *md;
    GArray *boxes;            /* dv_rbox */
    const char *family;
    double px;                /* body size */
    double x0, colw, y, bottom;
} layout;

static const char *take_word(layout *L)
{
    const char *w = L->words->w[L->next];
    L->next = (L->next + 1) % L->words->n;
    return w;
}

static void set_font(layout *L, double px, int bold, int italic)
{
    cairo_select_font_face(L->cr, L->family, italic ? CAIRO_FONT_SLANT_ITALIC
                                                    : CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(L->cr, px);
}

static double advance(layout *L, const char *s)
{
    cairo_text_extents_t t;
    cairo_text_extents(L->cr, s, &t);
    return t.x_advance;
}

/* Draws s with its baseline at (x, y) and records its ink box. */
static void draw(layout *L, const char *s, double x, double y)
{
    cairo_text_extents_t t;
    cairo_text_extents(L->cr, s, &t);
    cairo_move_to(L->cr, x, y);
    cairo_show_text(L->cr, s);
    if (t.width > 0 && t.height > 0) {
        dv_rbox b = { (int)floor(x + t.x_bearing), (int)floor(y + t.y_bearing),
                      (int)ceil(t.width), (int)ceil(t.height) };
        g_array_append_val(L->boxes, b);
    }
}

static void block_gap(layout *L)
{
    if (L->txt->len)
        g_string_append(L->txt, "\n\n");
    if (L->md->len)
        g_string_append(L->md, "\n\n");
}

/* Words that fit in width w at the current font, at least one (cut to fit
 * when a single word is too wide). */
static char *fill_line(layout *L, double w, int max_words)
{
    GString *line = g_string_new(take_word(L));
    while (advance(L, line->str) > w && line->len > 1)
        g_string_truncate(line, line->len - 1);
    for (int k = 1; k < max_words; k++) {
        const char *next = L->words->w[L->next];
        char *cand = g_strconcat(line->str, " ", next, NULL);
        int fits = advance(L, cand) <= w;
        g_free(cand);
        if (!fits)
            break;
        g_string_append_c(line, ' ');
        g_string_append(line, take_word(L));
    }
    return g_string_free(line, FALSE);
}

static int block_heading(layout *L)
{
    double px = L->px * (1.3 + 0.5 * dv_rng_uniform(L->r));
    double lh = px * 1.4;
    if (L->y + lh > L->bottom)
        return 0;
    set_font(L, px, 1, 0);
    char *line = fill_line(L, L->colw, 2 + (int)dv_rng_below(L->r, 5));
    draw(L, line, L->x0, L->y + px);
    block_gap(L);
    g_string_append(L->txt, line);
    g_string_append_printf(L->md, "%s %s", px > L->px * 1.55 ? "#" : "##", line);
    g_free(line);
    L->y += lh + L->px * 0.4;
    return 1;
}

static int block_paragraph(layout *L)
{
    double lh = L->px * 1.3;
    if (L->y + lh > L->bottom)
        return 0;
    int italic = dv_rng_uniform(L->r) < 0.2;
    int bold = !italic && dv_rng_uniform(L->r) < 0.1;
    set_font(L, L->px, bold, italic);
    int lines = 1 + (int)dv_rng_below(L->r, L->o->plain ? 12 : 6);
    if (L->o->max_lines > 0 && lines > L->o->max_lines)
        lines = L->o->max_lines;
    block_gap(L);
    const char *mark = italic ? "*" : bold ? "**" : "";
    g_string_append(L->md, mark);
    for (int i = 0; i < lines && L->y + lh <= L->bottom; i++) {
        char *line = fill_line(L, L->colw, 1000);
        draw(L, line, L->x0, L->y + L->px);
        g_string_append_printf(L->txt, "%s%s", i ? "\n" : "", line);
        g_string_append_printf(L->md, "%s%s", i ? " " : "", line);
        g_free(line);
        L->y += lh;
    }
    g_string_append(L->md, mark);
    L->y += L->px * 0.6;
    return 1;
}

static int block_list(layout *L)
{
    double lh = L->px * 1.35;
    int items = 2 + (int)dv_rng_below(L->r, 3);
    if (L->y + lh * items > L->bottom)
        return 0;
    int numbered = dv_rng_uniform(L->r) < 0.5;
    set_font(L, L->px, 0, 0);
    block_gap(L);
    for (int i = 0; i < items; i++) {
        char mark[16];
        snprintf(mark, sizeof mark, numbered ? "%d." : "-", i + 1);
        double indent = L->px * 1.8;
        char *item = fill_line(L, L->colw - indent, 2 + (int)dv_rng_below(L->r, 6));
        draw(L, mark, L->x0 + L->px * 0.4, L->y + L->px);
        draw(L, item, L->x0 + indent, L->y + L->px);
        g_string_append_printf(L->txt, "%s%s %s", i ? "\n" : "", mark, item);
        g_string_append_printf(L->md, "%s%s %s", i ? "\n" : "", mark, item);
        g_free(item);
        L->y += lh;
    }
    L->y += L->px * 0.6;
    return 1;
}

static void rule(layout *L, double y, double w)
{
    cairo_set_line_width(L->cr, 1.0);
    cairo_move_to(L->cr, L->x0, floor(y) + 0.5);
    cairo_line_to(L->cr, L->x0 + w, floor(y) + 0.5);
    cairo_stroke(L->cr);
}

/* A cell: a number (tables are often figures) or one or two words. */
static char *cell_text(layout *L, double w)
{
    if (dv_rng_uniform(L->r) < 0.35) {
        char num[32];
        snprintf(num, sizeof num, "%.*f", (int)dv_rng_below(L->r, 3),
                 dv_rng_uniform(L->r) * 1000.0);
        return g_strdup(num);
    }
    return fill_line(L, w, 1 + (int)dv_rng_below(L->r, 2));
}

static void table_row(layout *L, int cols, double cw, int header, int first)
{
    set_font(L, L->px * 0.95, header, 0);
    GString *md = g_string_new("|");
    for (int c = 0; c < cols; c++) {
        char *t = cell_text(L, cw - L->px * 0.6);
        draw(L, t, L->x0 + c * cw + L->px * 0.3, L->y + L->px);
        g_string_append_printf(L->txt, "%s%s", c ? "\t" : first ? "" : "\n", t);
        /* a bar inside a GFM cell must be escaped */
        char **parts = g_strsplit(t, "|", -1);
        char *esc = g_strjoinv("\\|", parts);
        g_string_append_printf(md, " %s |", esc);
        g_free(esc);
        g_strfreev(parts);
        g_free(t);
    }
    g_string_append_printf(L->md, "%s%s", first ? "" : "\n", md->str);
    g_string_free(md, TRUE);
    if (header) {
        g_string_append(L->md, "\n|");
        for (int c = 0; c < cols; c++)
            g_string_append(L->md, " --- |");
    }
}

static int block_table(layout *L)
{
    int cols = 2 + (int)dv_rng_below(L->r, 3);
    int rows = 2 + (int)dv_rng_below(L->r, 4);
    double lh = L->px * 1.5, cw = L->colw / cols;
    if (cw < L->px * 4 || L->y + lh * (rows + 1) + L->px > L->bottom)
        return 0;
    block_gap(L);
    rule(L, L->y, L->colw);
    L->y += L->px * 0.25;
    for (int r = 0; r <= rows; r++) {
        table_row(L, cols, cw, r == 0, r == 0);
        L->y += lh;
        if (r == 0)
            rule(L, L->y - L->px * 0.2, L->colw);
    }
    rule(L, L->y, L->colw);
    L->y += L->px * 0.8;
    return 1;
}

/* Fills one column with blocks until one does not fit. */
static int fill_column(layout *L, int budget)
{
    int drawn = 0;
    while (budget <= 0 || drawn < budget) {
        double u = dv_rng_uniform(L->r);
        int ok;
        if (L->o->plain)
            ok = block_paragraph(L);
        else if (u < 0.15)
            ok = block_heading(L);
        else if (u < 0.65)
            ok = block_paragraph(L);
        else if (u < 0.8)
            ok = block_list(L);
        else
            ok = block_table(L) || block_paragraph(L);
        if (!ok)
            break;
        drawn++;
    }
    return drawn;
}

static void lay_out_page(layout *L, int w, int h)
{
    double margin = w * (0.04 + 0.04 * dv_rng_uniform(L->r));
    int cols = !L->o->plain && w >= 500 && dv_rng_uniform(L->r) < 0.35 ? 2 : 1;
    double gutter = cols > 1 ? L->px * 1.5 : 0;
    L->colw = (w - 2 * margin - gutter) / cols;
    L->bottom = h - margin;
    int budget = L->o->max_blocks;
    for (int c = 0; c < cols; c++) {
        L->x0 = margin + c * (L->colw + gutter);
        L->y = margin;
        int drawn = fill_column(L, budget);
        if (budget > 0 && (budget -= drawn) <= 0)
            break;
    }
}

static void pick_style(layout *L)
{
    L->family = FAMILIES[dv_rng_below(L->r, N_FAMILIES)];
    double span = L->o->max_px - L->o->min_px;
    L->px = L->o->min_px + (span > 0 ? span * dv_rng_uniform(L->r) : 0);
    L->next = (long)dv_rng_below(L->r, (uint64_t)L->words->n);
}

/* Paper white, then the page turned by a small angle about its centre, as a
 * sheet lies on a scanner. */
static void begin_page(layout *L, int w, int h)
{
    cairo_set_source_rgb(L->cr, 1, 1, 1);
    cairo_paint(L->cr);
    double deg = L->o->scan * (dv_rng_uniform(L->r) * 3.0 - 1.5);
    cairo_translate(L->cr, w / 2.0, h / 2.0);
    cairo_rotate(L->cr, deg * M_PI / 180.0);
    cairo_translate(L->cr, -w / 2.0, -h / 2.0);
    double ink = 0.15 * dv_rng_uniform(L->r);
    cairo_set_source_rgb(L->cr, ink, ink, ink);
}

static int copy_out(cairo_surface_t *s, dv_image *im, dv_err *e)
{
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    if (dv_image_alloc(im, w, h, e))
        return e->code;
    cairo_surface_flush(s);
    const uint8_t *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t px;
            memcpy(&px, data + (size_t)y * stride + (size_t)x * 4, 4);
            uint8_t *o = im->rgb + ((size_t)y * w + x) * 3;
            o[0] = (uint8_t)(px >> 16);
            o[1] = (uint8_t)(px >> 8);
            o[2] = (uint8_t)px;
        }
    return DOCVL_OK;
}

static int check_opts(const dv_render_opts *o, const dv_render_words *words, dv_err *e)
{
    if (o->width < 64 || o->height < 64 || o->width > 8192 || o->height > 8192)
        return dv_fail(e, DOCVL_EINVAL, "tile size %d x %d: each side must be 64 to 8192",
                       o->width, o->height);
    if (!(o->min_px >= 4) || !(o->max_px >= o->min_px) || o->max_px > o->height / 4.0)
        return dv_fail(e, DOCVL_EINVAL, "font sizes %g to %g px do not fit a %d px tile",
                       o->min_px, o->max_px, o->height);
    if (!words || words->n < 1)
        return dv_fail(e, DOCVL_EINVAL, "no words to render");
    return DOCVL_OK;
}

static int render(layout *L, dv_rendered *out, dv_err *e)
{
    const dv_render_opts *o = L->o;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, o->width, o->height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return dv_fail(e, DOCVL_ENOMEM, "cannot make a %d x %d Cairo surface", o->width, o->height);
    }
    L->cr = cairo_create(s);
    begin_page(L, o->width, o->height);
    pick_style(L);
    lay_out_page(L, o->width, o->height);
    cairo_status_t st = cairo_status(L->cr);
    cairo_destroy(L->cr);
    int rc = st == CAIRO_STATUS_SUCCESS
                 ? copy_out(s, &out->image, e)
                 : dv_fail(e, DOCVL_EINTERNAL, "drawing the tile: %s", cairo_status_to_string(st));
    cairo_surface_destroy(s);
    if (!rc)
        dv_render_scan(&out->image, o->scan, L->r);
    return rc;
}

int dv_render_tile(const dv_render_opts *o, const dv_render_words *words, uint64_t seed,
                   dv_rendered *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (check_opts(o, words, e))
        return e->code;
    dv_rng r;
    dv_rng_seed(&r, seed);
    layout L = { .r = &r, .o = o, .words = words, .txt = g_string_new(NULL),
                 .md = g_string_new(NULL), .boxes = g_array_new(FALSE, FALSE, sizeof(dv_rbox)) };
    int rc = render(&L, out, e);
    g_string_append_c(L.md, '\n');
    out->text = g_string_free(L.txt, FALSE);
    out->markdown = g_string_free(L.md, FALSE);
    out->n_boxes = (int)L.boxes->len;
    out->boxes = (dv_rbox *)(void *)g_array_free(L.boxes, FALSE);
    if (rc)
        dv_rendered_free(out);
    return rc;
}

void dv_rendered_free(dv_rendered *r)
{
    dv_image_free(&r->image);
    g_free(r->text);
    g_free(r->markdown);
    g_free(r->boxes);
    memset(r, 0, sizeof *r);
}

int dv_render_words_from_text(const char *text, dv_render_words *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (!g_utf8_validate(text, -1, NULL))
        return dv_fail(e, DOCVL_EFORMAT, "the text to render is not valid UTF-8");
    char **all = g_strsplit_set(text, " \t\r\n\f\v", -1);
    GPtrArray *w = g_ptr_array_new();
    for (char **p = all; *p; p++)
        if (**p)
            g_ptr_array_add(w, g_strdup(*p));
    g_strfreev(all);
    out->n = (long)w->len;
    out->w = (char **)g_ptr_array_free(w, FALSE);
    return out->n ? DOCVL_OK : dv_fail(e, DOCVL_EINVAL, "the text to render has no words");
}

void dv_render_words_free(dv_render_words *w)
{
    for (long i = 0; i < w->n; i++)
        g_free(w->w[i]);
    g_free(w->w);
    memset(w, 0, sizeof *w);
}
