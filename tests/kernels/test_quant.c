/* Block quantization: round-trip error bounds, and every AVX2 kernel equal
 * to its scalar form on random data of odd sizes. */
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/linear.h"
#include "kernels/kvrow.h"
#include "kernels/quant.h"
#include "kernels/tensor.h"

static const int sizes[] = { 1, 7, 31, 32, 33, 65, 100, 257, 2049 };
#define N_SIZES (int)(sizeof sizes / sizeof sizes[0])

static float *random_row(GRand *r, int n, double scale)
{
    float *x = g_new(float, n);
    for (int i = 0; i < n; i++)
        x[i] = (float)(g_rand_double_range(r, -1.0, 1.0) * scale);
    return x;
}

/* q8: |w - dequant(w)| <= half a step of its block (+ float rounding). q4:
 * the levels run from -8 to +7 steps, so a value of the opposite sign to the
 * block's largest one may clip by up to one full step. */
static void check_round_trip(dv_qfmt f)
{
    GRand *r = g_rand_new_with_seed(11);
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s];
        float *x = random_row(r, n, 3.0), *back = g_new(float, n);
        void *q = g_malloc(dv_qrow_bytes(f, n));
        dv_quantize_row(f, x, n, q);
        dv_dequantize_row(f, q, n, back);
        for (int b = 0; b < dv_qblocks(n); b++) {
            float amax = 0;
            for (int j = b * DV_QBLOCK; j < n && j < (b + 1) * DV_QBLOCK; j++)
                amax = fmaxf(amax, fabsf(x[j]));
            float bound = f == DV_Q8 ? amax / 127.0f * 0.5f : amax / 8.0f;
            for (int j = b * DV_QBLOCK; j < n && j < (b + 1) * DV_QBLOCK; j++)
                g_assert_cmpfloat(fabsf(x[j] - back[j]), <=, bound * 1.0001f + 1e-7f);
        }
        g_free(x), g_free(back), g_free(q);
    }
    g_rand_free(r);
}

static void test_round_trip_q8(void) { check_round_trip(DV_Q8); }
static void test_round_trip_q4(void) { check_round_trip(DV_Q4); }

/* All-zero and single-spike blocks: no division by zero, the spike exact. */
static void test_degenerate_blocks(void)
{
    float x[40] = { 0 };
    x[35] = -2.5f;
    float back[40];
    dv_qfmt fmts[] = { DV_Q8, DV_Q4 };
    for (int i = 0; i < 2; i++) {
        void *q = g_malloc(dv_qrow_bytes(fmts[i], 40));
        dv_quantize_row(fmts[i], x, 40, q);
        dv_dequantize_row(fmts[i], q, 40, back);
        for (int j = 0; j < 40; j++)
            g_assert_cmpfloat(fabsf(back[j] - x[j]), <=, 1e-6f);
        g_free(q);
    }
}

static double dot_ref(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void assert_close(double got, double want, double scale)
{
    g_assert_cmpfloat(fabs(got - want), <=, 1e-5 * scale + 1e-6);
}

static void test_simd_matches_scalar(void)
{
    if (!dv_cpu_has_avx2_fma()) {
        g_test_skip("this CPU has no AVX2+FMA: only the scalar kernels run");
        return;
    }
    GRand *r = g_rand_new_with_seed(5);
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s], nb = dv_qblocks(n);
        float *w = random_row(r, n, 1.0), *x = random_row(r, n, 2.0), *y = random_row(r, n, 1.0);
        dv_q8_block *xs = g_new(dv_q8_block, nb), *xv = g_new(dv_q8_block, nb);
        dv_quantize_row_q8_simd(x, n, xs, 0);
        dv_quantize_row_q8_simd(x, n, xv, 1);
        g_assert_cmpmem(xs, nb * sizeof *xs, xv, nb * sizeof *xv);
        double mag = dot_ref(x, x, n) + dot_ref(w, w, n);
        dv_qfmt fmts[] = { DV_Q8, DV_Q4 };
        for (int f = 0; f < 2; f++) {
            void *q = g_malloc(dv_qrow_bytes(fmts[f], n));
            dv_quantize_row(fmts[f], w, n, q);
            for (int level = 1; level <= dv_cpu_qdot_level(); level++)
                assert_close(dv_qdot(fmts[f], q, xs, n, level), dv_qdot(fmts[f], q, xs, n, 0), mag);
            g_free(q);
        }
        uint16_t *wb = g_new(uint16_t, n);
        for (int i = 0; i < n; i++)
            wb[i] = dv_f32_to_bf16(w[i]);
        assert_close(dv_bf16_dot(wb, x, n, 1), dv_bf16_dot(wb, x, n, 0), mag);
        assert_close(dv_f32_dot(w, x, n, 1), dot_ref(w, x, n), mag);
        assert_close(dv_f32_dot(w, x, n, 0), dot_ref(w, x, n), mag);
        float *y2 = g_memdup2(y, n * sizeof *y);
        dv_f32_axpy(y, 0.7f, x, n, 1);
        dv_f32_axpy(y2, 0.7f, x, n, 0);
        for (int i = 0; i < n; i++)
            g_assert_cmpfloat(fabsf(y[i] - y2[i]), <=, 1e-6f);
        g_free(w), g_free(x), g_free(y), g_free(y2), g_free(xs), g_free(xv), g_free(wb);
    }
    g_rand_free(r);
}

/* The quantized dot product is the exact dot product of the two dequantized
 * rows (integer sums per block), up to float rounding. */
static void test_qdot_is_dequantized_dot(void)
{
    GRand *r = g_rand_new_with_seed(9);
    int simd_max = dv_cpu_qdot_level();   /* every form this CPU runs */
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s], nb = dv_qblocks(n);
        float *w = random_row(r, n, 1.0), *x = random_row(r, n, 1.0);
        float *wd = g_new(float, n), *xd = g_new(float, n);
        dv_q8_block *xq = g_new(dv_q8_block, nb);
        dv_quantize_row(DV_Q8, x, n, xq);
        dv_dequantize_row(DV_Q8, xq, n, xd);
        dv_qfmt fmts[] = { DV_Q8, DV_Q4 };
        for (int f = 0; f < 2; f++) {
            void *q = g_malloc(dv_qrow_bytes(fmts[f], n));
            dv_quantize_row(fmts[f], w, n, q);
            dv_dequantize_row(fmts[f], q, n, wd);
            for (int simd = 0; simd <= simd_max; simd++)
                assert_close(dv_qdot(fmts[f], q, xq, n, simd), dot_ref(wd, xd, n), n);
            g_free(q);
        }
        g_free(w), g_free(x), g_free(wd), g_free(xd), g_free(xq);
    }
    g_rand_free(r);
}

/* dv_widen's BF16 path (AVX2 where the CPU has it, a scalar tail) gives the
 * bits of the one-value conversion, at every length and offset. */
static void test_widen_bf16(void)
{
    enum { N = 100 };
    uint16_t h[N];
    for (int i = 0; i < N; i++)
        h[i] = (uint16_t)(i * 2654435761u >> 16);
    dv_tensor t = { .dtype = DV_BF16, .data = h };
    for (size_t off = 0; off < 3; off++)
        for (size_t n = 0; n + off <= N; n += 7) {
            float got[N];
            dv_widen(&t, off, n, got);
            for (size_t i = 0; i < n; i++) {
                float want = dv_bf16_to_f32(h[off + i]);
                g_assert_cmpmem(&got[i], sizeof(float), &want, sizeof(float));
            }
        }
}

/* The few-query attention's row loops, f16 and f32, every hd tail and row
 * count tail, against double sums over the values the rows hold. */
static void test_rows_kernels(void)
{
    GRand *r = g_rand_new_with_seed(21);
    int hds[] = { 1, 7, 8, 36, 64, 128, 130 }, nks[] = { 1, 3, 4, 5, 17 };
    for (int simd = 0; simd <= dv_cpu_has_f16c(); simd++)
        for (int f16 = 0; f16 < 2; f16++)
            for (size_t a = 0; a < G_N_ELEMENTS(hds); a++)
                for (size_t b = 0; b < G_N_ELEMENTS(nks); b++) {
                    int hd = hds[a], nk = nks[b];
                    size_t stride = (size_t)hd + 3, n = stride * nk;
                    float *rf = random_row(r, (int)n, 1.0), *q = random_row(r, hd, 1.0);
                    float *p = random_row(r, nk, 1.0), *s = g_new(float, nk), *out = g_new(float, hd);
                    uint16_t *rh = g_new(uint16_t, n);
                    dv_f32_to_f16_row(rf, rh, (int)n);
                    if (f16)
                        dv_f16_to_f32_row(rh, rf, (int)n);   /* the values the rows hold */
                    const void *rows = f16 ? (const void *)rh : rf;
                    dv_rows_dot(rows, f16, stride, nk, q, hd, 0.5f, s, simd);
                    dv_rows_weighted_sum(rows, f16, stride, nk, p, hd, out, simd);
                    for (int j = 0; j < nk; j++) {
                        double want = 0.5 * dot_ref(rf + (size_t)j * stride, q, hd);
                        g_assert_cmpfloat(fabs(s[j] - want), <=, 1e-5 * (1 + hd));
                    }
                    for (int c = 0; c < hd; c++) {
                        double want = 0;
                        for (int j = 0; j < nk; j++)
                            want += (double)p[j] * rf[(size_t)j * stride + c];
                        g_assert_cmpfloat(fabs(out[c] - want), <=, 1e-5 * (1 + nk));
                    }
                    g_free(rf), g_free(q), g_free(p), g_free(s), g_free(out), g_free(rh);
                }
    g_rand_free(r);
}

/* One weight row against several activation rows at once gives each row
 * the float a one-row dot product gives it, bit for bit, at every form the
 * CPU runs and every count up to DV_QDOT_ROWS; the AVX-512 form (two blocks
 * per instruction, odd block counts too) gives the AVX-VNNI form's floats. */
static void test_qdot_rows_match_one(void)
{
    GRand *r = g_rand_new_with_seed(13);
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s], nb = dv_qblocks(n);
        float *w = random_row(r, n, 1.0);
        const dv_q8_block *xs[DV_QDOT_ROWS];
        const int32_t *offs[DV_QDOT_ROWS];
        const void *aux[DV_QDOT_ROWS];
        dv_q8_block *xb = g_new(dv_q8_block, (size_t)nb * DV_QDOT_ROWS);
        int32_t *ob = g_new(int32_t, (size_t)nb * 8 * DV_QDOT_ROWS);
        char *ab = g_malloc(dv_qx_bytes(n) * DV_QDOT_ROWS);
        for (int t = 0; t < DV_QDOT_ROWS; t++) {
            float *x = random_row(r, n, 1.0 + t);
            dv_quantize_row(DV_Q8, x, n, xb + (size_t)t * nb);
            dv_q4_offsets(xb + (size_t)t * nb, nb, ob + (size_t)t * nb * 8);
            dv_qx_prepare(xb + (size_t)t * nb, n, ab + (size_t)t * dv_qx_bytes(n));
            xs[t] = xb + (size_t)t * nb;
            offs[t] = ob + (size_t)t * nb * 8;
            aux[t] = ab + (size_t)t * dv_qx_bytes(n);
            g_free(x);
        }
        dv_qfmt fmts[] = { DV_Q8, DV_Q4 };
        for (int f = 0; f < 2; f++) {
            void *q = g_malloc(dv_qrow_bytes(fmts[f], n));
            dv_quantize_row(fmts[f], w, n, q);
            for (int level = 0; level <= dv_cpu_qdot_level(); level++)
                for (int m = 1; m <= DV_QDOT_ROWS; m++) {
                    float out[DV_QDOT_ROWS];
                    dv_qdot_sums_rows(fmts[f], q, xs, offs, aux, m, n, level, out);
                    for (int t = 0; t < m; t++) {
                        float one = dv_qdot_sums(fmts[f], q, xs[t], offs[t], n,
                                                 level < 2 ? level : 2);
                        g_assert_cmpmem(&out[t], sizeof one, &one, sizeof one);
                    }
                }
            g_free(q);
        }
        g_free(w), g_free(xb), g_free(ob), g_free(ab);
    }
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/quant/round_trip_q8", test_round_trip_q8);
    g_test_add_func("/quant/round_trip_q4", test_round_trip_q4);
    g_test_add_func("/quant/degenerate_blocks", test_degenerate_blocks);
    g_test_add_func("/quant/simd_matches_scalar", test_simd_matches_scalar);
    g_test_add_func("/quant/qdot_is_dequantized_dot", test_qdot_is_dequantized_dot);
    g_test_add_func("/quant/widen_bf16", test_widen_bf16);
    g_test_add_func("/quant/rows-kernels", test_rows_kernels);
    g_test_add_func("/quant/qdot-rows-match-one", test_qdot_rows_match_one);
    return g_test_run();
}
