#include "doc/linecut.h"

#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "doc/layout_parts.h"

/* Crop margins in line heights (see linecut.h). The rendered training lines
 * that have ascenders and descenders are 1.33-1.78 times their ink high
 * (10th to 90th percentile, median 1.52; docvl-render --lines at its default
 * sizes); a crop is 1 + 2 x VMARGIN times its whole page line's ink, which
 * is often taller than the ink of the read it holds. At 0.15 the built-in
 * model read o, s, v, w, z set large as capitals on the corpus scans
 * (simultaneOus, Value); 0.25 read those best but a drawn 200 dpi letter
 * page worse (CER 1.98% -> 2.94%); 0.20 keeps most of both (docs/cli.md). */
#define VMARGIN DV_LINE_VMARGIN
#define HMARGIN 0.25
/* A line lower than this part of the page's usual line gets the usual
 * line's crop height: digits and capitals have no descenders. */
#define SHORT_LINE 0.9
/* Lines lower than this part of the usual line (a detached i-dot, an
 * apostrophe) beside a full line are read as part of it... */
#define FRAGMENT 0.5
/* ...unless they are wider than this part of it and higher than
 * FRAGMENT_LOW: a paragraph's last line of x-height letters ("room.",
 * "are") is about half a full line high, and marks are narrow or lower. */
#define FRAGMENT_NARROW 0.6
#define FRAGMENT_LOW 0.3
/* Word-gap threshold bounds and the guess for lines with one kind of gap,
 * in line heights: letters sit 0-0.1 apart, words 0.2-0.4. */
#define GAP_MIN 0.12
#define GAP_MAX 0.45
#define GAP_GUESS 0.2

typedef struct gap {
    int x0, x1;             /* ink-free columns [x0, x1), line-local */
} gap;

/* One line while it is cut: the column profile of the ink inside its box. */
typedef struct line_ink {
    PIX *bin;
    dv_box box;
    int *ink;               /* ink pixels per column of box */
    gap *gaps;              /* between the first and last ink column */
    int n_gaps;
    int word_gap;           /* gaps at least this wide part words */
} line_ink;

static void column_profile(line_ink *li)
{
    l_uint32 *data = pixGetData(li->bin);
    int wpl = pixGetWpl(li->bin);
    for (int y = li->box.y0; y < li->box.y1; y++) {
        const l_uint32 *row = data + (size_t)y * wpl;
        for (int x = li->box.x0; x < li->box.x1; x++)
            li->ink[x - li->box.x0] += GET_DATA_BIT(row, x);
    }
}

/* The rows holding ink in page columns [x0, x1) of the line: a box, empty
 * when there is none. */
static dv_box ink_rows(const line_ink *li, int x0, int x1)
{
    l_uint32 *data = pixGetData(li->bin);
    int wpl = pixGetWpl(li->bin), y0 = -1, y1 = -1;
    for (int y = li->box.y0; y < li->box.y1; y++) {
        const l_uint32 *row = data + (size_t)y * wpl;
        int any = 0;
        for (int x = x0; x < x1 && !any; x++)
            any = GET_DATA_BIT(row, x);
        if (any) {
            y0 = y0 < 0 ? y : y0;
            y1 = y + 1;
        }
    }
    return y0 < 0 ? (dv_box){ x0, li->box.y0, x0, li->box.y0 } : (dv_box){ x0, y0, x1, y1 };
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Otsu's split of the gap widths: letter gaps below, word gaps above. */
static int word_gap_threshold(const gap *g, int n, int h)
{
    double lo = GAP_MIN * h, hi = GAP_MAX * h, t = GAP_GUESS * h;
    int *w = g_new(int, n + 1);
    for (int i = 0; i < n; i++)
        w[i] = g[i].x1 - g[i].x0;
    qsort(w, (size_t)n, sizeof *w, cmp_int);
    /* one kind of gap only (a single word, or one letter per word): the guess */
    if (n >= 2 && w[n - 1] >= 1.6 * w[0]) {
        double total = 0, best = -1, below = 0;
        for (int i = 0; i < n; i++)
            total += w[i];
        for (int k = 1; k < n; k++) {
            below += w[k - 1];
            double m0 = below / k, m1 = (total - below) / (n - k);
            double v = (double)k * (n - k) * (m1 - m0) * (m1 - m0);
            if (v > best && w[k] > w[k - 1]) {
                best = v;
                t = (w[k - 1] + w[k]) / 2.0;
            }
        }
    }
    g_free(w);
    return (int)ceil(fmin(hi, fmax(lo, t)));
}

/* Ink-free runs between columns a and b (the first and last ink + 1). */
static void find_gaps(line_ink *li, int a, int b)
{
    li->gaps = g_new(gap, (b - a) / 2 + 1);
    li->n_gaps = 0;
    for (int x = a; x < b;) {
        if (li->ink[x]) {
            x++;
            continue;
        }
        int x0 = x;
        while (x < b && !li->ink[x])
            x++;
        li->gaps[li->n_gaps++] = (gap){ x0, x };
    }
}

/* The widest gap at least min_w wide that starts in [lo, hi]; ties go to
 * the rightmost. -1 when none. */
static int pick_gap(const line_ink *li, int lo, int hi, int min_w)
{
    int best = -1, best_w = 0;
    for (int i = 0; i < li->n_gaps; i++) {
        const gap *g = &li->gaps[i];
        int w = g->x1 - g->x0;
        if (g->x0 >= lo && g->x0 <= hi && w >= min_w && w >= best_w) {
            best = i;
            best_w = w;
        }
    }
    return best;
}

/* Where the segment starting at column s, at most W wide, ends: its ink is
 * [s, *end) and the next segment starts at *next. */
static void choose_cut(const line_ink *li, int s, int W, int *end, int *next)
{
    int lim = s + W;
    int g = pick_gap(li, s + W / 2, lim, li->word_gap);
    if (g < 0)
        g = pick_gap(li, s + 1, lim, li->word_gap);
    if (g < 0)
        g = pick_gap(li, s + 1, lim, 1);
    if (g >= 0) {
        *end = li->gaps[g].x0;
        *next = li->gaps[g].x1;
        return;
    }
    /* one run of ink wider than the span: its thinnest column, rightmost */
    int c = lim;
    for (int x = dv_imax(s + 1, s + W / 2); x <= lim; x++)
        if (li->ink[x] <= li->ink[c])
            c = x;
    *end = *next = c;
}

typedef struct cut_params {
    double max_aspect;
    double usual_h;         /* the page's median line height */
} cut_params;

typedef struct seg_span {
    int x0, x1;             /* line-local ink columns */
    int left, right;        /* how far its crop may reach, line-local */
} seg_span;

static void push_words(const line_ink *li, seg_span sp, dv_cut_line *out, dv_segment *seg)
{
    seg->first_word = out->n_words;
    int w0 = sp.x0;
    for (int i = 0; i <= li->n_gaps; i++) {
        const gap *g = i < li->n_gaps ? &li->gaps[i] : NULL;
        if (g && (g->x0 < sp.x0 || g->x1 > sp.x1 || g->x1 - g->x0 < li->word_gap))
            continue;
        int w1 = g ? g->x0 : sp.x1;
        out->words[out->n_words++] = ink_rows(li, li->box.x0 + w0, li->box.x0 + w1);
        if (g)
            w0 = g->x1;
    }
    seg->n_words = out->n_words - seg->first_word;
}

static void push_segment(const line_ink *li, seg_span sp, int pad, double crop_h, int joins_prev,
                         const dv_image *page, dv_cut_line *out)
{
    dv_segment *s = &out->segs[out->n_segs++];
    s->joins_prev = joins_prev;
    s->margin_unit = crop_h / (1 + 2 * VMARGIN);
    int X = li->box.x0;
    double extra = (crop_h - dv_box_h(li->box)) / 2;
    s->ink = ink_rows(li, X + sp.x0, X + sp.x1);
    dv_box crop = { X + dv_imax(sp.x0 - pad, sp.left), (int)floor(li->box.y0 - extra),
                    X + dv_imin(sp.x1 + pad, sp.right), (int)ceil(li->box.y1 + extra) };
    s->crop = dv_box_intersect(crop, (dv_box){ 0, 0, page->w, page->h });
    push_words(li, sp, out, s);
}

/* The segments of one line whose ink spans [a, b). */
static void cut_line(line_ink *li, int a, int b, const cut_params *cp, const dv_image *page,
                     dv_cut_line *out)
{
    int h = dv_box_h(li->box);
    double crop_h = h < SHORT_LINE * cp->usual_h ? (1 + 2 * VMARGIN) * SHORT_LINE * cp->usual_h
                                                 : (1 + 2 * VMARGIN) * h;
    int pad = dv_imax(2, (int)lround(HMARGIN * fmin(h, cp->usual_h)));
    int W = dv_imax(1, (int)floor(cp->max_aspect * crop_h) - 2 * pad);
    find_gaps(li, a, b);
    li->word_gap = word_gap_threshold(li->gaps, li->n_gaps, h);
    /* at most one segment and one word per ink column */
    out->segs = g_new0(dv_segment, b - a + 1);
    out->words = g_new0(dv_box, b - a + 1);
    seg_span sp = { a, b, a - pad, b + pad };
    int joins = 0;
    while (sp.x1 - sp.x0 > W) {
        int end, next;
        choose_cut(li, sp.x0, W, &end, &next);
        seg_span left = { sp.x0, end, sp.left, (end + next + 1) / 2 };
        push_segment(li, left, pad, crop_h, joins, page, out);
        sp = (seg_span){ next, b, (end + next) / 2, b + pad };
        joins = next - end < li->word_gap;
    }
    push_segment(li, sp, pad, crop_h, joins, page, out);
    out->segs = g_renew(dv_segment, out->segs, out->n_segs);
    out->words = g_renew(dv_box, out->words, out->n_words + 1);
}

/* The ink's first and last column + 1 in the profile; 0 when there is none. */
static int ink_extent(const line_ink *li, int *a, int *b)
{
    int n = dv_box_w(li->box);
    *a = 0;
    *b = n;
    while (*a < n && !li->ink[*a])
        (*a)++;
    while (*b > *a && !li->ink[*b - 1])
        (*b)--;
    return *b > *a;
}

static int cmp_box_h(const void *a, const void *b)
{
    int ha = dv_box_h(*(const dv_box *)a), hb = dv_box_h(*(const dv_box *)b);
    return (ha > hb) - (ha < hb);
}

/* The height of the page's usual line: the median over its lines' ink
 * columns, so a paragraph's long lines outweigh a table's one-word cells
 * (which lack descenders more often than not). */
static double median_line_h(const dv_layout *lay)
{
    if (lay->n_lines == 0)
        return 0;
    dv_box *l = g_new(dv_box, lay->n_lines);
    long total = 0;
    for (int i = 0; i < lay->n_lines; i++) {
        l[i] = lay->lines[i];
        total += dv_box_w(l[i]) + 1;
    }
    qsort(l, (size_t)lay->n_lines, sizeof *l, cmp_box_h);
    long seen = 0;
    int i = 0;
    while (i < lay->n_lines - 1 && 2 * (seen + dv_box_w(l[i]) + 1) <= total)
        seen += dv_box_w(l[i++]) + 1;
    double m = dv_box_h(l[i]);
    g_free(l);
    return m;
}

static void cut_one(PIX *bin, dv_box box, const cut_params *cp, const dv_image *page,
                    dv_cut_line *out)
{
    line_ink li = { bin, box, g_new0(int, dv_box_w(box) + 1), NULL, 0, 0 };
    column_profile(&li);
    int a, b;
    if (ink_extent(&li, &a, &b))
        cut_line(&li, a, b, cp, page, out);
    g_free(li.gaps);
    g_free(li.ink);
}

/* How far apart two boxes are vertically: 0 when their rows overlap. */
static int v_distance(dv_box a, dv_box b)
{
    return dv_imax(0, dv_imax(b.y0 - a.y1, a.y0 - b.y1));
}

/* The full line nearest above or below fragment f that spans its columns,
 * within half that line's height; -1 when none. */
static int host_line(const dv_line_cuts *c, dv_box f, double small)
{
    int best = -1, best_d = 0, best_ov = 0;
    for (int j = 0; j < c->n_lines; j++) {
        dv_box b = c->lines[j].box;
        int d = v_distance(f, b), ov = dv_box_overlap_y(f, b);
        if (dv_box_h(b) < small || f.x0 < b.x0 || f.x1 > b.x1 || d > dv_box_h(b) / 2)
            continue;
        if (best < 0 || d < best_d || (d == best_d && ov > best_ov)) {
            best = j;
            best_d = d;
            best_ov = ov;
        }
    }
    return best;
}

/* small: FRAGMENT line heights, the bound host_line also takes. */
static int is_fragment(dv_box f, double small, double usual_h)
{
    int h = dv_box_h(f);
    if (dv_box_empty(f) || h >= small)
        return 0;
    return h < FRAGMENT_LOW * usual_h || dv_box_w(f) <= FRAGMENT_NARROW * usual_h;
}

/* Dots, accents and apostrophes that the layout left as lines of their
 * own join the full line they belong to, so they are read in context
 * rather than alone; their own box is left empty. */
static void absorb_fragments(dv_line_cuts *c)
{
    double small = FRAGMENT * c->usual_h;
    for (int i = 0; i < c->n_lines; i++) {
        dv_box f = c->lines[i].box;
        if (!is_fragment(f, small, c->usual_h))
            continue;
        int j = host_line(c, f, small);
        if (j >= 0) {
            c->lines[j].box = dv_box_union(c->lines[j].box, f);
            c->lines[i].box = (dv_box){ f.x0, f.y0, f.x0, f.y0 };
        }
    }
}

int dv_lines_cut(const dv_image *page, const dv_layout *lay, double max_aspect,
                 dv_line_cuts *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (!(max_aspect >= 1))
        return dv_fail(e, DOCVL_EINVAL, "line cutting: aspect %g is below 1", max_aspect);
    if (lay->n_lines == 0)
        return DOCVL_OK;
    PIX *bin = dv_page_ink(page);
    if (!bin)
        return dv_fail(e, DOCVL_ENOMEM, "line cutting: binarizing a %d x %d page failed",
                       page->w, page->h);
    out->usual_h = median_line_h(lay);
    cut_params cp = { max_aspect, out->usual_h };
    out->lines = g_new0(dv_cut_line, lay->n_lines);
    out->n_lines = lay->n_lines;
    for (int bi = 0; bi < lay->n_blocks; bi++) {
        const dv_block *bl = &lay->blocks[bi];
        for (int i = bl->first_line; i < bl->first_line + bl->n_lines; i++) {
            out->lines[i].block = bi;
            out->lines[i].box = dv_box_intersect(lay->lines[i],
                                                 (dv_box){ 0, 0, page->w, page->h });
        }
    }
    absorb_fragments(out);
    for (int i = 0; i < out->n_lines; i++) {
        dv_cut_line *cl = &out->lines[i];
        if (!dv_box_empty(cl->box))
            cut_one(bin, cl->box, &cp, page, cl);
        out->n_segs += cl->n_segs;
    }
    pixDestroy(&bin);
    return DOCVL_OK;
}

void dv_line_cuts_free(dv_line_cuts *c)
{
    for (int i = 0; i < c->n_lines; i++) {
        g_free(c->lines[i].segs);
        g_free(c->lines[i].words);
    }
    g_free(c->lines);
    memset(c, 0, sizeof *c);
}

/* The part of slice covered by the ink words it overlaps; slice itself
 * (with the segment's rows) when it overlaps none. */
static dv_box shrink_to_words(const dv_box *w, int n, dv_box slice)
{
    dv_box r = { 0, 0, 0, 0 };
    for (int i = 0; i < n; i++) {
        dv_box in = { dv_imax(w[i].x0, slice.x0), w[i].y0, dv_imin(w[i].x1, slice.x1), w[i].y1 };
        if (in.x1 > in.x0)
            r = dv_box_union(r, in);
    }
    return dv_box_empty(r) ? slice : r;
}

void dv_segment_word_boxes(const dv_cut_line *l, const dv_segment *s, const int *chars, int n,
                           dv_box *out)
{
    const dv_box *iw = l->words + s->first_word;
    if (n == s->n_words) {
        memcpy(out, iw, (size_t)n * sizeof *out);
        return;
    }
    double total = 0, x = s->ink.x0, width = dv_box_w(s->ink);
    for (int i = 0; i < n; i++)
        total += chars[i] + 1;
    for (int i = 0; i < n; i++) {
        double share = width * (chars[i] + 1) / total;
        dv_box slice = { (int)floor(x), s->ink.y0, (int)ceil(x + share), s->ink.y1 };
        out[i] = shrink_to_words(iw, s->n_words, slice);
        x += share;
    }
}

static int in_margin(const dv_cut_line *l, int y)
{
    return y < l->box.y0 || y >= l->box.y1;
}

/* The median of each channel over the crop's rows above and below the
 * line's box: the paper, what reaches in from other lines being little. */
static void paper_colour(const dv_image *page, const dv_cut_line *l, dv_box b, uint8_t rgb[3])
{
    for (int ch = 0; ch < 3; ch++) {
        long hist[256] = { 0 }, n = 0, seen = 0;
        for (int y = b.y0; y < b.y1; y++)
            for (int x = b.x0; x < b.x1 && in_margin(l, y); x++, n++)
                hist[page->rgb[((size_t)y * page->w + x) * 3 + ch]]++;
        int v = 0;
        while (v < 255 && (seen += hist[v]) <= n / 2)
            v++;
        rgb[ch] = (uint8_t)v;
    }
}

int dv_segment_image_margin(const dv_image *page, const dv_cut_line *l, const dv_segment *s,
                            double vmargin, dv_image *out, dv_err *e)
{
    dv_box b = s->crop;
    if (dv_box_empty(b))
        return dv_fail(e, DOCVL_EINVAL, "line segment outside the %dx%d page", page->w,
                       page->h);
    int grow = vmargin < 0 ? 0 : (int)lround((vmargin - VMARGIN) * s->margin_unit);
    grow = dv_imax(grow, -(dv_box_h(b) - 1) / 2);
    int y0 = b.y0 - grow, y1 = b.y1 + grow;
    int rc = dv_image_alloc(out, dv_box_w(b), y1 - y0, e);
    if (rc)
        return rc;
    uint8_t paper[3];
    paper_colour(page, l, b, paper);
    for (int y = y0; y < y1; y++) {
        uint8_t *row = out->rgb + (size_t)(y - y0) * out->w * 3;
        if (!in_margin(l, y) && y >= 0 && y < page->h) {
            memcpy(row, page->rgb + ((size_t)y * page->w + b.x0) * 3, (size_t)out->w * 3);
            continue;
        }
        for (int x = 0; x < out->w; x++)
            memcpy(row + 3 * x, paper, 3);
    }
    return DOCVL_OK;
}

int dv_segment_image(const dv_image *page, const dv_cut_line *l, const dv_segment *s,
                     dv_image *out, dv_err *e)
{
    return dv_segment_image_margin(page, l, s, -1, out, e);
}
