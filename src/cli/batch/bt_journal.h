/* The batch journal: DIR/docvl-batch.jsonl, one JSON object a line, one line
 * per document finished (done, partial or failed), appended and fsync'ed
 * before the next document is counted. JSON lines rather than SQLite: no
 * new dependency, readable with grep and jq, and an append-only file
 * survives kill -9 by construction (a line is either whole or, after a
 * power cut, a torn tail that readers skip and the next writer ends with a
 * newline). Several processes (shards on one machine, or machines sharing
 * the directory) append to the same file under flock, each line in one
 * write(). The last line about a document is the one that counts. */
#ifndef DV_BT_JOURNAL_H
#define DV_BT_JOURNAL_H

#include <stdint.h>

#include <json-glib/json-glib.h>

#include "batch/bt_err.h"

#define BT_JOURNAL_NAME "docvl-batch.jsonl"

typedef enum bt_status { BT_DONE, BT_PARTIAL, BT_FAILED } bt_status;

typedef struct bt_record {
    char *key;              /* the output path relative to DIR: one per document */
    char *input;            /* the input path as given */
    int64_t size;           /* of the input, bytes */
    int64_t mtime_ns;       /* of the input, nanoseconds since the epoch */
    char *options;          /* everything that changes the output, as one string */
    bt_status status;
    char *reason;           /* failed: why; partial: the first page's reason */
    char *output;           /* relative to DIR; NULL when failed (nothing written) */
    int *failed_pages;      /* partial: page numbers */
    int n_failed_pages;
    int pages;              /* pages written */
    double seconds;
    char *host;
    int pid;
    int64_t time;           /* when it finished, seconds since the epoch */
} bt_record;

const char *bt_status_name(bt_status s);
void bt_record_clear(bt_record *r);

typedef struct bt_journal bt_journal;

/* Opens (creating) the journal in dir and reads what it holds. */
int bt_journal_open(const char *dir, bt_journal **out, docvl_error *e);
void bt_journal_close(bt_journal *j);

/* Reads the lines other processes appended since the last read. */
int bt_journal_refresh(bt_journal *j, docvl_error *e);

/* The last record about key, or NULL: its key, size, mtime_ns, options,
 * status and pages (what a rerun decides on; the other fields are left
 * empty, the file has them). Valid until the next append or refresh; copy
 * what must outlive them. */
const bt_record *bt_journal_find(bt_journal *j, const char *key);

/* Appends r as one line and fsyncs it; r is copied. Thread-safe. */
int bt_journal_append(bt_journal *j, const bt_record *r, docvl_error *e);

/* Lines that were not a valid record (a torn tail, a foreign line). */
int bt_journal_bad_lines(const bt_journal *j);

/* One line of JSON for r, without the newline (g_free it). */
char *bt_record_to_json(const bt_record *r);
/* A member of the object being built. */
void bt_json_str(JsonBuilder *b, const char *key, const char *value);
void bt_json_int(JsonBuilder *b, const char *key, int64_t value);
void bt_json_num(JsonBuilder *b, const char *key, double value);
/* The builder's document as one line of JSON (g_free it); frees b. */
char *bt_json_line(JsonBuilder *b);
/* Parses one line; DOCVL_EFORMAT when it is not a record. */
int bt_record_from_json(const char *line, size_t len, bt_record *r, docvl_error *e);

/* The lock, find and refresh in one step for workers sharing a journal. */
void bt_journal_lock(bt_journal *j);
void bt_journal_unlock(bt_journal *j);

#endif
