#include "kernels/vnorm.h"

#include <math.h>

#include "kernels/cpu.h"
#include "kernels/simd_x86.h"

/* ---- the steps both forms share (the AVX2 rows' tails run these) ---- */

static double sum_from(const float *x, int j, int d, double acc)
{
    for (; j < d; j++)
        acc += x[j];
    return acc;
}

static double sq_dev_from(const float *x, int j, int d, double mu, double acc)
{
    for (; j < d; j++) {
        double t = x[j] - mu;
        acc += t * t;
    }
    return acc;
}

static double sq_from(const float *x, int j, int d, double acc)
{
    for (; j < d; j++)
        acc += (double)x[j] * x[j];
    return acc;
}

/* Row i's mean and 1 / std from its sums, kept where wanted. */
static float ln_stats(double mu, double var, float eps, float *mean, float *rstd, int i,
                      float *inv)
{
    *inv = (float)(1.0 / sqrt(var + eps));
    if (mean)
        mean[i] = (float)mu;
    if (rstd)
        rstd[i] = *inv;
    return (float)mu;
}

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

static float rms_stat(double ss, int d, float eps, float *rstd, int i)
{
    float inv = (float)(1.0 / sqrt(ss / d + eps));
    if (rstd)
        rstd[i] = inv;
    return inv;
}

static void rms_out(const float *x, float *y, int j, int d, float inv, const float *w)
{
    for (; j < d; j++)
        y[j] = w ? (x[j] * inv) * w[j] : x[j] * inv;
}

/* Sums of dxhat and dxhat * xhat (layer norm) from element j on. */
static void ln_grad_sums(const float *g, const float *x, int j, int d, float m, float s,
                         const float *w, double *sum_g, double *sum_gx)
{
    for (; j < d; j++) {
        float xh = (x[j] - m) * s, gh = w ? g[j] * w[j] : g[j];
        *sum_g += gh;
        *sum_gx += (double)gh * xh;
    }
}

static void ln_grad_out(const float *g, const float *x, int j, int d, float m, float s,
                        const float *w, float mg, float mgx, float *dx)
{
    for (; j < d; j++) {
        float xh = (x[j] - m) * s, gh = w ? g[j] * w[j] : g[j];
        dx[j] += s * (gh - mg - xh * mgx);
    }
}

/* Sum of dxhat * x (RMS norm) from element j on. */
static double rms_grad_dot(const float *g, const float *x, int j, int d, const float *w,
                           double dot)
{
    for (; j < d; j++)
        dot += (double)(w ? g[j] * w[j] : g[j]) * x[j];
    return dot;
}

static void rms_grad_out(const float *g, const float *x, int j, int d, float s, const float *w,
                         float c, float *dx)
{
    for (; j < d; j++) {
        float gh = w ? g[j] * w[j] : g[j];
        dx[j] += s * (gh - x[j] * c);
    }
}

static void ln_wgrad_row(const float *g, const float *x, int j, int hi, float m, float s,
                         float *dw, float *db)
{
    for (; j < hi; j++) {
        if (dw)
            dw[j] += g[j] * ((x[j] - m) * s);
        if (db)
            db[j] += g[j];
    }
}

static void rms_wgrad_row(const float *g, const float *x, int j, int hi, float s, float *dw)
{
    for (; j < hi; j++)
        dw[j] += g[j] * x[j] * s;
}

/* ---- scalar forms ---- */

static void layernorm_scalar(const float *x, float *y, int n, int d, const float *w,
                             const float *b, float eps, float *mean, float *rstd)
{
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        double mu = sum_from(r, 0, d, 0) / d;
        float inv, m = ln_stats(mu, sq_dev_from(r, 0, d, mu, 0) / d, eps, mean, rstd, i, &inv);
        ln_out(r, y + (size_t)i * d, 0, d, m, inv, w, b);
    }
}

static void rmsnorm_scalar(const float *x, float *y, int n, int d, const float *w, float eps,
                           float *rstd)
{
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        rms_out(r, y + (size_t)i * d, 0, d, rms_stat(sq_from(r, 0, d, 0), d, eps, rstd, i), w);
    }
}

static void ln_grad_scalar(const float *dy, const float *x, const float *mean, const float *rstd,
                           int n, int d, const float *w, float *dx)
{
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * d;
        double sum_g = 0, sum_gx = 0;
        ln_grad_sums(dy + o, x + o, 0, d, mean[i], rstd[i], w, &sum_g, &sum_gx);
        ln_grad_out(dy + o, x + o, 0, d, mean[i], rstd[i], w, (float)(sum_g / d),
                    (float)(sum_gx / d), dx + o);
    }
}

static void rms_grad_scalar(const float *dy, const float *x, const float *rstd, int n, int d,
                            const float *w, float *dx)
{
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * d;
        float s = rstd[i], c = (float)(rms_grad_dot(dy + o, x + o, 0, d, w, 0) / d) * s * s;
        rms_grad_out(dy + o, x + o, 0, d, s, w, c, dx + o);
    }
}

static void ln_wgrad_scalar(const float *dy, const float *x, const float *mean, const float *rstd,
                            int n, int d, int lo, int hi, float *dw, float *db)
{
    for (int i = 0; i < n; i++)
        ln_wgrad_row(dy + (size_t)i * d, x + (size_t)i * d, lo, hi, mean[i], rstd[i], dw, db);
}

static void rms_wgrad_scalar(const float *dy, const float *x, const float *rstd, int n, int d,
                             int lo, int hi, float *dw)
{
    for (int i = 0; i < n; i++)
        rms_wgrad_row(dy + (size_t)i * d, x + (size_t)i * d, lo, hi, rstd[i], dw);
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

AVX2 static inline void layernorm_row_avx2(const float *x, float *y, int d, const float *w,
                                           const float *b, float eps, float *mean, float *rstd,
                                           int i)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        s0 = _mm256_add_pd(s0, lo_pd(v));
        s1 = _mm256_add_pd(s1, hi_pd(v));
    }
    double mu = sum_from(x, j, d, hsum4d(_mm256_add_pd(s0, s1))) / d;
    __m256d vmu = _mm256_set1_pd(mu);
    s0 = s1 = _mm256_setzero_pd();
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        __m256d t0 = _mm256_sub_pd(lo_pd(v), vmu), t1 = _mm256_sub_pd(hi_pd(v), vmu);
        s0 = _mm256_fmadd_pd(t0, t0, s0);
        s1 = _mm256_fmadd_pd(t1, t1, s1);
    }
    double var = sq_dev_from(x, j, d, mu, hsum4d(_mm256_add_pd(s0, s1))) / d;
    float inv, m = ln_stats(mu, var, eps, mean, rstd, i, &inv);
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

AVX2 static void layernorm_avx2(const float *x, float *y, int n, int d, const float *w,
                                const float *b, float eps, float *mean, float *rstd)
{
    for (int i = 0; i < n; i++)
        layernorm_row_avx2(x + (size_t)i * d, y + (size_t)i * d, d, w, b, eps, mean, rstd, i);
}

AVX2 static inline void rmsnorm_row_avx2(const float *x, float *y, int d, const float *w,
                                         float eps, float *rstd, int i)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        __m256d a = lo_pd(v), c = hi_pd(v);
        s0 = _mm256_fmadd_pd(a, a, s0);
        s1 = _mm256_fmadd_pd(c, c, s1);
    }
    float inv = rms_stat(sq_from(x, j, d, hsum4d(_mm256_add_pd(s0, s1))), d, eps, rstd, i);
    __m256 vi = _mm256_set1_ps(inv);
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j), vi);
        _mm256_storeu_ps(y + j, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + j)) : v);
    }
    rms_out(x, y, j, d, inv, w);
}

AVX2 static void rmsnorm_avx2(const float *x, float *y, int n, int d, const float *w, float eps,
                              float *rstd)
{
    for (int i = 0; i < n; i++)
        rmsnorm_row_avx2(x + (size_t)i * d, y + (size_t)i * d, d, w, eps, rstd, i);
}

AVX2 static inline void ln_grad_row_avx2(const float *g, const float *x, float m, float s, int d,
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
    ln_grad_sums(g, x, j, d, m, s, w, &sum_g, &sum_gx);
    float mg = (float)(sum_g / d), mgx = (float)(sum_gx / d);
    __m256 vmg = _mm256_set1_ps(mg), vmgx = _mm256_set1_ps(mgx);
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vs);
        __m256 t = _mm256_sub_ps(_mm256_sub_ps(weighted(g, w, j), vmg), _mm256_mul_ps(xh, vmgx));
        _mm256_storeu_ps(dx + j, _mm256_add_ps(_mm256_loadu_ps(dx + j), _mm256_mul_ps(vs, t)));
    }
    ln_grad_out(g, x, j, d, m, s, w, mg, mgx, dx);
}

AVX2 static void ln_grad_avx2(const float *dy, const float *x, const float *mean,
                              const float *rstd, int n, int d, const float *w, float *dx)
{
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * d;
        ln_grad_row_avx2(dy + o, x + o, mean[i], rstd[i], d, w, dx + o);
    }
}

AVX2 static inline void rms_grad_row_avx2(const float *g, const float *x, float s, int d,
                                          const float *w, float *dx)
{
    __m256d acc = _mm256_setzero_pd();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 gh = weighted(g, w, j), v = _mm256_loadu_ps(x + j);
        acc = _mm256_fmadd_pd(lo_pd(gh), lo_pd(v), acc);
        acc = _mm256_fmadd_pd(hi_pd(gh), hi_pd(v), acc);
    }
    float c = (float)(rms_grad_dot(g, x, j, d, w, hsum4d(acc)) / d) * s * s;
    __m256 vs = _mm256_set1_ps(s), vc = _mm256_set1_ps(c);
    for (j = 0; j + 8 <= d; j += 8) {
        __m256 t = _mm256_sub_ps(weighted(g, w, j), _mm256_mul_ps(_mm256_loadu_ps(x + j), vc));
        _mm256_storeu_ps(dx + j, _mm256_add_ps(_mm256_loadu_ps(dx + j), _mm256_mul_ps(vs, t)));
    }
    rms_grad_out(g, x, j, d, s, w, c, dx);
}

AVX2 static void rms_grad_avx2(const float *dy, const float *x, const float *rstd, int n, int d,
                               const float *w, float *dx)
{
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * d;
        rms_grad_row_avx2(dy + o, x + o, rstd[i], d, w, dx + o);
    }
}

AVX2 static void ln_wgrad_avx2(const float *dy, const float *x, const float *mean,
                               const float *rstd, int n, int d, int lo, int hi, float *dw,
                               float *db)
{
    for (int i = 0; i < n; i++) {
        const float *g = dy + (size_t)i * d, *r = x + (size_t)i * d;
        __m256 vm = _mm256_set1_ps(mean[i]), vs = _mm256_set1_ps(rstd[i]);
        int j = lo;
        for (; j + 8 <= hi; j += 8) {
            __m256 vg = _mm256_loadu_ps(g + j);
            if (dw) {
                __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(r + j), vm), vs);
                _mm256_storeu_ps(dw + j,
                                 _mm256_add_ps(_mm256_loadu_ps(dw + j), _mm256_mul_ps(vg, xh)));
            }
            if (db)
                _mm256_storeu_ps(db + j, _mm256_add_ps(_mm256_loadu_ps(db + j), vg));
        }
        ln_wgrad_row(g, r, j, hi, mean[i], rstd[i], dw, db);
    }
}

AVX2 static void rms_wgrad_avx2(const float *dy, const float *x, const float *rstd, int n, int d,
                                int lo, int hi, float *dw)
{
    for (int i = 0; i < n; i++) {
        const float *g = dy + (size_t)i * d, *r = x + (size_t)i * d;
        __m256 vs = _mm256_set1_ps(rstd[i]);
        int j = lo;
        for (; j + 8 <= hi; j += 8) {
            __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(g + j), _mm256_loadu_ps(r + j)),
                                     vs);
            _mm256_storeu_ps(dw + j, _mm256_add_ps(_mm256_loadu_ps(dw + j), t));
        }
        rms_wgrad_row(g, r, j, hi, rstd[i], dw);
    }
}
#endif

/* ---- dispatch ---- */

void dv_vlayernorm_simd(const float *x, float *y, int n, int d, const float *w, const float *b,
                        float eps, float *mean, float *rstd, int simd)
{
    DV_PICK(simd, layernorm_avx2(x, y, n, d, w, b, eps, mean, rstd),
            layernorm_scalar(x, y, n, d, w, b, eps, mean, rstd));
}

void dv_vrmsnorm_simd(const float *x, float *y, int n, int d, const float *w, float eps,
                      float *rstd, int simd)
{
    DV_PICK(simd, rmsnorm_avx2(x, y, n, d, w, eps, rstd), rmsnorm_scalar(x, y, n, d, w, eps, rstd));
}

void dv_vlayernorm_grad_simd(const float *dy, const float *x, const float *mean,
                             const float *rstd, int n, int d, const float *w, float *dx, int simd)
{
    DV_PICK(simd, ln_grad_avx2(dy, x, mean, rstd, n, d, w, dx),
            ln_grad_scalar(dy, x, mean, rstd, n, d, w, dx));
}

void dv_vrmsnorm_grad_simd(const float *dy, const float *x, const float *rstd, int n, int d,
                           const float *w, float *dx, int simd)
{
    DV_PICK(simd, rms_grad_avx2(dy, x, rstd, n, d, w, dx),
            rms_grad_scalar(dy, x, rstd, n, d, w, dx));
}

void dv_vlayernorm_wgrad_simd(const float *dy, const float *x, const float *mean,
                              const float *rstd, int n, int d, int lo, int hi, float *dw,
                              float *db, int simd)
{
    DV_PICK(simd, ln_wgrad_avx2(dy, x, mean, rstd, n, d, lo, hi, dw, db),
            ln_wgrad_scalar(dy, x, mean, rstd, n, d, lo, hi, dw, db));
}

void dv_vrmsnorm_wgrad_simd(const float *dy, const float *x, const float *rstd, int n, int d,
                            int lo, int hi, float *dw, int simd)
{
    DV_PICK(simd, rms_wgrad_avx2(dy, x, rstd, n, d, lo, hi, dw),
            rms_wgrad_scalar(dy, x, rstd, n, d, lo, hi, dw));
}

void dv_vlayernorm(const float *x, float *y, int n, int d, const float *w, const float *b,
                   float eps, float *mean, float *rstd)
{
    dv_vlayernorm_simd(x, y, n, d, w, b, eps, mean, rstd, 1);
}

void dv_vrmsnorm(const float *x, float *y, int n, int d, const float *w, float eps, float *rstd)
{
    dv_vrmsnorm_simd(x, y, n, d, w, eps, rstd, 1);
}

void dv_vlayernorm_grad(const float *dy, const float *x, const float *mean, const float *rstd,
                        int n, int d, const float *w, float *dx)
{
    dv_vlayernorm_grad_simd(dy, x, mean, rstd, n, d, w, dx, 1);
}

void dv_vrmsnorm_grad(const float *dy, const float *x, const float *rstd, int n, int d,
                      const float *w, float *dx)
{
    dv_vrmsnorm_grad_simd(dy, x, rstd, n, d, w, dx, 1);
}

void dv_vlayernorm_wgrad(const float *dy, const float *x, const float *mean, const float *rstd,
                         int n, int d, int lo, int hi, float *dw, float *db)
{
    dv_vlayernorm_wgrad_simd(dy, x, mean, rstd, n, d, lo, hi, dw, db, 1);
}

void dv_vrmsnorm_wgrad(const float *dy, const float *x, const float *rstd, int n, int d, int lo,
                       int hi, float *dw)
{
    dv_vrmsnorm_wgrad_simd(dy, x, rstd, n, d, lo, hi, dw, 1);
}
