/* Blocked attention against a direct softmax, across block edges, with GQA,
 * causal masking and an additive bias, on either fp32 product (dv_ctx.gemm);
 * convolution against a direct loop. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "kernels/attention.h"
#include "kernels/cpu.h"
#include "kernels/kvrow.h"
#include "kernels/pool.h"
#include "kernels/conv.h"
#include "testutil.h"

static float frand(guint32 *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) / 16777216.0 * 2.0 - 1.0);
}

typedef struct bias_ctx {
    int n_kv;
    const float *table;   /* [n_q, n_kv] per head 0 only; other heads get 0 */
} bias_ctx;

static void table_bias(void *u, int head, int q0, int nq, int k0, int nk, float *s, int ld)
{
    const bias_ctx *b = u;
    if (head != 0)
        return;
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++)
            s[(size_t)i * ld + j] += b->table[(size_t)(q0 + i) * b->n_kv + k0 + j];
}

/* Direct softmax(scale q k^T + bias) v in double. */
static void reference(const dv_attn *a, const float *kf, const float *vf, const bias_ctx *bc,
                      double *out)
{
    int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    double *p = g_new(double, a->n_kv);
    for (int h = 0; h < a->n_heads; h++)
        for (int i = 0; i < a->n_q; i++) {
            const float *q = a->q + (size_t)i * a->q_stride + (size_t)h * hd;
            double mx = -INFINITY, sum = 0;
            int last = a->causal ? a->q_pos0 + i : a->n_kv - 1;
            for (int j = 0; j <= last && j < a->n_kv; j++) {
                const float *k = kf + (size_t)j * a->k_stride + (size_t)(h / group) * hd;
                double d = 0;
                for (int c = 0; c < hd; c++)
                    d += (double)q[c] * k[c];
                p[j] = d * a->scale + (bc && h == 0 ? bc->table[(size_t)i * bc->n_kv + j] : 0);
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int j = 0; j <= last && j < a->n_kv; j++)
                sum += (p[j] = exp(p[j] - mx));
            for (int c = 0; c < hd; c++) {
                double acc = 0;
                for (int j = 0; j <= last && j < a->n_kv; j++)
                    acc += p[j] * vf[(size_t)j * a->v_stride + (size_t)(h / group) * hd + c];
                out[(size_t)i * a->n_heads * hd + (size_t)h * hd + c] = acc / sum;
            }
        }
    g_free(p);
}

/* Every case on OpenBLAS's product and docvl's (dv_ctx.gemm), on the
 * caller's thread and on a pool: each within 2e-5 of the reference, and
 * docvl's the same bits on both (its products' bits do not depend on the
 * thread). Returns how many caches (f32, f16) gave different bits on the
 * two products. */
static int run_case(int n_q, int n_kv, int heads, int kv_heads, int hd, int causal, int pos0,
                    int with_bias)
{
    guint32 seed = (guint32)(n_q * 7 + n_kv * 13 + heads + hd);
    int qw = heads * hd, kw = kv_heads * hd;
    float *q = g_new(float, (size_t)n_q * qw), *k = g_new(float, (size_t)n_kv * kw);
    float *v = g_new(float, (size_t)n_kv * kw), *out = g_new(float, (size_t)n_q * qw);
    float *table = g_new(float, (size_t)n_q * n_kv);
    double *ref = g_new(double, (size_t)n_q * qw);
    for (size_t i = 0; i < (size_t)n_q * qw; i++)
        q[i] = 2 * frand(&seed);
    for (size_t i = 0; i < (size_t)n_kv * kw; i++) {
        k[i] = 2 * frand(&seed);
        v[i] = frand(&seed);
    }
    for (size_t i = 0; i < (size_t)n_q * n_kv; i++)
        table[i] = 3 * frand(&seed);
    bias_ctx bc = { n_kv, table };
    dv_attn a = { .n_q = n_q, .n_kv = n_kv, .n_heads = heads, .n_kv_heads = kv_heads,
                  .head_dim = hd, .q = q, .k = k, .v = v, .q_stride = (size_t)qw,
                  .k_stride = (size_t)kw, .v_stride = (size_t)kw, .out = out,
                  .out_stride = (size_t)qw, .scale = 1.0f / sqrtf((float)hd), .causal = causal,
                  .q_pos0 = pos0, .bias = with_bias ? table_bias : NULL,
                  .bias_user = with_bias ? &bc : NULL };
    dv_err e = { 0 };
    /* an f16 cache: the reference sees the values the cache holds */
    uint16_t *k16 = g_new(uint16_t, (size_t)n_kv * kw), *v16 = g_new(uint16_t, (size_t)n_kv * kw);
    float *kh = g_new(float, (size_t)n_kv * kw), *vh = g_new(float, (size_t)n_kv * kw);
    dv_f32_to_f16_row(k, k16, n_kv * kw);
    dv_f32_to_f16_row(v, v16, n_kv * kw);
    dv_f16_to_f32_row(k16, kh, n_kv * kw);
    dv_f16_to_f32_row(v16, vh, n_kv * kw);
    float *got[2] = { g_new(float, (size_t)n_q * qw), g_new(float, (size_t)n_q * qw) };
    int differ = 0;
    for (int f16 = 0; f16 < 2; f16++) {
        a.kv_f16 = f16;
        a.k = f16 ? (const void *)k16 : k;
        a.v = f16 ? (const void *)v16 : v;
        reference(&a, f16 ? kh : k, f16 ? vh : v, with_bias ? &bc : NULL, ref);
        /* the caller's thread alone, and a pool splitting (head, query block) items */
        for (int g = DV_GEMM_BLAS; g <= DV_GEMM_OWN; g++)
            for (int threads = 1; threads <= 3; threads += 2) {
                dv_pool *pool = NULL;
                if (threads > 1)
                    g_assert_cmpint(dv_pool_new(threads, &pool, &e), ==, DOCVL_OK);
                dv_ctx ctx = { .n_threads = threads, .pool = pool, .gemm = (dv_gemm)g };
                memset(out, 0, (size_t)n_q * qw * sizeof *out);
                g_assert_cmpint(dv_attention(&a, NULL, &ctx, &e), ==, DOCVL_OK);
                double worst = 0;
                for (size_t i = 0; i < (size_t)n_q * qw; i++)
                    worst = fmax(worst, fabs(out[i] - ref[i]));
                g_assert_cmpfloat(worst, <, 2e-5);
                if (threads == 1)
                    memcpy(got[g], out, (size_t)n_q * qw * sizeof *out);
                else if (g == DV_GEMM_OWN)
                    g_assert_cmpmem(out, (size_t)n_q * qw * sizeof *out, got[g],
                                    (size_t)n_q * qw * sizeof *out);
                dv_pool_free(pool);
            }
        differ += memcmp(got[0], got[1], (size_t)n_q * qw * sizeof *out) != 0;
    }
    g_free(got[0]);
    g_free(got[1]);
    g_free(k16);
    g_free(v16);
    g_free(kh);
    g_free(vh);
    g_free(q);
    g_free(k);
    g_free(v);
    g_free(out);
    g_free(table);
    g_free(ref);
    return differ;
}

/* A prefill's attention (the 1.3B's head of 128, grouped heads, causal,
 * two key blocks): where AVX-512 runs, docvl's product gives other bits
 * than OpenBLAS's for both caches, so the context's choice is the product
 * that ran; elsewhere docvl's falls back to OpenBLAS's bits. */
static void test_gemm(void)
{
    int differ = run_case(300, 1100, 4, 2, 128, 1, 800, 0);
    g_assert_cmpint(differ, ==, dv_cpu_has_avx512() ? 2 : 0);
}

static void test_full(void) { run_case(150, 700, 2, 2, 16, 0, 0, 0); }
static void test_bias(void) { run_case(196, 196, 3, 3, 8, 0, 0, 1); }
static void test_gqa(void) { run_case(70, 300, 4, 2, 16, 0, 0, 0); }
static void test_causal_prefill(void) { run_case(333, 333, 2, 1, 16, 1, 0, 0); }
static void test_causal_decode(void) { run_case(1, 520, 4, 4, 32, 1, 519, 0); }
/* the 1.3B's decode step: few scores, but megabytes of cache for the pool */
static void test_decode_wide(void) { run_case(1, 600, 16, 16, 128, 1, 599, 0); }
static void test_causal_chunk(void) { run_case(70, 600, 2, 2, 8, 1, 530, 1); }
/* big enough for worker threads: causal, grouped heads and a bias at once */
/* more keys than one key block: the running softmax carries across blocks */
static void test_long(void) { run_case(300, 2500, 2, 1, 16, 1, 2200, 1); }
static void test_long_full(void) { run_case(260, 2100, 2, 2, 8, 0, 0, 0); }
static void test_threads(void) { run_case(512, 512, 4, 2, 16, 1, 0, 1); }

/* Several sequences' decoding attention as one job: every output float is
 * what dv_attention gives that sequence alone, whichever thread computed it
 * (sequences of different lengths and query counts, an f16 and an f32
 * cache, enough work to be split over 3 threads); a prefill-sized or biased
 * one among them sends all through dv_attention. */
static void test_many(void)
{
    enum { N = 5, HEADS = 8, KVH = 2, HD = 64 };
    const int n_kv[N] = { 4000, 17, 3500, 6, 1800 }, n_q[N] = { 1, 2, 1, 4, 1 };
    guint32 seed = 11;
    dv_attn a[N];
    float *alone[N], *q[N], *k[N], *v[N];
    uint16_t *k16[N], *v16[N];
    for (int i = 0; i < N; i++) {
        size_t kw = (size_t)KVH * HD * n_kv[i], qw = (size_t)HEADS * HD * n_q[i];
        q[i] = g_new(float, qw), k[i] = g_new(float, kw), v[i] = g_new(float, kw);
        alone[i] = g_new(float, qw);
        k16[i] = g_new(uint16_t, kw), v16[i] = g_new(uint16_t, kw);
        for (size_t j = 0; j < qw; j++)
            q[i][j] = 2 * frand(&seed);
        for (size_t j = 0; j < kw; j++)
            k[i][j] = 2 * frand(&seed), v[i][j] = frand(&seed);
        dv_f32_to_f16_row(k[i], k16[i], (int)kw);
        dv_f32_to_f16_row(v[i], v16[i], (int)kw);
        int f16 = i % 2;
        a[i] = (dv_attn){ .n_q = n_q[i], .n_kv = n_kv[i], .n_heads = HEADS, .n_kv_heads = KVH,
                          .head_dim = HD, .q = q[i], .k = f16 ? (void *)k16[i] : k[i],
                          .v = f16 ? (void *)v16[i] : v[i], .q_stride = HEADS * HD,
                          .k_stride = KVH * HD, .v_stride = KVH * HD, .kv_f16 = f16,
                          .out = alone[i], .out_stride = HEADS * HD, .scale = 0.125f,
                          .causal = 1, .q_pos0 = n_kv[i] - n_q[i] };
    }
    dv_err e = { 0 };
    dv_ctx one = { .n_threads = 1 };
    for (int i = 0; i < N; i++)
        g_assert_cmpint(dv_attention(&a[i], NULL, &one, &e), ==, DOCVL_OK);
    dv_pool *pool = NULL;
    g_assert_cmpint(dv_pool_new(3, &pool, &e), ==, DOCVL_OK);
    dv_ctx ctx = { .n_threads = 3, .pool = pool };
    for (int count = 1; count <= N; count += 2) {
        dv_attn b[N];
        float *out[N];
        for (int i = 0; i < count; i++) {
            size_t qw = (size_t)HEADS * HD * n_q[i];
            out[i] = g_new(float, qw);
            memset(out[i], 0xff, qw * sizeof(float));
            b[i] = a[i];
            b[i].out = out[i];
        }
        g_assert_cmpint(dv_attention_many(b, count, &ctx, &e), ==, DOCVL_OK);
        for (int i = 0; i < count; i++) {
            g_assert_cmpmem(out[i], (size_t)HEADS * HD * n_q[i] * sizeof(float), alone[i],
                            (size_t)HEADS * HD * n_q[i] * sizeof(float));
            g_free(out[i]);
        }
    }
    /* five queries: not decoding; dv_attention's blocked path for all */
    float *q5 = g_new(float, (size_t)5 * HEADS * HD), *o5 = g_new(float, (size_t)5 * HEADS * HD);
    float *o5_alone = g_new(float, (size_t)5 * HEADS * HD);
    for (int j = 0; j < 5 * HEADS * HD; j++)
        q5[j] = frand(&seed);
    dv_attn b[2] = { a[0], a[2] };
    b[1].n_q = 5, b[1].q = q5, b[1].q_pos0 = n_kv[2] - 5, b[1].out = o5_alone;
    g_assert_cmpint(dv_attention(&b[1], NULL, &ctx, &e), ==, DOCVL_OK);
    float *o0 = g_new(float, HEADS * HD);
    b[0].out = o0, b[1].out = o5;
    g_assert_cmpint(dv_attention_many(b, 2, &ctx, &e), ==, DOCVL_OK);
    g_assert_cmpmem(o0, HEADS * HD * sizeof(float), alone[0], HEADS * HD * sizeof(float));
    g_assert_cmpmem(o5, 5 * HEADS * HD * sizeof(float), o5_alone, 5 * HEADS * HD * sizeof(float));
    /* a bad one is reported, not skipped */
    b[1].n_kv_heads = 3;
    g_assert_cmpint(dv_attention_many(b, 2, &ctx, &e), ==, DOCVL_EINVAL);
    dv_pool_free(pool);
    g_free(q5), g_free(o5), g_free(o5_alone), g_free(o0);
    for (int i = 0; i < N; i++)
        g_free(q[i]), g_free(k[i]), g_free(v[i]), g_free(alone[i]), g_free(k16[i]), g_free(v16[i]);
}

static void test_bad_args(void)
{
    float x[4] = { 0 };
    dv_attn a = { .n_q = 1, .n_kv = 1, .n_heads = 3, .n_kv_heads = 2, .head_dim = 1, .q = x,
                  .k = x, .v = x, .out = x };
    dv_err e = { 0 };
    g_assert_cmpint(dv_attention(&a, NULL, NULL, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "3/2 heads"));
}

/* conv over NHWC against a direct loop with PyTorch weight layout. */
static void check_conv(int h, int w, int cin, int cout, int k, int stride, int pad, int bias)
{
    guint32 seed = (guint32)(h * 31 + cin * 7 + k);
    int64_t shape[4] = { cout, cin, k, k };
    size_t nw = (size_t)cout * cin * k * k;
    float *wt = g_new(float, nw), *b = g_new(float, cout), *x = g_new(float, (size_t)h * w * cin);
    for (size_t i = 0; i < nw; i++)
        wt[i] = frand(&seed);
    for (int i = 0; i < cout; i++)
        b[i] = frand(&seed);
    for (size_t i = 0; i < (size_t)h * w * cin; i++)
        x[i] = frand(&seed);
    dv_tensor tw = { .name = "w", .dtype = DV_F32, .ndim = 4, .data = wt,
                     .nbytes = nw * sizeof(float) };
    memcpy(tw.shape, shape, sizeof shape);
    dv_tensor tb = { .name = "b", .dtype = DV_F32, .ndim = 1, .shape = { cout }, .data = b,
                     .nbytes = (size_t)cout * sizeof(float) };
    dv_conv2d c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_conv2d_bind(&c, &tw, bias ? &tb : NULL, stride, pad, 0, &e), ==, DOCVL_OK);
    int oh, ow;
    dv_conv2d_out_size(&c, h, w, &oh, &ow);
    g_assert_cmpint(oh, ==, (h + 2 * pad - k) / stride + 1);
    float *y = g_new(float, (size_t)oh * ow * cout);
    g_assert_cmpint(dv_conv2d_nhwc(&c, x, h, w, y, NULL, &e), ==, DOCVL_OK);
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            for (int o = 0; o < cout; o++) {
                double acc = bias ? b[o] : 0;
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                acc += (double)wt[((size_t)(o * cin + ci) * k + ky) * k + kx] *
                                       x[((size_t)iy * w + ix) * cin + ci];
                        }
                g_assert_cmpfloat_with_epsilon(y[((size_t)oy * ow + ox) * cout + o], acc, 1e-4);
            }
    dv_conv2d_free(&c);
    g_free(wt);
    g_free(b);
    g_free(x);
    g_free(y);
}

static void test_conv(void)
{
    check_conv(9, 7, 5, 4, 3, 1, 1, 0);
    check_conv(12, 12, 6, 3, 3, 2, 1, 0);
    check_conv(11, 11, 6, 3, 3, 2, 1, 1);   /* odd side: last window half padded */
    check_conv(8, 8, 5, 7, 1, 1, 0, 0);     /* 1x1 fast path */
}

/* patch embedding = conv with stride == kernel over planar, normalised input */
static void test_patch_embed(void)
{
    enum { C = 3, H = 8, W = 12, P = 4, O = 5 };
    guint32 seed = 9;
    float wt[O * C * P * P], bias[O], img[C * H * W];
    for (size_t i = 0; i < G_N_ELEMENTS(wt); i++)
        wt[i] = frand(&seed);
    for (int i = 0; i < O; i++)
        bias[i] = frand(&seed);
    for (size_t i = 0; i < G_N_ELEMENTS(img); i++)
        img[i] = (frand(&seed) + 1) / 2;
    dv_tensor tw = { .name = "w", .dtype = DV_F32, .ndim = 4, .shape = { O, C, P, P }, .data = wt,
                     .nbytes = sizeof wt };
    dv_tensor tb = { .name = "b", .dtype = DV_F32, .ndim = 1, .shape = { O }, .data = bias,
                     .nbytes = sizeof bias };
    dv_conv2d c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_conv2d_bind(&c, &tw, &tb, P, 0, 0, &e), ==, DOCVL_OK);
    const float mean[3] = { 0.5f, 0.4f, 0.3f }, std[3] = { 0.25f, 0.5f, 2.0f };
    float y[(H / P) * (W / P) * O];
    g_assert_cmpint(dv_patch_embed(&c, img, H, W, mean, std, y, NULL, &e), ==, DOCVL_OK);
    for (int py = 0; py < H / P; py++)
        for (int px = 0; px < W / P; px++)
            for (int o = 0; o < O; o++) {
                double acc = bias[o];
                for (int ci = 0; ci < C; ci++)
                    for (int ky = 0; ky < P; ky++)
                        for (int kx = 0; kx < P; kx++)
                            acc += wt[((o * C + ci) * P + ky) * P + kx] *
                                   ((img[(ci * H + py * P + ky) * W + px * P + kx] - mean[ci]) /
                                    std[ci]);
                g_assert_cmpfloat_with_epsilon(y[(py * (W / P) + px) * O + o], acc, 1e-4);
            }
    g_assert_cmpint(dv_patch_embed(&c, img, H, W - 1, mean, std, y, NULL, &e), ==, DOCVL_EINVAL);
    dv_conv2d_free(&c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/attention/full", test_full);
    g_test_add_func("/attention/bias", test_bias);
    g_test_add_func("/attention/gqa", test_gqa);
    g_test_add_func("/attention/causal-prefill", test_causal_prefill);
    g_test_add_func("/attention/causal-decode", test_causal_decode);
    g_test_add_func("/attention/decode-wide", test_decode_wide);
    g_test_add_func("/attention/causal-chunk", test_causal_chunk);
    g_test_add_func("/attention/threads", test_threads);
    g_test_add_func("/attention/long-causal", test_long);
    g_test_add_func("/attention/long-full", test_long_full);
    g_test_add_func("/attention/many", test_many);
    g_test_add_func("/attention/gemm", test_gemm);
    g_test_add_func("/attention/bad-args", test_bad_args);
    g_test_add_func("/conv/nhwc", test_conv);
    g_test_add_func("/conv/patch-embed", test_patch_embed);
    return g_test_run();
}
