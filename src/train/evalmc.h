/* Multiple-choice perplexity evaluation (DeepSeek-VL's way of watching
 * progress): for each question, image + question + each option; the option
 * whose tokens have the lowest mean negative log-likelihood is the answer. */
#ifndef DV_EVALMC_H
#define DV_EVALMC_H

#include <stdio.h>

#include "base/ctx.h"
#include "base/error.h"
#include "train/mask.h"
#include "train/tmodel.h"

typedef struct dv_mc_item {
    char *image;       /* NULL: a question without image */
    char *question;
    int n_options;
    char **options;
    int answer;        /* index into options */
} dv_mc_item;

typedef struct dv_mc_set {
    long n;
    dv_mc_item *items;
} dv_mc_set;

/* JSONL of {"image", "question", "options": [...], "answer"}; answer is the
 * option's index, its letter ("A", "B", ...) or its text. Relative image
 * paths are resolved against the file's directory. */
int dv_mc_load(const char *path, dv_mc_set *s, dv_err *e);
int dv_mc_parse(const char *text, size_t len, const char *base_dir, const char *what,
                dv_mc_set *s, dv_err *e);
void dv_mc_free(dv_mc_set *s);

typedef struct dv_mc_result {
    long n, correct;
    double accuracy;
} dv_mc_result;

/* Scores every item. so: the sequence options (tokenizer, image tag; its
 * supervise/answer_eos are set here: option tokens only). report (may be
 * NULL) gets one line per item. */
int dv_evalmc(dv_tmodel *m, const dv_seq_opts *so, const dv_mc_set *s, dv_mc_result *r,
              FILE *report, const dv_ctx *ctx, dv_err *e);

#endif
