/* What `docvl --model DIR --info` reports of a model directory: the
 * schema's parameter counts per tower, the storage dtype and the bytes the
 * weights take, counted without loading anything. */
#ifndef DV_MODEL_INFO_H
#define DV_MODEL_INFO_H

#include <stdio.h>

#include "model/schema.h"

/* What `docvl --model DIR --info` prints. */
typedef struct dv_model_info {
    dv_family family;
    const char *family_name;      /* "hybrid (SAM-B + SigLIP)" or "SigLIP-only" */
    int64_t params[DV_TOWER_COUNT]; /* per tower, schema (architecture) counts */
    int64_t params_total;
    int64_t params_used;          /* without the stored-but-unused tensors */
    const char *dtype;            /* storage dtype: "BF16", "F32", ... or "mixed" */
    size_t bytes_resident;        /* bytes of the mapped weights the forward pass reads */
    size_t bytes_widened;         /* the same weights widened to f32 */
    size_t bytes_files;           /* bytes of all tensors in the files */
    int image_size;               /* preprocessing square (non-square: image_w) */
    int image_h, image_w;         /* the model's input in pixels */
    int image_tokens;
    int vocab;
    int context;                  /* max_position_embeddings */
    int hf_layout;
} dv_model_info;

/* ck may be NULL: then dtype is "?" and the byte counts assume f32. */
int dv_model_info_get(const dv_config *cfg, const dv_checkpoint *ck, dv_model_info *out,
                      dv_err *e);

/* Prints the info as "key: value" lines. */
void dv_model_info_print(const dv_model_info *info, FILE *f);

#endif
