/* Page results: building, freeing, and laying model text out on lines.
 * Allocation goes through GLib, whose policy is to abort on exhaustion; the
 * sizes here are bounded by a page's text. */
#include "out/page.h"

#include <glib.h>
#include <math.h>
#include <string.h>

void dv_page_init(dv_page_result *p, int page_no, int width, int height, double dpi)
{
    memset(p, 0, sizeof *p);
    p->page_no = page_no;
    p->width = width;
    p->height = height;
    p->dpi = dpi;
}

static void clear_blocks(dv_page_result *p)
{
    for (int b = 0; b < p->n_blocks; b++) {
        dv_page_block *bl = &p->blocks[b];
        for (int l = 0; l < bl->n_lines; l++) {
            for (int w = 0; w < bl->lines[l].n_words; w++)
                g_free(bl->lines[l].words[w].text);
            g_free(bl->lines[l].words);
        }
        g_free(bl->lines);
    }
    g_free(p->blocks);
    p->blocks = NULL;
    p->n_blocks = 0;
}

void dv_page_table_free(dv_page_table *t)
{
    for (int k = 0; t->cells && k < t->n_rows * t->n_cols; k++)
        g_free(t->cells[k]);
    g_free(t->cells);
    g_free(t->spans);
    memset(t, 0, sizeof *t);
}

void dv_page_tables_free(dv_page_tables *t)
{
    for (int i = 0; i < t->n_tables; i++)
        dv_page_table_free(&t->tables[i]);
    g_free(t->tables);
    g_free(t->word_table);
    memset(t, 0, sizeof *t);
}

void dv_page_clear(dv_page_result *p)
{
    if (!p)
        return;
    dv_page_clear_content(p);
    g_free(p->image);
    p->image = NULL;
}

void dv_page_clear_content(dv_page_result *p)
{
    clear_blocks(p);
    dv_page_tables_free(&p->tables);
    g_free(p->text);
    p->text = NULL;
}

void dv_page_take_blocks(dv_page_result *dst, dv_page_result *src)
{
    dst->blocks = g_renew(dv_page_block, dst->blocks, dst->n_blocks + src->n_blocks);
    memcpy(dst->blocks + dst->n_blocks, src->blocks, (size_t)src->n_blocks * sizeof *src->blocks);
    dst->n_blocks += src->n_blocks;
    g_free(src->blocks);
    src->blocks = NULL;
    src->n_blocks = 0;
}

dv_page_block *dv_page_add_block(dv_page_result *p, dv_box box)
{
    p->blocks = g_renew(dv_page_block, p->blocks, p->n_blocks + 1);
    dv_page_block *b = &p->blocks[p->n_blocks++];
    memset(b, 0, sizeof *b);
    b->box = box;
    return b;
}

dv_page_line *dv_page_block_add_line(dv_page_block *b, dv_box box)
{
    b->lines = g_renew(dv_page_line, b->lines, b->n_lines + 1);
    dv_page_line *l = &b->lines[b->n_lines++];
    memset(l, 0, sizeof *l);
    l->box = box;
    return l;
}

dv_page_word *dv_page_line_add_word(dv_page_line *l, const char *text, size_t len, dv_box box)
{
    l->words = g_renew(dv_page_word, l->words, l->n_words + 1);
    dv_page_word *w = &l->words[l->n_words++];
    w->text = g_strndup(text, len);
    w->box = box;
    return w;
}

char *dv_page_text_from_blocks(const dv_page_result *p)
{
    GString *s = g_string_new(NULL);
    for (int b = 0; b < p->n_blocks; b++) {
        if (b > 0)
            g_string_append_c(s, '\n');
        const dv_page_block *bl = &p->blocks[b];
        for (int l = 0; l < bl->n_lines; l++) {
            for (int w = 0; w < bl->lines[l].n_words; w++) {
                if (w > 0)
                    g_string_append_c(s, ' ');
                g_string_append(s, bl->lines[l].words[w].text);
            }
            g_string_append_c(s, '\n');
        }
    }
    return g_string_free(s, FALSE);
}

/* A line's extent while text is laid out on it, in fractions of a pixel. */
typedef struct extent {
    double x0, y0, x1, y1;
} extent;

/* Rounded outwards, as hOCR has always printed these boxes; the cover of
 * rounded boxes is then the rounded cover. */
static dv_box rounded(extent r)
{
    return (dv_box){ (int)floor(r.x0), (int)floor(r.y0), (int)ceil(r.x1), (int)ceil(r.y1) };
}

/* Words of one text line get slices of the line's extent r proportional to
 * their length in characters (plus one for the space), the usual estimate
 * when only the line's extent is known. */
static void place_words(dv_page_line *line, const char *text, extent r)
{
    char **words = g_strsplit_set(text, " \t", -1);
    glong total = 0;
    for (char **w = words; *w; w++)
        if (**w)
            total += g_utf8_strlen(*w, -1) + 1;
    double width = r.x1 - r.x0;
    double x = r.x0;
    for (char **w = words; *w; w++) {
        if (!**w)
            continue;
        double share = width * (double)(g_utf8_strlen(*w, -1) + 1) / (double)total;
        extent b = { x, r.y0, x + share, r.y1 };
        dv_page_line_add_word(line, *w, strlen(*w), rounded(b));
        x += share;
    }
    g_strfreev(words);
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!g_ascii_isspace(*s))
            return 0;
    return 1;
}

/* Without detected lines, text lines are stacked in equal strips inside the
 * page's margins, so every word still has a plausible box. */
static extent stacked_line(const dv_page_result *p, int i, int n)
{
    double mx = p->width * 0.05, my = p->height * 0.05;
    double h = (p->height - 2 * my) / (n > 0 ? n : 1);
    extent b = { mx, my + i * h, p->width - mx, my + (i + 1) * h };
    return b;
}

/* Which detected line text line i goes on: one to one while there are
 * enough boxes, else spread evenly so the text still covers every box. */
static int line_slot(int i, int n_text, int n_lines)
{
    if (n_text <= n_lines)
        return i;
    return (int)((long long)i * n_lines / n_text);
}

/* Text lines that share one detected box split it into horizontal strips. */
static extent slot_box(const dv_box *lines, int n_lines, int i, int n_text)
{
    int k = line_slot(i, n_text, n_lines);
    int first = i, last = i;
    while (first > 0 && line_slot(first - 1, n_text, n_lines) == k)
        first--;
    while (last + 1 < n_text && line_slot(last + 1, n_text, n_lines) == k)
        last++;
    dv_box l = lines[k];
    double h = (double)(l.y1 - l.y0) / (last - first + 1);
    double y0 = l.y0 + (i - first) * h;
    extent b = { l.x0, y0, l.x1, y0 + h };
    return b;
}

int dv_page_align_text(dv_page_result *p, const dv_box *lines, int n_lines, dv_err *e)
{
    if (n_lines < 0 || (n_lines > 0 && !lines))
        return dv_fail(e, DOCVL_EINVAL, "aligning page %d: bad line list", p->page_no);
    clear_blocks(p);
    if (!p->text)
        return DOCVL_OK;
    char **tl = g_strsplit(p->text, "\n", -1);
    int n_text = 0;
    for (char **t = tl; *t; t++)
        if (!is_blank(*t))
            n_text++;
    dv_box empty = { 0, 0, 0, 0 };
    dv_page_block *blk = n_text > 0 ? dv_page_add_block(p, empty) : NULL;
    int i = 0;
    for (char **t = tl; *t && blk; t++) {
        if (is_blank(*t))
            continue;
        extent r = n_lines == 0 ? stacked_line(p, i, n_text)
                                : slot_box(lines, n_lines, i, n_text);
        dv_page_line *ln = dv_page_block_add_line(blk, rounded(r));
        g_strstrip(*t);
        place_words(ln, *t, r);
        blk->box = dv_box_cover(blk->box, ln->box);
        i++;
    }
    g_strfreev(tl);
    return DOCVL_OK;
}
