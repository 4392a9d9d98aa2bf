#include "weights/config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "model/arch.h"
#include "text/prompt.h"
#include "weights/hf_layout.h"

#define CONFIG_MAX_BYTES (4u << 20)

/* Architecture presets named by the checkpoint's model_name, as the released
 * DeepSeek-VL configs spell them (siglip_large_patch16_384, sam_b_downsample). */
static void siglip_large_preset(dv_siglip_cfg *s)
{
    s->image_h = s->image_w = 384;
    s->patch_size = 16;
    s->width = 1024;
    s->layers = 24;
    s->heads = 16;
    s->mlp_ratio = 4.0f;
    s->select_layer = -1;
    s->class_token = 0;
    s->attn_pool = 1;
    for (int i = 0; i < 3; i++) {
        s->pixel_mean[i] = 0.5f;
        s->pixel_std[i] = 0.5f;
    }
}

static void sam_b_preset(dv_sam_cfg *s)
{
    static const int global[4] = { 2, 5, 8, 11 };
    static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
    static const float stdv[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
    s->image_size = 1024;
    s->patch_size = 16;
    s->width = 768;
    s->layers = 12;
    s->heads = 12;
    s->mlp_ratio = 4.0f;
    s->window_size = 14;
    s->n_global = 4;
    memcpy(s->global_attn_indexes, global, sizeof global);
    s->prompt_embed_dim = 256;
    s->downsample_channels[0] = 512;
    s->downsample_channels[1] = 1024;
    s->select_layer = -1;
    memcpy(s->pixel_mean, mean, sizeof mean);
    memcpy(s->pixel_std, stdv, sizeof stdv);
}

/* Reads an int field into *dst when present; checks the range. */
int dv_cfg_int(JsonObject *o, const char *key, const char *what, int lo, int hi, int *dst,
                   dv_err *e)
{
    long long v;
    int r = dv_json_int(o, key, what, &v, e);
    if (r < 0)
        return -1;
    if (r == 0)
        return 0;
    if (v < lo || v > hi) {
        dv_fail(e, DOCVL_EMODEL, "%s: \"%s\" = %lld is outside [%d, %d]", what, key, v, lo, hi);
        return -1;
    }
    *dst = (int)v;
    return 1;
}

int dv_cfg_float(JsonObject *o, const char *key, const char *what, double lo, double hi,
                     float *dst, dv_err *e)
{
    double v;
    int r = dv_json_num(o, key, what, &v, e);
    if (r < 0)
        return -1;
    if (r == 0)
        return 0;
    if (!(v >= lo && v <= hi)) {
        dv_fail(e, DOCVL_EMODEL, "%s: \"%s\" = %g is outside [%g, %g]", what, key, v, lo, hi);
        return -1;
    }
    *dst = (float)v;
    return 1;
}

int dv_cfg_vec3(JsonObject *o, const char *key, const char *what, float dst[3], dv_err *e)
{
    JsonArray *a;
    int r = dv_json_arr(o, key, what, &a, e);
    if (r <= 0)
        return r;
    if (json_array_get_length(a) != 3) {
        dv_fail(e, DOCVL_EMODEL, "%s: \"%s\" must have 3 numbers", what, key);
        return -1;
    }
    for (guint i = 0; i < 3; i++) {
        JsonNode *n = json_array_get_element(a, i);
        GType t = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;
        if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64) {
            dv_fail(e, DOCVL_EMODEL, "%s: \"%s\"[%u] is not a number", what, key, i);
            return -1;
        }
        /* means and deviations are small: this also keeps the float cast defined */
        double v = json_node_get_double(n);
        if (!(v >= -1e6 && v <= 1e6)) {
            dv_fail(e, DOCVL_EMODEL, "%s: \"%s\"[%u] = %g is outside [-1e6, 1e6]", what, key, i,
                    v);
            return -1;
        }
        dst[i] = (float)v;
    }
    return 1;
}

/* An image size: an int (a square side, as released) or docvl's
 * [height, width]. Leaves *h, *w alone when the key is absent (0); 1 when
 * read; -1 on error. */
int dv_cfg_size(JsonObject *o, const char *key, const char *what, int lo, int hi, int *h, int *w,
                dv_err *e)
{
    if (!json_object_has_member(o, key) || !JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, key))) {
        int side = *h, r = dv_cfg_int(o, key, what, lo, hi, &side, e);
        if (r == 1)
            *h = *w = side;
        return r;
    }
    JsonArray *a = json_node_get_array(json_object_get_member(o, key));
    gint64 v[2] = { -1, -1 };
    for (guint i = 0; i < 2 && json_array_get_length(a) == 2; i++) {
        JsonNode *n = json_array_get_element(a, i);
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64)
            v[i] = json_node_get_int(n);
    }
    if (v[0] >= lo && v[0] <= hi && v[1] >= lo && v[1] <= hi) {
        *h = (int)v[0];
        *w = (int)v[1];
        return 1;
    }
    return dv_fail(e, DOCVL_EMODEL, "%s: \"%s\" must be a side or [height, width], each in "
                   "[%d, %d]", what, key, lo, hi), -1;
}

static int get_name(JsonObject *o, const char *what, char *dst, size_t cap, dv_err *e)
{
    const char *s = NULL;
    int r = dv_json_str(o, "model_name", what, &s, e);
    if (r < 0)
        return -1;
    snprintf(dst, cap, "%s", r ? s : "");
    return 0;
}

static int mlp_dim(int width, float ratio) { return (int)((double)width * ratio); }

static int parse_siglip(JsonObject *o, const char *what, dv_siglip_cfg *s, dv_err *e)
{
    siglip_large_preset(s);
    if (get_name(o, what, s->model_name, sizeof s->model_name, e))
        return -1;
    int known = strcmp(s->model_name, "siglip_large_patch16_384") == 0;
    int explicit_width = 0;
    int r;
    if (dv_cfg_size(o, "image_size", what, 1, 4096, &s->image_h, &s->image_w, e) < 0 ||
        dv_cfg_int(o, "patch_size", what, 1, 256, &s->patch_size, e) < 0 ||
        (r = dv_cfg_int(o, "width", what, 1, 16384, &s->width, e)) < 0 ||
        dv_cfg_int(o, "layers", what, 1, 256, &s->layers, e) < 0 ||
        dv_cfg_int(o, "heads", what, 1, 256, &s->heads, e) < 0 ||
        dv_cfg_float(o, "mlp_ratio", what, 0.01, 64, &s->mlp_ratio, e) < 0 ||
        dv_cfg_int(o, "select_layer", what, -256, 256, &s->select_layer, e) < 0 ||
        dv_cfg_vec3(o, "pixel_mean", what, s->pixel_mean, e) < 0 ||
        dv_cfg_vec3(o, "pixel_std", what, s->pixel_std, e) < 0)
        return -1;
    explicit_width = r;
    int ct = 0;
    const char *pool = NULL;
    if (dv_json_bool(o, "class_token", what, &ct, e) < 0 ||
        dv_json_str(o, "global_pool", what, &pool, e) < 0)
        return -1;
    s->class_token = ct;
    if (pool)
        s->attn_pool = strcmp(pool, "map") == 0;
    if (!known && !explicit_width) {
        dv_fail(e, DOCVL_EUNSUPPORTED,
                "%s: unknown SigLIP model_name \"%s\" and no explicit width/layers/heads "
                "(known: siglip_large_patch16_384)", what, s->model_name);
        return -1;
    }
    if (s->class_token) {
        dv_fail(e, DOCVL_EUNSUPPORTED, "%s: class_token towers are not supported", what);
        return -1;
    }
    if (dv_siglip_check_geometry(s, what, e))
        return -1;
    if (s->select_layer == 0 || s->select_layer < -s->layers || s->select_layer > s->layers) {
        dv_fail(e, DOCVL_EMODEL, "%s: select_layer %d out of range for %d layers", what,
                s->select_layer, s->layers);
        return -1;
    }
    for (int i = 0; i < 3; i++)
        if (!(s->pixel_std[i] > 0)) {
            dv_fail(e, DOCVL_EMODEL, "%s: pixel_std must be positive", what);
            return -1;
        }
    s->mlp_dim = mlp_dim(s->width, s->mlp_ratio);
    dv_siglip_set_depth(s);
    return 0;
}

int dv_siglip_check_geometry(const dv_siglip_cfg *s, const char *what, dv_err *e)
{
    if (s->width % s->heads || s->image_h % s->patch_size || s->image_w % s->patch_size)
        return dv_fail(e, DOCVL_EMODEL, "%s: width %d not divisible by heads %d, or image_size "
                       "%dx%d (height x width) by patch_size %d", what, s->width, s->heads,
                       s->image_h, s->image_w, s->patch_size), -1;
    /* a patch smaller than 16 px or a side under 16 px only makes sense for
     * docvl's line models; the released towers are 384 px, patch 16 */
    if (s->image_h < s->patch_size || s->image_w < s->patch_size)
        return dv_fail(e, DOCVL_EMODEL, "%s: image_size %dx%d is smaller than a %d px patch", what,
                       s->image_h, s->image_w, s->patch_size), -1;
    return 0;
}

int dv_siglip_grid_h(const dv_siglip_cfg *s) { return s->patch_size ? s->image_h / s->patch_size : 0; }

int dv_siglip_grid_w(const dv_siglip_cfg *s) { return s->patch_size ? s->image_w / s->patch_size : 0; }

int dv_preproc_is_lines(const dv_preproc_cfg *p) { return p->image_h != p->image_w; }

int dv_siglip_require_square(const dv_siglip_cfg *s, const char *what, dv_err *e)
{
    if (s->image_h == s->image_w)
        return 0;
    return dv_fail(e, DOCVL_EUNSUPPORTED, "%s: image_size %dx%d is not square: docvl's non-square "
                   "input is for SigLIP-only models (the hybrid SAM tower reads a square)", what,
                   s->image_h, s->image_w), -1;
}

int dv_siglip_kept_blocks(const dv_siglip_cfg *s)
{
    int n = s->select_layer <= 0 ? s->layers + s->select_layer + 1 : s->select_layer;
    return n < s->layers ? n : s->layers;
}

void dv_siglip_set_depth(dv_siglip_cfg *s) { s->depth = dv_siglip_kept_blocks(s); }

static int parse_sam(JsonObject *o, const char *what, dv_sam_cfg *s, dv_err *e)
{
    sam_b_preset(s);
    if (get_name(o, what, s->model_name, sizeof s->model_name, e))
        return -1;
    int known = strcmp(s->model_name, "sam_b_downsample") == 0;
    int r;
    if (dv_cfg_int(o, "image_size", what, 16, 8192, &s->image_size, e) < 0 ||
        dv_cfg_int(o, "patch_size", what, 1, 256, &s->patch_size, e) < 0 ||
        (r = dv_cfg_int(o, "width", what, 1, 16384, &s->width, e)) < 0 ||
        dv_cfg_int(o, "layers", what, 1, 256, &s->layers, e) < 0 ||
        dv_cfg_int(o, "heads", what, 1, 256, &s->heads, e) < 0 ||
        dv_cfg_float(o, "mlp_ratio", what, 0.01, 64, &s->mlp_ratio, e) < 0 ||
        dv_cfg_int(o, "window_size", what, 1, 1024, &s->window_size, e) < 0 ||
        dv_cfg_int(o, "prompt_embed_dim", what, 1, 16384, &s->prompt_embed_dim, e) < 0 ||
        dv_cfg_int(o, "select_layer", what, -256, 256, &s->select_layer, e) < 0 ||
        dv_cfg_vec3(o, "pixel_mean", what, s->pixel_mean, e) < 0 ||
        dv_cfg_vec3(o, "pixel_std", what, s->pixel_std, e) < 0)
        return -1;
    if (!known && !r) {
        dv_fail(e, DOCVL_EUNSUPPORTED,
                "%s: unknown SAM model_name \"%s\" and no explicit width/layers/heads "
                "(known: sam_b_downsample)", what, s->model_name);
        return -1;
    }
    JsonArray *a;
    r = dv_json_arr(o, "global_attn_indexes", what, &a, e);
    if (r < 0)
        return -1;
    if (r) {
        guint n = json_array_get_length(a);
        if (n > DV_MAX_GLOBAL_ATTN) {
            dv_fail(e, DOCVL_ELIMIT, "%s: more than %d global_attn_indexes", what,
                    DV_MAX_GLOBAL_ATTN);
            return -1;
        }
        s->n_global = (int)n;
        for (guint i = 0; i < n; i++) {
            JsonNode *nd = json_array_get_element(a, i);
            if (!JSON_NODE_HOLDS_VALUE(nd) || json_node_get_value_type(nd) != G_TYPE_INT64) {
                dv_fail(e, DOCVL_EMODEL, "%s: global_attn_indexes[%u] is not an integer", what, i);
                return -1;
            }
            s->global_attn_indexes[i] = (int)json_node_get_int(nd);
        }
    }
    for (int i = 0; i < s->n_global; i++)
        if (s->global_attn_indexes[i] < 0 || s->global_attn_indexes[i] >= s->layers) {
            dv_fail(e, DOCVL_EMODEL, "%s: global_attn_indexes[%d] = %d outside the %d layers",
                    what, i, s->global_attn_indexes[i], s->layers);
            return -1;
        }
    if (s->n_global == 0) {
        dv_fail(e, DOCVL_EMODEL, "%s: SAM needs at least one global attention block (sam_hd "
                "reads the first)", what);
        return -1;
    }
    r = dv_json_arr(o, "downsample_channels", what, &a, e);
    if (r < 0)
        return -1;
    if (r) {
        if (json_array_get_length(a) != 2) {
            dv_fail(e, DOCVL_EUNSUPPORTED, "%s: downsample_channels must have 2 entries", what);
            return -1;
        }
        for (guint i = 0; i < 2; i++) {
            JsonNode *nd = json_array_get_element(a, i);
            long long v = JSON_NODE_HOLDS_VALUE(nd) && json_node_get_value_type(nd) == G_TYPE_INT64
                              ? json_node_get_int(nd) : -1;
            if (v < 1 || v > 16384) {
                dv_fail(e, DOCVL_EMODEL, "%s: downsample_channels[%u] invalid", what, i);
                return -1;
            }
            s->downsample_channels[i] = (int)v;
        }
    }
    if (s->width % s->heads || s->image_size % s->patch_size) {
        dv_fail(e, DOCVL_EMODEL, "%s: width %d not divisible by heads %d, or image_size %d by "
                "patch_size %d", what, s->width, s->heads, s->image_size, s->patch_size);
        return -1;
    }
    if (s->select_layer != -1) {
        dv_fail(e, DOCVL_EUNSUPPORTED, "%s: SAM select_layer must be -1", what);
        return -1;
    }
    s->mlp_dim = mlp_dim(s->width, s->mlp_ratio);
    return 0;
}

/* A family with a high-resolution tower: SAM on high_res_cfg, SigLIP on
 * the downsized image (low_res_cfg). */
static int parse_high_res(JsonObject *params, dv_config *c, dv_err *e)
{
    JsonObject *hi, *lo;
    const char *concat = NULL;
    if (dv_json_str(params, "concat_type", "config.json vision_config.params", &concat, e) < 0)
        return -1;
    if (concat && strcmp(concat, "tuple") != 0) {
        dv_fail(e, DOCVL_EUNSUPPORTED, "config.json: concat_type \"%s\" is not supported "
                "(only \"tuple\", as released)", concat);
        return -1;
    }
    if (dv_json_obj(params, "high_res_cfg", "config.json vision_config.params", &hi, e) <= 0 ||
        dv_json_obj(params, "low_res_cfg", "config.json vision_config.params", &lo, e) <= 0) {
        if (e->code == DOCVL_OK)
            dv_fail(e, DOCVL_EMODEL, "config.json: HybridVisionTower needs high_res_cfg and "
                    "low_res_cfg objects");
        return -1;
    }
    if (parse_sam(hi, "config.json high_res_cfg", &c->sam, e) ||
        parse_siglip(lo, "config.json low_res_cfg", &c->siglip, e))
        return -1;
    return dv_siglip_require_square(&c->siglip, "config.json low_res_cfg", e);
}

static int parse_vision(JsonObject *root, dv_config *c, dv_err *e)
{
    JsonObject *vc, *params;
    const char *cls = NULL;
    if (dv_json_obj(root, "vision_config", "config.json", &vc, e) <= 0) {
        if (e->code == DOCVL_OK)
            dv_fail(e, DOCVL_EMODEL, "config.json: no \"vision_config\" object");
        return -1;
    }
    if (dv_json_str(vc, "cls", "config.json vision_config", &cls, e) <= 0) {
        if (e->code == DOCVL_OK)
            dv_fail(e, DOCVL_EMODEL, "config.json: vision_config has no \"cls\"");
        return -1;
    }
    if (dv_json_obj(vc, "params", "config.json vision_config", &params, e) <= 0) {
        if (e->code == DOCVL_OK)
            dv_fail(e, DOCVL_EMODEL, "config.json: vision_config has no \"params\" object");
        return -1;
    }
    const dv_family_desc *f = dv_family_by_cls(cls);
    if (!f) {
        dv_fail(e, DOCVL_EUNSUPPORTED, "config.json: unknown vision_config.cls \"%s\" (expected "
                "CLIPVisionTower for deepseek-vl-1.3b or HybridVisionTower for deepseek-vl-7b)",
                cls);
        return -1;
    }
    c->family = f->id;
    if (!dv_config_has_tower(c, DV_TOWER_SAM))
        return parse_siglip(params, "config.json vision_config.params", &c->siglip, e);
    return parse_high_res(params, c, e);
}

static int parse_aligner(JsonObject *root, dv_config *c, dv_err *e)
{
    const char *what = "config.json aligner_config.params";
    JsonObject *ac, *p;
    if (dv_json_obj(root, "aligner_config", "config.json", &ac, e) <= 0 ||
        dv_json_obj(ac, "params", "config.json aligner_config", &p, e) <= 0) {
        if (e->code == DOCVL_OK)
            dv_fail(e, DOCVL_EMODEL, "config.json: no aligner_config.params object");
        return -1;
    }
    const char *type = NULL;
    if (dv_json_str(p, "projector_type", what, &type, e) <= 0) {
        if (e->code == DOCVL_OK)
            dv_fail(e, DOCVL_EMODEL, "%s: no projector_type", what);
        return -1;
    }
    if (strcmp(type, "mlp_gelu") == 0)
        c->aligner.type = DV_PROJ_MLP_GELU;
    else if (strcmp(type, "low_high_hybrid_split_mlp_gelu") == 0)
        c->aligner.type = DV_PROJ_LOW_HIGH_HYBRID_SPLIT;
    else {
        dv_fail(e, DOCVL_EUNSUPPORTED, "%s: projector_type \"%s\" is not supported (mlp_gelu, "
                "low_high_hybrid_split_mlp_gelu)", what, type);
        return -1;
    }
    c->aligner.input_dim = 1024;
    c->aligner.n_embed = 0;
    c->aligner.depth = 2;
    if (dv_cfg_int(p, "input_dim", what, 1, 65536, &c->aligner.input_dim, e) < 0 ||
        dv_cfg_int(p, "n_embed", what, 1, 65536, &c->aligner.n_embed, e) < 0 ||
        dv_cfg_int(p, "depth", what, 1, 64, &c->aligner.depth, e) < 0)
        return -1;
    if (c->aligner.depth != 2) {
        dv_fail(e, DOCVL_EUNSUPPORTED, "%s: depth %d (only 2, as released)", what, c->aligner.depth);
        return -1;
    }
    return 0;
}

/* rope_scaling (transformers 4) or a non-default rope_parameters.rope_type
 * (transformers 5) would change RoPE; the released models use neither. */
static int parse_rope(JsonObject *lc, const char *what, dv_lm_cfg *l, dv_err *e)
{
    JsonObject *o;
    int r = dv_json_obj(lc, "rope_scaling", what, &o, e);
    if (r < 0)
        return -1;
    if (r) {
        dv_fail(e, DOCVL_EUNSUPPORTED, "%s: rope_scaling is not supported", what);
        return -1;
    }
    if ((r = dv_json_obj(lc, "rope_parameters", what, &o, e)) <= 0)
        return r;
    const char *type = NULL;
    if (dv_json_str(o, "rope_type", what, &type, e) < 0 ||
        dv_cfg_float(o, "rope_theta", what, 1, 1e12, &l->rope_theta, e) < 0)
        return -1;
    if (type && strcmp(type, "default") != 0) {
        dv_fail(e, DOCVL_EUNSUPPORTED, "%s: rope_type \"%s\" is not supported (only default)",
                what, type);
        return -1;
    }
    return 0;
}

int dv_lm_parse(JsonObject *lc, const char *what, const dv_lm_cfg *defaults, dv_lm_cfg *l,
                dv_err *e)
{
    *l = *defaults;
    l->kv_heads = -1;
    if (dv_cfg_int(lc, "hidden_size", what, 1, 65536, &l->hidden, e) < 0 ||
        dv_cfg_int(lc, "intermediate_size", what, 1, 262144, &l->intermediate, e) < 0 ||
        dv_cfg_int(lc, "num_hidden_layers", what, 1, 1024, &l->layers, e) < 0 ||
        dv_cfg_int(lc, "num_attention_heads", what, 1, 1024, &l->heads, e) < 0 ||
        dv_cfg_int(lc, "num_key_value_heads", what, 1, 1024, &l->kv_heads, e) < 0 ||
        dv_cfg_int(lc, "vocab_size", what, 1, 4 << 20, &l->vocab, e) < 0 ||
        dv_cfg_int(lc, "max_position_embeddings", what, 1, 1 << 24, &l->max_pos, e) < 0 ||
        dv_cfg_float(lc, "rms_norm_eps", what, 0, 1, &l->rms_eps, e) < 0 ||
        dv_cfg_float(lc, "rope_theta", what, 1, 1e12, &l->rope_theta, e) < 0 ||
        dv_cfg_int(lc, "bos_token_id", what, 0, 1 << 24, &l->bos_id, e) < 0 ||
        dv_cfg_int(lc, "eos_token_id", what, 0, 1 << 24, &l->eos_id, e) < 0 ||
        dv_cfg_int(lc, "pad_token_id", what, 0, 1 << 24, &l->pad_id, e) < 0 ||
        dv_json_bool(lc, "tie_word_embeddings", what, &l->tie_word_embeddings, e) < 0 ||
        parse_rope(lc, what, l, e) < 0)
        return -1;
    if (l->kv_heads < 0)
        l->kv_heads = l->heads;
    if (l->hidden % l->heads || l->heads % l->kv_heads || (l->hidden / l->heads) % 2) {
        dv_fail(e, DOCVL_EMODEL, "%s: hidden_size %d, %d heads, %d key/value heads do not fit",
                what, l->hidden, l->heads, l->kv_heads);
        return -1;
    }
    l->head_dim = l->hidden / l->heads;
    return 0;
}

static int parse_lm(JsonObject *root, dv_config *c, dv_err *e)
{
    const char *what = "config.json language_config";
    JsonObject *lc;
    if (dv_json_obj(root, "language_config", "config.json", &lc, e) <= 0) {
        if (e->code == DOCVL_OK)
            dv_fail(e, DOCVL_EMODEL, "config.json: no \"language_config\" object");
        return -1;
    }
    /* deepseek-llm-7b defaults; the released 1.3B/7B configs spell them out. */
    static const dv_lm_cfg deepseek = { .hidden = 4096, .intermediate = 11008, .layers = 30,
                                        .heads = 32, .vocab = 102400, .max_pos = 4096,
                                        .rms_eps = 1e-6f, .rope_theta = 10000.0f,
                                        .bos_id = 100000, .eos_id = 100001, .pad_id = -1 };
    return dv_lm_parse(lc, what, &deepseek, &c->lm, e);
}

static void default_side_files(dv_config *c)
{
    c->pre = (dv_preproc_cfg){ .min_size = 14, .has_image_mean = 1,
                               .image_mean = { 0.5f, 0.5f, 0.5f },
                               .image_std = { 0.5f, 0.5f, 0.5f },
                               .rescale_factor = 1.0f / 255.0f, .do_normalize = 0 };
    dv_config_input_dims(c, &c->pre.image_h, &c->pre.image_w);
    snprintf(c->proc.image_tag, sizeof c->proc.image_tag, "<image_placeholder>");
    c->proc.num_image_tokens = dv_config_image_tokens(c);   /* 576 for the released models */
    snprintf(c->proc.sft_format, sizeof c->proc.sft_format, "deepseek");
    c->proc.add_bos = 1;
    snprintf(c->proc.system_prompt, sizeof c->proc.system_prompt, "%s", DV_PROMPT_SYSTEM_DEFAULT);
    snprintf(c->tok.bos, sizeof c->tok.bos, "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81"
             "sentence\xef\xbd\x9c>");
    snprintf(c->tok.eos, sizeof c->tok.eos, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81"
             "sentence\xef\xbd\x9c>");
    c->tok.pad[0] = 0;
    c->gen = (dv_gen_cfg){ .bos_id = c->lm.bos_id, .n_eos = 1, .eos_ids = { c->lm.eos_id },
                           .pad_id = c->lm.pad_id, .max_new_tokens = 512, .do_sample = 0,
                           .temperature = 1.0f, .top_p = 1.0f, .top_k = 0,
                           .repetition_penalty = 1.0f };
}

int dv_config_parse_json(const char *json, size_t len, const char *what, dv_config *cfg,
                         dv_err *e)
{
    memset(cfg, 0, sizeof *cfg);
    JsonParser *p;
    JsonNode *root;
    int rc = dv_json_parse(json, len, CONFIG_MAX_BYTES, what, &p, &root, e);
    if (rc)
        return rc == DOCVL_EFORMAT ? DOCVL_EMODEL : rc;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_object_unref(p);
        return dv_fail(e, DOCVL_EMODEL, "%s: the top level is not a JSON object", what);
    }
    JsonObject *o = json_node_get_object(root);
    rc = DOCVL_OK;
    cfg->image_token_id = -1;
    if (dv_hf_is_config(o))
        rc = dv_config_parse_hf(o, what, cfg, e);
    else if (parse_vision(o, cfg, e) || parse_aligner(o, cfg, e) || parse_lm(o, cfg, e))
        rc = e->code ? e->code : DOCVL_EMODEL;
    g_object_unref(p);
    if (rc)
        return rc;
    default_side_files(cfg);
    int vis_width = cfg->siglip.width;
    int high_res = dv_config_has_tower(cfg, DV_TOWER_SAM);
    if (high_res && cfg->sam.downsample_channels[1] != cfg->aligner.input_dim)
        return dv_fail(e, DOCVL_EMODEL, "%s: SAM output channels %d != aligner input_dim %d", what,
                       cfg->sam.downsample_channels[1], cfg->aligner.input_dim);
    if (vis_width != cfg->aligner.input_dim)
        return dv_fail(e, DOCVL_EMODEL, "%s: SigLIP width %d != aligner input_dim %d", what,
                       vis_width, cfg->aligner.input_dim);
    if (cfg->aligner.n_embed == 0)
        cfg->aligner.n_embed = cfg->lm.hidden;
    if (cfg->aligner.n_embed != cfg->lm.hidden)
        return dv_fail(e, DOCVL_EMODEL, "%s: aligner n_embed %d != language hidden_size %d", what,
                       cfg->aligner.n_embed, cfg->lm.hidden);
    if (cfg->aligner.type == DV_PROJ_LOW_HIGH_HYBRID_SPLIT && !high_res)
        return dv_fail(e, DOCVL_EMODEL, "%s: low_high_hybrid_split_mlp_gelu needs the hybrid tower",
                       what);
    if (cfg->aligner.type == DV_PROJ_LOW_HIGH_HYBRID_SPLIT && cfg->aligner.n_embed % 2)
        return dv_fail(e, DOCVL_EMODEL, "%s: hybrid aligner n_embed %d must be even", what,
                       cfg->aligner.n_embed);
    return DOCVL_OK;
}

/* A side file's text parsed into its top-level object (owned by *p). */
static int side_object(const char *text, size_t len, const char *what, JsonParser **p,
                       JsonObject **obj, dv_err *e)
{
    *p = NULL;
    *obj = NULL;
    JsonNode *root;
    if (dv_json_parse(text, len, CONFIG_MAX_BYTES, what, p, &root, e))
        return e->code == DOCVL_ELIMIT ? DOCVL_ELIMIT : DOCVL_EMODEL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_object_unref(*p);
        *p = NULL;
        return dv_fail(e, DOCVL_EMODEL, "%s: the top level is not a JSON object", what);
    }
    *obj = json_node_get_object(root);
    return DOCVL_OK;
}

static int read_preprocessor(JsonParser *p, JsonObject *o, dv_config *c, dv_err *e)
{
    int rc = DOCVL_OK;
    const char *what = "preprocessor_config.json";
    if (c->hf_layout) {
        rc = dv_hf_preprocessor(o, what, c, e);
        g_object_unref(p);
        return rc;
    }
    dv_preproc_cfg *q = &c->pre;
    JsonNode *mean = json_object_has_member(o, "image_mean") ? json_object_get_member(o, "image_mean")
                                                             : NULL;
    if (mean && JSON_NODE_HOLDS_NULL(mean))
        q->has_image_mean = 0;
    if (dv_cfg_size(o, "image_size", what, 1, 8192, &q->image_h, &q->image_w, e) < 0 ||
        dv_cfg_int(o, "min_size", what, 1, 8192, &q->min_size, e) < 0 ||
        dv_cfg_vec3(o, "image_mean", what, q->image_mean, e) < 0 ||
        dv_cfg_vec3(o, "image_std", what, q->image_std, e) < 0 ||
        dv_cfg_float(o, "rescale_factor", what, 0, 1, &q->rescale_factor, e) < 0 ||
        dv_json_bool(o, "do_normalize", what, &q->do_normalize, e) < 0)
        rc = DOCVL_EMODEL;
    g_object_unref(p);
    if (rc)
        return rc;
    return dv_preproc_check(c, what, e);
}

/* text (key's value) into dst; -1 (ELIMIT) when it does not fit. */
static int copy_value(const char *text, const char *key, const char *what, char *dst, size_t cap,
                      dv_err *e)
{
    if (strlen(text) >= cap)
        return dv_fail(e, DOCVL_ELIMIT, "%s: \"%s\" is longer than %zu bytes", what, key,
                       cap - 1), -1;
    snprintf(dst, cap, "%s", text);
    return 0;
}

/* A string key into dst when present (1), absent (0), or an error (-1: not
 * a string, or longer than dst holds). */
static int read_text(JsonObject *o, const char *key, const char *what, char *dst, size_t cap,
                     dv_err *e)
{
    const char *s = NULL;
    int r = dv_json_str(o, key, what, &s, e);
    if (r <= 0)
        return r;
    return copy_value(s, key, what, dst, cap, e) ? -1 : 1;
}

/* docvl's own keys: how the pipeline feeds the model and what it asks. */
static int read_docvl_keys(JsonObject *o, const char *what, dv_processor_cfg *q, dv_err *e)
{
    const char *reads = NULL;
    int r = dv_json_str(o, "docvl_reads", what, &reads, e);
    if (r < 0)
        return -1;
    if (r && strcmp(reads, "tiles") != 0 && strcmp(reads, "lines") != 0)
        return dv_fail(e, DOCVL_EMODEL, "%s: docvl_reads \"%s\" (\"tiles\" or \"lines\")", what,
                       reads), -1;
    q->reads_lines = r && strcmp(reads, "lines") == 0;
    r = read_text(o, "docvl_instruction", what, q->instruction, sizeof q->instruction, e);
    if (r < 0)
        return -1;
    q->has_instruction = r;
    return read_text(o, "system_prompt", what, q->system_prompt, sizeof q->system_prompt, e) < 0
               ? -1 : 0;
}

static int read_processor(JsonParser *p, JsonObject *o, dv_config *c, dv_err *e)
{
    int rc = DOCVL_OK;
    const char *what = "processor_config.json";
    const char *tag = NULL, *fmt = NULL;
    if (dv_json_str(o, "image_tag", what, &tag, e) < 0 ||
        dv_json_str(o, "sft_format", what, &fmt, e) < 0 ||
        dv_cfg_int(o, "num_image_tokens", what, 1, 1 << 16, &c->proc.num_image_tokens, e) < 0 ||
        read_docvl_keys(o, what, &c->proc, e) < 0)
        rc = e->code == DOCVL_ELIMIT ? DOCVL_ELIMIT : DOCVL_EMODEL;
    if (!rc && tag)
        snprintf(c->proc.image_tag, sizeof c->proc.image_tag, "%s", tag);
    if (!rc && fmt)
        snprintf(c->proc.sft_format, sizeof c->proc.sft_format, "%s", fmt);
    g_object_unref(p);
    if (rc)
        return rc;
    if (strcmp(c->proc.sft_format, "deepseek") != 0)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "%s: sft_format \"%s\" (only \"deepseek\")", what,
                       c->proc.sft_format);
    if (c->proc.num_image_tokens != dv_config_image_tokens(c))
        return dv_fail(e, DOCVL_EMODEL, "%s: num_image_tokens %d but the vision path makes %d",
                       what, c->proc.num_image_tokens, dv_config_image_tokens(c));
    return DOCVL_OK;
}

/* A special token entry is a string, an AddedToken object {"content": ...},
 * or null (the model has none). Absent keys keep the current value. */
static int read_token(JsonObject *o, const char *key, const char *what, char *dst, size_t cap,
                      dv_err *e)
{
    if (!json_object_has_member(o, key))
        return 0;
    JsonNode *n = json_object_get_member(o, key);
    const char *text = NULL;
    if (JSON_NODE_HOLDS_NULL(n))
        text = "";
    else if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
        text = json_node_get_string(n);
    else if (JSON_NODE_HOLDS_OBJECT(n) &&
             dv_json_str(json_node_get_object(n), "content", what, &text, e) < 0)
        return -1;
    if (!text)
        return dv_fail(e, DOCVL_EMODEL, "%s: \"%s\" must be a string or {\"content\": ...}", what,
                       key), -1;
    return copy_value(text, key, what, dst, cap, e);
}

static int read_special_tokens(JsonObject *o, const char *what, dv_special_tokens *t, dv_err *e)
{
    return read_token(o, "bos_token", what, t->bos, sizeof t->bos, e) ||
           read_token(o, "eos_token", what, t->eos, sizeof t->eos, e) ||
           read_token(o, "pad_token", what, t->pad, sizeof t->pad, e);
}

static int read_tokenizer_config(JsonParser *p, JsonObject *o, dv_config *c, dv_err *e)
{
    int rc = DOCVL_OK;
    const char *what = "tokenizer_config.json";
    if (dv_json_bool(o, "add_bos_token", what, &c->proc.add_bos, e) < 0 ||
        read_special_tokens(o, what, &c->tok, e))
        rc = e->code == DOCVL_ELIMIT ? DOCVL_ELIMIT : DOCVL_EMODEL;
    g_object_unref(p);
    return rc;
}

/* special_tokens_map.json wins over tokenizer_config.json, as in
 * transformers' tokenizer loading. */
static int read_special_tokens_map(JsonParser *p, JsonObject *o, dv_config *c, dv_err *e)
{
    int rc = DOCVL_OK;
    if (read_special_tokens(o, "special_tokens_map.json", &c->tok, e))
        rc = e->code == DOCVL_ELIMIT ? DOCVL_ELIMIT : DOCVL_EMODEL;
    g_object_unref(p);
    return rc;
}

/* eos_token_id: one id or a list of ids. */
static int read_eos_ids(JsonObject *o, const char *what, dv_gen_cfg *g, dv_err *e)
{
    if (!json_object_has_member(o, "eos_token_id"))
        return 0;
    JsonNode *n = json_object_get_member(o, "eos_token_id");
    if (JSON_NODE_HOLDS_NULL(n))
        return 0;
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        if (dv_cfg_int(o, "eos_token_id", what, 0, 1 << 24, &g->eos_ids[0], e) < 0)
            return -1;
        g->n_eos = 1;
        return 0;
    }
    JsonArray *a = json_node_get_array(n);
    guint len = json_array_get_length(a);
    if (len == 0 || len > DV_MAX_EOS)
        return dv_fail(e, DOCVL_EMODEL, "%s: eos_token_id lists 1 to %d ids", what, DV_MAX_EOS), -1;
    for (guint i = 0; i < len; i++) {
        JsonNode *el = json_array_get_element(a, i);
        gint64 v = JSON_NODE_HOLDS_VALUE(el) && json_node_get_value_type(el) == G_TYPE_INT64
                       ? json_node_get_int(el) : -1;
        if (v < 0 || v > (1 << 24))
            return dv_fail(e, DOCVL_EMODEL, "%s: eos_token_id[%u] is not a token id", what, i), -1;
        g->eos_ids[i] = (int)v;
    }
    g->n_eos = (int)len;
    return 0;
}

static int read_generation_config(JsonParser *p, JsonObject *o, dv_config *c, dv_err *e)
{
    int rc = DOCVL_OK;
    const char *what = "generation_config.json";
    dv_gen_cfg *g = &c->gen;
    if (dv_cfg_int(o, "bos_token_id", what, 0, 1 << 24, &g->bos_id, e) < 0 ||
        dv_cfg_int(o, "pad_token_id", what, 0, 1 << 24, &g->pad_id, e) < 0 ||
        read_eos_ids(o, what, g, e) < 0 ||
        dv_cfg_int(o, "max_new_tokens", what, 1, 1 << 24, &g->max_new_tokens, e) < 0 ||
        dv_json_bool(o, "do_sample", what, &g->do_sample, e) < 0 ||
        dv_cfg_float(o, "temperature", what, 0, 100, &g->temperature, e) < 0 ||
        dv_cfg_float(o, "top_p", what, 0, 1, &g->top_p, e) < 0 ||
        dv_cfg_int(o, "top_k", what, 0, 1 << 24, &g->top_k, e) < 0 ||
        dv_cfg_float(o, "repetition_penalty", what, 0.01, 100, &g->repetition_penalty, e) < 0)
        rc = DOCVL_EMODEL;
    g_object_unref(p);
    return rc;
}

typedef int (*side_reader)(JsonParser *p, JsonObject *o, dv_config *c, dv_err *e);

/* The side files in the order they are applied: special_tokens_map.json
 * comes after tokenizer_config.json because it wins. */
static const struct {
    const char *name;
    side_reader read;
} side_files[] = {
    { "preprocessor_config.json", read_preprocessor },
    { "processor_config.json", read_processor },
    { "tokenizer_config.json", read_tokenizer_config },
    { "special_tokens_map.json", read_special_tokens_map },
    { "generation_config.json", read_generation_config },
};

int dv_config_parse_side(const char *name, const char *text, size_t len, dv_config *cfg,
                         dv_err *e)
{
    for (size_t i = 0; i < sizeof side_files / sizeof side_files[0]; i++) {
        if (strcmp(name, side_files[i].name) != 0)
            continue;
        JsonParser *p;
        JsonObject *o;
        int rc = side_object(text, len, name, &p, &o, e);
        return rc ? rc : side_files[i].read(p, o, cfg, e);
    }
    return dv_fail(e, DOCVL_EINVAL, "%s: not a model side file", name);
}

/* Optional side files: absent is fine, broken is an error. */
static int load_side_files(const char *dir, dv_config *c, dv_err *e)
{
    for (size_t i = 0; i < sizeof side_files / sizeof side_files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, side_files[i].name);
        if (!g_file_test(path, G_FILE_TEST_EXISTS))
            continue;
        char *text;
        size_t len;
        int rc = dv_read_file(path, CONFIG_MAX_BYTES, &text, &len, e);
        if (rc == DOCVL_OK)
            rc = dv_config_parse_side(side_files[i].name, text, len, c, e);
        free(text);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}

int dv_preproc_check(const dv_config *c, const char *what, dv_err *e)
{
    const dv_preproc_cfg *q = &c->pre;
    int h, w;
    dv_config_input_dims(c, &h, &w);
    if (q->image_h != h || q->image_w != w)
        return dv_fail(e, DOCVL_EMODEL, "%s: image size %dx%d (height x width) but the vision "
                       "tower takes %dx%d", what, q->image_h, q->image_w, h, w);
    if (!dv_preproc_is_lines(q) && q->min_size > q->image_h)
        return dv_fail(e, DOCVL_EMODEL, "%s: min_size %d > image size %d", what, q->min_size,
                       q->image_h);
    return DOCVL_OK;
}

int dv_config_set_input(dv_config *c, int image_h, int image_w, int patch, dv_err *e)
{
    if (dv_config_has_tower(c, DV_TOWER_SAM))
        return dv_fail(e, DOCVL_EUNSUPPORTED, "the hybrid tower's input is fixed by SAM: only a "
                       "SigLIP-only model takes another image size or patch");
    dv_siglip_cfg s = c->siglip;
    s.image_h = image_h;
    s.image_w = image_w;
    if (patch > 0)
        s.patch_size = patch;
    if (image_h < 1 || image_w < 1 || image_h > 4096 || image_w > 4096 || s.patch_size > 256)
        return dv_fail(e, DOCVL_EINVAL, "image %dx%d, patch %d: sides must be 1 to 4096, the "
                       "patch at most 256", image_h, image_w, s.patch_size);
    if (dv_siglip_check_geometry(&s, "the new input", e))
        return e->code;
    c->siglip = s;
    c->pre.image_h = image_h;
    c->pre.image_w = image_w;
    c->proc.num_image_tokens = dv_config_image_tokens(c);
    return DOCVL_OK;
}

int dv_config_image_tokens(const dv_config *c)
{
    return dv_siglip_grid_h(&c->siglip) * dv_siglip_grid_w(&c->siglip);
}

int dv_config_load(const char *dir, dv_config *cfg, dv_err *e)
{
    char path[4096];
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return dv_fail(e, DOCVL_EMODEL, "%s: no such model directory", dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text;
    size_t len;
    int rc = dv_read_file(path, CONFIG_MAX_BYTES, &text, &len, e);
    if (rc)
        return rc == DOCVL_EIO ? dv_wrap(e, "model config missing"), DOCVL_EMODEL : rc;
    rc = dv_config_parse_json(text, len, path, cfg, e);
    free(text);
    if (rc)
        return rc;
    if (dv_config_has_tower(cfg, DV_TOWER_SAM)) {
        /* SAM's neck output is always interpolated to 96x96 and downsampled
         * twice by 2 (upstream hard-codes 96), so it yields a 24x24 grid that
         * must meet SigLIP's. */
        int sig_grid = dv_siglip_grid_h(&cfg->siglip);
        if (sig_grid != DV_SAM_OUT_GRID)
            return dv_fail(e, DOCVL_EMODEL, "%s: SigLIP grid %dx%d does not meet SAM's %dx%d output",
                           path, sig_grid, sig_grid, DV_SAM_OUT_GRID, DV_SAM_OUT_GRID);
    }
    return load_side_files(dir, cfg, e);
}
