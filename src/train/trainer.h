/* The training loop around the engine: model and data in, optimizer steps
 * with accumulation and clipping, a TSV log, checkpoints in the layout docvl
 * loads plus the optimizer state that --resume continues from bit for bit. */
#ifndef DV_TRAINER_H
#define DV_TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "base/ctx.h"
#include "base/error.h"
#include "train/mix.h"

#define DV_TRAIN_MAX_OVERRIDES 16
#define DV_TRAIN_STATE_FILE "optimizer.bin"
#define DV_TRAIN_LOG_FILE "train.tsv"
#define DV_TRAIN_PLOT_FILE "train.png"

typedef struct dv_train_opts {
    const char *model_dir;      /* start from these weights, or */
    const char *init_config;    /* a config.json, or a model directory's configuration,
                                   initialised at random from seed */
    const char *tokenizer_dir;  /* default: model_dir (or resume_dir) */
    const char *from_dir;       /* a checkpoint whose tensors of the same name and shape
                                   replace the model's (a warm start); not with resume_dir */
    int stage;                  /* 1, 2, 3 */
    int ctc;                    /* the reading warm-up: CTC of each answer over its
                                   image's columns (dv_tsample.ctc_target) */
    int n_overrides;
    const char *overrides[DV_TRAIN_MAX_OVERRIDES];   /* "siglip=off" */
    const char *data;           /* manifest.jsonl (may be NULL with text) */
    const char *text;           /* corpus for language-only samples (may be NULL) */
    dv_mix mix;
    long steps;                 /* total optimizer steps (the schedule's length) */
    long stop_after;            /* stop (and save) after this step; 0: at steps */
    double lr, min_lr;
    long warmup;
    int batch, accum;           /* samples per micro-step, micro-steps per step */
    double clip, weight_decay;
    uint64_t seed;
    int max_tokens;             /* per sample; 0: the model's context */
    const char *out_dir;
    const char *resume_dir;     /* a previous out_dir */
    long save_every;            /* 0: only at the end */
    FILE *progress;             /* one line per step, or NULL */
} dv_train_opts;

void dv_train_opts_default(dv_train_opts *o);

typedef struct dv_train_report {
    long steps_done;            /* steps this run took */
    double last_loss;
    double tokens_per_s;        /* over the whole run */
} dv_train_report;

int dv_train_run(const dv_train_opts *o, dv_train_report *rep, const dv_ctx *ctx, dv_err *e);

#endif
