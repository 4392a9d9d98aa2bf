#include "kernels/ops.h"

#include <math.h>

#include "base/ctx.h"
#include "kernels/pool.h"

void dv_layernorm_stats(const float *x, float *y, int n, int d, const float *w, const float *b,
                        float eps, float *mean, float *rstd)
{
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        float *o = y + (size_t)i * d;
        /* double accumulation: the goldens were made in float64 and long rows
         * (4096) lose digits in a float sum */
        double mu = 0, var = 0;
        for (int j = 0; j < d; j++)
            mu += r[j];
        mu /= d;
        for (int j = 0; j < d; j++) {
            double t = r[j] - mu;
            var += t * t;
        }
        var /= d;
        float inv = (float)(1.0 / sqrt(var + eps));
        float m = (float)mu;
        if (mean)
            mean[i] = m;
        if (rstd)
            rstd[i] = inv;
        for (int j = 0; j < d; j++) {
            float v = (r[j] - m) * inv;
            if (w)
                v *= w[j];
            if (b)
                v += b[j];
            o[j] = v;
        }
    }
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
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        float *o = y + (size_t)i * d;
        double ss = 0;
        for (int j = 0; j < d; j++)
            ss += (double)r[j] * r[j];
        float inv = (float)(1.0 / sqrt(ss / d + eps));
        if (rstd)
            rstd[i] = inv;
        for (int j = 0; j < d; j++)
            o[j] = w ? (r[j] * inv) * w[j] : r[j] * inv;
    }
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

/* In runs of 16: GCC's cheap vectorizer at -O2 takes a loop of a known
 * count, and the sums are the same element by element. */
void dv_add(float *restrict y, const float *restrict x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t k = 0; k < 16; k++)
            y[i + k] += x[i + k];
    for (; i < n; i++)
        y[i] += x[i];
}
