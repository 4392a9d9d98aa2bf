/* The writer's tokenizer.json: a copy of a given file, or a small byte-level
 * BPE with the DeepSeek LLM structure (its pre-tokenizer sequence, the BOS
 * template, the ByteLevel decoder) and a few hundred merges of common
 * English pieces, so tokenizers and prompts run end to end. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "mkmodel/mkmodel.h"

#define BOS_TEXT "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define EOS_TEXT "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define TOKENIZER_MAX_BYTES (256u << 20)

/* DeepSeek LLM's pre_tokenizer, as its tokenizer.json spells it. */
static const char PRE_TOKENIZER[] =
    "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"patter"
    "n\":{\"Regex\":\"[\\r\\n]\"},\"behavior\":\"Isolated\",\"invert\":fals"
    "e},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s?[A-Za-z\\u00b5\\"
    "u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u01ba\\u01bc-\\u01bf\\u01c4-\\u0"
    "293\\u0295-\\u02af\\u0370-\\u0373\\u0376\\u0377\\u037b-\\u037d\\u037f"
    "\\u0386\\u0388-\\u038a\\u038c\\u038e-\\u03a1\\u03a3-\\u03f5\\u03f7-\\u"
    "0481\\u048a-\\u052f\\u0531-\\u0556\\u10a0-\\u10c5\\uff21-\\uff3a\\uff4"
    "1-\\uff5a]+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":"
    "\"Split\",\"pattern\":{\"Regex\":\"\\\\s?[!-/:-~\\uff01-\\uff0f\\uff1a"
    "-\\uff5e\\u2018-\\u201f\\u3000-\\u3002]+\"},\"behavior\":\"Isolated\","
    "\"invert\":false},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+$"
    "\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Split\",\""
    "pattern\":{\"Regex\":\"[\\u4e00-\\u9fa5\\u0800-\\u4e00\\uac00-\\ud7ff]"
    "+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Digits\","
    "\"individual_digits\":true},{\"type\":\"ByteLevel\",\"add_prefix_space"
    "\":false,\"trim_offsets\":true,\"use_regex\":false}]}";

static const char *const WORDS[] = {
    " the", " of", " and", " to", " in", " is", " a", " that", " for", " it", " with", " as",
    " on", " be", " this", " The", " are", " by", " from", " at", " or", " an", " page",
    " image", " text", " title", " Describe", " document", " table", " figure", " number",
    " section", " line", " shows", " what", " What", " Here", " scanned", " describe",
    "ing", "tion", "ed", "er", "es", "ly", "ment", "ness", " you", " language", " vision",
    " assistant", " helpful", " able", " understand", " visual", " content", " user",
    " provides", " assist", " variety", " tasks", " using", " natural", "User", "Assistant",
    " You", " data", " report", " name", " date", " total", " list", " each", " which",
};

/* GPT-2's byte -> code point map: printable bytes stand for themselves, the
 * rest move to 256 and up, so every byte is a visible character. */
static void byte_symbols(char sym[256][8])
{
    int next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        gunichar cp = printable ? (gunichar)b : (gunichar)next++;
        int n = g_unichar_to_utf8(cp, sym[b]);
        sym[b][n] = 0;
    }
}

typedef struct vocab {
    GHashTable *ids;      /* token text (owned) -> id + 1 */
    GPtrArray *merges;    /* "a b" strings (owned) */
    int n;
} vocab;

static void add_word(vocab *v, char sym[256][8], const char *w, int limit)
{
    char cur[256];
    snprintf(cur, sizeof cur, "%s", sym[(uint8_t)w[0]]);
    for (const char *p = w + 1; *p; p++) {
        const char *s = sym[(uint8_t)*p];
        char *joined = g_strconcat(cur, s, NULL);
        if (strlen(joined) >= sizeof cur) {
            g_free(joined);
            return;
        }
        if (!g_hash_table_contains(v->ids, joined)) {
            if (v->n >= limit) {
                g_free(joined);
                return;
            }
            g_ptr_array_add(v->merges, g_strdup_printf("%s %s", cur, s));
            g_hash_table_insert(v->ids, g_strdup(joined), GINT_TO_POINTER(v->n + 1));
            v->n++;
        }
        snprintf(cur, sizeof cur, "%s", joined);
        g_free(joined);
    }
}

/* Special ids. tokenizers ignores an added token's "id" and gives it the
 * next id after the vocab, so the three must follow the vocab directly: the
 * config's bos, eos (= bos + 1) and the image tag after them when they fit,
 * else the last three ids of vocab_size. */
static int pick_ids(const dv_config *c, int ids[3], dv_err *e)
{
    int V = c->lm.vocab, bos = c->lm.bos_id, eos = c->lm.eos_id;
    if (V < 259)
        return dv_fail(e, DOCVL_EINVAL, "vocab_size %d leaves no room for 256 byte tokens and 3 "
                       "special tokens", V);
    if (bos < 256 || eos != bos + 1 || eos + 1 >= V)
        bos = V - 3;
    ids[0] = bos;
    ids[1] = bos + 1;
    ids[2] = bos + 2;
    return DOCVL_OK;
}

static void added(JsonBuilder *b, int id, const char *content)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_set_member_name(b, "content");
    json_builder_add_string_value(b, content);
    const char *flags[] = { "single_word", "lstrip", "rstrip", "normalized" };
    for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
        json_builder_set_member_name(b, flags[i]);
        json_builder_add_boolean_value(b, FALSE);
    }
    json_builder_set_member_name(b, "special");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_end_object(b);
}

static void post_processor(JsonBuilder *b, int bos)
{
    json_builder_set_member_name(b, "post_processor");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "TemplateProcessing");
    for (int pair = 0; pair < 2; pair++) {
        json_builder_set_member_name(b, pair ? "pair" : "single");
        json_builder_begin_array(b);
        for (int s = 0; s <= pair; s++) {
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "SpecialToken");
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "id");
            json_builder_add_string_value(b, BOS_TEXT);
            json_builder_set_member_name(b, "type_id");
            json_builder_add_int_value(b, s);
            json_builder_end_object(b);
            json_builder_end_object(b);
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "Sequence");
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "id");
            json_builder_add_string_value(b, s ? "B" : "A");
            json_builder_set_member_name(b, "type_id");
            json_builder_add_int_value(b, s);
            json_builder_end_object(b);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    json_builder_set_member_name(b, "special_tokens");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, BOS_TEXT);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, BOS_TEXT);
    json_builder_set_member_name(b, "ids");
    json_builder_begin_array(b);
    json_builder_add_int_value(b, bos);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "tokens");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, BOS_TEXT);
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
}

/* Tokens no merge produces fill the vocab up to the first special id. */
static void bpe_model(JsonBuilder *b, vocab *v, char sym[256][8], int first_special)
{
    json_builder_set_member_name(b, "model");
    json_builder_begin_object(b);
    const char *nulls[] = { "dropout", "unk_token", "continuing_subword_prefix",
                            "end_of_word_suffix" };
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "BPE");
    for (size_t i = 0; i < G_N_ELEMENTS(nulls); i++) {
        json_builder_set_member_name(b, nulls[i]);
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "fuse_unk");
    json_builder_add_boolean_value(b, FALSE);
    json_builder_set_member_name(b, "byte_fallback");
    json_builder_add_boolean_value(b, FALSE);
    json_builder_set_member_name(b, "vocab");
    json_builder_begin_object(b);
    for (int i = 0; i < 256; i++) {
        json_builder_set_member_name(b, sym[i]);
        json_builder_add_int_value(b, i);
    }
    for (guint i = 0; i < v->merges->len; i++) {
        char *m = g_strdup(g_ptr_array_index(v->merges, i));
        char *sp = strchr(m, ' ');
        memmove(sp, sp + 1, strlen(sp));
        json_builder_set_member_name(b, m);
        json_builder_add_int_value(b, 256 + (gint64)i);
        g_free(m);
    }
    for (int id = 256 + (int)v->merges->len; id < first_special; id++) {
        char name[32];
        snprintf(name, sizeof name, "<filler_%d>", id);
        json_builder_set_member_name(b, name);
        json_builder_add_int_value(b, id);
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "merges");
    json_builder_begin_array(b);
    for (guint i = 0; i < v->merges->len; i++)
        json_builder_add_string_value(b, g_ptr_array_index(v->merges, i));
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static void decoder(JsonBuilder *b)
{
    json_builder_set_member_name(b, "decoder");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "ByteLevel");
    json_builder_set_member_name(b, "add_prefix_space");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "trim_offsets");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "use_regex");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_end_object(b);
}

static int save(const char *dir, JsonNode *root, dv_err *e)
{
    JsonGenerator *g = json_generator_new();
    json_generator_set_root(g, root);
    char *path = g_build_filename(dir, "tokenizer.json", NULL);
    GError *ge = NULL;
    int rc = DOCVL_OK;
    if (!json_generator_to_file(g, path, &ge)) {
        rc = dv_fail(e, DOCVL_EIO, "%s: %s", path, ge->message);
        g_error_free(ge);
    }
    g_free(path);
    g_object_unref(g);
    return rc;
}

static int generate(const char *dir, const dv_config *c, int ids[3], dv_err *e)
{
    int rc = pick_ids(c, ids, e);
    if (rc)
        return rc;
    int limit = ids[0] - 256;
    char sym[256][8];
    byte_symbols(sym);
    vocab v = { g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                g_ptr_array_new_with_free_func(g_free), 0 };
    for (int i = 0; i < 256; i++)
        g_hash_table_insert(v.ids, g_strdup(sym[i]), GINT_TO_POINTER(i + 1));
    for (size_t i = 0; i < G_N_ELEMENTS(WORDS); i++)
        add_word(&v, sym, WORDS[i], limit);
    JsonNode *pre = json_from_string(PRE_TOKENIZER, NULL);
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, "1.0");
    json_builder_set_member_name(b, "truncation");
    json_builder_add_null_value(b);
    json_builder_set_member_name(b, "padding");
    json_builder_add_null_value(b);
    json_builder_set_member_name(b, "added_tokens");
    json_builder_begin_array(b);
    added(b, ids[0], BOS_TEXT);
    added(b, ids[1], EOS_TEXT);
    added(b, ids[2], c->proc.image_tag);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "normalizer");
    json_builder_add_null_value(b);
    json_builder_set_member_name(b, "pre_tokenizer");
    json_builder_add_value(b, pre);
    post_processor(b, ids[0]);
    decoder(b);
    bpe_model(b, &v, sym, ids[0]);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    rc = save(dir, root, e);
    json_node_unref(root);
    g_object_unref(b);
    g_hash_table_destroy(v.ids);
    g_ptr_array_free(v.merges, TRUE);
    return rc;
}

/* The ids a copied tokenizer.json gives the special tokens (by content). */
static void find_added_ids(JsonNode *root, const char *image_tag, int ids[3])
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *a = o && json_object_has_member(o, "added_tokens")
                      ? json_object_get_member(o, "added_tokens") : NULL;
    if (!a || !JSON_NODE_HOLDS_ARRAY(a))
        return;
    const char *want[3] = { BOS_TEXT, EOS_TEXT, image_tag };
    JsonArray *arr = json_node_get_array(a);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *el = json_array_get_element(arr, i);
        if (!JSON_NODE_HOLDS_OBJECT(el))
            continue;
        JsonObject *t = json_node_get_object(el);
        const char *content = json_object_get_string_member_with_default(t, "content", "");
        gint64 id = json_object_get_int_member_with_default(t, "id", -1);
        for (int k = 0; k < 3; k++)
            if (strcmp(content, want[k]) == 0 && id >= 0)
                ids[k] = (int)id;
    }
}

static int copy_tokenizer(const char *dir, const dv_config *c, const char *from, int ids[3],
                          dv_err *e)
{
    char *text;
    size_t len;
    int rc = dv_read_file(from, TOKENIZER_MAX_BYTES, &text, &len, e);
    if (rc)
        return rc;
    JsonParser *p;
    JsonNode *root;
    rc = dv_json_parse(text, len, TOKENIZER_MAX_BYTES, from, &p, &root, e);
    if (!rc) {
        ids[0] = c->lm.bos_id;
        ids[1] = c->lm.eos_id;
        ids[2] = -1;
        find_added_ids(root, c->proc.image_tag, ids);
        g_object_unref(p);
        char *path = g_build_filename(dir, "tokenizer.json", NULL);
        GError *ge = NULL;
        if (!g_file_set_contents(path, text, (gssize)len, &ge)) {
            rc = dv_fail(e, DOCVL_EIO, "%s: %s", path, ge->message);
            g_error_free(ge);
        }
        g_free(path);
    }
    free(text);
    return rc;
}

int dv_mk_write_tokenizer(const char *dir, const dv_config *c, const char *copy_from, int ids[3],
                          dv_err *e)
{
    return copy_from ? copy_tokenizer(dir, c, copy_from, ids, e) : generate(dir, c, ids, e);
}
