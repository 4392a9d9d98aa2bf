/* JSON through json-glib, with the checks untrusted files need first:
 * a size limit and a nesting limit (json-glib recurses per level). */
#ifndef DV_JSON_H
#define DV_JSON_H

#include <json-glib/json-glib.h>
#include "base/error.h"

#define DV_JSON_MAX_DEPTH 64

/* Parses text into a new parser whose root is returned in *root (owned by the
 * parser: unref the parser when done). `what` names the source in errors. */
int dv_json_parse(const char *text, size_t len, size_t max_bytes, const char *what,
                  JsonParser **parser, JsonNode **root, dv_err *e);

/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer. */
int dv_read_file(const char *path, size_t max_bytes, char **out, size_t *len, dv_err *e);

/* Typed member access: return 1 and set *out if present with the right type,
 * 0 if absent or null, -1 (with e set) if present with a wrong type. */
int dv_json_int(JsonObject *o, const char *key, const char *what, long long *out, dv_err *e);
int dv_json_num(JsonObject *o, const char *key, const char *what, double *out, dv_err *e);
/* The shortest decimal that reads back as the same float (1e-6f written as
 * 1e-06, not 9.9999999747524271e-07), as a double for a JSON writer. */
double dv_json_short_float(double v);
int dv_json_bool(JsonObject *o, const char *key, const char *what, int *out, dv_err *e);
int dv_json_str(JsonObject *o, const char *key, const char *what, const char **out, dv_err *e);
int dv_json_obj(JsonObject *o, const char *key, const char *what, JsonObject **out, dv_err *e);
int dv_json_arr(JsonObject *o, const char *key, const char *what, JsonArray **out, dv_err *e);

#endif
