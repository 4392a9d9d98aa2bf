/* document -> pages -> tiles -> model -> writer. The only library module
 * that knows both the document layer and the model; the writers get plain
 * page results (out/page.h).
 *
 * Per page, --text-layer decides the source: "only" reads the PDF's own
 * text (no model); "auto" reads it when the document layer judges it usable
 * (doc/textlayer.h) and uses the model otherwise; "off" always uses the
 * model. The model is opened on first need, so born-digital documents never
 * pay for loading it. In auto mode without any model, a page whose layer has
 * text but was judged doubtful is still read from its layer, with a warning;
 * only pages with no text at all then need the model. */
#ifndef DV_PIPELINE_H
#define DV_PIPELINE_H

#include <signal.h>

#include "base/error.h"
#include "out/writer.h"

typedef enum dv_text_layer_mode {
    DV_TL_AUTO,
    DV_TL_OFF,
    DV_TL_ONLY,
} dv_text_layer_mode;

#define DV_MAX_TOKENS_DEFAULT 2048

/* Where a run stopped, so a front end can tell bad input from a bad model. */
typedef enum dv_fail_stage {
    DV_STAGE_NONE,
    DV_STAGE_INPUT,     /* the input could not be read or opened */
    DV_STAGE_MODEL,     /* no model where one was needed, or an invalid one */
    DV_STAGE_OUTPUT,    /* the writer or its sink failed */
    DV_STAGE_OPTIONS,   /* options that do not fit this input (pages beyond its end) */
    DV_STAGE_OTHER,
} dv_fail_stage;

typedef struct dv_progress {
    int page;           /* 1-based position in the selection */
    int n_pages;        /* pages selected */
    int page_no;        /* page number in the document */
    int tile, n_tiles;  /* 1-based; 0 when not on the model path */
    int tokens;         /* generated so far on this tile */
    double tokens_per_s;
    double fraction;    /* of the whole input, 0..1 */
} dv_progress;

typedef struct dv_pipeline_opts {
    dv_format format;
    const char *model_dir;      /* NULL: no model (text layer only) */
    const char *pages;          /* "1-3,7"; NULL: all */
    double dpi;                 /* 0: the document layer's default */
    int tiles;                  /* 1: cut pages into tiles; 0: whole page */
    int tile_size;              /* 0: the model's image size (1024 or 384) */
    dv_text_layer_mode text_layer;
    int n_threads;              /* 0: all cores */
    int weights;                /* dv_weights (model/model.h): how the model holds its
                                   weights; 0 (auto): as dv_model_load decides */
    const char *cache_dir;      /* q8/q4: where quantized weights are cached and mapped
                                   at later loads (model/qcache.h); NULL: no cache */
    int max_tokens;             /* per tile; 0: DV_MAX_TOKENS_DEFAULT */
    const char *prompt;         /* NULL: the format's prompt */
    const char *ask;            /* a question answered per page; NULL: transcribe */
    const char *password;
    /* Seconds one page may take on the model path (checked before each tile
     * and between generated tokens; rendering is bounded by the document
     * layer's trial run). A page over it is abandoned like a failed page
     * (its text layer if any, counted in pages_failed). 0: no limit. */
    double page_timeout;
    /* 1: a page that needs the model when none was given fails like a page
     * the model could not read (reported, its text layer or nothing
     * written, counted in pages_failed and pages_no_model) and the run goes
     * on; 0: it stops the run (DV_STAGE_MODEL). A model that fails to load
     * stops the run either way. */
    int no_model_fails_page;
    /* 1: PDF pages are used without the document layer's forked trial run
     * (doc/guard.h). For callers with several threads reading documents: a
     * fork taken while another thread holds a Poppler or Cairo lock leaves
     * the trial deadlocked until its timeout refuses a good page. */
    int no_page_trial;
    /* Set asynchronously (a signal handler): the run stops at the next tile
     * or token with DOCVL_EINTERRUPTED. May be NULL. */
    const volatile sig_atomic_t *cancel;
    void (*on_progress)(void *user, const dv_progress *p);
    /* Messages a front end may print: failed pages and tiles (failure 1),
     * notes such as a lowered dpi or a doubtful text layer (failure 0). */
    void (*on_warning)(void *user, int failure, const char *msg);
    void *user;
} dv_pipeline_opts;

typedef struct dv_pipeline_stats {
    int pages;              /* pages written */
    int pages_failed;       /* pages that could not be read at all */
    int tiles;
    int tiles_failed;       /* tiles whose model output was degenerate twice */
    int model_pages;        /* pages read by the model */
    int pages_no_model;     /* pages failed for want of a model (no_model_fails_page) */
    dv_fail_stage stage;    /* where a failing run stopped */
} dv_pipeline_stats;

/* The per-format instruction given to the model for each tile. */
const char *dv_pipeline_default_prompt(dv_format f);

typedef struct dv_pipeline dv_pipeline;

/* opts is copied; its strings must outlive the pipeline. */
int dv_pipeline_new(const dv_pipeline_opts *opts, dv_pipeline **out, dv_err *e);
void dv_pipeline_free(dv_pipeline *p);

/* Replaces the progress and warning callbacks (one observer per input). */
void dv_pipeline_set_observer(dv_pipeline *p, void (*on_progress)(void *, const dv_progress *),
                              void (*on_warning)(void *, int, const char *), void *user);

/* Reads input ("-" = standard input) and writes its pages to w, finishing
 * the document. A page that fails is written empty, reported through
 * on_warning and counted in st; the run goes on. Stats accumulate over
 * calls; st->stage tells where a failing call stopped. */
int dv_pipeline_run(dv_pipeline *p, const char *input, dv_writer *w, dv_pipeline_stats *st,
                    dv_err *e);

#endif
