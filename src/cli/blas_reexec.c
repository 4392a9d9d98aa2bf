/* Restarting a front end with the OpenBLAS kernels its CPU runs. */
#include "blas_reexec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docvl.h"

void cli_blas_reexec(const char *prog, char **argv)
{
    if (getenv(CLI_BLAS_GUARD))
        return;
    const char *core = docvl_blas_advice();
    if (!core)
        return;
    if (!setenv("OPENBLAS_CORETYPE", core, 1) && !setenv(CLI_BLAS_GUARD, core, 1))
        execv("/proc/self/exe", argv);
    fprintf(stderr, "%s: warning: cannot restart with OPENBLAS_CORETYPE=%s (%s); going on with "
            "OpenBLAS's %s kernels, several times slower\n", prog, core, strerror(errno),
            docvl_blas_core());
    /* this process keeps its kernels: its children should not be told otherwise */
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(CLI_BLAS_GUARD);
}

void cli_blas_report(const char *prog)
{
    const char *guard = getenv(CLI_BLAS_GUARD);
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (guard && set && !strcmp(guard, set))
        fprintf(stderr, "%s: OpenBLAS %s kernels (OPENBLAS_CORETYPE=%s set by %s: this OpenBLAS "
                "does not recognise the CPU)\n", prog, docvl_blas_core(), set, prog);
    else if (set && *set)
        fprintf(stderr, "%s: OpenBLAS %s kernels (OPENBLAS_CORETYPE=%s)\n", prog,
                docvl_blas_core(), set);
    else
        fprintf(stderr, "%s: OpenBLAS %s kernels\n", prog, docvl_blas_core());
}
