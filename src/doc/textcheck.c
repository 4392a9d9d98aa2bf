#include "doc/textlayer.h"

/* Share of characters that may be bad, off the page or on images before the
 * layer as a whole is distrusted. */
#define MAX_BAD_FRACTION 0.05
#define MAX_OUTSIDE_FRACTION 0.25
#define MAX_ON_IMAGE_FRACTION 0.3
/* Share of the ink's text-line area the words must touch, and share of the
 * words that must lie on ink. Figures with lettering that is not text (plots,
 * logos) keep the first below 1. */
#define MIN_INK_COVERED 0.75
#define MIN_WORDS_ON_INK 0.5

static long long overlap_with_words(const dv_page_text *t, dv_box line)
{
    long long area = 0;
    for (int i = 0; i < t->n_words; i++)
        area += dv_box_area(dv_box_intersect(t->words[i].box, line));
    return area;
}

/* Whether a word of the layer stands on the line (not merely reaches into
 * it from the line above or below, as a font's box does). */
static int has_word_on(const dv_page_text *t, dv_box line)
{
    for (int i = 0; i < t->n_words; i++) {
        dv_box w = t->words[i].box;
        if (!dv_box_empty(dv_box_intersect(w, line)) &&
            2 * dv_box_overlap_y(w, line) >= dv_imin(dv_box_h(w), dv_box_h(line)))
            return 1;
    }
    return 0;
}

/* Share of text-line area (weighted by area) that words touch substantially.
 * A line with a word on it counts whole: the lines the layout finds take in
 * the frame ruled round a heading or a table cell (auto-multiple-choice.ja
 * page 3's "COLLABORATORS", whose words fill a fifth of the frame), and
 * Poppler's boxes of vertically set glyphs lie half a glyph off their ink
 * (vertical.pdf), so area alone calls such complete pages incomplete. What
 * a layer misses is whole lines: the lettering of a scanned figure. */
static double ink_covered(const dv_page_text *t, const dv_layout *l)
{
    long long total = 0, covered = 0;
    for (int i = 0; i < l->n_lines; i++) {
        long long a = dv_box_area(l->lines[i]);
        total += a;
        if (overlap_with_words(t, l->lines[i]) * 4 >= a || has_word_on(t, l->lines[i]))
            covered += a;
    }
    return total ? (double)covered / (double)total : 1.0;
}

static double words_on_ink(const dv_page_text *t, const dv_layout *l)
{
    int on = 0;
    for (int i = 0; i < t->n_words; i++)
        for (int j = 0; j < l->n_lines; j++)
            if (!dv_box_empty(dv_box_intersect(t->words[i].box, l->lines[j]))) {
                on++;
                break;
            }
    return t->n_words ? (double)on / t->n_words : 0.0;
}

dv_text_verdict dv_text_assess(const dv_page_text *t, const dv_layout *l)
{
    if (!t || t->n_chars == 0)
        return DV_TEXTLAYER_ABSENT;
    double n = t->n_chars;
    if (t->n_bad > MAX_BAD_FRACTION * n || t->n_outside > MAX_OUTSIDE_FRACTION * n)
        return DV_TEXTLAYER_GARBAGE;
    if (t->n_on_image > MAX_ON_IMAGE_FRACTION * n)
        return DV_TEXTLAYER_ON_IMAGE;
    if (!l)
        return DV_TEXTLAYER_USABLE;
    if (words_on_ink(t, l) < MIN_WORDS_ON_INK)
        return DV_TEXTLAYER_INVISIBLE;
    if (ink_covered(t, l) < MIN_INK_COVERED)
        return DV_TEXTLAYER_INCOMPLETE;
    return DV_TEXTLAYER_USABLE;
}

/* Layout lines found at dpi `from`, in the pixels of dpi `to`. */
static void scale_lines(dv_layout *l, double from, double to)
{
    double s = to / from;
    for (int i = 0; i < l->n_lines; i++) {
        dv_box *b = &l->lines[i];
        *b = (dv_box){(int)(b->x0 * s), (int)(b->y0 * s), (int)(b->x1 * s + 0.999),
                      (int)(b->y1 * s + 0.999)};
    }
}

int dv_text_judge(dv_doc *doc, int index, const dv_page_text *t, double words_dpi, double dpi,
                  dv_text_verdict *v, dv_err *e)
{
    dv_render_options ro = {dpi, 0};
    dv_rendered_page rp;
    int rc = dv_doc_render_page(doc, index, &ro, &rp, e);
    if (rc)
        return rc;
    dv_layout l;
    rc = dv_layout_analyze(&rp.image, NULL, &l, e);
    dv_image_free(&rp.image);
    if (rc)
        return rc;
    if (rp.dpi > 0)
        scale_lines(&l, rp.dpi, words_dpi);
    *v = dv_text_assess(t, &l);
    dv_layout_free(&l);
    return DOCVL_OK;
}

const char *dv_text_verdict_name(dv_text_verdict v)
{
    switch (v) {
    case DV_TEXTLAYER_USABLE: return "usable";
    case DV_TEXTLAYER_ABSENT: return "absent";
    case DV_TEXTLAYER_GARBAGE: return "garbage";
    case DV_TEXTLAYER_ON_IMAGE: return "on-image";
    case DV_TEXTLAYER_INCOMPLETE: return "incomplete";
    case DV_TEXTLAYER_INVISIBLE: return "invisible";
    }
    return "unknown";
}

const char *dv_text_verdict_reason(dv_text_verdict v)
{
    switch (v) {
    case DV_TEXTLAYER_USABLE: return "its text matches what is printed";
    case DV_TEXTLAYER_ABSENT: return "it has no text to copy (a scan or a drawing)";
    case DV_TEXTLAYER_GARBAGE: return "its text is partly unreadable or lies off the page";
    case DV_TEXTLAYER_ON_IMAGE: return "its text lies over a scanned picture (an earlier OCR's)";
    case DV_TEXTLAYER_INCOMPLETE: return "its text lacks some lines printed on it";
    case DV_TEXTLAYER_INVISIBLE: return "its text is not where anything is printed";
    }
    return "its text could not be judged";
}

int dv_text_use_layer(docvl_text_layer mode, dv_text_verdict v)
{
    if (mode == DOCVL_TEXT_LAYER_OFF)
        return 0;
    if (mode == DOCVL_TEXT_LAYER_ONLY)
        return 1;
    return v == DV_TEXTLAYER_USABLE;
}
