/* The training log: one TSV row per optimizer step (step, loss, lr, grad
 * norm, tokens/s), and its plot (plot.c). */
#ifndef DV_TRAINLOG_H
#define DV_TRAINLOG_H

#include <stdio.h>

#include "base/error.h"

#define DV_TRAINLOG_HEADER "step\tloss\tlr\tgrad_norm\ttokens_per_s\n"

typedef struct dv_trainlog {
    FILE *f;
    char *path;
} dv_trainlog;

/* Opens path for appending (a resumed run continues its log); writes the
 * header when the file is new or empty. */
int dv_trainlog_open(dv_trainlog *l, const char *path, dv_err *e);
int dv_trainlog_row(dv_trainlog *l, long step, double loss, double lr, double grad_norm,
                    double tokens_per_s, dv_err *e);
int dv_trainlog_close(dv_trainlog *l, dv_err *e);

/* Reads a log back: columns step, loss, lr (malloc'ed, *n rows). Later rows
 * for a step replace earlier ones (a run resumed from an older checkpoint). */
int dv_trainlog_read(const char *path, double **step, double **loss, double **lr, int *n,
                     dv_err *e);

/* Draws loss and learning rate against step as a PNG with axes, ticks and
 * labels (Cairo). */
int dv_plot_trainlog(const char *tsv_path, const char *png_path, dv_err *e);

#endif
