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

#include "base/ctx.h"
#include "cli/docvl_cli.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/model_info.h"

typedef struct out_file {
    char *final;     /* NULL: stdout */
    char *tmp;
    FILE *f;
} out_file;

static int out_open(const char *final, out_file *of)
{
    memset(of, 0, sizeof *of);
    if (!final) {
        of->f = stdout;
        return 0;
    }
    char *dir = g_path_get_dirname(final);
    char *base = g_path_get_basename(final);
    of->tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    g_free(dir);
    g_free(base);
    int fd = mkstemp(of->tmp);
    if (fd < 0) {
        fprintf(stderr, "docvl: cannot create %s: %s\n", of->tmp, strerror(errno));
        g_free(of->tmp);
        return -1;
    }
    cli_arm_tmp(of->tmp);
    /* mkstemp makes 0600; an output file gets the usual 0666 & ~umask */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(of->f = fdopen(fd, "w"))) {
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
static char *output_in_dir(const char *dir, const char *input, dv_format f)
{
    char *base = strcmp(input, "-") == 0 ? g_strdup("stdin") : g_path_get_basename(input);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    char *name = g_strconcat(base, dv_format_ext(f), NULL);
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
        outs[i] = dir_mode ? output_in_dir(o->output, o->inputs[i], o->pipe.format)
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

static int exit_code_of(int rc, const dv_pipeline_stats *st, int failed_before,
                        const volatile sig_atomic_t *cancel)
{
    if (rc == DOCVL_EINTERRUPTED || (cancel && *cancel))
        return 128 + (cancel && *cancel ? (int)*cancel : SIGINT);
    if (rc != DOCVL_OK) {
        switch (st->stage) {
        case DV_STAGE_INPUT: return CLI_EXIT_INPUT;
        case DV_STAGE_MODEL: return CLI_EXIT_MODEL;
        case DV_STAGE_OPTIONS: return CLI_EXIT_USAGE;
        default: return CLI_EXIT_FAIL;
        }
    }
    return st->pages_failed + st->tiles_failed > failed_before ? CLI_EXIT_PAGES : CLI_EXIT_OK;
}

static void report_error(const cli_opts *o, const char *input, const dv_err *e,
                         const dv_pipeline_stats *st)
{
    if (e->code == DOCVL_EINTERRUPTED)
        return;
    /* the document layer's messages usually name the file already */
    if (strcmp(input, "-") && strstr(e->msg, input))
        fprintf(stderr, "docvl: %s\n", e->msg);
    else
        fprintf(stderr, "docvl: %s: %s\n", strcmp(input, "-") ? input : "(stdin)", e->msg);
    if (st->stage == DV_STAGE_MODEL && !o->pipe.model_dir)
        fprintf(stderr, "docvl: no model: " CLI_MODEL_HINT "\n");
}

/* Standard output is flushed as the writer goes, so the pages done before a
 * failure or an interrupt (whose handler leaves with _exit) are not lost in
 * a buffer. */
static int sink_flushed(void *file, const char *data, size_t len, dv_err *e)
{
    int rc = dv_sink_file(file, data, len, e);
    if (rc == DOCVL_OK && fflush(file) != 0)
        rc = dv_fail(e, DOCVL_EIO, "writing output: %s", strerror(errno));
    return rc;
}

/* --keep-partial: the document is closed (hOCR's end tags) and the -o file
 * renamed into place although the run failed. */
static void keep_partial(dv_writer *w, out_file *of)
{
    dv_err fe = { 0 };
    if (dv_writer_finish(w, &fe) != DOCVL_OK)
        fprintf(stderr, "docvl: closing the partial output: %s\n", fe.msg);
    char *name = g_strdup(of->final);   /* out_commit frees of's names */
    if (out_commit(of) == 0)
        fprintf(stderr, "docvl: kept the pages done in %s (--keep-partial)\n", name);
    g_free(name);
}

static int run_input(const cli_opts *o, dv_pipeline *pl, const char *input, const char *out,
                     dv_pipeline_stats *st)
{
    out_file of;
    if (out_open(out, &of))
        return CLI_EXIT_FAIL;
    dv_sink sink = { of.final ? dv_sink_file : sink_flushed, of.f };
    dv_writer_options wo = { .title = strcmp(input, "-") ? input : "(stdin)",
                             .text_tables = o->text_tables };
    dv_writer *w = NULL;
    dv_err e = { 0 };
    int failed_before = st->pages_failed + st->tiles_failed;
    int rc = dv_writer_new(o->pipe.format, sink, &wo, &w, &e);
    if (rc == DOCVL_OK)
        rc = dv_pipeline_run(pl, input, w, st, &e);
    int code = exit_code_of(rc, st, failed_before, o->cancel);
    if (rc != DOCVL_OK) {
        report_error(o, input, &e, st);
        if (o->keep_partial && of.final && w && st->stage != DV_STAGE_OUTPUT)
            keep_partial(w, &of);
        else
            out_abort(&of);
        dv_writer_free(w);
        return code;
    }
    dv_writer_free(w);
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
    printf("docvl %s\ncores: %d\n", docvl_version(), dv_cpu_count());
    if (!o->pipe.model_dir) {
        printf("model: none (" "--model DIR or DOCVL_MODEL)\n");
        return CLI_EXIT_OK;
    }
    dv_config cfg;
    dv_checkpoint *ck = NULL;
    dv_model_info info;
    dv_err e = { 0 };
    int rc = dv_config_load(o->pipe.model_dir, &cfg, &e);
    if (rc == DOCVL_OK)
        rc = dv_checkpoint_open(o->pipe.model_dir, &ck, &e);
    if (rc == DOCVL_OK)
        rc = dv_model_info_get(&cfg, ck, &info, &e);
    if (rc == DOCVL_OK) {
        printf("model: %s\n", o->pipe.model_dir);
        dv_model_info_print(&info, stdout);
    }
    dv_checkpoint_close(ck);
    if (rc != DOCVL_OK) {
        fprintf(stderr, "docvl: model %s: %s\ndocvl: " CLI_MODEL_HINT "\n", o->pipe.model_dir,
                e.msg);
        return CLI_EXIT_MODEL;
    }
    return CLI_EXIT_OK;
}

static int run_all(cli_opts *o, dv_pipeline *pl, char **outs)
{
    dv_pipeline_stats st = { 0 };
    int code = CLI_EXIT_OK;
    for (int i = 0; i < o->n_inputs; i++) {
        cli_progress *pr = cli_progress_new(o, o->inputs[i]);
        dv_pipeline_set_observer(pl, cli_progress_update, cli_progress_warn, pr);
        int c = run_input(o, pl, o->inputs[i], outs[i], &st);
        cli_progress_done(pr);
        code = worse(code, c);
        if (c == CLI_EXIT_MODEL || c == CLI_EXIT_USAGE || c > CLI_EXIT_PAGES)
            break;
    }
    if (o->verbose)
        fprintf(stderr, "docvl: %d pages (%d by the model), %d failed; %d tiles, %d failed\n",
                st.pages, st.model_pages, st.pages_failed, st.tiles, st.tiles_failed);
    return code;
}

int cli_run(cli_opts *o)
{
    if (o->info)
        return print_info(o);
    char **outs = plan_outputs(o);
    if (!outs)
        return CLI_EXIT_USAGE;
    o->pipe.cancel = o->cancel;
    dv_pipeline *pl = NULL;
    dv_err e = { 0 };
    int code;
    if (dv_pipeline_new(&o->pipe, &pl, &e) != DOCVL_OK) {
        fprintf(stderr, "docvl: %s\n", e.msg);
        code = CLI_EXIT_FAIL;
    } else {
        code = run_all(o, pl, outs);
    }
    dv_pipeline_free(pl);
    g_strfreev(outs);
    return code;
}
