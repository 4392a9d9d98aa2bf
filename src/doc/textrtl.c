/* Right-to-left lines of the text layer. Poppler's selection gives such a
 * line's words in logical order (right to left on the page), each wrapped
 * in bidirectional marks, and after each word the space that Poppler found
 * to its right on the page: the space between it and the word before it.
 * Written as they come, the spaces land one word off ("ﺷﺒﮑﻪ ﻫﺎيﺑﯽ ﺳﯿﻢ" for
 * pdftotext's "ﺷﺒﮑﻪﻫﺎي ﺑﯽﺳﯿﻢ"). So each space goes back to its gap, the
 * line's last gap (whose space Poppler does not write) is judged from the
 * boxes, and runs of left-to-right words (numbers, Latin names) are put
 * back in left-to-right order, as the bidirectional algorithm reads them. */
#include "doc/textlayer_parts.h"

#include <math.h>
#include <stdlib.h>

enum { DIR_NEUTRAL, DIR_LTR, DIR_RTL };

int dv_rtl_new_token(rtl_line *l, dv_err *e)
{
    if (l->n == l->cap) {
        int ncap = l->cap ? 2 * l->cap : 32;
        rtl_token *nv = realloc(l->v, (size_t)ncap * sizeof *nv);
        if (!nv)
            return dv_fail(e, DOCVL_ENOMEM, "text layer: out of memory");
        for (int i = l->cap; i < ncap; i++)
            nv[i].s = NULL;
        l->v = nv;
        l->cap = ncap;
    }
    rtl_token *t = &l->v[l->n++];
    if (t->s)
        g_string_truncate(t->s, 0);
    else
        t->s = g_string_new(NULL);
    t->box = (PopplerRectangle){INFINITY, INFINITY, -INFINITY, -INFINITY};
    t->space_after = 0;
    return DOCVL_OK;
}

void dv_rtl_add_glyph(rtl_line *l, gunichar c, const PopplerRectangle *r)
{
    rtl_token *t = &l->v[l->n - 1];
    g_string_append_unichar(t->s, c);
    if (!r)
        return;
    t->box.x1 = fmin(t->box.x1, fmin(r->x1, r->x2));
    t->box.y1 = fmin(t->box.y1, fmin(r->y1, r->y2));
    t->box.x2 = fmax(t->box.x2, fmax(r->x1, r->x2));
    t->box.y2 = fmax(t->box.y2, fmax(r->y1, r->y2));
}

/* Digits count as left-to-right: in a right-to-left line they form
 * left-to-right runs. */
static int direction(const GString *s)
{
    int ltr = 0;
    for (const char *p = s->str; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (dv_text_is_rtl(c))
            return DIR_RTL;
        ltr |= g_unichar_isalnum(c);
    }
    return ltr ? DIR_LTR : DIR_NEUTRAL;
}

/* Neutral words (punctuation) between two left-to-right words join their
 * run ("01 / 02"); elsewhere they follow the line's direction. */
static void resolve_neutrals(int *dir, int n)
{
    for (int i = 0; i < n; i++) {
        if (dir[i] != DIR_NEUTRAL)
            continue;
        int j = i;
        while (j < n && dir[j] == DIR_NEUTRAL)
            j++;
        int d = i > 0 && j < n && dir[i - 1] == DIR_LTR && dir[j] == DIR_LTR ? DIR_LTR : DIR_RTL;
        for (int k = i; k < j; k++)
            dir[k] = d;
        i = j - 1;
    }
}

static void reverse_tokens(rtl_token *v, int n)
{
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        rtl_token t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static void reverse_ints(int *v, int n)
{
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* Distance between two words' boxes along the line (which may run down the
 * page, as in a margin note set sideways). */
static double gap_width(const PopplerRectangle *a, const PopplerRectangle *b)
{
    return fmax(fmax(b->x1 - a->x2, a->x1 - b->x2), fmax(b->y1 - a->y2, a->y1 - b->y2));
}

/* The line's last gap, which Poppler leaves without its space: judged
 * against the line's other gaps (wider than every gap without a space and
 * at least half the narrowest with one), or by pdftotext's word-break
 * distance when the line has no other gaps to go by. */
static int last_gap_space(const rtl_line *l, const int *space)
{
    int n = l->n;
    double w = gap_width(&l->v[n - 2].box, &l->v[n - 1].box);
    double widest_joint = -INFINITY, narrowest_space = INFINITY;
    for (int k = 1; k < n - 1; k++) {
        double g = gap_width(&l->v[k - 1].box, &l->v[k].box);
        if (space[k])
            narrowest_space = fmin(narrowest_space, g);
        else
            widest_joint = fmax(widest_joint, g);
    }
    if (narrowest_space == INFINITY)
        return dv_text_apart(&l->v[n - 2].box, &l->v[n - 1].box);
    return w > widest_joint && w >= 0.5 * narrowest_space;
}

/* space[k]: whether the gap between words k-1 and k (neighbours on the
 * page) has a space. Word k's selection space belongs to that gap. */
static void gap_spaces(const rtl_line *l, int *space)
{
    space[0] = 0;
    for (int k = 1; k < l->n - 1; k++)
        space[k] = l->v[k].space_after;
    if (l->n > 1)
        space[l->n - 1] = last_gap_space(l, space);
    /* a word cannot start with a combining mark: a vowel sign set apart
     * from its letters ("بنا ًء") joins the word before it */
    for (int k = 1; k < l->n; k++)
        space[k] &= !g_unichar_ismark(g_utf8_get_char(l->v[k].s->str));
}

/* Turns each left-to-right run around; a gap keeps its place before the
 * run and after it, the gaps inside turn with the words. */
static void order_ltr_runs(rtl_line *l, int *dir, int *space)
{
    for (int i = 0; i < l->n; i++)
        dir[i] = direction(l->v[i].s);
    resolve_neutrals(dir, l->n);
    for (int i = 0; i < l->n; i++) {
        int j = i;
        while (j < l->n && dir[j] == DIR_LTR)
            j++;
        if (j - i > 1) {
            reverse_tokens(&l->v[i], j - i);
            reverse_ints(&space[i + 1], j - i - 1);
        }
        i = j > i ? j - 1 : i;
    }
}

int dv_rtl_line_emit(rtl_line *l, double scale, word_builder *b, GString *text)
{
    int *dir = malloc((size_t)(2 * l->n + 1) * sizeof *dir), *space = dir + l->n;
    if (!dir)
        return dv_fail(b->e, DOCVL_ENOMEM, "text layer: out of memory for a line of %d words",
                       l->n);
    gap_spaces(l, space);
    order_ltr_runs(l, dir, space);
    int rc = dv_text_end_word(b, 1);
    for (int k = 0; k < l->n && rc == DOCVL_OK; k++) {
        const rtl_token *t = &l->v[k];
        if (space[k]) {
            rc = dv_text_end_word(b, 1);
            g_string_append_c(text, ' ');
        }
        dv_box px = dv_text_rect_px(&t->box, scale);
        b->box = b->word->len ? dv_box_union(b->box, px) : px;
        g_string_append_len(b->word, t->s->str, (gssize)t->s->len);
        g_string_append_len(text, t->s->str, (gssize)t->s->len);
    }
    l->n = 0;
    free(dir);
    return rc ? rc : dv_text_end_word(b, 1);
}

void dv_rtl_line_free(rtl_line *l)
{
    for (int i = 0; i < l->cap; i++)
        if (l->v[i].s)
            g_string_free(l->v[i].s, TRUE);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
