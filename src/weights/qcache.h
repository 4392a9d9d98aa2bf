/* A cache of the decoder's quantized matrices, so a q8/q4 model loads by
 * mapping one file instead of quantizing 13 GB of BF16 at every start.
 *
 * One file per (checkpoint, format): <dir>/<model>-<fmt>-<hash16>.dvq, hash =
 * FNV-1a 64 of the key. The key names every safetensors file of the
 * checkpoint (file name, size, mtime in ns, inode), the formats and the
 * quantizer's layout version, so a changed checkpoint or quantizer gives
 * another file name and the old file is simply never opened again.
 *
 * Layout (host byte order; an order mark in the header refuses a foreign one):
 *   header  64 bytes: magic "DOCVLQC\0", version, byte-order mark, key length,
 *           entry count, table offset, data offset, file size, FNV-1a 64 of
 *           everything before the data (this field counted as zero)
 *   key     key_len bytes of text, padded to 8
 *   table   n entries of 128 bytes: name (NUL-terminated in 96), qfmt, rows,
 *           in, offset, bytes
 *   data    each entry's rows at an offset aligned to 64 bytes
 * Everything is checked before anything is used: a file that fails any check
 * is ignored (and rewritten by the loader). The rows themselves are not
 * checksummed, as the checkpoint's are not: hashing gigabytes at every load
 * would cost what the cache saves. Files are only ever replaced by rename(),
 * never rewritten in place, so a mapping in use stays valid. */
#ifndef DV_QCACHE_H
#define DV_QCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/quant.h"
#include "weights/checkpoint.h"

/* Bump whenever kernels/quant.c changes what dv_quantize_row writes (block
 * layout, rounding, scales): old cache files then stop matching the key. */
#define DV_QCACHE_QUANT_VERSION 1
/* Longest tensor name an entry holds, NUL included. */
#define DV_QCACHE_NAME_MAX 96
/* Bytes a write must leave free on the cache's file system. */
#define DV_QCACHE_MIN_FREE ((uint64_t)1 << 30)

typedef struct dv_qcache dv_qcache;   /* a mapped, validated cache file */

/* One quantized matrix: what the loader expects (reading) or holds (writing). */
typedef struct dv_qcache_entry {
    const char *name;
    dv_qfmt qfmt;
    int rows, in;
    const void *data;   /* writing: rows * dv_qrow_bytes(qfmt, in) bytes */
} dv_qcache_entry;

/* What became of the cache at one load, for the front end to tell the user. */
typedef struct dv_qcache_status {
    int used;           /* the matrices map this file; nothing was quantized */
    int written;        /* the matrices were quantized and this file written */
    char *path;         /* the file used or written (or that could not be) */
    size_t bytes;       /* its size */
    char *warning;      /* why it could not be written (loading still worked) */
} dv_qcache_status;

void dv_qcache_status_free(dv_qcache_status *s);

/* FNV-1a 64. */
uint64_t dv_qcache_hash(const void *data, size_t n);

/* The key text of ck held as qfmt (layers) and head_qfmt (lm_head).
 * Errors: a shard that cannot be stat()ed. Caller frees. */
int dv_qcache_key(const dv_checkpoint *ck, dv_qfmt qfmt, dv_qfmt head_qfmt, char **key, dv_err *e);

/* <cache_dir>/<base name of model_dir>-<qfmt>-<hash16>.dvq. Caller frees. */
char *dv_qcache_path(const char *cache_dir, const char *model_dir, dv_qfmt qfmt, const char *key);

/* Maps path read-only and validates header, key, table and every entry's
 * bounds. NULL when there is no such file or it is unusable; *why (may be
 * NULL) then says which check failed (a static string). */
dv_qcache *dv_qcache_open(const char *path, const char *key, const char **why);

/* The rows of the entry named name if it has exactly this qfmt, rows and in;
 * NULL otherwise. Points into the mapping: valid until dv_qcache_close. */
const void *dv_qcache_rows(const dv_qcache *c, const char *name, dv_qfmt qfmt, int rows, int in);
int dv_qcache_count(const dv_qcache *c);
/* Bytes of the mapped file. */
size_t dv_qcache_size(const dv_qcache *c);
/* Advises the kernel to read the whole mapping ahead (no-op if resident). */
void dv_qcache_prefetch(const dv_qcache *c);
void dv_qcache_close(dv_qcache *c);

/* Writes the n entries under path atomically: a temporary file in the same
 * directory (made with its parents, mode 0700, if missing), every write,
 * fsync and close checked, then rename(). Refuses (DOCVL_EIO) when the file
 * would leave less than min_free bytes free. On any failure the temporary
 * file is removed and e says why; *bytes gets the file's size. Temporary
 * files of path that an interrupted writer left (untouched for 10 minutes)
 * are removed first. */
int dv_qcache_write(const char *path, const char *key, const dv_qcache_entry *ents, int n,
                    uint64_t min_free, size_t *bytes, dv_err *e);

#endif
