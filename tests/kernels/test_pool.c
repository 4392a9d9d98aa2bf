/* The thread pool: every part of a job runs exactly once per run, jobs see
 * each other's results in order, ranges cover [0, n) exactly once. */
#include <glib.h>
#include <stdatomic.h>

#include "kernels/pool.h"

typedef struct count_job {
    atomic_int calls[8];
    atomic_int total;
    int n_parts_seen;
} count_job;

static void count_part(void *arg, int part, int n_parts)
{
    count_job *j = arg;
    atomic_fetch_add(&j->calls[part], 1);
    atomic_fetch_add(&j->total, 1);
    j->n_parts_seen = n_parts; /* every part writes the same value */
}

static void test_parts_once(void)
{
    for (int n = 1; n <= 4; n++) {
        dv_pool *p;
        dv_err e = { 0 };
        g_assert_cmpint(dv_pool_new(n, &p, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_pool_threads(p), ==, n);
        for (int rep = 0; rep < 200; rep++) {
            count_job j = { 0 };
            dv_pool_run(p, count_part, &j);
            g_assert_cmpint(atomic_load(&j.total), ==, n);
            g_assert_cmpint(j.n_parts_seen, ==, n);
            for (int i = 0; i < n; i++)
                g_assert_cmpint(atomic_load(&j.calls[i]), ==, 1);
        }
        dv_pool_free(p);
    }
}

static void test_null_pool(void)
{
    count_job j = { 0 };
    dv_pool_run(NULL, count_part, &j);
    g_assert_cmpint(atomic_load(&j.total), ==, 1);
    g_assert_cmpint(dv_pool_threads(NULL), ==, 1);
}

typedef struct for_job {
    int *hits;
    int base;
} for_job;

static void mark(void *arg, int lo, int hi)
{
    for_job *j = arg;
    for (int i = lo; i < hi; i++)
        j->hits[i] += j->base; /* chunks are disjoint: no two threads share i */
}

static void test_for_covers_once(void)
{
    dv_pool *p;
    dv_err e = { 0 };
    g_assert_cmpint(dv_pool_new(3, &p, &e), ==, DOCVL_OK);
    int ns[] = { 0, 1, 5, 64, 65, 1000, 4099 }, grains[] = { 1, 7, 64 };
    for (size_t a = 0; a < G_N_ELEMENTS(ns); a++)
        for (size_t g = 0; g < G_N_ELEMENTS(grains); g++) {
            int *hits = g_new0(int, ns[a] + 1);
            for (int rep = 1; rep <= 3; rep++) {
                for_job j = { hits, 1 };
                dv_pool_for(p, ns[a], grains[g], mark, &j);
                for (int i = 0; i < ns[a]; i++)
                    g_assert_cmpint(hits[i], ==, rep); /* the previous job finished before */
            }
            g_free(hits);
        }
    dv_pool_free(p);
}

typedef struct parts_job {
    dv_pool *p;
    int *hits, *part_of;
    int n_parts;
} parts_job;

static void mark_part(void *arg, int part, int lo, int hi)
{
    parts_job *j = arg;
    g_assert_cmpint(part, >=, 0);
    g_assert_cmpint(part, <, j->n_parts);
    float *s = dv_pool_scratch(j->p, part, (size_t)(hi - lo) + 1);
    if (j->p)
        g_assert_nonnull(s);
    for (int i = lo; i < hi; i++) {
        if (s)
            s[i - lo] = (float)i;   /* the thread's own buffer: nobody else writes it */
        j->hits[i]++;
        j->part_of[i] = part;
    }
    for (int i = lo; s && i < hi; i++)
        g_assert_cmpfloat(s[i - lo], ==, (float)i);
}

/* Every index once, each chunk on one part, and that part's scratch is its
 * own while it runs; a NULL pool runs the chunks in turn as part 0. */
static void test_for_parts(void)
{
    dv_pool *p;
    dv_err e = { 0 };
    g_assert_cmpint(dv_pool_new(3, &p, &e), ==, DOCVL_OK);
    for (int withpool = 0; withpool < 2; withpool++) {
        int n = 5000, *hits = g_new0(int, n), *part_of = g_new0(int, n);
        parts_job j = { withpool ? p : NULL, hits, part_of, withpool ? 3 : 1 };
        dv_pool_for_parts(j.p, n, 37, mark_part, &j);
        for (int i = 0; i < n; i++) {
            g_assert_cmpint(hits[i], ==, 1);
            g_assert_cmpint(part_of[i], ==, part_of[i / 37 * 37]);
        }
        g_free(hits);
        g_free(part_of);
    }
    float *a = dv_pool_scratch(p, 1, 10);
    g_assert_nonnull(a);
    a[9] = 4.0f;
    g_assert_true(dv_pool_scratch(p, 1, 5) == a);   /* kept, not shrunk */
    g_assert_nonnull(dv_pool_scratch(p, 1, 1000000));
    g_assert_null(dv_pool_scratch(p, 3, 10));       /* no such part */
    g_assert_null(dv_pool_scratch(NULL, 0, 10));
    dv_pool_free(p);
}

static void test_range(void)
{
    for (int n = 0; n < 100; n += 7)
        for (int parts = 1; parts <= 5; parts++) {
            int next = 0;
            for (int k = 0; k < parts; k++) {
                int lo, hi;
                dv_pool_range(n, 4, k, parts, &lo, &hi);
                g_assert_cmpint(lo, ==, next);
                g_assert_cmpint(hi, >=, lo);
                g_assert_true(lo % 4 == 0 || lo == n);
                next = hi;
            }
            g_assert_cmpint(next, ==, n);
        }
}

static void test_bad_size(void)
{
    dv_pool *p = (dv_pool *)1;
    dv_err e = { 0 };
    g_assert_cmpint(dv_pool_new(0, &p, &e), ==, DOCVL_EINVAL);
    g_assert_null(p);
    g_assert_nonnull(g_strstr_len(e.msg, -1, "thread pool"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pool/parts_once", test_parts_once);
    g_test_add_func("/pool/null_pool", test_null_pool);
    g_test_add_func("/pool/for_covers_once", test_for_covers_once);
    g_test_add_func("/pool/range", test_range);
    g_test_add_func("/pool/for_parts", test_for_parts);
    g_test_add_func("/pool/bad_size", test_bad_size);
    return g_test_run();
}
