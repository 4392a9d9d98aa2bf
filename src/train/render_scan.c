/* The scan look: a little blur (optics), a paper tone (not quite white) and
 * sensor noise, each drawn from the tile's generator so tiles repeat. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/render.h"
#include "base/rng.h"

static uint8_t clamp8(double v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)lrint(v);
}

/* Blend of each pixel with the mean of its 3x3 neighbourhood (edges clamp). */
static void blur(dv_image *im, double a)
{
    size_t n = (size_t)im->w * im->h * 3;
    uint8_t *src = malloc(n);
    if (!src)
        return;   /* the look is optional: without memory the tile stays sharp */
    memcpy(src, im->rgb, n);
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            for (int c = 0; c < 3; c++) {
                int sum = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy < 0 ? 0 : y + dy >= im->h ? im->h - 1 : y + dy;
                        int xx = x + dx < 0 ? 0 : x + dx >= im->w ? im->w - 1 : x + dx;
                        sum += src[((size_t)yy * im->w + xx) * 3 + c];
                    }
                size_t i = ((size_t)y * im->w + x) * 3 + c;
                im->rgb[i] = clamp8((1 - a) * src[i] + a * sum / 9.0);
            }
    free(src);
}

void dv_render_scan(dv_image *im, double strength, dv_rng *r)
{
    if (strength <= 0)
        return;
    if (dv_rng_uniform(r) < 0.5)
        blur(im, 0.7 * strength * dv_rng_uniform(r));
    double paper = 255.0 - 20.0 * strength * dv_rng_uniform(r);
    double sigma = 6.0 * strength * dv_rng_uniform(r);
    size_t n = (size_t)im->w * im->h;
    for (size_t i = 0; i < n; i++) {
        /* gray noise: a scanner's sensor noise is mostly luminance */
        double d = sigma > 0 ? sigma * dv_rng_normal(r) : 0.0;
        for (int c = 0; c < 3; c++)
            im->rgb[i * 3 + c] = clamp8(im->rgb[i * 3 + c] * paper / 255.0 + d);
    }
}
