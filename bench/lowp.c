#include "lowp.h"

#include <immintrin.h>
#include <stdlib.h>

#include "kernels/cpu.h"
#include "kernels/linear.h"
#include "kernels/pool.h"
#include "machine.h"

#define PEAK_ITERS 20000000L

typedef struct peak_arg { int kind; long long sink; } peak_arg;

/* Independent accumulators enough to cover the instructions' latency on two
 * ports: vpdpbusd peaks at 12 on this EPYC (Zen 5), vdpbf16ps only at 16
 * (12 read 8-10% under its peak). */
#define PEAK_CHAINS 16

__attribute__((target("avx512f,avx512vnni"))) static long long int8_loop(void)
{
    __m512i a[PEAK_CHAINS], x = _mm512_set1_epi8(3), w = _mm512_set1_epi8(5);
    for (int i = 0; i < PEAK_CHAINS; i++)
        a[i] = _mm512_set1_epi32(i);
    for (long it = 0; it < PEAK_ITERS; it++) {
        __asm__ volatile("" : "+v"(x));   /* keeps the loop from being folded */
#pragma GCC unroll 16
        for (int i = 0; i < PEAK_CHAINS; i++)
            a[i] = _mm512_dpbusd_epi32(a[i], x, w);
    }
    for (int i = 1; i < PEAK_CHAINS; i++)
        a[0] = _mm512_add_epi32(a[0], a[i]);
    return _mm512_reduce_add_epi32(a[0]);
}

__attribute__((target("avx512f,avx512bf16"))) static long long bf16_loop(void)
{
    __m512 a[PEAK_CHAINS];
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), w = x;
    for (int i = 0; i < PEAK_CHAINS; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < PEAK_ITERS; it++) {
        __asm__ volatile("" : "+v"(x));
#pragma GCC unroll 16
        for (int i = 0; i < PEAK_CHAINS; i++)
            a[i] = _mm512_dpbf16_ps(a[i], x, w);
    }
    for (int i = 1; i < PEAK_CHAINS; i++)
        a[0] = _mm512_add_ps(a[0], a[i]);
    return (long long)_mm512_reduce_add_ps(a[0]);
}

static void *peak_thread(void *arg)
{
    peak_arg *p = arg;
    p->sink = p->kind ? bf16_loop() : int8_loop();
    return NULL;
}

/* ops per instruction: 64 byte products or 32 bf16 products, 2 ops each */
static double peak(int kind, int threads, double ops_per_insn)
{
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        peak_arg args[64];
        for (int t = 0; t < threads; t++)
            args[t] = (peak_arg){ kind, 0 };
        double dt = bench_threads_wall(peak_thread, args, sizeof *args, threads);
        best = dt < best ? dt : best;
    }
    return (double)threads * PEAK_ITERS * PEAK_CHAINS * ops_per_insn / best / 1e9;
}

double bench_int8_peak_gops(int threads)
{
    return dv_cpu_qgemm_level() >= 2 ? peak(0, threads, 128) : 0;
}

double bench_bf16_peak_gflops(int threads)
{
    return dv_cpu_has_avx512_bf16() ? peak(1, threads, 64) : 0;
}

double bench_q8_product_gops(int threads)
{
    const int n = 512, out = 2048, in = 2048;
    float *w = bench_random_floats((size_t)out * in, 3), *x = bench_random_floats((size_t)n * in, 4);
    float *y = malloc((size_t)n * out * sizeof *y);
    dv_tensor tw = { .name = "w", .dtype = DV_F32, .ndim = 2, .shape = { out, in }, .data = w,
                     .nbytes = (size_t)out * in * sizeof(float) };
    dv_linear L;
    dv_pool *pool = NULL;
    dv_err e = { 0 };
    double best = 1e30;
    if (w && x && y && !dv_linear_bind(&L, &tw, NULL, 0, &e)) {
        if (!dv_pool_new(threads, &pool, &e) && !dv_linear_quantize(&L, DV_Q8, pool, &e)) {
            dv_ctx ctx = { .n_threads = threads, .pool = pool };
            for (int rep = 0; rep < 4; rep++) {
                double t0 = bench_now();
                dv_linear_forward(&L, x, n, y, &ctx);
                double dt = bench_now() - t0;
                if (rep > 0 && dt < best)
                    best = dt;
            }
        }
        dv_pool_free(pool);
        dv_linear_free(&L);
    }
    free(w), free(x), free(y);
    return best < 1e30 ? 2.0 * n * out * in / best / 1e9 : 0;
}
