/* The integer many-row products (kernels/qgemm.h): every form the CPU runs
 * equals dv_qdot (the one-token kernel, scalar) on the same quantized
 * activations, for q8 and q4 weights, over odd widths, group tails and
 * row tails. */
#include <glib.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu.h"
#include "kernels/linear.h"
#include "kernels/pool.h"
#include "kernels/qgemm.h"
#include "kernels/quant.h"

static float *random_floats(GRand *r, size_t n, double scale)
{
    float *x = g_new(float, n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(g_rand_double_range(r, -1.0, 1.0) * scale);
    return x;
}

/* Activation row t as the dv_qdot kernels take it. */
static void act_row_blocks(const dv_qg_act *a, int t, dv_q8_block *blk)
{
    for (int b = 0; b < a->nb; b++) {
        blk[b].d = a->d[(size_t)t * a->nb + b];
        for (int j = 0; j < DV_QBLOCK; j++)
            blk[b].q[j] = (int8_t)(a->q[((size_t)t * a->nb + b) * DV_QBLOCK + j] - 128);
    }
}

static void check_group(dv_qfmt f, int in, int rows, int n, int level, GRand *r)
{
    float *w = random_floats(r, (size_t)rows * in, 0.5), *x = random_floats(r, (size_t)n * in, 2.0);
    size_t qrow = dv_qrow_bytes(f, in);
    char *wq = g_malloc(qrow * (size_t)rows);
    for (int j = 0; j < rows; j++)
        dv_quantize_row(f, w + (size_t)j * in, in, wq + (size_t)j * qrow);
    int nb = dv_qblocks(in);
    dv_qg_act a;
    g_assert_cmpint(dv_qg_act_alloc(&a, n, in, f == DV_Q4), ==, DOCVL_OK);
    dv_qg_quantize_rows(x, in, 0, n, &a);
    /* the panel starts at a group of rows past the first */
    int r0 = rows > DV_QG_NR ? DV_QG_NR : 0, cols = rows - r0;
    size_t pbytes = dv_qg_panel_bytes(f, in);
    void *panel = g_malloc(pbytes);
    dv_qg_pack(f, wq, in, r0, cols, panel, level);
    if (f == DV_Q4)   /* a q4 group holds its rows' bytes */
        g_assert_cmpuint(pbytes, ==, DV_QG_NR * qrow);
    if (level > 0) {   /* the forms write the same panel */
        void *ref = g_malloc(pbytes);
        dv_qg_pack(f, wq, in, r0, cols, ref, 0);
        g_assert_cmpmem(panel, pbytes, ref, pbytes);
        g_free(ref);
    }
    size_t ldy = (size_t)cols + 3;
    float *y = g_new0(float, (size_t)n * ldy);
    for (size_t i = 0; i < (size_t)n * ldy; i++)
        y[i] = 12345.0f;   /* columns past cols must stay untouched */
    dv_qgemm_group(f, panel, &a, y, ldy, cols, level);
    dv_q8_block *xb = g_new(dv_q8_block, nb);
    for (int t = 0; t < n; t++) {
        act_row_blocks(&a, t, xb);
        for (int j = 0; j < cols; j++) {
            float want = dv_qdot(f, wq + (size_t)(r0 + j) * qrow, xb, in, 0);
            float got = y[(size_t)t * ldy + j];
            g_assert_cmpfloat(fabsf(got - want), <=, 1e-5f * (1.0f + fabsf(want)) * sqrtf((float)nb));
        }
        for (size_t j = (size_t)cols; j < ldy; j++)
            g_assert_cmpfloat(y[(size_t)t * ldy + j], ==, 12345.0f);
    }
    dv_qg_act_free(&a);
    g_free(w), g_free(x), g_free(wq), g_free(panel), g_free(y), g_free(xb);
}

static void check_level(int level)
{
    GRand *r = g_rand_new_with_seed(23);
    const int ins[] = { 1, 31, 32, 33, 100, 544, 1000 };   /* 544: 17 blocks */
    const int rows[] = { 1, 17, 32, 45, 64 };
    const int ns[] = { 1, 2, 3, 4, 6, 11 };     /* every row tail */
    dv_qfmt fmts[] = { DV_Q8, DV_Q4 };
    for (size_t f = 0; f < G_N_ELEMENTS(fmts); f++)
        for (size_t i = 0; i < G_N_ELEMENTS(ins); i++)
            for (size_t k = 0; k < G_N_ELEMENTS(rows); k++)
                for (size_t t = 0; t < G_N_ELEMENTS(ns); t++)
                    check_group(fmts[f], ins[i], rows[k], ns[t], level, r);
    g_rand_free(r);
}

static void test_scalar(void) { check_level(0); }

static void test_vnni512(void)
{
    if (dv_cpu_qgemm_level() < 2) {
        g_test_skip("no AVX-512 VNNI on this CPU (or DOCVL_KERNELS=f32)");
        return;
    }
    check_level(2);
}

/* The activations' quantization is dv_quantize_row's, offset by 128; with
 * q4's fields also unoffset, and -8 times each block's sum. */
static void test_act_quantization(void)
{
    GRand *r = g_rand_new_with_seed(5);
    int in = 77, n = 3, nb = dv_qblocks(in);
    float *x = random_floats(r, (size_t)n * in, 3.0);
    dv_q8_block *want = g_new(dv_q8_block, nb), *got = g_new(dv_q8_block, nb);
    for (int q4 = 0; q4 <= 1; q4++) {
        dv_qg_act a;
        g_assert_cmpint(dv_qg_act_alloc(&a, n, in, q4), ==, DOCVL_OK);
        g_assert_true((a.qs != NULL) == q4 && (a.s8 != NULL) == q4);
        dv_qg_quantize_rows(x, in, 0, n, &a);
        for (int t = 0; t < n; t++) {
            dv_quantize_row(DV_Q8, x + (size_t)t * in, in, want);
            act_row_blocks(&a, t, got);
            g_assert_cmpmem(got, sizeof *got * nb, want, sizeof *want * nb);
            for (int b = 0; q4 && b < nb; b++) {
                int32_t sum = 0;
                for (int j = 0; j < DV_QBLOCK; j++)
                    sum += want[b].q[j];
                g_assert_cmpmem(a.qs + ((size_t)t * nb + b) * DV_QBLOCK, DV_QBLOCK, want[b].q,
                                DV_QBLOCK);
                g_assert_cmpint(a.s8[(size_t)t * nb + b], ==, -8 * sum);
            }
        }
        dv_qg_act_free(&a);
    }
    g_free(x), g_free(want), g_free(got);
    g_rand_free(r);
}

/* Weights repacked once at load (dv_linear_prepack) give every many-row
 * product the bits the per-product repack gives (q8 and q4, a group tail
 * of 13 rows, 1 and 2 threads, dv_linear_forward and _forward_rows); where
 * the integer kernel does not run nothing is packed. */
static void test_prepacked(void)
{
    GRand *r = g_rand_new_with_seed(41);
    const int out = 45, in = 544, n = 20;
    float *w = random_floats(r, (size_t)out * in, 0.5), *x = random_floats(r, (size_t)n * in, 2.0);
    dv_tensor tw = { .name = "w", .dtype = DV_F32, .ndim = 2, .shape = { out, in }, .data = w,
                     .nbytes = (size_t)out * in * sizeof(float) };
    dv_qfmt fmts[] = { DV_Q8, DV_Q4 };
    for (int threads = 1; threads <= 2; threads++) {
        dv_pool *pool = NULL;
        dv_err e = { 0 };
        g_assert_cmpint(dv_pool_new(threads, &pool, &e), ==, DOCVL_OK);
        dv_ctx ctx = { .n_threads = threads, .pool = pool };
        for (size_t f = 0; f < G_N_ELEMENTS(fmts); f++) {
            dv_linear L;
            g_assert_cmpint(dv_linear_bind(&L, &tw, NULL, 0, &e), ==, DOCVL_OK);
            g_assert_cmpint(dv_linear_quantize(&L, fmts[f], pool, &e), ==, DOCVL_OK);
            float *y0 = g_new(float, (size_t)n * out), *y1 = g_new(float, (size_t)n * out);
            float *r0 = g_new(float, (size_t)n * out), *r1 = g_new(float, (size_t)n * out);
            const dv_linear *lin = &L;
            dv_linear_forward(&L, x, n, y0, &ctx);
            dv_linear_forward_rows(&lin, &r0, 1, x, 16, &ctx);
            g_assert_cmpint(dv_linear_prepack(&L, pool), ==, DOCVL_OK);
            g_assert_true((L.packed != NULL) == (dv_cpu_qgemm_level() >= 2));
            dv_linear_forward(&L, x, n, y1, &ctx);
            dv_linear_forward_rows(&lin, &r1, 1, x, 16, &ctx);
            g_assert_cmpmem(y1, (size_t)n * out * sizeof *y1, y0, (size_t)n * out * sizeof *y0);
            g_assert_cmpmem(r1, (size_t)16 * out * sizeof *r1, r0, (size_t)16 * out * sizeof *r0);
            dv_linear_free(&L);
            g_free(y0), g_free(y1), g_free(r0), g_free(r1);
        }
        dv_pool_free(pool);
    }
    g_free(w), g_free(x);
    g_rand_free(r);
}

/* Once repacked, every product of the weight runs on its panels, one-row
 * ones (decoding) too: a row's floats are the same alone, with a pool or
 * without, and among any number of rows (dv_linear_forward_rows), and
 * within float rounding of the direct kernel's on the unpacked weight. */
static void test_prepacked_rows(void)
{
    if (dv_cpu_qgemm_level() < 2) {
        g_test_skip("no AVX-512 VNNI on this CPU (or DOCVL_KERNELS=f32)");
        return;
    }
    GRand *r = g_rand_new_with_seed(43);
    const int out = 77, in = 1000, n = 13;
    float *w = random_floats(r, (size_t)out * in, 0.5), *x = random_floats(r, (size_t)n * in, 2.0);
    dv_tensor tw = { .name = "w", .dtype = DV_F32, .ndim = 2, .shape = { out, in }, .data = w,
                     .nbytes = (size_t)out * in * sizeof(float) };
    dv_pool *pool = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, DOCVL_OK);
    dv_ctx ctx = { .n_threads = 2, .pool = pool }, alone = { .n_threads = 1 };
    dv_qfmt fmts[] = { DV_Q8, DV_Q4 };
    size_t row = out * sizeof(float);
    for (size_t f = 0; f < G_N_ELEMENTS(fmts); f++) {
        dv_linear L;
        g_assert_cmpint(dv_linear_bind(&L, &tw, NULL, 0, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_linear_quantize(&L, fmts[f], pool, &e), ==, DOCVL_OK);
        float *direct = g_new(float, (size_t)n * out), *one = g_new(float, out);
        float *mine = g_new(float, out), *rows = g_new(float, (size_t)n * out);
        for (int t = 0; t < n; t++)
            dv_linear_forward(&L, x + (size_t)t * in, 1, direct + (size_t)t * out, &ctx);
        g_assert_cmpint(dv_linear_prepack(&L, pool), ==, DOCVL_OK);
        g_assert_nonnull(L.packed);
        g_assert_true(dv_linear_rows_alone(&L, n, &ctx) && dv_linear_rows_stable(&L, 1));
        const dv_linear *lin = &L;
        for (int k = 1; k <= n; k += 3) {
            dv_linear_forward_rows(&lin, &rows, 1, x, k, &ctx);
            for (int t = 0; t < k; t++) {
                dv_linear_forward(&L, x + (size_t)t * in, 1, one, &ctx);
                dv_linear_forward(&L, x + (size_t)t * in, 1, mine, &alone);
                g_assert_cmpmem(rows + (size_t)t * out, row, one, row);
                g_assert_cmpmem(mine, row, one, row);
                for (int j = 0; j < out; j++) {
                    float want = direct[(size_t)t * out + j];
                    g_assert_cmpfloat(fabsf(one[j] - want), <=,
                                      1e-5f * (1.0f + fabsf(want)) * sqrtf(in / 32.0f));
                }
            }
        }
        dv_linear_free(&L);
        g_free(direct), g_free(one), g_free(mine), g_free(rows);
    }
    dv_pool_free(pool);
    g_free(w), g_free(x);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qgemm/act_quantization", test_act_quantization);
    g_test_add_func("/qgemm/scalar", test_scalar);
    g_test_add_func("/qgemm/vnni512", test_vnni512);
    g_test_add_func("/qgemm/prepacked", test_prepacked);
    g_test_add_func("/qgemm/prepacked-rows", test_prepacked_rows);
    return g_test_run();
}
