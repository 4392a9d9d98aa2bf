#include "image/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pillow's fixed-point precision for 8-bit images: 32 bits minus 8 for the
 * sample minus 2 for the sign and the negative lobes of the filter. */
#define PRECISION_BITS 22

/* Largest side accepted: keeps every index and product inside int. */
#define MAX_SIDE (1 << 16)

typedef double (*filter_fn)(double x);

/* Per output position: the first input index, how many inputs, and weights
 * (ksize per position, zero past the count). */
typedef struct taps {
    int ksize;
    int *first, *count;
    double *w;
} taps;

static double bicubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static void taps_free(taps *t)
{
    free(t->first);
    free(t->count);
    free(t->w);
}

/* The weight layout Pillow (precompute_coeffs) and PyTorch
 * (_compute_indices_weights_aa) share: when shrinking, the filter is
 * stretched by the scale so every input pixel contributes (antialiasing);
 * windows are rounded with (int)(x + 0.5) and weights normalised to sum 1. */
static int taps_make(int in_size, int out_size, double support0, filter_fn f, taps *t, dv_err *e)
{
    double scale = (double)in_size / out_size;
    double fscale = scale < 1.0 ? 1.0 : scale;
    double support = support0 * fscale;
    memset(t, 0, sizeof *t);
    t->ksize = (int)ceil(support) * 2 + 1;
    t->first = malloc((size_t)out_size * sizeof *t->first);
    t->count = malloc((size_t)out_size * sizeof *t->count);
    t->w = calloc((size_t)out_size * t->ksize, sizeof *t->w);
    if (!t->first || !t->count || !t->w) {
        taps_free(t);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for resampling weights %d -> %d", in_size,
                       out_size);
    }
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in_size)
            hi = in_size;
        double *w = t->w + (size_t)o * t->ksize, sum = 0.0;
        for (int j = 0; j < hi - lo; j++) {
            w[j] = f((j + lo - center + 0.5) / fscale);
            sum += w[j];
        }
        for (int j = 0; j < hi - lo && sum != 0.0; j++)
            w[j] /= sum;
        t->first[o] = lo;
        t->count[o] = hi - lo;
    }
    return DOCVL_OK;
}

/* Weights to 22-bit fixed point, rounding half away from zero as Pillow. */
static int32_t *taps_fixed(const taps *t, int out_size, dv_err *e)
{
    size_t n = (size_t)out_size * t->ksize;
    int32_t *k = malloc(n * sizeof *k);
    if (!k) {
        dv_fail(e, DOCVL_ENOMEM, "out of memory for resampling weights");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        double v = t->w[i] * (1 << PRECISION_BITS);
        k[i] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
    }
    return k;
}

static uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One 1-D pass along an axis: `n_lines` lines of `in_len` samples spaced
 * `step` bytes apart (pixel stride), lines `line_in`/`line_out` bytes apart. */
typedef struct pass_geom {
    int n_lines, channels, out_len;
    size_t step_in, step_out, line_in, line_out;
} pass_geom;

static void pass_u8(const uint8_t *src, uint8_t *dst, const pass_geom *g, const taps *t,
                    const int32_t *k)
{
    for (int l = 0; l < g->n_lines; l++) {
        const uint8_t *in = src + (size_t)l * g->line_in;
        uint8_t *out = dst + (size_t)l * g->line_out;
        for (int o = 0; o < g->out_len; o++) {
            const int32_t *ko = k + (size_t)o * t->ksize;
            const uint8_t *p = in + (size_t)t->first[o] * g->step_in;
            for (int c = 0; c < g->channels; c++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int j = 0; j < t->count[o]; j++)
                    ss += p[(size_t)j * g->step_in + c] * ko[j];
                out[(size_t)o * g->step_out + c] = clip8(ss);
            }
        }
    }
}

static int check_sides(int sw, int sh, int dw, int dh, int channels, dv_err *e)
{
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || sw > MAX_SIDE || sh > MAX_SIDE ||
        dw > MAX_SIDE || dh > MAX_SIDE || channels <= 0 || channels > 4)
        return dv_fail(e, DOCVL_EINVAL, "cannot resample %dx%d (x%d) to %dx%d: sides must be 1..%d",
                       sw, sh, channels, dw, dh, MAX_SIDE);
    return DOCVL_OK;
}

/* Vertical pass row by row: each output row accumulates whole input rows,
 * so memory is read sequentially (a column walk would stride by a row). */
static void vpass_u8(const uint8_t *src, uint8_t *dst, size_t row, int out_h, const taps *t,
                     const int32_t *k, int32_t *acc)
{
    for (int o = 0; o < out_h; o++) {
        const int32_t *ko = k + (size_t)o * t->ksize;
        for (size_t i = 0; i < row; i++)
            acc[i] = 1 << (PRECISION_BITS - 1);
        for (int j = 0; j < t->count[o]; j++) {
            const uint8_t *in = src + (size_t)(t->first[o] + j) * row;
            for (size_t i = 0; i < row; i++)
                acc[i] += in[i] * ko[j];
        }
        for (size_t i = 0; i < row; i++)
            dst[(size_t)o * row + i] = clip8(acc[i]);
    }
}

/* One axis with its own weights: horizontal (rows of sw pixels) when
 * `vertical` is 0, else vertical over rows of `row` bytes. */
static int axis_u8(const uint8_t *src, uint8_t *dst, int in_len, int out_len, int vertical,
                   const pass_geom *g, size_t row, dv_err *e)
{
    taps t;
    int rc = taps_make(in_len, out_len, 2.0, bicubic, &t, e);
    if (rc)
        return rc;
    int32_t *k = taps_fixed(&t, out_len, e);
    int32_t *acc = k && vertical ? malloc(row * sizeof *acc) : NULL;
    if (k && vertical && !acc)
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory resampling rows of %zu bytes", row);
    else if (k && vertical)
        vpass_u8(src, dst, row, out_len, &t, k, acc);
    else if (k)
        pass_u8(src, dst, g, &t, k);
    else
        rc = e->code;
    free(acc);
    free(k);
    taps_free(&t);
    return rc;
}

int dv_resize_bicubic_u8(const uint8_t *src, int sw, int sh, int channels, uint8_t *dst, int dw,
                         int dh, dv_err *e)
{
    int rc = check_sides(sw, sh, dw, dh, channels, e);
    if (rc)
        return rc;
    size_t cs = (size_t)channels;
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * cs);
        return DOCVL_OK;
    }
    const uint8_t *rows = src;
    uint8_t *tmp = NULL;
    if (sw != dw) {
        uint8_t *hout = sh == dh ? dst : (tmp = malloc((size_t)dw * sh * cs));
        if (!hout)
            return dv_fail(e, DOCVL_ENOMEM, "out of memory resampling %dx%d", sw, sh);
        pass_geom g = { sh, channels, dw, cs, cs, (size_t)sw * cs, (size_t)dw * cs };
        if ((rc = axis_u8(src, hout, sw, dw, 0, &g, 0, e))) {
            free(tmp);
            return rc;
        }
        rows = hout;
    }
    if (sh != dh)
        rc = axis_u8(rows, dst, sh, dh, 1, NULL, (size_t)dw * cs, e);
    free(tmp);
    return rc;
}

static void pass_f32(const float *src, float *dst, int n_lines, size_t line, size_t step_in,
                     size_t step_out, int out_len, const taps *t)
{
    for (int l = 0; l < n_lines; l++) {
        const float *in = src + (size_t)l * line;
        float *out = dst + (size_t)l * line;
        for (int o = 0; o < out_len; o++) {
            const double *w = t->w + (size_t)o * t->ksize;
            const float *p = in + (size_t)t->first[o] * step_in;
            double s = 0.0;
            for (int j = 0; j < t->count[o]; j++)
                s += w[j] * p[(size_t)j * step_in];
            out[(size_t)o * step_out] = (float)s;
        }
    }
}

int dv_resize_bilinear_aa_f32(const float *src, int planes, int sw, int sh, float *dst, int dw,
                              int dh, dv_err *e)
{
    int rc = check_sides(sw, sh, dw, dh, 1, e);
    if (rc)
        return rc;
    if (planes <= 0)
        return dv_fail(e, DOCVL_EINVAL, "resampling %d planes", planes);
    taps th, tv;
    if ((rc = taps_make(sw, dw, 1.0, triangle, &th, e)))
        return rc;
    if ((rc = taps_make(sh, dh, 1.0, triangle, &tv, e))) {
        taps_free(&th);
        return rc;
    }
    float *tmp = malloc((size_t)dw * sh * sizeof *tmp);
    if (!tmp)
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory resampling %dx%d", sw, sh);
    for (int p = 0; p < planes && !rc; p++) {
        const float *in = src + (size_t)p * sw * sh;
        float *out = dst + (size_t)p * dw * dh;
        /* rows of the input, then columns of the half-resized plane */
        for (int y = 0; y < sh; y++)
            pass_f32(in + (size_t)y * sw, tmp + (size_t)y * dw, 1, 0, 1, 1, dw, &th);
        pass_f32(tmp, out, dw, 1, (size_t)dw, (size_t)dw, dh, &tv);
    }
    free(tmp);
    taps_free(&th);
    taps_free(&tv);
    return rc;
}

/* Source coordinate of an output index under align_corners=False. */
static void bilinear_src(int o, double scale, int in, int *i0, int *i1, double *frac)
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

void dv_resize_bilinear_nhwc(const float *src, int sh, int sw, int c, float *dst, int dh, int dw)
{
    double sy = (double)sh / dh, sx = (double)sw / dw;
    for (int y = 0; y < dh; y++) {
        int y0, y1, x0, x1;
        double fy, fx;
        bilinear_src(y, sy, sh, &y0, &y1, &fy);
        for (int x = 0; x < dw; x++) {
            bilinear_src(x, sx, sw, &x0, &x1, &fx);
            const float *a = src + ((size_t)y0 * sw + x0) * c, *b = src + ((size_t)y0 * sw + x1) * c;
            const float *d = src + ((size_t)y1 * sw + x0) * c, *f = src + ((size_t)y1 * sw + x1) * c;
            float *o = dst + ((size_t)y * dw + x) * c;
            for (int k = 0; k < c; k++)
                o[k] = (float)((1 - fy) * ((1 - fx) * a[k] + fx * b[k]) +
                               fy * ((1 - fx) * d[k] + fx * f[k]));
        }
    }
}
