/* Pre-tokenizers of tokenizer.json: Sequence, Split (regex or literal, five
 * delimiter behaviours, invert), Digits and ByteLevel, with the semantics of
 * Hugging Face tokenizers (each stage works on each piece separately; empty
 * pieces vanish). */
#include "text/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/json.h"

/* ByteLevel's use_regex splits with GPT-2's pattern; it is part of the
 * ByteLevel definition and does not appear in tokenizer.json. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

enum pt_kind { PT_SEQUENCE, PT_SPLIT, PT_DIGITS, PT_BYTELEVEL };
enum pt_behavior { B_REMOVED, B_ISOLATED, B_MERGED_PREV, B_MERGED_NEXT, B_CONTIGUOUS };

struct tok_pretok {
    enum pt_kind kind;
    tok_pretok **kids;
    size_t n_kids;
    GRegex *re;                 /* Split pattern, or ByteLevel's GPT-2 regex */
    enum pt_behavior behavior;
    int invert;
    int add_prefix_space;
    uint32_t byte_to_cp[256];
};

/* One run of a piece: a pattern match or the text between matches. */
typedef struct seg {
    size_t a, b;
    int match;
} seg;

typedef struct segs {
    seg *v;
    size_t n, cap;
} segs;

static int segs_push(segs *s, size_t a, size_t b, int match)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        seg *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return DOCVL_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (seg){a, b, match};
    return DOCVL_OK;
}

void tok_pretok_free(tok_pretok *pt)
{
    if (!pt)
        return;
    for (size_t i = 0; i < pt->n_kids; i++)
        tok_pretok_free(pt->kids[i]);
    free(pt->kids);
    if (pt->re)
        g_regex_unref(pt->re);
    free(pt);
}

/* ------------------------------------------------------------ parsing */

static int parse_node(JsonNode *node, int depth, tok_pretok **out, dv_err *e);

static int parse_sequence(JsonObject *o, int depth, tok_pretok *pt, dv_err *e)
{
    JsonArray *a = NULL;
    int r = dv_json_arr(o, "pretokenizers", "pre_tokenizer Sequence", &a, e);
    if (r <= 0)
        return r < 0 ? e->code
                     : dv_fail(e, DOCVL_EFORMAT, "pre_tokenizer Sequence: no \"pretokenizers\"");
    guint n = json_array_get_length(a);
    if (n > TOK_MAX_STAGES)
        return dv_fail(e, DOCVL_ELIMIT, "pre_tokenizer Sequence: %u entries, the limit is %d", n,
                       TOK_MAX_STAGES);
    pt->kids = calloc(n ? n : 1, sizeof *pt->kids);
    if (!pt->kids)
        return dv_fail(e, DOCVL_ENOMEM, "pre_tokenizer Sequence: out of memory");
    for (guint i = 0; i < n; i++) {
        if (parse_node(json_array_get_element(a, i), depth + 1, &pt->kids[i], e) != DOCVL_OK)
            return dv_wrap(e, "pre_tokenizer Sequence entry %u", i);
        pt->n_kids++;
    }
    return DOCVL_OK;
}

static int parse_behavior(JsonObject *o, enum pt_behavior *out, dv_err *e)
{
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    const char *s = NULL;
    int r = dv_json_str(o, "behavior", "pre_tokenizer Split", &s, e);
    if (r <= 0)
        return r < 0 ? e->code : dv_fail(e, DOCVL_EFORMAT, "pre_tokenizer Split: no \"behavior\"");
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum pt_behavior)i;
            return DOCVL_OK;
        }
    }
    return dv_fail(e, DOCVL_EUNSUPPORTED, "pre_tokenizer Split: behavior \"%s\" is unknown", s);
}

static int parse_split(JsonObject *o, tok_pretok *pt, dv_err *e)
{
    const char *what = "pre_tokenizer Split";
    JsonObject *p = NULL;
    if (dv_json_obj(o, "pattern", what, &p, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "%s: no \"pattern\"", what);
    const char *s = NULL;
    int r = dv_json_str(p, "Regex", what, &s, e);
    if (r < 0)
        return e->code;
    if (r > 0) {
        if (tok_regex_compile(s, what, &pt->re, e) != DOCVL_OK)
            return e->code;
    } else {
        if ((r = dv_json_str(p, "String", what, &s, e)) <= 0)
            return r < 0 ? e->code
                         : dv_fail(e, DOCVL_EFORMAT, "%s: pattern is neither String nor Regex",
                                   what);
        /* an empty literal never matches: the piece stays whole */
        if (*s) {
            char *esc = g_regex_escape_string(s, -1);
            int rc = tok_regex_compile(esc, what, &pt->re, e);
            g_free(esc);
            if (rc != DOCVL_OK)
                return rc;
        }
    }
    if (dv_json_bool(o, "invert", what, &pt->invert, e) < 0)
        return e->code;
    return parse_behavior(o, &pt->behavior, e);
}

static int parse_bytelevel(JsonObject *o, tok_pretok *pt, dv_err *e)
{
    const char *what = "pre_tokenizer ByteLevel";
    int use_regex = 1;
    if (dv_json_bool(o, "add_prefix_space", what, &pt->add_prefix_space, e) < 0 ||
        dv_json_bool(o, "use_regex", what, &use_regex, e) < 0)
        return e->code;
    int16_t unused[TOK_BYTELEVEL_MAX_CP];
    tok_bytelevel_tables(pt->byte_to_cp, unused, TOK_BYTELEVEL_MAX_CP);
    if (use_regex)
        return tok_regex_compile(gpt2_pattern, what, &pt->re, e);
    return DOCVL_OK;
}

static int parse_kind(JsonObject *o, const char *type, int depth, tok_pretok *pt, dv_err *e)
{
    if (strcmp(type, "Sequence") == 0) {
        pt->kind = PT_SEQUENCE;
        return parse_sequence(o, depth, pt, e);
    }
    if (strcmp(type, "Split") == 0) {
        pt->kind = PT_SPLIT;
        return parse_split(o, pt, e);
    }
    if (strcmp(type, "Digits") == 0) {
        int individual = 0;
        pt->kind = PT_DIGITS;
        if (dv_json_bool(o, "individual_digits", "pre_tokenizer Digits", &individual, e) < 0)
            return e->code;
        pt->behavior = individual ? B_ISOLATED : B_CONTIGUOUS;
        return DOCVL_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        pt->kind = PT_BYTELEVEL;
        return parse_bytelevel(o, pt, e);
    }
    return dv_fail(e, DOCVL_EUNSUPPORTED, "pre_tokenizer type \"%s\" is not supported", type);
}

static int parse_node(JsonNode *node, int depth, tok_pretok **out, dv_err *e)
{
    *out = NULL;
    if (depth > 8)
        return dv_fail(e, DOCVL_ELIMIT, "pre_tokenizer: Sequences nested too deeply");
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return dv_fail(e, DOCVL_EFORMAT, "pre_tokenizer: expected an object");
    JsonObject *o = json_node_get_object(node);
    const char *type = NULL;
    if (dv_json_str(o, "type", "pre_tokenizer", &type, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "pre_tokenizer: no \"type\"");
    tok_pretok *pt = calloc(1, sizeof *pt);
    if (!pt)
        return dv_fail(e, DOCVL_ENOMEM, "pre_tokenizer: out of memory");
    int rc = parse_kind(o, type, depth, pt, e);
    if (rc != DOCVL_OK) {
        tok_pretok_free(pt);
        return rc;
    }
    *out = pt;
    return DOCVL_OK;
}

int tok_pretok_parse(JsonNode *node, tok_pretok **out, dv_err *e)
{
    *out = NULL;
    if (!node || JSON_NODE_HOLDS_NULL(node))
        return DOCVL_OK;
    return parse_node(node, 0, out, e);
}

/* ------------------------------------------------------------ matching */

typedef struct collect_ctx {
    segs *out;
    size_t prev;
} collect_ctx;

static int collect_match(size_t a, size_t b, void *user)
{
    collect_ctx *c = user;
    if (c->prev != a && segs_push(c->out, c->prev, a, 0))
        return DOCVL_ENOMEM;
    c->prev = b;
    return segs_push(c->out, a, b, 1);
}

/* Matches and gaps of one piece, covering it from 0 to len. */
static int find_regex(const GRegex *re, const char *s, size_t len, segs *out, dv_err *e)
{
    collect_ctx c = {out, 0};
    int rc = re ? tok_regex_each(re, s, len, collect_match, &c, e) : DOCVL_OK;
    if (rc == DOCVL_OK && c.prev != len && segs_push(out, c.prev, len, 0))
        rc = DOCVL_ENOMEM;
    return rc;
}

static int is_numeric(gunichar c)
{
    GUnicodeType t = g_unichar_type(c);
    return t == G_UNICODE_DECIMAL_NUMBER || t == G_UNICODE_LETTER_NUMBER ||
           t == G_UNICODE_OTHER_NUMBER;
}

/* Every numeric character is its own match, as a char predicate pattern. */
static int find_digits(const char *s, size_t len, segs *out)
{
    size_t prev = 0;
    for (const char *p = s; p < s + len; p = g_utf8_next_char(p)) {
        if (!is_numeric(g_utf8_get_char(p)))
            continue;
        size_t a = (size_t)(p - s), b = (size_t)(g_utf8_next_char(p) - s);
        if ((prev != a && segs_push(out, prev, a, 0)) || segs_push(out, a, b, 1))
            return DOCVL_ENOMEM;
        prev = b;
    }
    if (prev != len && segs_push(out, prev, len, 0))
        return DOCVL_ENOMEM;
    return DOCVL_OK;
}

/* Applies a delimiter behaviour in place; afterwards `match` means "drop". */
static void apply_behavior(segs *s, enum pt_behavior b)
{
    size_t n = 0;
    int prev_match = 0;
    switch (b) {
    case B_ISOLATED:
        for (size_t i = 0; i < s->n; i++)
            s->v[i].match = 0;
        return;
    case B_REMOVED:
        return;
    case B_CONTIGUOUS:
    case B_MERGED_PREV:
        for (size_t i = 0; i < s->n; i++) {
            seg g = s->v[i];
            int merge = b == B_CONTIGUOUS ? g.match == prev_match : g.match && !prev_match;
            if (merge && n > 0)
                s->v[n - 1].b = g.b;
            else
                s->v[n++] = (seg){g.a, g.b, 0};
            prev_match = g.match;
        }
        s->n = n;
        return;
    case B_MERGED_NEXT:
        /* fold from the right: a match joins the piece after it */
        for (size_t i = s->n; i-- > 0;) {
            seg g = s->v[i];
            if (g.match && !prev_match && n > 0)
                s->v[s->n - n].a = g.a;
            else
                s->v[s->n - ++n] = (seg){g.a, g.b, 0};
            prev_match = g.match;
        }
        memmove(s->v, s->v + s->n - n, n * sizeof *s->v);
        s->n = n;
        return;
    }
}

static int emit_segs(const segs *s, size_t base, tok_splits *out)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].match || s->v[i].b == s->v[i].a)
            continue;
        if (tok_splits_push(out, base + s->v[i].a, s->v[i].b - s->v[i].a, -1))
            return DOCVL_ENOMEM;
    }
    return DOCVL_OK;
}

static int split_piece(const tok_pretok *pt, const tok_buf *buf, tok_split sp, segs *tmp,
                       tok_splits *out, dv_err *e)
{
    const char *s = buf->p + sp.off;
    tmp->n = 0;
    int rc = pt->kind == PT_DIGITS ? find_digits(s, sp.len, tmp)
                                   : find_regex(pt->re, s, sp.len, tmp, e);
    if (rc != DOCVL_OK)
        return rc;
    if (pt->invert)
        for (size_t i = 0; i < tmp->n; i++)
            tmp->v[i].match = !tmp->v[i].match;
    apply_behavior(tmp, pt->behavior);
    return emit_segs(tmp, sp.off, out);
}

/* Maps one piece's bytes to the GPT-2 alphabet, as new text at buf's end. */
static int bytelevel_map(const tok_pretok *pt, tok_buf *buf, tok_split sp, tok_splits *out)
{
    if (tok_buf_reserve(buf, sp.len * 2))
        return DOCVL_ENOMEM;
    const unsigned char *src = (const unsigned char *)buf->p + sp.off;
    size_t start = buf->n;
    for (size_t i = 0; i < sp.len; i++)
        buf->n += (size_t)g_unichar_to_utf8(pt->byte_to_cp[src[i]], buf->p + buf->n);
    return tok_splits_push(out, start, buf->n - start, -1) ? DOCVL_ENOMEM : DOCVL_OK;
}

static int bytelevel_piece(const tok_pretok *pt, tok_buf *buf, tok_split sp, segs *tmp,
                           tok_splits *out, dv_err *e)
{
    if (pt->add_prefix_space && (sp.len == 0 || buf->p[sp.off] != ' ')) {
        if (tok_buf_reserve(buf, sp.len + 1))
            return DOCVL_ENOMEM;
        size_t start = buf->n;
        buf->p[buf->n++] = ' ';
        memcpy(buf->p + buf->n, buf->p + sp.off, sp.len);
        buf->n += sp.len;
        sp = (tok_split){start, sp.len + 1, -1};
    }
    tok_splits parts = {0};
    int rc;
    if (pt->re) {
        tmp->n = 0;
        rc = find_regex(pt->re, buf->p + sp.off, sp.len, tmp, e);
        if (rc == DOCVL_OK) {
            apply_behavior(tmp, B_ISOLATED);
            rc = emit_segs(tmp, sp.off, &parts);
        }
    } else {
        rc = tok_splits_push(&parts, sp.off, sp.len, -1) ? DOCVL_ENOMEM : DOCVL_OK;
    }
    for (size_t i = 0; i < parts.n && rc == DOCVL_OK; i++)
        rc = bytelevel_map(pt, buf, parts.v[i], out);
    tok_splits_free(&parts);
    return rc;
}

static int run_sequence(const tok_pretok *pt, tok_buf *buf, const tok_splits *in,
                        tok_splits *out, dv_err *e)
{
    tok_splits cur = {0}, next = {0};
    int rc = DOCVL_OK;
    for (size_t i = 0; i < in->n && rc == DOCVL_OK; i++)
        if (tok_splits_push(&cur, in->v[i].off, in->v[i].len, in->v[i].id))
            rc = DOCVL_ENOMEM;
    for (size_t k = 0; k < pt->n_kids && rc == DOCVL_OK; k++) {
        next.n = 0;
        rc = tok_pretok_run(pt->kids[k], buf, &cur, &next, e);
        tok_splits t = cur;
        cur = next;
        next = t;
    }
    for (size_t i = 0; i < cur.n && rc == DOCVL_OK; i++)
        if (tok_splits_push(out, cur.v[i].off, cur.v[i].len, cur.v[i].id))
            rc = DOCVL_ENOMEM;
    tok_splits_free(&cur);
    tok_splits_free(&next);
    return rc;
}

int tok_pretok_run(const tok_pretok *pt, tok_buf *buf, const tok_splits *in, tok_splits *out,
                   dv_err *e)
{
    if (pt->kind == PT_SEQUENCE) {
        int rc = run_sequence(pt, buf, in, out, e);
        return rc == DOCVL_ENOMEM ? dv_fail(e, rc, "pre-tokenizing: out of memory") : rc;
    }
    segs tmp = {0};
    int rc = DOCVL_OK;
    for (size_t i = 0; i < in->n && rc == DOCVL_OK; i++) {
        tok_split sp = in->v[i];
        if (sp.id >= 0)
            rc = tok_splits_push(out, sp.off, sp.len, sp.id) ? DOCVL_ENOMEM : DOCVL_OK;
        else if (pt->kind == PT_BYTELEVEL)
            rc = bytelevel_piece(pt, buf, sp, &tmp, out, e);
        else
            rc = split_piece(pt, buf, sp, &tmp, out, e);
    }
    free(tmp.v);
    return rc == DOCVL_ENOMEM ? dv_fail(e, rc, "pre-tokenizing: out of memory") : rc;
}

void tok_bytelevel_tables(uint32_t byte_to_cp[256], int16_t *cp_to_byte, size_t n_cp)
{
    /* printable Latin-1 bytes stand for themselves; the others take code
     * points from 256 upward, in byte order */
    uint32_t next = 256;
    for (size_t i = 0; i < n_cp; i++)
        cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        byte_to_cp[b] = printable ? (uint32_t)b : next++;
        if (byte_to_cp[b] < n_cp)
            cp_to_byte[byte_to_cp[b]] = (int16_t)b;
    }
}
