/* Small architectures of both families for the trainer's tests, from
 * docvl-mkmodel's tiny presets with smaller images and decoders. */
#ifndef DV_TEST_TINY_MODELS_H
#define DV_TEST_TINY_MODELS_H

#include <glib.h>
#include <string.h>

#include "weights/config.h"
#include "mkmodel/mkmodel.h"
#include "train/tmodel.h"

#define TINY_IMAGE_TOKEN 7

/* SigLIP-only: a 64x64 image (16 tokens), one block; decoder of 2 layers,
 * GQA (4 heads over 2 kv heads), vocab 40. Hybrid: SAM on 128x128 (8x8
 * grid; block 0 windowed by 3, so padded to 9x9; block 1 global) and SigLIP
 * at 384 for SAM's fixed 24x24 output. */
static inline dv_config tiny_config(int hybrid)
{
    const char *arch = hybrid ? "tiny-hybrid" : "tiny-siglip";
    const char *json = dv_mkmodel_preset(arch);
    dv_config c;
    dv_err e = { 0 };
    g_assert_nonnull(json);
    g_assert_cmpint(dv_config_parse_json(json, strlen(json), arch, &c, &e), ==, 0);
    c.siglip.layers = 1;
    dv_siglip_set_depth(&c.siglip);
    c.lm.vocab = 40;
    c.lm.kv_heads = 2;
    if (hybrid) {
        c.sam.image_size = 128;
        c.sam.window_size = 3;    /* 8 is not a multiple of 3: padded windows */
        c.sam.layers = 2;
        c.sam.n_global = 1;
        c.sam.global_attn_indexes[0] = 1;
        c.pre.image_h = c.pre.image_w = 128;
    } else {
        c.siglip.image_h = c.siglip.image_w = 64;
        c.pre.image_h = c.pre.image_w = 64;
    }
    return c;
}

/* A sample: 3 text tokens, then per image its tokens and 5 text tokens;
 * labels on the text after the first image (the first of them ignored) and
 * on the last image position. Arrays malloc'ed. */
typedef struct tiny_sample {
    dv_tsample s;
    float *pixels;
    int32_t *ids, *labels;
} tiny_sample;

static inline tiny_sample tiny_sample_new(const dv_config *c, int images, uint64_t seed)
{
    tiny_sample t = { 0 };
    int nt = images ? dv_config_image_tokens(c) : 0;
    int n = 3 + 5 * (images ? images : 1) + nt * images;
    size_t np = (size_t)3 * c->pre.image_h * c->pre.image_w * images;
    t.ids = g_new0(int32_t, n);
    t.labels = g_new0(int32_t, n);
    t.pixels = images ? g_new0(float, np) : NULL;
    for (size_t i = 0; t.pixels && i < np; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        t.pixels[i] = (float)((seed >> 40) & 0xff) / 255.0f;
    }
    for (int i = 0; i < n; i++) {
        int img = i >= 3 && (i - 3) % (nt + 5) < nt && images;
        t.ids[i] = img ? TINY_IMAGE_TOKEN : (int32_t)((i * 13 + 5 + seed) % 40);
        if (t.ids[i] == TINY_IMAGE_TOKEN && !img)
            t.ids[i] = 8;
    }
    for (int i = 0; i < n; i++)
        t.labels[i] = i >= 3 + nt && i + 1 < n && i != 3 + nt ? t.ids[i + 1] : DV_IGNORE_LABEL;
    t.labels[2 + nt] = t.ids[3 + nt];   /* the last image position predicts the text */
    t.s = (dv_tsample){ .n_images = images, .pixels = t.pixels, .n_tokens = n, .ids = t.ids,
                        .labels = t.labels };
    return t;
}

static inline void tiny_sample_free(tiny_sample *t)
{
    g_free(t->pixels);
    g_free(t->ids);
    g_free(t->labels);
}

#endif
