#include "model/generate.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/vmath.h"

typedef struct gen_run {
    const dv_decoder *m;
    void *s;
    const dv_tokenizer *tok;
    const dv_gen_opts *o;
    const dv_ctx *ctx;
    dv_err *e;
    dv_gen_result *r;
    float *logits, *emb;
    uint8_t *mark;       /* vocabulary-sized scratch of the repetition penalty */
    int32_t *hist;       /* context ids then generated ids, when penalized */
    size_t n_hist;
    dv_sampler sampler;
    dv_loopguard guard;
    size_t emitted;      /* bytes of r->text already passed to on_token */
    int max_new;         /* max_new_tokens, or less where the context ends */
} gen_run;

void dv_gen_opts_default(dv_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_new_tokens = 512;
    o->sampler = DV_SAMPLER_GREEDY;
    o->repetition_penalty = 1.0f;
    o->n_stop = 1;
    o->stop[0] = "User:";
    o->guard = DV_LOOPGUARD_DEFAULT;
    o->skip_special = 1;
}

void dv_gen_result_free(dv_gen_result *r)
{
    free(r->ids);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* Validates the options; *max_new is max_new_tokens, or with fit_context
 * what the context leaves after the prompt. */
static int check_opts(const dv_decoder *m, const void *s, int n, const dv_gen_opts *o,
                      int *max_new, dv_err *e)
{
    if (n <= 0)
        return dv_fail(e, DOCVL_EINVAL, "generation needs a prompt (got %d tokens)", n);
    if (o->max_new_tokens <= 0)
        return dv_fail(e, DOCVL_EINVAL, "max_new_tokens %d: must be positive", o->max_new_tokens);
    if (o->n_eos < 0 || o->n_eos > DV_GEN_MAX_EOS || o->n_stop < 0 || o->n_stop > DV_GEN_MAX_STOP)
        return dv_fail(e, DOCVL_EINVAL, "%d eos ids / %d stop strings (at most %d / %d)", o->n_eos,
                       o->n_stop, DV_GEN_MAX_EOS, DV_GEN_MAX_STOP);
    for (int i = 0; i < o->n_stop; i++)
        if (!o->stop[i] || !*o->stop[i])
            return dv_fail(e, DOCVL_EINVAL, "stop string %d is empty", i);
    long long ctx_len = m->context;
    long long have = s ? m->ops->state_pos(s) : 0;
    long long cap = s ? m->ops->state_capacity(s) : ctx_len;
    long long limit = cap < ctx_len ? cap : ctx_len;
    const char *what = cap < ctx_len ? "KV cache" : "context length (max_position_embeddings)";
    long long room = limit - have - n;
    if (room < 1 || (room < o->max_new_tokens && !o->fit_context))
        return dv_fail(e, DOCVL_ECONTEXT,
                       "%lld cached + %d prompt tokens + max_new_tokens %d = %lld exceed the %s of "
                       "%lld tokens", have, n, o->max_new_tokens, have + n + o->max_new_tokens, what,
                       limit);
    *max_new = room < o->max_new_tokens ? (int)room : o->max_new_tokens;
    return DOCVL_OK;
}

static int is_eos(const dv_gen_opts *o, int32_t id)
{
    for (int i = 0; i < o->n_eos; i++)
        if (o->eos_ids[i] == id)
            return 1;
    return 0;
}

/* Bytes at the end of text that may still change or may start a stop
 * string: a trailing U+FFFD (an incomplete UTF-8 sequence so far) and the
 * longest suffix that is a proper prefix of a stop string. */
static size_t holdback(const gen_run *g, const char *text, size_t len)
{
    size_t hold = 0;
    if (len >= 3 && memcmp(text + len - 3, "\xef\xbf\xbd", 3) == 0)
        hold = 3;
    for (int i = 0; i < g->o->n_stop; i++) {
        size_t sl = strlen(g->o->stop[i]);
        for (size_t k = sl - 1; k > hold; k--)
            if (k <= len && memcmp(text + len - k, g->o->stop[i], k) == 0) {
                hold = k;
                break;
            }
    }
    return hold;
}

/* Earliest stop string at or after byte `from`, or -1. */
static long find_stop(const gen_run *g, const char *text, size_t from)
{
    long best = -1;
    for (int i = 0; i < g->o->n_stop; i++) {
        const char *p = strstr(text + from, g->o->stop[i]);
        if (p && (best < 0 || p - text < best))
            best = p - text;
    }
    return best;
}

/* Re-decodes the ids, cuts at a stop string, passes the new final text on. */
static int update_text(gen_run *g, int *stop, int *cb_stop)
{
    dv_gen_result *r = g->r;
    size_t final = 0;
    if (g->tok) {
        char *text;
        int rc = dv_tokenizer_decode(g->tok, r->ids, (size_t)r->n_ids, g->o->skip_special, &text, g->e);
        if (rc)
            return rc;
        free(r->text);
        r->text = text;
        size_t len = strlen(text), maxstop = 0;
        for (int i = 0; i < g->o->n_stop; i++)
            maxstop = strlen(g->o->stop[i]) > maxstop ? strlen(g->o->stop[i]) : maxstop;
        size_t from = g->emitted > maxstop ? g->emitted - maxstop : 0;
        long cut = from <= len ? find_stop(g, text, from) : -1;
        if (cut >= 0) {
            text[cut] = '\0';
            *stop = 1;
            final = (size_t)cut;
        } else {
            final = len - holdback(g, text, len);
        }
    }
    size_t flen = final > g->emitted ? final - g->emitted : 0;
    const char *fresh = flen ? r->text + g->emitted : "";
    if (g->o->on_token && g->o->on_token(g->o->user, r->n_ids - 1, r->ids[r->n_ids - 1], fresh, flen))
        *cb_stop = r->stopped = 1;
    g->emitted += flen;
    return DOCVL_OK;
}

static int guard_push(gen_run *g, int32_t id, int *looped)
{
    char *piece = NULL;
    int rc;
    if (g->tok && (rc = dv_tokenizer_decode(g->tok, &id, 1, 0, &piece, g->e)))
        return rc;
    rc = dv_loopguard_push(&g->guard, id, piece, piece ? strlen(piece) : 0, looped, g->e);
    free(piece);
    return rc;
}

/* Keeps one copy of the repeated unit: the rest is the model's loop. */
static int trim_loop(gen_run *g)
{
    dv_gen_result *r = g->r;
    r->degenerate = 1;
    r->n_ids = g->guard.loop_start + g->guard.period;
    if (!g->tok)
        return DOCVL_OK;
    free(r->text);
    r->text = NULL;
    return dv_tokenizer_decode(g->tok, r->ids, (size_t)r->n_ids, g->o->skip_special, &r->text, g->e);
}

/* Handles the token just appended; *done when generation ends here. */
static int after_token(gen_run *g, int32_t id, int *done)
{
    int stop = 0, cb_stop = 0, looped = 0, rc;
    if ((rc = update_text(g, &stop, &cb_stop)) || (rc = guard_push(g, id, &looped)))
        return rc;
    if (stop) {
        g->r->stop = DV_STOP_STRING;
        *done = 1;
    } else if (looped) {
        g->r->stop = DV_STOP_LOOP;
        *done = 1;
        return trim_loop(g);
    } else if (cb_stop) {
        g->r->stop = DV_STOP_CALLBACK;
        *done = 1;
    }
    return DOCVL_OK;
}

/* The text is final now: what was held back as a possible stop-string start
 * or an incomplete character goes out in one last call (id -1). */
static void flush(gen_run *g)
{
    dv_gen_result *r = g->r;
    size_t len = r->text ? strlen(r->text) : 0;
    if (!g->o->on_token || len <= g->emitted)
        return;
    if (g->o->on_token(g->o->user, r->n_ids, -1, r->text + g->emitted, len - g->emitted))
        r->stopped = 1;
    g->emitted = len;
}

/* Picks the next token from g->logits and handles it; *done when
 * generation ends with it, else the decoder is to be fed *next. */
static int gen_pick(gen_run *g, int step, int *done, int32_t *next)
{
    int vocab = g->m->vocab;
    if (g->hist)
        dv_repetition_penalty(g->logits, vocab, g->hist, g->n_hist, g->o->repetition_penalty,
                              g->mark);
    int32_t id = dv_sampler_pick(&g->sampler, g->logits, vocab);
    if (g->o->score) {
        g->r->logprob += (double)g->logits[id] - dv_logsumexp(g->logits, vocab);
        g->r->n_scored++;
    }
    if (g->hist)
        g->hist[g->n_hist++] = id;
    if (is_eos(g->o, id)) {
        g->r->stop = DV_STOP_EOS;
        *done = 1;
        return DOCVL_OK;
    }
    g->r->ids[g->r->n_ids++] = id;
    int rc = after_token(g, id, done);
    if (rc || *done)
        return rc;
    if (step + 1 == g->max_new) {
        g->r->stop = g->max_new < g->o->max_new_tokens ? DV_STOP_CONTEXT : DV_STOP_MAX_TOKENS;
        *done = 1;
    }
    *next = id;
    return DOCVL_OK;
}

/* Generation ended without error: text held back goes out unless a stop
 * string, a loop or the callback ended it. */
static void gen_end(gen_run *g)
{
    if (g->r->stop == DV_STOP_EOS || g->r->stop == DV_STOP_MAX_TOKENS ||
        g->r->stop == DV_STOP_CONTEXT)
        flush(g);
}

static int run_loop(gen_run *g, const float *embeds, int n)
{
    int rc = g->m->ops->forward(g->m->model, g->s, embeds, n, g->logits, g->ctx, g->e);
    for (int step = 0; !rc; step++) {
        int done = 0;
        int32_t id = -1;
        if ((rc = gen_pick(g, step, &done, &id)) || done)
            break;
        if (!(rc = g->m->ops->embed(g->m->model, &id, 1, g->emb, g->e)))
            rc = g->m->ops->forward(g->m->model, g->s, g->emb, 1, g->logits, g->ctx, g->e);
    }
    if (!rc)
        gen_end(g);
    return rc;
}

/* The penalty's history starts with the context ids (the prompt, as the
 * reference penalizes all input ids). */
static int alloc_history(gen_run *g)
{
    size_t n_ctx = g->o->context_ids ? g->o->n_context_ids : 0;
    g->mark = calloc((size_t)g->m->vocab, 1);
    g->hist = malloc((n_ctx + (size_t)g->max_new) * sizeof *g->hist);
    if (!g->mark || !g->hist)
        return dv_fail(g->e, DOCVL_ENOMEM, "out of memory for the repetition penalty");
    if (n_ctx)
        memcpy(g->hist, g->o->context_ids, n_ctx * sizeof *g->hist);
    g->n_hist = n_ctx;
    return DOCVL_OK;
}

/* Checks the options and makes what one sequence's generation needs. */
static int gen_init(gen_run *g, const dv_decoder *m, void *s, const dv_tokenizer *tok, int n,
                    const dv_gen_opts *o, dv_gen_result *r, const dv_ctx *ctx, dv_err *e)
{
    memset(r, 0, sizeof *r);
    *g = (gen_run){ .m = m, .s = s, .tok = tok, .o = o, .ctx = ctx, .e = e, .r = r };
    int rc = check_opts(m, s, n, o, &g->max_new, e);
    if (rc)
        return rc;
    g->logits = malloc((size_t)m->vocab * sizeof *g->logits);
    g->emb = malloc((size_t)m->hidden * sizeof *g->emb);
    r->ids = malloc((size_t)g->max_new * sizeof *r->ids);
    if (o->repetition_penalty > 0 && o->repetition_penalty != 1.0f)
        rc = alloc_history(g);
    if (!rc && (!g->logits || !g->emb || !r->ids))
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for generation");
    if (!rc && !(rc = dv_sampler_init(&g->sampler, &o->sampler, m->vocab, e)))
        rc = dv_loopguard_init(&g->guard, &o->guard, e);
    return rc;
}

/* Frees the run's scratch; on error its result too. */
static void gen_free(gen_run *g, int rc)
{
    dv_sampler_free(&g->sampler);
    dv_loopguard_free(&g->guard);
    free(g->logits);
    free(g->emb);
    free(g->mark);
    free(g->hist);
    g->logits = g->emb = NULL;
    g->mark = NULL;
    g->hist = NULL;
    if (rc && g->r)
        dv_gen_result_free(g->r);
}

int dv_generate_with(const dv_decoder *m, void *s, const dv_tokenizer *tok,
                     const float *embeds, int n, const dv_gen_opts *o, dv_gen_result *r,
                     const dv_ctx *ctx, dv_err *e)
{
    gen_run g;
    int rc = gen_init(&g, m, s, tok, n, o, r, ctx, e);
    if (!rc)
        rc = run_loop(&g, embeds, n);
    gen_free(&g, rc);
    return rc ? dv_wrap(e, "generating") : DOCVL_OK;
}

/* ---- sequences side by side ---- */

typedef struct batch_run {
    gen_run *g;
    int count;
    int *live;          /* still generating */
    int32_t *next;      /* the token each live sequence feeds next */
    void **states;      /* the live ones' states, in batch order */
    int *who;           /* batch row -> sequence */
    float *emb, *logits;    /* [count, hidden], [count, vocab] */
} batch_run;

/* Every live sequence picks from its logits; the ones that go on feed the
 * decoder together. *left: how many did. */
static int batch_step(batch_run *b, int step, int *left)
{
    const dv_decoder *m = b->g[0].m;
    size_t H = (size_t)m->hidden, V = (size_t)m->vocab;
    int rows = 0, rc = DOCVL_OK;
    for (int i = 0; i < b->count && !rc; i++) {
        if (!b->live[i])
            continue;
        int done = 0;
        if ((rc = gen_pick(&b->g[i], step, &done, &b->next[i])))
            break;
        if (done) {
            b->live[i] = 0;
            gen_end(&b->g[i]);
            continue;
        }
        rc = m->ops->embed(m->model, &b->next[i], 1, b->emb + (size_t)rows * H, b->g[i].e);
        b->states[rows] = b->g[i].s;
        b->who[rows++] = i;
    }
    *left = rows;
    if (rc || !rows)
        return rc;
    rc = m->ops->forward_batch(m->model, b->states, rows, b->emb, b->logits, b->g[0].ctx,
                               b->g[0].e);
    for (int k = 0; k < rows && !rc; k++)
        memcpy(b->g[b->who[k]].logits, b->logits + (size_t)k * V, V * sizeof *b->logits);
    return rc;
}

static int batch_alloc(batch_run *b, const dv_decoder *m, int count, dv_err *e)
{
    b->count = count;
    b->g = calloc((size_t)count, sizeof *b->g);
    b->live = calloc((size_t)count, sizeof *b->live);
    b->next = calloc((size_t)count, sizeof *b->next);
    b->states = calloc((size_t)count, sizeof *b->states);
    b->who = calloc((size_t)count, sizeof *b->who);
    b->emb = malloc((size_t)count * (size_t)m->hidden * sizeof *b->emb);
    b->logits = malloc((size_t)count * (size_t)m->vocab * sizeof *b->logits);
    if (!b->g || !b->live || !b->next || !b->states || !b->who || !b->emb || !b->logits)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %d sequences", count);
    return DOCVL_OK;
}

static void batch_free(batch_run *b, int rc)
{
    for (int i = 0; b->g && i < b->count; i++)
        gen_free(&b->g[i], rc);
    free(b->g);
    free(b->live);
    free(b->next);
    free(b->states);
    free(b->who);
    free(b->emb);
    free(b->logits);
}

/* Whether every sequence starts with the same p prompt rows (bit for
 * bit) into an empty state: then they are prefilled once and copied. */
static int start_shared(const dv_decoder *m, const dv_gen_seq *seqs, int n, int p)
{
    if (n < 2 || !m->ops->state_copy)
        return 0;
    size_t bytes = (size_t)p * (size_t)m->hidden * sizeof(float);
    for (int i = 0; i < n; i++)
        if (seqs[i].shared != p || m->ops->state_pos(seqs[i].state) != 0 ||
            (i && memcmp(seqs[i].embeds, seqs[0].embeds, bytes)))
            return 0;
    return 1;
}

/* Each sequence's first q->shared prompt rows on their own: into the first
 * state once and copied into the others' (keys, values, position) where
 * start_shared, else each into its own state. Copying gives each state what
 * its own prefill of the same rows gives, bit for bit. */
static int prefill_starts(const dv_decoder *m, const dv_gen_seq *seqs, int n, const dv_ctx *ctx,
                          dv_err *e)
{
    int p = seqs[0].shared, rc = DOCVL_OK;
    if (p > 0 && start_shared(m, seqs, n, p)) {
        rc = m->ops->forward(m->model, seqs[0].state, seqs[0].embeds, p, NULL, ctx, e);
        for (int i = 1; i < n && !rc; i++)
            rc = m->ops->state_copy(seqs[i].state, seqs[0].state, e);
        return rc ? dv_wrap(e, "the %d prompt rows the sequences share", p) : DOCVL_OK;
    }
    for (int i = 0; i < n && !rc; i++)
        if (seqs[i].shared > 0)
            rc = m->ops->forward(m->model, seqs[i].state, seqs[i].embeds, seqs[i].shared, NULL,
                                 ctx, e);
    return rc;
}

/* Every sequence's prompt, into its state and its run's logits: the
 * shared starts (prefill_starts), then the rests together where the
 * decoder can (ops->prefill_batch), else one after the other. */
static int prefill(batch_run *b, const dv_gen_seq *seqs, const dv_ctx *ctx, dv_err *e)
{
    const dv_decoder *m = b->g[0].m;
    int n = b->count, rc = prefill_starts(m, seqs, n, ctx, e);
    size_t H = (size_t)m->hidden;
    if (!m->ops->prefill_batch) {
        for (int i = 0; i < n && !rc; i++)
            rc = m->ops->forward(m->model, seqs[i].state, seqs[i].embeds + seqs[i].shared * H,
                                 seqs[i].n - seqs[i].shared, b->g[i].logits, ctx, e);
        return rc;
    }
    if (rc || n < 1)
        return rc;
    const float **embeds = calloc((size_t)n, sizeof *embeds);
    int *len = calloc((size_t)n, sizeof *len);
    if (!embeds || !len)
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for %d prompts", n);
    for (int i = 0; i < n && !rc; i++) {
        b->states[i] = seqs[i].state;
        embeds[i] = seqs[i].embeds + seqs[i].shared * H;
        len[i] = seqs[i].n - seqs[i].shared;
    }
    if (!rc)
        rc = m->ops->prefill_batch(m->model, b->states, n, embeds, len, b->logits, ctx, e);
    size_t V = (size_t)m->vocab;
    for (int i = 0; i < n && !rc; i++)
        memcpy(b->g[i].logits, b->logits + (size_t)i * V, V * sizeof *b->logits);
    free(embeds);
    free(len);
    return rc;
}

int dv_generate_batch(const dv_decoder *m, const dv_tokenizer *tok, const dv_gen_seq *seqs,
                      int count, const dv_ctx *ctx, dv_err *e)
{
    for (int i = 0; i < count; i++)
        memset(seqs[i].r, 0, sizeof *seqs[i].r);
    if (count <= 0)
        return DOCVL_OK;
    if (!m->ops->forward_batch) {   /* a decoder without the batched step */
        for (int i = 0; i < count; i++) {
            int rc = dv_generate_with(m, seqs[i].state, tok, seqs[i].embeds, seqs[i].n, seqs[i].o,
                                      seqs[i].r, ctx, e);
            if (rc) {
                for (int k = 0; k < i; k++)
                    dv_gen_result_free(seqs[k].r);
                return rc;
            }
        }
        return DOCVL_OK;
    }
    batch_run b = { 0 };
    int rc = batch_alloc(&b, m, count, e);
    for (int i = 0; i < count && !rc; i++) {
        const dv_gen_seq *q = &seqs[i];
        if (q->shared < 0 || q->shared >= q->n)
            rc = dv_fail(e, DOCVL_EINVAL, "sequence %d: %d shared rows of a %d-row prompt (0 to "
                         "%d)", i, q->shared, q->n, q->n - 1);
        else
            rc = gen_init(&b.g[i], m, q->state, tok, q->n, q->o, q->r, ctx, e);
        b.live[i] = 1;
    }
    if (!rc)
        rc = prefill(&b, seqs, ctx, e);
    for (int step = 0, left = count; !rc && left; step++)
        rc = batch_step(&b, step, &left);
    if (rc)
        for (int i = 0; i < count; i++)
            dv_gen_result_free(seqs[i].r);
    batch_free(&b, rc);
    return rc ? dv_wrap(e, "generating %d sequences side by side", count) : DOCVL_OK;
}

int dv_generate_budget(const dv_decoder *m, int n, const dv_gen_opts *o, int *max_new, dv_err *e)
{
    return check_opts(m, NULL, n, o, max_new, e);
}

int dv_generate(const dv_decoder *m, const dv_tokenizer *tok, const float *embeds, int n,
                const dv_gen_opts *o, dv_gen_result *r, const dv_ctx *ctx, dv_err *e)
{
    memset(r, 0, sizeof *r);
    int max_new = 0, rc = dv_generate_budget(m, n, o, &max_new, e);
    if (rc)
        return rc;
    void *s;
    if ((rc = m->ops->state_new(m->model, n + max_new, &s, e)))
        return rc;
    rc = dv_generate_with(m, s, tok, embeds, n, o, r, ctx, e);
    m->ops->state_free(s);
    return rc;
}
