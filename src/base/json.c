#include "base/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int max_depth(const char *s, size_t n)
{
    int depth = 0, worst = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > worst)
                worst = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return worst;
}

int dv_json_parse(const char *text, size_t len, size_t max_bytes, const char *what,
                  JsonParser **parser, JsonNode **root, dv_err *e)
{
    *parser = NULL;
    *root = NULL;
    if (len > max_bytes)
        return dv_fail(e, DOCVL_ELIMIT, "%s: %zu bytes of JSON, the limit is %zu", what, len,
                       max_bytes);
    if (max_depth(text, len) > DV_JSON_MAX_DEPTH)
        return dv_fail(e, DOCVL_ELIMIT, "%s: JSON nested deeper than %d levels", what,
                       DV_JSON_MAX_DEPTH);
    if (len > (size_t)G_MAXSSIZE)
        return dv_fail(e, DOCVL_ELIMIT, "%s: too large", what);
    JsonParser *p = json_parser_new_immutable();
    GError *ge = NULL;
    if (!json_parser_load_from_data(p, text, (gssize)len, &ge)) {
        dv_fail(e, DOCVL_EFORMAT, "%s: not valid JSON: %s", what, ge ? ge->message : "?");
        g_clear_error(&ge);
        g_object_unref(p);
        return DOCVL_EFORMAT;
    }
    JsonNode *r = json_parser_get_root(p);
    if (!r) {
        g_object_unref(p);
        return dv_fail(e, DOCVL_EFORMAT, "%s: empty JSON document", what);
    }
    *parser = p;
    *root = r;
    return DOCVL_OK;
}

int dv_read_file(const char *path, size_t max_bytes, char **out, size_t *len, dv_err *e)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dv_fail(e, DOCVL_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return dv_fail(e, DOCVL_EIO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return dv_fail(e, DOCVL_ELIMIT, "%s: %lld bytes, the limit is %zu", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return dv_fail(e, DOCVL_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(buf);
        return dv_fail(e, DOCVL_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return DOCVL_OK;
}

static JsonNode *member(JsonObject *o, const char *key)
{
    if (!o || !json_object_has_member(o, key))
        return NULL;
    JsonNode *n = json_object_get_member(o, key);
    return JSON_NODE_HOLDS_NULL(n) ? NULL : n;
}

static int wrong(const char *what, const char *key, const char *want, dv_err *e)
{
    dv_fail(e, DOCVL_EFORMAT, "%s: \"%s\" must be %s", what, key, want);
    return -1;
}

int dv_json_int(JsonObject *o, const char *key, const char *what, long long *out, dv_err *e)
{
    JsonNode *n = member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_VALUE(n))
        return wrong(what, key, "an integer", e);
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_INT64) {
        *out = json_node_get_int(n);
        return 1;
    }
    if (t == G_TYPE_DOUBLE) {
        double d = json_node_get_double(n);
        /* range first: converting inf, NaN or a huge value is undefined */
        if (d > -9e15 && d < 9e15 && d == (double)(long long)d) {
            *out = (long long)d;
            return 1;
        }
    }
    return wrong(what, key, "an integer", e);
}

int dv_json_num(JsonObject *o, const char *key, const char *what, double *out, dv_err *e)
{
    JsonNode *n = member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_VALUE(n))
        return wrong(what, key, "a number", e);
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_INT64 || t == G_TYPE_DOUBLE) {
        *out = json_node_get_double(n);
        return 1;
    }
    return wrong(what, key, "a number", e);
}

int dv_json_bool(JsonObject *o, const char *key, const char *what, int *out, dv_err *e)
{
    JsonNode *n = member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return wrong(what, key, "true or false", e);
    *out = json_node_get_boolean(n);
    return 1;
}

int dv_json_str(JsonObject *o, const char *key, const char *what, const char **out, dv_err *e)
{
    JsonNode *n = member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return wrong(what, key, "a string", e);
    *out = json_node_get_string(n);
    return 1;
}

int dv_json_obj(JsonObject *o, const char *key, const char *what, JsonObject **out, dv_err *e)
{
    JsonNode *n = member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return wrong(what, key, "an object", e);
    *out = json_node_get_object(n);
    return 1;
}

int dv_json_arr(JsonObject *o, const char *key, const char *what, JsonArray **out, dv_err *e)
{
    JsonNode *n = member(o, key);
    if (!n)
        return 0;
    if (!JSON_NODE_HOLDS_ARRAY(n))
        return wrong(what, key, "an array", e);
    *out = json_node_get_array(n);
    return 1;
}

double dv_json_short_float(double v)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtof(buf, NULL) == (float)v)
            break;
    }
    return strtod(buf, NULL);
}
