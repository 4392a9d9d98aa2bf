/* tools/ocreval: CER and WER against hand-counted edits. */
#include <glib.h>

#include "ocreval/cer.h"

static dv_cer cer_of(const char *ref, const char *hyp)
{
    dv_cer c = {0};
    g_assert_cmpint(dv_cer_add(ref, hyp, &c), ==, 0);
    return c;
}

static void test_edits(void)
{
    dv_cer c = cer_of("kitten", "sitting");   /* k->s, e->i, +g */
    g_assert_cmpint(c.char_errors, ==, 3);
    g_assert_cmpint(c.chars, ==, 6);
    g_assert_cmpint(c.word_errors, ==, 1);
    g_assert_cmpint(c.words, ==, 1);
    c = cer_of("the cat sat", "the sat");
    g_assert_cmpint(c.char_errors, ==, 4);
    g_assert_cmpint(c.word_errors, ==, 1);
    g_assert_cmpint(c.words, ==, 3);
    c = cer_of("same", "same");
    g_assert_cmpint(c.char_errors + c.word_errors, ==, 0);
}

/* Runs of whitespace, line breaks and indentation are one space; ends trimmed. */
static void test_whitespace_folded(void)
{
    dv_cer c = cer_of("  one\n\ttwo  three\n", "one two\nthree");
    g_assert_cmpint(c.char_errors, ==, 0);
    g_assert_cmpint(c.chars, ==, 13);
    g_assert_cmpint(c.words, ==, 3);
    c = cer_of("onetwo", "one two");
    g_assert_cmpint(c.char_errors, ==, 1);
    g_assert_cmpint(c.word_errors, ==, 2);   /* one word substituted, one inserted */
}

/* Code points, not bytes: an accented letter is one symbol. */
static void test_utf8(void)
{
    dv_cer c = cer_of("caf\xc3\xa9 \xe2\x82\xac" "5", "cafe \xe2\x82\xac" "5");
    g_assert_cmpint(c.chars, ==, 7);
    g_assert_cmpint(c.char_errors, ==, 1);
    c = cer_of("a\xff" "b", "ab");    /* a stray byte is a symbol of its own */
    g_assert_cmpint(c.chars, ==, 3);
    g_assert_cmpint(c.char_errors, ==, 1);
}

static void test_empty_and_rates(void)
{
    dv_cer c = cer_of("", "noise");
    g_assert_cmpint(c.chars, ==, 0);
    g_assert_cmpint(c.char_errors, ==, 5);
    g_assert_cmpfloat(dv_cer_rate(c.char_errors, c.chars), ==, 1.0);
    g_assert_cmpfloat(dv_cer_rate(0, 0), ==, 0.0);
    c = cer_of("abcd", "");
    g_assert_cmpfloat(dv_cer_rate(c.char_errors, c.chars), ==, 1.0);
    /* errors and lengths add up over calls: a corpus rate, not a mean of rates */
    dv_cer acc = {0};
    g_assert_cmpint(dv_cer_add("ab", "ab", &acc), ==, 0);
    g_assert_cmpint(dv_cer_add("abcdefgh", "abcdefgX", &acc), ==, 0);
    g_assert_cmpfloat(dv_cer_rate(acc.char_errors, acc.chars), ==, 0.1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cer/edits", test_edits);
    g_test_add_func("/cer/whitespace_folded", test_whitespace_folded);
    g_test_add_func("/cer/utf8", test_utf8);
    g_test_add_func("/cer/empty_and_rates", test_empty_and_rates);
    return g_test_run();
}
