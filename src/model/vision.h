/* The vision path: preprocessed image -> towers -> aligner -> image
 * embeddings [num_image_tokens, n_embed] for the decoder. */
#ifndef DV_VISION_H
#define DV_VISION_H

#include "base/ctx.h"
#include "base/error.h"
#include "weights/checkpoint.h"
#include "weights/config.h"

typedef struct dv_vision dv_vision;   /* bound weights of towers + aligner */

/* How the towers' and the aligner's matrices are held (dv_vision_bind's
 * widen): as stored, widened to f32, or quantized to q8 blocks at load, so
 * their products run as int8 products (kernels/qgemm.h; convolutions stay
 * f32), or BF16 matrices kept bf16 and repacked at load for the bf16
 * products (kernels/bgemm.h, dv_linear_use_bf16; other matrices widened,
 * convolutions f32; as DV_TOWERS_F32 on a CPU without AVX-512 BF16). */
enum { DV_TOWERS_STORED = 0, DV_TOWERS_F32 = 1, DV_TOWERS_Q8 = 2, DV_TOWERS_BF16 = 3 };

/* Binds and checks every vision/aligner tensor (name and shape; error names
 * the tensor, expected vs found shape and the file). widen: DV_TOWERS_*. */
int dv_vision_bind(const dv_config *cfg, const dv_checkpoint *ck, int widen, dv_vision **out,
                   dv_err *e);
void dv_vision_free(dv_vision *v);
/* The fp32 product of the towers' and the aligner's products and
 * attention (kernels/sgemm512.h): dv_gemm_choose() at bind, passed down in
 * the context of every pass (as dv_llama_set_gemm). */
void dv_vision_set_gemm(dv_vision *v, dv_gemm g);
dv_gemm dv_vision_gemm(const dv_vision *v);

/* Optional taps for the golden checker: when non-NULL, the stage's tensor is
 * copied there (shapes as ../shared/golden/README.md names them). */
typedef struct dv_vision_taps {
    float *low_res_pixels;      /* [3,384,384] hybrid */
    float *sam_block0_out;      /* [64,64,W_sam] */
    float *sam_neck_out;        /* [P,64,64] */
    float *sam_main_branch;     /* [C,24,24] */
    float *sam_hd_branch;       /* [C,24,24] */
    float *sam_out;             /* [576,C] */
    float *siglip_embed;        /* [576,W] */
    float *siglip_blocks_out;   /* [576,W] */
    float *siglip_out;          /* [576,W] */
} dv_vision_taps;

/* Floats the tap of `stage` (a dv_vision_taps member name) receives for this
 * model; 0 when its family has no such stage or the name is unknown. */
size_t dv_vision_tap_len(const dv_vision *v, const char *stage);

/* Rows and width of dv_vision_forward's output. */
int dv_vision_tokens(const dv_vision *v);
int dv_vision_embed_dim(const dv_vision *v);

/* pixels: the preprocessed image as float32(u8/255), [3, H, W] planar,
 * H x W = cfg->pre.image_h x image_w (a square but for docvl's line models;
 * un-normalized: the towers normalize themselves).
 * out: [num_image_tokens, n_embed]. */
int dv_vision_forward(const dv_vision *v, const float *pixels, float *out,
                      const dv_vision_taps *taps, const dv_ctx *ctx, dv_err *e);

/* Work memory kept between images (activations of the towers and the
 * aligner): the first image sizes it, later ones allocate nothing. */
typedef struct dv_vision_work dv_vision_work;
int dv_vision_work_new(dv_vision_work **out, dv_err *e);
void dv_vision_work_free(dv_vision_work *w);
/* dv_vision_forward with its buffers from w. */
int dv_vision_forward_work(const dv_vision *v, dv_vision_work *w, const float *pixels, float *out,
                           const dv_vision_taps *taps, const dv_ctx *ctx, dv_err *e);

/* Whether dv_vision_forward_many takes several images: a SigLIP-only path
 * whose products give each row what it gets alone (kernels/linear.h:
 * dv_linear_rows_stable), so stacking changes no image's embeddings. */
int dv_vision_stacks(const dv_vision *v);
/* imgs preprocessed images [imgs, 3, H, W] through the towers and the
 * aligner at once (rows stacked in every product, attention within each
 * image) -> out [imgs * num_image_tokens, n_embed], each image's rows the
 * same bit for bit as dv_vision_forward_work gives it alone. imgs > 1 only
 * where dv_vision_stacks. */
int dv_vision_forward_many(const dv_vision *v, dv_vision_work *w, const float *pixels, int imgs,
                           float *out, const dv_ctx *ctx, dv_err *e);

/* The aligner alone on tower features [tokens, input_dim]: sam (hybrid
 * only; NULL otherwise) and siglip -> out [tokens, n_embed]. For cached
 * features (adapter training) and for checking the aligner in isolation. */
int dv_vision_align(const dv_vision *v, const float *sam, const float *siglip, float *out,
                    const dv_ctx *ctx, dv_err *e);

#endif
