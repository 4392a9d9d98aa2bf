/* Rendered document tiles for OCR training pairs: Cairo draws headings,
 * paragraphs, lists and ruled tables in the system's fonts (serif, sans,
 * mono; sizes; bold and italic; one or two columns), then the tile is made
 * to look scanned (skew, blur, paper tone, noise). Beside the image come its
 * exact transcription (the drawn lines in reading order) and its Markdown
 * (GFM tables). Everything follows from the seed. */
#ifndef DV_RENDER_H
#define DV_RENDER_H

#include <cairo.h>
#include <stdint.h>

#include "base/error.h"
#include "image/image.h"

typedef struct dv_render_opts {
    int width, height;       /* tile size in pixels */
    double min_px, max_px;   /* font size range, pixels */
    int max_blocks;          /* blocks per tile (0: as many as fit) */
    int plain;               /* 1: paragraphs only, one column (easy tiles) */
    int max_lines;           /* lines per paragraph (0: as many as fit) */
    double scan;             /* strength of the scan look, 0 (clean) to 1 */
} dv_render_opts;

#define DV_RENDER_DEFAULTS ((dv_render_opts){ .width = 768, .height = 768, .min_px = 14, \
                                              .max_px = 26, .max_blocks = 0, .plain = 0, \
                                              .scan = 1.0 })

/* Where a drawn word landed (before the skew): for tests and callers that
 * want boxes. */
typedef struct dv_rbox {
    int x, y, w, h;
} dv_rbox;

typedef struct dv_rendered {
    dv_image image;
    char *text;              /* transcription: lines joined by \n, blocks by a blank line */
    char *markdown;
    int n_boxes;
    dv_rbox *boxes;
} dv_rendered;

/* Words to draw: the whitespace-separated words of a text, drawn in order
 * from a seed-chosen start (so lines read naturally). */
typedef struct dv_render_words {
    long n;
    char **w;
} dv_render_words;

int dv_render_words_from_text(const char *text, dv_render_words *out, dv_err *e);
void dv_render_words_free(dv_render_words *w);

int dv_render_tile(const dv_render_opts *o, const dv_render_words *words, uint64_t seed,
                   dv_rendered *out, dv_err *e);
void dv_rendered_free(dv_rendered *r);

/* An image on a new Cairo surface: A8 when gray (its red channel), else
 * RGB24. The caller checks the surface's status and destroys it. */
cairo_surface_t *dv_render_surface(const dv_image *im, int gray);

/* An image as an RGB PNG; a text file as it is. */
int dv_render_write_png(const dv_image *im, const char *path, dv_err *e);
int dv_render_write_text(const char *path, const char *text, dv_err *e);

/* Writes stem.png, stem.txt and stem.md. */
int dv_rendered_write(const dv_rendered *r, const char *stem, dv_err *e);

/* The scan look on an RGB image (render_scan.c): seeded blur, paper tone and
 * noise of the given strength. */
struct dv_rng;
void dv_render_scan(dv_image *im, double strength, struct dv_rng *r);

#endif
