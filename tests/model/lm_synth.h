/* A random LLaMA decoder written as model.safetensors (original DeepSeek-VL
 * names) for tests that need architectures the goldens do not cover: GQA,
 * other head sizes, rope_theta, BF16 storage. */
#ifndef DV_LM_SYNTH_H
#define DV_LM_SYNTH_H

#include <glib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/tensor.h"
#include "weights/config.h"

typedef struct synth_tensor {
    char name[128];
    int64_t shape[2];
    int ndim;
    float center, spread;   /* values uniform in center +- spread */
} synth_tensor;

static inline uint32_t synth_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static inline void synth_add(synth_tensor *t, int *n, const char *name, int64_t a, int64_t b, float center,
                      float spread)
{
    synth_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->shape[0] = a;
    x->shape[1] = b;
    x->ndim = b > 0 ? 2 : 1;
    x->center = center;
    x->spread = spread;
}

enum { SYNTH_BIAS = 1, SYNTH_TIED = 2 };   /* q/k/v/o + MLP biases; no lm_head */

/* The LM tensors of cfg, in the order a loader has no reason to rely on. */
static inline int synth_list(const dv_lm_cfg *c, synth_tensor *t, int flags)
{
    int n = 0, H = c->hidden, F = c->intermediate, kvd = c->kv_heads * c->head_dim;
    float wi = 1.0f / (float)H, wf = 1.0f / (float)F;
    char name[128];
    synth_add(t, &n, "language_model.model.embed_tokens.weight", c->vocab, H, 0, 1.0f);
    for (int l = 0; l < c->layers; l++) {
        const char *p = "language_model.model.layers";
#define ADD(suf, a, b, ce, sp) (snprintf(name, sizeof name, "%s.%d.%s", p, l, suf), synth_add(t, &n, name, a, b, ce, sp))
#define BIAS(suf, a) ((flags & SYNTH_BIAS) ? (void)ADD(suf, a, 0, 0, 0.3f) : (void)0)
        ADD("input_layernorm.weight", H, 0, 1.0f, 0.2f);
        ADD("post_attention_layernorm.weight", H, 0, 1.0f, 0.2f);
        ADD("self_attn.q_proj.weight", H, H, 0, 3.0f * sqrtf(wi));
        ADD("self_attn.k_proj.weight", kvd, H, 0, 3.0f * sqrtf(wi));
        ADD("self_attn.v_proj.weight", kvd, H, 0, sqrtf(3.0f * wi));
        ADD("self_attn.o_proj.weight", H, H, 0, sqrtf(3.0f * wi));
        ADD("mlp.gate_proj.weight", F, H, 0, sqrtf(3.0f * wi));
        ADD("mlp.up_proj.weight", F, H, 0, sqrtf(3.0f * wi));
        ADD("mlp.down_proj.weight", H, F, 0, sqrtf(3.0f * wf));
        BIAS("self_attn.q_proj.bias", H);
        BIAS("self_attn.k_proj.bias", kvd);
        BIAS("self_attn.v_proj.bias", kvd);
        BIAS("self_attn.o_proj.bias", H);
        BIAS("mlp.gate_proj.bias", F);
        BIAS("mlp.up_proj.bias", F);
        BIAS("mlp.down_proj.bias", H);
#undef BIAS
#undef ADD
    }
    synth_add(t, &n, "language_model.model.norm.weight", H, 0, 1.0f, 0.2f);
    if (!(flags & SYNTH_TIED))
        synth_add(t, &n, "language_model.lm_head.weight", c->vocab, H, 0, 2.0f * sqrtf(wi));
    return n;
}

/* Writes dir/model.safetensors with random values (dtype DV_F32 or DV_BF16). */
static inline void synth_write_flags(const char *dir, const dv_lm_cfg *c, dv_dtype dt, uint64_t seed,
                                     int flags)
{
    synth_tensor *t = g_new0(synth_tensor, 16 * c->layers + 3);
    int n = synth_list(c, t, flags);
    size_t es = dt == DV_BF16 ? 2 : 4, off = 0;
    GString *h = g_string_new("{");
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)t[i].shape[0] * (t[i].ndim == 2 ? (size_t)t[i].shape[1] : 1) * es;
        if (t[i].ndim == 2)
            g_string_append_printf(h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],", i ? "," : "",
                                   t[i].name, dv_dtype_name(dt), (long long)t[i].shape[0],
                                   (long long)t[i].shape[1]);
        else
            g_string_append_printf(h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],", i ? "," : "",
                                   t[i].name, dv_dtype_name(dt), (long long)t[i].shape[0]);
        g_string_append_printf(h, "\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    g_string_append_c(h, '}');
    while (h->len % 8)
        g_string_append_c(h, ' ');
    char *path = g_build_filename(dir, "model.safetensors", NULL);
    FILE *f = fopen(path, "wb");
    g_assert_nonnull(f);
    uint64_t hl = h->len;
    fwrite(&hl, 8, 1, f);
    fwrite(h->str, 1, h->len, f);
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)t[i].shape[0] * (t[i].ndim == 2 ? (size_t)t[i].shape[1] : 1);
        for (size_t j = 0; j < cnt; j++) {
            float v = t[i].center + t[i].spread * ((float)synth_rand(&seed) / 2147483648.0f - 1.0f);
            if (dt == DV_BF16) {
                uint16_t b = dv_f32_to_bf16(v);
                fwrite(&b, 2, 1, f);
            } else {
                fwrite(&v, 4, 1, f);
            }
        }
    }
    fclose(f);
    g_free(path);
    g_string_free(h, TRUE);
    g_free(t);
}

static inline void synth_write(const char *dir, const dv_lm_cfg *c, dv_dtype dt, uint64_t seed)
{
    synth_write_flags(dir, c, dt, seed, 0);
}

/* A config holding only what the decoder reads. */
static inline dv_config synth_config(int hidden, int layers, int heads, int kv_heads, int inter, int vocab,
                              int max_pos, float theta)
{
    dv_config c;
    memset(&c, 0, sizeof c);
    c.lm = (dv_lm_cfg){ .hidden = hidden, .intermediate = inter, .layers = layers, .heads = heads,
                        .kv_heads = kv_heads, .head_dim = hidden / heads, .vocab = vocab,
                        .max_pos = max_pos, .rms_eps = 1e-5f, .rope_theta = theta,
                        .bos_id = 0, .eos_id = 1 };
    return c;
}

#endif
