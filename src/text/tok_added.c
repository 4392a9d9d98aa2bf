/* Added tokens: found in the text before pre-tokenization by leftmost-longest
 * matching over a byte trie, honouring single_word, lstrip and rstrip the way
 * Hugging Face tokenizers does. */
#include "text/tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct trie_node {
    int32_t child;     /* first child, -1 if none */
    int32_t sibling;   /* next child of the same parent */
    int32_t token;     /* index into the token list when a content ends here */
    unsigned char byte;
} trie_node;

struct tok_trie {
    trie_node *nodes;
    size_t n, cap;
    int32_t root_next[256];   /* the root fans out widely: direct table */
};

void tok_trie_free(tok_trie *tr)
{
    if (!tr)
        return;
    free(tr->nodes);
    free(tr);
}

static int32_t new_node(tok_trie *tr, unsigned char byte)
{
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 256;
        trie_node *v = realloc(tr->nodes, cap * sizeof *v);
        if (!v)
            return -1;
        tr->nodes = v;
        tr->cap = cap;
    }
    tr->nodes[tr->n] = (trie_node){-1, -1, -1, byte};
    return (int32_t)tr->n++;
}

static int32_t child_of(const tok_trie *tr, int32_t node, unsigned char byte)
{
    if (node < 0)
        return tr->root_next[byte];
    for (int32_t c = tr->nodes[node].child; c >= 0; c = tr->nodes[c].sibling)
        if (tr->nodes[c].byte == byte)
            return c;
    return -1;
}

static int trie_insert(tok_trie *tr, const char *s, size_t len, int32_t token)
{
    int32_t node = -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = child_of(tr, node, b);
        if (c < 0) {
            if ((c = new_node(tr, b)) < 0)
                return -1;
            if (node < 0) {
                tr->root_next[b] = c;
            } else {
                tr->nodes[c].sibling = tr->nodes[node].child;
                tr->nodes[node].child = c;
            }
        }
        node = c;
    }
    /* the first token with a given content wins, like the pattern order */
    if (node >= 0 && tr->nodes[node].token < 0)
        tr->nodes[node].token = token;
    return 0;
}

/* Special tokens go in first: tokenizers orders its patterns that way. */
static int insert_pass(tok_trie *tr, const tok_added *t, size_t n, int normalized_pass,
                       const tok_normalizer *nz, int special, dv_err *e)
{
    for (size_t i = 0; i < n; i++) {
        if ((int)t[i].special != special || (int)t[i].normalized != normalized_pass)
            continue;
        int rc;
        if (normalized_pass && nz) {
            tok_buf norm = {0};
            rc = tok_normalize(nz, t[i].content, t[i].len, &norm, e);
            if (rc == DOCVL_OK && norm.n && trie_insert(tr, norm.p, norm.n, (int32_t)i))
                rc = DOCVL_ENOMEM;
            tok_buf_free(&norm);
        } else {
            rc = trie_insert(tr, t[i].content, t[i].len, (int32_t)i) ? DOCVL_ENOMEM : DOCVL_OK;
        }
        if (rc != DOCVL_OK)
            return rc == DOCVL_ENOMEM ? dv_fail(e, rc, "added tokens: out of memory") : rc;
    }
    return DOCVL_OK;
}

int tok_trie_build(const tok_added *tokens, size_t n, int normalized_pass,
                   const tok_normalizer *nz, tok_trie **out, dv_err *e)
{
    *out = NULL;
    tok_trie *tr = calloc(1, sizeof *tr);
    if (!tr)
        return dv_fail(e, DOCVL_ENOMEM, "added tokens: out of memory");
    for (int b = 0; b < 256; b++)
        tr->root_next[b] = -1;
    int rc = insert_pass(tr, tokens, n, normalized_pass, nz, 1, e);
    if (rc == DOCVL_OK)
        rc = insert_pass(tr, tokens, n, normalized_pass, nz, 0, e);
    if (rc != DOCVL_OK || tr->n == 0) {
        tok_trie_free(tr);
        return rc;
    }
    *out = tr;
    return DOCVL_OK;
}

/* Longest content starting at s[0]: its token index and length, or -1. */
static int32_t longest_at(const tok_trie *tr, const char *s, size_t len, size_t *mlen)
{
    int32_t node = -1, best = -1;
    for (size_t i = 0; i < len; i++) {
        node = child_of(tr, node, (unsigned char)s[i]);
        if (node < 0)
            break;
        if (tr->nodes[node].token >= 0) {
            best = tr->nodes[node].token;
            *mlen = i + 1;
        }
    }
    return best;
}

/* Rust regex's \w: alphabetic, marks, decimal digits, connector
 * punctuation, joiners. */
static int is_word_char(gunichar c)
{
    GUnicodeType t = g_unichar_type(c);
    return g_unichar_isalpha(c) || g_unichar_ismark(c) || t == G_UNICODE_LETTER_NUMBER ||
           t == G_UNICODE_DECIMAL_NUMBER || t == G_UNICODE_CONNECT_PUNCTUATION ||
           c == 0x200C || c == 0x200D;
}

static int word_before(const char *s, size_t at)
{
    if (at == 0)
        return 0;
    const char *p = g_utf8_find_prev_char(s, s + at);
    return p && is_word_char(g_utf8_get_char(p));
}

static int word_after(const char *s, size_t len, size_t at)
{
    return at < len && is_word_char(g_utf8_get_char(s + at));
}

static size_t space_run_start(const char *s, size_t at)
{
    while (at > 0) {
        const char *p = g_utf8_find_prev_char(s, s + at);
        if (!p || !tok_is_white_space(g_utf8_get_char(p)))
            break;
        at = (size_t)(p - s);
    }
    return at;
}

static size_t space_run_end(const char *s, size_t len, size_t at)
{
    while (at < len && tok_is_white_space(g_utf8_get_char(s + at)))
        at = (size_t)(g_utf8_next_char(s + at) - s);
    return at;
}

static int split_one(const tok_trie *tr, const tok_added *tokens, const char *s, size_t len,
                     size_t base, tok_splits *out)
{
    size_t done = 0, i = 0;
    while (i < len) {
        size_t mlen = 0;
        int32_t k = longest_at(tr, s + i, len - i, &mlen);
        if (k < 0) {
            i++;
            continue;
        }
        const tok_added *t = &tokens[k];
        size_t start = i, stop = i + mlen;
        i = stop;   /* matches never overlap, kept or discarded */
        if (t->single_word && (word_before(s, start) || word_after(s, len, stop)))
            continue;
        if (t->lstrip)
            start = space_run_start(s, start);
        if (t->rstrip)
            stop = space_run_end(s, len, stop);
        if (start < done)
            start = done;
        if (done < start && tok_splits_push(out, base + done, start - done, -1))
            return -1;
        if (tok_splits_push(out, base + start, stop - start, t->id))
            return -1;
        done = stop;
        if (i < stop)
            i = stop;
    }
    if (done < len && tok_splits_push(out, base + done, len - done, -1))
        return -1;
    return 0;
}

int tok_trie_split(const tok_trie *tr, const tok_added *tokens, const tok_buf *buf,
                   const tok_splits *in, tok_splits *out, dv_err *e)
{
    for (size_t i = 0; i < in->n; i++) {
        tok_split sp = in->v[i];
        int bad = sp.id >= 0 ? tok_splits_push(out, sp.off, sp.len, sp.id)
                             : split_one(tr, tokens, buf->p + sp.off, sp.len, sp.off, out);
        if (bad)
            return dv_fail(e, DOCVL_ENOMEM, "added tokens: out of memory");
    }
    return DOCVL_OK;
}
