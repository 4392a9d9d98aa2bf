#include "doc/orient.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "doc/layout_parts.h"

/* Leptonica's own decision rule (makeOrientDecision's defaults), without
 * its messages: one direction must be confident and well ahead. */
#define MIN_CONF 8.0
#define MIN_RATIO 2.5
/* Upside-down evidence is trusted only on prose: figures and digits in
 * table cells have no ascenders or descenders to count. */
#define PROSE_LINE_CHARS 12.0

/* The clockwise turn Leptonica's evidence asks for; -1 when too weak. */
static int decide(double up, double left)
{
    double u = fabs(up), l = fabs(left);
    if (u > MIN_CONF && u > MIN_RATIO * l)
        return up > 0 ? 0 : 180;
    if (l > MIN_CONF && l > MIN_RATIO * u)
        return left > 0 ? 90 : 270;
    return -1;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* 1 when the page's median text line is at least PROSE_LINE_CHARS
 * character heights long. */
static int has_prose(const dv_image *page, dv_err *e)
{
    dv_layout l;
    if (dv_layout_analyze(page, NULL, &l, e))
        return 0;
    int prose = 0;
    if (l.n_lines >= 3 && l.char_h > 0) {
        int *w = malloc((size_t)l.n_lines * sizeof *w);
        if (w) {
            for (int i = 0; i < l.n_lines; i++)
                w[i] = dv_box_w(l.lines[i]);
            qsort(w, (size_t)l.n_lines, sizeof *w, cmp_int);
            prose = w[l.n_lines / 2] >= PROSE_LINE_CHARS * l.char_h;
            free(w);
        }
    }
    dv_layout_free(&l);
    return prose;
}

/* When Leptonica's statistics are too weak (a page of a few lines, or type
 * much larger than book type, which its morphology is tuned to), the page's
 * glyphs decide on their own.
 *
 * Sideways or not: letters of a word are each other's nearest neighbours,
 * nearer than the lines above and below, so in upright text the nearest
 * neighbour of most glyphs lies beside them, in text turned a quarter
 * below or above (O'Gorman's docstrum). Upright or upside down: on each
 * text line (found as the layout finds them, on the page turned upright
 * or upside down as the first test says) most glyphs stand between the
 * x-height line and the baseline; in Latin-script text glyphs reaching
 * above it (capitals, digits, b d f h k l t) outnumber those reaching
 * below (g j p q y) several times, and a page turned over swaps them. */
#define GLYPH_MIN_PX 4
/* nearest neighbours one way must outnumber the other way this much */
#define SIDE_RATIO 2.0
#define MIN_GLYPHS 20
/* glyphs reaching above must outnumber those reaching below this much, or
 * the other way round, counting at least MIN_REACHING of them */
#define UPDOWN_RATIO 2.0
#define MIN_REACHING 8
/* reaching: by this share of the x-height beyond its line or more */
#define REACH 0.25

/* Keeps the glyph-sized components of c (at most a few character sizes,
 * no specks) and returns how many; *size: their median larger side. */
static int glyphs(dv_box *c, int n, int page_h, int *size)
{
    *size = 0;
    int *s = malloc((size_t)n * sizeof *s), k = 0;
    if (!s)
        return 0;
    for (int i = 0; i < n; i++) {
        int m = dv_imax(dv_box_w(c[i]), dv_box_h(c[i]));
        if (m >= GLYPH_MIN_PX && m <= page_h / 8)
            s[k++] = m;
    }
    qsort(s, (size_t)k, sizeof *s, cmp_int);
    int med = k ? s[k / 2] : 0, g = 0;
    free(s);
    for (int i = 0; i < n && med; i++) {
        int m = dv_imax(dv_box_w(c[i]), dv_box_h(c[i]));
        if (2 * m >= med && m <= 3 * med)
            c[g++] = c[i];
    }
    *size = med;
    return g;
}

/* Gap between two boxes, squared: 0 when they touch or overlap. */
static long long gap2(dv_box a, dv_box b)
{
    long long gx = dv_imax(0, dv_imax(a.x0 - b.x1, b.x0 - a.x1));
    long long gy = dv_imax(0, dv_imax(a.y0 - b.y1, b.y0 - a.y1));
    return gx * gx + gy * gy;
}

/* Boxes bucketed by the cell of their centre, for neighbour searches. */
typedef struct grid {
    int cell, cols, rows;
    int *start;   /* per cell, into idx; rows * cols + 1 */
    int *idx;
} grid;

static int cell_of(const grid *g, dv_box b)
{
    int cx = (b.x0 + b.x1) / 2 / g->cell, cy = (b.y0 + b.y1) / 2 / g->cell;
    return dv_imin(cy, g->rows - 1) * g->cols + dv_imin(cx, g->cols - 1);
}

static void grid_free(grid *g)
{
    free(g->start);
    free(g->idx);
}

static int grid_make(grid *g, const dv_box *c, int n, int cell, int w, int h)
{
    g->cell = cell;
    g->cols = w / cell + 1;
    g->rows = h / cell + 1;
    size_t cells = (size_t)g->cols * g->rows;
    g->start = calloc(cells + 1, sizeof *g->start);
    g->idx = malloc((size_t)n * sizeof *g->idx);
    int *fill = calloc(cells, sizeof *fill);
    int ok = g->start && g->idx && fill;
    for (int i = 0; ok && i < n; i++)
        g->start[cell_of(g, c[i]) + 1]++;
    for (size_t k = 0; ok && k < cells; k++)
        g->start[k + 1] += g->start[k];
    for (int i = 0; ok && i < n; i++) {
        int k = cell_of(g, c[i]);
        g->idx[g->start[k] + fill[k]++] = i;
    }
    free(fill);
    return ok;
}

/* The glyph nearest to glyph i within the cells around its own, -1 when
 * there is none. */
static int nearest(const dv_box *c, const grid *g, int i)
{
    int k = cell_of(g, c[i]), kx = k % g->cols, ky = k / g->cols, best = -1;
    long long best_d = 0;
    for (int y = dv_imax(0, ky - 1); y <= dv_imin(g->rows - 1, ky + 1); y++)
        for (int x = dv_imax(0, kx - 1); x <= dv_imin(g->cols - 1, kx + 1); x++) {
            int cell = y * g->cols + x;
            for (int p = g->start[cell]; p < g->start[cell + 1]; p++) {
                int j = g->idx[p];
                long long d = gap2(c[i], c[j]);
                if (j != i && (best < 0 || d < best_d))
                    best = j, best_d = d;
            }
        }
    return best;
}

/* 1 when the glyphs' nearest neighbours are mostly above or below them, 0
 * when mostly beside them, -1 when neither clearly. */
static int sideways(const dv_box *c, int n, int size, int page_w, int page_h)
{
    grid g = {0};
    if (n < MIN_GLYPHS || !grid_make(&g, c, n, 2 * size, page_w, page_h)) {
        grid_free(&g);
        return -1;
    }
    int side = 0, stacked = 0;
    for (int i = 0; i < n; i++) {
        int j = nearest(c, &g, i);
        if (j < 0)
            continue;
        int dx = abs((c[i].x0 + c[i].x1) - (c[j].x0 + c[j].x1));
        int dy = abs((c[i].y0 + c[i].y1) - (c[j].y0 + c[j].y1));
        side += dx > dy;
        stacked += dy > dx;
    }
    grid_free(&g);
    if (stacked >= MIN_GLYPHS && stacked > SIDE_RATIO * side)
        return 1;
    if (side >= MIN_GLYPHS && side > SIDE_RATIO * stacked)
        return 0;
    return -1;
}

/* The boxes of a page h pixels high turned a quarter clockwise. */
static void turn_boxes(dv_box *c, int n, int h)
{
    for (int i = 0; i < n; i++)
        c[i] = (dv_box){h - c[i].y1, c[i].x0, h - c[i].y0, c[i].x1};
}

/* Counts the glyphs of one line (c[0..n)) reaching above its
 * x-height and below its baseline; ts: room for n rows. */
static void reaching(const dv_box *c, int n, int *ts, int *above, int *below)
{
    for (int i = 0; i < n; i++)
        ts[i] = c[i].y0;
    qsort(ts, (size_t)n, sizeof *ts, cmp_int);
    int top = ts[n / 2];
    for (int i = 0; i < n; i++)
        ts[i] = c[i].y1;
    qsort(ts, (size_t)n, sizeof *ts, cmp_int);
    int base = ts[n / 2];
    double reach = REACH * (base - top);
    if (base - top < 3)
        return;
    for (int i = 0; i < n; i++) {
        *above += c[i].y0 < top - reach;
        *below += c[i].y1 > base + reach;
    }
}

/* Upright (1), upside down (-1) or neither clearly (0), from the glyphs of
 * the text lines found on them; *prose: whether the median
 * line is PROSE_LINE_CHARS character heights long. */
static int updown(const dv_box *c, int n, int page_h, int *prose, dv_err *e)
{
    *prose = 0;
    dv_line_set set;
    if (dv_group_lines(c, n, page_h, &set, e))
        return 0;
    int *ts = malloc((size_t)(n + set.n_lines + 1) * sizeof *ts);
    dv_box *in = malloc((size_t)(n + 1) * sizeof *in);
    int above = 0, below = 0;
    for (int l = 0; ts && in && l < set.n_lines; l++) {
        dv_box b = set.lines[l];
        int k = 0;
        for (int i = 0; i < n; i++)
            if (dv_box_centre_in(c[i], b))
                in[k++] = c[i];
        if (k >= 3)
            reaching(in, k, ts, &above, &below);
    }
    if (ts && set.n_lines >= 1) {
        for (int l = 0; l < set.n_lines; l++)
            ts[l] = dv_box_w(set.lines[l]);
        qsort(ts, (size_t)set.n_lines, sizeof *ts, cmp_int);
        *prose = ts[set.n_lines / 2] >= PROSE_LINE_CHARS * set.char_h;
    }
    free(ts);
    free(in);
    dv_line_set_free(&set);
    if (above + below < MIN_REACHING)
        return 0;
    return above >= UPDOWN_RATIO * below ? 1 : below >= UPDOWN_RATIO * above ? -1 : 0;
}

/* The clockwise turn that the glyphs of bin say makes the page upright.
 * left: Leptonica's weak sideways evidence, which picks the turn of a
 * sideways page whose lines do not tell up from down. */
static int glyph_turn(PIX *bin, double left, dv_err *e)
{
    int w = pixGetWidth(bin), h = pixGetHeight(bin), n = 0, size = 0, prose = 0;
    dv_box *c = NULL;
    if (dv_page_components(bin, &c, &n, e) || n == 0)
        return 0;
    n = glyphs(c, n, h, &size);
    int side = sideways(c, n, size, w, h), turn = 0;
    if (side == 1) {
        turn_boxes(c, n, h);
        int v = updown(c, n, w, &prose, e);
        turn = v > 0 || (v == 0 && left >= 0) ? 90 : 270;
    } else if (side == 0) {
        turn = updown(c, n, h, &prose, e) < 0 && prose ? 180 : 0;
    }
    free(c);
    return turn;
}

int dv_orient_detect(const dv_image *page, int *rotate_deg, double *conf, dv_err *e)
{
    *rotate_deg = 0;
    if (conf)
        *conf = 0;
    if (!page || !page->rgb || page->w <= 0 || page->h <= 0)
        return dv_fail(e, DOCVL_EINVAL, "orientation: empty page image");
    PIX *bin = dv_page_ink(page);
    if (!bin)
        return dv_fail(e, DOCVL_ENOMEM, "orientation: out of memory for a %d x %d page",
                       page->w, page->h);
    l_float32 up = 0, left = 0;
    /* Too little text for Leptonica is not an error: the glyphs decide. */
    if (pixOrientDetect(bin, &up, &left, 0, 0))
        up = left = 0;
    int deg = decide(up, left);
    if (deg == 180) {
        dv_err le = {0};
        if (!has_prose(page, &le))
            deg = 0;
    }
    if (deg < 0) {
        dv_err ge = {0};
        deg = glyph_turn(bin, left, &ge);
    }
    pixDestroy(&bin);
    *rotate_deg = deg;
    if (conf)
        *conf = fmax(fabs(up), fabs(left));
    return DOCVL_OK;
}

int dv_orient_rotate(const dv_image *in, int deg, dv_image *out, dv_err *e)
{
    deg = ((deg % 360) + 360) % 360;
    if (deg % 90)
        return dv_fail(e, DOCVL_EINVAL, "orientation: %d degrees is not a quarter turn", deg);
    int swap = deg == 90 || deg == 270;
    int rc = dv_image_alloc(out, swap ? in->h : in->w, swap ? in->w : in->h, e);
    if (rc)
        return rc;
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++) {
            int nx, ny;
            switch (deg) {
            case 90: nx = in->h - 1 - y, ny = x; break;
            case 180: nx = in->w - 1 - x, ny = in->h - 1 - y; break;
            case 270: nx = y, ny = in->w - 1 - x; break;
            default: nx = x, ny = y; break;
            }
            memcpy(out->rgb + ((size_t)ny * out->w + nx) * 3,
                   in->rgb + ((size_t)y * in->w + x) * 3, 3);
        }
    return DOCVL_OK;
}

/* Channel c of in at (x, y), bilinear; white off the page. */
static double sample(const dv_image *in, double x, double y, int c)
{
    int x0 = (int)floor(x), y0 = (int)floor(y);
    double fx = x - x0, fy = y - y0, v = 0;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            int xi = x0 + i, yj = y0 + j;
            double w = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
            int p = xi >= 0 && yj >= 0 && xi < in->w && yj < in->h
                        ? in->rgb[((size_t)yj * in->w + xi) * 3 + c] : 255;
            v += w * p;
        }
    return v;
}

int dv_orient_deskew(const dv_image *in, double deg, dv_image *out, dv_err *e)
{
    int rc = dv_image_alloc(out, in->w, in->h, e);
    if (rc)
        return rc;
    /* each output pixel comes from the input turned back clockwise */
    double a = deg * M_PI / 180, c = cos(a), s = sin(a);
    double cx = in->w / 2.0, cy = in->h / 2.0;
    for (int y = 0; y < out->h; y++)
        for (int x = 0; x < out->w; x++) {
            double dx = x - cx, dy = y - cy;
            double sx = cx + c * dx - s * dy, sy = cy + s * dx + c * dy;
            uint8_t *d = out->rgb + ((size_t)y * out->w + x) * 3;
            for (int ch = 0; ch < 3; ch++)
                d[ch] = (uint8_t)lround(sample(in, sx, sy, ch));
        }
    return DOCVL_OK;
}
