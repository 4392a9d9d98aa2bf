#include "train/average.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/tensor.h"

static int same_tensors(const dv_tmodel *a, const dv_tmodel *b, int k, dv_err *e)
{
    if (a->n_params != b->n_params)
        return dv_fail(e, DOCVL_EINVAL, "model %d has %d tensors, the first %d", k, b->n_params,
                       a->n_params);
    for (int i = 0; i < a->n_params; i++) {
        const dv_param *p = &a->params[i], *q = &b->params[i];
        int same = strcmp(p->name, q->name) == 0 && p->ndim == q->ndim && p->n == q->n;
        for (int d = 0; same && d < p->ndim; d++)
            same = p->shape[d] == q->shape[d];
        if (!same) {
            char sp[96], sq[96];
            return dv_fail(e, DOCVL_EINVAL, "tensor %d: the first model has %s %s, model %d %s %s",
                           i, p->name, dv_shape_str(p->shape, p->ndim, sp, sizeof sp), k, q->name,
                           dv_shape_str(q->shape, q->ndim, sq, sizeof sq));
        }
    }
    return DOCVL_OK;
}

int dv_tmodel_average(dv_tmodel *dst, const dv_tmodel *const *models, int n, dv_err *e)
{
    if (n < 1)
        return dv_fail(e, DOCVL_EINVAL, "averaging needs at least one model");
    for (int k = 0; k < n; k++)
        if (same_tensors(dst, models[k], k, e))
            return DOCVL_EINVAL;
    for (int i = 0; i < dst->n_params; i++)
        for (size_t j = 0; j < dst->params[i].n; j++) {
            double sum = 0;
            for (int k = 0; k < n; k++)
                sum += models[k]->params[i].w[j];
            dst->params[i].w[j] = (float)(sum / n);
        }
    return DOCVL_OK;
}

int dv_average_dirs(const char *const *dirs, int n, const char *out_dir, dv_err *e)
{
    if (n < 1)
        return dv_fail(e, DOCVL_EINVAL, "averaging needs at least one model directory");
    dv_tmodel **m = calloc((size_t)n, sizeof *m);
    if (!m)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %d models", n);
    int rc = DOCVL_OK;
    for (int k = 0; k < n && !rc; k++)
        rc = dv_tmodel_load(dirs[k], &m[k], e);
    if (!rc)
        rc = dv_tmodel_average(m[0], (const dv_tmodel *const *)m, n, e);
    if (!rc)
        rc = dv_tmodel_save(m[0], out_dir, NULL, e);
    for (int k = 0; k < n; k++)
        dv_tmodel_free(m[k]);
    free(m);
    return rc ? dv_wrap(e, "averaging %d models into %s", n, out_dir) : DOCVL_OK;
}
