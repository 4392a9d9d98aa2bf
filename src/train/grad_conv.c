#include "train/grad_conv.h"

#include <stdlib.h>
#include <string.h>

#include "train/grad_ops.h"

void tg_conv_out(const tg_conv *c, int h, int w, int *oh, int *ow)
{
    *oh = (h + 2 * c->pad - c->k) / c->stride + 1;
    *ow = (w + 2 * c->pad - c->k) / c->stride + 1;
}

/* Input pixel of kernel tap (ky, kx) for output pixel (oy, ox), or NULL in
 * the zero padding. Column entry (ci, ky, kx) sits at ci*k*k + ky*k + kx, the
 * flattened PyTorch weight's order. */
static size_t tap_offset(const tg_conv *c, int h, int w, int oy, int ox, int ky, int kx,
                         int *inside)
{
    int iy = oy * c->stride - c->pad + ky, ix = ox * c->stride - c->pad + kx;
    *inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
    return *inside ? ((size_t)iy * w + ix) * c->cin : 0;
}

static void im2col_pixel(const tg_conv *c, const float *x, int h, int w, int oy, int ox, float *col)
{
    size_t kk = (size_t)c->k * c->k;
    for (int ky = 0; ky < c->k; ky++)
        for (int kx = 0; kx < c->k; kx++) {
            int inside;
            const float *src = x + tap_offset(c, h, w, oy, ox, ky, kx, &inside);
            float *dst = col + ky * c->k + kx;
            for (int ci = 0; ci < c->cin; ci++)
                dst[(size_t)ci * kk] = inside ? src[ci] : 0.0f;
        }
}

/* The transpose (col2im): column entries are added back into dx. */
static void col2im_pixel(const tg_conv *c, float *dx, int h, int w, int oy, int ox,
                         const float *col)
{
    size_t kk = (size_t)c->k * c->k;
    for (int ky = 0; ky < c->k; ky++)
        for (int kx = 0; kx < c->k; kx++) {
            int inside;
            float *dst = dx + tap_offset(c, h, w, oy, ox, ky, kx, &inside);
            const float *src = col + ky * c->k + kx;
            for (int ci = 0; inside && ci < c->cin; ci++)
                dst[ci] += src[(size_t)ci * kk];
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
            im2col_pixel(c, x, h, w, oy, ox, col + ((size_t)oy * ow + ox) * K);
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
    tg_linear_fwd(c->gemm, col, wt, b, oh * ow, c->cin * c->k * c->k, c->cout, y);
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
    tg_linear_bwd(c->gemm, dy, col, wt, oh * ow, K, c->cout, NULL, dw, db);
    if (dx) {
        memset(col, 0, (size_t)oh * ow * K * sizeof *col);
        tg_linear_bwd(c->gemm, dy, NULL, wt, oh * ow, K, c->cout, col, NULL, NULL);
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                col2im_pixel(c, dx, h, w, oy, ox, col + ((size_t)oy * ow + ox) * K);
    }
    free(col);
    return DOCVL_OK;
}

/* The patches of `count` images [count, cin, h, w], normalized, as rows
 * [count * (h / k) * (w / k), cin * k * k]. */
static float *patch_cols(const tg_conv *c, const float *img, int count, int h, int w,
                         const float *mean, const float *std, dv_err *e)
{
    int k = c->k, gh = h / k, gw = w / k;
    if (c->stride != k || c->pad || h % k || w % k) {
        dv_fail(e, DOCVL_EINVAL, "patch embedding %dx%d stride %d does not tile %dx%d", k, k,
                c->stride, h, w);
        return NULL;
    }
    size_t K = (size_t)c->cin * k * k;
    float *col = malloc((size_t)count * gh * gw * K * sizeof *col);
    if (!col) {
        dv_fail(e, DOCVL_ENOMEM, "out of memory for patch columns of %d %dx%d images", count, w,
                h);
        return NULL;
    }
    for (int i = 0; i < count; i++)
        for (int py = 0; py < gh; py++)
            for (int px = 0; px < gw; px++) {
                float *dst = col + (((size_t)i * gh + py) * gw + px) * K;
                const float *src = img + (size_t)i * c->cin * h * w;
                for (int ci = 0; ci < c->cin; ci++) {
                    float m = mean ? mean[ci] : 0.0f, s = std ? std[ci] : 1.0f;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            dst[((size_t)ci * k + ky) * k + kx] =
                                (src[((size_t)ci * h + py * k + ky) * w + px * k + kx] - m) / s;
                }
            }
    return col;
}

int tg_patch_fwd_many(dv_pool *tp, const tg_conv *c, const float *img, int count, int h, int w,
                      const float *mean, const float *std, const float *wt, const float *b,
                      float *y, dv_err *e)
{
    float *col = patch_cols(c, img, count, h, w, mean, std, e);
    if (!col)
        return e->code;
    tg_linear_fwd_mt(tp, c->gemm, col, wt, b, count * (h / c->k) * (w / c->k),
                     c->cin * c->k * c->k, c->cout, y);
    free(col);
    return DOCVL_OK;
}

int tg_patch_bwd_many(dv_pool *tp, const tg_conv *c, const float *img, int count, int h, int w,
                      const float *mean, const float *std, const float *dy, float *dw,
                      float *db, dv_err *e)
{
    float *col = patch_cols(c, img, count, h, w, mean, std, e);
    if (!col)
        return e->code;
    tg_linear_bwd_mt(tp, c->gemm, dy, col, NULL, count * (h / c->k) * (w / c->k),
                     c->cin * c->k * c->k, c->cout, NULL, dw, db);
    free(col);
    return DOCVL_OK;
}

int tg_patch_fwd(const tg_conv *c, const float *img, int h, int w, const float *mean,
                 const float *std, const float *wt, const float *b, float *y, dv_err *e)
{
    return tg_patch_fwd_many(NULL, c, img, 1, h, w, mean, std, wt, b, y, e);
}

int tg_patch_bwd(const tg_conv *c, const float *img, int h, int w, const float *mean,
                 const float *std, const float *dy, float *dw, float *db, dv_err *e)
{
    return tg_patch_bwd_many(NULL, c, img, 1, h, w, mean, std, dy, dw, db, e);
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

/* The four source pixels of output (y, x) and their weights. */
typedef struct taps {
    size_t at[4];
    double w[4];
    double fy, fx;
} taps;

static taps bilinear_taps(int y, int x, int sh, int sw, int dh, int dw, int c)
{
    int y0, y1, x0, x1;
    double fy, fx;
    src_coord(y, (double)sh / dh, sh, &y0, &y1, &fy);
    src_coord(x, (double)sw / dw, sw, &x0, &x1, &fx);
    return (taps){ .at = { ((size_t)y0 * sw + x0) * c, ((size_t)y0 * sw + x1) * c,
                           ((size_t)y1 * sw + x0) * c, ((size_t)y1 * sw + x1) * c },
                   .w = { (1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx },
                   .fy = fy, .fx = fx };
}

void tg_bilinear_fwd(const float *src, int sh, int sw, int c, float *dst, int dh, int dw)
{
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            taps t = bilinear_taps(y, x, sh, sw, dh, dw, c);
            const float *a = src + t.at[0], *b = src + t.at[1];
            const float *d = src + t.at[2], *f = src + t.at[3];
            float *o = dst + ((size_t)y * dw + x) * c;
            /* the inference resize's arithmetic, term for term */
            double fy = t.fy, fx = t.fx;
            for (int k = 0; k < c; k++)
                o[k] = (float)((1 - fy) * ((1 - fx) * a[k] + fx * b[k]) +
                               fy * ((1 - fx) * d[k] + fx * f[k]));
        }
}

void tg_bilinear_bwd(const float *ddst, int sh, int sw, int c, float *dsrc, int dh, int dw)
{
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            taps t = bilinear_taps(y, x, sh, sw, dh, dw, c);
            const float *o = ddst + ((size_t)y * dw + x) * c;
            for (int q = 0; q < 4; q++)
                for (int k = 0; k < c; k++)
                    dsrc[t.at[q] + k] += (float)(t.w[q] * o[k]);
        }
}
