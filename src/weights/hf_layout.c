#include "weights/hf_layout.h"

#include "model/arch.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

/* ---- config.json ---------------------------------------------------------- */

int dv_hf_is_config(JsonObject *root)
{
    const char *type = NULL;
    if (json_object_has_member(root, "model_type")) {
        JsonNode *n = json_object_get_member(root, "model_type");
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
            type = json_node_get_string(n);
    }
    const dv_family_desc *f;
    for (int i = 0; type && (f = dv_family_at(i)); i++)
        if (strcmp(type, f->hf_model_type) == 0)
            return 1;
    return json_object_has_member(root, "text_config") &&
           !json_object_has_member(root, "language_config");
}

static int get_obj(JsonObject *o, const char *key, const char *what, JsonObject **out, dv_err *e)
{
    int r = dv_json_obj(o, key, what, out, e);
    if (r < 0)
        return -1;
    if (r == 0)
        return dv_fail(e, DOCVL_EMODEL, "%s: no \"%s\" object", what, key), -1;
    return 0;
}

/* transformers saves only the fields that differ from the sub-config class
 * defaults, so absent fields take SiglipVisionConfig's defaults. */
static int hf_siglip(JsonObject *vc, const char *what, dv_siglip_cfg *s, dv_err *e)
{
    *s = (dv_siglip_cfg){ .image_h = 224, .image_w = 224, .patch_size = 16, .width = 768, .layers = 12,
                          .heads = 12, .mlp_dim = 3072, .select_layer = -1, .attn_pool = 1,
                          .pixel_mean = { 0.5f, 0.5f, 0.5f }, .pixel_std = { 0.5f, 0.5f, 0.5f } };
    snprintf(s->model_name, sizeof s->model_name, "siglip_vision_model");
    if (dv_cfg_int(vc, "hidden_size", what, 1, 16384, &s->width, e) < 0 ||
        dv_cfg_int(vc, "intermediate_size", what, 1, 262144, &s->mlp_dim, e) < 0 ||
        dv_cfg_int(vc, "num_hidden_layers", what, 1, 256, &s->layers, e) < 0 ||
        dv_cfg_int(vc, "num_attention_heads", what, 1, 256, &s->heads, e) < 0 ||
        dv_cfg_size(vc, "image_size", what, 1, 4096, &s->image_h, &s->image_w, e) < 0 ||
        dv_cfg_int(vc, "patch_size", what, 1, 256, &s->patch_size, e) < 0 ||
        dv_json_bool(vc, "vision_use_head", what, &s->attn_pool, e) < 0 ||
        dv_siglip_check_geometry(s, what, e))
        return -1;
    s->mlp_ratio = (float)s->mlp_dim / (float)s->width;
    dv_siglip_set_depth(s);
    return 0;
}

static int hf_global_indexes(JsonObject *hc, const char *what, dv_sam_cfg *s, dv_err *e)
{
    JsonArray *a;
    int r = dv_json_arr(hc, "global_attn_indexes", what, &a, e);
    if (r <= 0)
        return r;
    guint n = json_array_get_length(a);
    if (n == 0 || n > DV_MAX_GLOBAL_ATTN)
        return dv_fail(e, DOCVL_EMODEL, "%s: global_attn_indexes needs 1 to %d entries", what,
                       DV_MAX_GLOBAL_ATTN), -1;
    for (guint i = 0; i < n; i++) {
        JsonNode *nd = json_array_get_element(a, i);
        gint64 v = JSON_NODE_HOLDS_VALUE(nd) && json_node_get_value_type(nd) == G_TYPE_INT64
                       ? json_node_get_int(nd) : -1;
        if (v < 0 || v >= s->layers)
            return dv_fail(e, DOCVL_EMODEL, "%s: global_attn_indexes[%u] is not a layer of %d",
                           what, i, s->layers), -1;
        s->global_attn_indexes[i] = (int)v;
    }
    s->n_global = (int)n;
    return 0;
}

/* SamVisionConfig defaults; DeepseekVLSamVisionProj doubles output_channels
 * twice, so the downsample channels follow from it. */
static int hf_sam(JsonObject *hc, const char *what, dv_sam_cfg *s, dv_err *e)
{
    static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
    static const float stdv[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
    *s = (dv_sam_cfg){ .image_size = 1024, .patch_size = 16, .width = 768, .layers = 12,
                       .heads = 12, .mlp_ratio = 4.0f, .window_size = 14, .n_global = 4,
                       .global_attn_indexes = { 2, 5, 8, 11 }, .prompt_embed_dim = 256,
                       .select_layer = -1 };
    memcpy(s->pixel_mean, mean, sizeof mean);
    memcpy(s->pixel_std, stdv, sizeof stdv);
    snprintf(s->model_name, sizeof s->model_name, "sam_vision_model");
    s->mlp_dim = 0;
    if (dv_cfg_int(hc, "hidden_size", what, 1, 16384, &s->width, e) < 0 ||
        dv_cfg_int(hc, "output_channels", what, 1, 8192, &s->prompt_embed_dim, e) < 0 ||
        dv_cfg_int(hc, "num_hidden_layers", what, 1, 256, &s->layers, e) < 0 ||
        dv_cfg_int(hc, "num_attention_heads", what, 1, 256, &s->heads, e) < 0 ||
        dv_cfg_int(hc, "image_size", what, 16, 8192, &s->image_size, e) < 0 ||
        dv_cfg_int(hc, "patch_size", what, 1, 256, &s->patch_size, e) < 0 ||
        dv_cfg_int(hc, "window_size", what, 1, 1024, &s->window_size, e) < 0 ||
        dv_cfg_float(hc, "mlp_ratio", what, 0.01, 64, &s->mlp_ratio, e) < 0 ||
        dv_cfg_int(hc, "mlp_dim", what, 1, 262144, &s->mlp_dim, e) < 0 ||
        hf_global_indexes(hc, what, s, e) < 0)
        return -1;
    if (s->mlp_dim == 0)
        s->mlp_dim = (int)((double)s->width * s->mlp_ratio);
    s->downsample_channels[0] = 2 * s->prompt_embed_dim;
    s->downsample_channels[1] = 4 * s->prompt_embed_dim;
    if (s->width % s->heads || s->image_size % s->patch_size)
        return dv_fail(e, DOCVL_EMODEL, "%s: hidden_size %d not divisible by %d heads, or "
                       "image_size %d by patch_size %d", what, s->width, s->heads, s->image_size,
                       s->patch_size), -1;
    return 0;
}

/* The family of an HF config.json: one whose marker key it has, else the
 * one its model_type names, else the default. */
static const dv_family_desc *hf_family(JsonObject *root, const char *type)
{
    const dv_family_desc *f, *by_type = NULL;
    for (int i = 0; (f = dv_family_at(i)); i++) {
        if (f->hf_marker && json_object_has_member(root, f->hf_marker))
            return f;
        if (type && strcmp(type, f->hf_model_type) == 0)
            by_type = f;
    }
    return by_type ? by_type : dv_family_at(0);
}

int dv_config_parse_hf(JsonObject *root, const char *what, dv_config *c, dv_err *e)
{
    JsonObject *tc, *vc, *hc = NULL;
    const char *type = NULL;
    if (dv_json_str(root, "model_type", what, &type, e) < 0 ||
        get_obj(root, "text_config", what, &tc, e) || get_obj(root, "vision_config", what, &vc, e))
        return e->code;
    const dv_family_desc *f = hf_family(root, type);
    c->hf_layout = 1;
    c->family = f->id;
    int hybrid = dv_config_has_tower(c, DV_TOWER_SAM);
    c->image_token_id = 100015;
    if (dv_cfg_int(root, "image_token_id", what, 0, 1 << 24, &c->image_token_id, e) < 0 ||
        hf_siglip(vc, "config.json vision_config", &c->siglip, e) ||
        (hybrid && dv_siglip_require_square(&c->siglip, "config.json vision_config", e)))
        return e->code;
    if (hybrid && (get_obj(root, "high_res_vision_config", what, &hc, e) ||
                   hf_sam(hc, "config.json high_res_vision_config", &c->sam, e)))
        return e->code;
    /* LlamaConfig defaults, for the same reason as the towers'. */
    static const dv_lm_cfg llama = { .hidden = 4096, .intermediate = 11008, .layers = 32,
                                     .heads = 32, .vocab = 32000, .max_pos = 2048,
                                     .rms_eps = 1e-6f, .rope_theta = 10000.0f, .bos_id = 1,
                                     .eos_id = 2, .pad_id = -1 };
    if (dv_lm_parse(tc, "config.json text_config", &llama, &c->lm, e))
        return e->code;
    c->aligner = (dv_aligner_cfg){ .type = f->hf_aligner, .input_dim = c->siglip.width, .n_embed = c->lm.hidden,
                                   .depth = 2 };
    return DOCVL_OK;
}

/* ---- preprocessor_config.json ---------------------------------------------- */

/* {height, width}: equal but for docvl's line models. */
static int hf_size(JsonObject *o, const char *key, const char *what, int *h, int *w, dv_err *e)
{
    JsonObject *sz;
    int r = dv_json_obj(o, key, what, &sz, e);
    if (r <= 0)
        return r;
    int hh = -1, ww = -1;
    if (dv_cfg_int(sz, "height", what, 1, 16384, &hh, e) < 0 ||
        dv_cfg_int(sz, "width", what, 1, 16384, &ww, e) < 0)
        return -1;
    if (hh < 0 || ww < 0)
        return dv_fail(e, DOCVL_EMODEL, "%s: \"%s\" needs both height and width", what, key), -1;
    *h = hh;
    *w = ww;
    return 1;
}

int dv_hf_preprocessor(JsonObject *o, const char *what, dv_config *c, dv_err *e)
{
    int hybrid = dv_config_has_tower(c, DV_TOWER_SAM);
    dv_preproc_cfg *q = &c->pre;
    float *tower_mean = hybrid ? c->sam.pixel_mean : c->siglip.pixel_mean;
    if (hf_size(o, hybrid ? "high_res_size" : "size", what, &q->image_h, &q->image_w, e) < 0 ||
        dv_cfg_int(o, "min_size", what, 1, 8192, &q->min_size, e) < 0 ||
        dv_cfg_float(o, "rescale_factor", what, 0, 1, &q->rescale_factor, e) < 0 ||
        dv_cfg_vec3(o, "image_mean", what, c->siglip.pixel_mean, e) < 0 ||
        dv_cfg_vec3(o, "image_std", what, c->siglip.pixel_std, e) < 0 ||
        (hybrid && (dv_cfg_vec3(o, "high_res_image_mean", what, c->sam.pixel_mean, e) < 0 ||
                    dv_cfg_vec3(o, "high_res_image_std", what, c->sam.pixel_std, e) < 0)))
        return DOCVL_EMODEL;
    /* The padding colour comes from the mean of the image the model sees first. */
    memcpy(q->image_mean, tower_mean, sizeof q->image_mean);
    q->do_normalize = 0;
    return dv_preproc_check(c, what, e);
}

/* ---- tensor names ----------------------------------------------------------- */

/* Renaming pattern pairs, made from the family table's HF names
 * (model/arch.h): '#' stands for a layer number; a pattern ending in '.'
 * matches a prefix and carries the rest (weight, bias) over. */
typedef struct rule {
    char hf[160], orig[160];
    int part;       /* 0/1/2: the q/k/v third of a fused qkv; -1: whole */
    int squeeze;
} rule;

#define MAX_RULES 128

/* src with "%d" / '#' (tok) replaced by num and '*' by star, then tail;
 * 0 if it does not fit. */
static int subst(char *dst, size_t cap, const char *pre, const char *src, const char *tok,
                 const char *num, char star, const char *tail)
{
    size_t n = 0, tl = strlen(tok);
    const char *parts[3] = { pre, src, tail };
    for (int k = 0; k < 3; k++)
        for (const char *c = parts[k]; *c;) {
            const char *piece = k == 1 && strncmp(c, tok, tl) == 0 ? num : NULL;
            char one[2] = { k == 1 && *c == '*' && star ? star : *c, 0 };
            const char *put = piece ? piece : one;
            size_t len = strlen(put);
            if (n + len >= cap)
                return 0;
            memcpy(dst + n, put, len);
            n += len;
            c += piece ? tl : 1;
        }
    dst[n] = '\0';
    return 1;
}

/* The rules of one row: a repetition numbered by the module's index
 * function is spelled out (HF counts those from 1), others keep '#'. */
static int row_rules(const dv_config *c, const dv_placed *p, const dv_row *r, rule *out, int cap)
{
    int numbered = r->rep && p->mod->index, reps = numbered ? dv_row_count(c, p->mod, r) : 1;
    int thirds = strchr(r->hf, '*') ? 3 : 1, n = 0;
    const char *tail = r->kind == DV_KIND_TENSOR ? "" : ".";
    for (int i = 0; i < reps; i++)
        for (int k = 0; k < thirds && n < cap; k++) {
            char onum[16] = "#", hnum[16] = "#";
            if (numbered) {
                snprintf(onum, sizeof onum, "%d", p->mod->index(c, r->rep, i));
                snprintf(hnum, sizeof hnum, "%d", i + 1);
            }
            rule *x = &out[n];
            if (!subst(x->orig, sizeof x->orig, p->prefix, r->name, "%d", onum, 0, tail) ||
                !subst(x->hf, sizeof x->hf, "", r->hf, "#", hnum, thirds == 3 ? "qkv"[k] : 0,
                       tail))
                continue;
            x->part = thirds == 3 ? k : -1;
            x->squeeze = (r->flags & DV_ROW_HF_SQUEEZE) != 0;
            n++;
        }
    return n;
}

/* Every renaming of a family: the HF converter's layouts are fixed (the
 * 1.3B's mlp_gelu aligner, the 7B's split one, depth 2). */
typedef struct rule_set {
    rule r[MAX_RULES];
    int n;
} rule_set;

static void family_rules(dv_family family, rule_set *s)
{
    dv_config c;
    memset(&c, 0, sizeof c);
    c.family = family;
    c.aligner.type = dv_family_of(&c)->hf_aligner;
    c.aligner.depth = 2;
    dv_placed mods[DV_ARCH_MAX_MODULES];
    int nm = dv_arch_modules(&c, mods), n = 0;
    for (int m = 0; m < nm; m++)
        for (int k = 0; k < mods[m].mod->n_rows; k++) {
            const dv_row *r = &mods[m].mod->rows[k];
            if (r->hf)
                n += row_rules(&c, &mods[m], r, s->r + n, MAX_RULES - n);
        }
    s->n = n;
}

/* Matches name against pat; on success *num is the '#' digits (or empty)
 * and *rest what follows a prefix pattern. */
static int match(const char *pat, const char *name, char *num, size_t numcap, const char **rest)
{
    num[0] = 0;
    while (*pat) {
        if (*pat == '#') {
            size_t k = 0;
            while (name[k] >= '0' && name[k] <= '9')
                k++;
            if (k == 0 || k >= numcap)
                return 0;
            memcpy(num, name, k);
            num[k] = 0;
            name += k;
            pat++;
            continue;
        }
        if (*pat != *name)
            return 0;
        pat++;
        name++;
    }
    if (pat[-1] != '.' && *name)
        return 0;
    *rest = name;
    return 1;
}

static int build(const char *pat, const char *num, const char *rest, char *dst, size_t cap)
{
    size_t n = 0;
    for (; *pat; pat++) {
        const char *piece = *pat == '#' ? num : NULL;
        size_t len = piece ? strlen(piece) : 1;
        if (n + len >= cap)
            return 0;
        memcpy(dst + n, piece ? piece : pat, len);
        n += len;
    }
    size_t rl = strlen(rest);
    if (n + rl >= cap)
        return 0;
    memcpy(dst + n, rest, rl + 1);
    return 1;
}

/* Strips "model." and restores the "vision_encoder." level some exports omit. */
static void normalize_hf(const char *hf, char *dst, size_t cap)
{
    if (strncmp(hf, "model.", 6) == 0)
        hf += 6;
    const char *sam = "high_res_vision_model.";
    size_t sl = strlen(sam);
    if (strncmp(hf, sam, sl) == 0 && strncmp(hf + sl, "vision_encoder.", 15) != 0)
        snprintf(dst, cap, "%svision_encoder.%s", sam, hf + sl);
    else
        snprintf(dst, cap, "%s", hf);
}

static int map_one(const rule_set *s, const char *from, int to_orig, dv_hf_name *out, int max)
{
    int n = 0;
    for (int i = 0; i < s->n && n < max; i++) {
        const rule *r = &s->r[i];
        char num[16];
        const char *rest;
        if (!match(to_orig ? r->hf : r->orig, from, num, sizeof num, &rest))
            continue;
        dv_hf_name *o = &out[n];
        if (!build(to_orig ? r->orig : r->hf, num, rest, o->name, sizeof o->name))
            continue;
        o->part = r->part;
        o->squeeze = r->squeeze;
        n++;
        if (to_orig)
            break;
    }
    return n;
}

static int to_original(const rule_set *s, const char *hf, dv_hf_name *out)
{
    char norm[256];
    normalize_hf(hf, norm, sizeof norm);
    return map_one(s, norm, 1, out, 1);
}

int dv_hf_to_original(const char *hf, dv_family family, dv_hf_name *out)
{
    rule_set s;
    family_rules(family, &s);
    return to_original(&s, hf, out);
}

int dv_hf_from_original(const char *orig, dv_family family, dv_hf_name out[3])
{
    rule_set s;
    family_rules(family, &s);
    int n = map_one(&s, orig, 0, out, 3);
    for (int i = 0; i < n; i++) {
        if (strncmp(out[i].name, "lm_head.", 8) == 0)
            continue;
        /* prefix in place; a name too long for the prefix is cut, and then
         * simply matches no tensor */
        size_t len = strnlen(out[i].name, sizeof out[i].name - 1), room = sizeof out[i].name - 7;
        if (len > room)
            len = room;
        memmove(out[i].name + 6, out[i].name, len);
        memcpy(out[i].name, "model.", 6);
        out[i].name[len + 6] = '\0';
    }
    return n;
}

/* ---- the checkpoint view ---------------------------------------------------- */

typedef struct qkv_group {
    const dv_tensor *part[3];
} qkv_group;

struct dv_hf_map {
    int n;
    dv_tensor *views;   /* original names, owned; data in the shards or bufs */
    int n_bufs;
    void **bufs;        /* fused q/k/v */
};

void dv_hf_map_free(dv_hf_map *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++)
        free((char *)m->views[i].name);
    for (int i = 0; i < m->n_bufs; i++)
        free(m->bufs[i]);
    free(m->views);
    free(m->bufs);
    free(m);
}

int dv_hf_names_detect(const dv_tensor *const *t, int n)
{
    int hf = 0;
    for (int i = 0; i < n; i++) {
        const char *s = t[i]->name;
        if (strncmp(s, "vision_model.vision_tower", 25) == 0 ||
            strncmp(s, "language_model.model.", 21) == 0)
            return 0;
        hf |= strncmp(s, "model.", 6) == 0 || strncmp(s, "lm_head.", 8) == 0 ||
              strncmp(s, "vision_model.vision_model.", 26) == 0 ||
              strncmp(s, "language_model.", 15) == 0;
    }
    return hf;
}

/* The family whose marks some tensor name carries; else the default. */
static dv_family detect_family(const dv_tensor *const *t, int n)
{
    const dv_family_desc *f;
    for (int k = 1; (f = dv_family_at(k)); k++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < 2; j++)
                if (f->hf_tensor_marks[j] && strstr(t[i]->name, f->hf_tensor_marks[j]))
                    return f->id;
    return dv_family_at(0)->id;
}

static dv_tensor *add_view(dv_hf_map *m, const dv_tensor *src, const char *name, void *by_name,
                           const char *what, dv_err *e)
{
    if (g_hash_table_contains(by_name, name)) {
        dv_fail(e, DOCVL_EMODEL, "%s: two HF tensors map to \"%s\"", what, name);
        return NULL;
    }
    dv_tensor *v = &m->views[m->n];
    *v = *src;
    v->name = strdup(name);
    if (!v->name) {
        dv_fail(e, DOCVL_ENOMEM, "out of memory");
        return NULL;
    }
    m->n++;
    g_hash_table_insert(by_name, (gpointer)v->name, v);
    return v;
}

/* Concatenates q, k, v along rows: the fused qkv the forward pass reads. */
static int fuse_qkv(dv_hf_map *m, const char *name, const qkv_group *g, void *by_name,
                    const char *what, dv_err *e)
{
    char shp[64];
    for (int i = 0; i < 3; i++)
        if (!g->part[i])
            return dv_fail(e, DOCVL_EMODEL, "%s: \"%s\" lacks its %c_proj part in the HF layout",
                           what, name, "qkv"[i]);
    const dv_tensor *q = g->part[0];
    for (int i = 1; i < 3; i++) {
        const dv_tensor *t = g->part[i];
        int same = t->dtype == q->dtype && t->ndim == q->ndim && t->nbytes == q->nbytes;
        for (int d = 0; same && d < q->ndim; d++)
            same = t->shape[d] == q->shape[d];
        if (!same)
            return dv_fail(e, DOCVL_EMODEL, "%s: %s has shape %s %s, unlike q_proj %s", what,
                           t->name, dv_dtype_name(t->dtype),
                           dv_shape_str(t->shape, t->ndim, shp, sizeof shp), q->name);
    }
    if (q->ndim < 1 || q->nbytes > SIZE_MAX / 3)
        return dv_fail(e, DOCVL_EMODEL, "%s: %s is not a weight", what, q->name);
    uint8_t *buf = malloc(q->nbytes * 3 + 1);
    if (!buf)
        return dv_fail(e, DOCVL_ENOMEM, "%s: out of memory fusing %s", what, name);
    m->bufs[m->n_bufs++] = buf;
    for (int i = 0; i < 3; i++)
        memcpy(buf + i * q->nbytes, g->part[i]->data, q->nbytes);
    dv_tensor *v = add_view(m, q, name, by_name, what, e);
    if (!v)
        return e->code;
    v->shape[0] = q->shape[0] * 3;
    v->data = buf;
    v->nbytes = q->nbytes * 3;
    return DOCVL_OK;
}

static int map_tensor(dv_hf_map *m, const dv_tensor *t, const rule_set *rules,
                      GHashTable *groups, void *by_name, const char *what, dv_err *e)
{
    dv_hf_name o;
    if (!to_original(rules, t->name, &o))
        return DOCVL_OK;
    if (o.part >= 0) {
        qkv_group *g = g_hash_table_lookup(groups, o.name);
        if (!g) {
            g = calloc(1, sizeof *g);
            if (!g)
                return dv_fail(e, DOCVL_ENOMEM, "out of memory");
            g_hash_table_insert(groups, g_strdup(o.name), g);
        }
        g->part[o.part] = t;
        return DOCVL_OK;
    }
    dv_tensor *v = add_view(m, t, o.name, by_name, what, e);
    if (!v)
        return e->code;
    if (o.squeeze && t->ndim < DV_MAX_DIMS) {
        memmove(v->shape + 1, v->shape, sizeof(int64_t) * (size_t)t->ndim);
        v->shape[0] = 1;
        v->ndim++;
    }
    return DOCVL_OK;
}

/* The original name of the decoder's row `slot` (the same in both families). */
static int decoder_name(int slot, dv_tref *t, dv_err *e)
{
    dv_config c;
    memset(&c, 0, sizeof c);
    dv_placed mods[DV_ARCH_MAX_MODULES];
    const dv_placed *p = dv_arch_find(mods, dv_arch_modules(&c, mods), DV_TOWER_LLM);
    const dv_row *r = p ? dv_module_row(p->mod, slot) : NULL;
    if (!r)
        return dv_fail(e, DOCVL_EINTERNAL, "the family table has no decoder row %d", slot);
    return dv_row_tensor(&c, p, r, -1, 0, t, e);
}

static int alias_tied_head(dv_hf_map *m, void *by_name, const char *what, dv_err *e)
{
    dv_tref head, embed;
    int rc = decoder_name(DV_LM_HEAD, &head, e);
    if (rc || (rc = decoder_name(DV_LM_EMBED, &embed, e)))
        return rc;
    const dv_tensor *emb = g_hash_table_lookup(by_name, embed.name);
    if (g_hash_table_contains(by_name, head.name) || !emb)
        return DOCVL_OK;
    return add_view(m, emb, head.name, by_name, what, e) ? DOCVL_OK : e->code;
}

int dv_hf_map_build(const dv_tensor *const *tensors, int n, const char *what, void *by_name,
                    dv_hf_map **out, dv_err *e)
{
    *out = NULL;
    /* the renaming rules are spelled out once, not per tensor */
    rule_set *rules = malloc(sizeof *rules);
    dv_hf_map *m = calloc(1, sizeof *m);
    if (!rules || !m || !(m->views = calloc((size_t)n + 2, sizeof *m->views)) ||
        !(m->bufs = calloc((size_t)n + 1, sizeof *m->bufs))) {
        free(rules);
        dv_hf_map_free(m);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory");
    }
    family_rules(detect_family(tensors, n), rules);
    GHashTable *groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free);
    int rc = DOCVL_OK;
    for (int i = 0; i < n && !rc; i++)
        rc = map_tensor(m, tensors[i], rules, groups, by_name, what, e);
    free(rules);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, groups);
    while (!rc && g_hash_table_iter_next(&it, &k, &v))
        rc = fuse_qkv(m, k, v, by_name, what, e);
    g_hash_table_destroy(groups);
    if (!rc)
        rc = alias_tied_head(m, by_name, what, e);
    if (rc) {
        dv_hf_map_free(m);
        return rc;
    }
    *out = m;
    return DOCVL_OK;
}
