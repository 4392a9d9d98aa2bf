/* The decoder against the goldens (prefill, layer 0, every greedy decode
 * step), against an independent float64 implementation on architectures the
 * goldens lack (GQA, other head sizes and theta, BF16), cached decoding
 * against full recomputation, the fp32 product it runs (dv_gemm), and its
 * errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lm_golden.h"
#include "lm_synth.h"
#include "kernels/cpu.h"
#include "kernels/pool.h"
#include "model/llama.h"
#include "text/sampler.h"

static const dv_ctx ctx1 = { .n_threads = 1 };

static float *fetch_f32(const dv_checkpoint *ck, const char *name)
{
    const dv_tensor *t = dv_checkpoint_find(ck, name);
    g_assert_nonnull(t);
    float *f = g_new(float, dv_tensor_numel(t));
    dv_widen(t, 0, (size_t)dv_tensor_numel(t), f);
    return f;
}

/* y[T,out] = x[T,in] W^T in double. */
static void naive_linear(const dv_checkpoint *ck, const char *name, const double *x, int T, int in,
                         int out, double *y)
{
    float *w = fetch_f32(ck, name), *b = NULL;
    char bname[200];
    snprintf(bname, sizeof bname, "%.*s.bias", (int)strlen(name) - 7, name);
    if (g_str_has_suffix(name, ".weight") && dv_checkpoint_find(ck, bname))
        b = fetch_f32(ck, bname);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < in; i++)
                s += x[(size_t)t * in + i] * w[(size_t)o * in + i];
            y[(size_t)t * out + o] = s;
        }
    g_free(w);
    g_free(b);
}

static void naive_rmsnorm(const dv_checkpoint *ck, const char *name, const double *x, int T, int H,
                          float eps, double *y)
{
    float *w = fetch_f32(ck, name);
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int i = 0; i < H; i++)
            ss += x[(size_t)t * H + i] * x[(size_t)t * H + i];
        double inv = 1.0 / sqrt(ss / H + eps);
        for (int i = 0; i < H; i++)
            y[(size_t)t * H + i] = x[(size_t)t * H + i] * inv * w[i];
    }
    g_free(w);
}

static void naive_rope(double *v, int T, int heads, int hd, double theta)
{
    for (int t = 0; t < T; t++)
        for (int h = 0; h < heads; h++) {
            double *r = v + ((size_t)t * heads + h) * hd;
            for (int j = 0; j < hd / 2; j++) {
                double a = t * pow(theta, -2.0 * j / hd), x0 = r[j], x1 = r[j + hd / 2];
                r[j] = x0 * cos(a) - x1 * sin(a);
                r[j + hd / 2] = x1 * cos(a) + x0 * sin(a);
            }
        }
}

static void naive_attention(const dv_lm_cfg *c, const double *q, const double *k, const double *v,
                            int T, double *out)
{
    int hd = c->head_dim, kvd = c->kv_heads * hd, rep = c->heads / c->kv_heads;
    double *p = g_new(double, T);
    for (int h = 0; h < c->heads; h++)
        for (int t = 0; t < T; t++) {
            const double *qr = q + (size_t)t * c->hidden + h * hd;
            double mx = -INFINITY, sum = 0;
            for (int s = 0; s <= t; s++) {
                double d = 0;
                for (int j = 0; j < hd; j++)
                    d += qr[j] * k[(size_t)s * kvd + (h / rep) * hd + j];
                p[s] = d / sqrt(hd);
                mx = fmax(mx, p[s]);
            }
            for (int s = 0; s <= t; s++)
                sum += p[s] = exp(p[s] - mx);
            for (int j = 0; j < hd; j++) {
                double a = 0;
                for (int s = 0; s <= t; s++)
                    a += p[s] * v[(size_t)s * kvd + (h / rep) * hd + j];
                out[(size_t)t * c->hidden + h * hd + j] = a / sum;
            }
        }
    g_free(p);
}

/* HF LlamaForCausalLM written the plain way, in double. logits [T, V]. */
static void naive_forward(const dv_lm_cfg *c, const dv_checkpoint *ck, const int32_t *ids, int T,
                          double *logits)
{
    int H = c->hidden, F = c->intermediate, kvd = c->kv_heads * c->head_dim;
    double *x = g_new0(double, (size_t)T * H), *xn = g_new(double, (size_t)T * H);
    double *q = g_new(double, (size_t)T * H), *k = g_new(double, (size_t)T * kvd);
    double *v = g_new(double, (size_t)T * kvd), *a = g_new(double, (size_t)T * H);
    double *g = g_new(double, (size_t)T * F), *u = g_new(double, (size_t)T * F);
    float *emb = fetch_f32(ck, "language_model.model.embed_tokens.weight");
    for (int t = 0; t < T; t++)
        for (int i = 0; i < H; i++)
            x[(size_t)t * H + i] = emb[(size_t)ids[t] * H + i];
    g_free(emb);
    char n[160];
    for (int l = 0; l < c->layers; l++) {
#define NM(s) (snprintf(n, sizeof n, "language_model.model.layers.%d.%s", l, s), n)
        naive_rmsnorm(ck, NM("input_layernorm.weight"), x, T, H, c->rms_eps, xn);
        naive_linear(ck, NM("self_attn.q_proj.weight"), xn, T, H, H, q);
        naive_linear(ck, NM("self_attn.k_proj.weight"), xn, T, H, kvd, k);
        naive_linear(ck, NM("self_attn.v_proj.weight"), xn, T, H, kvd, v);
        naive_rope(q, T, c->heads, c->head_dim, c->rope_theta);
        naive_rope(k, T, c->kv_heads, c->head_dim, c->rope_theta);
        naive_attention(c, q, k, v, T, a);
        naive_linear(ck, NM("self_attn.o_proj.weight"), a, T, H, H, q);
        for (size_t i = 0; i < (size_t)T * H; i++)
            x[i] += q[i];
        naive_rmsnorm(ck, NM("post_attention_layernorm.weight"), x, T, H, c->rms_eps, xn);
        naive_linear(ck, NM("mlp.gate_proj.weight"), xn, T, H, F, g);
        naive_linear(ck, NM("mlp.up_proj.weight"), xn, T, H, F, u);
        for (size_t i = 0; i < (size_t)T * F; i++)
            g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        naive_linear(ck, NM("mlp.down_proj.weight"), g, T, F, H, q);
        for (size_t i = 0; i < (size_t)T * H; i++)
            x[i] += q[i];
#undef NM
    }
    naive_rmsnorm(ck, "language_model.model.norm.weight", x, T, H, c->rms_eps, xn);
    const char *head = dv_checkpoint_find(ck, "language_model.lm_head.weight")
                           ? "language_model.lm_head.weight"
                           : "language_model.model.embed_tokens.weight";
    naive_linear(ck, head, xn, T, H, c->vocab, logits);
    double *bufs[] = { x, xn, q, k, v, a, g, u };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        g_free(bufs[i]);
}

/* max |a - b| over a row, relative to the row's largest |b|. */
static double row_rel(const float *a, const float *b, int n)
{
    double d = 0, m = 1e-30;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

static void random_ids(int32_t *ids, int n, int vocab, uint64_t seed)
{
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)(synth_rand(&seed) % (uint32_t)vocab);
}

static float *embed_all(const dv_llama *m, const int32_t *ids, int n, int H)
{
    float *x = g_new(float, (size_t)n * H);
    dv_err e = { 0 };
    g_assert_cmpint(dv_llama_embed(m, ids, n, x, &e), ==, DOCVL_OK);
    return x;
}

/* Prefill of everything at once vs prefill of `first` tokens, then a block of
 * `block`, then one token at a time: every logits row must agree. */
static void check_cache(const dv_llama *m, const int32_t *ids, int n, int first, int block)
{
    const dv_lm_cfg *c = dv_llama_cfg(m);
    int H = c->hidden, V = c->vocab;
    float *x = embed_all(m, ids, n, H);
    float *full = g_new(float, (size_t)n * V), *step = g_new(float, (size_t)n * V);
    dv_err e = { 0 };
    dv_llama_state *s;
    g_assert_cmpint(dv_llama_state_new(m, n, &s, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward(m, s, x, n, full, 1, NULL, &ctx1, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_state_pos(s), ==, n);
    dv_llama_state_reset(s);
    g_assert_cmpint(dv_llama_forward(m, s, x, first, step, 1, NULL, &ctx1, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward(m, s, x + (size_t)first * H, block, step + (size_t)first * V, 1,
                                     NULL, &ctx1, &e), ==, DOCVL_OK);
    for (int t = first + block; t < n; t++)
        g_assert_cmpint(dv_llama_forward(m, s, x + (size_t)t * H, 1, step + (size_t)t * V, 0, NULL,
                                         &ctx1, &e), ==, DOCVL_OK);
    double worst = 0;
    for (int t = 0; t < n; t++)
        worst = fmax(worst, row_rel(step + (size_t)t * V, full + (size_t)t * V, V));
    g_test_message("cached vs full: worst row-relative difference %.3g over %d tokens", worst, n);
    g_assert_cmpfloat(worst, <=, 1e-4);
    dv_llama_state_free(s);
    g_free(x);
    g_free(full);
    g_free(step);
}

/* Prefill of the golden inputs_embeds: layer 0, every position's logits. */
static void golden_prefill(lm_case *c, const char *name, dv_llama *m, dv_llama_state *s, int widen,
                           float *logits, const dv_ctx *ctx)
{
    const dv_tensor *emb = lm_gold(c, "inputs_embeds");
    int T = (int)emb->shape[0], H = c->cfg.lm.hidden, V = c->cfg.lm.vocab;
    float *l0 = g_new(float, (size_t)T * H);
    dv_err e = { 0 };
    g_assert_cmpint(dv_llama_forward(m, s, emb->data, T, logits, 1, l0, ctx, &e), ==, DOCVL_OK);
    double w0 = lm_worst(c, "lm_layer0_out", l0, (size_t)T * H);
    double wp = lm_worst(c, "logits_prefill", logits, (size_t)T * V);
    double wl = lm_worst(c, "logits_last", logits + (size_t)(T - 1) * V, (size_t)V);
    g_test_message("%s widen=%d: layer0 %.3f prefill %.3f last %.3f of allowed", name, widen, w0, wp, wl);
    g_assert_cmpfloat(w0, <=, 1.0);
    g_assert_cmpfloat(wp, <=, 1.0);
    g_assert_cmpfloat(wl, <=, 1.0);
    g_free(l0);
}

/* Greedy steps with the cache from the last prefill row: every decode_logits
 * row (with logits_too) and the ids over steps_safe_to_compare (past it, the
 * reference's id is fed so a near tie cannot shift later rows). */
static void golden_decode(lm_case *c, const char *name, dv_llama *m, dv_llama_state *s, int widen,
                          const float *last, int logits_too)
{
    const dv_tensor *gen = lm_gold(c, "generated_ids"), *dl = lm_gold(c, "decode_logits");
    const int32_t *gold = gen->data;
    int steps = (int)gen->shape[0], H = c->cfg.lm.hidden, V = c->cfg.lm.vocab;
    int safe = (int)json_object_get_int_member(json_object_get_object_member(c->root, "generation"),
                                               "steps_safe_to_compare");
    float *logits = g_new(float, (size_t)steps * V), *x = g_new(float, H);
    memcpy(logits, last, (size_t)V * sizeof *logits);
    dv_err e = { 0 };
    for (int i = 0; i < steps; i++) {
        int32_t id = dv_argmax(logits + (size_t)i * V, V);
        if (i < safe)
            g_assert_cmpint(id, ==, gold[i]);
        id = gold[i];
        if (i + 1 == steps)
            break;
        g_assert_cmpint(dv_llama_embed(m, &id, 1, x, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_forward(m, s, x, 1, logits + (size_t)(i + 1) * V, 0, NULL, &ctx1, &e),
                        ==, DOCVL_OK);
    }
    if (dl && logits_too) {
        double wd = lm_worst(c, "decode_logits", logits, (size_t)steps * V);
        g_test_message("%s widen=%d: decode_logits %.3f of allowed", name, widen, wd);
        g_assert_cmpfloat(wd, <=, 1.0);
    }
    g_free(logits);
    g_free(x);
}

/* Every golden case with language goldens, 16-bit weights kept and widened. */
static void test_golden(void)
{
    char **names = lm_case_names();
    int done = 0;
    for (char **nm = names; *nm; nm++) {
        lm_case c;
        lm_case_open(*nm, &c);
        const dv_tensor *emb = lm_gold(&c, "inputs_embeds"), *gen = lm_gold(&c, "generated_ids");
        if (emb && gen) {
            int T = (int)emb->shape[0], steps = (int)gen->shape[0];
            g_assert_cmpint((int)emb->shape[1], ==, c.cfg.lm.hidden);
            for (int widen = 0; widen <= 1; widen++) {
                dv_err e = { 0 };
                dv_llama *m;
                dv_llama_state *s;
                g_assert_cmpint(dv_llama_bind(&c.cfg, c.ck, widen, &m, &e), ==, DOCVL_OK);
                g_assert_cmpint(dv_llama_state_new(m, T + steps, &s, &e), ==, DOCVL_OK);
                float *logits = g_new(float, (size_t)T * c.cfg.lm.vocab);
                golden_prefill(&c, *nm, m, s, widen, logits, &ctx1);
                golden_decode(&c, *nm, m, s, widen, logits + (size_t)(T - 1) * c.cfg.lm.vocab, 1);
                g_free(logits);
                dv_llama_state_free(s);
                dv_llama_free(m);
            }
            done++;
        }
        lm_case_close(&c);
    }
    g_strfreev(names);
    g_assert_cmpint(done, >=, 1);
}

/* The decoder runs the fp32 product it chose at bind (dv_gemm_choose) in
 * its prefill, whatever product the caller's context names: docvl's
 * AVX-512 one and OpenBLAS's each give the golden logits within tolerance,
 * the same choice the same bits again, and where AVX-512 runs the two
 * differ in bits (a pass left on OpenBLAS would give OpenBLAS's bits).
 * BF16 weights kept 16-bit (widened panels) and widened at load (f32
 * products), on one thread and on two. */
static void test_gemm_choice(void)
{
    lm_case c;
    lm_case_open("tiny-bf16", &c);
    const dv_tensor *emb = lm_gold(&c, "inputs_embeds");
    g_assert_nonnull(emb);
    int T = (int)emb->shape[0];
    size_t len = (size_t)T * c.cfg.lm.vocab;
    dv_err e = { 0 };
    dv_pool *pool;
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, DOCVL_OK);
    const dv_gemm runs[3] = { DV_GEMM_OWN, DV_GEMM_OWN, DV_GEMM_BLAS };
    for (int widen = 0; widen <= 1; widen++) {
        dv_llama *m;
        g_assert_cmpint(dv_llama_bind(&c.cfg, c.ck, widen, &m, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_gemm(m), ==, dv_gemm_choose());
        float *logits[3];
        for (int i = 0; i < 3; i++) {
            dv_llama_set_gemm(m, runs[i]);
            g_assert_cmpint(dv_llama_gemm(m), ==, runs[i]);
            /* the caller's context names the other product */
            dv_gemm other = runs[i] == DV_GEMM_OWN ? DV_GEMM_BLAS : DV_GEMM_OWN;
            dv_ctx ctx = { .n_threads = i == 1 ? 2 : 1, .pool = i == 1 ? pool : NULL,
                           .gemm = other };
            dv_llama_state *s;
            g_assert_cmpint(dv_llama_state_new(m, T, &s, &e), ==, DOCVL_OK);
            logits[i] = g_new(float, len);
            golden_prefill(&c, "tiny-bf16", m, s, widen, logits[i], &ctx);
            dv_llama_state_free(s);
        }
        g_assert_cmpmem(logits[0], len * sizeof(float), logits[1], len * sizeof(float));
        g_assert_true((memcmp(logits[0], logits[2], len * sizeof(float)) != 0) ==
                      dv_cpu_has_avx512());
        for (int i = 0; i < 3; i++)
            g_free(logits[i]);
        dv_llama_free(m);
    }
    dv_pool_free(pool);
    lm_case_close(&c);
}

/* The golden model: its real weights, a sequence long enough to cross the
 * prefill chunk (512) and attention key-block boundaries. */
static void test_cache_golden(void)
{
    lm_case c;
    lm_case_open("tiny-f32", &c);
    dv_err e = { 0 };
    dv_llama *m;
    g_assert_cmpint(dv_llama_bind(&c.cfg, c.ck, 0, &m, &e), ==, DOCVL_OK);
    int n = 600;
    int32_t *ids = g_new(int32_t, n);
    random_ids(ids, n, c.cfg.lm.vocab, 7);
    check_cache(m, ids, n, 37, 100);
    g_free(ids);
    dv_llama_free(m);
    lm_case_close(&c);
}

/* An f16 KV cache (the q8/q4 formats): cached decoding still equals its own
 * full recomputation (both read the same rounded keys), and the logits stay
 * within f16 rounding of the f32 cache's, but are not identical to them. */
static void test_kv_f16(void)
{
    lm_case c;
    lm_case_open("tiny-f32", &c);
    dv_err e = { 0 };
    dv_llama *m32, *m16;
    dv_lm_weights w = { .n_threads = 1, .kv_f16 = 1 };
    g_assert_cmpint(dv_llama_bind(&c.cfg, c.ck, 0, &m32, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_bind_ex(&c.cfg, c.ck, &w, &m16, &e), ==, DOCVL_OK);
    int n = 600, V = c.cfg.lm.vocab, H = c.cfg.lm.hidden;
    int32_t *ids = g_new(int32_t, n);
    random_ids(ids, n, V, 11);
    check_cache(m16, ids, n, 37, 100);
    float *x = embed_all(m32, ids, n, H);
    float *l32 = g_new(float, (size_t)n * V), *l16 = g_new(float, (size_t)n * V);
    dv_llama *ms[2] = { m32, m16 };
    float *outs[2] = { l32, l16 };
    for (int k = 0; k < 2; k++) {
        dv_llama_state *s;
        g_assert_cmpint(dv_llama_state_new(ms[k], n, &s, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_forward(ms[k], s, x, n, outs[k], 1, NULL, &ctx1, &e), ==,
                        DOCVL_OK);
        dv_llama_state_free(s);
    }
    double worst = 0;
    for (int t = 0; t < n; t++)
        worst = fmax(worst, row_rel(l16 + (size_t)t * V, l32 + (size_t)t * V, V));
    g_test_message("f16 vs f32 KV cache: worst row-relative logit difference %.3g", worst);
    g_assert_cmpfloat(worst, >, 0.0);
    g_assert_cmpfloat(worst, <=, 5e-3);
    g_free(x);
    g_free(l32);
    g_free(l16);
    g_free(ids);
    dv_llama_free(m32);
    dv_llama_free(m16);
    lm_case_close(&c);
}

/* --weights bf16's prefill on AVX-512 BF16 (dv_lm_weights.bf16_products:
 * activations rounded to bf16 in the layers' products, with a pool): the
 * tiny-bf16 golden's prefill logits stay within 3% of the largest logit of
 * the exact path's (measured 1.4%), differ from them where the kernel
 * runs and equal them where it does not (DOCVL_KERNELS=f32, a CPU without
 * it); its greedy ids are the reference's over every step safe to compare;
 * and a bind without the flag (docvl-golden's, every other test's) stays
 * exact. */
static void test_bf16_products(void)
{
    lm_case c;
    lm_case_open("tiny-bf16", &c);
    const dv_tensor *emb = lm_gold(&c, "inputs_embeds"), *gen = lm_gold(&c, "generated_ids");
    g_assert_nonnull(emb);
    g_assert_nonnull(gen);
    int T = (int)emb->shape[0], V = c.cfg.lm.vocab, steps = (int)gen->shape[0];
    g_assert_cmpint(T, >, 8);   /* past the few-row products */
    dv_err e = { 0 };
    dv_pool *pool;
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, DOCVL_OK);
    dv_ctx ctx = { .n_threads = 2, .pool = pool };
    float *logits[2];
    for (int k = 0; k < 2; k++) {
        /* and its f16 KV cache, as dv_model_load holds --weights bf16 */
        dv_lm_weights w = { .n_threads = 2, .bf16_products = k,
                            .kv_f16 = k && dv_cpu_bgemm_level() >= 2 };
        dv_llama *m;
        dv_llama_state *s;
        g_assert_cmpint(dv_llama_bind_ex(&c.cfg, c.ck, &w, &m, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_state_new(m, T + steps, &s, &e), ==, DOCVL_OK);
        logits[k] = g_new(float, (size_t)T * V);
        g_assert_cmpint(dv_llama_forward(m, s, emb->data, T, logits[k], 1, NULL, &ctx, &e), ==,
                        DOCVL_OK);
        golden_decode(&c, k ? "tiny-bf16 bf16 products" : "tiny-bf16", m, s, 0,
                      logits[k] + (size_t)(T - 1) * V, !k);
        dv_llama_state_free(s);
        dv_llama_free(m);
    }
    double worst = 0;
    int same_ids = 0;
    for (int t = 0; t < T; t++) {
        worst = fmax(worst, row_rel(logits[1] + (size_t)t * V, logits[0] + (size_t)t * V, V));
        same_ids += dv_argmax(logits[1] + (size_t)t * V, V) == dv_argmax(logits[0] + (size_t)t * V, V);
    }
    g_test_message("bf16 products vs exact: worst row-relative logit difference %.3g, "
                   "%d of %d prefill argmax ids the same", worst, same_ids, T);
    if (dv_cpu_bgemm_level() >= 2) {
        g_assert_cmpfloat(worst, >, 0.0);
        g_assert_cmpfloat(worst, <=, 3e-2);
    } else {
        g_assert_cmpfloat(worst, ==, 0.0);
    }
    g_free(logits[0]);
    g_free(logits[1]);
    dv_pool_free(pool);
    lm_case_close(&c);
}

typedef struct arch {
    int hidden, layers, heads, kv_heads, inter, vocab;
    float theta;
    dv_dtype dt;
    int flags;   /* SYNTH_BIAS, SYNTH_TIED */
} arch;

static void check_arch(const arch *a, int n)
{
    char *dir = test_tmpdir();
    dv_config cfg = synth_config(a->hidden, a->layers, a->heads, a->kv_heads, a->inter, a->vocab, 4096,
                                 a->theta);
    cfg.lm.tie_word_embeddings = !!(a->flags & SYNTH_TIED);
    synth_write_flags(dir, &cfg.lm, a->dt, (uint64_t)a->hidden * 31 + (uint64_t)a->kv_heads, a->flags);
    dv_err e = { 0 };
    dv_checkpoint *ck;
    dv_llama *m;
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_bind(&cfg, ck, 0, &m, &e), ==, DOCVL_OK);
    int32_t *ids = g_new(int32_t, n);
    random_ids(ids, n, a->vocab, 99);
    double *ref = g_new(double, (size_t)n * a->vocab);
    naive_forward(&cfg.lm, ck, ids, n, ref);
    float *x = embed_all(m, ids, n, a->hidden), *got = g_new(float, (size_t)n * a->vocab);
    dv_llama_state *s;
    g_assert_cmpint(dv_llama_state_new(m, n, &s, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward(m, s, x, n, got, 1, NULL, &ctx1, &e), ==, DOCVL_OK);
    double worst = 0, refmax = 0;
    for (size_t i = 0; i < (size_t)n * a->vocab; i++) {
        worst = fmax(worst, fabs(got[i] - ref[i]));
        refmax = fmax(refmax, fabs(ref[i]));
    }
    g_test_message("heads %d/%d hd %d theta %g %s flags %d: max |f32 - f64| %.3g (max |logit| %.3g)",
                   a->heads, a->kv_heads, a->hidden / a->heads, a->theta, dv_dtype_name(a->dt), a->flags,
                   worst, refmax);
    g_assert_cmpfloat(refmax, >, 0.5);   /* the logits are not trivially flat */
    g_assert_cmpfloat(worst, <=, 2e-5 * refmax + 1e-5);
    check_cache(m, ids, n, n / 3, n / 4);
    dv_llama_state_free(s);
    dv_llama_free(m);
    dv_checkpoint_close(ck);
    g_free(ids);
    g_free(ref);
    g_free(x);
    g_free(got);
    test_rmtree(dir);
    g_free(dir);
}

static void test_architectures(void)
{
    const arch archs[] = {
        { 48, 2, 6, 2, 100, 97, 50000.0f, DV_BF16, 0 },   /* GQA, 3 queries per kv head */
        { 32, 3, 2, 1, 64, 61, 10000.0f, DV_F32, 0 },     /* MQA, head_dim 16 */
        { 40, 1, 5, 5, 72, 50, 1000.0f, DV_F32, 0 },      /* odd head count, head_dim 8 */
        { 32, 2, 4, 2, 48, 40, 10000.0f, DV_F32, SYNTH_BIAS | SYNTH_TIED },   /* biases, tied head */
    };
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        check_arch(&archs[i], 280);
}

/* A prompt wide and long enough (300 rows of 256) that the norms, residual
 * adds, SiLU and RoPE split over the pool by rows, with fewer kv heads than
 * heads, into an f32 and an f16 cache: on two threads its logits and cache
 * rows equal one thread's bit for bit, and the f32 cache's logits are the
 * f64 reference's within f32 tolerance. */
static void test_rows_split(void)
{
    char *dir = test_tmpdir();
    const int H = 256, V = 53, n = 300;
    dv_config cfg = synth_config(H, 2, 4, 2, 384, V, 4096, 10000.0f);
    synth_write(dir, &cfg.lm, DV_F32, 4242);
    dv_err e = { 0 };
    dv_checkpoint *ck;
    dv_pool *pool;
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_pool_new(2, &pool, &e), ==, DOCVL_OK);
    int32_t ids[300];
    random_ids(ids, n, V, 5);
    double *ref = g_new(double, (size_t)n * V);
    naive_forward(&cfg.lm, ck, ids, n, ref);
    size_t kv = (size_t)n * (H / 2);
    for (int kv_f16 = 0; kv_f16 <= 1; kv_f16++) {
        dv_lm_weights w = { .n_threads = 2, .kv_f16 = kv_f16 };
        dv_llama *m;
        g_assert_cmpint(dv_llama_bind_ex(&cfg, ck, &w, &m, &e), ==, DOCVL_OK);
        float *x = embed_all(m, ids, n, H), *logits[2], *k[2], *v[2];
        for (int t = 0; t < 2; t++) {
            dv_ctx ctx = { .n_threads = t + 1, .pool = t ? pool : NULL };
            dv_llama_state *s;
            g_assert_cmpint(dv_llama_state_new(m, n, &s, &e), ==, DOCVL_OK);
            logits[t] = g_new(float, (size_t)n * V);
            k[t] = g_new(float, kv);
            v[t] = g_new(float, kv);
            g_assert_cmpint(dv_llama_forward(m, s, x, n, logits[t], 1, NULL, &ctx, &e), ==,
                            DOCVL_OK);
            g_assert_cmpint(dv_llama_state_rows(s, 1, 0, n, k[t], v[t], &e), ==, DOCVL_OK);
            dv_llama_state_free(s);
        }
        g_assert_cmpmem(logits[0], (size_t)n * V * sizeof(float), logits[1],
                        (size_t)n * V * sizeof(float));
        g_assert_cmpmem(k[0], kv * sizeof(float), k[1], kv * sizeof(float));
        g_assert_cmpmem(v[0], kv * sizeof(float), v[1], kv * sizeof(float));
        double worst = 0, refmax = 0;
        for (size_t i = 0; i < (size_t)n * V; i++) {
            worst = fmax(worst, fabs(logits[1][i] - ref[i]));
            refmax = fmax(refmax, fabs(ref[i]));
        }
        g_test_message("%s cache: max |2 threads - f64| %.3g (max |logit| %.3g)",
                       kv_f16 ? "f16" : "f32", worst, refmax);
        g_assert_cmpfloat(refmax, >, 0.5);
        if (!kv_f16)
            g_assert_cmpfloat(worst, <=, 2e-5 * refmax + 1e-5);
        for (int t = 0; t < 2; t++) {
            g_free(logits[t]);
            g_free(k[t]);
            g_free(v[t]);
        }
        g_free(x);
        dv_llama_free(m);
    }
    g_free(ref);
    dv_pool_free(pool);
    dv_checkpoint_close(ck);
    test_rmtree(dir);
    g_free(dir);
}

static void test_errors(void)
{
    char *dir = test_tmpdir();
    dv_config cfg = synth_config(16, 1, 2, 2, 24, 20, 64, 10000.0f);
    synth_write(dir, &cfg.lm, DV_F32, 5);
    dv_err e = { 0 };
    dv_checkpoint *ck;
    dv_llama *m;
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, DOCVL_OK);

    dv_config two = cfg;
    two.lm.layers = 2;
    g_assert_cmpint(dv_llama_bind(&two, ck, 0, &m, &e), ==, DOCVL_EMODEL);
    g_assert_nonnull(strstr(e.msg, "language_model.model.layers.1."));
    g_assert_null(m);
    dv_err_clear(&e);
    dv_config wide = cfg;
    wide.lm.intermediate = 30;
    g_assert_cmpint(dv_llama_bind(&wide, ck, 0, &m, &e), ==, DOCVL_EMODEL);
    g_assert_nonnull(strstr(e.msg, "mlp.gate_proj.weight"));
    g_assert_nonnull(strstr(e.msg, "30"));
    dv_err_clear(&e);

    g_assert_cmpint(dv_llama_bind(&cfg, ck, 1, &m, &e), ==, DOCVL_OK);
    dv_llama_state *s;
    g_assert_cmpint(dv_llama_state_new(m, 65, &s, &e), ==, DOCVL_ECONTEXT);
    g_assert_nonnull(strstr(e.msg, "64"));
    dv_err_clear(&e);
    g_assert_cmpint(dv_llama_state_new(m, 10, &s, &e), ==, DOCVL_OK);
    int32_t bad = 20;
    float x[16 * 11], logits[20];
    g_assert_cmpint(dv_llama_embed(m, &bad, 1, x, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "20"));
    dv_err_clear(&e);
    int32_t ids[11] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    g_assert_cmpint(dv_llama_embed(m, ids, 11, x, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward(m, s, x, 8, logits, 0, NULL, &ctx1, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward(m, s, x, 3, logits, 0, NULL, &ctx1, &e), ==, DOCVL_ECONTEXT);
    g_assert_cmpint(dv_llama_state_pos(s), ==, 8);   /* the failed call changed nothing */
    dv_llama_state_free(s);
    dv_llama_free(m);
    dv_checkpoint_close(ck);
    test_rmtree(dir);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/llama/golden", test_golden);
    g_test_add_func("/llama/gemm_choice", test_gemm_choice);
    g_test_add_func("/llama/cache-equals-full/golden-model", test_cache_golden);
    g_test_add_func("/llama/kv-f16", test_kv_f16);
    g_test_add_func("/llama/bf16-products", test_bf16_products);
    g_test_add_func("/llama/architectures", test_architectures);
    g_test_add_func("/llama/rows-split", test_rows_split);
    g_test_add_func("/llama/errors", test_errors);
    return g_test_run();
}
