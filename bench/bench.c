/* docvl-bench: the machine's own limits and the model's speed against them,
 * measured in the same run. Never run by the tests.
 *
 *   docvl-bench [--threads N] [--json] [--model DIR] [--prefill N] [--decode N]
 *               [--weights auto|f32|bf16|q8|q4] [--no-ratios] [--load-only]
 *               [--cache-dir DIR] [--page TILES] [--gen TOKENS] [--batch B,B,...]
 *               [--page-batch N] [--shared N] [--repeat N]
 *
 * Without --model only the machine limits are measured. Models for timing are
 * written with tools/docvl-mkmodel (random weights, real shapes). Output keys
 * are documented in bench/README.md. */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/ctx.h"
#include "cli/blas_reexec.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"
#include "lowp.h"
#include "machine.h"
#include "model/arch.h"
#include "model/model.h"
#include "text/prompt.h"

typedef struct bench_opts {
    int threads;
    int json;
    const char *model;
    int prefill;
    int decode;
    dv_weights weights;
    int ratios;         /* also time vision and prefill on 1 thread */
    int load_only;      /* stop after loading (load time and RSS) */
    const char *cache_dir;  /* q8/q4 weight cache (weights/qcache.h); NULL: none */
    int page_tiles;     /* --page: tiles of a whole page (0: no page) */
    int page_gen;       /* --gen: tokens generated per tile */
    int n_batch;        /* --batch: sequences decoded side by side, each size timed */
    int batch[8];
    int page_batch;     /* --page-batch: the page's tiles decoded that many at once */
    int shared;         /* --shared: prompt rows every tile starts with, prefilled once per
                           page; -1: the model's rows before the image */
    int repeat;         /* --repeat: warm prefills timed (their median reported) */
} bench_opts;

#define MAX_REPEAT 64

typedef struct figures {
    double sgemm_gflops[2];      /* 1 thread, N threads */
    double own_sgemm_gflops;     /* docvl's own product, N threads (0: no AVX-512 F) */
    const char *gemm;            /* the fp32 product the model runs (dv_gemm_name) */
    double mem_gbs[2];
    double int8_peak_gops, bf16_peak_gflops, q8_product_gops;   /* threads threads */
    double load_s, rss_after_load_gb;
    double vision_ms, vision_gflop;
    double aligner_ms, aligner_gflop;
    double vision_ms_1t, prefill_tps_1t;  /* 0 when not measured */
    double prefill_tps, prefill_gflop;
    double prefill_tps_warm;    /* the same prefill again in the same state (median) */
    double prefill_tps_warm_lo, prefill_tps_warm_hi;   /* slowest and fastest of them */
    double decode_tps, decode_bytes_per_token;
    double decode_tps_mean;             /* tokens over the whole decode time */
    double decode_kv_bytes_per_token;   /* keys and values read, mean over the steps */
    int kv_elem_bytes;                  /* 4: f32 cache, 2: f16 */
    double peak_rss_gb;
    dv_weights weights;   /* as loaded */
    int have_model;
    double page_s, page_vision_s, page_prefill_s, page_decode_s;  /* --page: totals */
    double page_cpu_s;    /* CPU seconds of the page, all threads */
    int page_shared;      /* prompt rows prefilled once per page */
    double page_cpu_stage[3];   /* CPU seconds of the page's vision, prefill, decode */
    double batch_tps[8];  /* --batch: tokens per second of all sequences together */
    double batch_cpu_tps[8];  /* the same per CPU second (all threads) */
    double batch_logit_err[8];   /* first step, sequence 0: max |logit - one sequence's| over
                                    max |logit| */
    int batch_same_token[8];     /* and whether its greedy token is one sequence's */
} figures;

typedef struct stream_arg { const __m256i *p; size_t n; long long sink; } stream_arg;

__attribute__((target("avx2"))) static void *stream_read(void *arg)
{
    stream_arg *s = arg;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (size_t i = 0; i + 4 <= s->n; i += 4) {
        acc0 = _mm256_xor_si256(acc0, _mm256_load_si256(s->p + i));
        acc1 = _mm256_xor_si256(acc1, _mm256_load_si256(s->p + i + 1));
        acc2 = _mm256_xor_si256(acc2, _mm256_load_si256(s->p + i + 2));
        acc3 = _mm256_xor_si256(acc3, _mm256_load_si256(s->p + i + 3));
    }
    acc0 = _mm256_xor_si256(_mm256_xor_si256(acc0, acc1), _mm256_xor_si256(acc2, acc3));
    s->sink = _mm256_extract_epi64(acc0, 0);
    return NULL;
}

/* Read bandwidth over 1 GiB, far beyond any cache: the decoder's bound. */
static double mem_gbs(int threads)
{
    const size_t bytes = (size_t)1 << 30;
    __m256i *buf = aligned_alloc(64, bytes);
    if (!buf)
        return 0;
    memset(buf, 1, bytes);
    size_t n = bytes / sizeof *buf, per = n / (size_t)threads;
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        stream_arg args[64];
        for (int t = 0; t < threads; t++)
            args[t] = (stream_arg){ buf + (size_t)t * per, per, 0 };
        double dt = bench_threads_wall(stream_read, args, sizeof *args, threads);
        if (dt < best)
            best = dt;
    }
    free(buf);
    return (double)bytes / best / 1e9;
}

/* ---- model FLOP and byte counts (from the config, not measured) ----- */

static double vit_block_flop(double n, double w, double mlp) { return 2 * n * (4 * w * w + 2 * w * mlp); }

static double siglip_flop(const dv_siglip_cfg *s)
{
    double n = (double)dv_siglip_grid_h(s) * dv_siglip_grid_w(s);
    double f = 2 * n * s->width * 3.0 * s->patch_size * s->patch_size;
    f += s->layers * (vit_block_flop(n, s->width, s->mlp_dim) + 4 * n * n * s->width);
    return f;
}

static double sam_flop(const dv_sam_cfg *s)
{
    double g = s->image_size / s->patch_size, n = g * g, w = s->width;
    double win = s->window_size, pad = ((int)(g + win - 1) / (int)win) * win;
    double f = 2 * n * w * 3.0 * s->patch_size * s->patch_size;
    for (int i = 0; i < s->layers; i++) {
        int global = 0;
        for (int j = 0; j < s->n_global; j++)
            global |= s->global_attn_indexes[j] == i;
        double tokens = global ? n : pad * pad, span = global ? n : win * win;
        f += 2 * tokens * 3 * w * w + 4 * tokens * span * w + 2 * n * (w * w + 2 * w * s->mlp_dim);
    }
    double p = s->prompt_embed_dim, c0 = s->downsample_channels[0], c1 = s->downsample_channels[1];
    double neck = 2 * n * (w * p + 9 * p * p);
    double down = 2 * (48.0 * 48) * 9 * p * c0 + 2 * (24.0 * 24) * 9 * c0 * c1;
    return f + 2 * (neck + down);   /* main branch + sam_hd branch */
}

static double lm_layer_params(const dv_lm_cfg *l)
{
    double kv = (double)l->kv_heads * l->head_dim;
    double layer = (double)l->hidden * (2 * l->hidden + 2 * kv) + 3.0 * l->hidden * l->intermediate;
    return layer * l->layers;
}

/* Prefill of n tokens: the layers for every token, lm_head for the last
 * one only (counting it for all n overstated prefill by 17% at the 1.3B's
 * 600 tokens), attention's causal half of 4 n^2 d per layer. */
static double prefill_flop(const dv_lm_cfg *l, double n)
{
    double attn = 2.0 * l->layers * n * n * l->hidden;
    return 2.0 * lm_layer_params(l) * n + 2.0 * (double)l->hidden * l->vocab + attn;
}

/* ---- model timings ---- */

static double aligner_flop(const dv_config *c)
{
    double H = c->lm.hidden, ntok = c->proc.num_image_tokens;
    return 2.0 * ntok * (c->aligner.input_dim * H + H * H);
}

/* The aligner alone, on made-up tower features, with a pool of the ctx's
 * threads as dv_vision_forward runs it (without one, quantized matrices
 * would take the f32 panels). */
static int time_aligner(const dv_model *m, const dv_ctx *ctx, figures *f, dv_err *e)
{
    const dv_config *c = &m->cfg;
    size_t ntok = (size_t)c->proc.num_image_tokens, in = (size_t)c->aligner.input_dim;
    float *sam = bench_random_floats(ntok * in, 3), *sig = bench_random_floats(ntok * in, 4);
    float *out = malloc(ntok * (size_t)c->lm.hidden * sizeof *out);
    dv_ctx pooled = *ctx;
    int rc = !sam || !sig || !out ? dv_fail(e, DOCVL_ENOMEM, "out of memory for bench buffers") : 0;
    if (!rc)
        rc = dv_pool_new(ctx->n_threads, &pooled.pool, e);
    double t0 = bench_now();
    if (!rc)
        rc = dv_vision_align(m->vision, dv_config_has_tower(c, DV_TOWER_SAM) ? sam : NULL, sig,
                             out, &pooled, e);
    f->aligner_ms = (bench_now() - t0) * 1e3;
    f->aligner_gflop = aligner_flop(c) / 1e9;
    dv_pool_free(pooled.pool);
    free(sam), free(sig), free(out);
    return rc;
}

/* Prefill of emb [n, hidden] into a fresh cache; seconds. */
static int time_prefill(const dv_model *m, const float *emb, int n, float *logits,
                        const dv_ctx *ctx, double *secs, dv_err *e)
{
    dv_llama_state *st = NULL;
    int rc = dv_llama_state_new(m->llama, n + 1, &st, e);
    double t0 = bench_now();
    if (!rc)
        rc = dv_llama_forward(m->llama, st, emb, n, logits, 0, NULL, ctx, e);
    *secs = bench_now() - t0;
    dv_llama_state_free(st);
    return rc;
}

/* Vision and prefill again on one thread: how well two threads scale. */
static int time_one_thread(const bench_opts *o, const dv_model *m, const float *pixels, float *img,
                           const float *emb, float *logits, figures *f, dv_err *e)
{
    dv_ctx one = { .n_threads = 1 };
    double t0 = bench_now();
    int rc = dv_vision_forward(m->vision, pixels, img, NULL, &one, e);
    f->vision_ms_1t = (bench_now() - t0) * 1e3;
    double secs = 0;
    if (!rc)
        rc = time_prefill(m, emb, o->prefill, logits, &one, &secs, e);
    f->prefill_tps_1t = o->prefill / secs;
    return rc;
}

/* n states stepped together for `steps` tokens (sequence k feeds prompt
 * embedding (i + k) mod prefill at step i); each step's time into step[]
 * when it is not NULL. */
static int decode_together(const bench_opts *o, const dv_model *m, dv_llama_state **st, int n,
                           int steps, const float *emb, const dv_ctx *ctx, double *step,
                           float *first, dv_err *e)
{
    size_t H = (size_t)m->cfg.lm.hidden, V = (size_t)m->cfg.lm.vocab;
    float *in = malloc((size_t)n * H * sizeof *in), *logits = malloc((size_t)n * V * sizeof *logits);
    int rc = in && logits ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory for %d sequences", n);
    for (int i = 0; i < steps && !rc; i++) {
        for (int k = 0; k < n; k++)
            memcpy(in + (size_t)k * H, emb + (size_t)((i + k) % o->prefill) * H, H * sizeof *in);
        double t0 = bench_now();
        rc = dv_llama_forward_batch(m->llama, st, n, in, logits, ctx, e);
        if (step)
            step[i] = bench_now() - t0;
        if (first && i == 0)
            memcpy(first, logits, V * sizeof *first);
    }
    free(in);
    free(logits);
    return rc;
}

static void free_states(dv_llama_state **st, int n)
{
    for (int k = 0; k < n; k++)
        dv_llama_state_free(st[k]);
}

/* The prompt rows before the image, as the reader's tile prompt has them
 * (system prompt, "User: "): what every tile of a page starts with. */
static int prompt_start_rows(const dv_model *m, int *rows, dv_err *e)
{
    const dv_processor_cfg *p = &m->cfg.proc;
    dv_chat_msg turns[2] = { { "User", p->image_tag }, { "Assistant", "" } };
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0, k = 0;
    int rc = dv_prompt_format(p->sft_format, p->system_prompt, turns, 2, NULL, &text, e);
    if (!rc)
        rc = dv_tokenizer_encode(m->tok, text, strlen(text), p->add_bos, &ids, &n, e);
    int32_t image = dv_tokenizer_token_id(m->tok, p->image_tag);
    while (!rc && k < n && ids[k] != image)
        k++;
    *rows = (int)k;
    free(text);
    free(ids);
    return rc;
}

/* A whole page as reading it costs: the towers and the aligner on each
 * tile, the prefill of its prompt (o->prefill tokens) into its own cache,
 * then o->page_gen decoded tokens (no EOS: a fixed count), the tiles
 * decoded o->page_batch at a time (1: tile after tile). The first
 * f->page_shared prompt rows, the same in every tile, are prefilled once
 * per page and copied into each tile's cache, as the reader does. */
static int time_page(const bench_opts *o, const dv_model *m, const float *pixels, float *img,
                     const float *emb, float *logits, const dv_ctx *ctx, figures *f, dv_err *e)
{
    int B = o->page_batch, P = f->page_shared, rc = DOCVL_OK;
    size_t H = (size_t)m->cfg.lm.hidden;
    dv_llama_state *st[64] = { 0 }, *pre = NULL;
    for (int k = 0; k < B && !rc; k++)
        rc = dv_llama_state_new(m->llama, o->prefill + o->page_gen + 1, &st[k], e);
    if (!rc && P)
        rc = dv_llama_state_new(m->llama, P, &pre, e);
    double page0 = bench_now(), cpu0 = bench_cpu_seconds();
    if (!rc && P)
        rc = dv_llama_forward(m->llama, pre, emb, P, NULL, 0, NULL, ctx, e);
    f->page_prefill_s += bench_now() - page0;
    f->page_cpu_stage[1] += bench_cpu_seconds() - cpu0;
    for (int t0 = 0; t0 < o->page_tiles && !rc; t0 += B) {
        int n = o->page_tiles - t0 < B ? o->page_tiles - t0 : B;
        for (int k = 0; k < n && !rc; k++) {
            double a = bench_now(), ca = bench_cpu_seconds();
            rc = dv_vision_forward(m->vision, pixels, img, NULL, ctx, e);
            double b = bench_now(), cb = bench_cpu_seconds();
            dv_llama_state_reset(st[k]);
            if (!rc && P)
                rc = dv_llama_state_copy(st[k], pre, e);
            if (!rc)
                rc = dv_llama_forward(m->llama, st[k], emb + (size_t)P * H, o->prefill - P,
                                      logits, 0, NULL, ctx, e);
            f->page_vision_s += b - a;
            f->page_prefill_s += bench_now() - b;
            f->page_cpu_stage[0] += cb - ca;
            f->page_cpu_stage[1] += bench_cpu_seconds() - cb;
        }
        double d = bench_now(), cd = bench_cpu_seconds();
        if (!rc)
            rc = decode_together(o, m, st, n, o->page_gen, emb, ctx, NULL, NULL, e);
        f->page_decode_s += bench_now() - d;
        f->page_cpu_stage[2] += bench_cpu_seconds() - cd;
    }
    f->page_s = bench_now() - page0;
    f->page_cpu_s = bench_cpu_seconds() - cpu0;
    free_states(st, B);
    dv_llama_state_free(pre);
    return rc;
}

static int argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        best = v[i] > v[best] ? i : best;
    return (int)best;
}

/* The first step's logits of sequence 0 of a batch against one sequence's
 * (ref): the batched products of quantized weights may round differently. */
static void compare_logits(const float *got, const float *ref, size_t V, double *err, int *same)
{
    double big = 0, worst = 0;
    for (size_t k = 0; k < V; k++) {
        big = fabs(ref[k]) > big ? fabs(ref[k]) : big;
        worst = fabs(got[k] - ref[k]) > worst ? fabs(got[k] - ref[k]) : worst;
    }
    *err = big > 0 ? worst / big : worst;
    *same = argmax(got, V) == argmax(ref, V);
}

/* Each --batch size: that many copies of the prefilled state src decoding
 * o->decode tokens together; all their tokens over the median step. */
static int time_batches(const bench_opts *o, const dv_model *m, const dv_llama_state *src,
                        const float *emb, const dv_ctx *ctx, figures *f, dv_err *e)
{
    size_t V = (size_t)m->cfg.lm.vocab;
    double *step = malloc((size_t)o->decode * sizeof *step);
    float *ref = malloc(V * sizeof *ref), *first = malloc(V * sizeof *first);
    dv_llama_state *one = NULL;
    int rc = step && ref && first ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory for step times");
    if (!rc && !(rc = dv_llama_state_new(m->llama, dv_llama_state_pos(src) + 1, &one, e)) &&
        !(rc = dv_llama_state_copy(one, src, e)))
        rc = dv_llama_forward(m->llama, one, emb, 1, ref, 0, NULL, ctx, e);
    dv_llama_state_free(one);
    for (int b = 0; b < o->n_batch && !rc; b++) {
        int n = o->batch[b];
        dv_llama_state *st[64] = { 0 };
        for (int k = 0; k < n && !rc; k++)
            if (!(rc = dv_llama_state_new(m->llama, dv_llama_state_pos(src) + o->decode, &st[k], e)))
                rc = dv_llama_state_copy(st[k], src, e);
        double cpu0 = bench_cpu_seconds();
        if (!rc)
            rc = decode_together(o, m, st, n, o->decode, emb, ctx, step, first, e);
        double cpu = bench_cpu_seconds() - cpu0;
        free_states(st, n);
        if (!rc) {
            qsort(step, (size_t)o->decode, sizeof *step, bench_cmp_double);
            f->batch_tps[b] = n / step[o->decode / 2];
            f->batch_cpu_tps[b] = n * o->decode / cpu;
            compare_logits(first, ref, V, &f->batch_logit_err[b], &f->batch_same_token[b]);
        }
    }
    free(step), free(ref), free(first);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The prefill again into the same state emptied, o->repeat times, as
 * llama-bench times its runs after a warm-up: the state's buffers and KV
 * cache already in memory (the first prefill pays their first touch: in this
 * VM 0.3-0.5 s of the 1.3B's 2.2-2.7, zeroing fresh huge pages in the
 * products' first stores), the pool's scratch grown. The median, slowest
 * and fastest; decoding then goes on from the last (the same rows). */
static int time_warm_prefills(const bench_opts *o, const dv_model *m, dv_llama_state *st,
                              const float *emb, float *logits, const dv_ctx *ctx, figures *f,
                              dv_err *e)
{
    double tps[MAX_REPEAT];
    int n = o->repeat;
    for (int r = 0; r < n; r++) {
        dv_llama_state_reset(st);
        double t0 = bench_now();
        int rc = dv_llama_forward(m->llama, st, emb, o->prefill, logits, 0, NULL, ctx, e);
        if (rc)
            return rc;
        tps[r] = o->prefill / (bench_now() - t0);
    }
    qsort(tps, (size_t)n, sizeof *tps, cmp_double);
    f->prefill_tps_warm = n % 2 ? tps[n / 2] : (tps[n / 2 - 1] + tps[n / 2]) / 2;
    f->prefill_tps_warm_lo = tps[0];
    f->prefill_tps_warm_hi = tps[n - 1];
    return DOCVL_OK;
}

static int bench_model(const bench_opts *o, figures *f, dv_err *e)
{
    double t0 = bench_now();
    dv_model *m;
    dv_model_opts mo = { .widen = -1, .weights = o->weights, .n_threads = o->threads,
                         .cache_dir = o->cache_dir };
    int rc = dv_model_load(o->model, &mo, &m, e);
    if (rc)
        return rc;
    f->load_s = bench_now() - t0;
    f->weights = m->weights;
    f->gemm = dv_gemm_name(dv_llama_gemm(m->llama));
    const dv_qcache_status *qs = &m->weight_cache;
    if (qs->warning)
        fprintf(stderr, "docvl-bench: warning: could not write the weight cache %s: %s\n",
                qs->path ? qs->path : "", qs->warning);
    if (o->load_only) {
        printf("load %.2f s, weights %s, peak RSS after load %.2f GB, decoder weights %.2f GB%s\n",
               f->load_s, dv_weights_name(m->weights), bench_peak_rss_gb(),
               dv_llama_weight_bytes(m->llama) / 1e9,
               qs->used ? ", mapped from the weight cache"
                        : qs->written ? ", quantized and written to the weight cache" : "");
        dv_model_free(m);
        return DOCVL_OK;
    }
    f->rss_after_load_gb = bench_peak_rss_gb();
    dv_ctx ctx = { .n_threads = o->threads };
    const dv_config *c = &m->cfg;
    int ntok = c->proc.num_image_tokens, H = c->lm.hidden;
    size_t n_px = (size_t)3 * c->pre.image_h * c->pre.image_w;
    float *pixels = bench_random_floats(n_px, 7);
    float *img = malloc((size_t)ntok * H * sizeof *img);
    float *emb = bench_random_floats((size_t)o->prefill * H, 9);
    float *logits = malloc((size_t)c->lm.vocab * sizeof *logits);
    dv_llama_state *st = NULL;
    if (!pixels || !img || !emb || !logits) {
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for bench buffers");
        goto done;
    }
    for (size_t i = 0; i < n_px; i++)
        pixels[i] += 0.5f;
    t0 = bench_now();
    if ((rc = dv_vision_forward(m->vision, pixels, img, NULL, &ctx, e)))
        goto done;
    f->vision_ms = (bench_now() - t0) * 1e3;
    f->vision_gflop = siglip_flop(&c->siglip) / 1e9 +
                      (dv_config_has_tower(c, DV_TOWER_SAM) ? sam_flop(&c->sam) / 1e9 : 0);
    f->vision_gflop += aligner_flop(c) / 1e9;
    if ((rc = time_aligner(m, &ctx, f, e)))
        goto done;
    for (size_t i = 0; i < (size_t)o->prefill * H; i++)
        emb[i] *= 0.05f;
    if (o->ratios && o->threads > 1 &&
        (rc = time_one_thread(o, m, pixels, img, emb, logits, f, e)))
        goto done;
    if ((rc = dv_llama_state_new(m->llama, o->prefill + o->decode + 1, &st, e)))
        goto done;
    t0 = bench_now();
    if ((rc = dv_llama_forward(m->llama, st, emb, o->prefill, logits, 0, NULL, &ctx, e)))
        goto done;
    double dt = bench_now() - t0;
    f->prefill_tps = o->prefill / dt;
    f->prefill_gflop = prefill_flop(&c->lm, o->prefill) / 1e9;
    if ((rc = time_warm_prefills(o, m, st, emb, logits, &ctx, f, e)))
        goto done;
    double *step = malloc((size_t)o->decode * sizeof *step);
    if (!step) {
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for %d step times", o->decode);
        goto done;
    }
    t0 = bench_now();
    for (int i = 0; i < o->decode && !rc; i++) {
        double ts = bench_now();
        rc = dv_llama_forward(m->llama, st, emb + (size_t)i * H, 1, logits, 0, NULL, &ctx, e);
        step[i] = bench_now() - ts;
    }
    f->decode_tps_mean = o->decode / (bench_now() - t0);
    /* the median step: one token delayed by another tenant of a shared
     * machine says nothing about docvl */
    qsort(step, (size_t)o->decode, sizeof *step, bench_cmp_double);
    f->decode_tps = 1.0 / step[o->decode / 2];
    free(step);
    if (rc)
        goto done;
    f->decode_bytes_per_token = (double)dv_llama_weight_bytes(m->llama);
    double kv_dim = (double)c->lm.kv_heads * c->lm.head_dim;
    f->kv_elem_bytes = dv_llama_kv_elem_bytes(m->llama);
    f->decode_kv_bytes_per_token = 2.0 * f->kv_elem_bytes * c->lm.layers * kv_dim *
                                   (o->prefill + (o->decode + 1) / 2.0);
    if (o->n_batch && (rc = time_batches(o, m, st, emb, &ctx, f, e)))
        goto done;
    f->page_shared = o->shared;
    if (o->page_tiles > 0 && o->shared < 0 && (rc = prompt_start_rows(m, &f->page_shared, e)))
        goto done;
    if (f->page_shared >= o->prefill)
        f->page_shared = o->prefill - 1;
    if (o->page_tiles > 0 &&
        (rc = time_page(o, m, pixels, img, emb, logits, &ctx, f, e)))
        goto done;
    f->peak_rss_gb = bench_peak_rss_gb();
    f->have_model = 1;
done:
    dv_llama_state_free(st);
    free(pixels), free(img), free(emb), free(logits);
    dv_model_free(m);
    return rc;
}

static double max2(double a, double b) { return a > b ? a : b; }

static void measure_limits(const bench_opts *o, figures *f)
{
    f->sgemm_gflops[0] = max2(f->sgemm_gflops[0], bench_sgemm_gflops(1));
    f->sgemm_gflops[1] = max2(f->sgemm_gflops[1], bench_sgemm_gflops(o->threads));
    f->own_sgemm_gflops = max2(f->own_sgemm_gflops, bench_own_sgemm_gflops(o->threads));
    f->mem_gbs[0] = max2(f->mem_gbs[0], mem_gbs(1));
    f->mem_gbs[1] = max2(f->mem_gbs[1], mem_gbs(o->threads));
    f->int8_peak_gops = max2(f->int8_peak_gops, bench_int8_peak_gops(o->threads));
    f->bf16_peak_gflops = max2(f->bf16_peak_gflops, bench_bf16_peak_gflops(o->threads));
    f->q8_product_gops = max2(f->q8_product_gops, bench_q8_product_gops(o->threads));
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

/* A batch's bytes read per second: the weights once per step and every
 * sequence's KV cache (each reads its own). */
static double batch_total_gbs(const bench_opts *o, const figures *f, int b)
{
    return f->batch_tps[b] / o->batch[b] *
           (f->decode_bytes_per_token + o->batch[b] * f->decode_kv_bytes_per_token) / 1e9;
}

/* The peak of the instruction the weights' many-row products run on (q8/q4:
 * vpdpbusd, a multiply-add counted as two operations as in a FLOP; bf16 asked
 * for, with the bf16 products: vdpbf16ps), with its name; 0 for the fp32
 * products (AUTO's bf16 among them, as dv_model_load decides). */
static double product_peak(const bench_opts *o, const figures *f, const char **name)
{
    int quant = f->weights == DV_WEIGHTS_Q8 || f->weights == DV_WEIGHTS_Q4;
    *name = quant ? "vpdpbusd" : "vdpbf16ps";
    if (quant && dv_cpu_qgemm_level() >= 2)
        return f->int8_peak_gops;
    if (o->weights == DV_WEIGHTS_BF16 && dv_cpu_bgemm_level() >= 2)
        return f->bf16_peak_gflops;
    return 0;
}

static void print_text(const bench_opts *o, const figures *f)
{
    int n = o->threads;
    printf("machine limits (OpenBLAS %s kernels)\n", openblas_get_corename());
    printf("  sgemm 1024x1024x4096   1 thread %7.1f GFLOP/s   %d threads %7.1f GFLOP/s\n",
           f->sgemm_gflops[0], n, f->sgemm_gflops[1]);
    if (f->own_sgemm_gflops > 0)
        printf("  docvl-avx512 1024x1024x4096   %d threads %7.1f GFLOP/s (%.2fx sgemm)\n", n,
               f->own_sgemm_gflops, ratio(f->own_sgemm_gflops, f->sgemm_gflops[1]));
    printf("  memory read (1 GiB)    1 thread %7.1f GB/s      %d threads %7.1f GB/s\n",
           f->mem_gbs[0], n, f->mem_gbs[1]);
    printf("  int8 vpdpbusd peak     %d threads %7.1f GOP/s    bf16 vdpbf16ps peak %7.1f GFLOP/s\n",
           n, f->int8_peak_gops, f->bf16_peak_gflops);
    printf("  q8 product 512x2048x2048 %d threads %7.1f GOP/s (%.0f%% of int8 peak, %.2fx sgemm)\n",
           n, f->q8_product_gops, 100 * ratio(f->q8_product_gops, f->int8_peak_gops),
           ratio(f->q8_product_gops, f->sgemm_gflops[1]));
    if (!f->have_model)
        return;
    double v_rate = f->vision_gflop / (f->vision_ms / 1e3);
    double a_rate = f->aligner_gflop / (f->aligner_ms / 1e3);
    double p_rate = f->prefill_gflop / (f->prefill_tps ? o->prefill / f->prefill_tps : 1);
    double d_gbs = f->decode_tps * f->decode_bytes_per_token / 1e9;
    printf("model %s (%d threads, weights %s, fp32 product %s)\n", o->model, n,
           dv_weights_name(f->weights), f->gemm);
    printf("  load                   %8.2f s     peak RSS after load %.2f GB\n", f->load_s,
           f->rss_after_load_gb);
    printf("  vision + aligner tile  %8.1f ms    %7.1f GFLOP/s  (%.0f%% of sgemm)\n", f->vision_ms,
           v_rate, 100 * v_rate / f->sgemm_gflops[1]);
    printf("  aligner alone          %8.1f ms    %7.1f GFLOP/s  (%.0f%% of sgemm)\n", f->aligner_ms,
           a_rate, 100 * a_rate / f->sgemm_gflops[1]);
    printf("  prefill %4d tokens    %8.1f tok/s %7.1f GFLOP/s  (%.0f%% of sgemm)\n", o->prefill,
           f->prefill_tps, p_rate, 100 * p_rate / f->sgemm_gflops[1]);
    double w_rate = f->prefill_gflop * f->prefill_tps_warm / o->prefill;
    const char *unit;
    double peak = product_peak(o, f, &unit);
    printf("  prefill again (warm)   %8.1f tok/s %7.1f GFLOP/s  (%.0f%% of sgemm", f->prefill_tps_warm,
           w_rate, 100 * w_rate / f->sgemm_gflops[1]);
    if (peak > 0)
        printf(", %.0f%% of %s", 100 * w_rate / peak, unit);
    printf(")\n");
    if (o->repeat > 1)
        printf("  warm prefills          %d: median above, %.1f to %.1f tok/s\n", o->repeat,
               f->prefill_tps_warm_lo, f->prefill_tps_warm_hi);
    if (f->vision_ms_1t > 0)
        printf("  %d threads vs 1        vision %.2fx   prefill %.2fx   (1 thread: %.1f ms, %.1f tok/s)\n",
               n, ratio(f->vision_ms_1t, f->vision_ms), ratio(f->prefill_tps, f->prefill_tps_1t),
               f->vision_ms_1t, f->prefill_tps_1t);
    double t_gbs = f->decode_tps * (f->decode_bytes_per_token + f->decode_kv_bytes_per_token) / 1e9;
    printf("  decode                 %8.2f tok/s %7.1f GB/s of weights (%.0f%% of memory read), "
           "%.2f GB/token; mean over all steps %.2f tok/s\n", f->decode_tps, d_gbs,
           100 * d_gbs / f->mem_gbs[1], f->decode_bytes_per_token / 1e9, f->decode_tps_mean);
    printf("  decode KV cache read   %8.2f GB/token (%s); weights + KV %.1f GB/s (%.0f%% of memory "
           "read)\n", f->decode_kv_bytes_per_token / 1e9, f->kv_elem_bytes == 2 ? "f16" : "f32",
           t_gbs, 100 * t_gbs / f->mem_gbs[1]);
    for (int b = 0; b < o->n_batch; b++) {
        double w_gbs = f->batch_tps[b] / o->batch[b] * f->decode_bytes_per_token / 1e9;
        double bt_gbs = batch_total_gbs(o, f, b);
        printf("  decode %2d together     %8.2f tok/s in all (%.2fx one sequence), %.1f GB/s of "
               "weights (%.0f%% of memory read), with each one's KV cache %.1f GB/s (%.0f%%); "
               "%.2f tok per CPU s; logits %.1e of one sequence's%s\n", o->batch[b],
               f->batch_tps[b], ratio(f->batch_tps[b], f->decode_tps), w_gbs,
               100 * w_gbs / f->mem_gbs[1], bt_gbs, 100 * bt_gbs / f->mem_gbs[1],
               f->batch_cpu_tps[b], f->batch_logit_err[b],
               f->batch_same_token[b] ? ", same token" : ", ANOTHER TOKEN");
    }
    if (o->page_tiles > 0) {
        double T = o->page_tiles;
        printf("  page of %d tiles (decoded %d at a time), %d prompt (%d shared, prefilled once) "
               "+ %d generated tokens a tile: %.1f s (%.1f pages/hour); "
               "%.1f CPU s; per tile: vision %.2f s, prefill %.2f s (%.1f tok/s), decode %.2f s "
               "(%.1f tok/s)\n",
               o->page_tiles, o->page_batch, o->prefill, f->page_shared, o->page_gen, f->page_s,
               3600 / f->page_s,
               f->page_cpu_s,
               f->page_vision_s / T, f->page_prefill_s / T, o->prefill * T / f->page_prefill_s,
               f->page_decode_s / T, o->page_gen * T / f->page_decode_s);
        printf("  page CPU seconds (all threads) per tile: vision %.2f, prefill %.2f, decode %.2f\n",
               f->page_cpu_stage[0] / T, f->page_cpu_stage[1] / T, f->page_cpu_stage[2] / T);
    }
    printf("  peak RSS               %8.2f GB\n", f->peak_rss_gb);
}

static void print_json(const bench_opts *o, const figures *f)
{
    printf("{\"openblas_core\": \"%s\", \"threads\": %d, \"sgemm_gflops_1t\": %.2f, "
           "\"sgemm_gflops\": %.2f, \"mem_read_gbs_1t\": %.2f, \"mem_read_gbs\": %.2f",
           openblas_get_corename(), o->threads, f->sgemm_gflops[0],
           f->sgemm_gflops[1], f->mem_gbs[0], f->mem_gbs[1]);
    printf(", \"int8_peak_gops\": %.2f, \"bf16_peak_gflops\": %.2f, \"q8_product_gops\": %.2f",
           f->int8_peak_gops, f->bf16_peak_gflops, f->q8_product_gops);
    printf(", \"own_sgemm_gflops\": %.2f", f->own_sgemm_gflops);
    if (f->have_model)
        printf(", \"gemm\": \"%s\"", f->gemm);
    if (f->have_model) {
        double v_rate = f->vision_gflop / (f->vision_ms / 1e3);
        double a_rate = f->aligner_gflop / (f->aligner_ms / 1e3);
        double p_rate = f->prefill_gflop * f->prefill_tps / o->prefill;
        double d_gbs = f->decode_tps * f->decode_bytes_per_token / 1e9;
        printf(", \"model\": \"%s\", \"weights\": \"%s\", \"load_s\": %.3f, \"rss_after_load_gb\": %.3f, "
               "\"vision_ms\": %.1f, \"vision_gflops\": %.2f, \"vision_frac_sgemm\": %.3f, "
               "\"aligner_ms\": %.1f, \"aligner_gflops\": %.2f, \"aligner_frac_sgemm\": %.3f, "
               "\"prefill_tokens\": %d, \"prefill_tps\": %.2f, \"prefill_gflops\": %.2f, "
               "\"prefill_frac_sgemm\": %.3f, \"decode_tps\": %.3f, \"decode_gbs\": %.2f, "
               "\"decode_bytes_per_token\": %.0f, \"decode_frac_mem\": %.3f, \"peak_rss_gb\": %.3f",
               o->model, dv_weights_name(f->weights), f->load_s, f->rss_after_load_gb, f->vision_ms,
               v_rate, v_rate / f->sgemm_gflops[1], f->aligner_ms, a_rate,
               a_rate / f->sgemm_gflops[1], o->prefill, f->prefill_tps, p_rate,
               p_rate / f->sgemm_gflops[1], f->decode_tps, d_gbs, f->decode_bytes_per_token,
               d_gbs / f->mem_gbs[1], f->peak_rss_gb);
        printf(", \"prefill_tps_warm\": %.2f, \"prefill_gflops_warm\": %.2f",
               f->prefill_tps_warm, f->prefill_gflop * f->prefill_tps_warm / o->prefill);
        printf(", \"prefill_warm_runs\": %d, \"prefill_tps_warm_min\": %.2f, "
               "\"prefill_tps_warm_max\": %.2f",
               o->repeat, f->prefill_tps_warm_lo, f->prefill_tps_warm_hi);
        double t_gbs = f->decode_tps * (f->decode_bytes_per_token + f->decode_kv_bytes_per_token) / 1e9;
        printf(", \"decode_tps_mean\": %.3f", f->decode_tps_mean);
        printf(", \"decode_kv_bytes_per_token\": %.0f, \"decode_kv_dtype\": \"%s\", "
               "\"decode_total_gbs\": %.2f, \"decode_total_frac_mem\": %.3f",
               f->decode_kv_bytes_per_token, f->kv_elem_bytes == 2 ? "f16" : "f32", t_gbs,
               t_gbs / f->mem_gbs[1]);
        if (f->vision_ms_1t > 0)
            printf(", \"vision_ms_1t\": %.1f, \"vision_speedup\": %.3f, \"prefill_tps_1t\": %.2f, "
                   "\"prefill_speedup\": %.3f", f->vision_ms_1t, ratio(f->vision_ms_1t, f->vision_ms),
                   f->prefill_tps_1t, ratio(f->prefill_tps, f->prefill_tps_1t));
        if (o->page_tiles > 0)
            printf(", \"page_tiles\": %d, \"page_gen_tokens\": %d, \"page_s\": %.2f, "
                   "\"pages_per_hour\": %.2f, \"page_vision_s\": %.2f, \"page_prefill_s\": %.2f, "
                   "\"page_decode_s\": %.2f, \"page_cpu_s\": %.2f, \"page_vision_cpu_s\": %.2f, "
                   "\"page_prefill_cpu_s\": %.2f, \"page_decode_cpu_s\": %.2f", o->page_tiles,
                   o->page_gen, f->page_s, 3600 / f->page_s, f->page_vision_s, f->page_prefill_s,
                   f->page_decode_s, f->page_cpu_s, f->page_cpu_stage[0], f->page_cpu_stage[1],
                   f->page_cpu_stage[2]);
        if (o->page_tiles > 0)
            printf(", \"page_batch\": %d, \"page_shared_tokens\": %d", o->page_batch,
                   f->page_shared);
        for (int b = 0; b < o->n_batch; b++)
            printf("%s%d\": %.3f%s", b ? ", \"" : ", \"batch_decode_tps\": {\"", o->batch[b],
                   f->batch_tps[b], b + 1 == o->n_batch ? "}" : "");
        for (int b = 0; b < o->n_batch; b++)
            printf("%s%d\": %.2f%s", b ? ", \"" : ", \"batch_decode_total_gbs\": {\"",
                   o->batch[b], batch_total_gbs(o, f, b), b + 1 == o->n_batch ? "}" : "");
        for (int b = 0; b < o->n_batch; b++)
            printf("%s%d\": %.3f%s", b ? ", \"" : ", \"batch_decode_cpu_tps\": {\"",
                   o->batch[b], f->batch_cpu_tps[b], b + 1 == o->n_batch ? "}" : "");
        for (int b = 0; b < o->n_batch; b++)
            printf("%s%d\": %.3g%s", b ? ", \"" : ", \"batch_logit_err\": {\"", o->batch[b],
                   f->batch_logit_err[b], b + 1 == o->n_batch ? "}" : "");
        for (int b = 0; b < o->n_batch; b++)
            printf("%s%d\": %s%s", b ? ", \"" : ", \"batch_same_token\": {\"", o->batch[b],
                   f->batch_same_token[b] ? "true" : "false", b + 1 == o->n_batch ? "}" : "");
    }
    printf("}\n");
}

static int usage(void)
{
    fprintf(stderr, "usage: docvl-bench [--threads N] [--json] [--model DIR] [--prefill N] "
                    "[--decode N] [--weights auto|f32|bf16|q8|q4] [--no-ratios] [--load-only] "
                    "[--cache-dir DIR] [--page TILES] [--gen TOKENS] [--batch B,B,...] "
                    "[--page-batch N] [--shared N] [--repeat N]\n");
    return 2;
}

/* "1,2,4,8": at most 8 sizes of 1 to 64. */
static int parse_batches(const char *s, bench_opts *o)
{
    o->n_batch = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 64 || o->n_batch == 8 || (*end && *end != ','))
            return -1;
        o->batch[o->n_batch++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return o->n_batch ? 0 : -1;
}

int main(int argc, char **argv)
{
    cli_blas_reexec("docvl-bench", argv);
    bench_opts o = { .threads = dv_cpu_count(), .prefill = 600, .decode = 16, .ratios = 1,
                     .page_gen = 128, .page_batch = 1, .shared = -1, .repeat = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json"))
            o.json = 1;
        else if (!strcmp(a, "--threads") && i + 1 < argc)
            o.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--model") && i + 1 < argc)
            o.model = argv[++i];
        else if (!strcmp(a, "--prefill") && i + 1 < argc)
            o.prefill = atoi(argv[++i]);
        else if (!strcmp(a, "--decode") && i + 1 < argc)
            o.decode = atoi(argv[++i]);
        else if (!strcmp(a, "--weights") && i + 1 < argc) {
            if (dv_weights_from_name(argv[++i], &o.weights))
                return usage();
        } else if (!strcmp(a, "--no-ratios"))
            o.ratios = 0;
        else if (!strcmp(a, "--load-only"))
            o.load_only = 1;
        else if (!strcmp(a, "--cache-dir") && i + 1 < argc)
            o.cache_dir = argv[++i];
        else if (!strcmp(a, "--page") && i + 1 < argc)
            o.page_tiles = atoi(argv[++i]);
        else if (!strcmp(a, "--gen") && i + 1 < argc)
            o.page_gen = atoi(argv[++i]);
        else if (!strcmp(a, "--page-batch") && i + 1 < argc)
            o.page_batch = atoi(argv[++i]);
        else if (!strcmp(a, "--shared") && i + 1 < argc)
            o.shared = atoi(argv[++i]);
        else if (!strcmp(a, "--repeat") && i + 1 < argc)
            o.repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && i + 1 < argc) {
            if (parse_batches(argv[++i], &o))
                return usage();
        }
        else
            return usage();
    }
    if (o.threads < 1 || o.threads > 64 || o.prefill < 1 || o.decode < 1 || o.page_tiles < 0 ||
        o.page_gen < 0 || o.page_batch < 1 || o.page_batch > 64 || o.shared < -1 ||
        o.repeat < 1 || o.repeat > MAX_REPEAT)
        return usage();
    figures f = { 0 };
    if (o.load_only && o.model) {
        dv_err e = { 0 };
        if (bench_model(&o, &f, &e)) {
            fprintf(stderr, "docvl-bench: %s\n", e.msg);
            return 1;
        }
        return 0;
    }
    measure_limits(&o, &f);
    if (o.model) {
        dv_err e = { 0 };
        if (bench_model(&o, &f, &e)) {
            fprintf(stderr, "docvl-bench: %s\n", e.msg);
            return 1;
        }
        /* A shared machine's limits drift during a run: measured again after
         * the model, the better of the two figures is the limit (so the
         * fractions never flatter docvl). */
        measure_limits(&o, &f);
    }
    if (o.json)
        print_json(&o, &f);
    else
        print_text(&o, &f);
    return 0;
}
