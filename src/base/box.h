/* Axis-aligned pixel rectangles on a rendered page: x0,y0 inclusive,
 * x1,y1 exclusive, origin top left. */
#ifndef DV_BASE_BOX_H
#define DV_BASE_BOX_H

typedef struct dv_box {
    int x0, y0, x1, y1;
} dv_box;

static inline int dv_box_w(dv_box b) { return b.x1 - b.x0; }
static inline int dv_box_h(dv_box b) { return b.y1 - b.y0; }
static inline int dv_box_empty(dv_box b) { return b.x1 <= b.x0 || b.y1 <= b.y0; }

static inline int dv_imin(int a, int b) { return a < b ? a : b; }
static inline int dv_imax(int a, int b) { return a > b ? a : b; }

static inline dv_box dv_box_union(dv_box a, dv_box b)
{
    if (dv_box_empty(a))
        return b;
    if (dv_box_empty(b))
        return a;
    return (dv_box){dv_imin(a.x0, b.x0), dv_imin(a.y0, b.y0), dv_imax(a.x1, b.x1),
                    dv_imax(a.y1, b.y1)};
}

/* The box covering a and b, for page results: there a line-thin box (a
 * word of zero width) still marks a place and widens its line's box; only
 * a box empty on both axes, like the zero box a block starts from, adds
 * nothing. dv_box_union drops line-thin boxes too. */
static inline dv_box dv_box_cover(dv_box a, dv_box b)
{
    if (a.x1 <= a.x0 && a.y1 <= a.y0)
        return b;
    if (b.x1 <= b.x0 && b.y1 <= b.y0)
        return a;
    return (dv_box){dv_imin(a.x0, b.x0), dv_imin(a.y0, b.y0), dv_imax(a.x1, b.x1),
                    dv_imax(a.y1, b.y1)};
}

static inline dv_box dv_box_intersect(dv_box a, dv_box b)
{
    return (dv_box){dv_imax(a.x0, b.x0), dv_imax(a.y0, b.y0), dv_imin(a.x1, b.x1),
                    dv_imin(a.y1, b.y1)};
}

/* How many rows a and b share (0 when none): whether two words sit on one line. */
static inline int dv_box_overlap_y(dv_box a, dv_box b)
{
    return dv_imax(0, dv_imin(a.y1, b.y1) - dv_imax(a.y0, b.y0));
}

static inline long long dv_box_area(dv_box b)
{
    return dv_box_empty(b) ? 0 : (long long)dv_box_w(b) * dv_box_h(b);
}

/* Whether a's centre lies in b: which tile or line a word belongs to. */
static inline int dv_box_centre_in(dv_box a, dv_box b)
{
    int cx = (a.x0 + a.x1) / 2, cy = (a.y0 + a.y1) / 2;
    return cx >= b.x0 && cx < b.x1 && cy >= b.y0 && cy < b.y1;
}

#endif
