/* A model directory's weights: one or more safetensors shards, looked up by
 * the ORIGINAL DeepSeek-VL tensor names (other layouts are mapped to these at
 * open time, so the forward passes know one naming only). */
#ifndef DV_CHECKPOINT_H
#define DV_CHECKPOINT_H

#include "base/error.h"
#include "kernels/tensor.h"
#include "weights/safetensors.h"

#define DV_MAX_SHARDS 1024

typedef struct dv_checkpoint {
    char *dir;
    int n_shards;
    dv_safetensors **shards;
    void *by_name;        /* GHashTable: original name -> const dv_tensor* */
    int hf_layout;        /* 1 if the files used transformers' DeepseekVL names */
    struct dv_hf_map *hf_map; /* original-name views of an HF-layout checkpoint */
} dv_checkpoint;

int dv_checkpoint_open(const char *dir, dv_checkpoint **out, dv_err *e);
void dv_checkpoint_close(dv_checkpoint *ck);

/* NULL if absent. */
const dv_tensor *dv_checkpoint_find(const dv_checkpoint *ck, const char *name);

/* Whether t's data lies in one of the checkpoint's file mappings (not a copy
 * made at open, such as a fused qkv): only those pages may be released. */
int dv_checkpoint_is_mapped(const dv_checkpoint *ck, const dv_tensor *t);

/* Finds a tensor and checks its shape; a missing tensor or a wrong shape is an
 * error that names the tensor, the expected and found shapes and the file.
 * ndim < 0 skips the shape check. */
int dv_checkpoint_get(const dv_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                      const dv_tensor **out, dv_err *e);

#endif
