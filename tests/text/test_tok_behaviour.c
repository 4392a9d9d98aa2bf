/* Tokenizer pipeline stages on small hand-written tokenizer.json files: each
 * Split behaviour, Digits, ByteLevel, added-token flags, BPE options,
 * normalizers, post-processor templates, and the errors for what is refused. */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "text/tokenizer.h"

/* Plain-character vocabulary (no byte-level alphabet) so results read easily. */
static const char vocab[] =
    "{\"a\":0,\"b\":1,\"c\":2,\"d\":3,\" \":4,\"1\":5,\"2\":6,\"3\":7,\"-\":8,\"ab\":9,"
    "\"abc\":10,\"c-\":11,\"-ab\":12,\"--\":13,\"12\":14,\"abd\":15,\"<\":16,\"s\":17,"
    "\">\":18,\"<unk>\":19,\"<0xC3>\":20,\"<0xA9>\":21,\"e\":22,\"_\":23,\"x\":24,"
    "\"A\":25,\"<s>\":26,\"</s>\":27}";
static const char merges[] = "[\"c -\", \"a b\", \"ab c\", \"- ab\", \"- -\", \"1 2\"]";

typedef struct spec {
    const char *added;        /* JSON array body */
    const char *normalizer;   /* JSON; NULL: null */
    const char *pre;
    const char *post;
    const char *decoder;
    const char *model_extra;  /* extra members of "model", starting with ',' */
    const char *merges;
    const char *vocab;
    const char *model_type;
} spec;

static char *build_json(const spec *s)
{
    return g_strdup_printf(
        "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":%s,\"pre_tokenizer\":%s,"
        "\"post_processor\":%s,\"decoder\":%s,\"model\":{\"type\":\"%s\",\"vocab\":%s,"
        "\"merges\":%s%s}}",
        s->added ? s->added : "", s->normalizer ? s->normalizer : "null",
        s->pre ? s->pre : "null", s->post ? s->post : "null",
        s->decoder ? s->decoder : "null", s->model_type ? s->model_type : "BPE",
        s->vocab ? s->vocab : vocab, s->merges ? s->merges : merges,
        s->model_extra ? s->model_extra : "");
}

static int try_load(const spec *s, const char *config, dv_tokenizer **t, dv_err *e)
{
    char *json = build_json(s);
    int rc = dv_tokenizer_load(json, strlen(json), config, config ? strlen(config) : 0,
                               "test tokenizer", t, e);
    g_free(json);
    return rc;
}

static dv_tokenizer *load(const spec *s)
{
    dv_tokenizer *t = NULL;
    dv_err e = {0};
    int rc = try_load(s, NULL, &t, &e);
    if (rc)
        g_test_message("load: %s", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    return t;
}

/* The token strings of encode(text), joined by '|'. */
static char *pieces(const dv_tokenizer *t, const char *text, int add_special)
{
    int32_t *ids = NULL;
    size_t n = 0;
    dv_err e = {0};
    int rc = dv_tokenizer_encode(t, text, strlen(text), add_special, &ids, &n, &e);
    if (rc)
        g_test_message("encode: %s", e.msg);
    g_assert_cmpint(rc, ==, DOCVL_OK);
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < n; i++) {
        const char *p = dv_tokenizer_token_str(t, ids[i]);
        g_assert_nonnull(p);
        g_string_append_printf(s, "%s%s", i ? "|" : "", p);
    }
    free(ids);
    return g_string_free(s, FALSE);
}

static void expect(const spec *s, const char *text, const char *want)
{
    dv_tokenizer *t = load(s);
    char *got = pieces(t, text, 0);
    g_assert_cmpstr(got, ==, want);
    g_free(got);
    dv_tokenizer_free(t);
}

static char *split_pre(const char *pattern_kind, const char *pattern, const char *behavior,
                       int invert)
{
    return g_strdup_printf("{\"type\":\"Split\",\"pattern\":{\"%s\":\"%s\"},\"behavior\":\"%s\","
                           "\"invert\":%s}",
                           pattern_kind, pattern, behavior, invert ? "true" : "false");
}

static void expect_split(const char *behavior, int invert, const char *text, const char *want)
{
    char *pre = split_pre("String", "-", behavior, invert);
    spec s = {.pre = pre};
    expect(&s, text, want);
    g_free(pre);
}

static void test_split_behaviours(void)
{
    /* no pre-tokenizer: merges run across the whole text */
    spec none = {0};
    expect(&none, "abc-ab", "ab|c-|ab");
    expect_split("Isolated", 0, "abc-ab", "abc|-|ab");
    expect_split("Removed", 0, "abc-ab", "abc|ab");
    expect_split("MergedWithPrevious", 0, "abc-ab", "ab|c-|ab");
    expect_split("MergedWithNext", 0, "abc-ab", "abc|-ab");
    expect_split("Isolated", 0, "ab--c", "ab|-|-|c");
    expect_split("Contiguous", 0, "ab--c", "ab|--|c");
    expect_split("Removed", 1, "ab-c", "-");
    /* a regex pattern, with a Unicode class */
    char *pre = split_pre("Regex", "\\\\p{N}+", "Removed", 0);
    spec r = {.pre = pre};
    expect(&r, "ab12c", "ab|c");
    g_free(pre);
    /* \s means Unicode White_Space as in Oniguruma: NEL yes, U+180E and
     * U+FEFF no (characters outside the vocab vanish, so "a", "b" merge when
     * nothing split them) */
    pre = split_pre("Regex", "\\\\s", "Removed", 0);
    spec ws = {.pre = pre};
    expect(&ws, "a\xC2\x85" "b", "a|b");
    expect(&ws, "a\xE1\xA0\x8E" "b", "ab");
    expect(&ws, "a\xEF\xBB\xBF" "b", "ab");
    g_free(pre);
    /* \w takes marks but not other numbers like U+00BD */
    pre = split_pre("Regex", "[\\\\w]+", "Removed", 1);
    spec w = {.pre = pre};
    expect(&w, "ab\xCC\x81" "c", "abc");
    expect(&w, "ab\xC2\xBD" "c", "ab|c");
    g_free(pre);
    /* Oniguruma's \uHHHH escape */
    pre = split_pre("Regex", "\\\\u002d", "Removed", 0);
    spec u = {.pre = pre};
    expect(&u, "abc-ab", "abc|ab");
    g_free(pre);
}

static void test_digits(void)
{
    spec one = {.pre = "{\"type\":\"Digits\",\"individual_digits\":true}"};
    spec run = {.pre = "{\"type\":\"Digits\",\"individual_digits\":false}"};
    expect(&one, "a123b", "a|1|2|3|b");
    expect(&run, "a123b", "a|12|3|b");
    /* U+00BD is numeric (No) to Rust's char::is_numeric: it splits "ab" from "c" */
    expect(&one, "ab\xC2\xBD" "c", "ab|c");
}

static void test_sequence(void)
{
    spec s = {.pre = "{\"type\":\"Sequence\",\"pretokenizers\":["
                     "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Removed\"},"
                     "{\"type\":\"Digits\",\"individual_digits\":true}]}"};
    expect(&s, "abc 12 ab", "abc|1|2|ab");
}

static void test_added_flags(void)
{
    spec plain = {.added = "{\"id\":26,\"content\":\"<s>\",\"special\":true}"};
    expect(&plain, "a <s> b", "a| |<s>| |b");
    expect(&plain, "a<s>b", "a|<s>|b");
    spec strip = {.added = "{\"id\":26,\"content\":\"<s>\",\"special\":true,\"lstrip\":true,"
                           "\"rstrip\":true}"};
    expect(&strip, "a  <s>  b", "a|<s>|b");
    spec single = {.added = "{\"id\":26,\"content\":\"<s>\",\"single_word\":true}"};
    expect(&single, "a<s>b", "a|<|s|>|b");
    expect(&single, "a <s> b", "a| |<s>| |b");
    /* leftmost-longest: the longer added token wins at the same start */
    spec longest = {.added = "{\"id\":26,\"content\":\"<s>\",\"special\":true},"
                             "{\"id\":28,\"content\":\"<s>x\",\"special\":false,"
                             "\"normalized\":false}"};
    expect(&longest, "a<s>xb<s>", "a|<s>x|b|<s>");
    /* ...but raw (normalized=false) tokens are taken out before normalized ones */
    spec passes = {.added = "{\"id\":26,\"content\":\"<s>\",\"special\":true},"
                            "{\"id\":28,\"content\":\"<s>x\",\"special\":false}"};
    expect(&passes, "a<s>xb", "a|<s>|x|b");
}

static void test_added_normalized(void)
{
    /* raw tokens match the text as given; normalized ones the lowercased text */
    spec s = {.normalizer = "{\"type\":\"Lowercase\"}",
              .added = "{\"id\":28,\"content\":\"AB\",\"special\":true,\"normalized\":false},"
                       "{\"id\":29,\"content\":\"CD\",\"special\":false,\"normalized\":true}"};
    expect(&s, "CDAB", "CD|AB");
    expect(&s, "cdAb", "CD|ab");
}

/* ids come from tokenizers' own assignment, not the file's "id" */
static void test_added_ids(void)
{
    spec s = {.added = "{\"id\":5,\"content\":\"<s>\",\"special\":true},"
                       "{\"id\":99,\"content\":\"zz\"},{\"id\":7,\"content\":\"\"},"
                       "{\"id\":98,\"content\":\"yy\"}"};
    dv_tokenizer *t = load(&s);
    g_assert_cmpint(dv_tokenizer_token_id(t, "<s>"), ==, 26);
    g_assert_cmpint(dv_tokenizer_token_id(t, "zz"), ==, 28);
    g_assert_cmpint(dv_tokenizer_token_id(t, "yy"), ==, 29);
    g_assert_cmpint(dv_tokenizer_vocab_size(t), ==, 30);
    g_assert_cmpstr(dv_tokenizer_token_str(t, 7), ==, "3");
    g_assert_true(dv_tokenizer_is_special(t, 26));
    g_assert_false(dv_tokenizer_is_special(t, 5));
    dv_tokenizer_free(t);
}

static void test_bpe_options(void)
{
    spec fb = {.model_extra = ",\"byte_fallback\":true"};
    expect(&fb, "a\xC3\xA9", "a|<0xC3>|<0xA9>");
    spec unk = {.model_extra = ",\"unk_token\":\"<unk>\""};
    expect(&unk, "a\xC3\xA9", "a|<unk>");
    expect(&unk, "ayzb", "a|<unk>|<unk>|b");
    spec fuse = {.model_extra = ",\"unk_token\":\"<unk>\",\"fuse_unk\":true"};
    expect(&fuse, "ayzb", "a|<unk>|b");
    spec none = {0};
    expect(&none, "a\xC3\xA9", "a");   /* no fallback, no unk: dropped, as tokenizers does */
    expect(&none, "abd", "ab|d");
    spec whole = {.model_extra = ",\"ignore_merges\":true"};
    expect(&whole, "abd", "abd");
    spec pairs = {.merges = "[[\"a\",\"b\"],[\"ab\",\"c\"]]"};
    expect(&pairs, "abcc-", "abc|c|-");
    /* ranks decide, not position: "c -" (rank 0) beats "a b" */
    expect(&none, "abc-", "ab|c-");
}

static void test_normalizers(void)
{
    spec nfc = {.normalizer = "{\"type\":\"NFC\"}", .model_extra = ",\"byte_fallback\":true"};
    expect(&nfc, "e\xCC\x81", "<0xC3>|<0xA9>");
    spec lower = {.normalizer = "{\"type\":\"Lowercase\"}"};
    expect(&lower, "AB", "ab");
    spec seq = {.normalizer = "{\"type\":\"Sequence\",\"normalizers\":["
                              "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},"
                              "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
                              "\"content\":\"_\"},"
                              "{\"type\":\"Prepend\",\"prepend\":\"_\"}]}"};
    expect(&seq, "  ab c ", "_|ab|_|c");
}

static const char template_post[] =
    "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\","
    "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":"
    "{\"id\":\"</s>\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\","
    "\"ids\":[26],\"tokens\":[\"<s>\"]},\"</s>\":{\"id\":\"</s>\",\"ids\":[27],"
    "\"tokens\":[\"</s>\"]}}}";
static const char specials[] = "{\"id\":26,\"content\":\"<s>\",\"special\":true},"
                               "{\"id\":27,\"content\":\"</s>\",\"special\":true}";

static void test_post_processor(void)
{
    spec s = {.added = specials, .post = template_post};
    dv_tokenizer *t = load(&s);
    char *got = pieces(t, "ab", 1);
    g_assert_cmpstr(got, ==, "<s>|ab|</s>");
    g_free(got);
    got = pieces(t, "ab", 0);
    g_assert_cmpstr(got, ==, "ab");
    g_free(got);
    g_assert_true(dv_tokenizer_adds_bos(t));
    g_assert_cmpint(dv_tokenizer_bos(t), ==, 26);
    g_assert_cmpint(dv_tokenizer_eos(t), ==, 27);
    dv_tokenizer_free(t);

    /* tokenizer_config.json's add_bos_token/add_eos_token override the template */
    dv_err e = {0};
    g_assert_cmpint(try_load(&s, "{\"add_bos_token\":false}", &t, &e), ==, DOCVL_OK);
    got = pieces(t, "ab", 1);
    g_assert_cmpstr(got, ==, "ab");
    g_assert_false(dv_tokenizer_adds_bos(t));
    g_free(got);
    dv_tokenizer_free(t);

    spec bare = {.added = specials};
    g_assert_cmpint(try_load(&bare, "{\"add_bos_token\":true,\"bos_token\":{\"content\":\"<s>\"},"
                                    "\"eos_token\":\"</s>\"}", &t, &e), ==, DOCVL_OK);
    got = pieces(t, "ab", 1);
    g_assert_cmpstr(got, ==, "<s>|ab");
    g_assert_cmpint(dv_tokenizer_eos(t), ==, 27);
    g_free(got);
    dv_tokenizer_free(t);
}

static void test_bert_post(void)
{
    spec s = {.added = specials, .post = "{\"type\":\"RobertaProcessing\","
                                        "\"sep\":[\"</s>\",27],\"cls\":[\"<s>\",26]}"};
    dv_tokenizer *t = load(&s);
    char *got = pieces(t, "ab", 1);
    g_assert_cmpstr(got, ==, "<s>|ab|</s>");
    g_free(got);
    dv_tokenizer_free(t);
}

static void test_decode_plain(void)
{
    spec s = {.added = specials};
    dv_tokenizer *t = load(&s);
    const int32_t ids[] = {26, 9, 2, 27};
    char *text = NULL;
    dv_err e = {0};
    /* without a decoder tokenizers joins tokens with spaces */
    g_assert_cmpint(dv_tokenizer_decode(t, ids, 4, 1, &text, &e), ==, DOCVL_OK);
    g_assert_cmpstr(text, ==, "ab c");
    free(text);
    g_assert_cmpint(dv_tokenizer_decode(t, ids, 4, 0, &text, &e), ==, DOCVL_OK);
    g_assert_cmpstr(text, ==, "<s> ab c </s>");
    free(text);
    dv_tokenizer_free(t);
}

static void expect_error(const spec *s, const char *config, int code, const char *needle)
{
    dv_tokenizer *t = NULL;
    dv_err e = {0};
    int rc = try_load(s, config, &t, &e);
    g_test_message("error: %s", e.msg);
    g_assert_cmpint(rc, ==, code);
    g_assert_null(t);
    g_assert_nonnull(strstr(e.msg, needle));
}

static void test_refusals(void)
{
    spec bert = {.normalizer = "{\"type\":\"BertNormalizer\"}"};
    expect_error(&bert, NULL, DOCVL_EUNSUPPORTED, "BertNormalizer");
    spec meta = {.pre = "{\"type\":\"Metaspace\"}"};
    expect_error(&meta, NULL, DOCVL_EUNSUPPORTED, "Metaspace");
    spec beh = {.pre = "{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Odd\"}"};
    expect_error(&beh, NULL, DOCVL_EUNSUPPORTED, "Odd");
    spec badre = {.pre = "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},"
                         "\"behavior\":\"Isolated\"}"};
    expect_error(&badre, NULL, DOCVL_EFORMAT, "regex");
    spec wp = {.model_type = "WordPiece"};
    expect_error(&wp, NULL, DOCVL_EUNSUPPORTED, "WordPiece");
    spec dec = {.decoder = "{\"type\":\"Metaspace\"}"};
    expect_error(&dec, NULL, DOCVL_EUNSUPPORTED, "decoder");
    spec post = {.post = "{\"type\":\"BertProcessing\",\"cls\":[\"<s>\"]}"};
    expect_error(&post, NULL, DOCVL_EFORMAT, "cls");
    spec post2 = {.post = "{\"type\":\"Unheard\"}"};
    expect_error(&post2, NULL, DOCVL_EUNSUPPORTED, "Unheard");
    spec drop = {.model_extra = ",\"dropout\":0.1"};
    expect_error(&drop, NULL, DOCVL_EUNSUPPORTED, "dropout");
    spec m1 = {.merges = "[\"a q\"]"};
    expect_error(&m1, NULL, DOCVL_EFORMAT, "\"q\"");
    spec m2 = {.merges = "[\"a d\"]"};
    expect_error(&m2, NULL, DOCVL_EFORMAT, "\"ad\"");
    spec m3 = {.merges = "[\"ab\"]"};
    expect_error(&m3, NULL, DOCVL_EFORMAT, "merges[0]");
    spec big = {.vocab = "{\"a\":5000000}", .merges = "[]"};
    expect_error(&big, NULL, DOCVL_ELIMIT, "5000000");
    spec badpost = {.post = "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
                            "{\"id\":\"<x>\"}}],\"special_tokens\":{}}"};
    expect_error(&badpost, NULL, DOCVL_EFORMAT, "<x>");
    spec plain = {0};
    expect_error(&plain, "{\"add_bos_token\":true,\"bos_token\":\"<nope>\"}", DOCVL_EFORMAT,
                 "<nope>");
    expect_error(&plain, "{\"add_bos_token\":true}", DOCVL_EFORMAT, "bos_token");

    dv_tokenizer *t = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_load("{\"model\":", 9, NULL, 0, "x.json", &t, &e), ==,
                    DOCVL_EFORMAT);
    g_assert_null(t);
}

static void test_bad_input(void)
{
    spec s = {0};
    dv_tokenizer *t = load(&s);
    int32_t *ids = NULL;
    size_t n = 0;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_encode(t, "ab\xC3", 3, 0, &ids, &n, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "UTF-8"));
    g_assert_null(ids);
    /* U+0000 is text, not an end */
    dv_err_clear(&e);
    g_assert_cmpint(dv_tokenizer_encode(t, "a\0c", 3, 0, &ids, &n, &e), ==, DOCVL_OK);
    g_assert_cmpuint(n, ==, 2);
    free(ids);
    dv_tokenizer_free(t);
}

static void test_files(void)
{
    dv_tokenizer *t = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_open("/nonexistent/tokenizer.json", &t, &e), ==, DOCVL_EIO);
    g_assert_nonnull(strstr(e.msg, "/nonexistent/tokenizer.json"));

    /* a sparse file over the size limit is refused before it is read */
    char *dir = test_tmpdir(), *path = g_build_filename(dir, "tokenizer.json", NULL);
    FILE *f = fopen(path, "wb");
    g_assert_nonnull(f);
    g_assert_cmpint(ftruncate(fileno(f), (off_t)65 << 20), ==, 0);
    fclose(f);
    dv_err_clear(&e);
    g_assert_cmpint(dv_tokenizer_open(path, &t, &e), ==, DOCVL_ELIMIT);
    g_assert_null(t);

    /* tokenizer_config.json beside the file is read */
    spec s = {.added = specials};
    char *json = build_json(&s), *cfg = g_build_filename(dir, "tokenizer_config.json", NULL);
    test_write_file(path, json, strlen(json));
    {
        const char *c = "{\"add_bos_token\":true,\"bos_token\":\"<s>\"}";
        test_write_file(cfg, c, strlen(c));
    }
    dv_err_clear(&e);
    g_assert_cmpint(dv_tokenizer_open(path, &t, &e), ==, DOCVL_OK);
    g_assert_true(dv_tokenizer_adds_bos(t));
    dv_tokenizer_free(t);
    g_free(json);
    g_free(cfg);
    g_free(path);
    test_rmtree(dir);
    g_free(dir);
}

/* The small golden tokenizer with another pre_tokenizer. */
static dv_tokenizer *small_with_pre(const char *pre_json)
{
    char *path = test_data("golden/tokenizer/deepseek_llm_small/tokenizer.json");
    JsonParser *p = json_parser_new(), *q = json_parser_new();
    g_assert_true(json_parser_load_from_file(p, path, NULL));
    g_assert_true(json_parser_load_from_data(q, pre_json, -1, NULL));
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    json_object_set_member(root, "pre_tokenizer", json_node_copy(json_parser_get_root(q)));
    JsonGenerator *g = json_generator_new();
    json_generator_set_root(g, json_parser_get_root(p));
    gsize len = 0;
    char *json = json_generator_to_data(g, &len);
    dv_tokenizer *t = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_load(json, len, NULL, 0, "small", &t, &e), ==, DOCVL_OK);
    g_free(json);
    g_object_unref(g);
    g_object_unref(p);
    g_object_unref(q);
    g_free(path);
    return t;
}

static void append_ids(GArray *a, const dv_tokenizer *t, const char *text)
{
    int32_t *ids = NULL;
    size_t n = 0;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_encode(t, text, strlen(text), 0, &ids, &n, &e), ==, DOCVL_OK);
    g_array_append_vals(a, ids, (guint)n);
    free(ids);
}

/* prefix space + GPT-2 regex must equal the plain byte-level encoding of the
 * pieces that regex makes */
static void expect_pieces(const dv_tokenizer *gpt2, const dv_tokenizer *plain, const char *text,
                          const char *const *parts)
{
    GArray *got = g_array_new(FALSE, FALSE, sizeof(int32_t));
    GArray *want = g_array_new(FALSE, FALSE, sizeof(int32_t));
    append_ids(got, gpt2, text);
    for (size_t i = 0; parts[i]; i++)
        append_ids(want, plain, parts[i]);
    g_assert_cmpuint(got->len, ==, want->len);
    g_assert_cmpmem(got->data, got->len * 4, want->data, want->len * 4);
    g_array_unref(got);
    g_array_unref(want);
}

static void test_bytelevel_regex(void)
{
    dv_tokenizer *gpt2 = small_with_pre("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                                        "\"trim_offsets\":true,\"use_regex\":true}");
    dv_tokenizer *plain = small_with_pre("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                                         "\"use_regex\":false}");
    expect_pieces(gpt2, plain, "Hello world", (const char *const[]){" Hello", " world", NULL});
    expect_pieces(gpt2, plain, " Hello", (const char *const[]){" Hello", NULL});
    expect_pieces(gpt2, plain, "don't stop",
                  (const char *const[]){" don", "'t", " stop", NULL});
    expect_pieces(gpt2, plain, "a  b42!!",
                  (const char *const[]){" a", " ", " b", "42", "!!", NULL});
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_encode(gpt2, "x y", 3, 0, &ids, &n, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_tokenizer_decode(gpt2, ids, n, 0, &text, &e), ==, DOCVL_OK);
    g_assert_cmpstr(text, ==, " x y");
    free(text);
    free(ids);
    dv_tokenizer_free(gpt2);
    dv_tokenizer_free(plain);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tok/split", test_split_behaviours);
    g_test_add_func("/tok/digits", test_digits);
    g_test_add_func("/tok/sequence", test_sequence);
    g_test_add_func("/tok/added/flags", test_added_flags);
    g_test_add_func("/tok/added/normalized", test_added_normalized);
    g_test_add_func("/tok/added/ids", test_added_ids);
    g_test_add_func("/tok/bpe/options", test_bpe_options);
    g_test_add_func("/tok/normalizers", test_normalizers);
    g_test_add_func("/tok/post_processor", test_post_processor);
    g_test_add_func("/tok/decode/plain", test_decode_plain);
    g_test_add_func("/tok/post_processor/roberta", test_bert_post);
    g_test_add_func("/tok/refusals", test_refusals);
    g_test_add_func("/tok/bad_input", test_bad_input);
    g_test_add_func("/tok/files", test_files);
    g_test_add_func("/tok/bytelevel_regex", test_bytelevel_regex);
    return g_test_run();
}
