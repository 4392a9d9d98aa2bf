#include "weights/checkpoint.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "weights/hf_layout.h"

#define INDEX_MAX_BYTES (64u << 20)

static int add_shard(dv_checkpoint *ck, const char *file, dv_err *e)
{
    if (ck->n_shards >= DV_MAX_SHARDS)
        return dv_fail(e, DOCVL_ELIMIT, "%s: more than %d shards", ck->dir, DV_MAX_SHARDS);
    char *path = g_build_filename(ck->dir, file, NULL);
    dv_safetensors *st;
    int rc = dv_safetensors_open(path, &st, e);
    g_free(path);
    if (rc)
        return rc;
    ck->shards[ck->n_shards++] = st;
    for (int i = 0; i < st->n; i++) {
        const dv_tensor *t = &st->tensors[i];
        if (g_hash_table_contains(ck->by_name, t->name))
            return dv_fail(e, DOCVL_EMODEL, "%s: tensor \"%s\" appears in more than one shard",
                           st->path, t->name);
        g_hash_table_insert(ck->by_name, (gpointer)t->name, (gpointer)t);
    }
    return DOCVL_OK;
}

static int has_file(const char *dir, const char *name)
{
    char *path = g_build_filename(dir, name, NULL);
    int ok = g_file_test(path, G_FILE_TEST_IS_REGULAR);
    g_free(path);
    return ok;
}

/* pytorch_model.bin, its shards (pytorch_model-00001-of-00002.bin) or index. */
static int has_pickles(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return 0;
    int found = 0;
    const char *n;
    while (!found && (n = g_dir_read_name(d)))
        found = g_str_has_prefix(n, "pytorch_model") &&
                (g_str_has_suffix(n, ".bin") || g_str_has_suffix(n, ".bin.index.json"));
    g_dir_close(d);
    return found;
}

/* Shards named by model.safetensors.index.json's weight_map; each must exist
 * and hold exactly the tensors the index assigns to it. */
static int open_sharded(dv_checkpoint *ck, const char *index_path, dv_err *e)
{
    char *text;
    size_t len;
    int rc = dv_read_file(index_path, INDEX_MAX_BYTES, &text, &len, e);
    if (rc)
        return rc;
    JsonParser *p;
    JsonNode *root;
    rc = dv_json_parse(text, len, INDEX_MAX_BYTES, index_path, &p, &root, e);
    free(text);
    if (rc)
        return DOCVL_EMODEL;
    JsonObject *map = NULL;
    if (!JSON_NODE_HOLDS_OBJECT(root) ||
        dv_json_obj(json_node_get_object(root), "weight_map", index_path, &map, e) <= 0) {
        g_object_unref(p);
        return dv_fail(e, DOCVL_EMODEL, "%s: no \"weight_map\" object", index_path);
    }
    GHashTable *files = g_hash_table_new(g_str_hash, g_str_equal);
    GList *names = json_object_get_members(map);
    for (GList *l = names; l && !rc; l = l->next) {
        JsonNode *n = json_object_get_member(map, l->data);
        const char *file = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
                               ? json_node_get_string(n) : NULL;
        if (!file || strchr(file, '/') || strcmp(file, "..") == 0)
            rc = dv_fail(e, DOCVL_EMODEL, "%s: weight_map[\"%s\"] is not a file name in the model "
                         "directory", index_path, (const char *)l->data);
        else if (!g_hash_table_contains(files, file)) {
            g_hash_table_add(files, (gpointer)file);
            rc = has_file(ck->dir, file)
                     ? add_shard(ck, file, e)
                     : dv_fail(e, DOCVL_EMODEL, "%s names shard \"%s\", which is missing",
                               index_path, file);
        }
    }
    for (GList *l = names; l && !rc; l = l->next)
        if (!g_hash_table_contains(ck->by_name, l->data))
            rc = dv_fail(e, DOCVL_EMODEL, "%s: tensor \"%s\" is not in its shard \"%s\"", index_path,
                         (const char *)l->data,
                         json_node_get_string(json_object_get_member(map, l->data)));
    g_list_free(names);
    g_hash_table_destroy(files);
    g_object_unref(p);
    return rc;
}

/* An HF-layout checkpoint is looked up by original names through views;
 * its own names leave the table. */
static int map_hf_layout(dv_checkpoint *ck, dv_err *e)
{
    int n = 0;
    for (int s = 0; s < ck->n_shards; s++)
        n += ck->shards[s]->n;
    const dv_tensor **all = calloc((size_t)n + 1, sizeof *all);
    if (!all)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory");
    n = 0;
    for (int s = 0; s < ck->n_shards; s++)
        for (int i = 0; i < ck->shards[s]->n; i++)
            all[n++] = &ck->shards[s]->tensors[i];
    int rc = DOCVL_OK;
    if (dv_hf_names_detect(all, n)) {
        GHashTable *orig = g_hash_table_new(g_str_hash, g_str_equal);
        rc = dv_hf_map_build(all, n, ck->dir, orig, &ck->hf_map, e);
        g_hash_table_destroy(ck->by_name);
        ck->by_name = orig;
        ck->hf_layout = 1;
    }
    free(all);
    return rc;
}

int dv_checkpoint_open(const char *dir, dv_checkpoint **out, dv_err *e)
{
    *out = NULL;
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return dv_fail(e, DOCVL_EMODEL, "%s: no such model directory", dir);
    dv_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory");
    ck->dir = strdup(dir);
    ck->shards = calloc(DV_MAX_SHARDS, sizeof *ck->shards);
    ck->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    int rc;
    char *index = g_build_filename(dir, "model.safetensors.index.json", NULL);
    if (g_file_test(index, G_FILE_TEST_IS_REGULAR))
        rc = open_sharded(ck, index, e);
    else if (has_file(dir, "model.safetensors"))
        rc = add_shard(ck, "model.safetensors", e);
    else if (has_pickles(dir))
        rc = dv_fail(e, DOCVL_EUNSUPPORTED,
                     "%s holds PyTorch pickle weights (pytorch_model*.bin), which docvl does not "
                     "load (unpickling can run code). Convert them once, in that directory, with "
                     "Python (torch and safetensors installed):\n"
                     "  import glob, torch\n"
                     "  from safetensors.torch import save_file\n"
                     "  sd = {}\n"
                     "  for f in sorted(glob.glob('pytorch_model*.bin')):\n"
                     "      sd.update(torch.load(f, map_location='cpu', weights_only=True))\n"
                     "  save_file({k: v.contiguous() for k, v in sd.items()}, "
                     "'model.safetensors', metadata={'format': 'pt'})", dir);
    else
        rc = dv_fail(e, DOCVL_EMODEL, "%s: no model.safetensors or model.safetensors.index.json",
                     dir);
    g_free(index);
    if (!rc)
        rc = map_hf_layout(ck, e);
    if (rc) {
        dv_checkpoint_close(ck);
        return rc;
    }
    *out = ck;
    return DOCVL_OK;
}

void dv_checkpoint_close(dv_checkpoint *ck)
{
    if (!ck)
        return;
    if (ck->by_name)
        g_hash_table_destroy(ck->by_name);
    dv_hf_map_free(ck->hf_map);
    for (int i = 0; i < ck->n_shards; i++)
        dv_safetensors_close(ck->shards[i]);
    free(ck->shards);
    free(ck->dir);
    free(ck);
}

const dv_tensor *dv_checkpoint_find(const dv_checkpoint *ck, const char *name)
{
    return g_hash_table_lookup(ck->by_name, name);
}

int dv_checkpoint_is_mapped(const dv_checkpoint *ck, const dv_tensor *t)
{
    const char *p = t->data;
    for (int s = 0; s < ck->n_shards; s++) {
        const char *m = ck->shards[s]->map;
        if (m && p >= m && p + t->nbytes <= m + ck->shards[s]->size)
            return 1;
    }
    return 0;
}

int dv_checkpoint_get(const dv_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                      const dv_tensor **out, dv_err *e)
{
    const dv_tensor *t = dv_checkpoint_find(ck, name);
    *out = t;
    char want[128], got[128];
    if (!t)
        return dv_fail(e, DOCVL_EMODEL, "%s: tensor \"%s\" is missing (expected shape %s)", ck->dir,
                       name, ndim >= 0 ? dv_shape_str(shape, ndim, want, sizeof want) : "any");
    if (ndim < 0)
        return DOCVL_OK;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same)
        return dv_fail(e, DOCVL_EMODEL, "%s: tensor \"%s\" has shape %s, expected %s", ck->dir, name,
                       dv_shape_str(t->shape, t->ndim, got, sizeof got),
                       dv_shape_str(shape, ndim, want, sizeof want));
    if (t->dtype != DV_F32 && t->dtype != DV_F16 && t->dtype != DV_BF16)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "%s: tensor \"%s\" is %s; weights must be F32, F16 "
                       "or BF16", ck->dir, name, dv_dtype_name(t->dtype));
    return DOCVL_OK;
}
