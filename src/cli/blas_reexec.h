/* The front ends' half of docvl_blas_advice (docvl.h): OpenBLAS reads
 * OPENBLAS_CORETYPE only while it is loaded, so a process that should run
 * other kernels starts itself again with the variable set. */
#ifndef DV_CLI_BLAS_REEXEC_H
#define DV_CLI_BLAS_REEXEC_H

/* Set in the restarted process (to the core chosen), so that a restart
 * happens at most once; set by a user (to anything), it turns restarts off. */
#define CLI_BLAS_GUARD "DOCVL_BLAS_REEXEC"

/* Executes /proc/self/exe with argv and OPENBLAS_CORETYPE set when the
 * advice asks for it. Returns only when it did not: nothing to do, already
 * restarted, or the exec failed (then after a warning on stderr: a slow run
 * is better than none). Call first thing in main, before anything is read. */
void cli_blas_reexec(const char *prog, char **argv);

/* One line on stderr saying which OpenBLAS kernels run and who chose them. */
void cli_blas_report(const char *prog);

#endif
