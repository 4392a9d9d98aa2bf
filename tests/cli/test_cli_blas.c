/* docvl restarting itself with the OpenBLAS kernels its CPU runs: the
 * restart happens exactly when the advice asks for it, at most once, and
 * never changes what docvl writes. */
#include <cblas.h>

#include "cli/clitest.h"
#include "kernels/blascore.h"
#include "kernels/cpu.h"

/* This environment without OPENBLAS_CORETYPE nor the guard, plus name=value
 * when name is not NULL. */
static char **env_with(const char *name, const char *value)
{
    char **env = g_get_environ();
    env = g_environ_unsetenv(env, "OPENBLAS_CORETYPE");
    env = g_environ_unsetenv(env, "DOCVL_BLAS_REEXEC");
    return name ? g_environ_setenv(env, name, value, TRUE) : env;
}

/* The core named in docvl -v's "docvl: OpenBLAS X kernels" line. */
static char *core_in(const char *err)
{
    const char *p = strstr(err, "docvl: OpenBLAS ");
    g_assert_nonnull(p);
    p += strlen("docvl: OpenBLAS ");
    const char *end = strstr(p, " kernels");
    g_assert_nonnull(end);
    return g_strndup(p, (gsize)(end - p));
}

static void test_restart(void)
{
    char *pdf = sample("born-digital.pdf");
    /* the guard set by a user turns restarts off: OpenBLAS's own choice */
    char **env = env_with("DOCVL_BLAS_REEXEC", "off");
    cli_result own = CLI_ENV(env, "-v", pdf);
    g_assert_cmpint(own.status, ==, 0);
    g_assert_null(strstr(own.err, "set by docvl"));
    char *own_core = core_in(own.err);
    dv_cpu_simd cpu = { dv_cpu_has_avx2_fma(), dv_cpu_has_avx512(), dv_cpu_has_avx512_bf16() };
    const char *advice = dv_blas_advice_for(own_core, openblas_get_config(), cpu);
    g_test_message("OpenBLAS's own kernels: %s; advice: %s", own_core, advice ? advice : "none");

    g_strfreev(env);
    env = env_with(NULL, NULL);
    cli_result run = CLI_ENV(env, "-v", pdf);
    g_assert_cmpint(run.status, ==, 0);
    char *run_core = core_in(run.err);
    if (advice) {
        /* restarted once, with the guard and the variable set to the advice */
        g_assert_cmpstr(run_core, ==, advice);
        char *why = g_strdup_printf("OPENBLAS_CORETYPE=%s set by docvl", advice);
        g_assert_nonnull(strstr(run.err, why));
        g_free(why);
    } else {
        g_assert_cmpstr(run_core, ==, own_core);
        g_assert_null(strstr(run.err, "set by docvl"));
    }
    g_assert_cmpstr(run.out, ==, own.out);

    /* a user's OPENBLAS_CORETYPE is kept */
    g_strfreev(env);
    env = env_with("OPENBLAS_CORETYPE", "Prescott");
    cli_result user = CLI_ENV(env, "-v", pdf);
    g_assert_cmpint(user.status, ==, 0);
    g_assert_nonnull(strstr(user.err, "docvl: OpenBLAS Prescott kernels (OPENBLAS_CORETYPE=Prescott)"));
    g_assert_cmpstr(user.out, ==, own.out);

    g_free(run_core);
    g_free(own_core);
    cli_result_free(&user);
    cli_result_free(&run);
    cli_result_free(&own);
    g_strfreev(env);
    g_free(pdf);
}

/* Without -v a restart says nothing: the document alone, as before. */
static void test_restart_silent(void)
{
    char *pdf = sample("born-digital.pdf");
    char **env = env_with(NULL, NULL);
    cli_result r = CLI_ENV(env, pdf);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpstr(r.err, ==, "");
    g_assert_nonnull(strstr(r.out, "Hello, here is some text without a meaning."));
    cli_result_free(&r);
    g_strfreev(env);
    g_free(pdf);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/blas/restart", test_restart);
    g_test_add_func("/cli/blas/restart-silent", test_restart_silent);
    return g_test_run();
}
