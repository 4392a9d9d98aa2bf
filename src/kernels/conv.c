#include "kernels/conv.h"

#include <stdlib.h>
#include <string.h>

/* Column buffer budget in floats (16 MiB): a band of output rows at a time. */
#define COL_BUDGET (4u << 20)

int dv_conv2d_bind(dv_conv2d *c, const dv_tensor *w, const dv_tensor *b, int stride, int pad,
                   int widen, dv_err *e)
{
    memset(c, 0, sizeof *c);
    if (w->ndim != 4 || stride <= 0 || pad < 0)
        return dv_fail(e, DOCVL_EMODEL, "convolution weight \"%s\" must be [out, in, kh, kw] "
                       "(found %d dims)", w->name, w->ndim);
    int rc = dv_linear_bind(&c->lin, w, b, widen, e);
    if (rc)
        return rc;
    c->cout = (int)w->shape[0];
    c->cin = (int)w->shape[1];
    c->kh = (int)w->shape[2];
    c->kw = (int)w->shape[3];
    c->stride = stride;
    c->pad = pad;
    return DOCVL_OK;
}

void dv_conv2d_free(dv_conv2d *c)
{
    dv_linear_free(&c->lin);
}

void dv_conv2d_out_size(const dv_conv2d *c, int h, int w, int *oh, int *ow)
{
    *oh = (h + 2 * c->pad - c->kh) / c->stride + 1;
    *ow = (w + 2 * c->pad - c->kw) / c->stride + 1;
}

/* One column row for output pixel (oy, ox): entry (ci, ky, kx) at
 * ci*kh*kw + ky*kw + kx, the order of the flattened PyTorch weight. Input
 * channels are read contiguously (NHWC); padding reads as zero. */
static void im2col_pixel(const dv_conv2d *c, const float *x, int h, int w, int oy, int ox,
                         float *col)
{
    int kk = c->kh * c->kw;
    for (int ky = 0; ky < c->kh; ky++) {
        int iy = oy * c->stride - c->pad + ky;
        for (int kx = 0; kx < c->kw; kx++) {
            int ix = ox * c->stride - c->pad + kx;
            float *dst = col + ky * c->kw + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                for (int ci = 0; ci < c->cin; ci++)
                    dst[(size_t)ci * kk] = 0.0f;
                continue;
            }
            const float *src = x + ((size_t)iy * w + ix) * c->cin;
            for (int ci = 0; ci < c->cin; ci++)
                dst[(size_t)ci * kk] = src[ci];
        }
    }
}

static int band_rows(size_t row_floats)
{
    size_t r = COL_BUDGET / (row_floats ? row_floats : 1);
    return r < 1 ? 1 : r > (1 << 20) ? 1 << 20 : (int)r;
}

int dv_conv2d_nhwc(const dv_conv2d *c, const float *x, int h, int w, float *y, const dv_ctx *ctx,
                   dv_err *e)
{
    int oh, ow;
    dv_conv2d_out_size(c, h, w, &oh, &ow);
    if (oh <= 0 || ow <= 0)
        return dv_fail(e, DOCVL_EINVAL, "convolution %dx%d over a %dx%d grid has no output", c->kh,
                       c->kw, h, w);
    size_t K = (size_t)c->lin.in;
    if (c->kh == 1 && c->kw == 1 && c->stride == 1 && c->pad == 0) {
        dv_linear_forward(&c->lin, x, h * w, y, ctx);   /* a 1x1 conv is a linear map */
        return DOCVL_OK;
    }
    int band = band_rows(K * ow);
    band = band > oh ? oh : band;
    float *col = malloc((size_t)band * ow * K * sizeof *col);
    if (!col)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a convolution column buffer");
    for (int y0 = 0; y0 < oh; y0 += band) {
        int rows = oh - y0 < band ? oh - y0 : band;
        for (int r = 0; r < rows; r++)
            for (int ox = 0; ox < ow; ox++)
                im2col_pixel(c, x, h, w, y0 + r, ox, col + ((size_t)r * ow + ox) * K);
        dv_linear_forward(&c->lin, col, rows * ow, y + (size_t)y0 * ow * c->cout, ctx);
    }
    free(col);
    return DOCVL_OK;
}

/* Column row of one patch from planar channels: kw-long runs are contiguous. */
static void patch_col(const dv_conv2d *c, const float *img, int h, int w, int py, int px,
                      const float *mean, const float *std, float *col)
{
    for (int ci = 0; ci < c->cin; ci++) {
        float m = mean ? mean[ci] : 0.0f, s = std ? std[ci] : 1.0f;
        const float *plane = img + (size_t)ci * h * w;
        for (int ky = 0; ky < c->kh; ky++) {
            const float *src = plane + (size_t)(py * c->kh + ky) * w + (size_t)px * c->kw;
            float *dst = col + ((size_t)ci * c->kh + ky) * c->kw;
            for (int kx = 0; kx < c->kw; kx++)
                dst[kx] = (src[kx] - m) / s;
        }
    }
}

int dv_patch_embed(const dv_conv2d *c, const float *img, int h, int w, const float *mean,
                   const float *std, float *y, const dv_ctx *ctx, dv_err *e)
{
    if (c->stride != c->kh || c->stride != c->kw || c->pad || h % c->kh || w % c->kw)
        return dv_fail(e, DOCVL_EINVAL, "patch embedding %dx%d stride %d does not tile %dx%d",
                       c->kh, c->kw, c->stride, h, w);
    int gh = h / c->kh, gw = w / c->kw;
    size_t K = (size_t)c->lin.in;
    int band = band_rows(K * gw);
    band = band > gh ? gh : band;
    float *col = malloc((size_t)band * gw * K * sizeof *col);
    if (!col)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a patch column buffer");
    for (int y0 = 0; y0 < gh; y0 += band) {
        int rows = gh - y0 < band ? gh - y0 : band;
        for (int r = 0; r < rows; r++)
            for (int px = 0; px < gw; px++)
                patch_col(c, img, h, w, y0 + r, px, mean, std, col + ((size_t)r * gw + px) * K);
        dv_linear_forward(&c->lin, col, rows * gw, y + (size_t)y0 * gw * c->cout, ctx);
    }
    free(col);
    return DOCVL_OK;
}
