/* tokenizer.json loading and the encode/decode pipeline: added tokens (raw,
 * then normalized), normalizer, pre-tokenizers, BPE, post-processor BOS/EOS;
 * decode through the ByteLevel decoder the way Rust tokenizers does. */
#include "text/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "text/tok_internal.h"

enum decoder_kind { DEC_NONE, DEC_BYTELEVEL };

struct dv_tokenizer {
    tok_bpe *bpe;
    tok_normalizer *nz;
    tok_pretok *pt;
    tok_added *added;
    size_t n_added;
    tok_trie *trie_raw, *trie_norm;   /* normalized=false / normalized=true tokens */
    tok_map added_map;                /* content -> id (keys borrow added[].content) */
    int32_t *added_of_id;             /* id -> index into added, or -1 */
    int32_t n_ids;                    /* largest id + 1 */
    int32_t *prefix, *suffix;         /* special ids around a single sequence */
    size_t n_prefix, n_suffix;
    int32_t bos, eos;
    enum decoder_kind decoder;
    int16_t cp_to_byte[TOK_BYTELEVEL_MAX_CP];
};

void dv_tokenizer_free(dv_tokenizer *t)
{
    if (!t)
        return;
    tok_bpe_free(t->bpe);
    tok_normalizer_free(t->nz);
    tok_pretok_free(t->pt);
    for (size_t i = 0; i < t->n_added; i++)
        free(t->added[i].content);
    free(t->added);
    tok_trie_free(t->trie_raw);
    tok_trie_free(t->trie_norm);
    tok_map_free(&t->added_map);
    free(t->added_of_id);
    free(t->prefix);
    free(t->suffix);
    free(t);
}

/* ------------------------------------------------------------ added tokens */

static int flag(JsonObject *o, const char *key, int dflt, guint i, dv_err *e)
{
    int v = dflt;
    if (dv_json_bool(o, key, "added_tokens entry", &v, e) < 0)
        return dv_wrap(e, "added_tokens[%u]", i), -1;
    return v;
}

static int parse_added_one(JsonNode *node, guint i, tok_added *a, dv_err *e)
{
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return dv_fail(e, DOCVL_EFORMAT, "added_tokens[%u]: expected an object", i);
    JsonObject *o = json_node_get_object(node);
    long long id = -1;
    const char *content = NULL;
    if (dv_json_int(o, "id", "added token", &id, e) <= 0 ||
        dv_json_str(o, "content", "added token", &content, e) <= 0)
        return e->code ? dv_wrap(e, "added_tokens[%u]", i)
                       : dv_fail(e, DOCVL_EFORMAT, "added_tokens[%u]: needs id and content", i);
    if (id < 0 || id >= TOK_MAX_VOCAB)
        return dv_fail(e, DOCVL_ELIMIT, "added_tokens[%u] \"%s\": id %lld outside 0..%d", i,
                       content, id, TOK_MAX_VOCAB - 1);
    size_t len = strlen(content);
    if (len > TOK_MAX_TOKEN_BYTES)
        return dv_fail(e, DOCVL_ELIMIT, "added_tokens[%u]: content of %zu bytes, limit %d", i,
                       len, TOK_MAX_TOKEN_BYTES);
    int special = flag(o, "special", 0, i, e), single = flag(o, "single_word", 0, i, e);
    int lstrip = flag(o, "lstrip", 0, i, e), rstrip = flag(o, "rstrip", 0, i, e);
    int normalized = flag(o, "normalized", !special, i, e);
    if (special < 0 || single < 0 || lstrip < 0 || rstrip < 0 || normalized < 0)
        return e->code;
    if (!(a->content = strdup(content)))
        return dv_fail(e, DOCVL_ENOMEM, "added_tokens: out of memory");
    a->len = len;
    a->id = (int32_t)id;
    a->special = special != 0;
    a->single_word = single != 0;
    a->lstrip = lstrip != 0;
    a->rstrip = rstrip != 0;
    a->normalized = normalized != 0;
    return DOCVL_OK;
}

/* tokenizers does not take the "id" of an added token as given: it re-adds
 * each token, reusing the id its content already has (as an added token or in
 * the model vocab), else taking the next id after the vocab and the added
 * tokens so far. Well-formed files agree; where they do not, its ids win. */
static int32_t assigned_id(const dv_tokenizer *t, const tok_added *x, int32_t max_id)
{
    int32_t id = tok_map_get(&t->added_map, x->content, x->len);
    if (id < 0)
        id = tok_map_get(tok_bpe_vocab(t->bpe), x->content, x->len);
    if (id >= 0)
        return id;
    int32_t vocab_len = (int32_t)tok_bpe_vocab(t->bpe)->n;
    if (max_id < 0)
        return vocab_len;
    return max_id >= vocab_len || vocab_len == 0 ? max_id + 1 : vocab_len;
}

static int parse_added(JsonObject *root, dv_tokenizer *t, dv_err *e)
{
    JsonArray *a = NULL;
    int r = dv_json_arr(root, "added_tokens", "tokenizer", &a, e);
    if (r <= 0)
        return r < 0 ? e->code : DOCVL_OK;
    guint n = json_array_get_length(a);
    if (n > TOK_MAX_ADDED)
        return dv_fail(e, DOCVL_ELIMIT, "added_tokens: %u entries, the limit is %d", n,
                       TOK_MAX_ADDED);
    t->added = calloc(n ? n : 1, sizeof *t->added);
    if (!t->added)
        return dv_fail(e, DOCVL_ENOMEM, "added_tokens: out of memory");
    int32_t max_id = -1;
    for (guint i = 0; i < n; i++) {
        tok_added *x = &t->added[t->n_added];
        if (parse_added_one(json_array_get_element(a, i), i, x, e) != DOCVL_OK)
            return e->code;
        t->n_added++;
        /* empty contents can never match; tokenizers ignores them */
        if (!x->len)
            continue;
        x->id = assigned_id(t, x, max_id);
        if (x->id >= TOK_MAX_VOCAB)
            return dv_fail(e, DOCVL_ELIMIT, "added_tokens[%u]: id %d over the limit", i, x->id);
        if (x->id > max_id)
            max_id = x->id;
        if (tok_map_put(&t->added_map, x->content, x->len, x->id))
            return dv_fail(e, DOCVL_ENOMEM, "added_tokens: out of memory");
    }
    return DOCVL_OK;
}

static int index_ids(dv_tokenizer *t, dv_err *e)
{
    t->n_ids = tok_bpe_size(t->bpe);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len && t->added[i].id + 1 > t->n_ids)
            t->n_ids = t->added[i].id + 1;
    t->added_of_id = malloc((t->n_ids ? (size_t)t->n_ids : 1) * sizeof *t->added_of_id);
    if (!t->added_of_id)
        return dv_fail(e, DOCVL_ENOMEM, "tokenizer: out of memory for %d ids", t->n_ids);
    for (int32_t i = 0; i < t->n_ids; i++)
        t->added_of_id[i] = -1;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len)
            t->added_of_id[t->added[i].id] = (int32_t)i;
    return DOCVL_OK;
}

/* ------------------------------------------------------------ post-processor */

static int push_ids(int32_t **v, size_t *n, JsonArray *ids, const char *name, dv_err *e)
{
    guint k = json_array_get_length(ids);
    int32_t *p = realloc(*v, (*n + k + 1) * sizeof *p);
    if (!p)
        return dv_fail(e, DOCVL_ENOMEM, "post_processor: out of memory");
    *v = p;
    for (guint i = 0; i < k; i++) {
        JsonNode *x = json_array_get_element(ids, i);
        if (!JSON_NODE_HOLDS_VALUE(x) || json_node_get_value_type(x) != G_TYPE_INT64 ||
            json_node_get_int(x) < 0 || json_node_get_int(x) >= TOK_MAX_VOCAB)
            return dv_fail(e, DOCVL_EFORMAT, "post_processor special token \"%s\": bad id",
                           name);
        p[(*n)++] = (int32_t)json_node_get_int(x);
    }
    return DOCVL_OK;
}

static int template_item(dv_tokenizer *t, JsonObject *item, JsonObject *specials, int *seen_a,
                         dv_err *e)
{
    const char *what = "post_processor TemplateProcessing";
    JsonObject *st = NULL, *sq = NULL, *sp = NULL;
    JsonArray *ids = NULL;
    const char *name = NULL;
    if (dv_json_obj(item, "Sequence", what, &sq, e) < 0 ||
        dv_json_obj(item, "SpecialToken", what, &st, e) < 0)
        return e->code;
    if (sq) {
        const char *seq = NULL;
        if (dv_json_str(sq, "id", what, &seq, e) < 0)
            return e->code;
        if (seq && strcmp(seq, "A") != 0)
            return dv_fail(e, DOCVL_EFORMAT, "%s: single template uses sequence \"%s\"", what,
                           seq);
        *seen_a = 1;
        return DOCVL_OK;
    }
    if (!st || dv_json_str(st, "id", what, &name, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "%s: unknown template item", what);
    if (!specials || dv_json_obj(specials, name, what, &sp, e) <= 0 ||
        dv_json_arr(sp, "ids", what, &ids, e) <= 0)
        return e->code ? e->code
                       : dv_fail(e, DOCVL_EFORMAT, "%s: special token \"%s\" has no ids", what,
                                 name);
    return *seen_a ? push_ids(&t->suffix, &t->n_suffix, ids, name, e)
                   : push_ids(&t->prefix, &t->n_prefix, ids, name, e);
}

static int parse_template(dv_tokenizer *t, JsonObject *o, dv_err *e)
{
    const char *what = "post_processor TemplateProcessing";
    JsonArray *single = NULL;
    JsonObject *specials = NULL;
    if (dv_json_arr(o, "single", what, &single, e) <= 0 ||
        dv_json_obj(o, "special_tokens", what, &specials, e) < 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "%s: no \"single\" template", what);
    int seen_a = 0;
    for (guint i = 0; i < json_array_get_length(single); i++) {
        JsonNode *n = json_array_get_element(single, i);
        if (!JSON_NODE_HOLDS_OBJECT(n))
            return dv_fail(e, DOCVL_EFORMAT, "%s: single[%u] is not an object", what, i);
        if (template_item(t, json_node_get_object(n), specials, &seen_a, e) != DOCVL_OK)
            return e->code;
    }
    return DOCVL_OK;
}

/* BertProcessing / RobertaProcessing: "cls" before and "sep" after, each a
 * [token, id] pair. */
static int cls_sep_item(JsonObject *o, const char *key, const char *type, int32_t **v,
                        size_t *n, dv_err *e)
{
    JsonArray *a = NULL;
    if (dv_json_arr(o, key, type, &a, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "%s: no \"%s\"", type, key);
    JsonNode *id = json_array_get_length(a) == 2 ? json_array_get_element(a, 1) : NULL;
    if (!id || !JSON_NODE_HOLDS_VALUE(id) || json_node_get_value_type(id) != G_TYPE_INT64 ||
        json_node_get_int(id) < 0 || json_node_get_int(id) >= TOK_MAX_VOCAB)
        return dv_fail(e, DOCVL_EFORMAT, "%s: \"%s\" is not a [token, id] pair", type, key);
    int32_t *p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p)
        return dv_fail(e, DOCVL_ENOMEM, "post_processor: out of memory");
    *v = p;
    p[(*n)++] = (int32_t)json_node_get_int(id);
    return DOCVL_OK;
}

static int parse_post(dv_tokenizer *t, JsonNode *node, int depth, dv_err *e)
{
    if (!node || JSON_NODE_HOLDS_NULL(node))
        return DOCVL_OK;
    if (!JSON_NODE_HOLDS_OBJECT(node) || depth > 8)
        return dv_fail(e, DOCVL_EFORMAT, "post_processor: expected an object");
    JsonObject *o = json_node_get_object(node);
    const char *type = NULL;
    if (dv_json_str(o, "type", "post_processor", &type, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "post_processor: no \"type\"");
    if (strcmp(type, "ByteLevel") == 0)
        return DOCVL_OK;   /* it only adjusts offsets */
    if (strcmp(type, "TemplateProcessing") == 0)
        return parse_template(t, o, e);
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0)
        return cls_sep_item(o, "cls", type, &t->prefix, &t->n_prefix, e) ||
               cls_sep_item(o, "sep", type, &t->suffix, &t->n_suffix, e) ? e->code : DOCVL_OK;
    if (strcmp(type, "Sequence") == 0) {
        JsonArray *a = NULL;
        if (dv_json_arr(o, "processors", "post_processor Sequence", &a, e) <= 0)
            return e->code ? e->code
                           : dv_fail(e, DOCVL_EFORMAT, "post_processor Sequence: no processors");
        for (guint i = 0; i < json_array_get_length(a); i++)
            if (parse_post(t, json_array_get_element(a, i), depth + 1, e) != DOCVL_OK)
                return e->code;
        return DOCVL_OK;
    }
    return dv_fail(e, DOCVL_EUNSUPPORTED, "post_processor type \"%s\" is not supported", type);
}

static int parse_decoder(dv_tokenizer *t, JsonNode *node, dv_err *e)
{
    uint32_t unused[256];
    tok_bytelevel_tables(unused, t->cp_to_byte, TOK_BYTELEVEL_MAX_CP);
    t->decoder = DEC_NONE;
    if (!node || JSON_NODE_HOLDS_NULL(node))
        return DOCVL_OK;
    const char *type = NULL;
    if (!JSON_NODE_HOLDS_OBJECT(node) ||
        dv_json_str(json_node_get_object(node), "type", "decoder", &type, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "decoder: no \"type\"");
    if (strcmp(type, "ByteLevel") != 0)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "decoder type \"%s\" is not supported", type);
    t->decoder = DEC_BYTELEVEL;
    return DOCVL_OK;
}

/* ------------------------------------------------------------ tokenizer_config */

/* bos_token/eos_token: a string or an AddedToken object with "content". */
static int config_token(dv_tokenizer *t, JsonObject *cfg, const char *key, int32_t *id,
                        dv_err *e)
{
    JsonNode *n = json_object_get_member(cfg, key);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return DOCVL_OK;
    const char *s = NULL;
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        if (dv_json_str(json_node_get_object(n), "content", key, &s, e) < 0)
            return dv_wrap(e, "tokenizer_config.json");
    } else if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        s = json_node_get_string(n);
    }
    if (!s)
        return dv_fail(e, DOCVL_EFORMAT, "tokenizer_config.json: %s is not a token", key);
    *id = dv_tokenizer_token_id(t, s);
    if (*id < 0)
        return dv_fail(e, DOCVL_EFORMAT, "tokenizer_config.json: %s \"%s\" is not a token", key,
                       s);
    return DOCVL_OK;
}

static int set_single(int32_t **v, size_t *n, int on, int32_t id, const char *name, dv_err *e)
{
    *n = 0;
    if (!on)
        return DOCVL_OK;
    if (id < 0)
        return dv_fail(e, DOCVL_EFORMAT, "tokenizer_config.json: add_%s_token is set but "
                       "%s_token is missing", name, name);
    int32_t *p = realloc(*v, sizeof *p);
    if (!p)
        return dv_fail(e, DOCVL_ENOMEM, "tokenizer_config.json: out of memory");
    *v = p;
    p[0] = id;
    *n = 1;
    return DOCVL_OK;
}

/* transformers' Llama-style tokenizers rebuild the post-processor from
 * add_bos_token / add_eos_token; without those keys tokenizer.json decides. */
static int apply_config(dv_tokenizer *t, const char *json, size_t len, dv_err *e)
{
    t->bos = t->n_prefix ? t->prefix[0] : -1;
    t->eos = t->n_suffix ? t->suffix[t->n_suffix - 1] : -1;
    if (!json)
        return DOCVL_OK;
    JsonParser *p = NULL;
    JsonNode *root = NULL;
    if (dv_json_parse(json, len, TOK_MAX_CONFIG_BYTES, "tokenizer_config.json", &p, &root, e))
        return e->code;
    int rc = DOCVL_OK, add_bos = -1, add_eos = -1;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        rc = dv_fail(e, DOCVL_EFORMAT, "tokenizer_config.json: not an object");
    } else {
        JsonObject *o = json_node_get_object(root);
        if (config_token(t, o, "bos_token", &t->bos, e) ||
            config_token(t, o, "eos_token", &t->eos, e) ||
            dv_json_bool(o, "add_bos_token", "tokenizer_config.json", &add_bos, e) < 0 ||
            dv_json_bool(o, "add_eos_token", "tokenizer_config.json", &add_eos, e) < 0)
            rc = e->code;
    }
    if (rc == DOCVL_OK && (add_bos >= 0 || add_eos >= 0)) {
        rc = set_single(&t->prefix, &t->n_prefix, add_bos > 0, t->bos, "bos", e);
        if (rc == DOCVL_OK)
            rc = set_single(&t->suffix, &t->n_suffix, add_eos > 0, t->eos, "eos", e);
    }
    g_object_unref(p);
    return rc;
}

/* ------------------------------------------------------------ loading */

static int check_ids(const dv_tokenizer *t, dv_err *e)
{
    for (size_t i = 0; i < t->n_prefix + t->n_suffix; i++) {
        int32_t id = i < t->n_prefix ? t->prefix[i] : t->suffix[i - t->n_prefix];
        if (id >= t->n_ids || !dv_tokenizer_token_str(t, id))
            return dv_fail(e, DOCVL_EFORMAT, "post_processor: id %d is not a token", id);
    }
    return DOCVL_OK;
}

static int load_root(dv_tokenizer *t, JsonObject *root, dv_err *e)
{
    JsonObject *model = NULL;
    if (dv_json_obj(root, "model", "tokenizer", &model, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "no \"model\" object");
    if (tok_bpe_parse(model, &t->bpe, e) || parse_added(root, t, e) || index_ids(t, e) ||
        tok_normalizer_parse(json_object_get_member(root, "normalizer"), &t->nz, e) ||
        tok_pretok_parse(json_object_get_member(root, "pre_tokenizer"), &t->pt, e) ||
        parse_post(t, json_object_get_member(root, "post_processor"), 0, e) ||
        parse_decoder(t, json_object_get_member(root, "decoder"), e) || check_ids(t, e))
        return e->code;
    if (tok_trie_build(t->added, t->n_added, 0, NULL, &t->trie_raw, e) ||
        tok_trie_build(t->added, t->n_added, 1, t->nz, &t->trie_norm, e))
        return e->code;
    return DOCVL_OK;
}

int dv_tokenizer_load(const char *json, size_t len, const char *config_json, size_t config_len,
                      const char *what, dv_tokenizer **out, dv_err *e)
{
    *out = NULL;
    if (!what)
        what = "tokenizer.json";
    JsonParser *p = NULL;
    JsonNode *root = NULL;
    if (dv_json_parse(json, len, TOK_MAX_JSON_BYTES, what, &p, &root, e))
        return e->code;
    dv_tokenizer *t = calloc(1, sizeof *t);
    int rc = t ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "%s: out of memory", what);
    if (rc == DOCVL_OK && !JSON_NODE_HOLDS_OBJECT(root))
        rc = dv_fail(e, DOCVL_EFORMAT, "not a JSON object");
    if (rc == DOCVL_OK)
        rc = load_root(t, json_node_get_object(root), e);
    g_object_unref(p);
    if (rc == DOCVL_OK)
        rc = apply_config(t, config_json, config_len, e);
    if (rc != DOCVL_OK) {
        dv_tokenizer_free(t);
        return dv_wrap(e, "%s", what);
    }
    *out = t;
    return DOCVL_OK;
}

int dv_tokenizer_open(const char *path, dv_tokenizer **out, dv_err *e)
{
    *out = NULL;
    char *json = NULL, *cfg = NULL;
    size_t len = 0, cfg_len = 0;
    if (dv_read_file(path, TOK_MAX_JSON_BYTES, &json, &len, e))
        return e->code;
    char *dir = g_path_get_dirname(path);
    char *cfg_path = g_build_filename(dir, "tokenizer_config.json", NULL);
    int rc = DOCVL_OK;
    if (g_file_test(cfg_path, G_FILE_TEST_EXISTS))
        rc = dv_read_file(cfg_path, TOK_MAX_CONFIG_BYTES, &cfg, &cfg_len, e);
    if (rc == DOCVL_OK)
        rc = dv_tokenizer_load(json, len, cfg, cfg_len, path, out, e);
    free(json);
    free(cfg);
    g_free(dir);
    g_free(cfg_path);
    return rc;
}

/* ------------------------------------------------------------ encoding */

typedef struct enc_state {
    tok_buf buf;
    tok_splits a, b;   /* current splits in a; b is scratch */
} enc_state;

static void enc_swap(enc_state *s)
{
    tok_splits t = s->a;
    s->a = s->b;
    s->b = t;
    s->b.n = 0;
}

static int enc_normalize(const dv_tokenizer *t, enc_state *s, dv_err *e)
{
    tok_buf tmp = {0};
    int rc = DOCVL_OK;
    for (size_t i = 0; i < s->a.n && rc == DOCVL_OK; i++) {
        tok_split *sp = &s->a.v[i];
        if (sp->id >= 0)
            continue;
        tmp.n = 0;
        rc = tok_normalize(t->nz, s->buf.p + sp->off, sp->len, &tmp, e);
        if (rc == DOCVL_OK) {
            size_t at = s->buf.n;
            if (tok_buf_append(&s->buf, tmp.p, tmp.n))
                rc = dv_fail(e, DOCVL_ENOMEM, "normalizing: out of memory");
            *sp = (tok_split){at, tmp.n, -1};
        }
    }
    tok_buf_free(&tmp);
    return rc;
}

static int enc_pieces(const dv_tokenizer *t, const char *text, size_t len, enc_state *s,
                      dv_err *e)
{
    if (tok_buf_append(&s->buf, text, len) || (len && tok_splits_push(&s->a, 0, len, -1)))
        return dv_fail(e, DOCVL_ENOMEM, "encoding: out of memory");
    if (t->trie_raw) {
        if (tok_trie_split(t->trie_raw, t->added, &s->buf, &s->a, &s->b, e))
            return e->code;
        enc_swap(s);
    }
    if (t->nz && enc_normalize(t, s, e))
        return e->code;
    if (t->trie_norm) {
        if (tok_trie_split(t->trie_norm, t->added, &s->buf, &s->a, &s->b, e))
            return e->code;
        enc_swap(s);
    }
    if (t->pt) {
        if (tok_pretok_run(t->pt, &s->buf, &s->a, &s->b, e))
            return e->code;
        enc_swap(s);
    }
    return DOCVL_OK;
}

static int push_id(int32_t **ids, size_t *n, size_t *cap, int32_t id)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        int32_t *p = realloc(*ids, c * sizeof *p);
        if (!p)
            return -1;
        *ids = p;
        *cap = c;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

static int enc_model(const dv_tokenizer *t, const enc_state *s, int add_special, int32_t **ids,
                     size_t *n, dv_err *e)
{
    size_t cap = 0;
    tok_bpe_cache *cache = tok_bpe_cache_new();
    int rc = cache ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "encoding: out of memory");
    for (size_t i = 0; add_special && i < t->n_prefix && rc == DOCVL_OK; i++)
        if (push_id(ids, n, &cap, t->prefix[i]))
            rc = dv_fail(e, DOCVL_ENOMEM, "encoding: out of memory");
    for (size_t i = 0; i < s->a.n && rc == DOCVL_OK; i++) {
        tok_split sp = s->a.v[i];
        if (sp.id >= 0) {
            if (push_id(ids, n, &cap, sp.id))
                rc = dv_fail(e, DOCVL_ENOMEM, "encoding: out of memory");
        } else {
            rc = tok_bpe_word(t->bpe, cache, s->buf.p + sp.off, sp.len, ids, n, &cap, e);
        }
    }
    for (size_t i = 0; add_special && i < t->n_suffix && rc == DOCVL_OK; i++)
        if (push_id(ids, n, &cap, t->suffix[i]))
            rc = dv_fail(e, DOCVL_ENOMEM, "encoding: out of memory");
    tok_bpe_cache_free(cache);
    return rc;
}

/* Offset of the first invalid UTF-8 byte, or len. U+0000 is valid text here,
 * though GLib's validator stops at it. */
static size_t utf8_invalid_at(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *end = NULL;
        if (g_utf8_validate_len(text + i, len - i, &end))
            return len;
        i = (size_t)(end - text);
        if (text[i] != '\0')
            return i;
        i++;
    }
    return len;
}

int dv_tokenizer_encode(const dv_tokenizer *t, const char *text, size_t len, int add_bos,
                        int32_t **ids, size_t *n_ids, dv_err *e)
{
    *ids = NULL;
    *n_ids = 0;
    if (!t || (!text && len))
        return dv_fail(e, DOCVL_EINVAL, "encode: no tokenizer or no text");
    if (len > (size_t)1 << 30)
        return dv_fail(e, DOCVL_ELIMIT, "encode: %zu bytes of text, the limit is 1 GiB", len);
    size_t bad = utf8_invalid_at(text, len);
    if (bad < len)
        return dv_fail(e, DOCVL_EINVAL, "encode: text is not valid UTF-8 at byte %zu", bad);
    enc_state s = {0};
    int rc = enc_pieces(t, text, len, &s, e);
    if (rc == DOCVL_OK)
        rc = enc_model(t, &s, add_bos, ids, n_ids, e);
    tok_buf_free(&s.buf);
    tok_splits_free(&s.a);
    tok_splits_free(&s.b);
    if (rc != DOCVL_OK) {
        free(*ids);
        *ids = NULL;
        *n_ids = 0;
    }
    return rc;
}

/* ------------------------------------------------------------ decoding */

/* ByteLevel: a token whose every character is in the byte alphabet becomes
 * those bytes; any other token (e.g. "<｜end▁of▁sentence｜>") stays as is. */
static int bytelevel_token(const dv_tokenizer *t, const char *s, tok_buf *out)
{
    size_t start = out->n, len = strlen(s);
    if (tok_buf_reserve(out, len))
        return -1;
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c >= TOK_BYTELEVEL_MAX_CP || t->cp_to_byte[c] < 0) {
            out->n = start;
            return tok_buf_append(out, s, len);
        }
        out->p[out->n++] = (char)t->cp_to_byte[c];
    }
    return 0;
}

int dv_tokenizer_decode_n(const dv_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                          char **text, size_t *len, dv_err *e)
{
    *text = NULL;
    if (len)
        *len = 0;
    tok_buf raw = {0}, out = {0};
    int bad = 0, first = 1;
    for (size_t i = 0; i < n && !bad; i++) {
        const char *s = dv_tokenizer_token_str(t, ids[i]);
        if (!s || (skip_special && dv_tokenizer_is_special(t, ids[i])))
            continue;   /* unknown ids vanish, as in tokenizers */
        if (t->decoder == DEC_BYTELEVEL)
            bad = bytelevel_token(t, s, &raw);
        else
            bad = (!first && tok_buf_append(&raw, " ", 1)) || tok_buf_append(&raw, s, strlen(s));
        first = 0;
    }
    if (!bad)
        bad = tok_utf8_lossy((const unsigned char *)raw.p, raw.n, &out) ||
              tok_buf_append(&out, "", 1);
    tok_buf_free(&raw);
    if (bad) {
        tok_buf_free(&out);
        return dv_fail(e, DOCVL_ENOMEM, "decode: out of memory");
    }
    *text = out.p;
    if (len)
        *len = out.n - 1;
    return DOCVL_OK;
}

int dv_tokenizer_decode(const dv_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                        char **text, dv_err *e)
{
    return dv_tokenizer_decode_n(t, ids, n, skip_special, text, NULL, e);
}

/* ------------------------------------------------------------ queries */

int32_t dv_tokenizer_token_id(const dv_tokenizer *t, const char *token)
{
    size_t n = strlen(token);
    int32_t id = tok_map_get(&t->added_map, token, n);
    return id >= 0 ? id : tok_map_get(tok_bpe_vocab(t->bpe), token, n);
}

const char *dv_tokenizer_token_str(const dv_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_ids)
        return NULL;
    if (t->added_of_id[id] >= 0)
        return t->added[t->added_of_id[id]].content;
    return tok_bpe_str(t->bpe, id);
}

int dv_tokenizer_vocab_size(const dv_tokenizer *t) { return t->n_ids; }
int32_t dv_tokenizer_bos(const dv_tokenizer *t) { return t->bos; }
int32_t dv_tokenizer_eos(const dv_tokenizer *t) { return t->eos; }
int dv_tokenizer_adds_bos(const dv_tokenizer *t) { return t->n_prefix > 0; }

int dv_tokenizer_is_special(const dv_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_ids && t->added_of_id[id] >= 0 &&
           t->added[t->added_of_id[id]].special;
}
