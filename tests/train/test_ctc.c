/* The CTC loss against brute force over every frame-by-frame path, its
 * gradient against central differences, and the targets it must refuse. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "train/ctc.h"

/* -log of the summed probability of every path of T frames that collapses
 * (repeats merged, then blanks dropped) to target. */
static double brute_nll(const float *logits, int T, int V, const int32_t *target, int L, int blank)
{
    double total = 0;
    int path[8] = { 0 };
    g_assert_cmpint(T, <=, 8);
    for (;;) {
        int32_t out[8];
        int n = 0, prev = -1;
        double p = 1;
        for (int t = 0; t < T; t++) {
            const float *z = logits + (size_t)t * V;
            double sum = 0;
            for (int k = 0; k < V; k++)
                sum += exp((double)z[k]);
            p *= exp((double)z[path[t]]) / sum;
            if (path[t] != prev && path[t] != blank)
                out[n++] = path[t];
            prev = path[t];
        }
        if (n == L && !memcmp(out, target, (size_t)L * sizeof *out))
            total += p;
        int t = 0;
        while (t < T && ++path[t] == V)
            path[t++] = 0;
        if (t == T)
            break;
    }
    return -log(total);
}

static void fill(float *x, size_t n, uint64_t seed)
{
    gc_fill(x, n, &seed, 2.0f);
}

static void test_matches_brute_force(void)
{
    enum { T = 6, V = 4 };
    float logits[T * V];
    const int32_t cases[][3] = { { 1, 2, 3 }, { 2, 2, 0 }, { 3, 1, 3 } };
    const int lens[] = { 3, 2, 3 };
    for (int blank = 0; blank < V; blank += 3)
        for (size_t c = 0; c < G_N_ELEMENTS(lens); c++) {
            int32_t target[3];
            for (int i = 0; i < lens[c]; i++)   /* the same tokens, the blank moved */
                target[i] = blank && cases[c][i] == blank ? 0 : cases[c][i];
            fill(logits, T * V, 11 + c);
            double want = brute_nll(logits, T, V, target, lens[c], blank);
            double got = tg_ctc_loss(logits, T, V, target, lens[c], blank, 1.0f, NULL);
            g_assert_cmpfloat(fabs(got - want), <, 1e-9 * fmax(1.0, want));
        }
}

typedef struct ctc_case {
    float *logits;
    int T, V, L, blank;
    const int32_t *target;
} ctc_case;

static double case_loss(void *u)
{
    ctc_case *c = u;
    return tg_ctc_loss(c->logits, c->T, c->V, c->target, c->L, c->blank, 1.0f, NULL);
}

static void test_gradient(void)
{
    enum { T = 12, V = 7 };
    float logits[T * V], grad[T * V];
    const int32_t target[] = { 3, 3, 5, 1, 6 };
    fill(logits, T * V, 5);
    double nll = tg_ctc_loss(logits, T, V, target, 5, 0, 0.5f, grad);
    g_assert_true(isfinite(nll) && nll > 0);
    /* each frame's gradient sums to zero: softmax minus a posterior that sums to one */
    for (int t = 0; t < T; t++) {
        double s = 0;
        for (int k = 0; k < V; k++)
            s += grad[t * V + k];
        g_assert_cmpfloat(fabs(s), <, 1e-6);
    }
    for (int k = 0; k < T * V; k++)
        grad[k] *= 2.0f;   /* scale 0.5 above */
    ctc_case c = { logits, T, V, 5, 0, target };
    double rel = gc_check(logits, grad, T * V, 40, 1e-2f, case_loss, &c);
    g_test_message("CTC gradient: max rel error %.2e", rel);
    g_assert_cmpfloat(rel, <, 1e-3);
    /* the gradient may overwrite the logits it is computed from */
    float alias[T * V];
    memcpy(alias, logits, sizeof alias);
    double again = tg_ctc_loss(alias, T, V, target, 5, 0, 1.0f, alias);
    g_assert_cmpfloat(again, ==, nll);
    for (int k = 0; k < T * V; k++)
        g_assert_cmpfloat(fabs(alias[k] - grad[k]), <, 1e-6);
}

static void test_refuses_what_cannot_be_read(void)
{
    enum { V = 5 };
    float logits[4 * V], grad[4 * V];
    fill(logits, 4 * V, 9);
    const int32_t repeats[] = { 2, 2, 2 };     /* needs 5 frames: x _ x _ x */
    const int32_t has_blank[] = { 1, 0 };
    const int32_t outside[] = { 1, V };
    g_assert_true(isinf(tg_ctc_loss(logits, 4, V, repeats, 3, 0, 1.0f, grad)));
    for (int k = 0; k < 4 * V; k++)
        g_assert_cmpfloat(grad[k], ==, 0.0f);
    g_assert_true(isfinite(tg_ctc_loss(logits, 4, V, repeats, 2, 0, 1.0f, grad)));
    g_assert_true(isinf(tg_ctc_loss(logits, 4, V, has_blank, 2, 0, 1.0f, NULL)));
    g_assert_true(isinf(tg_ctc_loss(logits, 4, V, outside, 2, 0, 1.0f, NULL)));
    g_assert_true(isinf(tg_ctc_loss(logits, 0, V, outside, 0, 0, 1.0f, NULL)));
    /* an empty target: every frame blank */
    double empty = tg_ctc_loss(logits, 4, V, NULL, 0, 0, 1.0f, NULL);
    double want = 0;
    for (int t = 0; t < 4; t++) {
        double s = 0;
        for (int k = 0; k < V; k++)
            s += exp((double)logits[t * V + k]);
        want += log(s) - logits[t * V];
    }
    g_assert_cmpfloat(fabs(empty - want), <, 1e-9);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ctc/brute_force", test_matches_brute_force);
    g_test_add_func("/ctc/gradient", test_gradient);
    g_test_add_func("/ctc/refuses", test_refuses_what_cannot_be_read);
    return g_test_run();
}
