/* Table regions from word boxes: rows by vertical overlap, columns by the
 * whitespace gaps all rows of a run share (an x projection of their words),
 * and a content check that keeps prose out. */
#include "doc/tables.h"

#include <glib.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A column gap is at least this many row heights wide: word spaces are
 * about a quarter of one, the gaps between table columns usually a whole. */
#define GAP_MIN 0.6
/* Rows further apart than this many row heights are not one table. */
#define ROW_GAP_MAX 2.0
#define MIN_ROWS 3
/* Table cells are short: a column averaging more words a cell is prose. */
#define COL_WORDS_MAX 6
/* Most cells of a table start with a capital, a digit or a sign. */
#define LOWER_MAX 0.4
/* A column of phrases more of which than this start in lower case is
 * prose cut into pieces, whatever the columns beside it hold. */
#define PROSE_COLUMN 0.75
/* Wrapped cell lines are told apart from rows only in tables whose rows
 * are spaced at least this many row heights apart. */
#define WRAP_PITCH_MIN 0.3
/* Lines of one wrapped cell are closer than this many line heights. */
#define JOIN_GAP 0.8
/* Header lines closer than this many line heights are lines of the same
 * cells, the row label's included (a stub header of two lines). */
#define TIGHT 0.3
/* More columns than this: not a table a reader could use, and it keeps
 * the column lists on the stack. */
#define MAX_COLS 64
/* Interval merges allowed per page: bounds pathological pages. */
#define WORK_MAX 20000000L

typedef struct tword {
    dv_box box;
    const char *text;
    int index;              /* in block, line, word order */
} tword;

typedef struct trow {
    int first, n;           /* words[first .. first+n), sorted by x0 */
    dv_box box;
    double h;               /* mean word height */
    int spanning;           /* in a table, a row across its columns (a group
                               label, a header over several): it does not
                               shape the columns */
    int cont;               /* in a table, the wrapped second line of the
                               row above: its words join that row's cells */
} trow;

typedef struct span {
    double x0, x1;
    int num;                /* only numbers (number_word) in it */
} span;

typedef struct finder {
    tword *words;
    int n_words;
    trow *rows;
    int n_rows;
    span *tmp;              /* scratch for merging: n_words + MAX_COLS */
    int *wcol;              /* scratch: the column of each word of a row */
    int *wlast;             /* scratch: the last column its phrase covers */
    double gap;             /* the column gap of the run being tried */
    long work;
} finder;

/* The length of s without the magnitude ending an amount ("$1.1M",
 * "25k", "3.2bn"): K, M or B (either case) or "bn" after a digit. */
static size_t without_magnitude(const char *s)
{
    size_t n = strlen(s);
    size_t m = n >= 3 && g_ascii_strcasecmp(s + n - 2, "bn") == 0 ? 2
               : n >= 2 && strchr("KMBkmb", s[n - 1])        ? 1
                                                              : 0;
    return m && g_ascii_isdigit(s[n - m - 1]) ? n - m : n;
}

/* Digits make at least half of the non-space characters, a dollar sign
 * and a magnitude aside ("$1.1M" is an amount). */
static int numeric(const char *s)
{
    int digits = 0, other = 0;
    for (const char *end = s + without_magnitude(s); s < end; s++) {
        if (g_ascii_isdigit(*s))
            digits++;
        else if (*s != ' ' && *s != '$')
            other++;
    }
    return digits > 0 && digits >= other;
}

/* A word standing for a missing number: "-", "n.a." and the like. */
static int placeholder(const char *w)
{
    static const char *const marks[] = { "-", "\u2013", "\u2014", "n.a.", "n/a", "na", "..",
                                         "...", "x", "*" };
    for (size_t k = 0; k < G_N_ELEMENTS(marks); k++)
        if (g_ascii_strcasecmp(w, marks[k]) == 0 || strcmp(w, marks[k]) == 0)
            return 1;
    return 0;
}

/* A number or a mark standing for one: never part of another cell. */
static int number_word(const char *w)
{
    return numeric(w) || placeholder(w);
}

/* next is a group of three digits continuing the integer part of prev
 * ("15 455", thousands set apart by a space). */
static int thousands(const char *prev, const char *next)
{
    size_t n = strlen(prev);
    if (n == 0 || n > 3 + 4 * 4 || strchr(prev, '.') || !g_ascii_isdigit(prev[n - 1]))
        return 0;
    size_t d = strspn(next, "0123456789");
    return d == 3 && (next[3] == '\0' || ((next[3] == '.' || next[3] == ',') &&
                                           g_ascii_isdigit(next[4])));
}

/* The end of the phrase of row r starting at word k: words closer than
 * gap read as one cell, except that two numbers side by side are two
 * ("4,151,000 25.0" in columns set close together). */
static int phrase_end(const finder *f, const trow *r, int k, double gap, span *extent)
{
    const tword *w = &f->words[r->first + k];
    int num = number_word(w->text);
    *extent = (span){ w->box.x0, w->box.x1, num };
    for (k++; k < r->n; k++) {
        w = &f->words[r->first + k];
        int next = number_word(w->text);
        if (w->box.x0 - extent->x1 >= gap ||
            (num && next && !thousands(f->words[r->first + k - 1].text, w->text)))
            break;
        extent->x1 = fmax(extent->x1, w->box.x1);
        extent->num &= next;
        num = next;
    }
    return k;
}

static int usable(const dv_page_word *w)
{
    const dv_box *b = &w->box;
    return w->text && *w->text && b->x1 >= b->x0 && b->y1 > b->y0;
}

static int cmp_cy(const void *a, const void *b)
{
    const tword *p = a, *q = b;
    double cp = p->box.y0 + p->box.y1, cq = q->box.y0 + q->box.y1;
    if (cp != cq)
        return cp < cq ? -1 : 1;
    return p->box.x0 < q->box.x0 ? -1 : p->box.x0 > q->box.x0;
}

static int cmp_x0(const void *a, const void *b)
{
    const tword *p = a, *q = b;
    if (p->box.x0 != q->box.x0)
        return p->box.x0 < q->box.x0 ? -1 : 1;
    return p->index - q->index;
}

static int cmp_span(const void *a, const void *b)
{
    const span *p = a, *q = b;
    return p->x0 < q->x0 ? -1 : p->x0 > q->x0;
}

/* Words (sorted by centre y) into rows: a word joins the row it overlaps
 * vertically by half the smaller height. */
static void group_rows(finder *f)
{
    qsort(f->words, (size_t)f->n_words, sizeof *f->words, cmp_cy);
    for (int i = 0; i < f->n_words; i++) {
        dv_box b = f->words[i].box;
        trow *r = f->n_rows ? &f->rows[f->n_rows - 1] : NULL;
        double h = b.y1 - b.y0;
        if (r && dv_box_overlap_y(r->box, b) >= 0.5 * fmin(h, r->box.y1 - r->box.y0)) {
            r->box = dv_box_cover(r->box, b);
            r->h += h;
            r->n++;
            continue;
        }
        r = &f->rows[f->n_rows++];
        r->first = i;
        r->n = 1;
        r->box = b;
        r->h = h;
    }
    for (int i = 0; i < f->n_rows; i++) {
        trow *r = &f->rows[i];
        r->h /= r->n;
        qsort(f->words + r->first, (size_t)r->n, sizeof *f->words, cmp_x0);
    }
}

/* cols (n, sorted) merged with row r's words; spans closer than gap join.
 * Returns the new count, written to cols (room for MAX_COLS + 1), or -1 when
 * there would be more than MAX_COLS columns or the work budget is spent. */
static int merge_row(finder *f, span *cols, int n, const trow *r, double gap)
{
    int m = 0;
    for (int k = 0; k < n; k++)
        f->tmp[m++] = cols[k];
    for (int k = 0; k < r->n;)
        k = phrase_end(f, r, k, gap, &f->tmp[m++]);
    f->work += m;
    if (f->work > WORK_MAX)
        return -1;
    qsort(f->tmp, (size_t)m, sizeof *f->tmp, cmp_span);
    int out = 0;
    for (int k = 0; k < m; k++) {
        /* a number is in the column of another row's phrase when they
         * overlap: columns of figures may be set closer than word gaps */
        if (out > 0 && f->tmp[k].x0 - cols[out - 1].x1 <
                           (cols[out - 1].num || f->tmp[k].num ? 0 : gap)) {
            cols[out - 1].x1 = fmax(cols[out - 1].x1, f->tmp[k].x1);
            cols[out - 1].num &= f->tmp[k].num;
            continue;
        }
        if (out == MAX_COLS)
            return -1;
        cols[out++] = f->tmp[k];
    }
    return out;
}

/* 1 when a column of next holds the centres of two columns of prev: the
 * row just merged bridged a gap. */
static int bridged(const span *prev, int n_prev, const span *next, int n_next)
{
    int k = 0;
    for (int j = 0; j < n_next; j++) {
        int inside = 0;
        for (; k < n_prev; k++) {
            double c = 0.5 * (prev[k].x0 + prev[k].x1);
            if (c > next[j].x1)
                break;
            inside += c >= next[j].x0;
        }
        if (inside >= 2)
            return 1;
    }
    return 0;
}

/* The columns of rows [a, b). Returns their count, -1 as merge_row. */
static int columns_of(finder *f, int a, int b, double gap, span *cols)
{
    int n = 0;
    for (int i = a; i < b && n >= 0; i++)
        if (!f->rows[i].spanning)
            n = merge_row(f, cols, n, &f->rows[i], gap);
    return n;
}

static int column_of(const span *cols, int n, dv_box b)
{
    double c = 0.5 * (b.x0 + b.x1);
    for (int k = 0; k < n; k++)
        if (c <= cols[k].x1)
            return k;
    return n - 1;
}

static double overlap_x(span a, span b)
{
    return fmin(a.x1, b.x1) - fmax(a.x0, b.x0);
}

/* A phrase and a column overlapping by half the narrower one: the phrase
 * belongs in that column (or spans it). */
static int covers_half(span ph, span col)
{
    return overlap_x(ph, col) >= 0.5 * fmin(col.x1 - col.x0, ph.x1 - ph.x0);
}

/* Phrase ph of words lies in the gap between columns c - 1 and c: a label
 * centred over both ("Control" over "Public Private"), not a figure set
 * off its column. */
static int between(span ph, const span *cols, int c)
{
    return !ph.num && c > 0 && ph.x0 > cols[c - 1].x1 && ph.x1 < cols[c].x0;
}

/* The end of the phrase of row r's words [k, end) (extent *ph) before a
 * figure after words that lies mostly in a column the words before it do
 * not reach: a header's label set close to the next column's ("Less than
 * $10,000-" over "$10,000" and "14,999"). */
static int figure_apart(const finder *f, const trow *r, int k, int end, const span *cols, int n,
                        span *ph)
{
    span words = { f->words[r->first + k].box.x0, f->words[r->first + k].box.x1, 0 };
    for (int j = k + 1; j < end; j++) {
        const tword *w = &f->words[r->first + j];
        span fig = { w->box.x0, w->box.x1, 1 };
        if (number_word(w->text) && !number_word(f->words[r->first + j - 1].text))
            for (int c = 0; c < n; c++)
                if (overlap_x(fig, cols[c]) >= 0.5 * (fig.x1 - fig.x0) &&
                    overlap_x(words, cols[c]) <= 0) {
                    *ph = words;
                    return j;
                }
        words.x1 = fmax(words.x1, fig.x1);
        words.num = 0;
    }
    return end;
}

/* The column of each of row r's words, written to f->wcol[r->first ..].
 * Words closer than the column gap are one phrase and stay in one cell;
 * a phrase wider than a column (a header over several, a spanning row's
 * label) goes to the first column it covers half of, as the leftmost cell
 * of its span; a label between two columns spans both. */
static const int *word_columns(const finder *f, const trow *r, const span *cols, int n)
{
    int *col = f->wcol + r->first;
    for (int k = 0; k < r->n;) {
        span ph;
        int end = figure_apart(f, r, k, phrase_end(f, r, k, f->gap, &ph), cols, n, &ph);
        int c = -1;
        for (int j = 0; j < n && c < 0; j++)
            if (covers_half(ph, cols[j]))
                c = j;
        int last = c;
        if (c < 0) {
            c = last = column_of(cols, n, (dv_box){ ph.x0, 0, ph.x1, 0 });
            if (between(ph, cols, c))
                c--;
        }
        for (int j = last + 1; j < n; j++)
            if (covers_half(ph, cols[j]))
                last = j;
        for (; k < end; k++) {
            col[k] = c;
            f->wlast[r->first + k] = last;
        }
    }
    return col;
}

static int filled_cells(const finder *f, const trow *r, const span *cols, int n)
{
    const int *col = word_columns(f, r, cols, n);
    int filled = 0, last = -1;
    for (int k = 0; k < r->n; k++) {
        filled += col[k] != last;
        last = col[k];
    }
    return filled;
}

/* The end of the run of row r's words from word k closer than gap to the
 * words before (figures side by side included); its extent to *ph. */
static int run_end(const finder *f, const trow *r, int k, double gap, span *ph)
{
    *ph = (span){ f->words[r->first + k].box.x0, f->words[r->first + k].box.x1, 0 };
    for (k++; k < r->n && f->words[r->first + k].box.x0 - ph->x1 < gap; k++)
        ph->x1 = fmax(ph->x1, f->words[r->first + k].box.x1);
    return k;
}

/* The most words in a run of row r's words (run_end); with figures, in a
 * phrase (phrase_end: figures side by side are apart). */
static int longest_run(const finder *f, const trow *r, double gap, int figures)
{
    int longest = 0;
    for (int k = 0; k < r->n;) {
        span ph;
        int end = figures ? phrase_end(f, r, k, gap, &ph) : run_end(f, r, k, gap, &ph);
        longest = MAX(longest, end - k);
        k = end;
    }
    return longest;
}

/* A head row above a table lies within the columns' extent, give or take
 * a row height; its first (last) phrase may reach further out when its
 * centre lies in the first (last) column: a head label centred over a
 * narrower column of figures ("growth in share" over "(% points)" and
 * "3"). A line of text wider than the table is one phrase centred far
 * from its edge columns. */
static int within_columns(const finder *f, const trow *r, const span *cols, int n, double gap)
{
    span first, last;
    int k = run_end(f, r, 0, gap, &first);
    for (last = first; k < r->n;)
        k = run_end(f, r, k, gap, &last);
    double c0 = 0.5 * (first.x0 + first.x1), c1 = 0.5 * (last.x0 + last.x1);
    return (r->box.x0 >= cols[0].x0 - r->h || (c0 >= cols[0].x0 && c0 <= cols[0].x1)) &&
           (r->box.x1 <= cols[n - 1].x1 + r->h || (c1 >= cols[n - 1].x0 && c1 <= cols[n - 1].x1));
}

/* Row r lies within the columns' extent, give or take a row height, and
 * reads as labels rather than a sentence: no run of more than max_words
 * words without a gap (a caption runs longer, so may a group label inside
 * a table: MID_WORDS). */
#define HEAD_WORDS 3
/* A table's columns may start this many rows below its first or below a
 * better start (header rows over merged columns above them). */
#define HEAD_SKIP 4
#define MID_WORDS 8
static int spanning_row(const finder *f, const trow *r, const span *cols, int n, double gap,
                        int max_words)
{
    return r->box.x0 >= cols[0].x0 - r->h && r->box.x1 <= cols[n - 1].x1 + r->h &&
           longest_run(f, r, gap, 0) <= max_words;
}

/* Row r's centre is nearer the centre of the table (cols) than that of
 * its columns past the first: a title is centred over the whole table
 * ("Greenhouse gases"), the label of a group of columns over those
 * columns ("Race/ethnicity" over six of eight, to the right). */
static int centred_on_table(const trow *r, const span *cols, int n)
{
    double c = 0.5 * (r->box.x0 + r->box.x1);
    return fabs(c - 0.5 * (cols[0].x0 + cols[n - 1].x1)) <=
           fabs(c - 0.5 * (cols[1].x0 + cols[n - 1].x1));
}

/* Row r holds two phrases or more, set a column gap apart, none over the
 * first column: labels of column groups ("AYP Based on 2003-04 Testing"
 * over two columns, again over the next three), which may run as long as
 * group labels inside a table. A caption is one run of words from the
 * table's left edge ("Table 7.5 Comparisons ..." whatever its figures). */
static int group_labels(const finder *f, const trow *r, const span *cols, int n, double gap)
{
    int phrases = 0;
    for (int k = 0; k < r->n; phrases++) {
        span ph;
        k = run_end(f, r, k, gap, &ph);
        if (ph.x0 <= cols[0].x1)
            return 0;
    }
    return phrases >= 2 && spanning_row(f, r, cols, n, gap, MID_WORDS);
}

/* Row r, set close above row `below` (under JOIN_GAP line heights), is one
 * phrase over two columns or more past the first, of up to SPAN_WORDS
 * words, centred on those columns rather than on the table: the label of
 * the rows below ("Absolute value of percentage difference between
 * actual and projected values" over four columns of figures). A caption
 * is centred on the table, or set apart from it. */
#define SPAN_WORDS 16
static int columns_label(const finder *f, const trow *r, const trow *below, const span *cols,
                         int n, double gap)
{
    span ph;
    if (run_end(f, r, 0, gap, &ph) < r->n || ph.x0 <= cols[0].x1 ||
        below->box.y0 - r->box.y1 >= JOIN_GAP * fmax(r->h, below->h) ||
        centred_on_table(r, cols, n) || !spanning_row(f, r, cols, n, gap, SPAN_WORDS))
        return 0;
    int covered = 0;
    for (int c = 1; c < n; c++)
        covered += covers_half(ph, cols[c]);
    return covered >= 2;
}

/* A row above a table's first row (below it) that belongs to its header:
 * short labels (HEAD_WORDS words a phrase, figures side by side apart:
 * "Less than $10,000- $15,000-" over two columns), group labels or the
 * label of the columns below. */
static int head_row(const finder *f, const trow *r, const trow *below, const span *cols, int n,
                    double gap)
{
    return (within_columns(f, r, cols, n, gap) && longest_run(f, r, gap, 1) <= HEAD_WORDS) ||
           group_labels(f, r, cols, n, gap) ||
           columns_label(f, r, below, cols, n, gap);
}

/* Row r merges into cols (n) without bridging a gap, at most max_gap below
 * row `above`; on success cols and *n are updated. */
static int fits(finder *f, const trow *above, const trow *r, double max_gap, double gap,
                span *cols, int *n)
{
    span next[MAX_COLS + 1];
    if (r->box.y0 - above->box.y1 > max_gap * fmax(above->h, r->h))
        return 0;
    memcpy(next, cols, (size_t)*n * sizeof *next);
    int m = merge_row(f, next, *n, r, gap);
    if (m < 0 || bridged(cols, *n, next, m))
        return 0;
    memcpy(cols, next, (size_t)m * sizeof *next);
    *n = m;
    return 1;
}

/* After row b-1 of a run, up to SKIP_MAX rows that break it may still be
 * spanning rows of the table when two rows that fit come next. Returns the
 * first row past them (cols updated), or b when the run ends at b. */
#define SKIP_MAX 2
static int skip_spanning(finder *f, int b, double gap, span *cols, int *n)
{
    for (int k = 0; k <= SKIP_MAX && b + k + 1 < f->n_rows; k++) {
        const trow *c = &f->rows[b + k];
        if (k > 0 && !spanning_row(f, &f->rows[b + k - 1], cols, *n, gap, MID_WORDS))
            return b;
        span tmp[MAX_COLS + 1];
        int m = *n;
        memcpy(tmp, cols, (size_t)m * sizeof *tmp);
        double max_gap = 2 * ROW_GAP_MAX + k;
        if (fits(f, &f->rows[b - 1], c, max_gap, gap, tmp, &m) &&
            fits(f, c, c + 1, ROW_GAP_MAX, gap, tmp, &m)) {
            for (int i = b; i < b + k + 2; i++)
                f->rows[i].spanning = i < b + k;
            memcpy(cols, tmp, (size_t)m * sizeof *tmp);
            *n = m;
            return b + k + 2;
        }
    }
    return b;
}

/* The end of the run starting at row a: rows follow while they are close
 * below the one before and bridge no column gap (spanning rows aside).
 * Close is under ROW_GAP_MAX line heights, or in a table whose rows are
 * spaced apart (two gaps between rows that fit, or more), under SPACED
 * times the smallest of those gaps: a total row set a little further below rows 0.4 in
 * apart. */
#define SPACED 1.5
static int grow(finder *f, int a, double gap, span *cols, int *n_cols)
{
    int n = merge_row(f, cols, 0, &f->rows[a], gap);
    f->rows[a].spanning = 0;
    *n_cols = n;
    if (n < 2)
        return a + 1;
    int b = a + 1;
    double least = 0; /* the smallest gap between rows of the run that fit */
    int gaps = 0;
    while (b < f->n_rows) {
        const trow *up = &f->rows[b - 1], *r = &f->rows[b];
        f->rows[b].spanning = 0;
        double limit =
            gaps >= 2 ? fmax(ROW_GAP_MAX, SPACED * least / fmax(up->h, r->h)) : ROW_GAP_MAX;
        if (fits(f, up, r, limit, gap, cols, &n)) {
            double g = r->box.y0 - up->box.y1;
            least = gaps++ ? fmin(least, g) : g;
            b++;
            continue;
        }
        int next = skip_spanning(f, b, gap, cols, &n);
        if (next == b)
            break;
        b = next;
    }
    *n_cols = n;
    return b;
}

/* Only one-letter words ("S A"): letters of text set vertically in a
 * margin, or drop caps, not a column of data. */
static int lone_letters(const char *s)
{
    if (!g_utf8_validate(s, -1, NULL))
        return 0;
    int letters = 0;
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c == ' ')
            continue;
        if (!g_unichar_isalpha(c))
            return 0;
        const char *q = g_utf8_next_char(p);
        if (*q && *q != ' ')
            return 0;
        letters++;
    }
    return letters > 0;
}

static int starts_lower(const char *s)
{
    return g_utf8_validate(s, -1, NULL) && g_unichar_islower(g_utf8_get_char(s));
}

/* A cell starting with a capital letter (a label or a term, not a
 * footnote's number or mark). */
static int starts_capital(const char *s)
{
    return g_utf8_validate(s, -1, NULL) && g_unichar_isupper(g_utf8_get_char(s));
}

static int count_words(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        n += !in && *s != ' ';
        in = *s != ' ';
    }
    return n;
}

/* Data rather than prose: every column used in two rows or more, most
 * cells filled, cells short, and several columns or numbers in the last. */
/* Row labels may run long ("Results in staff confusion about our targets
 * for student achievement") beside figures: at least two columns past the
 * first, their cells below the header mostly (FIGURES_MIN) numbers. Such a
 * label column may average LABEL_WORDS_MAX words a cell, and its words do
 * not count in the table's mean. */
#define FIGURES_MIN 0.75
#define LABEL_WORDS_MAX 16
static int labels_beside_figures(const dv_page_table *t)
{
    int filled = 0, num = 0;
    for (int r = 1; r < t->n_rows; r++)
        for (int c = 1; c < t->n_cols; c++) {
            const char *s = t->cells[r * t->n_cols + c];
            filled += *s != 0;
            num += *s && numeric(s);
        }
    return t->n_cols >= 3 && filled > 0 && num >= FIGURES_MIN * filled;
}

static int looks_like_table(const dv_page_table *t)
{
    int filled = 0, num = 0, words = 0, num_last = 0, filled_last = 0, lower = 0;
    int labels = labels_beside_figures(t);
    for (int c = 0; c < t->n_cols; c++) {
        int used = 0, col_words = 0, letters = 0, col_lower = 0;
        for (int r = 0; r < t->n_rows; r++) {
            const char *s = t->cells[r * t->n_cols + c];
            if (!*s)
                continue;
            used++;
            filled++;
            /* marks ("x" ticks) are neither letters set vertically nor
             * lower-case prose */
            int mark = placeholder(s);
            letters += lone_letters(s) && !mark;
            col_lower += starts_lower(s) && !mark;
            int nw = count_words(s);
            words += c > 0 || !labels ? nw : 1;
            col_words += nw;
            int isnum = numeric(s);
            num += isnum;
            if (c == t->n_cols - 1 && r > 0) {
                filled_last++;
                num_last += isnum;
            }
        }
        /* a column of prose (text beside a code listing or a figure), or
         * of its pieces: phrases mostly starting in lower case ("in most
         * of the affected" beside figures), not units ("kg") */
        int max_words = c == 0 && labels ? LABEL_WORDS_MAX : COL_WORDS_MAX;
        if (used < 2 || col_words > max_words * used || letters > 0.6 * used ||
            (col_lower > PROSE_COLUMN * used && col_words >= 2 * used))
            return 0;
        lower += col_lower;
    }
    /* cells of prose in justified columns, whose word spaces happen to line
     * up, mostly start in lower case; a table's labels and numbers do not */
    if (lower > LOWER_MAX * filled)
        return 0;
    double fill = (double)filled / (t->n_rows * t->n_cols);
    double mean_words = (double)words / filled, num_frac = (double)num / filled;
    if (fill < 0.5 || mean_words > 5.0)
        return 0;
    if (t->n_cols >= 3)
        return num_frac >= 0.3 || mean_words <= 2.5;
    return t->n_rows >= 4 && filled_last > 0 && num_last >= 0.75 * filled_last &&
           mean_words <= 4.0;
}

/* Terms and their descriptions: two columns under a head of two short
 * labels ("Type | Description"), every row a term (TERM_WORDS words at
 * most, twice that for a term wrapped over lines: "Education revenue
 * receipts from state sources per capita in constant dollars") starting
 * with a capital or with figures that are not a number by themselves
 * ("18- to 24-year-old population"), and a description of text starting
 * with a capital, longer on average; or a section label (HEAD_WORDS words
 * at most) with no description, as long as at least half the rows are
 * described. Two columns of prose have no such head nor short cells on
 * the left; notes under a table ("(:) Not available.", "1 | In 2008 ...",
 * "Source: ...") and lists of numbered or abbreviated entries ("LDA | La
 * Distribution alimentaire") no head of labels or no descriptions so
 * long. */
#define TERM_WORDS 6
static int term_start(const char *s)
{
    return starts_capital(s) || (g_ascii_isdigit(*s) && !numeric(s));
}

static int terms_described(const dv_page_table *t)
{
    if (t->n_cols != 2 || t->n_rows < MIN_ROWS)
        return 0;
    int text_words = 0, described = 0;
    for (int r = 0; r < t->n_rows; r++) {
        const char *term = t->cells[2 * r], *text = t->cells[2 * r + 1];
        if (r > 0 && !*text && starts_capital(term) && count_words(term) <= HEAD_WORDS)
            continue; /* a section label */
        int max_words = r == 0 ? HEAD_WORDS : 2 * TERM_WORDS;
        if (!(r == 0 ? starts_capital(term) : term_start(term)) || !starts_capital(text) ||
            count_words(term) > max_words || (r == 0 && count_words(text) > HEAD_WORDS))
            return 0;
        text_words += r > 0 ? count_words(text) : 0;
        described += r > 0;
    }
    return 2 * described >= t->n_rows - 1 && text_words > TERM_WORDS * described;
}

/* A header cell: words, or a year ("1996"), not a figure (a chart's
 * tick labels read as a row of numbers). */
static int head_label(const char *s)
{
    if (strlen(s) == 4 && strspn(s, "0123456789") == 4)
        return 1;
    for (; *s; s++)
        if (g_ascii_isalpha(*s))
            return 1;
    return 0;
}

/* A table of two rows must be plain: at least TWO_ROW_COLS columns, a
 * header of short labels (the first column's may be empty), below it a
 * row label and a number in every other column ("Turnover | 7,581 |
 * 2,517"). Two lines of prose or of a list never read so. Beside
 * LONG_LABEL_FIGURES figures or more, the row label may run as long as a
 * group label (MID_WORDS: "Budget Coefficient for Coffee, Tea, Herb Tea"
 * over six years). */
#define TWO_ROW_COLS 3
#define TWO_ROW_WORDS 4
#define LONG_LABEL_FIGURES 5
static int head_and_figures(const dv_page_table *t)
{
    if (t->n_rows != 2 || t->n_cols < TWO_ROW_COLS)
        return 0;
    const char *const *head = (const char *const *)t->cells, *const *row = head + t->n_cols;
    int label_words = t->n_cols - 1 >= LONG_LABEL_FIGURES ? MID_WORDS : TWO_ROW_WORDS;
    if (!*row[0] || numeric(row[0]) || count_words(row[0]) > label_words)
        return 0;
    for (int c = 1; c < t->n_cols; c++)
        if (!head_label(head[c]) || count_words(head[c]) > TWO_ROW_WORDS || !numeric(row[c]))
            return 0;
    return count_words(head[0]) <= TWO_ROW_WORDS;
}

/* The cells of rows [a, b) in cols. */
static int logical_rows(const finder *f, int a, int b)
{
    int n = 0;
    for (int i = a; i < b; i++)
        n += i == a || !f->rows[i].cont;
    return n;
}

/* Words of one cell on more lines than this keep their x order: the
 * reading-order pick below is quadratic. */
#define CELL_ORDER_MAX 64

/* The cell's words (those of col[] equal to c) lie on one text line: all
 * overlap the first vertically by half the smaller height. */
static int one_line(const finder *f, const trow *r, const int *col, int c, int *count)
{
    const dv_box *first = NULL;
    int same = 1;
    *count = 0;
    for (int k = 0; k < r->n; k++) {
        if (col[k] != c)
            continue;
        const dv_box *b = &f->words[r->first + k].box;
        (*count)++;
        if (!first)
            first = b;
        else if (dv_box_overlap_y(*first, *b) < 0.5 * fmin(first->y1 - first->y0, b->y1 - b->y0))
            same = 0;
    }
    return same;
}

static void append_word(GString *cell, const char *text)
{
    if (cell->len)
        g_string_append_c(cell, ' ');
    g_string_append(cell, text);
}

/* Appends row r's words in column c to cell: in x order on one line; a
 * cell wrapped over two lines inside the row (beside cells set in the
 * middle of its height) in the text layer's order, line by line, not
 * "200 BTEX) (as" for "200 (as" over "BTEX)". */
static void append_cell(const finder *f, const trow *r, const span *cols, int n, int c,
                        GString *cell)
{
    const int *col = word_columns(f, r, cols, n);
    int count;
    if (one_line(f, r, col, c, &count) || count > CELL_ORDER_MAX) {
        for (int k = 0; k < r->n; k++)
            if (col[k] == c)
                append_word(cell, f->words[r->first + k].text);
        return;
    }
    for (int last = -1, done = 0; done < count; done++) {
        int pick = -1;
        for (int k = 0; k < r->n; k++) {
            int idx = f->words[r->first + k].index;
            if (col[k] == c && idx > last &&
                (pick < 0 || idx < f->words[r->first + pick].index))
                pick = k;
        }
        last = f->words[r->first + pick].index;
        append_word(cell, f->words[r->first + pick].text);
    }
}

/* A cell spans the columns right of it only while they are empty; empty
 * cells span nothing (0). */
static void clip_spans(dv_page_table *t)
{
    for (int r = 0; r < t->n_rows; r++) {
        char **cells = t->cells + (size_t)r * t->n_cols;
        int *spans = t->spans + (size_t)r * t->n_cols;
        for (int c = 0; c < t->n_cols; c++) {
            if (!*cells[c]) {
                spans[c] = 0;
                continue;
            }
            int s = 1;
            while (s < spans[c] && c + s < t->n_cols && !*cells[c + s])
                s++;
            spans[c] = s;
        }
    }
}

/* The cells of rows [a, b) in cols, wrapped lines joined to their row. */
static int fill_table(const finder *f, int a, int b, const span *cols, int n, dv_page_table *t,
                      dv_err *e)
{
    t->n_rows = logical_rows(f, a, b);
    t->n_cols = n;
    t->cells = g_try_new0(char *, (size_t)t->n_rows * n);
    t->spans = g_try_new0(int, (size_t)t->n_rows * n);
    if (!t->cells || !t->spans)
        return dv_fail(e, DOCVL_ENOMEM, "text tables: no memory for %d x %d cells", t->n_rows, n);
    t->box = (dv_box){ 0, 0, 0, 0 };
    GString *cell = g_string_new(NULL);
    for (int i = a, row = -1; i < b; i++) {
        const trow *r = &f->rows[i];
        t->box = dv_box_cover(t->box, r->box);
        row += i == a || !r->cont;
        const int *col = word_columns(f, r, cols, n);
        for (int k = 0; k < r->n; k++) {
            int *span = &t->spans[row * n + col[k]];
            *span = MAX(*span, f->wlast[r->first + k] - col[k] + 1);
        }
        for (int c = 0; c < n; c++) {
            char **slot = &t->cells[row * n + c];
            g_string_assign(cell, *slot ? *slot : "");
            append_cell(f, r, cols, n, c, cell);
            g_free(*slot);
            *slot = g_strdup(cell->str);
        }
    }
    g_string_free(cell, TRUE);
    clip_spans(t);
    return DOCVL_OK;
}

static int add_table(dv_page_tables *out, const finder *f, int a, int b, dv_page_table *t,
                     dv_err *e)
{
    dv_page_table *grown = g_try_renew(dv_page_table, out->tables, out->n_tables + 1);
    if (!grown)
        return dv_fail(e, DOCVL_ENOMEM, "text tables: no memory for table %d", out->n_tables + 1);
    out->tables = grown;
    out->tables[out->n_tables] = *t;
    for (int i = a; i < b; i++)
        for (int k = 0; k < f->rows[i].n; k++)
            out->word_table[f->words[f->rows[i].first + k].index] = out->n_tables;
    out->n_tables++;
    memset(t, 0, sizeof *t);
    return DOCVL_OK;
}

/* The run from row a, its last rows of one cell dropped (more likely the
 * paragraph below), columns recomputed without them. Returns its end. */
static int cmp_double(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return p < q ? -1 : p > q;
}

/* What join_lines needs of a line: the columns it fills, those holding a
 * number, whether its first word starts in lower case, and whether a cell
 * reaches into the x range of a column beside its own (a header over
 * several). */
typedef struct line_cells {
    uint64_t filled, numbers;
    int lower;
    uint64_t wide;          /* columns whose cell reaches over others */
    uint64_t words_lower;   /* columns whose cell starts with a lower-case word */
} line_cells;

/* The words of column c on the line (x0[c] .. x1[c]) reach into the
 * columns beside it. */
static int reaches_out(const span *cols, int n, int c, double x0, double x1)
{
    return (c > 0 && x0 < cols[c - 1].x1) || (c + 1 < n && x1 > cols[c + 1].x0);
}

static line_cells cells_of(const finder *f, const trow *r, const span *cols, int n)
{
    const int *col = word_columns(f, r, cols, n);
    int digits[MAX_COLS + 1] = { 0 }, other[MAX_COLS + 1] = { 0 }, marks[MAX_COLS + 1] = { 0 };
    int words[MAX_COLS + 1] = { 0 };
    double x0[MAX_COLS + 1], x1[MAX_COLS + 1];
    line_cells lc = { 0, 0, r->n > 0 && starts_lower(f->words[r->first].text), 0, 0 };
    for (int k = 0; k < r->n; k++) {
        const tword *tw = &f->words[r->first + k];
        const char *w = tw->text;
        int c = col[k];
        x0[c] = words[c] ? fmin(x0[c], tw->box.x0) : tw->box.x0;
        x1[c] = words[c] ? fmax(x1[c], tw->box.x1) : tw->box.x1;
        if (!words[c] && starts_lower(tw->text) && !number_word(tw->text))
            lc.words_lower |= (uint64_t)1 << c;
        lc.filled |= (uint64_t)1 << c;
        if (f->wlast[r->first + k] > c) /* a label between two columns */
            lc.wide |= (uint64_t)1 << c;
        words[c]++;
        marks[c] += placeholder(w);
        for (const char *end = w + without_magnitude(w); w < end; w++) {
            digits[c] += g_ascii_isdigit(*w) != 0;
            other[c] += !g_ascii_isdigit(*w) && *w != '$';
        }
    }
    for (int c = 0; c < n; c++) {
        if ((digits[c] > 0 && digits[c] >= other[c]) || (words[c] > 0 && marks[c] == words[c]))
            lc.numbers |= (uint64_t)1 << c;
        if (words[c] > 0 && reaches_out(cols, n, c, x0[c], x1[c]))
            lc.wide |= (uint64_t)1 << c;
    }
    return lc;
}

/* Rows [a, b) whose rows are spaced apart (bordered or padded tables): a
 * row much closer below the one before, with fewer cells filled and no
 * number where that row has one, is that row's wrapped second line.
 * scratch holds b - a doubles. */
static void mark_wrapped(finder *f, int a, int b, const span *cols, int n, double *scratch)
{
    int m = 0;
    for (int i = a + 1; i < b; i++)
        scratch[m++] = f->rows[i].box.y0 - f->rows[i - 1].box.y1;
    for (int i = a; i < b; i++)
        f->rows[i].cont = 0;
    if (m < 2)
        return;
    qsort(scratch, (size_t)m, sizeof *scratch, cmp_double);
    double pitch = scratch[3 * m / 4]; /* wrapped lines may be half the rows */
    if (pitch < WRAP_PITCH_MIN * f->rows[a].h)
        return;
    line_cells above = cells_of(f, &f->rows[a], cols, n);
    for (int i = a + 1; i < b; i++) {
        const trow *r = &f->rows[i];
        line_cells lc = cells_of(f, r, cols, n);
        if (!r->spanning && i > a + 1 &&
            __builtin_popcountll(lc.filled) < __builtin_popcountll(above.filled) &&
            !(lc.numbers & above.numbers) && r->box.y0 - f->rows[i - 1].box.y1 < 0.5 * pitch)
            f->rows[i].cont = 1;
        else
            above = lc;
    }
}

/* More than half the cells past the first column hold numbers: a data
 * line, not a header line (whose cells are labels, a year or a unit
 * aside). */
static int data_line(line_cells lc)
{
    uint64_t rest = ~(uint64_t)1;
    return 2 * __builtin_popcountll(lc.numbers & rest) > __builtin_popcountll(lc.filled & rest) &&
           !(lc.words_lower & ~lc.numbers & rest);
}

/* The first data line of rows [a, b), b when there is none. A line of
 * numbers without a row label over a line with one is a header line of
 * years ("1996 1997"). */
static int first_data(const finder *f, int a, int b, const span *cols, int n)
{
    for (; a < b; a++) {
        line_cells lc = cells_of(f, &f->rows[a], cols, n);
        if (!data_line(lc))
            continue;
        if (lc.filled & 1 || a + 1 == b)
            return a;
        if (!(cells_of(f, &f->rows[a + 1], cols, n).filled & 1))
            return a;
    }
    return b;
}

/* Two header lines are one row of cells when they fill the same columns,
 * one of them fewer by the first column (a stub header set at the bottom)
 * or the lower one only some past the first (a units line). A line of
 * cells over a few columns above a fuller one is a spanning header row of
 * its own when a cell of it reaches over the columns beside its own;
 * when each keeps to its column, the lower line holds the last line of
 * those cells and the one-line cells set at the bottom beside them. A
 * lower cell reaching over columns that the cell above it keeps to is a
 * header level of its own ("Control" over "Public Private", under
 * "Number of teachers"). */
static int same_header_cells(line_cells up, line_cells low)
{
    if (low.wide & up.filled & ~up.wide)
        return 0;
    if ((up.filled & low.filled) == low.filled)
        return (low.filled & ~(uint64_t)1) != 0; /* a label alone in the first column starts a section */
    return (up.filled & low.filled) == up.filled &&
           (!up.wide || ((low.filled & ~up.filled) & ~(uint64_t)1) == 0);
}

/* Lines of one row whose cells are set at different heights (a cell of
 * two lines beside cells centred on it) overlap by more than this share
 * of a line's height; lines of rows set tight, by less. */
#define INTERLEAVE 0.2

/* Line r overlaps line up above it, sharing no column with it: r holds the
 * other cells of up's row (or up the first line of a cell of r's). */
static int interleaved(const trow *up, const trow *r, line_cells up_cells, line_cells r_cells)
{
    return up->box.y1 - r->box.y0 > INTERLEAVE * fmin(up->h, r->h) &&
           !(up_cells.filled & r_cells.filled);
}

/* Line i (cells lc) is the first line of a cell of the row below it, which
 * it overlaps (interleaved): it goes with that row, not the one above. */
static int goes_down(const finder *f, int i, int b, line_cells lc, const span *cols, int n)
{
    return i + 1 < b &&
           interleaved(&f->rows[i], &f->rows[i + 1], lc, cells_of(f, &f->rows[i + 1], cols, n));
}

/* A line is closer to one line than to another when the gaps differ by
 * this many line heights or more: boxes rounded to pixels and fonts' own
 * heights blur smaller differences. */
#define CLOSER 0.2

/* Line i (cells lc), past the first data line, holds a row label alone
 * and is no further from the row above, a labelled row with data, than
 * from the line below: the label's second line ("Maison du Cafe" over
 * "(Douwe Egberts)"). A line starting with a capital must be closer
 * (CLOSER): a row with no data ("Greece" among countries, "Applied
 * Problems" among tests) is set as close to the rows around it as they
 * are to each other. A section label ("Projected") sits closer to the
 * rows it heads. */
static int wrapped_label(const finder *f, int i, int b, line_cells above, line_cells lc)
{
    if (lc.filled != 1 || !(above.filled & 1) || above.filled == 1 || i + 1 >= b)
        return 0;
    const trow *r = &f->rows[i];
    double up = r->box.y0 - f->rows[i - 1].box.y1, down = f->rows[i + 1].box.y0 - r->box.y1;
    if (!starts_capital(f->words[r->first].text))
        return up <= down;
    return up < down - CLOSER * r->h;
}

/* In a table of two columns, a line of text in the second alone, below a
 * row with both: the row's description goes on ("Don't know. Some ..."
 * under "Checklist | Checklists provide a simple choice"). */
static int described_further(int n, line_cells above, line_cells lc)
{
    return n == 2 && lc.filled == 2 && !lc.numbers && above.filled == 3;
}

/* A cell's text wrapped over several lines is one row of the table. In
 * the header (the few lines above the first data line), a close line
 * filling the same columns as the line above, not both a row label,
 * continues it ("Own brands" over
 * "market share", see same_header_cells). Anywhere, a close line starting
 * in lower case continues the line above unless both hold numbers in one
 * column. Spanning rows stay rows. */
static void join_lines(finder *f, int a, int b, const span *cols, int n)
{
    int data = first_data(f, a, b, cols, n);
    /* without data lines below a short header, rows of labels are rows */
    int header_end = data < b && data - a <= HEAD_SKIP + 1 ? data : a;
    /* header lines filling the same cells, closer than the header is to
     * the data below, are lines of those cells however far apart */
    double head_gap = header_end > a ? f->rows[header_end].box.y0 - f->rows[header_end - 1].box.y1 : 0;
    /* rows taken above the columns' first row (best_start) are spanning
     * rows, yet lines of the header like the others */
    int head = a;
    while (head < b && f->rows[head].spanning)
        head++;
    line_cells above = cells_of(f, &f->rows[a], cols, n), prev = above;
    for (int i = a + 1; i < b; i++) {
        trow *r = &f->rows[i];
        const trow *up = &f->rows[i - 1];
        line_cells lc = cells_of(f, r, cols, n);
        double gap = r->box.y0 - up->box.y1, h = fmax(r->h, up->h);
        int header = i < header_end && (!(above.filled & lc.filled & 1) || gap < TIGHT * h);
        int close = gap < JOIN_GAP * h || (header && lc.filled == above.filled && gap < head_gap);
        int join;
        if (i <= head) /* a head row: by its cells only ("to air" is no prose),
                          and a label over a fuller line is a level of its own
                          unless set tight on it, closer than the header to
                          the data ("Age 4" over "(Head Start" over "Year) |
                          K | Grade") */
            join = close && header && same_header_cells(above, lc) &&
                   (!((lc.filled & ~above.filled) & ~(uint64_t)1) ||
                    (gap < TIGHT * h && gap < head_gap - CLOSER * h));
        else
            join = !r->spanning && !up->spanning &&
                   (interleaved(up, r, prev, lc) ||
                    (close && (lc.lower || !goes_down(f, i, b, lc, cols, n)) &&
                     (lc.lower ? !(lc.numbers & above.numbers)
                               : header ? same_header_cells(above, lc) &&
                                              (!((lc.filled & ~above.filled) & ~(uint64_t)1) ||
                                               gap < TIGHT * h)
                                        : (i > data && wrapped_label(f, i, b, above, lc)) ||
                                              described_further(n, above, lc))));
        join &= !r->cont;
        if (join)
            r->cont = 1;
        if (r->cont) {
            above.filled |= lc.filled;
            above.numbers |= lc.numbers;
            above.wide |= lc.wide;
        } else {
            above = lc;
        }
        prev = lc;
    }
}

/* The columns of rows [a, b) (cols, n) that row a fills (*first) and that
 * the others fill (*rest), spanning rows aside. */
static void fill_masks(const finder *f, int a, int b, const span *cols, int n, uint64_t *first,
                       uint64_t *rest)
{
    *first = *rest = 0;
    for (int i = a; i < b; i++) {
        if (f->rows[i].spanning)
            continue;
        const int *col = word_columns(f, &f->rows[i], cols, n);
        for (int k = 0; k < f->rows[i].n; k++)
            *(i == a ? first : rest) |= (uint64_t)1 << col[k];
    }
}

/* The columns of rows [a, b) (cols, n) that only row a fills: labels of
 * a head line set between the columns below it. */
static int lone_columns(const finder *f, int a, int b, const span *cols, int n)
{
    uint64_t first, rest;
    fill_masks(f, a, b, cols, n, &first, &rest);
    return __builtin_popcountll(first & ~rest);
}

static int run_from(finder *f, int a, double gap, span *cols, int *n)
{
    int b = grow(f, a, gap, cols, n);
    if (*n < 2)
        return a;
    mark_wrapped(f, a, b, cols, *n, (double *)f->tmp);
    while (b > a && !f->rows[b - 1].cont && filled_cells(f, &f->rows[b - 1], cols, *n) < 2)
        b--;
    *n = columns_of(f, a, b, gap, cols);
    return b;
}

/* Header rows taken above a table's first row (rows [best, first)) that
 * end a block of text, the line above them being close and closer than
 * the line below, are the last lines of its caption ("... by Age
 * Cohort"), not a header. Returns the table's first row without them. */
static int drop_caption_tail(finder *f, int best, int first)
{
    while (best < first && best > 0) {
        const trow *r = &f->rows[best], *up = &f->rows[best - 1];
        double gap = r->box.y0 - up->box.y1;
        if (gap >= JOIN_GAP * fmax(r->h, up->h) || gap >= f->rows[best + 1].box.y0 - r->box.y1)
            break;
        f->rows[best++].spanning = 0;
    }
    return best;
}

/* Header rows whose cells span several columns merge those columns when a
 * run starts on them: a run starting a few rows later that reaches as far
 * with more columns is better, the rows before it becoming spanning rows
 * of its header. Columns that only a start's first row fills do not count
 * (a head line whose labels sit between the columns below: "Control" over
 * "Public Private"), and among starts with as many the one with fewer
 * such wins. Starts are tried up to HEAD_SKIP rows past the best so far,
 * and at most reach rows past a. Returns the chosen start; cols, *n and
 * *end for it. */
static int best_start(finder *f, int a, int reach, double gap, span *cols, int *n, int *end)
{
    int best = a;
    *end = run_from(f, a, gap, cols, n);
    int lone = lone_columns(f, a, *end, cols, *n);
    for (int s = a + 1; s <= MIN(best + HEAD_SKIP, a + reach) && s < f->n_rows; s++) {
        span c[MAX_COLS + 1];
        int m = 0, e = run_from(f, s, gap, c, &m);
        int l = lone_columns(f, s, e, c, m);
        if ((m - l > *n - lone || (m - l == *n - lone && l < lone)) && e >= *end &&
            e - s >= MIN_ROWS) {
            best = s;
            *end = e;
            *n = m;
            lone = l;
            memcpy(cols, c, (size_t)m * sizeof *c);
        }
    }
    *end = run_from(f, best, gap, cols, n); /* the rows' marks, as the other tries left them */
    int first = best;
    for (int s = best; s > a; s--) {
        const trow *r = &f->rows[s - 1], *below = &f->rows[s];
        if (*n < 2 || !head_row(f, r, below, cols, *n, gap) ||
            below->box.y0 - r->box.y1 > ROW_GAP_MAX * fmax(r->h, below->h))
            break;
        f->rows[s - 1].spanning = 1;
        f->rows[s - 1].cont = 0;
        best = s - 1;
    }
    return drop_caption_tail(f, best, first);
}

/* The median gap between the lines of rows [a, b) (b - a >= 2); scratch
 * holds b - a doubles. */
static double median_gap(const finder *f, int a, int b, double *scratch)
{
    int m = 0;
    for (int i = a + 1; i < b; i++)
        scratch[m++] = f->rows[i].box.y0 - f->rows[i - 1].box.y1;
    qsort(scratch, (size_t)m, sizeof *scratch, cmp_double);
    return scratch[m / 2];
}

/* Row a is a line of a title: one phrase (a run of words without a
 * column gap), centred on the table (centred_on_table), above its
 * columns (a spanning row). */
static int title_line(const finder *f, int a, const span *cols, int n)
{
    const trow *r = &f->rows[a];
    span ph;
    return r->spanning && run_end(f, r, 0, f->gap, &ph) == r->n && centred_on_table(r, cols, n);
}

/* A title set over a table ("Greenhouse gases" centred above its head) is
 * a title line further from the rows below than they are from each other:
 * at least TITLE_GAP line heights, twice the rows' median gap and half as
 * much again as the gap below the next row. A spanning header over
 * several columns sits as close as the header's other lines, or is
 * centred over its columns rather than the table (centred_on_table). */
#define TITLE_GAP 0.5
static int title_row(const finder *f, int a, int end, const span *cols, int n)
{
    const trow *r = &f->rows[a], *below = &f->rows[a + 1];
    if (!title_line(f, a, cols, n))
        return 0;
    double gap = below->box.y0 - r->box.y1;
    double next = f->rows[a + 2].box.y0 - below->box.y1;
    return gap >= TITLE_GAP * fmax(r->h, below->h) && gap > 1.5 * next &&
           gap > 2 * median_gap(f, a + 1, end, (double *)f->tmp);
}

/* Rows [a, end) without the title on top: title lines down to the last
 * that is set apart from the rows below (title_row), a title of several
 * lines ("Simplified Allocation Method" over "FYE 12/31/04") included.
 * Returns the new first row. */
static int drop_titles(const finder *f, int a, int end, const span *cols, int n)
{
    for (int k = a; end - k > MIN_ROWS && title_line(f, k, cols, n); k++)
        if (title_row(f, k, end, cols, n))
            a = k + 1;
    return a;
}

static int same_words(const finder *f, const trow *p, const trow *q)
{
    if (p->n != q->n)
        return 0;
    for (int k = 0; k < p->n; k++)
        if (strcmp(f->words[p->first + k].text, f->words[q->first + k].text) != 0)
            return 0;
    return 1;
}

/* Where the table of rows [a, b) ends when a header line comes again
 * below its data: one table printed after another with the same head
 * (and title rows of one cell between them). Returns b when none does. */
static int repeated_header(const finder *f, int a, int b, const span *cols, int n)
{
    int data = first_data(f, a, b, cols, n);
    for (int k = data + 1; k < b; k++) {
        for (int h = a; h < data; h++) {
            if (!same_words(f, &f->rows[h], &f->rows[k]))
                continue;
            /* a title between the tables goes with the second; a last
             * data row whose numbers carry words ("200 (as BTEX)") stays */
            while (k - 1 > data && filled_cells(f, &f->rows[k - 1], cols, n) < 2)
                k--;
            return k;
        }
    }
    return b;
}

/* A table from row a, its columns starting at most reach rows below (see
 * best_start); *next past it when one is kept. */
static int table_from(finder *f, int a, int reach, int *next, dv_page_tables *out, dv_err *e)
{
    span cols[MAX_COLS + 1];
    int n = 0, end = a;
    double gap = GAP_MIN * f->rows[a].h;
    f->gap = gap;
    a = best_start(f, a, reach, gap, cols, &n, &end);
    if (n < 2)
        return DOCVL_OK;
    a = drop_titles(f, a, end, cols, n);
    int split = repeated_header(f, a, end, cols, n);
    if (split < end) {
        end = split;
        n = columns_of(f, a, end, gap, cols);
        if (n < 2)
            return DOCVL_OK;
    }
    join_lines(f, a, end, cols, n);
    int rows = logical_rows(f, a, end);
    if (rows < MIN_ROWS && rows != 2)
        return DOCVL_OK;
    dv_page_table t = { 0 };
    int rc = fill_table(f, a, end, cols, n, &t, e);
    if (rc == DOCVL_OK && (rows >= MIN_ROWS ? looks_like_table(&t) || terms_described(&t) : head_and_figures(&t))) {
        rc = add_table(out, f, a, end, &t, e);
        *next = end;
    }
    dv_page_table_free(&t);
    return rc;
}

/* Tries a table starting at row a; *next is the row to go on from (past
 * the table when one was kept). Columns may start further down, below a
 * header (best_start); when the table found so is rejected, a nearer
 * start is tried. */
static int try_table(finder *f, int a, int *next, dv_page_tables *out, dv_err *e)
{
    *next = a + 1;
    int rc = table_from(f, a, 2 * HEAD_SKIP, next, out, e);
    if (rc == DOCVL_OK && *next == a + 1)
        rc = table_from(f, a, HEAD_SKIP, next, out, e);
    return rc;
}

static int count_page_words(const dv_page_result *p)
{
    long n = 0;
    for (int b = 0; b < p->n_blocks; b++)
        for (int l = 0; l < p->blocks[b].n_lines; l++)
            n += p->blocks[b].lines[l].n_words;
    return n > DV_TEXT_TABLE_MAX_WORDS ? -1 : (int)n;
}

static void collect_words(const dv_page_result *p, finder *f)
{
    int index = 0;
    for (int b = 0; b < p->n_blocks; b++) {
        for (int l = 0; l < p->blocks[b].n_lines; l++) {
            const dv_page_line *line = &p->blocks[b].lines[l];
            for (int w = 0; w < line->n_words; w++, index++) {
                if (!usable(&line->words[w]))
                    continue;
                f->words[f->n_words++] =
                    (tword){ line->words[w].box, line->words[w].text, index };
            }
        }
    }
}

static void finder_free(finder *f)
{
    g_free(f->words);
    g_free(f->rows);
    g_free(f->tmp);
    g_free(f->wcol);
    g_free(f->wlast);
}

int dv_text_tables_find(const dv_page_result *p, dv_page_tables *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    int n = count_page_words(p);
    if (n <= 0)
        return DOCVL_OK;
    finder f = { 0 };
    f.words = g_try_new(tword, n);
    f.rows = g_try_new(trow, n);
    f.tmp = g_try_new(span, (size_t)n + MAX_COLS + 1);
    f.wcol = g_try_new(int, n);
    f.wlast = g_try_new(int, n);
    out->word_table = g_try_new(int, n);
    if (!f.words || !f.rows || !f.tmp || !f.wcol || !f.wlast || !out->word_table) {
        finder_free(&f);
        return dv_fail(e, DOCVL_ENOMEM, "text tables: no memory for %d words", n);
    }
    out->n_words = n;
    for (int i = 0; i < n; i++)
        out->word_table[i] = -1;
    collect_words(p, &f);
    group_rows(&f);
    int rc = DOCVL_OK;
    for (int a = 0; rc == DOCVL_OK && a < f.n_rows && f.work <= WORK_MAX;)
        rc = try_table(&f, a, &a, out, e);
    finder_free(&f);
    return rc;
}
