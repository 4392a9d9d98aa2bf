/* The model's architecture and processing settings, read from a Hugging Face
 * DeepSeek-VL model directory (config.json + preprocessor_config.json +
 * processor_config.json + tokenizer_config.json). Numbers come from the
 * tower's model_name preset, overridden by explicit fields in its cfg. */
#ifndef DV_CONFIG_H
#define DV_CONFIG_H

#include <json-glib/json-glib.h>

#include "base/error.h"

#define DV_MAX_GLOBAL_ATTN 16
#define DV_SAM_INTERP_SIZE 96   /* upstream interpolates the neck output to 96x96 */
#define DV_SAM_OUT_GRID 24      /* after two stride-2 downsamples */

typedef enum dv_family {
    DV_FAMILY_SIGLIP,   /* CLIPVisionTower: SigLIP-L only (deepseek-vl-1.3b) */
    DV_FAMILY_HYBRID,   /* HybridVisionTower: SAM-B + SigLIP-L (deepseek-vl-7b) */
} dv_family;

typedef enum dv_projector {
    DV_PROJ_MLP_GELU,                 /* layers.0, GELU, layers.2 (depth 2) */
    DV_PROJ_LOW_HIGH_HYBRID_SPLIT,    /* high_up_proj, low_up_proj, GELU, layers.1 */
} dv_projector;

typedef struct dv_siglip_cfg {
    char model_name[64];
    /* 384 x 384. image_size is an int (square) or docvl's extension
     * [height, width]: a non-square input with its own position table,
     * for a model that reads one text line at a time (SigLIP-only). */
    int image_h, image_w;
    int patch_size;      /* 16 */
    int width;           /* 1024 */
    int layers;          /* 24 */
    int heads;           /* 16 */
    float mlp_ratio;     /* 4 -> hidden = width * mlp_ratio */
    int mlp_dim;         /* width * mlp_ratio, rounded as timm does (int) */
    int select_layer;    /* -1: all blocks; -2: drop the last */
    int class_token;     /* must be 0 for the released models */
    int attn_pool;       /* global_pool "map": attn_pool.* is stored (never used) */
    int depth;           /* blocks built and stored: layers + select_layer + 1 when
                          * select_layer <= 0, else min(layers, select_layer)
                          * (create_siglip_vit builds only those) */
    float pixel_mean[3], pixel_std[3];
} dv_siglip_cfg;

typedef struct dv_sam_cfg {
    char model_name[64];
    int image_size;      /* 1024 */
    int patch_size;      /* 16 */
    int width;           /* 768 */
    int layers;          /* 12 */
    int heads;           /* 12 */
    float mlp_ratio;     /* 4 */
    int mlp_dim;
    int window_size;     /* 14 */
    int n_global;
    int global_attn_indexes[DV_MAX_GLOBAL_ATTN];   /* [2,5,8,11] */
    int prompt_embed_dim;          /* 256: neck output channels */
    int downsample_channels[2];    /* [512, 1024] */
    int select_layer;
    float pixel_mean[3], pixel_std[3];
} dv_sam_cfg;

typedef struct dv_aligner_cfg {
    dv_projector type;
    int input_dim;       /* 1024 */
    int n_embed;         /* LM hidden size */
    int depth;           /* 2 */
} dv_aligner_cfg;

typedef struct dv_lm_cfg {
    int hidden;
    int intermediate;
    int layers;
    int heads;
    int kv_heads;
    int head_dim;        /* hidden / heads */
    int vocab;
    int max_pos;         /* max_position_embeddings */
    float rms_eps;
    float rope_theta;
    int tie_word_embeddings;
    int bos_id, eos_id;  /* from config; tokenizer files may refine them */
    int pad_id;          /* -1: none */
} dv_lm_cfg;

typedef struct dv_preproc_cfg {
    /* The tower's input. Square (h == w): the longest side after the resize
     * and the square's side, as VLMImageProcessor does. Non-square: a text
     * line resized to height image_h, padded or squeezed to image_w. */
    int image_h, image_w;
    int min_size;        /* 14 */
    int has_image_mean;  /* 0: background (127,127,127) */
    float image_mean[3], image_std[3];
    float rescale_factor;/* 1/255 */
    int do_normalize;
} dv_preproc_cfg;

#define DV_MAX_PROMPT_TEXT 2048

typedef struct dv_processor_cfg {
    char image_tag[64];      /* "<image_placeholder>" */
    int num_image_tokens;    /* 576 */
    char sft_format[32];     /* "deepseek" */
    int add_bos;             /* tokenizer_config add_bos_token (default 1) */
    /* VLChatProcessor's system_prompt: DV_PROMPT_SYSTEM_DEFAULT unless the
     * file says otherwise; "": no system part. Reading and training both
     * format the chat with it, so their prompts are the same. */
    char system_prompt[DV_MAX_PROMPT_TEXT];
    /* docvl extensions (absent in the released models): */
    int reads_lines;         /* docvl_reads "lines": fed one text line at a time */
    int has_instruction;     /* docvl_instruction given: the user-turn text after */
    char instruction[DV_MAX_PROMPT_TEXT]; /* the image the model was trained with */
} dv_processor_cfg;

/* Special token strings from special_tokens_map.json, else tokenizer_config.json
 * (each entry may be a string or an AddedToken object with "content"). Absent
 * both: the DeepSeek LLM tokens (bos/eos below, no pad). The tokenizer turns
 * them into ids. */
typedef struct dv_special_tokens {
    char bos[96], eos[96], pad[96];   /* "" when the model has none */
} dv_special_tokens;

#define DV_MAX_EOS 8

/* generation_config.json. Absent file or key: greedy decoding of at most
 * 512 new tokens (what DeepSeek-VL's inference example does), stopping at the
 * language config's eos. */
typedef struct dv_gen_cfg {
    int bos_id;
    int n_eos;
    int eos_ids[DV_MAX_EOS];   /* eos_token_id may be one id or a list */
    int pad_id;                /* -1: none */
    int max_new_tokens;        /* 512 */
    int do_sample;             /* 0 */
    float temperature;         /* 1.0 */
    float top_p;               /* 1.0 */
    int top_k;                 /* 0 = off */
    float repetition_penalty;  /* 1.0 */
} dv_gen_cfg;

typedef struct dv_config {
    dv_family family;
    dv_siglip_cfg siglip;    /* the only tower (SigLIP-only) or the low path (hybrid) */
    dv_sam_cfg sam;          /* hybrid only */
    dv_aligner_cfg aligner;
    dv_lm_cfg lm;
    dv_preproc_cfg pre;
    dv_processor_cfg proc;
    float hd_alpha_default;  /* unused: hd_alpha_downsamples is a weight */
    dv_special_tokens tok;
    dv_gen_cfg gen;
    int hf_layout;           /* config.json was transformers' DeepseekVL(Hybrid)Config */
    int image_token_id;      /* HF layout's image_token_id; -1 in the original layout */
} dv_config;

/* Reads config.json and the optional side files in dir. Missing optional files
 * get the released models' defaults (documented in README). */
int dv_config_load(const char *dir, dv_config *cfg, dv_err *e);

/* Parses a config.json text alone (side files get defaults). `what` names
 * the source in errors. Used by the loader and by the fuzzers. */
int dv_config_parse_json(const char *json, size_t len, const char *what,
                         dv_config *cfg, dv_err *e);

/* Applies one side file's text (name: "preprocessor_config.json",
 * "processor_config.json", "tokenizer_config.json",
 * "special_tokens_map.json" or "generation_config.json") to cfg, which holds
 * a parsed config.json. The loader's and the fuzzers' entry point. */
int dv_config_parse_side(const char *name, const char *text, size_t len, dv_config *cfg,
                         dv_err *e);
/* Parses transformers' DeepseekVLConfig / DeepseekVLHybridConfig (model_type
 * "deepseek_vl" / "deepseek_vl_hybrid": text_config, vision_config,
 * high_res_vision_config) into the same dv_config (hf_layout.c). */
int dv_config_parse_hf(JsonObject *root, const char *what, dv_config *cfg, dv_err *e);

/* Internal helpers shared with hf_layout.c: typed, range-checked reads that
 * leave *dst alone when the key is absent (return 0), set it (1), or fail (-1). */
int dv_cfg_int(JsonObject *o, const char *key, const char *what, int lo, int hi, int *dst,
               dv_err *e);
int dv_cfg_float(JsonObject *o, const char *key, const char *what, double lo, double hi,
                 float *dst, dv_err *e);
int dv_cfg_vec3(JsonObject *o, const char *key, const char *what, float dst[3], dv_err *e);
/* An image size: an int (square) or [height, width] (docvl's extension). */
int dv_cfg_size(JsonObject *o, const char *key, const char *what, int lo, int hi, int *h, int *w,
                dv_err *e);
/* SigLIP's sides against its patch and heads (-1 and e set when unusable). */
int dv_siglip_check_geometry(const dv_siglip_cfg *s, const char *what, dv_err *e);
/* -1 (EUNSUPPORTED) when a tower that must be square (the hybrid's low
 * path) is not. */
int dv_siglip_require_square(const dv_siglip_cfg *s, const char *what, dv_err *e);
/* The preprocessor's input against the towers' (sides, min_size). */
int dv_preproc_check(const dv_config *c, const char *what, dv_err *e);
/* Reads LlamaConfig fields over *defaults. */
int dv_lm_parse(JsonObject *lc, const char *what, const dv_lm_cfg *defaults, dv_lm_cfg *l,
                dv_err *e);
/* The blocks create_siglip_vit builds (and the checkpoint stores): only
 * those select_layer keeps. */
int dv_siglip_kept_blocks(const dv_siglip_cfg *s);
void dv_siglip_set_depth(dv_siglip_cfg *s);

/* Gives a SigLIP-only model the input image_h x image_w cut into patch x
 * patch squares (patch 0: keep the patch size): the tower's sides, the
 * preprocessor's and the processor's image token count follow. A new
 * checkpoint's geometry (model writers); EUNSUPPORTED for the hybrid, whose
 * geometry SAM fixes. */
int dv_config_set_input(dv_config *cfg, int image_h, int image_w, int patch, dv_err *e);

/* Number of image tokens the vision path produces (24 x 24 = 576; a
 * non-square SigLIP: grid_h x grid_w). */
int dv_config_image_tokens(const dv_config *cfg);
/* SigLIP's patch grid: image_h / patch_size rows, image_w / patch_size
 * columns (0 when the patch size is not set). */
int dv_siglip_grid_h(const dv_siglip_cfg *s);
int dv_siglip_grid_w(const dv_siglip_cfg *s);
/* Whether the model's input is not a square (docvl's line geometry). */
int dv_preproc_is_lines(const dv_preproc_cfg *p);

#endif
