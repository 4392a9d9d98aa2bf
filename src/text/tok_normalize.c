/* tokenizer.json normalizers: Sequence, NFC/NFD/NFKC/NFKD, Lowercase, Replace,
 * Prepend, Strip. Anything else is refused by name rather than skipped, since
 * a skipped normalizer silently changes every id. */
#include "text/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/json.h"

enum nz_kind { NZ_SEQUENCE, NZ_UNICODE, NZ_LOWERCASE, NZ_REPLACE, NZ_PREPEND, NZ_STRIP };

struct tok_normalizer {
    enum nz_kind kind;
    tok_normalizer **kids;
    size_t n_kids;
    GNormalizeMode mode;
    GRegex *re;
    char *text;        /* Replace: content; Prepend: prepend */
    int left, right;   /* Strip */
};

void tok_normalizer_free(tok_normalizer *nz)
{
    if (!nz)
        return;
    for (size_t i = 0; i < nz->n_kids; i++)
        tok_normalizer_free(nz->kids[i]);
    free(nz->kids);
    if (nz->re)
        g_regex_unref(nz->re);
    free(nz->text);
    free(nz);
}

static int parse_node(JsonNode *node, int depth, tok_normalizer **out, dv_err *e);

static int parse_sequence(JsonObject *o, int depth, tok_normalizer *nz, dv_err *e)
{
    JsonArray *a = NULL;
    int r = dv_json_arr(o, "normalizers", "normalizer Sequence", &a, e);
    if (r < 0)
        return e->code;
    if (r == 0)
        return dv_fail(e, DOCVL_EFORMAT, "normalizer Sequence: no \"normalizers\" array");
    guint n = json_array_get_length(a);
    if (n > TOK_MAX_STAGES)
        return dv_fail(e, DOCVL_ELIMIT, "normalizer Sequence: %u entries, the limit is %d", n,
                       TOK_MAX_STAGES);
    nz->kids = calloc(n ? n : 1, sizeof *nz->kids);
    if (!nz->kids)
        return dv_fail(e, DOCVL_ENOMEM, "normalizer Sequence: out of memory");
    for (guint i = 0; i < n; i++) {
        int rc = parse_node(json_array_get_element(a, i), depth + 1, &nz->kids[i], e);
        if (rc != DOCVL_OK)
            return dv_wrap(e, "normalizer Sequence entry %u", i);
        nz->n_kids++;
    }
    return DOCVL_OK;
}

/* Split and Replace share this shape: {"String": s} or {"Regex": r}. */
static int parse_pattern(JsonObject *o, const char *what, GRegex **re, dv_err *e)
{
    JsonObject *p = NULL;
    if (dv_json_obj(o, "pattern", what, &p, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "%s: no \"pattern\"", what);
    const char *s = NULL;
    int r = dv_json_str(p, "Regex", what, &s, e);
    if (r < 0)
        return e->code;
    if (r > 0)
        return tok_regex_compile(s, what, re, e);
    r = dv_json_str(p, "String", what, &s, e);
    if (r < 0)
        return e->code;
    if (r == 0)
        return dv_fail(e, DOCVL_EFORMAT, "%s: pattern is neither \"String\" nor \"Regex\"", what);
    char *esc = g_regex_escape_string(s, -1);
    int rc = tok_regex_compile(esc, what, re, e);
    g_free(esc);
    return rc;
}

static int dup_member(JsonObject *o, const char *key, const char *what, char **out, dv_err *e)
{
    const char *s = NULL;
    int r = dv_json_str(o, key, what, &s, e);
    if (r < 0)
        return e->code;
    if (r == 0)
        return dv_fail(e, DOCVL_EFORMAT, "%s: missing string \"%s\"", what, key);
    *out = strdup(s);
    return *out ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "%s: out of memory", what);
}

static int parse_kind(JsonObject *o, const char *type, int depth, tok_normalizer *nz, dv_err *e)
{
    static const struct { const char *name; GNormalizeMode mode; } forms[] = {
        {"NFC", G_NORMALIZE_NFC}, {"NFD", G_NORMALIZE_NFD},
        {"NFKC", G_NORMALIZE_NFKC}, {"NFKD", G_NORMALIZE_NFKD},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(forms); i++) {
        if (strcmp(type, forms[i].name) == 0) {
            nz->kind = NZ_UNICODE;
            nz->mode = forms[i].mode;
            return DOCVL_OK;
        }
    }
    if (strcmp(type, "Sequence") == 0) {
        nz->kind = NZ_SEQUENCE;
        return parse_sequence(o, depth, nz, e);
    }
    if (strcmp(type, "Lowercase") == 0) {
        nz->kind = NZ_LOWERCASE;
        return DOCVL_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        nz->kind = NZ_REPLACE;
        int rc = parse_pattern(o, "normalizer Replace", &nz->re, e);
        return rc ? rc : dup_member(o, "content", "normalizer Replace", &nz->text, e);
    }
    if (strcmp(type, "Prepend") == 0) {
        nz->kind = NZ_PREPEND;
        return dup_member(o, "prepend", "normalizer Prepend", &nz->text, e);
    }
    if (strcmp(type, "Strip") == 0) {
        nz->kind = NZ_STRIP;
        nz->left = nz->right = 1;
        if (dv_json_bool(o, "strip_left", "normalizer Strip", &nz->left, e) < 0 ||
            dv_json_bool(o, "strip_right", "normalizer Strip", &nz->right, e) < 0)
            return e->code;
        return DOCVL_OK;
    }
    return dv_fail(e, DOCVL_EUNSUPPORTED, "normalizer type \"%s\" is not supported", type);
}

static int parse_node(JsonNode *node, int depth, tok_normalizer **out, dv_err *e)
{
    *out = NULL;
    if (depth > 8)
        return dv_fail(e, DOCVL_ELIMIT, "normalizer: Sequences nested too deeply");
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return dv_fail(e, DOCVL_EFORMAT, "normalizer: expected an object");
    JsonObject *o = json_node_get_object(node);
    const char *type = NULL;
    if (dv_json_str(o, "type", "normalizer", &type, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "normalizer: no \"type\"");
    tok_normalizer *nz = calloc(1, sizeof *nz);
    if (!nz)
        return dv_fail(e, DOCVL_ENOMEM, "normalizer: out of memory");
    int rc = parse_kind(o, type, depth, nz, e);
    if (rc != DOCVL_OK) {
        tok_normalizer_free(nz);
        return rc;
    }
    *out = nz;
    return DOCVL_OK;
}

int tok_normalizer_parse(JsonNode *node, tok_normalizer **out, dv_err *e)
{
    *out = NULL;
    if (!node || JSON_NODE_HOLDS_NULL(node))
        return DOCVL_OK;
    return parse_node(node, 0, out, e);
}

/* g_utf8_normalize stops at NUL, so each NUL-free run goes separately. */
static int norm_unicode(GNormalizeMode mode, const char *s, size_t len, tok_buf *out)
{
    size_t i = 0;
    while (i < len) {
        const char *nul = memchr(s + i, '\0', len - i);
        size_t run = nul ? (size_t)(nul - (s + i)) : len - i;
        if (run) {
            char *n = g_utf8_normalize(s + i, (gssize)run, mode);
            if (!n)
                return -1;
            int rc = tok_buf_append(out, n, strlen(n));
            g_free(n);
            if (rc)
                return -1;
        }
        i += run;
        if (nul) {
            if (tok_buf_append(out, "", 1))
                return -1;
            i++;
        }
    }
    return 0;
}

static int norm_lower(const char *s, size_t len, tok_buf *out)
{
    for (const char *p = s; p < s + len; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        char tmp[12];
        size_t n;
        if (c == 0x130) {
            /* the one unconditional multi-character lowercase mapping */
            memcpy(tmp, "i\xCC\x87", 3);
            n = 3;
        } else {
            n = (size_t)g_unichar_to_utf8(g_unichar_tolower(c), tmp);
        }
        if (tok_buf_append(out, tmp, n))
            return -1;
    }
    return 0;
}

typedef struct replace_ctx {
    const char *s;
    size_t done;
    const char *with;
    tok_buf *out;
} replace_ctx;

static int replace_one(size_t a, size_t b, void *user)
{
    replace_ctx *c = user;
    if (tok_buf_append(c->out, c->s + c->done, a - c->done) ||
        tok_buf_append(c->out, c->with, strlen(c->with)))
        return DOCVL_ENOMEM;
    c->done = b;
    return DOCVL_OK;
}

static int norm_replace(const tok_normalizer *nz, const char *s, size_t len, tok_buf *out,
                        dv_err *e)
{
    replace_ctx c = {s, 0, nz->text, out};
    int rc = tok_regex_each(nz->re, s, len, replace_one, &c, e);
    if (rc == DOCVL_ENOMEM)
        return dv_fail(e, rc, "normalizer Replace: out of memory");
    if (rc)
        return rc;
    return tok_buf_append(out, s + c.done, len - c.done) ? DOCVL_ENOMEM : DOCVL_OK;
}

static int norm_strip(const tok_normalizer *nz, const char *s, size_t len, tok_buf *out)
{
    const char *a = s, *b = s + len;
    while (nz->left && a < b && tok_is_white_space(g_utf8_get_char(a)))
        a = g_utf8_next_char(a);
    while (nz->right && b > a) {
        const char *p = g_utf8_find_prev_char(a, b);
        if (!p || !tok_is_white_space(g_utf8_get_char(p)))
            break;
        b = p;
    }
    return tok_buf_append(out, a, (size_t)(b - a));
}

static int norm_sequence(const tok_normalizer *nz, const char *s, size_t len, tok_buf *out,
                         dv_err *e)
{
    tok_buf cur = {0}, next = {0};
    int rc = tok_buf_append(&cur, s, len) ? DOCVL_ENOMEM : DOCVL_OK;
    for (size_t i = 0; i < nz->n_kids && rc == DOCVL_OK; i++) {
        next.n = 0;
        rc = tok_normalize(nz->kids[i], cur.p, cur.n, &next, e);
        tok_buf t = cur;
        cur = next;
        next = t;
    }
    if (rc == DOCVL_OK && tok_buf_append(out, cur.p, cur.n))
        rc = DOCVL_ENOMEM;
    tok_buf_free(&cur);
    tok_buf_free(&next);
    return rc;
}

int tok_normalize(const tok_normalizer *nz, const char *s, size_t len, tok_buf *out, dv_err *e)
{
    int bad = 0;
    if (!s)
        s = "";
    switch (nz->kind) {
    case NZ_SEQUENCE:
        return norm_sequence(nz, s, len, out, e);
    case NZ_REPLACE:
        return norm_replace(nz, s, len, out, e);
    case NZ_UNICODE:
        bad = norm_unicode(nz->mode, s, len, out);
        break;
    case NZ_LOWERCASE:
        bad = norm_lower(s, len, out);
        break;
    case NZ_PREPEND:
        bad = (len && tok_buf_append(out, nz->text, strlen(nz->text))) ||
              tok_buf_append(out, s, len);
        break;
    case NZ_STRIP:
        bad = norm_strip(nz, s, len, out);
        break;
    }
    return bad ? dv_fail(e, DOCVL_ENOMEM, "normalizer: out of memory") : DOCVL_OK;
}
