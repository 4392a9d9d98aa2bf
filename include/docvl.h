/* docvl: read documents with the DeepSeek-VL vision-language model on a CPU.
 *
 * The public API. Everything else in the library is internal. Every function
 * that can fail returns a docvl_status and, where it takes one, fills a
 * caller-provided message buffer with what went wrong and where. */
#ifndef DOCVL_H
#define DOCVL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DOCVL_VERSION "0.1.0"

typedef enum docvl_status {
    DOCVL_OK = 0,
    DOCVL_EINVAL = 1,      /* bad argument or option */
    DOCVL_EIO = 2,         /* file missing or unreadable */
    DOCVL_EFORMAT = 3,     /* malformed input (JSON, safetensors, image, PDF) */
    DOCVL_EMODEL = 4,      /* model directory invalid: missing tensor, wrong shape */
    DOCVL_EUNSUPPORTED = 5,/* valid but not supported (dtype, architecture) */
    DOCVL_ELIMIT = 6,      /* a documented resource limit was exceeded */
    DOCVL_ENOMEM = 7,
    DOCVL_ECONTEXT = 8,    /* prompt + generation exceed the context length */
    DOCVL_EINTERRUPTED = 9,
    DOCVL_EINTERNAL = 10,
} docvl_status;

const char *docvl_version(void);
const char *docvl_status_name(int status);

/* ---- reading documents ---------------------------------------------- */

typedef enum docvl_format {
    DOCVL_FORMAT_TEXT = 0,      /* pages separated by form feeds */
    DOCVL_FORMAT_MARKDOWN = 1,  /* GFM, "<!-- page N -->" before each page; tables
                                   found in text-layer pages as pipe tables */
    DOCVL_FORMAT_HOCR = 2,      /* hOCR 1.2 XHTML */
} docvl_format;

typedef enum docvl_text_layer {
    DOCVL_TEXT_LAYER_AUTO = 0,  /* a PDF's own text where usable, else the model */
    DOCVL_TEXT_LAYER_OFF = 1,   /* always the model */
    DOCVL_TEXT_LAYER_ONLY = 2,  /* never the model */
} docvl_text_layer;

typedef struct docvl_read_options {
    docvl_format format;
    const char *model_dir;      /* NULL: no model (text layers only) */
    const char *pages;          /* "1-3,7,10-end"; NULL: all */
    double dpi;                 /* 0: 200 */
    int no_tiles;               /* 1: the whole page is one image for the model */
    int tile_size;              /* 0: the model's input size */
    docvl_text_layer text_layer;
    int n_threads;              /* 0: all cores */
    int max_tokens;             /* per tile; 0: 2048 */
    const char *prompt;         /* NULL: the format's default instruction */
    const char *ask;            /* a question per page instead of a transcription */
    const char *password;       /* of an encrypted PDF */
    int no_text_tables;         /* Markdown: 1 writes text-layer pages as plain lines,
                                   without detecting their tables as GFM tables */
} docvl_read_options;

typedef struct docvl_read_stats {
    int pages;                  /* pages written */
    int pages_failed;           /* written empty or from the text layer */
    int tiles;
    int tiles_failed;           /* model output looped twice */
} docvl_read_stats;

/* All fields zero: text output, auto text layer, defaults everywhere. */
void docvl_read_options_init(docvl_read_options *o);

/* Reads a PDF or image file (path "-" = standard input) into the whole
 * output document, *out (malloc'ed, NUL-terminated; free() it) of *out_len
 * bytes. stats may be NULL. DOCVL_OK can still come with failed pages or
 * tiles: check stats. On failure *out is NULL and err (err_len bytes, may be
 * NULL) says what went wrong: DOCVL_EIO / DOCVL_EFORMAT for an unreadable
 * input, DOCVL_EMODEL when a page needs a model that is missing or invalid,
 * DOCVL_EINVAL for options that do not fit (pages beyond the end). */
int docvl_read_file(const char *path, const docvl_read_options *o, char **out, size_t *out_len,
                    docvl_read_stats *stats, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
