/* Reading the tokenizer golden files (JSON lines) for the text tests. */
#ifndef TOK_GOLDEN_H
#define TOK_GOLDEN_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/tok_jsonl.h"
#include "testutil.h"

typedef struct gold_case {
    char *id;
    char *text;          /* may hold NULs */
    size_t text_len;
    GArray *ids;         /* int32, without BOS */
    GArray *ids_bos;     /* int32, or NULL when the file has none */
    char *decoded;       /* decoded_rust, or NULL */
    size_t decoded_len;
} gold_case;

static inline GArray *gold_ids(JsonObject *o, const char *key)
{
    if (!json_object_has_member(o, key))
        return NULL;
    JsonArray *a = json_object_get_array_member(o, key);
    GArray *v = g_array_new(FALSE, FALSE, sizeof(int32_t));
    for (guint i = 0; i < json_array_get_length(a); i++) {
        int32_t x = (int32_t)json_array_get_int_element(a, i);
        g_array_append_val(v, x);
    }
    return v;
}

/* Lines of a file, each with its length (lines may hold escaped NULs only). */
static inline char **gold_lines(const char *rel, guint *n)
{
    char *path = test_data(rel), *text = NULL;
    GError *ge = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, &ge));
    g_assert_no_error(ge);
    char **lines = g_strsplit(text, "\n", -1);
    g_free(text);
    g_free(path);
    guint k = 0;
    for (guint i = 0; lines[i]; i++)
        if (lines[i][0])
            lines[k++] = lines[i];
        else
            g_free(lines[i]);
    lines[k] = NULL;
    *n = k;
    return lines;
}

/* Cases joined with their expected results by id. */
static inline gold_case *gold_load(const char *cases_rel, const char *expected_rel, guint *n)
{
    guint nc, ne;
    char **cl = gold_lines(cases_rel, &nc), **el = gold_lines(expected_rel, &ne);
    g_assert_cmpuint(nc, ==, ne);
    GHashTable *by_id = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
    for (guint i = 0; i < ne; i++) {
        char *id;
        size_t len;
        g_assert_cmpint(dv_jsonl_string(el[i], strlen(el[i]), "id", &id, &len), ==, 1);
        g_hash_table_insert(by_id, id, GUINT_TO_POINTER(i + 1));
    }
    gold_case *v = g_new0(gold_case, nc);
    for (guint i = 0; i < nc; i++) {
        size_t len;
        g_assert_cmpint(dv_jsonl_string(cl[i], strlen(cl[i]), "id", &v[i].id, &len), ==, 1);
        g_assert_cmpint(dv_jsonl_string(cl[i], strlen(cl[i]), "text", &v[i].text,
                                        &v[i].text_len), ==, 1);
        guint k = GPOINTER_TO_UINT(g_hash_table_lookup(by_id, v[i].id));
        g_assert_cmpuint(k, >, 0);
        const char *line = el[k - 1];
        JsonParser *p = json_parser_new();
        g_assert_true(json_parser_load_from_data(p, line, -1, NULL));
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        v[i].ids = gold_ids(o, "ids");
        v[i].ids_bos = gold_ids(o, "ids_with_bos");
        g_assert_nonnull(v[i].ids);
        g_object_unref(p);
        g_assert_cmpint(dv_jsonl_string(line, strlen(line), "decoded_rust", &v[i].decoded,
                                        &v[i].decoded_len), >=, 0);
    }
    g_hash_table_destroy(by_id);
    g_strfreev(cl);
    g_strfreev(el);
    *n = nc;
    return v;
}

static inline void gold_free(gold_case *v, guint n)
{
    for (guint i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].text);
        free(v[i].decoded);
        g_array_unref(v[i].ids);
        if (v[i].ids_bos)
            g_array_unref(v[i].ids_bos);
    }
    g_free(v);
}

#endif
