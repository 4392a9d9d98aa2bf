#include <stdlib.h>
#include <string.h>

#include "doc/layout_parts.h"

/* Recursive X-Y cut over line and figure boxes. A node first splits at every
 * vertical white gap that runs its full height (columns, left to right);
 * failing that, at its widest horizontal white gap (top, then bottom);
 * failing that, when it holds lines side by side (columns that a picture or
 * caption across the gutter keeps together), into the column pieces of
 * columns.c in their reading order; a node with none of these is a block.
 * Preferring vertical cuts keeps a column together when its paragraph gaps
 * line up with the neighbour's. */

typedef struct item {
    dv_box b;
    int is_line;
} item;

typedef struct cutter {
    item *items;
    double vgap, hgap;
    dv_layout *out;
    int lines_cap, blocks_cap;
    dv_err *e;
} cutter;

enum { MAX_DEPTH = 256 };

static int cmp_item_x(const void *a, const void *b)
{
    const item *p = a, *q = b;
    return (p->b.x0 > q->b.x0) - (p->b.x0 < q->b.x0);
}

static int cmp_item_y(const void *a, const void *b)
{
    const item *p = a, *q = b;
    if (p->b.y0 != q->b.y0)
        return (p->b.y0 > q->b.y0) - (p->b.y0 < q->b.y0);
    return (p->b.x0 > q->b.x0) - (p->b.x0 < q->b.x0);
}

static int grow(void **v, int *cap, int need, size_t size, dv_err *e)
{
    if (need <= *cap)
        return DOCVL_OK;
    int ncap = *cap ? *cap * 2 : 32;
    while (ncap < need)
        ncap *= 2;
    void *nv = realloc(*v, (size_t)ncap * size);
    if (!nv)
        return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for blocks");
    *v = nv;
    *cap = ncap;
    return DOCVL_OK;
}

static int emit_block(cutter *c, item *it, int n)
{
    dv_layout *o = c->out;
    qsort(it, (size_t)n, sizeof *it, cmp_item_y);
    int rc = grow((void **)&o->blocks, &c->blocks_cap, o->n_blocks + 1, sizeof *o->blocks, c->e);
    if (!rc)
        rc = grow((void **)&o->lines, &c->lines_cap, o->n_lines + n, sizeof *o->lines, c->e);
    if (rc)
        return rc;
    dv_block *bl = &o->blocks[o->n_blocks++];
    *bl = (dv_block){{0, 0, 0, 0}, DV_BLOCK_FIGURE, o->n_lines, 0};
    for (int i = 0; i < n; i++) {
        bl->box = dv_box_union(bl->box, it[i].b);
        if (it[i].is_line) {
            o->lines[o->n_lines++] = it[i].b;
            bl->n_lines++;
        }
    }
    if (bl->n_lines)
        bl->kind = DV_BLOCK_TEXT;
    return DOCVL_OK;
}

static int cut(cutter *c, item *it, int n, int depth);

static void count_columns(cutter *c, const item *it, const int *starts, int ng)
{
    int columns = 0;
    for (int g = 0; g < ng; g++) {
        int lines = 0;
        for (int i = starts[g]; i < starts[g + 1]; i++)
            lines += it[i].is_line;
        columns += lines >= 3;
    }
    if (columns > c->out->n_columns)
        c->out->n_columns = columns;
}

/* Splits at every full-height vertical gap; returns 0 when there is none. */
static int try_vertical(cutter *c, item *it, int n, int depth, int *rc)
{
    qsort(it, (size_t)n, sizeof *it, cmp_item_x);
    int ng = 1, right = it[0].b.x1;
    for (int i = 1; i < n; i++) {
        ng += it[i].b.x0 - right >= c->vgap;
        right = dv_imax(right, it[i].b.x1);
    }
    if (ng == 1)
        return 0;
    int *starts = malloc((size_t)(ng + 1) * sizeof *starts);
    if (!starts) {
        *rc = dv_fail(c->e, DOCVL_ENOMEM, "layout: out of memory for columns");
        return 1;
    }
    right = it[0].b.x1;
    starts[0] = 0;
    for (int i = 1, g = 1; i < n; i++) {
        if (it[i].b.x0 - right >= c->vgap)
            starts[g++] = i;
        right = dv_imax(right, it[i].b.x1);
    }
    starts[ng] = n;
    count_columns(c, it, starts, ng);
    *rc = DOCVL_OK;
    for (int g = 0; g < ng && *rc == DOCVL_OK; g++)
        *rc = cut(c, it + starts[g], starts[g + 1] - starts[g], depth + 1);
    free(starts);
    return 1;
}

/* Splits at the widest horizontal gap; returns 0 when none is wide enough. */
static int try_horizontal(cutter *c, item *it, int n, int depth, int *rc)
{
    qsort(it, (size_t)n, sizeof *it, cmp_item_y);
    int bottom = it[0].b.y1, best = -1, best_gap = 0;
    for (int i = 1; i < n; i++) {
        int gap = it[i].b.y0 - bottom;
        if (gap >= c->hgap && gap > best_gap) {
            best_gap = gap;
            best = i;
        }
        bottom = dv_imax(bottom, it[i].b.y1);
    }
    if (best < 0)
        return 0;
    *rc = cut(c, it, best, depth + 1);
    if (*rc == DOCVL_OK)
        *rc = cut(c, it + best, n - best, depth + 1);
    return 1;
}

/* Orders a part holding lines side by side that no cut divides into column
 * pieces (dv_order_columns), each cut again; returns 0 when it holds no
 * such lines or makes one piece. */
static int try_columns(cutter *c, item *it, int n, int depth, int *rc)
{
    dv_box *b = malloc((size_t)n * sizeof *b);
    int *is_line = malloc((size_t)n * sizeof *is_line);
    int *order = malloc((size_t)n * sizeof *order);
    int *starts = malloc((size_t)(n + 1) * sizeof *starts);
    item *copy = malloc((size_t)n * sizeof *copy);
    int pieces = 0, columns = 0;
    *rc = b && is_line && order && starts && copy
              ? DOCVL_OK
              : dv_fail(c->e, DOCVL_ENOMEM, "layout: out of memory for %d boxes", n);
    for (int i = 0; *rc == DOCVL_OK && i < n; i++)
        b[i] = it[i].b, is_line[i] = it[i].is_line;
    if (*rc == DOCVL_OK && dv_boxes_side_by_side(b, is_line, n))
        *rc = dv_order_columns(b, is_line, n, order, starts, &pieces, &columns, c->e);
    if (*rc == DOCVL_OK && pieces > 1) {
        memcpy(copy, it, (size_t)n * sizeof *it);
        for (int i = 0; i < n; i++)
            it[i] = copy[order[i]];
        c->out->n_columns = dv_imax(c->out->n_columns, columns);
        for (int k = 0; k < pieces && *rc == DOCVL_OK; k++)
            *rc = cut(c, it + starts[k], starts[k + 1] - starts[k], depth + 1);
    }
    free(b);
    free(is_line);
    free(order);
    free(starts);
    free(copy);
    return *rc != DOCVL_OK || pieces > 1;
}

static int cut(cutter *c, item *it, int n, int depth)
{
    int rc = DOCVL_OK;
    if (n > 1 && depth < MAX_DEPTH &&
        (try_vertical(c, it, n, depth, &rc) || try_horizontal(c, it, n, depth, &rc) ||
         try_columns(c, it, n, depth, &rc)))
        return rc;
    return emit_block(c, it, n);
}

static int overlaps_any(dv_box b, const dv_box *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!dv_box_empty(dv_box_intersect(b, v[i])))
            return 1;
    return 0;
}

int dv_xycut(const dv_line_set *s, dv_layout *out, dv_err *e)
{
    int n = s->n_lines + s->n_figures;
    if (n == 0)
        return DOCVL_OK;
    item *it = malloc((size_t)n * sizeof *it);
    if (!it)
        return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for %d boxes", n);
    for (int i = 0; i < s->n_lines; i++)
        it[i] = (item){s->lines[i], 1};
    /* Figures overlapping text (frames, shaded boxes, the dark border of a
     * book scan) would glue everything into one block: only pictures apart
     * from the text take part. */
    int k = s->n_lines;
    for (int i = 0; i < s->n_figures; i++)
        if (!overlaps_any(s->figures[i], s->lines, s->n_lines))
            it[k++] = (item){s->figures[i], 0};
    n = k;
    cutter c = {it, 1.6 * s->char_h, 1.2 * s->char_h, out, 0, 0, e};
    if (c.vgap < 2)
        c.vgap = c.hgap = 2;
    int rc = cut(&c, it, n, 0);
    if (rc == DOCVL_OK && out->n_columns == 0 && s->n_lines > 0)
        out->n_columns = 1;
    free(it);
    return rc;
}
