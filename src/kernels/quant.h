/* Block-quantized weights for the decoder's one-token products.
 *
 * A row of `in` weights is cut into blocks of DV_QBLOCK; each block keeps one
 * f32 scale d and small integers q with w ~= d * q:
 *   q8: q in [-127, 127], d = max|w| / 127               (36 bytes / 32 weights)
 *   q4: q in [-8, 7], d = (the weight of largest magnitude) / -8, so that weight
 *       is exact and the other 15 levels spread over the rest  (20 bytes / 32)
 * A row's last block is zero-padded, so any `in` works. Products quantize the
 * activation row to q8 blocks too and accumulate integer dot products per
 * block: the weights are read once, as stored, which is what bounds decoding.
 * Every kernel has a scalar form and an AVX2+FMA form chosen at run time
 * (kernels/cpu.h); the two agree up to float summation order. */
#ifndef DV_QUANT_H
#define DV_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu.h"

#define DV_QBLOCK 32

typedef enum dv_qfmt { DV_QNONE = 0, DV_Q8, DV_Q4 } dv_qfmt;

typedef struct dv_q8_block {
    float d;
    int8_t q[DV_QBLOCK];
} dv_q8_block;

/* q[j] holds element j in its low nibble and element j + 16 in its high one,
 * stored as q + 8. */
typedef struct dv_q4_block {
    float d;
    uint8_t q[DV_QBLOCK / 2];
} dv_q4_block;

static inline int dv_qblocks(int in) { return (in + DV_QBLOCK - 1) / DV_QBLOCK; }
/* Bytes of one quantized row. */
size_t dv_qrow_bytes(dv_qfmt f, int in);
const char *dv_qfmt_name(dv_qfmt f);

/* One row of `in` floats into dst (dv_qrow_bytes(f, in) bytes). */
void dv_quantize_row(dv_qfmt f, const float *x, int in, void *dst);
/* One quantized row back to `in` floats. */
void dv_dequantize_row(dv_qfmt f, const void *src, int in, float *dst);


/* Dot product of one quantized weight row with a q8-quantized activation row
 * of the same `in`; simd selects the form: 0 scalar, 1 AVX2, 2 (or more)
 * AVX-VNNI (only up to dv_cpu_qdot_level()). */
float dv_qdot(dv_qfmt f, const void *w, const dv_q8_block *x, int in, int simd);
/* The same with the activation's q4 offsets (dv_q4_offsets) counted once
 * per row by the caller: the q4 SIMD kernels need them (q8 and the scalar
 * forms ignore them, NULL allowed there). */
float dv_qdot_sums(dv_qfmt f, const void *w, const dv_q8_block *x, const int32_t *off, int in,
                   int simd);
/* An activation row as the AVX-512 form of dv_qdot_sums_rows reads it
 * (dv_qx_bytes(in) bytes): its values in pairs of blocks, 64 contiguous
 * bytes, then each pair's two scales as 16 floats. */
size_t dv_qx_bytes(int in);
void dv_qx_prepare(const dv_q8_block *x, int in, void *aux);

/* The dot products of one weight row with n <= DV_QDOT_ROWS activation rows
 * x[t] (q4 offsets off[t], AVX-512 layout aux[t], may be NULL) into out[t],
 * each the float the AVX-VNNI form of dv_qdot_sums gives that row alone, bit
 * for bit: the weight blocks are loaded once for all rows. simd 3 (with aux):
 * AVX-512 VNNI, two blocks per instruction. */
#define DV_QDOT_ROWS 4
void dv_qdot_sums_rows(dv_qfmt f, const void *w, const dv_q8_block *const *x,
                       const int32_t *const *off, const void *const *aux, int n, int in,
                       int simd, float *out);
/* off[8 b + l] = -8 * (sum of block b's 4 values in 4-byte lane l): where a
 * q4 block's integer sums start, so unsigned nibbles give sum (u - 8) x.
 * off holds 8 * nb values. */
void dv_q4_offsets(const dv_q8_block *x, int nb, int32_t *off);
/* Dot product of a BF16 row with a float row. */
float dv_bf16_dot(const uint16_t *w, const float *x, int n, int simd);
/* The q8 quantizer in the form selected by simd (for tests; dv_quantize_row
 * picks the fastest the CPU runs; both give identical blocks). */
void dv_quantize_row_q8_simd(const float *x, int in, dv_q8_block *dst, int simd);

#endif
