/* The machine's low-precision limits beside sgemm: the peak rate of the
 * AVX-512 int8 (vpdpbusd) and bf16 (vdpbf16ps) dot-product instructions, and
 * what docvl's integer product reaches on a prefill-shaped product. */
#ifndef DV_BENCH_LOWP_H
#define DV_BENCH_LOWP_H

/* Multiply-adds counted as 2 ops. 0 where the CPU lacks the instructions. */
double bench_int8_peak_gops(int threads);
double bench_bf16_peak_gflops(int threads);
/* dv_linear_forward of 512 rows through a 2048 x 2048 q8 weight on a pool
 * of `threads`, best of 3 (the integer kernel where the CPU runs it, else
 * f32 panels and sgemm). */
double bench_q8_product_gops(int threads);

#endif
