#include "kernels/vnorm.h"

#include <math.h>

#include "kernels/cpu.h"
#include "kernels/simd_x86.h"

/* ---- the per-element steps both forms share (their tails run these) ---- */

static void ln_out(const float *x, float *y, int j, int d, float m, float inv, const float *w,
                   const float *b)
{
    for (; j < d; j++) {
        float v = (x[j] - m) * inv;
        if (w)
            v *= w[j];
        if (b)
            v += b[j];
        y[j] = v;
    }
}

static void rms_out(const float *x, float *y, int j, int d, float inv, const float *w)
{
    for (; j < d; j++)
        y[j] = w ? (x[j] * inv) * w[j] : x[j] * inv;
}

static void ln_grad_out(const float *g, const float *x, int j, int d, float m, float s,
                        const float *w, float mg, float mgx, float *dx)
{
    for (; j < d; j++) {
        float xh = (x[j] - m) * s, gh = w ? g[j] * w[j] : g[j];
        dx[j] += s * (gh - mg - xh * mgx);
    }
}

static void rms_grad_out(const float *g, const float *x, int j, int d, float s, const float *w,
                         float c, float *dx)
{
    for (; j < d; j++) {
        float gh = w ? g[j] * w[j] : g[j];
        dx[j] += s * (gh - x[j] * c);
    }
}

static void ln_wgrad(const float *g, const float *x, size_t j, size_t n, float m, float s,
                     float *dw, float *db)
{
    for (; j < n; j++) {
        if (dw)
            dw[j] += g[j] * ((x[j] - m) * s);
        if (db)
            db[j] += g[j];
    }
}

static void rms_wgrad(const float *g, const float *x, size_t j, size_t n, float s, float *dw)
{
    for (; j < n; j++)
        dw[j] += g[j] * x[j] * s;
}

/* ---- scalar forms ---- */

static void layernorm_scalar(const float *x, float *y, int d, const float *w, const float *b,
                             float eps, float *mean, float *rstd)
{
    double mu = 0, var = 0;
    for (int j = 0; j < d; j++)
        mu += x[j];
    mu /= d;
    for (int j = 0; j < d; j++) {
        double t = x[j] - mu;
        var += t * t;
    }
    var /= d;
    float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mu;
    if (mean)
        *mean = m;
    if (rstd)
        *rstd = inv;
    ln_out(x, y, 0, d, m, inv, w, b);
}

static void rmsnorm_scalar(const float *x, float *y, int d, const float *w, float eps,
                           float *rstd)
{
    double ss = 0;
    for (int j = 0; j < d; j++)
        ss += (double)x[j] * x[j];
    float inv = (float)(1.0 / sqrt(ss / d + eps));
    if (rstd)
        *rstd = inv;
    rms_out(x, y, 0, d, inv, w);
}

/* Sums of dxhat and dxhat * xhat over the row, for their means. */
static void ln_grad_scalar(const float *g, const float *x, float m, float s, int d,
                           const float *w, float *dx)
{
    double sum_g = 0, sum_gx = 0;
    for (int j = 0; j < d; j++) {
        float xh = (x[j] - m) * s, gh = w ? g[j] * w[j] : g[j];
        sum_g += gh;
        sum_gx += (double)gh * xh;
    }
    ln_grad_out(g, x, 0, d, m, s, w, (float)(sum_g / d), (float)(sum_gx / d), dx);
}

static void rms_grad_scalar(const float *g, const float *x, float s, int d, const float *w,
                            float *dx)
{
    double dot = 0;   /* sum of dxhat * x */
    for (int j = 0; j < d; j++) {
        float gh = w ? g[j] * w[j] : g[j];
        dot += (double)gh * x[j];
    }
    rms_grad_out(g, x, 0, d, s, w, (float)(dot / d) * s * s, dx);
}

/* ---- AVX2 + FMA forms: double sums in four lanes, eight floats a step ---- */

#if DV_X86
AVX2 static inline __m256d lo_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
AVX2 static inline __m256d hi_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

AVX2 static inline double hsum4d(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* gh = g w (or g) of 8 elements. */
AVX2 static inline __m256 weighted(const float *g, const float *w, int j)
{
    __m256 v = _mm256_loadu_ps(g + j);
    return w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + j)) : v;
}

AVX2 static void layernorm_avx2(const float *x, float *y, int d, const float *w, const float *b,
                                float eps, float *mean, float *rstd)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        s0 = _mm256_add_pd(s0, lo_pd(v));
        s1 = _mm256_add_pd(s1, hi_pd(v));
    }
    double mu = hsum4d(_mm256_add_pd(s0, s1));
    for (; j < d; j++)
        mu += x[j];
    mu /= d;
    __m256d vmu = _mm256_set1_pd(mu);
    s0 = s1 = _mm256_setzero_pd();
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        __m256d t0 = _mm256_sub_pd(lo_pd(v), vmu), t1 = _mm256_sub_pd(hi_pd(v), vmu);
        s0 = _mm256_fmadd_pd(t0, t0, s0);
        s1 = _mm256_fmadd_pd(t1, t1, s1);
    }
    double var = hsum4d(_mm256_add_pd(s0, s1));
    for (; j < d; j++) {
        double t = x[j] - mu;
        var += t * t;
    }
    var /= d;
    float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mu;
    if (mean)
        *mean = m;
    if (rstd)
        *rstd = inv;
    __m256 vm = _mm256_set1_ps(m), vi = _mm256_set1_ps(inv);
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vi);
        if (w)
            v = _mm256_mul_ps(v, _mm256_loadu_ps(w + j));
        if (b)
            v = _mm256_add_ps(v, _mm256_loadu_ps(b + j));
        _mm256_storeu_ps(y + j, v);
    }
    ln_out(x, y, j, d, m, inv, w, b);
}

AVX2 static void rmsnorm_avx2(const float *x, float *y, int d, const float *w, float eps,
                              float *rstd)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        __m256d a = lo_pd(v), c = hi_pd(v);
        s0 = _mm256_fmadd_pd(a, a, s0);
        s1 = _mm256_fmadd_pd(c, c, s1);
    }
    double ss = hsum4d(_mm256_add_pd(s0, s1));
    for (; j < d; j++)
        ss += (double)x[j] * x[j];
    float inv = (float)(1.0 / sqrt(ss / d + eps));
    if (rstd)
        *rstd = inv;
    __m256 vi = _mm256_set1_ps(inv);
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), vi);
        _mm256_storeu_ps(y + j, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + j)) : v);
    }
    rms_out(x, y, j, d, inv, w);
}

AVX2 static void ln_grad_avx2(const float *g, const float *x, float m, float s, int d,
                              const float *w, float *dx)
{
    __m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(s);
    __m256d sg = _mm256_setzero_pd(), sgx = _mm256_setzero_pd();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vs);
        __m256 gh = weighted(g, w, j);
        sg = _mm256_add_pd(sg, _mm256_add_pd(lo_pd(gh), hi_pd(gh)));
        sgx = _mm256_fmadd_pd(lo_pd(gh), lo_pd(xh), sgx);
        sgx = _mm256_fmadd_pd(hi_pd(gh), hi_pd(xh), sgx);
    }
    double sum_g = hsum4d(sg), sum_gx = hsum4d(sgx);
    for (int k = j; k < d; k++) {
        float xh = (x[k] - m) * s, gh = w ? g[k] * w[k] : g[k];
        sum_g += gh;
        sum_gx += (double)gh * xh;
    }
    float mg = (float)(sum_g / d), mgx = (float)(sum_gx / d);
    __m256 vmg = _mm256_set1_ps(mg), vmgx = _mm256_set1_ps(mgx);
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vs);
        __m256 t = _mm256_sub_ps(_mm256_sub_ps(weighted(g, w, j), vmg), _mm256_mul_ps(xh, vmgx));
        _mm256_storeu_ps(dx + j, _mm256_add_ps(_mm256_loadu_ps(dx + j), _mm256_mul_ps(vs, t)));
    }
    ln_grad_out(g, x, j, d, m, s, w, mg, mgx, dx);
}

AVX2 static void rms_grad_avx2(const float *g, const float *x, float s, int d, const float *w,
                               float *dx)
{
    __m256d acc = _mm256_setzero_pd();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 gh = weighted(g, w, j), v = _mm256_loadu_ps(x + j);
        acc = _mm256_fmadd_pd(lo_pd(gh), lo_pd(v), acc);
        acc = _mm256_fmadd_pd(hi_pd(gh), hi_pd(v), acc);
    }
    double dot = hsum4d(acc);
    for (int k = j; k < d; k++)
        dot += (double)(w ? g[k] * w[k] : g[k]) * x[k];
    float c = (float)(dot / d) * s * s;
    __m256 vs = _mm256_set1_ps(s), vc = _mm256_set1_ps(c);
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 t = _mm256_sub_ps(weighted(g, w, j), _mm256_mul_ps(_mm256_loadu_ps(x + j), vc));
        _mm256_storeu_ps(dx + j, _mm256_add_ps(_mm256_loadu_ps(dx + j), _mm256_mul_ps(vs, t)));
    }
    rms_grad_out(g, x, j, d, s, w, c, dx);
}

AVX2 static void ln_wgrad_avx2(const float *g, const float *x, float m, float s, size_t n,
                               float *dw, float *db)
{
    __m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(s);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 vg = _mm256_loadu_ps(g + j);
        if (dw) {
            __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vs);
            _mm256_storeu_ps(dw + j, _mm256_add_ps(_mm256_loadu_ps(dw + j), _mm256_mul_ps(vg, xh)));
        }
        if (db)
            _mm256_storeu_ps(db + j, _mm256_add_ps(_mm256_loadu_ps(db + j), vg));
    }
    ln_wgrad(g, x, j, n, m, s, dw, db);
}

AVX2 static void rms_wgrad_avx2(const float *g, const float *x, float s, size_t n, float *dw)
{
    __m256 vs = _mm256_set1_ps(s);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(g + j), _mm256_loadu_ps(x + j)), vs);
        _mm256_storeu_ps(dw + j, _mm256_add_ps(_mm256_loadu_ps(dw + j), t));
    }
    rms_wgrad(g, x, j, n, s, dw);
}
#endif

/* ---- dispatch ---- */


void dv_vlayernorm_row_simd(const float *x, float *y, int d, const float *w, const float *b,
                            float eps, float *mean, float *rstd, int simd)
{
    DV_PICK(simd, layernorm_avx2(x, y, d, w, b, eps, mean, rstd),
            layernorm_scalar(x, y, d, w, b, eps, mean, rstd));
}

void dv_vrmsnorm_row_simd(const float *x, float *y, int d, const float *w, float eps,
                          float *rstd, int simd)
{
    DV_PICK(simd, rmsnorm_avx2(x, y, d, w, eps, rstd), rmsnorm_scalar(x, y, d, w, eps, rstd));
}

void dv_vlayernorm_grad_row_simd(const float *dy, const float *x, float mean, float rstd, int d,
                                 const float *w, float *dx, int simd)
{
    DV_PICK(simd, ln_grad_avx2(dy, x, mean, rstd, d, w, dx),
            ln_grad_scalar(dy, x, mean, rstd, d, w, dx));
}

void dv_vrmsnorm_grad_row_simd(const float *dy, const float *x, float rstd, int d,
                               const float *w, float *dx, int simd)
{
    DV_PICK(simd, rms_grad_avx2(dy, x, rstd, d, w, dx), rms_grad_scalar(dy, x, rstd, d, w, dx));
}

void dv_vlayernorm_wgrad_row_simd(const float *dy, const float *x, float mean, float rstd,
                                  size_t n, float *dw, float *db, int simd)
{
    DV_PICK(simd, ln_wgrad_avx2(dy, x, mean, rstd, n, dw, db),
            ln_wgrad(dy, x, 0, n, mean, rstd, dw, db));
}

void dv_vrmsnorm_wgrad_row_simd(const float *dy, const float *x, float rstd, size_t n,
                                float *dw, int simd)
{
    DV_PICK(simd, rms_wgrad_avx2(dy, x, rstd, n, dw), rms_wgrad(dy, x, 0, n, rstd, dw));
}

void dv_vlayernorm_row(const float *x, float *y, int d, const float *w, const float *b,
                       float eps, float *mean, float *rstd)
{
    dv_vlayernorm_row_simd(x, y, d, w, b, eps, mean, rstd, 1);
}

void dv_vrmsnorm_row(const float *x, float *y, int d, const float *w, float eps, float *rstd)
{
    dv_vrmsnorm_row_simd(x, y, d, w, eps, rstd, 1);
}

void dv_vlayernorm_grad_row(const float *dy, const float *x, float mean, float rstd, int d,
                            const float *w, float *dx)
{
    dv_vlayernorm_grad_row_simd(dy, x, mean, rstd, d, w, dx, 1);
}

void dv_vrmsnorm_grad_row(const float *dy, const float *x, float rstd, int d, const float *w,
                          float *dx)
{
    dv_vrmsnorm_grad_row_simd(dy, x, rstd, d, w, dx, 1);
}

void dv_vlayernorm_wgrad_row(const float *dy, const float *x, float mean, float rstd, size_t n,
                             float *dw, float *db)
{
    dv_vlayernorm_wgrad_row_simd(dy, x, mean, rstd, n, dw, db, 1);
}

void dv_vrmsnorm_wgrad_row(const float *dy, const float *x, float rstd, size_t n, float *dw)
{
    dv_vrmsnorm_wgrad_row_simd(dy, x, rstd, n, dw, 1);
}
