/* Whether the OpenBLAS kernels this process runs are the ones its CPU could
 * run. A DYNAMIC_ARCH OpenBLAS older than the CPU does not recognise it and
 * falls back to its SSE3 (Prescott) kernels, about ten times slower than the
 * CPU's own for sgemm; OPENBLAS_CORETYPE overrides its choice, but only when
 * set before the library is loaded, so front ends restart themselves with it. */
#ifndef DV_BLASCORE_H
#define DV_BLASCORE_H

/* What the CPU runs, as far as choosing OpenBLAS kernels goes (each with
 * the OS saving the registers it needs). */
typedef struct dv_cpu_simd {
    int avx2_fma;
    int avx512;       /* F, BW, VL, DQ and CD: what OpenBLAS's SkylakeX kernels use */
    int avx512_bf16;
} dv_cpu_simd;

/* The OPENBLAS_CORETYPE value that would give a CPU with `cpu` faster
 * kernels than `corename` (openblas_get_corename()) in the OpenBLAS that
 * `config` (openblas_get_config()) describes; NULL when nothing is to be
 * done: the kernels match, the core is one this does not know (never guess
 * downwards), or the library cannot switch kernels (not DYNAMIC_ARCH). */
const char *dv_blas_advice_for(const char *corename, const char *config, dv_cpu_simd cpu);

/* The above for this process, this CPU and this OpenBLAS; NULL too when the
 * user set OPENBLAS_CORETYPE (their choice is never overridden). */
const char *dv_blas_advice(void);

/* OpenBLAS's name for the kernels this process runs, e.g. "SkylakeX". */
const char *dv_blas_core(void);

/* Whether `corename` is one of OpenBLAS's AVX-512 kernel sets (SkylakeX,
 * Cooperlake, SapphireRapids); 0 for any other, unknown ones included. */
int dv_blas_core_is_avx512(const char *corename);

#endif
