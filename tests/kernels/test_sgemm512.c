/* docvl's own AVX-512 fp32 product (kernels/sgemm512.h) against a
 * double-precision reference: every transposition, m, n and k from 1 to 70
 * (tiles' and vectors' edges), the trainer's shapes and shapes that cross
 * the cache blocks, beta 0 (C never read), 1 and other, alpha; the bits of
 * a product of some rows equal those rows of the whole product (the
 * trainer's row chunks rely on it); and the fallback: DV_GEMM_BLAS and
 * DOCVL_OWN_SGEMM=0 give OpenBLAS's bits. */
#include <cblas.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/blascore.h"
#include "kernels/cpu.h"
#include "kernels/sgemm512.h"

static float *random_floats(GRand *r, size_t n)
{
    float *x = g_new(float, n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)g_rand_double_range(r, -1.0, 1.0);
    return x;
}

typedef struct prob {
    int ta, tb, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    float *a, *b, *c0;   /* c0: C before the product */
} prob;

/* Operands with strides past their rows (pad columns that must not be
 * read into the result), and a C whose pad columns hold a sentinel. */
static prob make(GRand *r, int ta, int tb, int m, int n, int k, float alpha, float beta)
{
    prob p = { .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta };
    p.lda = (ta ? m : k) + 3;
    p.ldb = (tb ? k : n) + 5;
    p.ldc = n + 2;
    p.a = random_floats(r, (size_t)(ta ? k : m) * p.lda);
    p.b = random_floats(r, (size_t)(tb ? n : k) * p.ldb);
    p.c0 = random_floats(r, (size_t)m * p.ldc);
    return p;
}

static void drop(prob *p)
{
    g_free(p->a), g_free(p->b), g_free(p->c0);
}

static double at(const float *x, int ld, int t, int i, int j)
{
    return t ? x[(size_t)j * ld + i] : x[(size_t)i * ld + j];
}

/* dv_sgemm512 on a copy of C0 (NaN for beta 0: it must not be read). */
static float *own(const prob *p)
{
    float *c = g_memdup2(p->c0, (size_t)p->m * p->ldc * sizeof *c);
    for (int i = 0; p->beta == 0.0f && i < p->m; i++)
        for (int j = 0; j < p->n; j++)
            c[(size_t)i * p->ldc + j] = NAN;
    g_assert_cmpint(dv_sgemm512(p->ta, p->tb, p->m, p->n, p->k, p->alpha, p->a, p->lda, p->b,
                                p->ldb, p->beta, c, p->ldc), ==, 0);
    return c;
}

/* Each element within a few ulps of the sum of |terms| (the bound of any
 * order of k fp32 additions), and the pad columns untouched. */
static void check(const prob *p, const float *c)
{
    for (int i = 0; i < p->m; i++) {
        for (int j = 0; j < p->n; j++) {
            double s = 0, mag = 0;
            for (int q = 0; q < p->k; q++) {
                double t = at(p->a, p->lda, p->ta, i, q) * at(p->b, p->ldb, p->tb, q, j);
                s += t;
                mag += fabs(t);
            }
            double c0 = p->c0[(size_t)i * p->ldc + j];
            double want = p->alpha * s + (p->beta != 0.0f ? p->beta * c0 : 0.0);
            double tol = 1e-6 * (fabs(p->alpha) * mag * (p->k + 2) + fabs(c0)) + 1e-30;
            double got = c[(size_t)i * p->ldc + j];
            if (!(fabs(got - want) <= tol))
                g_error("%c%c m=%d n=%d k=%d alpha %g beta %g: C[%d][%d] = %.9g, want %.9g",
                        "NT"[p->ta], "NT"[p->tb], p->m, p->n, p->k, p->alpha, p->beta, i, j, got,
                        want);
        }
        for (int j = p->n; j < p->ldc; j++)
            g_assert_cmpfloat(c[(size_t)i * p->ldc + j], ==, p->c0[(size_t)i * p->ldc + j]);
    }
}

static void one(GRand *r, int ta, int tb, int m, int n, int k, float alpha, float beta)
{
    prob p = make(r, ta, tb, m, n, k, alpha, beta);
    float *c = own(&p);
    check(&p, c);
    g_free(c);
    drop(&p);
}

static int need_avx512(void)
{
    if (dv_cpu_has_avx512())
        return 1;
    g_test_skip("no AVX-512 on this CPU: the own product does not run here");
    return 0;
}

/* m, n and k each over 1..70 with the others at edge sizes, every
 * transposition, beta 0 and 1. */
static void test_edges(void)
{
    if (!need_avx512())
        return;
    GRand *r = g_rand_new_with_seed(7);
    const int other[] = { 1, 13, 33 };
    for (int t = 0; t < 4; t++)
        for (int v = 1; v <= 70; v++)
            for (size_t o = 0; o < G_N_ELEMENTS(other); o++) {
                int w = other[o], x = other[(o + 1) % G_N_ELEMENTS(other)];
                float beta = (v + (int)o) % 2 ? 1.0f : 0.0f;
                one(r, t & 1, t >> 1, v, w, x, 1.0f, beta);
                one(r, t & 1, t >> 1, w, v, x, 1.0f, beta);
                one(r, t & 1, t >> 1, w, x, v, 1.0f, beta);
            }
    g_rand_free(r);
}

/* Random m, n, k in 1..70 with other alphas and betas (the attention's
 * scale, a general beta, k 0: C scaled only). */
static void test_random(void)
{
    if (!need_avx512())
        return;
    GRand *r = g_rand_new_with_seed(11);
    const float alphas[] = { 1.0f, 0.125f, -2.5f }, betas[] = { 0.0f, 1.0f, 0.5f };
    for (int i = 0; i < 300; i++) {
        int t = g_rand_int_range(r, 0, 4);
        one(r, t & 1, t >> 1, g_rand_int_range(r, 1, 71), g_rand_int_range(r, 1, 71),
            g_rand_int_range(r, 1, 71), alphas[i % 3], betas[(i / 3) % 3]);
    }
    one(r, 0, 1, 5, 7, 0, 1.0f, 0.5f);
    one(r, 1, 0, 5, 7, 0, 1.0f, 0.0f);
    g_rand_free(r);
}

/* The trainer's products (the built-in model's widths, a substack's rows)
 * and shapes past each cache block: k over two KC blocks, m over MC rows,
 * n over NC columns. */
static void test_trainer_shapes(void)
{
    if (!need_avx512())
        return;
    GRand *r = g_rand_new_with_seed(13);
    const int s[][5] = {
        { 0, 1, 64, 384, 128 },  { 0, 1, 64, 128, 512 },  { 0, 0, 64, 512, 128 },
        { 1, 0, 512, 128, 64 },  { 0, 1, 134, 259, 128 }, { 1, 0, 259, 128, 134 },
        { 0, 0, 134, 128, 1024 }, { 1, 0, 1024, 128, 134 }, { 0, 1, 250, 600, 300 },
        { 1, 1, 130, 530, 517 }, { 0, 0, 121, 513, 257 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(s); i++)
        for (int beta = 0; beta <= 1; beta++)
            one(r, s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], 1.0f, (float)beta);
    g_rand_free(r);
}

/* Rows [lo, hi) of a product on their own give the whole product's bits
 * for those rows, whatever tile they fall in: the trainer cuts its
 * products into row chunks per thread and promises the one-thread bits. */
static void test_row_chunks(void)
{
    if (!need_avx512())
        return;
    GRand *r = g_rand_new_with_seed(17);
    for (int t = 0; t < 4; t++)
        for (int beta = 0; beta <= 1; beta++) {
            prob p = make(r, t & 1, t >> 1, 150, 70, 300, 1.0f, (float)beta);
            float *whole = own(&p);
            const int cuts[][2] = { { 0, 7 }, { 7, 100 }, { 100, 150 }, { 13, 14 } };
            for (size_t c = 0; c < G_N_ELEMENTS(cuts); c++) {
                int lo = cuts[c][0], hi = cuts[c][1];
                float *part = g_memdup2(p.c0, (size_t)p.m * p.ldc * sizeof *part);
                const float *a = p.ta ? p.a + lo : p.a + (size_t)lo * p.lda;
                g_assert_cmpint(dv_sgemm512(p.ta, p.tb, hi - lo, p.n, p.k, 1.0f, a, p.lda, p.b,
                                            p.ldb, p.beta, part + (size_t)lo * p.ldc, p.ldc),
                                ==, 0);
                size_t o = (size_t)lo * p.ldc, len = (size_t)(hi - lo) * p.ldc - 2;
                g_assert_cmpmem(part + o, len * sizeof *part, whole + o, len * sizeof *whole);
                g_free(part);
            }
            g_free(whole);
            drop(&p);
        }
    g_rand_free(r);
}

/* DV_GEMM_BLAS runs cblas_sgemm: its bits exactly. */
static void test_fallback_bits(void)
{
    GRand *r = g_rand_new_with_seed(19);
    for (int t = 0; t < 4; t++) {
        prob p = make(r, t & 1, t >> 1, 37, 45, 61, 1.0f, 1.0f);
        float *want = g_memdup2(p.c0, (size_t)p.m * p.ldc * sizeof *want);
        float *got = g_memdup2(p.c0, (size_t)p.m * p.ldc * sizeof *got);
        cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans,
                    p.tb ? CblasTrans : CblasNoTrans, p.m, p.n, p.k, 1.0f, p.a, p.lda, p.b, p.ldb,
                    1.0f, want, p.ldc);
        dv_sgemm(DV_GEMM_BLAS, p.ta, p.tb, p.m, p.n, p.k, 1.0f, p.a, p.lda, p.b, p.ldb, 1.0f,
                 got, p.ldc);
        g_assert_cmpmem(got, (size_t)p.m * p.ldc * sizeof *got, want,
                        (size_t)p.m * p.ldc * sizeof *want);
        /* and DV_GEMM_OWN, where it runs, gives the same values within rounding */
        dv_sgemm(DV_GEMM_OWN, p.ta, p.tb, p.m, p.n, p.k, 1.0f, p.a, p.lda, p.b, p.ldb, 1.0f,
                 p.c0, p.ldc);
        for (size_t i = 0; i < (size_t)p.m * p.ldc; i++)
            g_assert_cmpfloat(fabsf(p.c0[i] - want[i]), <=, 1e-4f);
        g_free(want), g_free(got);
        drop(&p);
    }
    g_rand_free(r);
}

/* The choice: the own product where AVX-512 runs and OpenBLAS's kernels
 * are narrower, never with DOCVL_OWN_SGEMM=0, wherever AVX-512 runs with
 * DOCVL_OWN_SGEMM=1. */
static void test_choice(void)
{
    const char *was = getenv("DOCVL_OWN_SGEMM");
    char *keep = was ? g_strdup(was) : NULL;
    g_unsetenv("DOCVL_OWN_SGEMM");
    dv_gemm on = dv_cpu_has_avx512() ? DV_GEMM_OWN : DV_GEMM_BLAS;
    dv_gemm by_core = dv_blas_core_is_avx512(dv_blas_core()) ? DV_GEMM_BLAS : on;
    g_assert_cmpint(dv_gemm_choose(), ==, by_core);
    g_setenv("DOCVL_OWN_SGEMM", "0", TRUE);
    g_assert_cmpint(dv_gemm_choose(), ==, DV_GEMM_BLAS);
    g_setenv("DOCVL_OWN_SGEMM", "1", TRUE);
    g_assert_cmpint(dv_gemm_choose(), ==, on);
    g_setenv("DOCVL_OWN_SGEMM", "yes", TRUE);
    g_assert_cmpint(dv_gemm_choose(), ==, by_core);
    if (keep)
        g_setenv("DOCVL_OWN_SGEMM", keep, TRUE);
    else
        g_unsetenv("DOCVL_OWN_SGEMM");
    g_free(keep);
    g_assert_cmpstr(dv_gemm_name(DV_GEMM_BLAS), ==, "openblas");
    g_assert_cmpstr(dv_gemm_name(DV_GEMM_OWN), ==, "docvl-avx512");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sgemm512/edges", test_edges);
    g_test_add_func("/sgemm512/random", test_random);
    g_test_add_func("/sgemm512/trainer_shapes", test_trainer_shapes);
    g_test_add_func("/sgemm512/row_chunks", test_row_chunks);
    g_test_add_func("/sgemm512/fallback_bits", test_fallback_bits);
    g_test_add_func("/sgemm512/choice", test_choice);
    return g_test_run();
}
