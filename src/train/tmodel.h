/* The trainable model: f32 master weights + gradients for every parameter of
 * either family, a forward pass that keeps what the backward pass needs, and
 * hand-written backward passes (llm.c style). Its forward is the inference
 * forward's math: a checkpoint it saves loads in docvl with the same logits. */
#ifndef DV_TMODEL_H
#define DV_TMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/ctx.h"
#include "base/error.h"
#include "kernels/sgemm512.h"
#include "kernels/tensor.h"
#include "weights/config.h"

/* Components, for freezing by training stage (docs/training.md). */
typedef enum dv_part {
    DV_PART_SAM_BODY,    /* patch embed, pos embed, blocks */
    DV_PART_SAM_NECK,    /* neck, neck_hd, downsamples, hd_alpha_downsamples */
    DV_PART_SIGLIP,
    DV_PART_ALIGNER,
    DV_PART_LLM,
    DV_PART_COUNT
} dv_part;

typedef struct dv_param {
    char *name;          /* original checkpoint name */
    int ndim;
    int64_t shape[4];
    size_t n;
    float *w;            /* master weights */
    float *g;            /* gradient, accumulated by forward_backward */
    dv_part part;
    int decay;           /* 0 for norms, biases, embeddings' scalars: no weight decay */
} dv_param;

typedef struct dv_tmodel {
    dv_config cfg;
    int n_params;
    dv_param *params;
    int trainable[DV_PART_COUNT];   /* frozen parts get no gradient (and cost no backward) */
    void *impl;                     /* activations, scratch */
} dv_tmodel;

/* One training sample. ids already hold num_image_tokens copies of the image
 * token per image; pixels are n_images preprocessed [3,S,S] float32(u8/255)
 * tensors. labels[i] is the token to predict after position i, or -100. */
typedef struct dv_tsample {
    int n_images;
    const float *pixels;
    int n_tokens;
    const int32_t *ids;
    const int32_t *labels;
    /* Set for a reading warm-up sample (docvl-train --objective ctc): the loss
     * is then CTC of these tokens over the image's columns (src/train/ctc.h),
     * read through the aligner and the decoder's final norm and output layer,
     * the image token as blank; ids and labels are not used. */
    const int32_t *ctc_target;
    int n_ctc_target;
} dv_tsample;

#define DV_IGNORE_LABEL (-100)

/* Random init (same scales as tools/docvl-mkmodel), deterministic from seed. */
int dv_tmodel_init_random(const dv_config *cfg, uint64_t seed, dv_tmodel **out, dv_err *e);
/* Loads a model directory's weights as f32 masters. */
int dv_tmodel_load(const char *dir, dv_tmodel **out, dv_err *e);
void dv_tmodel_free(dv_tmodel *m);
/* The fp32 product the model's passes run (kernels/sgemm512.h). A model
 * takes dv_gemm_choose() when it is made (CPUID, DOCVL_OWN_SGEMM); set
 * another before making a workspace (dv_tws_new), whose views are copies.
 * Gradients, and so a resumed run's bits, depend on the choice. */
void dv_tmodel_set_gemm(dv_tmodel *m, dv_gemm g);
dv_gemm dv_tmodel_gemm(const dv_tmodel *m);

/* The number of trainable values of m. */
size_t dv_tmodel_numel(const dv_tmodel *m);
void dv_tmodel_zero_grad(dv_tmodel *m);
/* The id whose positions take the image embeddings. dv_tmodel_load reads it
 * from the directory's tokenizer (the processor's image_tag); a random model
 * has none until this is called. */
void dv_tmodel_set_image_token(dv_tmodel *m, int32_t id);
int32_t dv_tmodel_image_token(const dv_tmodel *m);
dv_param *dv_tmodel_param(dv_tmodel *m, const char *name);

/* Mean cross-entropy over the counted labels; gradients of that mean are
 * ADDED to each trainable param's g (so accumulation is the caller's sum;
 * scale by 1/steps yourself). n_counted: labels that were not ignored. */
int dv_tmodel_forward_backward(dv_tmodel *m, const dv_tsample *s, float *loss, int *n_counted,
                               const dv_ctx *ctx, dv_err *e);
/* Where a training step's time goes (seconds, ADDED to by each call), for
 * bench/: the trainer passes NULL. */
typedef enum dv_tphase {
    DV_PH_VISION_FWD, DV_PH_ALIGNER_FWD, DV_PH_DECODER_FWD, DV_PH_LOSS, DV_PH_DECODER_BWD,
    DV_PH_ALIGNER_BWD, DV_PH_VISION_BWD, DV_PH_COUNT
} dv_tphase;

typedef struct dv_tprof {
    double s[DV_PH_COUNT];
} dv_tprof;

/* The batched step's buffers (activations, work buffers, and on several
 * threads one gradient buffer per group of samples after the first), made
 * once per run and kept from step to step so that no step after the first
 * requests memory or faults pages in. n_threads: the pool's threads the
 * steps will run on (two groups each, while their gradient buffers take at
 * most 512 MiB). */
typedef struct dv_tws dv_tws;
int dv_tws_new(const dv_tmodel *m, int n_threads, dv_tws **out, dv_err *e);
void dv_tws_free(dv_tws *w);

/* n samples: the gradients ADDED are the sum over the samples of each one's
 * mean-loss gradient (as n calls of dv_tmodel_forward_backward, to float
 * rounding), loss_sum the sum of their mean losses, n_counted the labels
 * counted in all. SigLIP-only models stack the samples' rows: one matrix
 * product per layer over all images' tokens (tower, aligner) and all
 * samples' tokens (decoder), attention per sample and head. With ctx->pool
 * and ws, the batch is cut into ws's groups of consecutive samples, each
 * stacked on one of the pool's threads (one BLAS thread each) into its own
 * gradient buffer, the buffers added in group order; a batch of one sample
 * (or ws of one group) is one stack whose every pass is split over the
 * pool's threads (weight gradients summed over one row slice per thread).
 * The bits depend on the thread count only. Hybrid (SAM) models run one
 * sample after another. ws (NULL: buffers allocated for this call) keeps
 * the buffers; prof (may be NULL) receives each phase's wall time (with
 * groups: their times summed over the groups, divided by the threads). */
int dv_tmodel_forward_backward_batch(dv_tmodel *m, dv_tws *ws, const dv_tsample *s, int n,
                                     double *loss_sum, int *n_counted, dv_tprof *prof,
                                     const dv_ctx *ctx, dv_err *e);

/* Forward only: summed (not mean) negative log-likelihood over counted labels
 * (for perplexity), and optionally the logits [n_tokens, vocab]. */
int dv_tmodel_nll(dv_tmodel *m, const dv_tsample *s, double *nll_sum, int *n_counted,
                  float *logits, const dv_ctx *ctx, dv_err *e);

/* Writes config.json, model.safetensors (F32) and the processor files in the
 * original layout; copies tokenizer.json / tokenizer_config.json from
 * tokenizer_dir. docvl loads the result. */
int dv_tmodel_save(const dv_tmodel *m, const char *dir, const char *tokenizer_dir, dv_err *e);
/* The same with the weights in dtype (DV_F32, DV_F16 or DV_BF16): a 16-bit
 * copy to ship, half the bytes. */
int dv_tmodel_save_as(const dv_tmodel *m, const char *dir, const char *tokenizer_dir,
                      dv_dtype dtype, dv_err *e);

#endif
