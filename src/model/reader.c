/* tile image -> preprocess -> towers + aligner -> prompt with the image
 * embeddings spliced in -> decoder generation -> text. */
#include "model/reader.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "base/ctx.h"
#include "image/preprocess.h"
#include "kernels/pool.h"
#include "model/generate.h"
#include "model/model.h"
#include "text/prompt.h"

struct dv_reader {
    dv_model *m;
    dv_ctx ctx;     /* the thread budget, as OpenBLAS gets it (no pool) */
    dv_ctx run;     /* the same with the reader's pool, for the towers and the decoder */
    dv_pool *pool;  /* n_threads persistent threads for every tile */
    dv_vision_work *vw; /* the towers' activations, sized by the first tiles */
    int stack;          /* tiles through the towers at once (dv_vision_stacks) */
    float *pixels;      /* [stack, 3, H, W]: the preprocessed tiles */
    float *emb;         /* [stack, image tokens, hidden]: their embeddings */
    dv_decoder dec;     /* the model's decoder, as generation sees it */
    void *kv[DV_READER_MAX_BATCH];  /* its states, one per tile decoded at once, each kept
                                       while tiles need the same capacity */
    char *note;     /* about the weight cache, for the user */
};

/* What the user should hear of the weight cache: a new file (where, how
 * big, how to avoid it) or why none could be written. Reusing one is silent. */
static char *cache_note(const dv_model *m)
{
    const dv_qcache_status *s = &m->weight_cache;
    if (s->warning)
        return g_strdup_printf("warning: could not write the weight cache %s: %s",
                               s->path ? s->path : "", s->warning);
    if (s->written) {
        int gb = s->bytes >= 1000000000u;
        return g_strdup_printf("cached %s weights in %s (%.1f %s); next loads map them "
                               "(--no-cache to skip)", dv_weights_name(m->weights), s->path,
                               s->bytes / (gb ? 1e9 : 1e6), gb ? "GB" : "MB");
    }
    return NULL;
}

int dv_reader_open(const char *model_dir, int n_threads, int weights, const char *cache_dir,
                   dv_reader **out, dv_err *e)
{
    *out = NULL;
    dv_reader *r = calloc(1, sizeof *r);
    if (!r)
        return dv_fail(e, DOCVL_ENOMEM, "no memory for the model reader");
    r->ctx.n_threads = n_threads > 0 ? n_threads : dv_cpu_count();
    if (weights < DV_WEIGHTS_AUTO || weights > DV_WEIGHTS_Q4) {
        free(r);
        return dv_fail(e, DOCVL_EINVAL, "unknown weight format %d", weights);
    }
    dv_model_opts mo = { .widen = -1, .weights = (dv_weights)weights, .n_threads = r->ctx.n_threads,
                         .cache_dir = cache_dir };
    int rc = dv_model_load(model_dir, &mo, &r->m, e);
    if (rc) {
        free(r);
        return dv_wrap(e, "model %s", model_dir);
    }
    const dv_config *cfg = &r->m->cfg;
    r->stack = dv_vision_stacks(r->m->vision) ? DV_READER_MAX_BATCH : 1;
    r->pixels = malloc(r->stack * (size_t)3 * cfg->pre.image_h * cfg->pre.image_w *
                       sizeof *r->pixels);
    r->emb = malloc(r->stack * (size_t)dv_config_image_tokens(cfg) * cfg->lm.hidden *
                    sizeof *r->emb);
    if (!r->pixels || !r->emb)
        rc = dv_fail(e, DOCVL_ENOMEM, "no memory for a tile");
    if (rc || (rc = dv_vision_work_new(&r->vw, e)) ||
        (rc = dv_pool_new(r->ctx.n_threads, &r->pool, e))) {
        dv_reader_free(r);
        return dv_wrap(e, "starting the model's threads");
    }
    r->run = r->ctx;
    r->run.pool = r->pool;
    r->dec = dv_llama_decoder(r->m->llama);
    r->note = cache_note(r->m);
    *out = r;
    return DOCVL_OK;
}

void dv_reader_free(dv_reader *r)
{
    if (!r)
        return;
    for (int k = 0; k < DV_READER_MAX_BATCH; k++)
        if (r->kv[k])
            r->dec.ops->state_free(r->kv[k]);
    dv_vision_work_free(r->vw);
    free(r->pixels);
    free(r->emb);
    dv_pool_free(r->pool);
    dv_model_free(r->m);
    g_free(r->note);
    free(r);
}

const char *dv_reader_note(const dv_reader *r) { return r->note; }

int dv_reader_image_size(const dv_reader *r)
{
    return r->m->cfg.pre.image_w;
}

void dv_reader_input_size(const dv_reader *r, int *w, int *h)
{
    *w = r->m->cfg.pre.image_w;
    *h = r->m->cfg.pre.image_h;
}

int dv_reader_reads_lines(const dv_reader *r) { return r->m->cfg.proc.reads_lines; }

const char *dv_reader_instruction(const dv_reader *r)
{
    const dv_processor_cfg *p = &r->m->cfg.proc;
    return p->has_instruction ? p->instruction : NULL;
}

void dv_tile_result_free(dv_tile_result *res)
{
    free(res->text);
    memset(res, 0, sizeof *res);
}

/* Tiles [0, n) (n <= r->stack) through the towers at once: r->emb
 * [n, image tokens, hidden]. */
static int image_embeddings(dv_reader *r, const dv_image *const *tiles, int n, dv_err *e)
{
    const dv_config *cfg = &r->m->cfg;
    size_t px = (size_t)3 * cfg->pre.image_h * cfg->pre.image_w;
    for (int k = 0; k < n; k++) {
        int rc = dv_preprocess(tiles[k], &cfg->pre, NULL, r->pixels + k * px, NULL, e);
        if (rc)
            return rc;
    }
    return dv_vision_forward_many(r->m->vision, r->vw, r->pixels, n, r->emb, &r->run, e);
}

/* Token ids of the chat prompt with the image tag expanded to its tokens. */
static int prompt_ids(dv_reader *r, const char *instruction, int32_t **ids, size_t *n,
                      int32_t *image_id, dv_err *e)
{
    const dv_config *cfg = &r->m->cfg;
    /* the image first, then the instruction, as DeepSeek-VL's examples do */
    char *content = malloc(strlen(cfg->proc.image_tag) + strlen(instruction) + 1);
    if (!content)
        return dv_fail(e, DOCVL_ENOMEM, "no memory for the prompt");
    strcpy(content, cfg->proc.image_tag);
    strcat(content, instruction);
    char *text = NULL;
    int32_t *raw = NULL;
    size_t n_raw = 0;
    int n_images = 0;
    /* the processor's system prompt: the one the model was trained under */
    dv_chat_msg turns[2] = { { "User", content }, { "Assistant", "" } };
    int rc = dv_prompt_format(cfg->proc.sft_format, cfg->proc.system_prompt, turns, 2, NULL, &text,
                              e);
    free(content);
    if (rc == DOCVL_OK)
        rc = dv_tokenizer_encode(r->m->tok, text, strlen(text), cfg->proc.add_bos, &raw, &n_raw, e);
    free(text);
    *image_id = dv_tokenizer_token_id(r->m->tok, cfg->proc.image_tag);
    if (rc == DOCVL_OK && *image_id < 0)
        rc = dv_fail(e, DOCVL_EMODEL, "tokenizer has no token %s", cfg->proc.image_tag);
    if (rc == DOCVL_OK)
        rc = dv_prompt_expand_images(raw, n_raw, *image_id, dv_config_image_tokens(cfg), ids, n,
                                     &n_images, e);
    free(raw);
    if (rc == DOCVL_OK && n_images != 1) {
        free(*ids);
        rc = dv_fail(e, DOCVL_EINTERNAL, "prompt holds %d images, expected 1", n_images);
    }
    return rc;
}

static void gen_options(dv_reader *r, const dv_tile_opts *o, dv_gen_opts *g)
{
    dv_gen_opts_default(g);
    g->max_new_tokens = o->max_tokens;
    /* --max-tokens is a ceiling per tile: a model with a short context
     * generates what fits instead of refusing the tile */
    g->fit_context = 1;
    int32_t eos = dv_tokenizer_eos(r->m->tok);
    if (eos >= 0)
        g->eos_ids[g->n_eos++] = eos;
    if (o->sample) {
        /* the retry of a looping tile: mild sampling breaks the cycle */
        g->sampler.temperature = 0.7f;
        g->sampler.top_p = 0.9f;
        g->sampler.seed = o->seed;
    }
    g->on_token = o->on_token;
    g->user = o->user;
    g->score = o->score;
}

/* KV cache slot k for n prompt tokens and what may follow: the reader's
 * own, reset, when its capacity is what dv_generate would make (the tiles of
 * a run share prompt length and budget); else made anew at that capacity, so
 * prefill chunks and outputs are the same as with a fresh cache. */
static int kv_state(dv_reader *r, int k, int n, const dv_gen_opts *g, dv_err *e)
{
    const dv_decoder_ops *ops = r->dec.ops;
    int max_new = 0, rc = dv_generate_budget(&r->dec, n, g, &max_new, e);
    if (rc)
        return rc;
    if (r->kv[k] && ops->state_capacity(r->kv[k]) == n + max_new) {
        ops->state_reset(r->kv[k]);
        return DOCVL_OK;
    }
    if (r->kv[k])
        ops->state_free(r->kv[k]);
    r->kv[k] = NULL;
    return ops->state_new(r->dec.model, n + max_new, &r->kv[k], e);
}

/* One tile's generation, set up: its prompt embeddings (the image's spliced
 * in), options and KV cache slot. */
typedef struct tile_gen {
    float *embeds;
    int n;
    int start;      /* the rows before the image: the same in every tile */
    dv_gen_opts g;
    dv_gen_result gr;
} tile_gen;

/* A prompt start shorter than this is prefilled with the rest: a pass of
 * its own would cost more than the few rows it saves. */
#define SHARED_START_MIN 16

/* Prompt rows before the first image token: the system prompt and the
 * user turn's start, the same embeddings in every tile of a run. */
static int rows_before_image(const int32_t *ids, size_t n, int32_t image_id)
{
    size_t k = 0;
    while (k < n && ids[k] != image_id)
        k++;
    return k >= SHARED_START_MIN && k < n ? (int)k : 0;
}

/* Slot k's tile, whose image embeddings are emb. */
static int tile_prepare(dv_reader *r, int k, const float *emb, const dv_tile_opts *o,
                        tile_gen *t, dv_err *e)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int32_t image_id = -1;
    int rc = prompt_ids(r, o->instruction, &ids, &n, &image_id, e);
    int hidden = r->dec.hidden;
    if (rc == DOCVL_OK && !(t->embeds = malloc(n * (size_t)hidden * sizeof *t->embeds)))
        rc = dv_fail(e, DOCVL_ENOMEM, "no memory for %zu prompt embeddings", n);
    if (rc == DOCVL_OK)
        rc = r->dec.ops->embed(r->dec.model, ids, (int)n, t->embeds, e);
    const float *images[1] = { emb };
    if (rc == DOCVL_OK)
        rc = dv_prompt_splice_images(ids, n, image_id, images, 1,
                                     dv_config_image_tokens(&r->m->cfg), hidden, t->embeds, e);
    t->start = rc == DOCVL_OK ? rows_before_image(ids, n, image_id) : 0;
    free(ids);
    t->n = (int)n;
    gen_options(r, o, &t->g);
    if (rc == DOCVL_OK)
        rc = kv_state(r, k, t->n, &t->g, e);
    return rc;
}

static int tile_result(tile_gen *t, dv_tile_result *res, dv_err *e)
{
    res->text = strdup(t->gr.text ? dv_prompt_answer(t->gr.text) : "");
    res->degenerate = t->gr.degenerate;
    res->n_tokens = t->gr.n_ids;
    res->stopped = t->gr.stopped;
    res->logprob = t->gr.logprob;
    res->n_scored = t->gr.n_scored;
    return res->text ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "no memory for the tile's text");
}

int dv_reader_read_batch(dv_reader *r, const dv_image *const *tiles, int n,
                         const dv_tile_opts *o, dv_tile_result *res, dv_err *e)
{
    if (n < 1 || n > DV_READER_MAX_BATCH)
        return dv_fail(e, DOCVL_EINVAL, "%d tiles at once (1 to %d)", n, DV_READER_MAX_BATCH);
    for (int k = 0; k < n; k++)
        memset(&res[k], 0, sizeof res[k]);
    dv_ctx_apply(&r->ctx);
    tile_gen t[DV_READER_MAX_BATCH];
    memset(t, 0, sizeof t);
    dv_gen_seq seqs[DV_READER_MAX_BATCH];
    int rc = DOCVL_OK;
    size_t img = (size_t)dv_config_image_tokens(&r->m->cfg) * r->dec.hidden;
    for (int k0 = 0; k0 < n && rc == DOCVL_OK; k0 += r->stack) {
        int m = n - k0 < r->stack ? n - k0 : r->stack;
        rc = image_embeddings(r, tiles + k0, m, e);
        for (int k = k0; k < k0 + m && rc == DOCVL_OK; k++) {
            rc = tile_prepare(r, k, r->emb + (k - k0) * img, &o[k], &t[k], e);
            seqs[k] = (dv_gen_seq){ r->kv[k], t[k].embeds, t[k].n, &t[k].g, &t[k].gr,
                                    t[k].start };
        }
    }
    if (rc == DOCVL_OK)
        rc = dv_generate_batch(&r->dec, r->m->tok, seqs, n, &r->run, e);
    for (int k = 0; k < n && rc == DOCVL_OK; k++)
        rc = tile_result(&t[k], &res[k], e);
    for (int k = 0; k < n; k++) {
        free(t[k].embeds);
        dv_gen_result_free(&t[k].gr);
        if (rc)
            dv_tile_result_free(&res[k]);
    }
    return rc;
}

int dv_reader_read(dv_reader *r, const dv_image *tile, const dv_tile_opts *o,
                   dv_tile_result *res, dv_err *e)
{
    return dv_reader_read_batch(r, &tile, 1, o, res, e);
}

/* Worst-case KV bytes of one tile: a prompt of the image tokens and some
 * text, then max_tokens, within the context. */
static double tile_kv_bytes(const dv_reader *r, int max_tokens)
{
    const dv_lm_cfg *c = &r->m->cfg.lm;
    double tokens = (double)dv_config_image_tokens(&r->m->cfg) + 64 + max_tokens;
    if (tokens > c->max_pos)
        tokens = c->max_pos;
    return tokens * c->layers * 2.0 * c->kv_heads * c->head_dim *
           dv_llama_kv_elem_bytes(r->m->llama);
}

int dv_reader_batch_room(const dv_reader *r, int max_tokens, int want)
{
    int room = (int)(DV_READER_BATCH_BYTES / tile_kv_bytes(r, max_tokens));
    if (room > want)
        room = want;
    if (room > DV_READER_MAX_BATCH)
        room = DV_READER_MAX_BATCH;
    return room > 1 ? room : 1;
}
