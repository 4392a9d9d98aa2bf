/* Rendered document tiles: repeatable from the seed, transcription made of
 * the drawn words, ink where the words are and paper elsewhere, Markdown
 * with GFM tables, files written. */
#include <glib.h>
#include <string.h>

#include "testutil.h"
#include "train/render.h"

static const char TEXT[] =
    "Quarterly report of the regional office covering sales revenue costs and "
    "staff numbers for the northern and southern districts with notes on the "
    "budget forecast and the plan for next year including new hires training "
    "and equipment purchases approved by the board in March";

static void render(const dv_render_opts *o, uint64_t seed, dv_rendered *r)
{
    dv_render_words w;
    dv_err e = {0};
    g_assert_cmpint(dv_render_words_from_text(TEXT, &w, &e), ==, 0);
    g_assert_cmpint(dv_render_tile(o, &w, seed, r, &e), ==, 0);
    dv_render_words_free(&w);
}

static void test_repeatable(void)
{
    dv_render_opts o = DV_RENDER_DEFAULTS;
    o.width = o.height = 320;
    o.min_px = 12;
    o.max_px = 18;
    dv_rendered a, b, c;
    render(&o, 5, &a);
    render(&o, 5, &b);
    render(&o, 6, &c);
    size_t n = (size_t)a.image.w * a.image.h * 3;
    g_assert_cmpmem(a.image.rgb, n, b.image.rgb, n);
    g_assert_cmpstr(a.text, ==, b.text);
    g_assert_cmpstr(a.markdown, ==, b.markdown);
    g_assert_true(strcmp(a.text, c.text) != 0 || memcmp(a.image.rgb, c.image.rgb, n) != 0);
    dv_rendered_free(&a);
    dv_rendered_free(&b);
    dv_rendered_free(&c);
}

static int is_word_of(const char *w)
{
    char *pat = g_strdup_printf(" %s ", w);
    char *hay = g_strdup_printf(" %s ", TEXT);
    int ok = strstr(hay, pat) != NULL;
    g_free(pat);
    g_free(hay);
    return ok;
}

static int numeric(const char *w)
{
    return *w && strspn(w, "0123456789.") == strlen(w);
}

static void test_transcription_words(void)
{
    dv_render_opts o = DV_RENDER_DEFAULTS;
    o.width = o.height = 400;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        dv_rendered r;
        render(&o, seed, &r);
        char **tokens = g_strsplit_set(r.text, " \n\t", -1);
        int words = 0;
        for (char **t = tokens; *t; t++) {
            if (!**t || numeric(*t) || strcmp(*t, "-") == 0 ||
                (g_str_has_suffix(*t, ".") && numeric(*t)))
                continue;
            char *plain = g_strdup(*t);
            size_t l = strlen(plain);
            if (l > 1 && plain[l - 1] == '.' && numeric(plain))
                plain[l - 1] = 0;
            /* words are whole words of the source, or a too-wide one cut */
            g_assert_true(is_word_of(plain) || strstr(TEXT, plain));
            g_free(plain);
            words++;
        }
        g_assert_cmpint(words, >, 5);
        g_strfreev(tokens);
        dv_rendered_free(&r);
    }
}

static int dark(const dv_image *im, int x, int y)
{
    const uint8_t *p = im->rgb + ((size_t)y * im->w + x) * 3;
    return p[0] + p[1] + p[2] < 3 * 128;
}

/* Dark pixels inside the word boxes (grown a little for the skew) against
 * dark pixels outside them. */
static void test_ink_where_text_is(void)
{
    dv_render_opts o = DV_RENDER_DEFAULTS;
    o.width = o.height = 384;
    o.scan = 0.3;
    dv_rendered r;
    render(&o, 11, &r);
    g_assert_cmpint(r.n_boxes, >, 3);
    uint8_t *in = g_malloc0((size_t)r.image.w * r.image.h);
    for (int b = 0; b < r.n_boxes; b++)
        for (int y = r.boxes[b].y - 6; y < r.boxes[b].y + r.boxes[b].h + 6; y++)
            for (int x = r.boxes[b].x - 6; x < r.boxes[b].x + r.boxes[b].w + 6; x++)
                if (x >= 0 && y >= 0 && x < r.image.w && y < r.image.h)
                    in[(size_t)y * r.image.w + x] = 1;
    long ink_in = 0, ink_out = 0, n_in = 0;
    for (int y = 0; y < r.image.h; y++)
        for (int x = 0; x < r.image.w; x++) {
            int d = dark(&r.image, x, y), i = in[(size_t)y * r.image.w + x];
            n_in += i;
            ink_in += d && i;
            ink_out += d && !i;
        }
    g_assert_cmpint(ink_in, >, n_in / 50);
    /* table rules are ink outside word boxes: allow a little */
    g_assert_cmpint(ink_out, <, ink_in / 5);
    /* every word box holds ink */
    for (int b = 0; b < r.n_boxes; b++) {
        int any = 0;
        for (int y = r.boxes[b].y; y < r.boxes[b].y + r.boxes[b].h && !any; y++)
            for (int x = r.boxes[b].x - 4; x < r.boxes[b].x + r.boxes[b].w + 4 && !any; x++)
                if (x >= 0 && y >= 0 && x < r.image.w && y < r.image.h)
                    any = dark(&r.image, x, y);
        g_assert_true(any);
    }
    g_free(in);
    dv_rendered_free(&r);
}

static void test_markdown_tables(void)
{
    dv_render_opts o = DV_RENDER_DEFAULTS;
    o.width = o.height = 700;
    int tables = 0, headings = 0, lists = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        dv_rendered r;
        render(&o, seed, &r);
        if (strstr(r.markdown, "| --- |")) {
            tables++;
            /* the header row comes just before the rule row */
            const char *rule = strstr(r.markdown, "\n| --- |");
            g_assert_nonnull(rule);
            g_assert_true(rule > r.markdown && rule[-1] == '|');
        }
        headings += strstr(r.markdown, "# ") != NULL;
        lists += strstr(r.markdown, "\n- ") != NULL || strstr(r.markdown, "\n1. ") != NULL ||
                 g_str_has_prefix(r.markdown, "- ") || g_str_has_prefix(r.markdown, "1. ");
        dv_rendered_free(&r);
    }
    g_assert_cmpint(tables, >, 0);
    g_assert_cmpint(headings, >, 0);
    g_assert_cmpint(lists, >, 0);
}

static void test_write_and_errors(void)
{
    dv_render_opts o = DV_RENDER_DEFAULTS;
    o.width = o.height = 128;
    o.min_px = o.max_px = 12;
    o.plain = 1;
    dv_rendered r;
    render(&o, 3, &r);
    char *dir = test_tmpdir();
    char *stem = g_build_filename(dir, "tile", NULL);
    dv_err e = {0};
    g_assert_cmpint(dv_rendered_write(&r, stem, &e), ==, 0);
    char *png = g_strconcat(stem, ".png", NULL), *txt = g_strconcat(stem, ".txt", NULL);
    char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(png, &data, &len, NULL));
    g_assert_cmpmem(data, 8, "\x89PNG\r\n\x1a\n", 8);
    g_free(data);
    g_assert_true(g_file_get_contents(txt, &data, &len, NULL));
    g_assert_cmpstr(data, ==, r.text);
    g_free(data);
    g_assert_cmpint(dv_rendered_write(&r, "/nonexistent/dir/tile", &e), ==, DOCVL_EIO);
    dv_rendered_free(&r);

    dv_render_words w;
    dv_err e2 = {0};
    g_assert_cmpint(dv_render_words_from_text(" \n ", &w, &e2), ==, DOCVL_EINVAL);
    dv_render_words_free(&w);
    g_assert_cmpint(dv_render_words_from_text("a b", &w, &e2), ==, 0);
    o.width = 10;
    dv_err e3 = {0};
    g_assert_cmpint(dv_render_tile(&o, &w, 1, &r, &e3), ==, DOCVL_EINVAL);
    dv_render_words_free(&w);
    test_rmtree(dir);
    g_free(png);
    g_free(txt);
    g_free(stem);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/render/repeatable", test_repeatable);
    g_test_add_func("/render/transcription_words", test_transcription_words);
    g_test_add_func("/render/ink_where_text_is", test_ink_where_text_is);
    g_test_add_func("/render/markdown_tables", test_markdown_tables);
    g_test_add_func("/render/write_and_errors", test_write_and_errors);
    return g_test_run();
}
