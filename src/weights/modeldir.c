/* The writer's JSON side files: config.json in either layout, the
 * pre/processor configs, tokenizer files. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "weights/modeldir.h"

#include "model/arch.h"
#include "text/prompt.h"

#define BOS_TEXT "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define EOS_TEXT "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static int save_json(const char *dir, const char *name, JsonBuilder *b, dv_err *e)
{
    JsonNode *root = json_builder_get_root(b);
    JsonGenerator *g = json_generator_new();
    json_generator_set_root(g, root);
    json_generator_set_pretty(g, TRUE);
    char *path = g_build_filename(dir, name, NULL);
    GError *ge = NULL;
    int rc = DOCVL_OK;
    if (!json_generator_to_file(g, path, &ge)) {
        rc = dv_fail(e, DOCVL_EIO, "%s: %s", path, ge->message);
        g_error_free(ge);
    }
    g_free(path);
    g_object_unref(g);
    json_node_unref(root);
    g_object_unref(b);
    return rc;
}

static void kv_int(JsonBuilder *b, const char *k, long long v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_int_value(b, v);
}

static void kv_num(JsonBuilder *b, const char *k, double v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_double_value(b, dv_json_short_float(v));
}

static void kv_str(JsonBuilder *b, const char *k, const char *v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v);
}

static void kv_bool(JsonBuilder *b, const char *k, int v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_boolean_value(b, v);
}

static void kv_null(JsonBuilder *b, const char *k)
{
    json_builder_set_member_name(b, k);
    json_builder_add_null_value(b);
}

static void kv_vec(JsonBuilder *b, const char *k, const float *v, int n)
{
    json_builder_set_member_name(b, k);
    json_builder_begin_array(b);
    for (int i = 0; i < n; i++)
        json_builder_add_double_value(b, dv_json_short_float((double)v[i]));
    json_builder_end_array(b);
}

static void kv_ints(JsonBuilder *b, const char *k, const int *v, int n)
{
    json_builder_set_member_name(b, k);
    json_builder_begin_array(b);
    for (int i = 0; i < n; i++)
        json_builder_add_int_value(b, v[i]);
    json_builder_end_array(b);
}

/* An image size as the released models write it (one side) when square,
 * else docvl's [height, width]. */
static void kv_size(JsonBuilder *b, const char *k, int h, int w)
{
    if (h == w) {
        kv_int(b, k, h);
        return;
    }
    int hw[2] = { h, w };
    kv_ints(b, k, hw, 2);
}

/* ---- original layout ------------------------------------------------------------ */

static void tower_common(JsonBuilder *b, const char *name, int h, int w, const float *mean,
                         const float *stdv, int select_layer, int output_dim)
{
    kv_str(b, "ckpt_path", "");
    kv_size(b, "image_size", h, w);
    kv_str(b, "model_name", name);
    if (output_dim > 0)
        kv_int(b, "output_dim", output_dim);
    kv_vec(b, "pixel_mean", mean, 3);
    kv_vec(b, "pixel_std", stdv, 3);
    kv_str(b, "select_feature", "same");
    kv_int(b, "select_layer", select_layer);
}

static void siglip_params(JsonBuilder *b, const dv_siglip_cfg *s, int output_dim)
{
    tower_common(b, s->model_name, s->image_h, s->image_w, s->pixel_mean, s->pixel_std,
                 s->select_layer, output_dim);
    kv_int(b, "width", s->width);
    kv_int(b, "layers", s->layers);
    kv_int(b, "heads", s->heads);
    kv_int(b, "patch_size", s->patch_size);
    kv_num(b, "mlp_ratio", (double)s->mlp_dim / s->width);
    kv_str(b, "global_pool", s->attn_pool ? "map" : "");
    kv_bool(b, "class_token", 0);
}

static void sam_params(JsonBuilder *b, const dv_sam_cfg *s)
{
    tower_common(b, s->model_name, s->image_size, s->image_size, s->pixel_mean, s->pixel_std,
                 s->select_layer, s->downsample_channels[1]);
    kv_num(b, "mlp_ratio", (double)s->mlp_dim / s->width);
    kv_int(b, "width", s->width);
    kv_int(b, "layers", s->layers);
    kv_int(b, "heads", s->heads);
    kv_int(b, "patch_size", s->patch_size);
    kv_int(b, "window_size", s->window_size);
    kv_ints(b, "global_attn_indexes", s->global_attn_indexes, s->n_global);
    kv_int(b, "prompt_embed_dim", s->prompt_embed_dim);
    kv_ints(b, "downsample_channels", s->downsample_channels, 2);
}

static void vision_original(JsonBuilder *b, const dv_config *c)
{
    json_builder_set_member_name(b, "vision_config");
    json_builder_begin_object(b);
    int hybrid = dv_config_has_tower(c, DV_TOWER_SAM);
    kv_str(b, "cls", dv_family_of(c)->vision_cls);
    kv_str(b, "model_type", "vision");
    json_builder_set_member_name(b, "params");
    json_builder_begin_object(b);
    if (hybrid) {
        kv_str(b, "concat_type", "tuple");
        kv_bool(b, "freeze_high", 1);
        kv_bool(b, "freeze_low", 1);
        json_builder_set_member_name(b, "high_res_cfg");
        json_builder_begin_object(b);
        sam_params(b, &c->sam);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "low_res_cfg");
        json_builder_begin_object(b);
        siglip_params(b, &c->siglip, c->siglip.width);
        json_builder_end_object(b);
    } else {
        siglip_params(b, &c->siglip, 0);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
}

static void llama_fields(JsonBuilder *b, const dv_lm_cfg *l, const char *torch_dtype)
{
    kv_str(b, "model_type", "llama");
    kv_int(b, "vocab_size", l->vocab);
    kv_int(b, "hidden_size", l->hidden);
    kv_int(b, "intermediate_size", l->intermediate);
    kv_int(b, "num_hidden_layers", l->layers);
    kv_int(b, "num_attention_heads", l->heads);
    kv_int(b, "num_key_value_heads", l->kv_heads);
    kv_str(b, "hidden_act", "silu");
    kv_int(b, "max_position_embeddings", l->max_pos);
    kv_num(b, "rms_norm_eps", (double)l->rms_eps);
    kv_num(b, "rope_theta", (double)l->rope_theta);
    kv_null(b, "rope_scaling");
    kv_bool(b, "attention_bias", 0);
    kv_num(b, "attention_dropout", 0.0);
    kv_bool(b, "tie_word_embeddings", l->tie_word_embeddings);
    kv_int(b, "bos_token_id", l->bos_id);
    kv_int(b, "eos_token_id", l->eos_id);
    if (l->pad_id >= 0)
        kv_int(b, "pad_token_id", l->pad_id);
    else
        kv_null(b, "pad_token_id");
    kv_num(b, "initializer_range", 0.02);
    kv_int(b, "pretraining_tp", 1);
    kv_bool(b, "use_cache", 1);
    kv_str(b, "torch_dtype", torch_dtype);
}

static void config_original(JsonBuilder *b, const dv_config *c, const char *td)
{
    json_builder_set_member_name(b, "architectures");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "MultiModalityCausalLM");
    json_builder_end_array(b);
    kv_str(b, "model_type", "multi_modality");
    vision_original(b, c);
    json_builder_set_member_name(b, "aligner_config");
    json_builder_begin_object(b);
    kv_str(b, "cls", "MlpProjector");
    kv_str(b, "model_type", "aligner");
    json_builder_set_member_name(b, "params");
    json_builder_begin_object(b);
    kv_str(b, "projector_type", c->aligner.type == DV_PROJ_MLP_GELU
                                    ? "mlp_gelu" : "low_high_hybrid_split_mlp_gelu");
    kv_int(b, "input_dim", c->aligner.input_dim);
    kv_int(b, "n_embed", c->aligner.n_embed);
    kv_int(b, "depth", c->aligner.depth);
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "language_config");
    json_builder_begin_object(b);
    llama_fields(b, &c->lm, td);
    json_builder_end_object(b);
}

/* ---- HF layout ---------------------------------------------------------------------- */

static void config_hf(JsonBuilder *b, const dv_config *c, int image_id, const char *td)
{
    const dv_family_desc *f = dv_family_of(c);
    json_builder_set_member_name(b, "architectures");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, f->hf_architecture);
    json_builder_end_array(b);
    kv_str(b, "model_type", f->hf_model_type);
    kv_int(b, "image_token_id", image_id);
    kv_bool(b, "tie_word_embeddings", c->lm.tie_word_embeddings);
    json_builder_set_member_name(b, "text_config");
    json_builder_begin_object(b);
    llama_fields(b, &c->lm, td);
    json_builder_end_object(b);
    const dv_siglip_cfg *s = &c->siglip;
    json_builder_set_member_name(b, "vision_config");
    json_builder_begin_object(b);
    kv_str(b, "model_type", "siglip_vision_model");
    kv_int(b, "hidden_size", s->width);
    kv_int(b, "intermediate_size", s->mlp_dim);
    kv_int(b, "num_hidden_layers", s->layers);
    kv_int(b, "num_attention_heads", s->heads);
    kv_size(b, "image_size", s->image_h, s->image_w);
    kv_int(b, "patch_size", s->patch_size);
    kv_str(b, "hidden_act", "gelu");
    kv_bool(b, "vision_use_head", 0);
    json_builder_end_object(b);
    if (!dv_config_has_tower(c, DV_TOWER_SAM))
        return;
    const dv_sam_cfg *m = &c->sam;
    json_builder_set_member_name(b, "high_res_vision_config");
    json_builder_begin_object(b);
    kv_str(b, "model_type", "sam_vision_model");
    kv_int(b, "hidden_size", m->width);
    kv_int(b, "output_channels", m->prompt_embed_dim);
    kv_int(b, "num_hidden_layers", m->layers);
    kv_int(b, "num_attention_heads", m->heads);
    kv_int(b, "image_size", m->image_size);
    kv_int(b, "patch_size", m->patch_size);
    kv_int(b, "window_size", m->window_size);
    kv_ints(b, "global_attn_indexes", m->global_attn_indexes, m->n_global);
    kv_int(b, "mlp_dim", m->mlp_dim);
    json_builder_end_object(b);
}

int dv_mk_write_config(const char *dir, const dv_config *c, int hf, int image_id, dv_dtype dtype,
                       dv_err *e)
{
    const char *td = dtype == DV_F32 ? "float32" : dtype == DV_F16 ? "float16" : "bfloat16";
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    if (hf)
        config_hf(b, c, image_id, td);
    else
        config_original(b, c, td);
    kv_str(b, "torch_dtype", td);
    json_builder_end_object(b);
    return save_json(dir, "config.json", b, e);
}

/* ---- pre/processor and tokenizer configs ---------------------------------------------- */

static void size_obj(JsonBuilder *b, const char *k, int h, int w)
{
    json_builder_set_member_name(b, k);
    json_builder_begin_object(b);
    kv_int(b, "height", h);
    kv_int(b, "width", w);
    json_builder_end_object(b);
}

static int write_preprocessor(const char *dir, const dv_config *c, int hf, dv_err *e)
{
    const dv_preproc_cfg *q = &c->pre;
    int hybrid = dv_config_has_tower(c, DV_TOWER_SAM);
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    if (hf) {
        kv_str(b, "image_processor_type", dv_family_of(c)->hf_image_processor);
        size_obj(b, "size", c->siglip.image_h, c->siglip.image_w);
        kv_vec(b, "image_mean", c->siglip.pixel_mean, 3);
        kv_vec(b, "image_std", c->siglip.pixel_std, 3);
        if (hybrid) {
            size_obj(b, "high_res_size", c->sam.image_size, c->sam.image_size);
            kv_vec(b, "high_res_image_mean", c->sam.pixel_mean, 3);
            kv_vec(b, "high_res_image_std", c->sam.pixel_std, 3);
        }
        kv_bool(b, "do_normalize", 1);
        kv_bool(b, "do_rescale", 1);
        kv_bool(b, "do_resize", 1);
    } else {
        int bg[3] = { 127, 127, 127 };
        kv_ints(b, "background_color", bg, 3);
        kv_bool(b, "do_normalize", q->do_normalize);
        kv_vec(b, "image_mean", q->image_mean, 3);
        kv_str(b, "image_processor_type", "VLMImageProcessor");
        kv_size(b, "image_size", q->image_h, q->image_w);
        kv_vec(b, "image_std", q->image_std, 3);
        kv_str(b, "processor_class", "VLChatProcessor");
    }
    kv_int(b, "min_size", q->min_size);
    kv_num(b, "rescale_factor", 1.0 / 255.0);
    json_builder_end_object(b);
    return save_json(dir, "preprocessor_config.json", b, e);
}

/* docvl's processor keys, only where they differ from the released
 * models' behaviour: a released model's file stays as it was. */
static void processor_extensions(JsonBuilder *b, const dv_processor_cfg *p)
{
    if (strcmp(p->system_prompt, DV_PROMPT_SYSTEM_DEFAULT) != 0)
        kv_str(b, "system_prompt", p->system_prompt);
    if (p->reads_lines)
        kv_str(b, "docvl_reads", "lines");
    if (p->has_instruction)
        kv_str(b, "docvl_instruction", p->instruction);
}

static int write_processor(const char *dir, const dv_config *c, int hf, dv_err *e)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    if (hf) {
        kv_int(b, "num_image_tokens", c->proc.num_image_tokens);
        kv_str(b, "processor_class", dv_family_of(c)->hf_processor);
    } else {
        kv_bool(b, "add_special_token", 0);
        kv_int(b, "ignore_id", -100);
        kv_str(b, "image_tag", c->proc.image_tag);
        kv_bool(b, "mask_prompt", 1);
        kv_int(b, "num_image_tokens", c->proc.num_image_tokens);
        kv_str(b, "processor_class", "VLChatProcessor");
        kv_str(b, "sft_format", c->proc.sft_format);
    }
    processor_extensions(b, &c->proc);
    json_builder_end_object(b);
    return save_json(dir, "processor_config.json", b, e);
}

static void added_token(JsonBuilder *b, const char *k, const char *content)
{
    json_builder_set_member_name(b, k);
    json_builder_begin_object(b);
    kv_str(b, "content", content);
    kv_bool(b, "lstrip", 0);
    kv_bool(b, "normalized", 1);
    kv_bool(b, "rstrip", 0);
    kv_bool(b, "single_word", 0);
    json_builder_end_object(b);
}

static int write_tokenizer_configs(const char *dir, const dv_config *c, dv_err *e)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    kv_bool(b, "add_bos_token", 1);
    kv_bool(b, "add_eos_token", 0);
    kv_str(b, "bos_token", BOS_TEXT);
    kv_str(b, "eos_token", EOS_TEXT);
    kv_null(b, "pad_token");
    json_builder_set_member_name(b, "additional_special_tokens");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, c->proc.image_tag);
    json_builder_end_array(b);
    kv_bool(b, "clean_up_tokenization_spaces", 0);
    kv_bool(b, "legacy", 1);
    kv_int(b, "model_max_length", c->lm.max_pos);
    kv_str(b, "tokenizer_class", "LlamaTokenizerFast");
    json_builder_end_object(b);
    int rc = save_json(dir, "tokenizer_config.json", b, e);
    if (rc)
        return rc;
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "additional_special_tokens");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, c->proc.image_tag);
    json_builder_end_array(b);
    added_token(b, "bos_token", BOS_TEXT);
    added_token(b, "eos_token", EOS_TEXT);
    json_builder_end_object(b);
    return save_json(dir, "special_tokens_map.json", b, e);
}

int dv_mk_write_side_files(const char *dir, const dv_config *c, int hf, dv_err *e)
{
    int rc = write_preprocessor(dir, c, hf, e);
    if (!rc)
        rc = write_processor(dir, c, hf, e);
    if (!rc)
        rc = write_tokenizer_configs(dir, c, e);
    return rc;
}
