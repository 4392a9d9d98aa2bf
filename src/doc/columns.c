#include <stdlib.h>
#include <string.h>

#include "doc/layout_parts.h"

/* Reading order where no X-Y cut separates the columns: a picture or a
 * caption straddles the gutter, or a column's lines overhang it somewhere.
 *
 * Lines are first chained into column pieces: a line continues the line
 * above it when each is the other's only nearest neighbour in that
 * direction among the lines sharing some of its width. A heading over two
 * columns has two lines under it and starts a piece of its own; so does a
 * caption reaching into both columns. Marks smaller than the type that
 * make lines of their own (a stray quotation mark or dot) take no part in
 * this: they go with the piece of the nearest line.
 *
 * Pieces are then ordered by rules after Breuel's for text lines (2003):
 * of two pieces with lines side by side, the one whose lines are on the
 * left goes first; else of two sharing some width, the one starting higher;
 * else the left one, unless a third piece lying between them in height
 * spans both (a heading or a picture between two bands of columns: then
 * the band above goes first). Side by side is judged on lines, not on the
 * pieces' boxes: a caption reaching into the gutter stands beside both
 * columns and is read between them, not inside either. The order is the
 * topological one, the highest ready piece first; a cycle is broken at its
 * highest piece. Pictures are bound by no rule and come where they are the
 * highest piece left: a picture across the gutter would otherwise put the
 * column beside it both before and after the other. */

/* Consecutive lines of a column are at most this many line heights apart. */
#define MAX_LINK_GAP 2.5
/* A line under this many median line heights high and this many wide is a
 * mark (see above). */
#define MARK_H 0.6
#define MARK_W 1.5
/* A piece of prose: at least this many lines, their median this many line
 * heights wide. Table cells chain into pieces too, but short ones, and a
 * table is read row by row, as one block top down. */
#define PROSE_LINES 3
#define PROSE_WIDTH 10.0
/* Beyond this many pieces the pairwise rules get slow: one block, top down. */
#define MAX_PIECES 400

enum { PICTURE, LINE, MARK };

typedef struct cols {
    const dv_box *b;
    int n;
    int *kind;       /* per box: PICTURE, LINE or MARK */
    int *next;       /* per box: the next box of its piece, -1 at its end */
    int *piece;      /* per box: its piece, -1 while it has none */
    int *top, *last; /* per piece: its first and last box */
    dv_box *box;     /* per piece: the union of its boxes */
    int n_pieces;
} cols;

static int overlap_x(dv_box a, dv_box b)
{
    return dv_imax(0, dv_imin(a.x1, b.x1) - dv_imax(a.x0, b.x0));
}

/* Two lines side by side: they share at least half the lower one's rows. */
static int side_by_side(dv_box a, dv_box b)
{
    return 2 * dv_box_overlap_y(a, b) >= dv_imin(dv_box_h(a), dv_box_h(b));
}

int dv_boxes_side_by_side(const dv_box *b, const int *is_line, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (is_line[i] && is_line[j] && !overlap_x(b[i], b[j]) && side_by_side(b[i], b[j]))
                return 1;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Lines, marks and pictures; hs: room for n heights. */
static void classify(cols *c, const int *is_line, int *hs)
{
    int k = 0;
    for (int i = 0; i < c->n; i++)
        if (is_line[i])
            hs[k++] = dv_box_h(c->b[i]);
    qsort(hs, (size_t)k, sizeof *hs, cmp_int);
    double med = k ? hs[k / 2] : 0;
    for (int i = 0; i < c->n; i++) {
        dv_box x = c->b[i];
        c->kind[i] = !is_line[i] ? PICTURE
                     : dv_box_h(x) < MARK_H * med && dv_box_w(x) < MARK_W * med ? MARK
                                                                                 : LINE;
    }
}

/* The line nearest to line i in direction dir (+1 below, -1 above) among
 * those sharing some of its width, or -1 when there is none near enough
 * or two sit side by side at that distance (the line has two neighbours). */
static int neighbour(const cols *c, int i, int dir)
{
    const dv_box *b = c->b;
    int best = -1, best_d = 0;
    for (int j = 0; j < c->n; j++) {
        if (j == i || c->kind[j] != LINE || !overlap_x(b[i], b[j]) || side_by_side(b[i], b[j]))
            continue;
        int d = dir > 0 ? b[j].y0 - b[i].y1 : b[i].y0 - b[j].y1;
        int centre_i = b[i].y0 + b[i].y1, centre_j = b[j].y0 + b[j].y1;
        if ((dir > 0) != (centre_j > centre_i))
            continue;
        if (best < 0 || d < best_d)
            best = j, best_d = d;
    }
    if (best < 0 || best_d > MAX_LINK_GAP * dv_imax(dv_box_h(b[i]), dv_box_h(b[best])))
        return -1;
    for (int j = 0; j < c->n; j++)
        if (j != best && j != i && c->kind[j] == LINE && overlap_x(b[i], b[j]) &&
            !side_by_side(b[i], b[j]) && side_by_side(b[best], b[j]))
            return -1;
    return best;
}

static void add_to_piece(cols *c, int k, int i)
{
    c->piece[i] = k;
    c->box[k] = dv_box_union(c->box[k], c->b[i]);
    c->next[c->last[k]] = i;
    c->last[k] = i;
}

static int new_piece(cols *c, int i)
{
    int k = c->n_pieces++;
    c->top[k] = c->last[k] = i;
    c->box[k] = c->b[i];
    c->piece[i] = k;
    return k;
}

/* The line nearest to mark m, -1 when there is none. */
static int host(const cols *c, int m)
{
    int best = -1, best_d = 0;
    for (int j = 0; j < c->n; j++) {
        dv_box x = c->b[j], y = c->b[m];
        int d = dv_imax(dv_imax(x.x0 - y.x1, y.x0 - x.x1), dv_imax(x.y0 - y.y1, y.y0 - x.y1));
        if (c->kind[j] == LINE && (best < 0 || d < best_d))
            best = j, best_d = d;
    }
    return best;
}

/* Chains lines into pieces, puts each mark in its line's piece and every
 * picture in a piece of its own; down: room for n links. */
static void chain(cols *c, int *down)
{
    for (int i = 0; i < c->n; i++)
        down[i] = c->kind[i] == LINE ? neighbour(c, i, 1) : -1;
    for (int i = 0; i < c->n; i++) {
        if (down[i] >= 0 && neighbour(c, down[i], -1) != i)
            down[i] = -1;
        c->next[i] = c->piece[i] = -1;
    }
    for (int i = 0; i < c->n; i++)
        if (down[i] >= 0)
            c->piece[down[i]] = -2; /* continues a line: not a piece's top */
    c->n_pieces = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->kind[i] == MARK || c->piece[i] != -1)
            continue;
        int k = new_piece(c, i);
        for (int j = down[i]; j >= 0; j = down[j])
            add_to_piece(c, k, j);
    }
    for (int i = 0; i < c->n; i++)
        if (c->kind[i] == MARK) {
            int h = host(c, i);
            if (h >= 0)
                add_to_piece(c, c->piece[h], i);
            else
                new_piece(c, i);
        }
}

static int is_text(const cols *c, int k)
{
    return c->kind[c->top[k]] != PICTURE;
}

/* Whether a piece other than a and b lies between them in height and
 * spans both. */
static int separated(const cols *c, int a, int b)
{
    dv_box upper = c->box[a].y0 <= c->box[b].y0 ? c->box[a] : c->box[b];
    dv_box lower = c->box[a].y0 <= c->box[b].y0 ? c->box[b] : c->box[a];
    for (int k = 0; k < c->n_pieces; k++) {
        dv_box x = c->box[k];
        int centre = (x.y0 + x.y1) / 2;
        if (k != a && k != b && centre >= upper.y1 && centre <= lower.y0 &&
            overlap_x(x, upper) && overlap_x(x, lower))
            return 1;
    }
    return 0;
}

/* Lines of a beside lines of b: how many pairs have a's line on the left,
 * less how many have it on the right. *any: whether there was a pair. */
static int beside(const cols *c, int a, int b, int *any)
{
    int votes = 0;
    *any = 0;
    for (int i = c->top[a]; i >= 0; i = c->next[i])
        for (int j = c->top[b]; c->kind[i] == LINE && j >= 0; j = c->next[j])
            if (c->kind[j] == LINE && !overlap_x(c->b[i], c->b[j]) &&
                side_by_side(c->b[i], c->b[j])) {
                *any = 1;
                votes += c->b[i].x0 < c->b[j].x0 ? 1 : -1;
            }
    return votes;
}

static int higher(dv_box a, dv_box b)
{
    return a.y0 < b.y0 || (a.y0 == b.y0 && a.x0 < b.x0);
}

/* Whether piece a is read before piece b by the rules above. Pictures are
 * bound by none. */
static int before(const cols *c, int a, int b)
{
    if (!is_text(c, a) || !is_text(c, b))
        return 0;
    int any, votes = beside(c, a, b, &any);
    if (any && votes)
        return votes > 0;
    dv_box x = c->box[a], y = c->box[b];
    if (overlap_x(x, y))
        return higher(x, y);
    return x.x1 <= y.x0 && !separated(c, a, b);
}

/* Whether piece k is prose (see PROSE_WIDTH); ws: room for its lines. */
static int is_prose(const cols *c, int k, int *ws)
{
    int n = 0, h = 0;
    for (int i = c->top[k]; i >= 0; i = c->next[i])
        if (c->kind[i] == LINE) {
            ws[n++] = dv_box_w(c->b[i]);
            h = dv_imax(h, dv_box_h(c->b[i]));
        }
    if (n < PROSE_LINES)
        return 0;
    qsort(ws, (size_t)n, sizeof *ws, cmp_int);
    return ws[n / 2] >= PROSE_WIDTH * h;
}

/* Whether two pieces of prose have lines side by side: text in columns. */
static int prose_columns(const cols *c, int *ws)
{
    for (int a = 0; a < c->n_pieces; a++) {
        if (!is_prose(c, a, ws))
            continue;
        for (int b = a + 1; b < c->n_pieces; b++) {
            int any;
            beside(c, a, b, &any);
            if (any && is_prose(c, b, ws))
                return 1;
        }
    }
    return 0;
}

/* Pieces in reading order into rank[]: a topological order of before(),
 * the highest ready piece first, a cycle broken at its highest piece. */
static int order_pieces(const cols *c, int *rank, dv_err *e)
{
    int n = c->n_pieces;
    unsigned char *edge = calloc((size_t)n * n, 1);
    int *indeg = calloc((size_t)n, sizeof *indeg);
    unsigned char *done = calloc((size_t)n, 1);
    int rc = edge && indeg && done ? DOCVL_OK
                                   : dv_fail(e, DOCVL_ENOMEM, "layout: out of memory "
                                                              "ordering %d column pieces", n);
    for (int a = 0; rc == DOCVL_OK && a < n; a++)
        for (int b = 0; b < n; b++)
            if (a != b && before(c, a, b)) {
                edge[(size_t)a * n + b] = 1;
                indeg[b]++;
            }
    for (int k = 0; rc == DOCVL_OK && k < n; k++) {
        int pick = -1, any = -1;
        for (int i = 0; i < n; i++) {
            if (done[i])
                continue;
            if (any < 0 || higher(c->box[i], c->box[any]))
                any = i;
            if (indeg[i] == 0 && (pick < 0 || higher(c->box[i], c->box[pick])))
                pick = i;
        }
        if (pick < 0)
            pick = any;
        done[pick] = 1;
        rank[k] = pick;
        for (int j = 0; j < n; j++)
            if (edge[(size_t)pick * n + j])
                indeg[j]--;
    }
    free(edge);
    free(indeg);
    free(done);
    return rc;
}

/* The most pieces of prose running side by side; ws: room for n widths. */
static int count_columns(const cols *c, int *ws)
{
    int most = 0;
    for (int a = 0; a < c->n_pieces; a++) {
        int cy = (c->box[a].y0 + c->box[a].y1) / 2, here = 0;
        for (int b = 0; b < c->n_pieces; b++)
            here += c->box[b].y0 <= cy && c->box[b].y1 > cy && is_prose(c, b, ws);
        most = dv_imax(most, here);
    }
    return most;
}

int dv_order_columns(const dv_box *b, const int *is_line, int n, int *order, int *starts,
                     int *n_pieces, int *n_columns, dv_err *e)
{
    *n_pieces = 0;
    *n_columns = 0;
    size_t ints = (size_t)n * 7;
    int *mem = malloc(ints * sizeof *mem);
    dv_box *boxes = malloc((size_t)n * sizeof *boxes);
    if (!mem || !boxes) {
        free(mem);
        free(boxes);
        return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for %d column boxes", n);
    }
    cols c = { b, n, mem, mem + n, mem + 2 * n, mem + 3 * n, mem + 4 * n, boxes, 0 };
    int *scratch = mem + 5 * n, *rank = mem + 6 * n;
    classify(&c, is_line, scratch);
    chain(&c, scratch);
    int rc = DOCVL_OK;
    int columns = c.n_pieces > 1 && c.n_pieces <= MAX_PIECES && prose_columns(&c, scratch);
    if (columns)
        rc = order_pieces(&c, rank, e);
    if (rc == DOCVL_OK && columns) {
        int k = 0;
        for (int r = 0; r < c.n_pieces; r++) {
            starts[r] = k;
            for (int i = c.top[rank[r]]; i >= 0; i = c.next[i])
                order[k++] = i;
        }
        starts[c.n_pieces] = k;
        *n_pieces = c.n_pieces;
        *n_columns = count_columns(&c, scratch);
    }
    free(mem);
    free(boxes);
    return rc;
}
