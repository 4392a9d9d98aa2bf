#include "train/grad_ops.h"

#include "kernels/ops.h"
#include "kernels/vmath.h"
#include "kernels/vnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void *fresh(size_t bytes, int zero)
{
    return zero ? calloc(1, bytes) : malloc(bytes);
}

/* A kept buffer for slot pool->used, or NULL when the slot is new or small. */
static void *reuse(tg_pool *pool, size_t bytes, int zero)
{
    if (!pool->keep || pool->used >= pool->n)
        return NULL;
    int i = pool->used;
    if (pool->size[i] < bytes) {
        void *f = fresh(bytes, zero);
        if (!f)
            return NULL;
        free(pool->p[i]);
        pool->p[i] = f;
        pool->size[i] = bytes;
        pool->used++;
        return f;
    }
    if (zero)
        memset(pool->p[i], 0, bytes);
    pool->used++;
    return pool->p[i];
}

static int grow(tg_pool *pool)
{
    int cap = pool->cap ? 2 * pool->cap : 64;
    void **p = realloc(pool->p, (size_t)cap * sizeof *p);
    if (p)
        pool->p = p;
    size_t *size = pool->keep ? realloc(pool->size, (size_t)cap * sizeof *size) : NULL;
    if (size)
        pool->size = size;
    if (!p || (pool->keep && !size))
        return -1;
    pool->cap = cap;
    return 0;
}

static void *alloc(tg_pool *pool, size_t bytes, int zero)
{
    if (pool->failed)
        return NULL;
    bytes = bytes ? bytes : 1;
    if (pool->keep && pool->used < pool->n) {
        void *f = reuse(pool, bytes, zero);
        pool->failed = !f;
        return f;
    }
    if (pool->n == pool->cap && grow(pool)) {
        pool->failed = 1;
        return NULL;
    }
    void *f = fresh(bytes, zero);
    if (!f) {
        pool->failed = 1;
        return NULL;
    }
    if (pool->keep) {
        pool->size[pool->n] = bytes;
        pool->used = pool->n + 1;
    }
    pool->p[pool->n++] = f;
    return f;
}

void *tg_alloc_bytes(tg_pool *pool, size_t bytes)
{
    return alloc(pool, bytes, 1);
}

float *tg_alloc(tg_pool *pool, size_t n)
{
    return alloc(pool, n * sizeof(float), 1);
}

float *tg_alloc_raw(tg_pool *pool, size_t n)
{
    return alloc(pool, n * sizeof(float), 0);
}

void tg_pool_free(tg_pool *pool)
{
    int keep = pool->keep;
    for (int i = 0; i < pool->n; i++)
        free(pool->p[i]);
    free(pool->p);
    free(pool->size);
    memset(pool, 0, sizeof *pool);
    pool->keep = keep;
}

void tg_pool_reset(tg_pool *pool)
{
    if (!pool->keep) {
        tg_pool_free(pool);
        return;
    }
    pool->used = 0;
    pool->failed = 0;
}

int tg_pool_check(const tg_pool *pool, const char *what, dv_err *e)
{
    return pool->failed ? dv_fail(e, DOCVL_ENOMEM, "out of memory for %s", what) : DOCVL_OK;
}

/* beta 0 writes y, 1 adds to it. Written, y starts as the bias rows and
 * the product adds to them: OpenBLAS would otherwise clear y first (beta
 * 0), and the bias take a pass of its own. */
static void linear_fwd(dv_gemm g, const float *x, const float *w, const float *b, int n, int in,
                       int out, float *y, float beta)
{
    if (n <= 0)
        return;
    int prefill = b && beta == 0.0f;
    for (int i = 0; prefill && i < n; i++)
        memcpy(y + (size_t)i * out, b, (size_t)out * sizeof *y);
    dv_sgemm(g, 0, 1, n, out, in, 1.0f, x, in, w, in, prefill ? 1.0f : beta, y, out);
    if (b && !prefill)
        dv_vadd_rows(y, (size_t)out, b, 0, (size_t)n, (size_t)out);
}

void tg_linear_fwd(dv_gemm g, const float *x, const float *w, const float *b, int n, int in,
                   int out, float *y)
{
    linear_fwd(g, x, w, b, n, in, out, y, 0.0f);
}

void tg_linear_fwd_add(dv_gemm g, const float *x, const float *w, const float *b, int n, int in,
                       int out, float *y)
{
    linear_fwd(g, x, w, b, n, in, out, y, 1.0f);
}

void tg_linear_bwd(dv_gemm g, const float *dy, const float *x, const float *w, int n, int in,
                   int out, float *dx, float *dw, float *db)
{
    if (n <= 0)
        return;
    if (dx)
        dv_sgemm(g, 0, 0, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw)
        dv_sgemm(g, 1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db)
        dv_vadd_rows(db, 0, dy, (size_t)out, (size_t)n, (size_t)out);
}

void tg_layernorm_fwd(const float *x, float *y, int n, int d, const float *w, const float *b,
                      float eps, float *mean, float *rstd)
{
    /* the inference kernel itself, so training and inference agree bit for bit */
    dv_layernorm_stats(x, y, n, d, w, b, eps, mean, rstd);
}

void tg_layernorm_bwd_rows(const float *dy, const float *x, const float *mean,
                           const float *rstd, int lo, int hi, int d, const float *w, float *dx)
{
    size_t o = (size_t)lo * d;
    dv_vlayernorm_grad(dy + o, x + o, mean + lo, rstd + lo, hi - lo, d, w, dx + o);
}

void tg_layernorm_bwd_cols(const float *dy, const float *x, const float *mean,
                           const float *rstd, int n, int d, int lo, int hi, float *dw, float *db)
{
    dv_vlayernorm_wgrad(dy, x, mean, rstd, n, d, lo, hi, dw, db);
}

void tg_layernorm_bwd(const float *dy, const float *x, const float *mean, const float *rstd,
                      int n, int d, const float *w, float *dx, float *dw, float *db)
{
    if (dx)
        tg_layernorm_bwd_rows(dy, x, mean, rstd, 0, n, d, w, dx);
    if (dw || db)
        tg_layernorm_bwd_cols(dy, x, mean, rstd, n, d, 0, d, dw, db);
}

void tg_rmsnorm_fwd(const float *x, float *y, int n, int d, const float *w, float eps,
                    float *rstd)
{
    dv_rmsnorm_stats(x, y, n, d, w, eps, rstd);
}

void tg_rmsnorm_bwd_rows(const float *dy, const float *x, const float *rstd, int lo, int hi,
                         int d, const float *w, float *dx)
{
    size_t o = (size_t)lo * d;
    dv_vrmsnorm_grad(dy + o, x + o, rstd + lo, hi - lo, d, w, dx + o);
}

void tg_rmsnorm_bwd_cols(const float *dy, const float *x, const float *rstd, int n, int d,
                         int lo, int hi, float *dw)
{
    dv_vrmsnorm_wgrad(dy, x, rstd, n, d, lo, hi, dw);
}

void tg_rmsnorm_bwd(const float *dy, const float *x, const float *rstd, int n, int d,
                    const float *w, float *dx, float *dw)
{
    if (dx)
        tg_rmsnorm_bwd_rows(dy, x, rstd, 0, n, d, w, dx);
    if (dw)
        tg_rmsnorm_bwd_cols(dy, x, rstd, n, d, 0, d, dw);
}

void tg_gelu_fwd(const float *x, float *y, size_t n)
{
    dv_vgelu_into(x, y, n);
}

void tg_gelu_bwd(const float *dy, const float *x, float *dx, size_t n)
{
    dv_vgelu_grad(dy, x, dx, n);
}

void tg_silu_mul_fwd(const float *g, const float *u, float *h, size_t n)
{
    dv_vsilu_mul_into(g, u, h, n);
}

void tg_silu_mul_bwd(const float *dh, const float *g, const float *u, float *dg, float *du,
                     size_t n)
{
    dv_vsilu_mul_grad(dh, g, u, dg, du, n);
}

/* In double, as the inference decoder: large angles lose digits in float. */
void tg_rope_tables(int pos0, int n, int hd, float theta, float *cosv, float *sinv)
{
    int half = hd / 2;
    for (int j = 0; j < half; j++) {
        double inv_freq = pow((double)theta, -2.0 * j / hd);
        for (int i = 0; i < n; i++) {
            double a = (double)(pos0 + i) * inv_freq;
            cosv[(size_t)i * half + j] = (float)cos(a);
            sinv[(size_t)i * half + j] = (float)sin(a);
        }
    }
}

void tg_rope_apply(float *x, int n, int heads, int hd, size_t stride, const float *cosv,
                   const float *sinv, int inverse)
{
    dv_vrope(x, n, heads, hd, stride, cosv, sinv, inverse ? -1.0f : 1.0f);
}

double tg_cross_entropy(float *logits, const int32_t *labels, int n, int V, float scale,
                        float *dlogits, int *n_counted)
{
    double nll = 0;
    int counted = 0;
    for (int i = 0; i < n; i++) {
        float *z = logits + (size_t)i * V;
        float *dz = dlogits ? dlogits + (size_t)i * V : NULL;
        if (labels[i] < 0) {
            if (dz)
                memset(dz, 0, (size_t)V * sizeof *dz);
            continue;
        }
        counted++;
        if (!dz) {
            nll += dv_logsumexp(z, V) - z[labels[i]];
            continue;
        }
        /* the vector exp, in float as the attention's softmax: libm's
         * double exp per logit was most of the loss's time */
        float zl = z[labels[i]];
        if (dz != z)
            memcpy(dz, z, (size_t)V * sizeof *dz);
        float mx = dv_vmax(dz, (size_t)V), sum = dv_vexp_shift_sum(dz, (size_t)V, mx);
        nll += (double)mx + log((double)sum) - zl;
        dv_vscale(dz, scale / sum, (size_t)V);
        dz[labels[i]] -= scale;
    }
    *n_counted = counted;
    return nll;
}
