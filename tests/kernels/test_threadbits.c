/* A product's floats do not depend on the thread count: dv_linear_forward
 * (with its activation) and dv_linear_forward_rows give the same bytes on
 * a pool of 1, 2 and 3 threads, for every weight format and row count that
 * picks a different path (one row, the few-row kernels, the integer
 * many-row kernel, sgemm on f32 weights and on widened or dequantized
 * panels), at shapes that split over the pool and ones too small to. The
 * q8 page of a tiny SigLIP model read at 2 threads once differed from the
 * one at 1 thread by a token: its f32 patch embedding went through sgemm
 * in chunks of out / threads rows, and the sums of OpenBLAS's Haswell
 * kernels (OPENBLAS_CORETYPE=Haswell, set in that machine's environment)
 * depend on the call a row is in. So every case runs under the kernels
 * OpenBLAS picked and again, where the CPU runs them, under Haswell's.
 * Each case runs with the context's fp32 product OpenBLAS's and docvl's
 * own (dv_ctx.gemm): the two agree within rounding, and where AVX-512 runs
 * the many-row f32 and bf16 products differ from OpenBLAS's in bits (the
 * context's choice is the product that ran). */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/blascore.h"
#include "kernels/cpu.h"
#include "kernels/linear.h"
#include "kernels/pool.h"
#include "kernels/quant.h"
#include "kernels/tensor.h"
#include "testutil.h"

static float *random_floats(GRand *r, size_t n, double scale)
{
    float *x = g_new(float, n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(g_rand_double_range(r, -1.0, 1.0) * scale);
    return x;
}

typedef struct weight {
    dv_linear L;
    float *w32;
    uint16_t *w16;
} weight;

/* A random weight held as stored f32, stored bf16 or quantized q8 / q4. */
static void bind_weight(weight *W, GRand *r, int out, int in, dv_dtype dt, dv_qfmt qf, int bias)
{
    memset(W, 0, sizeof *W);
    W->w32 = random_floats(r, (size_t)out * in, 0.5);
    dv_tensor tw = { .name = "w", .dtype = DV_F32, .ndim = 2, .shape = { out, in },
                     .data = W->w32, .nbytes = (size_t)out * in * 4 };
    if (dt == DV_BF16) {
        W->w16 = g_new(uint16_t, (size_t)out * in);
        for (size_t i = 0; i < (size_t)out * in; i++)
            W->w16[i] = dv_f32_to_bf16(W->w32[i]);
        tw.dtype = DV_BF16;
        tw.data = W->w16;
        tw.nbytes /= 2;
    }
    float *b = bias ? random_floats(r, (size_t)out, 0.1) : NULL;
    dv_tensor tb = { .name = "b", .dtype = DV_F32, .ndim = 1, .shape = { out }, .data = b,
                     .nbytes = (size_t)out * 4 };
    dv_err e = { 0 };
    g_assert_cmpint(dv_linear_bind(&W->L, &tw, bias ? &tb : NULL, 0, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_linear_quantize(&W->L, qf, NULL, &e), ==, DOCVL_OK);
    g_free(b);
}

static void free_weight(weight *W)
{
    dv_linear_free(&W->L);
    g_free(W->w32);
    g_free(W->w16);
}

enum { MAX_THREADS = 3 };

/* The shapes: the tiny SigLIP's patch embedding (576 x 768 -> 32, split),
 * its q, k, v (576 x 32 -> 96, not split), a decoder's up projection, and
 * widths of a few hundred rows, odd ones too (group and chunk tails). */
typedef struct shape {
    int out, in;
} shape;

/* Largest |a - b| over the largest |a|. */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double mx = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(a[i]));
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    }
    return mx > 0 ? worst / mx : worst;
}

/* One shape, row count and product on 1, 2 and 3 threads: the same bytes
 * on each; y gets the 1-thread dv_linear_forward. */
static void check_threads(const weight *W, const float *x, int n, dv_gemm g,
                          dv_pool *const *pools, float *y0)
{
    int out = W->L.out, in = W->L.in;
    size_t bytes = (size_t)n * out * sizeof(float);
    float *y[MAX_THREADS], *yg[MAX_THREADS], *yr[MAX_THREADS];
    for (int t = 0; t < MAX_THREADS; t++) {
        dv_ctx ctx = { .n_threads = t + 1, .pool = pools[t], .gemm = g };
        const dv_linear *Lp = &W->L;
        y[t] = g_new(float, (size_t)n * out);
        yg[t] = g_new(float, (size_t)n * out);
        yr[t] = g_new(float, (size_t)n * out);
        dv_linear_forward(&W->L, x, n, y[t], &ctx);
        dv_linear_forward_act(&W->L, x, n, yg[t], DV_ACT_GELU, &ctx);
        dv_linear_forward_rows(&Lp, &yr[t], 1, x, n, &ctx);
    }
    for (int t = 1; t < MAX_THREADS; t++) {
        if (memcmp(y[0], y[t], bytes) || memcmp(yg[0], yg[t], bytes) ||
            memcmp(yr[0], yr[t], bytes))
            g_test_message("%s %s %s: %d x %d -> %d differs at %d threads",
                           dv_dtype_name(W->L.dtype), dv_qfmt_name(W->L.qfmt), dv_gemm_name(g),
                           n, in, out, t + 1);
        g_assert_cmpmem(y[0], bytes, y[t], bytes);
        g_assert_cmpmem(yg[0], bytes, yg[t], bytes);
        g_assert_cmpmem(yr[0], bytes, yr[t], bytes);
    }
    memcpy(y0, y[0], bytes);
    for (int t = 0; t < MAX_THREADS; t++)
        g_free(y[t]), g_free(yg[t]), g_free(yr[t]);
}

static void check_format(dv_dtype dt, dv_qfmt qf, dv_pool *const *pools, GRand *r)
{
    int differ = 0;
    const shape shapes[] = { { 32, 768 }, { 96, 32 }, { 172, 64 }, { 301, 232 }, { 1000, 256 } };
    const int ns[] = { 1, 4, 5, 9, 64, 200, 576 };
    for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++) {
        weight W;
        int out = shapes[s].out, in = shapes[s].in;
        bind_weight(&W, r, out, in, dt, qf, (int)(s % 2));
        for (size_t k = 0; k < G_N_ELEMENTS(ns); k++) {
            int n = ns[k];
            float *x = random_floats(r, (size_t)n * in, 1.0);
            size_t bytes = (size_t)n * out * sizeof(float);
            float *blas = g_new(float, (size_t)n * out), *own = g_new(float, (size_t)n * out);
            check_threads(&W, x, n, DV_GEMM_BLAS, pools, blas);
            check_threads(&W, x, n, DV_GEMM_OWN, pools, own);
            g_assert_cmpfloat(rel_diff(blas, own, (size_t)n * out), <=, 1e-5);
            differ += memcmp(blas, own, bytes) != 0;
            g_free(blas), g_free(own);
            g_free(x);
        }
        free_weight(&W);
    }
    /* sgemm's products (more than a few rows) run the context's product:
     * all of f32 and bf16 weights', quantized ones' only without the
     * integer kernel */
    int sgemm = qf == DV_QNONE || dv_cpu_qgemm_level() < 2;
    g_test_message("%s %s: %d of the cases differ in bits between the products",
                   dv_dtype_name(dt), dv_qfmt_name(qf), differ);
    g_assert_true((differ > 0) == (sgemm && dv_cpu_has_avx512()));
}

typedef struct fmt_case {
    dv_dtype dt;
    dv_qfmt qf;
} fmt_case;

static void test_thread_count(gconstpointer data)
{
    const fmt_case *c = data;
    dv_pool *pools[MAX_THREADS];
    dv_err e = { 0 };
    for (int t = 0; t < MAX_THREADS; t++)
        g_assert_cmpint(dv_pool_new(t + 1, &pools[t], &e), ==, DOCVL_OK);
    g_test_message("OpenBLAS %s kernels", dv_blas_core());
    if (g_test_subprocess())   /* for test_haswell_kernels to see */
        printf("OpenBLAS %s kernels\n", dv_blas_core());
    GRand *r = g_rand_new_with_seed(31);
    check_format(c->dt, c->qf, pools, r);
    g_rand_free(r);
    for (int t = 0; t < MAX_THREADS; t++)
        dv_pool_free(pools[t]);
}

/* Every case again in a child process under OpenBLAS's Haswell kernels
 * (the core is chosen when the library loads). */
static void test_haswell_kernels(void)
{
    if (!dv_cpu_has_avx2_fma()) {
        g_test_skip("no AVX2 + FMA: OpenBLAS's Haswell kernels cannot run");
        return;
    }
    const char *cases[] = { "/threadbits/f32", "/threadbits/bf16", "/threadbits/q8",
                            "/threadbits/q4" };
    char *had = test_env_set("OPENBLAS_CORETYPE", "Haswell");
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_trap_subprocess(cases[i], 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
        g_test_trap_assert_passed();
        g_test_trap_assert_stdout("*OpenBLAS Haswell kernels*");
    }
    test_env_restore("OPENBLAS_CORETYPE", had);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    static const fmt_case f32 = { DV_F32, DV_QNONE }, bf16 = { DV_BF16, DV_QNONE },
                          q8 = { DV_F32, DV_Q8 }, q4 = { DV_F32, DV_Q4 };
    g_test_add_data_func("/threadbits/f32", &f32, test_thread_count);
    g_test_add_data_func("/threadbits/bf16", &bf16, test_thread_count);
    g_test_add_data_func("/threadbits/q8", &q8, test_thread_count);
    g_test_add_data_func("/threadbits/q4", &q4, test_thread_count);
    g_test_add_func("/threadbits/haswell_kernels", test_haswell_kernels);
    return g_test_run();
}
