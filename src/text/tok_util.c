/* Small containers of the tokenizer (map, buffer, split list), the regex
 * driver and UTF-8 repair. */
#include "text/tok_internal.h"

#include <stdlib.h>
#include <string.h>

uint32_t tok_hash(const char *s, size_t len)
{
    /* FNV-1a: short keys, no adversarial concern beyond bounded probing */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static int map_grow(tok_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    tok_slot *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        const tok_slot *o = &m->slots[i];
        if (!o->key)
            continue;
        size_t j = o->hash & (cap - 1);
        while (s[j].key)
            j = (j + 1) & (cap - 1);
        s[j] = *o;
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return 0;
}

static tok_slot *map_find(const tok_map *m, const char *key, size_t len, uint32_t h)
{
    size_t j = h & (m->cap - 1);
    for (;;) {
        tok_slot *s = &m->slots[j];
        if (!s->key)
            return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
        j = (j + 1) & (m->cap - 1);
    }
}

int tok_map_put(tok_map *m, const char *key, size_t len, int32_t val)
{
    if ((m->n + 1) * 4 > m->cap * 3 && map_grow(m) != 0)
        return -1;
    uint32_t h = tok_hash(key, len);
    tok_slot *s = map_find(m, key, len, h);
    if (!s->key) {
        /* an empty key still needs a non-NULL pointer to mark the slot used */
        s->key = key ? key : "";
        s->len = (uint32_t)len;
        s->hash = h;
        m->n++;
    }
    s->val = val;
    return 0;
}

int32_t tok_map_get(const tok_map *m, const char *key, size_t len)
{
    if (!m->cap)
        return -1;
    const tok_slot *s = map_find(m, key, len, tok_hash(key, len));
    return s->key ? s->val : -1;
}

void tok_map_free(tok_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

int tok_buf_reserve(tok_buf *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int tok_buf_append(tok_buf *b, const char *s, size_t len)
{
    if (tok_buf_reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->p + b->n, s, len);
    b->n += len;
    return 0;
}

void tok_buf_free(tok_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int tok_splits_push(tok_splits *s, size_t off, size_t len, int32_t id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        tok_split *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (tok_split){off, len, id};
    return 0;
}

void tok_splits_free(tok_splits *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* Oniguruma (which tokenizers uses) and PCRE2 disagree on some shorthand
 * classes: PCRE2's \s also takes U+180E, its \w takes No/Nl numbers but not
 * marks, and \h means horizontal space rather than a hex digit. These spell
 * out Oniguruma's meaning as class bodies. */
static const char onig_space[] =
    "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}"
    "\\x{3000}";
static const char onig_word[] = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";
static const char onig_hex[] = "0-9a-fA-F";

static const char *shorthand_body(char c)
{
    switch (c) {
    case 's': case 'S': return onig_space;
    case 'w': case 'W': return onig_word;
    case 'h': case 'H': return onig_hex;
    default: return NULL;
    }
}

/* Copies pattern with \s \S \w \W \h \H \uHHHH replaced; a negated shorthand
 * inside a bracket class has no class-body spelling and is kept as written. */
static char *onig_to_pcre(const char *pat)
{
    GString *o = g_string_sized_new(strlen(pat) + 64);
    int in_class = 0;
    for (const char *p = pat; *p; p++) {
        if (*p == '\\' && p[1] == 'u' && g_ascii_isxdigit(p[2]) && g_ascii_isxdigit(p[3]) &&
            g_ascii_isxdigit(p[4]) && g_ascii_isxdigit(p[5])) {
            /* Oniguruma's \uHHHH is \x{HHHH} to PCRE2 */
            g_string_append_printf(o, "\\x{%.4s}", p + 2);
            p += 5;
            continue;
        }
        if (*p == '\\' && p[1]) {
            const char *body = shorthand_body(p[1]);
            int negated = p[1] >= 'A' && p[1] <= 'Z';
            if (body && !in_class)
                g_string_append_printf(o, "[%s%s]", negated ? "^" : "", body);
            else if (body && !negated)
                g_string_append(o, body);
            else
                g_string_append_len(o, p, 2);
            p++;
            continue;
        }
        if (*p == '[' && !in_class) {
            in_class = 1;
            g_string_append_c(o, *p);
            /* a ']' first in the class (after an optional '^') is literal */
            if (p[1] == '^')
                g_string_append_c(o, *++p);
            if (p[1] == ']')
                g_string_append_c(o, *++p);
            continue;
        }
        if (*p == '[' && in_class && p[1] == ':') {
            const char *end = strstr(p + 2, ":]");
            if (end) {   /* POSIX class like [:alpha:] inside a bracket */
                g_string_append_len(o, p, end + 2 - p);
                p = end + 1;
                continue;
            }
        }
        if (*p == ']' && in_class)
            in_class = 0;
        g_string_append_c(o, *p);
    }
    return g_string_free(o, FALSE);
}

int tok_regex_compile(const char *pattern, const char *what, GRegex **out, dv_err *e)
{
    *out = NULL;
    if (strlen(pattern) > TOK_MAX_PATTERN_BYTES)
        return dv_fail(e, DOCVL_ELIMIT, "%s: regex of %zu bytes, the limit is %zu", what,
                       strlen(pattern), (size_t)TOK_MAX_PATTERN_BYTES);
    /* tokenizers compiles with Oniguruma defaults: '^'/'$' are line anchors
     * and only '\n' ends a line. GRegex otherwise treats \r, U+2028... as
     * newlines too. */
    GError *ge = NULL;
    char *pcre = onig_to_pcre(pattern);
    GRegex *re = g_regex_new(pcre, G_REGEX_OPTIMIZE | G_REGEX_MULTILINE | G_REGEX_NEWLINE_LF,
                             0, &ge);
    g_free(pcre);
    if (!re) {
        dv_fail(e, DOCVL_EFORMAT, "%s: regex does not compile: %s", what,
                ge ? ge->message : "?");
        g_clear_error(&ge);
        return DOCVL_EFORMAT;
    }
    *out = re;
    return DOCVL_OK;
}

static size_t utf8_step(const char *s, size_t len, size_t i)
{
    i++;
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

int tok_regex_each(const GRegex *re, const char *s, size_t len, tok_match_fn fn, void *user,
                   dv_err *e)
{
    if (len > (size_t)G_MAXINT / 2)
        return dv_fail(e, DOCVL_ELIMIT, "regex subject of %zu bytes is too long", len);
    size_t pos = 0;
    long long last_end = -1;
    while (pos <= len) {
        GMatchInfo *mi = NULL;
        GError *ge = NULL;
        gboolean ok = g_regex_match_full(re, s, (gssize)len, (gint)pos, 0, &mi, &ge);
        if (ge) {
            dv_fail(e, DOCVL_EINVAL, "regex match failed: %s", ge->message);
            g_clear_error(&ge);
            g_match_info_free(mi);
            return DOCVL_EINVAL;
        }
        int a = 0, b = 0;
        if (ok)
            g_match_info_fetch_pos(mi, 0, &a, &b);
        g_match_info_free(mi);
        if (!ok)
            break;
        /* Oniguruma's iterator refuses an empty match right where the last
         * match ended and retries one character further */
        if (a == b && last_end == b) {
            if ((size_t)b >= len)
                break;
            pos = utf8_step(s, len, (size_t)b);
            continue;
        }
        int rc = fn((size_t)a, (size_t)b, user);
        if (rc != DOCVL_OK)
            return rc;
        last_end = b;
        if (a == b) {
            if ((size_t)b >= len)
                break;
            pos = utf8_step(s, len, (size_t)b);
        } else {
            pos = (size_t)b;
        }
    }
    return DOCVL_OK;
}

/* Length of the valid UTF-8 prefix of a sequence starting at s[0] (1..4), and
 * whether it is complete; follows the Unicode "maximal subpart" rule. */
static size_t utf8_seq(const unsigned char *s, size_t len, int *complete)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
        *complete = 1;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *complete = 0;
        return 1;
    }
    size_t i = 1;
    for (; i < need && i < len; i++) {
        unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
        if (s[i] < lo_i || s[i] > hi_i)
            break;
    }
    *complete = i == need;
    return i;
}

int tok_utf8_lossy(const unsigned char *s, size_t len, tok_buf *out)
{
    static const char fffd[] = "\xEF\xBF\xBD";
    size_t i = 0;
    while (i < len) {
        int complete;
        size_t n = utf8_seq(s + i, len - i, &complete);
        int rc = complete ? tok_buf_append(out, (const char *)s + i, n)
                          : tok_buf_append(out, fffd, 3);
        if (rc != 0)
            return -1;
        i += n;
    }
    return 0;
}

int tok_is_white_space(gunichar c)
{
    return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}
