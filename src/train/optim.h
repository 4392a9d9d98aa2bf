/* AdamW (decoupled weight decay, as torch.optim.AdamW) over the trainable
 * parameters of a dv_tmodel, global gradient-norm clipping, and the
 * optimizer state file that --resume reads back. */
#ifndef DV_OPTIM_H
#define DV_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/pool.h"
#include "train/tmodel.h"

typedef struct dv_adamw_opts {
    double beta1, beta2, eps;
    double weight_decay;   /* applied only to params with decay != 0 */
} dv_adamw_opts;

#define DV_ADAMW_DEFAULTS ((dv_adamw_opts){ .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, \
                                            .weight_decay = 0.0 })

typedef struct dv_adamw {
    dv_adamw_opts o;
    int n;          /* == model's n_params */
    float **m;      /* first moments; NULL for frozen params */
    float **v;      /* second moments */
    long step;      /* updates done (bias correction uses step + 1) */
    dv_pool *pool;  /* optional (the caller's): params updated side by side, same bits */
} dv_adamw;

/* Moments for every param whose part is trainable in `model` now. */
int dv_adamw_init(dv_adamw *a, const dv_tmodel *model, const dv_adamw_opts *o, dv_err *e);
void dv_adamw_free(dv_adamw *a);

/* L2 norm of (scale * g) over the trainable params, in double: each param's
 * sum of squares, then their sum in param order (the same bits whatever
 * the pool; pool may be NULL). */
double dv_grad_norm(const dv_tmodel *model, double scale);
double dv_grad_norm_pool(const dv_tmodel *model, double scale, dv_pool *pool);

/* The factor that brings a gradient of norm `norm` to at most `clip`
 * (clip <= 0: off). */
double dv_clip_factor(double norm, double clip);

/* One update with learning rate lr on gradients g * grad_scale (the caller
 * folds 1/accumulation and the clip factor into grad_scale). Frozen params
 * are not touched. */
void dv_adamw_step(dv_adamw *a, dv_tmodel *model, double lr, double grad_scale);

/* The state file: step, the moments by param name, and n_extra words of the
 * caller's (the data sampler's generator). Written to a temporary file and
 * renamed, so a crash never leaves half a state. */
int dv_adamw_save(const dv_adamw *a, const dv_tmodel *model, const uint64_t *extra, int n_extra,
                  const char *path, dv_err *e);
/* Reads a state written for the same params (matched by name and size;
 * params the file lacks start from zero moments). extra must hold n_extra. */
int dv_adamw_load(dv_adamw *a, const dv_tmodel *model, uint64_t *extra, int n_extra,
                  const char *path, dv_err *e);

#endif
