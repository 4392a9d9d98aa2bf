/* One .safetensors file, memory-mapped and validated before anything trusts
 * it: header length inside the file, valid JSON, known dtypes, shape x dtype
 * size == byte span, spans inside the data area and not overlapping. */
#ifndef DV_SAFETENSORS_H
#define DV_SAFETENSORS_H

#include "base/error.h"
#include "kernels/tensor.h"

#define DV_ST_MAX_HEADER (100u << 20)   /* 100 MiB of header JSON */
#define DV_ST_MAX_TENSORS 200000

typedef struct dv_safetensors {
    char *path;
    void *map;          /* whole file, read-only */
    size_t size;
    int n;
    dv_tensor *tensors; /* names point into owned strings */
} dv_safetensors;

int dv_safetensors_open(const char *path, dv_safetensors **out, dv_err *e);

/* Same validation on bytes already in memory (not copied: must outlive st).
 * Used by the fuzzer and by tests. */
int dv_safetensors_parse(const void *bytes, size_t size, const char *what, dv_safetensors **out,
                         dv_err *e);

void dv_safetensors_close(dv_safetensors *st);

const dv_tensor *dv_safetensors_find(const dv_safetensors *st, const char *name);

#endif
