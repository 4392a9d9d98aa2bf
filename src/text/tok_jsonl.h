/* JSON-lines helpers for the tokenizer's front end and tests: json-glib cuts
 * strings at "\u0000", so text members are decoded here, NULs kept. */
#ifndef DV_TOK_JSONL_H
#define DV_TOK_JSONL_H

#include <glib.h>
#include <stddef.h>

/* Decodes the string value of top-level member `key` of the JSON object in
 * line[0, len). Returns 1 and a malloc'ed NUL-terminated *out (length *out_len),
 * 0 when the member is absent or not a string, -1 when the line is malformed. */
int dv_jsonl_string(const char *line, size_t len, const char *key, char **out, size_t *out_len);

/* Appends s[0, len) as a JSON string literal (quotes included). */
void dv_json_append_string(GString *out, const char *s, size_t len);

#endif
