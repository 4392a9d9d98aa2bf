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

/* ---- opening a model -------------------------------------------------- */

/* How the decoder holds its weights (the vision towers stay as stored). */
typedef enum docvl_weights {
    DOCVL_WEIGHTS_AUTO = 0,     /* f32 when the widened copy fits easily, else bf16
                                   with the exact f32 products */
    DOCVL_WEIGHTS_F32 = 1,
    DOCVL_WEIGHTS_BF16 = 2,     /* as stored (16-bit); with AVX-512 BF16, prefill and the
                                   towers as bf16 products (activations rounded to bf16,
                                   docs/weights.md) */
    DOCVL_WEIGHTS_Q8 = 3,       /* 8-bit blocks quantized at load (the default) */
    DOCVL_WEIGHTS_Q4 = 4,       /* 4-bit blocks */
} docvl_weights;

typedef struct docvl_open_params {
    docvl_weights weights;      /* default DOCVL_WEIGHTS_Q8 */
    /* q8/q4: the directory where quantized weights are cached and mapped by
     * later loads. NULL (default): $DOCVL_CACHE_DIR, else
     * $XDG_CACHE_HOME/docvl, else ~/.cache/docvl; DOCVL_CACHE_DIR set but
     * empty means no cache. */
    const char *cache_dir;
    int no_cache;               /* 1: quantize at every load, no cache read or written */
    int n_threads;              /* 0 (default): all cores */
} docvl_open_params;

/* The defaults, defined here once: q8 weights, the weight cache on. */
docvl_open_params docvl_open_default_params(void);

typedef struct docvl_context docvl_context;

/* What went wrong, and at which stage, so a front end can tell a bad input
 * from a bad model. */
typedef enum docvl_stage {
    DOCVL_STAGE_NONE = 0,
    DOCVL_STAGE_INPUT,          /* the input could not be read or opened */
    DOCVL_STAGE_MODEL,          /* no model where one was needed, or an invalid one */
    DOCVL_STAGE_OUTPUT,         /* the sink failed */
    DOCVL_STAGE_OPTIONS,        /* options that do not fit this input (pages beyond its end) */
    DOCVL_STAGE_OTHER,
} docvl_stage;

typedef struct docvl_error {
    docvl_status code;          /* DOCVL_OK when nothing failed */
    docvl_stage stage;
    char msg[1024];             /* names the file, tensor or value involved */
} docvl_error;

/* A context for reading any number of documents with one model directory
 * (NULL: no model, text layers only). The model is loaded once, at the
 * first page that needs it (or by docvl_model_info), and kept until
 * docvl_close: born-digital documents never pay for it. params NULL: the
 * defaults. err may be NULL. Several threads may call docvl_read with one
 * context at once (docvl batch --jobs): the model reads one tile at a time,
 * with all the context's threads, while the documents' other work
 * (opening, drawing, writing) runs side by side. */
int docvl_open(const char *model_dir, const docvl_open_params *params, docvl_context **out,
               docvl_error *err);
void docvl_close(docvl_context *ctx);

/* The model directory docvl ships (the source tree's model/ for an
 * uninstalled build, else DATADIR/docvl/model), or NULL when neither holds
 * a model. Front ends use it when the user names none. */
const char *docvl_builtin_model(void);

/* What `docvl --info` prints. Strings live as long as the context. */
typedef struct docvl_model_details {
    const char *dir;
    const char *family;         /* "hybrid (SAM-B 1024 + SigLIP 384)" or "SigLIP-only" */
    long long params_total;     /* the architecture's parameters */
    long long params_used;      /* without the stored-but-unused tensors */
    const char *dtype;          /* storage dtype: "BF16", "F32", ... or "mixed" */
    int image_size;             /* the model's square input: the natural tile size (a
                                 * line model, docs/architecture.md: its input's width) */
    int image_tokens;
    int vocab;
    int context;                /* max_position_embeddings */
    int loads;                  /* times this context loaded the model: 1 */
    const char *text;           /* all of the above and more as "key: value" lines */
    const char *note;           /* about the load (the weight cache written, or why it
                                   could not be), or NULL */
} docvl_model_details;

/* Loads the model if it is not yet (validating it exactly as reading a
 * page does: a missing or misshapen tensor is DOCVL_EMODEL, named) and
 * fills *info. DOCVL_EINVAL for a context without a model. */
int docvl_model_info(docvl_context *ctx, docvl_model_details *info, docvl_error *err);

/* ---- reading documents ---------------------------------------------- */

typedef enum docvl_format {
    DOCVL_FORMAT_TEXT = 0,      /* pages separated by form feeds */
    DOCVL_FORMAT_MARKDOWN = 1,  /* GFM, "<!-- page N -->" before each page; tables
                                   found in text-layer pages as pipe tables */
    DOCVL_FORMAT_HOCR = 2,      /* hOCR 1.2 XHTML */
} docvl_format;

/* "txt"/"text", "md"/"markdown", "hocr"/"html" (any case); DOCVL_EINVAL if unknown. */
int docvl_format_from_name(const char *name, docvl_format *out);
/* The file extension of one output per input: ".txt", ".md", ".hocr". */
const char *docvl_format_ext(docvl_format f);
/* "q8", "q4", "bf16", "f32" or "auto"; DOCVL_EINVAL if unknown. */
int docvl_weights_from_name(const char *name, docvl_weights *out);

typedef enum docvl_text_layer {
    DOCVL_TEXT_LAYER_AUTO = 0,  /* a PDF's own text where usable, else the model */
    DOCVL_TEXT_LAYER_OFF = 1,   /* always the model */
    DOCVL_TEXT_LAYER_ONLY = 2,  /* never the model */
} docvl_text_layer;

/* How a scanned page is cut into the images the model reads. */
typedef enum docvl_tiles {
    DOCVL_TILES_OFF = 0,        /* the whole page is one image */
    DOCVL_TILES_ON = 1,         /* (default) what the model reads best: text lines for a
                                   model that declares it reads lines, else tiles */
    DOCVL_TILES_LINES = 2,      /* the layout's text lines, cut at word gaps into
                                   segments of the model's input aspect, one read each */
} docvl_tiles;

typedef struct docvl_progress {
    int page;                   /* 1-based position in the selection */
    int n_pages;                /* pages selected */
    int page_no;                /* page number in the document */
    int tile, n_tiles;          /* 1-based; 0 when not on the model path; with text
                                   lines (DOCVL_TILES_LINES) a tile is a line segment */
    int tokens;                 /* generated so far on this tile (tiles decoded
                                   side by side, decode_batch: on all of them, and
                                   tile is the first of them) */
    double tokens_per_s;
    double fraction;            /* of the whole input, 0..1 */
} docvl_progress;

/* Where the output goes, page by page. Returns non-zero on failure
 * (errno-style detail in msg, which holds msg_len bytes). */
typedef struct docvl_sink {
    int (*write)(void *user, const char *data, size_t len, char *msg, size_t msg_len);
    void *user;
} docvl_sink;

typedef struct docvl_params {
    docvl_format format;        /* default text */
    const char *pages;          /* "1-3,7,10-end"; NULL (default): all */
    double dpi;                 /* PDF rendering resolution; default 200 */
    int tiles;                  /* a docvl_tiles: how a page is cut for the model */
    int tile_size;              /* 0 (default): the model's input size */
    docvl_text_layer text_layer;/* default auto */
    int max_tokens;             /* per tile; default 2048 */
    int decode_batch;           /* tiles of a page decoded side by side (each weight
                                   read once per token for all of them; the same text
                                   as one after the other, except that q8/q4 weights
                                   with 5 or more tiles on a CPU with AVX-512 VNNI
                                   take the integer kernel, whose sums round
                                   differently): 0 (default) as many as
                                   keep their KV caches' worst case within 4 GiB, at
                                   most 8; N: at most N; 1: one tile after the other */
    const char *prompt;         /* NULL (default): the format's instruction */
    const char *ask;            /* a question answered per page instead of a transcription */
    const char *password;       /* of an encrypted PDF */
    int text_tables;            /* Markdown: 1 (default) writes the tables found in
                                   text-layer pages as GFM tables; 0 as plain lines */
    int keep_furniture;         /* Markdown: 0 (default) leaves the running heads,
                                   feet, page numbers and sideways margin notes of
                                   text-layer pages out; 1 keeps them */
    const char *title;          /* hOCR <title>; NULL (default): the input's path */
    /* Seconds one page may take on the model path (checked before each tile
     * and between generated tokens); a page over it counts as failed.
     * 0 (default): no limit. */
    double page_timeout;
    /* A failed read still closes the document (hOCR's end tags) in the sink,
     * unless the sink itself failed. 0 (default): it stops where it failed. */
    int finish_on_error;
    /* 1: a page that needs the model when the context has none fails alone
     * (its text layer or nothing is written, reported through on_message,
     * counted in pages_failed) and the read goes on. 0 (default): the read
     * stops there with DOCVL_EMODEL. A model that fails to load stops the
     * read either way. */
    int continue_without_model;
    /* 1: PDF pages are used without the forked trial run that refuses
     * decompression bombs and crashing pages (a fork taken while another
     * thread of the caller is inside Poppler or Cairo can deadlock, and the
     * trial's timeout then refuses a good page): for callers that read
     * documents from several threads at once. 0 (default): trials on. */
    int no_page_trial;
    /* Called as pages, tiles and tokens go by. May be NULL. */
    void (*on_progress)(void *user, const docvl_progress *p);
    /* Messages for the user: a failed page or tile (failure 1), or a note
     * such as a lowered dpi, a doubtful text layer or the weight cache
     * written (failure 0). May be NULL. */
    void (*on_message)(void *user, int failure, const char *msg);
    /* Polled before each page and tile and after each generated token: a
     * non-zero return stops the read with DOCVL_EINTERRUPTED. May be NULL. */
    int (*should_abort)(void *user);
    void *user;                 /* passed to the three callbacks */
} docvl_params;

/* The defaults, defined here once. */
docvl_params docvl_default_params(void);

typedef struct docvl_read_stats {
    int pages;                  /* pages written */
    int pages_failed;           /* written empty or from the text layer */
    int tiles;                  /* tiles read, or line segments (DOCVL_TILES_LINES) */
    int tiles_failed;           /* model output looped twice (or a line segment's
                                   read failed) */
    int model_pages;            /* pages read by the model */
    int model_loads;            /* model loads this read caused: 1 at most, 0 once loaded */
    int pages_without_model;    /* of pages_failed, those that needed the model the
                                   context lacks (continue_without_model) */
} docvl_read_stats;

/* Reads a PDF or image file (input "-" = standard input) and writes the
 * whole output document to sink, page by page. params NULL: the defaults.
 * DOCVL_OK can still come with failed pages or tiles: check stats (may be
 * NULL). On failure err (may be NULL) says what went wrong and at which
 * stage: DOCVL_EIO / DOCVL_EFORMAT for an unreadable input, DOCVL_EMODEL
 * when a page needs a model that is missing or invalid, DOCVL_EINVAL for
 * options that do not fit (pages beyond the end), DOCVL_EINTERRUPTED when
 * should_abort asked to stop. */
int docvl_read(docvl_context *ctx, const char *input, const docvl_params *params,
               docvl_sink sink, docvl_read_stats *stats, docvl_error *err);

/* docvl_read into memory: *out (malloc'ed, NUL-terminated; free() it) of
 * *out_len bytes (out_len may be NULL). On failure *out is NULL. */
int docvl_read_file(docvl_context *ctx, const char *path, const docvl_params *params,
                    char **out, size_t *out_len, docvl_read_stats *stats, docvl_error *err);

/* The number of CPU cores docvl uses by default. */
int docvl_cpu_count(void);

/* docvl's products run on OpenBLAS, which picks its kernels once, when it is
 * loaded. An OpenBLAS older than the CPU does not recognise it and runs its
 * SSE3 kernels, about ten times slower than the CPU's own; the environment
 * variable OPENBLAS_CORETYPE overrides that choice, but only in a process
 * started with it set. docvl_blas_advice() is the OPENBLAS_CORETYPE value
 * that would give this CPU its own kernels, or NULL when nothing is to be
 * done (the kernels match, OPENBLAS_CORETYPE is already set, or this OpenBLAS
 * cannot switch). The docvl front ends restart themselves with it set. */
const char *docvl_blas_advice(void);
/* OpenBLAS's name for the kernels this process runs, e.g. "SkylakeX". */
const char *docvl_blas_core(void);

#ifdef __cplusplus
}
#endif
#endif
