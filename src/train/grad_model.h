/* The trainer's view of the network: each module's weights as (w, g) pairs
 * pointing into the dv_tmodel parameters, the activations a forward pass
 * keeps for the backward pass, and the passes themselves (grad_vit.c,
 * grad_sam.c, grad_towers.c, grad_llm.c). Backward functions ADD into g;
 * `wgrad` says whether a module's weights want gradients (frozen: no), and a
 * NULL input gradient means nothing upstream needs one (work skipped). */
#ifndef DV_GRAD_MODEL_H
#define DV_GRAD_MODEL_H

#include <stdint.h>

#include "base/error.h"
#include "weights/config.h"
#include "train/grad_conv.h"
#include "train/grad_ops.h"

typedef struct tg_w {
    float *w, *g;
} tg_w;

/* Gradient pointer of p when its weights train, else NULL. */
#define TG_G(p, wgrad) ((wgrad) ? (p).g : NULL)

/* Pre-norm ViT block (SigLIP or SAM). */
typedef struct tg_block {
    tg_w n1w, n1b, n2w, n2b, qkv_w, qkv_b, proj_w, proj_b, fc1_w, fc1_b, fc2_w, fc2_b;
    tg_w rel_h, rel_w;       /* SAM only */
    int window;              /* SAM windowed block: window side; 0 = global */
} tg_block;

/* Geometry shared by a tower's blocks: a grid_h x grid_w token map of
 * `width` channels (square but for SigLIP line models); SAM blocks pad to
 * whole windows. */
typedef struct tg_vit {
    int grid_h, grid_w, width, heads, mlp;
    int relpos;              /* SAM: decomposed relative positions */
    int images;              /* images stacked one after another (0 or 1: one) */
    dv_pool *tp;             /* the threads the passes split over; NULL: the caller */
    dv_gemm gemm;            /* the product its matrix products run (zero: cblas_sgemm) */
} tg_vit;

typedef struct tg_block_act {
    int wh, ww;              /* window rows, columns */
    int ws;                  /* relative positions' window side (SAM: wh == ww) */
    int nwh, nww, np;        /* windows per column, per row; padded tokens */
    float *x_in, *mu1, *rs1, *xw, *qkv, *lse, *p, *rel, *attw, *att;
    float *x_mid, *mu2, *rs2, *xn2;
    float *dgelu, *h;        /* fc1's output's GELU derivative (written over it), GELU */
} tg_block_act;

/* x [grid_h * grid_w, width] is updated in place; act receives what backward needs. */
int tg_block_fwd(const tg_vit *v, const tg_block *b, float *x, tg_block_act *act, tg_pool *pool,
                 dv_err *e);
/* kept NULL: forward only, the activations are freed before returning;
 * else as tg_block_fwd with kept in the step's pool. */
int tg_block_fwd_opt(const tg_vit *v, const tg_block *b, float *x, tg_block_act *kept,
                     tg_pool *pool, dv_err *e);
/* A block backward pass's work buffers: a tower's blocks (of one
 * geometry) can share one set, allocated from a step's pool. */
typedef struct tg_block_work {
    float *dh, *dpre, *dxn, *datt, *dattw, *dqkv, *dxw;
} tg_block_work;
int tg_block_work_alloc(const tg_vit *v, const tg_block *b, tg_block_work *w, tg_pool *pool,
                        dv_err *e);

/* dx: on entry d(block output), on exit d(block input) (when need_dx);
 * the work buffers allocated and freed by the pass. */
int tg_block_bwd(const tg_vit *v, const tg_block *b, const tg_block_act *act, float *dx,
                 int wgrad, int need_dx, dv_err *e);
/* The same in the caller's work buffers. */
int tg_block_bwd_work(const tg_vit *v, const tg_block *b, const tg_block_act *act, float *dx,
                      int wgrad, int need_dx, const tg_block_work *work, dv_err *e);

typedef struct tg_siglip {
    tg_vit v;
    int image_h, image_w, patch, n;
    float mean[3], std[3];
    tg_w patch_w, patch_b, pos, norm_w, norm_b;
    int depth;
    tg_block *blocks;
} tg_siglip;

typedef struct tg_siglip_act {
    const float *pixels;
    tg_block_act *blocks;
    float *x_last, *mu, *rs;
} tg_siglip_act;

/* keep = 0: no backward will follow, so each block's activations are
 * dropped as soon as the next block has its input (forward-only memory). */
int tg_siglip_fwd(const tg_siglip *s, const float *pixels, float *out, tg_siglip_act *act,
                  int keep, tg_pool *pool, dv_err *e);
/* pool: where the work buffers come from (kept by a run's steps). */
int tg_siglip_bwd(const tg_siglip *s, const tg_siglip_act *act, const float *dout, int wgrad,
                  tg_pool *pool, dv_err *e);

typedef struct tg_neck {
    tg_w c1, ln1w, ln1b, c3, ln2w, ln2b;
} tg_neck;

typedef struct tg_sam {
    tg_vit v;
    int image, patch, layers, first_global, p, ch[2], out_grid;
    float mean[3], std[3];
    tg_w patch_w, patch_b, pos, down[2], alpha;
    tg_block *blocks;
    tg_neck neck, neck_hd;
} tg_sam;

typedef struct tg_neck_act {
    const float *in;
    float *a, *mu1, *rs1, *an, *b, *mu2, *rs2, *bn, *up, *d0, *out;
} tg_neck_act;

typedef struct tg_sam_act {
    const float *pixels;
    tg_block_act *blocks;
    float *hd_src, *x_last;
    tg_neck_act main, hd;
} tg_sam_act;

/* keep_blocks = 0: the body will get no backward (frozen): its blocks'
 * activations are dropped; the neck's are always kept. */
int tg_sam_fwd(const tg_sam *s, const float *pixels, float *out, tg_sam_act *act, int keep_blocks,
               tg_pool *pool, dv_err *e);
/* body: the blocks, patch and position embeddings train; neck: neck,
 * neck_hd, downsamples and hd_alpha train. A frozen body gets no backward. */
int tg_sam_bwd(const tg_sam *s, const tg_sam_act *act, const float *dout, int body, int neck,
               dv_err *e);

typedef struct tg_aligner {
    int hybrid, n_layers, in_high, in_low, n_embed;
    tg_w high_w, high_b, low_w, low_b;
    tg_w *lw, *lb;
    dv_pool *tp;             /* the threads the passes split over; NULL: the caller */
    dv_gemm gemm;            /* the product its matrix products run (zero: cblas_sgemm) */
} tg_aligner;

#define TG_MAX_ALIGNER_LAYERS 64

/* Layer i >= first (0 hybrid, 1 mlp_gelu) is lw[i](GELU(pre[i])); in[i]
 * holds GELU(pre[i]), the layer's input, and pre[i] is then overwritten
 * by GELU's derivative there (all the backward pass needs of it). */
typedef struct tg_aligner_act {
    const float *high, *low;
    float *pre[TG_MAX_ALIGNER_LAYERS], *in[TG_MAX_ALIGNER_LAYERS];
} tg_aligner_act;

int tg_aligner_fwd(const tg_aligner *a, const float *high, const float *low, int n, float *out,
                   tg_aligner_act *act, tg_pool *pool, dv_err *e);
/* dhigh/dlow may be NULL (towers frozen). */
int tg_aligner_bwd(const tg_aligner *a, const tg_aligner_act *act, int n, const float *dout,
                   int wgrad, float *dhigh, float *dlow, tg_pool *pool, dv_err *e);

typedef struct tg_layer {
    tg_w attn_norm, mlp_norm, q, k, v, o, gate, up, down;
} tg_layer;

typedef struct tg_llm {
    dv_lm_cfg c;
    tg_w embed, norm, head;  /* head == embed when tied */
    tg_layer *layers;
    dv_pool *tp;             /* the threads the passes split over; NULL: the caller */
    dv_gemm gemm;            /* the product its matrix products run (zero: cblas_sgemm) */
    /* RoPE tables [rope_n, head_dim / 2] of positions 0 .. rope_n - 1, made
     * once with the model (NULL: each pass computes its own); a pass over
     * longer sequences computes its own */
    float *rope_cos, *rope_sin;
    int rope_n;
} tg_llm;

/* qkv [n, 2 kv + hidden]: each row k, q, v (one product of the adjacent
 * k_proj, q_proj and v_proj weights), q, k, v pointing into it; gu
 * [n, 2 intermediate]: each row gate, up; p: the attention's
 * probabilities, every sequence's one after another (NULL: recomputed). */
typedef struct tg_layer_act {
    float *x_in, *rs1, *xn1, *qkv, *q, *k, *v, *lse, *p, *att, *x_mid, *rs2, *xn2, *gu, *hm;
} tg_layer_act;

typedef struct tg_llm_act {
    int n;
    /* stacked sequences: rows seq[i] .. seq[i + 1] - 1 are sequence i, its
     * positions from 0, attending only to itself. Set by the caller before
     * tg_llm_fwd; nseq 0: one sequence of n rows */
    int nseq, *seq;
    float *cosv, *sinv;
    tg_layer_act *layers;
    /* the final norm and the output layer run over nhead rows: head_rows
     * (ascending; set by the caller before tg_llm_fwd), or every row when
     * head_rows is NULL. Rows whose logits nothing reads (a prompt's, an
     * image's) then cost no product; head_x keeps the chosen rows of x_last */
    int nhead;
    const int *head_rows;
    float *x_last, *head_x, *rs, *xn;
} tg_llm_act;

/* x [n, hidden] input embeddings -> logits [n, vocab] (or [nhead, vocab]
 * with act->head_rows). keep = 0: forward only, each layer's activations
 * dropped after it ran. */
int tg_llm_fwd(const tg_llm *m, const float *x, int n, float *logits, tg_llm_act *act, int keep,
               tg_pool *pool, dv_err *e);
/* dlogits [n, vocab] (or [nhead, vocab]); dx (d input embeddings, written)
 * may be NULL when nothing before the decoder trains; wgrad: the decoder's
 * weights train. */
int tg_llm_bwd(const tg_llm *m, const tg_llm_act *act, const float *dlogits, float *dx,
               int wgrad, tg_pool *pool, dv_err *e);

#endif
