/* Errors with context: every fallible function returns a dv status code and
 * fills a dv_err with a message that names the file, tensor or value involved. */
#ifndef DV_ERROR_H
#define DV_ERROR_H

#include "docvl.h"

typedef struct dv_err {
    int code;
    char msg[1024];
} dv_err;

/* Records the first error only: the innermost cause is the most useful one.
 * Returns code so callers can write `return dv_fail(e, DOCVL_EIO, ...)`. */
int dv_fail(dv_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes context to an existing message ("loading tokenizer.json: ..."). */
int dv_wrap(dv_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void dv_err_clear(dv_err *e);

#endif
