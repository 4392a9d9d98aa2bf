/* Golden cases for the language tests: every directory under
 * tests/data/golden with a case.json and language goldens. */
#ifndef DV_LM_GOLDEN_H
#define DV_LM_GOLDEN_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>

#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/safetensors.h"
#include "testutil.h"

typedef struct lm_case {
    char *dir;
    dv_config cfg;
    dv_checkpoint *ck;
    dv_safetensors *gold;
    JsonParser *parser;
    JsonObject *root;
} lm_case;

/* Names of the case directories (NULL-terminated, g_strfreev). */
static inline char **lm_case_names(void)
{
    char *root = test_data("golden");
    GPtrArray *a = g_ptr_array_new();
    GDir *d = g_dir_open(root, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        char *cj = g_build_filename(root, n, "case.json", NULL);
        char *gs = g_build_filename(root, n, "goldens.safetensors", NULL);
        if (g_file_test(cj, G_FILE_TEST_IS_REGULAR) && g_file_test(gs, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add(a, g_strdup(n));
        g_free(cj);
        g_free(gs);
    }
    if (d)
        g_dir_close(d);
    g_free(root);
    g_ptr_array_sort(a, (GCompareFunc)(void *)g_strcmp0);
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

static inline void lm_case_open(const char *name, lm_case *c)
{
    memset(c, 0, sizeof *c);
    char *rel = g_build_filename("golden", name, NULL);
    c->dir = test_data(rel);
    g_free(rel);
    dv_err e = { 0 };
    int rc = dv_config_load(c->dir, &c->cfg, &e);
    if (!rc)
        rc = dv_checkpoint_open(c->dir, &c->ck, &e);
    char *gp = g_build_filename(c->dir, "goldens.safetensors", NULL);
    if (!rc)
        rc = dv_safetensors_open(gp, &c->gold, &e);
    g_free(gp);
    if (rc)
        g_error("%s: %s", name, e.msg);
    char *cj = g_build_filename(c->dir, "case.json", NULL);
    GError *ge = NULL;
    c->parser = json_parser_new();
    json_parser_load_from_file(c->parser, cj, &ge);
    g_assert_no_error(ge);
    c->root = json_node_get_object(json_parser_get_root(c->parser));
    g_free(cj);
}

static inline void lm_case_close(lm_case *c)
{
    dv_safetensors_close(c->gold);
    dv_checkpoint_close(c->ck);
    g_object_unref(c->parser);
    g_free(c->dir);
}

static inline const dv_tensor *lm_gold(const lm_case *c, const char *name)
{
    return dv_safetensors_find(c->gold, name);
}

/* Worst |got - ref| / (atol + rtol |ref|) under the case's tolerance. */
static inline double lm_worst(const lm_case *c, const char *name, const float *got, size_t n)
{
    const dv_tensor *t = lm_gold(c, name);
    g_assert_nonnull(t);
    g_assert_cmpint(t->dtype, ==, DV_F32);
    g_assert_cmpuint((size_t)dv_tensor_numel(t), >=, n);
    JsonObject *g = json_object_get_object_member(json_object_get_object_member(c->root, "goldens"), name);
    double atol = json_object_get_double_member(g, "atol");
    double rtol = json_object_has_member(g, "rtol") ? json_object_get_double_member(g, "rtol") : 0;
    const float *ref = t->data;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)got[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (!(r <= worst))
            worst = r;   /* NaN propagates as the worst */
    }
    return worst;
}

#endif
