/* The Hugging Face-converted layout (transformers' DeepseekVL and
 * DeepseekVLHybrid, e.g. deepseek-community/deepseek-vl-*): its config.json,
 * preprocessor_config.json and tensor names, mapped onto the original layout
 * so the rest of docvl knows one naming only. Facts from transformers'
 * convert_deepseek_vl{,_hybrid}_weights_to_hf.py: SigLIP q/k/v are stored
 * split (fused back here, the only copy), SigLIP pos_embed lost its leading 1,
 * vision_model.{high,low}_layer_norm and the SigLIP head are dropped. */
#ifndef DV_HF_LAYOUT_H
#define DV_HF_LAYOUT_H

#include <json-glib/json-glib.h>

#include "base/error.h"
#include "kernels/tensor.h"
#include "weights/config.h"

/* 1 if config.json's top level is a DeepseekVL(Hybrid)Config. */
int dv_hf_is_config(JsonObject *root);

/* HF preprocessor_config.json (size / high_res_size, image_mean / std,
 * high_res_image_mean / std): the means go to the towers, which normalise
 * themselves in docvl, so do_normalize is turned off. */
int dv_hf_preprocessor(JsonObject *o, const char *what, dv_config *cfg, dv_err *e);

/* One name's mapping. part: -1 for a whole tensor, 0/1/2 for the q/k/v third
 * of a fused qkv. squeeze: the HF tensor lacks the original's leading 1. */
typedef struct dv_hf_name {
    char name[256];
    int part;
    int squeeze;
} dv_hf_name;

/* HF name -> original name. Returns 1 if mapped, 0 for a name with no
 * original counterpart (ignored by the loader). Leading "model." and a
 * missing "vision_encoder." level are both accepted. */
int dv_hf_to_original(const char *hf, dv_family family, dv_hf_name *out);

/* Original name -> the HF name(s) the converter writes (3 for a split qkv).
 * Returns how many were written to out (0: the converter drops it). */
int dv_hf_from_original(const char *orig, dv_family family, dv_hf_name out[3]);

/* Tensors a checkpoint in the HF layout presents under original names. */
typedef struct dv_hf_map dv_hf_map;

/* Builds the original-name view of tensors[0..n) (HF names) into by_name
 * (a GHashTable name -> const dv_tensor*); the family is read off the names.
 * A tied model without lm_head gets it as a view of embed_tokens. `what`
 * names the model in errors. */
int dv_hf_map_build(const dv_tensor *const *tensors, int n, const char *what, void *by_name,
                    dv_hf_map **out, dv_err *e);
void dv_hf_map_free(dv_hf_map *m);

/* 1 if the tensor names look like the HF layout (no original vision or
 * language_model.model. names, and some HF ones). */
int dv_hf_names_detect(const dv_tensor *const *tensors, int n);

#endif
