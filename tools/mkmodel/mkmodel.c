#include "mkmodel/mkmodel.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/rng.h"
#include "weights/hf_layout.h"
#include "model/schema.h"

#define CHUNK (1u << 18)   /* elements generated per write */

/* ---- presets (original layout; the released ones spell out every field) -- */

#define TINY_SIGLIP(extra)                                                                  \
    "\"image_size\":384,\"model_name\":\"siglip_tiny_patch16_384\",\"pixel_mean\":[0.5,0.5,"  \
    "0.5],\"pixel_std\":[0.5,0.5,0.5],\"select_feature\":\"same\",\"select_layer\":-1,"       \
    "\"width\":32,\"layers\":2,\"heads\":2,\"patch_size\":16,\"mlp_ratio\":4,"                \
    "\"global_pool\":\"map\",\"class_token\":false" extra

#define TINY_LM                                                                            \
    "\"language_config\":{\"model_type\":\"llama\",\"vocab_size\":659,\"hidden_size\":64,"     \
    "\"intermediate_size\":172,\"num_hidden_layers\":2,\"num_attention_heads\":4,"            \
    "\"num_key_value_heads\":4,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-06,"      \
    "\"rope_theta\":10000.0,\"tie_word_embeddings\":false,\"bos_token_id\":656,"              \
    "\"eos_token_id\":657}"

#define LM(h, f, l, nh)                                                                    \
    "\"language_config\":{\"model_type\":\"llama\",\"vocab_size\":102400,\"hidden_size\":" #h \
    ",\"intermediate_size\":" #f ",\"num_hidden_layers\":" #l ",\"num_attention_heads\":" #nh \
    ",\"num_key_value_heads\":" #nh ",\"max_position_embeddings\":16384,\"rms_norm_eps\":"    \
    "1e-06,\"rope_theta\":10000.0,\"tie_word_embeddings\":false,\"bos_token_id\":100000,"     \
    "\"eos_token_id\":100001,\"torch_dtype\":\"bfloat16\"}"

#define HYBRID_VISION(hi, lo)                                                              \
    "\"vision_config\":{\"cls\":\"HybridVisionTower\",\"model_type\":\"vision\",\"params\":{"  \
    "\"concat_type\":\"tuple\",\"freeze_high\":true,\"freeze_low\":true,\"high_res_cfg\":{"   \
    hi "},\"low_res_cfg\":{" lo "}}}"

#define SAM_COMMON                                                                         \
    "\"ckpt_path\":\"\",\"image_size\":1024,\"pixel_mean\":[0.48145466,0.4578275,"            \
    "0.40821073],\"pixel_std\":[0.26862954,0.26130258,0.27577711],\"select_feature\":"        \
    "\"same\",\"select_layer\":-1"

#define ALIGNER(type, in, n)                                                               \
    "\"aligner_config\":{\"cls\":\"MlpProjector\",\"model_type\":\"aligner\",\"params\":{"     \
    "\"projector_type\":\"" type "\",\"input_dim\":" #in ",\"n_embed\":" #n ",\"depth\":2}}"

#define HEAD "{\"architectures\":[\"MultiModalityCausalLM\"],\"model_type\":\"multi_modality\","

static const struct { const char *name, *json; } PRESETS[] = {
    { "tiny-hybrid",
      HEAD HYBRID_VISION(SAM_COMMON ",\"model_name\":\"sam_b_downsample_tiny\",\"output_dim\":32,"
                         "\"mlp_ratio\":4,\"width\":32,\"layers\":4,\"heads\":2,\"patch_size\":16,"
                         "\"window_size\":14,\"global_attn_indexes\":[1,3],\"prompt_embed_dim\":16,"
                         "\"downsample_channels\":[24,32]",
                         "\"ckpt_path\":\"\",\"output_dim\":32," TINY_SIGLIP(""))
      "," ALIGNER("low_high_hybrid_split_mlp_gelu", 32, 64) "," TINY_LM "}" },
    { "tiny-siglip",
      HEAD "\"vision_config\":{\"cls\":\"CLIPVisionTower\",\"model_type\":\"vision\",\"params\":{"
      "\"ckpt_path\":\"\"," TINY_SIGLIP("") "}}," ALIGNER("mlp_gelu", 32, 64) "," TINY_LM "}" },
    { "1.3b",
      HEAD "\"vision_config\":{\"cls\":\"CLIPVisionTower\",\"model_type\":\"vision\",\"params\":{"
      "\"image_size\":384,\"model_name\":\"siglip_large_patch16_384\",\"select_feature\":"
      "\"same\",\"select_layer\":-1}}," ALIGNER("mlp_gelu", 1024, 2048) ","
      LM(2048, 5632, 24, 16) "}" },
    { "7b",
      HEAD HYBRID_VISION(SAM_COMMON ",\"model_name\":\"sam_b_downsample\",\"output_dim\":1024",
                         "\"ckpt_path\":\"\",\"image_size\":384,\"model_name\":"
                         "\"siglip_large_patch16_384\",\"output_dim\":1024,\"pixel_mean\":[0.5,"
                         "0.5,0.5],\"pixel_std\":[0.5,0.5,0.5],\"select_feature\":\"same\","
                         "\"select_layer\":-1")
      "," ALIGNER("low_high_hybrid_split_mlp_gelu", 1024, 4096) "," LM(4096, 11008, 30, 32) "}" },
};

const char *dv_mkmodel_preset(const char *arch)
{
    for (size_t i = 0; i < G_N_ELEMENTS(PRESETS); i++)
        if (strcmp(PRESETS[i].name, arch) == 0)
            return PRESETS[i].json;
    return NULL;
}

/* ---- random values ---------------------------------------------------------- */

/* ---- the tensors to write --------------------------------------------------- */

typedef struct out_tensor {
    char name[256];
    int ndim;
    int64_t shape[DV_MAX_DIMS];
    dv_init init;
    int64_t fan_in;
    size_t nbytes;
    int shard;
} out_tensor;

typedef struct plan {
    int n;
    out_tensor *t;
    dv_dtype dtype;
} plan;

static size_t entry_bytes(const out_tensor *t, dv_dtype d)
{
    size_t n = dv_dtype_size(d);
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

/* One schema entry as the HF converter stores it: renamed, q/k/v split,
 * SigLIP pos_embed squeezed, unused tensors dropped. */
static int add_hf(plan *p, const dv_schema_entry *s, dv_family family)
{
    dv_hf_name hf[3];
    int n = s->used ? dv_hf_from_original(s->name, family, hf) : 0;
    for (int k = 0; k < n; k++) {
        out_tensor *t = &p->t[p->n++];
        memcpy(t->name, hf[k].name, sizeof hf[k].name);
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        t->init = s->init;
        t->fan_in = s->fan_in;
        if (hf[k].part >= 0)
            t->shape[0] /= 3;
        if (hf[k].squeeze) {
            memmove(t->shape, t->shape + 1, sizeof(int64_t) * (size_t)(t->ndim - 1));
            t->ndim--;
        }
    }
    return n;
}

static int cmp_out(const void *a, const void *b)
{
    return strcmp(((const out_tensor *)a)->name, ((const out_tensor *)b)->name);
}

static int make_plan(const dv_config *c, int hf, dv_dtype dtype, plan *p, dv_err *e)
{
    dv_schema s;
    int rc = dv_model_schema(c, &s, e);
    if (rc)
        return rc;
    p->n = 0;
    p->dtype = dtype;
    p->t = calloc((size_t)s.n * 3 + 1, sizeof *p->t);
    if (!p->t) {
        dv_schema_free(&s);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %d tensors", s.n);
    }
    for (int i = 0; i < s.n; i++) {
        if (hf) {
            add_hf(p, &s.items[i], c->family);
            continue;
        }
        out_tensor *t = &p->t[p->n++];
        memcpy(t->name, s.items[i].name, sizeof s.items[i].name);
        t->ndim = s.items[i].ndim;
        memcpy(t->shape, s.items[i].shape, sizeof t->shape);
        t->init = s.items[i].init;
        t->fan_in = s.items[i].fan_in;
    }
    dv_schema_free(&s);
    qsort(p->t, (size_t)p->n, sizeof *p->t, cmp_out);
    for (int i = 0; i < p->n; i++)
        p->t[i].nbytes = entry_bytes(&p->t[i], dtype);
    return DOCVL_OK;
}

/* Consecutive tensors (in name order) fill each shard to about 1/n of the
 * bytes; every shard gets at least one tensor. */
static int assign_shards(plan *p, int shards)
{
    if (shards > p->n)
        shards = p->n;
    size_t total = 0, acc = 0;
    for (int i = 0; i < p->n; i++)
        total += p->t[i].nbytes;
    int k = 0, in_shard = 0;
    for (int i = 0; i < p->n; i++) {
        if (k < shards - 1 && in_shard > 0 &&
            ((double)acc >= (double)total * (k + 1) / shards || p->n - i <= shards - 1 - k)) {
            k++;
            in_shard = 0;
        }
        p->t[i].shard = k;
        acc += p->t[i].nbytes;
        in_shard++;
    }
    return k + 1;
}

/* ---- writing ------------------------------------------------------------------ */

static void fill_values(const out_tensor *t, uint64_t *r, float *v, size_t n)
{
    float std = t->init == DV_INIT_MATRIX ? (float)(1.0 / sqrt((double)(t->fan_in > 0 ? t->fan_in
                                                                                   : 1)))
                                          : 0.02f;
    for (size_t i = 0; i < n; i++) {
        switch (t->init) {
        case DV_INIT_ONES: v[i] = 1.0f; break;
        case DV_INIT_ZEROS: v[i] = 0.0f; break;
        case DV_INIT_SCALAR: v[i] = 0.5f; break;
        default: v[i] = dv_weight_normal(r) * std; break;
        }
    }
}

static void encode(dv_dtype d, const float *v, size_t n, void *out)
{
    if (d == DV_F32) {
        memcpy(out, v, n * sizeof *v);
        return;
    }
    uint16_t *o = out;
    for (size_t i = 0; i < n; i++)
        o[i] = d == DV_BF16 ? dv_f32_to_bf16(v[i]) : dv_f32_to_f16(v[i]);
}

static int write_tensor(FILE *f, const out_tensor *t, dv_dtype d, uint64_t seed, float *vals,
                        void *bytes, const char *path, dv_err *e)
{
    uint64_t r = dv_name_seed(seed, t->name);
    size_t esz = dv_dtype_size(d), total = t->nbytes / esz;
    for (size_t done = 0; done < total;) {
        size_t n = total - done < CHUNK ? total - done : CHUNK;
        fill_values(t, &r, vals, n);
        encode(d, vals, n, bytes);
        if (fwrite(bytes, esz, n, f) != n)
            return dv_fail(e, DOCVL_EIO, "%s: writing %s: %s", path, t->name, strerror(errno));
        done += n;
    }
    return DOCVL_OK;
}

/* The safetensors header, padded with spaces to a multiple of 8 bytes. */
static GString *shard_header(const plan *p, int shard)
{
    GString *h = g_string_new("{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int i = 0; i < p->n; i++) {
        const out_tensor *t = &p->t[i];
        if (t->shard != shard)
            continue;
        g_string_append_printf(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name,
                               dv_dtype_name(p->dtype));
        for (int d = 0; d < t->ndim; d++)
            g_string_append_printf(h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        g_string_append_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                               (unsigned long long)(off + t->nbytes));
        off += t->nbytes;
    }
    g_string_append_c(h, '}');
    while (h->len % 8)
        g_string_append_c(h, ' ');
    return h;
}

static int write_shard(const char *path, const plan *p, int shard, uint64_t seed, dv_err *e)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return dv_fail(e, DOCVL_EIO, "%s: %s", path, strerror(errno));
    GString *h = shard_header(p, shard);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)h->len >> (8 * i));
    int rc = DOCVL_OK;
    if (fwrite(len, 1, 8, f) != 8 || fwrite(h->str, 1, h->len, f) != h->len)
        rc = dv_fail(e, DOCVL_EIO, "%s: writing the header: %s", path, strerror(errno));
    g_string_free(h, TRUE);
    float *vals = malloc(CHUNK * sizeof *vals);
    void *bytes = malloc(CHUNK * sizeof(float));
    if (!rc && (!vals || !bytes))
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory");
    for (int i = 0; i < p->n && !rc; i++)
        if (p->t[i].shard == shard)
            rc = write_tensor(f, &p->t[i], p->dtype, seed, vals, bytes, path, e);
    free(vals);
    free(bytes);
    if (fclose(f) != 0 && !rc)
        rc = dv_fail(e, DOCVL_EIO, "%s: %s", path, strerror(errno));
    return rc;
}

static char *shard_name(int k, int n)
{
    return n == 1 ? g_strdup("model.safetensors")
                  : g_strdup_printf("model-%05d-of-%05d.safetensors", k + 1, n);
}

static int write_index(const char *dir, const plan *p, int n_shards, dv_err *e)
{
    size_t total = 0;
    for (int i = 0; i < p->n; i++)
        total += p->t[i].nbytes;
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "{\n  \"metadata\": {\"total_size\": %zu},\n  \"weight_map\": {",
                           total);
    for (int i = 0; i < p->n; i++) {
        char *file = shard_name(p->t[i].shard, n_shards);
        g_string_append_printf(s, "%s\n    \"%s\": \"%s\"", i ? "," : "", p->t[i].name, file);
        g_free(file);
    }
    g_string_append(s, "\n  }\n}\n");
    char *path = g_build_filename(dir, "model.safetensors.index.json", NULL);
    GError *ge = NULL;
    int rc = DOCVL_OK;
    if (!g_file_set_contents(path, s->str, (gssize)s->len, &ge)) {
        rc = dv_fail(e, DOCVL_EIO, "%s: %s", path, ge->message);
        g_error_free(ge);
    }
    g_free(path);
    g_string_free(s, TRUE);
    return rc;
}

static int write_weights(const dv_mkmodel_opts *o, const dv_config *c, dv_err *e)
{
    plan p;
    int rc = make_plan(c, o->hf_layout, o->dtype, &p, e);
    if (rc)
        return rc;
    int n = assign_shards(&p, o->shards > 0 ? o->shards : 1);
    for (int k = 0; k < n && !rc; k++) {
        char *file = shard_name(k, n);
        char *path = g_build_filename(o->out_dir, file, NULL);
        if (!o->quiet)
            fprintf(stderr, "docvl-mkmodel: writing %s\n", path);
        rc = write_shard(path, &p, k, o->seed, e);
        g_free(path);
        g_free(file);
    }
    if (!rc && n > 1)
        rc = write_index(o->out_dir, &p, n, e);
    free(p.t);
    return rc;
}

/* ---- the whole directory -------------------------------------------------------- */

static int read_arch(const dv_mkmodel_opts *o, char **text, size_t *len, dv_err *e)
{
    if (o->config_path)
        return dv_read_file(o->config_path, 4u << 20, text, len, e);
    const char *p = o->arch ? dv_mkmodel_preset(o->arch) : NULL;
    if (!p)
        return dv_fail(e, DOCVL_EINVAL, "unknown --arch \"%s\" (tiny-hybrid, tiny-siglip, 1.3b, "
                       "7b) and no --config", o->arch ? o->arch : "");
    *text = strdup(p);
    *len = strlen(p);
    return *text ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory");
}

/* The HF layout can only say what DeepseekVL(Hybrid)Config can express. */
static int check_hf_expressible(const dv_config *c, dv_err *e)
{
    const dv_sam_cfg *s = &c->sam;
    if (c->siglip.depth != c->siglip.layers)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "the HF layout has no select_layer: SigLIP must "
                       "keep all %d layers", c->siglip.layers);
    int sam = dv_config_has_tower(c, DV_TOWER_SAM);
    if (sam && (s->downsample_channels[0] != 2 * s->prompt_embed_dim ||
                s->downsample_channels[1] != 4 * s->prompt_embed_dim))
        return dv_fail(e, DOCVL_EUNSUPPORTED, "the HF layout needs SAM downsample_channels = "
                       "[2, 4] x prompt_embed_dim (%d), not [%d, %d]", s->prompt_embed_dim,
                       s->downsample_channels[0], s->downsample_channels[1]);
    return DOCVL_OK;
}

static int check_opts(const dv_mkmodel_opts *o, dv_err *e)
{
    if (!o->out_dir)
        return dv_fail(e, DOCVL_EINVAL, "no output directory");
    if (o->dtype != DV_F32 && o->dtype != DV_F16 && o->dtype != DV_BF16)
        return dv_fail(e, DOCVL_EINVAL, "dtype must be f32, f16 or bf16");
    if (o->shards < 1 || o->shards > 9999)
        return dv_fail(e, DOCVL_EINVAL, "--shards must be 1 to 9999, not %d", o->shards);
    if (g_mkdir_with_parents(o->out_dir, 0755) != 0)
        return dv_fail(e, DOCVL_EIO, "%s: cannot create: %s", o->out_dir, strerror(errno));
    return DOCVL_OK;
}

static int write_text(const char *dir, const char *name, const char *text, size_t len, dv_err *e)
{
    char *path = g_build_filename(dir, name, NULL);
    GError *ge = NULL;
    int rc = DOCVL_OK;
    if (!g_file_set_contents(path, text, (gssize)len, &ge)) {
        rc = dv_fail(e, DOCVL_EIO, "%s: %s", path, ge->message);
        g_error_free(ge);
    }
    g_free(path);
    return rc;
}

static int copy_text(char *dst, size_t cap, const char *src, const char *what, dv_err *e)
{
    if (strlen(src) >= cap)
        return dv_fail(e, DOCVL_ELIMIT, "%s is longer than %zu bytes", what, cap - 1);
    snprintf(dst, cap, "%s", src);
    return DOCVL_OK;
}

/* The options that change the architecture's config: the input geometry
 * and docvl's processor keys. *changed: the config differs from the file. */
static int apply_overrides(const dv_mkmodel_opts *o, dv_config *c, int *changed, dv_err *e)
{
    int geometry = o->image_h > 0 || o->image_w > 0 || o->patch > 0;
    *changed = geometry;
    if (geometry && dv_config_set_input(c, o->image_h > 0 ? o->image_h : c->siglip.image_h,
                                        o->image_w > 0 ? o->image_w : c->siglip.image_w, o->patch,
                                        e))
        return e->code;
    dv_processor_cfg *p = &c->proc;
    p->reads_lines |= o->reads_lines;
    if (o->instruction) {
        p->has_instruction = 1;
        if (copy_text(p->instruction, sizeof p->instruction, o->instruction, "--instruction", e))
            return e->code;
    }
    if (o->system_prompt &&
        copy_text(p->system_prompt, sizeof p->system_prompt, o->system_prompt, "--system-prompt", e))
        return e->code;
    return DOCVL_OK;
}

int dv_mkmodel(const dv_mkmodel_opts *o, dv_err *e)
{
    char *text = NULL;
    size_t len = 0;
    dv_config c;
    int rc = check_opts(o, e);
    if (!rc)
        rc = read_arch(o, &text, &len, e);
    if (!rc)
        rc = dv_config_parse_json(text, len, o->config_path ? o->config_path : o->arch, &c, e);
    int changed = 0;
    if (!rc)
        rc = apply_overrides(o, &c, &changed, e);
    if (!rc && o->hf_layout)
        rc = check_hf_expressible(&c, e);
    int ids[3];
    if (!rc)
        rc = dv_mk_write_tokenizer(o->out_dir, &c, o->tokenizer, ids, e);
    if (!rc) {
        c.lm.bos_id = ids[0];
        c.lm.eos_id = ids[1];
        /* A given config.json in the requested layout is kept verbatim. */
        if (o->config_path && c.hf_layout == o->hf_layout && !changed)
            rc = write_text(o->out_dir, "config.json", text, len, e);
        else
            rc = dv_mk_write_config(o->out_dir, &c, o->hf_layout, ids[2], o->dtype, e);
    }
    free(text);
    if (!rc)
        rc = dv_mk_write_side_files(o->out_dir, &c, o->hf_layout, e);
    if (!rc)
        rc = write_weights(o, &c, e);
    return rc;
}
