/* Rendered text lines: repeatable from the seed, transcriptions of whole
 * words in printable ASCII within the length limits, ink as wide as the
 * text, held-out fonts and texts disjoint from training ones, every
 * degradation within its documented range, bad options refused. Skipped
 * (not failed) when a font family of the table is not installed. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "base/rng.h"
#include "image/decode.h"
#include "testutil.h"
#include "train/render.h"
#include "train/render_line.h"

static const char *const BASE[] = {
    "report", "office", "sales", "revenue", "costs", "staff", "northern", "southern",
    "districts", "notes", "budget", "forecast", "plan", "year", "hires", "training",
    "equipment", "purchases", "approved", "board", "March", "quarterly", "regional", "table",
    "total", "figures", "summary", "account", "balance", "invoice", "payment", "customer",
};

/* 80 paragraphs of 12 words, different enough that both splits get some. */
static char *corpus(void)
{
    GString *g = g_string_new(NULL);
    int n = G_N_ELEMENTS(BASE);
    for (int p = 0; p < 80; p++) {
        for (int w = 0; w < 12; w++)
            g_string_append_printf(g, "%s%s", w ? " " : "", BASE[(p * 7 + w * (p % 5 + 1)) % n]);
        g_string_append(g, p % 3 ? ".\n\n" : ",\n\n");
    }
    return g_string_free(g, FALSE);
}

/* NULL when every family of the split's table is installed. */
static const char *missing_font(dv_split split)
{
    int n;
    const dv_font_entry *t = dv_font_table(&n);
    for (int i = 0; i < n; i++)
        if (t[i].split == split && !dv_font_installed(t[i].family))
            return t[i].family;
    return NULL;
}

typedef struct fixture {
    dv_line_src *src;
    dv_fonts *fonts;
} fixture;

/* 0 (test skipped) when a font is missing. */
static int open_fixture(fixture *fx, const char *fonts, dv_split split)
{
    const char *miss = fonts ? NULL : missing_font(split);
    if (miss) {
        char *why = g_strdup_printf("font family \"%s\" is not installed (scripts/deps)", miss);
        g_test_skip(why);
        g_free(why);
        return 0;
    }
    dv_err e = {0};
    char *text = corpus();
    if (dv_line_src_from_text(text, split, &fx->src, &e) || dv_fonts_open(fonts, split, &fx->fonts, &e))
        g_error("%s", e.msg);
    g_free(text);
    return 1;
}

static void close_fixture(fixture *fx)
{
    dv_line_src_free(fx->src);
    dv_fonts_free(fx->fonts);
}

static void line(const fixture *fx, const dv_line_opts *o, uint64_t seed, dv_line *l)
{
    dv_err e = {0};
    if (dv_render_line(o, fx->src, fx->fonts, seed, l, &e))
        g_error("line %" G_GUINT64_FORMAT ": %s", seed, e.msg);
}

static void test_repeatable(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS;
    int differ = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        dv_line a, b, c;
        line(&fx, &o, seed, &a);
        line(&fx, &o, seed, &b);
        line(&fx, &o, seed + 100, &c);
        g_assert_cmpint(a.image.w, ==, o.width);
        g_assert_cmpint(a.image.h, ==, o.height);
        size_t n = (size_t)a.image.w * a.image.h * 3;
        g_assert_cmpmem(a.image.rgb, n, b.image.rgb, n);
        g_assert_cmpstr(a.text, ==, b.text);
        g_assert_cmpstr(a.look.family, ==, b.look.family);
        differ += strcmp(a.text, c.text) != 0;
        dv_line_free(&a);
        dv_line_free(&b);
        dv_line_free(&c);
    }
    g_assert_cmpint(differ, >=, 6);
    close_fixture(&fx);
}

/* A corpus word, or one dressed in punctuation, in any case. */
static int corpus_word(const char *w)
{
    char *low = g_ascii_strdown(w, -1);
    int ok = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(BASE) && !ok; i++) {
        char *b = g_ascii_strdown(BASE[i], -1);
        ok = strcmp(low, b) == 0 || (strstr(low, b) && strlen(low) <= strlen(b) + 3);
        g_free(b);
    }
    g_free(low);
    return ok;
}

static void check_text(const dv_line *l, const dv_line_opts *o)
{
    const char *t = l->text;
    int n = (int)strlen(t);
    g_assert_cmpint(n, >=, o->min_chars);
    g_assert_cmpint(n, <=, o->max_chars);
    g_assert_true(t[0] != ' ' && t[n - 1] != ' ' && !strstr(t, "  "));
    for (int i = 0; i < n; i++)
        g_assert_true(t[i] >= 0x20 && t[i] <= 0x7e);
    if (strcmp(l->look.kind, "prose") && strcmp(l->look.kind, "punct"))
        return;
    /* running text is cut between words, never inside one */
    char **w = g_strsplit(t, " ", -1);
    for (char **p = w; *p; p++)
        if (!corpus_word(*p))
            g_error("\"%s\" in \"%s\" is not a whole corpus word", *p, t);
    g_strfreev(w);
}

static void test_transcription(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS;
    /* a narrow line: most texts are cut to fit */
    dv_line_opts narrow = o;
    narrow.width = 160;
    narrow.max_chars = 200;
    dv_line_opts curriculum = o;
    curriculum.min_chars = 20;
    curriculum.max_chars = 30;
    int kinds = 0;
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (uint64_t seed = 1; seed <= 120; seed++) {
        const dv_line_opts *opts[] = { &o, &narrow, &curriculum };
        for (int k = 0; k < 3; k++) {
            dv_line l;
            line(&fx, opts[k], seed, &l);
            check_text(&l, opts[k]);
            if (!g_hash_table_contains(seen, l.look.kind)) {
                g_hash_table_add(seen, (gpointer)l.look.kind);
                kinds++;
            }
            dv_line_free(&l);
        }
    }
    g_assert_cmpint(kinds, ==, 8);
    g_hash_table_destroy(seen);
    close_fixture(&fx);
}

static dv_line_words words_of(const char *const *w, int n)
{
    dv_line_words lw = { .n = n, .w = g_new0(char *, n + 1), .gap_em = g_new0(double, n),
                         .kind = "prose" };
    for (int i = 0; i < n; i++)
        lw.w[i] = g_strdup(w[i]);
    return lw;
}

/* A page line's piece: the words within max_chars, the first cut at its
 * start, the last at its end or before a hyphen, each cut strictly inside
 * the word; every kind of piece comes out. */
static void test_pieces(void)
{
    static const char *const W[] = { "department", "of", "transportation", "budget" };
    int seen_start = 0, seen_end = 0, seen_hyphen = 0, seen_both = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        dv_rng r;
        dv_rng_seed(&r, seed);
        dv_line_words lw = words_of(W, 4);
        dv_line_words_piece(&lw, &r, 17);
        g_assert_nonnull(lw.piece);
        g_assert_cmpint(lw.n, ==, 2); /* "department of" fits 17, "transportation" does not */
        g_assert_cmpstr(lw.w[1], !=, "");
        const char *first = lw.w[0], *last = lw.w[1];
        int start = strcmp(first, W[0]) != 0;
        if (start) {
            g_assert_true(g_str_has_suffix(W[0], first));
            g_assert_cmpuint(strlen(first), <, strlen(W[0]));
            g_assert_cmpuint(strlen(first), >=, 1);
        }
        if (strcmp(lw.piece, "hyphen") == 0) {
            g_assert_false(start);
            g_assert_cmpstr(last, ==, "of"); /* too short to hyphenate: left whole */
            seen_hyphen++;
        } else if (strcmp(lw.piece, "start") == 0) {
            g_assert_true(start);
            g_assert_cmpstr(last, ==, "of");
            seen_start++;
        } else {
            g_assert_cmpstr(last, ==, "o");
            g_assert_true(start == (strcmp(lw.piece, "both") == 0));
            seen_end += !start;
            seen_both += start;
        }
        dv_line_words_free(&lw);
    }
    g_assert_cmpint(seen_start, >, 20);
    g_assert_cmpint(seen_end, >, 20);
    g_assert_cmpint(seen_hyphen, >, 20);
    g_assert_cmpint(seen_both, >, 10);
    /* cuts fall between characters: pieces of accented words stay UTF-8 */
    static const char *const A[] = { "\u00e9t\u00e9", "d\u00e9j\u00e0" };
    for (uint64_t seed = 1; seed <= 200; seed++) {
        dv_rng r;
        dv_rng_seed(&r, seed);
        dv_line_words lw = words_of(A, 2);
        dv_line_words_piece(&lw, &r, 40);
        for (int i = 0; i < lw.n; i++)
            g_assert_true(g_utf8_validate(lw.w[i], -1, NULL));
        dv_line_words_free(&lw);
    }
    /* a hyphen goes after at least two letters and leaves two behind */
    for (uint64_t seed = 1; seed <= 200; seed++) {
        dv_rng r;
        dv_rng_seed(&r, seed);
        dv_line_words lw = words_of(W + 2, 1);
        dv_line_words_piece(&lw, &r, 40);
        if (strcmp(lw.piece, "hyphen") == 0) {
            size_t n = strlen(lw.w[0]);
            g_assert_true(lw.w[0][n - 1] == '-');
            g_assert_cmpuint(n - 1, >=, 2);
            g_assert_cmpuint(n - 1, <=, strlen(W[2]) - 2);
            g_assert_true(strncmp(lw.w[0], W[2], n - 1) == 0);
        }
        dv_line_words_free(&lw);
    }
}

/* Lines drawn with pieces = 1 are all pieces and say which in their look;
 * pieces = 0 (the default) draws none and the same lines as before. */
static void test_pieces_drawn(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS, all = o;
    all.pieces = 1;
    int differ = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        dv_line a, b;
        line(&fx, &o, seed, &a);
        line(&fx, &all, seed, &b);
        g_assert_null(a.look.piece);
        g_assert_nonnull(b.look.piece);
        differ += strcmp(a.text, b.text) != 0;
        dv_line_free(&a);
        dv_line_free(&b);
    }
    g_assert_cmpint(differ, >=, 15);
    close_fixture(&fx);
}

/* Quotes turn by where they stand, dashes and ellipses become one
 * character each; other text is left alone. */
static void test_typeset_words(void)
{
    static const char *const W[] = { "\"it's", "(`quoted')", "\"x\".", "a--b", "-",
                                      "wait...", "plain", "'\"nested\"'", "-v" };
    static const char *const T[] = { "\u201cit\u2019s", "(\u2018quoted\u2019)",
                                      "\u201cx\u201d.", "a\u2014b", "\u2013", "wait\u2026",
                                      "plain", "\u2018\u201cnested\u201d\u2019", "-v" };
    dv_line_words lw = words_of(W, 9);
    dv_line_words_typeset(&lw, DV_QUOTES_EN);
    for (int i = 0; i < 9; i++)
        g_assert_cmpstr(lw.w[i], ==, T[i]);
    dv_line_words_free(&lw);
}

/* German and French quotes open and close as their print does; the
 * apostrophe between letters is ’ in both. */
static void test_typeset_quote_styles(void)
{
    static const char *const W[] = { "\"it's", "(`quoted')", "\"x\".", "'\"nested\"'", "don't" };
    static const char *const DE[] = { "\u201eit\u2019s", "(\u201aquoted\u2018)", "\u201ex\u201c.",
                                       "\u201a\u201enested\u201c\u2018", "don\u2019t" };
    static const char *const FR[] = { "\u00abit\u2019s", "(\u2039quoted\u203a)", "\u00abx\u00bb.",
                                       "\u2039\u00abnested\u00bb\u203a", "don\u2019t" };
    for (int style = 0; style < 2; style++) {
        dv_line_words lw = words_of(W, 5);
        dv_line_words_typeset(&lw, style ? DV_QUOTES_FR : DV_QUOTES_DE);
        for (int i = 0; i < 5; i++)
            g_assert_cmpstr(lw.w[i], ==, style ? FR[i] : DE[i]);
        dv_line_words_free(&lw);
    }
}

/* typeset = 1: no line keeps a straight quote or backtick, and some come
 * out with typographic ones; typeset = 0 (the default) keeps the ASCII. */
static void test_typeset_drawn(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS, all = o;
    all.typeset = 1;
    int ascii_quotes = 0, curly = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        dv_line a, b;
        line(&fx, &o, seed, &a);
        line(&fx, &all, seed, &b);
        for (const char *p = a.text; *p; p++)
            g_assert_cmpint((unsigned char)*p, <, 128);
        ascii_quotes += strpbrk(a.text, "\"'") != NULL;
        g_assert_true(g_utf8_validate(b.text, -1, NULL));
        g_assert_null(strpbrk(b.text, "\"'`"));
        curly += strstr(b.text, "\u2019") || strstr(b.text, "\u201c") || strstr(b.text, "\u201d");
        dv_line_free(&a);
        dv_line_free(&b);
    }
    g_assert_cmpint(ascii_quotes, >=, 2);
    g_assert_cmpint(curly, >=, 2);
    close_fixture(&fx);
}

/* quotes = 1: every line has a word in opening and closing quotes, in all
 * three styles over the lines, and keeps no straight quote; quotes = 0
 * leaves German and French quotes out. */
static void test_quotes_drawn(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS, eu = o;
    o.typeset = 1;
    eu.quotes = 1;
    static const char *const OPEN[] = { "\u201c", "\u2018", "\u201e", "\u201a", "\u00ab", "\u2039" };
    int by_style[3] = {0}, quoted = 0;
    for (uint64_t seed = 1; seed <= 150; seed++) {
        dv_line b;
        line(&fx, &eu, seed, &b);
        g_assert_true(g_utf8_validate(b.text, -1, NULL));
        g_assert_null(strpbrk(b.text, "\"'`"));
        int opened = 0;
        for (int k = 0; k < 6; k++)
            if (strstr(b.text, OPEN[k])) {
                opened = 1;
                by_style[k / 2]++;
            }
        if (!opened)
            g_test_message("no quote: %s", b.text);
        quoted += opened;
        dv_line_free(&b);
    }
    /* a line's last words are left out when they do not fit its width */
    g_assert_cmpint(quoted, >=, 120);
    for (int k = 0; k < 3; k++)
        g_assert_cmpint(by_style[k], >=, 20);
    for (uint64_t seed = 1; seed <= 100; seed++) {
        dv_line a;
        line(&fx, &o, seed, &a);
        g_assert_null(strstr(a.text, "\u201e"));
        g_assert_null(strstr(a.text, "\u00ab"));
        dv_line_free(&a);
    }
    close_fixture(&fx);
}

/* A word of two or more letters, all of them capitals. */
static int has_caps_word(const char *text)
{
    char **w = g_strsplit(text, " ", -1);
    int found = 0;
    for (int i = 0; w[i] && !found; i++) {
        int letters = 0, upper = 1;
        for (const char *p = w[i]; *p; p = g_utf8_next_char(p)) {
            gunichar c = g_utf8_get_char(p);
            if (g_unichar_isalpha(c)) {
                letters++;
                upper &= g_unichar_isupper(c);
            }
        }
        found = letters >= 2 && upper;
    }
    g_strfreev(w);
    return found;
}

static void test_caps_drawn(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts plain = DV_LINE_DEFAULTS, caps = plain;
    caps.caps = 1;
    int with = 0, without = 0, lower_too = 0;
    for (uint64_t seed = 1; seed <= 150; seed++) {
        dv_line a, b;
        line(&fx, &plain, seed, &a);
        line(&fx, &caps, seed, &b);
        g_assert_true(g_utf8_validate(b.text, -1, NULL));
        without += has_caps_word(a.text);
        with += has_caps_word(b.text);
        char *up = g_utf8_strup(b.text, -1);
        lower_too += strcmp(up, b.text) != 0;   /* not the whole line in capitals */
        g_free(up);
        dv_line_free(&a);
        dv_line_free(&b);
    }
    g_test_message("lines with a word in capitals: %d of 150 plain, %d with caps", without, with);
    /* words of one letter or digits only stay as they are */
    g_assert_cmpint(with, >=, 110);
    g_assert_cmpint(without, <=, 60);
    g_assert_cmpint(lower_too, >=, 40);
    dv_line_opts bad = caps;
    bad.caps = 1.5;
    dv_line l;
    dv_err e = { 0 };
    g_assert_cmpint(dv_render_line(&bad, fx.src, fx.fonts, 1, &l, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "capitals"));
    close_fixture(&fx);
}

/* Liberation Mono alone; 0 (test skipped) when it is not installed. */
static int open_mono_fixture(fixture *fx)
{
    if (!dv_font_installed("Liberation Mono")) {
        g_test_skip("Liberation Mono is not installed (scripts/deps)");
        return 0;
    }
    return open_fixture(fx, "Liberation Mono", DV_SPLIT_TRAIN);
}

/* Columns of paper between the first and the last column of ink, over the
 * columns of ink. */
static double paper_over_ink(const dv_image *im)
{
    int first = -1, last = -1, ink_cols = 0;
    for (int x = 0; x < im->w; x++) {
        int ink = 0;
        for (int y = 0; y < im->h && !ink; y++)
            ink = im->rgb[((size_t)y * im->w + x) * 3] < 160;
        if (ink) {
            first = first < 0 ? x : first;
            last = x;
            ink_cols++;
        }
    }
    return ink_cols ? (double)(last - first + 1 - ink_cols) / ink_cols : 0;
}

/* 1 when the text is characters one space apart (t h e n). */
static int letters_spaced(const char *text)
{
    int chars = 0;
    for (const char *p = text; *p; p = g_utf8_next_char(p), chars++)
        if ((chars % 2 == 1) != (*p == ' '))
            return 0;
    return chars >= 3;
}

/* In Liberation Mono a glyph's ink is most of its 0.6 em advance, so a
 * word's letters leave little paper between them (a fifth to two fifths
 * of the ink); a line spaced letter by letter adds 0.45 em or more after
 * each: more paper than two thirds of the ink. Half the lines are. */
static void test_spaced_drawn(void)
{
    fixture fx;
    if (!open_mono_fixture(&fx))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS;
    o.scan = 0;
    o.spaced = 1;
    o.max_chars = 24;
    int spaced = 0, words = 0;
    for (uint64_t seed = 1; seed <= 120; seed++) {
        dv_line l;
        line(&fx, &o, seed, &l);
        if (letters_spaced(l.text)) {
            double r = paper_over_ink(&l.image);
            if (r < 0.67)
                g_error("\"%s\": %.2f of paper over ink", l.text, r);
            spaced++;
        } else {
            words++;
        }
        dv_line_free(&l);
    }
    g_test_message("letters spaced: %d of 120", spaced);
    g_assert_cmpint(spaced, >=, 30);
    g_assert_cmpint(words, >=, 30);
    close_fixture(&fx);
}

/* Small capitals are transcribed in capitals. */
static void test_small_caps_drawn(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS;
    o.small_caps = 1;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        dv_line l;
        line(&fx, &o, seed, &l);
        char *up = g_utf8_strup(l.text, -1);
        if (strcmp(up, l.text))
            g_error("\"%s\" in small capitals has lower case", l.text);
        g_free(up);
        dv_line_free(&l);
    }
    dv_line_opts bad = o;
    bad.small_caps = -0.1;
    dv_line l;
    dv_err e = { 0 };
    g_assert_cmpint(dv_render_line(&bad, fx.src, fx.fonts, 1, &l, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "small capitals"));
    close_fixture(&fx);
}

/* A bullet starts most lines at --bullets 1, always before a word, never
 * where the line starts inside a word. */
static void test_bullets_drawn(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS;
    o.bullets = 1;
    o.pieces = 0.5;
    int with = 0;
    for (uint64_t seed = 1; seed <= 120; seed++) {
        dv_line l;
        line(&fx, &o, seed, &l);
        if (g_str_has_prefix(l.text, "\u2022")) {
            with++;
            g_assert_true(g_str_has_prefix(l.text, "\u2022 "));
            g_assert_cmpint(strlen(l.text), >, strlen("\u2022 "));
            g_assert_true(!l.look.piece || strcmp(l.look.piece, "start") != 0);
        }
        g_assert_null(strstr(l.text + 1, "\u2022"));
        dv_line_free(&l);
    }
    g_test_message("lines with a bullet: %d of 120", with);
    g_assert_cmpint(with, >=, 50);
    dv_line_opts bad = o;
    bad.bullets = 2;
    dv_line l;
    dv_err e = { 0 };
    g_assert_cmpint(dv_render_line(&bad, fx.src, fx.fonts, 1, &l, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "bullet"));
    close_fixture(&fx);
}

/* Columns holding ink on a clean line (paper is exactly white at --scan 0). */
static void ink_columns(const dv_image *im, int *first, int *last)
{
    *first = -1;
    *last = -1;
    for (int x = 0; x < im->w; x++)
        for (int y = 0; y < im->h; y++)
            if (im->rgb[((size_t)y * im->w + x) * 3] < 160) {
                if (*first < 0)
                    *first = x;
                *last = x;
                break;
            }
}

/* In a monospaced face each character advances 0.6 em, and the em is the
 * line height over 1.25 to 1.6: the ink is as wide as the transcription. */
static void test_ink_as_wide_as_text(void)
{
    fixture fx;
    if (!open_mono_fixture(&fx))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS;
    o.scan = 0;
    o.min_chars = 6;
    int checked = 0;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        dv_line l;
        line(&fx, &o, seed, &l);
        int first, last;
        ink_columns(&l.image, &first, &last);
        g_assert_cmpint(first, >=, 0);
        g_assert_cmpint(last, <, o.width - 1);
        if (strcmp(l.look.kind, "cells") != 0) {
            double per_char = (last - first + 1.0) / strlen(l.text);
            if (per_char < 0.28 * o.height || per_char > 0.5 * o.height)
                g_error("\"%s\": %.1f px a character", l.text, per_char);
            checked++;
        }
        g_assert_cmpfloat(l.look.paper, ==, 1);
        g_assert_cmpint(l.image.rgb[0], ==, 255);
        dv_line_free(&l);
    }
    g_assert_cmpint(checked, >, 30);
    /* --crop ends the image a little after the ink */
    o.crop = 1;
    dv_line l;
    line(&fx, &o, 7, &l);
    int first, last;
    ink_columns(&l.image, &first, &last);
    g_assert_cmpint(l.image.w, <=, o.width);
    g_assert_cmpint(l.image.w - last, <=, o.height / 4 + 2);
    dv_line_free(&l);
    close_fixture(&fx);
}

static int in_split_table(const char *family, dv_split split)
{
    int n;
    const dv_font_entry *t = dv_font_table(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].family, family) == 0)
            return t[i].split == split;
    return 0;
}

static void test_split_disjoint(void)
{
    int n;
    const dv_font_entry *t = dv_font_table(&n);
    int classes[2][3] = { { 0 } };
    for (int i = 0; i < n; i++) {
        g_assert_true(in_split_table(t[i].family, t[i].split));   /* listed once */
        int c = strcmp(t[i].cls, "serif") == 0 ? 0 : strcmp(t[i].cls, "sans") == 0 ? 1 : 2;
        classes[t[i].split][c]++;
    }
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < 3; c++)
            g_assert_cmpint(classes[s][c], >, 0);
    fixture tr, ev;
    if (!open_fixture(&tr, NULL, DV_SPLIT_TRAIN) || !open_fixture(&ev, NULL, DV_SPLIT_EVAL))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS, oe = o;
    oe.split = DV_SPLIT_EVAL;
    GHashTable *train = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (uint64_t seed = 1; seed <= 150; seed++) {
        dv_line l;
        line(&tr, &o, seed, &l);
        g_assert_true(in_split_table(l.look.family, DV_SPLIT_TRAIN));
        g_assert_cmpint(dv_split_of(l.text), ==, DV_SPLIT_TRAIN);
        g_hash_table_add(train, g_strdup(l.text));
        dv_line_free(&l);
    }
    for (uint64_t seed = 1; seed <= 150; seed++) {
        dv_line l;
        line(&ev, &oe, seed, &l);
        g_assert_true(in_split_table(l.look.family, DV_SPLIT_EVAL));
        g_assert_cmpint(dv_split_of(l.text), ==, DV_SPLIT_EVAL);
        g_assert_false(g_hash_table_contains(train, l.text));
        dv_line_free(&l);
    }
    g_hash_table_destroy(train);
    close_fixture(&tr);
    close_fixture(&ev);
}

static void test_degradations_in_range(void)
{
    fixture fx;
    if (!open_fixture(&fx, NULL, DV_SPLIT_TRAIN))
        return;
    dv_line_opts o = DV_LINE_DEFAULTS;
    int skew = 0, blur = 0, noise = 0, speckle = 0, low = 0, bin = 0, jpeg = 0, styles = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        dv_line l;
        line(&fx, &o, seed, &l);
        const dv_line_look *k = &l.look;
        g_assert_cmpfloat(fabs(k->skew_deg), <=, DV_LINE_SKEW_MAX);
        g_assert_cmpfloat(k->blur, <=, DV_LINE_BLUR_MAX);
        g_assert_cmpfloat(k->noise, <=, DV_LINE_NOISE_MAX);
        g_assert_cmpfloat(k->speckle, <=, DV_LINE_SPECKLE_MAX);
        g_assert_cmpfloat(k->ink, >=, 0);
        g_assert_cmpfloat(k->ink, <=, DV_LINE_INK_MAX);
        g_assert_cmpfloat(k->paper, >=, DV_LINE_PAPER_MIN);
        g_assert_cmpfloat(k->paper, <=, 1);
        g_assert_cmpfloat(k->paper - k->ink, >=, 0.2);
        g_assert_true(k->jpeg == 0 || (k->jpeg >= DV_LINE_JPEG_MIN && k->jpeg <= DV_LINE_JPEG_MAX));
        g_assert_cmpfloat(k->pt, >=, o.min_pt);
        g_assert_cmpfloat(k->pt, <=, o.max_pt);
        g_assert_cmpfloat(k->dpi, >=, o.min_dpi);
        g_assert_cmpfloat(k->dpi, <=, o.max_dpi);
        skew += k->skew_deg != 0;
        blur += k->blur > 0;
        noise += k->noise > 0;
        speckle += k->speckle > 0;
        low += k->ink > 0.25;
        bin += k->binarized;
        jpeg += k->jpeg > 0;
        styles |= 1 << k->style;
        dv_line_free(&l);
    }
    /* each degradation is drawn now and then, none always */
    int counts[] = { skew, blur, noise, speckle, low, bin, jpeg };
    for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
        g_assert_cmpint(counts[i], >, 10);
        g_assert_cmpint(counts[i], <, 250);
    }
    g_assert_cmpint(styles, ==, 15);
    /* --scan 0: none at all */
    o.scan = 0;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        dv_line l;
        line(&fx, &o, seed, &l);
        const dv_line_look *k = &l.look;
        g_assert_true(k->skew_deg == 0 && k->blur == 0 && k->noise == 0 && k->speckle == 0 &&
                      k->ink == 0 && k->paper == 1 && !k->binarized && !k->jpeg);
        dv_line_free(&l);
    }
    close_fixture(&fx);
}

static void expect_fail(int rc, const dv_err *e, const char *in_msg)
{
    g_assert_cmpint(rc, ==, DOCVL_EINVAL);
    if (!strstr(e->msg, in_msg))
        g_error("message \"%s\" lacks \"%s\"", e->msg, in_msg);
}

static void test_errors(void)
{
    dv_line_opts o = DV_LINE_DEFAULTS, bad;
    dv_err e = {0};
    g_assert_cmpint(dv_line_opts_check(&o, &e), ==, 0);
    bad = o, bad.height = 4;
    expect_fail(dv_line_opts_check(&bad, &e), &e, "line height");
    bad = o, bad.width = 40, dv_err_clear(&e);
    expect_fail(dv_line_opts_check(&bad, &e), &e, "line width");
    bad = o, bad.min_chars = 10, bad.max_chars = 5, dv_err_clear(&e);
    expect_fail(dv_line_opts_check(&bad, &e), &e, "characters");
    bad = o, bad.max_dpi = 100, dv_err_clear(&e);
    expect_fail(dv_line_opts_check(&bad, &e), &e, "dpi");
    bad = o, bad.scan = 1.5, dv_err_clear(&e);
    expect_fail(dv_line_opts_check(&bad, &e), &e, "scan");
    bad = o, bad.pieces = -0.5, dv_err_clear(&e);
    expect_fail(dv_line_opts_check(&bad, &e), &e, "pieces");
    bad = o, bad.typeset = 2, dv_err_clear(&e);
    expect_fail(dv_line_opts_check(&bad, &e), &e, "typeset");
    bad = o, bad.quotes = -0.5, dv_err_clear(&e);
    expect_fail(dv_line_opts_check(&bad, &e), &e, "quotes");
    dv_fonts *f = NULL;
    dv_err_clear(&e);
    expect_fail(dv_fonts_open("DejaVu Sans,No Such Family", DV_SPLIT_TRAIN, &f, &e), &e,
                "No Such Family");
    g_assert_null(f);
    dv_err_clear(&e);
    expect_fail(dv_fonts_open(" , ", DV_SPLIT_TRAIN, &f, &e), &e, "names no font");
    dv_line_src *s = NULL;
    dv_err_clear(&e);
    expect_fail(dv_line_src_from_text("\xe6\x97\xa5\xe6\x9c\xac \xe2\x82\xac", DV_SPLIT_TRAIN, &s, &e),
                &e, "printable ASCII or Latin letters");
    g_assert_null(s);
    /* words too long for the width: an error, not a cut word */
    fixture fx;
    if (!dv_font_installed("DejaVu Sans"))
        return;
    open_fixture(&fx, "DejaVu Sans", DV_SPLIT_TRAIN);
    o.width = 2 * o.height;
    o.min_chars = 30;
    dv_line l;
    dv_err_clear(&e);
    expect_fail(dv_render_line(&o, fx.src, fx.fonts, 1, &l, &e), &e, "fits");
    close_fixture(&fx);
}

static void test_font_spec(void)
{
    const char *miss = missing_font(DV_SPLIT_TRAIN);
    if (miss) {
        g_test_skip(miss);
        return;
    }
    dv_err e = {0};
    dv_fonts *f;
    g_assert_cmpint(dv_fonts_open("mono", DV_SPLIT_TRAIN, &f, &e), ==, 0);
    int n;
    const dv_font_entry *t = dv_font_table(&n);
    int mono = 0;
    for (int i = 0; i < n; i++)
        mono += t[i].split == DV_SPLIT_TRAIN && strcmp(t[i].cls, "mono") == 0;
    g_assert_cmpint(dv_fonts_count(f), ==, mono);
    dv_fonts_free(f);
    char *dir = test_tmpdir();
    char *file = g_build_filename(dir, "fonts.txt", NULL);
    const char *list = "# two faces\nDejaVu Serif\n\nLiberation Sans\nDejaVu Serif\n";
    test_write_file(file, list, strlen(list));
    char *spec = g_strconcat("@", file, NULL);
    g_assert_cmpint(dv_fonts_open(spec, DV_SPLIT_TRAIN, &f, &e), ==, 0);
    g_assert_cmpint(dv_fonts_count(f), ==, 2);
    g_assert_cmpstr(dv_fonts_family(f, 1), ==, "Liberation Sans");
    int real;
    g_assert_nonnull(dv_fonts_face(f, 0, 3, &real));
    g_assert_cmpint(real, ==, 3);
    /* a face is asked for each character: Latin ones yes, CJK not */
    g_assert_true(dv_fonts_covers(f, 0, 0, "caf\u00e9 \u201cit\u2019s\u201d \u2014 1"));
    g_assert_true(dv_fonts_covers(f, 1, 3, "Stra\u00dfe"));
    g_assert_false(dv_fonts_covers(f, 0, 0, "a\u6f22"));
    g_assert_false(dv_fonts_covers(f, 1, 2, "\u6f22"));
    dv_fonts_free(f);
    /* a family without an italic face: its upright face, recorded as such */
    if (dv_font_installed("Noto Sans Mono")) {
        g_assert_cmpint(dv_fonts_open("Noto Sans Mono", DV_SPLIT_EVAL, &f, &e), ==, 0);
        dv_fonts_face(f, 0, 2, &real);
        g_assert_cmpint(real, ==, 0);
        dv_fonts_face(f, 0, 1, &real);
        g_assert_cmpint(real, ==, 1);
        dv_fonts_free(f);
    }
    test_rmtree(dir);
    g_free(spec);
    g_free(file);
    g_free(dir);
}

/* Written as PNG (gray lines as 8-bit gray) and decoded: the same RGB. */
static void round_trip(const dv_image *im, const char *path, int want_gray)
{
    dv_err e = {0};
    g_assert_cmpint(dv_render_write_png(im, path, &e), ==, 0);
    char *data;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpint(data[25], ==, want_gray ? 0 : 2);   /* IHDR colour type */
    dv_image back = {0};
    g_assert_cmpint(dv_image_decode((const uint8_t *)data, len, 0, 1 << 24, &back, &e), ==, 0);
    g_assert_cmpint(back.w, ==, im->w);
    g_assert_cmpint(back.h, ==, im->h);
    g_assert_cmpmem(back.rgb, (size_t)im->w * im->h * 3, im->rgb, (size_t)im->w * im->h * 3);
    dv_image_free(&back);
    g_free(data);
}

static void test_png_round_trip(void)
{
    if (!dv_font_installed("DejaVu Serif")) {
        g_test_skip("DejaVu Serif is not installed (scripts/deps)");
        return;
    }
    fixture fx;
    open_fixture(&fx, "DejaVu Serif", DV_SPLIT_TRAIN);
    dv_line_opts o = DV_LINE_DEFAULTS;
    dv_line l;
    line(&fx, &o, 3, &l);
    char *dir = test_tmpdir();
    char *path = g_build_filename(dir, "l.png", NULL);
    round_trip(&l.image, path, 1);
    l.image.rgb[4] ^= 1;   /* one coloured pixel: written as RGB */
    round_trip(&l.image, path, 0);
    dv_line_free(&l);
    close_fixture(&fx);
    test_rmtree(dir);
    g_free(path);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/render_lines/repeatable", test_repeatable);
    g_test_add_func("/render_lines/transcription", test_transcription);
    g_test_add_func("/render_lines/ink_as_wide_as_text", test_ink_as_wide_as_text);
    g_test_add_func("/render_lines/split_disjoint", test_split_disjoint);
    g_test_add_func("/render_lines/degradations_in_range", test_degradations_in_range);
    g_test_add_func("/render_lines/errors", test_errors);
    g_test_add_func("/render_lines/pieces", test_pieces);
    g_test_add_func("/render_lines/pieces_drawn", test_pieces_drawn);
    g_test_add_func("/render_lines/typeset_words", test_typeset_words);
    g_test_add_func("/render_lines/typeset_drawn", test_typeset_drawn);
    g_test_add_func("/render_lines/typeset_quote_styles", test_typeset_quote_styles);
    g_test_add_func("/render_lines/quotes_drawn", test_quotes_drawn);
    g_test_add_func("/render_lines/caps_drawn", test_caps_drawn);
    g_test_add_func("/render_lines/spaced_drawn", test_spaced_drawn);
    g_test_add_func("/render_lines/small_caps_drawn", test_small_caps_drawn);
    g_test_add_func("/render_lines/bullets_drawn", test_bullets_drawn);
    g_test_add_func("/render_lines/font_spec", test_font_spec);
    g_test_add_func("/render_lines/png_round_trip", test_png_round_trip);
    return g_test_run();
}
