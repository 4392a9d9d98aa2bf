/* An output file written atomically: DIR/a/b.pdf.txt is written as
 * DIR/a/.b.pdf.txt.part, fsync'ed, renamed into place and the directory
 * fsync'ed. The temporary name is fixed, not random: the document's lock
 * (bt_lock.h) makes its holder the only writer, and a part file left by a
 * killed process is simply truncated by the next one. */
#ifndef DV_BT_OUTPUT_H
#define DV_BT_OUTPUT_H

#include <stdio.h>

#include "batch/bt_err.h"

typedef struct bt_output {
    char *final;
    char *tmp;
    FILE *f;
} bt_output;

/* Creates the parent directories and the part file. */
int bt_output_begin(const char *path, bt_output *o, docvl_error *e);
/* Flushes, syncs, renames into place. The part file is gone either way. */
int bt_output_commit(bt_output *o, docvl_error *e);
/* Removes the part file. */
void bt_output_abort(bt_output *o);

#endif
