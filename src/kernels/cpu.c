/* Which SIMD forms this CPU runs, for the kernels' run-time dispatch. */
#include "kernels/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define DV_X86 1
#else
#define DV_X86 0
#endif

int dv_cpu_has_avx2_fma(void)
{
#if DV_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* What the CPU offers beyond AVX2+FMA, read once: CPUID traps to the
 * hypervisor on a virtual machine (microseconds), and the kernels ask on
 * every product and every converted KV row. The facts never change during a
 * run, so this once-written table is not state a caller could observe. */
typedef struct cpu_extras {
    int f16c, avx_vnni, avx512_vnni, avx512_bf16, f32_only, vec_level;
} cpu_extras;

static cpu_extras extras;
static pthread_once_t extras_once = PTHREAD_ONCE_INIT;

#if DV_X86
/* CPUID bits read directly: clang's __builtin_cpu_supports knows neither
 * "f16c" nor "avxvnni". The OS's saving of the AVX registers is already
 * implied by dv_cpu_has_avx2_fma(). */
static int cpuid_bit(unsigned leaf, unsigned sub, int reg, int bit)
{
    unsigned r[4];
    if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]))
        return 0;
    return (int)((r[reg] >> bit) & 1u);
}
#endif

static void read_extras(void)
{
#if DV_X86
    if (dv_cpu_has_avx2_fma()) {
        extras.f16c = cpuid_bit(1, 0, 2, 29);       /* CPUID.1:ECX[29] */
        extras.avx_vnni = cpuid_bit(7, 1, 0, 4);    /* CPUID.(7,1):EAX[4] */
        extras.avx512_vnni = cpuid_bit(7, 0, 2, 11); /* CPUID.(7,0):ECX[11] */
    }
#endif
    extras.avx512_bf16 = dv_cpu_has_avx512_bf16();
    const char *k = getenv("DOCVL_KERNELS");
    extras.f32_only = k && strcmp(k, "f32") == 0;
    if (dv_cpu_has_avx2_fma() && !(k && strcmp(k, "scalar") == 0))
        extras.vec_level = dv_cpu_has_avx512() ? 2 : 1;
}

int dv_cpu_qdot_level(void)
{
    if (!dv_cpu_has_avx2_fma())
        return 0;
    pthread_once(&extras_once, read_extras);
    if (extras.avx512_vnni && extras.avx_vnni && dv_cpu_has_avx512())
        return 3;
    return extras.avx_vnni ? 2 : 1;
}

int dv_cpu_vec_level(void)
{
    pthread_once(&extras_once, read_extras);
    return extras.vec_level;
}

int dv_cpu_qgemm_level(void)
{
    pthread_once(&extras_once, read_extras);
    return !extras.f32_only && extras.avx512_vnni && dv_cpu_has_avx512() ? 2 : 0;
}

int dv_cpu_bgemm_level(void)
{
    pthread_once(&extras_once, read_extras);
    return !extras.f32_only && extras.avx512_bf16 ? 2 : 0;
}

int dv_cpu_has_f16c(void)
{
    pthread_once(&extras_once, read_extras);
    return extras.f16c;
}

/* __builtin_cpu_supports reports AVX-512 only where the OS saves the ZMM
 * registers (XCR0), so a VM that hides them gets 0. */
int dv_cpu_has_avx512(void)
{
#if DV_X86
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512cd");
#else
    return 0;
#endif
}

int dv_cpu_has_avx512_bf16(void)
{
#if DV_X86
    return dv_cpu_has_avx512() && cpuid_bit(7, 1, 0, 5);    /* CPUID.(7,1):EAX[5] */
#else
    return 0;
#endif
}
