/* One lock per output, so that two processes (or two workers) never write
 * the same document: DIR/.docvl-locks/<hash of the output path>.lock held
 * with flock. The kernel drops the lock when its holder dies, even by
 * kill -9, so no stale lock ever blocks a resumed batch; a lock file left by
 * such a death is reused and removed by the next holder. */
#ifndef DV_BT_LOCK_H
#define DV_BT_LOCK_H

#include "batch/bt_err.h"

#define BT_LOCK_DIR ".docvl-locks"

typedef struct bt_lock bt_lock;

/* Takes the lock of key in dir/.docvl-locks. wait 0: *out is NULL when
 * another holds it; wait 1: blocks until it is free. */
int bt_lock_take(const char *dir, const char *key, int wait, bt_lock **out, docvl_error *e);

/* Removes the lock file and releases it. */
void bt_lock_release(bt_lock *l);

#endif
