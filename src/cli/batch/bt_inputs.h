/* The documents of a batch: from arguments, a list file (one path a line, or
 * NUL-separated) and directories walked recursively for known extensions.
 * Each input gets the relative path its output takes under -o DIR, so the
 * output tree mirrors the input tree, and the list is sorted by that path:
 * every process that is given the same inputs sees the same order and the
 * same shards. */
#ifndef DV_BT_INPUTS_H
#define DV_BT_INPUTS_H

#include <stddef.h>

#include "batch/bt_err.h"

typedef struct bt_input {
    char *path;     /* as given, or the directory joined with the walked name */
    char *rel;      /* '/'-separated, no leading '/', no "." or ".." parts */
} bt_input;

typedef struct bt_inputs bt_inputs;

/* exts: comma-separated extensions a directory walk takes (case ignored);
 * NULL: the formats docvl reads. */
bt_inputs *bt_inputs_new(const char *exts);
void bt_inputs_free(bt_inputs *l);

/* A directory the walk must not enter (the output directory when it lies
 * inside an input tree). */
void bt_inputs_skip_dir(bt_inputs *l, const char *dir);

/* A file is taken whatever its extension, keeping its own path as its
 * output path ("/" at the start dropped; ".." refused, since its output
 * would land outside -o DIR: give the directory instead). A directory is
 * walked: its files' output paths are relative to it; hidden entries and
 * symbolic links to directories are not followed. */
int bt_inputs_add(bt_inputs *l, const char *arg, docvl_error *e);

/* Each path of the list file ("-": standard input) as bt_inputs_add. The
 * separator is NUL when nul is set or the file holds a NUL byte, else
 * newline; empty entries are ignored. */
int bt_inputs_add_list(bt_inputs *l, const char *file, int nul, docvl_error *e);

/* Sorts by output path; the same file named twice counts once, two files
 * with one output path are an error (DOCVL_EINVAL). */
int bt_inputs_finish(bt_inputs *l, docvl_error *e);

size_t bt_inputs_count(const bt_inputs *l);
const bt_input *bt_inputs_get(const bt_inputs *l, size_t i);

/* "K/N" with 1 <= K <= N: shard K of N. */
int bt_shard_parse(const char *s, int *k, int *n, docvl_error *e);
/* Whether the input with this output path belongs to shard k of n: by a
 * hash of the path, so it depends on nothing but the path. */
int bt_shard_has(const char *rel, int k, int n);

#endif
