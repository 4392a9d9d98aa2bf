/* Running the docvl executable from tests: DOCVL_EXE names it, samples and
 * test data come from DOCVL_SAMPLES and DOCVL_TEST_DATA (set by meson). */
#ifndef DV_CLITEST_H
#define DV_CLITEST_H

#include <glib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

typedef struct cli_result {
    int status;      /* exit code, or 128 + signal */
    char *out;
    gsize out_len;
    char *err;
} cli_result;

static inline void cli_result_free(cli_result *r)
{
    g_free(r->out);
    g_free(r->err);
}

static inline char *sample(const char *name)
{
    const char *root = g_getenv("DOCVL_SAMPLES");
    return g_build_filename(root ? root : "samples", name, NULL);
}

/* Runs docvl with args (NULL-terminated) in the environment envp (NULL:
 * this one); stdin_path NULL: no stdin. */
static inline cli_result cli_run_env(const char *stdin_path, char **envp, const char *const *args)
{
    const char *exe = g_getenv("DOCVL_EXE");
    g_assert_nonnull(exe);
    GPtrArray *argv = g_ptr_array_new();
    if (stdin_path) {
        /* the shell redirects, then execs docvl with the same arguments */
        g_ptr_array_add(argv, (char *)"/bin/sh");
        g_ptr_array_add(argv, (char *)"-c");
        g_ptr_array_add(argv, (char *)"f=$1; shift; exec \"$0\" \"$@\" < \"$f\"");
        g_ptr_array_add(argv, (char *)exe);
        g_ptr_array_add(argv, (char *)stdin_path);
    } else {
        g_ptr_array_add(argv, (char *)exe);
    }
    for (; *args; args++)
        g_ptr_array_add(argv, (char *)*args);
    g_ptr_array_add(argv, NULL);
    cli_result r = { 0 };
    int wait_status = 0;
    GError *ge = NULL;
    gboolean ok = g_spawn_sync(NULL, (char **)argv->pdata, envp,
                               stdin_path ? 0 : G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                               &r.out, &r.err, &wait_status, &ge);
    g_assert_no_error(ge);
    g_assert_true(ok);
    r.out_len = strlen(r.out);
    r.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    g_ptr_array_free(argv, TRUE);
    return r;
}

static inline cli_result cli_run(const char *stdin_path, const char *const *args)
{
    return cli_run_env(stdin_path, NULL, args);
}

#define CLI(stdin_path, ...) cli_run(stdin_path, (const char *const[]){ __VA_ARGS__, NULL })
#define CLI_ENV(envp, ...) cli_run_env(NULL, envp, (const char *const[]){ __VA_ARGS__, NULL })

static inline int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

#endif
