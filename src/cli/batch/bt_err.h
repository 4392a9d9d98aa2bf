/* Errors of the batch front end: a docvl_status code and a message naming
 * the file or value involved. The batch modules sit on the public API and
 * GLib only, so they carry their own small error record. */
#ifndef DV_BT_ERR_H
#define DV_BT_ERR_H

#include "docvl.h"

typedef struct bt_err {
    int code;
    char msg[1024];
} bt_err;

/* Keeps the first error (the innermost cause); returns code. */
int bt_fail(bt_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* FNV-1a of a string: lock names and shard choice, stable across machines. */
unsigned long long bt_hash(const char *s);

#endif
