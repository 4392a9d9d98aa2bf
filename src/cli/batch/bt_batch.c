#include "batch/bt_batch.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "batch/bt_engine.h"
#include "batch/bt_inputs.h"
#include "batch/bt_journal.h"
#include "batch/bt_lock.h"
#include "batch/bt_output.h"
#include "docvl_cli.h"

static const char batch_usage[] =
    "Usage: docvl batch -o DIR [OPTION]... [INPUT]...\n"
    "Read many documents into DIR, one output each, mirroring the input tree;\n"
    "a journal in DIR (docvl-batch.jsonl) makes a rerun skip what is done.\n"
    "INPUT is a file or a directory (walked for PDF and image files).\n"
    "\n"
    "      --from FILE        also read the paths listed in FILE ('-': stdin), one a\n"
    "                         line, or NUL-separated (find -print0)\n"
    "  -0, --null             the --from lists are NUL-separated\n"
    "      --ext LIST         extensions taken from directories (default\n"
    "                         pdf,png,jpg,jpeg,pnm,pbm,pgm,ppm,bmp,tga,tif,tiff)\n"
    "      --shard K/N        read only shard K of N (1 <= K <= N), chosen by a hash\n"
    "                         of each output path: the same on every machine\n"
    "  -j, --jobs J           read J documents at once (default 1); each gets\n"
    "                         cores/J threads unless --threads is given\n"
    "      --retry-failed     read again the documents the journal has as failed\n"
    "                         or partial (done ones are always skipped)\n"
    "      --progress WHEN    json: one JSON line per page and per document on\n"
    "                         stderr; auto (a line per document when stderr is a\n"
    "                         terminal), always, never\n"
    "\n"
    "Every option of docvl that says how to read (-f, -m, --pages, --dpi,\n"
    "--text-layer, --threads, ...) applies to each document; see docvl --help.\n"
    "Exit status: 0 every document done, 5 some failed or partial (see the\n"
    "journal), 1 error, 2 usage, 4 the model could not be loaded, 130/143\n"
    "interrupted. See docs/batch.md.\n";

enum { BOPT_FROM = 512, BOPT_EXT, BOPT_SHARD, BOPT_RETRY, BOPT_PROGRESS };

typedef enum { PROG_AUTO, PROG_ALWAYS, PROG_NEVER, PROG_JSON } batch_progress;

typedef struct batch_args {
    GPtrArray *lists;       /* --from files */
    int nul;
    const char *exts;
    int shard_k, shard_n;
    int jobs;
    int retry_failed;
    batch_progress progress;
} batch_args;

static const struct option batch_opts[] = {
    { "from", required_argument, NULL, BOPT_FROM },
    { "null", no_argument, NULL, '0' },
    { "ext", required_argument, NULL, BOPT_EXT },
    { "shard", required_argument, NULL, BOPT_SHARD },
    { "jobs", required_argument, NULL, 'j' },
    { "retry-failed", no_argument, NULL, BOPT_RETRY },
    { "progress", required_argument, NULL, BOPT_PROGRESS },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int batch_usage_error(const char *msg)
{
    fprintf(stderr, "docvl batch: %s\nTry 'docvl batch --help' for more information.\n", msg);
    return CLI_EXIT_USAGE;
}

static int batch_option(void *user, int c, const char *arg)
{
    batch_args *a = user;
    static const char *const when[] = { "auto", "always", "never", "json", NULL };
    docvl_error e = { 0 };
    char *end;
    switch (c) {
    case BOPT_FROM: g_ptr_array_add(a->lists, (char *)arg); return -1;
    case '0': a->nul = 1; return -1;
    case BOPT_EXT: a->exts = arg; return -1;
    case BOPT_SHARD:
        return bt_shard_parse(arg, &a->shard_k, &a->shard_n, &e) ? batch_usage_error(e.msg) : -1;
    case 'j':
        errno = 0;
        a->jobs = (int)strtol(arg, &end, 10);
        if (errno || end == arg || *end || a->jobs < 1 || a->jobs > 256)
            return batch_usage_error("--jobs wants a whole number from 1 to 256");
        return -1;
    case BOPT_RETRY: a->retry_failed = 1; return -1;
    case BOPT_PROGRESS:
        for (int i = 0; when[i]; i++) {
            if (strcmp(arg, when[i]) == 0) {
                a->progress = (batch_progress)i;
                return -1;
            }
        }
        return batch_usage_error("--progress wants auto, always, never or json");
    case 'h': fputs(batch_usage, stdout); return CLI_EXIT_OK;
    default: return -2;
    }
}

/* ---- signals: stop at the next page or token; a second one stops now ---- */

static volatile sig_atomic_t batch_signal;

static void on_batch_signal(int sig)
{
    if (batch_signal)
        _exit(128 + sig);
    batch_signal = sig;
}

static int install_batch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_batch_signal;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ? -1 : 0;
}

/* ---- the run ------------------------------------------------------------ */

typedef struct batch {
    cli_opts *o;
    batch_args *a;
    const char *dir;
    char *options;
    char *host;
    GPtrArray *todo;        /* const bt_input * of this shard */
    bt_journal *j;
    GMutex mu;              /* the fields below and stderr */
    guint next;             /* index into todo */
    GPtrArray *deferred;    /* locked by another process when first tried */
    int fatal;              /* exit status that stops the batch, 0: none */
    int n_done, n_partial, n_failed, n_skipped, pages;
    int model_loads;        /* of the shared context: 1 at most */
    docvl_context *ctx;
    int finished;           /* documents finished in this run */
    gint64 t0;
} batch;

typedef struct doc_ctx {
    batch *b;
    const bt_input *in;
    const char *key;
    gint64 t0;
} doc_ctx;

static JsonBuilder *event_start(const char *event, const bt_input *in, const char *key)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    bt_json_str(b, "event", event);
    bt_json_str(b, "input", in->path);
    bt_json_str(b, "output", key);
    return b;
}

static void emit(batch *b, char *line)
{
    g_mutex_lock(&b->mu);
    fprintf(stderr, "%s\n", line);
    g_mutex_unlock(&b->mu);
    g_free(line);
}

static void on_page(void *user, const bt_page_event *ev)
{
    doc_ctx *d = user;
    if (d->b->a->progress != PROG_JSON)
        return;
    JsonBuilder *j = event_start("page", d->in, d->key);
    bt_json_int(j, "page", ev->page);
    bt_json_int(j, "pages", ev->n_pages);
    bt_json_int(j, "page_no", ev->page_no);
    bt_json_str(j, "status", ev->failed ? "failed" : "done");
    if (ev->failed) {
        bt_json_str(j, "reason", ev->reason ? ev->reason : "");
    }
    bt_json_num(j, "elapsed_s", (g_get_monotonic_time() - d->t0) / 1e6);
    json_builder_end_object(j);
    emit(d->b, bt_json_line(j));
}

static int human_progress(const batch *b)
{
    return !b->o->quiet && (b->a->progress == PROG_ALWAYS ||
                            (b->a->progress == PROG_AUTO && isatty(2)));
}

static void report_doc(batch *b, const bt_input *in, const char *key, const char *status,
                       int pages, const char *reason)
{
    if (b->a->progress == PROG_JSON) {
        JsonBuilder *j = event_start("document", in, key);
        bt_json_str(j, "status", status);
        bt_json_int(j, "pages", pages);
        bt_json_str(j, "reason", reason ? reason : "");
        json_builder_end_object(j);
        emit(b, bt_json_line(j));
    } else if (human_progress(b) || (reason && !b->o->quiet && strcmp(status, "done"))) {
        g_mutex_lock(&b->mu);
        fprintf(stderr, "docvl: [%d/%u] %s: %s, %d pages%s%s\n", b->finished, b->todo->len,
                in->path, status, pages, reason ? ": " : "", reason ? reason : "");
        g_mutex_unlock(&b->mu);
    }
}

static void count(batch *b, bt_status s, int pages, int skipped)
{
    g_mutex_lock(&b->mu);
    if (skipped)
        b->n_skipped++;
    else
        b->pages += pages;
    b->finished++;
    if (s == BT_DONE)
        b->n_done++;
    else if (s == BT_PARTIAL)
        b->n_partial++;
    else
        b->n_failed++;
    g_mutex_unlock(&b->mu);
}

static void set_fatal(batch *b, int code, const char *what, const char *msg)
{
    g_mutex_lock(&b->mu);
    if (!b->fatal) {
        b->fatal = code;
        fprintf(stderr, "docvl: %s%s%s\n", what ? what : "", what ? ": " : "", msg);
    }
    g_mutex_unlock(&b->mu);
}

static int stopping(batch *b)
{
    g_mutex_lock(&b->mu);
    int stop = b->fatal || batch_signal;
    g_mutex_unlock(&b->mu);
    return stop;
}

/* A document as it is now: its journal key (the output path relative to
 * DIR, so that txt and md runs into one directory keep separate lines) and
 * what tells that its input changed. */
typedef struct input_id {
    char *key;
    int64_t size, mtime_ns;
} input_id;

/* Whether the journal already has this document as it is now, with these
 * options, in a state a rerun keeps; counts it when so. */
static int already(batch *b, const bt_input *in, const input_id *id)
{
    bt_journal_lock(b->j);
    (void)in;
    const bt_record *r = bt_journal_find(b->j, id->key);
    int keep = r && r->size == id->size && r->mtime_ns == id->mtime_ns &&
               strcmp(r->options, b->options) == 0 &&
               (r->status == BT_DONE || !b->a->retry_failed);
    if (keep)
        count(b, r->status, r->pages, 1);
    bt_journal_unlock(b->j);
    return keep;
}


static bt_status status_of(const bt_doc_result *res)
{
    if (res->outcome != BT_READ_OK || (res->n_failed && res->n_failed >= res->pages))
        return BT_FAILED;
    return res->n_failed ? BT_PARTIAL : BT_DONE;
}

static void journal_it(batch *b, const bt_input *in, const input_id *id, bt_status s,
                       const bt_doc_result *res, double seconds)
{
    bt_record r = { 0 };
    r.key = id->key;
    r.output = s == BT_FAILED ? NULL : id->key;
    r.input = in->path;
    r.size = id->size;
    r.mtime_ns = id->mtime_ns;
    r.options = b->options;
    r.status = s;
    r.reason = res->reason;
    r.failed_pages = res->failed_pages;
    r.n_failed_pages = s == BT_PARTIAL ? res->n_failed : 0;
    r.pages = s == BT_FAILED ? 0 : res->pages;
    r.seconds = seconds;
    r.host = b->host;
    r.pid = (int)getpid();
    r.time = g_get_real_time() / G_USEC_PER_SEC;
    docvl_error e = { 0 };
    if (bt_journal_append(b->j, &r, &e) != DOCVL_OK)
        set_fatal(b, CLI_EXIT_FAIL, NULL, e.msg);
}

/* Reads one document whose lock we hold. */
static void read_locked(batch *b, bt_engine *en, const bt_input *in, const input_id *id)
{
    doc_ctx d = { b, in, id->key, g_get_monotonic_time() };
    char *path = g_build_filename(b->dir, id->key, NULL);
    bt_output out;
    docvl_error e = { 0 };
    if (bt_output_begin(path, &out, &e) != DOCVL_OK) {
        set_fatal(b, CLI_EXIT_FAIL, NULL, e.msg);
        g_free(path);
        return;
    }
    bt_doc_result res;
    bt_engine_read(en, in->path, out.f, on_page, &d, &res);
    g_atomic_int_add(&b->model_loads, res.model_loads);
    bt_status s = status_of(&res);
    int finished = res.outcome == BT_READ_OK || res.outcome == BT_READ_FAILED;
    if (res.outcome == BT_READ_FATAL)
        set_fatal(b, res.fatal_exit, in->path, res.reason);
    if (!finished || s == BT_FAILED) {
        bt_output_abort(&out);
    } else if (bt_output_commit(&out, &e) != DOCVL_OK) {
        set_fatal(b, CLI_EXIT_FAIL, NULL, e.msg);
        finished = 0;
    }
    /* the journal line only after the output is in place: a kill between
     * the two reads the document again, never records a missing output */
    if (finished) {
        journal_it(b, in, id, s, &res, (g_get_monotonic_time() - d.t0) / 1e6);
        count(b, s, res.pages, 0);
        report_doc(b, in, id->key, bt_status_name(s), s == BT_FAILED ? 0 : res.pages, res.reason);
    }
    bt_doc_result_clear(&res);
    g_free(path);
}

/* One document: skipped when the journal has it, left for later (returns 1)
 * when another process holds its lock and wait is 0. */
static int do_doc(batch *b, bt_engine *en, const bt_input *in, int wait)
{
    struct stat st;
    input_id id = { g_strconcat(in->rel, bt_engine_ext(b->o), NULL), 0, 0 };
    if (stat(in->path, &st) == 0) {
        id.size = st.st_size;
        id.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    bt_lock *lk = NULL;
    docvl_error e = { 0 };
    int busy = 0;
    if (already(b, in, &id)) {
        /* done before */
    } else if (bt_lock_take(b->dir, id.key, wait, &lk, &e) != DOCVL_OK) {
        set_fatal(b, CLI_EXIT_FAIL, NULL, e.msg);
    } else if (!lk) {
        busy = 1;
    } else if (bt_journal_refresh(b->j, &e) != DOCVL_OK) {
        set_fatal(b, CLI_EXIT_FAIL, NULL, e.msg);
    } else if (!already(b, in, &id)) {
        /* (another process may have finished it between our look and our lock) */
        read_locked(b, en, in, &id);
    }
    bt_lock_release(lk);
    g_free(id.key);
    return busy;
}

static const bt_input *next_input(batch *b, int *wait)
{
    const bt_input *in = NULL;
    g_mutex_lock(&b->mu);
    if (b->next < b->todo->len) {
        in = g_ptr_array_index(b->todo, b->next++);
        *wait = 0;
    } else if (b->deferred->len) {
        in = g_ptr_array_steal_index(b->deferred, b->deferred->len - 1);
        *wait = 1;
    }
    g_mutex_unlock(&b->mu);
    return in;
}

typedef struct worker {
    batch *b;
    GThread *thread;
} worker;

/* A worker waits for a lock only when the queue is empty and it holds
 * none, so two processes can never wait for each other. */
static gpointer work(gpointer user)
{
    worker *w = user;
    batch *b = w->b;
    bt_engine *en = bt_engine_new(b->ctx, b->o, b->a->jobs > 1, &batch_signal);
    const bt_input *in;
    int wait;
    while (!stopping(b) && (in = next_input(b, &wait))) {
        if (do_doc(b, en, in, wait)) {
            g_mutex_lock(&b->mu);
            g_ptr_array_add(b->deferred, (gpointer)in);
            g_mutex_unlock(&b->mu);
        }
    }
    bt_engine_free(en);
    return NULL;
}

/* J documents at once; J x threads stays within the cores unless --threads
 * says otherwise. */
static void run_workers(batch *b)
{
    int jobs = CLAMP(b->a->jobs, 1, 256);   /* parsed so; the bound tells the compiler */
    int cores = (int)g_get_num_processors();
    int threads = b->o->open.n_threads ? b->o->open.n_threads : MAX(1, cores / jobs);
    if (jobs > 1 && jobs * threads > cores && !b->o->quiet)
        fprintf(stderr, "docvl: note: %d jobs x %d threads is more than the %d cores\n", jobs,
                threads, cores);
    docvl_error e = { 0 };
    if (bt_engine_context(b->o, threads, &b->ctx, &e) != DOCVL_OK) {
        set_fatal(b, CLI_EXIT_FAIL, NULL, e.msg);
        return;
    }
    worker *ws = g_new0(worker, jobs);
    for (int i = 0; i < jobs; i++)
        ws[i].b = b;
    if (jobs == 1) {
        work(&ws[0]);
    } else {
        for (int i = 0; i < jobs; i++)
            ws[i].thread = g_thread_new("docvl-batch", work, &ws[i]);
        for (int i = 0; i < jobs; i++)
            g_thread_join(ws[i].thread);
    }
    g_free(ws);
    docvl_close(b->ctx);
}

static void summary(const batch *b)
{
    double s = (g_get_monotonic_time() - b->t0) / 1e6;
    int read = b->finished - b->n_skipped;
    fprintf(stderr,
            "docvl batch: %u documents: %d done, %d partial, %d failed (%d skipped as already "
            "in the journal); read %d documents, %d pages in %.1f s (%.0f pages/min)\n",
            b->todo->len, b->n_done, b->n_partial, b->n_failed, b->n_skipped, read, b->pages, s,
            s > 0 ? b->pages * 60.0 / s : 0.0);
    if (b->a->progress == PROG_JSON)
        fprintf(stderr,
                "{\"event\":\"summary\",\"documents\":%u,\"done\":%d,\"partial\":%d,"
                "\"failed\":%d,\"skipped\":%d,\"pages\":%d,\"seconds\":%.3f,"
                "\"model_loads\":%d}\n",
                b->todo->len, b->n_done, b->n_partial, b->n_failed, b->n_skipped, b->pages, s,
                b->model_loads);
}

static int collect(const cli_opts *o, const batch_args *a, bt_inputs *l)
{
    docvl_error e = { 0 };
    bt_inputs_skip_dir(l, o->output);
    int rc = DOCVL_OK;
    for (int i = 0; rc == DOCVL_OK && i < o->n_inputs; i++)
        rc = bt_inputs_add(l, o->inputs[i], &e);
    for (guint i = 0; rc == DOCVL_OK && i < a->lists->len; i++)
        rc = bt_inputs_add_list(l, g_ptr_array_index(a->lists, i), a->nul, &e);
    if (rc == DOCVL_OK)
        rc = bt_inputs_finish(l, &e);
    if (rc == DOCVL_OK)
        return CLI_EXIT_OK;
    fprintf(stderr, "docvl batch: %s\n", e.msg);
    return rc == DOCVL_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_INPUT;
}

static int check_args(const cli_opts *o, const batch_args *a)
{
    if (!o->output)
        return batch_usage_error("-o DIR is required: the outputs and the journal go there");
    if (o->n_inputs == 0 && a->lists->len == 0)
        return batch_usage_error("no input: give files, directories or --from FILE");
    if (g_mkdir_with_parents(o->output, 0777) != 0) {
        fprintf(stderr, "docvl batch: cannot create %s: %s\n", o->output, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    return -1;
}

static int run_batch(cli_opts *o, batch_args *a, bt_inputs *l)
{
    batch b = { 0 };
    b.o = o;
    b.a = a;
    b.dir = o->output;
    b.options = bt_engine_options(o);
    b.host = g_strdup(g_get_host_name());
    b.todo = g_ptr_array_new();
    b.deferred = g_ptr_array_new();
    b.t0 = g_get_monotonic_time();
    g_mutex_init(&b.mu);
    for (size_t i = 0; i < bt_inputs_count(l); i++) {
        const bt_input *in = bt_inputs_get(l, i);
        if (!a->shard_n || bt_shard_has(in->rel, a->shard_k, a->shard_n))
            g_ptr_array_add(b.todo, (gpointer)in);
    }
    docvl_error e = { 0 };
    int code;
    if (bt_journal_open(b.dir, &b.j, &e) != DOCVL_OK) {
        fprintf(stderr, "docvl batch: %s\n", e.msg);
        code = CLI_EXIT_FAIL;
    } else {
        run_workers(&b);
        if (!o->quiet)
            summary(&b);
        code = batch_signal ? 128 + batch_signal
             : b.fatal      ? b.fatal
             : b.n_partial + b.n_failed ? CLI_EXIT_PAGES : CLI_EXIT_OK;
    }
    bt_journal_close(b.j);
    g_mutex_clear(&b.mu);
    g_ptr_array_free(b.todo, TRUE);
    g_ptr_array_free(b.deferred, TRUE);
    g_free(b.options);
    g_free(b.host);
    return code;
}

int cli_batch(int argc, char **argv)
{
    batch_args a = { g_ptr_array_new(), 0, NULL, 0, 0, 1, 0, PROG_AUTO };
    cli_opts o;
    int code = cli_parse_ext(argc, argv, &o, batch_opts, "0j:", batch_option, &a);
    if (code < 0)
        code = check_args(&o, &a);
    bt_inputs *l = bt_inputs_new(a.exts);
    if (code < 0 && install_batch_signals() != 0) {
        fprintf(stderr, "docvl: cannot install signal handlers: %s\n", strerror(errno));
        code = CLI_EXIT_FAIL;
    }
    if (code < 0 && (code = collect(&o, &a, l)) == CLI_EXIT_OK)
        code = run_batch(&o, &a, l);
    bt_inputs_free(l);
    g_ptr_array_free(a.lists, TRUE);
    return code;
}
