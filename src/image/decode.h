/* Decoding image files from memory into RGB8 dv_images.
 *
 * PNG, JPEG, BMP, PNM, TGA and GIF (first frame) go through stb_image; TIFF
 * (any depth, CCITT G3/G4, multi-page) and WebP through Leptonica. Gray,
 * gray+alpha, palette and RGBA inputs become RGB; alpha is composited over
 * white because documents are read as if printed on white paper.
 * Dimensions are read from the header and checked against the caller's limit
 * before any pixel buffer is allocated. */
#ifndef DV_IMAGE_DECODE_H
#define DV_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/image.h"

typedef enum dv_image_format {
    DV_IMG_UNKNOWN = 0,
    DV_IMG_PNG,
    DV_IMG_JPEG,
    DV_IMG_GIF,
    DV_IMG_BMP,
    DV_IMG_PNM,
    DV_IMG_TGA,
    DV_IMG_TIFF,
    DV_IMG_WEBP,
} dv_image_format;

/* Identifies an image format from its first bytes (never from a file name).
 * TGA has no signature: it is reported only when the header is plausible and
 * nothing else matched. */
dv_image_format dv_image_sniff(const uint8_t *data, size_t len);
const char *dv_image_format_name(dv_image_format f);

/* Number of frames a decoder will expose: TIFF pages; 1 for everything else
 * (a GIF's later frames are ignored by design). */
int dv_image_frame_count(const uint8_t *data, size_t len, int *count, dv_err *e);

/* Width and height of one frame, read from the header only. */
int dv_image_frame_size(const uint8_t *data, size_t len, int frame, int *w, int *h,
                        dv_err *e);

/* Decodes frame `frame` (0-based) into *out. Fails with DOCVL_ELIMIT, before
 * allocating, when w * h exceeds max_pixels (0 = no limit beyond int range). */
int dv_image_decode(const uint8_t *data, size_t len, int frame, size_t max_pixels,
                    dv_image *out, dv_err *e);

#endif
