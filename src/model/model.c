#include "model/model.h"

#include "kernels/cpu.h"
#include "model/schema.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Widening doubles the resident size of 16-bit weights; do it only when the
 * f32 copy stays well inside physical memory (the 1.3B: ~8 GB of 24). */
static int auto_widen(const dv_checkpoint *ck)
{
    size_t bytes16 = 0;
    for (int s = 0; s < ck->n_shards; s++)
        for (int i = 0; i < ck->shards[s]->n; i++) {
            const dv_tensor *t = &ck->shards[s]->tensors[i];
            if (t->dtype == DV_BF16 || t->dtype == DV_F16)
                bytes16 += t->nbytes;
        }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double phys = pages > 0 && page > 0 ? (double)pages * page : 8e9;
    return (double)bytes16 * 2.0 < phys * 0.45;
}

int dv_weights_from_name(const char *s, dv_weights *out)
{
    static const char *const names[] = { "auto", "f32", "bf16", "q8", "q4" };
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (dv_weights)i;
            return 0;
        }
    return -1;
}

const char *dv_weights_name(dv_weights w)
{
    static const char *const names[] = { "auto", "f32", "bf16", "q8", "q4" };
    return (unsigned)w < sizeof names / sizeof names[0] ? names[w] : "?";
}

/* Resolves AUTO and binds the towers and the decoder accordingly. */
static int bind_weights(dv_model *m, const dv_model_opts *opts, dv_err *e)
{
    dv_weights w = opts ? opts->weights : DV_WEIGHTS_AUTO;
    int widen = w == DV_WEIGHTS_F32;
    if (w == DV_WEIGHTS_AUTO) {
        widen = opts && opts->widen >= 0 ? opts->widen : auto_widen(m->ck);
        w = widen ? DV_WEIGHTS_F32 : DV_WEIGHTS_BF16;
    }
    m->widened = widen;
    m->weights = w;
    dv_lm_weights lw = { .widen = widen, .n_threads = opts ? opts->n_threads : 0,
                         .cache_dir = opts ? opts->cache_dir : NULL,
                         .cache_min_free = opts ? opts->cache_min_free : 0,
                         .cache_status = &m->weight_cache };
    if (w == DV_WEIGHTS_Q8 || w == DV_WEIGHTS_Q4) {
        lw.qfmt = w == DV_WEIGHTS_Q8 ? DV_Q8 : DV_Q4;
        lw.head_qfmt = DV_Q8; /* the logits decide every token: keep 8 bits there */
        lw.kv_f16 = 1;        /* the speed formats: halve the KV bytes each token reads too */
    }
    /* The towers are bound by sgemm, not memory: f32 copies made once beat
     * widening 16-bit panels for every tile (1.3B: 1.81 vs 1.98 s a tile) for
     * twice their size (+0.6 GB for the 1.3B, +0.8 GB for the 7B). An explicit
     * widen = 0 keeps them as stored. */
    int widen_towers = opts && opts->widen == 0 ? DV_TOWERS_STORED : DV_TOWERS_F32;
    /* The speed formats trade accuracy already (decoding quantizes every
     * activation row): where the CPU has the int8 kernel, the towers' products
     * run on it too, at ~3x the f32 rate; without it, q8 panels would be
     * slower than the f32 copies. */
    if ((w == DV_WEIGHTS_Q8 || w == DV_WEIGHTS_Q4) && dv_cpu_qgemm_level() >= 2)
        widen_towers = DV_TOWERS_Q8;
    /* Asked for bf16 (not AUTO's fallback to it): where the CPU has AVX-512
     * BF16, the decoder's prefill and the towers' BF16 matrices run bf16
     * products (activations rounded to bf16, ~4x the f32 rate; docs/weights.md),
     * the towers held bf16 instead of f32 copies. docvl-golden binds its own
     * exact decoder and towers. */
    if (opts && opts->weights == DV_WEIGHTS_BF16 && dv_cpu_bgemm_level() >= 2) {
        lw.bf16_products = 1;
        widen_towers = DV_TOWERS_BF16;
        lw.kv_f16 = 1;   /* a speed format too: its KV in f16 as q8's and q4's */
    }
    int rc = dv_vision_bind(&m->cfg, m->ck, widen_towers, &m->vision, e);
    return rc ? rc : dv_llama_bind_ex(&m->cfg, m->ck, &lw, &m->llama, e);
}

int dv_model_load(const char *dir, const dv_model_opts *opts, dv_model **out, dv_err *e)
{
    *out = NULL;
    dv_model *m = calloc(1, sizeof *m);
    if (!m)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory");
    int rc;
    m->dir = strdup(dir);
    /* Validate every tensor before binding anything: one clear message about
     * the first bad tensor beats a failure halfway through the towers. */
    if ((rc = dv_config_load(dir, &m->cfg, e)) || (rc = dv_checkpoint_open(dir, &m->ck, e)) ||
        (rc = dv_model_validate(&m->cfg, m->ck, e)))
        goto fail;
    if ((rc = bind_weights(m, opts, e)))
        goto fail;
    char *tok = g_build_filename(dir, "tokenizer.json", NULL);
    rc = dv_tokenizer_open(tok, &m->tok, e);
    g_free(tok);
    if (rc)
        goto fail;
    if (dv_tokenizer_vocab_size(m->tok) > m->cfg.lm.vocab) {
        rc = dv_fail(e, DOCVL_EMODEL, "%s: tokenizer has %d ids but the model's vocab_size is %d",
                     dir, dv_tokenizer_vocab_size(m->tok), m->cfg.lm.vocab);
        goto fail;
    }
    *out = m;
    return DOCVL_OK;
fail:
    dv_model_free(m);
    return rc;
}

void dv_model_free(dv_model *m)
{
    if (!m)
        return;
    dv_tokenizer_free(m->tok);
    dv_llama_free(m->llama);
    dv_vision_free(m->vision);
    dv_checkpoint_close(m->ck);
    dv_qcache_status_free(&m->weight_cache);
    free(m->dir);
    free(m);
}
