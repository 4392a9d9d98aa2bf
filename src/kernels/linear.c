#include "kernels/linear.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* Rows of a 16-bit weight widened per sgemm: 256 rows x 4096 in = 4 MiB f32,
 * about an L2-to-L3-sized panel on this machine. */
#define PANEL_ROWS 256

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
    memset(L, 0, sizeof *L);
}

static void add_bias(const dv_linear *L, int n, float *y)
{
    if (!L->b)
        return;
    for (int i = 0; i < n; i++) {
        float *row = y + (size_t)i * L->out;
        for (int j = 0; j < L->out; j++)
            row[j] += L->b[j];
    }
}

static void forward_panels(const dv_linear *L, const float *x, int n, float *y, float *panel)
{
    dv_tensor view = { .dtype = L->dtype, .data = L->w };
    for (int r0 = 0; r0 < L->out; r0 += PANEL_ROWS) {
        int rows = L->out - r0 < PANEL_ROWS ? L->out - r0 : PANEL_ROWS;
        dv_widen(&view, (size_t)r0 * L->in, (size_t)rows * L->in, panel);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, L->in, 1.0f, x, L->in, panel,
                    L->in, 0.0f, y + r0, L->out);
    }
}

/* No memory for a panel: widen a row chunk at a time on the stack. Slow, but
 * an allocation failure must not lose the computation. */
static void forward_rows(const dv_linear *L, const float *x, int n, float *y)
{
    enum { CHUNK = 1024 };
    float buf[CHUNK];
    dv_tensor view = { .dtype = L->dtype, .data = L->w };
    for (int i = 0; i < n; i++)
        for (int r = 0; r < L->out; r++)
            y[(size_t)i * L->out + r] = 0.0f;
    for (int r = 0; r < L->out; r++)
        for (int c0 = 0; c0 < L->in; c0 += CHUNK) {
            int len = L->in - c0 < CHUNK ? L->in - c0 : CHUNK;
            dv_widen(&view, (size_t)r * L->in + c0, (size_t)len, buf);
            for (int i = 0; i < n; i++)
                y[(size_t)i * L->out + r] += cblas_sdot(len, buf, 1, x + (size_t)i * L->in + c0, 1);
        }
}

void dv_linear_forward(const dv_linear *L, const float *x, int n, float *y, const dv_ctx *ctx)
{
    dv_ctx_apply(ctx);
    if (L->dtype == DV_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, L->out, L->in, 1.0f, x, L->in,
                    (const float *)L->w, L->in, 0.0f, y, L->out);
    } else {
        size_t need = (size_t)PANEL_ROWS * L->in;
        float *panel = ctx && ctx->scratch_len >= need ? ctx->scratch : malloc(need * sizeof *panel);
        if (panel)
            forward_panels(L, x, n, y, panel);
        else
            forward_rows(L, x, n, y);
        if (!(ctx && panel == ctx->scratch))
            free(panel);
    }
    add_bias(L, n, y);
}
