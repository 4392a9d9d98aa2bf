#include "batch/bt_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

/* A line longer than this is not ours: skipped, never loaded whole. */
#define BT_MAX_LINE (1 << 20)

struct bt_journal {
    char *path;
    int fd;
    off_t read_to;          /* bytes consumed: whole lines only */
    GHashTable *last;       /* key -> bt_record *: the last line about it (slimmed) */
    GHashTable *options;    /* the records' options strings, each once */
    int bad;
    GRecMutex mu;
};

static const char *const status_names[] = { "done", "partial", "failed" };

const char *bt_status_name(bt_status s) { return status_names[s]; }

void bt_record_clear(bt_record *r)
{
    g_free(r->key);
    g_free(r->input);
    g_free(r->options);
    g_free(r->reason);
    g_free(r->output);
    g_free(r->failed_pages);
    g_free(r->host);
    memset(r, 0, sizeof *r);
}

static void record_free(gpointer p)
{
    bt_record *r = p;
    r->options = NULL;      /* j->options owns it */
    bt_record_clear(r);
    g_free(r);
}

char *bt_record_to_json(const bt_record *r)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    bt_json_str(b, "key", r->key);
    bt_json_str(b, "input", r->input);
    bt_json_int(b, "size", r->size);
    bt_json_int(b, "mtime_ns", r->mtime_ns);
    bt_json_str(b, "options", r->options);
    bt_json_str(b, "status", bt_status_name(r->status));
    bt_json_str(b, "reason", r->reason ? r->reason : "");
    json_builder_set_member_name(b, "failed_pages");
    json_builder_begin_array(b);
    for (int i = 0; i < r->n_failed_pages; i++)
        json_builder_add_int_value(b, r->failed_pages[i]);
    json_builder_end_array(b);
    bt_json_str(b, "output", r->output ? r->output : "");
    bt_json_int(b, "pages", r->pages);
    bt_json_num(b, "seconds", r->seconds);
    bt_json_str(b, "host", r->host ? r->host : "");
    bt_json_int(b, "pid", r->pid);
    bt_json_int(b, "time", r->time);
    json_builder_end_object(b);
    return bt_json_line(b);
}

void bt_json_str(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_string_value(b, value);
}

void bt_json_int(JsonBuilder *b, const char *key, int64_t value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, value);
}

void bt_json_num(JsonBuilder *b, const char *key, double value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_double_value(b, value);
}

char *bt_json_line(JsonBuilder *b)
{
    JsonNode *root = json_builder_get_root(b);
    JsonGenerator *g = json_generator_new();
    json_generator_set_root(g, root);
    char *s = json_generator_to_data(g, NULL);
    g_object_unref(g);
    json_node_unref(root);
    g_object_unref(b);
    return s;
}

static int get_str(JsonObject *o, const char *k, char **out)
{
    JsonNode *n = json_object_get_member(o, k);
    if (!n || json_node_get_value_type(n) != G_TYPE_STRING)
        return -1;
    *out = g_strdup(json_node_get_string(n));
    return 0;
}

static int get_int(JsonObject *o, const char *k, int64_t *out)
{
    JsonNode *n = json_object_get_member(o, k);
    if (!n || json_node_get_value_type(n) != G_TYPE_INT64)
        return -1;
    *out = json_node_get_int(n);
    return 0;
}

static int get_status(JsonObject *o, bt_status *out)
{
    const char *s = json_object_get_string_member_with_default(o, "status", "");
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (bt_status)i;
            return 0;
        }
    }
    return -1;
}

static int get_pages(JsonObject *o, bt_record *r)
{
    JsonNode *n = json_object_get_member(o, "failed_pages");
    if (!n || !JSON_NODE_HOLDS_ARRAY(n))
        return -1;
    JsonArray *a = json_node_get_array(n);
    guint len = json_array_get_length(a);
    r->failed_pages = g_new0(int, len + 1);
    for (guint i = 0; i < len; i++)
        r->failed_pages[i] = (int)json_array_get_int_element(a, i);
    r->n_failed_pages = (int)len;
    return 0;
}

static int fields(JsonObject *o, bt_record *r)
{
    int64_t pages = 0, pid = 0;
    int bad = get_str(o, "key", &r->key) | get_str(o, "input", &r->input) |
              get_int(o, "size", &r->size) | get_int(o, "mtime_ns", &r->mtime_ns) |
              get_str(o, "options", &r->options) | get_status(o, &r->status) |
              get_str(o, "reason", &r->reason) | get_str(o, "output", &r->output) |
              get_pages(o, r) |
              get_int(o, "pages", &pages) | get_str(o, "host", &r->host) |
              get_int(o, "pid", &pid) | get_int(o, "time", &r->time);
    r->pages = (int)pages;
    r->pid = (int)pid;
    r->seconds = json_object_get_double_member_with_default(o, "seconds", 0);
    return bad;
}

int bt_record_from_json(const char *line, size_t len, bt_record *r, docvl_error *e)
{
    memset(r, 0, sizeof *r);
    JsonParser *p = json_parser_new();
    int rc = DOCVL_OK;
    JsonNode *root = NULL;
    if (!json_parser_load_from_data(p, line, (gssize)len, NULL) ||
        !(root = json_parser_get_root(p)) || !JSON_NODE_HOLDS_OBJECT(root) ||
        fields(json_node_get_object(root), r)) {
        bt_record_clear(r);
        rc = bt_fail(e, DOCVL_EFORMAT, "not a journal record: %.80s", line);
    }
    g_object_unref(p);
    return rc;
}

/* A batch keeps a record for every document in the journal, so memory
 * holds only what a rerun decides on (the rest is in the file), and the
 * records share their options string, the same for most of them. */
static void slim(bt_journal *j, bt_record *r)
{
    char *options = g_hash_table_lookup(j->options, r->options);
    if (!options) {
        options = g_steal_pointer(&r->options);
        g_hash_table_add(j->options, options);
    }
    bt_record kept = { .key = g_steal_pointer(&r->key), .size = r->size,
                       .mtime_ns = r->mtime_ns, .options = options, .status = r->status,
                       .pages = r->pages };
    bt_record_clear(r);
    *r = kept;
}

static void take_line(bt_journal *j, const char *line, size_t len)
{
    bt_record *r = g_new0(bt_record, 1);
    if (len > BT_MAX_LINE || bt_record_from_json(line, len, r, NULL) != DOCVL_OK) {
        g_free(r);
        j->bad++;
        return;
    }
    slim(j, r);
    g_hash_table_replace(j->last, r->key, r);
}

/* Reads from read_to to the end; a last line without its newline is left
 * for later (a writer may be in the middle of it). */
static int read_new(bt_journal *j, docvl_error *e)
{
    GString *buf = g_string_new(NULL);
    char chunk[65536];
    ssize_t n;
    off_t at = j->read_to;
    while ((n = pread(j->fd, chunk, sizeof chunk, at)) > 0) {
        g_string_append_len(buf, chunk, n);
        at += n;
    }
    if (n < 0) {
        g_string_free(buf, TRUE);
        return bt_fail(e, DOCVL_EIO, "reading %s: %s", j->path, strerror(errno));
    }
    size_t start = 0;
    for (size_t i = 0; i < buf->len; i++) {
        if (buf->str[i] != '\n')
            continue;
        if (i > start)
            take_line(j, buf->str + start, i - start);
        start = i + 1;
    }
    j->read_to += (off_t)start;
    g_string_free(buf, TRUE);
    return DOCVL_OK;
}

int bt_journal_open(const char *dir, bt_journal **out, docvl_error *e)
{
    *out = NULL;
    bt_journal *j = g_new0(bt_journal, 1);
    j->path = g_build_filename(dir, BT_JOURNAL_NAME, NULL);
    j->last = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, record_free);
    j->options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_rec_mutex_init(&j->mu);
    j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (j->fd < 0) {
        int rc = bt_fail(e, DOCVL_EIO, "cannot open the journal %s: %s", j->path,
                         strerror(errno));
        bt_journal_close(j);
        return rc;
    }
    int rc = read_new(j, e);
    if (rc) {
        bt_journal_close(j);
        return rc;
    }
    *out = j;
    return DOCVL_OK;
}

void bt_journal_close(bt_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    g_hash_table_destroy(j->last);
    g_hash_table_destroy(j->options);
    g_rec_mutex_clear(&j->mu);
    g_free(j->path);
    g_free(j);
}

void bt_journal_lock(bt_journal *j) { g_rec_mutex_lock(&j->mu); }
void bt_journal_unlock(bt_journal *j) { g_rec_mutex_unlock(&j->mu); }

int bt_journal_refresh(bt_journal *j, docvl_error *e)
{
    g_rec_mutex_lock(&j->mu);
    int rc = read_new(j, e);
    g_rec_mutex_unlock(&j->mu);
    return rc;
}

const bt_record *bt_journal_find(bt_journal *j, const char *key)
{
    g_rec_mutex_lock(&j->mu);
    const bt_record *r = g_hash_table_lookup(j->last, key);
    g_rec_mutex_unlock(&j->mu);
    return r;
}

int bt_journal_bad_lines(const bt_journal *j) { return j->bad; }

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Under the file lock: a torn last line (a writer died mid-line, possible
 * only after a crash of the machine) is ended first, so that this record
 * starts a line of its own. */
static int append_locked(bt_journal *j, const char *line, docvl_error *e)
{
    struct stat st;
    char last = '\n';
    if (fstat(j->fd, &st) != 0 || (st.st_size > 0 && pread(j->fd, &last, 1, st.st_size - 1) != 1))
        return bt_fail(e, DOCVL_EIO, "reading %s: %s", j->path, strerror(errno));
    GString *s = g_string_new(last == '\n' ? "" : "\n");
    g_string_append(s, line);
    g_string_append_c(s, '\n');
    int rc = DOCVL_OK;
    if (write_all(j->fd, s->str, s->len) != 0 || fdatasync(j->fd) != 0)
        rc = bt_fail(e, DOCVL_EIO, "appending to %s: %s", j->path, strerror(errno));
    g_string_free(s, TRUE);
    return rc;
}

int bt_journal_append(bt_journal *j, const bt_record *r, docvl_error *e)
{
    char *line = bt_record_to_json(r);
    g_rec_mutex_lock(&j->mu);
    int rc = DOCVL_OK;
    while (flock(j->fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            rc = bt_fail(e, DOCVL_EIO, "locking %s: %s", j->path, strerror(errno));
            break;
        }
    }
    if (rc == DOCVL_OK) {
        rc = append_locked(j, line, e);
        flock(j->fd, LOCK_UN);
    }
    /* our own line comes back through the read, after any other process's */
    if (rc == DOCVL_OK)
        rc = read_new(j, e);
    g_rec_mutex_unlock(&j->mu);
    g_free(line);
    return rc;
}
