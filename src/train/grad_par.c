/* The row-wise passes and matrix products of grad_ops.c split over a thread
 * pool, for the batched step's stacked rows (samples x tokens). Rows and
 * elements are cut into chunks that depend on the shapes only, and every
 * reduction over rows (a norm's weight gradient, a bias gradient) runs down
 * whole columns in row order, so these give the bits of the one-thread
 * functions. The exception is a weight gradient dW = dy^T x: its rows are
 * cut into one slice per thread (each packs its operands once) and the
 * slices' sums are added in slice order, so its bits depend on the thread
 * count (and only on it). */
#include <string.h>

#include "kernels/vmath.h"
#include "train/grad_ops.h"

/* A product's weight is packed once per chunk of rows: as few chunks as
 * keep the threads busy (two per thread, so one held up by the machine's
 * other work delays half its share, not all of it; one on one thread),
 * never under this. */
#define MM_MIN_ROWS 128
/* Rows per chunk of a norm, columns per chunk of a column reduction,
 * elements per chunk of an element-wise pass. */
#define NORM_ROWS 64
#define COLS 64
#define ELEMS 16384

typedef enum par_op {
    OP_MM_FWD, OP_MM_DX, OP_BIAS_GRAD, OP_LN_FWD, OP_LN_DX, OP_LN_DW, OP_RMS_FWD, OP_RMS_DX,
    OP_RMS_DW, OP_GELU_FWD, OP_GELU_BWD, OP_SILU_FWD, OP_SILU_BWD, OP_ADD
} par_op;

/* One pass's operands; which are used depends on op (names as in grad_ops.h). */
typedef struct par_job {
    par_op op;
    const float *x, *w, *b, *dy, *mean, *rstd;
    float *y, *dx, *dw, *db;
    float *mean_out, *rstd_out;   /* a norm's forward: its row statistics */
    int n, d, in, out;
    float eps;
    float beta;   /* OP_MM_FWD, OP_MM_DX: 1 adds into y / dx, 0 writes it */
    dv_gemm g;    /* OP_MM_FWD, OP_MM_DX: the product that runs them */
} par_job;

static void mm_fwd(const par_job *j, int lo, int hi)
{
    void (*fwd)(dv_gemm, const float *, const float *, const float *, int, int, int, float *) =
        j->beta != 0.0f ? tg_linear_fwd_add : tg_linear_fwd;
    fwd(j->g, j->x + (size_t)lo * j->in, j->w, j->b, hi - lo, j->in, j->out,
        j->y + (size_t)lo * j->out);
}

static void elementwise(const par_job *j, int lo, int hi)
{
    size_t o = (size_t)lo, c = (size_t)(hi - lo);
    switch (j->op) {
    case OP_GELU_FWD:   /* j->dx: x, to be overwritten by gelu'(x) */
        dv_vgelu_and_grad(j->dx + o, j->y + o, j->dx + o, c);
        break;
    case OP_GELU_BWD:
        dv_vmul(j->dy + o, j->x + o, j->dx + o, c);
        break;
    default:   /* OP_ADD */
        dv_vadd(j->y + o, j->x + o, c);
    }
}

/* Rows [lo, hi) of the SiLU pair (j->d: f; a row of x holds g then u). */
static void silu_rows(const par_job *j, int lo, int hi)
{
    size_t f = (size_t)j->d;
    for (size_t r = (size_t)lo; r < (size_t)hi; r++) {
        const float *g = j->x + 2 * f * r;
        if (j->op == OP_SILU_FWD)
            tg_silu_mul_fwd(g, g + f, j->y + f * r, f);
        else
            tg_silu_mul_bwd(j->dy + f * r, g, g + f, j->dx + 2 * f * r, j->dx + 2 * f * r + f, f);
    }
}

static void chunk(void *arg, int part, int lo, int hi)
{
    (void)part;
    const par_job *j = arg;
    size_t r = (size_t)lo * j->d;
    switch (j->op) {
    case OP_MM_FWD:
        mm_fwd(j, lo, hi);
        break;
    case OP_MM_DX:
        dv_sgemm(j->g, 0, 0, hi - lo, j->in, j->out, 1.0f, j->dy + (size_t)lo * j->out, j->out,
                 j->w, j->in, j->beta, j->dx + (size_t)lo * j->in, j->in);
        break;
    case OP_BIAS_GRAD:
        dv_vadd_rows(j->db + lo, 0, j->dy + lo, (size_t)j->out, (size_t)j->n, (size_t)(hi - lo));
        break;
    case OP_LN_FWD:
        tg_layernorm_fwd(j->x + r, j->y + r, hi - lo, j->d, j->w, j->b, j->eps,
                         j->mean_out + lo, j->rstd_out + lo);
        break;
    case OP_LN_DX:
        tg_layernorm_bwd_rows(j->dy, j->x, j->mean, j->rstd, lo, hi, j->d, j->w, j->dx);
        break;
    case OP_LN_DW:
        tg_layernorm_bwd_cols(j->dy, j->x, j->mean, j->rstd, j->n, j->d, lo, hi, j->dw, j->db);
        break;
    case OP_RMS_FWD:
        tg_rmsnorm_fwd(j->x + r, j->y + r, hi - lo, j->d, j->w, j->eps, j->rstd_out + lo);
        break;
    case OP_RMS_DX:
        tg_rmsnorm_bwd_rows(j->dy, j->x, j->rstd, lo, hi, j->d, j->w, j->dx);
        break;
    case OP_RMS_DW:
        tg_rmsnorm_bwd_cols(j->dy, j->x, j->rstd, j->n, j->d, lo, hi, j->dw);
        break;
    case OP_SILU_FWD:
    case OP_SILU_BWD:
        silu_rows(j, lo, hi);
        break;
    default:
        elementwise(j, lo, hi);
    }
}

static void run(dv_pool *tp, int n, int grain, par_job *j)
{
    dv_pool_for_parts(tp, n, grain, chunk, j);
}

static int mm_rows(dv_pool *tp, int n)
{
    int threads = dv_pool_threads(tp), parts = threads > 1 ? 2 * threads : 1;
    int rows = (n + parts - 1) / parts;
    rows = (rows + 15) / 16 * 16;
    return rows > MM_MIN_ROWS ? rows : MM_MIN_ROWS;
}

static void linear_fwd(dv_pool *tp, dv_gemm g, const float *x, const float *w, const float *b,
                       int n, int in, int out, float *y, float beta)
{
    par_job j = { .op = OP_MM_FWD, .x = x, .w = w, .b = b, .y = y, .in = in, .out = out,
                  .beta = beta, .g = g };
    if (!tp)
        mm_fwd(&j, 0, n);
    else
        run(tp, n, mm_rows(tp, n), &j);
}

void tg_linear_fwd_mt(dv_pool *tp, dv_gemm g, const float *x, const float *w, const float *b,
                      int n, int in, int out, float *y)
{
    linear_fwd(tp, g, x, w, b, n, in, out, y, 0.0f);
}

void tg_linear_fwd_add_mt(dv_pool *tp, dv_gemm g, const float *x, const float *w, const float *b,
                          int n, int in, int out, float *y)
{
    linear_fwd(tp, g, x, w, b, n, in, out, y, 1.0f);
}

/* dW += dy^T x over the rows of slice k, one slice per thread, taken by
 * whichever thread comes; slices after the first go into a buffer of their
 * own (the pool's scratch of part k, only ever used for slice k during the
 * job) and are added afterwards in slice order. */
typedef struct dw_job {
    const float *dy, *x;
    float *dw, *slice[64];
    int n, in, out, n_parts;
    dv_gemm g;
} dw_job;

static void dw_slice(const dw_job *j, int k)
{
    int lo, hi;
    dv_pool_range(j->n, 1, k, j->n_parts, &lo, &hi);
    float *c = k ? j->slice[k] : j->dw;
    if (hi == lo) {
        if (k)
            memset(c, 0, (size_t)j->out * j->in * sizeof *c);
        return;
    }
    dv_sgemm(j->g, 1, 0, j->out, j->in, hi - lo, 1.0f, j->dy + (size_t)lo * j->out, j->out,
             j->x + (size_t)lo * j->in, j->in, k ? 0.0f : 1.0f, c, j->in);
}

static void dw_slices(void *arg, int part, int lo, int hi)
{
    (void)part;
    for (int k = lo; k < hi; k++)
        dw_slice(arg, k);
}

static void dw_sum(void *arg, int lo, int hi)
{
    const dw_job *j = arg;
    for (int p = 1; p < j->n_parts; p++)
        for (int i = lo; i < hi; i++)
            j->dw[i] += j->slice[p][i];
}

static void weight_grad(dv_pool *tp, dv_gemm g, const float *dy, const float *x, int n, int in,
                        int out, float *dw)
{
    dw_job j = { .dy = dy, .x = x, .dw = dw, .n = n, .in = in, .out = out,
                 .n_parts = dv_pool_threads(tp), .g = g };
    int ok = j.n_parts > 1 && j.n_parts <= 64;
    for (int p = 1; ok && p < j.n_parts; p++)
        ok = (j.slice[p] = dv_pool_scratch(tp, p, (size_t)out * in)) != NULL;
    if (!ok) {   /* one thread, or no memory for the slices: one product */
        tg_linear_bwd(g, dy, x, NULL, n, in, out, NULL, dw, NULL);
        return;
    }
    dv_pool_for_parts(tp, j.n_parts, 1, dw_slices, &j);
    dv_pool_for(tp, out * in, ELEMS, dw_sum, &j);
}

static void linear_bwd(dv_pool *tp, dv_gemm g, const float *dy, const float *x, const float *w,
                       int n, int in, int out, float *dx, float *dw, float *db, float beta)
{
    par_job j = { .op = OP_MM_DX, .dy = dy, .w = w, .dx = dx, .db = db, .n = n, .in = in,
                  .out = out, .beta = beta, .g = g };
    if (!tp || n <= 0) {
        if (dx && n > 0)
            chunk(&j, 0, 0, n);
        tg_linear_bwd(g, dy, x, w, n, in, out, NULL, dw, db);
        return;
    }
    if (dx)
        run(tp, n, mm_rows(tp, n), &j);
    if (dw)
        weight_grad(tp, g, dy, x, n, in, out, dw);
    j.op = OP_BIAS_GRAD;
    if (db)
        run(tp, out, COLS, &j);
}

void tg_linear_bwd_mt(dv_pool *tp, dv_gemm g, const float *dy, const float *x, const float *w,
                      int n, int in, int out, float *dx, float *dw, float *db)
{
    linear_bwd(tp, g, dy, x, w, n, in, out, dx, dw, db, 1.0f);
}

void tg_linear_bwd_set_mt(dv_pool *tp, dv_gemm g, const float *dy, const float *x, const float *w,
                          int n, int in, int out, float *dx, float *dw, float *db)
{
    linear_bwd(tp, g, dy, x, w, n, in, out, dx, dw, db, 0.0f);
}

void tg_layernorm_fwd_mt(dv_pool *tp, const float *x, float *y, int n, int d, const float *w,
                         const float *b, float eps, float *mean, float *rstd)
{
    par_job j = { .op = OP_LN_FWD, .x = x, .y = y, .n = n, .d = d, .w = w, .b = b, .eps = eps,
                  .mean_out = mean, .rstd_out = rstd };
    run(tp, n, NORM_ROWS, &j);
}

void tg_layernorm_bwd_mt(dv_pool *tp, const float *dy, const float *x, const float *mean,
                         const float *rstd, int n, int d, const float *w, float *dx, float *dw,
                         float *db)
{
    par_job j = { .op = OP_LN_DX, .dy = dy, .x = x, .mean = mean, .rstd = rstd, .n = n, .d = d,
                  .w = w, .dx = dx, .dw = dw, .db = db };
    if (dx)
        run(tp, n, NORM_ROWS, &j);
    j.op = OP_LN_DW;
    if (dw || db)
        run(tp, d, COLS, &j);
}

void tg_rmsnorm_fwd_mt(dv_pool *tp, const float *x, float *y, int n, int d, const float *w,
                       float eps, float *rstd)
{
    par_job j = { .op = OP_RMS_FWD, .x = x, .y = y, .n = n, .d = d, .w = w, .eps = eps,
                  .rstd_out = rstd };
    run(tp, n, NORM_ROWS, &j);
}

void tg_rmsnorm_bwd_mt(dv_pool *tp, const float *dy, const float *x, const float *rstd, int n,
                       int d, const float *w, float *dx, float *dw)
{
    par_job j = { .op = OP_RMS_DX, .dy = dy, .x = x, .rstd = rstd, .n = n, .d = d, .w = w,
                  .dx = dx, .dw = dw };
    if (dx)
        run(tp, n, NORM_ROWS, &j);
    j.op = OP_RMS_DW;
    if (dw)
        run(tp, d, COLS, &j);
}

void tg_gelu_fwd_mt(dv_pool *tp, float *x, float *y, size_t n)
{
    par_job j = { .op = OP_GELU_FWD, .dx = x, .y = y };
    run(tp, (int)n, ELEMS, &j);
}

void tg_gelu_bwd_mt(dv_pool *tp, const float *dy, const float *dgelu, float *dx, size_t n)
{
    par_job j = { .op = OP_GELU_BWD, .dy = dy, .x = dgelu, .dx = dx };
    run(tp, (int)n, ELEMS, &j);
}

/* Rows per chunk of the SiLU pair: about ELEMS elements. */
static int silu_grain(int f)
{
    return f < ELEMS ? ELEMS / f : 1;
}

void tg_silu_mul_fwd_mt(dv_pool *tp, const float *gu, int n, int f, float *h)
{
    par_job j = { .op = OP_SILU_FWD, .x = gu, .y = h, .d = f };
    run(tp, n, silu_grain(f), &j);
}

void tg_silu_mul_bwd_mt(dv_pool *tp, const float *dh, const float *gu, int n, int f, float *dgu)
{
    par_job j = { .op = OP_SILU_BWD, .dy = dh, .x = gu, .dx = dgu, .d = f };
    run(tp, n, silu_grain(f), &j);
}

void tg_add_mt(dv_pool *tp, float *y, const float *x, size_t n)
{
    par_job j = { .op = OP_ADD, .x = x, .y = y };
    run(tp, (int)n, ELEMS, &j);
}
