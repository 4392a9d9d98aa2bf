#include "pipeline/linepage.h"

#include <glib.h>
#include <string.h>

/* Puts a word read at the start of a segment cut from the one before inside
 * a word on that segment's last word: "docu" + "ment" is one word. */
static void join_last_word(dv_page_line *line, const char *text, dv_box box)
{
    dv_page_word *last = &line->words[line->n_words - 1];
    char *joined = g_strconcat(last->text, text, NULL);
    g_free(last->text);
    last->text = joined;
    last->box = dv_box_cover(last->box, box);
}

/* Appends the words of one segment's text to line, on the segment's ink;
 * join: the first goes on the line's last word. Returns how many were read. */
static int add_segment_words(dv_page_line *line, const dv_cut_line *cl, const dv_segment *s,
                             const char *text, int join)
{
    char **w = g_strsplit_set(text, " \t\n\r\f\v", -1);
    int n = 0;
    for (int i = 0; w[i]; i++)
        if (*w[i])
            w[n++] = w[i];
        else
            g_free(w[i]);
    w[n] = NULL;
    int *chars = g_new(int, n + 1);
    dv_box *boxes = g_new(dv_box, n + 1);
    for (int i = 0; i < n; i++)
        chars[i] = (int)g_utf8_strlen(w[i], -1);
    dv_segment_word_boxes(cl, s, chars, n, boxes);
    for (int i = 0; i < n; i++) {
        if (i == 0 && join)
            join_last_word(line, w[i], boxes[i]);
        else
            dv_page_line_add_word(line, w[i], strlen(w[i]), boxes[i]);
        line->box = dv_box_cover(line->box, boxes[i]);
    }
    g_free(boxes);
    g_free(chars);
    g_strfreev(w);
    return n;
}

/* Marks that open list items: round and square bullets, also glued to the
 * word after them, and the ASCII ones standing alone. */
static const char *const glued_bullets[] = { "\u2022", "\u25aa", "\u25a0", "\u25cf", "\u25e6",
                                             "\u25cb", "\u00b7", "\u2023", "\u2043", "\u2219",
                                             NULL };
static const char *const lone_bullets[] = { "-", "*", "+", "\u2013", "o", NULL };

/* How many bytes of the line's first word are a bullet: 0 when none. */
static int bullet_len(const dv_page_line *l)
{
    if (l->n_words < 2)
        return 0;
    const char *w = l->words[0].text;
    for (int i = 0; glued_bullets[i]; i++)
        if (g_str_has_prefix(w, glued_bullets[i]))
            return (int)strlen(glued_bullets[i]);
    for (int i = 0; lone_bullets[i]; i++)
        if (strcmp(w, lone_bullets[i]) == 0)
            return (int)strlen(w);
    return 0;
}

/* A block of one or two lines of type well above the usual size. */
static int heading_level(const dv_page_block *b, double usual_h)
{
    if (b->n_lines == 0 || b->n_lines > DV_HEADING_MAX_LINES || usual_h <= 0)
        return 0;
    double least = 1e9;
    for (int l = 0; l < b->n_lines; l++)
        least = MIN(least, dv_box_h(b->lines[l].box) / usual_h);
    return least >= DV_HEADING_RATIO_H1 ? 1 : least >= DV_HEADING_RATIO ? 2 : 0;
}

static void end_block(dv_page_block *b, double usual_h)
{
    if (b)
        b->heading = heading_level(b, usual_h);
}

void dv_line_page_fill(const dv_line_cuts *c, char *const *seg_text, dv_page_result *p)
{
    dv_page_block *blk = NULL;
    int blk_of = -1, k = 0;
    for (int i = 0; i < c->n_lines; i++) {
        const dv_cut_line *cl = &c->lines[i];
        dv_page_line line = { .box = cl->box };
        int read_prev = 0;
        for (int s = 0; s < cl->n_segs; s++, k++) {
            int join = read_prev && cl->segs[s].joins_prev;
            read_prev = seg_text[k] && add_segment_words(&line, cl, &cl->segs[s], seg_text[k], join);
        }
        if (line.n_words == 0) {
            g_free(line.words);
            continue;
        }
        if (!blk || cl->block != blk_of) {
            end_block(blk, c->usual_h);
            blk = dv_page_add_block(p, line.box);
            blk_of = cl->block;
        }
        line.bullet = bullet_len(&line);
        *dv_page_block_add_line(blk, line.box) = line;
        blk->box = dv_box_cover(blk->box, line.box);
    }
    end_block(blk, c->usual_h);
    g_free(p->text);
    p->text = dv_page_text_from_blocks(p);
}
