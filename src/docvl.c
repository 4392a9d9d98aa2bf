/* The public API (include/docvl.h): a context holding the model, and reads
 * through the pipeline (pipeline/pipeline.h) into a sink. The defaults of
 * every option are defined here, once. */
#include "docvl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/ctx.h"
#include "kernels/blascore.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "model/model.h"
#include "model/schema.h"
#include "weights/model_info.h"
#include "out/writer.h"
#include "pipeline/pipeline.h"

/* The public enums are the internal ones: a cast converts them. */
_Static_assert(DOCVL_WEIGHTS_Q4 == (int)DV_WEIGHTS_Q4 && DOCVL_WEIGHTS_F32 == (int)DV_WEIGHTS_F32,
               "docvl_weights mirrors dv_weights");
_Static_assert(DOCVL_FORMAT_HOCR == (int)DV_FMT_HOCR &&
               DOCVL_FORMAT_MARKDOWN == (int)DV_FMT_MARKDOWN, "docvl_format mirrors dv_format");

#define DEFAULT_DPI 200.0
#define DEFAULT_MAX_TOKENS 2048

struct docvl_context {
    char *model_dir;            /* NULL: no model */
    docvl_open_params op;
    char *cache_dir;            /* resolved at open; NULL: no weight cache */
    dv_tile_reader reader;
    /* Several threads may read with one context: the model is loaded once
     * and steps through one tile at a time (each step uses all the
     * context's threads); the documents' other work runs side by side. */
    GMutex model_mu;
    int loads;                  /* 0 until the model is loaded, then 1 */
    char *note;                 /* about the load, for the user */
    char *info_text;
    dv_model_info info;
};

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

int docvl_cpu_count(void) { return dv_cpu_count(); }

const char *docvl_blas_advice(void) { return dv_blas_advice(); }
const char *docvl_blas_core(void) { return dv_blas_core(); }

int docvl_format_from_name(const char *name, docvl_format *out)
{
    dv_format f;
    dv_err e = { 0 };
    if (dv_format_parse(name, &f, &e))
        return DOCVL_EINVAL;
    *out = (docvl_format)f;
    return DOCVL_OK;
}

const char *docvl_format_ext(docvl_format f) { return dv_format_ext((dv_format)f); }

int docvl_weights_from_name(const char *name, docvl_weights *out)
{
    dv_weights w;
    if (!name || dv_weights_from_name(name, &w))
        return DOCVL_EINVAL;
    *out = (docvl_weights)w;
    return DOCVL_OK;
}

static int report(int rc, docvl_stage stage, const dv_err *e, docvl_error *err)
{
    if (err) {
        err->code = rc;
        err->stage = rc ? stage : DOCVL_STAGE_NONE;
        snprintf(err->msg, sizeof err->msg, "%s", rc ? e->msg : "");
    }
    return rc;
}

/* ---- the context: one model, loaded once ----------------------------- */

docvl_open_params docvl_open_default_params(void)
{
    return (docvl_open_params){ .weights = DOCVL_WEIGHTS_Q8 };
}

/* $DOCVL_CACHE_DIR (set but empty: no cache), else the XDG cache directory's
 * docvl/, else ~/.cache/docvl; NULL when none of them is known. */
static char *default_cache_dir(void)
{
    const char *env = getenv("DOCVL_CACHE_DIR");
    if (env)
        return *env ? g_strdup(env) : NULL;
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && g_path_is_absolute(xdg)) /* the XDG spec: relative values are invalid */
        return g_build_filename(xdg, "docvl", NULL);
    const char *home = getenv("HOME");
    return home && *home ? g_build_filename(home, ".cache", "docvl", NULL) : NULL;
}

/* A directory with a config and weights: what the loader will try. */
static int holds_model(const char *dir)
{
    char *cfg = g_build_filename(dir, "config.json", NULL);
    char *st = g_build_filename(dir, "model.safetensors", NULL);
    char *idx = g_build_filename(dir, "model.safetensors.index.json", NULL);
    int yes = g_file_test(cfg, G_FILE_TEST_IS_REGULAR) &&
              (g_file_test(st, G_FILE_TEST_IS_REGULAR) || g_file_test(idx, G_FILE_TEST_IS_REGULAR));
    g_free(cfg), g_free(st), g_free(idx);
    return yes;
}

const char *docvl_builtin_model(void)
{
    static const char *const dirs[] = { DOCVL_SOURCE_MODEL_DIR, DOCVL_INSTALLED_MODEL_DIR };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (holds_model(dirs[i]))
            return dirs[i];
    return NULL;
}

int docvl_open(const char *model_dir, const docvl_open_params *params, docvl_context **out,
               docvl_error *err)
{
    dv_err e = { 0 };
    docvl_open_params op = params ? *params : docvl_open_default_params();
    *out = NULL;
    if ((unsigned)op.weights > DOCVL_WEIGHTS_Q4)
        return report(dv_fail(&e, DOCVL_EINVAL, "unknown weight format %d", (int)op.weights),
                      DOCVL_STAGE_OPTIONS, &e, err);
    if (op.n_threads < 0)
        return report(dv_fail(&e, DOCVL_EINVAL, "negative thread count %d", op.n_threads),
                      DOCVL_STAGE_OPTIONS, &e, err);
    docvl_context *c = g_new0(docvl_context, 1);
    c->model_dir = g_strdup(model_dir);
    c->op = op;
    c->cache_dir = op.no_cache ? NULL : op.cache_dir ? g_strdup(op.cache_dir) : default_cache_dir();
    c->op.cache_dir = NULL;     /* not kept: the caller's string may go */
    g_mutex_init(&c->model_mu);
    *out = c;
    return report(DOCVL_OK, DOCVL_STAGE_NONE, &e, err);
}

void docvl_close(docvl_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->loads)
        dv_model_reader_close(&ctx->reader);
    g_free(ctx->model_dir);
    g_free(ctx->cache_dir);
    g_free(ctx->note);
    g_free(ctx->info_text);
    g_mutex_clear(&ctx->model_mu);
    g_free(ctx);
}

/* Loads the model unless it is loaded; *loaded_now says whether this call did. */
static int load(docvl_context *ctx, int *loaded_now, dv_err *e)
{
    *loaded_now = 0;
    if (ctx->loads)
        return DOCVL_OK;
    if (!ctx->model_dir)
        return dv_fail(e, DOCVL_EINVAL, "no model was given");
    int rc = dv_model_reader_open(ctx->model_dir, &ctx->op, ctx->cache_dir, &ctx->reader,
                                  &ctx->note, e);
    if (rc == DOCVL_OK)
        ctx->loads = *loaded_now = 1;
    return rc;
}

/* The schema's counts for the loaded (so validated) model directory. */
static int describe(docvl_context *ctx, dv_err *e)
{
    dv_config cfg;
    dv_checkpoint *ck = NULL;
    int rc = dv_config_load(ctx->model_dir, &cfg, e);
    if (rc == DOCVL_OK)
        rc = dv_checkpoint_open(ctx->model_dir, &ck, e);
    if (rc == DOCVL_OK)
        rc = dv_model_info_get(&cfg, ck, &ctx->info, e);
    dv_checkpoint_close(ck);
    if (rc)
        return dv_wrap(e, "model %s", ctx->model_dir);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return dv_fail(e, DOCVL_ENOMEM, "no memory for the model's description");
    dv_model_info_print(&ctx->info, f);
    if (fclose(f) != 0) {
        free(text);
        return dv_fail(e, DOCVL_ENOMEM, "no memory for the model's description");
    }
    ctx->info_text = g_strdup(text);
    free(text);
    return DOCVL_OK;
}

int docvl_model_info(docvl_context *ctx, docvl_model_details *info, docvl_error *err)
{
    dv_err e = { 0 };
    int loaded_now;
    memset(info, 0, sizeof *info);
    g_mutex_lock(&ctx->model_mu);
    int rc = load(ctx, &loaded_now, &e);
    if (rc == DOCVL_OK && !ctx->info_text)
        rc = describe(ctx, &e);
    g_mutex_unlock(&ctx->model_mu);
    if (rc)
        return report(rc, DOCVL_STAGE_MODEL, &e, err);
    const dv_model_info *m = &ctx->info;
    *info = (docvl_model_details){
        .dir = ctx->model_dir, .family = m->family_name, .params_total = m->params_total,
        .params_used = m->params_used, .dtype = m->dtype, .image_size = m->image_size,
        .image_tokens = m->image_tokens, .vocab = m->vocab, .context = m->context,
        .loads = ctx->loads, .text = ctx->info_text, .note = ctx->note,
    };
    return report(DOCVL_OK, DOCVL_STAGE_NONE, &e, err);
}

/* ---- reading ---------------------------------------------------------- */

docvl_params docvl_default_params(void)
{
    return (docvl_params){
        .format = DOCVL_FORMAT_TEXT,
        .dpi = DEFAULT_DPI,
        .tiles = DOCVL_TILES_ON,
        .text_layer = DOCVL_TEXT_LAYER_AUTO,
        .max_tokens = DEFAULT_MAX_TOKENS,
        .text_tables = 1,
    };
}

static int check_params(const docvl_params *p, dv_err *e)
{
    if ((unsigned)p->format > DOCVL_FORMAT_HOCR)
        return dv_fail(e, DOCVL_EINVAL, "unknown format %d", (int)p->format);
    if ((unsigned)p->text_layer > DOCVL_TEXT_LAYER_ONLY)
        return dv_fail(e, DOCVL_EINVAL, "unknown text layer mode %d", (int)p->text_layer);
    if ((unsigned)p->tiles > DOCVL_TILES_LINES)
        return dv_fail(e, DOCVL_EINVAL, "unknown tiles mode %d", p->tiles);
    if (!(p->dpi > 0) || p->tile_size < 0 || p->max_tokens <= 0 || !(p->page_timeout >= 0) ||
        p->decode_batch < 0)
        return dv_fail(e, DOCVL_EINVAL, "dpi, tile size, token count, page timeout or decode "
                                        "batch out of range (docvl_default_params gives valid "
                                        "ones)");
    return DOCVL_OK;
}

/* What the pipeline asks for on a page that needs the model. */
typedef struct model_request {
    docvl_context *ctx;
    const docvl_params *p;
    docvl_read_stats *st;
    dv_tile_reader locked;      /* the context's reader, one tile at a time */
} model_request;

static int read_locked(void *self, const dv_image *tile, const dv_tile_opts *o,
                       dv_tile_result *res, dv_err *e)
{
    docvl_context *ctx = self;
    g_mutex_lock(&ctx->model_mu);
    int rc = ctx->reader.read(ctx->reader.self, tile, o, res, e);
    g_mutex_unlock(&ctx->model_mu);
    return rc;
}

static int read_batch_locked(void *self, const dv_image *const *tiles, int n,
                             const dv_tile_opts *o, dv_tile_result *res, dv_err *e)
{
    docvl_context *ctx = self;
    g_mutex_lock(&ctx->model_mu);
    int rc = ctx->reader.read_batch(ctx->reader.self, tiles, n, o, res, e);
    g_mutex_unlock(&ctx->model_mu);
    return rc;
}

static int batch_room_locked(void *self, int max_tokens, int want)
{
    docvl_context *ctx = self;
    return ctx->reader.batch_room(ctx->reader.self, max_tokens, want);
}

static int get_reader(void *user, const dv_tile_reader **out, dv_err *e)
{
    model_request *q = user;
    int loaded_now;
    g_mutex_lock(&q->ctx->model_mu);
    int rc = load(q->ctx, &loaded_now, e);
    g_mutex_unlock(&q->ctx->model_mu);
    if (rc)
        return rc;
    q->st->model_loads += loaded_now;
    if (loaded_now && q->ctx->note && q->p->on_message)
        q->p->on_message(q->p->user, 0, q->ctx->note);
    q->locked = q->ctx->reader;   /* the model's geometry and declarations, */
    q->locked.read = read_locked;  /* read under the model's lock */
    q->locked.read_batch = q->ctx->reader.read_batch ? read_batch_locked : NULL;
    q->locked.batch_room = q->ctx->reader.batch_room ? batch_room_locked : NULL;
    q->locked.self = q->ctx;
    *out = &q->locked;
    return DOCVL_OK;
}

static int to_sink(void *user, const char *data, size_t len, dv_err *e)
{
    const docvl_sink *s = user;
    char msg[512] = "";
    if (s->write(s->user, data, len, msg, sizeof msg) == 0)
        return DOCVL_OK;
    return dv_fail(e, DOCVL_EIO, "%s", msg[0] ? msg : "writing output failed");
}

/* finish_on_error: the pages done stay a well-formed document. */
static void finish_failed(dv_writer *w, const docvl_params *p)
{
    dv_err fe = { 0 };
    if (dv_writer_finish(w, &fe) != DOCVL_OK && p->on_message) {
        char *msg = g_strdup_printf("closing the partial output: %s", fe.msg);
        p->on_message(p->user, 1, msg);
        g_free(msg);
    }
}

int docvl_read(docvl_context *ctx, const char *input, const docvl_params *params,
               docvl_sink sink, docvl_read_stats *stats, docvl_error *err)
{
    dv_err e = { 0 };
    docvl_params p = params ? *params : docvl_default_params();
    docvl_read_stats st = { 0 };
    docvl_stage stage = DOCVL_STAGE_OPTIONS;
    dv_writer *w = NULL;
    dv_writer_options wo = { .title = p.title ? p.title : input };
    int rc = !ctx || !input ? dv_fail(&e, DOCVL_EINVAL, "no context or no input")
             : !sink.write  ? dv_fail(&e, DOCVL_EINVAL, "no sink")
                            : check_params(&p, &e);
    if (rc == DOCVL_OK)
        rc = dv_writer_new((dv_format)p.format, (dv_sink){ to_sink, &sink }, &wo, &w, &e);
    if (rc == DOCVL_OK) {
        model_request q = { ctx, &p, &st, { 0 } };
        dv_reader_source src = { ctx->model_dir != NULL, get_reader, &q };
        rc = dv_pipeline_run(&p, src, input, w, &st, &stage, &e);
        if (rc && p.finish_on_error && stage != DOCVL_STAGE_OUTPUT)
            finish_failed(w, &p);
    }
    dv_writer_free(w);
    if (stats)
        *stats = st;
    return report(rc, stage, &e, err);
}

static int to_gstring(void *user, const char *data, size_t len, char *msg, size_t msg_len)
{
    (void)msg;
    (void)msg_len;
    g_string_append_len(user, data, (gssize)len);
    return 0;
}

int docvl_read_file(docvl_context *ctx, const char *path, const docvl_params *params,
                    char **out, size_t *out_len, docvl_read_stats *stats, docvl_error *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    GString *s = g_string_new(NULL);
    int rc = docvl_read(ctx, path, params, (docvl_sink){ to_gstring, s }, stats, err);
    if (rc == DOCVL_OK && !(*out = malloc(s->len + 1))) {
        dv_err e = { 0 };
        rc = report(dv_fail(&e, DOCVL_ENOMEM, "no memory for %zu bytes of output", s->len),
                    DOCVL_STAGE_OTHER, &e, err);
    }
    if (rc == DOCVL_OK) {
        memcpy(*out, s->str, s->len + 1);
        if (out_len)
            *out_len = s->len;
    }
    g_string_free(s, TRUE);
    return rc;
}
