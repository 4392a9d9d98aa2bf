/* docvl-golden, language stages: the case's sft_prompt through the tokenizer
 * and image expansion (input_ids), the spliced embeddings, the decoder's
 * prefill and every greedy decode step with the KV cache. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "cli/golden.h"
#include "kernels/cpu.h"
#include "model/llama.h"
#include "model/model.h"
#include "text/prompt.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

typedef struct lang_run {
    golden_case *gc;
    const dv_ctx *ctx;
    dv_err *e;
    dv_tokenizer *tok;
    dv_llama *m;
    dv_llama_state *s;
    int32_t *ids;
    size_t n;
    float *embeds, *logits, *layer0, *decode;
} lang_run;

/* Tokenizes sft_prompt and expands the image placeholders. */
static int build_ids(lang_run *r, int *n_images)
{
    golden_case *gc = r->gc;
    const char *prompt = NULL;
    if (dv_json_str(gc->case_obj, "sft_prompt", "case.json", &prompt, r->e) <= 0)
        return dv_fail(r->e, DOCVL_EFORMAT, "%s/case.json: no \"sft_prompt\" string", gc->dir);
    char *path = g_build_filename(gc->dir, "tokenizer.json", NULL);
    int rc = dv_tokenizer_open(path, &r->tok, r->e);
    g_free(path);
    if (rc)
        return rc;
    int32_t image_id = dv_tokenizer_token_id(r->tok, gc->cfg.proc.image_tag);
    if (image_id < 0)
        return dv_fail(r->e, DOCVL_EMODEL, "%s: the tokenizer has no token for the image tag \"%s\"",
                       gc->dir, gc->cfg.proc.image_tag);
    int32_t *raw;
    size_t n_raw;
    if ((rc = dv_tokenizer_encode(r->tok, prompt, strlen(prompt), gc->cfg.proc.add_bos, &raw, &n_raw,
                                  r->e)))
        return dv_wrap(r->e, "tokenizing the case's sft_prompt");
    rc = dv_prompt_expand_images(raw, n_raw, image_id, gc->cfg.proc.num_image_tokens, &r->ids, &r->n,
                                 n_images, r->e);
    free(raw);
    if (!rc)
        golden_compare_ids(gc, "input_ids", r->ids, r->n);
    return rc;
}

/* Token embeddings with every image's rows replaced by the aligner output
 * (the case has one image; each placeholder gets it). */
static int build_embeds(lang_run *r, const float *aligner_out, int n_images)
{
    const dv_lm_cfg *c = &r->gc->cfg.lm;
    int nt = r->gc->cfg.proc.num_image_tokens, rc;
    if (n_images > 0 && !aligner_out)
        return dv_fail(r->e, DOCVL_EFORMAT, "%s: the prompt has %d image(s) but there is no F32 "
                       "aligner_out to splice in", r->gc->dir, n_images);
    if (!(r->embeds = malloc(r->n * (size_t)c->hidden * sizeof *r->embeds)))
        return dv_fail(r->e, DOCVL_ENOMEM, "out of memory for %zu embeddings", r->n);
    if ((rc = dv_llama_embed(r->m, r->ids, (int)r->n, r->embeds, r->e)))
        return rc;
    const float **imgs = calloc((size_t)(n_images > 0 ? n_images : 1), sizeof *imgs);
    if (!imgs)
        return dv_fail(r->e, DOCVL_ENOMEM, "out of memory");
    for (int i = 0; i < n_images; i++)
        imgs[i] = aligner_out;
    int32_t image_id = dv_tokenizer_token_id(r->tok, r->gc->cfg.proc.image_tag);
    rc = dv_prompt_splice_images(r->ids, r->n, image_id, imgs, n_images, nt, c->hidden, r->embeds, r->e);
    free(imgs);
    if (!rc)
        golden_compare(r->gc, "inputs_embeds", r->embeds, r->n * (size_t)c->hidden);
    return rc;
}

static int prefill(lang_run *r, int steps)
{
    const dv_lm_cfg *c = &r->gc->cfg.lm;
    size_t T = r->n, H = (size_t)c->hidden, V = (size_t)c->vocab;
    int rc = dv_llama_state_new(r->m, (int)T + steps, &r->s, r->e);
    if (rc)
        return rc;
    r->logits = malloc(T * V * sizeof *r->logits);
    r->layer0 = malloc(T * H * sizeof *r->layer0);
    if (!r->logits || !r->layer0)
        return dv_fail(r->e, DOCVL_ENOMEM, "out of memory for %zu x %zu prefill logits", T, V);
    if ((rc = dv_llama_forward(r->m, r->s, r->embeds, (int)T, r->logits, 1, r->layer0, r->ctx, r->e)))
        return rc;
    golden_compare(r->gc, "lm_layer0_out", r->layer0, T * H);
    golden_compare(r->gc, "logits_prefill", r->logits, T * V);
    golden_compare(r->gc, "logits_last", r->logits + (T - 1) * V, V);
    return DOCVL_OK;
}

/* Greedy steps: row i of decode_logits chose generated_ids[i]. The golden
 * id is fed back when there is one, so a near-tie past
 * steps_safe_to_compare cannot shift the contexts of the later rows. */
static int decode(lang_run *r, const int32_t *golden_ids, int steps)
{
    const dv_lm_cfg *c = &r->gc->cfg.lm;
    size_t V = (size_t)c->vocab;
    int32_t *gen = malloc((size_t)steps * sizeof *gen);
    float *x = malloc((size_t)c->hidden * sizeof *x);
    r->decode = malloc((size_t)steps * V * sizeof *r->decode);
    int rc = gen && x && r->decode ? DOCVL_OK : dv_fail(r->e, DOCVL_ENOMEM, "out of memory");
    if (!rc)
        memcpy(r->decode, r->logits + (r->n - 1) * V, V * sizeof *r->decode);
    for (int i = 0; !rc && i < steps; i++) {
        gen[i] = dv_argmax(r->decode + (size_t)i * V, (int)V);
        int32_t next = golden_ids ? golden_ids[i] : gen[i];
        if (i + 1 < steps && !(rc = dv_llama_embed(r->m, &next, 1, x, r->e)))
            rc = dv_llama_forward(r->m, r->s, x, 1, r->decode + (size_t)(i + 1) * V, 0, NULL, r->ctx, r->e);
    }
    if (!rc) {
        golden_compare(r->gc, "decode_logits", r->decode, (size_t)steps * V);
        golden_compare_ids(r->gc, "generated_ids", gen, (size_t)steps);
    }
    free(gen);
    free(x);
    return rc;
}

/* The decoder held as --weights asks: f32 widened, q8/q4 quantized (lm_head
 * q8 and an f16 KV cache, as dv_model_load does), otherwise as stored;
 * BF16 matrices with bf16 products and an f16 KV cache where
 * --bf16-products asks and the CPU has them (as dv_model_load holds
 * --weights bf16). */
static int bind_decoder(golden_case *gc, const dv_ctx *ctx, dv_llama **m, dv_err *e)
{
    dv_lm_weights w = { .widen = gc->weights == DV_WEIGHTS_F32, .n_threads = ctx->n_threads,
                        .bf16_products = gc->bf16_products,
                        .kv_f16 = gc->bf16_products && dv_cpu_bgemm_level() >= 2 };
    if (gc->weights == DV_WEIGHTS_Q8 || gc->weights == DV_WEIGHTS_Q4) {
        w.qfmt = gc->weights == DV_WEIGHTS_Q8 ? DV_Q8 : DV_Q4;
        w.head_qfmt = DV_Q8;
        w.kv_f16 = 1;
    }
    return dv_llama_bind_ex(&gc->cfg, gc->ck, &w, m, e);
}

int golden_run_language(golden_case *gc, const float *aligner_out, const dv_ctx *ctx, dv_err *e)
{
    if (!aligner_out) {
        const dv_tensor *t = golden_tensor(gc, "aligner_out");
        aligner_out = t && t->dtype == DV_F32 ? t->data : NULL;
    }
    const dv_tensor *gen = golden_tensor(gc, "generated_ids");
    int steps = gen ? (int)gen->shape[0] : 0;
    lang_run r = { .gc = gc, .ctx = ctx, .e = e };
    int n_images = 0;
    int rc = build_ids(&r, &n_images);
    if (!rc)
        rc = bind_decoder(gc, ctx, &r.m, e);
    if (!rc)
        rc = build_embeds(&r, aligner_out, n_images);
    if (!rc)
        rc = prefill(&r, steps > 0 ? steps : 1);
    if (!rc && steps > 0)
        rc = decode(&r, gen->dtype == DV_I32 ? gen->data : NULL, steps);
    dv_llama_state_free(r.s);
    dv_llama_free(r.m);
    dv_tokenizer_free(r.tok);
    free(r.ids);
    free(r.embeds);
    free(r.logits);
    free(r.layer0);
    free(r.decode);
    return rc ? dv_wrap(e, "language stages of %s", gc->dir) : DOCVL_OK;
}
