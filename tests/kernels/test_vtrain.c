/* The training step's vector kernels (kernels/vmath.h's backward passes,
 * kernels/vnorm.h) against double-precision references, in both forms,
 * over lengths that are and are not multiples of the vector width; the
 * kernels whose forms must give the same bits are checked bit for bit, and
 * nothing past a row's end is written. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/vmath.h"
#include "kernels/vnorm.h"

static const size_t lens[] = { 0, 1, 7, 8, 9, 15, 31, 128, 577 };
#define N_LENS G_N_ELEMENTS(lens)
#define CANARY 12345.0f

static int n_forms(void) { return dv_cpu_has_avx2_fma() ? 2 : 1; }

static void near(double got, double want, double tol, const char *what, size_t i)
{
    if (!(fabs(got - want) <= tol))
        g_error("%s[%zu] = %.9g, want %.9g (tolerance %.3g)", what, i, got, want, tol);
}

/* n values in [lo, hi) and one canary after them. */
static float *fill(GRand *r, size_t n, double lo, double hi)
{
    float *x = g_new(float, n + 1);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)g_rand_double_range(r, lo, hi);
    x[n] = CANARY;
    return x;
}

static void canary(const float *x, size_t n, const char *what)
{
    if (x[n] != CANARY)
        g_error("%s wrote past its %zu elements", what, n);
}

static double phi(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * G_PI); }

static void test_gelu_grad(void)
{
    for (int simd = 0; simd < n_forms(); simd++) {
        GRand *r = g_rand_new_with_seed(21);
        for (size_t li = 0; li < N_LENS; li++) {
            size_t n = lens[li];
            float *x = fill(r, n, -12.0, 12.0), *dy = fill(r, n, -2.0, 2.0);
            float *dx = fill(r, n, 0.0, 1.0);
            dv_vgelu_grad_simd(dy, x, dx, n, simd);
            canary(dx, n, "gelu_grad");
            for (size_t i = 0; i < n; i++) {
                double v = x[i], cdf = 0.5 * erfc(-v / sqrt(2.0)), pdf = phi(v);
                /* the terms' size, not their sum (which crosses 0 at -0.75);
                 * exp of the float argument -x^2/2 rounds by x^2 ulps */
                double scale = fabs(dy[i]) * (cdf + fabs(v) * pdf);
                near(dx[i], dy[i] * (cdf + v * pdf), (3e-6 + 1e-7 * v * v) * scale + 1e-37,
                     "gelu_grad", i);
            }
            g_free(x), g_free(dy), g_free(dx);
        }
        g_rand_free(r);
    }
}

static void test_silu_mul_grad(void)
{
    for (int simd = 0; simd < n_forms(); simd++) {
        GRand *r = g_rand_new_with_seed(22);
        for (size_t li = 0; li < N_LENS; li++) {
            size_t n = lens[li];
            float *g = fill(r, n, -100.0, 100.0), *u = fill(r, n, -2.0, 2.0);
            float *dh = fill(r, n, -2.0, 2.0), *dg = fill(r, n, 0, 1), *du = fill(r, n, 0, 1);
            for (size_t i = 0; i < n && i < 16; i++)   /* the sigmoid's steep part too */
                g[i] = (float)g_rand_double_range(r, -4.0, 4.0);
            dv_vsilu_mul_grad_simd(dh, g, u, dg, du, n, simd);
            canary(dg, n, "silu dg");
            canary(du, n, "silu du");
            for (size_t i = 0; i < n; i++) {
                double v = g[i], s = 1.0 / (1.0 + exp(-v));
                double scale = fabs((double)dh[i] * u[i]) * (s + fabs(v) * s * (1.0 - s));
                near(dg[i], dh[i] * u[i] * s * (1.0 + v * (1.0 - s)), 4e-6 * scale + 1e-30,
                     "silu dg", i);
                near(du[i], dh[i] * v * s, 4e-6 * fabs(dh[i] * v * s) + 1e-30, "silu du", i);
            }
            g_free(g), g_free(u), g_free(dh), g_free(dg), g_free(du);
        }
        g_rand_free(r);
    }
}

static void test_softmax_grad(void)
{
    for (int simd = 0; simd < n_forms(); simd++) {
        GRand *r = g_rand_new_with_seed(23);
        for (size_t li = 0; li < N_LENS; li++) {
            size_t n = lens[li];
            float *p = fill(r, n, -4.0, 4.0), *dp = fill(r, n, -3.0, 3.0);
            float *orig = g_memdup2(dp, (n + 1) * sizeof *dp);
            double z = 0, dsum = 0, mag = 0;
            for (size_t i = 0; i < n; i++)
                z += exp(p[i]);
            for (size_t i = 0; i < n; i++) {
                p[i] = (float)(exp(p[i]) / z);
                dsum += (double)p[i] * dp[i];
                mag += p[i] * fabs(dp[i]);
            }
            dv_vsoftmax_grad_simd(p, dp, n, simd);
            canary(dp, n, "softmax_grad");
            for (size_t i = 0; i < n; i++)
                near(dp[i], p[i] * (orig[i] - dsum),
                     p[i] * (2e-7 * (fabs(orig[i]) + mag) + 1e-7 * n * mag) + 1e-30,
                     "softmax_grad", i);
            g_free(p), g_free(dp), g_free(orig);
        }
        g_rand_free(r);
    }
}

/* Kernels whose every element is the scalar form's operations: the forms
 * agree bit for bit (what a resumed run's bits rest on where no AVX2 is). */
static void test_exact_forms(void)
{
    GRand *r = g_rand_new_with_seed(24);
    for (size_t li = 0; li < N_LENS; li++) {
        size_t n = lens[li];
        float *y[2], *a[2], *b[2], *x = fill(r, n, -3, 3), *c = fill(r, n, -1, 1);
        float *s = fill(r, n, -1, 1), *y0 = fill(r, n, -3, 3), *a0 = fill(r, n, -3, 3);
        float *b0 = fill(r, n, -3, 3);
        for (int simd = 0; simd < n_forms(); simd++) {
            y[simd] = g_memdup2(y0, (n + 1) * sizeof *y0);
            a[simd] = g_memdup2(a0, (n + 1) * sizeof *a0);
            b[simd] = g_memdup2(b0, (n + 1) * sizeof *b0);
            dv_vadd_simd(y[simd], x, n, simd);
            dv_vscale_simd(y[simd], 0.37f, n, simd);
            dv_vrotate_simd(a[simd], b[simd], c, s, -1.0f, n, simd);
            canary(y[simd], n, "add/scale");
            canary(a[simd], n, "rotate a");
            canary(b[simd], n, "rotate b");
        }
        for (size_t i = 0; i < n; i++) {
            near(y[0][i], ((double)y0[i] + x[i]) * 0.37, 1e-6 * (fabs(y0[i]) + fabs(x[i])),
                 "add/scale", i);
            near(a[0][i], (double)a0[i] * c[i] + (double)b0[i] * s[i], 1e-6, "rotate a", i);
            near(b[0][i], (double)b0[i] * c[i] - (double)a0[i] * s[i], 1e-6, "rotate b", i);
        }
        for (int simd = 1; simd < n_forms(); simd++) {
            g_assert_cmpmem(y[simd], n * sizeof(float), y[0], n * sizeof(float));
            g_assert_cmpmem(a[simd], n * sizeof(float), a[0], n * sizeof(float));
            g_assert_cmpmem(b[simd], n * sizeof(float), b[0], n * sizeof(float));
        }
        for (int simd = 0; simd < n_forms(); simd++)
            g_free(y[simd]), g_free(a[simd]), g_free(b[simd]);
        g_free(x), g_free(c), g_free(s), g_free(y0), g_free(a0), g_free(b0);
    }
    g_rand_free(r);
}

/* ---- norms: rows of d with an offset (so the mean matters), weights and
 * bias near 1 and 0 ---- */

static const int dims[] = { 1, 7, 8, 9, 31, 128, 257 };

typedef struct norm_row {
    int d;
    float *x, *w, *b, *dy;
} norm_row;

static norm_row norm_row_new(GRand *r, int d)
{
    norm_row t = { d, fill(r, (size_t)d, 2.0, 5.0), fill(r, (size_t)d, 0.5, 1.5),
                   fill(r, (size_t)d, -0.5, 0.5), fill(r, (size_t)d, -1.0, 1.0) };
    return t;
}

static void norm_row_free(norm_row *t) { g_free(t->x), g_free(t->w), g_free(t->b), g_free(t->dy); }

/* Mean and 1 / std (layer norm) or 1 / rms (RMS norm) in double. */
static void ref_stats(const norm_row *t, int rms, double *mean, double *rstd)
{
    double mu = 0, var = 0;
    for (int j = 0; j < t->d; j++)
        mu += t->x[j];
    mu = rms ? 0 : mu / t->d;
    for (int j = 0; j < t->d; j++)
        var += (t->x[j] - mu) * (t->x[j] - mu);
    *mean = mu;
    *rstd = 1.0 / sqrt(var / t->d + 1e-6);
}

static void test_norm_forward(void)
{
    GRand *r = g_rand_new_with_seed(25);
    for (size_t k = 0; k < G_N_ELEMENTS(dims); k++)
        for (int rms = 0; rms < 2; rms++)
            for (int simd = 0; simd < n_forms(); simd++) {
                norm_row t = norm_row_new(r, dims[k]);
                float *y = fill(r, (size_t)t.d, 0, 1), mean = 0, rstd = 0;
                double mu, rs;
                ref_stats(&t, rms, &mu, &rs);
                if (rms)
                    dv_vrmsnorm_row_simd(t.x, y, t.d, t.w, 1e-6f, &rstd, simd);
                else
                    dv_vlayernorm_row_simd(t.x, y, t.d, t.w, t.b, 1e-6f, &mean, &rstd, simd);
                canary(y, (size_t)t.d, "norm");
                near(rstd, rs, 1e-6 * rs, "rstd", 0);
                near(mean, mu, 1e-6 * fabs(mu), "mean", 0);
                for (int j = 0; j < t.d; j++) {
                    double want = (t.x[j] - mu) * rs * t.w[j] + (rms ? 0 : t.b[j]);
                    near(y[j], want, 2e-6 * (fabs(want) + 1) + 1e-3 * (t.d == 1), "norm y",
                         (size_t)j);
                }
                g_free(y);
                norm_row_free(&t);
            }
    g_rand_free(r);
}

/* The input gradient in double from the definition: dx = rstd (gh - mean(gh)
 * - xh mean(gh xh)) for layer norm, rstd (gh - x mean(gh x) rstd^2) for RMS. */
static void test_norm_backward(void)
{
    GRand *r = g_rand_new_with_seed(26);
    for (size_t k = 0; k < G_N_ELEMENTS(dims); k++)
        for (int rms = 0; rms < 2; rms++) {
            norm_row t = norm_row_new(r, dims[k]);
            size_t d = (size_t)t.d;
            double mu, rs;
            ref_stats(&t, rms, &mu, &rs);
            float m = (float)mu, s = (float)rs;
            double sg = 0, sgx = 0;
            for (size_t j = 0; j < d; j++) {
                double gh = (double)t.dy[j] * t.w[j], xh = rms ? t.x[j] : (t.x[j] - m) * s;
                sg += gh;
                sgx += gh * xh;
            }
            float *dw[2], *db[2];
            for (int simd = 0; simd < n_forms(); simd++) {
                float *dx = fill(r, d, 1.0, 1.0);   /* adds to what is there: 1 */
                dw[simd] = fill(r, d, 1.0, 1.0);
                db[simd] = fill(r, d, 1.0, 1.0);
                if (rms) {
                    dv_vrmsnorm_grad_row_simd(t.dy, t.x, s, t.d, t.w, dx, simd);
                    dv_vrmsnorm_wgrad_row_simd(t.dy, t.x, s, d, dw[simd], simd);
                } else {
                    dv_vlayernorm_grad_row_simd(t.dy, t.x, m, s, t.d, t.w, dx, simd);
                    dv_vlayernorm_wgrad_row_simd(t.dy, t.x, m, s, d, dw[simd], db[simd], simd);
                }
                canary(dx, d, "norm dx");
                canary(dw[simd], d, "norm dw");
                canary(db[simd], d, "norm db");
                for (size_t j = 0; j < d; j++) {
                    double gh = (double)t.dy[j] * t.w[j];
                    double want = rms ? s * (gh - t.x[j] * (sgx / t.d) * s * s)
                                      : s * (gh - sg / t.d - (t.x[j] - m) * s * (sgx / t.d));
                    near(dx[j] - 1.0, want, 1e-5 * (fabs(gh) + 1) * s, "norm dx", j);
                    double xh = rms ? (double)t.x[j] * s : ((double)t.x[j] - m) * s;
                    near(dw[simd][j] - 1.0, t.dy[j] * xh, 1e-6 * (fabs(t.dy[j] * xh) + 1),
                         "norm dw", j);
                    near(db[simd][j], rms ? 1.0 : 1.0 + t.dy[j], 1e-6, "norm db", j);
                }
                g_free(dx);
            }
            for (int simd = 1; simd < n_forms(); simd++) {
                g_assert_cmpmem(dw[simd], d * sizeof(float), dw[0], d * sizeof(float));
                g_assert_cmpmem(db[simd], d * sizeof(float), db[0], d * sizeof(float));
            }
            for (int simd = 0; simd < n_forms(); simd++)
                g_free(dw[simd]), g_free(db[simd]);
            norm_row_free(&t);
        }
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vtrain/gelu-grad", test_gelu_grad);
    g_test_add_func("/vtrain/silu-mul-grad", test_silu_mul_grad);
    g_test_add_func("/vtrain/softmax-grad", test_softmax_grad);
    g_test_add_func("/vtrain/exact-forms", test_exact_forms);
    g_test_add_func("/vtrain/norm-forward", test_norm_forward);
    g_test_add_func("/vtrain/norm-backward", test_norm_backward);
    return g_test_run();
}
