#include "batch/bt_engine.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

struct bt_engine {
    docvl_context *ctx;
    docvl_params params;
    const volatile sig_atomic_t *cancel;
    /* the document being read */
    bt_page_fn fn;
    void *user;
    bt_doc_result *res;
    docvl_progress cur;
    int cur_failed;
    char *cur_reason;
};

void bt_doc_result_clear(bt_doc_result *r)
{
    g_free(r->failed_pages);
    g_free(r->reason);
    memset(r, 0, sizeof *r);
}

static void page_done(bt_engine *en)
{
    if (!en->cur.page)
        return;
    bt_doc_result *r = en->res;
    if (en->cur_failed) {
        r->failed_pages = g_renew(int, r->failed_pages, r->n_failed + 1);
        r->failed_pages[r->n_failed++] = en->cur.page_no;
        if (!r->reason)
            r->reason = g_strdup(en->cur_reason);
    }
    bt_page_event ev = { en->cur.page, en->cur.n_pages, en->cur.page_no, en->cur_failed,
                         en->cur_reason };
    if (en->fn)
        en->fn(en->user, &ev);
    g_free(en->cur_reason);
    en->cur_reason = NULL;
    en->cur_failed = 0;
    en->cur.page = 0;
}

/* The library reports each page's start (and its tiles and tokens): a new
 * page number means the previous page is finished. */
static void on_progress(void *user, const docvl_progress *p)
{
    bt_engine *en = user;
    if (p->page == en->cur.page)
        return;
    page_done(en);
    en->cur = *p;
}

static void on_message(void *user, int failure, const char *msg)
{
    bt_engine *en = user;
    if (!failure)
        return;
    en->cur_failed = 1;
    if (!en->cur_reason)
        en->cur_reason = g_strdup(msg);
}

static int should_abort(void *user)
{
    const bt_engine *en = user;
    return en->cancel && *en->cancel;
}

int bt_engine_context(const cli_opts *o, int n_threads, docvl_context **out, docvl_error *e)
{
    docvl_open_params op = o->open;
    op.n_threads = n_threads;
    docvl_error de = { 0 };
    if (docvl_open(o->model_dir, &op, out, &de) != DOCVL_OK)
        return bt_fail(e, de.code, "%s", de.msg);
    return DOCVL_OK;
}

bt_engine *bt_engine_new(docvl_context *ctx, const cli_opts *o, int parallel,
                         const volatile sig_atomic_t *cancel)
{
    bt_engine *en = g_new0(bt_engine, 1);
    en->ctx = ctx;
    en->cancel = cancel;
    en->params = o->read;
    en->params.continue_without_model = 1;
    en->params.no_page_trial = parallel;
    en->params.on_progress = on_progress;
    en->params.on_message = on_message;
    en->params.should_abort = should_abort;
    en->params.user = en;
    return en;
}

void bt_engine_free(bt_engine *en)
{
    g_free(en);
}

static int to_file(void *user, const char *data, size_t len, char *msg, size_t msg_len)
{
    if (fwrite(data, 1, len, user) == len)
        return 0;
    g_snprintf(msg, msg_len, "%s", g_strerror(errno));
    return -1;
}

static void classify(bt_doc_result *r, int rc, const docvl_read_stats *st,
                     const docvl_error *de)
{
    r->pages = st->pages;
    r->model_loads = st->model_loads;
    if (rc == DOCVL_OK) {
        r->outcome = BT_READ_OK;
        return;
    }
    if (rc == DOCVL_EINTERRUPTED) {
        r->outcome = BT_READ_INTERRUPTED;
    } else if (de->stage == DOCVL_STAGE_MODEL || de->stage == DOCVL_STAGE_OUTPUT) {
        r->outcome = BT_READ_FATAL;
        r->fatal_exit = de->stage == DOCVL_STAGE_MODEL ? CLI_EXIT_MODEL : CLI_EXIT_FAIL;
    } else {
        r->outcome = BT_READ_FAILED;
    }
    g_free(r->reason);
    r->reason = g_strdup(de->msg);
}

void bt_engine_read(bt_engine *en, const char *input, FILE *out, bt_page_fn fn, void *user,
                    bt_doc_result *res)
{
    memset(res, 0, sizeof *res);
    en->fn = fn;
    en->user = user;
    en->res = res;
    memset(&en->cur, 0, sizeof en->cur);
    docvl_read_stats st = { 0 };
    docvl_error de = { 0 };
    int rc = docvl_read(en->ctx, input, &en->params, (docvl_sink){ to_file, out }, &st, &de);
    if (rc == DOCVL_OK)
        page_done(en);
    g_free(en->cur_reason);
    en->cur_reason = NULL;
    en->cur_failed = 0;
    classify(res, rc, &st, &de);
}

char *bt_engine_options(const cli_opts *o)
{
    const docvl_params *p = &o->read;
    static const char *const tl[] = { "auto", "off", "only" };
    static const char *const tiles[] = { "off", "on", "lines" };
    static const char *const weights[] = { "auto", "f32", "bf16", "q8", "q4" };
    return g_strdup_printf(
        "format=%s text-layer=%s pages=%s dpi=%g tiles=%s tile-size=%d max-tokens=%d "
        "text-tables=%s weights=%s model=%s prompt=%s ask=%s",
        docvl_format_ext(p->format) + 1, tl[p->text_layer], p->pages ? p->pages : "all",
        p->dpi, tiles[p->tiles], p->tile_size, p->max_tokens,
        p->text_tables ? "on" : "off", weights[o->open.weights],
        o->model_dir ? o->model_dir : "", p->prompt ? p->prompt : "", p->ask ? p->ask : "");
}

const char *bt_engine_ext(const cli_opts *o)
{
    return docvl_format_ext(o->read.format);
}
