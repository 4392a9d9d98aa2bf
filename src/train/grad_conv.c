#include "train/grad_conv.h"

#include <stdlib.h>
#include <string.h>

#include "train/grad_ops.h"

void tg_conv_out(const tg_conv *c, int h, int w, int *oh, int *ow)
{
    *oh = (h + 2 * c->pad - c->k) / c->stride + 1;
    *ow = (w + 2 * c->pad - c->k) / c->stride + 1;
}

/* Column of output pixel (oy, ox): entry (ci, ky, kx) at ci*k*k + ky*k + kx,
 * the flattened PyTorch weight's order; padding reads as zero. scatter = 1
 * runs the transpose (col2im): col entries are added back into x. */
static void im2col_pixel(const tg_conv *c, float *x, int h, int w, int oy, int ox, float *col,
                         int scatter)
{
    int kk = c->k * c->k;
    for (int ky = 0; ky < c->k; ky++) {
        int iy = oy * c->stride - c->pad + ky;
        for (int kx = 0; kx < c->k; kx++) {
            int ix = ox * c->stride - c->pad + kx;
            float *dst = col + ky * c->k + kx;
            int inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            float *src = inside ? x + ((size_t)iy * w + ix) * c->cin : NULL;
            for (int ci = 0; ci < c->cin; ci++) {
                if (scatter && inside)
                    src[ci] += dst[(size_t)ci * kk];
                else if (!scatter)
                    dst[(size_t)ci * kk] = inside ? src[ci] : 0.0f;
            }
        }
    }
}

static float *im2col(const tg_conv *c, const float *x, int h, int w, int oh, int ow, dv_err *e)
{
    size_t K = (size_t)c->cin * c->k * c->k;
    float *col = malloc((size_t)oh * ow * K * sizeof *col);
    if (!col) {
        dv_fail(e, DOCVL_ENOMEM, "out of memory for a %dx%d convolution's columns", c->k, c->k);
        return NULL;
    }
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            im2col_pixel(c, (float *)x, h, w, oy, ox, col + ((size_t)oy * ow + ox) * K, 0);
    return col;
}

int tg_conv_fwd(const tg_conv *c, const float *x, int h, int w, const float *wt, const float *b,
                float *y, dv_err *e)
{
    int oh, ow;
    tg_conv_out(c, h, w, &oh, &ow);
    float *col = im2col(c, x, h, w, oh, ow, e);
    if (!col)
        return e->code;
    tg_linear_fwd(col, wt, b, oh * ow, c->cin * c->k * c->k, c->cout, y);
    free(col);
    return DOCVL_OK;
}

int tg_conv_bwd(const tg_conv *c, const float *x, int h, int w, const float *wt, const float *dy,
                float *dx, float *dw, float *db, dv_err *e)
{
    int oh, ow, K = c->cin * c->k * c->k;
    tg_conv_out(c, h, w, &oh, &ow);
    float *col = im2col(c, x, h, w, oh, ow, e);
    if (!col)
        return e->code;
    tg_linear_bwd(dy, col, wt, oh * ow, K, c->cout, NULL, dw, db);
    if (dx) {
        memset(col, 0, (size_t)oh * ow * K * sizeof *col);
        tg_linear_bwd(dy, NULL, wt, oh * ow, K, c->cout, col, NULL, NULL);
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                im2col_pixel(c, dx, h, w, oy, ox, col + ((size_t)oy * ow + ox) * K, 1);
    }
    free(col);
    return DOCVL_OK;
}

static float *patch_cols(const tg_conv *c, const float *img, int h, int w, const float *mean,
                         const float *std, dv_err *e)
{
    int k = c->k, gh = h / k, gw = w / k;
    if (c->stride != k || c->pad || h % k || w % k) {
        dv_fail(e, DOCVL_EINVAL, "patch embedding %dx%d stride %d does not tile %dx%d", k, k,
                c->stride, h, w);
        return NULL;
    }
    size_t K = (size_t)c->cin * k * k;
    float *col = malloc((size_t)gh * gw * K * sizeof *col);
    if (!col) {
        dv_fail(e, DOCVL_ENOMEM, "out of memory for patch columns of a %dx%d image", w, h);
        return NULL;
    }
    for (int py = 0; py < gh; py++)
        for (int px = 0; px < gw; px++) {
            float *dst = col + ((size_t)py * gw + px) * K;
            for (int ci = 0; ci < c->cin; ci++) {
                float m = mean ? mean[ci] : 0.0f, s = std ? std[ci] : 1.0f;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        dst[((size_t)ci * k + ky) * k + kx] =
                            (img[((size_t)ci * h + py * k + ky) * w + px * k + kx] - m) / s;
            }
        }
    return col;
}

int tg_patch_fwd(const tg_conv *c, const float *img, int h, int w, const float *mean,
                 const float *std, const float *wt, const float *b, float *y, dv_err *e)
{
    float *col = patch_cols(c, img, h, w, mean, std, e);
    if (!col)
        return e->code;
    tg_linear_fwd(col, wt, b, (h / c->k) * (w / c->k), c->cin * c->k * c->k, c->cout, y);
    free(col);
    return DOCVL_OK;
}

int tg_patch_bwd(const tg_conv *c, const float *img, int h, int w, const float *mean,
                 const float *std, const float *dy, float *dw, float *db, dv_err *e)
{
    float *col = patch_cols(c, img, h, w, mean, std, e);
    if (!col)
        return e->code;
    tg_linear_bwd(dy, col, NULL, (h / c->k) * (w / c->k), c->cin * c->k * c->k, c->cout, NULL,
                  dw, db);
    free(col);
    return DOCVL_OK;
}

/* Source coordinate of output index o under align_corners=False. */
static void src_coord(int o, double scale, int in, int *i0, int *i1, double *frac)
{
    double s = (o + 0.5) * scale - 0.5;
    if (s < 0)
        s = 0;
    *i0 = (int)s;
    if (*i0 > in - 1)
        *i0 = in - 1;
    *i1 = *i0 < in - 1 ? *i0 + 1 : *i0;
    *frac = s - *i0;
}

/* Both directions share the geometry: forward gathers, backward scatters. */
static void bilinear(float *src, int sh, int sw, int c, float *dst, int dh, int dw, int back)
{
    double sy = (double)sh / dh, sx = (double)sw / dw;
    for (int y = 0; y < dh; y++) {
        int y0, y1, x0, x1;
        double fy, fx;
        src_coord(y, sy, sh, &y0, &y1, &fy);
        for (int x = 0; x < dw; x++) {
            src_coord(x, sx, sw, &x0, &x1, &fx);
            float *a = src + ((size_t)y0 * sw + x0) * c, *b = src + ((size_t)y0 * sw + x1) * c;
            float *d = src + ((size_t)y1 * sw + x0) * c, *f = src + ((size_t)y1 * sw + x1) * c;
            float *o = dst + ((size_t)y * dw + x) * c;
            double wa = (1 - fy) * (1 - fx), wb = (1 - fy) * fx, wd = fy * (1 - fx), wf = fy * fx;
            for (int k = 0; k < c; k++) {
                if (!back) {
                    o[k] = (float)((1 - fy) * ((1 - fx) * a[k] + fx * b[k]) +
                                   fy * ((1 - fx) * d[k] + fx * f[k]));
                    continue;
                }
                a[k] += (float)(wa * o[k]);
                b[k] += (float)(wb * o[k]);
                d[k] += (float)(wd * o[k]);
                f[k] += (float)(wf * o[k]);
            }
        }
    }
}

void tg_bilinear_fwd(const float *src, int sh, int sw, int c, float *dst, int dh, int dw)
{
    bilinear((float *)src, sh, sw, c, dst, dh, dw, 0);
}

void tg_bilinear_bwd(const float *ddst, int sh, int sw, int c, float *dsrc, int dh, int dw)
{
    bilinear(dsrc, sh, sw, c, (float *)ddst, dh, dw, 1);
}
