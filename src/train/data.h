/* Training data sources: a JSONL manifest of conversations with images, and
 * a plain-text corpus for language-only samples. */
#ifndef DV_DATA_H
#define DV_DATA_H

#include "base/error.h"

typedef struct dv_turn {
    char *role;       /* "User" or "Assistant" */
    char *content;
} dv_turn;

typedef struct dv_conv {
    int n_images;
    char **images;    /* paths, resolved against the manifest's directory */
    int n_turns;
    dv_turn *turns;
} dv_conv;

typedef struct dv_manifest {
    long n;
    dv_conv *convs;
} dv_manifest;

/* One object per line: {"images": [paths], "conversation": [{"role",
 * "content"}, ...]}. Blank lines are skipped. Turns must alternate User,
 * Assistant, starting with User. Errors name the line. */
int dv_manifest_load(const char *path, dv_manifest *m, dv_err *e);
/* The same from memory; base_dir resolves relative image paths. */
int dv_manifest_parse(const char *text, size_t len, const char *base_dir, const char *what,
                      dv_manifest *m, dv_err *e);
void dv_manifest_free(dv_manifest *m);

/* A text corpus: paragraphs separated by blank lines, each one sample. */
typedef struct dv_corpus {
    long n;
    char **docs;
} dv_corpus;

int dv_corpus_load(const char *path, dv_corpus *c, dv_err *e);
int dv_corpus_parse(const char *text, size_t len, dv_corpus *c, dv_err *e);
void dv_corpus_free(dv_corpus *c);

#endif
