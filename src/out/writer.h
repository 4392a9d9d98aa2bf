/* Output writers: plain text, Markdown (GFM) and hOCR, streamed page by page
 * to a sink. A writer sees only dv_page_result (out/page.h). */
#ifndef DV_OUT_WRITER_H
#define DV_OUT_WRITER_H

#include <stddef.h>

#include "base/error.h"
#include "out/page.h"

typedef enum dv_format {
    DV_FMT_TEXT,        /* pages separated by form feed, like pdftotext */
    DV_FMT_MARKDOWN,    /* GFM; HTML tables become pipe tables */
    DV_FMT_HOCR,        /* hOCR 1.2 in XHTML */
} dv_format;

/* Where bytes go. Returns a status and fills e on failure (disk full...). */
typedef struct dv_sink {
    int (*write)(void *user, const char *data, size_t len, dv_err *e);
    void *user;
} dv_sink;

/* "txt"/"text", "md"/"markdown", "hocr"/"html" (case-insensitive). */
int dv_format_parse(const char *name, dv_format *out, dv_err *e);
const char *dv_format_name(dv_format f);
/* File extension for one output per input: ".txt", ".md", ".hocr". */
const char *dv_format_ext(dv_format f);

typedef struct dv_writer dv_writer;

typedef struct dv_writer_options {
    const char *title;  /* hOCR <title>, usually the input name; may be NULL */
} dv_writer_options;

int dv_writer_new(dv_format f, dv_sink sink, const dv_writer_options *opt, dv_writer **out,
                  dv_err *e);
/* Writes one page; pages come in document order. */
int dv_writer_page(dv_writer *w, const dv_page_result *p, dv_err *e);
/* Writes what closes the document (hOCR's </body></html>). */
int dv_writer_finish(dv_writer *w, dv_err *e);
void dv_writer_free(dv_writer *w);

/* A sink appending to a GString (tests, the public API's memory output). */
int dv_sink_gstring(void *gstring, const char *data, size_t len, dv_err *e);
/* A sink writing to a FILE *. */
int dv_sink_file(void *file, const char *data, size_t len, dv_err *e);

#endif
