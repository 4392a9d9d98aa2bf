#include "docread.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "docvl.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* User + system seconds of every thread of the process. */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int discard(void *user, const char *data, size_t len, char *msg, size_t msg_len)
{
    (void)user;
    (void)data;
    (void)len;
    (void)msg;
    (void)msg_len;
    return 0;
}

typedef struct read_time {
    double wall, cpu;
    docvl_read_stats st;
} read_time;

static int read_once(docvl_context *ctx, const docread_opts *o, read_time *t, docvl_error *err)
{
    docvl_params p = docvl_default_params();
    p.decode_batch = o->decode_batch;
    double w0 = wall_now(), c0 = cpu_now();
    int rc = docvl_read(ctx, o->input, &p, (docvl_sink){ discard, NULL }, &t->st, err);
    t->wall = wall_now() - w0;
    t->cpu = cpu_now() - c0;
    return rc;
}

static int by_wall(const void *a, const void *b)
{
    double x = ((const read_time *)a)->wall, y = ((const read_time *)b)->wall;
    return (x > y) - (x < y);
}

static void print(const docread_opts *o, const read_time *t, int n)
{
    const read_time *best = &t[0], *mid = &t[n / 2];
    double pages = best->st.pages > 0 ? best->st.pages : 1;
    double cpu_best = t[0].cpu;
    for (int i = 1; i < n; i++)
        cpu_best = t[i].cpu < cpu_best ? t[i].cpu : cpu_best;
    if (o->json) {
        printf("{\"read_input\": \"%s\", \"threads\": %d, \"decode_batch\": %d, \"read_repeat\": %d, "
               "\"read_pages\": %d, \"read_segments\": %d, \"read_failed\": %d, "
               "\"read_page_s_best\": %.3f, \"read_page_s_median\": %.3f, "
               "\"read_page_cpu_s_best\": %.3f}\n", o->input, o->threads, o->decode_batch, n,
               best->st.pages, best->st.tiles, best->st.tiles_failed, best->wall / pages,
               mid->wall / pages, cpu_best / pages);
        return;
    }
    printf("%s: %d page(s), %d segments/tiles (%d failed), %d thread(s), decode batch %d\n",
           o->input, best->st.pages, best->st.tiles, best->st.tiles_failed, o->threads,
           o->decode_batch);
    printf("  per page over %d reads: wall best %.3f s, median %.3f s; CPU best %.3f s\n", n,
           best->wall / pages, mid->wall / pages, cpu_best / pages);
}

int docread_run(const docread_opts *o)
{
    docvl_open_params op = docvl_open_default_params();
    op.n_threads = o->threads;
    op.weights = o->weights;
    docvl_context *ctx = NULL;
    docvl_error err = { 0 };
    int rc = docvl_open(o->model, &op, &ctx, &err);
    read_time *t = calloc((size_t)o->repeat + 1, sizeof *t);
    if (!rc && !t)
        rc = DOCVL_ENOMEM;
    for (int i = 0; i <= o->repeat && !rc; i++)   /* read 0 loads the model: not counted */
        rc = read_once(ctx, o, &t[i], &err);
    if (!rc) {
        qsort(t + 1, (size_t)o->repeat, sizeof *t, by_wall);
        print(o, t + 1, o->repeat);
    } else {
        fprintf(stderr, "docvl-bench: %s: %s\n", o->input, err.msg[0] ? err.msg : "failed");
    }
    free(t);
    docvl_close(ctx);
    return rc ? 1 : 0;
}
