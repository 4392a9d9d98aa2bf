#include "weights/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"

typedef struct span { uint64_t begin, end; int idx; } span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static int read_u64_array(JsonNode *n, uint64_t *out, int max, int *count)
{
    if (!n || !JSON_NODE_HOLDS_ARRAY(n))
        return -1;
    JsonArray *a = json_node_get_array(n);
    guint len = json_array_get_length(a);
    if (len > (guint)max)
        return -1;
    for (guint i = 0; i < len; i++) {
        JsonNode *el = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(el) || json_node_get_value_type(el) != G_TYPE_INT64)
            return -1;
        gint64 v = json_node_get_int(el);
        if (v < 0)
            return -1;
        out[i] = (uint64_t)v;
    }
    *count = (int)len;
    return 0;
}

static int parse_entry(const char *what, const char *name, JsonNode *node, const uint8_t *data,
                       uint64_t data_size, dv_tensor *t, span *sp, dv_err *e)
{
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": header entry is not an object", what,
                       name);
    JsonObject *o = json_node_get_object(node);
    const char *dtype = NULL;
    if (dv_json_str(o, "dtype", what, &dtype, e) <= 0)
        return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": no dtype", what, name);
    if (dv_dtype_from_name(dtype, &t->dtype))
        return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", what, name,
                       dtype);
    uint64_t shape[DV_MAX_DIMS + 1], off[3];
    int ndim, noff;
    if (read_u64_array(json_object_get_member(o, "shape"), shape, DV_MAX_DIMS, &ndim))
        return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": shape must be an array of at most %d "
                       "non-negative integers", what, name, DV_MAX_DIMS);
    if (read_u64_array(json_object_get_member(o, "data_offsets"), off, 2, &noff) || noff != 2)
        return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": data_offsets must be [begin, end]",
                       what, name);
    uint64_t bytes = dv_dtype_size(t->dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] > (1ull << 40) || (shape[i] && bytes > UINT64_MAX / shape[i]))
            return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": shape overflows", what, name);
        bytes *= shape[i];
        t->shape[i] = (int64_t)shape[i];
    }
    t->ndim = ndim;
    if (off[0] > off[1] || off[1] > data_size)
        return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": span [%llu, %llu) outside the %llu-byte "
                       "data area", what, name, (unsigned long long)off[0],
                       (unsigned long long)off[1], (unsigned long long)data_size);
    if (off[1] - off[0] != bytes)
        return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": %s %s needs %llu bytes, span holds %llu",
                       what, name, dtype, "shape", (unsigned long long)bytes,
                       (unsigned long long)(off[1] - off[0]));
    t->data = data + off[0];
    t->nbytes = (size_t)bytes;
    /* Kernels read typed elements in place; the safetensors writer pads the
     * header to 8 bytes, so a misaligned tensor means a malformed file. */
    if ((uintptr_t)t->data % dv_dtype_size(t->dtype))
        return dv_fail(e, DOCVL_EFORMAT, "%s: tensor \"%s\": data at offset %llu is not aligned "
                       "to its %zu-byte %s elements (re-save the file with safetensors)", what,
                       name, (unsigned long long)off[0], dv_dtype_size(t->dtype), dtype);
    sp->begin = off[0];
    sp->end = off[1];
    return DOCVL_OK;
}

int dv_safetensors_parse(const void *bytes, size_t size, const char *what, dv_safetensors **out,
                         dv_err *e)
{
    *out = NULL;
    const uint8_t *b = bytes;
    if (size < 8)
        return dv_fail(e, DOCVL_EFORMAT, "%s: %zu bytes is too short for a safetensors file", what,
                       size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | b[i];
    /* the limit first: a length from a corrupt file is usually also huge */
    if (hlen > DV_ST_MAX_HEADER)
        return dv_fail(e, DOCVL_ELIMIT, "%s: header of %llu bytes, the limit is %u", what,
                       (unsigned long long)hlen, DV_ST_MAX_HEADER);
    if (hlen > size - 8)
        return dv_fail(e, DOCVL_EFORMAT, "%s: header length %llu is larger than the file (%zu bytes)",
                       what, (unsigned long long)hlen, size);
    JsonParser *p;
    JsonNode *root;
    int rc = dv_json_parse((const char *)b + 8, (size_t)hlen, DV_ST_MAX_HEADER, what, &p, &root, e);
    if (rc)
        return dv_wrap(e, "safetensors header"), rc;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_object_unref(p);
        return dv_fail(e, DOCVL_EFORMAT, "%s: safetensors header is not a JSON object", what);
    }
    JsonObject *o = json_node_get_object(root);
    GList *members = json_object_get_members(o);
    guint count = g_list_length(members);
    if (count > DV_ST_MAX_TENSORS) {
        g_list_free(members);
        g_object_unref(p);
        return dv_fail(e, DOCVL_ELIMIT, "%s: %u tensors, the limit is %d", what, count,
                       DV_ST_MAX_TENSORS);
    }
    dv_safetensors *st = calloc(1, sizeof *st);
    span *spans = calloc(count + 1, sizeof *spans);
    if (st) {
        st->tensors = calloc(count + 1, sizeof *st->tensors);
        st->path = strdup(what);
    }
    if (!st || !st->tensors || !spans || !st->path) {
        rc = dv_fail(e, DOCVL_ENOMEM, "%s: out of memory for %u tensors", what, count);
        goto done;
    }
    const uint8_t *data = b + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    for (GList *l = members; l; l = l->next) {
        const char *name = l->data;
        if (strcmp(name, "__metadata__") == 0)
            continue;
        dv_tensor *t = &st->tensors[st->n];
        if ((rc = parse_entry(what, name, json_object_get_member(o, name), data, data_size, t,
                              &spans[st->n], e)))
            goto done;
        t->name = strdup(name);
        if (!t->name) {
            rc = dv_fail(e, DOCVL_ENOMEM, "out of memory");
            goto done;
        }
        spans[st->n].idx = st->n;
        st->n++;
    }
    qsort(spans, (size_t)st->n, sizeof *spans, cmp_span);
    /* Compare each span with the furthest-reaching one before it, so a
     * span nested after a short one is still caught. */
    int widest = -1;
    for (int i = 0; i < st->n; i++) {
        if (spans[i].begin == spans[i].end)
            continue;
        if (widest >= 0 && spans[i].begin < spans[widest].end) {
            rc = dv_fail(e, DOCVL_EFORMAT, "%s: tensors \"%s\" and \"%s\" overlap in the data area",
                         what, st->tensors[spans[widest].idx].name, st->tensors[spans[i].idx].name);
            goto done;
        }
        if (widest < 0 || spans[i].end > spans[widest].end)
            widest = i;
    }
done:
    g_list_free(members);
    g_object_unref(p);
    free(spans);
    if (rc) {
        dv_safetensors_close(st);
        return rc;
    }
    *out = st;
    return DOCVL_OK;
}

int dv_safetensors_open(const char *path, dv_safetensors **out, dv_err *e)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dv_fail(e, DOCVL_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return dv_fail(e, DOCVL_EIO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return dv_fail(e, DOCVL_EFORMAT, "%s: empty file (0 bytes)", path);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return dv_fail(e, DOCVL_EIO, "%s: mmap failed: %s", path, strerror(errno));
    int rc = dv_safetensors_parse(map, size, path, out, e);
    if (rc) {
        munmap(map, size);
        return rc;
    }
    (*out)->map = map;
    (*out)->size = size;
    return DOCVL_OK;
}

void dv_safetensors_close(dv_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n; i++)
        free((char *)st->tensors[i].name);
    free(st->tensors);
    free(st->path);
    if (st->map)
        munmap(st->map, st->size);
    free(st);
}

const dv_tensor *dv_safetensors_find(const dv_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}
