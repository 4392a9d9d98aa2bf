/* The image+prompt -> text step of the model layer ("the reader"): the
 * pipeline's only door to the model. It knows the model (towers, prompt,
 * decoder, generation) and images, never documents; the pipeline hands it
 * tile images and gets text back. What every tile needs (the thread pool,
 * the decoder's KV cache) is made once per loaded model, not per tile. */
#ifndef DV_READER_H
#define DV_READER_H

#include <stdint.h>

#include "base/error.h"
#include "image/image.h"
#include "model/generate.h"

typedef struct dv_reader dv_reader;

/* Loads the model directory (config, weights, tokenizer); n_threads 0 =
 * all cores; weights: a dv_weights (0: auto); cache_dir: the quantized-weight
 * cache's directory (NULL: none). Errors are DOCVL_EIO / EFORMAT / EMODEL / EUNSUPPORTED from the
 * loader, with the file or tensor named. */
int dv_reader_open(const char *model_dir, int n_threads, int weights, const char *cache_dir,
                   dv_reader **out, dv_err *e);
/* A note about the load for the user, or NULL: the weight cache was written
 * (where, how big) or could not be (why; the model loaded all the same). */
const char *dv_reader_note(const dv_reader *r);
void dv_reader_free(dv_reader *r);

/* The side of the model's square input (1024 hybrid, 384 SigLIP-only):
 * the natural tile size. A non-square model: its input's width. */
int dv_reader_image_size(const dv_reader *r);
/* The model's input in pixels (*w == *h for square models). */
void dv_reader_input_size(const dv_reader *r, int *w, int *h);
/* The model reads one text line at a time (processor_config docvl_reads). */
int dv_reader_reads_lines(const dv_reader *r);
/* The user-turn text the model was trained to read with
 * (processor_config docvl_instruction; "" = the image alone), or NULL when
 * the model declares none. Valid while r is. */
const char *dv_reader_instruction(const dv_reader *r);

typedef struct dv_tile_opts {
    const char *instruction;    /* the user turn's text after the image */
    int max_tokens;
    int sample;                 /* 0: greedy; 1: sampling (the retry of a loop) */
    uint64_t seed;
    /* Generation's own callback (model/generate.h), handed to it as is:
     * called per generated token, step + 1 tokens so far; non-zero stops
     * (an interrupt). */
    dv_gen_token_fn on_token;
    void *user;
    int score;                  /* fill the result's logprob (dv_gen_opts.score) */
} dv_tile_opts;

typedef struct dv_tile_result {
    char *text;                 /* malloc'ed */
    int degenerate;             /* the loop guard tripped */
    int stopped;                /* on_token asked to stop */
    int n_tokens;
    double logprob;             /* with score: the answer's log-probability (eos
                                 * included) over n_scored tokens */
    int n_scored;
} dv_tile_result;

/* One image -> the model's answer to the instruction about it. */
int dv_reader_read(dv_reader *r, const dv_image *tile, const dv_tile_opts *o,
                   dv_tile_result *res, dv_err *e);

/* The most tiles read at once, and the bytes their KV caches may take in the
 * worst case (every tile generating max_tokens): the bound on memory. */
#define DV_READER_MAX_BATCH 8
#define DV_READER_BATCH_BYTES (4.0 * 1024 * 1024 * 1024)

/* n tiles (each with its options) read at once: the towers, then the
 * prompts' common start (the system prompt before the image, when 16
 * tokens or more) prefilled once and its keys and values copied into every
 * tile's cache, each tile's rest prefilled, then decoded side by side
 * (model/generate.h: dv_generate_batch), so every weight row read per token
 * serves all of them. Each result is the one dv_reader_read gives that tile
 * alone (which prefills the same start, then the rest). n: 1 to
 * DV_READER_MAX_BATCH. On error every result is empty. */
int dv_reader_read_batch(dv_reader *r, const dv_image *const *tiles, int n,
                         const dv_tile_opts *o, dv_tile_result *res, dv_err *e);
/* How many tiles of up to max_tokens each to read at once: at most want and
 * DV_READER_MAX_BATCH, and as many as keep their KV caches' worst case
 * within DV_READER_BATCH_BYTES; at least 1. */
int dv_reader_batch_room(const dv_reader *r, int max_tokens, int want);
void dv_tile_result_free(dv_tile_result *res);

#endif
