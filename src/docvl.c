/* The public API (include/docvl.h) on top of the internal modules. */
#include "docvl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "pipeline.h"

const char *docvl_version(void) { return DOCVL_VERSION; }

const char *docvl_status_name(int status)
{
    switch (status) {
    case DOCVL_OK: return "ok";
    case DOCVL_EINVAL: return "invalid argument";
    case DOCVL_EIO: return "input/output error";
    case DOCVL_EFORMAT: return "malformed input";
    case DOCVL_EMODEL: return "invalid model";
    case DOCVL_EUNSUPPORTED: return "unsupported";
    case DOCVL_ELIMIT: return "limit exceeded";
    case DOCVL_ENOMEM: return "out of memory";
    case DOCVL_ECONTEXT: return "context length exceeded";
    case DOCVL_EINTERRUPTED: return "interrupted";
    case DOCVL_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}

/* ---- reading documents: the pipeline into memory -------------------- */

void docvl_read_options_init(docvl_read_options *o)
{
    memset(o, 0, sizeof *o);
}

static int to_pipeline(const docvl_read_options *o, dv_pipeline_opts *p, dv_err *e)
{
    static const dv_format formats[] = { DV_FMT_TEXT, DV_FMT_MARKDOWN, DV_FMT_HOCR };
    static const dv_text_layer_mode modes[] = { DV_TL_AUTO, DV_TL_OFF, DV_TL_ONLY };
    if ((unsigned)o->format > DOCVL_FORMAT_HOCR)
        return dv_fail(e, DOCVL_EINVAL, "unknown format %d", (int)o->format);
    if ((unsigned)o->text_layer > DOCVL_TEXT_LAYER_ONLY)
        return dv_fail(e, DOCVL_EINVAL, "unknown text layer mode %d", (int)o->text_layer);
    memset(p, 0, sizeof *p);
    p->format = formats[o->format];
    p->text_layer = modes[o->text_layer];
    p->model_dir = o->model_dir;
    p->pages = o->pages;
    p->dpi = o->dpi;
    p->tiles = !o->no_tiles;
    p->tile_size = o->tile_size;
    p->n_threads = o->n_threads;
    p->max_tokens = o->max_tokens;
    p->prompt = o->prompt;
    p->ask = o->ask;
    p->password = o->password;
    return DOCVL_OK;
}

static int read_into(const char *path, const dv_pipeline_opts *po, int text_tables, GString *s,
                     dv_pipeline_stats *st, dv_err *e)
{
    dv_pipeline *pl = NULL;
    dv_writer *w = NULL;
    dv_sink sink = { dv_sink_gstring, s };
    dv_writer_options wo = { .title = path, .text_tables = text_tables };
    int rc = dv_pipeline_new(po, &pl, e);
    if (rc == DOCVL_OK)
        rc = dv_writer_new(po->format, sink, &wo, &w, e);
    if (rc == DOCVL_OK)
        rc = dv_pipeline_run(pl, path, w, st, e);
    dv_writer_free(w);
    dv_pipeline_free(pl);
    return rc;
}

int docvl_read_file(const char *path, const docvl_read_options *o, char **out, size_t *out_len,
                    docvl_read_stats *stats, char *err, size_t err_len)
{
    dv_err e = { 0 };
    dv_pipeline_opts po;
    dv_pipeline_stats st = { 0 };
    docvl_read_options defaults;
    if (!o) {
        docvl_read_options_init(&defaults);
        o = &defaults;
    }
    *out = NULL;
    if (out_len)
        *out_len = 0;
    GString *s = g_string_new(NULL);
    int rc = path ? to_pipeline(o, &po, &e) : dv_fail(&e, DOCVL_EINVAL, "no input path");
    if (rc == DOCVL_OK)
        rc = read_into(path, &po, !(o && o->no_text_tables), s, &st, &e);
    if (rc == DOCVL_OK && !(*out = malloc(s->len + 1)))
        rc = dv_fail(&e, DOCVL_ENOMEM, "no memory for %zu bytes of output", s->len);
    if (rc == DOCVL_OK) {
        memcpy(*out, s->str, s->len + 1);
        if (out_len)
            *out_len = s->len;
    }
    g_string_free(s, TRUE);
    if (stats)
        *stats = (docvl_read_stats){ st.pages, st.pages_failed, st.tiles, st.tiles_failed };
    if (err && err_len)
        snprintf(err, err_len, "%s", rc ? e.msg : "");
    return rc;
}
