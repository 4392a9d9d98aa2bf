/* Whole-model gradient checks: every parameter tensor of a tiny model of
 * each family, analytic gradient of the mean cross-entropy against central
 * differences of dv_tmodel_nll. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "model/arch.h"
#include "tiny_models.h"

#define EPS 1e-2f
#define TOL 2e-2
#define SAMPLES 3
/* entries under 10% of a tensor's largest gradient drown in float noise */
#define SIG 1e-1

typedef struct model_case {
    dv_tmodel *m;
    const dv_tsample *s;
} model_case;

static double mean_nll(void *u)
{
    model_case *c = u;
    double nll;
    int n;
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = 1 };
    g_assert_cmpint(dv_tmodel_nll(c->m, c->s, &nll, &n, NULL, &ctx, &e), ==, 0);
    return nll / n;
}

static void check_config(dv_config cfg, int images, const char *what)
{
    int hybrid = dv_config_has_tower(&cfg, DV_TOWER_SAM);
    dv_tmodel *m;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 3, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    tiny_sample t = tiny_sample_new(&cfg, images, 5);
    dv_ctx ctx = { .n_threads = 1 };
    float loss;
    int n;
    dv_tmodel_zero_grad(m);
    g_assert_cmpint(dv_tmodel_forward_backward(m, &t.s, &loss, &n, &ctx, &e), ==, 0);
    model_case c = { m, &t.s };
    g_assert_cmpfloat(fabs(loss - mean_nll(&c)), <, 1e-5);
    double worst[DV_PART_COUNT] = { 0 };
    const char *names[DV_PART_COUNT] = { "SAM body", "SAM neck", "SigLIP", "aligner", "LLM" };
    for (int i = 0; i < m->n_params; i++) {
        dv_param *p = &m->params[i];
        double rel = gc_check_sig(p->w, p->g, p->n, SAMPLES, EPS, SIG, mean_nll, &c);
        if (rel > TOL)
            g_test_fail_printf("%s: max rel error %.2e > %.0e", p->name, rel, TOL);
        if (rel > worst[p->part])
            worst[p->part] = rel;
        if (rel > 1e-2)
            g_test_message("%s: %.2e", p->name, rel);
    }
    for (int k = 0; k < DV_PART_COUNT; k++)
        if (hybrid || (k != DV_PART_SAM_BODY && k != DV_PART_SAM_NECK))
            g_test_message("%s model, %d image(s), %s: max rel error %.2e", what, images,
                           names[k], worst[k]);
    tiny_sample_free(&t);
    dv_tmodel_free(m);
}

static void check_model(int hybrid, int images, int tied)
{
    dv_config cfg = tiny_config(hybrid);
    cfg.lm.tie_word_embeddings = tied;   /* lm_head is the embedding matrix */
    check_config(cfg, images, hybrid ? "hybrid" : tied ? "SigLIP-only, tied head" : "SigLIP-only");
}

/* docvl's line geometry: a 16 x 64 input in 8 px patches, a 2 x 8 grid with
 * its own position table. */
static void test_siglip_line_model(void)
{
    dv_config cfg = tiny_config(0);
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_set_input(&cfg, 16, 64, 8, &e), ==, 0);
    g_assert_cmpint(dv_config_image_tokens(&cfg), ==, 2 * 8);
    check_config(cfg, 1, "SigLIP-only 16x64 line");
}

/* The reading warm-up's CTC pass on the line geometry (2 x 8 grid: 8
 * frames): SigLIP, aligner and the decoder's final norm and output layer get
 * the CTC gradient, the decoder's layers and embeddings none. */
static void test_siglip_line_ctc(void)
{
    dv_config cfg = tiny_config(0);
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_set_input(&cfg, 16, 64, 8, &e), ==, 0);
    dv_tmodel *m;
    g_assert_cmpint(dv_tmodel_init_random(&cfg, 5, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, TINY_IMAGE_TOKEN);
    tiny_sample t = tiny_sample_new(&cfg, 1, 5);
    const int32_t target[] = { 9, 9, 3 };   /* not the image token (7), the blank */
    t.s.ctc_target = target;
    t.s.n_ctc_target = 3;
    dv_ctx ctx = { .n_threads = 1 };
    float loss;
    int n;
    dv_tmodel_zero_grad(m);
    g_assert_cmpint(dv_tmodel_forward_backward(m, &t.s, &loss, &n, &ctx, &e), ==, 0);
    g_assert_cmpint(n, ==, 3);
    model_case c = { m, &t.s };
    g_assert_cmpfloat(fabs(loss - mean_nll(&c)), <, 1e-5);
    double worst = 0;
    for (int i = 0; i < m->n_params; i++) {
        dv_param *p = &m->params[i];
        int gets = p->part != DV_PART_LLM || strstr(p->name, "lm_head") ||
                   !strcmp(p->name, "language_model.model.norm.weight");
        double gmax = 0;
        for (size_t k = 0; k < p->n; k++)
            gmax = fmax(gmax, fabs(p->g[k]));
        if (!gets) {
            if (gmax != 0)
                g_test_fail_printf("%s: gradient %.2e, want none", p->name, gmax);
            continue;
        }
        if (gmax == 0 && !strstr(p->name, "pos_embed") && !strstr(p->name, "bias"))
            g_test_fail_printf("%s: no gradient", p->name);
        double rel = gc_check_sig(p->w, p->g, p->n, SAMPLES, EPS, SIG, mean_nll, &c);
        if (rel > TOL)
            g_test_fail_printf("%s: max rel error %.2e > %.0e", p->name, rel, TOL);
        worst = fmax(worst, rel);
    }
    g_test_message("CTC line model: max rel error %.2e", worst);
    /* a target the 8 columns cannot hold counts nothing and trains nothing */
    const int32_t long_target[] = { 1, 1, 1, 1, 1 };
    t.s.ctc_target = long_target;
    t.s.n_ctc_target = 5;
    dv_tmodel_zero_grad(m);
    g_assert_cmpint(dv_tmodel_forward_backward(m, &t.s, &loss, &n, &ctx, &e), ==, 0);
    g_assert_cmpint(n, ==, 0);
    for (int i = 0; i < m->n_params; i++)
        for (size_t k = 0; k < m->params[i].n; k++)
            g_assert_cmpfloat(m->params[i].g[k], ==, 0.0f);
    tiny_sample_free(&t);
    dv_tmodel_free(m);
}

static void test_siglip_model(void) { check_model(0, 1, 0); }
static void test_siglip_two_images_tied(void) { check_model(0, 2, 1); }
static void test_hybrid_model(void) { check_model(1, 1, 0); }

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gradcheck/model/siglip", test_siglip_model);
    g_test_add_func("/gradcheck/model/siglip_two_images_tied", test_siglip_two_images_tied);
    g_test_add_func("/gradcheck/model/hybrid", test_hybrid_model);
    g_test_add_func("/gradcheck/model/siglip_line", test_siglip_line_model);
    g_test_add_func("/gradcheck/model/siglip_line_ctc", test_siglip_line_ctc);
    return g_test_run();
}
