#include "pipeline/reader.h"

#include <glib.h>
#include <string.h>

static int read_tile(void *self, const dv_image *tile, const dv_tile_opts *o,
                     dv_tile_result *res, dv_err *e)
{
    return dv_reader_read(self, tile, o, res, e);
}

static int read_batch(void *self, const dv_image *const *tiles, int n, const dv_tile_opts *o,
                      dv_tile_result *res, dv_err *e)
{
    return dv_reader_read_batch(self, tiles, n, o, res, e);
}

static int batch_room(void *self, int max_tokens, int want)
{
    return dv_reader_batch_room(self, max_tokens, want);
}

int dv_model_reader_open(const char *model_dir, const docvl_open_params *p, const char *cache_dir,
                         dv_tile_reader *out, char **note, dv_err *e)
{
    memset(out, 0, sizeof *out);
    *note = NULL;
    dv_reader *r = NULL;
    int rc = dv_reader_open(model_dir, p->n_threads, (int)p->weights, cache_dir, &r, e);
    if (rc)
        return rc;
    *out = (dv_tile_reader){ .image_size = dv_reader_image_size(r), .read = read_tile, .self = r,
                             .reads_lines = dv_reader_reads_lines(r),
                             .instruction = dv_reader_instruction(r),
                             .read_batch = read_batch, .batch_room = batch_room };
    dv_reader_input_size(r, &out->input_w, &out->input_h);
    *note = g_strdup(dv_reader_note(r));
    return DOCVL_OK;
}

void dv_model_reader_close(dv_tile_reader *r)
{
    dv_reader_free(r->self);
    memset(r, 0, sizeof *r);
}
