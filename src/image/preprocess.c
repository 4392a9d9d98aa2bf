#include "image/preprocess.h"

#include <stdlib.h>
#include <string.h>

#include "image/resize.h"

#define MAX_SQUARE 8192

/* A text line at height H, its width kept in proportion up to W. */
static void line_geometry(int w, int h, const dv_preproc_cfg *cfg, dv_pre_geom *g)
{
    double rw = (double)w * cfg->image_h / h + 0.5;
    g->resized_h = cfg->image_h;
    g->resized_w = rw >= cfg->image_w ? cfg->image_w : rw < 1 ? 1 : (int)rw;
    g->paste_x = g->paste_y = 0;
    g->out_w = cfg->image_w;
    g->out_h = cfg->image_h;
    memset(g->background, 0, sizeof g->background);
}

int dv_preprocess_geometry(int w, int h, const dv_preproc_cfg *cfg, dv_pre_geom *g, dv_err *e)
{
    int s = cfg->image_h;
    if (s <= 0 || s > MAX_SQUARE || cfg->image_w <= 0 || cfg->image_w > MAX_SQUARE ||
        cfg->min_size < 0 || (!dv_preproc_is_lines(cfg) && cfg->min_size > s))
        return dv_fail(e, DOCVL_EMODEL, "preprocessor image_size %dx%d / min_size %d unusable", s,
                       cfg->image_w, cfg->min_size);
    if (w <= 0 || h <= 0)
        return dv_fail(e, DOCVL_EINVAL, "image of %d x %d pixels cannot be preprocessed", w, h);
    if (dv_preproc_is_lines(cfg)) {
        line_geometry(w, h, cfg, g);
        return DOCVL_OK;
    }
    int longest = w > h ? w : h;
    /* the reference divides first, then scales, then truncates with int():
     * the same double operations in the same order give the same sides */
    int rw = (int)((double)w / longest * s), rh = (int)((double)h / longest * s);
    g->resized_w = rw > cfg->min_size ? rw : cfg->min_size;
    g->resized_h = rh > cfg->min_size ? rh : cfg->min_size;
    if (g->resized_w <= 0 || g->resized_h <= 0)
        return dv_fail(e, DOCVL_EINVAL, "image of %d x %d pixels resizes to nothing", w, h);
    g->out_w = g->out_h = s;
    g->paste_x = (s - g->resized_w) / 2;
    g->paste_y = (s - g->resized_h) / 2;
    for (int c = 0; c < 3; c++)
        g->background[c] = cfg->has_image_mean ? (uint8_t)(int)((double)cfg->image_mean[c] * 255.0) : 127;
    return DOCVL_OK;
}

/* The line's paper tone: per channel, the DV_LINE_PAPER_PERCENTILE-th
 * percentile of its interleaved pixels (preprocess.h says why). */
static void paper_tone(const uint8_t *rgb, size_t n_px, uint8_t tone[3])
{
    for (int c = 0; c < 3; c++) {
        size_t hist[256] = { 0 };
        for (size_t i = 0; i < n_px; i++)
            hist[rgb[i * 3 + c]]++;
        size_t rank = n_px * DV_LINE_PAPER_PERCENTILE / 100, seen = 0;
        int v = 0;
        while (v < 255 && (seen += hist[v]) <= rank)
            v++;
        tone[c] = (uint8_t)v;
    }
}

/* The model's input, planar, from the resized interleaved image. */
static void paste_planar(const uint8_t *rgb, const dv_pre_geom *g, uint8_t *u8)
{
    size_t plane = (size_t)g->out_w * g->out_h;
    for (int c = 0; c < 3; c++)
        memset(u8 + c * plane, g->background[c], plane);
    for (int y = 0; y < g->resized_h; y++) {
        const uint8_t *row = rgb + (size_t)y * g->resized_w * 3;
        size_t base = (size_t)(y + g->paste_y) * g->out_w + g->paste_x;
        for (int x = 0; x < g->resized_w; x++)
            for (int c = 0; c < 3; c++)
                u8[c * plane + base + x] = row[x * 3 + c];
    }
}

void dv_preprocess_to_float(const uint8_t *u8, const dv_preproc_cfg *cfg, float *pixels)
{
    size_t plane = (size_t)cfg->image_h * cfg->image_w;
    for (int c = 0; c < 3; c++) {
        const uint8_t *in = u8 + c * plane;
        float *out = pixels + c * plane;
        for (size_t i = 0; i < plane; i++) {
            float v = (float)(in[i] / 255.0);
            out[i] = cfg->do_normalize ? (v - cfg->image_mean[c]) / cfg->image_std[c] : v;
        }
    }
}

int dv_preprocess(const dv_image *im, const dv_preproc_cfg *cfg, uint8_t *u8, float *pixels,
                  dv_pre_geom *geom, dv_err *e)
{
    dv_pre_geom g;
    int rc = dv_preprocess_geometry(im->w, im->h, cfg, &g, e);
    if (rc)
        return rc;
    size_t plane = (size_t)g.out_w * g.out_h;
    uint8_t *resized = malloc((size_t)g.resized_w * g.resized_h * 3);
    uint8_t *sq = u8 ? u8 : malloc(3 * plane);
    if (!resized || !sq)
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory preprocessing a %d x %d image", im->w, im->h);
    else if (!(rc = dv_resize_bicubic_u8(im->rgb, im->w, im->h, 3, resized, g.resized_w,
                                         g.resized_h, e))) {
        if (dv_preproc_is_lines(cfg))
            paper_tone(resized, (size_t)g.resized_w * g.resized_h, g.background);
        paste_planar(resized, &g, sq);
        if (geom)
            *geom = g;
        if (pixels)
            dv_preprocess_to_float(sq, cfg, pixels);
    }
    free(resized);
    if (sq != u8)
        free(sq);
    return rc ? dv_wrap(e, "preprocessing a %d x %d image", im->w, im->h) : DOCVL_OK;
}
