/* The training curves as a PNG: loss above, learning rate below, sharing
 * the step axis; each panel with ticks, tick labels and a title. */
#include <cairo.h>
#include <float.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>

#include "train/trainlog.h"

#define W 900
#define H 660
#define LEFT 90.0
#define RIGHT 30.0

typedef struct panel {
    double x0, y0, w, h;          /* plot area in pixels */
    double xmin, xmax, ymin, ymax;
} panel;

typedef struct series {
    const double *x, *y;
    int n;
} series;

/* A tick step of 1, 2 or 5 times a power of ten giving about `want` ticks. */
static double nice_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static double px_x(const panel *p, double x)
{
    return p->x0 + (x - p->xmin) / (p->xmax - p->xmin) * p->w;
}

static double px_y(const panel *p, double y)
{
    return p->y0 + p->h - (y - p->ymin) / (p->ymax - p->ymin) * p->h;
}

static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay)
{
    cairo_text_extents_t t;
    cairo_text_extents(cr, s, &t);
    cairo_move_to(cr, x - ax * t.width - t.x_bearing, y - ay * t.height - t.y_bearing);
    cairo_show_text(cr, s);
}

static void ticks_x(cairo_t *cr, const panel *p, int labels)
{
    double st = nice_step(p->xmax - p->xmin, 8);
    for (double v = ceil(p->xmin / st) * st; v <= p->xmax + st * 1e-9; v += st) {
        double x = px_x(p, v);
        cairo_move_to(cr, x, p->y0 + p->h);
        cairo_line_to(cr, x, p->y0 + p->h + 5);
        if (labels) {
            char s[32];
            snprintf(s, sizeof s, "%g", v);
            text_at(cr, s, x, p->y0 + p->h + 9, 0.5, 0);
        }
    }
    cairo_stroke(cr);
}

static void ticks_y(cairo_t *cr, const panel *p)
{
    double st = nice_step(p->ymax - p->ymin, 5);
    for (double v = ceil(p->ymin / st) * st; v <= p->ymax + st * 1e-9; v += st) {
        double y = px_y(p, v);
        cairo_move_to(cr, p->x0 - 5, y);
        cairo_line_to(cr, p->x0, y);
        char s[32];
        snprintf(s, sizeof s, "%.3g", fabs(v) < st * 1e-6 ? 0.0 : v);
        text_at(cr, s, p->x0 - 8, y, 1, 0.5);
    }
    cairo_stroke(cr);
}

static void frame(cairo_t *cr, const panel *p, const char *title, int xlabels)
{
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, p->x0 + 0.5, p->y0 + 0.5, p->w, p->h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 12);
    ticks_x(cr, p, xlabels);
    ticks_y(cr, p);
    cairo_set_font_size(cr, 14);
    text_at(cr, title, p->x0, p->y0 - 8, 0, 1);
}

static void curve(cairo_t *cr, const panel *p, series s, double r, double g, double b)
{
    cairo_save(cr);
    cairo_rectangle(cr, p->x0, p->y0, p->w, p->h);
    cairo_clip(cr);
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 1.5);
    for (int i = 0; i < s.n; i++)
        (i ? cairo_line_to : cairo_move_to)(cr, px_x(p, s.x[i]), px_y(p, s.y[i]));
    cairo_stroke(cr);
    cairo_restore(cr);
}

/* Range of y with a margin; a flat series gets a unit band around it. */
static void y_range(panel *p, series s, int from_zero)
{
    double lo = DBL_MAX, hi = -DBL_MAX;
    for (int i = 0; i < s.n; i++)
        if (isfinite(s.y[i])) {
            lo = fmin(lo, s.y[i]);
            hi = fmax(hi, s.y[i]);
        }
    if (lo > hi)
        lo = 0, hi = 1;
    if (from_zero && lo > 0)
        lo = 0;
    double pad = hi > lo ? 0.05 * (hi - lo) : fmax(fabs(hi) * 0.1, 1e-3);
    p->ymin = lo - (from_zero && lo == 0 ? 0 : pad);
    p->ymax = hi + pad;
}

static void draw(cairo_t *cr, series loss, series lr)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    double xmin = loss.n ? loss.x[0] : 0, xmax = loss.n ? loss.x[loss.n - 1] : 1;
    if (xmax <= xmin)
        xmax = xmin + 1;
    panel top = { LEFT, 40, W - LEFT - RIGHT, 330, xmin, xmax, 0, 1 };
    panel bot = { LEFT, 420, W - LEFT - RIGHT, 170, xmin, xmax, 0, 1 };
    y_range(&top, loss, 0);
    y_range(&bot, lr, 1);
    frame(cr, &top, "training loss (mean cross-entropy per supervised token)", 0);
    frame(cr, &bot, "learning rate", 1);
    curve(cr, &top, loss, 0.80, 0.10, 0.10);
    curve(cr, &bot, lr, 0.10, 0.30, 0.80);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 14);
    text_at(cr, "optimizer step", LEFT + (W - LEFT - RIGHT) / 2, H - 12, 0.5, 1);
}

int dv_plot_trainlog(const char *tsv_path, const char *png_path, dv_err *e)
{
    double *step, *loss, *lr;
    int n;
    if (dv_trainlog_read(tsv_path, &step, &loss, &lr, &n, e))
        return e->code;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(s);
    draw(cr, (series){ step, loss, n }, (series){ step, lr, n });
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_write_to_png(s, png_path);
    cairo_surface_destroy(s);
    g_free(step);
    g_free(loss);
    g_free(lr);
    return st == CAIRO_STATUS_SUCCESS
               ? DOCVL_OK : dv_fail(e, DOCVL_EIO, "%s: %s", png_path, cairo_status_to_string(st));
}
