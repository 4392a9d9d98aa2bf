#include "doc/furniture.h"

#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Share of the page height at its top and bottom where running heads and
 * feet sit; share of its width at each side for sideways margin notes. */
#define FURNITURE_BAND 0.1
#define SIDE_MARGIN 0.1
/* Pages compared on each side, and how far (share of the page height) a
 * repeated line may move. */
#define NEIGHBOURS 2
#define SAME_HEIGHT 0.02
/* Text-layer boxes are read at this resolution: only their places on the
 * page matter. */
#define FURNITURE_DPI 72.0

typedef struct margin_line {
    char *sig;           /* lower case, digits as '#', spaces folded */
    double y;            /* centre, share of the page height */
    double y0, y1;       /* top and bottom, shares of the page height */
    int first, n;        /* its words in the page text */
} margin_line;

typedef struct page_lines {
    int done;
    margin_line *v;
    int n;
} page_lines;

struct dv_furniture {
    dv_doc *doc;
    int n_pages;
    page_lines *pages;
};

int dv_furniture_new(dv_doc *doc, dv_furniture **out, dv_err *e)
{
    dv_furniture *f = calloc(1, sizeof *f);
    int n = dv_doc_page_count(doc);
    page_lines *pages = n > 0 ? calloc((size_t)n, sizeof *pages) : NULL;
    if (!f || (n > 0 && !pages)) {
        free(f);
        free(pages);
        return dv_fail(e, DOCVL_ENOMEM, "page furniture: out of memory for %d pages", n);
    }
    f->doc = doc;
    f->n_pages = n;
    f->pages = pages;
    *out = f;
    return DOCVL_OK;
}

static void page_lines_clear(page_lines *p)
{
    for (int i = 0; i < p->n; i++)
        g_free(p->v[i].sig);
    g_free(p->v);
    memset(p, 0, sizeof *p);
}

void dv_furniture_free(dv_furniture *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_pages; i++)
        page_lines_clear(&f->pages[i]);
    free(f->pages);
    free(f);
}

static char *signature(const dv_page_text *t, int first, int n)
{
    GString *s = g_string_new(NULL);
    for (int i = first; i < first + n; i++) {
        if (s->len)
            g_string_append_c(s, ' ');
        char *low = g_utf8_strdown(t->words[i].text, -1);
        for (const char *p = low; *p; p++)
            g_string_append_c(s, g_ascii_isdigit(*p) ? '#' : *p);
        g_free(low);
    }
    return g_string_free(s, FALSE);
}

/* Words in reading order form a line while each overlaps the line's
 * height by half its own. */
static int line_end(const dv_page_text *t, int first)
{
    dv_box line = t->words[first].box;
    int i = first + 1;
    for (; i < t->n_words; i++) {
        dv_box w = t->words[i].box;
        if (2 * dv_box_overlap_y(line, w) < dv_box_h(w))
            break;
        line = dv_box_union(line, w);
    }
    return i;
}

static dv_box line_box(const dv_page_text *t, int first, int end)
{
    dv_box b = t->words[first].box;
    for (int i = first + 1; i < end; i++)
        b = dv_box_union(b, t->words[i].box);
    return b;
}

/* The lines of t lying in the top or bottom band of a page h pixels high. */
static void margin_lines(const dv_page_text *t, double h, page_lines *out)
{
    out->v = g_new0(margin_line, t->n_words + 1);
    out->done = 1;
    for (int first = 0; first < t->n_words;) {
        int end = line_end(t, first);
        dv_box b = line_box(t, first, end);
        double y = (b.y0 + b.y1) / 2.0 / h;
        if (y < FURNITURE_BAND || y > 1 - FURNITURE_BAND)
            out->v[out->n++] = (margin_line){signature(t, first, end - first), y, b.y0 / h,
                                             b.y1 / h, first, end - first};
        first = end;
    }
}

static int page_height_px(dv_doc *doc, int index, double dpi, double *h, dv_err *e)
{
    double w;
    int rc = dv_doc_page_size(doc, index, &w, h, e);
    *h *= dpi / 72.0;
    return rc;
}

/* A neighbouring page's margin lines, read once. A page that cannot be
 * read (its own turn will report it) has none. */
static page_lines *neighbour(dv_furniture *f, int j)
{
    page_lines *p = &f->pages[j];
    if (p->done)
        return p;
    p->done = 1;
    dv_page_text t;
    double h;
    dv_err e = {0};
    if (page_height_px(f->doc, j, FURNITURE_DPI, &h, &e) == DOCVL_OK &&
        dv_text_extract(f->doc, j, FURNITURE_DPI, &t, &e) == DOCVL_OK) {
        margin_lines(&t, h, p);
        dv_page_text_free(&t);
    }
    return p;
}

static int has_letter(const char *s)
{
    for (; *s; s = g_utf8_next_char(s))
        if (g_unichar_isalpha(g_utf8_get_char(s)))
            return 1;
    return 0;
}

/* Lines without letters ("12", "3.2") match too easily (a footnote's
 * number and a page number); they count only as page numbers. */
static int repeated(dv_furniture *f, int index, const margin_line *l)
{
    if (!has_letter(l->sig))
        return 0;
    for (int j = index - NEIGHBOURS; j <= index + NEIGHBOURS; j++) {
        if (j < 0 || j == index || j >= f->n_pages)
            continue;
        const page_lines *p = neighbour(f, j);
        for (int k = 0; k < p->n; k++)
            if (strcmp(p->v[k].sig, l->sig) == 0 && p->v[k].y - l->y < SAME_HEIGHT &&
                l->y - p->v[k].y < SAME_HEIGHT)
                return 1;
    }
    return 0;
}

static int page_number_text(const char *sig)
{
    static const char *const forms[] = {
        "^#+$", "^[-\u2013\u2014] ?#+ ?[-\u2013\u2014]$", "^page #+( (of|/) #+)?$",
        "^#+ ?(of|/) ?#+$", "^[ivxlc]+$",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(forms); i++)
        if (g_regex_match_simple(forms[i], sig, 0, 0))
            return 1;
    return 0;
}

/* Whether the line holds a page number: alone, or as one part of a
 * running foot or head set apart by wide gaps ("PLOS ... | 1 | March
 * 2014"), the part centred on the page or the line in the outer half of
 * its band, where a number is no table's last row. */
static int page_number(const dv_page_text *t, const margin_line *l, double w)
{
    if (page_number_text(l->sig))
        return 1;
    int outer = l->y < FURNITURE_BAND / 2 || l->y > 1 - FURNITURE_BAND / 2;
    int end = l->first + l->n;
    for (int a = l->first; a < end;) {
        dv_box seg = t->words[a].box;
        int b = a + 1;
        while (b < end && t->words[b].box.x0 - seg.x1 <= 1.5 * dv_box_h(seg))
            seg = dv_box_union(seg, t->words[b++].box);
        char *sig = signature(t, a, b - a);
        double cx = (seg.x0 + seg.x1) / 2.0 / w;
        int centred = cx > 0.4 && cx < 0.6;
        int hit = (centred || outer) && page_number_text(sig);
        g_free(sig);
        if (hit)
            return 1;
        a = b;
    }
    return 0;
}

/* A word of several letters set sideways (taller than wide) near the left
 * or right edge of a page w pixels wide. */
static int sideways_in_margin(const dv_word *wd, double w)
{
    double cx = (wd->box.x0 + wd->box.x1) / 2.0 / w;
    return g_utf8_strlen(wd->text, -1) >= 2 && dv_box_h(wd->box) > 2 * dv_box_w(wd->box) &&
           (cx < SIDE_MARGIN || cx > 1 - SIDE_MARGIN);
}

/* The body's own line j lies between line k, in the top band, and the
 * page's edge, or right below k (closer than half k's height: a caption's
 * first line, repeated on each page, goes on in the page's next line).
 * Lines side by side (sharing half k's height) are neither. */
static int body_above(const margin_line *k, const margin_line *j)
{
    double h = k->y1 - k->y0;
    double shared = fmin(k->y1, j->y1) - fmax(k->y0, j->y0);
    return k->y < 0.5 && j->y < 0.5 && shared < 0.5 * h &&
           (j->y < k->y || j->y0 - k->y1 < 0.5 * h);
}

/* Running heads lie apart from the body, between it and the page's top: a
 * repeated line in the top band below a line of the page's own, or set
 * close above one, is part of the body (a table's header repeated on
 * every page under its caption). rep marks the furniture lines of l;
 * those that are not so are unmarked. Running feet stay as found: notes
 * and stamps of the page's own are often set among them. */
static void keep_inner(const page_lines *l, char *rep)
{
    for (int k = 0; k < l->n; k++)
        for (int j = 0; j < l->n && rep[k]; j++)
            if (!rep[j] && j != k && body_above(&l->v[k], &l->v[j]))
                rep[k] = 0;
}

static void drop_marked(dv_page_text *t, const char *drop, int *n_dropped)
{
    int k = 0;
    for (int i = 0; i < t->n_words; i++) {
        if (drop[i])
            g_free(t->words[i].text);
        else
            t->words[k++] = t->words[i];
    }
    if (n_dropped)
        *n_dropped = t->n_words - k;
    t->n_words = k;
}

int dv_furniture_strip(dv_furniture *f, int index, double dpi, dv_page_text *t, int *n_dropped,
                       dv_err *e)
{
    if (n_dropped)
        *n_dropped = 0;
    if (index < 0 || index >= f->n_pages || t->n_words == 0)
        return DOCVL_OK;
    double w, h;
    int rc = dv_doc_page_size(f->doc, index, &w, &h, e);
    if (rc)
        return rc;
    double scale = dpi / 72.0;
    page_lines mine = {0};
    margin_lines(t, h * scale, &mine);
    char *drop = g_new0(char, t->n_words + 1);
    for (int i = 0; i < t->n_words; i++)
        drop[i] = sideways_in_margin(&t->words[i], w * scale);
    /* only the outermost line can be a page number: above or below it a
     * lone number is a footnote's or a table's */
    double top = 0.5, bottom = 0.5;
    for (int k = 0; k < mine.n; k++) {
        double y = mine.v[k].y;
        top = y < top ? y : top;
        bottom = y > bottom ? y : bottom;
    }
    char *rep = g_new0(char, mine.n + 1);
    for (int k = 0; k < mine.n; k++) {
        const margin_line *l = &mine.v[k];
        int outermost = l->y == top || l->y == bottom;
        rep[k] = (outermost && page_number(t, l, w * scale)) || repeated(f, index, l);
    }
    keep_inner(&mine, rep);
    for (int k = 0; k < mine.n; k++)
        for (int i = mine.v[k].first; rep[k] && i < mine.v[k].first + mine.v[k].n; i++)
            drop[i] = 1;
    g_free(rep);
    drop_marked(t, drop, n_dropped);
    g_free(drop);
    page_lines_clear(&mine);
    return rc;
}
