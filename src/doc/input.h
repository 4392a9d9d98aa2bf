/* Getting document bytes: a file or standard input ("-"), read whole with a
 * size limit, and the kind of document recognised from its bytes. */
#ifndef DV_DOC_INPUT_H
#define DV_DOC_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "image/decode.h"

/* Inputs larger than this are refused unless the caller sets its own limit:
 * it bounds memory for a document that is held in memory while it is read. */
#define DV_INPUT_DEFAULT_MAX_BYTES ((size_t)512 << 20)

typedef enum dv_input_kind {
    DV_INPUT_UNKNOWN = 0,
    DV_INPUT_PDF,
    DV_INPUT_IMAGE,
} dv_input_kind;

/* PDF when "%PDF-" occurs in the first 1024 bytes (readers tolerate leading
 * junk there); otherwise an image when dv_image_sniff knows the format. */
dv_input_kind dv_input_sniff(const uint8_t *data, size_t len);

/* Reads a stream to its end into a malloc'd buffer (freed with free). Fails
 * with DOCVL_ELIMIT as soon as more than max_bytes arrive (0 = default). */
int dv_read_stream(FILE *f, size_t max_bytes, const char *what, uint8_t **out, size_t *len,
                   dv_err *e);

/* Reads path, or standard input when path is "-". */
int dv_read_input(const char *path, size_t max_bytes, uint8_t **out, size_t *len, dv_err *e);

#endif
