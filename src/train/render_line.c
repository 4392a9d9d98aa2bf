/* One rendered line: words laid out in a font at the size a 200-300 dpi
 * scan gives, cut at a word boundary to fit the width, drawn as coverage,
 * toned to ink and paper, degraded, then resampled to the model's height. */
#include <cairo.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "image/resize.h"
#include "train/render_line.h"

#define MAX_TRIES 400   /* eval keeps 1 text in 10; a fit can fail on long words */

int dv_line_opts_check(const dv_line_opts *o, dv_err *e)
{
    if (o->height < 8 || o->height > 256)
        return dv_fail(e, DOCVL_EINVAL, "line height %d px: must be 8 to 256", o->height);
    if (o->width < 2 * o->height || o->width > 8192)
        return dv_fail(e, DOCVL_EINVAL, "line width %d px: must be 2 x the height (%d) to 8192",
                       o->width, 2 * o->height);
    if (o->min_chars < 1 || o->max_chars < o->min_chars || o->max_chars > 1000)
        return dv_fail(e, DOCVL_EINVAL, "characters %d to %d: need 1 <= min <= max <= 1000",
                       o->min_chars, o->max_chars);
    if (!(o->min_pt >= 4) || !(o->max_pt >= o->min_pt) || o->max_pt > 72)
        return dv_fail(e, DOCVL_EINVAL, "font sizes %g to %g pt: need 4 <= min <= max <= 72",
                       o->min_pt, o->max_pt);
    if (!(o->min_dpi >= 72) || !(o->max_dpi >= o->min_dpi) || o->max_dpi > 1200)
        return dv_fail(e, DOCVL_EINVAL, "resolutions %g to %g dpi: need 72 <= min <= max <= 1200",
                       o->min_dpi, o->max_dpi);
    if (!(o->scan >= 0 && o->scan <= 1))
        return dv_fail(e, DOCVL_EINVAL, "scan strength %g: must be 0 to 1", o->scan);
    const struct { double p; const char *what; } shares[] = {
        { o->pieces, "pieces" },
        { o->typeset, "typeset lines" },
        { o->quotes, "lines with quotes" },
        { o->caps, "lines with capitals" },
        { o->bullets, "lines with a bullet" },
        { o->spaced, "letter-spaced lines" },
        { o->small_caps, "lines in small capitals" },
    };
    for (size_t i = 0; i < sizeof shares / sizeof *shares; i++)
        if (!(shares[i].p >= 0 && shares[i].p <= 1))
            return dv_fail(e, DOCVL_EINVAL, "share of %s %g: must be 0 to 1", shares[i].what,
                           shares[i].p);
    return DOCVL_OK;
}

static double between(dv_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * dv_rng_uniform(r);
}

/* The canvas at scan resolution and where the words go on it. */
typedef struct plan {
    int w, h;               /* canvas, scan pixels */
    double px;              /* font size, scan pixels */
    double *x;              /* each word's pen position */
    int n;                  /* words that fit */
    double right;           /* right edge of the last word's ink */
    double top, bottom;     /* ink extent about the baseline (top < 0) */
    double baseline;
} plan;

/* Draws (draw = 1) or only measures word w letter by letter at (x, y), as
 * tracking and small capitals place it; fills *ink as cairo_text_extents
 * does for a whole word (the advance ends at the last letter, without its
 * tracking). */
static void letters(cairo_t *cr, const dv_line_words *lw, const char *w, double px, double x,
                    double y, int draw, cairo_text_extents_t *ink)
{
    double pen = 0, l = INFINITY, t = INFINITY, r = -INFINITY, b = -INFINITY;
    for (const char *c = w; *c; c = g_utf8_next_char(c)) {
        gssize len = g_utf8_next_char(c) - c;
        int small = lw->small_caps > 0 && g_unichar_islower(g_utf8_get_char(c));
        char *glyph = small ? g_utf8_strup(c, len) : g_strndup(c, (gsize)len);
        cairo_set_font_size(cr, small ? px * lw->small_caps : px);
        cairo_text_extents_t e;
        cairo_text_extents(cr, glyph, &e);
        if (e.width > 0 && e.height > 0) {
            l = fmin(l, pen + e.x_bearing);
            r = fmax(r, pen + e.x_bearing + e.width);
            t = fmin(t, e.y_bearing);
            b = fmax(b, e.y_bearing + e.height);
        }
        if (draw) {
            cairo_move_to(cr, x + pen, y);
            cairo_show_text(cr, glyph);
        }
        pen += e.x_advance + (*g_utf8_next_char(c) ? lw->track_em * px : 0);
        g_free(glyph);
    }
    cairo_set_font_size(cr, px);
    if (!(r > l))
        l = r = t = b = 0;
    *ink = (cairo_text_extents_t){ .x_bearing = l, .y_bearing = t, .width = r - l,
                                   .height = b - t, .x_advance = pen };
}

/* 1 when the line's letters are placed one by one; whole words otherwise,
 * so lines drawn before letterforms existed keep their bytes. */
static int by_letter(const dv_line_words *lw)
{
    return lw->track_em > 0 || lw->small_caps > 0;
}

static void word_extents(cairo_t *cr, const dv_line_words *lw, int i, double px,
                         cairo_text_extents_t *t)
{
    if (by_letter(lw))
        letters(cr, lw, lw->w[i], px, 0, 0, 0, t);
    else
        cairo_text_extents(cr, lw->w[i], t);
}

static void ink_extent(cairo_t *cr, const dv_line_words *lw, int i, double x, plan *p)
{
    cairo_text_extents_t t;
    word_extents(cr, lw, i, p->px, &t);
    p->right = x + fmax(t.x_advance, t.x_bearing + t.width);
    p->top = fmin(p->top, t.y_bearing);
    p->bottom = fmax(p->bottom, t.y_bearing + t.height);
}

/* Pen positions of the longest word prefix within max_chars and the width. */
static void fit_words(cairo_t *cr, const dv_line_words *lw, int max_chars, double x0, plan *p)
{
    cairo_text_extents_t sp;
    cairo_text_extents(cr, " ", &sp);
    double limit = p->w - 0.1 * p->px, x = x0;
    int chars = 0;
    p->n = 0;
    for (int i = 0; i < lw->n; i++) {
        char *shown = dv_line_word_text(lw, i);
        chars += (int)strlen(shown) + (i ? 1 : 0);
        g_free(shown);
        if (i)
            x += (lw->gap_em[i] > 0 ? lw->gap_em[i] * p->px : sp.x_advance) +
                 lw->track_em * p->px;
        plan trial = *p;
        ink_extent(cr, lw, i, x, &trial);
        if (chars > max_chars || trial.right > limit)
            break;
        *p = trial;
        p->x[i] = x;
        p->n = i + 1;
        cairo_text_extents_t t;
        word_extents(cr, lw, i, p->px, &t);
        x += t.x_advance;
    }
}

/* Baseline somewhere that keeps the ink inside the canvas after the skew
 * (the skew is reduced when the line is too tight for it). */
static void place_vertically(plan *p, dv_line_look *k, dv_rng *r)
{
    double ink_h = p->bottom - p->top;
    double slack = fmax(0, p->h - 2 - ink_h);
    double reach = fmax(p->w / 2.0, fabs(p->right - p->w / 2.0));
    double max_skew = asin(fmin(1, slack / 2 / reach)) * 180 / M_PI;
    if (fabs(k->skew_deg) > max_skew)
        k->skew_deg = copysign(max_skew, k->skew_deg);
    double lift = reach * sin(fabs(k->skew_deg) * M_PI / 180);
    double lo = 1 + lift - p->top, hi = p->h - 1 - lift - p->bottom;
    p->baseline = hi > lo ? between(r, lo, hi) : (lo + hi) / 2;
}

/* Returns the style the face really has. */
static int set_font(cairo_t *cr, const dv_fonts *f, int font, int style, double px)
{
    int real;
    cairo_set_font_face(cr, dv_fonts_face(f, font, style, &real));
    cairo_set_font_size(cr, px);
    /* unhinted outlines: the layout is the same at every size */
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_set_font_options(cr, fo);
    cairo_font_options_destroy(fo);
    return real;
}

/* Coverage of the words, toned: paper where there is none, ink where full. */
static void draw_words(cairo_t *cr, cairo_surface_t *s, const dv_line_words *lw, const plan *p,
                       const dv_line_look *k, dv_gray *g)
{
    cairo_translate(cr, p->w / 2.0, p->h / 2.0);
    cairo_rotate(cr, k->skew_deg * M_PI / 180);
    cairo_translate(cr, -p->w / 2.0, -p->h / 2.0);
    for (int i = 0; i < p->n; i++) {
        if (by_letter(lw)) {
            cairo_text_extents_t t;
            letters(cr, lw, lw->w[i], p->px, p->x[i], p->baseline, 1, &t);
            continue;
        }
        cairo_move_to(cr, p->x[i], p->baseline);
        cairo_show_text(cr, lw->w[i]);
    }
    cairo_surface_flush(s);
    const uint8_t *cov = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    double paper = 255 * k->paper, span = 255 * (k->paper - k->ink);
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++)
            g->p[(size_t)y * p->w + x] =
                (uint8_t)lrint(paper - span * cov[(size_t)y * stride + x] / 255.0);
}

/* Resampled to H x W (Pillow's bicubic), cut after the text when cropping. */
static int to_image(const dv_gray *g, const dv_line_opts *o, const plan *p, dv_image *im,
                    dv_err *e)
{
    uint8_t *small = malloc((size_t)o->width * o->height);
    if (!small)
        return dv_fail(e, DOCVL_ENOMEM, "a %d x %d line", o->width, o->height);
    int rc = dv_resize_bicubic_u8(g->p, g->w, g->h, 1, small, o->width, o->height, e);
    int w = o->width;
    if (o->crop) {
        double s = (double)o->width / g->w;
        w = (int)fmin(o->width, ceil((p->right + 0.1 * p->px) * s));
    }
    if (!rc)
        rc = dv_image_alloc(im, w, o->height, e);
    for (int y = 0; !rc && y < o->height; y++)
        for (int x = 0; x < w; x++)
            memset(im->rgb + ((size_t)y * w + x) * 3, small[(size_t)y * o->width + x], 3);
    free(small);
    return rc;
}

typedef struct attempt {
    const dv_line_opts *o;
    const dv_fonts *f;
    dv_rng *r;
    dv_line_look look;
    dv_line_words lw;
    plan p;
    cairo_surface_t *s;
    cairo_t *cr;
} attempt;

/* Font, size, resolution, look and words for one try; 0 when the words that
 * fit make a line of the wanted length and split. */
static int lay_out(attempt *a, const dv_line_src *src, char **text, dv_err *e)
{
    const dv_line_opts *o = a->o;
    dv_rng *r = a->r;
    int font = (int)dv_rng_below(r, (uint64_t)dv_fonts_count(a->f));
    double u = dv_rng_uniform(r);
    int style = u < 0.70 ? 0 : u < 0.82 ? 1 : u < 0.94 ? 2 : 3;
    a->look.family = dv_fonts_family(a->f, font);
    a->look.pt = between(r, o->min_pt, o->max_pt);
    a->look.dpi = between(r, o->min_dpi, o->max_dpi);
    dv_line_look_draw(&a->look, o->scan, r);
    int target = o->min_chars + (int)dv_rng_below(r, (uint64_t)(o->max_chars - o->min_chars + 1));
    if (dv_line_words_make(src, r, target, &a->lw, e))
        return e->code;
    if (o->pieces > 0 && dv_rng_uniform(r) < o->pieces)
        dv_line_words_piece(&a->lw, r, o->max_chars);
    /* no draw at quotes = 0: renders made before the option stay the same */
    if (o->quotes > 0 && dv_rng_uniform(r) < o->quotes)
        dv_line_words_quote(&a->lw, r);
    else if (o->typeset > 0 && dv_rng_uniform(r) < o->typeset)
        dv_line_words_typeset(&a->lw, DV_QUOTES_EN);
    if (o->caps > 0 && dv_rng_uniform(r) < o->caps)
        dv_line_words_caps(&a->lw, r);
    /* no draw at a share of 0: renders made before these options stay the same */
    const char *p0 = a->lw.piece;
    int starts_whole = !p0 || !strcmp(p0, "end") || !strcmp(p0, "hyphen");
    if (o->bullets > 0 && dv_rng_uniform(r) < o->bullets && starts_whole)
        dv_line_words_bullet(&a->lw, r);
    if (o->spaced > 0 && dv_rng_uniform(r) < o->spaced)
        dv_line_words_space(&a->lw, r);
    if (o->small_caps > 0 && dv_rng_uniform(r) < o->small_caps)
        dv_line_words_small_caps(&a->lw, r);
    a->look.kind = a->lw.kind;
    a->look.piece = a->lw.piece;
    if (strcmp(a->lw.kind, "heading") == 0 && dv_rng_uniform(r) < 0.6)
        style |= 1;
    for (int i = 0; i < a->lw.n; i++) {
        int covered = dv_fonts_covers(a->f, font, style, a->lw.w[i]);
        if (covered && a->lw.small_caps > 0) {   /* small capitals draw capitals too */
            char *up = g_utf8_strup(a->lw.w[i], -1);
            covered = dv_fonts_covers(a->f, font, style, up);
            g_free(up);
        }
        if (!covered)
            return -1;   /* drawn again in another font */
    }
    plan *p = &a->p;
    p->px = a->look.pt * a->look.dpi / 72;
    p->h = (int)ceil(p->px * between(r, 1.25, 1.6));
    p->w = (int)floor((double)o->width * p->h / o->height);
    p->x = g_new0(double, a->lw.n);
    a->s = cairo_image_surface_create(CAIRO_FORMAT_A8, p->w, p->h);
    a->cr = cairo_create(a->s);
    a->look.style = set_font(a->cr, a->f, font, style, p->px);
    fit_words(a->cr, &a->lw, o->max_chars, between(r, 0.05, 0.8) * p->px, p);
    place_vertically(p, &a->look, r);
    *text = dv_line_words_join(&a->lw, p->n);
    int lone_bullet = p->n == 1 && a->lw.n > 1 && !strcmp(a->lw.w[0], "\u2022");
    return (int)strlen(*text) >= o->min_chars && dv_split_of(*text) == o->split && !lone_bullet
               ? 0 : -1;
}

static void attempt_free(attempt *a)
{
    if (a->cr)
        cairo_destroy(a->cr);
    if (a->s)
        cairo_surface_destroy(a->s);
    g_free(a->p.x);
    dv_line_words_free(&a->lw);
}

static int draw_line(attempt *a, dv_line *out, dv_err *e)
{
    cairo_status_t st = cairo_status(a->cr);
    if (st != CAIRO_STATUS_SUCCESS)
        return dv_fail(e, DOCVL_EINTERNAL, "drawing a line in %s: %s", a->look.family,
                       cairo_status_to_string(st));
    dv_gray g = { a->p.w, a->p.h, malloc((size_t)a->p.w * a->p.h) };
    if (!g.p)
        return dv_fail(e, DOCVL_ENOMEM, "a %d x %d line canvas", a->p.w, a->p.h);
    draw_words(a->cr, a->s, &a->lw, &a->p, &a->look, &g);
    int rc = dv_line_degrade(&g, &a->look, a->r, e);
    if (!rc)
        rc = to_image(&g, a->o, &a->p, &out->image, e);
    free(g.p);
    return rc;
}

int dv_render_line(const dv_line_opts *o, const dv_line_src *src, const dv_fonts *f,
                   uint64_t seed, dv_line *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (dv_line_opts_check(o, e))
        return e->code;
    dv_rng r;
    dv_rng_seed(&r, seed);
    for (int t = 0; t < MAX_TRIES; t++) {
        attempt a = { .o = o, .f = f, .r = &r };
        char *text = NULL;
        int rc = lay_out(&a, src, &text, e);
        if (rc > 0 || (rc == 0 && (rc = draw_line(&a, out, e)) == 0)) {
            out->look = a.look;
            out->text = text;
            attempt_free(&a);
            if (rc)
                dv_line_free(out);
            return rc;
        }
        g_free(text);
        attempt_free(&a);
    }
    return dv_fail(e, DOCVL_EINVAL, "no line of %d to %d characters fits %d px at %d px high "
                   "in %d tries (raise --line-width or lower --min-chars)",
                   o->min_chars, o->max_chars, o->width, o->height, MAX_TRIES);
}

void dv_line_free(dv_line *l)
{
    dv_image_free(&l->image);
    g_free(l->text);
    memset(l, 0, sizeof *l);
}
