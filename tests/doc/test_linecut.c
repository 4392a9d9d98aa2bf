/* Cutting text lines into segments for a line-reading model: cuts at word
 * gaps when the span has one, every ink column in exactly one segment,
 * crops of the wanted shape, a word wider than the span cut between its
 * letters or, with no gap at all, at its thinnest column; detached dots
 * read with their line, neighbours' ink kept out of the margins. */
#include <math.h>
#include <string.h>

#include "doc/layout.h"
#include "doc/linecut.h"
#include "glyphpage.h"
#include "testutil.h"

static int column_has_ink(const dv_image *im, int x, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        if (im->rgb[((size_t)y * im->w + x) * 3] < 128)
            return 1;
    return 0;
}

/* Segments of each line are ordered and disjoint, and together hold every
 * column of the line's box that has ink; crops keep the aspect. */
static void assert_partition(const dv_image *im, const dv_line_cuts *c, double aspect)
{
    for (int i = 0; i < c->n_lines; i++) {
        const dv_cut_line *l = &c->lines[i];
        g_assert_cmpint(l->n_segs, >, 0);
        for (int x = l->box.x0; x < l->box.x1; x++) {
            int holders = 0;
            for (int s = 0; s < l->n_segs; s++)
                holders += x >= l->segs[s].ink.x0 && x < l->segs[s].ink.x1;
            if (column_has_ink(im, x, l->box.y0, l->box.y1))
                g_assert_cmpint(holders, ==, 1);
            else
                g_assert_cmpint(holders, <=, 1);
        }
        for (int s = 0; s < l->n_segs; s++) {
            dv_box cr = l->segs[s].crop;
            g_assert_cmpfloat((double)dv_box_w(cr) / dv_box_h(cr), <=, aspect);
            g_assert_true(dv_box_w(dv_box_intersect(cr, l->segs[s].ink)) ==
                          dv_box_w(l->segs[s].ink));
            if (s > 0)
                g_assert_cmpint(l->segs[s].ink.x0, >=, l->segs[s - 1].ink.x1);
        }
    }
}

static void cut(const dv_image *im, double aspect, dv_layout *lay, dv_line_cuts *c)
{
    dv_err e = { 0 };
    g_assert_cmpint(dv_layout_analyze(im, NULL, lay, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_lines_cut(im, lay, aspect, c, &e), ==, DOCVL_OK);
}

static const char *const prose[] = {
    "the quick brown fox jumps over the lazy dog",
    "pack my box with five dozen liquor jugs now",
    "sphinx of black quartz judge my vow 12345",
};

/* Lines longer than the span are cut only between words, never inside
 * one, and each segment's ink words are its drawn words. */
static void test_cuts_at_word_gaps(void)
{
    dv_image im = glyph_page(1400, 300);
    for (int i = 0; i < 3; i++)
        glyph_draw(&im, 40, 40 + 60 * i, GLYPH_H, prose[i]);
    dv_layout lay;
    dv_line_cuts c;
    cut(&im, 8, &lay, &c);
    g_assert_cmpint(c.n_lines, ==, 3);
    assert_partition(&im, &c, 8);
    for (int i = 0; i < 3; i++) {
        const dv_cut_line *l = &c.lines[i];
        g_assert_cmpint(l->n_segs, >, 2);
        g_assert_false(l->segs[0].joins_prev);
        for (int s = 1; s < l->n_segs; s++) {
            g_assert_cmpint(l->segs[s].ink.x0 - l->segs[s - 1].ink.x1, ==, WORD_GAP);
            g_assert_false(l->segs[s].joins_prev);
        }
        char **words = g_strsplit(prose[i], " ", -1);
        g_assert_cmpint(l->n_words, ==, g_strv_length(words));
        for (int w = 0; words[w]; w++) {
            dv_image one = glyph_page(400, GLYPH_H);
            glyph_draw(&one, 0, 0, GLYPH_H, words[w]);
            char *back = glyph_read(&one);
            g_assert_cmpstr(back, ==, words[w]);
            g_assert_cmpint(dv_box_w(l->words[w]), ==, glyph_draw(&one, 0, 0, GLYPH_H, words[w]));
            g_assert_cmpint(dv_box_h(l->words[w]), ==, GLYPH_H);
            g_free(back);
            dv_image_free(&one);
        }
        g_strfreev(words);
    }
    dv_line_cuts_free(&c);
    dv_layout_free(&lay);
    dv_image_free(&im);
}

/* A word wider than the span is cut between its letters; a bar with no
 * gap at all at its thinnest column; both pieces say they continue a word. */
static void test_wide_words(void)
{
    dv_image im = glyph_page(900, 200);
    glyph_draw(&im, 40, 40, GLYPH_H, "zzzzzzzzzzzzzzzz");
    /* a bar 300 wide, only 4 rows thick over columns 160..163 */
    glyph_fill(&im, 40, 120, 160, 120 + GLYPH_H);
    glyph_fill(&im, 160, 120, 164, 124);
    glyph_fill(&im, 164, 120, 340, 120 + GLYPH_H);
    glyph_draw(&im, 360, 120, GLYPH_H, "ab");
    dv_layout lay;
    dv_line_cuts c;
    cut(&im, 6, &lay, &c);
    g_assert_cmpint(c.n_lines, ==, 2);
    assert_partition(&im, &c, 6);
    const dv_cut_line *word = &c.lines[0], *bar = &c.lines[1];
    g_assert_cmpint(word->n_segs, >, 1);
    g_assert_false(word->segs[0].joins_prev);
    for (int s = 1; s < word->n_segs; s++) {
        g_assert_cmpint(word->segs[s].ink.x0 - word->segs[s - 1].ink.x1, ==, GLYPH_GAP);
        g_assert_true(word->segs[s].joins_prev);
    }
    g_assert_cmpint(bar->n_segs, >, 1);
    g_assert_cmpint(bar->segs[0].ink.x1, >=, 160);
    g_assert_cmpint(bar->segs[0].ink.x1, <=, 164);
    g_assert_cmpint(bar->segs[1].ink.x0, ==, bar->segs[0].ink.x1);
    g_assert_true(bar->segs[1].joins_prev);
    dv_line_cuts_free(&c);
    dv_layout_free(&lay);
    dv_image_free(&im);
}

/* Text the model read as as many words as the segment shows gets the ink
 * words' boxes; other counts get proportional slices shrunk to the ink. */
static void test_word_boxes(void)
{
    dv_image im = glyph_page(900, 300);
    glyph_draw(&im, 40, 40, GLYPH_H, "abc def ghi");
    dv_layout lay;
    dv_line_cuts c;
    cut(&im, 40, &lay, &c);
    g_assert_cmpint(c.n_lines, ==, 1);
    const dv_cut_line *l = &c.lines[0];
    g_assert_cmpint(l->n_segs, ==, 1);
    g_assert_cmpint(l->segs[0].n_words, ==, 3);
    int chars3[] = { 3, 3, 3 }, chars2[] = { 7, 3 };
    dv_box b[3];
    dv_segment_word_boxes(l, &l->segs[0], chars3, 3, b);
    for (int i = 0; i < 3; i++)
        g_assert_true(memcmp(&b[i], &l->words[i], sizeof b[i]) == 0);
    dv_segment_word_boxes(l, &l->segs[0], chars2, 2, b);
    g_assert_cmpint(b[0].x0, ==, l->words[0].x0);
    g_assert_cmpint(b[1].x1, ==, l->words[2].x1);
    g_assert_cmpint(b[0].x1, <=, b[1].x0);
    for (int i = 0; i < 2; i++)
        g_assert_true(column_has_ink(&im, b[i].x0, b[i].y0, b[i].y1));
    dv_line_cuts_free(&c);
    dv_layout_free(&lay);
    dv_image_free(&im);
}

/* A layout made by hand: one block per line. */
static dv_layout hand_layout(dv_box *lines, int n, int w, int h)
{
    dv_layout l = { .page_w = w, .page_h = h, .lines = lines, .n_lines = n, .n_columns = 1 };
    l.blocks = g_new0(dv_block, n);
    for (int i = 0; i < n; i++)
        l.blocks[i] = (dv_block){ lines[i], DV_BLOCK_TEXT, i, 1 };
    l.n_blocks = n;
    return l;
}

/* A dot the layout left as a line of its own is read with the line it sits
 * on; ink of the line above reaching into a crop's margin is painted over. */
static void test_fragments_and_margins(void)
{
    dv_image im = glyph_page(600, 200);
    glyph_draw(&im, 40, 40, GLYPH_H, "abc def");
    glyph_fill(&im, 60, 40 + GLYPH_H, 64, 72);        /* a descender down to row 72 */
    glyph_draw(&im, 40, 74, GLYPH_H, "ghi jkl");
    glyph_fill(&im, 100, 30, 106, 36);                /* a dot above the first line */
    dv_box boxes[] = { { 40, 40, 200, 72 }, { 40, 74, 200, 74 + GLYPH_H }, { 100, 30, 106, 36 } };
    dv_layout lay = hand_layout(boxes, 3, im.w, im.h);
    dv_line_cuts c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_lines_cut(&im, &lay, 20, &c, &e), ==, DOCVL_OK);
    g_assert_cmpint(c.lines[2].n_segs, ==, 0);
    g_assert_cmpint(c.lines[0].box.y0, ==, 30);
    g_assert_cmpint(c.n_segs, ==, 2);
    const dv_cut_line *second = &c.lines[1];
    g_assert_cmpint(second->segs[0].crop.y0, <, 72);
    dv_image seg = { 0 };
    g_assert_cmpint(dv_segment_image(&im, second, &second->segs[0], &seg, &e), ==, DOCVL_OK);
    for (int y = 0; y < second->box.y0 - second->segs[0].crop.y0; y++)
        for (int x = 0; x < seg.w; x++)
            g_assert_cmpint(seg.rgb[((size_t)y * seg.w + x) * 3], ==, 255);
    char *text = glyph_read(&seg);
    g_assert_cmpstr(text, ==, "ghi jkl");
    g_free(text);
    dv_image_free(&seg);
    dv_line_cuts_free(&c);
    g_free(lay.blocks);
    dv_image_free(&im);
}

/* A segment read with other vertical margins: the same ink rows with
 * paper grown or cut above and below by the margin's difference in margin
 * units (rows past the page's edge painted paper), the cut's own margin
 * giving the cut's image; the text reads the same at every margin. */
static void test_segment_margins(void)
{
    dv_image im = glyph_page(600, 120);
    glyph_draw(&im, 40, 8, GLYPH_H, "abc def");        /* near the top: margins reach past it */
    dv_box boxes[] = { { 40, 8, 200, 8 + GLYPH_H } };
    dv_layout lay = hand_layout(boxes, 1, im.w, im.h);
    dv_line_cuts c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_lines_cut(&im, &lay, 20, &c, &e), ==, DOCVL_OK);
    const dv_cut_line *l = &c.lines[0];
    const dv_segment *s = &l->segs[0];
    g_assert_cmpfloat_with_epsilon(s->margin_unit, GLYPH_H, 1e-9); /* the usual line */
    dv_image base = { 0 }, same = { 0 }, wide = { 0 }, tight = { 0 };
    g_assert_cmpint(dv_segment_image(&im, l, s, &base, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_segment_image_margin(&im, l, s, DV_LINE_VMARGIN, &same, &e), ==, DOCVL_OK);
    g_assert_cmpint(same.h, ==, base.h);
    g_assert_cmpmem(same.rgb, (size_t)same.w * same.h * 3, base.rgb, (size_t)base.w * base.h * 3);
    g_assert_cmpint(dv_segment_image_margin(&im, l, s, 0.40, &wide, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_segment_image_margin(&im, l, s, 0.10, &tight, &e), ==, DOCVL_OK);
    int grow = (int)lround((0.40 - DV_LINE_VMARGIN) * s->margin_unit);
    int cut = (int)lround((DV_LINE_VMARGIN - 0.10) * s->margin_unit);
    g_assert_cmpint(wide.w, ==, base.w);
    g_assert_cmpint(wide.h, ==, base.h + 2 * grow);
    g_assert_cmpint(tight.h, ==, base.h - 2 * cut);
    size_t row = (size_t)base.w * 3;
    for (int y = 0; y < base.h; y++)
        g_assert_cmpmem(wide.rgb + (size_t)(y + grow) * row, row, base.rgb + (size_t)y * row, row);
    for (int y = 0; y < grow; y++)
        for (size_t x = 0; x < row; x++)
            g_assert_cmpint(wide.rgb[(size_t)y * row + x], ==, 255);
    for (int y = 0; y < tight.h; y++)
        g_assert_cmpmem(tight.rgb + (size_t)y * row, row, base.rgb + (size_t)(y + cut) * row, row);
    dv_image *all[] = { &base, &wide, &tight };
    for (int i = 0; i < 3; i++) {
        char *text = glyph_read(all[i]);
        g_assert_cmpstr(text, ==, "abc def");
        g_free(text);
        dv_image_free(all[i]);
    }
    dv_image_free(&same);
    dv_line_cuts_free(&c);
    g_free(lay.blocks);
    dv_image_free(&im);
}

/* A paragraph's last line of x-height letters ("room.", about half a full
 * line high) right under a full line is a line of its own, read alone; a
 * mark as low but narrow (an accent, a dot left as a line) still joins the
 * line beside it. */
static void test_low_last_line(void)
{
    enum { LOW = GLYPH_H * 45 / 100 };
    dv_image im = glyph_page(600, 200);
    glyph_draw(&im, 40, 40, GLYPH_H, "abc def ghi");
    glyph_fill(&im, 60, 40 + GLYPH_H, 64, 72);        /* a descender down to row 72 */
    int x1 = glyph_draw(&im, 40, 76, LOW, "mno.");
    glyph_fill(&im, 200, 76, 204, 76 + LOW);           /* a narrow mark as low */
    dv_box boxes[] = { { 40, 40, 260, 72 }, { 40, 76, x1, 76 + LOW }, { 200, 76, 204, 76 + LOW } };
    dv_layout lay = hand_layout(boxes, 3, im.w, im.h);
    dv_line_cuts c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_lines_cut(&im, &lay, 20, &c, &e), ==, DOCVL_OK);
    g_assert_cmpint(c.lines[0].box.x0, ==, 40);
    g_assert_cmpint(c.lines[1].n_segs, ==, 1);
    dv_image seg = { 0 };
    g_assert_cmpint(dv_segment_image(&im, &c.lines[1], &c.lines[1].segs[0], &seg, &e), ==,
                    DOCVL_OK);
    char *text = glyph_read(&seg);
    g_assert_cmpstr(text, ==, "mno.");
    g_free(text);
    dv_image_free(&seg);
    g_assert_cmpint(c.lines[2].n_segs, ==, 0);          /* the mark went to a full line */
    dv_line_cuts_free(&c);
    g_free(lay.blocks);
    dv_image_free(&im);
}

/* The page's usual line is that of its text, not of the many one-word
 * cells of a table below it (most without descenders): each line counts by
 * its width, and the cells' crops keep the usual line's height, so their
 * type has the size it has in a line of text. */
static void test_usual_line_by_width(void)
{
    enum { TALL = 40, SHORT = 28, CELLS = 5 };
    dv_image im = glyph_page(1200, 600);
    dv_box boxes[1 + CELLS];
    int x1 = glyph_draw(&im, 40, 40, TALL, "the quick brown fox jumps over the lazy dog");
    boxes[0] = (dv_box){ 40, 40, x1, 40 + TALL };
    for (int i = 0; i < CELLS; i++) {
        int y = 120 + 60 * i;
        boxes[1 + i] = (dv_box){ 40, y, glyph_draw(&im, 40, y, SHORT, "abc"), y + SHORT };
    }
    dv_layout lay = hand_layout(boxes, 1 + CELLS, im.w, im.h);
    dv_line_cuts c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_lines_cut(&im, &lay, 20, &c, &e), ==, DOCVL_OK);
    g_assert_cmpfloat(c.usual_h, ==, TALL);
    for (int i = 1; i <= CELLS; i++)
        g_assert_cmpint(dv_box_h(c.lines[i].segs[0].crop), >=, (int)(0.9 * 1.3 * TALL));
    dv_line_cuts_free(&c);
    g_free(lay.blocks);
    dv_image_free(&im);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/linecut/cuts-at-word-gaps", test_cuts_at_word_gaps);
    g_test_add_func("/linecut/wide-words", test_wide_words);
    g_test_add_func("/linecut/word-boxes", test_word_boxes);
    g_test_add_func("/linecut/fragments-and-margins", test_fragments_and_margins);
    g_test_add_func("/linecut/low-last-line", test_low_last_line);
    g_test_add_func("/linecut/segment-margins", test_segment_margins);
    g_test_add_func("/linecut/usual-line-by-width", test_usual_line_by_width);
    return g_test_run();
}
