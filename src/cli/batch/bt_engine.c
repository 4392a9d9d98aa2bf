#include "cli/batch/bt_engine.h"

#include <string.h>

#include <cairo.h>
#include <glib.h>

#include "model/model.h"
#include "pipeline.h"

struct bt_engine {
    const cli_opts *o;
    dv_pipeline *pl;
    /* the document being read */
    bt_page_fn fn;
    void *user;
    bt_doc_result *res;
    dv_progress cur;
    int cur_failed;
    char *cur_reason;
};

void bt_doc_result_clear(bt_doc_result *r)
{
    g_free(r->failed_pages);
    g_free(r->reason);
    memset(r, 0, sizeof *r);
}

int bt_engine_new(const cli_opts *o, int n_threads, int parallel,
                  const volatile sig_atomic_t *cancel, bt_engine **out, dv_err *e)
{
    bt_engine *en = g_new0(bt_engine, 1);
    en->o = o;
    dv_pipeline_opts po = o->pipe;
    po.n_threads = n_threads;
    po.cancel = cancel;
    po.no_model_fails_page = 1;
    po.no_page_trial = parallel;
    dv_err de = { 0 };
    if (dv_pipeline_new(&po, &en->pl, &de) != DOCVL_OK) {
        g_free(en);
        *out = NULL;
        return dv_fail(e, de.code, "%s", de.msg);
    }
    *out = en;
    return DOCVL_OK;
}

void bt_engine_free(bt_engine *en)
{
    if (!en)
        return;
    dv_pipeline_free(en->pl);
    g_free(en);
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

/* The pipeline reports each page's start (and its tiles and tokens): a new
 * page number means the previous page is finished. */
static void on_progress(void *user, const dv_progress *p)
{
    bt_engine *en = user;
    if (p->page == en->cur.page)
        return;
    page_done(en);
    en->cur = *p;
}

static void on_warning(void *user, int failure, const char *msg)
{
    bt_engine *en = user;
    if (!failure)
        return;
    en->cur_failed = 1;
    if (!en->cur_reason)
        en->cur_reason = g_strdup(msg);
}

static void classify(bt_engine *en, int rc, const dv_pipeline_stats *st, const dv_err *de)
{
    bt_doc_result *r = en->res;
    r->pages = st->pages;
    if (rc == DOCVL_EINTERRUPTED) {
        r->outcome = BT_READ_INTERRUPTED;
    } else if (rc != DOCVL_OK && (st->stage == DV_STAGE_MODEL || st->stage == DV_STAGE_OUTPUT)) {
        r->outcome = BT_READ_FATAL;
        r->fatal_exit = st->stage == DV_STAGE_MODEL ? CLI_EXIT_MODEL : CLI_EXIT_FAIL;
    } else if (rc != DOCVL_OK) {
        r->outcome = BT_READ_FAILED;
    } else {
        r->outcome = BT_READ_OK;
        return;
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
    dv_pipeline_set_observer(en->pl, on_progress, on_warning, en);
    dv_sink sink = { dv_sink_file, out };
    dv_writer_options wo = { .title = input, .text_tables = en->o->text_tables };
    dv_writer *w = NULL;
    dv_pipeline_stats st = { 0 };
    dv_err de = { 0 };
    int rc = dv_writer_new(en->o->pipe.format, sink, &wo, &w, &de);
    if (rc == DOCVL_OK)
        rc = dv_pipeline_run(en->pl, input, w, &st, &de);
    else
        st.stage = DV_STAGE_OUTPUT;
    if (rc == DOCVL_OK)
        page_done(en);
    g_free(en->cur_reason);
    en->cur_reason = NULL;
    en->cur_failed = 0;
    dv_writer_free(w);
    classify(en, rc, &st, &de);
    dv_pipeline_set_observer(en->pl, NULL, NULL, NULL);
}

char *bt_engine_options(const cli_opts *o)
{
    const dv_pipeline_opts *p = &o->pipe;
    static const char *const tl[] = { "auto", "off", "only" };
    return g_strdup_printf(
        "format=%s text-layer=%s pages=%s dpi=%g tiles=%s tile-size=%d max-tokens=%d "
        "text-tables=%s weights=%s model=%s prompt=%s ask=%s",
        dv_format_name(p->format), tl[p->text_layer], p->pages ? p->pages : "all",
        p->dpi > 0 ? p->dpi : 200, p->tiles ? "on" : "off", p->tile_size,
        p->max_tokens > 0 ? p->max_tokens : DV_MAX_TOKENS_DEFAULT,
        o->text_tables ? "on" : "off", dv_weights_name(p->weights),
        p->model_dir ? p->model_dir : "", p->prompt ? p->prompt : "", p->ask ? p->ask : "");
}

const char *bt_engine_ext(const cli_opts *o)
{
    return dv_format_ext(o->pipe.format);
}

void bt_engine_flush_caches(void)
{
    cairo_debug_reset_static_data();
}
