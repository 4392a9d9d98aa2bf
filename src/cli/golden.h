/* docvl-golden: runs the stages a golden case directory holds (case.json +
 * goldens.safetensors + the model files) and compares each with the reference
 * under the case's tolerance rule |c - ref| <= atol + rtol*|ref|. */
#ifndef DV_GOLDEN_H
#define DV_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "base/ctx.h"
#include "base/error.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/safetensors.h"

typedef struct golden_case {
    char *dir;
    dv_safetensors *gold;       /* goldens.safetensors */
    void *case_parser;          /* JsonParser of case.json */
    void *case_obj;             /* JsonObject: root of case.json */
    dv_config cfg;
    dv_checkpoint *ck;
    int failures;               /* stages out of tolerance so far */
    int compared;               /* stages compared so far */
    int weights;                /* dv_weights for the decoder (--weights); 0 keeps them as stored */
    int bf16_products;          /* --bf16-products: BF16 matrices' many-row products as bf16
                                   products (kernels/bgemm.h), to measure their error; 0 exact */
} golden_case;

int golden_open(const char *dir, golden_case *gc, dv_err *e);
void golden_close(golden_case *gc);

/* The reference tensor, or NULL when the case does not hold this stage. */
const dv_tensor *golden_tensor(const golden_case *gc, const char *name);

/* Compares n floats with the reference `name` (absent stage: prints "skip",
 * returns 0). Prints one line: stage, max abs err, max rel err, worst
 * error / allowed, ok/FAIL. Counts a failure in gc. Returns 1 if compared. */
int golden_compare(golden_case *gc, const char *name, const float *got, size_t n);

/* Exact comparison of ids (input_ids, generated_ids; the latter over
 * generation.steps_safe_to_compare). Same printing and counting. */
int golden_compare_ids(golden_case *gc, const char *name, const int32_t *ids, size_t n);

/* golden_compare printing `label` instead of the reference's name (a stage
 * recomputed from golden inputs, to isolate it). */
int golden_compare_as(golden_case *gc, const char *name, const char *label, const float *got,
                      size_t n);

/* Exact comparison of bytes (pixel_values_u8). Same printing and counting. */
int golden_compare_u8(golden_case *gc, const char *name, const uint8_t *got, size_t n);

/* Stage runners; each returns DOCVL_OK or an error that stops the case. */
int golden_run_vision(golden_case *gc, float **aligner_out, const dv_ctx *ctx, dv_err *e);
int golden_run_language(golden_case *gc, const float *aligner_out, const dv_ctx *ctx, dv_err *e);

#endif
