/* What reads one tile image into text: the model (reader.c, the one place
 * the pipeline meets the model layer), or a fake in tests/pipeline. */
#ifndef DV_PIPELINE_READER_H
#define DV_PIPELINE_READER_H

#include "base/error.h"
#include "docvl.h"
#include "image/image.h"
#include "model/reader.h"

typedef struct dv_tile_reader {
    int image_size;     /* the side of the model's square input: the natural tile size */
    int (*read)(void *self, const dv_image *tile, const dv_tile_opts *o, dv_tile_result *res,
                dv_err *e);
    void *self;
    int input_w, input_h;  /* the model's input in pixels (equal for square models) */
    int reads_lines;  /* the model reads one text line at a time (processor config docvl_reads) */
    const char *instruction;  /* the model's declared reading instruction, or NULL */
    /* Optional (NULL: one tile at a time through read): n tiles read at once,
     * each result the one read gives it alone (model/reader.h:
     * dv_reader_read_batch), and how many tiles of up to max_tokens may be
     * read at once (at most want, at least 1). */
    int (*read_batch)(void *self, const dv_image *const *tiles, int n, const dv_tile_opts *o,
                      dv_tile_result *res, dv_err *e);
    int (*batch_room)(void *self, int max_tokens, int want);
} dv_tile_reader;

/* Loads the model directory as a tile reader. *note (g_free) is a message
 * for the user about the load (the weight cache written, or why it could not
 * be), or NULL. cache_dir NULL: no weight cache. */
int dv_model_reader_open(const char *model_dir, const docvl_open_params *p, const char *cache_dir,
                         dv_tile_reader *out, char **note, dv_err *e);
void dv_model_reader_close(dv_tile_reader *r);

#endif
