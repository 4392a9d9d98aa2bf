/* What both benches share: a clock, the peak RSS, made-up data and the
 * machine's sgemm limit, so their fractions are of the same figure. */
#ifndef DV_BENCH_MACHINE_H
#define DV_BENCH_MACHINE_H

#include <stddef.h>

int bench_cmp_double(const void *a, const void *b);
double bench_now(void);
double bench_peak_rss_gb(void);
/* CPU seconds this process has used, all threads: on a machine shared with
 * other work, time that the others take is not counted (time a thread of
 * ours spends waiting for another is not counted either). */
double bench_cpu_seconds(void);
/* n values in [-0.5, 0.5) from an LCG seeded by seed; NULL when out of memory. */
float *bench_random_floats(size_t n, unsigned seed);
/* Runs fn(args + t * size) on each of `threads` (<= 64) threads at once;
 * the wall time until the last one finished. */
double bench_threads_wall(void *(*fn)(void *), void *args, size_t size, int threads);
/* cblas_sgemm 1024 x 1024 x 4096 on `threads` OpenBLAS threads, best of 3. */
double bench_sgemm_gflops(int threads);
/* The same on one thread per CPU second (bench_cpu_seconds), not per
 * wall-clock second. */
double bench_sgemm_gflops_cpu(void);
/* docvl's own AVX-512 product (kernels/sgemm512.h) on the same shape as
 * bench_sgemm_gflops, its rows split over `threads` threads (<= 64; it
 * runs on one each), best of 3; 0 where AVX-512 F does not run. */
double bench_own_sgemm_gflops(int threads);

#endif
