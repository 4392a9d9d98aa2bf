/* docvl-golden: opening a case and comparing tensors under its tolerance rule. */
#include "cli/golden.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

#define CASE_MAX_BYTES (16u << 20)

int golden_open(const char *dir, golden_case *gc, dv_err *e)
{
    memset(gc, 0, sizeof *gc);
    gc->dir = g_strdup(dir);
    char *path = g_build_filename(dir, "case.json", NULL), *text = NULL;
    size_t len;
    JsonParser *p = NULL;
    JsonNode *root = NULL;
    int rc = dv_read_file(path, CASE_MAX_BYTES, &text, &len, e);
    if (!rc)
        rc = dv_json_parse(text, len, CASE_MAX_BYTES, path, &p, &root, e);
    free(text);
    if (!rc && !JSON_NODE_HOLDS_OBJECT(root))
        rc = dv_fail(e, DOCVL_EFORMAT, "%s: the root is not an object", path);
    g_free(path);
    gc->case_parser = p;
    if (rc)
        return rc;
    gc->case_obj = json_node_get_object(root);
    path = g_build_filename(dir, "goldens.safetensors", NULL);
    rc = dv_safetensors_open(path, &gc->gold, e);
    g_free(path);
    if (!rc)
        rc = dv_config_load(dir, &gc->cfg, e);
    if (!rc)
        rc = dv_checkpoint_open(dir, &gc->ck, e);
    return rc;
}

void golden_close(golden_case *gc)
{
    if (gc->ck)
        dv_checkpoint_close(gc->ck);
    if (gc->gold)
        dv_safetensors_close(gc->gold);
    if (gc->case_parser)
        g_object_unref(gc->case_parser);
    g_free(gc->dir);
    memset(gc, 0, sizeof *gc);
}

const dv_tensor *golden_tensor(const golden_case *gc, const char *name)
{
    return dv_safetensors_find(gc->gold, name);
}

/* case.json goldens.<name>: atol/rtol (0 when absent: exact). */
static void tolerance(const golden_case *gc, const char *name, double *atol, double *rtol)
{
    dv_err e = { 0 };
    JsonObject *all = NULL, *one = NULL;
    *atol = *rtol = 0.0;
    if (dv_json_obj(gc->case_obj, "goldens", "case.json", &all, &e) > 0 &&
        dv_json_obj(all, name, "case.json goldens", &one, &e) > 0) {
        dv_json_num(one, "atol", name, atol, &e);
        dv_json_num(one, "rtol", name, rtol, &e);
    }
}

static void verdict(golden_case *gc, const char *name, double max_abs, double max_rel,
                    double worst, int ok)
{
    gc->compared++;
    if (!ok)
        gc->failures++;
    printf("  %-26s max_abs %.3e  max_rel %.3e  worst/allowed %8.4f  %s\n", name, max_abs, max_rel,
           worst, ok ? "ok" : "FAIL");
}

static int shape_mismatch(golden_case *gc, const char *name, size_t want, size_t got)
{
    gc->compared++;
    gc->failures++;
    printf("  %-26s FAIL: reference has %zu values, got %zu\n", name, want, got);
    return 1;
}

static void skip(const char *name)
{
    printf("  %-26s skip (not in this case)\n", name);
}

int golden_compare(golden_case *gc, const char *name, const float *got, size_t n)
{
    return golden_compare_as(gc, name, name, got, n);
}

int golden_compare_as(golden_case *gc, const char *name, const char *label, const float *got,
                      size_t n)
{
    const dv_tensor *ref = golden_tensor(gc, name);
    if (!ref) {
        skip(label);
        return 0;
    }
    size_t m = (size_t)dv_tensor_numel(ref);
    if (m != n || (ref->dtype != DV_F32 && ref->dtype != DV_F16 && ref->dtype != DV_BF16))
        return shape_mismatch(gc, label, m, n);
    double atol, rtol;
    tolerance(gc, name, &atol, &rtol);
    float buf[1024];
    double max_abs = 0, max_rel = 0, worst = 0;
    int ok = 1;
    for (size_t i0 = 0; i0 < n; i0 += 1024) {
        size_t len = n - i0 < 1024 ? n - i0 : 1024;
        dv_widen(ref, i0, len, buf);
        for (size_t i = 0; i < len; i++) {
            double r = buf[i], d = fabs((double)got[i0 + i] - r);
            double allowed = atol + rtol * fabs(r);
            if (isnan(d)) {
                ok = 0;
                worst = INFINITY;
                continue;
            }
            max_abs = d > max_abs ? d : max_abs;
            if (r != 0.0 && d / fabs(r) > max_rel)
                max_rel = d / fabs(r);
            double ratio = allowed > 0 ? d / allowed : (d > 0 ? INFINITY : 0);
            worst = ratio > worst ? ratio : worst;
        }
    }
    verdict(gc, label, max_abs, max_rel, worst, ok && worst <= 1.0);
    return 1;
}

/* generation.steps_safe_to_compare, when the case says so. */
static size_t safe_steps(const golden_case *gc, const char *name, size_t n)
{
    dv_err e = { 0 };
    JsonObject *gen = NULL;
    long long steps;
    if (strcmp(name, "generated_ids") == 0 &&
        dv_json_obj(gc->case_obj, "generation", "case.json", &gen, &e) > 0 &&
        dv_json_int(gen, "steps_safe_to_compare", "generation", &steps, &e) > 0 && steps >= 0 &&
        (size_t)steps < n)
        return (size_t)steps;
    return n;
}

int golden_compare_ids(golden_case *gc, const char *name, const int32_t *ids, size_t n)
{
    const dv_tensor *ref = golden_tensor(gc, name);
    if (!ref) {
        skip(name);
        return 0;
    }
    size_t m = (size_t)dv_tensor_numel(ref);
    if (ref->dtype != DV_I32 || m != n)
        return shape_mismatch(gc, name, m, n);
    size_t upto = safe_steps(gc, name, n), bad = 0;
    const int32_t *r = ref->data;
    for (size_t i = 0; i < upto; i++)
        bad += r[i] != ids[i];
    gc->compared++;
    gc->failures += bad != 0;
    printf("  %-26s %zu of %zu ids differ (exact)  %s\n", name, bad, upto, bad ? "FAIL" : "ok");
    return 1;
}

int golden_compare_u8(golden_case *gc, const char *name, const uint8_t *got, size_t n)
{
    const dv_tensor *ref = golden_tensor(gc, name);
    if (!ref) {
        skip(name);
        return 0;
    }
    size_t m = (size_t)dv_tensor_numel(ref);
    if (ref->dtype != DV_U8 || m != n)
        return shape_mismatch(gc, name, m, n);
    const uint8_t *r = ref->data;
    size_t bad = 0;
    int worst = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got[i] - (int)r[i]);
        bad += d != 0;
        worst = d > worst ? d : worst;
    }
    gc->compared++;
    gc->failures += bad != 0;
    printf("  %-26s %zu of %zu bytes differ (max %d, exact)  %s\n", name, bad, n, worst,
           bad ? "FAIL" : "ok");
    return 1;
}
