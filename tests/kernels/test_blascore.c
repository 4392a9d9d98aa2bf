/* The OPENBLAS_CORETYPE advice as a function of OpenBLAS's core, its
 * configuration and the CPU's instruction sets. */
#include <glib.h>
#include <stdlib.h>

#include "kernels/blascore.h"

#define CFG_NEW "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"
#define CFG_OLD "OpenBLAS 0.3.5 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"
#define CFG_FIXED "OpenBLAS 0.3.21 NO_LAPACKE NO_AFFINITY Haswell MAX_THREADS=64"

static const dv_cpu_simd sse = { 0, 0, 0 }, avx2 = { 1, 0, 0 }, skx = { 1, 1, 0 },
                         cpx = { 1, 1, 1 };

static void check(const char *core, const char *cfg, dv_cpu_simd cpu, const char *want)
{
    const char *got = dv_blas_advice_for(core, cfg, cpu);
    if (g_strcmp0(got, want))
        g_error("advice for %s on %d/%d/%d (%s) = %s, want %s", core, cpu.avx2_fma, cpu.avx512,
                cpu.avx512_bf16, cfg, got ? got : "NULL", want ? want : "NULL");
}

/* The case seen on a Xeon newer than Debian's OpenBLAS: SSE3 kernels. */
/* The cores whose kernels are AVX-512 (docvl then keeps OpenBLAS's
 * products for the trainer), and the ones that are not. */
static void test_avx512_cores(void)
{
    g_assert_true(dv_blas_core_is_avx512("SkylakeX"));
    g_assert_true(dv_blas_core_is_avx512("Cooperlake"));
    g_assert_true(dv_blas_core_is_avx512("sapphirerapids"));
    g_assert_false(dv_blas_core_is_avx512("Haswell"));
    g_assert_false(dv_blas_core_is_avx512("Zen"));
    g_assert_false(dv_blas_core_is_avx512("Prescott"));
    g_assert_false(dv_blas_core_is_avx512("Zen6"));
    g_assert_false(dv_blas_core_is_avx512(NULL));
}

static void test_fallback_raised(void)
{
    const char *weak[] = { "Prescott", "Core2", "Nehalem", "Sandybridge", "prescott" };
    for (size_t i = 0; i < G_N_ELEMENTS(weak); i++) {
        check(weak[i], CFG_NEW, avx2, "Haswell");
        check(weak[i], CFG_NEW, skx, "SkylakeX");
        check(weak[i], CFG_NEW, cpx, "Cooperlake");
    }
    check("Haswell", CFG_NEW, skx, "SkylakeX");
    check("Zen", CFG_NEW, cpx, "Cooperlake");
}

/* An OpenBLAS before 0.3.11 has no Cooperlake: SkylakeX is what it knows. */
static void test_cooperlake_needs_version(void)
{
    check("Prescott", CFG_OLD, cpx, "SkylakeX");
    check("Prescott", "OpenBLAS 0.3.10 DYNAMIC_ARCH", cpx, "SkylakeX");
    check("Prescott", "OpenBLAS 0.3.11 DYNAMIC_ARCH", cpx, "Cooperlake");
    check("Prescott", "OpenBLAS 0.4.0 DYNAMIC_ARCH", cpx, "Cooperlake");
    check("Prescott", "OpenBLAS DYNAMIC_ARCH", cpx, "SkylakeX");
}

static void test_nothing_to_do(void)
{
    /* the kernels already match the CPU, or are better than it asks for */
    check("SkylakeX", CFG_NEW, skx, NULL);
    check("Cooperlake", CFG_NEW, skx, NULL);
    check("SapphireRapids", CFG_NEW, cpx, NULL);
    check("Haswell", CFG_NEW, avx2, NULL);
    check("Zen", CFG_NEW, avx2, NULL);
    check("Sandybridge", CFG_NEW, sse, NULL);
    check("Prescott", CFG_NEW, sse, NULL);
    /* a core this does not know may be newer than the table */
    check("Icelake", CFG_NEW, cpx, NULL);
    check("NEOVERSEN1", CFG_NEW, cpx, NULL);
    /* without DYNAMIC_ARCH the variable changes nothing */
    check("Haswell", CFG_FIXED, skx, NULL);
    check(NULL, CFG_NEW, skx, NULL);
    check("Prescott", NULL, skx, NULL);
}

/* A user's OPENBLAS_CORETYPE is never second-guessed. */
static void test_user_choice_kept(void)
{
    g_assert_cmpint(setenv("OPENBLAS_CORETYPE", "Prescott", 1), ==, 0);
    g_assert_null(dv_blas_advice());
    g_assert_cmpint(unsetenv("OPENBLAS_CORETYPE"), ==, 0);
    g_assert_nonnull(dv_blas_core());
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/blascore/avx512-cores", test_avx512_cores);
    g_test_add_func("/blascore/fallback-raised", test_fallback_raised);
    g_test_add_func("/blascore/cooperlake-needs-version", test_cooperlake_needs_version);
    g_test_add_func("/blascore/nothing-to-do", test_nothing_to_do);
    g_test_add_func("/blascore/user-choice-kept", test_user_choice_kept);
    return g_test_run();
}
