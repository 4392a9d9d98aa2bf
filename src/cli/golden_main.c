/* docvl-golden CASE_DIR...: runs every stage a golden case holds and compares
 * it with the reference. Exit 0: all within tolerance; 1: a mismatch;
 * 2: usage; 4: a model or I/O error stopped a case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/golden.h"
#include "kernels/pool.h"
#include "model/model.h"

enum { EXIT_MISMATCH = 1, EXIT_USAGE = 2, EXIT_MODEL = 4 };

typedef struct options {
    int threads;
    int vision_only;
    dv_weights weights;
    int bf16_products;
    int first_dir;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: docvl-golden [-t THREADS] [--vision-only] [--weights f32|bf16|q8|q4]\n"
               "                    [--bf16-products] CASE_DIR...\n"
               "Compares docvl's stages with the reference tensors of each golden case.\n"
               "--weights holds the decoder's matrices that way (default: as stored);\n"
               "q8/q4 measure the cost of quantizing and are not expected to pass.\n"
               "--bf16-products runs the many-row products of BF16 matrices (prefill, towers)\n"
               "as bf16 products with rounded activations, as docvl --weights bf16 does on\n"
               "AVX-512 BF16: measures their error, not expected to pass (default: exact).\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){ .threads = 1 };
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--vision-only") == 0) {
            o->vision_only = 1;
        } else if (strcmp(argv[i], "--bf16-products") == 0) {
            o->bf16_products = 1;
        } else if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) {
            if (dv_weights_from_name(argv[++i], &o->weights))
                return -1;
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 1024)
                return -1;
            o->threads = (int)t;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            exit(0);
        } else {
            return -1;
        }
    }
    o->first_dir = i;
    return i < argc ? 0 : -1;
}

/* The language stages (golden_language.c) unless --vision-only. */
static int run_language(golden_case *gc, const float *aligner_out, const options *o,
                        const dv_ctx *ctx, dv_err *e)
{
    if (!o->vision_only)
        return golden_run_language(gc, aligner_out, ctx, e);
    return DOCVL_OK;
}

/* One case: 0 ok, EXIT_MISMATCH or EXIT_MODEL. */
static int run_case(const char *dir, const options *o)
{
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = o->threads };
    golden_case gc;
    printf("%s\n", dir);
    int rc = golden_open(dir, &gc, &e);
    gc.weights = (int)o->weights;
    gc.bf16_products = o->bf16_products;
    /* the bf16 products run on a pool's threads only */
    if (!rc && o->bf16_products)
        rc = dv_pool_new(o->threads, &ctx.pool, &e);
    float *aligner_out = NULL;
    if (!rc)
        rc = golden_run_vision(&gc, &aligner_out, &ctx, &e);
    if (!rc)
        rc = run_language(&gc, aligner_out, o, &ctx, &e);
    free(aligner_out);
    dv_pool_free(ctx.pool);
    int status = rc ? EXIT_MODEL : gc.failures ? EXIT_MISMATCH : 0;
    if (rc)
        fprintf(stderr, "docvl-golden: %s: %s\n", dir, e.msg);
    else
        printf("  %d stage(s) compared, %d out of tolerance: %s\n", gc.compared, gc.failures,
               gc.failures ? "FAIL" : "ok");
    golden_close(&gc);
    return status;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    int worst = 0;
    for (int i = o.first_dir; i < argc; i++) {
        int s = run_case(argv[i], &o);
        worst = s > worst ? s : worst;
    }
    return worst;
}
