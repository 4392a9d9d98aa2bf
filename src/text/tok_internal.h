/* Internal pieces of the tokenizer shared by its modules: a string->id map, a
 * growable byte buffer, the split list the pipeline stages rewrite, and the
 * stage descriptions parsed from tokenizer.json. Not a public interface. */
#ifndef DV_TOK_INTERNAL_H
#define DV_TOK_INTERNAL_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Limits against hostile files: generous for real vocabularies (DeepSeek-V3 has
 * 129k ids), small enough to keep allocations bounded. */
#define TOK_MAX_JSON_BYTES ((size_t)64 << 20)
#define TOK_MAX_CONFIG_BYTES ((size_t)4 << 20)
#define TOK_MAX_VOCAB 4000000
#define TOK_MAX_ADDED 1000000
#define TOK_MAX_TOKEN_BYTES 4096
#define TOK_MAX_STAGES 64
#define TOK_MAX_PATTERN_BYTES (256 * 1024)

/* ---- string -> int32 open-addressing map; keys are borrowed, not copied ---- */
typedef struct tok_slot {
    const char *key;
    uint32_t len;
    uint32_t hash;
    int32_t val;
} tok_slot;

typedef struct tok_map {
    tok_slot *slots;
    size_t cap, n;   /* cap is a power of two */
} tok_map;

uint32_t tok_hash(const char *s, size_t len);
/* Inserts or replaces. Returns 0, or -1 when out of memory. */
int tok_map_put(tok_map *m, const char *key, size_t len, int32_t val);
/* The value, or -1 when absent. */
int32_t tok_map_get(const tok_map *m, const char *key, size_t len);
void tok_map_free(tok_map *m);

/* ---- growable byte buffer; callers keep offsets, since data may move ---- */
typedef struct tok_buf {
    char *p;
    size_t n, cap;
} tok_buf;

int tok_buf_reserve(tok_buf *b, size_t extra);
int tok_buf_append(tok_buf *b, const char *s, size_t len);
void tok_buf_free(tok_buf *b);

/* ---- the pipeline's working state: text pieces over one buffer ---- */
typedef struct tok_split {
    size_t off, len;   /* into the encode buffer */
    int32_t id;        /* >= 0: already a token (an added token); the model skips it */
} tok_split;

typedef struct tok_splits {
    tok_split *v;
    size_t n, cap;
} tok_splits;

int tok_splits_push(tok_splits *s, size_t off, size_t len, int32_t id);
void tok_splits_free(tok_splits *s);

/* ---- regexes: Oniguruma-compatible options on GRegex ---- */
/* Compiles a tokenizer.json regex; `what` names it in errors. */
int tok_regex_compile(const char *pattern, const char *what, GRegex **out, dv_err *e);
/* Calls fn(start, end, user) for each match in s[0, len) the way Oniguruma's
 * find_iter does (empty matches step one character). */
typedef int (*tok_match_fn)(size_t start, size_t end, void *user);
int tok_regex_each(const GRegex *re, const char *s, size_t len, tok_match_fn fn, void *user,
                   dv_err *e);

/* ---- normalizers ---- */
typedef struct tok_normalizer tok_normalizer;
/* node may be NULL or JSON null (no normalizer: *out = NULL). */
int tok_normalizer_parse(JsonNode *node, tok_normalizer **out, dv_err *e);
/* Appends the normalized form of s[0, len) to out. */
int tok_normalize(const tok_normalizer *nz, const char *s, size_t len, tok_buf *out, dv_err *e);
void tok_normalizer_free(tok_normalizer *nz);

/* ---- pre-tokenizers ---- */
typedef struct tok_pretok tok_pretok;
int tok_pretok_parse(JsonNode *node, tok_pretok **out, dv_err *e);
/* Rewrites the unfinished splits of `in` into `out`, appending new text to buf. */
int tok_pretok_run(const tok_pretok *pt, tok_buf *buf, const tok_splits *in, tok_splits *out,
                   dv_err *e);
void tok_pretok_free(tok_pretok *pt);

/* GPT-2 byte <-> character alphabet. */
void tok_bytelevel_tables(uint32_t byte_to_cp[256], int16_t *cp_to_byte, size_t n_cp);
#define TOK_BYTELEVEL_MAX_CP 324   /* code points 0..323 cover the alphabet */

/* ---- added tokens ---- */
typedef struct tok_added {
    char *content;
    size_t len;
    int32_t id;
    unsigned special : 1, single_word : 1, lstrip : 1, rstrip : 1, normalized : 1;
} tok_added;

/* A byte trie over added-token contents for leftmost-longest matching. */
typedef struct tok_trie tok_trie;
int tok_trie_build(const tok_added *tokens, size_t n, int normalized_pass,
                   const tok_normalizer *nz, tok_trie **out, dv_err *e);
/* Splits every unfinished piece of `in` around added-token matches. */
int tok_trie_split(const tok_trie *tr, const tok_added *tokens, const tok_buf *buf,
                   const tok_splits *in, tok_splits *out, dv_err *e);
void tok_trie_free(tok_trie *tr);

/* ---- BPE model ---- */
typedef struct tok_bpe tok_bpe;
typedef struct tok_bpe_cache tok_bpe_cache;
int tok_bpe_parse(JsonObject *model, tok_bpe **out, dv_err *e);
void tok_bpe_free(tok_bpe *b);
const tok_map *tok_bpe_vocab(const tok_bpe *b);
/* Largest id in the vocabulary + 1 and the id -> string table. */
int32_t tok_bpe_size(const tok_bpe *b);
const char *tok_bpe_str(const tok_bpe *b, int32_t id);
/* A per-call cache: word -> ids (keys borrow the caller's text). */
tok_bpe_cache *tok_bpe_cache_new(void);
void tok_bpe_cache_free(tok_bpe_cache *c);
/* Appends the ids of one pre-tokenized word to *ids. */
int tok_bpe_word(const tok_bpe *b, tok_bpe_cache *c, const char *w, size_t len, int32_t **ids,
                 size_t *n, size_t *cap, dv_err *e);

/* Unicode White_Space, as Rust's char::is_whitespace and regex \s see it. */
int tok_is_white_space(gunichar c);

/* ---- decoding helpers ---- */
/* Appends bytes as UTF-8, each invalid sequence replaced by U+FFFD the way
 * Rust's String::from_utf8_lossy does. */
int tok_utf8_lossy(const unsigned char *s, size_t len, tok_buf *out);

#endif
