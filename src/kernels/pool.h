/* A small persistent thread pool for docvl's own loops (the one-token matrix
 * products, quantization at load). It is created per model state, never
 * global, and sized by the same thread budget as OpenBLAS; the two never run
 * at the same time (a product is either ours or an sgemm), so two cores see
 * two busy threads, not four. */
#ifndef DV_POOL_H
#define DV_POOL_H

#include <stddef.h>

#include "base/error.h"

typedef struct dv_pool dv_pool;

/* Part `part` of `n_parts` of one job; parts run concurrently. */
typedef void (*dv_pool_fn)(void *arg, int part, int n_parts);

/* n_threads >= 1 counts the caller: n_threads - 1 workers are started. */
int dv_pool_new(int n_threads, dv_pool **out, dv_err *e);
void dv_pool_free(dv_pool *p);
/* Threads a job is split over; 1 for a NULL pool. */
int dv_pool_threads(const dv_pool *p);

/* Runs fn(arg, i, n) for every i < n = dv_pool_threads(p) and returns when all
 * parts are done; the caller runs part 0. A NULL pool runs fn(arg, 0, 1). One
 * job at a time: the pool belongs to one caller thread. */
void dv_pool_run(dv_pool *p, dv_pool_fn fn, void *arg);

/* Runs fn(arg, lo, hi) over [0, n) in chunks of `grain` items, threads taking
 * the next chunk as they finish the last: a thread that the OS preempts
 * (two cores shared with other work) delays one chunk, not a fixed half, and
 * one it has not woken by the time every chunk is taken is not waited for. */
typedef void (*dv_pool_range_fn)(void *arg, int lo, int hi);
void dv_pool_for(dv_pool *p, int n, int grain, dv_pool_range_fn fn, void *arg);

/* dv_pool_for whose fn also learns which part (thread) runs the chunk, so it
 * can use that thread's scratch. */
typedef void (*dv_pool_chunk_fn)(void *arg, int part, int lo, int hi);
void dv_pool_for_parts(dv_pool *p, int n, int grain, dv_pool_chunk_fn fn, void *arg);

/* A work buffer of at least n floats belonging to thread `part` of the pool,
 * kept between jobs (grown when asked for more); NULL when out of memory or
 * for a NULL pool. Only that part's thread may use it during a job. */
float *dv_pool_scratch(dv_pool *p, int part, size_t n);

/* Splits [0, n) into n_parts ranges aligned to `align`; range of `part`. */
void dv_pool_range(int n, int align, int part, int n_parts, int *lo, int *hi);

#endif
