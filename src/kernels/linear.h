/* y = x W^T + b for a PyTorch-layout weight W [out, in]. F32 weights go
 * straight to cblas_sgemm from the mapped file; 16-bit weights stay 16-bit in
 * memory and are widened panel by panel right before each sgemm. */
#ifndef DV_LINEAR_H
#define DV_LINEAR_H

#include "base/ctx.h"
#include "base/error.h"
#include "kernels/tensor.h"

typedef struct dv_linear {
    int in, out;
    dv_dtype dtype;     /* storage of w: F32, F16 or BF16 */
    const void *w;      /* [out, in] row-major */
    float *w_owned;     /* set when the weight was widened at bind time */
    float *b;           /* [out] f32 or NULL */
} dv_linear;

/* Binds weight w ([out, in], or [out, in...] flattened for convolutions) and
 * optional bias. widen: copy 16-bit weights to f32 now (faster, 2x memory). */
int dv_linear_bind(dv_linear *L, const dv_tensor *w, const dv_tensor *b, int widen, dv_err *e);
void dv_linear_free(dv_linear *L);

/* x [n, in] -> y [n, out]. y must not alias x. */
void dv_linear_forward(const dv_linear *L, const float *x, int n, float *y, const dv_ctx *ctx);

/* Copies a small tensor (norm weights, biases, embeddings rows) to f32. */
float *dv_tensor_to_f32(const dv_tensor *t, dv_err *e);

#endif
