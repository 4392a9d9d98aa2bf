/* The DeepSeek-VL family's tensor tables (original checkpoint layout): the
 * hybrid variant (SAM-B + SigLIP, deepseek-vl-7b) and the SigLIP-only one
 * (deepseek-vl-1.3b), and the two families' descriptors (their names in
 * both layouts, their towers). The only place that spells these tensor
 * names. */
#include "model/arch.h"

#include <stddef.h>

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define B DV_ROW_BIAS
#define UNUSED DV_ROW_UNUSED
#define NODECAY DV_ROW_NODECAY
#define NECK DV_ROW_SAM_NECK
/* prefixes of the HF-converted layout (transformers' DeepseekVL(Hybrid)) */
#define HSIG "vision_model.vision_model."
#define HSAM "high_res_vision_model.vision_encoder."

/* ---- SAM-B (ViTDet backbone, neck, hd branch) ---------------------------- */

enum { SAM_BLOCKS = DV_REP_BLOCKS, SAM_W, SAM_W3, SAM_MLP, SAM_P, SAM_D0, SAM_D1, SAM_PATCH,
       SAM_GRID, SAM_REL, SAM_HD };

static int sam_global(const dv_sam_cfg *s, int i)
{
    for (int g = 0; g < s->n_global; g++)
        if (s->global_attn_indexes[g] == i)
            return 1;
    return 0;
}

static int64_t sam_dim(const dv_config *c, int sym, int i)
{
    const dv_sam_cfg *s = &c->sam;
    switch (sym) {
    case SAM_BLOCKS: return s->layers;
    case SAM_W: return s->width;
    case SAM_W3: return 3 * (int64_t)s->width;
    case SAM_MLP: return s->mlp_dim;
    case SAM_P: return s->prompt_embed_dim;
    case SAM_D0: return s->downsample_channels[0];
    case SAM_D1: return s->downsample_channels[1];
    case SAM_PATCH: return s->patch_size;
    case SAM_GRID: return s->patch_size ? s->image_size / s->patch_size : 0;
    /* global blocks attend over the whole grid, windowed ones over a window */
    case SAM_REL: return 2 * (sam_global(s, i) ? sam_dim(c, SAM_GRID, i) : s->window_size) - 1;
    case SAM_HD: return s->heads ? s->width / s->heads : 0;
    }
    return 0;
}

static const dv_row SAM_ROWS[] = {
    { DV_VIT_PATCH, "patch_embed.proj", DV_KIND_CONV, 0, { SAM_W, -3, SAM_PATCH }, 0, B,
      SAM_PATCH, 0, HSAM "patch_embed.projection" },
    { DV_VIT_POS, "pos_embed", DV_KIND_TENSOR, 0, { -1, SAM_GRID, SAM_GRID, SAM_W },
      DV_INIT_SMALL, NODECAY, 0, 0, HSAM "pos_embed" },
    { DV_VIT_NORM1, "blocks.%d.norm1", DV_KIND_NORM, SAM_BLOCKS, { SAM_W }, 0, B, 0, 0,
      HSAM "layers.#.layer_norm1" },
    { DV_VIT_QKV, "blocks.%d.attn.qkv", DV_KIND_LINEAR, SAM_BLOCKS, { SAM_W3, SAM_W }, 0, B, 0,
      0, HSAM "layers.#.attn.qkv" },
    { DV_VIT_PROJ, "blocks.%d.attn.proj", DV_KIND_LINEAR, SAM_BLOCKS, { SAM_W, SAM_W }, 0, B, 0,
      0, HSAM "layers.#.attn.proj" },
    { DV_VIT_REL_H, "blocks.%d.attn.rel_pos_h", DV_KIND_TENSOR, SAM_BLOCKS, { SAM_REL, SAM_HD },
      DV_INIT_SMALL, NODECAY, 0, 0, HSAM "layers.#.attn.rel_pos_h" },
    { DV_VIT_REL_W, "blocks.%d.attn.rel_pos_w", DV_KIND_TENSOR, SAM_BLOCKS, { SAM_REL, SAM_HD },
      DV_INIT_SMALL, NODECAY, 0, 0, HSAM "layers.#.attn.rel_pos_w" },
    { DV_VIT_NORM2, "blocks.%d.norm2", DV_KIND_NORM, SAM_BLOCKS, { SAM_W }, 0, B, 0, 0,
      HSAM "layers.#.layer_norm2" },
    { DV_VIT_FC1, "blocks.%d.mlp.lin1", DV_KIND_LINEAR, SAM_BLOCKS, { SAM_MLP, SAM_W }, 0, B, 0,
      0, HSAM "layers.#.mlp.lin1" },
    { DV_VIT_FC2, "blocks.%d.mlp.lin2", DV_KIND_LINEAR, SAM_BLOCKS, { SAM_W, SAM_MLP }, 0, B, 0,
      0, HSAM "layers.#.mlp.lin2" },
    /* neck and neck_hd: conv1x1, LayerNorm2d, conv3x3 pad 1, LayerNorm2d */
    { DV_SAM_NECK_C1, "neck.0", DV_KIND_CONV, 0, { SAM_P, SAM_W, -1 }, 0, NECK, -1, 0,
      HSAM "neck.conv1" },
    { DV_SAM_NECK_LN1, "neck.1", DV_KIND_NORM, 0, { SAM_P }, 0, B | NECK, 0, 0,
      HSAM "neck.layer_norm1" },
    { DV_SAM_NECK_C3, "neck.2", DV_KIND_CONV, 0, { SAM_P, SAM_P, -3 }, 0, NECK, -1, 1,
      HSAM "neck.conv2" },
    { DV_SAM_NECK_LN2, "neck.3", DV_KIND_NORM, 0, { SAM_P }, 0, B | NECK, 0, 0,
      HSAM "neck.layer_norm2" },
    { DV_SAM_HD_C1, "neck_hd.0", DV_KIND_CONV, 0, { SAM_P, SAM_W, -1 }, 0, NECK, -1, 0,
      "high_res_vision_neck.conv1" },
    { DV_SAM_HD_LN1, "neck_hd.1", DV_KIND_NORM, 0, { SAM_P }, 0, B | NECK, 0, 0,
      "high_res_vision_neck.layer_norm1" },
    { DV_SAM_HD_C3, "neck_hd.2", DV_KIND_CONV, 0, { SAM_P, SAM_P, -3 }, 0, NECK, -1, 1,
      "high_res_vision_neck.conv2" },
    { DV_SAM_HD_LN2, "neck_hd.3", DV_KIND_NORM, 0, { SAM_P }, 0, B | NECK, 0, 0,
      "high_res_vision_neck.layer_norm2" },
    { DV_SAM_DOWN0, "downsamples.0", DV_KIND_CONV, 0, { SAM_D0, SAM_P, -3 }, 0, NECK, -2, 1,
      "high_res_vision_proj.conv1" },
    { DV_SAM_DOWN1, "downsamples.1", DV_KIND_CONV, 0, { SAM_D1, SAM_D0, -3 }, 0, NECK, -2, 1,
      "high_res_vision_proj.conv2" },
    { DV_SAM_ALPHA, "hd_alpha_downsamples", DV_KIND_TENSOR, 0, { -1 }, DV_INIT_SCALAR, NECK, 0,
      0, "high_res_vision_alpha" },
};

static const dv_module SAM = { "SAM", DV_TOWER_SAM, SAM_ROWS, N_ROWS(SAM_ROWS), sam_dim, NULL };

/* ---- SigLIP (timm ViT, no class token; the MAP head is stored, unused) ---- */

enum { SIG_BLOCKS = DV_REP_BLOCKS, SIG_POOL, SIG_W, SIG_W2, SIG_W3, SIG_MLP, SIG_PATCH,
       SIG_NTOK };

static int64_t siglip_dim(const dv_config *c, int sym, int i)
{
    (void)i;
    const dv_siglip_cfg *s = &c->siglip;
    switch (sym) {
    case SIG_BLOCKS: return dv_siglip_kept_blocks(s);
    case SIG_POOL: return s->attn_pool != 0;
    case SIG_W: return s->width;
    case SIG_W2: return 2 * (int64_t)s->width;
    case SIG_W3: return 3 * (int64_t)s->width;
    case SIG_MLP: return s->mlp_dim;
    case SIG_PATCH: return s->patch_size;
    case SIG_NTOK: return (int64_t)dv_siglip_grid_h(s) * dv_siglip_grid_w(s);
    }
    return 0;
}

static const dv_row SIGLIP_ROWS[] = {
    { DV_VIT_PATCH, "patch_embed.proj", DV_KIND_CONV, 0, { SIG_W, -3, SIG_PATCH }, 0, B,
      SIG_PATCH, 0, HSIG "embeddings.patch_embedding" },
    { DV_VIT_POS, "pos_embed", DV_KIND_TENSOR, 0, { -1, SIG_NTOK, SIG_W }, DV_INIT_SMALL,
      NODECAY | DV_ROW_HF_SQUEEZE, 0, 0, HSIG "embeddings.position_embedding.weight" },
    { DV_VIT_NORM1, "blocks.%d.norm1", DV_KIND_NORM, SIG_BLOCKS, { SIG_W }, 0, B, 0, 0,
      HSIG "encoder.layers.#.layer_norm1" },
    { DV_VIT_QKV, "blocks.%d.attn.qkv", DV_KIND_LINEAR, SIG_BLOCKS, { SIG_W3, SIG_W }, 0, B, 0,
      0, HSIG "encoder.layers.#.self_attn.*_proj" },
    { DV_VIT_PROJ, "blocks.%d.attn.proj", DV_KIND_LINEAR, SIG_BLOCKS, { SIG_W, SIG_W }, 0, B, 0,
      0, HSIG "encoder.layers.#.self_attn.out_proj" },
    { DV_VIT_NORM2, "blocks.%d.norm2", DV_KIND_NORM, SIG_BLOCKS, { SIG_W }, 0, B, 0, 0,
      HSIG "encoder.layers.#.layer_norm2" },
    { DV_VIT_FC1, "blocks.%d.mlp.fc1", DV_KIND_LINEAR, SIG_BLOCKS, { SIG_MLP, SIG_W }, 0, B, 0,
      0, HSIG "encoder.layers.#.mlp.fc1" },
    { DV_VIT_FC2, "blocks.%d.mlp.fc2", DV_KIND_LINEAR, SIG_BLOCKS, { SIG_W, SIG_MLP }, 0, B, 0,
      0, HSIG "encoder.layers.#.mlp.fc2" },
    { DV_VIT_NORM, "norm", DV_KIND_NORM, 0, { SIG_W }, 0, B, 0, 0, HSIG "post_layernorm" },
    /* timm's MAP head (global_pool "map") */
    { DV_SIGLIP_POOL, "attn_pool.latent", DV_KIND_TENSOR, SIG_POOL, { -1, -1, SIG_W },
      DV_INIT_SMALL, UNUSED, 0, 0, NULL },
    { DV_SIGLIP_POOL, "attn_pool.q", DV_KIND_LINEAR, SIG_POOL, { SIG_W, SIG_W }, 0, B | UNUSED,
      0, 0, NULL },
    { DV_SIGLIP_POOL, "attn_pool.kv", DV_KIND_LINEAR, SIG_POOL, { SIG_W2, SIG_W }, 0, B |
      UNUSED, 0, 0, NULL },
    { DV_SIGLIP_POOL, "attn_pool.proj", DV_KIND_LINEAR, SIG_POOL, { SIG_W, SIG_W }, 0, B |
      UNUSED, 0, 0, NULL },
    { DV_SIGLIP_POOL, "attn_pool.norm", DV_KIND_NORM, SIG_POOL, { SIG_W }, 0, B | UNUSED, 0, 0,
      NULL },
    { DV_SIGLIP_POOL, "attn_pool.mlp.fc1", DV_KIND_LINEAR, SIG_POOL, { SIG_MLP, SIG_W }, 0, B |
      UNUSED, 0, 0, NULL },
    { DV_SIGLIP_POOL, "attn_pool.mlp.fc2", DV_KIND_LINEAR, SIG_POOL, { SIG_W, SIG_MLP }, 0, B |
      UNUSED, 0, 0, NULL },
};

static const dv_module SIGLIP = { "SigLIP", DV_TOWER_SIGLIP, SIGLIP_ROWS, N_ROWS(SIGLIP_ROWS),
                                  siglip_dim, NULL };

/* ---- aligner (MlpProjector) ------------------------------------------------ */

enum { AL_LAYERS = DV_REP_BLOCKS, AL_E, AL_E2, AL_IN, AL_IN_I, AL_HIGH_IN };

static int64_t aligner_dim(const dv_config *c, int sym, int i)
{
    const dv_aligner_cfg *a = &c->aligner;
    int hybrid = a->type == DV_PROJ_LOW_HIGH_HYBRID_SPLIT;
    switch (sym) {
    case AL_LAYERS: return hybrid ? a->depth - 1 : a->depth;
    case AL_E: return a->n_embed;
    case AL_E2: return a->n_embed / 2;
    case AL_IN: return a->input_dim;
    case AL_IN_I: return i == 0 ? a->input_dim : a->n_embed;   /* mlp_gelu: the first takes
                                                                  the features */
    case AL_HIGH_IN: return c->sam.downsample_channels[1];
    }
    return 0;
}

/* nn.Sequential indices: GELU modules take the slots between linears. */
static int mlp_index(const dv_config *c, int rep, int i)
{
    (void)c;
    (void)rep;
    return 2 * i;
}

static int split_index(const dv_config *c, int rep, int i)
{
    (void)c;
    (void)rep;
    return 2 * i + 1;
}

static const dv_row MLP_GELU_ROWS[] = {
    { DV_AL_LAYER, "layers.%d", DV_KIND_LINEAR, AL_LAYERS, { AL_E, AL_IN_I }, 0, B, 0, 0,
      "aligner.linear#" },
};

static const dv_row SPLIT_ROWS[] = {
    { DV_AL_HIGH, "high_up_proj", DV_KIND_LINEAR, 0, { AL_E2, AL_HIGH_IN }, 0, B, 0, 0,
      "aligner.high_res_vision_proj" },
    { DV_AL_LOW, "low_up_proj", DV_KIND_LINEAR, 0, { AL_E2, AL_IN }, 0, B, 0, 0,
      "aligner.vision_proj" },
    { DV_AL_LAYER, "layers.%d", DV_KIND_LINEAR, AL_LAYERS, { AL_E, AL_E }, 0, B, 0, 0,
      "aligner.proj" },
};

static const dv_module MLP_GELU = { "aligner", DV_TOWER_ALIGNER, MLP_GELU_ROWS,
                                    N_ROWS(MLP_GELU_ROWS), aligner_dim, mlp_index };
static const dv_module SPLIT = { "aligner", DV_TOWER_ALIGNER, SPLIT_ROWS, N_ROWS(SPLIT_ROWS),
                                 aligner_dim, split_index };

/* ---- DeepSeek-LLM (HF LlamaForCausalLM) ------------------------------------ */

enum { LM_LAYERS = DV_REP_BLOCKS, LM_UNTIED, LM_VOCAB, LM_H, LM_KV, LM_F };

static int64_t llm_dim(const dv_config *c, int sym, int i)
{
    (void)i;
    const dv_lm_cfg *l = &c->lm;
    switch (sym) {
    case LM_LAYERS: return l->layers;
    case LM_UNTIED: return !l->tie_word_embeddings;
    case LM_VOCAB: return l->vocab;
    case LM_H: return l->hidden;
    case LM_KV: return (int64_t)l->kv_heads * l->head_dim;
    case LM_F: return l->intermediate;
    }
    return 0;
}

static const dv_row LLM_ROWS[] = {
    { DV_LM_EMBED, "model.embed_tokens.weight", DV_KIND_TENSOR, 0, { LM_VOCAB, LM_H },
      DV_INIT_SMALL, 0, 0, 0, "language_model.embed_tokens.weight" },
    { DV_LM_ATTN_NORM, "model.layers.%d.input_layernorm", DV_KIND_NORM, LM_LAYERS, { LM_H }, 0,
      0, 0, 0, "language_model.layers.#.input_layernorm" },
    { DV_LM_Q, "model.layers.%d.self_attn.q_proj", DV_KIND_LINEAR, LM_LAYERS, { LM_H, LM_H }, 0,
      0, 0, 0, "language_model.layers.#.self_attn.q_proj" },
    { DV_LM_K, "model.layers.%d.self_attn.k_proj", DV_KIND_LINEAR, LM_LAYERS, { LM_KV, LM_H },
      0, 0, 0, 0, "language_model.layers.#.self_attn.k_proj" },
    { DV_LM_V, "model.layers.%d.self_attn.v_proj", DV_KIND_LINEAR, LM_LAYERS, { LM_KV, LM_H },
      0, 0, 0, 0, "language_model.layers.#.self_attn.v_proj" },
    { DV_LM_O, "model.layers.%d.self_attn.o_proj", DV_KIND_LINEAR, LM_LAYERS, { LM_H, LM_H }, 0,
      0, 0, 0, "language_model.layers.#.self_attn.o_proj" },
    { DV_LM_MLP_NORM, "model.layers.%d.post_attention_layernorm", DV_KIND_NORM, LM_LAYERS, {
      LM_H }, 0, 0, 0, 0, "language_model.layers.#.post_attention_layernorm" },
    { DV_LM_GATE, "model.layers.%d.mlp.gate_proj", DV_KIND_LINEAR, LM_LAYERS, { LM_F, LM_H }, 0,
      0, 0, 0, "language_model.layers.#.mlp.gate_proj" },
    { DV_LM_UP, "model.layers.%d.mlp.up_proj", DV_KIND_LINEAR, LM_LAYERS, { LM_F, LM_H }, 0, 0,
      0, 0, "language_model.layers.#.mlp.up_proj" },
    { DV_LM_DOWN, "model.layers.%d.mlp.down_proj", DV_KIND_LINEAR, LM_LAYERS, { LM_H, LM_F }, 0,
      0, 0, 0, "language_model.layers.#.mlp.down_proj" },
    { DV_LM_NORM, "model.norm", DV_KIND_NORM, 0, { LM_H }, 0, 0, 0, 0, "language_model.norm" },
    /* a tied model reads its head from the embedding table */
    { DV_LM_HEAD, "lm_head", DV_KIND_LINEAR, LM_UNTIED, { LM_VOCAB, LM_H }, 0, 0, 0, 0, "lm_head" },
};

static const dv_module LLM = { "LLM", DV_TOWER_LLM, LLM_ROWS, N_ROWS(LLM_ROWS), llm_dim, NULL };

/* ---- LayerNorms MultiModalityCausalLM builds and never calls (hybrid) ---- */

enum { OT_D1 = 1, OT_SW };

static int64_t other_dim(const dv_config *c, int sym, int i)
{
    (void)i;
    return sym == OT_D1 ? c->sam.downsample_channels[1] : c->siglip.width;
}

static const dv_row OTHER_ROWS[] = {
    { DV_OTHER_NORM, "high_layer_norm", DV_KIND_NORM, 0, { OT_D1 }, 0, B | UNUSED, 0, 0, NULL },
    { DV_OTHER_NORM, "low_layer_norm", DV_KIND_NORM, 0, { OT_SW }, 0, B | UNUSED, 0, 0, NULL },
};

static const dv_module OTHER = { "vision", DV_TOWER_OTHER, OTHER_ROWS, N_ROWS(OTHER_ROWS),
                                 other_dim, NULL };

/* ---- the family: modules under their checkpoint prefixes ------------------- */

static const dv_placed HYBRID_TOWERS[] = {
    { &SAM, "vision_model.vision_tower_high.vision_tower." },
    { &SIGLIP, "vision_model.vision_tower_low.vision_tower." },
    { &OTHER, "vision_model." },
};

static const dv_placed SIGLIP_TOWERS[] = {
    { &SIGLIP, "vision_model.vision_tower." },
};

static int modules(const dv_config *cfg, dv_placed out[DV_ARCH_MAX_MODULES]);

/* The SigLIP-only family first: the default of an HF config without a marker. */
static const dv_family_desc FAMILIES[] = {
    { .id = DV_FAMILY_SIGLIP, .info_name = "SigLIP-only", .vision_cls = "CLIPVisionTower",
      .hf_model_type = "deepseek_vl", .hf_architecture = "DeepseekVLForConditionalGeneration",
      .hf_image_processor = "DeepseekVLImageProcessor", .hf_processor = "DeepseekVLProcessor",
      .hf_aligner = DV_PROJ_MLP_GELU, .input_tower = DV_TOWER_SIGLIP,
      .towers = SIGLIP_TOWERS, .n_towers = N_ROWS(SIGLIP_TOWERS), .modules = modules },
    { .id = DV_FAMILY_HYBRID, .info_name = "hybrid (SAM-B 1024 + SigLIP 384)",
      .vision_cls = "HybridVisionTower", .hf_model_type = "deepseek_vl_hybrid",
      .hf_marker = "high_res_vision_config",
      .hf_tensor_marks = { "high_res_vision", "aligner.proj." },
      .hf_architecture = "DeepseekVLHybridForConditionalGeneration",
      .hf_image_processor = "DeepseekVLHybridImageProcessor",
      .hf_processor = "DeepseekVLHybridProcessor", .hf_aligner = DV_PROJ_LOW_HIGH_HYBRID_SPLIT,
      .input_tower = DV_TOWER_SAM, .train_one_sample = 1, .towers = HYBRID_TOWERS,
      .n_towers = N_ROWS(HYBRID_TOWERS), .modules = modules },
};

const dv_family_desc *dv_deepseek_vl_families(int *n)
{
    *n = N_ROWS(FAMILIES);
    return FAMILIES;
}

/* The towers, then the aligner the config names, then the decoder. */
static int modules(const dv_config *cfg, dv_placed out[DV_ARCH_MAX_MODULES])
{
    const dv_family_desc *f = dv_family_of(cfg);
    int n = 0;
    for (int i = 0; i < f->n_towers; i++)
        out[n++] = f->towers[i];
    out[n++] = (dv_placed){ cfg->aligner.type == DV_PROJ_MLP_GELU ? &MLP_GELU : &SPLIT,
                            "aligner." };
    out[n++] = (dv_placed){ &LLM, "language_model." };
    return n;
}
