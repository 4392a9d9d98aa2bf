#define _GNU_SOURCE
#include "base/ctx.h"

#include <cblas.h>
#include <sched.h>
#include <unistd.h>

int dv_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void dv_ctx_apply(const dv_ctx *ctx)
{
    int n = ctx && ctx->n_threads > 0 && !ctx->pool ? ctx->n_threads : 1;
    if (openblas_get_num_threads() != n)
        openblas_set_num_threads(n);
}

dv_gemm dv_ctx_gemm(const dv_ctx *ctx)
{
    return ctx ? ctx->gemm : DV_GEMM_BLAS;
}

dv_ctx dv_ctx_with_gemm(const dv_ctx *ctx, dv_gemm g)
{
    dv_ctx c = ctx ? *ctx : (dv_ctx){ .n_threads = 1 };
    c.gemm = g;
    return c;
}
