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
 * Every kernel has a scalar form and an AVX2+FMA form chosen at run time; the
 * two agree up to float summation order. */
#ifndef DV_QUANT_H
#define DV_QUANT_H

#include <stddef.h>
#include <stdint.h>

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

/* Whether this CPU runs the AVX2+FMA kernels (checked at run time). */
int dv_cpu_has_avx2_fma(void);

/* The best form of dv_qdot this CPU runs: 0 scalar, 1 AVX2+FMA, 2 AVX-VNNI. */
int dv_cpu_qdot_level(void);

/* Dot product of one quantized weight row with a q8-quantized activation row
 * of the same `in`; simd selects the form: 0 scalar, 1 AVX2, 2 AVX-VNNI (only
 * up to dv_cpu_qdot_level()). */
float dv_qdot(dv_qfmt f, const void *w, const dv_q8_block *x, int in, int simd);
/* The same with the activation's q4 offsets (dv_q4_offsets) counted once
 * per row by the caller: the q4 SIMD kernels need them (q8 and the scalar
 * forms ignore them, NULL allowed there). */
float dv_qdot_sums(dv_qfmt f, const void *w, const dv_q8_block *x, const int32_t *off, int in,
                   int simd);
/* off[8 b + l] = -8 * (sum of block b's 4 values in 4-byte lane l): where a
 * q4 block's integer sums start, so unsigned nibbles give sum (u - 8) x.
 * off holds 8 * nb values. */
void dv_q4_offsets(const dv_q8_block *x, int nb, int32_t *off);
/* Dot product of a BF16 row with a float row. */
float dv_bf16_dot(const uint16_t *w, const float *x, int n, int simd);
/* The q8 quantizer in the form selected by simd (for tests; dv_quantize_row
 * picks the fastest the CPU runs; both give identical blocks). */
void dv_quantize_row_q8_simd(const float *x, int in, dv_q8_block *dst, int simd);
/* Whether this CPU converts halves in hardware (F16C, with AVX2+FMA). */
int dv_cpu_has_f16c(void);
/* The few-query attention over an f16 KV cache: dot of an f16 row with a
 * float row, y += a * x for an f16 x; simd selects the F16C form (only where
 * dv_cpu_has_f16c()). */
float dv_f16_dot(const uint16_t *a, const float *b, int n, int simd);
void dv_f16_axpy(float *y, float a, const uint16_t *x, int n, int simd);
/* The few-query attention over nk cached rows (f16 halves or floats, rows
 * `stride` elements apart): s[j] = scale * (row j . q), and
 * out = sum_j p[j] * row j (out overwritten). simd selects the AVX2+F16C
 * form (only where dv_cpu_has_f16c()). */
void dv_rows_dot(const void *rows, int f16, size_t stride, int nk, const float *q, int hd,
                 float scale, float *s, int simd);
void dv_rows_weighted_sum(const void *rows, int f16, size_t stride, int nk, const float *p, int hd,
                          float *out, int simd);
/* Rows to and from f16 (round to nearest even), F16C where the CPU has it. */
void dv_f32_to_f16_row(const float *x, uint16_t *h, int n);
void dv_f16_to_f32_row(const uint16_t *h, float *x, int n);
/* Float dot product and y += a * x (the few-query attention). */
float dv_f32_dot(const float *a, const float *b, int n, int simd);
void dv_f32_axpy(float *y, float a, const float *x, int n, int simd);

#endif
