/* Every tensor the original checkpoint layout holds for an architecture,
 * its family table (model/arch.h) resolved for a dv_config: what the writer
 * emits, what validation checks before any compute, what --info counts and
 * what the trainer allocates. */
#ifndef DV_SCHEMA_H
#define DV_SCHEMA_H

#include "base/error.h"
#include "kernels/tensor.h"
#include "model/arch.h"
#include "weights/checkpoint.h"
#include "weights/config.h"

typedef struct dv_schema_entry {
    char name[128];
    int ndim;
    int64_t shape[DV_MAX_DIMS];
    int used;         /* 0: stored in the released checkpoints, never read */
    dv_tower tower;
    dv_init init;
    unsigned flags;   /* the table row's DV_ROW_* flags */
    int64_t fan_in;   /* for DV_INIT_MATRIX */
} dv_schema_entry;

typedef struct dv_schema {
    int n, cap;
    dv_schema_entry *items;   /* sorted by name, as the released files are */
} dv_schema;

int dv_model_schema(const dv_config *cfg, dv_schema *out, dv_err *e);
void dv_schema_free(dv_schema *s);
int64_t dv_schema_numel(const dv_schema_entry *t);

/* Before any compute: every tensor the forward pass reads exists with the
 * schema's shape and is F32/F16/BF16 (the first failure names the tensor,
 * the expected and found shapes and the model directory). Unused tensors may
 * be absent; present, they must have their shape too. */
int dv_model_validate(const dv_config *cfg, const dv_checkpoint *ck, dv_err *e);

#endif
