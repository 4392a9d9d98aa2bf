/* Checkpoint averaging (docvl-train average): the element-wise mean of the
 * weights of models of one architecture. Phases continued from one another
 * lie close together in weight space, and their mean reads held-out lines
 * a little better than any of them alone (docs/training.md: the built-in
 * model is the mean of its last two phases). */
#ifndef DV_AVERAGE_H
#define DV_AVERAGE_H

#include "base/error.h"
#include "train/tmodel.h"

/* dst's weights become the mean, in double, of the n models' (dst may be
 * one of them). Every model must have dst's tensors: the same names, in the
 * same order, of the same shapes; a difference is DOCVL_EINVAL naming the
 * tensor and both shapes, with dst unchanged. */
int dv_tmodel_average(dv_tmodel *dst, const dv_tmodel *const *models, int n, dv_err *e);

/* docvl-train average: the models in dirs[0 .. n - 1] (n >= 1) averaged
 * into out_dir, an ordinary model directory with dirs[0]'s configuration,
 * tokenizer and processor files and F32 weights. */
int dv_average_dirs(const char *const *dirs, int n, const char *out_dir, dv_err *e);

#endif
