/* docvl-bench --read: whole documents through docvl_read, the way the CLI
 * reads them (layout, line cutting or tiles, the model, the writer), timed
 * per page in wall and CPU seconds. */
#ifndef DV_BENCH_DOCREAD_H
#define DV_BENCH_DOCREAD_H

typedef struct docread_opts {
    const char *model;      /* model directory */
    const char *input;      /* PDF or image */
    int threads;
    int repeat;             /* timed reads after one untimed (the model's load) */
    int decode_batch;       /* docvl_params.decode_batch */
    int weights;            /* a docvl_weights */
    int json;
} docread_opts;

/* Prints the figures; 0, or 1 after printing why not to stderr. */
int docread_run(const docread_opts *o);

#endif
