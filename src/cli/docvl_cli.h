/* The docvl front end's parts: argument parsing (docvl_args.c), running
 * inputs to outputs (docvl_run.c), progress on stderr (docvl_progress.c). */
#ifndef DV_DOCVL_CLI_H
#define DV_DOCVL_CLI_H

#include <signal.h>

#include "docvl.h"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_INPUT = 3,
    CLI_EXIT_MODEL = 4,
    CLI_EXIT_PAGES = 5,
};

typedef enum cli_progress_mode { CLI_PROGRESS_AUTO, CLI_PROGRESS_ALWAYS, CLI_PROGRESS_NEVER } cli_progress_mode;

typedef struct cli_opts {
    const char *model_dir;      /* NULL: no model */
    docvl_open_params open;     /* the library's defaults, changed by the options */
    docvl_params read;
    const char *output;         /* -o: a file, or a directory for several inputs */
    int keep_partial;           /* --keep-partial: a failed run still renames its -o file */
    int quiet, verbose;
    cli_progress_mode progress;
    int info;
    char **inputs;              /* borrowed from argv */
    int n_inputs;
    const volatile sig_atomic_t *cancel;
} cli_opts;

/* Returns an exit code when the program should stop now (--help,
 * --version, usage errors), -1 to go on. */
int cli_parse(int argc, char **argv, cli_opts *o);

/* cli_parse with more options (docvl batch): extra_fn gets every option
 * first and returns -2 for those it does not know, -1 to go on, or an exit
 * code; the inputs are not checked (the caller knows what it needs). */
struct option;
typedef int (*cli_extra_fn)(void *user, int c, const char *arg);
int cli_parse_ext(int argc, char **argv, cli_opts *o, const struct option *extra,
                  const char *extra_short, cli_extra_fn extra_fn, void *user);

/* Runs every input; returns the exit code. */
int cli_run(cli_opts *o);

/* Remembers the temporary output that a second signal must remove. */
void cli_arm_tmp(const char *path);

/* What to tell a user who has no model. */
#define CLI_MODEL_HINT                                                                          \
    "get the weights with\n"                                                                    \
    "  huggingface-cli download deepseek-ai/deepseek-vl-1.3b-chat --local-dir DIR\n"           \
    "and pass --model DIR (or set DOCVL_MODEL=DIR); --text-layer only needs no model"

/* Progress and messages on stderr for one input; the callbacks of
 * docvl_params, with the progress as their user pointer. */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_new(const cli_opts *o, const char *input);
void cli_progress_update(void *user, const docvl_progress *p);
void cli_progress_warn(void *user, int failure, const char *msg);
/* Whether a signal asked to stop (o->cancel). */
int cli_progress_aborted(void *user);
void cli_progress_done(cli_progress *pr);

#endif
