/* A tensor is a typed, shaped view of bytes (usually inside a memory-mapped
 * checkpoint). Kernels take these views; nothing here owns memory. */
#ifndef DV_TENSOR_H
#define DV_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum dv_dtype {
    DV_F32,
    DV_F16,
    DV_BF16,
    DV_F64,
    DV_I64,
    DV_I32,
    DV_I16,
    DV_I8,
    DV_U8,
    DV_BOOL,
    DV_DTYPE_COUNT
} dv_dtype;

#define DV_MAX_DIMS 6

typedef struct dv_tensor {
    const char *name;
    dv_dtype dtype;
    int ndim;
    int64_t shape[DV_MAX_DIMS];
    const void *data;
    size_t nbytes;
} dv_tensor;

size_t dv_dtype_size(dv_dtype t);
const char *dv_dtype_name(dv_dtype t);       /* safetensors spelling: "F32", "BF16" ... */
int dv_dtype_from_name(const char *s, dv_dtype *out); /* 0 ok, -1 unknown */
int64_t dv_tensor_numel(const dv_tensor *t);
/* "[576, 1024]" into buf. */
const char *dv_shape_str(const int64_t *shape, int ndim, char *buf, size_t len);

static inline float dv_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}
float dv_f16_to_f32(uint16_t h);
uint16_t dv_f32_to_bf16(float f);  /* round to nearest even */
uint16_t dv_f32_to_f16(float f);   /* round to nearest even */

/* Widens n elements of a float tensor (F32/F16/BF16) starting at element
 * offset into dst. */
void dv_widen(const dv_tensor *t, size_t offset, size_t n, float *dst);

#endif
