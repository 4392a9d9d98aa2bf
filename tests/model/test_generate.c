/* The generation loop on the golden tiny models: it reproduces the golden
 * greedy ids, stops a real loop early and says so, honours eos ids and stop
 * strings (never streaming a piece of a stop string), enforces the context
 * length, and continues a cached conversation like a fresh prefill. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "lm_golden.h"
#include "model/generate.h"
#include "model/llama.h"
#include "text/tokenizer.h"

static const dv_ctx ctx1 = { .n_threads = 1 };

typedef struct fixture {
    lm_case c;
    dv_llama *m;
    dv_decoder d;            /* m as generation sees it */
    dv_tokenizer *tok;
    const float *embeds;
    int T;
    const int32_t *gold_ids;
    int gold_n;
} fixture;

static void fx_open(fixture *f, const char *name)
{
    lm_case_open(name, &f->c);
    dv_err e = { 0 };
    g_assert_cmpint(dv_llama_bind(&f->c.cfg, f->c.ck, 0, &f->m, &e), ==, DOCVL_OK);
    f->d = dv_llama_decoder(f->m);
    char *p = g_build_filename(f->c.dir, "tokenizer.json", NULL);
    if (dv_tokenizer_open(p, &f->tok, &e))
        g_error("%s", e.msg);
    g_free(p);
    const dv_tensor *x = lm_gold(&f->c, "inputs_embeds"), *g = lm_gold(&f->c, "generated_ids");
    g_assert_nonnull(x);
    g_assert_nonnull(g);
    f->embeds = x->data;
    f->T = (int)x->shape[0];
    f->gold_ids = g->data;
    f->gold_n = (int)g->shape[0];
}

/* The fixture's decoder bound again with q weights (head included) and an
 * f16 cache or not. */
static void fx_rebind(fixture *f, dv_qfmt q, int kv_f16)
{
    dv_llama_free(f->m);
    dv_err e = { 0 };
    dv_lm_weights w = { .qfmt = q, .head_qfmt = q, .n_threads = 1, .kv_f16 = kv_f16 };
    g_assert_cmpint(dv_llama_bind_ex(&f->c.cfg, f->c.ck, &w, &f->m, &e), ==, DOCVL_OK);
    f->d = dv_llama_decoder(f->m);
}

static void fx_close(fixture *f)
{
    dv_tokenizer_free(f->tok);
    dv_llama_free(f->m);
    lm_case_close(&f->c);
}

typedef struct stream {
    GString *text;
    int calls, last_step;
} stream;

static int on_token(void *user, int step, int32_t id, const char *text, size_t len)
{
    stream *s = user;
    (void)id;
    g_assert_cmpint(step, ==, s->calls);
    s->calls++;
    s->last_step = step;
    g_string_append_len(s->text, text, (gssize)len);
    return 0;
}

static dv_gen_result run(fixture *f, const dv_gen_opts *o)
{
    dv_gen_result r;
    dv_err e = { 0 };
    if (dv_generate(&f->d, f->tok, f->embeds, f->T, o, &r, &ctx1, &e))
        g_error("%s", e.msg);
    return r;
}

typedef struct stopper {
    int stop_at;        /* the step whose call asks to stop; -1: never */
    int last;           /* the last step called */
} stopper;

static int stop_at(void *user, int step, int32_t id, const char *text, size_t len)
{
    (void)id;
    (void)text;
    (void)len;
    stopper *s = user;
    s->last = step;
    return step == s->stop_at;
}

/* A callback that asks to stop ends generation there, and the result says
 * so (the reader's tile result takes its stop flag from it); a callback
 * that never asks leaves the flag clear. */
static void test_callback_stops(void)
{
    fixture f;
    fx_open(&f, "tiny-f32");
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.max_new_tokens = 20;
    o.guard.enabled = 0;
    stopper st = { 2, -1 };
    o.on_token = stop_at;
    o.user = &st;
    dv_gen_result r = run(&f, &o);
    g_assert_cmpint(r.stop, ==, DV_STOP_CALLBACK);
    g_assert_true(r.stopped);
    g_assert_cmpint(r.n_ids, ==, 3);
    g_assert_cmpint(st.last, ==, 2);
    dv_gen_result_free(&r);
    st.stop_at = -1;
    r = run(&f, &o);
    g_assert_false(r.stopped);
    g_assert_cmpint(r.stop, ==, DV_STOP_MAX_TOKENS);
    dv_gen_result_free(&r);
    fx_close(&f);
}

/* The golden tiny-f32 greedy output alternates two ids: a loop. */
static void test_loop_stops_early(void)
{
    fixture f;
    fx_open(&f, "tiny-f32");
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.max_new_tokens = 200;
    stream s = { g_string_new(NULL), 0, -1 };
    o.on_token = on_token;
    o.user = &s;
    dv_gen_result r = run(&f, &o);
    g_test_message("stopped after %d of %d tokens, kept %d, degenerate %d", s.calls, o.max_new_tokens,
                   r.n_ids, r.degenerate);
    g_assert_true(r.degenerate);
    g_assert_cmpint(r.stop, ==, DV_STOP_LOOP);
    g_assert_cmpint(s.calls, <, o.max_new_tokens / 2);
    g_assert_cmpint(r.n_ids, >=, 1);
    g_assert_cmpint(r.n_ids, <, s.calls);
    for (int i = 0; i < r.n_ids && i < f.gold_n; i++)
        g_assert_cmpint(r.ids[i], ==, f.gold_ids[i]);
    g_assert_nonnull(r.text);
    dv_gen_result_free(&r);
    g_string_free(s.text, TRUE);

    /* without the guard the same run goes to max_new_tokens, matching the
     * golden ids all the way */
    o.guard.enabled = 0;
    for (int extra = 4; extra <= 5; extra++) {
        stream t = { g_string_new(NULL), 0, -1 };
        o.on_token = on_token;
        o.user = &t;
        o.max_new_tokens = f.gold_n + extra;
        r = run(&f, &o);
        g_assert_false(r.degenerate);
        g_assert_cmpint(r.stop, ==, DV_STOP_MAX_TOKENS);
        g_assert_cmpint(r.n_ids, ==, o.max_new_tokens);
        g_assert_cmpmem(r.ids, f.gold_n * sizeof(int32_t), f.gold_ids, f.gold_n * sizeof(int32_t));
        /* the streamed pieces add up to the text, held-back tail included */
        g_assert_cmpstr(t.text->str, ==, r.text);
        g_assert_cmpint(t.calls, >=, r.n_ids);
        g_string_free(t.text, TRUE);
        dv_gen_result_free(&r);
    }
    fx_close(&f);
}

/* The position of the first golden token not seen before it (not 0): a
 * token the greedy run picks there and not earlier. */
static int first_new_token(const fixture *f)
{
    int k = 1;
    while (k < f->gold_n) {
        int seen = 0;
        for (int j = 0; j < k; j++)
            seen |= f->gold_ids[j] == f->gold_ids[k];
        if (!seen)
            break;
        k++;
    }
    g_assert_cmpint(k, <, f->gold_n);
    return k;
}

static void test_eos(void)
{
    fixture f;
    fx_open(&f, "tiny-bf16");
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.max_new_tokens = 10;
    o.n_eos = 2;
    o.eos_ids[0] = dv_tokenizer_eos(f.tok);
    /* the first golden token not seen before it ends the run there */
    int k = first_new_token(&f);
    o.eos_ids[1] = f.gold_ids[k];
    dv_gen_result r = run(&f, &o);
    g_assert_cmpint(r.stop, ==, DV_STOP_EOS);
    g_assert_cmpint(r.n_ids, ==, k);
    g_assert_cmpmem(r.ids, k * sizeof(int32_t), f.gold_ids, k * sizeof(int32_t));
    dv_gen_result_free(&r);
    fx_close(&f);
}

/* A stop string taken from the model's own output cuts the text at its
 * first occurrence; the streamed text never holds any of it. */
static void test_stop_string(void)
{
    fixture f;
    fx_open(&f, "tiny-siglip-f32");
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.guard.enabled = 0;
    o.max_new_tokens = f.gold_n;
    dv_gen_result full = run(&f, &o);
    char *stop = NULL;
    dv_err e = { 0 };
    for (int k = 1; k < full.n_ids && !stop; k++) {
        char *piece;
        g_assert_cmpint(dv_tokenizer_decode(f.tok, &full.ids[k], 1, 1, &piece, &e), ==, DOCVL_OK);
        size_t len = strlen(piece), printable = 0;
        for (size_t i = 0; i < len; i++)
            printable += piece[i] > ' ' && piece[i] < 127;
        if (len >= 2 && printable + 1 >= len)
            stop = g_strdup(piece);
        free(piece);
    }
    if (!stop) {
        g_test_skip("no printable token in this model's output");
        dv_gen_result_free(&full);
        fx_close(&f);
        return;
    }
    const char *hit = strstr(full.text, stop);
    g_assert_nonnull(hit);
    char *want = g_strndup(full.text, (gsize)(hit - full.text));
    o.n_stop = 2;
    o.stop[0] = "User:";
    o.stop[1] = stop;
    stream s = { g_string_new(NULL), 0, -1 };
    o.on_token = on_token;
    o.user = &s;
    dv_gen_result r = run(&f, &o);
    g_test_message("stop string \"%s\": kept \"%s\"", stop, r.text);
    g_assert_cmpint(r.stop, ==, DV_STOP_STRING);
    g_assert_cmpstr(r.text, ==, want);
    g_assert_cmpstr(s.text->str, ==, want);
    g_assert_cmpint(r.n_ids, <, full.n_ids);
    dv_gen_result_free(&r);
    dv_gen_result_free(&full);
    g_string_free(s.text, TRUE);
    g_free(want);
    g_free(stop);
    fx_close(&f);
}

static void test_context_length(void)
{
    fixture f;
    fx_open(&f, "tiny-f32");
    int ctx_len = f.c.cfg.lm.max_pos;
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.max_new_tokens = ctx_len - f.T + 1;   /* one token too many */
    dv_gen_result r;
    dv_err e = { 0 };
    g_assert_cmpint(dv_generate(&f.d, f.tok, f.embeds, f.T, &o, &r, &ctx1, &e), ==, DOCVL_ECONTEXT);
    char *num = g_strdup_printf("%d", ctx_len);
    g_assert_nonnull(strstr(e.msg, num));
    g_assert_nonnull(strstr(e.msg, "context length"));
    g_free(num);
    g_assert_null(r.ids);
    dv_err_clear(&e);
    o.max_new_tokens = 2;   /* fits */
    g_assert_cmpint(dv_generate(&f.d, f.tok, f.embeds, f.T, &o, &r, &ctx1, &e), ==, DOCVL_OK);
    dv_gen_result_free(&r);

    /* fit_context: as many tokens as the context leaves, no error */
    o.max_new_tokens = ctx_len;
    o.fit_context = 1;
    o.guard.enabled = 0;
    g_assert_cmpint(dv_generate(&f.d, f.tok, f.embeds, f.T, &o, &r, &ctx1, &e), ==, DOCVL_OK);
    g_assert_cmpint(r.stop, ==, DV_STOP_CONTEXT);
    g_assert_cmpint(r.n_ids, ==, ctx_len - f.T);
    dv_gen_result_free(&r);
    o.fit_context = 0;
    o.guard.enabled = 1;

    /* a state with a smaller cache */
    dv_llama_state *s;
    g_assert_cmpint(dv_llama_state_new(f.m, f.T + 4, &s, &e), ==, DOCVL_OK);
    o.max_new_tokens = 5;
    g_assert_cmpint(dv_generate_with(&f.d, s, f.tok, f.embeds, f.T, &o, &r, &ctx1, &e), ==, DOCVL_ECONTEXT);
    g_assert_nonnull(strstr(e.msg, "KV cache"));
    g_assert_cmpint(dv_llama_state_pos(s), ==, 0);
    dv_err_clear(&e);
    o.fit_context = 1;   /* the prompt itself must still fit */
    g_assert_cmpint(dv_generate_with(&f.d, s, f.tok, f.embeds, f.T + 5, &o, &r, &ctx1, &e), ==,
                    DOCVL_ECONTEXT);
    o.fit_context = 0;
    dv_err_clear(&e);
    o.max_new_tokens = 0;
    g_assert_cmpint(dv_generate_with(&f.d, s, f.tok, f.embeds, f.T, &o, &r, &ctx1, &e), ==, DOCVL_EINVAL);
    dv_llama_state_free(s);
    fx_close(&f);
}

/* A conversation continued on a cached state gives what one prefill of the
 * whole history gives: positions carry on across turns. */
static void test_continue_cached(void)
{
    fixture f;
    fx_open(&f, "tiny-siglip-f32");
    int split = f.T / 2, H = f.c.cfg.lm.hidden;
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.guard.enabled = 0;
    o.max_new_tokens = 8;
    dv_err e = { 0 };
    dv_llama_state *s;
    g_assert_cmpint(dv_llama_state_new(f.m, f.T + o.max_new_tokens, &s, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward(f.m, s, f.embeds, split, NULL, 0, NULL, &ctx1, &e), ==, DOCVL_OK);
    dv_gen_result a, b = run(&f, &o);
    g_assert_cmpint(dv_generate_with(&f.d, s, f.tok, f.embeds + (size_t)split * H, f.T - split, &o, &a,
                                     &ctx1, &e), ==, DOCVL_OK);
    g_assert_cmpint(a.n_ids, ==, b.n_ids);
    g_assert_cmpmem(a.ids, a.n_ids * sizeof(int32_t), b.ids, b.n_ids * sizeof(int32_t));
    g_assert_cmpstr(a.text, ==, b.text);
    dv_gen_result_free(&a);
    dv_gen_result_free(&b);
    dv_llama_state_free(s);
    fx_close(&f);
}

/* log softmax(logits)[id], worked out here in double. */
static double ref_logprob(const float *logits, int vocab, int32_t id)
{
    double top = logits[0], sum = 0;
    for (int i = 1; i < vocab; i++)
        top = fmax(top, logits[i]);
    for (int i = 0; i < vocab; i++)
        sum += exp(logits[i] - top);
    return logits[id] - top - log(sum);
}

/* With score, the result carries the sum of the picked tokens'
 * log-probabilities, eos included: the same as feeding the ids back one by
 * one and taking each one's log-softmax; without it, nothing. */
static void test_score(void)
{
    fixture f;
    fx_open(&f, "tiny-bf16");
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.guard.enabled = 0;
    o.max_new_tokens = 10;
    int k = first_new_token(&f);    /* eos there */
    o.n_eos = 1;
    o.eos_ids[0] = f.gold_ids[k];
    dv_gen_result plain = run(&f, &o);
    g_assert_cmpint(plain.n_scored, ==, 0);
    g_assert_cmpfloat(plain.logprob, ==, 0);
    o.score = 1;
    dv_gen_result r = run(&f, &o);
    g_assert_cmpint(r.n_ids, ==, plain.n_ids);
    g_assert_cmpmem(r.ids, r.n_ids * sizeof(int32_t), plain.ids, plain.n_ids * sizeof(int32_t));
    g_assert_cmpint(r.stop, ==, DV_STOP_EOS);
    g_assert_cmpint(r.n_ids, ==, k);
    g_assert_cmpint(r.n_scored, ==, r.n_ids + 1);
    int V = f.d.vocab, H = f.c.cfg.lm.hidden;
    float *logits = g_new(float, V), *emb = g_new(float, H);
    dv_err e = { 0 };
    dv_llama_state *s;
    g_assert_cmpint(dv_llama_state_new(f.m, f.T + o.max_new_tokens, &s, &e), ==, DOCVL_OK);
    g_assert_cmpint(f.d.ops->forward(f.d.model, s, f.embeds, f.T, logits, &ctx1, &e), ==, DOCVL_OK);
    double want = 0;
    for (int i = 0; i <= r.n_ids; i++) {
        int32_t id = i < r.n_ids ? r.ids[i] : o.eos_ids[0];
        double lp = ref_logprob(logits, V, id);
        g_assert_cmpfloat(lp, <=, 0);
        g_assert_cmpfloat(lp, >=, -log(V));   /* greedy: the likeliest token */
        want += lp;
        if (i == r.n_ids)
            break;
        g_assert_cmpint(f.d.ops->embed(f.d.model, &id, 1, emb, &e), ==, DOCVL_OK);
        g_assert_cmpint(f.d.ops->forward(f.d.model, s, emb, 1, logits, &ctx1, &e), ==, DOCVL_OK);
    }
    g_assert_cmpfloat_with_epsilon(r.logprob, want, 1e-9 * fmax(1, fabs(want)));
    g_assert_cmpfloat(r.logprob, <, 0);
    dv_llama_state_free(s);
    g_free(logits);
    g_free(emb);
    dv_gen_result_free(&r);
    dv_gen_result_free(&plain);
    fx_close(&f);
}

static void test_sampling_seeded(void)
{
    fixture f;
    fx_open(&f, "tiny-bf16");
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.guard.enabled = 0;
    o.max_new_tokens = 12;
    o.sampler = (dv_sampler_opts){ .temperature = 1.5f, .top_k = 50, .top_p = 0.95f, .seed = 11 };
    dv_gen_result a = run(&f, &o), b = run(&f, &o);
    g_assert_cmpint(a.n_ids, ==, b.n_ids);
    g_assert_cmpmem(a.ids, a.n_ids * sizeof(int32_t), b.ids, b.n_ids * sizeof(int32_t));
    o.sampler.seed = 12;
    dv_gen_result c = run(&f, &o);
    int differ = c.n_ids != a.n_ids;
    for (int i = 0; !differ && i < a.n_ids; i++)
        differ = a.ids[i] != c.ids[i];
    g_assert_true(differ);
    dv_gen_result_free(&a);
    dv_gen_result_free(&b);
    dv_gen_result_free(&c);
    fx_close(&f);
}

/* A strong repetition penalty over the prompt and the output breaks the
 * golden two-token loop; penalty 1 is the plain greedy run. */
static void test_repetition_penalty(void)
{
    fixture f;
    fx_open(&f, "tiny-f32");
    const dv_tensor *gi = lm_gold(&f.c, "input_ids");
    g_assert_nonnull(gi);
    dv_gen_opts o;
    dv_gen_opts_default(&o);
    o.guard.enabled = 0;
    o.max_new_tokens = 8;
    o.context_ids = gi->data;
    o.n_context_ids = (size_t)gi->shape[0];
    dv_gen_result plain = run(&f, &o);
    g_assert_cmpmem(plain.ids, 8 * sizeof(int32_t), f.gold_ids, 8 * sizeof(int32_t));
    o.repetition_penalty = 1e4f;
    dv_gen_result pen = run(&f, &o);
    g_assert_cmpint(pen.n_ids, ==, 8);
    int repeats = 0;
    for (int i = 0; i < pen.n_ids; i++)
        for (int j = 0; j < i; j++)
            repeats += pen.ids[i] == pen.ids[j];
    g_test_message("penalized ids: %d %d %d %d ..., %d repeats", pen.ids[0], pen.ids[1], pen.ids[2],
                   pen.ids[3], repeats);
    int plain_repeats = 0;
    for (int i = 0; i < plain.n_ids; i++)
        for (int j = 0; j < i; j++)
            plain_repeats += plain.ids[i] == plain.ids[j];
    g_assert_cmpint(repeats, <, plain_repeats / 2);
    dv_gen_result_free(&plain);
    dv_gen_result_free(&pen);
    fx_close(&f);
}

/* Ten sequences decoded side by side (prompts of different lengths, token
 * budgets, eos ids, loop guard on or off, one sampled) give each the ids,
 * text, stop reason and streamed text it gets alone: for f32 weights (one
 * row at a time), bf16 and q8/q4 (the direct kernels, each weight row read
 * once for all rows; more rows than the few-row products take), an f16 KV
 * cache, 1 and 2 threads. */
enum { NSEQ = 10 };

static void seq_opts(int i, int32_t eos, dv_gen_opts *o, stream *st)
{
    dv_gen_opts_default(o);
    o->max_new_tokens = 3 + 2 * i;
    o->guard.enabled = i % 2;
    if (i % 3 == 0)
        o->eos_ids[o->n_eos++] = eos;
    if (i == 7)
        o->sampler = (dv_sampler_opts){ .temperature = 1.2f, .top_k = 40, .top_p = 0.9f,
                                        .seed = 5 };
    st->text = g_string_new(NULL);
    st->calls = 0;
    o->on_token = on_token;
    o->user = st;
}

static void check_batch(const char *name, dv_qfmt q, int kv_f16, int threads)
{
    fixture f;
    fx_open(&f, name);
    fx_rebind(&f, q, kv_f16);
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = threads };
    int H = f.c.cfg.lm.hidden;
    dv_gen_opts o[NSEQ];
    stream alone_st[NSEQ], batch_st[NSEQ];
    dv_gen_result alone[NSEQ], batch[NSEQ];
    dv_gen_seq seqs[NSEQ];
    void *states[NSEQ];
    for (int i = 0; i < NSEQ; i++) {
        int skip = i % 4;   /* prompts of different lengths: the golden one less its start */
        dv_gen_opts probe;  /* the eos: the third token this prompt leads to */
        dv_gen_opts_default(&probe);
        probe.guard.enabled = 0;
        probe.max_new_tokens = 3;
        if (dv_generate(&f.d, f.tok, f.embeds + (size_t)skip * H, f.T - skip, &probe, &alone[i],
                        &ctx, &e))
            g_error("%s", e.msg);
        int32_t eos = alone[i].ids[2];
        dv_gen_result_free(&alone[i]);
        seq_opts(i, eos, &o[i], &alone_st[i]);
        if (dv_generate(&f.d, f.tok, f.embeds + (size_t)skip * H, f.T - skip, &o[i], &alone[i],
                        &ctx, &e))
            g_error("%s", e.msg);
        g_assert_cmpint(dv_llama_state_new(f.m, f.T - skip + o[i].max_new_tokens,
                                           (dv_llama_state **)&states[i], &e), ==, DOCVL_OK);
        seq_opts(i, eos, &o[i], &batch_st[i]);
        seqs[i] = (dv_gen_seq){ states[i], f.embeds + (size_t)skip * H, f.T - skip, &o[i],
                                &batch[i], 0 };
    }
    if (dv_generate_batch(&f.d, f.tok, seqs, NSEQ, &ctx, &e))
        g_error("%s", e.msg);
    int stops[6] = { 0 };
    for (int i = 0; i < NSEQ; i++) {
        g_assert_cmpint(batch[i].n_ids, ==, alone[i].n_ids);
        g_assert_cmpmem(batch[i].ids, batch[i].n_ids * sizeof(int32_t), alone[i].ids,
                        alone[i].n_ids * sizeof(int32_t));
        g_assert_cmpstr(batch[i].text, ==, alone[i].text);
        g_assert_cmpint(batch[i].stop, ==, alone[i].stop);
        g_assert_cmpint(batch[i].degenerate, ==, alone[i].degenerate);
        g_assert_cmpstr(batch_st[i].text->str, ==, alone_st[i].text->str);
        g_assert_cmpint(batch_st[i].calls, ==, alone_st[i].calls);
        stops[alone[i].stop]++;
        dv_gen_result_free(&alone[i]);
        dv_gen_result_free(&batch[i]);
        g_string_free(alone_st[i].text, TRUE);
        g_string_free(batch_st[i].text, TRUE);
        dv_llama_state_free(states[i]);
    }
    /* the sequences left the batch at different steps and for different reasons */
    g_assert_cmpint(stops[DV_STOP_MAX_TOKENS], >, 0);
    g_assert_cmpint(stops[DV_STOP_EOS], >, 0);
    fx_close(&f);
}

static void test_batch_f32(void) { check_batch("tiny-f32", DV_QNONE, 0, 1); }
static void test_batch_bf16(void) { check_batch("tiny-bf16", DV_QNONE, 0, 2); }
static void test_batch_q8(void) { check_batch("tiny-f32", DV_Q8, 1, 2); }
static void test_batch_q4(void) { check_batch("tiny-siglip-f32", DV_Q4, 1, 1); }

/* n states prefilled with prompts of different lengths, twice (a, b). */
static void batch_states(fixture *f, int n, dv_llama_state **a, dv_llama_state **b, float *emb,
                         const dv_ctx *ctx)
{
    dv_err e = { 0 };
    size_t H = (size_t)f->c.cfg.lm.hidden;
    for (int i = 0; i < n; i++) {
        int len = f->T - 1 - i % 5;
        g_assert_cmpint(dv_llama_state_new(f->m, f->T, &a[i], &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_state_new(f->m, f->T, &b[i], &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_forward(f->m, a[i], f->embeds, len, NULL, 0, NULL, ctx, &e), ==, 0);
        g_assert_cmpint(dv_llama_forward(f->m, b[i], f->embeds, len, NULL, 0, NULL, ctx, &e), ==, 0);
        memcpy(emb + i * H, f->embeds + (size_t)len * H, H * sizeof *emb);
    }
}

static int argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        best = v[i] > v[best] ? i : best;
    return (int)best;
}

/* One batched step of n states, each at its own position, against a
 * one-token forward of each: the same logits bit for bit where the batch's
 * products are the one-row kernels' (f32 weights; quantized ones below 5
 * rows or without the integer kernel); else (q8/q4, 5 rows or more, the
 * integer kernel) within 1e-5 of the largest logit and the same greedy
 * token, and bit for bit what the same state gets in another batch of 5 or
 * more (the last 6 states, in reverse order): a tile's logits do not depend
 * on the tiles decoded beside it. */
static void check_batch_logits(dv_qfmt q, int threads, int n)
{
    fixture f;
    fx_open(&f, "tiny-f32");
    fx_rebind(&f, q, q != DV_QNONE);
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = threads };
    size_t H = (size_t)f.c.cfg.lm.hidden, V = (size_t)f.c.cfg.lm.vocab;
    dv_llama_state *a[NSEQ], *b[NSEQ], *c[NSEQ], *d[NSEQ];
    float *emb = g_new(float, NSEQ * H), *one = g_new(float, V), *all = g_new(float, NSEQ * V);
    float *emb2 = g_new(float, NSEQ * H), *again = g_new(float, NSEQ * V);
    batch_states(&f, n, a, b, emb, &ctx);
    batch_states(&f, n, c, d, emb2, &ctx);
    g_assert_cmpint(dv_llama_forward_batch(f.m, b, n, emb, all, &ctx, &e), ==, DOCVL_OK);
    int exact = q == DV_QNONE || n < 5 || dv_cpu_qgemm_level() < 2;
    for (int i = 0; i < n; i++) {
        g_assert_cmpint(dv_llama_forward(f.m, a[i], emb + i * H, 1, one, 0, NULL, &ctx, &e), ==, 0);
        if (exact) {
            g_assert_cmpmem(all + i * V, V * sizeof *one, one, V * sizeof *one);
        } else {
            float big = 0, worst = 0;
            for (size_t k = 0; k < V; k++) {
                big = fmaxf(big, fabsf(one[k]));
                worst = fmaxf(worst, fabsf(all[i * V + k] - one[k]));
            }
            g_assert_cmpfloat(worst, <=, 1e-5f * big);
            g_assert_cmpint(argmax(all + i * V, V), ==, argmax(one, V));
        }
        g_assert_cmpint(dv_llama_state_pos(b[i]), ==, dv_llama_state_pos(a[i]));
    }
    if (!exact) {
        int m = n < 6 ? n : 6;
        dv_llama_state *sub[NSEQ];
        for (int k = 0; k < m; k++) {   /* state n - 1 - k of the second set */
            sub[k] = d[n - 1 - k];
            memcpy(emb2 + k * H, emb + (size_t)(n - 1 - k) * H, H * sizeof *emb2);
        }
        g_assert_cmpint(dv_llama_forward_batch(f.m, sub, m, emb2, again, &ctx, &e), ==, DOCVL_OK);
        for (int k = 0; k < m; k++)
            g_assert_cmpmem(again + k * V, V * sizeof *one, all + (size_t)(n - 1 - k) * V,
                            V * sizeof *one);
    }
    for (int i = 0; i < n; i++) {
        dv_llama_state_free(a[i]);
        dv_llama_state_free(b[i]);
        dv_llama_state_free(c[i]);
        dv_llama_state_free(d[i]);
    }
    g_free(emb), g_free(emb2), g_free(one), g_free(all), g_free(again);
    fx_close(&f);
}

static void test_batch_logits(void)
{
    check_batch_logits(DV_QNONE, 1, NSEQ);
    check_batch_logits(DV_Q8, 2, NSEQ);
    check_batch_logits(DV_Q4, 1, NSEQ);
    check_batch_logits(DV_Q8, 2, 4);   /* the one-row kernels: bit for bit */
    check_batch_logits(DV_Q4, 1, 4);
}

/* Prompts of different lengths prefilled together (stacked in the q8/q4
 * products, which give each row what it gets alone; one after the other
 * for f32 and for a prompt of a few tokens) give each state the logits and
 * the cache a prefill alone gives it: the next token's logits agree too. */
static void check_prefill_batch(dv_qfmt q, int threads, int shortest)
{
    fixture f;
    fx_open(&f, "tiny-f32");
    fx_rebind(&f, q, q != DV_QNONE);
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = threads };
    size_t H = (size_t)f.c.cfg.lm.hidden, V = (size_t)f.c.cfg.lm.vocab;
    enum { N = 3 };
    dv_llama_state *a[N], *b[N];
    const float *emb[N];
    int len[N];
    float *one = g_new(float, V), *all = g_new(float, N * V), *next = g_new(float, N * V);
    for (int i = 0; i < N; i++) {
        len[i] = i == N - 1 ? shortest : 40 - 10 * i;
        emb[i] = f.embeds + (size_t)i * H;
        g_assert_cmpint(dv_llama_state_new(f.m, 64, &a[i], &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_state_new(f.m, 64, &b[i], &e), ==, DOCVL_OK);
    }
    g_assert_cmpint(f.T, >=, 41);
    g_assert_cmpint(dv_llama_prefill_batch(f.m, b, N, emb, len, all, &ctx, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward_batch(f.m, b, N, f.embeds, next, &ctx, &e), ==, DOCVL_OK);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(dv_llama_forward(f.m, a[i], emb[i], len[i], one, 0, NULL, &ctx, &e), ==,
                        0);
        g_assert_cmpmem(all + i * V, V * sizeof *one, one, V * sizeof *one);
        g_assert_cmpint(dv_llama_forward(f.m, a[i], f.embeds + i * H, 1, one, 0, NULL, &ctx, &e),
                        ==, 0);
        g_assert_cmpmem(next + i * V, V * sizeof *one, one, V * sizeof *one);
        g_assert_cmpint(dv_llama_state_pos(b[i]), ==, dv_llama_state_pos(a[i]));
        dv_llama_state_free(a[i]);
        dv_llama_state_free(b[i]);
    }
    g_free(one);
    g_free(all);
    g_free(next);
    fx_close(&f);
}

static void test_prefill_batch(void)
{
    check_prefill_batch(DV_Q8, 2, 12);
    check_prefill_batch(DV_Q4, 1, 9);
    check_prefill_batch(DV_Q8, 1, 3);      /* a short prompt: one after the other */
    check_prefill_batch(DV_QNONE, 2, 12);
}

/* The decoder as generation sees it, counting the prompt rows it runs
 * (forward and prefill_batch) and the states it copies. */
static dv_decoder_ops counted_ops;
static const dv_decoder_ops *real_ops;
static int rows_run, states_copied;

static int counted_forward(const void *m, void *s, const float *embeds, int n, float *logits,
                           const dv_ctx *ctx, dv_err *e)
{
    rows_run += n > 1 ? n : 0;      /* prompts, not decoded tokens */
    return real_ops->forward(m, s, embeds, n, logits, ctx, e);
}

static int counted_prefill(const void *m, void *const *s, int n, const float *const *embeds,
                           const int *len, float *logits, const dv_ctx *ctx, dv_err *e)
{
    for (int i = 0; i < n; i++)
        rows_run += len[i];
    return real_ops->prefill_batch(m, s, n, embeds, len, logits, ctx, e);
}

static int counted_copy(void *dst, const void *src, dv_err *e)
{
    states_copied++;
    return real_ops->state_copy(dst, src, e);
}

static dv_decoder counted(const dv_decoder *d)
{
    real_ops = d->ops;
    counted_ops = *d->ops;
    counted_ops.forward = counted_forward;
    counted_ops.prefill_batch = counted_prefill;
    counted_ops.state_copy = counted_copy;
    dv_decoder c = *d;
    c.ops = &counted_ops;
    return c;
}

/* The largest difference between the keys and values of positions
 * [0, n) of a and b in every layer, over the largest of a's; 0: the same
 * bits. */
static double rows_diff(const dv_llama_state *a, const dv_llama_state *b, int layers, int n,
                        size_t kv_dim)
{
    dv_err e = { 0 };
    size_t cnt = (size_t)n * kv_dim;
    float *ra = g_new(float, 2 * cnt), *rb = g_new(float, 2 * cnt);
    double big = 0, worst = 0;
    for (int li = 0; li < layers; li++) {
        g_assert_cmpint(dv_llama_state_rows(a, li, 0, n, ra, ra + cnt, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_state_rows(b, li, 0, n, rb, rb + cnt, &e), ==, DOCVL_OK);
        for (size_t z = 0; z < 2 * cnt; z++) {
            big = fmax(big, fabs(ra[z]));
            worst = fmax(worst, fabs((double)ra[z] - rb[z]));
            g_assert_false(worst == 0 && ra[z] != rb[z]);   /* -0 against 0 would be a bug */
        }
    }
    g_free(ra), g_free(rb);
    return worst / big;
}

static double logits_diff(const float *a, const float *b, size_t V)
{
    double big = 0, worst = 0;
    for (size_t k = 0; k < V; k++) {
        big = fmax(big, fabs(a[k]));
        worst = fmax(worst, fabs((double)a[k] - b[k]));
    }
    return worst / big;
}

/* Sequence i's prompt, split after S rows, decoded alone (a batch of one:
 * the same split) into its own fresh state; the state is kept. */
static void decode_alone(fixture *f, const dv_decoder *d, dv_gen_seq *q, const dv_ctx *ctx)
{
    dv_err e = { 0 };
    g_assert_cmpint(dv_llama_state_new(f->m, q->n + q->o->max_new_tokens,
                                       (dv_llama_state **)&q->state, &e), ==, DOCVL_OK);
    if (dv_generate_batch(d, f->tok, q, 1, ctx, &e))
        g_error("%s", e.msg);
}

static void assert_same_result(const dv_gen_result *a, const dv_gen_result *b, const stream *sa,
                               const stream *sb)
{
    g_assert_cmpint(a->n_ids, ==, b->n_ids);
    g_assert_cmpmem(a->ids, a->n_ids * sizeof(int32_t), b->ids, b->n_ids * sizeof(int32_t));
    g_assert_cmpstr(a->text, ==, b->text);
    g_assert_cmpint(a->stop, ==, b->stop);
    g_assert_cmpstr(sa->text->str, ==, sb->text->str);
    g_assert_cmpint(sa->calls, ==, sb->calls);
}

/* A page's tiles: NSEQ prompts that start with the same S rows (the system
 * prompt) and go on differently (the image and what follows, of different
 * lengths), each with those S rows shared. Decoded side by side, the S rows
 * are prefilled once (counted) and copied into every state: each state's
 * shared keys and values are those of a prefill of the S rows alone, bit
 * for bit, and each sequence gets the ids, text, stop reason, streamed
 * text and cached keys and values of its prompt it gets decoded alone with
 * the same split (a batch of one). Against a prefill of the whole prompt
 * at once the split rounds otherwise: for f32 weights the same greedy text
 * (f32 and bf16 weights, within 1e-5 of the largest key, value and logit);
 * quantized weights' int8 products quantize the activations, which turns
 * such rounding into a quantization step: within 2e-2 and the same first
 * greedy token. With prompts that differ in their first row each prefills
 * its own start, to the same results. */
static void check_shared_prefix(const char *name, dv_qfmt q, int kv_f16, int threads)
{
    fixture f;
    fx_open(&f, name);
    fx_rebind(&f, q, kv_f16);
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = threads };
    const dv_lm_cfg *c = &f.c.cfg.lm;
    size_t H = (size_t)c->hidden, V = (size_t)c->vocab;
    size_t kv_dim = (size_t)c->kv_heads * c->head_dim;
    enum { S = 40 };
    float *prompt[NSEQ];
    int rows_shared = S, rows_all = 0;
    dv_gen_opts o[NSEQ], ow[NSEQ];
    stream alone_st[NSEQ], batch_st[NSEQ], whole_st[NSEQ];
    dv_gen_result alone[NSEQ], batch[NSEQ], whole[NSEQ];
    dv_gen_seq seqs[NSEQ], one_seq[NSEQ];
    float *one = g_new(float, V), *split = g_new(float, V);
    double worst_kv = 0, worst_lg = 0;
    dv_llama_state *pre = NULL, *w = NULL;     /* the S rows alone; a whole prompt */
    g_assert_cmpint(dv_llama_state_new(f.m, S, &pre, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward(f.m, pre, f.embeds, S, NULL, 0, NULL, &ctx, &e), ==, 0);
    dv_decoder d = counted(&f.d);
    for (int i = 0; i < NSEQ; i++) {
        /* the golden prompt's first S rows, then its rows from S + 7 i on */
        int len = f.T - 7 * i;
        rows_shared += len - S;
        rows_all += len;
        prompt[i] = g_new(float, (size_t)len * H);
        memcpy(prompt[i], f.embeds, S * H * sizeof(float));
        memcpy(prompt[i] + S * H, f.embeds + (size_t)(S + 7 * i) * H,
               (size_t)(len - S) * H * sizeof(float));
        seq_opts(i, -1, &o[i], &alone_st[i]);
        seq_opts(i, -1, &ow[i], &whole_st[i]);
        o[i].n_eos = ow[i].n_eos = 0;
        one_seq[i] = (dv_gen_seq){ NULL, prompt[i], len, &o[i], &alone[i], S };
        decode_alone(&f, &f.d, &one_seq[i], &ctx);
        if (dv_generate(&f.d, f.tok, prompt[i], len, &ow[i], &whole[i], &ctx, &e))
            g_error("%s", e.msg);
        /* the split prefill against a whole one */
        g_assert_cmpint(dv_llama_state_new(f.m, len, &w, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_llama_forward(f.m, w, prompt[i], len, one, 0, NULL, &ctx, &e), ==, 0);
        dv_llama_state_reset(one_seq[i].state);
        g_assert_cmpint(dv_llama_forward(f.m, one_seq[i].state, prompt[i], S, NULL, 0, NULL, &ctx,
                                         &e), ==, 0);
        g_assert_cmpint(dv_llama_forward(f.m, one_seq[i].state, prompt[i] + S * H, len - S, split,
                                         0, NULL, &ctx, &e), ==, 0);
        worst_kv = fmax(worst_kv, rows_diff(one_seq[i].state, w, c->layers, len, kv_dim));
        worst_lg = fmax(worst_lg, logits_diff(one, split, V));
        g_assert_cmpint(argmax(split, V), ==, argmax(one, V));
        dv_llama_state_free(w);
        seq_opts(i, -1, &o[i], &batch_st[i]);
        o[i].n_eos = 0;
        dv_llama_state *st = NULL;
        g_assert_cmpint(dv_llama_state_new(f.m, len + o[i].max_new_tokens, &st, &e), ==, 0);
        seqs[i] = (dv_gen_seq){ st, prompt[i], len, &o[i], &batch[i], S };
    }
    g_test_message("%s, q%d, %d threads: a prompt split after %d rows against whole: keys and "
                   "values %.2g, logits %.2g of the largest", name, (int)q, threads, S, worst_kv,
                   worst_lg);
    g_assert_cmpfloat(worst_kv, <=, q == DV_QNONE ? 1e-5 : 2e-2);
    g_assert_cmpfloat(worst_lg, <=, q == DV_QNONE ? 1e-5 : 2e-2);
    rows_run = states_copied = 0;
    if (dv_generate_batch(&d, f.tok, seqs, NSEQ, &ctx, &e))
        g_error("%s", e.msg);
    g_assert_cmpint(rows_run, ==, rows_shared);
    g_assert_cmpint(states_copied, ==, NSEQ - 1);
    for (int i = 0; i < NSEQ; i++) {
        assert_same_result(&batch[i], &alone[i], &batch_st[i], &alone_st[i]);
        if (q == DV_QNONE && i != 7)   /* greedy: the text of the whole prompt prefilled */
            g_assert_cmpstr(batch[i].text, ==, whole[i].text);
        g_assert_cmpfloat(rows_diff(seqs[i].state, pre, c->layers, S, kv_dim), ==, 0.0);
        /* prompt rows only: the last generated token's are not cached */
        int cached = seqs[i].n + batch[i].n_ids - 1;
        g_assert_cmpint(dv_llama_state_pos(seqs[i].state), ==, cached);
        g_assert_cmpfloat(rows_diff(seqs[i].state, one_seq[i].state, c->layers, seqs[i].n,
                                    kv_dim), ==, 0.0);
        dv_gen_result_free(&batch[i]);
        g_string_free(batch_st[i].text, TRUE);
    }
    /* prompts that differ from their first row on: each its own start */
    for (int i = 0; i < NSEQ; i++) {
        dv_llama_state_reset(seqs[i].state);
        prompt[i][0] += (float)i;
        seq_opts(i, -1, &o[i], &batch_st[i]);
        o[i].n_eos = 0;
    }
    rows_run = states_copied = 0;
    if (dv_generate_batch(&d, f.tok, seqs, NSEQ, &ctx, &e))
        g_error("%s", e.msg);
    g_assert_cmpint(rows_run, ==, rows_all);
    g_assert_cmpint(states_copied, ==, 0);
    for (int i = 0; i < NSEQ; i++) {
        if (i == 0)     /* unchanged: the same as before */
            assert_same_result(&batch[i], &alone[i], &batch_st[i], &alone_st[i]);
        dv_gen_result_free(&batch[i]);
        dv_gen_result_free(&alone[i]);
        dv_gen_result_free(&whole[i]);
        g_string_free(batch_st[i].text, TRUE);
        g_string_free(alone_st[i].text, TRUE);
        g_string_free(whole_st[i].text, TRUE);
        dv_llama_state_free(seqs[i].state);
        dv_llama_state_free(one_seq[i].state);
        g_free(prompt[i]);
    }
    dv_llama_state_free(pre);
    g_free(one), g_free(split);
    fx_close(&f);
}

static void test_shared_prefix(void)
{
    check_shared_prefix("tiny-f32", DV_QNONE, 0, 1);
    check_shared_prefix("tiny-f32", DV_QNONE, 0, 2);
    check_shared_prefix("tiny-bf16", DV_QNONE, 0, 2);
    check_shared_prefix("tiny-f32", DV_Q8, 1, 2);
    check_shared_prefix("tiny-siglip-f32", DV_Q4, 1, 1);
}

/* A batch refuses a state twice and a full cache, naming the sequence. */
static void test_batch_refuses(void)
{
    fixture f;
    fx_open(&f, "tiny-f32");
    dv_err e = { 0 };
    dv_llama_state *s, *full;
    int H = f.c.cfg.lm.hidden;
    g_assert_cmpint(dv_llama_state_new(f.m, 4, &s, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_state_new(f.m, 1, &full, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_llama_forward(f.m, full, f.embeds, 1, NULL, 0, NULL, &ctx1, &e), ==,
                    DOCVL_OK);
    float *two = g_new0(float, 2 * (size_t)H);
    dv_llama_state *same[2] = { s, s }, *over[2] = { s, full };
    g_assert_cmpint(dv_llama_forward_batch(f.m, same, 2, two, NULL, &ctx1, &e), ==, DOCVL_EINVAL);
    e = (dv_err){ 0 };
    g_assert_cmpint(dv_llama_forward_batch(f.m, over, 2, two, NULL, &ctx1, &e), ==,
                    DOCVL_ECONTEXT);
    g_assert_nonnull(strstr(e.msg, "sequence 1"));
    g_assert_cmpint(dv_llama_state_pos(s), ==, 0);
    g_free(two);
    dv_llama_state_free(s);
    dv_llama_state_free(full);
    fx_close(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/generate/loop-stops-early", test_loop_stops_early);
    g_test_add_func("/generate/eos", test_eos);
    g_test_add_func("/generate/callback-stops", test_callback_stops);
    g_test_add_func("/generate/stop-string", test_stop_string);
    g_test_add_func("/generate/context-length", test_context_length);
    g_test_add_func("/generate/continue-cached", test_continue_cached);
    g_test_add_func("/generate/sampling-seeded", test_sampling_seeded);
    g_test_add_func("/generate/score", test_score);
    g_test_add_func("/generate/repetition-penalty", test_repetition_penalty);
    g_test_add_func("/generate/batch-f32", test_batch_f32);
    g_test_add_func("/generate/batch-bf16", test_batch_bf16);
    g_test_add_func("/generate/batch-q8", test_batch_q8);
    g_test_add_func("/generate/batch-q4", test_batch_q4);
    g_test_add_func("/generate/batch-refuses", test_batch_refuses);
    g_test_add_func("/generate/batch-logits", test_batch_logits);
    g_test_add_func("/generate/prefill-batch", test_prefill_batch);
    g_test_add_func("/generate/batch-shared-prefix", test_shared_prefix);
    return g_test_run();
}
