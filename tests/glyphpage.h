/* Pages of "glyphs" that a test reads back without OCR: each character is a
 * solid black bar whose width says which one it is (GLYPH_W0 plus its index
 * in GLYPHS), letters GLYPH_GAP apart, words WORD_GAP apart. Layout analysis
 * sees bars of one height as the letters of text lines; a fake reader turns
 * any crop back into the text drawn in it, so a crop that cuts a word, or
 * takes in a neighbour's ink, reads wrong. */
#ifndef DV_TEST_GLYPHPAGE_H
#define DV_TEST_GLYPHPAGE_H

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "image/image.h"

#define GLYPHS "abcdefghijklmnopqrstuvwxyz0123456789.*_#$[]"
#define GLYPH_W0 3
#define GLYPH_GAP 3
#define WORD_GAP 16
#define GLYPH_H 24

static inline int glyph_w(char c)
{
    const char *p = strchr(GLYPHS, c);
    g_assert_nonnull(p);
    return GLYPH_W0 + (int)(p - GLYPHS);
}

/* A white page. */
static inline dv_image glyph_page(int w, int h)
{
    dv_image im = { 0 };
    dv_err e = { 0 };
    g_assert_cmpint(dv_image_alloc(&im, w, h, &e), ==, DOCVL_OK);
    memset(im.rgb, 255, (size_t)w * h * 3);
    return im;
}

static inline void glyph_fill(dv_image *im, int x0, int y0, int x1, int y1)
{
    for (int y = y0; y < y1; y++)
        memset(im->rgb + ((size_t)y * im->w + x0) * 3, 0, (size_t)(x1 - x0) * 3);
}

/* Draws text (GLYPHS and spaces) with its top left at x, y, glyphs h high,
 * each glyph lower than the first by slope times its distance from it (a
 * skewed scan); returns the x after its last glyph. */
static inline int glyph_draw_sloped(dv_image *im, int x, int y, int h, const char *text,
                                    double slope)
{
    int end = x, x0 = x;
    for (const char *c = text; *c; c++) {
        if (*c == ' ') {
            x += WORD_GAP - GLYPH_GAP;
            continue;
        }
        int dy = (int)(slope * (x - x0) + 0.5);
        glyph_fill(im, x, y + dy, x + glyph_w(*c), y + dy + h);
        end = x + glyph_w(*c);
        x = end + GLYPH_GAP;
    }
    return end;
}

static inline int glyph_draw(dv_image *im, int x, int y, int h, const char *text)
{
    return glyph_draw_sloped(im, x, y, h, text, 0);
}

/* The text drawn in an image: runs of columns holding ink are glyphs ('?'
 * for a width no glyph has), gaps wider than a letter gap are spaces. */
static inline char *glyph_read(const dv_image *im)
{
    GString *s = g_string_new(NULL);
    int run = 0, gap = 0, seen = 0;
    for (int x = 0; x <= im->w; x++) {
        int ink = 0;
        for (int y = 0; x < im->w && y < im->h && !ink; y++)
            ink = im->rgb[((size_t)y * im->w + x) * 3] < 128;
        if (ink) {
            if (seen && run == 0 && gap > (GLYPH_GAP + WORD_GAP) / 2)
                g_string_append_c(s, ' ');
            run++;
            gap = 0;
            continue;
        }
        if (run > 0) {
            int i = run - GLYPH_W0;
            g_string_append_c(s, i >= 0 && i < (int)strlen(GLYPHS) ? GLYPHS[i] : '?');
            seen = 1;
        }
        run = 0;
        gap++;
    }
    return g_string_free(s, FALSE);
}

/* Writes the page as a binary PPM (P6), a format docvl reads. */
static inline void glyph_write_ppm(const dv_image *im, const char *path)
{
    FILE *f = fopen(path, "wb");
    g_assert_nonnull(f);
    fprintf(f, "P6\n%d %d\n255\n", im->w, im->h);
    g_assert_cmpint(fwrite(im->rgb, 3, (size_t)im->w * im->h, f), ==, (size_t)im->w * im->h);
    g_assert_cmpint(fclose(f), ==, 0);
}

#endif
