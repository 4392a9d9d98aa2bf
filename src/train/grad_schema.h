/* The checkpoint schema (model/schema.h) as the trainer sees it. schema.h
 * and tmodel.h both name an enum dv_part (the schema's counts parameters by
 * tower, the trainer's freezes by training stage), so the schema is read in
 * this translation unit alone and handed over in these neutral terms. */
#ifndef DV_GRAD_SCHEMA_H
#define DV_GRAD_SCHEMA_H

#include <stdint.h>

#include "base/error.h"
#include "model/config.h"

typedef enum tg_tower { TG_SAM, TG_SIGLIP, TG_ALIGNER, TG_LLM, TG_UNUSED } tg_tower;
typedef enum tg_init { TG_INIT_MATRIX, TG_INIT_ONES, TG_INIT_ZEROS, TG_INIT_SMALL,
                       TG_INIT_SCALAR } tg_init;

typedef struct tg_spec {
    char name[128];
    int ndim;
    int64_t shape[4];
    int used;            /* 0: stored in the released files, never read by the model */
    tg_tower tower;
    tg_init init;
    int64_t fan_in;
} tg_spec;

/* Every tensor of cfg's architecture, sorted by name. *out malloc'ed. */
int tg_schema(const dv_config *cfg, tg_spec **out, int *n, dv_err *e);

#endif
