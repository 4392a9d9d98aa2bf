/* Inputs to outputs. An -o file is written to a temporary file in the same
 * directory and renamed over the target only when the whole document was
 * written, so a failure or an interrupt never leaves a half-written file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "docvl_cli.h"

typedef struct out_file {
    char *final;     /* NULL: stdout */
    char *tmp;
    FILE *f;
} out_file;

/* Creates the temporary beside the output. Its name is chosen and armed for
 * the signal handler before the file exists (O_EXCL), so no moment has the
 * file on disk but unknown to the handler: with mkstemp, which names it
 * only once created, a signal in between left it behind. The process id in
 * the name keeps docvl processes apart; a name that exists already is a
 * temporary a dead process with the same id left, which a signal in that
 * instant may remove. */
enum { TMP_TRIES = 100 };

static int create_tmp(const char *dir, const char *base, out_file *of)
{
    for (int n = 0; n < TMP_TRIES; n++) {
        of->tmp = g_strdup_printf("%s/.%s.%ld.%d", dir, base, (long)getpid(), n);
        cli_arm_tmp(of->tmp);
        /* 0666 less the umask: the mode a file docvl wrote directly gets */
        int fd = open(of->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        int err = errno;
        cli_arm_tmp(NULL);
        if (err != EEXIST || n == TMP_TRIES - 1) {
            errno = err;   /* of->tmp names the last try for the message */
            return -1;
        }
        g_free(of->tmp);
    }
    return -1;   /* not reached: the last try returns */
}

static int out_open(const char *final, out_file *of)
{
    memset(of, 0, sizeof *of);
    if (!final) {
        of->f = stdout;
        return 0;
    }
    char *dir = g_path_get_dirname(final);
    char *base = g_path_get_basename(final);
    int fd = create_tmp(dir, base, of);
    g_free(dir);
    g_free(base);
    if (fd < 0) {
        fprintf(stderr, "docvl: cannot create %s: %s\n", of->tmp, strerror(errno));
        g_free(of->tmp);
        return -1;
    }
    if (!(of->f = fdopen(fd, "w"))) {
        fprintf(stderr, "docvl: cannot open %s: %s\n", of->tmp, strerror(errno));
        close(fd);
        unlink(of->tmp);
        cli_arm_tmp(NULL);
        g_free(of->tmp);
        return -1;
    }
    of->final = g_strdup(final);
    return 0;
}

static void out_abort(out_file *of)
{
    if (of->final) {
        fclose(of->f);
        unlink(of->tmp);
        cli_arm_tmp(NULL);
    }
    g_free(of->final);
    g_free(of->tmp);
    memset(of, 0, sizeof *of);
}

static int out_commit(out_file *of)
{
    if (!of->final) {
        if (fflush(stdout) == 0 && !ferror(stdout))
            return 0;
        fprintf(stderr, "docvl: writing standard output: %s\n", strerror(errno));
        return -1;
    }
    int ok = fflush(of->f) == 0 && !ferror(of->f) && fsync(fileno(of->f)) == 0;
    ok = (fclose(of->f) == 0) && ok;
    of->f = NULL;
    if (ok && rename(of->tmp, of->final) == 0) {
        cli_arm_tmp(NULL);
        g_free(of->final);
        g_free(of->tmp);
        return 0;
    }
    fprintf(stderr, "docvl: writing %s: %s\n", of->final, strerror(errno));
    unlink(of->tmp);
    cli_arm_tmp(NULL);
    g_free(of->final);
    g_free(of->tmp);
    return -1;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0)
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* DIR/<input name without its extension><format extension>. */
static char *output_in_dir(const char *dir, const char *input, docvl_format f)
{
    char *base = strcmp(input, "-") == 0 ? g_strdup("stdin") : g_path_get_basename(input);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    char *name = g_strconcat(base, docvl_format_ext(f), NULL);
    char *path = g_build_filename(dir, name, NULL);
    g_free(base);
    g_free(name);
    return path;
}

/* The output of each input (NULL entries: stdout), or NULL after a usage
 * error was reported. */
static char **plan_outputs(const cli_opts *o)
{
    char **outs = g_new0(char *, o->n_inputs + 1);
    int dir_mode = o->output && (o->n_inputs > 1 || is_dir(o->output));
    if (o->output && o->n_inputs > 1 && !is_dir(o->output)) {
        fprintf(stderr, "docvl: with several inputs -o must name an existing directory\n");
        goto usage;
    }
    for (int i = 0; i < o->n_inputs && o->output; i++) {
        outs[i] = dir_mode ? output_in_dir(o->output, o->inputs[i], o->read.format)
                           : g_strdup(o->output);
        for (int j = 0; j < o->n_inputs; j++) {
            if (same_file(outs[i], o->inputs[j])) {
                fprintf(stderr, "docvl: output %s is input %s: refusing to overwrite it\n",
                        outs[i], o->inputs[j]);
                goto usage;
            }
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(outs[i], outs[j]) == 0) {
                fprintf(stderr, "docvl: inputs %s and %s would both write %s\n", o->inputs[j],
                        o->inputs[i], outs[i]);
                goto usage;
            }
        }
    }
    return outs;
usage:
    g_strfreev(outs);
    return NULL;
}

/* Pages that failed only for want of a model make the status 4, as a
 * missing model does. */
static int pages_code(const docvl_read_stats *st)
{
    if (st->pages_without_model > 0)
        return CLI_EXIT_MODEL;
    return st->pages_failed + st->tiles_failed > 0 ? CLI_EXIT_PAGES : CLI_EXIT_OK;
}

static int exit_code_of(const docvl_error *err, const docvl_read_stats *st,
                        const volatile sig_atomic_t *cancel)
{
    if (err->code == DOCVL_EINTERRUPTED || (cancel && *cancel))
        return 128 + (cancel && *cancel ? (int)*cancel : SIGINT);
    if (err->code != DOCVL_OK) {
        switch (err->stage) {
        case DOCVL_STAGE_INPUT: return CLI_EXIT_INPUT;
        case DOCVL_STAGE_MODEL: return CLI_EXIT_MODEL;
        case DOCVL_STAGE_OPTIONS: return CLI_EXIT_USAGE;
        default: return CLI_EXIT_FAIL;
        }
    }
    return pages_code(st);
}

static void report_error(const cli_opts *o, const char *input, const docvl_error *err)
{
    if (err->code == DOCVL_EINTERRUPTED)
        return;
    /* the document layer's messages usually name the file already */
    if (strcmp(input, "-") && strstr(err->msg, input))
        fprintf(stderr, "docvl: %s\n", err->msg);
    else
        fprintf(stderr, "docvl: %s: %s\n", strcmp(input, "-") ? input : "(stdin)", err->msg);
    if (err->stage == DOCVL_STAGE_MODEL && !o->model_dir)
        fprintf(stderr, "docvl: no model: " CLI_MODEL_HINT "\n");
    if (err->stage == DOCVL_STAGE_INPUT && strstr(err->msg, "encrypted"))
        fprintf(stderr, "docvl: give the password with --password PW\n");
}

static int sink_write(FILE *f, const char *data, size_t len, char *msg, size_t msg_len)
{
    if (fwrite(data, 1, len, f) == len)
        return 0;
    snprintf(msg, msg_len, "writing output: %s", strerror(errno));
    return -1;
}

static int sink_file(void *file, const char *data, size_t len, char *msg, size_t msg_len)
{
    return sink_write(file, data, len, msg, msg_len);
}

/* Standard output is flushed as the writer goes, so the pages done before a
 * failure or an interrupt (whose handler leaves with _exit) are not lost in
 * a buffer. */
static int sink_flushed(void *file, const char *data, size_t len, char *msg, size_t msg_len)
{
    if (sink_write(file, data, len, msg, msg_len))
        return -1;
    if (fflush(file) == 0)
        return 0;
    snprintf(msg, msg_len, "writing output: %s", strerror(errno));
    return -1;
}

/* --keep-partial: the library closed the document (hOCR's end tags); the -o
 * file is renamed into place although the run failed. */
static void keep_partial(out_file *of)
{
    char *name = g_strdup(of->final);   /* out_commit frees of's names */
    if (out_commit(of) == 0)
        fprintf(stderr, "docvl: kept the pages done in %s (--keep-partial)\n", name);
    g_free(name);
}

/* Returns the input's exit status; *fatal is set when the read itself
 * failed in a way the next inputs would share (model, usage) or that
 * stops the run (an interrupt, an output error). */
static int run_input(const cli_opts *o, docvl_context *ctx, const char *input, const char *out,
                     cli_progress *pr, docvl_read_stats *st, int *fatal)
{
    out_file of;
    if (out_open(out, &of))
        return CLI_EXIT_FAIL;
    docvl_sink sink = { of.final ? sink_file : sink_flushed, of.f };
    docvl_params p = o->read;
    p.title = strcmp(input, "-") ? input : "(stdin)";
    p.finish_on_error = o->keep_partial && of.final;
    /* a page that needs the missing model fails alone, reported and
     * counted; the other pages and inputs are still read */
    p.continue_without_model = 1;
    p.on_progress = cli_progress_update;
    p.on_message = cli_progress_warn;
    p.should_abort = cli_progress_aborted;
    p.user = pr;
    docvl_error err = { 0 };
    int rc = docvl_read(ctx, input, &p, sink, st, &err);
    int code = exit_code_of(&err, st, o->cancel);
    *fatal = rc != DOCVL_OK && (code == CLI_EXIT_MODEL || code == CLI_EXIT_USAGE ||
                                code > CLI_EXIT_PAGES);
    if (rc != DOCVL_OK) {
        report_error(o, input, &err);
        if (p.finish_on_error && err.stage != DOCVL_STAGE_OUTPUT)
            keep_partial(&of);
        else
            out_abort(&of);
        return code;
    }
    if (out_commit(&of))
        return CLI_EXIT_FAIL;
    return code;
}

/* Worse outcomes win: a usage error over a model problem over a bad input
 * over a plain error over failed pages. */
static int worse(int a, int b)
{
    static const int rank[] = { [CLI_EXIT_OK] = 0, [CLI_EXIT_PAGES] = 1, [CLI_EXIT_FAIL] = 2,
                                [CLI_EXIT_INPUT] = 3, [CLI_EXIT_MODEL] = 4,
                                [CLI_EXIT_USAGE] = 5 };
    if (a > CLI_EXIT_PAGES || b > CLI_EXIT_PAGES)
        return a > CLI_EXIT_PAGES ? a : b;
    return rank[a] >= rank[b] ? a : b;
}

static int print_info(const cli_opts *o)
{
    printf("docvl %s\ncores: %d\n", docvl_version(), docvl_cpu_count());
    if (!o->model_dir) {
        printf("model: none (" "--model DIR or DOCVL_MODEL)\n");
        return CLI_EXIT_OK;
    }
    /* the model is loaded as reading would load it, so --info validates it */
    docvl_context *ctx = NULL;
    docvl_model_details info;
    docvl_error err = { 0 };
    int rc = docvl_open(o->model_dir, &o->open, &ctx, &err);
    if (rc == DOCVL_OK)
        rc = docvl_model_info(ctx, &info, &err);
    if (rc == DOCVL_OK) {
        if (info.note && !o->quiet)
            fprintf(stderr, "docvl: %s\n", info.note);
        const char *builtin = docvl_builtin_model();
        printf("model: %s%s\n%s", o->model_dir,
               builtin && strcmp(o->model_dir, builtin) == 0 ? " (built in)" : "", info.text);
    }
    docvl_close(ctx);
    if (rc != DOCVL_OK) {
        fprintf(stderr, "docvl: %s\ndocvl: " CLI_MODEL_HINT "\n", err.msg);
        return err.stage == DOCVL_STAGE_MODEL ? CLI_EXIT_MODEL : CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static void add_stats(docvl_read_stats *sum, const docvl_read_stats *st)
{
    sum->pages += st->pages;
    sum->pages_failed += st->pages_failed;
    sum->tiles += st->tiles;
    sum->tiles_failed += st->tiles_failed;
    sum->model_pages += st->model_pages;
    sum->model_loads += st->model_loads;
    sum->pages_without_model += st->pages_without_model;
}

/* Several documents on standard output: each after the first starts with
 * a form feed (in txt an empty page between two documents), and in md
 * with a comment naming its file. (Several hOCR documents are refused
 * there: docvl_args.c.) */
static int mark_document(const cli_opts *o, int i)
{
    if (o->output || o->n_inputs < 2)
        return 0;
    const char *name = strcmp(o->inputs[i], "-") ? o->inputs[i] : "(stdin)";
    if (i > 0)
        fputs(o->read.format == DOCVL_FORMAT_MARKDOWN ? "\f\n" : "\f", stdout);
    if (o->read.format == DOCVL_FORMAT_MARKDOWN)
        printf("<!-- document %s -->\n\n", name);
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "docvl: writing standard output: %s\n", strerror(errno));
    return -1;
}

static int run_all(const cli_opts *o, docvl_context *ctx, char **outs)
{
    docvl_read_stats sum = { 0 };
    int code = CLI_EXIT_OK;
    for (int i = 0; i < o->n_inputs; i++) {
        docvl_read_stats st = { 0 };
        cli_progress *pr = cli_progress_new(o, o->inputs[i]);
        int fatal = mark_document(o, i) != 0;   /* standard output is gone */
        int c = fatal ? CLI_EXIT_FAIL
                      : run_input(o, ctx, o->inputs[i], outs[i], pr, &st, &fatal);
        cli_progress_done(pr);
        add_stats(&sum, &st);
        code = worse(code, c);
        if (fatal)
            break;
    }
    if (sum.pages_without_model > 0)
        fprintf(stderr, "docvl: %d page%s could not be read without a model: " CLI_MODEL_HINT
                        "\n", sum.pages_without_model, sum.pages_without_model == 1 ? "" : "s");
    if (o->verbose)
        fprintf(stderr, "docvl: %d pages (%d by the model), %d failed; %d tiles, %d failed; "
                        "%d model load%s\n", sum.pages, sum.model_pages, sum.pages_failed,
                sum.tiles, sum.tiles_failed, sum.model_loads, sum.model_loads == 1 ? "" : "s");
    return code;
}

int cli_run(cli_opts *o)
{
    if (o->info)
        return print_info(o);
    char **outs = plan_outputs(o);
    if (!outs)
        return CLI_EXIT_USAGE;
    docvl_context *ctx = NULL;
    docvl_error err = { 0 };
    int code;
    if (docvl_open(o->model_dir, &o->open, &ctx, &err) != DOCVL_OK) {
        fprintf(stderr, "docvl: %s\n", err.msg);
        code = CLI_EXIT_FAIL;
    } else {
        code = run_all(o, ctx, outs);
    }
    docvl_close(ctx);
    g_strfreev(outs);
    return code;
}
