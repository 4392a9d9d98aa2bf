#include "machine.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "kernels/sgemm512.h"

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double bench_peak_rss_gb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0 / 1e9;
}

double bench_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

float *bench_random_floats(size_t n, unsigned seed)
{
    float *x = malloc(n * sizeof *x);
    if (!x)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return x;
}

double bench_threads_wall(void *(*fn)(void *), void *args, size_t size, int threads)
{
    pthread_t th[64];
    double t0 = bench_now();
    for (int t = 0; t < threads; t++)
        pthread_create(&th[t], NULL, fn, (char *)args + (size_t)t * size);
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    return bench_now() - t0;
}

/* 1024 x 1024 x 4096: the shape class of the towers' and prefill products,
 * timed by `clock`. */
static double sgemm_rate(int threads, double (*clock)(void))
{
    const int m = 1024, n = 1024, k = 4096;
    float *a = bench_random_floats((size_t)m * k, 1), *b = bench_random_floats((size_t)k * n, 2);
    float *c = calloc((size_t)m * n, sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    openblas_set_num_threads(threads);
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = clock();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        double dt = clock() - t0;
        if (rep > 0 && dt < best)
            best = dt;
    }
    free(a), free(b), free(c);
    return 2.0 * m * n * k / best / 1e9;
}

double bench_sgemm_gflops(int threads)
{
    return sgemm_rate(threads, bench_now);
}

double bench_sgemm_gflops_cpu(void)
{
    return sgemm_rate(1, bench_cpu_seconds);
}

typedef struct own_arg {
    const float *a, *b;
    float *c;
    int rows;
} own_arg;

static void *own_rows(void *arg)
{
    own_arg *o = arg;
    dv_sgemm512(0, 1, o->rows, 1024, 4096, 1.0f, o->a, 4096, o->b, 4096, 0.0f, o->c, 1024);
    return NULL;
}

double bench_own_sgemm_gflops(int threads)
{
    const int m = 1024, n = 1024, k = 4096;
    if (threads < 1 || threads > 64 || dv_sgemm512(0, 0, 1, 1, 1, 1.0f, &(float){ 0 }, 1,
                                                   &(float){ 0 }, 1, 0.0f, &(float){ 0 }, 1))
        return 0;   /* no AVX-512 F */
    float *a = bench_random_floats((size_t)m * k, 1), *b = bench_random_floats((size_t)k * n, 2);
    float *c = calloc((size_t)m * n, sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    own_arg args[64];
    int per = (m + threads - 1) / threads;
    for (int t = 0; t < threads; t++) {
        int r0 = t * per < m ? t * per : m;
        args[t] = (own_arg){ a + (size_t)r0 * k, b, c + (size_t)r0 * n,
                             m - r0 < per ? m - r0 : per };
    }
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double dt = bench_threads_wall(own_rows, args, sizeof *args, threads);
        if (rep > 0 && dt < best)
            best = dt;
    }
    free(a), free(b), free(c);
    return 2.0 * m * n * k / best / 1e9;
}
