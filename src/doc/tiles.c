#include "doc/tiles.h"

#include <stdlib.h>
#include <string.h>

/* A run of consecutive blocks (in reading order) or of lines of one block
 * too big for a tile: the pieces tiles are assembled from. */
typedef struct unit {
    dv_box box;
    int block;
    int need_w, need_h;  /* largest line inside: a tile may not be smaller */
} unit;

typedef struct tiler {
    const dv_layout *l;
    int T;
    unit *u;
    int n_units, cap_units;
    dv_tiling *out;
    int cap_tiles;
    dv_err *e;
} tiler;

int dv_box_cuts(dv_box box, dv_box line)
{
    dv_box in = dv_box_intersect(box, line);
    if (dv_box_empty(in))
        return 0;
    return in.x0 != line.x0 || in.y0 != line.y0 || in.x1 != line.x1 || in.y1 != line.y1;
}

/* A tile may exceed T only as far as a single line inside it forces. */
static int fits(dv_box b, int T, int need_w, int need_h)
{
    return dv_box_w(b) <= dv_imax(T, need_w) && dv_box_h(b) <= dv_imax(T, need_h);
}

static int push_unit(tiler *t, dv_box b, int block, int need_w, int need_h)
{
    if (t->n_units == t->cap_units) {
        int ncap = t->cap_units ? 2 * t->cap_units : 64;
        unit *nu = realloc(t->u, (size_t)ncap * sizeof *nu);
        if (!nu)
            return dv_fail(t->e, DOCVL_ENOMEM, "tiles: out of memory");
        t->u = nu;
        t->cap_units = ncap;
    }
    t->u[t->n_units++] = (unit){b, block, need_w, need_h};
    return DOCVL_OK;
}

/* A figure larger than a tile holds no line to protect: equal grid cells. */
static int split_figure(tiler *t, int bi)
{
    dv_box f = t->l->blocks[bi].box;
    int nx = (dv_box_w(f) + t->T - 1) / t->T, ny = (dv_box_h(f) + t->T - 1) / t->T;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            dv_box c = {f.x0 + (int)((long long)dv_box_w(f) * i / nx),
                        f.y0 + (int)((long long)dv_box_h(f) * j / ny),
                        f.x0 + (int)((long long)dv_box_w(f) * (i + 1) / nx),
                        f.y0 + (int)((long long)dv_box_h(f) * (j + 1) / ny)};
            int rc = push_unit(t, c, bi, 0, 0);
            if (rc)
                return rc;
        }
    return DOCVL_OK;
}

/* A block larger than a tile: its lines in runs that fit, each run at least
 * one line even when that line alone is larger. */
static int split_block(tiler *t, int bi)
{
    const dv_block *b = &t->l->blocks[bi];
    if (b->n_lines == 0)
        return split_figure(t, bi);
    dv_box run = {0, 0, 0, 0};
    int need_w = 0, need_h = 0;
    for (int i = 0; i < b->n_lines; i++) {
        dv_box line = t->l->lines[b->first_line + i];
        dv_box grown = dv_box_union(run, line);
        int nw = dv_imax(need_w, dv_box_w(line)), nh = dv_imax(need_h, dv_box_h(line));
        if (!dv_box_empty(run) && !fits(grown, t->T, nw, nh)) {
            int rc = push_unit(t, run, bi, need_w, need_h);
            if (rc)
                return rc;
            grown = line;
            nw = dv_box_w(line);
            nh = dv_box_h(line);
        }
        run = grown;
        need_w = nw;
        need_h = nh;
    }
    return push_unit(t, run, bi, need_w, need_h);
}

static int make_units(tiler *t)
{
    for (int i = 0; i < t->l->n_blocks; i++) {
        const dv_block *b = &t->l->blocks[i];
        int rc = fits(b->box, t->T, 0, 0) ? push_unit(t, b->box, i, 0, 0) : split_block(t, i);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}

/* Grows box until it cuts no line: a line it touches is taken whole. */
static dv_box close_over_lines(const dv_layout *l, dv_box box)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < l->n_lines; i++)
            if (dv_box_cuts(box, l->lines[i])) {
                box = dv_box_union(box, l->lines[i]);
                changed = 1;
            }
    }
    return box;
}

static int cuts_any(const dv_layout *l, dv_box box)
{
    for (int i = 0; i < l->n_lines; i++)
        if (dv_box_cuts(box, l->lines[i]))
            return 1;
    return 0;
}

static int push_tile(tiler *t, dv_box box, int first_block, int last_block)
{
    dv_tiling *o = t->out;
    if (o->n_tiles == t->cap_tiles) {
        int ncap = t->cap_tiles ? 2 * t->cap_tiles : 16;
        dv_tile *nt = realloc(o->tiles, (size_t)ncap * sizeof *nt);
        if (!nt)
            return dv_fail(t->e, DOCVL_ENOMEM, "tiles: out of memory");
        o->tiles = nt;
        t->cap_tiles = ncap;
    }
    box = close_over_lines(t->l, box);
    o->tiles[o->n_tiles++] = (dv_tile){box, first_block, last_block - first_block + 1};
    return DOCVL_OK;
}

/* Consecutive units share a tile while their union fits and cuts no line. */
static int assemble(tiler *t)
{
    dv_box cur = t->u[0].box;
    int first = t->u[0].block, last = first;
    int need_w = t->u[0].need_w, need_h = t->u[0].need_h;
    for (int i = 1; i < t->n_units; i++) {
        const unit *u = &t->u[i];
        dv_box grown = dv_box_union(cur, u->box);
        int nw = dv_imax(need_w, u->need_w), nh = dv_imax(need_h, u->need_h);
        if (fits(grown, t->T, nw, nh) && !cuts_any(t->l, grown)) {
            cur = grown;
            last = u->block;
            need_w = nw;
            need_h = nh;
            continue;
        }
        int rc = push_tile(t, cur, first, last);
        if (rc)
            return rc;
        cur = u->box;
        first = last = u->block;
        need_w = u->need_w;
        need_h = u->need_h;
    }
    return push_tile(t, cur, first, last);
}

static int whole_page(dv_tiling *out, const dv_layout *l, dv_err *e)
{
    out->tiles = malloc(sizeof *out->tiles);
    if (!out->tiles)
        return dv_fail(e, DOCVL_ENOMEM, "tiles: out of memory");
    out->tiles[0] = (dv_tile){{0, 0, l->page_w, l->page_h}, 0, l->n_blocks};
    out->n_tiles = 1;
    return DOCVL_OK;
}

/* Fallback for layouts whose block order makes many small tiles (text
 * running vertically, scattered labels): split the content area itself at
 * white gaps no line crosses, columns first, packing as much as fits. */
static int gap_cut(const dv_layout *l, dv_box r, int vertical, int limit)
{
    int lo = vertical ? r.x0 : r.y0, hi = vertical ? r.x1 : r.y1, best = -1;
    for (int pos = lo + 1; pos < hi; pos++) {
        int blocked = 0;
        for (int i = 0; i < l->n_lines && !blocked; i++) {
            dv_box b = l->lines[i];
            if (dv_box_empty(dv_box_intersect(b, r)))
                continue;
            blocked = vertical ? (b.x0 < pos && b.x1 > pos) : (b.y0 < pos && b.y1 > pos);
        }
        if (!blocked && (best < 0 || pos - lo <= limit))
            best = pos;
        if (best >= 0 && pos - lo > limit)
            break;
    }
    return best;
}

static dv_box content_in(const dv_layout *l, dv_box r)
{
    dv_box c = {0, 0, 0, 0};
    for (int i = 0; i < l->n_blocks; i++)
        c = dv_box_union(c, dv_box_intersect(l->blocks[i].box, r));
    return c;
}

static int split_region(tiler *t, dv_box r, int depth)
{
    r = content_in(t->l, r);
    if (dv_box_empty(r))
        return DOCVL_OK;
    if (depth > 64 || (dv_box_w(r) <= t->T && dv_box_h(r) <= t->T))
        return push_tile(t, r, 0, t->l->n_blocks);
    int cut = -1, vertical = dv_box_w(r) > t->T;
    if (vertical)
        cut = gap_cut(t->l, r, 1, t->T);
    if (cut < 0 && dv_box_h(r) > t->T) {
        vertical = 0;
        cut = gap_cut(t->l, r, 0, t->T);
    }
    if (cut < 0)
        return push_tile(t, r, 0, t->l->n_blocks);
    dv_box a = r, b = r;
    if (vertical)
        a.x1 = b.x0 = cut;
    else
        a.y1 = b.y0 = cut;
    int rc = split_region(t, a, depth + 1);
    return rc ? rc : split_region(t, b, depth + 1);
}

int dv_tiles_make(const dv_layout *layout, const dv_tile_options *opts, dv_tiling *out,
                  dv_err *e)
{
    memset(out, 0, sizeof *out);
    int T = opts && opts->tile_size ? opts->tile_size : DV_TILE_DEFAULT_SIZE;
    if (T < 16)
        return dv_fail(e, DOCVL_EINVAL, "tile size %d is too small (at least 16)", T);
    if ((opts && opts->off) || layout->n_blocks == 0 ||
        (layout->page_w <= T && layout->page_h <= T))
        return whole_page(out, layout, e);
    tiler t = {layout, T, NULL, 0, 0, out, 0, e};
    int rc = make_units(&t);
    if (rc == DOCVL_OK)
        rc = assemble(&t);
    free(t.u);
    /* Many more tiles than the area needs: the block order scatters. */
    long long area = (long long)layout->page_w * layout->page_h;
    if (rc == DOCVL_OK && out->n_tiles > 4 + 3 * (area / ((long long)T * T) + 1)) {
        dv_tiling_free(out);
        t.cap_tiles = 0;
        rc = split_region(&t, (dv_box){0, 0, layout->page_w, layout->page_h}, 0);
    }
    if (rc)
        dv_tiling_free(out);
    return rc;
}

void dv_tiling_free(dv_tiling *t)
{
    if (!t)
        return;
    free(t->tiles);
    memset(t, 0, sizeof *t);
}
