/* The training step's vector kernels (kernels/vmath.h's row and backward
 * passes, kernels/vnorm.h) against double-precision references, in both
 * forms, over lengths that are and are not multiples of the vector width
 * and several rows a call; the kernels whose forms must give the same bits
 * are checked bit for bit, and nothing past a row's end is written. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/vmath.h"
#include "kernels/vnorm.h"

static const size_t lens[] = { 1, 7, 8, 9, 15, 31, 128, 577 };
#define N_LENS G_N_ELEMENTS(lens)
#define ROWS 3
#define CANARY 12345.0f

/* scalar, AVX2, AVX-512 (the exp-based kernels' third form): as many as
 * this CPU runs */
static int n_forms(void) { return 1 + dv_cpu_vec_level(); }

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

static float *copy(const float *x, size_t n) { return g_memdup2(x, (n + 1) * sizeof *x); }

static void canary(const float *x, size_t n, const char *what)
{
    if (x[n] != CANARY)
        g_error("%s wrote past its %zu elements", what, n);
}

static void same_bits(const float *a, const float *b, size_t n)
{
    g_assert_cmpmem(a, n * sizeof *a, b, n * sizeof *b);
}

static double phi(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * G_PI); }

/* One length of a test in one form, on data drawn from r. */
typedef void len_fn(GRand *r, size_t n, int simd);

/* Every length (0 too) in every form, the scalar form first; both forms
 * of a length draw the same data. */
static void each_len_and_form(len_fn *fn, guint32 seed)
{
    for (size_t li = 0; li <= N_LENS; li++)
        for (int simd = 0; simd < n_forms(); simd++) {
            GRand *r = g_rand_new_with_seed(seed + (guint32)li);
            fn(r, li ? lens[li - 1] : 0, simd);
            g_rand_free(r);
        }
}

static void gelu_grad_len(GRand *r, size_t n, int simd)
{
    float *x = fill(r, n, -12.0, 12.0), *dy = fill(r, n, -2.0, 2.0), *dx = fill(r, n, 0, 1);
    dv_vgelu_grad_simd(dy, x, dx, n, simd);
    canary(dx, n, "gelu_grad");
    for (size_t i = 0; i < n; i++) {
        double v = x[i], cdf = 0.5 * erfc(-v / sqrt(2.0)), pdf = phi(v);
        /* the terms' size, not their sum (which crosses 0 at -0.75); exp of
         * the float argument -x^2/2 rounds by x^2 ulps */
        double scale = fabs(dy[i]) * (cdf + fabs(v) * pdf);
        near(dx[i], dy[i] * (cdf + v * pdf), (3e-6 + 1e-7 * v * v) * scale + 1e-37, "gelu_grad",
             i);
    }
    g_free(x), g_free(dy), g_free(dx);
}

static void silu_mul_grad_len(GRand *r, size_t n, int simd)
{
    float *g = fill(r, n, -100.0, 100.0), *u = fill(r, n, -2.0, 2.0), *dh = fill(r, n, -2, 2);
    float *dg = fill(r, n, 0, 1), *du = fill(r, n, 0, 1);
    for (size_t i = 0; i < n && i < 16; i++)   /* the sigmoid's steep part too */
        g[i] = (float)g_rand_double_range(r, -4.0, 4.0);
    dv_vsilu_mul_grad_simd(dh, g, u, dg, du, n, simd);
    canary(dg, n, "silu dg");
    canary(du, n, "silu du");
    for (size_t i = 0; i < n; i++) {
        double v = g[i], s = 1.0 / (1.0 + exp(-v));
        double scale = fabs((double)dh[i] * u[i]) * (s + fabs(v) * s * (1.0 - s));
        near(dg[i], dh[i] * u[i] * s * (1.0 + v * (1.0 - s)), 4e-6 * scale + 1e-30, "silu dg",
             i);
        near(du[i], dh[i] * v * s, 4e-6 * fabs(dh[i] * v * s) + 1e-30, "silu du", i);
    }
    g_free(g), g_free(u), g_free(dh), g_free(dg), g_free(du);
}

/* ROWS rows of n scores, some masked (-inf) after the first. */
static float *scores(GRand *r, size_t n)
{
    float *s = fill(r, ROWS * n, -6.0, 6.0);
    for (size_t k = 1; k < ROWS * n; k += 5)
        if (k % n)
            s[k] = -INFINITY;
    return s;
}

/* Softmax and log-sum-exp of ROWS rows, then exp from the lse again. */
static void softmax_len(GRand *r, size_t n, int simd)
{
    float *s = scores(r, n), *orig = copy(s, ROWS * n), lse[ROWS + 1] = { 0 };
    lse[ROWS] = CANARY;
    dv_vsoftmax_lse_simd(s, ROWS, n, lse, simd);
    canary(s, ROWS * n, "softmax");
    canary(lse, ROWS, "softmax lse");
    float *again = copy(orig, ROWS * n);
    dv_vexp_rows_simd(again, ROWS, n, lse, simd);
    for (size_t q = 0; q < ROWS && n; q++) {
        const float *o = orig + q * n;
        double mx = -INFINITY, z = 0;
        for (size_t i = 0; i < n; i++)
            mx = o[i] > mx ? o[i] : mx;
        for (size_t i = 0; i < n; i++)
            z += exp(o[i] - mx);
        near(lse[q], mx + log(z), 1e-6 * (fabs(mx) + 1), "lse", q);
        for (size_t i = 0; i < n; i++) {
            double want = exp(o[i] - mx) / z;
            near(s[q * n + i], want, 2e-6 * want + 1e-30, "softmax", i);
            near(again[q * n + i], want, 4e-6 * want + 1e-30, "exp from lse", i);
        }
    }
    g_free(s), g_free(orig), g_free(again);
}

static void softmax_grad_len(GRand *r, size_t n, int simd)
{
    float *p = fill(r, ROWS * n, 0, 1), *dp = fill(r, ROWS * n, -3, 3), lse[ROWS];
    float *orig = copy(dp, ROWS * n);
    dv_vsoftmax_lse_simd(p, ROWS, n, lse, 0);
    dv_vsoftmax_grad_simd(p, dp, ROWS, n, simd);
    canary(dp, ROWS * n, "softmax_grad");
    for (size_t q = 0; q < ROWS; q++) {
        const float *pr = p + q * n, *o = orig + q * n;
        double dsum = 0, mag = 0;
        for (size_t i = 0; i < n; i++) {
            dsum += (double)pr[i] * o[i];
            mag += pr[i] * fabs(o[i]);
        }
        for (size_t i = 0; i < n; i++)
            near(dp[q * n + i], pr[i] * (o[i] - dsum),
                 pr[i] * (2e-7 * (fabs(o[i]) + mag) + 1e-7 * n * mag) + 1e-30, "softmax_grad",
                 i);
    }
    g_free(p), g_free(dp), g_free(orig);
}

/* Kernels whose every element is the scalar form's operations: a bias
 * added to ROWS rows, their column sums, a scale, RoPE over 2 heads of
 * half-width n; both forms agree bit for bit. */
static void exact_len(GRand *r, size_t n, int simd)
{
    static float *first[4];   /* the scalar form's results */
    size_t hd = 2 * n, row = 2 * hd + 3;   /* two heads and a gap */
    float *y = fill(r, ROWS * n, -3, 3), *b = fill(r, n, -1, 1), *sum = fill(r, n, -1, 1);
    float *x = fill(r, ROWS * row, -3, 3), *c = fill(r, ROWS * n, -1, 1);
    float *s = fill(r, ROWS * n, -1, 1);
    float *y0 = copy(y, ROWS * n), *sum0 = copy(sum, n), *x0 = copy(x, ROWS * row);
    dv_vadd_rows_simd(y, n, b, 0, ROWS, n, simd);
    dv_vadd_rows_simd(sum, 0, y0, n, ROWS, n, simd);
    dv_vscale_simd(sum, 0.37f, n, simd);
    dv_vrope_simd(x, ROWS, 2, (int)hd, row, c, s, -1.0f, simd);
    canary(y, ROWS * n, "bias rows");
    canary(sum, n, "column sums");
    canary(x, ROWS * row, "rope");
    for (size_t q = 0; q < ROWS; q++)
        for (size_t i = 0; i < n; i++) {
            size_t k = q * n + i;
            near(y[k], (double)y0[k] + b[i], 1e-6 * (fabs(y0[k]) + 1), "bias rows", k);
            const float *h = x0 + q * row + (i / n) * hd;
            near(x[q * row + i], (double)h[i] * c[k] + (double)h[i + n] * s[k], 1e-6, "rope a",
                 k);
            near(x[q * row + i + n], (double)h[i + n] * c[k] - (double)h[i] * s[k], 1e-6,
                 "rope b", k);
            near(x[q * row + 2 * hd], x0[q * row + 2 * hd], 0, "rope gap", k);
        }
    for (size_t i = 0; i < n; i++) {
        double want = sum0[i];
        for (size_t q = 0; q < ROWS; q++)
            want += y0[q * n + i];
        near(sum[i], want * 0.37, 1e-5, "column sums", i);
    }
    float *got[4] = { y, sum, x, NULL };
    size_t len[3] = { ROWS * n, n, ROWS * row };
    for (int k = 0; k < 3; k++) {
        if (simd == 0) {
            g_free(first[k]);
            first[k] = copy(got[k], len[k]);
        } else {
            same_bits(got[k], first[k], len[k]);
        }
    }
    g_free(y), g_free(b), g_free(sum), g_free(x), g_free(c), g_free(s);
    g_free(y0), g_free(sum0), g_free(x0);
}

/* GELU and the SiLU product into another buffer: the in-place bits, and
 * nothing past the end written. */
static void into_len(GRand *r, size_t n, int simd)
{
    float *x = fill(r, n, -9, 9), *u = fill(r, n, -2, 2), *y = fill(r, n, 0, 1);
    float *in_place = copy(x, n);
    dv_vgelu_into_simd(x, y, n, simd);
    dv_vgelu_simd(in_place, n, simd);
    canary(y, n, "gelu into");
    same_bits(y, in_place, n);
    memcpy(in_place, x, n * sizeof *x);
    dv_vsilu_mul_into_simd(x, u, y, n, simd);
    dv_vsilu_mul_simd(in_place, u, n, simd);
    canary(y, n, "silu into");
    same_bits(y, in_place, n);
    g_free(x), g_free(u), g_free(y), g_free(in_place);
}

static void test_into(void) { each_len_and_form(into_len, 20); }

/* GELU with its derivative in one pass: the output's bits of the GELU
 * pass, dy d (dv_vmul) the bits of the gradient pass, d written over x
 * too. */
static void and_grad_len(GRand *r, size_t n, int simd)
{
    float *x = fill(r, n, -9, 9), *dy = fill(r, n, -2, 2), *y = fill(r, n, 0, 1);
    float *d = fill(r, n, 0, 1), *want_y = fill(r, n, 0, 1), *want_dx = fill(r, n, 0, 1);
    float *in_place = copy(x, n);
    dv_vgelu_and_grad_simd(x, y, d, n, simd);
    dv_vgelu_into_simd(x, want_y, n, simd);
    dv_vgelu_grad_simd(dy, x, want_dx, n, simd);
    canary(y, n, "gelu and grad y"), canary(d, n, "gelu and grad d");
    same_bits(y, want_y, n);
    dv_vmul_simd(dy, d, d, n, simd);
    canary(d, n, "mul");
    same_bits(d, want_dx, n);
    dv_vgelu_and_grad_simd(in_place, y, in_place, n, simd);
    dv_vmul_simd(in_place, dy, in_place, n, simd);
    same_bits(in_place, want_dx, n);
    g_free(x), g_free(dy), g_free(y), g_free(d), g_free(want_y), g_free(want_dx);
    g_free(in_place);
}

static void test_and_grad(void) { each_len_and_form(and_grad_len, 26); }

/* The AVX-512 forms run the AVX2 forms' operations lane for lane: the same
 * bits element by element (the exp's sum adds in another order). */
static void wide_len(GRand *r, size_t n, int simd)
{
    if (simd != 2)
        return;
    float *x = fill(r, n, -12, 12), *u = fill(r, n, -2, 2), *dy = fill(r, n, -2, 2);
    float *a[2], *b[2], *c[2], *d[2], *e[2], sum[2];
    for (int k = 0; k < 2; k++) {
        a[k] = fill(r, n, 0, 1), b[k] = fill(r, n, 0, 1), c[k] = fill(r, n, 0, 1);
        d[k] = fill(r, n, 0, 1), e[k] = copy(x, n);
        dv_vgelu_into_simd(x, a[k], n, k + 1);
        dv_vgelu_grad_simd(dy, x, b[k], n, k + 1);
        dv_vsilu_mul_into_simd(x, u, c[k], n, k + 1);
        dv_vsilu_mul_grad_simd(dy, x, u, c[k], d[k], n, k + 1);
        sum[k] = dv_vexp_shift_sum_simd(e[k], n, 3.0f, k + 1);
        canary(a[k], n, "gelu"), canary(b[k], n, "gelu grad"), canary(c[k], n, "silu grad");
        canary(d[k], n, "silu du"), canary(e[k], n, "exp");
    }
    same_bits(a[1], a[0], n), same_bits(b[1], b[0], n), same_bits(c[1], c[0], n);
    same_bits(d[1], d[0], n), same_bits(e[1], e[0], n);
    near(sum[1], sum[0], 1e-6 * sum[0], "exp sum", n);
    for (int k = 0; k < 2; k++)
        g_free(a[k]), g_free(b[k]), g_free(c[k]), g_free(d[k]), g_free(e[k]);
    g_free(x), g_free(u), g_free(dy);
}

static void test_wide(void)
{
    if (n_forms() < 3)
        g_test_skip("no AVX-512 on this CPU");
    else
        each_len_and_form(wide_len, 19);
}
static void test_gelu_grad(void) { each_len_and_form(gelu_grad_len, 21); }
static void test_silu_mul_grad(void) { each_len_and_form(silu_mul_grad_len, 22); }
static void test_softmax(void) { each_len_and_form(softmax_len, 23); }
static void test_softmax_grad(void) { each_len_and_form(softmax_grad_len, 24); }

static void test_exact_forms(void) { each_len_and_form(exact_len, 25); }

/* ---- norms: ROWS rows of d with an offset (so the mean matters),
 * weights and bias near 1 and 0 ---- */

typedef struct norm_case {
    int d;
    float *x, *w, *b, *dy;
    double mean[ROWS], rstd[ROWS];
} norm_case;

static norm_case norm_case_new(GRand *r, int d, int rms)
{
    norm_case t = { d, fill(r, ROWS * (size_t)d, 2.0, 5.0), fill(r, (size_t)d, 0.5, 1.5),
                    fill(r, (size_t)d, -0.5, 0.5), fill(r, ROWS * (size_t)d, -1.0, 1.0),
                    { 0 }, { 0 } };
    for (int q = 0; q < ROWS; q++) {
        const float *x = t.x + (size_t)q * d;
        double mu = 0, var = 0;
        for (int j = 0; j < d && !rms; j++)
            mu += x[j] / (double)d;
        for (int j = 0; j < d; j++)
            var += (x[j] - mu) * (x[j] - mu);
        t.mean[q] = mu;
        t.rstd[q] = 1.0 / sqrt(var / d + 1e-6);
    }
    return t;
}

static void norm_case_free(norm_case *t)
{
    g_free(t->x), g_free(t->w), g_free(t->b), g_free(t->dy);
}

static void norm_forward_len(GRand *r, size_t len, int simd)
{
    int d = (int)len, rms = g_rand_boolean(r);
    norm_case t = norm_case_new(r, d, rms);
    float *y = fill(r, ROWS * len, 0, 1), mean[ROWS] = { 0 }, rstd[ROWS + 1];
    rstd[ROWS] = CANARY;
    if (rms)
        dv_vrmsnorm_simd(t.x, y, ROWS, d, t.w, 1e-6f, rstd, simd);
    else
        dv_vlayernorm_simd(t.x, y, ROWS, d, t.w, t.b, 1e-6f, mean, rstd, simd);
    canary(y, ROWS * len, "norm");
    canary(rstd, ROWS, "norm rstd");
    for (int q = 0; q < ROWS && d; q++) {
        near(rstd[q], t.rstd[q], 1e-6 * t.rstd[q], "rstd", (size_t)q);
        near(mean[q], t.mean[q], 1e-6 * t.mean[q], "mean", (size_t)q);
        for (int j = 0; j < d; j++) {
            size_t k = (size_t)q * len + (size_t)j;
            double want = (t.x[k] - t.mean[q]) * t.rstd[q] * t.w[j] + (rms ? 0 : t.b[j]);
            near(y[k], want, 2e-6 * (fabs(want) + 1) + 1e-3 * (d == 1), "norm y", k);
        }
    }
    g_free(y);
    norm_case_free(&t);
}

/* dx from the definition in double: rstd (gh - mean(gh) - xh mean(gh xh))
 * for layer norm, rstd (gh - x mean(gh x) rstd^2) for RMS norm; the weight
 * gradients of columns [1, d) only, summed over the rows. */
static void norm_backward_len(GRand *r, size_t len, int simd)
{
    static float *first[2];   /* the scalar form's dw and db */
    int d = (int)len, rms = g_rand_boolean(r), lo = d > 1;
    norm_case t = norm_case_new(r, d, rms);
    float m[ROWS], s[ROWS];
    for (int q = 0; q < ROWS; q++)
        m[q] = (float)t.mean[q], s[q] = (float)t.rstd[q];
    float *dx = fill(r, ROWS * len, 1, 1), *dw = fill(r, len, 1, 1), *db = fill(r, len, 1, 1);
    if (rms) {
        dv_vrmsnorm_grad_simd(t.dy, t.x, s, ROWS, d, t.w, dx, simd);
        dv_vrmsnorm_wgrad_simd(t.dy, t.x, s, ROWS, d, lo, d, dw, simd);
    } else {
        dv_vlayernorm_grad_simd(t.dy, t.x, m, s, ROWS, d, t.w, dx, simd);
        dv_vlayernorm_wgrad_simd(t.dy, t.x, m, s, ROWS, d, lo, d, dw, db, simd);
    }
    canary(dx, ROWS * len, "norm dx");
    canary(dw, len, "norm dw");
    canary(db, len, "norm db");
    double want_dw[len + 1], want_db[len + 1];
    for (int j = 0; j < d; j++)
        want_dw[j] = want_db[j] = 1.0;
    for (int q = 0; q < ROWS; q++) {
        const float *x = t.x + (size_t)q * d, *g = t.dy + (size_t)q * d;
        double sg = 0, sgx = 0;
        for (int j = 0; j < d; j++) {
            double gh = (double)g[j] * t.w[j], xh = rms ? x[j] : (x[j] - m[q]) * s[q];
            sg += gh;
            sgx += gh * xh;
        }
        for (int j = 0; j < d; j++) {
            double gh = (double)g[j] * t.w[j], xh = ((double)x[j] - m[q]) * s[q];
            double want = rms ? s[q] * (gh - x[j] * (sgx / d) * s[q] * s[q])
                              : s[q] * (gh - sg / d - xh * (sgx / d));
            near(dx[q * d + j] - 1.0, want, 1e-5 * (fabs(gh) + 1) * s[q], "norm dx",
                 (size_t)j);
            want_dw[j] += j >= lo ? g[j] * xh : 0;
            want_db[j] += j >= lo && !rms ? g[j] : 0;
        }
    }
    for (int j = 0; j < d; j++) {
        near(dw[j], want_dw[j], 1e-5 * (fabs(want_dw[j]) + 1), "norm dw", (size_t)j);
        near(db[j], want_db[j], 1e-5 * (fabs(want_db[j]) + 1), "norm db", (size_t)j);
    }
    if (simd == 0) {
        g_free(first[0]), g_free(first[1]);
        first[0] = copy(dw, len), first[1] = copy(db, len);
    } else {
        same_bits(dw, first[0], len);
        same_bits(db, first[1], len);
    }
    g_free(dx), g_free(dw), g_free(db);
    norm_case_free(&t);
}

static void test_norm_forward(void) { each_len_and_form(norm_forward_len, 26); }
static void test_norm_backward(void) { each_len_and_form(norm_backward_len, 27); }

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vtrain/activations-into", test_into);
    g_test_add_func("/vtrain/gelu-and-grad", test_and_grad);
    g_test_add_func("/vtrain/avx512-lanes", test_wide);
    g_test_add_func("/vtrain/gelu-grad", test_gelu_grad);
    g_test_add_func("/vtrain/silu-mul-grad", test_silu_mul_grad);
    g_test_add_func("/vtrain/softmax", test_softmax);
    g_test_add_func("/vtrain/softmax-grad", test_softmax_grad);
    g_test_add_func("/vtrain/exact-forms", test_exact_forms);
    g_test_add_func("/vtrain/norm-forward", test_norm_forward);
    g_test_add_func("/vtrain/norm-backward", test_norm_backward);
    return g_test_run();
}
