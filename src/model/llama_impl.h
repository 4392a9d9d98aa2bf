/* The decoder's bound weights, shared by llama_load.c (binding, quantizing,
 * the weight cache) and llama.c (state, forward pass). */
#ifndef DV_LLAMA_IMPL_H
#define DV_LLAMA_IMPL_H

#include "kernels/linear.h"
#include "model/llama.h"
#include "weights/qcache.h"

typedef struct llama_layer {
    float *attn_norm, *mlp_norm;
    dv_linear q, k, v, o, gate, up, down;
} llama_layer;

struct dv_llama {
    dv_lm_cfg cfg;
    const dv_tensor *embed;   /* [vocab, hidden], rows widened on lookup */
    llama_layer *layers;
    float *final_norm;
    dv_linear lm_head;
    int kv_f16;               /* states cache keys and values as f16 */
    dv_qcache *qcache;        /* the weight cache the quantized rows map, or NULL */
    float *rope_cos, *rope_sin;   /* [max_pos, head_dim / 2], or NULL: computed per chunk */
    dv_gemm gemm;             /* the fp32 product its passes run (dv_gemm_choose at bind) */
};

/* The RoPE tables of every position of the context, made once (a line
 * model prefills a few dozen tokens per segment, hundreds of segments a
 * page: their sines and cosines were 1.5% of a page's CPU with N1). No memory
 * for them (or a context too long) leaves them NULL. */
void dv_llama_rope_init(dv_llama *m);

#endif
