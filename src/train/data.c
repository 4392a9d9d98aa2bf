#include "train/data.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

#define MAX_FILE_BYTES ((size_t)1 << 30)
#define MAX_LINE_BYTES ((size_t)16 << 20)

static void conv_free(dv_conv *c)
{
    for (int i = 0; i < c->n_images; i++)
        g_free(c->images[i]);
    g_free(c->images);
    for (int i = 0; i < c->n_turns; i++) {
        g_free(c->turns[i].role);
        g_free(c->turns[i].content);
    }
    g_free(c->turns);
    memset(c, 0, sizeof *c);
}

void dv_manifest_free(dv_manifest *m)
{
    for (long i = 0; i < m->n; i++)
        conv_free(&m->convs[i]);
    g_free(m->convs);
    memset(m, 0, sizeof *m);
}

static int read_images(JsonObject *o, const char *base, const char *what, dv_conv *c, dv_err *e)
{
    JsonArray *a = NULL;
    int has = dv_json_arr(o, "images", what, &a, e);
    if (has < 0)
        return e->code;
    c->n_images = has ? (int)json_array_get_length(a) : 0;
    c->images = g_new0(char *, c->n_images + 1);
    for (int i = 0; i < c->n_images; i++) {
        JsonNode *n = json_array_get_element(a, (guint)i);
        const char *s = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
                            ? json_node_get_string(n) : NULL;
        if (!s || !*s)
            return dv_fail(e, DOCVL_EFORMAT, "%s: images[%d] is not a path", what, i);
        c->images[i] = g_path_is_absolute(s) || !base ? g_strdup(s)
                                                      : g_build_filename(base, s, NULL);
    }
    return DOCVL_OK;
}

static int read_turn(JsonArray *a, int i, const char *what, dv_turn *t, dv_err *e)
{
    JsonNode *n = json_array_get_element(a, (guint)i);
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return dv_fail(e, DOCVL_EFORMAT, "%s: conversation[%d] is not an object", what, i);
    JsonObject *o = json_node_get_object(n);
    const char *role = NULL, *content = NULL;
    if (dv_json_str(o, "role", what, &role, e) < 0 ||
        dv_json_str(o, "content", what, &content, e) < 0)
        return e->code;
    const char *want = i % 2 == 0 ? "User" : "Assistant";
    if (!role || strcmp(role, want) != 0)
        return dv_fail(e, DOCVL_EFORMAT, "%s: conversation[%d] has role \"%s\", expected \"%s\" "
                       "(turns alternate User, Assistant)", what, i, role ? role : "", want);
    if (!content)
        return dv_fail(e, DOCVL_EFORMAT, "%s: conversation[%d] has no content", what, i);
    t->role = g_strdup(role);
    t->content = g_strdup(content);
    return DOCVL_OK;
}

static int read_conv(JsonObject *o, const char *base, const char *what, dv_conv *c, dv_err *e)
{
    if (read_images(o, base, what, c, e))
        return e->code;
    JsonArray *a = NULL;
    int has = dv_json_arr(o, "conversation", what, &a, e);
    if (has < 0)
        return e->code;
    if (!has || json_array_get_length(a) == 0)
        return dv_fail(e, DOCVL_EFORMAT, "%s: no \"conversation\"", what);
    c->n_turns = (int)json_array_get_length(a);
    c->turns = g_new0(dv_turn, c->n_turns);
    for (int i = 0; i < c->n_turns; i++)
        if (read_turn(a, i, what, &c->turns[i], e))
            return e->code;
    return DOCVL_OK;
}

static int parse_line(const char *line, size_t len, const char *base, const char *what,
                      dv_conv *c, dv_err *e)
{
    JsonParser *p = NULL;
    JsonNode *root = NULL;
    if (dv_json_parse(line, len, MAX_LINE_BYTES, what, &p, &root, e))
        return e->code;
    int rc = JSON_NODE_HOLDS_OBJECT(root)
                 ? read_conv(json_node_get_object(root), base, what, c, e)
                 : dv_fail(e, DOCVL_EFORMAT, "%s: not a JSON object", what);
    g_object_unref(p);
    return rc;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isspace(s[i]))
            return 0;
    return 1;
}

int dv_manifest_parse(const char *text, size_t len, const char *base_dir, const char *what,
                      dv_manifest *m, dv_err *e)
{
    memset(m, 0, sizeof *m);
    GArray *convs = g_array_new(FALSE, TRUE, sizeof(dv_conv));
    long lineno = 0;
    int rc = DOCVL_OK;
    for (size_t at = 0; at < len && rc == DOCVL_OK;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        lineno++;
        if (!is_blank(text + at, end - at)) {
            char where[512];
            snprintf(where, sizeof where, "%s line %ld", what, lineno);
            dv_conv c = {0};
            rc = parse_line(text + at, end - at, base_dir, where, &c, e);
            if (rc)
                conv_free(&c);
            else
                g_array_append_val(convs, c);
        }
        at = end + 1;
    }
    m->n = (long)convs->len;
    m->convs = (dv_conv *)(void *)g_array_free(convs, FALSE);
    if (rc)
        dv_manifest_free(m);
    return rc;
}

int dv_manifest_load(const char *path, dv_manifest *m, dv_err *e)
{
    char *text = NULL;
    size_t len = 0;
    memset(m, 0, sizeof *m);
    if (dv_read_file(path, MAX_FILE_BYTES, &text, &len, e))
        return dv_wrap(e, "reading the manifest");
    char *base = g_path_get_dirname(path);
    int rc = dv_manifest_parse(text, len, base, path, m, e);
    g_free(base);
    free(text);
    return rc;
}

/* ---- corpus ---------------------------------------------------------------- */

void dv_corpus_free(dv_corpus *c)
{
    for (long i = 0; i < c->n; i++)
        g_free(c->docs[i]);
    g_free(c->docs);
    memset(c, 0, sizeof *c);
}

int dv_corpus_parse(const char *text, size_t len, dv_corpus *c, dv_err *e)
{
    memset(c, 0, sizeof *c);
    if (!g_utf8_validate(text, (gssize)len, NULL))
        return dv_fail(e, DOCVL_EFORMAT, "the text corpus is not valid UTF-8");
    GPtrArray *docs = g_ptr_array_new();
    GString *para = g_string_new(NULL);
    for (size_t at = 0; at <= len;) {
        const char *nl = at < len ? memchr(text + at, '\n', len - at) : NULL;
        size_t end = nl ? (size_t)(nl - text) : len;
        int blank = is_blank(text + at, end - at);
        if (!blank) {
            if (para->len)
                g_string_append_c(para, '\n');
            g_string_append_len(para, text + at, (gssize)(end - at));
        }
        if ((blank || end == len) && para->len) {
            g_ptr_array_add(docs, g_strdup(para->str));
            g_string_truncate(para, 0);
        }
        at = end + 1;
    }
    g_string_free(para, TRUE);
    c->n = (long)docs->len;
    c->docs = (char **)g_ptr_array_free(docs, FALSE);
    return DOCVL_OK;
}

int dv_corpus_load(const char *path, dv_corpus *c, dv_err *e)
{
    char *text = NULL;
    size_t len = 0;
    memset(c, 0, sizeof *c);
    if (dv_read_file(path, MAX_FILE_BYTES, &text, &len, e))
        return dv_wrap(e, "reading the text corpus");
    int rc = dv_corpus_parse(text, len, c, e);
    free(text);
    return rc ? dv_wrap(e, "%s", path) : DOCVL_OK;
}
