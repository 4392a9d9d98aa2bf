#include "model/model.h"

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
    int widen = opts && opts->widen >= 0 ? opts->widen : auto_widen(m->ck);
    m->widened = widen;
    if ((rc = dv_vision_bind(&m->cfg, m->ck, widen, &m->vision, e)) ||
        (rc = dv_llama_bind(&m->cfg, m->ck, widen, &m->llama, e)))
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
    free(m->dir);
    free(m);
}
