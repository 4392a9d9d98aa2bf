#include "kernels/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The job is published under the mutex with a new generation number; each
 * worker runs its part once per generation and the last one to finish wakes
 * the caller. Condition variables, no spinning: a spinning worker would steal
 * a core from OpenBLAS between our products. A job of chunks taken as
 * threads come (dv_pool_for_parts) is "open": once the caller has seen every
 * chunk taken it closes it and waits only for the workers already inside;
 * one the OS has not woken yet skips the job instead of holding up the
 * caller (on a machine shared with other work, a wake-up can take
 * milliseconds, and a training step runs hundreds of such jobs). */
struct dv_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *tid;
    int n_threads, started;
    unsigned long gen;
    int pending, stop;
    int open_job;            /* the job is open (may be skipped by late workers) */
    unsigned long open_gen;  /* generation of the open job; 0 once closed */
    int active;              /* workers inside the open job */
    dv_pool_fn fn;
    void *arg;
    float **scratch;       /* per part, see dv_pool_scratch */
    size_t *scratch_len;
};

typedef struct worker_arg {
    dv_pool *p;
    int index;
} worker_arg;

static void *worker(void *v)
{
    worker_arg *w = v;
    dv_pool *p = w->p;
    int index = w->index;
    free(w);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->stop)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        int open = p->open_job;
        if (open && p->open_gen != seen)
            continue;   /* closed before this thread woke: nothing left to take */
        p->active += open;
        dv_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, index, p->n_threads);
        pthread_mutex_lock(&p->mu);
        if (open ? --p->active == 0 : --p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int start_workers(dv_pool *p, dv_err *e)
{
    for (int i = 1; i < p->n_threads; i++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w)
            return dv_fail(e, DOCVL_ENOMEM, "out of memory starting thread %d of the pool", i);
        *w = (worker_arg){ p, i };
        int rc = pthread_create(&p->tid[i], NULL, worker, w);
        if (rc) {
            free(w);
            return dv_fail(e, DOCVL_ENOMEM, "cannot start thread %d of the pool: %s", i,
                           strerror(rc));
        }
        p->started = i;
    }
    return DOCVL_OK;
}

int dv_pool_new(int n_threads, dv_pool **out, dv_err *e)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return dv_fail(e, DOCVL_EINVAL, "thread pool of %d threads: expected 1..1024", n_threads);
    dv_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->tid = calloc((size_t)n_threads, sizeof *p->tid)) ||
        !(p->scratch = calloc((size_t)n_threads, sizeof *p->scratch)) ||
        !(p->scratch_len = calloc((size_t)n_threads, sizeof *p->scratch_len))) {
        if (p) {
            free(p->tid);
            free(p->scratch);
        }
        free(p);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a thread pool");
    }
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    int rc = start_workers(p, e);
    if (rc) {
        dv_pool_free(p);
        return rc;
    }
    *out = p;
    return DOCVL_OK;
}

void dv_pool_free(dv_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        free(p->scratch[i]);
    free(p->scratch);
    free(p->scratch_len);
    free(p->tid);
    free(p);
}

int dv_pool_threads(const dv_pool *p) { return p ? p->n_threads : 1; }

/* open: fn's parts may be skipped (their work is taken by whoever comes). */
static void run_job(dv_pool *p, dv_pool_fn fn, void *arg, int open)
{
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->gen++;
    p->open_job = open;
    p->open_gen = open ? p->gen : 0;
    p->active = 0;
    p->pending = open ? 0 : p->n_threads - 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n_threads);
    pthread_mutex_lock(&p->mu);
    p->open_gen = 0;
    while (p->pending > 0 || p->active > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void dv_pool_run(dv_pool *p, dv_pool_fn fn, void *arg)
{
    if (!p || p->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    run_job(p, fn, arg, 0);
}

void dv_pool_range(int n, int align, int part, int n_parts, int *lo, int *hi)
{
    if (align < 1)
        align = 1;
    int units = (n + align - 1) / align;
    int u0 = (int)((long long)units * part / n_parts), u1 = (int)((long long)units * (part + 1) / n_parts);
    *lo = u0 * align < n ? u0 * align : n;
    *hi = u1 * align < n ? u1 * align : n;
}

float *dv_pool_scratch(dv_pool *p, int part, size_t n)
{
    if (!p || part < 0 || part >= p->n_threads)
        return NULL;
    if (p->scratch_len[part] < n) {
        free(p->scratch[part]);
        p->scratch_len[part] = 0;
        if (!(p->scratch[part] = malloc((n ? n : 1) * sizeof(float))))
            return NULL;
        p->scratch_len[part] = n;
    }
    return p->scratch[part];
}

typedef struct for_job {
    atomic_int next;
    int n, grain;
    dv_pool_chunk_fn fn;
    void *arg;
} for_job;

static void for_part(void *arg, int part, int n_parts)
{
    (void)n_parts;
    for_job *j = arg;
    for (;;) {
        int lo = atomic_fetch_add_explicit(&j->next, j->grain, memory_order_relaxed);
        if (lo >= j->n)
            return;
        j->fn(j->arg, part, lo, lo + j->grain < j->n ? lo + j->grain : j->n);
    }
}

void dv_pool_for_parts(dv_pool *p, int n, int grain, dv_pool_chunk_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (!p || p->n_threads == 1 || n <= grain) {
        for (int lo = 0; lo < n; lo += grain)
            fn(arg, 0, lo, lo + grain < n ? lo + grain : n);
        return;
    }
    for_job j = { .n = n, .grain = grain, .fn = fn, .arg = arg };
    atomic_init(&j.next, 0);
    run_job(p, for_part, &j, 1);
}

typedef struct range_job {
    dv_pool_range_fn fn;
    void *arg;
} range_job;

static void range_chunk(void *arg, int part, int lo, int hi)
{
    (void)part;
    const range_job *j = arg;
    j->fn(j->arg, lo, hi);
}

void dv_pool_for(dv_pool *p, int n, int grain, dv_pool_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (!p || p->n_threads == 1 || n <= grain) {
        fn(arg, 0, n);
        return;
    }
    range_job j = { fn, arg };
    dv_pool_for_parts(p, n, grain, range_chunk, &j);
}
