#include "kernels/linear.h"

#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/bgemm.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "kernels/qgemm.h"
#include "kernels/sgemm512.h"
#include "kernels/vmath.h"

/* Products of at most this many rows read the stored weight directly (each
 * weight row once, dotted with every input row while it sits in L1); more
 * rows pay for widening a panel once and get sgemm's compute rate. */
#define GEMV_MAX_ROWS 8
/* Few-row products give each thread one contiguous run of each weight
 * (dv_pool_range): a long sequential read is what the hardware prefetchers
 * stream at full speed; runs of 64 rows taken in turn cut the 2-thread read
 * rate of a q8 matrix from 57 to 45 GB/s. */

float *dv_tensor_to_f32(const dv_tensor *t, dv_err *e)
{
    size_t n = (size_t)dv_tensor_numel(t);
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f) {
        dv_fail(e, DOCVL_ENOMEM, "out of memory widening \"%s\"", t->name ? t->name : "?");
        return NULL;
    }
    dv_widen(t, 0, n, f);
    return f;
}

void dv_release_mapped(const void *data, size_t nbytes)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !data)
        return;
    /* only whole pages inside the range: neighbours may still be in use */
    uintptr_t lo = ((uintptr_t)data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t hi = ((uintptr_t)data + nbytes) & ~((uintptr_t)page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: failure only costs memory */
}

void dv_prefetch_mapped(const void *data, size_t nbytes)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !data)
        return;
    uintptr_t lo = (uintptr_t)data & ~((uintptr_t)page - 1);
    (void)madvise((void *)lo, (uintptr_t)data + nbytes - lo, MADV_WILLNEED); /* advice only */
}

int dv_linear_bind(dv_linear *L, const dv_tensor *w, const dv_tensor *b, int widen, dv_err *e)
{
    memset(L, 0, sizeof *L);
    if (w->ndim < 2)
        return dv_fail(e, DOCVL_EMODEL, "tensor \"%s\" is not a matrix", w->name);
    int64_t in = 1;
    for (int i = 1; i < w->ndim; i++)
        in *= w->shape[i];
    L->out = (int)w->shape[0];
    L->in = (int)in;
    L->dtype = w->dtype;
    L->w = w->data;
    if (w->dtype != DV_F32 && widen) {
        if (!(L->w_owned = dv_tensor_to_f32(w, e)))
            return e->code;
        L->w = L->w_owned;
        L->dtype = DV_F32;
    }
    if (b) {
        if (dv_tensor_numel(b) != L->out)
            return dv_fail(e, DOCVL_EMODEL, "bias \"%s\" has %lld values, weight \"%s\" has %d rows",
                           b->name, (long long)dv_tensor_numel(b), w->name, L->out);
        if (!(L->b = dv_tensor_to_f32(b, e)))
            return e->code;
    }
    return DOCVL_OK;
}

void dv_linear_free(dv_linear *L)
{
    free(L->w_owned);
    free(L->b);
    if (!L->q_mapped)
        free(L->q);
    free(L->packed);
    memset(L, 0, sizeof *L);
}

size_t dv_linear_weight_bytes(const dv_linear *L)
{
    if (L->qfmt != DV_QNONE)
        return dv_qrow_bytes(L->qfmt, L->in) * (size_t)L->out;
    return (size_t)L->out * (size_t)L->in * dv_dtype_size(L->dtype);
}

/* ---- quantizing at load ---- */

typedef struct quant_job {
    dv_linear *L;
    dv_qfmt f;
    size_t row_bytes;
    int failed;
} quant_job;

static void quant_part(void *arg, int part, int n_parts)
{
    quant_job *j = arg;
    const dv_linear *L = j->L;
    int lo, hi;
    dv_pool_range(L->out, 1, part, n_parts, &lo, &hi);
    float *row = malloc((size_t)L->in * sizeof *row);
    if (!row) {
        j->failed = 1; /* benign race: every writer stores 1 */
        return;
    }
    dv_tensor view = { .dtype = L->dtype, .data = L->w };
    for (int r = lo; r < hi; r++) {
        dv_widen(&view, (size_t)r * L->in, (size_t)L->in, row);
        dv_quantize_row(j->f, row, L->in, (char *)L->q + (size_t)r * j->row_bytes);
    }
    free(row);
}

int dv_linear_quantize(dv_linear *L, dv_qfmt f, dv_pool *pool, dv_err *e)
{
    if (f == DV_QNONE || L->qfmt != DV_QNONE)
        return DOCVL_OK;
    quant_job j = { .L = L, .f = f, .row_bytes = dv_qrow_bytes(f, L->in) };
    if (!(L->q = malloc(j.row_bytes * (size_t)L->out)))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory quantizing a %d x %d weight to %s", L->out,
                       L->in, dv_qfmt_name(f));
    dv_pool_run(pool, quant_part, &j);
    if (j.failed) {
        free(L->q);
        L->q = NULL;
        return dv_fail(e, DOCVL_ENOMEM, "out of memory quantizing a %d x %d weight to %s", L->out,
                       L->in, dv_qfmt_name(f));
    }
    L->qfmt = f;
    free(L->w_owned);
    L->w_owned = NULL;
    L->w = NULL;
    return DOCVL_OK;
}

/* ---- few-row products on the stored weight ---- */

/* One job for several products that share their input (q, k and v; gate
 * and up): x is quantized once, and each thread reads its contiguous run
 * of every matrix in turn with a single hand-off to the pool. */
typedef struct gemv_job {
    const dv_linear *const *L;
    float *const *y;
    int count;
    const float *x;
    const dv_q8_block *xq;  /* x quantized, when the weights are */
    const int32_t *xoff;    /* and its q4 offsets (dv_q4_offsets) */
    const char *xaux;       /* and its AVX-512 layout (dv_qx_prepare), or NULL */
    size_t aux_bytes;
    const uint32_t *xb;     /* x rounded to bf16 pairs (dv_bg_round_row), when the
                               weights are on the bf16 products; else NULL */
    int n;
    int threads;            /* of the pool the job runs on (chunk sizes) */
} gemv_job;

/* Weight bytes per run of rows that every group of input rows goes over in
 * turn: the run stays in L2 after the first group reads it from memory, and
 * each group's rows (4 KiB each at in = 2048) stay in L1 for the whole run.
 * Going over all groups per weight row instead kept 16 input rows (64 KiB)
 * streaming from L2: 16 rows cost 3x what 8 rows cost, not 2x. */
#define QROWS_RUN_BYTES (128u << 10)

/* Quantized rows: up to DV_QDOT_ROWS input rows per pass over a weight row
 * (its blocks loaded once for them), each result the one-row float. */
static void gemv_qrows(const gemv_job *j, const dv_linear *L, float *y, int lo, int hi)
{
    int nb = dv_qblocks(L->in), simd = dv_cpu_qdot_level();
    size_t qrow = dv_qrow_bytes(L->qfmt, L->in);
    int run = (int)(QROWS_RUN_BYTES / qrow) > 1 ? (int)(QROWS_RUN_BYTES / qrow) : 1;
    for (int r0 = lo; r0 < hi; r0 += run) {
        int r1 = hi - r0 < run ? hi : r0 + run;
        for (int t0 = 0; t0 < j->n; t0 += DV_QDOT_ROWS) {
            int m = j->n - t0 < DV_QDOT_ROWS ? j->n - t0 : DV_QDOT_ROWS;
            const dv_q8_block *xs[DV_QDOT_ROWS];
            const int32_t *offs[DV_QDOT_ROWS];
            const void *aux[DV_QDOT_ROWS];
            for (int k = 0; k < m; k++) {
                xs[k] = j->xq + (size_t)(t0 + k) * nb;
                offs[k] = j->xoff + (size_t)(t0 + k) * nb * 8;
                aux[k] = j->xaux ? j->xaux + (size_t)(t0 + k) * j->aux_bytes : NULL;
            }
            for (int r = r0; r < r1; r++) {
                float v[DV_QDOT_ROWS];
                dv_qdot_sums_rows(L->qfmt, (const char *)L->q + (size_t)r * qrow, xs, offs, aux,
                                  m, L->in, simd, v);
                for (int k = 0; k < m; k++)
                    y[(size_t)(t0 + k) * L->out + r] = v[k];
            }
        }
    }
}

static void gemv_rows(const gemv_job *j, const dv_linear *L, float *y, int lo, int hi)
{
    if (L->qfmt != DV_QNONE) {
        gemv_qrows(j, L, y, lo, hi);
        return;
    }
    const uint16_t *w = L->w;
    if (j->xb) {
        size_t k2 = (size_t)dv_bg_pairs(L->in);
        for (int r = lo; r < hi; r++)
            for (int t = 0; t < j->n; t++)
                y[(size_t)t * L->out + r] =
                    dv_bg_dot(w + (size_t)r * L->in, j->xb + (size_t)t * k2, L->in, 2);
        return;
    }
    int simd = dv_cpu_has_avx2_fma();
    for (int r = lo; r < hi; r++)
        for (int t = 0; t < j->n; t++)
            y[(size_t)t * L->out + r] = dv_bf16_dot((const uint16_t *)L->w + (size_t)r * L->in,
                                                    j->x + (size_t)t * L->in, L->in, simd);
}

/* Each matrix in eight chunks a thread, taken as threads come: with one
 * fixed half a thread, a step waited for a thread the OS or another tenant
 * held up (bf16 decoding's mean step 10-20% slower than its median). Rows
 * are computed alone, so which thread takes a chunk changes no bits. */
static int gemv_grain(const dv_linear *L, int threads)
{
    int g = (L->out + 8 * threads - 1) / (8 * threads);
    return g < 16 ? 16 : (g + 15) / 16 * 16;
}

static int gemv_chunks(const gemv_job *j)
{
    int chunks = 0;
    for (int m = 0; m < j->count; m++) {
        int g = gemv_grain(j->L[m], j->threads);
        chunks += (j->L[m]->out + g - 1) / g;
    }
    return chunks;
}

static void gemv_chunk(void *arg, int part, int lo, int hi)
{
    (void)part;
    const gemv_job *j = arg;
    for (int c = lo; c < hi; c++) {
        int k = c;
        for (int m = 0; m < j->count; m++) {
            const dv_linear *L = j->L[m];
            int g = gemv_grain(L, j->threads), n = (L->out + g - 1) / g;
            if (k < n) {
                gemv_rows(j, L, j->y[m], k * g, (k + 1) * g < L->out ? (k + 1) * g : L->out);
                break;
            }
            k -= n;
        }
    }
}

/* Below this many multiply-adds a product is done before a sleeping worker
 * has woken (tens of microseconds), so the caller's thread does it alone:
 * a line reader's products are this small, and splitting them made a page
 * slower on two threads than on one. Which thread computes a row never
 * changes its bits, nor does splitting or not: the rows a kernel call takes
 * together are fixed by the product's shape alone (chunk_rows_for, and the
 * integer kernel's groups of DV_QG_NR rows each summed alone). */
#define SPLIT_MIN_MACS (1ll << 21)

/* The pool to split count products of n rows over, or NULL: the caller's
 * thread alone. */
static dv_pool *split_pool(dv_pool *pool, const dv_linear *const *L, int count, int n)
{
    long long outs = 0;
    for (int m = 0; m < count; m++)
        outs += L[m]->out;
    return (long long)n * L[0]->in * outs >= SPLIT_MIN_MACS ? pool : NULL;
}

/* Weights repacked at load take every product, a decoding step's one row
 * too, on their panels. Quantized ones (dv_linear_prepack) through the
 * integer kernel: a one-row q4 product of 24 matrices 5632 x 2048 (138 MB),
 * 2 threads, read the weights at 37-44 GB/s there against 27-28 GB/s in the
 * row kernel (q8: 53-58 against 40, counting the rows' bytes; the panels
 * hold 11% more). BF16 ones on the bf16 products (dv_linear_use_bf16, with
 * a pool for the rounded activations): the panels' 2 MiB pages, where the
 * mapped checkpoint's 4 KiB pages held the 1.3B's decoding to 8-10 tok/s
 * (12.5-15 on the panels). Either kernel sums each row alone in one order,
 * so a row's floats do not depend on how many rows its product takes. */
static int on_panels(const dv_linear *L, const dv_ctx *ctx)
{
    return L->packed && (L->qfmt != DV_QNONE || (L->bf16_mm && ctx && ctx->pool));
}

static int gemv_ok(const dv_linear *L, int n, int max_rows, const dv_ctx *ctx)
{
    return n <= max_rows && !on_panels(L, ctx) && (L->qfmt != DV_QNONE || L->dtype == DV_BF16);
}

/* 1 done, 0 when these products are not ones for the direct kernels (more
 * than max_rows rows, f32 weights, quantized beside bf16, different inputs). */
static int forward_gemv(const dv_linear *const *L, float *const *y, int count, const float *x,
                        int n, int max_rows, const dv_ctx *ctx)
{
    int quant = L[0]->qfmt != DV_QNONE, bf16 = !quant && dv_cpu_bgemm_level() >= 2;
    for (int m = 0; m < count; m++) {
        if (!gemv_ok(L[m], n, max_rows, ctx) || (L[m]->qfmt != DV_QNONE) != quant ||
            L[m]->in != L[0]->in)
            return 0;
        bf16 = bf16 && L[m]->bf16_mm;
    }
    int in = L[0]->in, k2 = dv_bg_pairs(in);
    gemv_job j = { .L = L, .y = y, .count = count, .x = x, .n = n };
    dv_q8_block *xq = NULL;
    int32_t *xoff = NULL;
    char *xaux = NULL;
    uint32_t *xb = NULL;
    /* without memory for the rounded rows, the exact products */
    if (bf16 && (xb = malloc((size_t)n * k2 * sizeof *xb))) {
        for (int t = 0; t < n; t++)
            dv_bg_round_row(x + (size_t)t * in, in, xb + (size_t)t * k2, 2);
        j.xb = xb;
    }
    if (quant) {
        size_t nb = (size_t)dv_qblocks(in);
        xq = malloc((size_t)n * nb * sizeof *xq);
        xoff = malloc((size_t)n * nb * 8 * sizeof *xoff);
        if (!xq || !xoff) {
            free(xq);
            free(xoff);
            return 0;
        }
        for (int t = 0; t < n; t++) {
            dv_quantize_row(DV_Q8, x + (size_t)t * in, in, xq + (size_t)t * nb);
            dv_q4_offsets(xq + (size_t)t * nb, (int)nb, xoff + (size_t)t * nb * 8);
        }
        j.xq = xq;
        j.xoff = xoff;
        /* without memory for it, the AVX-VNNI form: the same floats */
        /* one cache line more than a row needs: at in = 2048 a row is 4 KiB,
         * and rows 4 KiB apart fall in the same L1 sets (16 rows measured 4x
         * slower than 8 rows, not 2x) */
        size_t stride = dv_qx_bytes(in) + 64;
        if (dv_cpu_qdot_level() >= 3 && (xaux = malloc((size_t)n * stride))) {
            j.aux_bytes = stride;
            for (int t = 0; t < n; t++)
                dv_qx_prepare(xq + (size_t)t * nb, in, xaux + (size_t)t * j.aux_bytes);
            j.xaux = xaux;
        }
    }
    dv_pool *pool = split_pool(ctx ? ctx->pool : NULL, L, count, n);
    j.threads = dv_pool_threads(pool);
    dv_pool_for_parts(pool, gemv_chunks(&j), 1, gemv_chunk, &j);
    free(xb);
    free(xq);
    free(xoff);
    free(xaux);
    return 1;
}

/* ---- many-row products: panels and sgemm ----
 * The output rows (weight rows) are cut into chunks. With a pool, each of its
 * threads takes chunks and runs a single-threaded sgemm on each, widening or
 * dequantizing a 16-bit/quantized chunk into its own panel first: no barrier
 * between widening and multiplying, and no OpenBLAS threads spinning beside
 * ours. Without a pool, chunks run in turn on a BLAS with the ctx's threads. */

/* Bytes of f32 panel per chunk of a 16-bit or quantized weight: two threads'
 * panels (8 MiB each) stay inside this machine's 32 MiB L3 while sgemm packs
 * them, and panels this long amortise packing x once per chunk. */
#define PANEL_BYTES (8u << 20)

typedef struct mm_job {
    const dv_linear *L;
    const float *x;
    int n;
    float *y;
    dv_act act;
    dv_pool *pool;
    dv_gemm gemm;       /* the product each chunk runs (ctx's) */
    float *panel;       /* without a pool: one panel for all chunks (may be NULL) */
    size_t panel_len;
} mm_job;

static void panel_fill(const dv_linear *L, int lo, int hi, float *panel)
{
    if (L->qfmt != DV_QNONE) {
        size_t qrow = dv_qrow_bytes(L->qfmt, L->in);
        for (int r = lo; r < hi; r++)
            dv_dequantize_row(L->qfmt, (const char *)L->q + (size_t)r * qrow, L->in,
                              panel + (size_t)(r - lo) * L->in);
    } else {
        dv_tensor view = { .dtype = L->dtype, .data = L->w };
        dv_widen(&view, (size_t)lo * L->in, (size_t)(hi - lo) * L->in, panel);
    }
}

/* No memory for a panel: one weight row at a time through a stack buffer.
 * Slow, but an allocation failure must not lose the computation. */
static void chunk_rows(const dv_linear *L, const float *x, int n, float *y, int lo, int hi)
{
    enum { CHUNK = 1024 };
    float buf[CHUNK];
    size_t qrow = L->qfmt != DV_QNONE ? dv_qrow_bytes(L->qfmt, L->in) : 0;
    size_t qblk = L->qfmt != DV_QNONE ? qrow / (size_t)dv_qblocks(L->in) : 0;
    dv_tensor view = { .dtype = L->dtype, .data = L->w };
    for (int r = lo; r < hi; r++) {
        for (int i = 0; i < n; i++)
            y[(size_t)i * L->out + r] = 0.0f;
        for (int c0 = 0; c0 < L->in; c0 += CHUNK) {
            int len = L->in - c0 < CHUNK ? L->in - c0 : CHUNK;
            if (L->qfmt != DV_QNONE) /* CHUNK is a whole number of blocks */
                dv_dequantize_row(L->qfmt, (const char *)L->q + (size_t)r * qrow +
                                  (size_t)(c0 / DV_QBLOCK) * qblk, len, buf);
            else
                dv_widen(&view, (size_t)r * L->in + c0, (size_t)len, buf);
            for (int i = 0; i < n; i++)
                y[(size_t)i * L->out + r] += cblas_sdot(len, buf, 1, x + (size_t)i * L->in + c0, 1);
        }
    }
}

/* Bias and activation on the chunk's columns while they are still in cache. */
static void epilogue(const dv_linear *L, int n, float *y, int lo, int hi, dv_act act)
{
    for (int i = 0; i < n; i++) {
        float *seg = y + (size_t)i * L->out + lo;
        if (L->b)
            dv_add(seg, L->b + lo, (size_t)(hi - lo));
        if (act == DV_ACT_GELU)
            dv_vgelu(seg, (size_t)(hi - lo));
    }
}

static void mm_chunk(void *arg, int part, int lo, int hi)
{
    const mm_job *j = arg;
    const dv_linear *L = j->L;
    const float *w = NULL;
    if (L->dtype == DV_F32 && L->qfmt == DV_QNONE) {
        w = (const float *)L->w + (size_t)lo * L->in;
    } else {
        size_t need = (size_t)(hi - lo) * L->in;
        float *panel = j->pool ? dv_pool_scratch(j->pool, part, need)
                               : j->panel_len >= need ? j->panel : NULL;
        if (panel) {
            panel_fill(L, lo, hi, panel);
            w = panel;
        }
    }
    if (w)
        dv_sgemm(j->gemm, 0, 1, j->n, hi - lo, L->in, 1.0f, j->x, L->in, w, L->in, 0.0f,
                 j->y + lo, L->out);
    else
        chunk_rows(L, j->x, j->n, j->y, lo, hi);
    epilogue(L, j->n, j->y, lo, hi, j->act);
}

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

/* Rows per chunk, from the weight's shape alone, never from the thread
 * count: OpenBLAS's sums for a row depend on the call it is in (its Haswell
 * kernels, which OPENBLAS_CORETYPE=Haswell runs on any AVX2 CPU: the last
 * rows of a call, and those past its first block of rows, are summed
 * otherwise; a 576 x 2048 x 2048 sgemm in calls of 1024 rows differs from
 * one call in 3% of its floats, in calls of 64 rows from calls of 512 in
 * 9%). Chunks of out / threads rows gave each thread count its own floats:
 * a q8 page of a tiny model (its f32 patch embedding) read another token
 * at 2 threads than at 1.
 * Chunks of at most `most` rows; with `even` (a pool to share them) a power
 * of two of them, at least 2, so 2, 4, 8 ... threads share them evenly
 * (they take them in turn); with a pool, at most CHUNK_MAX_ROWS: each call
 * packs all of x again, and more, smaller
 * chunks cost 5-15% more CPU time on f32 weights (SigLIP's 1024 x 4096
 * MLP at 576 tokens: 4 chunks against 2). A 16-bit or quantized weight's
 * panel is at most PANEL_BYTES. */
#define CHUNK_MAX_ROWS 512

static int chunk_rows_for(const dv_linear *L, int stored_f32, int most, int even)
{
    double panel_rows = (double)PANEL_BYTES / ((double)L->in * sizeof(float));
    if (!stored_f32 && panel_rows < most)
        most = panel_rows > 16 ? (int)panel_rows : 16;
    int chunks = (L->out + most - 1) / most;
    if (even) {
        int p = 2;
        while (p < chunks)
            p *= 2;
        chunks = p;
    }
    int most_chunks = L->out / 16 > 1 ? L->out / 16 : 1;
    chunks = chunks < most_chunks ? chunks : most_chunks;
    int grain = round_up((L->out + chunks - 1) / chunks, 16);
    return grain > 0 ? grain : 1;
}

/* ---- many-row products of quantized weights: integer products ----
 * The activations are quantized once (split over the pool), then each thread
 * takes chunks of weight rows, repacks DV_QG_NR of them at a time into its
 * scratch and runs the integer kernel over every activation row. */

typedef struct qg_job {
    const dv_linear *L;
    const float *x;
    float *y;
    dv_qg_act a;
    dv_act act;
    dv_pool *pool;
    int level;
} qg_job;

static void qg_quantize_part(void *arg, int lo, int hi)
{
    const qg_job *j = arg;
    dv_qg_quantize_rows(j->x, j->L->in, lo, hi, &j->a);
}

/* Chunks start at multiples of DV_QG_NR rows (forward_qgemm's grain), so
 * a chunk's groups are the prepacked ones. */
static void qg_chunk(void *arg, int part, int lo, int hi)
{
    const qg_job *j = arg;
    const dv_linear *L = j->L;
    size_t group = dv_qg_panel_bytes(L->qfmt, L->in);
    void *panel = L->packed ? NULL
                            : dv_pool_scratch(j->pool, part, (group + sizeof(float) - 1) /
                                                                 sizeof(float));
    if (!panel && !L->packed) {
        chunk_rows(L, j->x, j->a.n, j->y, lo, hi);
    } else {
        for (int g = lo; g < hi; g += DV_QG_NR) {
            int rows = hi - g < DV_QG_NR ? hi - g : DV_QG_NR;
            const void *p = panel;
            if (L->packed)
                p = (const char *)L->packed + (size_t)(g / DV_QG_NR) * group;
            else
                dv_qg_pack(L->qfmt, L->q, L->in, g, rows, panel, j->level);
            dv_qgemm_group(L->qfmt, p, &j->a, j->y + g, (size_t)L->out, rows, j->level);
        }
    }
    epilogue(L, j->a.n, j->y, lo, hi, j->act);
}

/* One repack at load over a pool (q8/q4 panels or bf16 ones): group is
 * the bytes of one panel of rows. */
typedef struct prepack_job {
    dv_linear *L;
    size_t group;
    int level;
} prepack_job;

/* Panels of `bytes` in 2 MiB pages where the kernel gives them: a 4 KiB
 * page fault per 4 KiB of 1.9 GB (the 1.3B's q8) took most of the load,
 * and fewer TLB misses for the products that stream them. NULL without
 * memory. */
static void *panels_alloc(size_t bytes)
{
    size_t huge = (size_t)2 << 20;
    bytes = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, bytes);
    if (p)
        madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static void prepack_part(void *arg, int lo, int hi)
{
    const prepack_job *j = arg;
    const dv_linear *L = j->L;
    for (int g = lo; g < hi; g++) {
        int r0 = g * DV_QG_NR, rows = L->out - r0 < DV_QG_NR ? L->out - r0 : DV_QG_NR;
        dv_qg_pack(L->qfmt, L->q, L->in, r0, rows, (char *)L->packed + (size_t)g * j->group,
                   j->level);
    }
}

int dv_linear_prepack(dv_linear *L, dv_pool *pool)
{
    int level = dv_cpu_qgemm_level();
    if (L->qfmt == DV_QNONE || level < 2 || L->packed)
        return DOCVL_OK;
    prepack_job j = { .L = L, .group = dv_qg_panel_bytes(L->qfmt, L->in), .level = level };
    int groups = (L->out + DV_QG_NR - 1) / DV_QG_NR;
    L->packed = panels_alloc((size_t)groups * j.group);
    if (L->packed)
        dv_pool_for(pool, groups, 8, prepack_part, &j);
    return DOCVL_OK;
}

/* 1 done, 0 when these are not products for the integer kernel (weights not
 * quantized, no pool, a CPU without it, DOCVL_KERNELS=f32, no memory). */
static int forward_qgemm(const dv_linear *const *L, float *const *y, int count, const float *x,
                         int n, dv_act act, const dv_ctx *ctx)
{
    int level = dv_cpu_qgemm_level();
    dv_pool *pool = ctx ? ctx->pool : NULL;
    if (level < 2)
        return 0;
    int q4 = 0, packed = 1;
    for (int m = 0; m < count; m++) {
        if (L[m]->qfmt == DV_QNONE || L[m]->in != L[0]->in)
            return 0;
        q4 |= L[m]->qfmt == DV_Q4;
        packed &= L[m]->packed != NULL;
    }
    if (!pool && !packed)   /* the per-product panels live in the pool's scratch */
        return 0;
    qg_job j = { .x = x, .act = act, .pool = pool, .level = level, .L = L[0] };
    if (dv_qg_act_alloc(&j.a, n, L[0]->in, q4))
        return 0;
    dv_pool *run_on = split_pool(pool, L, count, n);
    dv_pool_for(run_on, n, 16, qg_quantize_part, &j);
    int threads = dv_pool_threads(pool);
    for (int m = 0; m < count; m++) {
        j.L = L[m];
        j.y = y[m];
        /* eight chunks a thread: one held up by another tenant costs little */
        int grain = round_up((L[m]->out + 8 * threads - 1) / (8 * threads), DV_QG_NR);
        dv_pool_for_parts(run_on, L[m]->out, grain, qg_chunk, &j);
    }
    dv_qg_act_free(&j.a);
    return 1;
}

/* ---- many-row products of bf16 weights: bf16 products ----
 * As the integer products: the activations are rounded and packed once
 * (split over the pool by slivers), then each thread takes chunks of
 * weight rows, DV_BG_NR at a time from the prepacked panels or packed into
 * its scratch, and runs the kernel over every activation row. */

typedef struct bg_job {
    const dv_linear *L;
    const float *x;
    float *y;
    dv_bg_act a;
    dv_act act;
    dv_pool *pool;
    int level;
    size_t act_floats;    /* a.x's floats at the start of part 0's scratch */
    size_t panel_floats;  /* a chunk's panels, when packed per product */
} bg_job;

static void bg_round_part(void *arg, int lo, int hi)
{
    const bg_job *j = arg;
    dv_bg_round_slivers(j->x, j->L->in, lo, hi, &j->a, j->level);
}

/* The chunk's panels packed into the thread's scratch (part 0's after the
 * activations, at the size it was given before the job: never moved
 * during it); NULL without memory. */
static const void *bg_pack_chunk(const bg_job *j, int part, int lo, int hi)
{
    const dv_linear *L = j->L;
    float *s = part ? dv_pool_scratch(j->pool, part, j->panel_floats)
                    : dv_pool_scratch(j->pool, 0, j->act_floats + j->panel_floats);
    if (!s)
        return NULL;
    char *panels = (char *)(part ? s : s + j->act_floats);
    size_t group = dv_bg_panel_bytes(L->in);
    for (int g = lo; g < hi; g += DV_BG_NR)
        dv_bg_pack(L->w, L->in, g, hi - g < DV_BG_NR ? hi - g : DV_BG_NR,
                   panels + (size_t)((g - lo) / DV_BG_NR) * group, j->level);
    return panels;
}

/* Chunks start at multiples of DV_BG_NR rows (forward_bgemm's grain), so
 * a chunk's groups are the prepacked ones. */
static void bg_chunk(void *arg, int part, int lo, int hi)
{
    const bg_job *j = arg;
    const dv_linear *L = j->L;
    const void *panels = L->packed ? (const char *)L->packed +
                                         (size_t)(lo / DV_BG_NR) * dv_bg_panel_bytes(L->in)
                                   : bg_pack_chunk(j, part, lo, hi);
    if (panels)
        dv_bgemm(panels, hi - lo, &j->a, j->y + lo, (size_t)L->out, j->level);
    else
        chunk_rows(L, j->x, j->a.n, j->y, lo, hi);
    epilogue(L, j->a.n, j->y, lo, hi, j->act);
}

static void bg_prepack_part(void *arg, int lo, int hi)
{
    const prepack_job *j = arg;
    const dv_linear *L = j->L;
    for (int g = lo; g < hi; g++) {
        int r0 = g * DV_BG_NR, rows = L->out - r0 < DV_BG_NR ? L->out - r0 : DV_BG_NR;
        dv_bg_pack(L->w, L->in, r0, rows, (char *)L->packed + (size_t)g * j->group, j->level);
    }
}

int dv_linear_use_bf16(dv_linear *L, int prepack, dv_pool *pool)
{
    int level = dv_cpu_bgemm_level();
    if (L->dtype != DV_BF16 || L->qfmt != DV_QNONE || level < 2)
        return 0;
    L->bf16_mm = 1;
    if (!prepack || L->packed)
        return 1;
    prepack_job j = { .L = L, .group = dv_bg_panel_bytes(L->in), .level = level };
    int groups = (L->out + DV_BG_NR - 1) / DV_BG_NR;
    L->packed = panels_alloc((size_t)groups * j.group);
    if (L->packed)
        dv_pool_for(pool, groups, 8, bg_prepack_part, &j);
    return 1;
}

/* 1 done, 0 when these are not products for the bf16 kernel (not marked by
 * dv_linear_use_bf16, a few rows, no pool, no memory). */
static int forward_bgemm(const dv_linear *const *L, float *const *y, int count, const float *x,
                         int n, dv_act act, const dv_ctx *ctx)
{
    int level = dv_cpu_bgemm_level();
    dv_pool *pool = ctx ? ctx->pool : NULL;
    if (level < 2 || !pool)
        return 0;
    int packed = 1;
    for (int m = 0; m < count; m++) {
        if (!L[m]->bf16_mm || L[m]->in != L[0]->in)
            return 0;
        packed &= L[m]->packed != NULL;
    }
    if (n <= GEMV_MAX_ROWS && !packed)   /* few rows read the stored ones */
        return 0;
    bg_job j = { .x = x, .act = act, .pool = pool, .level = level, .L = L[0],
                 .a = { .n = n, .k2 = dv_bg_pairs(L[0]->in) } };
    /* eight chunks a thread: one held up by another tenant costs little */
    int threads = dv_pool_threads(pool), grains[8], most = 0;
    for (int m = 0; m < count && m < 8; m++) {
        grains[m] = round_up((L[m]->out + 8 * threads - 1) / (8 * threads), DV_BG_NR);
        most = grains[m] > most ? grains[m] : most;
    }
    if (count > 8)
        return 0;
    /* The activations in part 0's scratch, which every thread reads (then
     * part 0's panels): kept between products, where a buffer of 2 MB (512
     * rows of 2048) allocated per product was 512 page faults each time,
     * as long as the product on this machine's virtual CPUs. Sized here,
     * before the jobs; part 0 asks for no more during them, so it stays. */
    int repack = 0;
    for (int m = 0; m < count; m++)
        repack |= !L[m]->packed;
    j.panel_floats = repack ? ((size_t)(most / DV_BG_NR) * dv_bg_panel_bytes(L[0]->in) +
                               sizeof(float) - 1) / sizeof(float)
                            : 0;
    j.act_floats = dv_bg_act_words(n, L[0]->in);
    float *s0 = dv_pool_scratch(pool, 0, j.act_floats + j.panel_floats);
    if (!s0)
        return 0;
    j.a.x = (uint32_t *)s0;
    dv_pool *run_on = split_pool(pool, L, count, n);
    dv_pool_for(run_on, (n + DV_BG_MR - 1) / DV_BG_MR, 2, bg_round_part, &j);
    for (int m = 0; m < count; m++) {
        j.L = L[m];
        j.y = y[m];
        dv_pool_for_parts(run_on, L[m]->out, grains[m], bg_chunk, &j);
    }
    return 1;
}

void dv_linear_forward_act(const dv_linear *L, const float *x, int n, float *y, dv_act act,
                           const dv_ctx *ctx)
{
    if (forward_gemv(&L, &y, 1, x, n, GEMV_MAX_ROWS, ctx)) {
        epilogue(L, n, y, 0, L->out, act);
        return;
    }
    if (forward_qgemm(&L, &y, 1, x, n, act, ctx) || forward_bgemm(&L, &y, 1, x, n, act, ctx))
        return;
    dv_ctx_apply(ctx);
    dv_pool *pool = ctx ? ctx->pool : NULL;
    int stored_f32 = L->dtype == DV_F32 && L->qfmt == DV_QNONE;
    mm_job j = { .L = L, .x = x, .n = n, .y = y, .act = act, .pool = pool,
                 .gemm = dv_ctx_gemm(ctx) };
    int grain;
    dv_pool *run_on = split_pool(pool, &L, 1, n);
    if (pool) {
        grain = chunk_rows_for(L, stored_f32, CHUNK_MAX_ROWS, 1);
    } else if (stored_f32) {
        /* one sgemm; OpenBLAS splits it over ctx's threads (docvl's own
         * product runs on the caller's alone: the model's passes bring a
         * pool) */
        grain = L->out;
    } else {
        grain = chunk_rows_for(L, 0, INT_MAX, 0);   /* chunks as large as a panel */
        size_t need = (size_t)grain * L->in;
        if (ctx && ctx->scratch_len >= need)
            j.panel = ctx->scratch;
        else
            j.panel = malloc(need * sizeof *j.panel);
        j.panel_len = j.panel ? need : 0;
    }
    dv_pool_for_parts(run_on, L->out, grain, mm_chunk, &j);
    if (!pool && !(ctx && j.panel == ctx->scratch))
        free(j.panel);
}

int dv_linear_rows_stable(const dv_linear *L, int n)
{
    /* no context: only the integer panels are sure to take the product */
    if (on_panels(L, NULL))
        return 1;
    return n > GEMV_MAX_ROWS && ((L->qfmt != DV_QNONE && dv_cpu_qgemm_level() >= 2) ||
                                 (L->bf16_mm && dv_cpu_bgemm_level() >= 2));
}

void dv_linear_forward(const dv_linear *L, const float *x, int n, float *y, const dv_ctx *ctx)
{
    dv_linear_forward_act(L, x, n, y, DV_ACT_NONE, ctx);
}

void dv_linear_forward_many(const dv_linear *const *L, float *const *y, int count, const float *x,
                            int n, const dv_ctx *ctx)
{
    if (count > 0 && forward_gemv(L, y, count, x, n, GEMV_MAX_ROWS, ctx)) {
        for (int m = 0; m < count; m++)
            epilogue(L[m], n, y[m], 0, L[m]->out, DV_ACT_NONE);
        return;
    }
    if (count > 0 && (forward_qgemm(L, y, count, x, n, DV_ACT_NONE, ctx) ||
                      forward_bgemm(L, y, count, x, n, DV_ACT_NONE, ctx)))
        return;
    for (int m = 0; m < count; m++)
        dv_linear_forward(L[m], x, n, y[m], ctx);
}

/* More rows than this go through the integer many-row kernel when it runs
 * (dv_linear_forward_rows): from 5 rows on, packing a weight group once and
 * multiplying it by every row costs less than the direct kernel's per-row
 * float work (CPU time per 2048 x 5504 product, 1 thread: 5 rows 1.5 against
 * 2.0-2.3 ms, 8 rows 1.6-1.8 against 2.1-3.2, 16 rows 1.9 against 4.8-5.4). */
#define ROWS_QGEMM_MIN (DV_QDOT_ROWS + 1)

int dv_linear_rows_alone(const dv_linear *L, int n, const dv_ctx *ctx)
{
    return on_panels(L, ctx) || !(n >= ROWS_QGEMM_MIN && L->qfmt != DV_QNONE &&
                             dv_cpu_qgemm_level() >= 2 && ctx && ctx->pool);
}

/* The direct kernels compute each (weight row, input row) dot product alone,
 * so any number of rows gives each row's one-row result; other weights go
 * one row at a time through the path a one-row product takes. Quantized
 * weights and more than a few rows take the integer kernel where it runs
 * (each row summed alone too, block after block: its floats do not depend
 * on the other rows, but differ from the one-row kernel's in rounding). */
void dv_linear_forward_rows(const dv_linear *const *L, float *const *y, int count,
                            const float *x, int n, const dv_ctx *ctx)
{
    if (count <= 0 || n <= 0)
        return;
    int stacked = 1;   /* the panel kernels: on panels, or where they beat the direct one */
    for (int m = 0; m < count; m++)
        stacked = stacked && (on_panels(L[m], ctx) || !dv_linear_rows_alone(L[m], n, ctx));
    if (stacked && (forward_qgemm(L, y, count, x, n, DV_ACT_NONE, ctx) ||
                    forward_bgemm(L, y, count, x, n, DV_ACT_NONE, ctx)))
        return;
    if (forward_gemv(L, y, count, x, n, INT_MAX, ctx)) {
        for (int m = 0; m < count; m++)
            epilogue(L[m], n, y[m], 0, L[m]->out, DV_ACT_NONE);
        return;
    }
    enum { MAX_MANY = 8 };
    for (int c0 = 0; c0 < count; c0 += MAX_MANY) {
        int cn = count - c0 < MAX_MANY ? count - c0 : MAX_MANY;
        for (int t = 0; t < n; t++) {
            float *yt[MAX_MANY];
            for (int m = 0; m < cn; m++)
                yt[m] = y[c0 + m] + (size_t)t * L[c0 + m]->out;
            dv_linear_forward_many(L + c0, yt, cn, x + (size_t)t * L[c0]->in, 1, ctx);
        }
    }
}
