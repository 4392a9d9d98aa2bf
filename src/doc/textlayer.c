#include "doc/textlayer.h"

#include "doc/pictures.h"
#include "doc/textlayer_parts.h"

#include <math.h>
#include <poppler.h>
#include <stdlib.h>
#include <string.h>

int dv_text_mode_parse(const char *s, docvl_text_layer *mode, dv_err *e)
{
    if (s && strcmp(s, "auto") == 0)
        *mode = DOCVL_TEXT_LAYER_AUTO;
    else if (s && strcmp(s, "off") == 0)
        *mode = DOCVL_TEXT_LAYER_OFF;
    else if (s && strcmp(s, "only") == 0)
        *mode = DOCVL_TEXT_LAYER_ONLY;
    else
        return dv_fail(e, DOCVL_EINVAL, "text layer mode \"%s\": expected auto, off or only",
                       s ? s : "(null)");
    return DOCVL_OK;
}

static int is_bad_char(gunichar c)
{
    if (c == 0xFFFD || (c >= 0xE000 && c <= 0xF8FF))
        return 1;
    return g_unichar_iscntrl(c) && c != '\n' && c != '\t' && c != '\r' && c != '\f';
}

int dv_text_push_word(word_builder *b, const char *s, dv_box box, int rtl)
{
    dv_page_text *t = b->t;
    if (t->n_words == b->cap) {
        int ncap = b->cap ? 2 * b->cap : 256;
        dv_word *nw = realloc(t->words, (size_t)ncap * sizeof *nw);
        if (!nw)
            return dv_fail(b->e, DOCVL_ENOMEM, "text layer: out of memory");
        t->words = nw;
        b->cap = ncap;
    }
    t->words[t->n_words++] = (dv_word){g_strdup(s), box, rtl};
    return DOCVL_OK;
}

int dv_text_end_word(word_builder *b, int rtl)
{
    if (b->word->len == 0)
        return DOCVL_OK;
    int rc = dv_text_push_word(b, b->word->str, b->box, rtl);
    g_string_truncate(b->word, 0);
    return rc;
}

static int end_word(word_builder *b)
{
    return dv_text_end_word(b, 0);
}

/* Poppler's page text runs some words together that pdftotext separates
 * ("3MICHAEL" for a line number beside a name): two glyphs on one line
 * with a gap wider than a tenth of their height are two words, as in
 * pdftotext's word breaking. So are glyphs on different lines with no
 * space between them in the text (table cells read column by column:
 * "3,508,000" then "25.0" below it). */
int dv_text_apart(const PopplerRectangle *a, const PopplerRectangle *b)
{
    double ay0 = fmin(a->y1, a->y2), ay1 = fmax(a->y1, a->y2);
    double by0 = fmin(b->y1, b->y2), by1 = fmax(b->y1, b->y2);
    double h = fmax(ay1 - ay0, by1 - by0), hmin = fmin(ay1 - ay0, by1 - by0);
    if (fmin(ay1, by1) - fmax(ay0, by0) < 0.5 * hmin) {
        /* on another line: a new word, unless the glyphs are stacked in
         * one column (text set vertically, rotated pages) */
        double ax0 = fmin(a->x1, a->x2), ax1 = fmax(a->x1, a->x2);
        double bx0 = fmin(b->x1, b->x2), bx1 = fmax(b->x1, b->x2);
        double wmin = fmin(ax1 - ax0, bx1 - bx0);
        return fmin(ax1, bx1) - fmax(ax0, bx0) < 0.5 * wmin;
    }
    double gap = fmax(fmin(b->x1, b->x2) - fmax(a->x1, a->x2),
                      fmin(a->x1, a->x2) - fmax(b->x1, b->x2));
    return gap > 0.12 * h;
}

dv_box dv_text_rect_px(const PopplerRectangle *r, double s)
{
    return (dv_box){(int)floor(fmin(r->x1, r->x2) * s), (int)floor(fmin(r->y1, r->y2) * s),
                    (int)ceil(fmax(r->x1, r->x2) * s), (int)ceil(fmax(r->y1, r->y2) * s)};
}

int dv_text_is_rtl(gunichar c)
{
    return (c >= 0x0590 && c <= 0x08FF) || (c >= 0xFB1D && c <= 0xFDFF) ||
           (c >= 0xFE70 && c <= 0xFEFF) || (c >= 0x10800 && c <= 0x10FFF) ||
           (c >= 0x1E800 && c <= 0x1EFFF);
}

/* The embeddings, overrides and isolates Poppler wraps runs of the other
 * direction in: they have no glyph (nor a box in the text layout). */
static int is_bidi_mark(gunichar c)
{
    return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E ||
           c == 0x200F;
}

static int opens_run(gunichar c)
{
    return c == 0x202A || c == 0x202B || c == 0x202D || c == 0x202E ||
           (c >= 0x2066 && c <= 0x2068);
}

/* A glyph that belongs to the character before it: a combining mark (an
 * Arabic vowel, a Devanagari vowel sign) or a joiner. */
static int continues_cluster(gunichar c)
{
    return g_unichar_ismark(c) || c == 0x200C || c == 0x200D;
}

/* Counts a character against the page and the pictures under it. */
static void classify_char(dv_page_text *t, gunichar c, const PopplerRectangle *r,
                          const PopplerRectangle *page, dv_pictures *pics)
{
    t->n_chars++;
    t->n_bad += is_bad_char(c);
    double cx = (r->x1 + r->x2) / 2, cy = (r->y1 + r->y2) / 2;
    if (cx < 0 || cy < 0 || cx > page->x2 || cy > page->y2)
        t->n_outside++;
    int under = dv_pictures_under(pics, r);
    t->n_on_image += under == DV_PIC_INK;
}

/* The state of the walk through the page text and its glyph boxes. */
typedef struct glyph_walk {
    const PopplerRectangle *rects;
    guint n_rects, i;
    double scale;
    PopplerRectangle page;      /* 0, 0, width, height in points */
    dv_pictures *pics;
    GString *text;
    word_builder *b;
    const PopplerRectangle *prev;
    int depth;                  /* bidirectional runs open */
    int rtl_line;               /* the line starts right to left (textrtl.c) */
    int new_token;
    rtl_line line;
} glyph_walk;

static void bidi_mark(glyph_walk *g, gunichar c)
{
    if (opens_run(c)) {
        /* a run at the line's level starts a new word of a right-to-left
         * line; inside a run the glyphs are in visual order, not the
         * text's, so neighbours in the text are not compared */
        g->new_token |= g->depth == 0;
        g->depth++;
    } else if (c == 0x202C || c == 0x2069) {
        g->depth = g->depth > 0 ? g->depth - 1 : 0;
    }
    g->prev = NULL;
}

static int line_start(glyph_walk *g, const char *p)
{
    g->rtl_line = g_utf8_get_char(p) == 0x202B;
    g->depth = 0;
    g->new_token = 1;
    return DOCVL_OK;
}

static int line_end(glyph_walk *g)
{
    int rc = g->rtl_line ? dv_rtl_line_emit(&g->line, g->scale, g->b, g->text) : DOCVL_OK;
    g->rtl_line = 0;
    return rc;
}

/* A glyph of a right-to-left line: gathered, written at the line's end. */
static int rtl_glyph(glyph_walk *g, gunichar c, const PopplerRectangle *r)
{
    if (g->new_token) {
        int rc = dv_rtl_new_token(&g->line, g->b->e);
        if (rc)
            return rc;
        g->new_token = 0;
    }
    dv_rtl_add_glyph(&g->line, c, r);
    return DOCVL_OK;
}

static int ltr_glyph(glyph_walk *g, gunichar c, const PopplerRectangle *r)
{
    word_builder *b = g->b;
    if (g->prev && g->depth == 0 && !continues_cluster(c) && dv_text_apart(g->prev, r)) {
        int rc = end_word(b);
        if (rc)
            return rc;
        g_string_append_c(g->text, ' ');
    }
    dv_box cb = dv_text_rect_px(r, g->scale);
    b->box = b->word->len ? dv_box_union(b->box, cb) : cb;
    g_string_append_unichar(b->word, c);
    g_string_append_unichar(g->text, c);
    g->prev = g->depth == 0 ? r : NULL;
    return DOCVL_OK;
}

/* Spaces of right-to-left lines: one inside a word stays in it; one between
 * words is noted for textrtl.c, which puts it back in its place. */
static void rtl_space(glyph_walk *g, gunichar c)
{
    rtl_line *l = &g->line;
    if (l->n == 0 || g->new_token)
        return;
    if (g->depth > 0)
        dv_rtl_add_glyph(l, c, NULL);
    else
        l->v[l->n - 1].space_after = 1;
}

static int walk_space(glyph_walk *g, gunichar c)
{
    g->prev = NULL;
    if (g->rtl_line && c != '\n') {
        rtl_space(g, c);
        g->new_token |= g->depth == 0;
        return DOCVL_OK;
    }
    g->new_token = 1;
    int rc = c == '\n' ? line_end(g) : DOCVL_OK;
    if (rc == DOCVL_OK && !g->rtl_line)
        rc = end_word(g->b);
    g_string_append_unichar(g->text, c);
    return rc;
}

/* Walks the page text and its glyph boxes in step (bidirectional marks have
 * no box): words with boxes, the text with missing word breaks restored,
 * and the character counts. */
static int walk_glyphs(glyph_walk *g)
{
    int rc = line_start(g, g->b->t->text);
    for (const char *p = g->b->t->text; *p && rc == DOCVL_OK; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (is_bidi_mark(c)) {
            bidi_mark(g, c);
            continue;
        }
        const PopplerRectangle *r = g->i < g->n_rects ? &g->rects[g->i] : NULL;
        g->i++;
        if (g_unichar_isspace(c) || !r) {
            rc = walk_space(g, c);
            if (rc == DOCVL_OK && c == '\n')
                rc = line_start(g, g_utf8_next_char(p));
            continue;
        }
        classify_char(g->b->t, c, r, &g->page, g->pics);
        rc = g->rtl_line ? rtl_glyph(g, c, r) : ltr_glyph(g, c, r);
    }
    if (rc == DOCVL_OK)
        rc = line_end(g);
    return rc ? rc : end_word(g->b);
}

/* Undoes hyphenation at line ends ("Maece-\nnas" -> "Maecenas"), as
 * pdftotext does: a letter, a hyphen, a line break, a lower-case letter. */
static char *dehyphenate(const char *s)
{
    GString *o = g_string_sized_new(strlen(s));
    gunichar before = 0;
    for (const char *p = s; *p;) {
        gunichar c = g_utf8_get_char(p);
        const char *nl = g_utf8_next_char(p);
        if ((c == '-' || c == 0xAD) && *nl == '\n' && g_unichar_isalpha(before) &&
            g_unichar_islower(g_utf8_get_char(nl + 1))) {
            p = nl + 1;
            continue;
        }
        g_string_append_unichar(o, c);
        before = c;
        p = nl;
    }
    return g_string_free(o, FALSE);
}

static char *valid_utf8(char *text)
{
    if (!text)
        return g_strdup("");
    /* Invalid UTF-8 would derail the walk in step with the boxes. */
    if (g_utf8_validate(text, -1, NULL))
        return text;
    char *fixed = g_utf8_make_valid(text, -1);
    g_free(text);
    return fixed;
}

/* Characters of a selection that have glyphs. */
static long glyph_count(const char *s)
{
    long n = 0;
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        n += !g_unichar_isspace(c) && !is_bidi_mark(c);
    }
    return n;
}

static int has_rtl(const char *s)
{
    for (const char *p = s; *p; p = g_utf8_next_char(p))
        if (dv_text_is_rtl(g_utf8_get_char(p)))
            return 1;
    return 0;
}

/* A page's text as one of Poppler's selections gives it, with the glyph
 * boxes in step with its characters (bidirectional marks have none). */
typedef struct reading {
    char *text;
    PopplerRectangle *rects;
    guint n_rects;
} reading;

static void reading_free(reading *r)
{
    g_free(r->text);
    g_free(r->rects);
}

static int rect_cmp(const void *pa, const void *pb)
{
    const PopplerRectangle *a = pa, *b = pb;
    double d[4] = {a->x1 - b->x1, a->y1 - b->y1, a->x2 - b->x2, a->y2 - b->y2};
    for (int i = 0; i < 4; i++)
        if (d[i] != 0)
            return d[i] < 0 ? -1 : 1;
    return 0;
}

/* Characters that have a box in Poppler's layout: all but the
 * bidirectional marks. */
static guint boxed_chars(const char *s)
{
    guint n = 0;
    for (const char *p = s; *p; p = g_utf8_next_char(p))
        n += !is_bidi_mark(g_utf8_get_char(p));
    return n;
}

/* Whether a line of `from` (bytes [p, end), boxes from rect k on) has no
 * glyph among the sorted boxes `have`. */
static int line_is_new(const reading *from, const char *p, const char *end, guint k,
                       const PopplerRectangle *have, guint n_have)
{
    int glyphs = 0;
    for (; p < end && k < from->n_rects; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (is_bidi_mark(c))
            continue;
        const PopplerRectangle *r = &from->rects[k++];
        if (g_unichar_isspace(c))
            continue;
        if (n_have && bsearch(r, have, n_have, sizeof *have, rect_cmp))
            return 0;
        glyphs++;
    }
    return glyphs > 0;
}

/* Appends to `to` the lines of `from` none of whose glyphs `to` has, with
 * their boxes: each of Poppler's selections covers the text blocks between
 * its two corners in the page's block order, so one started at a corner of
 * the page can still miss blocks (the Persian page of hf_ff3d6e..._pg1.pdf
 * read from the top right lacks its header at the top left, which the
 * reading from the top left has). pdftotext writes such blocks too, in
 * their order; here they come last. */
static void add_missing_lines(reading *to, const reading *from)
{
    /* the boxes added must follow the text's own, one for each character */
    if (boxed_chars(to->text) != to->n_rects)
        return;
    PopplerRectangle *have = g_memdup2(to->rects, to->n_rects * sizeof *have);
    if (to->n_rects)
        qsort(have, to->n_rects, sizeof *have, rect_cmp);
    GString *text = g_string_new(to->text);
    GArray *rects = g_array_new(FALSE, FALSE, sizeof(PopplerRectangle));
    g_array_append_vals(rects, to->rects, to->n_rects);
    guint k = 0;
    for (const char *p = from->text; *p;) {
        const char *nl = strchr(p, '\n'), *end = nl ? nl + 1 : p + strlen(p);
        guint k0 = k;
        for (const char *q = p; q < end; q = g_utf8_next_char(q))
            k += !is_bidi_mark(g_utf8_get_char(q));
        if (k <= from->n_rects && line_is_new(from, p, end, k0, have, to->n_rects)) {
            if (text->len && text->str[text->len - 1] != '\n') {
                g_string_append_c(text, '\n');
                g_array_append_val(rects, (PopplerRectangle){0});
            }
            g_string_append_len(text, p, end - p);
            g_array_append_vals(rects, from->rects + k0, k - k0);
        }
        p = end;
    }
    g_free(have);
    reading_free(to);
    to->text = g_string_free(text, FALSE);
    to->n_rects = rects->len;
    to->rects = (PopplerRectangle *)(void *)g_array_free(rects, FALSE);
}

/* The text and glyph boxes of Poppler's glyph selection over `area`, from
 * its first corner to its second. */
static int read_area(PopplerPage *page, PopplerRectangle *area, reading *out)
{
    char *text = poppler_page_get_selected_text(page, POPPLER_SELECTION_GLYPH, area);
    *out = (reading){valid_utf8(text), NULL, 0};
    if (poppler_page_get_text_layout_for_area(page, area, &out->rects, &out->n_rects))
        return 1;
    reading_free(out);
    return 0;
}

/* Whether a glyph box of `rd` has its centre inside `r`. */
static int holds_glyph(const reading *rd, const PopplerRectangle *r)
{
    for (guint i = 0; i < rd->n_rects; i++) {
        const PopplerRectangle *g = &rd->rects[i];
        double x = (g->x1 + g->x2) / 2, y = (g->y1 + g->y2) / 2;
        if (x >= r->x1 && x <= r->x2 && y >= r->y1 && y <= r->y2)
            return 1;
    }
    return 0;
}

/* Adds the lines that a selection over `area` crosses but gives no glyph
 * of. On a page Poppler reads right to left, a glyph selection from the
 * top-left corner takes the last line of the page's last block from that
 * line's right end to its right end, none of it (the Persian page of
 * hf_ff3d6e..._pg1.pdf lost its header line "ﭘﮋوﻫﺸﮕﺎه اﻃﻼﻋﺎت و ﻣﺪارك
 * ﻋﻠﻤﯽاﯾﺮان" so), and the first line of its first block from the left end
 * to the left end. A line selection, whose first and last lines are whole,
 * shows where they are: each piece of its region (in whole points, so
 * widened by half a point) that holds none of the reading's glyphs is read
 * on its own, and add_missing_lines keeps the lines whose glyphs are all
 * new. */
static void add_unselected_lines(PopplerPage *page, PopplerRectangle *area, reading *out)
{
    cairo_region_t *region =
        poppler_page_get_selected_region(page, 1.0, POPPLER_SELECTION_LINE, area);
    int n = cairo_region_num_rectangles(region);
    for (int i = 0; i < n; i++) {
        cairo_rectangle_int_t c;
        cairo_region_get_rectangle(region, i, &c);
        PopplerRectangle r = {c.x - 0.5, c.y - 0.5, c.x + c.width + 0.5, c.y + c.height + 0.5};
        reading piece;
        if (holds_glyph(out, &r) || !read_area(page, &r, &piece))
            continue;
        add_missing_lines(out, &piece);
        reading_free(&piece);
    }
    cairo_region_destroy(region);
}

/* The page text and its glyph boxes. Poppler's selection flows from the
 * area's first corner to its second; on a page that it reads right to left
 * a flow from the top-left corner loses whole lines (the Persian page of
 * hf_ff3d6e..._pg1.pdf keeps 83 of its 1,614 glyphs), and one from the
 * top-right corner loses them on left-to-right pages. A page with
 * right-to-left letters, or with no text read from the top left (a page
 * of Hebrew lines only), is read both ways: the fuller reading is kept and
 * the lines only the other has are added, then those that neither has
 * (add_unselected_lines). */
static void select_text(PopplerPage *page, const PopplerRectangle *full, reading *out)
{
    out->text = valid_utf8(poppler_page_get_text(page));
    if (!poppler_page_get_text_layout(page, &out->rects, &out->n_rects))
        out->n_rects = 0;
    if (glyph_count(out->text) > 0 && !has_rtl(out->text))
        return;
    PopplerRectangle rtl = {full->x2, full->y1, full->x1, full->y2}, ltr = *full;
    reading other;
    if (!read_area(page, &rtl, &other))
        return;
    if (glyph_count(other.text) > glyph_count(out->text)) {
        reading t = *out;
        *out = other;
        other = t;
    }
    add_missing_lines(out, &other);
    reading_free(&other);
    add_unselected_lines(page, &ltr, out);
}

static int build_words(PopplerPage *page, double scale, dv_page_text *t, dv_err *e)
{
    double pw, ph;
    poppler_page_get_size(page, &pw, &ph);
    glyph_walk g = {.scale = scale, .page = {0, 0, pw, ph}};
    reading rd = {0};
    select_text(page, &g.page, &rd);
    t->text = rd.text;
    g.rects = rd.rects;
    g.n_rects = rd.n_rects;
    dv_pictures pics;
    dv_pictures_open(page, &pics);
    g.pics = &pics;
    word_builder b = {t, 0, g_string_new(NULL), {0, 0, 0, 0}, e};
    g.b = &b;
    g.text = g_string_sized_new(strlen(t->text) + 64);
    int rc = walk_glyphs(&g);
    g_free(t->text);
    t->text = dehyphenate(g.text->str);
    g_string_free(g.text, TRUE);
    g_string_free(b.word, TRUE);
    dv_rtl_line_free(&g.line);
    dv_pictures_close(&pics);
    g_free(rd.rects);
    return rc;
}

int dv_text_extract(dv_doc *doc, int index, double dpi, dv_page_text *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (dv_doc_get_kind(doc) != DV_DOC_PDF) {
        out->text = g_strdup("");
        return DOCVL_OK;
    }
    if (!(dpi > 0))
        return dv_fail(e, DOCVL_EINVAL, "text layer: dpi %g is not positive", dpi);
    PopplerPage *page = dv_doc_poppler_page(doc, index, e);
    if (!page)
        return e->code;
    int rc = build_words(page, dpi / 72.0, out, e);
    g_object_unref(page);
    if (rc) {
        dv_page_text_free(out);
        return dv_wrap(e, "text layer of page %d", index + 1);
    }
    return DOCVL_OK;
}

void dv_page_text_free(dv_page_text *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_words; i++)
        g_free(t->words[i].text);
    free(t->words);
    g_free(t->text);
    memset(t, 0, sizeof *t);
}
