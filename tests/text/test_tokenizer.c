/* Tokenizer against the golden files: every case's ids, ids with BOS and
 * Rust-style decode must match, for all three tokenizer.json files and
 * llama.cpp's recorded cases. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/tokenizer.h"
#include "tok_golden.h"

static dv_tokenizer *open_golden(const char *name)
{
    char *rel = g_strdup_printf("golden/tokenizer/%s/tokenizer.json", name);
    char *path = test_data(rel);
    dv_tokenizer *t = NULL;
    dv_err e = {0};
    int rc = dv_tokenizer_open(path, &t, &e);
    if (rc)
        g_test_message("open %s: %s", path, e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    g_free(rel);
    g_free(path);
    return t;
}

static int same_ids(const int32_t *ids, size_t n, const GArray *want)
{
    if (n != want->len)
        return 0;
    return n == 0 || memcmp(ids, want->data, n * sizeof *ids) == 0;
}

static void show_ids(const char *label, const int32_t *ids, size_t n)
{
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < n && i < 40; i++)
        g_string_append_printf(s, " %d", ids[i]);
    g_test_message("  %s:%s%s", label, s->str, n > 40 ? " ..." : "");
    g_string_free(s, TRUE);
}

/* Returns the number of failing checks in one case (0..3). */
static int check_case(const dv_tokenizer *t, const gold_case *c)
{
    dv_err e = {0};
    int32_t *ids = NULL, *bos = NULL;
    size_t n = 0, nb = 0, dlen = 0;
    char *dec = NULL;
    int bad = 0;
    int rc = dv_tokenizer_encode(t, c->text, c->text_len, 0, &ids, &n, &e);
    if (rc == 0)
        rc = dv_tokenizer_encode(t, c->text, c->text_len, 1, &bos, &nb, &e);
    if (rc)
        g_test_message("%s: %s", c->id, e.msg);
    g_assert_cmpint(rc, ==, 0);
    if (!same_ids(ids, n, c->ids)) {
        bad++;
        g_test_message("%s: ids differ", c->id);
        show_ids("got ", ids, n);
        show_ids("want", (const int32_t *)(const void *)c->ids->data, c->ids->len);
    }
    if (c->ids_bos && !same_ids(bos, nb, c->ids_bos)) {
        bad++;
        g_test_message("%s: ids_with_bos differ", c->id);
    }
    if (c->decoded) {
        g_assert_cmpint(dv_tokenizer_decode_n(t, (const int32_t *)(const void *)c->ids->data,
                                              c->ids->len, 0, &dec, &dlen, &e), ==, 0);
        if (dlen != c->decoded_len || memcmp(dec, c->decoded, dlen) != 0) {
            bad++;
            g_test_message("%s: decoded differs: got \"%s\" want \"%s\"", c->id, dec,
                           c->decoded);
        }
    }
    free(ids);
    free(bos);
    free(dec);
    return bad;
}

static void run_golden(const char *tok_name, const char *cases, const char *expected,
                       guint want_cases)
{
    dv_tokenizer *t = open_golden(tok_name);
    guint n;
    gold_case *v = gold_load(cases, expected, &n);
    g_assert_cmpuint(n, ==, want_cases);
    int failed = 0;
    for (guint i = 0; i < n; i++)
        failed += check_case(t, &v[i]) > 0;
    if (failed)
        g_test_message("%s: %d of %u cases mismatch", tok_name, failed, n);
    g_assert_cmpint(failed, ==, 0);
    gold_free(v, n);
    dv_tokenizer_free(t);
}

static void test_small(void)
{
    run_golden("deepseek_llm_small", "golden/tokenizer/cases.jsonl",
               "golden/tokenizer/deepseek_llm_small.expected.jsonl", 234);
}

static void test_vl(void)
{
    run_golden("deepseek_vl", "golden/tokenizer/cases.jsonl",
               "golden/tokenizer/deepseek_vl.expected.jsonl", 234);
}

static void test_v3(void)
{
    run_golden("deepseek_v3", "golden/tokenizer/cases.jsonl",
               "golden/tokenizer/deepseek_v3.expected.jsonl", 234);
}

static void test_llamacpp(void)
{
    run_golden("deepseek_vl", "golden/tokenizer/llamacpp_deepseek_llm.cases.jsonl",
               "golden/tokenizer/llamacpp_deepseek_llm.expected.jsonl", 46);
}

/* About 1 MB of text: with DeepSeek-LLM's pre-tokenizer "\n" is always its own
 * piece, so the whole encodes to the golden ids of its lines joined by the
 * newline id. This exercises the word cache and long inputs, not timing. */
static void test_megabyte(void)
{
    dv_tokenizer *t = open_golden("deepseek_vl");
    guint n;
    gold_case *v = gold_load("golden/tokenizer/cases.jsonl",
                             "golden/tokenizer/deepseek_vl.expected.jsonl", &n);
    int32_t nl = dv_tokenizer_token_id(t, "\xC4\x8A");   /* "Ċ": byte-level "\n" */
    g_assert_cmpint(nl, >=, 0);
    GString *text = g_string_new(NULL);
    GArray *want = g_array_new(FALSE, FALSE, sizeof(int32_t));
    while (text->len < (1u << 20)) {
        for (guint i = 0; i < n; i++) {
            if (memchr(v[i].text, '\n', v[i].text_len) || memchr(v[i].text, '\r', v[i].text_len))
                continue;
            g_string_append_len(text, v[i].text, (gssize)v[i].text_len);
            g_string_append_c(text, '\n');
            g_array_append_vals(want, v[i].ids->data, v[i].ids->len);
            g_array_append_val(want, nl);
        }
    }
    int32_t *ids = NULL;
    size_t got = 0;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_encode(t, text->str, text->len, 0, &ids, &got, &e), ==, 0);
    g_test_message("%zu bytes -> %zu ids", text->len, got);
    g_assert_cmpuint(got, ==, want->len);
    size_t first_bad = 0;
    while (first_bad < got && ids[first_bad] == g_array_index(want, int32_t, first_bad))
        first_bad++;
    g_assert_cmpuint(first_bad, ==, got);
    free(ids);
    g_array_unref(want);
    g_string_free(text, TRUE);
    gold_free(v, n);
    dv_tokenizer_free(t);
}

/* Byte-level BPE loses nothing: decode(encode(x)) == x for any UTF-8 text
 * whose added tokens decode to themselves (DeepSeek-V3's all do). Seeded
 * random text over ASCII, controls, Latin, CJK, emoji, marks and astral
 * letters, with added-token contents mixed in. */
static void test_roundtrip(void)
{
    static const gunichar pool[] = {' ', '\n', '\r', '\t', 0, 0x85, 0xA0, 0x180E, 0x2028,
                                    0x3000, 0xFEFF, 'a', 'Z', '7', '\'', '.', 0xE9, 0xFC,
                                    0x301, 0x4E2D, 0x3042, 0xAC00, 0x1F600, 0x200D, 0x10400,
                                    0x1D7CE, 0xBD, 0x2160, 0xFFFD, 0x10FFFD, 0x7F};
    static const char *inserts[] = {"<｜User｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>"};
    dv_tokenizer *t = open_golden("deepseek_v3");
    GRand *r = g_rand_new_with_seed(1234);
    for (int it = 0; it < 300; it++) {
        GString *s = g_string_new(NULL);
        int n = g_rand_int_range(r, 0, 80);
        for (int i = 0; i < n; i++) {
            if (g_rand_int_range(r, 0, 30) == 0) {
                g_string_append(s, inserts[g_rand_int_range(r, 0, G_N_ELEMENTS(inserts))]);
                continue;
            }
            gunichar c = pool[g_rand_int_range(r, 0, G_N_ELEMENTS(pool))];
            char buf[8];
            g_string_append_len(s, buf, g_unichar_to_utf8(c, buf));
        }
        int32_t *ids = NULL;
        size_t k = 0, dlen = 0;
        char *dec = NULL;
        dv_err e = {0};
        g_assert_cmpint(dv_tokenizer_encode(t, s->str, s->len, 0, &ids, &k, &e), ==, 0);
        g_assert_cmpint(dv_tokenizer_decode_n(t, ids, k, 0, &dec, &dlen, &e), ==, 0);
        g_assert_cmpmem(dec, dlen, s->str, s->len);
        free(ids);
        free(dec);
        g_string_free(s, TRUE);
    }
    g_rand_free(r);
    dv_tokenizer_free(t);
}

/* BOS/EOS and special-token facts the prompt builder relies on. */
static void test_specials(void)
{
    dv_tokenizer *t = open_golden("deepseek_vl");
    g_assert_cmpint(dv_tokenizer_bos(t), ==, 100000);
    g_assert_cmpint(dv_tokenizer_eos(t), ==, 100001);
    g_assert_true(dv_tokenizer_adds_bos(t));
    g_assert_cmpint(dv_tokenizer_vocab_size(t), ==, 100016);
    g_assert_cmpint(dv_tokenizer_token_id(t, "<image_placeholder>"), ==, 100015);
    g_assert_cmpint(dv_tokenizer_token_id(t, "no such token"), ==, -1);
    g_assert_cmpstr(dv_tokenizer_token_str(t, 100015), ==, "<image_placeholder>");
    g_assert_null(dv_tokenizer_token_str(t, 100016));
    g_assert_null(dv_tokenizer_token_str(t, -1));
    g_assert_true(dv_tokenizer_is_special(t, 100001));
    g_assert_false(dv_tokenizer_is_special(t, 100014));   /* ü is added but not special */
    g_assert_false(dv_tokenizer_is_special(t, 17464));

    /* skip_special drops BOS/EOS/image tags but keeps non-special added tokens */
    const int32_t ids[] = {100000, 17464, 100015, 100001, 1843, 100016, -5};
    char *s = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_decode(t, ids, G_N_ELEMENTS(ids), 1, &s, &e), ==, 0);
    g_assert_cmpstr(s, ==, "Hello world");
    free(s);
    g_assert_cmpint(dv_tokenizer_decode(t, ids, G_N_ELEMENTS(ids), 0, &s, &e), ==, 0);
    g_assert_cmpstr(s, ==, "<｜begin▁of▁sentence｜>Hello<image_placeholder>"
                           "<｜end▁of▁sentence｜> world");
    free(s);
    dv_tokenizer_free(t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tokenizer/golden/deepseek_llm_small", test_small);
    g_test_add_func("/tokenizer/golden/deepseek_vl", test_vl);
    g_test_add_func("/tokenizer/golden/deepseek_v3", test_v3);
    g_test_add_func("/tokenizer/golden/llamacpp", test_llamacpp);
    g_test_add_func("/tokenizer/specials", test_specials);
    g_test_add_func("/tokenizer/megabyte", test_megabyte);
    g_test_add_func("/tokenizer/roundtrip", test_roundtrip);
    return g_test_run();
}
