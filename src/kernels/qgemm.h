/* Many-row products of block-quantized weights (q8, q4) as integer products:
 * the activation rows are quantized to q8 blocks (as the one-token products
 * of kernels/quant.h do), and each 32-element block of a weight row and an
 * activation row gives one integer dot product, scaled by the two blocks'
 * scales. With AVX-512 VNNI (vpdpbusd: 64 byte products summed by fours in
 * one instruction) this multiplies four times as many pairs per instruction
 * as an f32 FMA.
 *
 * Weights are repacked per group of DV_QG_NR rows, block by block, into the
 * layout the kernel reads (4 consecutive bytes of 16 rows per vector), per
 * product in the caller's scratch or once at load (dv_linear_prepack).
 * q8: the activations enter offset by 128 (vpdpbusd takes one unsigned
 * operand); the panel carries -128 times each block's weight sum to take
 * the offset out. q4: the panel keeps the stored nibbles (its bytes are the
 * q4 rows' bytes, transposed), which enter as the unsigned operand against
 * the signed activations; each activation block's -8 * sum starts the sums
 * (the nibbles are stored as q + 8). The math is exactly dv_qdot's: the
 * forms agree up to float summation order, and the integer sums are the
 * same in every form, so the two formats' floats follow the same steps. */
#ifndef DV_QGEMM_H
#define DV_QGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/quant.h"

/* Weight rows per repacked group: two 16-lane vectors. */
#define DV_QG_NR 32

/* Activations quantized for dv_qgemm: row t's block b is q[t * nb * 32 +
 * b * 32 ...] (offset by 128) with scale d[t * nb + b]; for q4 weights
 * also qs, the same values unoffset (signed), and s8[t * nb + b], -8 times
 * the block's sum (NULL where no q4 weight takes them). */
typedef struct dv_qg_act {
    uint8_t *q;
    float *d;
    int8_t *qs;
    int32_t *s8;
    int n, nb;
} dv_qg_act;

/* Allocates a for n rows of `in` values (with q4's fields when q4);
 * DOCVL_ENOMEM, a left empty, without the memory. */
int dv_qg_act_alloc(dv_qg_act *a, int n, int in, int q4);
void dv_qg_act_free(dv_qg_act *a);

/* Quantizes rows [lo, hi) of x [n, in] into a (q4's fields too where a
 * has them). */
void dv_qg_quantize_rows(const float *x, int in, int lo, int hi, const dv_qg_act *a);

/* Bytes of one repacked group of `in`-wide rows of format f (q4: the bytes
 * of DV_QG_NR q4 rows). */
size_t dv_qg_panel_bytes(dv_qfmt f, int in);

/* Repacks weight rows [r0, r0 + rows) (rows <= DV_QG_NR; the rest of the group
 * is zero) of w ([*, in] quantized rows of format f) into panel; level as
 * for dv_qgemm_group (the forms write the same bytes). */
void dv_qg_pack(dv_qfmt f, const void *w, int in, int r0, int rows, void *panel, int level);

/* y[t, c0 + j] = sum over blocks of the group's row j and activation row t,
 * for j < cols (<= DV_QG_NR), every t < a->n; y has row stride ldy; panel
 * packed from format f (q4 needs a's q4 fields).
 * level: 0 the scalar form, 2 AVX-512 VNNI (only up to dv_cpu_qgemm_level()). */
void dv_qgemm_group(dv_qfmt f, const void *panel, const dv_qg_act *a, float *y, size_t ldy,
                    int cols, int level);

#endif
