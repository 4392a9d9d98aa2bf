/* Errors of the batch modules. The batch is a front end on the public API
 * (include/docvl.h), so its errors are docvl_error records. */
#ifndef DV_BT_ERR_H
#define DV_BT_ERR_H

#include <stdint.h>

#include "docvl.h"

/* Keeps the first error (the innermost cause); returns code. */
int bt_fail(docvl_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* FNV-1a of a path: shards and lock names, the same on every machine. */
uint64_t bt_hash(const char *s);

#endif
