/* What this CPU runs, read once at run time: the kernels are compiled for
 * several instruction sets per function and pick a form by these. */
#ifndef DV_CPU_H
#define DV_CPU_H

/* Whether this CPU runs the AVX2+FMA kernels (checked at run time). */
int dv_cpu_has_avx2_fma(void);

/* The best form of dv_qdot this CPU runs: 0 scalar, 1 AVX2+FMA, 2 AVX-VNNI,
 * 3 AVX-512 VNNI as well (dv_qdot_sums_rows: two blocks per instruction). */
int dv_cpu_qdot_level(void);
/* The best form of the integer many-row products (kernels/qgemm.h) this CPU
 * runs: 0 none (quantized weights' many-row products widen f32 panels for
 * sgemm), 2 AVX-512 VNNI. DOCVL_KERNELS=f32 in the environment (read once)
 * gives 0 whatever the CPU: the f32 products, for comparisons. */
int dv_cpu_qgemm_level(void);
/* The best form of the bf16 many-row products (kernels/bgemm.h) this CPU
 * runs: 0 none (bf16 weights' many-row products widen f32 panels for
 * sgemm), 2 AVX-512 BF16. DOCVL_KERNELS=f32 gives 0, as above. */
int dv_cpu_bgemm_level(void);
/* The widest form of the elementwise kernels (kernels/vmath.h, vnorm.h,
 * the optimizer's AdamW) this CPU runs: 0 scalar, 1 AVX2+FMA, 2 AVX-512 as
 * well. DOCVL_KERNELS=scalar in the environment (read once) gives 0 whatever
 * the CPU: the forms a CPU without AVX2 runs, checked on one that has it. */
int dv_cpu_vec_level(void);
/* Whether this CPU converts halves in hardware (F16C, with AVX2+FMA). */
int dv_cpu_has_f16c(void);
/* Whether this CPU runs AVX-512 F, BW, VL, DQ and CD (Skylake-SP and later). */
int dv_cpu_has_avx512(void);
/* Whether it also runs the AVX-512 bf16 instructions (Cooper Lake and later). */
int dv_cpu_has_avx512_bf16(void);

#endif
