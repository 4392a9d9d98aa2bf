/* A minimal scanner for flat JSON objects, enough to pull one string member
 * out of a line; anything it cannot follow is reported as malformed. */
#include "text/tok_jsonl.h"

#include <stdlib.h>
#include <string.h>

typedef struct scan {
    const char *s;
    size_t n, i;
} scan;

static void skip_ws(scan *c)
{
    while (c->i < c->n && strchr(" \t\r\n", c->s[c->i]) && c->s[c->i])
        c->i++;
}

static int hex4(const char *s, unsigned *v)
{
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int d = g_ascii_xdigit_value(s[k]);
        if (d < 0)
            return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

/* \uXXXX (with a following low surrogate when needed) -> code point. */
static int unicode_escape(scan *c, gunichar *out)
{
    unsigned hi, lo;
    if (c->i + 4 > c->n || hex4(c->s + c->i, &hi))
        return -1;
    c->i += 4;
    *out = hi;
    if (hi < 0xD800 || hi > 0xDFFF)
        return 0;
    *out = 0xFFFD;   /* a lone surrogate has no UTF-8 form */
    if (hi <= 0xDBFF && c->i + 6 <= c->n && c->s[c->i] == '\\' && c->s[c->i + 1] == 'u' &&
        hex4(c->s + c->i + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
        c->i += 6;
        *out = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    }
    return 0;
}

static int escape(scan *c, GString *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (c->i >= c->n)
        return -1;
    char e = c->s[c->i++];
    const char *p = e ? strchr(from, e) : NULL;
    if (p) {
        g_string_append_c(out, to[p - from]);
        return 0;
    }
    if (e != 'u')
        return -1;
    gunichar u;
    if (unicode_escape(c, &u))
        return -1;
    char tmp[8];
    g_string_append_len(out, tmp, g_unichar_to_utf8(u, tmp));
    return 0;
}

/* Reads a string literal at c->i (which must be '"'); out may be NULL. */
static int string_lit(scan *c, GString *out)
{
    if (c->i >= c->n || c->s[c->i] != '"')
        return -1;
    c->i++;
    while (c->i < c->n) {
        char ch = c->s[c->i++];
        if (ch == '"')
            return 0;
        if (ch == '\\') {
            GString *sink = out ? out : g_string_new(NULL);
            int rc = escape(c, sink);
            if (!out)
                g_string_free(sink, TRUE);
            if (rc)
                return -1;
        } else if (out) {
            g_string_append_c(out, ch);
        }
    }
    return -1;
}

/* Skips a number, literal, array or object. */
static int skip_value(scan *c)
{
    int depth = 0;
    while (c->i < c->n) {
        char ch = c->s[c->i];
        if (ch == '"') {
            if (string_lit(c, NULL))
                return -1;
            continue;
        }
        if (depth == 0 && (ch == ',' || ch == '}'))
            return 0;
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
        if (depth < 0)
            return -1;
        c->i++;
    }
    return -1;
}

static int member(scan *c, const char *key, GString *k, GString *val, int *found)
{
    g_string_truncate(k, 0);
    skip_ws(c);
    if (string_lit(c, k))
        return -1;
    skip_ws(c);
    if (c->i >= c->n || c->s[c->i++] != ':')
        return -1;
    skip_ws(c);
    int want = !*found && strcmp(k->str, key) == 0 && strlen(key) == k->len;
    if (want && c->i < c->n && c->s[c->i] == '"') {
        *found = 1;
        return string_lit(c, val);
    }
    return c->i < c->n && c->s[c->i] == '"' ? string_lit(c, NULL) : skip_value(c);
}

int dv_jsonl_string(const char *line, size_t len, const char *key, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    scan c = {line, len, 0};
    skip_ws(&c);
    if (c.i >= c.n || line[c.i++] != '{')
        return -1;
    GString *k = g_string_new(NULL), *val = g_string_new(NULL);
    int found = 0, rc = 0;
    skip_ws(&c);
    if (c.i < c.n && line[c.i] == '}') {
        c.i++;
    } else {
        for (;;) {
            if (member(&c, key, k, val, &found)) {
                rc = -1;
                break;
            }
            skip_ws(&c);
            char ch = c.i < c.n ? line[c.i++] : 0;
            if (ch == '}')
                break;
            if (ch != ',') {
                rc = -1;
                break;
            }
        }
    }
    g_string_free(k, TRUE);
    if (rc == 0 && found) {
        *out_len = val->len;
        *out = malloc(val->len + 1);
        if (!*out)
            rc = -1;
        else
            memcpy(*out, val->str, val->len + 1);
    }
    g_string_free(val, TRUE);
    return rc < 0 ? -1 : found;
}

void dv_json_append_string(GString *out, const char *s, size_t len)
{
    g_string_append_c(out, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            g_string_append_c(out, '\\');
            g_string_append_c(out, (char)ch);
        } else if (ch < 0x20 || ch == 0x7F) {
            g_string_append_printf(out, "\\u%04x", ch);
        } else {
            g_string_append_c(out, (char)ch);
        }
    }
    g_string_append_c(out, '"');
}
