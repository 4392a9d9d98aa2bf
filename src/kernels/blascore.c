/* OpenBLAS's kernels against the CPU's instruction sets (see blascore.h). */
#include "kernels/blascore.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels/cpu.h"

/* How wide each OpenBLAS x86 core's kernels are. Only these names are
 * judged: a core missing here may be newer than this table, and advising
 * it away could make things slower. */
enum { TIER_SSE = 1, TIER_AVX, TIER_AVX2, TIER_AVX512 };

typedef struct core_tier {
    const char *name;
    int tier;
} core_tier;

static const core_tier core_tiers[] = {
    { "Katmai", TIER_SSE },      { "Coppermine", TIER_SSE }, { "Northwood", TIER_SSE },
    { "Prescott", TIER_SSE },    { "Banias", TIER_SSE },     { "Core2", TIER_SSE },
    { "Penryn", TIER_SSE },      { "Dunnington", TIER_SSE }, { "Nehalem", TIER_SSE },
    { "Atom", TIER_SSE },        { "Opteron", TIER_SSE },    { "Opteron_SSE3", TIER_SSE },
    { "Barcelona", TIER_SSE },   { "Bobcat", TIER_SSE },     { "Nano", TIER_SSE },
    { "Sandybridge", TIER_AVX }, { "Bulldozer", TIER_AVX },  { "Piledriver", TIER_AVX },
    { "Steamroller", TIER_AVX }, { "Haswell", TIER_AVX2 },   { "Zen", TIER_AVX2 },
    { "Excavator", TIER_AVX2 },  { "SkylakeX", TIER_AVX512 }, { "Cooperlake", TIER_AVX512 },
    { "SapphireRapids", TIER_AVX512 },
};

static int tier_of(const char *corename)
{
    for (size_t i = 0; i < sizeof core_tiers / sizeof core_tiers[0]; i++)
        if (!strcasecmp(core_tiers[i].name, corename))
            return core_tiers[i].tier;
    return 0;
}

/* Cooperlake (SkylakeX plus the bf16 products) came with OpenBLAS 0.3.11;
 * an older library would not know the name. */
static int has_cooperlake(const char *config)
{
    int major = 0, minor = 0, patch = 0;
    if (sscanf(config, "OpenBLAS %d.%d.%d", &major, &minor, &patch) != 3)
        return 0;
    return major > 0 || minor > 3 || (minor == 3 && patch >= 11);
}

const char *dv_blas_advice_for(const char *corename, const char *config, dv_cpu_simd cpu)
{
    if (!corename || !config || !strstr(config, "DYNAMIC_ARCH"))
        return NULL;
    int have = tier_of(corename);
    if (!have)
        return NULL;
    if (cpu.avx512 && have < TIER_AVX512)
        return cpu.avx512_bf16 && has_cooperlake(config) ? "Cooperlake" : "SkylakeX";
    if (cpu.avx2_fma && have < TIER_AVX2)
        return "Haswell";
    return NULL;
}

const char *dv_blas_advice(void)
{
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && *set)
        return NULL;
    dv_cpu_simd cpu = { .avx2_fma = dv_cpu_has_avx2_fma(), .avx512 = dv_cpu_has_avx512(),
                        .avx512_bf16 = dv_cpu_has_avx512_bf16() };
    return dv_blas_advice_for(openblas_get_corename(), openblas_get_config(), cpu);
}

const char *dv_blas_core(void) { return openblas_get_corename(); }

int dv_blas_core_is_avx512(const char *corename)
{
    return corename && tier_of(corename) == TIER_AVX512;
}
