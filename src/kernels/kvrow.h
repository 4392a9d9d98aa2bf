/* Kernels over KV-cache rows for the few-query (decoding) attention: rows
 * are f16 halves or floats; each kernel has a scalar form and an AVX2+F16C
 * one (simd: only where dv_cpu_has_f16c()). */
#ifndef DV_KVROW_H
#define DV_KVROW_H

#include <stddef.h>
#include <stdint.h>

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
/* The same for `heads` consecutive heads of one query row in one pass over
 * the rows (each row's heads side by side in the cache): head t of q (hd
 * floats each, consecutive) against the cache's head t / group (rows points
 * at the first), scores s[t * lds + j]; the weighted sum takes p[t * ldp +
 * j] and writes out[t * hd ...]. Each float is what dv_rows_dot and
 * dv_rows_weighted_sum give for that head, bit for bit; the rows are read
 * front to back once instead of a head's slice of every row per head. */
void dv_rows_dot_heads(const void *rows, int f16, size_t stride, int nk, int heads, int group,
                       const float *q, int hd, float scale, float *s, size_t lds, int simd);
void dv_rows_weighted_sum_heads(const void *rows, int f16, size_t stride, int nk, int heads,
                                int group, const float *p, size_t ldp, int hd, float *out,
                                int simd);
/* Rows to and from f16 (round to nearest even), F16C where the CPU has it. */
void dv_f32_to_f16_row(const float *x, uint16_t *h, int n);
void dv_f16_to_f32_row(const uint16_t *h, float *x, int n);
/* Float dot product and y += a * x (the few-query attention). */
float dv_f32_dot(const float *a, const float *b, int n, int simd);
void dv_f32_axpy(float *y, float a, const float *x, int n, int simd);

#endif
