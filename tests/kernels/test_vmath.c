/* Vectorised exp, GELU and SiLU against double-precision references over
 * their whole useful range, tails and odd lengths included, in both forms. */
#include <glib.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu.h"
#include "kernels/vmath.h"

static const size_t lens[] = { 0, 1, 7, 8, 9, 31, 577, 4096 };
#define N_LENS (sizeof lens / sizeof lens[0])

/* scalar, AVX2, AVX-512: as many as this CPU runs */
static int n_forms(void) { return 1 + dv_cpu_vec_level(); }

/* |got - want| within rel of |want|, or within abs for values near 0. */
static void close_to(double got, double want, double rel, double abs_tol, const char *what,
                     double arg)
{
    if (fabs(got - want) > rel * fabs(want) + abs_tol)
        g_error("%s(%.9g) = %.9g, want %.9g (rel err %.3g)", what, arg, got, want,
                fabs(got - want) / (fabs(want) + 1e-300));
}

static void test_exp(void)
{
    for (int simd = 0; simd < n_forms(); simd++) {
        GRand *r = g_rand_new_with_seed(3);
        for (size_t li = 0; li < N_LENS; li++) {
            size_t n = lens[li];
            float *x = g_new(float, n + 1), *orig = g_new(float, n + 1);
            for (size_t i = 0; i < n; i++)
                orig[i] = x[i] = (float)g_rand_double_range(r, -95.0, 10.0);
            float shift = n ? -3.0f : 0.0f;
            double want_sum = 0;
            float sum = dv_vexp_shift_sum_simd(x, n, shift, simd);
            for (size_t i = 0; i < n; i++) {
                double t = (float)(orig[i] - shift), want = t < -87.33654475 ? 0.0 : exp(t);
                close_to(x[i], want, 4e-7, 0.0, "exp", t);
                want_sum += x[i];
            }
            close_to(sum, want_sum, 1e-6, 0.0, "sum", (double)n);
            g_free(x);
            g_free(orig);
        }
        g_rand_free(r);
    }
}

/* A masked score (-inf) and anything under FLT_MIN's exponent give 0, not
 * a tiny number or NaN. */
static void test_exp_masked(void)
{
    for (int simd = 0; simd < n_forms(); simd++) {
        float x[11] = { -INFINITY, -1000.0f, -88.0f, 0.0f, 1.0f, -INFINITY, 2.0f,
                        -INFINITY, -INFINITY, 0.5f, -INFINITY };
        float sum = dv_vexp_shift_sum_simd(x, 11, 2.0f, simd);
        g_assert_cmpfloat(x[0], ==, 0.0f);
        g_assert_cmpfloat(x[1], ==, 0.0f);
        g_assert_cmpfloat(x[2], ==, 0.0f);
        g_assert_cmpfloat(x[10], ==, 0.0f);
        g_assert_cmpfloat(x[6], ==, 1.0f);
        g_assert_cmpfloat_with_epsilon(sum, exp(-2.0) + exp(-1.0) + 1.0 + exp(-1.5), 1e-6);
    }
}

static void test_max(void)
{
    float x[37];
    for (int n = 1; n <= 37; n++) {
        for (int i = 0; i < n; i++)
            x[i] = (float)((i * 7919) % 37) - 100.0f;
        x[n - 1] = 5.0f + (float)n;
        g_assert_cmpfloat(dv_vmax(x, (size_t)n), ==, 5.0f + (float)n);
    }
    g_assert_cmpfloat(dv_vmax(x, 0), ==, -INFINITY);
}

static double gelu_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }

/* In the negative tail exp(-x^2/2) is taken of a float argument, whose
 * rounding grows with x^2: allow that much relative error, no more. */
static double gelu_tol(double x) { return 2e-6 + 1e-7 * x * x; }

static void test_gelu(void)
{
    for (int simd = 0; simd < n_forms(); simd++) {
        GRand *r = g_rand_new_with_seed(5);
        for (size_t li = 0; li < N_LENS; li++) {
            size_t n = lens[li];
            float *x = g_new(float, n + 1), *orig = g_new(float, n + 1);
            for (size_t i = 0; i < n; i++)
                orig[i] = x[i] = (float)g_rand_double_range(r, -12.0, 12.0);
            dv_vgelu_simd(x, n, simd);
            for (size_t i = 0; i < n; i++)
                close_to(x[i], gelu_ref(orig[i]), gelu_tol(orig[i]), 1e-37, "gelu", orig[i]);
            g_free(x);
            g_free(orig);
        }
        g_rand_free(r);
        /* the points where the tails and the sign switch meet */
        float pts[] = { 0.0f, -0.0f, 1e-8f, -1e-8f, 1e-3f, -1e-3f, -3.0f, -5.0f, -9.0f, -13.0f,
                        3.0f, 9.0f, 40.0f };
        float y[sizeof pts / sizeof pts[0]];
        for (size_t i = 0; i < G_N_ELEMENTS(pts); i++)
            y[i] = pts[i];
        dv_vgelu_simd(y, G_N_ELEMENTS(pts), simd);
        for (size_t i = 0; i < G_N_ELEMENTS(pts); i++)
            close_to(y[i], gelu_ref(pts[i]), gelu_tol(pts[i]), 1e-37, "gelu", pts[i]);
    }
}

static void test_silu(void)
{
    for (int simd = 0; simd < n_forms(); simd++) {
        GRand *r = g_rand_new_with_seed(9);
        size_t n = 1031;
        float *g = g_new(float, n), *up = g_new(float, n), *orig = g_new(float, n);
        for (size_t i = 0; i < n; i++) {
            orig[i] = g[i] = (float)g_rand_double_range(r, -100.0, 100.0);
            up[i] = (float)g_rand_double_range(r, -2.0, 2.0);
        }
        dv_vsilu_mul_simd(g, up, n, simd);
        for (size_t i = 0; i < n; i++) {
            double x = orig[i], want = x / (1.0 + exp(-x)) * up[i];
            close_to(g[i], want, 2e-6, 1e-30, "silu", x);
        }
        g_free(g);
        g_free(up);
        g_free(orig);
        g_rand_free(r);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmath/exp", test_exp);
    g_test_add_func("/vmath/exp-masked", test_exp_masked);
    g_test_add_func("/vmath/max", test_max);
    g_test_add_func("/vmath/gelu", test_gelu);
    g_test_add_func("/vmath/silu", test_silu);
    return g_test_run();
}
