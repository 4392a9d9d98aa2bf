/* Documents: a PDF (through Poppler) or an image file (one page per frame),
 * recognised from its bytes, rendered one page at a time into RGB images.
 *
 * Rendering resolution: DV_DOC_DEFAULT_DPI (200) unless the caller asks for
 * another. 200 dpi puts a letter page at 1700 x 2200 pixels and 10-point
 * capitals at about 19 px: legible in the 1024-pixel tiles of the model's
 * high-resolution path, at a quarter of the memory of 400 dpi.
 * Image pages are returned at their own pixel size (dpi does not apply);
 * one larger than max_pixels is refused (DOCVL_ELIMIT) before decoding.
 *
 * A PDF page whose pixels at the requested dpi would exceed max_pixels is
 * rendered at the highest dpi that fits and the caller gets a warning text;
 * the library itself never prints. Only one page's pixels are held at a
 * time. Each PDF page's first use is preceded by a bounded trial run in a
 * child process (doc/guard.h), so decompression bombs and crashing pages
 * end in an error. */
#ifndef DV_DOC_DOCUMENT_H
#define DV_DOC_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/image.h"

#define DV_DOC_DEFAULT_DPI 200.0
#define DV_DOC_MIN_DPI 1.0
#define DV_DOC_MAX_DPI 1200.0
/* 32 megapixels: an A1 poster at about 180 dpi; 224 MB while rendering. */
#define DV_DOC_DEFAULT_MAX_PIXELS ((size_t)32 * 1000 * 1000)
/* Cairo image surfaces cannot exceed this many pixels per side. */
#define DV_DOC_MAX_SIDE 32767
/* Pages (or image frames) a document may have; far above real documents. */
#define DV_DOC_MAX_PAGES 100000

typedef struct dv_doc dv_doc;

typedef struct dv_doc_options {
    const char *password;     /* NULL: none (owner-password-only PDFs still open) */
    size_t max_input_bytes;   /* 0: DV_INPUT_DEFAULT_MAX_BYTES */
} dv_doc_options;

typedef enum dv_doc_kind {
    DV_DOC_PDF = 1,
    DV_DOC_IMAGE = 2,
} dv_doc_kind;

/* Opens path ("-" = standard input). opts may be NULL. */
int dv_doc_open_file(const char *path, const dv_doc_options *opts, dv_doc **out, dv_err *e);

/* Opens bytes held by the caller; the document keeps its own copy. */
int dv_doc_open_memory(const uint8_t *data, size_t len, const dv_doc_options *opts,
                       dv_doc **out, dv_err *e);

/* Frees doc; when pages were drawn, also the fonts Cairo kept after its
 * Poppler document released them (see document.c), so that reading
 * document after document does not keep the last few hundred's fonts. */
void dv_doc_close(dv_doc *doc);

/* Time limit of each PDF page's trial run (see doc/guard.h), which is on by
 * default with DV_GUARD_DEFAULT_SECONDS; <= 0 turns trial runs off. */
void dv_doc_set_trial_seconds(dv_doc *doc, double seconds);

int dv_doc_page_count(const dv_doc *doc);
dv_doc_kind dv_doc_get_kind(const dv_doc *doc);

/* Page size as displayed (after /Rotate): points for PDF pages, pixels for
 * image pages. */
int dv_doc_page_size(const dv_doc *doc, int index, double *w, double *h, dv_err *e);

typedef struct dv_render_options {
    double dpi;          /* 0: DV_DOC_DEFAULT_DPI */
    size_t max_pixels;   /* 0: DV_DOC_DEFAULT_MAX_PIXELS */
} dv_render_options;

typedef struct dv_rendered_page {
    dv_image image;       /* owned: dv_image_free */
    double dpi;           /* dpi actually used; 0 for image pages */
    char warning[256];    /* non-empty when the dpi was lowered to fit */
} dv_rendered_page;

/* Renders page `index` (0-based) on white, honouring /Rotate. opts may be NULL. */
int dv_doc_render_page(dv_doc *doc, int index, const dv_render_options *opts,
                       dv_rendered_page *out, dv_err *e);

/* The PopplerPage of a PDF page (new reference, g_object_unref it), for the
 * text layer, after the page passed its trial run; NULL with e set for image
 * documents, bad indices and refused pages. */
struct _PopplerPage *dv_doc_poppler_page(dv_doc *doc, int index, dv_err *e);

#endif
