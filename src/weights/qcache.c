#include "weights/qcache.h"

#include "base/rng.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define QC_MAGIC "DOCVLQC"     /* 8 bytes with its NUL */
#define QC_VERSION 1
#define QC_ORDER 0x01020304u   /* reads back differently on a host of the other byte order */
#define QC_ALIGN 64            /* a cache line: the rows' blocks never straddle more than needed */
#define QC_MAX_ENTRIES (1u << 20)
#define QC_MAX_KEY (1u << 20)
#define QC_MAX_DIM (1 << 28)   /* rows or in: far above any model's, far from int overflow */
/* A temporary file untouched this long belongs to no writer at work (one
 * writes continuously): it was left by an interrupted one. */
#define QC_STALE_TMP_S 600

typedef struct qc_header {
    char magic[8];
    uint32_t version;
    uint32_t order;
    uint32_t key_len;
    uint32_t n;
    uint64_t table_off;
    uint64_t data_off;
    uint64_t file_size;
    uint64_t checksum;
    uint64_t reserved;
} qc_header;

typedef struct qc_entry {
    char name[DV_QCACHE_NAME_MAX];
    uint32_t qfmt;
    int32_t rows, in;
    uint32_t reserved;
    uint64_t offset, bytes;
} qc_entry;

_Static_assert(sizeof(qc_header) == 64, "the header is 64 bytes on disk");
_Static_assert(sizeof(qc_entry) == 128, "a table entry is 128 bytes on disk");

struct dv_qcache {
    void *map;
    size_t size;
    const qc_entry *ents;
    int n;
};

void dv_qcache_status_free(dv_qcache_status *s)
{
    free(s->path);
    free(s->warning);
    memset(s, 0, sizeof *s);
}

uint64_t dv_qcache_hash(const void *data, size_t n) { return dv_fnv1a(DV_FNV1A_BASIS, data, n); }

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Header (checksum field as zero), key, table and the padding up to the
 * data: every byte of the file's description. */
static uint64_t describe_sum(const qc_header *h, const void *rest, size_t rest_len)
{
    qc_header z = *h;
    z.checksum = 0;
    return dv_fnv1a(dv_fnv1a(DV_FNV1A_BASIS, &z, sizeof z), rest, rest_len);
}

int dv_qcache_key(const dv_checkpoint *ck, dv_qfmt qfmt, dv_qfmt head_qfmt, char **key, dv_err *e)
{
    *key = NULL;
    GString *k = g_string_new(NULL);
    g_string_append_printf(k, "docvl weight cache key %d\nquantizer %d block %d q8 %zu q4 %zu\n",
                           QC_VERSION, DV_QCACHE_QUANT_VERSION, DV_QBLOCK, sizeof(dv_q8_block),
                           sizeof(dv_q4_block));
    g_string_append_printf(k, "weights %s head %s\n", dv_qfmt_name(qfmt), dv_qfmt_name(head_qfmt));
    for (int s = 0; s < ck->n_shards; s++) {
        const char *path = ck->shards[s]->path;
        struct stat st;
        if (stat(path, &st) != 0) {
            int err = errno;
            g_string_free(k, TRUE);
            return dv_fail(e, DOCVL_EIO, "%s: %s", path, strerror(err));
        }
        char *base = g_path_get_basename(path);
        /* mtime to the nanosecond and the inode: a rewritten or replaced file
         * of the same size still changes the key */
        g_string_append_printf(k, "file %s size %lld mtime_ns %lld inode %llu\n", base,
                               (long long)st.st_size,
                               (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                               (unsigned long long)st.st_ino);
        g_free(base);
    }
    *key = strdup(k->str); /* the caller frees it with free() */
    g_string_free(k, TRUE);
    return *key ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory");
}

char *dv_qcache_path(const char *cache_dir, const char *model_dir, dv_qfmt qfmt, const char *key)
{
    /* the real directory's name: "." or "model/" would name nothing useful */
    char *real = realpath(model_dir, NULL);
    char *base = g_path_get_basename(real ? real : model_dir);
    free(real);
    for (char *p = base; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
            *p = '_';
    if (base[0] == '.' || base[0] == 0) {
        g_free(base);
        base = g_strdup("model");
    }
    char name[300];
    snprintf(name, sizeof name, "%.200s-%s-%016llx.dvq", base, dv_qfmt_name(qfmt),
             (unsigned long long)dv_qcache_hash(key, strlen(key)));
    g_free(base);
    char *gpath = g_build_filename(cache_dir, name, NULL);
    char *path = strdup(gpath);
    g_free(gpath);
    return path;
}

/* ---- reading ------------------------------------------------------------ */

static const char *check_table(const void *map, uint64_t size, const qc_header *h)
{
    const qc_entry *ents = (const qc_entry *)((const char *)map + h->table_off);
    uint64_t end = h->data_off;
    for (uint32_t i = 0; i < h->n; i++) {
        const qc_entry *t = &ents[i];
        if (!memchr(t->name, 0, sizeof t->name) || t->name[0] == 0)
            return "an entry's name is not a string";
        if ((t->qfmt != DV_Q8 && t->qfmt != DV_Q4) || t->rows <= 0 || t->in <= 0 ||
            t->rows > QC_MAX_DIM || t->in > QC_MAX_DIM)
            return "an entry has a bad format or shape";
        if (t->bytes != dv_qrow_bytes((dv_qfmt)t->qfmt, t->in) * (uint64_t)t->rows)
            return "an entry's size does not match its shape";
        /* in order, aligned, not overlapping, inside the file */
        if (t->offset % QC_ALIGN || t->offset < end || t->offset > size ||
            t->bytes > size - t->offset)
            return "an entry lies outside the data area";
        end = t->offset + t->bytes;
    }
    return NULL;
}

static const char *check(const void *map, uint64_t size, const char *key)
{
    qc_header h;
    if (size < sizeof h)
        return "shorter than its header";
    memcpy(&h, map, sizeof h);
    size_t key_len = strlen(key);
    if (memcmp(h.magic, QC_MAGIC, sizeof h.magic) != 0)
        return "not a docvl weight cache";
    if (h.version != QC_VERSION || h.order != QC_ORDER)
        return "another version or byte order";
    if (h.file_size != size)
        return "truncated or extended";
    if (h.key_len != key_len || h.key_len > QC_MAX_KEY || h.n == 0 || h.n > QC_MAX_ENTRIES)
        return "another key or a bad entry count";
    uint64_t table_end = h.table_off + (uint64_t)h.n * sizeof(qc_entry);
    if (h.table_off != align_up(sizeof h + key_len, 8) || table_end > size ||
        h.data_off != align_up(table_end, QC_ALIGN) || h.data_off > size)
        return "bad table or data offsets";
    if (describe_sum(&h, (const char *)map + sizeof h, h.data_off - sizeof h) != h.checksum)
        return "checksum mismatch (corrupt header or table)";
    if (memcmp((const char *)map + sizeof h, key, key_len) != 0)
        return "made from another checkpoint or format";
    return check_table(map, size, &h);
}

dv_qcache *dv_qcache_open(const char *path, const char *key, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOENT ? "no cache file" : "cannot open the cache file";
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(qc_header)) {
        close(fd);
        *why = "not a regular file of at least a header's size";
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        *why = "cannot map the cache file";
        return NULL;
    }
    dv_qcache *c = NULL;
    if (!(*why = check(map, size, key)) && !(c = calloc(1, sizeof *c)))
        *why = "out of memory";
    if (!c) {
        munmap(map, size);
        return NULL;
    }
    const qc_header *h = map;
    c->map = map;
    c->size = size;
    c->ents = (const qc_entry *)((const char *)map + h->table_off);
    c->n = (int)h->n;
    return c;
}

const void *dv_qcache_rows(const dv_qcache *c, const char *name, dv_qfmt qfmt, int rows, int in)
{
    for (int i = 0; i < c->n; i++) {
        const qc_entry *t = &c->ents[i];
        if (strcmp(t->name, name) == 0)
            return t->qfmt == (uint32_t)qfmt && t->rows == rows && t->in == in
                       ? (const char *)c->map + t->offset
                       : NULL;
    }
    return NULL;
}

int dv_qcache_count(const dv_qcache *c) { return c->n; }
size_t dv_qcache_size(const dv_qcache *c) { return c->size; }

void dv_qcache_prefetch(const dv_qcache *c)
{
    (void)madvise(c->map, c->size, MADV_WILLNEED); /* advice only: failure costs page faults */
}

void dv_qcache_close(dv_qcache *c)
{
    if (!c)
        return;
    munmap(c->map, c->size);
    free(c);
}

/* ---- writing ------------------------------------------------------------ */

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Header, key and table, laid out and checksummed; the data offsets follow. */
static int describe(const char *key, const dv_qcache_entry *ents, int n, char **out,
                    uint64_t *data_off, uint64_t *file_size, dv_err *e)
{
    size_t key_len = strlen(key);
    uint64_t table_off = align_up(sizeof(qc_header) + key_len, 8);
    uint64_t table_end = table_off + (uint64_t)n * sizeof(qc_entry);
    *data_off = align_up(table_end, QC_ALIGN);
    char *buf = calloc(1, *data_off);
    if (!buf)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory");
    memcpy(buf + sizeof(qc_header), key, key_len);
    qc_entry *t = (qc_entry *)(buf + table_off);
    uint64_t off = *data_off;
    for (int i = 0; i < n; i++) {
        if (strlen(ents[i].name) >= DV_QCACHE_NAME_MAX) {
            free(buf);
            return dv_fail(e, DOCVL_EINVAL, "tensor name \"%s\" is too long for the cache",
                           ents[i].name);
        }
        strcpy(t[i].name, ents[i].name);
        t[i].qfmt = (uint32_t)ents[i].qfmt;
        t[i].rows = ents[i].rows;
        t[i].in = ents[i].in;
        t[i].offset = align_up(off, QC_ALIGN);
        t[i].bytes = dv_qrow_bytes(ents[i].qfmt, ents[i].in) * (uint64_t)ents[i].rows;
        off = t[i].offset + t[i].bytes;
    }
    qc_header h = { .version = QC_VERSION, .order = QC_ORDER, .key_len = (uint32_t)key_len,
                    .n = (uint32_t)n, .table_off = table_off, .data_off = *data_off,
                    .file_size = off };
    memcpy(h.magic, QC_MAGIC, sizeof h.magic);
    h.checksum = describe_sum(&h, buf + sizeof h, *data_off - sizeof h);
    memcpy(buf, &h, sizeof h);
    *file_size = off;
    *out = buf;
    return DOCVL_OK;
}

static int write_file(int fd, const char *desc, uint64_t data_off, const dv_qcache_entry *ents,
                      int n)
{
    static const char zeros[QC_ALIGN];
    int err = write_all(fd, desc, data_off);
    uint64_t pos = data_off;
    for (int i = 0; !err && i < n; i++) {
        uint64_t start = align_up(pos, QC_ALIGN);
        size_t bytes = dv_qrow_bytes(ents[i].qfmt, ents[i].in) * (size_t)ents[i].rows;
        if (!(err = write_all(fd, zeros, start - pos)))
            err = write_all(fd, ents[i].data, bytes);
        pos = start + bytes;
    }
    if (!err && fsync(fd) != 0)
        err = errno;
    return err;
}

/* Room for the file with min_free to spare on dir's file system. */
static int check_space(const char *dir, uint64_t need, uint64_t min_free, dv_err *e)
{
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return dv_fail(e, DOCVL_EIO, "%s: %s", dir, strerror(errno));
    uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (avail < need || avail - need < min_free)
        return dv_fail(e, DOCVL_EIO,
                       "%.2f GB free in %s; the cache needs %.2f GB and leaves at least %.2f GB",
                       avail / 1e9, dir, need / 1e9, min_free / 1e9);
    return DOCVL_OK;
}

/* docvl leaves at once on SIGINT, so an interrupted write leaves its
 * temporary file (gigabytes) behind: the next write of the same path removes
 * those that no writer has touched for a while. */
static void remove_stale_tmps(const char *dir, const char *path)
{
    char *base = g_path_get_basename(path), *prefix = g_strconcat(base, ".tmp-", NULL);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    time_t now = time(NULL);
    while (d && (name = g_dir_read_name(d))) {
        if (!g_str_has_prefix(name, prefix))
            continue;
        char *p = g_build_filename(dir, name, NULL);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime > QC_STALE_TMP_S)
            (void)unlink(p); /* best effort: another process may just have removed it */
        g_free(p);
    }
    if (d)
        g_dir_close(d);
    g_free(prefix);
    g_free(base);
}

int dv_qcache_write(const char *path, const char *key, const dv_qcache_entry *ents, int n,
                    uint64_t min_free, size_t *bytes, dv_err *e)
{
    *bytes = 0;
    if (n <= 0 || (unsigned)n > QC_MAX_ENTRIES || strlen(key) > QC_MAX_KEY)
        return dv_fail(e, DOCVL_EINVAL, "%d matrices or a key of %zu bytes: not cacheable", n,
                       strlen(key));
    char *desc = NULL;
    uint64_t data_off = 0, size = 0;
    int rc = describe(key, ents, n, &desc, &data_off, &size, e);
    if (rc)
        return rc;
    *bytes = (size_t)size;
    char *dir = g_path_get_dirname(path);
    char *tmp = g_strconcat(path, ".tmp-XXXXXX", NULL);
    int fd = -1;
    if (g_mkdir_with_parents(dir, 0700) != 0)
        rc = dv_fail(e, DOCVL_EIO, "creating %s: %s", dir, strerror(errno));
    if (!rc)
        remove_stale_tmps(dir, path);
    if (!rc)
        rc = check_space(dir, size, min_free, e);
    if (!rc && (fd = mkstemp(tmp)) < 0)
        rc = dv_fail(e, DOCVL_EIO, "%s: %s", dir, strerror(errno));
    if (!rc) {
        int err = write_file(fd, desc, data_off, ents, n);
        if (close(fd) != 0 && !err)
            err = errno;
        if (!err && rename(tmp, path) != 0)
            err = errno;
        if (err) {
            unlink(tmp);
            rc = dv_fail(e, DOCVL_EIO, "%s: %s", tmp, strerror(err));
        }
    }
    free(desc);
    g_free(dir);
    g_free(tmp);
    return rc;
}
