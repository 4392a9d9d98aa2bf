/* Growing a trained SigLIP-only model into a bigger one that computes the
 * same function (docvl-train grow, docs/training.md "Growing a model"):
 * more tower blocks, a wider tower MLP, more decoder layers, a wider decoder
 * MLP, a wider decoder (more heads of the same head_dim). The old weights
 * are copied into the new tensors; the new parts start from docvl-train
 * --init's values (seeded), except the projections that write into a
 * residual stream, which start at zero so that every new block is the
 * identity and every new feature is silent until training moves it. */
#ifndef DV_GROW_H
#define DV_GROW_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "train/tmodel.h"
#include "weights/config.h"

/* The configuration of old grown to req's sizes: old's own configuration
 * (processor, preprocessor, tokens) with req's tower layers and mlp_ratio
 * and req's decoder hidden_size, intermediate_size, num_hidden_layers,
 * heads and kv heads. Any other difference of req from old (vocab, patch,
 * image size, tower width or heads, head_dim, projector, ...), a smaller
 * size, or a hybrid model is an error naming the field and both values.
 * A wider decoder gets rms_norm_eps scaled by old hidden / new hidden (see
 * dv_tmodel_grow). */
int dv_grow_config(const dv_config *old, const dv_config *req, dv_config *grown, dv_err *e);

/* A model of the grown configuration whose logits equal old's (to float
 * rounding): new tower blocks and decoder layers are spread between the
 * old ones (their attention output and MLP output projections zero: the
 * identity); wider MLPs get new fc1/gate/up rows at --init values and zero
 * new fc2/down columns; a wider decoder keeps the residual stream's new
 * features at zero (zero new embedding columns, aligner output rows,
 * o_proj and down_proj rows and columns) and scales every RMSNorm weight by
 * sqrt(old/new hidden) with eps scaled by old/new, which makes the norm of
 * the zero-padded stream equal the old norm exactly. seed: the --init seed
 * of the new values. The result remembers old's directory (tokenizer,
 * side files) and image token. */
int dv_tmodel_grow(const dv_tmodel *old, const dv_config *req, uint64_t seed, dv_tmodel **out,
                   dv_err *e);

typedef struct dv_grow_info {
    size_t params_old, params_new;    /* trainable values */
    int tower_layers[2], lm_layers[2], lm_hidden[2], lm_ffn[2], tower_mlp[2];
    float rms_eps[2];                 /* old, written */
} dv_grow_info;

/* docvl-train grow: model_dir grown to config_path's sizes, written to
 * out_dir as an ordinary model directory (config.json: config_path's text,
 * with rms_norm_eps rescaled when the decoder widens; model_dir's tokenizer
 * and processor files; F32 weights). info may be NULL. */
int dv_grow_dir(const char *model_dir, const char *config_path, const char *out_dir,
                uint64_t seed, dv_grow_info *info, dv_err *e);

#endif
