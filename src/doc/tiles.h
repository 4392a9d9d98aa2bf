/* Cutting a page into tiles for the model, along white space, following the
 * layout's blocks in reading order.
 *
 * Tile size T defaults to DV_TILE_DEFAULT_SIZE = 1024, the image_size of the
 * 7B model's high-resolution (SAM-B) path; callers running the 1.3B model
 * pass its image_size, 384. Sizes are page pixels at the rendering
 * resolution. A tile is at most T x T, with one exception: a single text
 * line (or a block of them) wider or taller than T keeps its whole extent,
 * because tiles never cut through a text line; the model's preprocessing
 * scales such a tile down. Small tiles are not padded here (the model's
 * expand2square does that).
 *
 * Tiles off, a page that fits in T x T, or a page without ink: one tile
 * covering the whole page. */
#ifndef DV_DOC_TILES_H
#define DV_DOC_TILES_H

#include "base/box.h"
#include "base/error.h"
#include "doc/layout.h"

#define DV_TILE_DEFAULT_SIZE 1024

typedef struct dv_tile {
    dv_box box;                   /* page pixels */
    int first_block, n_blocks;    /* layout blocks it was built from (0 for a whole page) */
} dv_tile;

typedef struct dv_tiling {
    dv_tile *tiles;               /* in reading order */
    int n_tiles;
} dv_tiling;

typedef struct dv_tile_options {
    int tile_size;                /* 0: DV_TILE_DEFAULT_SIZE */
    int off;                      /* 1: one tile for the whole page */
} dv_tile_options;

/* opts may be NULL. */
int dv_tiles_make(const dv_layout *layout, const dv_tile_options *opts, dv_tiling *out,
                  dv_err *e);
void dv_tiling_free(dv_tiling *t);

/* 1 when box overlaps line without containing it: the cut tiles must avoid. */
int dv_box_cuts(dv_box box, dv_box line);

#endif
