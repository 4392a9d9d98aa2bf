/* The model writer's core (tools/docvl-mkmodel): a complete random-weight
 * model directory for any architecture, in the original or the HF layout.
 * Weights are generated and written tensor by tensor, so a 7B-shape model
 * never sits in memory. Values depend only on (seed, tensor name), so the
 * sharding does not change them. */
#ifndef DV_MKMODEL_H
#define DV_MKMODEL_H

#include <stdint.h>

#include "base/error.h"
#include "kernels/tensor.h"
#include "weights/modeldir.h"

typedef struct dv_mkmodel_opts {
    const char *out_dir;      /* created if missing */
    const char *arch;         /* preset: tiny-hybrid, tiny-siglip, 1.3b, 7b */
    const char *config_path;  /* or an existing config.json (either layout) */
    dv_dtype dtype;           /* DV_F32, DV_F16 or DV_BF16 */
    uint64_t seed;
    int shards;               /* 1: model.safetensors; more: shards + index */
    int hf_layout;            /* write transformers' DeepseekVL(Hybrid) layout */
    const char *tokenizer;    /* tokenizer.json to copy; NULL: write a small one */
    int quiet;
    /* The SigLIP-only model's input (0: the architecture's): image_h x
     * image_w pixels (non-square: docvl's line geometry), patch side. */
    int image_h, image_w, patch;
    /* processor_config.json: docvl_reads "lines", docvl_instruction and
     * system_prompt (NULL: absent, the released behaviour). */
    int reads_lines;
    const char *instruction, *system_prompt;
} dv_mkmodel_opts;

int dv_mkmodel(const dv_mkmodel_opts *o, dv_err *e);

/* The preset's config.json text (original layout), NULL if unknown. */
const char *dv_mkmodel_preset(const char *arch);

/* Writes tokenizer.json (copied or generated) and returns the ids it gives
 * the special tokens (bos, eos, image). */
int dv_mk_write_tokenizer(const char *dir, const dv_config *c, const char *copy_from,
                          int ids[3], dv_err *e);

#endif
