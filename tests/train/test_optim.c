/* AdamW, clipping, the schedule, the state file, stages and the mixture,
 * on a small fake model whose loss is quadratic (the engine is not needed
 * to check the optimizer's arithmetic). */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "train/mix.h"
#include "train/optim.h"
#include "train/sched.h"
#include "train/stages.h"
#include "base/rng.h"

#define N_FAKE 3

/* Params: "w" (aligner, decays), "b" (aligner, no decay), "t" (SigLIP). */
typedef struct fake {
    dv_tmodel m;
    dv_param p[N_FAKE];
    float w[8], gw[8], b[4], gb[4], t[9], gt[9];
} fake;

static void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    const char *names[N_FAKE] = { "w", "b", "t" };
    float *ws[N_FAKE] = { f->w, f->b, f->t }, *gs[N_FAKE] = { f->gw, f->gb, f->gt };
    size_t ns[N_FAKE] = { 8, 4, 9 };
    dv_part parts[N_FAKE] = { DV_PART_ALIGNER, DV_PART_ALIGNER, DV_PART_SIGLIP };
    for (int i = 0; i < N_FAKE; i++) {
        f->p[i] = (dv_param){ .name = (char *)names[i], .ndim = 1, .shape = { (int64_t)ns[i] },
                              .n = ns[i], .w = ws[i], .g = gs[i], .part = parts[i],
                              .decay = i == 0 };
        for (size_t k = 0; k < ns[i]; k++)
            ws[i][k] = (float)(0.25 * (double)k - 0.5 + 0.1 * i);
    }
    f->m.n_params = N_FAKE;
    f->m.params = f->p;
    f->m.trainable[DV_PART_ALIGNER] = 1;
}

/* loss = 0.5 * sum (w - 1)^2 over trainable params, plus seeded noise in the
 * gradient (standing in for the data order); grads are ADDED. */
static double fake_fb(fake *f, dv_rng *r)
{
    double loss = 0;
    for (int i = 0; i < N_FAKE; i++) {
        dv_param *p = &f->p[i];
        if (!f->m.trainable[p->part])
            continue;
        for (size_t k = 0; k < p->n; k++) {
            double d = p->w[k] - 1.0;
            loss += 0.5 * d * d;
            p->g[k] += (float)(d + (r ? 0.1 * dv_rng_normal(r) : 0.0));
        }
    }
    return loss;
}

static void zero_grad(fake *f)
{
    for (int i = 0; i < N_FAKE; i++)
        memset(f->p[i].g, 0, f->p[i].n * sizeof(float));
}

static void test_first_step(void)
{
    fake f;
    fake_init(&f);
    dv_adamw a;
    dv_err e = {0};
    dv_adamw_opts o = DV_ADAMW_DEFAULTS;
    o.weight_decay = 0.1;
    g_assert_cmpint(dv_adamw_init(&a, &f.m, &o, &e), ==, 0);
    float w0 = f.w[0], b0 = f.b[0], t0 = f.t[0];
    zero_grad(&f);
    fake_fb(&f, NULL);
    float g0 = f.gw[0], gb0 = f.gb[0];
    dv_adamw_step(&a, &f.m, 0.01, 1.0);
    /* bias-corrected first step: m^ = g, v^ = g^2, so the move is lr * sign(g) */
    double want_w = w0 * (1 - 0.01 * 0.1) - 0.01 * g0 / (fabs(g0) + 1e-8);
    double want_b = b0 - 0.01 * gb0 / (fabs(gb0) + 1e-8);
    g_assert_cmpfloat_with_epsilon(f.w[0], want_w, 1e-6);
    g_assert_cmpfloat_with_epsilon(f.b[0], want_b, 1e-6);
    g_assert_true(f.t[0] == t0);   /* frozen */
    dv_adamw_free(&a);
}

static void test_decay_only_where_asked(void)
{
    fake f;
    fake_init(&f);
    dv_adamw a;
    dv_err e = {0};
    dv_adamw_opts o = DV_ADAMW_DEFAULTS;
    o.weight_decay = 0.5;
    g_assert_cmpint(dv_adamw_init(&a, &f.m, &o, &e), ==, 0);
    float w1 = f.w[1], b1 = f.b[1];
    zero_grad(&f);   /* no gradient: only the decay moves weights */
    dv_adamw_step(&a, &f.m, 0.1, 1.0);
    g_assert_cmpfloat_with_epsilon(f.w[1], w1 * (1 - 0.1 * 0.5), 1e-7);
    g_assert_true(f.b[1] == b1);
    dv_adamw_free(&a);
}

/* AdamW runs eight elements at a time where the CPU has AVX2, the rest one
 * at a time: equal elements must stay equal to the bit across both forms
 * ("t" has 9: eight in a vector, one alone). */
static void test_vector_tail_same_bits(void)
{
    fake f;
    fake_init(&f);
    f.m.trainable[DV_PART_SIGLIP] = 1;
    f.p[2].decay = 1;
    for (int k = 0; k < 9; k++)
        f.t[k] = 0.3f;
    dv_adamw a;
    dv_err e = {0};
    dv_adamw_opts o = DV_ADAMW_DEFAULTS;
    o.weight_decay = 0.1;
    g_assert_cmpint(dv_adamw_init(&a, &f.m, &o, &e), ==, 0);
    for (int s = 0; s < 7; s++) {
        zero_grad(&f);
        fake_fb(&f, NULL);
        dv_adamw_step(&a, &f.m, 0.05, 0.7);
    }
    g_assert_true(f.t[0] != 0.3f);
    for (int k = 1; k < 9; k++)
        g_assert_true(memcmp(&f.t[k], &f.t[0], sizeof(float)) == 0);
    dv_adamw_free(&a);
}

static void test_clip(void)
{
    fake f;
    fake_init(&f);
    zero_grad(&f);
    f.gw[0] = 3;
    f.gb[0] = 4;
    f.gt[0] = 100;   /* frozen: not counted */
    g_assert_cmpfloat_with_epsilon(dv_grad_norm(&f.m, 1.0), 5.0, 1e-9);
    g_assert_cmpfloat_with_epsilon(dv_grad_norm(&f.m, 0.5), 2.5, 1e-9);
    g_assert_cmpfloat_with_epsilon(dv_clip_factor(5.0, 1.0), 1.0 / (5.0 + 1e-6), 1e-12);
    g_assert_cmpfloat(dv_clip_factor(0.5, 1.0), ==, 1.0);
    g_assert_cmpfloat(dv_clip_factor(5.0, 0.0), ==, 1.0);
}

static void test_converges(void)
{
    fake f;
    fake_init(&f);
    dv_adamw a;
    dv_err e = {0};
    dv_adamw_opts o = DV_ADAMW_DEFAULTS;
    g_assert_cmpint(dv_adamw_init(&a, &f.m, &o, &e), ==, 0);
    double first = 0, last = 0;
    for (int s = 0; s < 300; s++) {
        zero_grad(&f);
        last = fake_fb(&f, NULL);
        if (s == 0)
            first = last;
        dv_adamw_step(&a, &f.m, 0.05, 1.0);
    }
    g_assert_cmpfloat(last, <, first * 0.01);
    dv_adamw_free(&a);
}

/* n steps with accumulation of 2 and clipping, as the trainer does them. */
static void run_steps(fake *f, dv_adamw *a, dv_rng *r, const dv_sched *sc, long from, long to)
{
    for (long s = from; s < to; s++) {
        zero_grad(f);
        fake_fb(f, r);
        fake_fb(f, r);
        double norm = dv_grad_norm(&f->m, 0.5);
        dv_adamw_step(a, &f->m, dv_sched_lr(sc, s), 0.5 * dv_clip_factor(norm, 0.5));
    }
}

static void test_repeatable_and_resume(void)
{
    dv_sched sc = { .lr = 0.02, .min_lr = 0.002, .warmup = 3, .total = 10 };
    dv_adamw_opts o = DV_ADAMW_DEFAULTS;
    o.weight_decay = 0.1;
    dv_err e = {0};
    fake f1, f2, f3;
    dv_rng r1, r2, r3;
    dv_adamw a1, a2, a3;
    fake_init(&f1);
    fake_init(&f2);
    fake_init(&f3);
    dv_rng_seed(&r1, 42);
    dv_rng_seed(&r2, 42);
    dv_rng_seed(&r3, 42);
    g_assert_cmpint(dv_adamw_init(&a1, &f1.m, &o, &e), ==, 0);
    g_assert_cmpint(dv_adamw_init(&a2, &f2.m, &o, &e), ==, 0);
    run_steps(&f1, &a1, &r1, &sc, 0, 10);
    run_steps(&f2, &a2, &r2, &sc, 0, 10);
    g_assert_cmpmem(f1.w, sizeof f1.w, f2.w, sizeof f2.w);   /* same seed, same bits */
    g_assert_cmpmem(f1.b, sizeof f1.b, f2.b, sizeof f2.b);

    /* half, save, a fresh optimizer loads it, the other half */
    char *dir = test_tmpdir();
    char *path = g_build_filename(dir, "optimizer.bin", NULL);
    g_assert_cmpint(dv_adamw_init(&a3, &f3.m, &o, &e), ==, 0);
    run_steps(&f3, &a3, &r3, &sc, 0, 5);
    g_assert_cmpint(dv_adamw_save(&a3, &f3.m, r3.s, 4, path, &e), ==, 0);
    dv_adamw_free(&a3);
    memset(&r3, 0, sizeof r3);
    g_assert_cmpint(dv_adamw_init(&a3, &f3.m, &o, &e), ==, 0);
    g_assert_cmpint(dv_adamw_load(&a3, &f3.m, r3.s, 4, path, &e), ==, 0);
    g_assert_cmpint(a3.step, ==, 5);
    run_steps(&f3, &a3, &r3, &sc, 5, 10);
    g_assert_cmpmem(f1.w, sizeof f1.w, f3.w, sizeof f3.w);
    g_assert_cmpmem(f1.b, sizeof f1.b, f3.b, sizeof f3.b);

    /* a truncated file is refused with its name */
    test_write_file(path, "DVADAMW1\1", 9);
    g_assert_cmpint(dv_adamw_load(&a3, &f3.m, r3.s, 4, path, &e), ==, DOCVL_EFORMAT);
    g_assert_nonnull(strstr(e.msg, "optimizer.bin"));
    dv_adamw_free(&a1);
    dv_adamw_free(&a2);
    dv_adamw_free(&a3);
    test_rmtree(dir);
    g_free(path);
    g_free(dir);
}

static void test_sched(void)
{
    dv_sched s = { .lr = 1.0, .min_lr = 0.1, .warmup = 4, .total = 14 };
    g_assert_cmpfloat_with_epsilon(dv_sched_lr(&s, 0), 0.25, 1e-12);
    g_assert_cmpfloat_with_epsilon(dv_sched_lr(&s, 3), 1.0, 1e-12);
    g_assert_cmpfloat_with_epsilon(dv_sched_lr(&s, 4), 1.0, 1e-12);
    g_assert_cmpfloat_with_epsilon(dv_sched_lr(&s, 13), 0.1, 1e-12);
    /* half way through the cosine: the mean of peak and floor */
    dv_sched h = { .lr = 1.0, .min_lr = 0.0, .warmup = 0, .total = 11 };
    g_assert_cmpfloat_with_epsilon(dv_sched_lr(&h, 5), 0.5, 1e-12);
    for (long i = 1; i < 11; i++)
        g_assert_cmpfloat(dv_sched_lr(&h, i), <=, dv_sched_lr(&h, i - 1));
}

static void test_stages(void)
{
    int t[DV_PART_COUNT];
    dv_err e = {0};
    g_assert_cmpint(dv_stage_parts(1, t, &e), ==, 0);
    g_assert_true(t[DV_PART_ALIGNER] && !t[DV_PART_LLM] && !t[DV_PART_SIGLIP] &&
                  !t[DV_PART_SAM_BODY] && !t[DV_PART_SAM_NECK]);
    g_assert_cmpint(dv_stage_parts(2, t, &e), ==, 0);
    g_assert_true(t[DV_PART_ALIGNER] && t[DV_PART_LLM] && !t[DV_PART_SIGLIP] &&
                  !t[DV_PART_SAM_BODY] && !t[DV_PART_SAM_NECK]);
    g_assert_cmpint(dv_stage_parts(3, t, &e), ==, 0);
    g_assert_true(t[DV_PART_ALIGNER] && t[DV_PART_LLM] && t[DV_PART_SIGLIP] &&
                  !t[DV_PART_SAM_BODY] && t[DV_PART_SAM_NECK]);
    g_assert_cmpint(dv_stage_supervise(3), ==, DV_SUPERVISE_ANSWERS);
    g_assert_cmpint(dv_stage_supervise(2), ==, DV_SUPERVISE_LANGUAGE);
    g_assert_cmpint(dv_stage_override("siglip=off", t, &e), ==, 0);
    g_assert_false(t[DV_PART_SIGLIP]);
    g_assert_cmpint(dv_stage_override("sam=on", t, &e), ==, 0);
    g_assert_true(t[DV_PART_SAM_BODY] && t[DV_PART_SAM_NECK]);
    g_assert_cmpint(dv_stage_override("vision=off", t, &e), ==, 0);
    g_assert_true(!t[DV_PART_SAM_BODY] && !t[DV_PART_SAM_NECK] && !t[DV_PART_SIGLIP]);
    g_assert_cmpint(dv_stage_override("llm=maybe", t, &e), ==, DOCVL_EINVAL);
    g_assert_cmpint(dv_stage_override("eyes=on", t, &e), ==, DOCVL_EINVAL);
    g_assert_cmpint(dv_stage_parts(4, t, &e), ==, DOCVL_EINVAL);
}

static void test_mix_ratio(void)
{
    dv_mix m;
    dv_err e = {0};
    g_assert_cmpint(dv_mix_parse("7:3", &m, &e), ==, 0);
    dv_rng r;
    dv_rng_seed(&r, 1234);
    int lang = 0;
    long idx, seen[5] = {0};
    for (int i = 0; i < 1000; i++) {
        int k = dv_mix_draw(&m, &r, 5, 3, &idx);
        g_assert_true(k == DV_KIND_LANGUAGE || k == DV_KIND_MULTIMODAL);
        g_assert_cmpint(idx, <, k == DV_KIND_LANGUAGE ? 5 : 3);
        lang += k == DV_KIND_LANGUAGE;
        if (k == DV_KIND_LANGUAGE)
            seen[idx]++;
    }
    /* binomial(1000, 0.7): sd 14.5; 4 sd either side */
    g_assert_cmpint(lang, >, 700 - 58);
    g_assert_cmpint(lang, <, 700 + 58);
    for (int i = 0; i < 5; i++)
        g_assert_cmpint(seen[i], >, 80);
    /* an empty pool is never drawn */
    for (int i = 0; i < 50; i++)
        g_assert_cmpint(dv_mix_draw(&m, &r, 0, 3, &idx), ==, DV_KIND_MULTIMODAL);
    g_assert_cmpint(dv_mix_draw(&m, &r, 0, 0, &idx), ==, -1);
    g_assert_cmpint(dv_mix_parse("7", &m, &e), ==, DOCVL_EINVAL);
    g_assert_cmpint(dv_mix_parse("0:0", &m, &e), ==, DOCVL_EINVAL);
    g_assert_cmpint(dv_mix_parse("-1:2", &m, &e), ==, DOCVL_EINVAL);
}

static void test_trng(void)
{
    dv_rng a, b;
    dv_rng_seed(&a, 7);
    dv_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        g_assert_cmpuint(dv_rng_next(&a), ==, dv_rng_next(&b));
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = dv_rng_uniform(&a);
        g_assert_true(u >= 0 && u < 1);
        sum += u;
        g_assert_cmpuint(dv_rng_below(&a, 7), <, 7);
    }
    g_assert_cmpfloat(fabs(sum / 10000 - 0.5), <, 0.02);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/optim/first_step", test_first_step);
    g_test_add_func("/optim/decay_only_where_asked", test_decay_only_where_asked);
    g_test_add_func("/optim/vector_tail_same_bits", test_vector_tail_same_bits);
    g_test_add_func("/optim/clip", test_clip);
    g_test_add_func("/optim/converges", test_converges);
    g_test_add_func("/optim/repeatable_and_resume", test_repeatable_and_resume);
    g_test_add_func("/optim/sched", test_sched);
    g_test_add_func("/optim/stages", test_stages);
    g_test_add_func("/optim/mix_ratio", test_mix_ratio);
    g_test_add_func("/optim/trng", test_trng);
    return g_test_run();
}
