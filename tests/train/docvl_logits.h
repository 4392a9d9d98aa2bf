/* docvl's own inference of a saved model directory, for the trainer's tests
 * that check a checkpoint reads in docvl as it trained. */
#ifndef DV_TEST_DOCVL_LOGITS_H
#define DV_TEST_DOCVL_LOGITS_H

#include <glib.h>
#include <string.h>

#include "model/model.h"
#include "text/prompt.h"

/* docvl's own forward: vision path, spliced embeddings, prefill logits. */
static inline float *docvl_logits(const char *dir, const float *pixels, const int32_t *ids, int n,
                           int32_t image_id)
{
    dv_model *dm;
    dv_model_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.widen = 1;
    dv_err e = { 0 };
    int rc = dv_model_load(dir, &opts, &dm, &e);
    if (rc)
        g_test_message("%s", e.msg);
    g_assert_cmpint(rc, ==, 0);
    const dv_lm_cfg *c = &dm->cfg.lm;
    int nt = dv_vision_tokens(dm->vision);
    float *img = g_new(float, (size_t)nt * c->hidden), *emb = g_new(float, (size_t)n * c->hidden);
    float *logits = g_new(float, (size_t)n * c->vocab);
    dv_ctx ctx = { .n_threads = 1 };
    g_assert_cmpint(dv_vision_forward(dm->vision, pixels, img, NULL, &ctx, &e), ==, 0);
    g_assert_cmpint(dv_llama_embed(dm->llama, ids, n, emb, &e), ==, 0);
    const float *imgs[1] = { img };
    g_assert_cmpint(dv_prompt_splice_images(ids, (size_t)n, image_id, imgs, 1, nt, c->hidden, emb,
                                            &e), ==, 0);
    dv_llama_state *st;
    g_assert_cmpint(dv_llama_state_new(dm->llama, n, &st, &e), ==, 0);
    g_assert_cmpint(dv_llama_forward(dm->llama, st, emb, n, logits, 1, NULL, &ctx, &e), ==, 0);
    dv_llama_state_free(st);
    dv_model_free(dm);
    g_free(img);
    g_free(emb);
    return logits;
}

#endif
