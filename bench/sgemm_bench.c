/* docvl-sgemm-bench: docvl's own AVX-512 product (kernels/sgemm512.h)
 * beside cblas_sgemm on the trainer's shapes (the built-in model's, as a
 * one-thread step runs them: substacks of 64-256 rows) and inference's
 * (the 1.3B's prefill, towers and aligner), one thread, best of several
 * repeats. Run it twice to compare OpenBLAS's kernels:
 * OPENBLAS_CORETYPE=Haswell (AVX2) and without it (its AVX-512 ones). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/blascore.h"
#include "kernels/cpu.h"
#include "kernels/sgemm512.h"
#include "machine.h"

typedef struct shape {
    int ta, tb, m, n, k;
    const char *what;
} shape;

static const shape shapes[] = {
    { 0, 1, 64, 384, 128, "tower qkv fwd" },
    { 0, 1, 64, 512, 128, "tower fc1 fwd" },
    { 0, 1, 64, 128, 512, "tower fc2 fwd" },
    { 0, 0, 64, 512, 128, "tower fc2 dx" },
    { 0, 0, 64, 128, 512, "tower fc1 dx" },
    { 1, 0, 512, 128, 64, "tower fc1 dW" },
    { 1, 0, 128, 512, 64, "tower fc2 dW" },
    { 0, 1, 188, 1024, 128, "llm gate|up fwd" },
    { 0, 1, 188, 128, 512, "llm down fwd" },
    { 0, 1, 188, 384, 128, "llm qkv fwd" },
    { 0, 1, 188, 259, 128, "llm head fwd" },
    { 0, 0, 188, 128, 1024, "llm gate|up dx" },
    { 1, 0, 1024, 128, 188, "llm gate|up dW" },
    { 1, 0, 259, 128, 188, "llm head dW" },
    { 0, 0, 64, 64, 64, "attention p v" },
    { 0, 1, 64, 64, 64, "attention q k" },
    { 1, 0, 64, 64, 64, "attention dv" },
    /* inference: the 1.3B's chunks (kernels/linear.c: 512 output rows, or
     * fewer where a widened panel would pass 8 MiB) and prefill's and the
     * towers' attention blocks (kernels/attention.c: 256 queries, 1024
     * keys; SAM's 14 x 14 windows) */
    { 0, 1, 512, 512, 2048, "prefill q|gate" },
    { 0, 1, 512, 256, 5504, "prefill down" },
    { 0, 1, 576, 512, 1024, "siglip qkv|fc1" },
    { 0, 1, 576, 512, 4096, "siglip fc2" },
    { 0, 1, 576, 512, 2048, "aligner layer" },
    { 0, 1, 4096, 512, 768, "sam qkv" },
    { 0, 1, 256, 1024, 128, "prefill q k" },
    { 0, 0, 256, 128, 1024, "prefill p v" },
    { 0, 1, 256, 576, 64, "siglip q k" },
    { 0, 0, 256, 64, 576, "siglip p v" },
    { 0, 1, 196, 196, 64, "sam window q k" },
    { 0, 1, 1024, 1024, 4096, "the probe" },
};

typedef void (*gemm_fn)(const shape *s, const float *a, const float *b, float *c);

static void run_blas(const shape *s, const float *a, const float *b, float *c)
{
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                s->tb ? CblasTrans : CblasNoTrans, s->m, s->n, s->k, 1.0f, a,
                s->ta ? s->m : s->k, b, s->tb ? s->k : s->n, 0.0f, c, s->n);
}

static void run_own(const shape *s, const float *a, const float *b, float *c)
{
    dv_sgemm(DV_GEMM_OWN, s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, s->ta ? s->m : s->k, b,
             s->tb ? s->k : s->n, 0.0f, c, s->n);
}

/* GFLOP/s of `reps` calls of fn. */
static double rate(gemm_fn fn, const shape *s, const float *a, const float *b, float *c, int reps)
{
    double t0 = bench_now();
    for (int r = 0; r < reps; r++)
        fn(s, a, b, c);
    return 2.0 * s->m * s->n * s->k * reps / (bench_now() - t0) / 1e9;
}

/* Both products' GFLOP/s, best of 7 timings of about 20 ms each, the two
 * alternating so that a change in the machine's load hits both. */
static void both(const shape *s, const float *a, const float *b, float *c, double *blas,
                 double *own)
{
    int reps = (int)(2e-2 * 50e9 / (2.0 * s->m * s->n * s->k)) + 1;
    *blas = *own = 0;
    run_blas(s, a, b, c);
    run_own(s, a, b, c);
    for (int t = 0; t < 7; t++) {
        double gb = rate(run_blas, s, a, b, c, reps), go = rate(run_own, s, a, b, c, reps);
        *blas = gb > *blas ? gb : *blas;
        *own = go > *own ? go : *own;
    }
}

int main(void)
{
    openblas_set_num_threads(1);
    if (!dv_cpu_has_avx512()) {
        printf("docvl's own product does not run here (no AVX-512 F)\n");
        return 0;
    }
    printf("OpenBLAS core %s (the trainer would run %s); one thread; GFLOP/s, best of 7 "
           "alternated timings\n", dv_blas_core(), dv_gemm_name(dv_gemm_choose()));
    printf("%-16s %2s %5s %5s %5s %9s %9s %6s\n", "product", "op", "m", "n", "k", "openblas",
           "docvl", "ratio");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        float *a = bench_random_floats((size_t)s->m * s->k, 1);
        float *b = bench_random_floats((size_t)s->k * s->n, 2);
        float *c = calloc((size_t)s->m * s->n, sizeof *c);
        if (!a || !b || !c) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        double gb, go;
        both(s, a, b, c, &gb, &go);
        printf("%-16s %c%c %5d %5d %5d %9.1f %9.1f %6.2f\n", s->what, "NT"[s->ta], "NT"[s->tb],
               s->m, s->n, s->k, gb, go, go / gb);
        free(a), free(b), free(c);
    }
    return 0;
}
