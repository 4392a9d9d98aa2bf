/* Gradient checks of every operation the trainer differentiates by hand,
 * against central finite differences: loss = sum(out * R) for a fixed random
 * R, so the backward pass is fed dout = R. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "train/grad_attn.h"
#include "train/grad_conv.h"
#include "train/grad_model.h"
#include "train/grad_ops.h"

#define EPS 1e-2f
#define TOL 2e-2
#define SAMPLES 24

static double dotd(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void expect(const char *what, double rel)
{
    g_test_message("%s: max rel error %.2e", what, rel);
    if (rel > TOL)
        g_test_fail_printf("%s: max rel error %.2e > %.0e", what, rel, TOL);
}

/* ---- linear ---- */

enum { LN_N = 5, LN_IN = 7, LN_OUT = 4 };
typedef struct lin_case {
    float x[LN_N * LN_IN], w[LN_OUT * LN_IN], b[LN_OUT], r[LN_N * LN_OUT];
} lin_case;

static double lin_loss(void *u)
{
    lin_case *c = u;
    float y[LN_N * LN_OUT];
    tg_linear_fwd(DV_GEMM_BLAS, c->x, c->w, c->b, LN_N, LN_IN, LN_OUT, y);
    return dotd(y, c->r, LN_N * LN_OUT);
}

static void test_linear(void)
{
    lin_case c;
    uint64_t s = 1;
    gc_fill(c.x, LN_N * LN_IN, &s, 1), gc_fill(c.w, LN_OUT * LN_IN, &s, 1);
    gc_fill(c.b, LN_OUT, &s, 1), gc_fill(c.r, LN_N * LN_OUT, &s, 1);
    float dx[LN_N * LN_IN] = { 0 }, dw[LN_OUT * LN_IN] = { 0 }, db[LN_OUT] = { 0 };
    tg_linear_bwd(DV_GEMM_BLAS, c.r, c.x, c.w, LN_N, LN_IN, LN_OUT, dx, dw, db);
    expect("linear dx", gc_check(c.x, dx, LN_N * LN_IN, SAMPLES, EPS, lin_loss, &c));
    expect("linear dW", gc_check(c.w, dw, LN_OUT * LN_IN, SAMPLES, EPS, lin_loss, &c));
    expect("linear db", gc_check(c.b, db, LN_OUT, SAMPLES, EPS, lin_loss, &c));
}

/* ---- LayerNorm (also LayerNorm2d: the same op over NHWC channels) and RMSNorm ---- */

enum { NR = 3, ND = 8 };
typedef struct norm_case { int rms; float x[NR * ND], w[ND], b[ND], r[NR * ND]; } norm_case;

static double norm_loss(void *u)
{
    norm_case *c = u;
    float y[NR * ND], m[NR], rs[NR];
    if (c->rms)
        tg_rmsnorm_fwd(c->x, y, NR, ND, c->w, 1e-6f, rs);
    else
        tg_layernorm_fwd(c->x, y, NR, ND, c->w, c->b, 1e-6f, m, rs);
    return dotd(y, c->r, NR * ND);
}

static void norm_check(int rms)
{
    norm_case c = { .rms = rms };
    uint64_t s = 2 + rms;
    gc_fill(c.x, NR * ND, &s, 2), gc_fill(c.w, ND, &s, 1), gc_fill(c.b, ND, &s, 1);
    gc_fill(c.r, NR * ND, &s, 1);
    for (int i = 0; i < NR * ND; i++)
        c.x[i] += 0.5f;   /* a non-zero mean */
    float y[NR * ND], m[NR], rs[NR], dx[NR * ND] = { 0 }, dw[ND] = { 0 }, db[ND] = { 0 };
    if (rms) {
        tg_rmsnorm_fwd(c.x, y, NR, ND, c.w, 1e-6f, rs);
        tg_rmsnorm_bwd(c.r, c.x, rs, NR, ND, c.w, dx, dw);
    } else {
        tg_layernorm_fwd(c.x, y, NR, ND, c.w, c.b, 1e-6f, m, rs);
        tg_layernorm_bwd(c.r, c.x, m, rs, NR, ND, c.w, dx, dw, db);
    }
    expect(rms ? "rmsnorm dx" : "layernorm dx",
           gc_check(c.x, dx, NR * ND, SAMPLES, EPS, norm_loss, &c));
    expect(rms ? "rmsnorm dw" : "layernorm dw", gc_check(c.w, dw, ND, SAMPLES, EPS, norm_loss, &c));
    if (!rms)
        expect("layernorm db", gc_check(c.b, db, ND, SAMPLES, EPS, norm_loss, &c));
}

static void test_layernorm(void) { norm_check(0); }
static void test_rmsnorm(void) { norm_check(1); }

/* ---- GELU, SiLU-gated product, RoPE ---- */

enum { EN = 40 };
typedef struct elt_case { int op; float x[EN], u[EN], r[EN]; } elt_case;

static float rope_cos[EN / 8 * 2], rope_sin[EN / 8 * 2];

static double elt_loss(void *uu)
{
    elt_case *c = uu;
    float y[EN];
    if (c->op == 0)
        tg_gelu_fwd(c->x, y, EN);
    else if (c->op == 1)
        tg_silu_mul_fwd(c->x, c->u, y, EN);
    else {
        memcpy(y, c->x, sizeof y);   /* 5 rows x 2 heads x head_dim 4 */
        tg_rope_apply(y, 5, 2, 4, 8, rope_cos, rope_sin, 0);
    }
    return dotd(y, c->r, EN);
}

static void elt_check(int op)
{
    elt_case c = { .op = op };
    uint64_t s = 10 + op;
    gc_fill(c.x, EN, &s, 3), gc_fill(c.u, EN, &s, 1), gc_fill(c.r, EN, &s, 1);
    float dx[EN] = { 0 }, du[EN] = { 0 };
    if (op == 0)
        tg_gelu_bwd(c.r, c.x, dx, EN);
    else if (op == 1)
        tg_silu_mul_bwd(c.r, c.x, c.u, dx, du, EN);
    else {
        tg_rope_tables(3, 5, 4, 10000.0f, rope_cos, rope_sin);
        memcpy(dx, c.r, sizeof dx);
        tg_rope_apply(dx, 5, 2, 4, 8, rope_cos, rope_sin, 1);
    }
    const char *name[] = { "gelu dx", "silu_mul dgate", "rope dx" };
    expect(name[op], gc_check(c.x, dx, EN, SAMPLES, EPS, elt_loss, &c));
    if (op == 1)
        expect("silu_mul dup", gc_check(c.u, du, EN, SAMPLES, EPS, elt_loss, &c));
}

static void test_gelu(void) { elt_check(0); }
static void test_silu_mul(void) { elt_check(1); }
static void test_rope(void) { elt_check(2); }

/* ---- cross-entropy with an ignore mask ---- */

enum { CN = 4, CV = 6 };
typedef struct ce_case { float z[CN * CV]; int32_t labels[CN]; } ce_case;

static double ce_loss(void *u)
{
    ce_case *c = u;
    float z[CN * CV];
    int n;
    memcpy(z, c->z, sizeof z);
    return tg_cross_entropy(z, c->labels, CN, CV, 1.0f, NULL, &n) / n;
}

static void test_cross_entropy(void)
{
    ce_case c = { .labels = { 2, -100, 5, 0 } };
    uint64_t s = 20;
    gc_fill(c.z, CN * CV, &s, 3);
    float z[CN * CV], dz[CN * CV];
    int n;
    memcpy(z, c.z, sizeof z);
    tg_cross_entropy(z, c.labels, CN, CV, 1.0f / 3, dz, &n);
    g_assert_cmpint(n, ==, 3);
    for (int j = 0; j < CV; j++)
        g_assert_cmpfloat(dz[CV + j], ==, 0.0f);   /* the ignored row */
    expect("cross-entropy dlogits", gc_check(c.z, dz, CN * CV, SAMPLES, EPS, ce_loss, &c));
}

/* ---- attention: bidirectional, causal GQA, SAM relative positions ---- */

enum { AMAX = 16 * 16 };
typedef struct attn_case {
    tg_attn a;
    float q[AMAX], k[AMAX], v[AMAX], out[AMAX], r[AMAX], lse[64], rh[64], rw[64];
} attn_case;

static double attn_loss(void *u)
{
    attn_case *c = u;
    dv_err e = { 0 };
    g_assert_cmpint(tg_attn_fwd(&c->a, &e), ==, 0);
    return dotd(c->out, c->r, (size_t)c->a.n * c->a.n_heads * c->a.head_dim);
}

static void attn_check(const char *what, int n, int heads, int kv_heads, int causal, int g)
{
    static attn_case c;
    memset(&c, 0, sizeof c);
    int hd = 4;
    size_t qd = (size_t)heads * hd, kd = (size_t)kv_heads * hd;
    c.a = (tg_attn){ .n = n, .n_heads = heads, .n_kv_heads = kv_heads, .head_dim = hd, .q = c.q,
                     .k = c.k, .v = c.v, .q_stride = qd, .k_stride = kd, .v_stride = kd,
                     .out = c.out, .out_stride = qd, .scale = 0.5f, .causal = causal,
                     .rel_g = g, .rel_h = g ? c.rh : NULL, .rel_w = g ? c.rw : NULL,
                     .lse = c.lse };
    uint64_t s = 30 + (uint64_t)n;
    gc_fill(c.q, n * qd, &s, 1.5f), gc_fill(c.k, n * kd, &s, 1.5f), gc_fill(c.v, n * kd, &s, 1);
    gc_fill(c.r, n * qd, &s, 1), gc_fill(c.rh, 64, &s, 1), gc_fill(c.rw, 64, &s, 1);
    attn_loss(&c);
    float dq[AMAX] = { 0 }, dk[AMAX] = { 0 }, dv[AMAX] = { 0 }, drh[64] = { 0 }, drw[64] = { 0 };
    tg_attn_grads gr = { .dout = c.r, .dout_stride = qd, .dq = dq, .dk = dk, .dv = dv,
                         .drel_h = g ? drh : NULL, .drel_w = g ? drw : NULL };
    dv_err e = { 0 };
    g_assert_cmpint(tg_attn_bwd(&c.a, &gr, &e), ==, 0);
    char name[96];
    snprintf(name, sizeof name, "%s dq", what);
    expect(name, gc_check(c.q, dq, n * qd, SAMPLES, EPS, attn_loss, &c));
    snprintf(name, sizeof name, "%s dk", what);
    expect(name, gc_check(c.k, dk, n * kd, SAMPLES, EPS, attn_loss, &c));
    snprintf(name, sizeof name, "%s dv", what);
    expect(name, gc_check(c.v, dv, n * kd, SAMPLES, EPS, attn_loss, &c));
    if (g) {
        snprintf(name, sizeof name, "%s drel_h", what);
        expect(name, gc_check(c.rh, drh, (size_t)n * g, SAMPLES, EPS, attn_loss, &c));
        snprintf(name, sizeof name, "%s drel_w", what);
        expect(name, gc_check(c.rw, drw, (size_t)n * g, SAMPLES, EPS, attn_loss, &c));
    }
}

static void test_attention(void)
{
    attn_check("attention bidirectional", 7, 2, 2, 0, 0);
    attn_check("attention causal GQA", 6, 4, 2, 1, 0);
    attn_check("attention rel-pos 3x3", 9, 1, 1, 0, 3);
}

/* Probabilities kept by the forward pass give the backward the gradients
 * it gets by recomputing them (to float rounding: the kept ones are
 * scaled by 1 / sum, the recomputed ones exp(s - lse)), over several query
 * blocks, causal and not. */
static void attn_kept_case(int n, int heads, int kv_heads, int causal)
{
    int hd = 8;
    size_t qd = (size_t)heads * hd, kd = (size_t)kv_heads * hd, nq = (size_t)n * qd;
    size_t nk = (size_t)n * kd;
    float *buf = calloc(5 * nq + 6 * nk + (size_t)heads * n, sizeof *buf);
    float *p = malloc(tg_attn_p_floats(n, heads, causal) * sizeof *p);
    g_assert_nonnull(buf);
    g_assert_nonnull(p);
    float *q = buf, *out = q + nq, *dout = out + nq, *k = dout + nq, *v = k + nk;
    float *dq[2] = { v + nk, v + nk + nq }, *dk[2] = { dq[1] + nq, dq[1] + nq + nk };
    float *dv[2] = { dk[1] + nk, dk[1] + 2 * nk }, *lse = dv[1] + nk;
    uint64_t s = 77 + (uint64_t)n;
    gc_fill(q, nq, &s, 1.5f), gc_fill(k, nk, &s, 1.5f), gc_fill(v, nk, &s, 1);
    gc_fill(dout, nq, &s, 1);
    tg_attn a = { .n = n, .n_heads = heads, .n_kv_heads = kv_heads, .head_dim = hd, .q = q,
                  .k = k, .v = v, .q_stride = qd, .k_stride = kd, .v_stride = kd, .out = out,
                  .out_stride = qd, .scale = 0.35f, .causal = causal, .lse = lse };
    dv_err e = { 0 };
    for (int kept = 0; kept < 2; kept++) {
        a.p = kept ? p : NULL;
        g_assert_cmpint(tg_attn_fwd(&a, &e), ==, 0);
        tg_attn_grads g = { .dout = dout, .dout_stride = qd, .dq = dq[kept], .dk = dk[kept],
                            .dv = dv[kept] };
        g_assert_cmpint(tg_attn_bwd(&a, &g, &e), ==, 0);
    }
    for (size_t i = 0; i < nq; i++)
        g_assert_cmpfloat(fabsf(dq[0][i] - dq[1][i]), <=, 1e-5f * (1 + fabsf(dq[0][i])));
    for (size_t i = 0; i < nk; i++) {
        g_assert_cmpfloat(fabsf(dk[0][i] - dk[1][i]), <=, 1e-5f * (1 + fabsf(dk[0][i])));
        g_assert_cmpfloat(fabsf(dv[0][i] - dv[1][i]), <=, 1e-5f * (1 + fabsf(dv[0][i])));
    }
    free(p);
    free(buf);
}

static void test_attention_kept(void)
{
    attn_kept_case(150, 2, 1, 1);   /* three causal query blocks of 64 */
    attn_kept_case(70, 2, 2, 0);
}

/* ---- convolutions and bilinear interpolation ---- */

enum { CMAX = 512 };
typedef struct conv_case {
    tg_conv c;
    int h, w, patch;
    float x[CMAX], wt[CMAX], b[8], y[CMAX], r[CMAX];
} conv_case;

static double conv_loss(void *u)
{
    conv_case *c = u;
    dv_err e = { 0 };
    int oh, ow;
    if (c->patch) {
        float mean[3] = { 0.5f, 0.4f, 0.3f }, std[3] = { 0.2f, 0.3f, 0.25f };
        g_assert_cmpint(tg_patch_fwd(&c->c, c->x, c->h, c->w, mean, std, c->wt, c->b, c->y, &e),
                        ==, 0);
        oh = c->h / c->c.k, ow = c->w / c->c.k;
    } else {
        g_assert_cmpint(tg_conv_fwd(&c->c, c->x, c->h, c->w, c->wt, c->b, c->y, &e), ==, 0);
        tg_conv_out(&c->c, c->h, c->w, &oh, &ow);
    }
    return dotd(c->y, c->r, (size_t)oh * ow * c->c.cout);
}

static void conv_check(const char *what, tg_conv cv, int h, int w, int patch)
{
    static conv_case c;
    memset(&c, 0, sizeof c);
    c.c = cv, c.h = h, c.w = w, c.patch = patch;
    size_t nx = (size_t)h * w * cv.cin, nw = (size_t)cv.cout * cv.cin * cv.k * cv.k;
    uint64_t s = 40 + (uint64_t)cv.k * 3 + (uint64_t)cv.stride;
    gc_fill(c.x, nx, &s, 1), gc_fill(c.wt, nw, &s, 1), gc_fill(c.b, (size_t)cv.cout, &s, 1);
    gc_fill(c.r, CMAX, &s, 1);
    float mean[3] = { 0.5f, 0.4f, 0.3f }, std[3] = { 0.2f, 0.3f, 0.25f };
    float dx[CMAX] = { 0 }, dw[CMAX] = { 0 }, db[8] = { 0 };
    dv_err e = { 0 };
    if (patch)
        g_assert_cmpint(tg_patch_bwd(&c.c, c.x, h, w, mean, std, c.r, dw, db, &e), ==, 0);
    else
        g_assert_cmpint(tg_conv_bwd(&c.c, c.x, h, w, c.wt, c.r, dx, dw, db, &e), ==, 0);
    char name[96];
    if (!patch) {
        snprintf(name, sizeof name, "%s dx", what);
        expect(name, gc_check(c.x, dx, nx, SAMPLES, EPS, conv_loss, &c));
    }
    snprintf(name, sizeof name, "%s dW", what);
    expect(name, gc_check(c.wt, dw, nw, SAMPLES, EPS, conv_loss, &c));
    snprintf(name, sizeof name, "%s db", what);
    expect(name, gc_check(c.b, db, (size_t)cv.cout, SAMPLES, EPS, conv_loss, &c));
}

static void test_conv(void)
{
    conv_check("conv 1x1", (tg_conv){ .cin = 3, .cout = 4, .k = 1, .stride = 1 }, 4, 4, 0);
    conv_check("conv 3x3 pad 1", (tg_conv){ .cin = 3, .cout = 4, .k = 3, .stride = 1, .pad = 1 },
               4, 5, 0);
    conv_check("conv 3x3 stride 2", (tg_conv){ .cin = 3, .cout = 4, .k = 3, .stride = 2, .pad = 1 },
               5, 6, 0);
    conv_check("patch embedding", (tg_conv){ .cin = 3, .cout = 4, .k = 2, .stride = 2 }, 4, 6, 1);
}

typedef struct bil_case { int sh, sw, dh, dw; float x[64], y[256], r[256]; } bil_case;

static double bil_loss(void *u)
{
    bil_case *c = u;
    tg_bilinear_fwd(c->x, c->sh, c->sw, 2, c->y, c->dh, c->dw);
    return dotd(c->y, c->r, (size_t)c->dh * c->dw * 2);
}

static void test_bilinear(void)
{
    bil_case c = { .sh = 3, .sw = 4, .dh = 5, .dw = 7 };
    uint64_t s = 50;
    gc_fill(c.x, 64, &s, 1), gc_fill(c.r, 256, &s, 1);
    float dx[64] = { 0 };
    tg_bilinear_bwd(c.r, c.sh, c.sw, 2, dx, c.dh, c.dw);
    expect("bilinear 3x4 -> 5x7 dx", gc_check(c.x, dx, 24, SAMPLES, EPS, bil_loss, &c));
}

/* ---- a whole ViT block (SAM windowed with padding and rel-pos, SAM
 * global, SigLIP plain) and both aligners ---- */

enum { BW = 8, BMLP = 16, NWEIGHTS = 14 };

typedef struct block_case {
    tg_vit v;
    tg_block b;
    float *x, *r;
    float *w[NWEIGHTS], *g[NWEIGHTS];
    size_t n[NWEIGHTS];
} block_case;

static double block_loss(void *u)
{
    block_case *c = u;
    size_t n = (size_t)c->v.grid_h * c->v.grid_w * BW;
    float *x = g_memdup2(c->x, n * sizeof *x);
    tg_pool pool = { 0 };
    tg_block_act act;
    dv_err e = { 0 };
    g_assert_cmpint(tg_block_fwd(&c->v, &c->b, x, &act, &pool, &e), ==, 0);
    double l = dotd(x, c->r, n);
    tg_pool_free(&pool);
    g_free(x);
    return l;
}

static void block_check(const char *what, int grid_h, int grid_w, int window, int relpos)
{
    block_case c = {
        .v = { .grid_h = grid_h, .grid_w = grid_w, .width = BW, .heads = 2, .mlp = BMLP,
               .relpos = relpos }
    };
    int rs = window ? window : grid_h, L = 2 * rs - 1, hd = BW / 2;
    size_t sizes[NWEIGHTS] = { BW, BW, BW, BW, 3 * BW * BW, 3 * BW, BW * BW, BW, BMLP * BW, BMLP,
                               BW * BMLP, BW, (size_t)L * hd, (size_t)L * hd };
    tg_w *slots[NWEIGHTS] = { &c.b.n1w, &c.b.n1b, &c.b.n2w, &c.b.n2b, &c.b.qkv_w, &c.b.qkv_b,
                              &c.b.proj_w, &c.b.proj_b, &c.b.fc1_w, &c.b.fc1_b, &c.b.fc2_w,
                              &c.b.fc2_b, &c.b.rel_h, &c.b.rel_w };
    const char *names[NWEIGHTS] = { "norm1.w", "norm1.b", "norm2.w", "norm2.b", "qkv.w", "qkv.b",
                                    "proj.w", "proj.b", "fc1.w", "fc1.b", "fc2.w", "fc2.b",
                                    "rel_pos_h", "rel_pos_w" };
    uint64_t s = 60 + (uint64_t)window;
    int nw = relpos ? NWEIGHTS : NWEIGHTS - 2;
    for (int i = 0; i < nw; i++) {
        c.n[i] = sizes[i];
        c.w[i] = g_new(float, sizes[i]);
        c.g[i] = g_new0(float, sizes[i]);
        gc_fill(c.w[i], sizes[i], &s, i < 4 ? 0.5f : 0.6f);
        if (i == 0 || i == 2)
            for (size_t j = 0; j < sizes[i]; j++)
                c.w[i][j] += 1.0f;
        *slots[i] = (tg_w){ c.w[i], c.g[i] };
    }
    c.b.window = window;
    size_t n = (size_t)grid_h * grid_w * BW;
    c.x = g_new(float, n);
    c.r = g_new(float, n);
    gc_fill(c.x, n, &s, 1), gc_fill(c.r, n, &s, 1);
    float *x = g_memdup2(c.x, n * sizeof *x), *dx = g_memdup2(c.r, n * sizeof *dx);
    tg_pool pool = { 0 };
    tg_block_act act;
    dv_err e = { 0 };
    g_assert_cmpint(tg_block_fwd(&c.v, &c.b, x, &act, &pool, &e), ==, 0);
    g_assert_cmpint(tg_block_bwd(&c.v, &c.b, &act, dx, 1, 1, &e), ==, 0);
    char name[128];
    snprintf(name, sizeof name, "%s dx", what);
    expect(name, gc_check(c.x, dx, n, SAMPLES, EPS, block_loss, &c));
    for (int i = 0; i < nw; i++) {
        snprintf(name, sizeof name, "%s %s", what, names[i]);
        expect(name, gc_check(c.w[i], c.g[i], c.n[i], SAMPLES, EPS, block_loss, &c));
    }
    for (int i = 0; i < nw; i++)
        g_free(c.w[i]), g_free(c.g[i]);
    tg_pool_free(&pool);
    g_free(x), g_free(dx), g_free(c.x), g_free(c.r);
}

static void test_vit_block(void)
{
    block_check("SAM block, window 3 over a 5x5 grid (padded)", 5, 5, 3, 1);
    block_check("SAM block, global 4x4", 4, 4, 0, 1);
    block_check("SigLIP block 4x4", 4, 4, 0, 0);
    block_check("SigLIP line block 2x7", 2, 7, 0, 0);
}

enum { AN = 3, AIN = 5, AHI = 6, AE = 8 };

typedef struct aligner_case {
    tg_aligner a;
    float high[AN * AHI], low[AN * AIN], r[AN * AE];
    float w[4][AE * AE], b[4][AE], gw[4][AE * AE], gb[4][AE];
    tg_w lw[2], lb[2];
} aligner_case;

static double aligner_loss(void *u)
{
    aligner_case *c = u;
    float out[AN * AE];
    tg_pool pool = { 0 };
    tg_aligner_act act;
    dv_err e = { 0 };
    g_assert_cmpint(tg_aligner_fwd(&c->a, c->high, c->low, AN, out, &act, &pool, &e), ==, 0);
    tg_pool_free(&pool);
    return dotd(out, c->r, AN * AE);
}

/* mlp_gelu: layers.0 (in -> E), GELU, layers.2; hybrid: high_up_proj and
 * low_up_proj (-> E/2 each), concat, GELU, layers.1. */
static void aligner_check(int hybrid)
{
    static aligner_case c;
    memset(&c, 0, sizeof c);
    uint64_t s = 70 + (uint64_t)hybrid;
    gc_fill(c.high, AN * AHI, &s, 1), gc_fill(c.low, AN * AIN, &s, 1);
    gc_fill(c.r, AN * AE, &s, 1);
    for (int i = 0; i < 4; i++)
        gc_fill(c.w[i], AE * AE, &s, 0.5f), gc_fill(c.b[i], AE, &s, 0.5f);
    c.a = (tg_aligner){ .hybrid = hybrid, .n_layers = hybrid ? 1 : 2, .in_high = AHI,
                        .in_low = AIN, .n_embed = AE, .lw = c.lw, .lb = c.lb };
    if (hybrid) {
        c.a.high_w = (tg_w){ c.w[2], c.gw[2] }, c.a.high_b = (tg_w){ c.b[2], c.gb[2] };
        c.a.low_w = (tg_w){ c.w[3], c.gw[3] }, c.a.low_b = (tg_w){ c.b[3], c.gb[3] };
    }
    for (int i = 0; i < 2; i++)
        c.lw[i] = (tg_w){ c.w[i], c.gw[i] }, c.lb[i] = (tg_w){ c.b[i], c.gb[i] };
    float out[AN * AE], dhigh[AN * AHI] = { 0 }, dlow[AN * AIN] = { 0 };
    tg_pool pool = { 0 };
    tg_aligner_act act;
    dv_err e = { 0 };
    g_assert_cmpint(tg_aligner_fwd(&c.a, c.high, c.low, AN, out, &act, &pool, &e), ==, 0);
    g_assert_cmpint(tg_aligner_bwd(&c.a, &act, AN, c.r, 1, hybrid ? dhigh : NULL, dlow, &pool, &e),
                    ==, 0);
    tg_pool_free(&pool);
    const char *what = hybrid ? "aligner hybrid split" : "aligner mlp_gelu";
    char name[96];
    snprintf(name, sizeof name, "%s dlow", what);
    expect(name, gc_check(c.low, dlow, AN * AIN, SAMPLES, EPS, aligner_loss, &c));
    if (hybrid) {
        snprintf(name, sizeof name, "%s dhigh", what);
        expect(name, gc_check(c.high, dhigh, AN * AHI, SAMPLES, EPS, aligner_loss, &c));
    }
    for (int i = 0; i < (hybrid ? 4 : 2); i++) {
        if (hybrid && i == 1)
            continue;   /* one layer after the split */
        snprintf(name, sizeof name, "%s weight %d", what, i);
        expect(name, gc_check(c.w[i], c.gw[i], AE * AE, SAMPLES, EPS, aligner_loss, &c));
        snprintf(name, sizeof name, "%s bias %d", what, i);
        expect(name, gc_check(c.b[i], c.gb[i], AE, SAMPLES, EPS, aligner_loss, &c));
    }
}

static void test_aligners(void)
{
    aligner_check(0);
    aligner_check(1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gradcheck/linear", test_linear);
    g_test_add_func("/gradcheck/layernorm", test_layernorm);
    g_test_add_func("/gradcheck/rmsnorm", test_rmsnorm);
    g_test_add_func("/gradcheck/gelu", test_gelu);
    g_test_add_func("/gradcheck/silu_mul", test_silu_mul);
    g_test_add_func("/gradcheck/rope", test_rope);
    g_test_add_func("/gradcheck/cross_entropy", test_cross_entropy);
    g_test_add_func("/gradcheck/attention", test_attention);
    g_test_add_func("/gradcheck/attention_kept", test_attention_kept);
    g_test_add_func("/gradcheck/conv", test_conv);
    g_test_add_func("/gradcheck/bilinear", test_bilinear);
    g_test_add_func("/gradcheck/vit_block", test_vit_block);
    g_test_add_func("/gradcheck/aligners", test_aligners);
    return g_test_run();
}
