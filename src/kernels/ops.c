#include "kernels/ops.h"

#include <math.h>

#include "base/ctx.h"
#include "kernels/pool.h"
#include "kernels/vmath.h"
#include "kernels/vnorm.h"

/* The vector kernels (kernels/vnorm.h), which the trainer's backward
 * passes match. */
void dv_layernorm_stats(const float *x, float *y, int n, int d, const float *w, const float *b,
                        float eps, float *mean, float *rstd)
{
    dv_vlayernorm(x, y, n, d, w, b, eps, mean, rstd);
}

void dv_layernorm(const float *x, float *y, int n, int d, const float *w, const float *b, float eps)
{
    dv_layernorm_stats(x, y, n, d, w, b, eps, NULL, NULL);
}

typedef struct ln_job {
    const float *x, *w, *b;
    float *y, eps;
    int d;
} ln_job;

static void ln_rows(void *arg, int lo, int hi)
{
    const ln_job *j = arg;
    size_t off = (size_t)lo * j->d;
    dv_layernorm_stats(j->x + off, j->y + off, hi - lo, j->d, j->w, j->b, j->eps, NULL, NULL);
}

void dv_layernorm_ctx(const float *x, float *y, int n, int d, const float *w, const float *b,
                      float eps, const dv_ctx *ctx)
{
    ln_job j = { x, w, b, y, eps, d };
    /* rows of ~1000 floats: 64 of them are worth handing to a thread */
    dv_pool_for(ctx ? ctx->pool : NULL, n, 64, ln_rows, &j);
}

void dv_rmsnorm_stats(const float *x, float *y, int n, int d, const float *w, float eps,
                      float *rstd)
{
    dv_vrmsnorm(x, y, n, d, w, eps, rstd);
}

void dv_rmsnorm(const float *x, float *y, int n, int d, const float *w, float eps)
{
    dv_rmsnorm_stats(x, y, n, d, w, eps, NULL);
}


void dv_softmax(float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void dv_add(float *restrict y, const float *restrict x, size_t n) { dv_vadd(y, x, n); }
