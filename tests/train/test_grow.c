/* docvl-train grow: a small line model (random, then perturbed so that no
 * norm is one and no bias zero) grown in depth, MLP width, decoder width and
 * all at once gives the same logits and greedy ids; the grown model's zero
 * projections get gradients (they learn); a grown directory loads in docvl
 * with the original's logits; every change grow cannot make exactly is
 * refused with the field and both values. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/rng.h"
#include "model/model.h"
#include "testutil.h"
#include "text/prompt.h"
#include "train/grow.h"
#include "train/tmodel_impl.h"
#include "docvl_logits.h"

#define IMAGE_ID 7
#define VOCAB 659   /* the golden tiny tokenizer's, which docvl checks */

/* The sizes a test config can set. */
typedef struct sizes {
    int tower_layers;
    double mlp_ratio;
    int width, patch, hidden, heads, ffn, layers, vocab;
} sizes;

static const sizes BASE = { .tower_layers = 2, .mlp_ratio = 2, .width = 32, .patch = 8,
                            .hidden = 32, .heads = 2, .ffn = 48, .layers = 2, .vocab = VOCAB };

/* A line reader's config.json: 16 x 32 px lines in 8 px patches (8 tokens),
 * head_dim 16. */
static char *config_json(const sizes *s)
{
    return g_strdup_printf(
        "{\"architectures\":[\"MultiModalityCausalLM\"],\"model_type\":\"multi_modality\","
        "\"vision_config\":{\"cls\":\"CLIPVisionTower\",\"model_type\":\"vision\",\"params\":{"
        "\"ckpt_path\":\"\",\"image_size\":[16,32],\"model_name\":\"siglip_test_line\","
        "\"pixel_mean\":[0.5,0.5,0.5],\"pixel_std\":[0.5,0.5,0.5],\"select_feature\":\"same\","
        "\"select_layer\":-1,\"width\":%d,\"layers\":%d,\"heads\":2,\"patch_size\":%d,"
        "\"mlp_ratio\":%g,\"global_pool\":\"map\",\"class_token\":false}},"
        "\"aligner_config\":{\"cls\":\"MlpProjector\",\"model_type\":\"aligner\",\"params\":{"
        "\"projector_type\":\"mlp_gelu\",\"input_dim\":%d,\"n_embed\":%d,\"depth\":2}},"
        "\"language_config\":{\"model_type\":\"llama\",\"vocab_size\":%d,\"hidden_size\":%d,"
        "\"intermediate_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
        "\"num_key_value_heads\":%d,\"max_position_embeddings\":256,\"rms_norm_eps\":1e-06,"
        "\"rope_theta\":10000.0,\"tie_word_embeddings\":false,\"bos_token_id\":656,"
        "\"eos_token_id\":657}}",
        s->width, s->tower_layers, s->patch, s->mlp_ratio, s->width, s->hidden, s->vocab,
        s->hidden, s->ffn, s->layers, s->heads, s->heads);
}

static dv_config parse_sizes(const sizes *s)
{
    char *json = config_json(s);
    dv_config c;
    dv_err e = { 0 };
    int rc = dv_config_parse_json(json, strlen(json), "test config", &c, &e);
    if (rc)
        g_error("%s", e.msg);
    g_free(json);
    return c;
}

/* The base model at random, every value then moved by a little noise so
 * that norms, biases and the embedding all matter (embedding values stay
 * small: the decoder's RMSNorm eps is then not negligible). */
static dv_tmodel *base_model(void)
{
    dv_config c = parse_sizes(&BASE);
    dv_tmodel *m = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_init_random(&c, 5, &m, &e), ==, 0);
    dv_tmodel_set_image_token(m, IMAGE_ID);
    uint64_t st = 99;
    for (int i = 0; i < m->n_params; i++)
        for (size_t k = 0; k < m->params[i].n; k++)
            m->params[i].w[k] += 0.03f * dv_weight_normal(&st);
    return m;
}

/* A line sample: bos, 4 text tokens, the 8 image tokens, 6 text tokens
 * (labels on the last ones); pixels from seed. Arrays g_malloc'ed. */
typedef struct sample {
    dv_tsample s;
    float pixels[3 * 16 * 32];
    int32_t ids[19], labels[19];
} sample;

static void sample_init(sample *t, uint64_t seed)
{
    uint64_t st = seed;
    for (size_t i = 0; i < G_N_ELEMENTS(t->pixels); i++)
        t->pixels[i] = (float)(dv_splitmix64(&st) >> 40 & 0xff) / 255.0f;
    for (int i = 0; i < 19; i++) {
        int32_t id = (int32_t)((i * 11 + seed * 7) % 30) + 8;
        t->ids[i] = i == 0 ? 656 : i >= 5 && i < 13 ? IMAGE_ID : id;
        t->labels[i] = DV_IGNORE_LABEL;
    }
    for (int i = 12; i < 18; i++)
        t->labels[i] = t->ids[i + 1];
    t->s = (dv_tsample){ .n_images = 1, .pixels = t->pixels, .n_tokens = 19, .ids = t->ids,
                         .labels = t->labels };
}

static float *logits_of(dv_tmodel *m, const sample *t)
{
    float *out = g_new(float, 19 * VOCAB);
    double nll;
    int n;
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = 1 };
    int rc = dv_tmodel_nll(m, &t->s, &nll, &n, out, &ctx, &e);
    if (rc)
        g_error("%s", e.msg);
    return out;
}

static int argmax(const float *v)
{
    int b = 0;
    for (int i = 1; i < VOCAB; i++)
        b = v[i] > v[b] ? i : b;
    return b;
}

/* Same greedy id at every position, logits within 1e-5 of the largest. */
static void check_same_logits(const float *a, const float *b, const char *what)
{
    double worst = 0, big = 1;
    for (int i = 0; i < 19 * VOCAB; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        big = fmax(big, fabs((double)a[i]));
    }
    g_test_message("%s: largest logit %.3f, largest difference %.3g", what, big, worst);
    g_assert_cmpfloat(worst, <=, 1e-5 * big);
    for (int p = 0; p < 19; p++)
        g_assert_cmpint(argmax(a + p * VOCAB), ==, argmax(b + p * VOCAB));
}

static void check_same_function(dv_tmodel *a, dv_tmodel *b, const char *what)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        sample t;
        sample_init(&t, seed);
        float *la = logits_of(a, &t), *lb = logits_of(b, &t);
        check_same_logits(la, lb, what);
        g_free(la);
        g_free(lb);
    }
}

static dv_tmodel *grow(dv_tmodel *old, const sizes *s)
{
    dv_config req = parse_sizes(s);
    dv_tmodel *m = NULL;
    dv_err e = { 0 };
    int rc = dv_tmodel_grow(old, &req, 11, &m, &e);
    if (rc)
        g_error("%s", e.msg);
    g_assert_cmpuint(dv_tmodel_numel(m), >, dv_tmodel_numel(old));
    return m;
}

/* The parameter whose name ends with suffix (one of them). */
static dv_param *param(dv_tmodel *m, const char *suffix)
{
    for (int i = 0; i < m->n_params; i++)
        if (g_str_has_suffix(m->params[i].name, suffix))
            return &m->params[i];
    g_error("no parameter *%s", suffix);
    return NULL;
}

static int all_zero(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] != 0.0f)
            return 0;
    return 1;
}

/* ---- each kind of growth ---- */

static void test_depth(void)
{
    dv_tmodel *old = base_model();
    sizes s = BASE;
    s.tower_layers = 4;
    s.layers = 3;
    dv_tmodel *m = grow(old, &s);
    check_same_function(old, m, "depth");
    /* interleaved: tower old 0, new, old 1, new; decoder old 0, new, old 1 */
    dv_param *q = param(old, "blocks.1.attn.qkv.weight"), *q2 = param(m, "blocks.2.attn.qkv.weight");
    g_assert_cmpmem(q->w, q->n * sizeof(float), q2->w, q2->n * sizeof(float));
    const char *zero[] = { "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias",
                           "blocks.3.mlp.fc2.weight", "blocks.3.mlp.fc2.bias",
                           "layers.1.self_attn.o_proj.weight", "layers.1.mlp.down_proj.weight" };
    for (size_t i = 0; i < G_N_ELEMENTS(zero); i++) {
        dv_param *p = param(m, zero[i]);
        g_assert_true(all_zero(p->w, p->n));
    }
    /* the rest of a new block as --init makes it */
    dv_param *k = param(m, "layers.1.self_attn.k_proj.weight");
    g_assert_false(all_zero(k->w, k->n));
    dv_param *o = param(old, "layers.1.self_attn.o_proj.weight"),
             *o2 = param(m, "layers.2.self_attn.o_proj.weight");
    g_assert_cmpmem(o->w, o->n * sizeof(float), o2->w, o2->n * sizeof(float));
    dv_tmodel_free(m);
    dv_tmodel_free(old);
}

static void test_mlp(void)
{
    dv_tmodel *old = base_model();
    sizes s = BASE;
    s.mlp_ratio = 3;
    s.ffn = 80;
    dv_tmodel *m = grow(old, &s);
    check_same_function(old, m, "MLP width");
    dv_tmodel_free(m);
    dv_tmodel_free(old);
}

static void test_width(void)
{
    dv_tmodel *old = base_model();
    sizes s = BASE;
    s.hidden = 64;
    s.heads = 4;
    dv_tmodel *m = grow(old, &s);
    check_same_function(old, m, "decoder width");
    g_assert_cmpfloat(m->cfg.lm.rms_eps, ==, old->cfg.lm.rms_eps / 2);
    /* the eps rescale is needed: with the old eps the function moves */
    dv_tmodel *same_eps = NULL;
    dv_config req = parse_sizes(&s);
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_grow(old, &req, 11, &same_eps, &e), ==, 0);
    same_eps->cfg.lm.rms_eps = old->cfg.lm.rms_eps;
    ((tm_impl *)same_eps->impl)->lm.c.rms_eps = old->cfg.lm.rms_eps;
    sample t;
    sample_init(&t, 1);
    float *la = logits_of(old, &t), *lb = logits_of(same_eps, &t);
    double worst = 0;
    for (int i = 0; i < 19 * VOCAB; i++)
        worst = fmax(worst, fabs((double)la[i] - lb[i]));
    g_test_message("decoder width with the old eps: largest difference %.3g", worst);
    g_assert_cmpfloat(worst, >, 1e-4);
    g_free(la);
    g_free(lb);
    dv_tmodel_free(same_eps);
    dv_tmodel_free(m);
    dv_tmodel_free(old);
}

/* Everything at once, through the directory: the saved model loads in the
 * trainer and in docvl with the original's logits. */
static const sizes ALL = { .tower_layers = 3, .mlp_ratio = 3, .width = 32, .patch = 8,
                           .hidden = 64, .heads = 4, .ffn = 96, .layers = 4, .vocab = VOCAB };


static void test_all_dir(void)
{
    dv_tmodel *old = base_model();
    char *tmp = test_tmpdir();
    char *src = g_build_filename(tmp, "base", NULL), *dst = g_build_filename(tmp, "grown", NULL);
    char *cfg = g_build_filename(tmp, "grown.json", NULL), *json = config_json(&ALL);
    test_write_file(cfg, json, strlen(json));
    dv_err e = { 0 };
    char *root = test_data("golden"), *tok = g_build_filename(root, "tiny-f32", NULL);
    g_assert_cmpint(dv_tmodel_save(old, src, tok, &e), ==, 0);
    g_free(root);
    g_free(tok);
    dv_grow_info info;
    int rc = dv_grow_dir(src, cfg, dst, 11, &info, &e);
    if (rc)
        g_error("%s", e.msg);
    g_assert_cmpuint(info.params_old, ==, dv_tmodel_numel(old));
    g_assert_cmpint(info.lm_layers[1], ==, 4);
    g_assert_cmpint(info.tower_mlp[1], ==, 96);
    dv_tmodel *back = NULL;
    g_assert_cmpint(dv_tmodel_load(dst, &back, &e), ==, 0);
    g_assert_cmpuint(dv_tmodel_numel(back), ==, info.params_new);
    g_assert_cmpfloat(back->cfg.lm.rms_eps, ==, info.rms_eps[1]);
    dv_tmodel_set_image_token(back, IMAGE_ID);
    check_same_function(old, back, "all, saved and reloaded");
    sample t;
    sample_init(&t, 4);
    float *mine = logits_of(old, &t),
          *theirs = docvl_logits(dst, t.pixels, t.ids, t.s.n_tokens, IMAGE_ID);
    check_same_logits(mine, theirs, "all, read by docvl");
    g_free(mine);
    g_free(theirs);
    dv_tmodel_free(back);
    test_rmtree(tmp);
    g_free(tmp), g_free(src), g_free(dst), g_free(cfg), g_free(json);
    dv_tmodel_free(old);
}

/* ---- the zero projections learn ---- */

/* Whether the gradient of rows [r0, r1) x columns [c0, c1) of p (a matrix
 * of `cols` columns) has a nonzero entry. */
static int moves(const dv_param *p, int cols, int r0, int r1, int c0, int c1)
{
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++)
            if (p->g[(size_t)r * cols + c] != 0.0f)
                return 1;
    return 0;
}

static void test_learns(void)
{
    dv_tmodel *old = base_model();
    dv_tmodel *m = grow(old, &ALL);
    sample t;
    sample_init(&t, 2);
    float loss;
    int n;
    dv_err e = { 0 };
    dv_ctx ctx = { .n_threads = 1 };
    dv_tmodel_zero_grad(m);
    g_assert_cmpint(dv_tmodel_forward_backward(m, &t.s, &loss, &n, &ctx, &e), ==, 0);
    g_assert_cmpint(n, >, 0);
    /* tower 2 -> 3 blocks (new at 1), MLP 64 -> 96; decoder 2 -> 4 layers
     * (new at 1 and 3), hidden 32 -> 64, ffn 48 -> 96 */
    g_assert_true(all_zero(param(m, "blocks.1.attn.proj.weight")->w, 32 * 32));
    g_assert_true(moves(param(m, "blocks.1.attn.proj.weight"), 32, 0, 32, 0, 32));
    g_assert_true(moves(param(m, "blocks.1.attn.proj.bias"), 1, 0, 32, 0, 1));
    g_assert_true(moves(param(m, "blocks.1.mlp.fc2.weight"), 96, 0, 32, 0, 96));
    g_assert_true(moves(param(m, "blocks.1.mlp.fc2.bias"), 1, 0, 32, 0, 1));
    g_assert_true(moves(param(m, "blocks.0.mlp.fc2.weight"), 96, 0, 32, 64, 96));
    g_assert_true(moves(param(m, "layers.2.weight"), 64, 32, 64, 0, 64));    /* aligner out */
    g_assert_true(moves(param(m, "embed_tokens.weight"), 64, 0, VOCAB, 32, 64));
    const char *new_layers[] = { "layers.1.", "layers.3." };
    for (int i = 0; i < 2; i++) {
        char *o = g_strconcat(new_layers[i], "self_attn.o_proj.weight", NULL);
        char *d = g_strconcat(new_layers[i], "mlp.down_proj.weight", NULL);
        g_assert_true(all_zero(param(m, o)->w, 64 * 64));
        g_assert_true(moves(param(m, o), 64, 0, 64, 0, 64));
        g_assert_true(moves(param(m, d), 96, 0, 64, 0, 96));
        g_free(o);
        g_free(d);
    }
    /* an old layer's new heads, new units, and rows into the new features */
    dv_param *o = param(m, "layers.2.self_attn.o_proj.weight");
    dv_param *d = param(m, "layers.2.mlp.down_proj.weight");
    g_assert_true(moves(o, 64, 0, 32, 32, 64) && moves(o, 64, 32, 64, 0, 64));
    g_assert_true(moves(d, 96, 0, 32, 48, 96) && moves(d, 96, 32, 64, 0, 96));
    dv_tmodel_free(m);
    dv_tmodel_free(old);
}

/* ---- refusals ---- */

static void expect_refused(const sizes *s, const char *field, const char *values)
{
    dv_tmodel *old = base_model(), *m = (dv_tmodel *)1;
    dv_config req = parse_sizes(s);
    dv_err e = { 0 };
    g_assert_cmpint(dv_tmodel_grow(old, &req, 1, &m, &e), !=, 0);
    g_assert_null(m);
    g_test_message("%s", e.msg);
    if (!strstr(e.msg, field) || !strstr(e.msg, values))
        g_error("message \"%s\" lacks \"%s\" or \"%s\"", e.msg, field, values);
    dv_tmodel_free(old);
}

static void test_refused(void)
{
    sizes s = BASE;
    s.width = 64;
    expect_refused(&s, "vision_config.params.width", "(32 in the model, 64 in the new config)");
    s = BASE;
    s.vocab = 700;
    expect_refused(&s, "language_config.vocab_size", "(659 in the model, 700 in the new config)");
    s = BASE;
    s.patch = 4;
    expect_refused(&s, "vision_config.params.patch_size", "(8 in the model, 4 in the new config)");
    s = BASE;
    s.layers = 1;
    expect_refused(&s, "num_hidden_layers", "from 2 to 1");
    s = BASE;
    s.hidden = 64;   /* 2 heads of 32: head_dim changes */
    expect_refused(&s, "head_dim", "(16 in the model, 32 in the new config)");
    s = BASE;
    s.width = 64;   /* and the reason */
    expect_refused(&s, "LayerNorm", "subtracts the mean");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/grow/depth", test_depth);
    g_test_add_func("/grow/mlp", test_mlp);
    g_test_add_func("/grow/width", test_width);
    g_test_add_func("/grow/all_dir", test_all_dir);
    g_test_add_func("/grow/learns", test_learns);
    g_test_add_func("/grow/refused", test_refused);
    return g_test_run();
}
