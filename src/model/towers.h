/* Internals of the vision path shared by siglip.c, sam.c, aligner.c and
 * vision.c: bound weights of each tower, the pre-norm ViT block they share,
 * and binding helpers that check every tensor's name and shape. */
#ifndef DV_TOWERS_H
#define DV_TOWERS_H

#include "base/ctx.h"
#include "base/error.h"
#include "kernels/conv.h"
#include "kernels/linear.h"
#include "model/arch.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "model/vision.h"

/* Pre-norm transformer block: x += proj(attn(norm1(x))); x += mlp(norm2(x)). */
typedef struct vit_block {
    float *n1w, *n1b, *n2w, *n2b;
    dv_linear qkv, proj, fc1, fc2;
    float *rel_h, *rel_w;   /* SAM: [2*size-1, head_dim] tables, else NULL */
    int window;             /* SAM: window side, 0 = global attention */
} vit_block;

/* Scratch for one block over n tokens (n_pad >= n rows when windows pad). */
typedef struct vit_work {
    float *xn, *qkv, *att, *tmp, *hid, *rel;
} vit_work;

typedef struct dv_siglip {
    int image_h, image_w, patch, grid_h, grid_w, n_tok, width, heads, depth, mlp;
    float mean[3], std[3];
    dv_conv2d patch_embed;
    float *pos;              /* [n_tok = grid_h * grid_w, width], rows of the grid in turn */
    vit_block *blocks;
    float *norm_w, *norm_b;
} dv_siglip;

typedef struct sam_neck {
    dv_conv2d c1, c3;        /* conv1x1 (no bias), conv3x3 pad 1 (no bias) */
    float *ln1w, *ln1b, *ln2w, *ln2b;
} sam_neck;

typedef struct dv_sam {
    int image_size, patch, grid, width, heads, layers, mlp, out_ch, first_global;
    float mean[3], std[3];
    dv_conv2d patch_embed;
    float *pos;              /* [grid*grid, width] */
    vit_block *blocks;
    sam_neck neck, neck_hd;
    int n_down;
    dv_conv2d down[2];
    float *hd_alpha;         /* [1] */
} dv_sam;

typedef struct dv_aligner {
    dv_projector type;
    int input_dim, n_embed, n_layers;
    dv_linear high, low;     /* hybrid split: each to n_embed / 2 */
    dv_linear *layers;       /* GELU before each */
} dv_aligner;

/* Binds every used row of the placed module p (model/arch.h) from ck: field
 * says where a row's tensor goes in obj, a dv_linear (LINEAR rows), a
 * dv_conv2d (CONV) or a float * widened to f32 (NORM weight / bias, TENSOR);
 * NULL when the binder has no place for it (an error). */
typedef void *(*tw_field_fn)(void *obj, int slot, int i, int bias);
int tw_bind_module(const dv_config *cfg, const dv_checkpoint *ck, const dv_placed *p, int widen,
                   tw_field_fn field, void *obj, dv_err *e);
/* The field of a pre-norm block row (model/arch.h's DV_VIT_* slots). */
void *tw_block_field(vit_block *b, int slot, int bias);

void tw_block_free(vit_block *b);
/* x += fc2(gelu(fc1(norm2(x)))) over n tokens; w->xn, w->hid, w->tmp used. */
void tw_block_mlp(const vit_block *b, float *x, int n, int width, const vit_work *w,
                  const dv_ctx *ctx);
/* Work memory of one image's pass, kept for the next: buffers are taken in
 * pass order and never freed singly; a pass that outgrows the arena gets
 * extra blocks, and the next reset makes one block of the largest pass's
 * size, so later images of the same model allocate nothing. */
typedef struct tw_arena {
    float *main;
    size_t cap, used, high;   /* floats: main's size, taken this pass, most any pass took */
    float **extra;            /* blocks taken beyond main this pass */
    int n_extra, cap_extra;
} tw_arena;

/* n floats, 64-byte aligned; NULL when out of memory. */
float *tw_take(tw_arena *a, size_t n);
/* Ends a pass: its buffers may be handed out again. */
void tw_arena_reset(tw_arena *a);
void tw_arena_free(tw_arena *a);
int tw_work_alloc(vit_work *w, tw_arena *a, int n_pad, int width, int mlp, size_t rel_floats,
                  dv_err *e);

int dv_siglip_bind(const dv_config *cfg, const dv_checkpoint *ck, const dv_placed *p, int widen,
                   dv_siglip *s, dv_err *e);
void dv_siglip_free(dv_siglip *s);
/* pixels [3, image_h, image_w] in 0..1; out [n_tok, width]. */
int dv_siglip_forward(const dv_siglip *s, const float *pixels, float *out,
                      const dv_vision_taps *taps, tw_arena *ar, const dv_ctx *ctx, dv_err *e);

int dv_sam_bind(const dv_config *cfg, const dv_checkpoint *ck, const dv_placed *p, int widen,
                dv_sam *s, dv_err *e);
void dv_sam_free(dv_sam *s);
/* Output grid side (24 for 1024 input) and tokens. */
int dv_sam_out_grid(const dv_sam *s);
/* pixels [3, image_size, image_size] in 0..1; out [out_grid^2, out_ch]. */
int dv_sam_forward(const dv_sam *s, const float *pixels, float *out, const dv_vision_taps *taps,
                   tw_arena *ar, const dv_ctx *ctx, dv_err *e);

int dv_aligner_bind(const dv_config *cfg, const dv_checkpoint *ck, const dv_placed *p, int widen,
                    dv_aligner *a, dv_err *e);
void dv_aligner_free(dv_aligner *a);
/* high (hybrid only, may be NULL otherwise) and low [n, input_dim] ->
 * out [n, n_embed]. */
int dv_aligner_forward(const dv_aligner *a, const float *high, const float *low, int n,
                       float *out, tw_arena *ar, const dv_ctx *ctx, dv_err *e);

#endif
