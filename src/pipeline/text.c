/* Grouping text-layer words into lines and blocks by their boxes. */
#include "pipeline/text.h"

#include <glib.h>
#include <string.h>

/* A right-to-left word (rtl) continues its line leftwards. */
static int same_line(const dv_page_line *l, dv_box w, int rtl)
{
    const dv_page_word *last = &l->words[l->n_words - 1];
    double h = w.y1 - w.y0;
    int onward = rtl ? w.x1 <= last->box.x1 : w.x0 >= last->box.x0;
    return dv_box_overlap_y(l->box, w) >= 0.5 * h && onward;
}

static int new_block(const dv_page_line *prev, dv_box w)
{
    double h = prev->box.y1 - prev->box.y0;
    return w.y0 - prev->box.y1 > h || w.y1 <= prev->box.y0;
}

void dv_pipeline_text_page(const dv_page_text *t, dv_page_result *p)
{
    dv_page_block *blk = NULL;
    dv_page_line *line = NULL;
    for (int i = 0; i < t->n_words; i++) {
        dv_box w = t->words[i].box;
        if (!line || !same_line(line, w, t->words[i].rtl)) {
            if (!blk || new_block(line, w))
                blk = dv_page_add_block(p, w);
            line = dv_page_block_add_line(blk, w);
        }
        const char *s = t->words[i].text;
        dv_page_line_add_word(line, s, strlen(s), w);
        line->box = dv_box_cover(line->box, w);
        blk->box = dv_box_cover(blk->box, w);
    }
    g_free(p->text);
    p->text = g_strdup(t->text ? t->text : "");
}

char *dv_pipeline_text_in_box(const dv_page_text *t, dv_box box)
{
    /* a view of the words inside: they stay owned by t */
    dv_page_text in = { 0 };
    in.words = g_new0(dv_word, t->n_words + 1);
    for (int i = 0; i < t->n_words; i++)
        if (dv_box_centre_in(t->words[i].box, box))
            in.words[in.n_words++] = t->words[i];
    dv_page_result p;
    dv_page_init(&p, 1, 0, 0, 0);
    dv_pipeline_text_page(&in, &p);
    char *text = dv_page_text_from_blocks(&p);
    dv_page_clear(&p);
    g_free(in.words);
    return text;
}
