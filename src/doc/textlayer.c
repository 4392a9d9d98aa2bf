#include "doc/textlayer.h"

#include "doc/pictures.h"

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

typedef struct word_builder {
    dv_page_text *t;
    int cap;
    GString *word;       /* the word being built */
    dv_box box;
    dv_err *e;
} word_builder;

static int end_word(word_builder *b)
{
    if (b->word->len == 0)
        return DOCVL_OK;
    dv_page_text *t = b->t;
    if (t->n_words == b->cap) {
        int ncap = b->cap ? 2 * b->cap : 256;
        dv_word *nw = realloc(t->words, (size_t)ncap * sizeof *nw);
        if (!nw)
            return dv_fail(b->e, DOCVL_ENOMEM, "text layer: out of memory");
        t->words = nw;
        b->cap = ncap;
    }
    t->words[t->n_words++] = (dv_word){g_strdup(b->word->str), b->box};
    g_string_truncate(b->word, 0);
    return DOCVL_OK;
}

/* Poppler's page text runs some words together that pdftotext separates
 * ("3MICHAEL" for a line number beside a name): two glyphs on one line
 * with a gap wider than a tenth of their height are two words, as in
 * pdftotext's word breaking. So are glyphs on different lines with no
 * space between them in the text (table cells read column by column:
 * "3,508,000" then "25.0" below it). */
static int apart(const PopplerRectangle *a, const PopplerRectangle *b)
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

static dv_box rect_px(const PopplerRectangle *r, double s)
{
    return (dv_box){(int)floor(fmin(r->x1, r->x2) * s), (int)floor(fmin(r->y1, r->y2) * s),
                    (int)ceil(fmax(r->x1, r->x2) * s), (int)ceil(fmax(r->y1, r->y2) * s)};
}

/* Counts a character against the page and the pictures under it. */
static void classify_char(dv_page_text *t, const PopplerRectangle *r, double pw, double ph,
                          dv_pictures *pics)
{
    double cx = (r->x1 + r->x2) / 2, cy = (r->y1 + r->y2) / 2;
    if (cx < 0 || cy < 0 || cx > pw || cy > ph)
        t->n_outside++;
    int under = dv_pictures_under(pics, r);
    t->n_on_image += under == DV_PIC_INK;
}

/* Walks the page text and its glyph boxes in step: words with boxes, the
 * text with missing word breaks restored, and the character counts. */
static int walk_glyphs(const PopplerRectangle *rects, guint n_rects, double scale, double pw,
                       double ph, dv_pictures *pics, GString *text, word_builder *b)
{
    dv_page_text *t = b->t;
    const PopplerRectangle *prev = NULL;
    guint i = 0;
    int rc = DOCVL_OK;
    for (const char *p = t->text; *p && rc == DOCVL_OK; p = g_utf8_next_char(p), i++) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isspace(c) || i >= n_rects) {
            rc = end_word(b);
            g_string_append_unichar(text, c);
            prev = NULL;
            continue;
        }
        if (prev && apart(prev, &rects[i])) {
            rc = end_word(b);
            g_string_append_c(text, ' ');
        }
        t->n_chars++;
        t->n_bad += is_bad_char(c);
        classify_char(t, &rects[i], pw, ph, pics);
        dv_box cb = rect_px(&rects[i], scale);
        b->box = b->word->len ? dv_box_union(b->box, cb) : cb;
        g_string_append_unichar(b->word, c);
        g_string_append_unichar(text, c);
        prev = &rects[i];
    }
    return rc ? rc : end_word(b);
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

static int build_words(PopplerPage *page, double scale, dv_page_text *t, dv_err *e)
{
    PopplerRectangle *rects = NULL;
    guint n_rects = 0;
    if (!poppler_page_get_text_layout(page, &rects, &n_rects))
        n_rects = 0;
    double pw, ph;
    poppler_page_get_size(page, &pw, &ph);
    dv_pictures pics;
    dv_pictures_open(page, &pics);
    word_builder b = {t, 0, g_string_new(NULL), {0, 0, 0, 0}, e};
    GString *text = g_string_sized_new(strlen(t->text) + 64);
    int rc = walk_glyphs(rects, n_rects, scale, pw, ph, &pics, text, &b);
    g_free(t->text);
    t->text = dehyphenate(text->str);
    g_string_free(text, TRUE);
    g_string_free(b.word, TRUE);
    dv_pictures_close(&pics);
    g_free(rects);
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
    char *text = poppler_page_get_text(page);
    out->text = text ? text : g_strdup("");
    /* Invalid UTF-8 would derail the walk in step with the boxes. */
    if (!g_utf8_validate(out->text, -1, NULL)) {
        char *fixed = g_utf8_make_valid(out->text, -1);
        g_free(out->text);
        out->text = fixed;
    }
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
