/* The BPE model of tokenizer.json: vocabulary, merges by rank, and the word
 * merge loop (a min-heap of candidate pairs over a linked list of symbols,
 * O(n log n) per word), with a per-call cache of finished words. */
#include "text/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

typedef struct merge_slot {
    uint64_t key;       /* left id << 32 | right id */
    int32_t rank;       /* -1: empty slot */
    int32_t new_id;
} merge_slot;

struct tok_bpe {
    char *arena;               /* every vocabulary string, NUL-terminated */
    tok_map vocab;             /* keys point into arena */
    const char **id_str;       /* id -> string, NULL for holes */
    int32_t n_ids;
    merge_slot *merges;
    size_t merge_cap;          /* power of two */
    int32_t unk_id;            /* -1: none */
    int fuse_unk, byte_fallback, ignore_merges;
    char *prefix, *suffix;     /* continuing_subword_prefix, end_of_word_suffix */
};

typedef struct symbol {
    int32_t id, prev, next;
    int alive;
} symbol;

typedef struct cand {
    int32_t rank, pos, new_id;
} cand;

typedef struct word_entry {
    size_t start, n;
} word_entry;

struct tok_bpe_cache {
    tok_map map;               /* word -> index into entries */
    word_entry *entries;
    size_t n_entries, cap_entries;
    int32_t *pool;
    size_t n_pool, cap_pool;
    symbol *sym;
    size_t cap_sym;
    cand *heap;
    size_t cap_heap;
};

/* ------------------------------------------------------------ merges map */

static size_t merge_index(uint64_t key, size_t cap)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static merge_slot *merge_find(const tok_bpe *b, uint64_t key)
{
    size_t j = merge_index(key, b->merge_cap);
    while (b->merges[j].rank >= 0 && b->merges[j].key != key)
        j = (j + 1) & (b->merge_cap - 1);
    return &b->merges[j];
}

static const merge_slot *merge_get(const tok_bpe *b, int32_t l, int32_t r)
{
    if (!b->merge_cap)
        return NULL;
    const merge_slot *s = merge_find(b, (uint64_t)(uint32_t)l << 32 | (uint32_t)r);
    return s->rank >= 0 ? s : NULL;
}

/* ------------------------------------------------------------ loading */

void tok_bpe_free(tok_bpe *b)
{
    if (!b)
        return;
    free(b->arena);
    tok_map_free(&b->vocab);
    free(b->id_str);
    free(b->merges);
    free(b->prefix);
    free(b->suffix);
    free(b);
}

static int vocab_sizes(JsonObject *vocab, size_t *bytes, int32_t *n_ids, dv_err *e)
{
    JsonObjectIter it;
    const char *k;
    JsonNode *v;
    *bytes = 0;
    *n_ids = 0;
    json_object_iter_init(&it, vocab);
    while (json_object_iter_next(&it, &k, &v)) {
        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_INT64)
            return dv_fail(e, DOCVL_EFORMAT, "model.vocab[\"%s\"]: id is not an integer", k);
        gint64 id = json_node_get_int(v);
        if (id < 0 || id >= TOK_MAX_VOCAB)
            return dv_fail(e, DOCVL_ELIMIT, "model.vocab[\"%s\"]: id %lld outside 0..%d", k,
                           (long long)id, TOK_MAX_VOCAB - 1);
        if (id + 1 > *n_ids)
            *n_ids = (int32_t)id + 1;
        *bytes += strlen(k) + 1;
    }
    return DOCVL_OK;
}

static int parse_vocab(JsonObject *model, tok_bpe *b, dv_err *e)
{
    JsonObject *vocab = NULL;
    if (dv_json_obj(model, "vocab", "model", &vocab, e) <= 0)
        return e->code ? e->code : dv_fail(e, DOCVL_EFORMAT, "model: no \"vocab\" object");
    size_t bytes;
    if (vocab_sizes(vocab, &bytes, &b->n_ids, e) != DOCVL_OK)
        return e->code;
    b->arena = malloc(bytes ? bytes : 1);
    b->id_str = calloc(b->n_ids ? (size_t)b->n_ids : 1, sizeof *b->id_str);
    if (!b->arena || !b->id_str)
        return dv_fail(e, DOCVL_ENOMEM, "model.vocab: out of memory (%zu bytes)", bytes);
    JsonObjectIter it;
    const char *k;
    JsonNode *v;
    size_t at = 0;
    json_object_iter_init(&it, vocab);
    while (json_object_iter_next(&it, &k, &v)) {
        size_t n = strlen(k);
        char *s = memcpy(b->arena + at, k, n + 1);
        at += n + 1;
        int32_t id = (int32_t)json_node_get_int(v);
        b->id_str[id] = s;
        if (tok_map_put(&b->vocab, s, n, id))
            return dv_fail(e, DOCVL_ENOMEM, "model.vocab: out of memory");
    }
    return DOCVL_OK;
}

/* A merge is "a b" (first space separates) or ["a", "b"]. */
static int merge_parts(JsonNode *node, guint i, const char **a, size_t *alen, const char **bp,
                       dv_err *e)
{
    if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
        const char *s = json_node_get_string(node);
        const char *sp = strchr(s, ' ');
        if (!sp)
            return dv_fail(e, DOCVL_EFORMAT, "model.merges[%u] \"%s\": no space between the pair",
                           i, s);
        *a = s;
        *alen = (size_t)(sp - s);
        *bp = sp + 1;
        return DOCVL_OK;
    }
    if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *p = json_node_get_array(node);
        if (json_array_get_length(p) == 2) {
            JsonNode *x = json_array_get_element(p, 0), *y = json_array_get_element(p, 1);
            if (JSON_NODE_HOLDS_VALUE(x) && json_node_get_value_type(x) == G_TYPE_STRING &&
                JSON_NODE_HOLDS_VALUE(y) && json_node_get_value_type(y) == G_TYPE_STRING) {
                *a = json_node_get_string(x);
                *alen = strlen(*a);
                *bp = json_node_get_string(y);
                return DOCVL_OK;
            }
        }
    }
    return dv_fail(e, DOCVL_EFORMAT, "model.merges[%u]: expected \"a b\" or [\"a\", \"b\"]", i);
}

static int add_merge(tok_bpe *b, guint rank, const char *a, size_t alen, const char *bs,
                     dv_err *e)
{
    size_t plen = b->prefix ? strlen(b->prefix) : 0, blen = strlen(bs);
    int32_t ia = tok_map_get(&b->vocab, a, alen), ib = tok_map_get(&b->vocab, bs, blen);
    if (ia < 0 || ib < 0)
        return dv_fail(e, DOCVL_EFORMAT, "model.merges[%u]: token \"%.*s\" is not in the vocab",
                       rank, ia < 0 ? (int)alen : (int)blen, ia < 0 ? a : bs);
    if (blen < plen)
        return dv_fail(e, DOCVL_EFORMAT, "model.merges[%u]: \"%s\" lacks the subword prefix",
                       rank, bs);
    char stack[512];
    size_t nlen = alen + blen - plen;
    char *joined = nlen <= sizeof stack ? stack : malloc(nlen);
    if (!joined)
        return dv_fail(e, DOCVL_ENOMEM, "model.merges: out of memory");
    memcpy(joined, a, alen);
    memcpy(joined + alen, bs + plen, blen - plen);
    int32_t id = tok_map_get(&b->vocab, joined, nlen);
    if (id < 0)
        dv_fail(e, DOCVL_EFORMAT, "model.merges[%u]: merged token \"%.*s\" is not in the vocab",
                rank, (int)nlen, joined);
    if (joined != stack)
        free(joined);
    if (id < 0)
        return DOCVL_EFORMAT;
    /* a repeated pair keeps its last rank, as a map collected in order does */
    merge_slot *s = merge_find(b, (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib);
    *s = (merge_slot){(uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, (int32_t)rank, id};
    return DOCVL_OK;
}

static int parse_merges(JsonObject *model, tok_bpe *b, dv_err *e)
{
    JsonArray *m = NULL;
    int r = dv_json_arr(model, "merges", "model", &m, e);
    if (r < 0)
        return e->code;
    guint n = r ? json_array_get_length(m) : 0;
    if (n > TOK_MAX_VOCAB)
        return dv_fail(e, DOCVL_ELIMIT, "model.merges: %u merges, the limit is %d", n,
                       TOK_MAX_VOCAB);
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap *= 2;
    b->merges = malloc(cap * sizeof *b->merges);
    if (!b->merges)
        return dv_fail(e, DOCVL_ENOMEM, "model.merges: out of memory");
    b->merge_cap = cap;
    for (size_t j = 0; j < cap; j++)
        b->merges[j].rank = -1;
    for (guint i = 0; i < n; i++) {
        const char *a = NULL, *bs = NULL;
        size_t alen = 0;
        if (merge_parts(json_array_get_element(m, i), i, &a, &alen, &bs, e) != DOCVL_OK ||
            add_merge(b, i, a, alen, bs, e) != DOCVL_OK)
            return e->code;
    }
    return DOCVL_OK;
}

static int opt_string(JsonObject *model, const char *key, char **out, dv_err *e)
{
    const char *s = NULL;
    int r = dv_json_str(model, key, "model", &s, e);
    if (r < 0)
        return e->code;
    if (r > 0 && !(*out = strdup(s)))
        return dv_fail(e, DOCVL_ENOMEM, "model: out of memory");
    return DOCVL_OK;
}

static int parse_options(JsonObject *model, tok_bpe *b, dv_err *e)
{
    double dropout = 0;
    if (dv_json_num(model, "dropout", "model", &dropout, e) < 0 ||
        dv_json_bool(model, "fuse_unk", "model", &b->fuse_unk, e) < 0 ||
        dv_json_bool(model, "byte_fallback", "model", &b->byte_fallback, e) < 0 ||
        dv_json_bool(model, "ignore_merges", "model", &b->ignore_merges, e) < 0)
        return e->code;
    if (dropout > 0)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "model: BPE dropout %g is not supported (random "
                       "merges make encoding non-deterministic)", dropout);
    if (opt_string(model, "continuing_subword_prefix", &b->prefix, e) ||
        opt_string(model, "end_of_word_suffix", &b->suffix, e))
        return e->code;
    const char *unk = NULL;
    int r = dv_json_str(model, "unk_token", "model", &unk, e);
    if (r < 0)
        return e->code;
    b->unk_id = -1;
    if (r > 0 && (b->unk_id = tok_map_get(&b->vocab, unk, strlen(unk))) < 0)
        return dv_fail(e, DOCVL_EFORMAT, "model: unk_token \"%s\" is not in the vocab", unk);
    return DOCVL_OK;
}

int tok_bpe_parse(JsonObject *model, tok_bpe **out, dv_err *e)
{
    *out = NULL;
    const char *type = NULL;
    if (dv_json_str(model, "type", "model", &type, e) < 0)
        return e->code;
    if (type && strcmp(type, "BPE") != 0)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "model type \"%s\" is not supported (only BPE)",
                       type);
    tok_bpe *b = calloc(1, sizeof *b);
    if (!b)
        return dv_fail(e, DOCVL_ENOMEM, "model: out of memory");
    int rc = parse_vocab(model, b, e);
    if (rc == DOCVL_OK)
        rc = parse_options(model, b, e);
    if (rc == DOCVL_OK)
        rc = parse_merges(model, b, e);
    if (rc != DOCVL_OK) {
        tok_bpe_free(b);
        return rc;
    }
    *out = b;
    return DOCVL_OK;
}

const tok_map *tok_bpe_vocab(const tok_bpe *b) { return &b->vocab; }
int32_t tok_bpe_size(const tok_bpe *b) { return b->n_ids; }

const char *tok_bpe_str(const tok_bpe *b, int32_t id)
{
    return id >= 0 && id < b->n_ids ? b->id_str[id] : NULL;
}

/* ------------------------------------------------------------ cache */

tok_bpe_cache *tok_bpe_cache_new(void) { return calloc(1, sizeof(tok_bpe_cache)); }

void tok_bpe_cache_free(tok_bpe_cache *c)
{
    if (!c)
        return;
    tok_map_free(&c->map);
    free(c->entries);
    free(c->pool);
    free(c->sym);
    free(c->heap);
    free(c);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* ------------------------------------------------------------ merging */

static int cand_less(cand x, cand y)
{
    return x.rank != y.rank ? x.rank < y.rank : x.pos < y.pos;
}

static void heap_push(cand *h, size_t *n, cand c)
{
    size_t i = (*n)++;
    while (i > 0 && cand_less(c, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n)
{
    cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = l + 1, s = i;
        cand best = last;
        if (l < *n && cand_less(h[l], best)) {
            s = l;
            best = h[l];
        }
        if (m < *n && cand_less(h[m], best))
            s = m;
        if (s == i)
            break;
        h[i] = h[s];
        i = s;
    }
    if (*n)
        h[i] = last;
    return top;
}

static void try_pair(const tok_bpe *b, const symbol *sym, int32_t pos, cand *h, size_t *nh)
{
    int32_t next = sym[pos].next;
    if (next < 0)
        return;
    const merge_slot *m = merge_get(b, sym[pos].id, sym[next].id);
    if (m)
        heap_push(h, nh, (cand){m->rank, pos, m->new_id});
}

/* Each live pair can be queued at most once per merge event, so the heap
 * needs at most 3 entries per symbol. */
static void merge_all(const tok_bpe *b, symbol *sym, size_t n, cand *h)
{
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++)
        try_pair(b, sym, (int32_t)i, h, &nh);
    while (nh) {
        cand c = heap_pop(h, &nh);
        symbol *s = &sym[c.pos];
        if (!s->alive || s->next < 0)
            continue;
        const merge_slot *m = merge_get(b, s->id, sym[s->next].id);
        if (!m || m->new_id != c.new_id)
            continue;   /* stale: a neighbour changed since this was queued */
        symbol *r = &sym[s->next];
        s->id = c.new_id;
        r->alive = 0;
        s->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = c.pos;
        if (s->prev >= 0)
            try_pair(b, sym, s->prev, h, &nh);
        try_pair(b, sym, c.pos, h, &nh);
    }
}

static int add_symbol(tok_bpe_cache *c, size_t *n, int32_t id)
{
    if (grow((void **)&c->sym, &c->cap_sym, *n + 1, sizeof *c->sym))
        return -1;
    c->sym[*n] = (symbol){id, (int32_t)*n - 1, -1, 1};
    if (*n)
        c->sym[*n - 1].next = (int32_t)*n;
    (*n)++;
    return 0;
}

/* The id of one character (with prefix/suffix), or -1. */
static int32_t char_id(const tok_bpe *b, const char *ch, size_t clen, int first, int last)
{
    if ((first || !b->prefix) && (!last || !b->suffix))
        return tok_map_get(&b->vocab, ch, clen);
    char tmp[TOK_MAX_TOKEN_BYTES];
    const char *pre = first || !b->prefix ? "" : b->prefix;
    const char *suf = last && b->suffix ? b->suffix : "";
    int n = snprintf(tmp, sizeof tmp, "%s%.*s%s", pre, (int)clen, ch, suf);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    return tok_map_get(&b->vocab, tmp, (size_t)n);
}

static int fallback_bytes(const tok_bpe *b, tok_bpe_cache *c, size_t *n, const char *ch,
                          size_t clen)
{
    int32_t ids[4];
    for (size_t i = 0; i < clen; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", (unsigned char)ch[i]);
        if ((ids[i] = tok_map_get(&b->vocab, name, 6)) < 0)
            return 0;
    }
    for (size_t i = 0; i < clen; i++)
        if (add_symbol(c, n, ids[i]))
            return -1;
    return 1;
}

/* Splits a word into initial symbols, then merges; the result lands in c->sym. */
static int word_symbols(const tok_bpe *b, tok_bpe_cache *c, const char *w, size_t len,
                        size_t *n)
{
    int32_t unk = -1;
    *n = 0;
    for (const char *p = w; p < w + len;) {
        const char *q = g_utf8_next_char(p);
        size_t clen = (size_t)(q - p);
        int32_t id = char_id(b, p, clen, p == w, q >= w + len);
        if (id >= 0) {
            if ((unk >= 0 && add_symbol(c, n, unk)) || add_symbol(c, n, id))
                return -1;
            unk = -1;
        } else {
            int fb = b->byte_fallback ? fallback_bytes(b, c, n, p, clen) : 0;
            if (fb < 0)
                return -1;
            if (!fb && b->unk_id >= 0) {
                /* consecutive unknowns fuse into one only with fuse_unk */
                if (unk >= 0 && !b->fuse_unk && add_symbol(c, n, unk))
                    return -1;
                unk = b->unk_id;
            }
        }
        p = q;
    }
    if (unk >= 0 && add_symbol(c, n, unk))
        return -1;
    if (grow((void **)&c->heap, &c->cap_heap, 3 * *n + 1, sizeof *c->heap))
        return -1;
    merge_all(b, c->sym, *n, c->heap);
    return 0;
}

static int bpe_fresh(const tok_bpe *b, tok_bpe_cache *c, const char *w, size_t len,
                     word_entry *out)
{
    out->start = c->n_pool;
    out->n = 0;
    int32_t whole = b->ignore_merges ? tok_map_get(&b->vocab, w, len) : -1;
    if (whole >= 0) {
        if (grow((void **)&c->pool, &c->cap_pool, c->n_pool + 1, sizeof *c->pool))
            return -1;
        c->pool[c->n_pool++] = whole;
        out->n = 1;
        return 0;
    }
    size_t n;
    if (word_symbols(b, c, w, len, &n))
        return -1;
    if (grow((void **)&c->pool, &c->cap_pool, c->n_pool + n, sizeof *c->pool))
        return -1;
    for (int32_t i = n ? 0 : -1; i >= 0; i = c->sym[i].next)
        c->pool[c->n_pool++] = c->sym[i].id;
    out->n = c->n_pool - out->start;
    return 0;
}

int tok_bpe_word(const tok_bpe *b, tok_bpe_cache *c, const char *w, size_t len, int32_t **ids,
                 size_t *n, size_t *cap, dv_err *e)
{
    int32_t k = tok_map_get(&c->map, w, len);
    if (k < 0) {
        word_entry we;
        if (bpe_fresh(b, c, w, len, &we) ||
            grow((void **)&c->entries, &c->cap_entries, c->n_entries + 1, sizeof *c->entries) ||
            c->n_entries >= (size_t)INT32_MAX)
            return dv_fail(e, DOCVL_ENOMEM, "BPE: out of memory");
        k = (int32_t)c->n_entries;
        c->entries[c->n_entries++] = we;
        if (tok_map_put(&c->map, w, len, k))
            return dv_fail(e, DOCVL_ENOMEM, "BPE: out of memory");
    }
    word_entry we = c->entries[k];
    if (grow((void **)ids, cap, *n + we.n, sizeof **ids))
        return dv_fail(e, DOCVL_ENOMEM, "BPE: out of memory");
    memcpy(*ids + *n, c->pool + we.start, we.n * sizeof **ids);
    *n += we.n;
    return DOCVL_OK;
}
