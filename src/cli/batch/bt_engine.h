/* Reading one document for the batch: the only batch file that calls the
 * library (docvl_open / docvl_read). One engine per worker thread, all on
 * one context, so the model is loaded once. */
#ifndef DV_BT_ENGINE_H
#define DV_BT_ENGINE_H

#include <stdio.h>

#include "batch/bt_err.h"
#include "docvl_cli.h"

typedef struct bt_page_event {
    int page, n_pages;      /* 1-based position in the selection */
    int page_no;            /* in the document */
    int failed;
    const char *reason;     /* failed: why */
} bt_page_event;

typedef void (*bt_page_fn)(void *user, const bt_page_event *ev);

typedef enum bt_read_outcome {
    BT_READ_OK,             /* the document was written (some pages may have failed) */
    BT_READ_FAILED,         /* this document could not be read: nothing written */
    BT_READ_FATAL,          /* the model or the output broke: stop the batch */
    BT_READ_INTERRUPTED,
} bt_read_outcome;

typedef struct bt_doc_result {
    bt_read_outcome outcome;
    int fatal_exit;         /* BT_READ_FATAL: the exit status it asks for */
    int pages;              /* written */
    int *failed_pages;      /* page numbers, in order */
    int n_failed;
    char *reason;           /* failed: the error; partial: the first page's reason */
    int model_loads;        /* 1 when this read loaded the shared model */
} bt_doc_result;

void bt_doc_result_clear(bt_doc_result *r);

typedef struct bt_engine bt_engine;

/* The context all the engines of a batch share (the model loaded once),
 * with n_threads instead of o's. docvl_close it after the engines. */
int bt_engine_context(const cli_opts *o, int n_threads, docvl_context **out, docvl_error *e);

/* One worker's engine on the shared ctx; o is borrowed and must outlive
 * it. parallel: other engines read documents in other threads of this
 * process, so PDF pages go without the forked trial run that guards
 * against decompression bombs and crashes (a fork beside running threads
 * can deadlock in Poppler or Cairo). */
bt_engine *bt_engine_new(docvl_context *ctx, const cli_opts *o, int parallel,
                         const volatile sig_atomic_t *cancel);
void bt_engine_free(bt_engine *en);

/* Reads input into out (a page at a time), reporting each finished page. */
void bt_engine_read(bt_engine *en, const char *input, FILE *out, bt_page_fn fn, void *user,
                    bt_doc_result *res);

/* Everything in o that changes an output, as one string for the journal
 * (the password and the thread count are not part of it). g_free it. */
char *bt_engine_options(const cli_opts *o);

/* The output file's extension for o's format (".txt", ".md", ".hocr"). */
const char *bt_engine_ext(const cli_opts *o);

#endif
