/* What this CPU runs, read once at run time: the kernels are compiled for
 * several instruction sets per function and pick a form by these. */
#ifndef DV_CPU_H
#define DV_CPU_H

/* Whether this CPU runs the AVX2+FMA kernels (checked at run time). */
int dv_cpu_has_avx2_fma(void);

/* The best form of dv_qdot this CPU runs: 0 scalar, 1 AVX2+FMA, 2 AVX-VNNI. */
int dv_cpu_qdot_level(void);
/* Whether this CPU converts halves in hardware (F16C, with AVX2+FMA). */
int dv_cpu_has_f16c(void);
/* Whether this CPU runs AVX-512 F, BW, VL, DQ and CD (Skylake-SP and later). */
int dv_cpu_has_avx512(void);
/* Whether it also runs the AVX-512 bf16 instructions (Cooper Lake and later). */
int dv_cpu_has_avx512_bf16(void);

#endif
