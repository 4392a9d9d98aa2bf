/* Scan degradations of a rendered line, applied at the scan's resolution
 * (before the line is resampled to the model's height) so that blur, noise
 * and JPEG blocks have the size they have on a real 200-300 dpi scan. */
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "base/rng.h"
#include "train/render_line.h"

static double between(dv_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * dv_rng_uniform(r);
}

static int happens(dv_rng *r, double p)
{
    return dv_rng_uniform(r) < p;
}

void dv_line_look_draw(dv_line_look *k, double scan, dv_rng *r)
{
    /* every draw happens at any strength, so a seed's other choices (font,
     * text) do not change with --scan */
    double skew = between(r, -1, 1), blur = between(r, 0.3, 1), noise = dv_rng_uniform(r);
    double speckle = dv_rng_uniform(r), jpeg = dv_rng_uniform(r);
    int low = happens(r, 0.2);
    double ink = low ? between(r, 0.25, DV_LINE_INK_MAX) : between(r, 0, 0.2);
    double paper = low ? between(r, 0, 1 - DV_LINE_PAPER_MIN) : between(r, 0, 0.1);
    k->skew_deg = happens(r, 0.5) ? scan * DV_LINE_SKEW_MAX * skew : 0;
    k->blur = happens(r, 0.6) ? scan * DV_LINE_BLUR_MAX * blur : 0;
    k->noise = happens(r, 0.5) ? scan * DV_LINE_NOISE_MAX * noise : 0;
    k->speckle = happens(r, 0.25) ? scan * DV_LINE_SPECKLE_MAX * speckle : 0;
    k->ink = scan * ink;
    k->paper = 1 - scan * paper;
    k->binarized = happens(r, 0.12) && scan > 0;
    int q = DV_LINE_JPEG_MAX - (int)lrint(scan * (DV_LINE_JPEG_MAX - DV_LINE_JPEG_MIN) * jpeg);
    k->jpeg = happens(r, 0.3) && scan > 0 ? q : 0;
}

static uint8_t clamp8(double v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)lrint(v);
}

/* One pass of a separable Gaussian along x (step 1) or y (step w). */
static void gauss_pass(const float *src, float *dst, int w, int h, int along_x, const float *k,
                       int rad)
{
    int n = along_x ? w : h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int at = along_x ? x : y;
            float s = 0;
            for (int d = -rad; d <= rad; d++) {
                int j = at + d < 0 ? 0 : at + d >= n ? n - 1 : at + d;
                s += k[d + rad] * (along_x ? src[(size_t)y * w + j] : src[(size_t)j * w + x]);
            }
            dst[(size_t)y * w + x] = s;
        }
}

static int gaussian(dv_gray *g, double sigma, dv_err *e)
{
    int rad = (int)ceil(3 * sigma);
    size_t n = (size_t)g->w * g->h;
    float *a = calloc(n, sizeof *a), *b = malloc(n * sizeof *b);
    float *k = malloc((size_t)(2 * rad + 1) * sizeof *k);
    if (!a || !b || !k) {
        free(a), free(b), free(k);
        return dv_fail(e, DOCVL_ENOMEM, "blurring a %d x %d line", g->w, g->h);
    }
    float sum = 0;
    for (int d = -rad; d <= rad; d++)
        sum += k[d + rad] = (float)exp(-0.5 * d * d / (sigma * sigma));
    for (int d = 0; d <= 2 * rad; d++)
        k[d] /= sum;
    for (size_t i = 0; i < n; i++)
        a[i] = g->p[i];
    gauss_pass(a, b, g->w, g->h, 1, k, rad);
    gauss_pass(b, a, g->w, g->h, 0, k, rad);
    for (size_t i = 0; i < n; i++)
        g->p[i] = clamp8(a[i]);
    free(a), free(b), free(k);
    return DOCVL_OK;
}

/* Dust and toner specks: single pixels or 2x2 dots flipped to ink or paper. */
static void speckle(dv_gray *g, const dv_line_look *k, dv_rng *r)
{
    long n = lrint(k->speckle * g->w * g->h);
    uint8_t ink = clamp8(255 * k->ink), paper = clamp8(255 * k->paper);
    for (long i = 0; i < n; i++) {
        int x = (int)dv_rng_below(r, (uint64_t)g->w), y = (int)dv_rng_below(r, (uint64_t)g->h);
        int size = 1 + (int)dv_rng_below(r, 2);
        uint8_t v = dv_rng_uniform(r) < 0.7 ? ink : paper;
        for (int dy = 0; dy < size && y + dy < g->h; dy++)
            for (int dx = 0; dx < size && x + dx < g->w; dx++)
                g->p[(size_t)(y + dy) * g->w + x + dx] = v;
    }
}

static void put_bytes(void *ctx, void *data, int size)
{
    g_byte_array_append(ctx, data, (guint)size);
}

/* A round trip through a JPEG of the given quality: 8x8 blocks and ringing. */
static int jpeg(dv_gray *g, int quality, dv_err *e)
{
    GByteArray *buf = g_byte_array_new();
    int ok = stbi_write_jpg_to_func(put_bytes, buf, g->w, g->h, 1, g->p, quality);
    int w = 0, h = 0, c = 0;
    uint8_t *back = ok ? stbi_load_from_memory(buf->data, (int)buf->len, &w, &h, &c, 1) : NULL;
    g_byte_array_free(buf, TRUE);
    if (!back || w != g->w || h != g->h) {
        stbi_image_free(back);
        return dv_fail(e, DOCVL_EINTERNAL, "JPEG round trip of a %d x %d line at quality %d",
                       g->w, g->h, quality);
    }
    memcpy(g->p, back, (size_t)w * h);
    stbi_image_free(back);
    return DOCVL_OK;
}

int dv_line_degrade(dv_gray *g, const dv_line_look *k, dv_rng *r, dv_err *e)
{
    size_t n = (size_t)g->w * g->h;
    if (k->blur > 0 && gaussian(g, k->blur, e))
        return e->code;
    if (k->noise > 0)
        for (size_t i = 0; i < n; i++)
            g->p[i] = clamp8(g->p[i] + k->noise * dv_rng_normal(r));
    if (k->speckle > 0)
        speckle(g, k, r);
    if (k->binarized) {
        /* a scanner's fixed threshold, a little off the middle */
        double t = 255 * (k->ink + (k->paper - k->ink) * between(r, 0.4, 0.6));
        for (size_t i = 0; i < n; i++)
            g->p[i] = g->p[i] < t ? 0 : 255;
    }
    return k->jpeg ? jpeg(g, k->jpeg, e) : DOCVL_OK;
}
