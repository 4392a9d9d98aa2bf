/* Degenerate-output detection: a model stuck in a loop repeats the same run
 * of tokens until max_new_tokens. The guard watches the generated ids and
 * trips when the tail is one unit of up to `window` tokens repeated at least
 * `min_repeats` times over at least `min_span` tokens. Units made only of
 * table markup ("| --- ", "<td></td>", "|  |") are exempt up to
 * `table_max_repeats` copies: wide or sparse tables repeat them legitimately. */
#ifndef DV_LOOPGUARD_H
#define DV_LOOPGUARD_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct dv_loopguard_opts {
    int enabled;
    int window;              /* longest repeating unit checked, in tokens */
    int min_repeats;         /* copies in a row that make a loop */
    int min_span;            /* ... covering at least this many tokens */
    int table_max_repeats;   /* copies of a markup-only unit still allowed */
} dv_loopguard_opts;

#define DV_LOOPGUARD_DEFAULT                                                                        \
    ((dv_loopguard_opts){ .enabled = 1, .window = 64, .min_repeats = 4, .min_span = 32,           \
                          .table_max_repeats = 512 })

typedef struct dv_loopguard {
    dv_loopguard_opts o;
    int n, cap;              /* tokens seen */
    int32_t *ids;
    size_t *off;             /* [cap + 1] start of each token's text in text */
    char *text;
    size_t text_len, text_cap;
    int *run;                /* [window + 1]: tokens in a row with ids[i] == ids[i - p] */
    int tripped;
    int period;              /* the repeating unit, in tokens (when tripped) */
    int loop_start;          /* index of the first token of the repeated run */
} dv_loopguard;

int dv_loopguard_init(dv_loopguard *g, const dv_loopguard_opts *o, dv_err *e);
void dv_loopguard_free(dv_loopguard *g);

/* Adds one generated token and its text (piece may be NULL: no text known,
 * never markup). *looped is set to 1 once the guard has tripped. */
int dv_loopguard_push(dv_loopguard *g, int32_t id, const char *piece, size_t len, int *looped,
                      dv_err *e);

/* 1 if text is table markup only: pipes, dashes, colons, whitespace and
 * <table>/<tr>/<td>/<th> tags (opening, closing, with attributes), with at
 * least one pipe or tag. */
int dv_is_table_markup(const char *text, size_t len);

#endif
