/* Many-row products of bf16 weights as bf16 x bf16 -> f32 products: the
 * activation rows are rounded to bf16 (to nearest even) once per product,
 * and AVX-512 BF16's vdpbf16ps multiplies 32 bf16 pairs and adds them into
 * 16 f32 lanes in one instruction (each lane: acc + a0 b0 + a1 b1, the
 * products exact in f32): twice the multiply-adds of an f32 FMA per
 * instruction, and on this project's EPYC four times the f32 rate
 * (bench/README.md: vdpbf16ps ~830, sgemm ~200 GFLOP/s on 2 cores).
 *
 * Rounding the activations changes results (relative 2^-9 per element): the
 * weight format bf16 takes this product only where the model asks for it at
 * load (dv_linear_use_bf16); docvl-golden and the exact tests keep the f32
 * products (docs/weights.md).
 *
 * Weights are repacked per group of DV_BG_NR rows into pair-interleaved
 * panels: word p of row j (its elements 2p and 2p + 1, as one uint32) at
 * panel[p * DV_BG_NR + j], so one 64-byte load gives a pair of 16 rows. The
 * activations are packed in slivers of DV_BG_MR rows the same way: word p of
 * the sliver's row i at x[p * DV_BG_MR + i]. An odd width ends with a pair
 * whose second element is 0 on both sides. Each output element is one chain
 * of vdpbf16ps over the pairs in order, whatever the rows around it: a row's
 * floats do not depend on the other rows of the product nor on the threads. */
#ifndef DV_BGEMM_H
#define DV_BGEMM_H

#include <stddef.h>
#include <stdint.h>

/* Weight rows per repacked group: two 16-lane vectors. */
#define DV_BG_NR 32
/* Activation rows per sliver (the kernel's register tile: 12 x 2
 * accumulators of the 32 vector registers). */
#define DV_BG_MR 12

/* Pairs of a row `in` wide. */
static inline int dv_bg_pairs(int in) { return (in + 1) / 2; }

/* Activations rounded and packed for dv_bgemm: sliver s (rows
 * s * DV_BG_MR ...) at x + s * DV_BG_MR * k2; rows past n are 0. */
typedef struct dv_bg_act {
    uint32_t *x;
    int n, k2;
} dv_bg_act;

/* uint32 words an activation of n rows `in` wide needs (whole slivers). */
size_t dv_bg_act_words(int n, int in);

/* Rounds and packs slivers [s0, s1) of x [n, in] (rows past n as 0) into a
 * (a->n = n, a->k2 = dv_bg_pairs(in), a->x of dv_bg_act_words(n, in)).
 * level: 0 the scalar form, 2 AVX-512 (the forms write the same words). */
void dv_bg_round_slivers(const float *x, int in, int s0, int s1, const dv_bg_act *a, int level);

/* Bytes of one repacked group of `in`-wide rows. */
size_t dv_bg_panel_bytes(int in);

/* Repacks bf16 weight rows [r0, r0 + rows) (rows <= DV_BG_NR; the rest of
 * the group is 0) of w ([*, in] row-major) into panel; level as above (the
 * forms write the same bytes). */
void dv_bg_pack(const uint16_t *w, int in, int r0, int rows, void *panel, int level);

/* y[t, j] = sum over pairs of weight row j and activation row t, for j <
 * rows and every t < a->n, the weight rows in panels: ceil(rows / DV_BG_NR)
 * groups one after another from `panels` (dv_bg_pack's, the last group's
 * rows past `rows` 0). y has row stride ldy, columns past rows untouched.
 * level: 0 the scalar form (the tests' reference of the layout: the same
 * pairs, summed in f32 without vdpbf16ps's flushing of denormals), 2
 * AVX-512 BF16 (only up to dv_cpu_bgemm_level()). */
void dv_bgemm(const void *panels, int rows, const dv_bg_act *a, float *y, size_t ldy, int level);

/* Rounds one row of `in` floats to bf16 pairs (row[dv_bg_pairs(in)] words,
 * an odd width's last pair ending in 0), as dv_bg_round_slivers rounds. */
void dv_bg_round_row(const float *x, int in, uint32_t *row, int level);

/* A stored bf16 weight row w (`in` wide, row-major) dotted with an
 * activation row rounded by dv_bg_round_row: decoding's one-row products of
 * weights on the bf16 products (dv_linear_use_bf16). vdpbf16ps takes 64
 * bytes of weights per instruction where widening them to f32 took four:
 * one thread read 31 GB/s of bf16 rows this way against 25-27 widening
 * (its plain read 31), so decoding reads at the memory's rate. level: 0 the
 * scalar form (pairs summed in f32 in order), 2 AVX-512 BF16. */
float dv_bg_dot(const uint16_t *w, const uint32_t *x, int in, int level);

#endif
