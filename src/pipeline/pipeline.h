/* document -> pages -> tiles -> reader -> writer. The only library module
 * that knows both the document layer and the reader of tiles; the writers
 * get plain page results (out/page.h).
 *
 * Per page, params->text_layer decides the source: "only" reads the PDF's
 * own text (no model); "auto" reads it when the document layer judges it
 * usable (doc/textlayer.h) and uses the model otherwise; "off" always uses
 * the model. The reader is asked for on first need, so born-digital
 * documents never pay for loading a model. In auto mode without any model,
 * a page whose layer has text but was judged doubtful is still read from
 * its layer, with a warning; only pages with no text at all then need the
 * model. */
#ifndef DV_PIPELINE_H
#define DV_PIPELINE_H

#include "base/error.h"
#include "docvl.h"
#include "out/writer.h"
#include "pipeline/reader.h"

/* Where the tile reader comes from: the context loads the model at the
 * first call (docvl.c); tests hand a fake. */
typedef struct dv_reader_source {
    int available;      /* 0: no model was given (get is never called) */
    int (*get)(void *user, const dv_tile_reader **out, dv_err *e);
    void *user;
} dv_reader_source;

/* The per-format instruction given to the model for each tile. */
const char *dv_pipeline_default_prompt(docvl_format f);

/* Reads input ("-" = standard input) and writes its pages to w, finishing
 * the document. params must be checked (docvl.c). A page that fails is
 * written empty, reported through params->on_message and counted in st; the
 * run goes on. *stage tells where a failing run stopped. */
int dv_pipeline_run(const docvl_params *params, dv_reader_source src, const char *input,
                    dv_writer *w, docvl_read_stats *st, docvl_stage *stage, dv_err *e);

#endif
