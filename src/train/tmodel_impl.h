/* Internals shared by tmodel.c (parameters, passes) and tmodel_io.c (load,
 * save): the full tensor list of the architecture and the module views. */
#ifndef DV_TMODEL_IMPL_H
#define DV_TMODEL_IMPL_H

#include "train/grad_model.h"
#include "model/schema.h"
#include "train/tmodel.h"

typedef struct tm_impl {
    int n_specs;
    dv_schema_entry *specs;  /* every tensor of the layout, sorted by name */
    float **tensor_w;        /* its values: a param's w, or an unused tensor's copy */
    float *wbuf, *gbuf;      /* all params' weights and gradients, contiguous */
    float *unused_buf;       /* stored-but-unused tensors (attn_pool, *_layer_norm) */
    tg_sam sam;
    tg_siglip sig;
    tg_aligner al;
    tg_llm lm;
    int32_t image_token_id;  /* -1: unknown (set with dv_tmodel_set_image_token) */
    char *src_dir;           /* directory loaded from, for config/side files on save */
    char *config_text;       /* config.json to save instead of src_dir's (a grown model) */
} tm_impl;

/* Allocates params for cfg's schema (values zero) and binds the views. */
int tm_create(const dv_config *cfg, dv_tmodel **out, dv_err *e);

#endif
