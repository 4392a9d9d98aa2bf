/* Token selection: greedy ties, seeded reproducibility, top-k, top-p and
 * temperature at their edges. */
#include <glib.h>
#include <math.h>

#include "text/sampler.h"

static dv_sampler make(float temp, int top_k, float top_p, uint64_t seed, int vocab)
{
    dv_sampler s;
    dv_err e = { 0 };
    dv_sampler_opts o = { .temperature = temp, .top_k = top_k, .top_p = top_p, .seed = seed };
    g_assert_cmpint(dv_sampler_init(&s, &o, vocab, &e), ==, DOCVL_OK);
    return s;
}

static void test_greedy_ties(void)
{
    float a[] = { 1, 3, 3, 2 }, b[] = { NAN, 1, 1 }, c[] = { NAN, NAN }, d[] = { -INFINITY, -INFINITY };
    g_assert_cmpint(dv_argmax(a, 4), ==, 1);
    g_assert_cmpint(dv_argmax(b, 3), ==, 1);
    g_assert_cmpint(dv_argmax(c, 2), ==, 0);
    g_assert_cmpint(dv_argmax(d, 2), ==, 0);
    dv_sampler s = make(0, 0, 1, 0, 4);
    g_assert_cmpint(dv_sampler_pick(&s, a, 4), ==, 1);
    dv_sampler_free(&s);
    /* default options are greedy too */
    dv_err e = { 0 };
    g_assert_cmpint(dv_sampler_init(&s, NULL, 4, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_sampler_pick(&s, a, 4), ==, 1);
    dv_sampler_free(&s);
}

static void fill(float *x, int n, GRand *r, int ties)
{
    for (int i = 0; i < n; i++)
        x[i] = ties ? (float)g_rand_int_range(r, 0, 4) : (float)g_rand_double_range(r, -3, 3);
}

static void test_seed(void)
{
    enum { V = 50, N = 500 };
    float x[V];
    GRand *r = g_rand_new_with_seed(3);
    fill(x, V, r, 0);
    int32_t a[N], b[N], c[N];
    dv_sampler s1 = make(1.0f, 0, 1.0f, 1234, V), s2 = make(1.0f, 0, 1.0f, 1234, V),
               s3 = make(1.0f, 0, 1.0f, 1235, V);
    int differ = 0, distinct = 0;
    for (int i = 0; i < N; i++) {
        a[i] = dv_sampler_pick(&s1, x, V);
        b[i] = dv_sampler_pick(&s2, x, V);
        c[i] = dv_sampler_pick(&s3, x, V);
        g_assert_cmpint(a[i], ==, b[i]);
        differ += a[i] != c[i];
        distinct += i && a[i] != a[i - 1];
    }
    g_assert_cmpint(differ, >, N / 2);     /* another seed, another sequence */
    g_assert_cmpint(distinct, >, N / 2);   /* and it really samples */
    dv_sampler_free(&s1);
    dv_sampler_free(&s2);
    dv_sampler_free(&s3);
    g_rand_free(r);
}

static void test_top_k_one(void)
{
    enum { V = 40 };
    float x[V];
    GRand *r = g_rand_new_with_seed(9);
    dv_sampler s = make(1.5f, 1, 1.0f, 77, V);
    for (int t = 0; t < 300; t++) {
        fill(x, V, r, t % 2);   /* every other row full of ties */
        g_assert_cmpint(dv_sampler_pick(&s, x, V), ==, dv_argmax(x, V));
    }
    dv_sampler_free(&s);
    g_rand_free(r);
}

/* Counts picks over many draws. */
static void histogram(float temp, int top_k, float top_p, const float *x, int n, int draws, int *count)
{
    dv_sampler s = make(temp, top_k, top_p, 5, n);
    for (int i = 0; i < n; i++)
        count[i] = 0;
    for (int i = 0; i < draws; i++)
        count[dv_sampler_pick(&s, x, n)]++;
    dv_sampler_free(&s);
}

static void test_top_p(void)
{
    /* probabilities 0.5, 0.3, 0.2 at temperature 1 */
    float x[3] = { logf(0.5f), logf(0.3f), logf(0.2f) };
    int cnt[3];
    histogram(1.0f, 0, 0.75f, x, 3, 4000, cnt);   /* nucleus = {0, 1} */
    g_assert_cmpint(cnt[2], ==, 0);
    g_assert_cmpint(cnt[1], >, 1000);
    histogram(1.0f, 0, 0.45f, x, 3, 2000, cnt);   /* the top token alone covers it */
    g_assert_cmpint(cnt[0], ==, 2000);
    histogram(1.0f, 0, 0.0f, x, 3, 500, cnt);     /* nothing to keep still keeps one */
    g_assert_cmpint(cnt[0], ==, 500);
    histogram(1.0f, 0, 1.0f, x, 3, 20000, cnt);   /* off: the softmax itself */
    g_assert_cmpint(abs(cnt[0] - 10000), <, 400);
    g_assert_cmpint(abs(cnt[1] - 6000), <, 400);
    g_assert_cmpint(abs(cnt[2] - 4000), <, 400);
    histogram(1.0f, 2, 1.0f, x, 3, 4000, cnt);    /* top-k 2 */
    g_assert_cmpint(cnt[2], ==, 0);
    g_assert_cmpint(cnt[1], >, 1000);
    histogram(0.01f, 0, 1.0f, x, 3, 1000, cnt);   /* cold: greedy in effect */
    g_assert_cmpint(cnt[0], ==, 1000);
}

static void test_infinities(void)
{
    float x[4] = { -INFINITY, 0.0f, -INFINITY, 0.0f };
    int cnt[4];
    histogram(1.0f, 0, 1.0f, x, 4, 2000, cnt);
    g_assert_cmpint(cnt[0] + cnt[2], ==, 0);
    g_assert_cmpint(cnt[1], >, 800);
    g_assert_cmpint(cnt[3], >, 800);
    float y[3] = { 1.0f, INFINITY, NAN };
    histogram(1.0f, 0, 0.9f, y, 3, 100, cnt);
    g_assert_cmpint(cnt[1], ==, 100);
}

static void test_bad_options(void)
{
    dv_sampler s;
    dv_err e = { 0 };
    dv_sampler_opts o = { .temperature = NAN, .top_p = 1.0f };
    g_assert_cmpint(dv_sampler_init(&s, &o, 10, &e), ==, DOCVL_EINVAL);
    dv_err_clear(&e);
    g_assert_cmpint(dv_sampler_init(&s, NULL, 0, &e), ==, DOCVL_EINVAL);
}

static void test_repetition_penalty(void)
{
    float x[5] = { 2.0f, -1.0f, 0.5f, 3.0f, -2.0f };
    uint8_t mark[5] = { 0 };
    const int32_t ids[] = { 0, 1, 1, 0, 7, -1, 1 };   /* repeats, and ids outside the vocabulary */
    dv_repetition_penalty(x, 5, ids, G_N_ELEMENTS(ids), 2.0f, mark);
    g_assert_cmpfloat(x[0], ==, 1.0f);    /* positive: divided, once */
    g_assert_cmpfloat(x[1], ==, -2.0f);   /* negative: multiplied, once */
    g_assert_cmpfloat(x[2], ==, 0.5f);
    g_assert_cmpfloat(x[3], ==, 3.0f);
    for (int i = 0; i < 5; i++)
        g_assert_cmpint(mark[i], ==, 0);
    dv_repetition_penalty(x, 5, ids, G_N_ELEMENTS(ids), 1.0f, mark);
    g_assert_cmpfloat(x[0], ==, 1.0f);
    /* greedy now prefers the unpenalized token */
    g_assert_cmpint(dv_argmax(x, 5), ==, 3);
    const int32_t top[] = { 3 };
    dv_repetition_penalty(x, 5, top, 1, 4.0f, mark);
    g_assert_cmpint(dv_argmax(x, 5), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sampler/greedy-ties", test_greedy_ties);
    g_test_add_func("/sampler/seed", test_seed);
    g_test_add_func("/sampler/top-k-1-is-greedy", test_top_k_one);
    g_test_add_func("/sampler/top-p", test_top_p);
    g_test_add_func("/sampler/infinities", test_infinities);
    g_test_add_func("/sampler/bad-options", test_bad_options);
    g_test_add_func("/sampler/repetition-penalty", test_repetition_penalty);
    return g_test_run();
}
