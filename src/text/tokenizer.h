/* A Hugging Face tokenizer.json (byte-level BPE) reader: added tokens,
 * normalizer, pre-tokenizers (Split / Digits / ByteLevel, in a Sequence), BPE
 * merges by rank, post-processor BOS, ByteLevel decoder. */
#ifndef DV_TOKENIZER_H
#define DV_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct dv_tokenizer dv_tokenizer;

/* Opens tokenizer.json; tokenizer_config.json beside it (if any) decides
 * add_bos_token (default as the post_processor says). */
int dv_tokenizer_open(const char *tokenizer_json_path, dv_tokenizer **out, dv_err *e);
/* From memory (fuzzing, tests); config_json may be NULL. */
int dv_tokenizer_load(const char *json, size_t len, const char *config_json, size_t config_len,
                      const char *what, dv_tokenizer **out, dv_err *e);
void dv_tokenizer_free(dv_tokenizer *t);

/* Encodes UTF-8 text. add_bos: prepend BOS (as tokenizer_config says the
 * model expects). *ids is malloc'ed; caller frees. More exactly, add_bos adds
 * the special tokens of a single sequence: BOS/EOS per tokenizer_config.json's
 * add_bos_token/add_eos_token when it has them, else the post_processor's
 * template. Invalid UTF-8 is refused (DOCVL_EINVAL); U+0000 is text. */
int dv_tokenizer_encode(const dv_tokenizer *t, const char *text, size_t len, int add_bos,
                        int32_t **ids, size_t *n_ids, dv_err *e);

/* Decodes ids to UTF-8 the Rust tokenizers way (added tokens also pass the
 * ByteLevel decoder). skip_special: drop special added tokens. Result
 * malloc'ed, NUL-terminated. */
int dv_tokenizer_decode(const dv_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                        char **text, dv_err *e);

/* As dv_tokenizer_decode, also giving the length (the text may hold NULs). */
int dv_tokenizer_decode_n(const dv_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                          char **text, size_t *len, dv_err *e);

/* The id of a token string (vocab or added token), or -1. */
int32_t dv_tokenizer_token_id(const dv_tokenizer *t, const char *token);
/* The vocabulary string of an id (byte-level alphabet), or NULL. */
const char *dv_tokenizer_token_str(const dv_tokenizer *t, int32_t id);
int dv_tokenizer_vocab_size(const dv_tokenizer *t);   /* largest id + 1 */
int32_t dv_tokenizer_bos(const dv_tokenizer *t);      /* -1 if none */
int32_t dv_tokenizer_eos(const dv_tokenizer *t);      /* -1 if none */
int dv_tokenizer_adds_bos(const dv_tokenizer *t);      /* from tokenizer_config / post_processor */
int dv_tokenizer_is_special(const dv_tokenizer *t, int32_t id);

#endif
