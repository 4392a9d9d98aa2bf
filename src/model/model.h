/* A whole DeepSeek-VL model: config, mapped checkpoint, bound vision path and
 * decoder, tokenizer. What the pipeline, the golden checker and the benches
 * open; the forward passes themselves live in vision.c and llama.c. */
#ifndef DV_MODEL_H
#define DV_MODEL_H

#include "base/ctx.h"
#include "base/error.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/llama.h"
#include "model/vision.h"
#include "text/tokenizer.h"

typedef struct dv_model_opts {
    int widen;       /* -1 auto (widen 16-bit weights only when they fit easily), 0 keep, 1 widen */
} dv_model_opts;

typedef struct dv_model {
    char *dir;
    dv_config cfg;
    dv_checkpoint *ck;
    dv_vision *vision;
    dv_llama *llama;
    dv_tokenizer *tok;
    int widened;     /* 16-bit weights were widened to f32 at load */
} dv_model;

int dv_model_load(const char *dir, const dv_model_opts *opts, dv_model **out, dv_err *e);
void dv_model_free(dv_model *m);

#endif
