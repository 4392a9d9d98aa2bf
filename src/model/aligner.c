/* MlpProjector: vision features -> LM embedding space.
 * mlp_gelu: layers.0, then (GELU, layers.2k) for each further depth step.
 * low_high_hybrid_split_mlp_gelu: concat(high_up_proj(sam), low_up_proj(siglip))
 * on features (high first), then (GELU, layers.2k-1) per further depth step. */
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/vmath.h"
#include "model/towers.h"

#define MAX_DEPTH 64

static void *field(void *obj, int slot, int i, int bias)
{
    (void)bias;   /* linears bind with their bias */
    dv_aligner *a = obj;
    switch (slot) {
    case DV_AL_HIGH: return &a->high;
    case DV_AL_LOW: return &a->low;
    case DV_AL_LAYER: return i >= 0 && i < a->n_layers ? &a->layers[i] : NULL;
    }
    return NULL;
}

int dv_aligner_bind(const dv_config *c, const dv_checkpoint *ck, const dv_placed *p, int widen,
                    dv_aligner *a, dv_err *e)
{
    const dv_aligner_cfg *cfg = &c->aligner;
    memset(a, 0, sizeof *a);
    int hybrid = cfg->type == DV_PROJ_LOW_HIGH_HYBRID_SPLIT;
    if (cfg->depth < 1 || cfg->depth > MAX_DEPTH || cfg->input_dim <= 0 || cfg->n_embed <= 0 ||
        (hybrid && cfg->n_embed % 2))
        return dv_fail(e, DOCVL_EMODEL, "aligner depth %d, input_dim %d, n_embed %d unusable",
                       cfg->depth, cfg->input_dim, cfg->n_embed);
    a->type = cfg->type;
    a->input_dim = cfg->input_dim;
    a->n_embed = cfg->n_embed;
    a->n_layers = hybrid ? cfg->depth - 1 : cfg->depth;
    a->layers = calloc((size_t)(a->n_layers ? a->n_layers : 1), sizeof *a->layers);
    if (!a->layers)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the aligner");
    return tw_bind_module(c, ck, p, widen, field, a, e);
}

void dv_aligner_free(dv_aligner *a)
{
    dv_linear_free(&a->high);
    dv_linear_free(&a->low);
    for (int i = 0; a->layers && i < a->n_layers; i++)
        dv_linear_free(&a->layers[i]);
    free(a->layers);
    memset(a, 0, sizeof *a);
}

/* x [n, n_embed] holds the first stage's output; each further layer is
 * GELU then linear, ping-ponging through tmp. GELU runs image by image
 * (per rows each): the vector kernel's tail is per call, so images stacked
 * get what each gets alone. */
static void mlp_tail(const dv_aligner *a, int first, float *x, float *tmp, int n, int per,
                     float *out, const dv_ctx *ctx)
{
    size_t len = (size_t)n * a->n_embed, img = (size_t)per * a->n_embed;
    for (int i = first; i < a->n_layers; i++) {
        for (size_t o = 0; o < len; o += img)
            dv_vgelu(x + o, len - o < img ? len - o : img);
        dv_linear_forward(&a->layers[i], x, n, tmp, ctx);
        float *t = x;
        x = tmp;
        tmp = t;
    }
    memcpy(out, x, len * sizeof *out);
}

static void hybrid_head(const dv_aligner *a, const float *high, const float *low, int n,
                        float *x, float *tmp, const dv_ctx *ctx)
{
    int half = a->n_embed / 2;
    dv_linear_forward(&a->high, high, n, tmp, ctx);
    for (int i = 0; i < n; i++)
        memcpy(x + (size_t)i * a->n_embed, tmp + (size_t)i * half, (size_t)half * sizeof *x);
    dv_linear_forward(&a->low, low, n, tmp, ctx);
    for (int i = 0; i < n; i++)
        memcpy(x + (size_t)i * a->n_embed + half, tmp + (size_t)i * half, (size_t)half * sizeof *x);
}

int dv_aligner_forward(const dv_aligner *a, const float *high, const float *low, int n, int per,
                       float *out, tw_arena *ar, const dv_ctx *ctx, dv_err *e)
{
    int hybrid = a->type == DV_PROJ_LOW_HIGH_HYBRID_SPLIT;
    if (hybrid && !high)
        return dv_fail(e, DOCVL_EINVAL, "the hybrid aligner needs the SAM features");
    size_t len = (size_t)n * a->n_embed;
    float *x = tw_take(ar, len), *tmp = tw_take(ar, len);
    if (!x || !tmp)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the aligner over %d tokens", n);
    if (hybrid) {
        hybrid_head(a, high, low, n, x, tmp, ctx);
        mlp_tail(a, 0, x, tmp, n, per, out, ctx);
    } else {
        dv_linear_forward(&a->layers[0], low, n, x, ctx);
        mlp_tail(a, 1, x, tmp, n, per, out, ctx);
    }
    return DOCVL_OK;
}
