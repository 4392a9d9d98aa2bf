/* docvl: the command line. Conventions follow pdftotext, tesseract and
 * OCRmyPDF: the document on stdout (or -o), everything else on stderr,
 * distinct exit codes per kind of failure (see man/docvl.1). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "batch/bt_batch.h"
#include "blas_reexec.h"
#include "docvl_cli.h"
#include "docvl.h"

/* Signal state is the one thing a handler may touch. The handler removes
 * the temporary -o file (unlink is async-signal-safe) and leaves at once
 * with _exit: docvl may be blocked in a read of stdin or deep in a matrix
 * product, where no flag would be seen soon. The flag is still set first so
 * that nothing else is started should _exit be delayed. */
static volatile sig_atomic_t got_signal;
static char tmp_to_remove[PATH_MAX];
static volatile sig_atomic_t tmp_armed;

static void on_signal(int sig)
{
    got_signal = sig;
    if (tmp_armed)
        unlink(tmp_to_remove);
    _exit(128 + sig);
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
        return -1;
    return 0;
}

void cli_arm_tmp(const char *path)
{
    tmp_armed = 0;
    if (path && strlen(path) < sizeof tmp_to_remove) {
        memcpy(tmp_to_remove, path, strlen(path) + 1);
        tmp_armed = 1;
    }
}

int main(int argc, char **argv)
{
    cli_blas_reexec("docvl", argv);
    /* a file named "batch" is still read as ./batch */
    if (argc > 1 && strcmp(argv[1], "batch") == 0)
        return cli_batch(argc - 1, argv + 1);
    cli_opts o;
    int rc = cli_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.verbose)
        cli_blas_report("docvl");
    if (install_signals()) {
        fprintf(stderr, "docvl: cannot install signal handlers: %s\n", strerror(errno));
        return CLI_EXIT_FAIL;
    }
    o.cancel = &got_signal;
    return cli_run(&o);
}
