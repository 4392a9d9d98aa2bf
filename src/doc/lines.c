#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "doc/layout_parts.h"

/* A line under construction: its box, plus the mean top and bottom of its
 * regular components, a band that ascenders and descenders do not widen. */
typedef struct line_acc {
    dv_box box;
    double sum_y0, sum_y1;
    int n;
} line_acc;

/* Marks that make a line of their own are under this many character heights
 * high and this many wide. */
#define MARK_H 0.75
#define MARK_W 1.5
/* A line under this many character heights high and at least this many
 * long holds no letter (is_rule_line). */
#define RULE_LINE_H 0.3
#define RULE_LINE_W 3.0

typedef struct grouper {
    line_acc *v;
    int n, cap, first_open;
    double char_h, max_gap;
} grouper;

static double core_y0(const line_acc *l) { return l->sum_y0 / l->n; }
static double core_y1(const line_acc *l) { return l->sum_y1 / l->n; }

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_x0(const void *a, const void *b)
{
    const dv_box *p = a, *q = b;
    return (p->x0 > q->x0) - (p->x0 < q->x0);
}

/* Median height of the components that can be characters. */
static double median_char_h(const dv_box *c, int n, int page_h, int *hs)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        int h = dv_box_h(c[i]), w = dv_box_w(c[i]);
        if (h >= 4 && h <= page_h / 8 + 4 && w <= 6 * h)
            hs[k++] = h;
    }
    if (k == 0)
        return 0;
    qsort(hs, (size_t)k, sizeof *hs, cmp_int);
    return hs[k / 2];
}


static double v_overlap(double a0, double a1, double b0, double b1)
{
    return fmin(a1, b1) - fmax(a0, b0);
}

static int add_line(grouper *g, dv_box b, dv_err *e)
{
    if (g->n == g->cap) {
        int ncap = g->cap ? g->cap * 2 : 64;
        line_acc *nv = realloc(g->v, (size_t)ncap * sizeof *nv);
        if (!nv)
            return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for lines");
        g->v = nv;
        g->cap = ncap;
    }
    g->v[g->n++] = (line_acc){b, b.y0, b.y1, 1};
    return DOCVL_OK;
}

/* Word gaps scale with the type size: a headline's spaces are wider. */
static double line_gap(const grouper *g, const line_acc *l)
{
    return fmax(g->max_gap, 1.6 * 0.8 * (core_y1(l) - core_y0(l)));
}

/* The line that a regular component continues: best vertical overlap with
 * the line's band, within the word-gap distance of its right end. Lines that
 * ended too far left to continue are moved before g->first_open and skipped,
 * since components arrive in x order. */
static int find_line(grouper *g, dv_box c)
{
    int best = -1;
    double best_ov = 0;
    for (int i = g->first_open; i < g->n; i++)
        if (c.x0 - g->v[i].box.x1 > line_gap(g, &g->v[i])) {
            line_acc t = g->v[g->first_open];
            g->v[g->first_open++] = g->v[i];
            g->v[i] = t;
        }
    for (int i = g->first_open; i < g->n; i++) {
        line_acc *l = &g->v[i];
        double y0 = core_y0(l), y1 = core_y1(l), band = y1 - y0;
        /* A tall piece (a rule, a frame side) must not stretch the band,
         * or one line would swallow the lines above and below it. */
        if (c.y0 < y0 - 0.6 * band || c.y1 > y1 + 0.6 * band)
            continue;
        double ov = v_overlap(c.y0, c.y1, y0, y1);
        /* Scored against the larger height, so a letter beside a drop cap
         * joins its own text line, not the cap's. */
        double score = ov / fmax(dv_box_h(c), band);
        if (ov >= 0.5 * fmin(dv_box_h(c), band) && score > best_ov) {
            best_ov = score;
            best = i;
        }
    }
    return best;
}

static void absorb(line_acc *l, dv_box c)
{
    l->box = dv_box_union(l->box, c);
    l->sum_y0 += c.y0;
    l->sum_y1 += c.y1;
    l->n++;
}

/* a takes in the components of b */
static void join(line_acc *a, const line_acc *b)
{
    a->box = dv_box_union(a->box, b->box);
    a->sum_y0 += b->sum_y0;
    a->sum_y1 += b->sum_y1;
    a->n += b->n;
}

static int is_figure(dv_box c, double ch)
{
    int w = dv_box_w(c), h = dv_box_h(c);
    /* Too tall for type (headline letters are up to about 6 body heights
     * and no wider than a few heights), or a horizontal or vertical rule. */
    int glyph_like = h <= 6 * ch && w <= 3 * h;
    return (h > 3.2 * ch && !glyph_like) || (h < 0.5 * ch && w > 6 * ch) ||
           (h > 2 * ch && w < 0.25 * h);
}

/* A line far lower than the type and several characters long holds no
 * letter: a rule drawn in pieces (dashes, a hatched bar's strokes), or a
 * row of specks along the scanner's edge. A dash alone stays a line. */
static int is_rule_line(dv_box l, double ch)
{
    return dv_box_h(l) < RULE_LINE_H * ch && dv_box_w(l) >= RULE_LINE_W * ch;
}

static int is_small(dv_box c, double ch)
{
    return dv_box_h(c) < 0.5 * ch && dv_box_w(c) <= 1.5 * ch;
}

static int cmp_core_y0(const void *a, const void *b)
{
    double p = core_y0(a), q = core_y0(b);
    return (p > q) - (p < q);
}

static int mergeable(const grouper *g, const line_acc *a, const line_acc *b)
{
    double gap = fmax(line_gap(g, a), line_gap(g, b));
    if (b->box.x0 - a->box.x1 > gap || a->box.x0 - b->box.x1 > gap)
        return 0;
    double ov = v_overlap(core_y0(a), core_y1(a), core_y0(b), core_y1(b));
    double hmin = fmin(core_y1(a) - core_y0(a), core_y1(b) - core_y0(b));
    return ov >= 0.5 * hmin;
}

/* Lines built left to right can leave one line in two pieces when a piece
 * started before the components joining them: merge those. Sorted by band
 * top, a line only needs comparing with those starting above its band end. */
static void merge_lines(grouper *g)
{
    for (int changed = 1; changed;) {
        changed = 0;
        qsort(g->v, (size_t)g->n, sizeof *g->v, cmp_core_y0);
        for (int i = 0; i < g->n; i++)
            for (int j = i + 1; j < g->n && core_y0(&g->v[j]) < core_y1(&g->v[i]); j++) {
                line_acc *a = &g->v[i], *b = &g->v[j];
                if (!mergeable(g, a, b))
                    continue;
                join(a, b);
                memmove(b, b + 1, (size_t)(g->n - j - 1) * sizeof *b);
                g->n--;
                changed = 1;
                j--;
            }
    }
}

/* Two lines' reach on either side, in line heights (bands, at least the
 * character height). */
#define GAP_REACH 3.5

/* Whether the lines within a few line pitches on the given side (-1 above,
 * +1 below) of a leave no column of [x0, x1) white: 1 when they leave none,
 * 0 when they do, -1 when no line there comes near the x range [near0,
 * near1) at all. A column gutter is white in the neighbouring lines; the
 * wide spaces of justified lines are not, since they fall in other places
 * from line to line. */
static int covered(const grouper *g, const line_acc *a, int x0, int x1, int near0, int near1,
                   int side, dv_box *tmp)
{
    double band = core_y1(a) - core_y0(a), reach = GAP_REACH * fmax(band, g->char_h);
    int n = 0, near = 0;
    for (int i = 0; i < g->n; i++) {
        const line_acc *l = &g->v[i];
        double d = side < 0 ? core_y0(a) - core_y1(l) : core_y0(l) - core_y1(a);
        if (l == a || d <= 0 || d > reach || l->box.x1 <= near0 || l->box.x0 >= near1)
            continue;
        near = 1;
        if (l->box.x1 > x0 && l->box.x0 < x1)
            tmp[n++] = l->box;
    }
    if (!near)
        return -1;
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_x0);
    int reached = x0;
    for (int i = 0; i < n && tmp[i].x0 <= reached; i++)
        reached = dv_imax(reached, tmp[i].x1);
    return reached >= x1;
}

/* Whether pieces a and b (b right of a) are one line whose gap is wider
 * than a word gap (a sentence gap, a wide justified space): lines above
 * and below, where there are any, leave no column of the gap white. */
static int same_line(const grouper *g, const line_acc *a, const line_acc *b, dv_box *tmp)
{
    int gap = b->box.x0 - a->box.x1;
    double unit = fmax(g->char_h, core_y1(a) - core_y0(a));
    if (gap <= 0 || gap > 3 * unit)
        return 0;
    double ov = v_overlap(core_y0(a), core_y1(a), core_y0(b), core_y1(b));
    double hmin = fmin(core_y1(a) - core_y0(a), core_y1(b) - core_y0(b));
    int ha = dv_box_h(a->box), hb = dv_box_h(b->box);
    /* Pieces of one line of type share its height; specks in a picture do
     * not. */
    if (a->n < 2 || b->n < 2 || 2 * dv_imax(ha, hb) > 3 * dv_imin(ha, hb) || ov < 0.7 * hmin)
        return 0;
    int x0 = a->box.x1, x1 = b->box.x0, n0 = a->box.x0, n1 = b->box.x1;
    int above = covered(g, a, x0, x1, n0, n1, -1, tmp);
    int below = covered(g, a, x0, x1, n0, n1, 1, tmp);
    /* a line without neighbours has nothing to tell a gutter by */
    return above != 0 && below != 0 && (above == 1 || below == 1);
}

/* Joins pieces of one line separated by more than a word gap (same_line),
 * until none is left: a line joined covers the gaps of its neighbours. */
static int bridge_gaps(grouper *g, dv_err *e)
{
    dv_box *tmp = malloc((size_t)(g->n + 1) * sizeof *tmp);
    if (!tmp)
        return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for %d lines", g->n);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < g->n; i++)
            for (int j = 0; j < g->n; j++) {
                line_acc *a = &g->v[i], *b = &g->v[j];
                if (i == j || !same_line(g, a, b, tmp))
                    continue;
                join(a, b);
                g->v[j] = g->v[--g->n];
                if (i == g->n)
                    i = j;
                j = -1;
                changed = 1;
            }
    }
    free(tmp);
    return DOCVL_OK;
}

/* A line of one or two marks smaller than the type (quotation marks,
 * a dash) that sits beside a line of type within a word gap belongs to it:
 * its marks stand too high or low to have joined that line's band. */
static int is_mark_line(const grouper *g, const line_acc *l)
{
    return l->n <= 2 && dv_box_h(l->box) < MARK_H * g->char_h &&
           dv_box_w(l->box) < MARK_W * g->char_h;
}

static void join_marks(grouper *g)
{
    for (int i = 0; i < g->n; i++) {
        const line_acc *m = &g->v[i];
        if (!is_mark_line(g, m))
            continue;
        int best = -1, best_d = 0;
        for (int j = 0; j < g->n; j++) {
            const line_acc *l = &g->v[j];
            int d = dv_imax(l->box.x0 - m->box.x1, m->box.x0 - l->box.x1);
            if (j == i || is_mark_line(g, l) || d > g->max_gap ||
                2 * dv_box_overlap_y(l->box, m->box) < dv_box_h(m->box))
                continue;
            if (best < 0 || d < best_d)
                best = j, best_d = d;
        }
        if (best < 0)
            continue;
        g->v[best].box = dv_box_union(g->v[best].box, m->box);
        g->v[i] = g->v[--g->n];
        i--;
    }
}

/* Dots, accents, commas and hyphens join the nearest line beside them. */
static void attach_small(grouper *g, dv_box c)
{
    int best = -1;
    double best_d = 0.8 * g->char_h;
    for (int i = 0; i < g->n; i++) {
        const line_acc *l = &g->v[i];
        if (c.x1 < l->box.x0 - g->max_gap || c.x0 > l->box.x1 + g->max_gap)
            continue;
        double d = fmax(0.0, fmax(core_y0(l) - c.y1, c.y0 - core_y1(l)));
        if (d <= best_d) {
            best_d = d;
            best = i;
        }
    }
    if (best >= 0)
        g->v[best].box = dv_box_union(g->v[best].box, c);
}

static int push_box(dv_box **v, int *n, dv_box b, dv_err *e)
{
    dv_box *nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv)
        return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for boxes");
    nv[(*n)++] = b;
    *v = nv;
    return DOCVL_OK;
}

static int group_sorted(const dv_box *c, int n, grouper *g, dv_line_set *out, dv_err *e)
{
    int rc = DOCVL_OK;
    for (int i = 0; i < n && rc == DOCVL_OK; i++) {
        if (is_figure(c[i], g->char_h))
            rc = push_box(&out->figures, &out->n_figures, c[i], e);
        else if (!is_small(c[i], g->char_h)) {
            int l = find_line(g, c[i]);
            if (l >= 0)
                absorb(&g->v[l], c[i]);
            else
                rc = add_line(g, c[i], e);
        }
    }
    if (rc)
        return rc;
    merge_lines(g);
    for (int i = 0; i < n; i++)
        if (is_small(c[i], g->char_h) && !is_figure(c[i], g->char_h))
            attach_small(g, c[i]);
    /* A sentence's full stop narrows the gap to the next sentence. */
    merge_lines(g);
    rc = bridge_gaps(g, e);
    join_marks(g);
    for (int i = 0; i < g->n && rc == DOCVL_OK; i++)
        if (is_rule_line(g->v[i].box, g->char_h))
            rc = push_box(&out->figures, &out->n_figures, g->v[i].box, e);
        else
            rc = push_box(&out->lines, &out->n_lines, g->v[i].box, e);
    return rc;
}

int dv_group_lines(const dv_box *comps, int n, int page_h, dv_line_set *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (n <= 0)
        return DOCVL_OK;
    dv_box *c = malloc((size_t)n * sizeof *c);
    int *hs = malloc((size_t)n * sizeof *hs);
    if (!c || !hs) {
        free(c);
        free(hs);
        return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for %d components", n);
    }
    memcpy(c, comps, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_x0);
    grouper g = {0};
    g.char_h = median_char_h(c, n, page_h, hs);
    free(hs);
    g.max_gap = 1.6 * g.char_h;
    out->char_h = g.char_h;
    int rc = g.char_h > 0 ? group_sorted(c, n, &g, out, e) : DOCVL_OK;
    free(c);
    free(g.v);
    if (rc)
        dv_line_set_free(out);
    return rc;
}

void dv_line_set_free(dv_line_set *s)
{
    free(s->lines);
    free(s->figures);
    memset(s, 0, sizeof *s);
}
