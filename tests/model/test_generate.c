/* The generation loop on the golden tiny models: it reproduces the golden
 * greedy ids, stops a real loop early and says so, honours eos ids and stop
 * strings (never streaming a piece of a stop string), enforces the context
 * length, and continues a cached conversation like a fresh prefill. */
#include <glib.h>
#include <string.h>

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
    int k = 1;
    while (k < f.gold_n) {
        int seen = 0;
        for (int j = 0; j < k; j++)
            seen |= f.gold_ids[j] == f.gold_ids[k];
        if (!seen)
            break;
        k++;
    }
    g_assert_cmpint(k, <, f.gold_n);
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
    g_test_add_func("/generate/repetition-penalty", test_repetition_penalty);
    return g_test_run();
}
