/* The loop guard: repeated units trip it, ordinary text and table markup do
 * not, and its window and thresholds are honoured. */
#include <glib.h>
#include <string.h>

#include "text/loopguard.h"

/* Feeds ids (with text pieces when given); returns the 1-based token count at
 * which the guard tripped, or 0. */
static int feed(dv_loopguard *g, const int32_t *ids, const char *const *pieces, int n)
{
    dv_err e = { 0 };
    for (int i = 0; i < n; i++) {
        int looped = 0;
        const char *p = pieces ? pieces[i] : NULL;
        g_assert_cmpint(dv_loopguard_push(g, ids[i], p, p ? strlen(p) : 0, &looped, &e), ==, DOCVL_OK);
        if (looped)
            return i + 1;
    }
    return 0;
}

static void test_default_trips_on_alternation(void)
{
    dv_loopguard g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_loopguard_init(&g, NULL, &e), ==, DOCVL_OK);
    g_assert_true(g.o.enabled);
    int32_t ids[200];
    for (int i = 0; i < 5; i++)
        ids[i] = 10 + i;
    for (int i = 5; i < 200; i++)
        ids[i] = i % 2 ? 184 : 386;
    int at = feed(&g, ids, NULL, 200);
    g_assert_cmpint(at, >, 5);
    g_assert_cmpint(at, <=, 5 + g.o.min_span);
    g_assert_cmpint(g.period, ==, 2);
    g_assert_cmpint(g.loop_start, ==, 5);
    dv_loopguard_free(&g);
}

static void test_long_unit(void)
{
    /* a sentence of 20 tokens said over and over */
    dv_loopguard_opts o = DV_LOOPGUARD_DEFAULT;
    dv_loopguard g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_loopguard_init(&g, &o, &e), ==, DOCVL_OK);
    int32_t ids[400];
    for (int i = 0; i < 400; i++)
        ids[i] = 100 + i % 20;
    int at = feed(&g, ids, NULL, 400);
    g_assert_cmpint(at, ==, 20 * o.min_repeats);
    g_assert_cmpint(g.period, ==, 20);
    dv_loopguard_free(&g);

    /* the same with a window too short to see the unit */
    o.window = 16;
    g_assert_cmpint(dv_loopguard_init(&g, &o, &e), ==, DOCVL_OK);
    g_assert_cmpint(feed(&g, ids, NULL, 400), ==, 0);
    dv_loopguard_free(&g);
}

static void test_thresholds(void)
{
    dv_loopguard_opts o = DV_LOOPGUARD_DEFAULT;
    o.min_span = 10;
    o.min_repeats = 3;
    dv_loopguard g;
    dv_err e = { 0 };
    int32_t ids[64];
    for (int i = 0; i < 64; i++)
        ids[i] = 7;
    g_assert_cmpint(dv_loopguard_init(&g, &o, &e), ==, DOCVL_OK);
    g_assert_cmpint(feed(&g, ids, NULL, 64), ==, 10);
    dv_loopguard_free(&g);
    o.min_span = 40;
    g_assert_cmpint(dv_loopguard_init(&g, &o, &e), ==, DOCVL_OK);
    g_assert_cmpint(feed(&g, ids, NULL, 64), ==, 40);
    dv_loopguard_free(&g);
    o.enabled = 0;
    g_assert_cmpint(dv_loopguard_init(&g, &o, &e), ==, DOCVL_OK);
    g_assert_cmpint(feed(&g, ids, NULL, 64), ==, 0);
    dv_loopguard_free(&g);
    o = DV_LOOPGUARD_DEFAULT;
    o.min_repeats = 1;
    g_assert_cmpint(dv_loopguard_init(&g, &o, &e), ==, DOCVL_EINVAL);
    dv_loopguard_free(&g);
}

/* Blank lines are not table markup: a model stuck on newlines is stopped. */
static void test_blank_lines(void)
{
    int32_t ids[100];
    const char *pieces[100];
    for (int i = 0; i < 100; i++) {
        ids[i] = 13;
        pieces[i] = "\n\n";
    }
    dv_loopguard g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_loopguard_init(&g, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpint(feed(&g, ids, pieces, 100), ==, g.o.min_span);
    dv_loopguard_free(&g);
}

static void test_ordinary_text(void)
{
    /* varied text with short local repeats ("the", "of the") stays clean */
    dv_loopguard g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_loopguard_init(&g, NULL, &e), ==, DOCVL_OK);
    GRand *r = g_rand_new_with_seed(1);
    int32_t ids[2000];
    for (int i = 0; i < 2000; i++)
        ids[i] = i % 7 == 0 ? 1 : g_rand_int_range(r, 0, 500);
    g_assert_cmpint(feed(&g, ids, NULL, 2000), ==, 0);
    g_rand_free(r);
    dv_loopguard_free(&g);
}

static void test_table_markup_exempt(void)
{
    /* a GFM separator row of many columns, then many empty cells */
    static const char *const sep[] = { "|", " ---", " " };
    static const char *const td[] = { "<td>", "</td>" };
    int32_t ids[600];
    const char *pieces[600];
    dv_loopguard g;
    dv_err e = { 0 };
    g_assert_cmpint(dv_loopguard_init(&g, NULL, &e), ==, DOCVL_OK);
    for (int i = 0; i < 300; i++) {
        ids[i] = 40 + i % 3;
        pieces[i] = sep[i % 3];
    }
    for (int i = 300; i < 600; i++) {
        ids[i] = 50 + i % 2;
        pieces[i] = td[i % 2];
    }
    g_assert_cmpint(feed(&g, ids, pieces, 600), ==, 0);
    dv_loopguard_free(&g);

    /* the same ids with real words are a loop */
    static const char *const words[] = { "the", " cat", " sat" };
    for (int i = 0; i < 300; i++)
        pieces[i] = words[i % 3];
    g_assert_cmpint(dv_loopguard_init(&g, NULL, &e), ==, DOCVL_OK);
    g_assert_cmpint(feed(&g, ids, pieces, 300), >, 0);
    dv_loopguard_free(&g);

    /* markup repeated past table_max_repeats is a loop after all */
    dv_loopguard_opts o = DV_LOOPGUARD_DEFAULT;
    o.table_max_repeats = 50;
    g_assert_cmpint(dv_loopguard_init(&g, &o, &e), ==, DOCVL_OK);
    int at = feed(&g, ids + 300, pieces + 300, 300);
    g_assert_cmpint(at, >=, 100);
    g_assert_cmpint(at, <=, 102);
    dv_loopguard_free(&g);
}

static void test_markup_predicate(void)
{
    static const char *yes[] = { "| --- |", "|:---:|", "<td></td>", "</tr>\n<tr>", "<td colspan=\"2\"></td>",
                                 " | | ", "<th></th>" };
    static const char *no[] = { "", "| a |", "<td>0</td>", "<tdx>", "<b></b>", "---x", "<td", "\n\n",
                                "---", " : " };
    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++)
        g_assert_true(dv_is_table_markup(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < G_N_ELEMENTS(no); i++)
        g_assert_false(dv_is_table_markup(no[i], strlen(no[i])));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/loopguard/alternation", test_default_trips_on_alternation);
    g_test_add_func("/loopguard/long-unit", test_long_unit);
    g_test_add_func("/loopguard/thresholds", test_thresholds);
    g_test_add_func("/loopguard/ordinary-text", test_ordinary_text);
    g_test_add_func("/loopguard/blank-lines", test_blank_lines);
    g_test_add_func("/loopguard/table-markup", test_table_markup_exempt);
    g_test_add_func("/loopguard/markup-predicate", test_markup_predicate);
    return g_test_run();
}
