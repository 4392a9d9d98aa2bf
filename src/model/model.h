/* A whole DeepSeek-VL model: config, mapped checkpoint, bound vision path and
 * decoder, tokenizer. What the pipeline, the golden checker and the benches
 * open; the forward passes themselves live in vision.c and llama.c. */
#ifndef DV_MODEL_H
#define DV_MODEL_H

#include "base/ctx.h"
#include "base/error.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "model/llama.h"
#include "weights/qcache.h"
#include "model/vision.h"
#include "text/tokenizer.h"

/* How weights are held in memory (--weights). AUTO keeps the old rule: widen
 * 16-bit weights to f32 only when they fit easily (opts.widen may force it).
 * F32: everything widened. BF16: everything kept as stored (16-bit), widened
 * panel by panel for sgemm and read directly when decoding. Q8 / Q4: the
 * decoder's matrices block-quantized at load (kernels/quant.h; lm_head q8 in
 * both), the towers kept as stored. */
typedef enum dv_weights {
    DV_WEIGHTS_AUTO = 0,
    DV_WEIGHTS_F32,
    DV_WEIGHTS_BF16,
    DV_WEIGHTS_Q8,
    DV_WEIGHTS_Q4,
} dv_weights;

/* "auto", "f32", "bf16", "q8", "q4" -> 0, or -1 if unknown. */
int dv_weights_from_name(const char *s, dv_weights *out);
const char *dv_weights_name(dv_weights w);

typedef struct dv_model_opts {
    int widen;       /* AUTO only: -1 auto (widen 16-bit weights only when they fit easily), 0 keep, 1 widen */
    dv_weights weights;
    int n_threads;   /* threads for the work at load (quantizing); 0: all cores */
    /* Q8 / Q4: directory of the quantized-weight cache (weights/qcache.h),
     * made if missing; NULL: no cache, quantize at every load. */
    const char *cache_dir;
    uint64_t cache_min_free; /* bytes a cache write must leave free; 0: 1 GiB */
} dv_model_opts;

typedef struct dv_model {
    char *dir;
    dv_config cfg;
    dv_checkpoint *ck;
    dv_vision *vision;
    dv_llama *llama;
    dv_tokenizer *tok;
    int widened;     /* 16-bit weights were widened to f32 at load */
    dv_weights weights; /* how they are held (never AUTO once loaded) */
    /* What the quantized-weight cache did at this load: used (mapped),
     * written, or a warning why it could not be written (the load worked);
     * all zero without opts.cache_dir. */
    dv_qcache_status weight_cache;
} dv_model;

int dv_model_load(const char *dir, const dv_model_opts *opts, dv_model **out, dv_err *e);
void dv_model_free(dv_model *m);

#endif
