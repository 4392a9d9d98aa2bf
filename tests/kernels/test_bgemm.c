/* The bf16 many-row products (kernels/bgemm.h): every form the CPU runs
 * against a double reference of the same bf16 operands, over odd widths
 * (K not a multiple of the pair or of the 16-word panel block), group tails
 * and sliver tails; the AVX-512 forms write the scalar forms' panels and
 * activation words; and dv_linear's wiring (dv_linear_use_bf16): prepacked
 * or per-product panels give the same floats, at any thread count, with
 * bias and GELU, and nothing changes where the CPU lacks the kernel. */
#include <float.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/bgemm.h"
#include "kernels/cpu.h"
#include "kernels/linear.h"
#include "kernels/pool.h"
#include "kernels/tensor.h"

static uint16_t *random_bf16(GRand *r, size_t n, double scale)
{
    uint16_t *w = g_new(uint16_t, n);
    for (size_t i = 0; i < n; i++)
        w[i] = dv_f32_to_bf16((float)(g_rand_double_range(r, -1.0, 1.0) * scale));
    return w;
}

static float *random_floats(GRand *r, size_t n, double scale)
{
    float *x = g_new(float, n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(g_rand_double_range(r, -1.0, 1.0) * scale);
    return x;
}

static dv_bg_act act_new(const float *x, int n, int in, int level)
{
    dv_bg_act a = { .x = g_new(uint32_t, dv_bg_act_words(n, in)), .n = n, .k2 = dv_bg_pairs(in) };
    dv_bg_round_slivers(x, in, 0, (n + DV_BG_MR - 1) / DV_BG_MR, &a, level);
    return a;
}

/* y[t, j] of rows [r0, r0 + cols) of w against x rounded to bf16, in
 * double; *mag the sum of the products' magnitudes (the error scale). */
static double reference(const uint16_t *w, const float *x, int in, int t, int j, double *mag)
{
    double s = 0.0, m = 0.0;
    for (int k = 0; k < in; k++) {
        double p = (double)dv_bf16_to_f32(w[(size_t)j * in + k]) *
                   (double)dv_bf16_to_f32(dv_f32_to_bf16(x[(size_t)t * in + k]));
        s += p;
        m += fabs(p);
    }
    *mag = m;
    return s;
}

static void check_group(int in, int rows, int n, int level, GRand *r)
{
    uint16_t *w = random_bf16(r, (size_t)rows * in, 0.5);
    float *x = random_floats(r, (size_t)n * in, 2.0);
    dv_bg_act a = act_new(x, n, in, level);
    if (level > 0) {   /* the forms write the same words */
        dv_bg_act ref = act_new(x, n, in, 0);
        g_assert_cmpmem(a.x, dv_bg_act_words(n, in) * 4, ref.x, dv_bg_act_words(n, in) * 4);
        g_free(ref.x);
    }
    /* the panels start at a group of rows past the first */
    int r0 = rows > DV_BG_NR ? DV_BG_NR : 0, cols = rows - r0;
    int groups = (cols + DV_BG_NR - 1) / DV_BG_NR;
    size_t pb = dv_bg_panel_bytes(in);
    char *panel = g_malloc(pb * groups), *ref = g_malloc(pb * groups);
    for (int g = 0; g < groups; g++) {
        int gr = cols - g * DV_BG_NR < DV_BG_NR ? cols - g * DV_BG_NR : DV_BG_NR;
        dv_bg_pack(w, in, r0 + g * DV_BG_NR, gr, panel + g * pb, level);
        dv_bg_pack(w, in, r0 + g * DV_BG_NR, gr, ref + g * pb, 0);
    }
    g_assert_cmpmem(panel, pb * groups, ref, pb * groups);   /* the forms write the same bytes */
    g_free(ref);
    size_t ldy = (size_t)cols + 3;
    float *y = g_new(float, (size_t)n * ldy);
    for (size_t i = 0; i < (size_t)n * ldy; i++)
        y[i] = 12345.0f;   /* columns past cols must stay untouched */
    dv_bgemm(panel, cols, &a, y, ldy, level);
    for (int t = 0; t < n; t++) {
        for (int j = 0; j < cols; j++) {
            double mag, want = reference(w, x, in, t, r0 + j, &mag);
            double got = y[(size_t)t * ldy + j];
            /* f32 sums of exact products: within (pairs + 1) roundings of
             * the magnitudes, far below the error of a wrong pair (~mag/in) */
            g_assert_cmpfloat(fabs(got - want), <=, (a.k2 + 1) * FLT_EPSILON * mag + 1e-30);
        }
        for (size_t j = (size_t)cols; j < ldy; j++)
            g_assert_cmpfloat(y[(size_t)t * ldy + j], ==, 12345.0f);
    }
    g_free(w), g_free(x), g_free(a.x), g_free(panel), g_free(y);
}

static void check_level(int level)
{
    GRand *r = g_rand_new_with_seed(29);
    /* odd K, K past one 16-word block, 2049: past the 1024-word stack row */
    const int ins[] = { 1, 2, 3, 31, 32, 33, 34, 63, 100, 2049 };
    const int rows[] = { 1, 15, 16, 17, 32, 45, 64, 150 };   /* 150: four groups after the first */
    const int ns[] = { 1, 2, 5, 11, 12, 13, 25 };   /* sliver tails and whole slivers */
    for (size_t i = 0; i < G_N_ELEMENTS(ins); i++)
        for (size_t k = 0; k < G_N_ELEMENTS(rows); k++)
            for (size_t t = 0; t < G_N_ELEMENTS(ns); t++)
                if (ins[i] < 1000 || (rows[k] == 150 && ns[t] == 13))
                    check_group(ins[i], rows[k], ns[t], level, r);
    g_rand_free(r);
}

static void test_scalar(void) { check_level(0); }

static void test_avx512bf16(void)
{
    if (dv_cpu_bgemm_level() < 2) {
        g_test_skip("no AVX-512 BF16 on this CPU (or DOCVL_KERNELS=f32)");
        return;
    }
    check_level(2);
}

/* Activations round to nearest even as dv_f32_to_bf16 does, ties,
 * infinities and NaN included, in every form. */
static void test_rounding(void)
{
    const float v[] = { 1.0f, -1.0f, 1.00390625f /* tie to even: down */,
                        1.01171875f /* tie to even: up */, 3.4e38f, INFINITY, -INFINITY,
                        NAN, 1e-40f, -0.0f, 65504.0f, 1.0f + 1.0f / 256 + 1.0f / 65536 };
    int in = (int)G_N_ELEMENTS(v);
    for (int level = 0; level <= 2; level += 2) {
        if (level == 2 && dv_cpu_bgemm_level() < 2)
            break;
        dv_bg_act a = act_new(v, 1, in, level);
        for (int k = 0; k < in; k++) {
            uint32_t word = a.x[(size_t)(k / 2) * DV_BG_MR];
            uint16_t got = (uint16_t)(k % 2 ? word >> 16 : word & 0xffff);
            g_assert_cmphex(got, ==, dv_f32_to_bf16(v[k]));
        }
        for (int i = 1; i < DV_BG_MR; i++)   /* rows past n are 0 */
            g_assert_cmphex(a.x[i], ==, 0);
        g_free(a.x);
    }
}

/* ---- dv_linear's wiring ---- */

static void bind_bf16(dv_linear *L, uint16_t *w, float *bias, int out, int in)
{
    dv_tensor t = { .name = "w", .dtype = DV_BF16, .ndim = 2, .shape = { out, in }, .data = w,
                    .nbytes = (size_t)out * in * 2 };
    dv_tensor b = { .name = "b", .dtype = DV_F32, .ndim = 1, .shape = { out }, .data = bias,
                    .nbytes = (size_t)out * 4 };
    dv_err e = { 0 };
    g_assert_cmpint(dv_linear_bind(L, &t, bias ? &b : NULL, 0, &e), ==, DOCVL_OK);
}

static float *forward(const dv_linear *L, const float *x, int n, int threads, dv_act act)
{
    dv_pool *pool = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_pool_new(threads, &pool, &e), ==, DOCVL_OK);
    dv_ctx ctx = { .n_threads = threads, .pool = pool };
    float *y = g_new(float, (size_t)n * L->out);
    dv_linear_forward_act(L, x, n, y, act, &ctx);
    dv_pool_free(pool);
    return y;
}

/* Marked weights: prepacked and per-product panels, 1 and 2 threads, give
 * the same floats; they are the bf16 product (near the double reference of
 * the rounded operands, bias and GELU applied), not the exact one; and
 * products of a few rows still read the stored weight exactly. */
static void test_linear(void)
{
    GRand *r = g_rand_new_with_seed(31);
    int out = 600, in = 301, n = 40;   /* 2-3 groups a chunk */
    uint16_t *w = random_bf16(r, (size_t)out * in, 0.2);
    float *bias = random_floats(r, (size_t)out, 0.5), *x = random_floats(r, (size_t)n * in, 1.0);
    dv_linear exact, perprod, packed;
    bind_bf16(&exact, w, bias, out, in);
    bind_bf16(&perprod, w, bias, out, in);
    bind_bf16(&packed, w, bias, out, in);
    int on = dv_cpu_bgemm_level() >= 2;
    g_assert_cmpint(dv_linear_use_bf16(&perprod, 0, NULL), ==, on);
    g_assert_cmpint(dv_linear_use_bf16(&packed, 1, NULL), ==, on);
    g_assert_true(perprod.packed == NULL);
    g_assert_true((packed.packed != NULL) == on);
    g_assert_cmpint(dv_linear_rows_stable(&packed, n), ==, on);
    g_assert_false(dv_linear_rows_stable(&exact, n));
    float *ye = forward(&exact, x, n, 2, DV_ACT_NONE);
    float *y1 = forward(&perprod, x, n, 1, DV_ACT_NONE), *y2 = forward(&packed, x, n, 2, DV_ACT_NONE);
    g_assert_cmpmem(y1, (size_t)n * out * 4, y2, (size_t)n * out * 4);
    int differ = 0;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < out; j++) {
            double mag, want = reference(w, x, in, t, j, &mag) + bias[j];
            float got = y2[(size_t)t * out + j];
            if (on)
                g_assert_cmpfloat(fabs(got - want), <=, (in + 2) * FLT_EPSILON * (mag + fabs(want)));
            differ += got != ye[(size_t)t * out + j];
        }
    /* the exact path's activations are not rounded: most floats move */
    if (on)
        g_assert_cmpint(differ, >, n * out / 2);
    else
        g_assert_cmpint(differ, ==, 0);
    /* GELU after the product, as the exact path applies it */
    float *yg = forward(&packed, x, n, 2, DV_ACT_GELU);
    for (size_t i = 0; i < (size_t)n * out; i++) {
        float v = y2[i];
        float g = (float)(0.5 * v * erfc(-v / sqrt(2.0)));
        g_assert_cmpfloat(fabsf(yg[i] - g), <=, 1e-5f * (1.0f + fabsf(g)));
    }
    /* A few rows (decoding) take the bf16 products too: on the panels each
     * row's floats are those of the many-row product, bit for bit, alone or
     * stacked (dv_linear_forward_rows); without panels the stored rows
     * against the rounded activations (dv_bg_dot), near the same reference
     * and off the exact path. */
    float *ye4 = forward(&exact, x, 4, 2, DV_ACT_NONE), *yp4 = forward(&packed, x, 4, 2, DV_ACT_NONE);
    float *yq4 = forward(&perprod, x, 4, 2, DV_ACT_NONE);
    size_t row = (size_t)out * sizeof(float);
    if (on) {
        dv_pool *pool = NULL;
        dv_err e = { 0 };
        g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, DOCVL_OK);
        dv_ctx ctx = { .n_threads = 2, .pool = pool };
        g_assert_true(dv_linear_rows_alone(&packed, 4, &ctx));
        const dv_linear *lin = &packed;
        float *rows = g_new(float, (size_t)3 * out);
        dv_linear_forward_rows(&lin, &rows, 1, x, 3, &ctx);
        for (int t = 0; t < 4; t++) {
            float *one = forward(&packed, x + (size_t)t * in, 1, 2, DV_ACT_NONE);
            g_assert_cmpmem(one, row, y2 + (size_t)t * out, row);
            g_assert_cmpmem(yp4 + (size_t)t * out, row, y2 + (size_t)t * out, row);
            if (t < 3)
                g_assert_cmpmem(rows + (size_t)t * out, row, one, row);
            g_free(one);
        }
        g_free(rows);
        dv_pool_free(pool);
        int moved = 0;
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < out; j++) {
                double mag, want = reference(w, x, in, t, j, &mag) + bias[j];
                float got = yq4[(size_t)t * out + j];
                g_assert_cmpfloat(fabs(got - want), <=, (in + 2) * FLT_EPSILON * (mag + fabs(want)));
                moved += got != ye4[(size_t)t * out + j];
            }
        g_assert_cmpint(moved, >, 4 * out / 2);
    } else {
        g_assert_cmpmem(ye4, (size_t)4 * out * 4, yp4, (size_t)4 * out * 4);
        g_assert_cmpmem(ye4, (size_t)4 * out * 4, yq4, (size_t)4 * out * 4);
    }
    dv_linear_free(&exact), dv_linear_free(&perprod), dv_linear_free(&packed);
    g_free(w), g_free(bias), g_free(x), g_free(ye), g_free(y1), g_free(y2), g_free(yg);
    g_free(ye4), g_free(yp4), g_free(yq4);
    g_rand_free(r);
}

/* One stored row against one rounded activation row (decoding without
 * panels): every width's tail, both forms near the double reference of the
 * rounded operands; the rounded row the same words in both forms. */
static void test_dot(void)
{
    GRand *r = g_rand_new_with_seed(17);
    const int ins[] = { 1, 2, 31, 32, 33, 127, 128, 129, 301, 2049 };
    int level = dv_cpu_bgemm_level();
    for (size_t k = 0; k < G_N_ELEMENTS(ins); k++) {
        int in = ins[k], k2 = dv_bg_pairs(in);
        uint16_t *w = random_bf16(r, (size_t)in, 0.5);
        float *x = random_floats(r, (size_t)in, 2.0);
        uint32_t *x0 = g_new(uint32_t, k2), *x2 = g_new(uint32_t, k2);
        dv_bg_round_row(x, in, x0, 0);
        dv_bg_round_row(x, in, x2, level);
        g_assert_cmpmem(x0, k2 * sizeof *x0, x2, k2 * sizeof *x2);
        double mag, want = reference(w, x, in, 0, 0, &mag);
        for (int l = 0; l <= level; l += 2) {
            float got = dv_bg_dot(w, x0, in, l);
            g_assert_cmpfloat(fabs(got - want), <=, (in + 2) * FLT_EPSILON * (mag + fabs(want)));
        }
        g_free(w), g_free(x), g_free(x0), g_free(x2);
    }
    g_rand_free(r);
}

/* Only BF16 weights take the bf16 products. */
static void test_linear_dtypes(void)
{
    float w[6] = { 1, 2, 3, 4, 5, 6 };
    dv_tensor t = { .name = "w", .dtype = DV_F32, .ndim = 2, .shape = { 2, 3 }, .data = w,
                    .nbytes = sizeof w };
    dv_linear L;
    dv_err e = { 0 };
    g_assert_cmpint(dv_linear_bind(&L, &t, NULL, 0, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_linear_use_bf16(&L, 1, NULL), ==, 0);
    g_assert_false(L.bf16_mm);
    g_assert_true(L.packed == NULL);
    dv_linear_free(&L);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bgemm/scalar", test_scalar);
    g_test_add_func("/bgemm/avx512bf16", test_avx512bf16);
    g_test_add_func("/bgemm/rounding", test_rounding);
    g_test_add_func("/bgemm/linear", test_linear);
    g_test_add_func("/bgemm/dot", test_dot);
    g_test_add_func("/bgemm/linear-dtypes", test_linear_dtypes);
    return g_test_run();
}
