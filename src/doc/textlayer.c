#include "doc/textlayer.h"

#include "doc/pictures.h"

#include <math.h>
#include <poppler.h>
#include <stdlib.h>
#include <string.h>

int dv_text_mode_parse(const char *s, dv_text_mode *mode, dv_err *e)
{
    if (s && strcmp(s, "auto") == 0)
        *mode = DV_TEXT_AUTO;
    else if (s && strcmp(s, "off") == 0)
        *mode = DV_TEXT_OFF;
    else if (s && strcmp(s, "only") == 0)
        *mode = DV_TEXT_ONLY;
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
    const char *start;   /* first byte of the word being built, or NULL */
    dv_box box;
    dv_err *e;
} word_builder;

static int end_word(word_builder *b, const char *end)
{
    if (!b->start)
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
    char *s = g_strndup(b->start, (gsize)(end - b->start));
    t->words[t->n_words++] = (dv_word){s, b->box};
    b->start = NULL;
    return DOCVL_OK;
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
    word_builder b = {t, 0, NULL, {0, 0, 0, 0}, e};
    int rc = DOCVL_OK;
    guint i = 0;
    for (const char *p = t->text; *p && rc == DOCVL_OK; p = g_utf8_next_char(p), i++) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isspace(c) || i >= n_rects) {
            rc = end_word(&b, p);
            continue;
        }
        t->n_chars++;
        t->n_bad += is_bad_char(c);
        classify_char(t, &rects[i], pw, ph, &pics);
        dv_box cb = rect_px(&rects[i], scale);
        b.box = b.start ? dv_box_union(b.box, cb) : cb;
        if (!b.start)
            b.start = p;
    }
    if (rc == DOCVL_OK)
        rc = end_word(&b, t->text + strlen(t->text));
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
