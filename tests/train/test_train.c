/* The training loop through the real engine on docvl-mkmodel's tiny
 * SigLIP-only model: repeatable from the seed, resume continues bit for bit,
 * frozen components untouched by each stage, masked positions add nothing
 * to the loss, and multiple-choice evaluation picks what was taught. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "mkmodel/mkmodel.h"
#include "testutil.h"
#include "text/tokenizer.h"
#include "train/evalmc.h"
#include "train/mask.h"
#include "train/render.h"
#include "train/stages.h"
#include "train/trainer.h"

#define TAG "<image_placeholder>"

typedef struct fixture {
    char *dir;        /* the work directory */
    char *model;      /* tiny model */
    char *manifest;   /* two rendered tiles + one text-only conversation */
    char *corpus;
    dv_ctx ctx;
} fixture;

static void add_tile(const fixture *f, GString *m, int i, const dv_render_words *w)
{
    dv_render_opts o = DV_RENDER_DEFAULTS;
    o.width = o.height = 128;
    o.min_px = o.max_px = 16;
    o.plain = 1;
    o.max_blocks = 1;
    dv_rendered r;
    dv_err e = {0};
    g_assert_cmpint(dv_render_tile(&o, w, (uint64_t)i, &r, &e), ==, 0);
    char *stem = g_strdup_printf("%s/tile%d", f->dir, i);
    g_assert_cmpint(dv_rendered_write(&r, stem, &e), ==, 0);
    g_string_append_printf(m, "{\"images\": [\"tile%d.png\"], \"conversation\": [{\"role\": "
                           "\"User\", \"content\": \"" TAG "Read it.\"}, {\"role\": "
                           "\"Assistant\", \"content\": \"%s\"}]}\n", i, w->w[i]);
    g_free(stem);
    dv_rendered_free(&r);
}

/* The work directory with the model mo describes (its out_dir set here). */
static void setup_with(fixture *f, dv_mkmodel_opts mo)
{
    f->dir = test_tmpdir();
    f->model = g_build_filename(f->dir, "model", NULL);
    mo.out_dir = f->model;
    dv_err e = {0};
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    dv_render_words w;
    g_assert_cmpint(dv_render_words_from_text("report table title page", &w, &e), ==, 0);
    GString *m = g_string_new(NULL);
    add_tile(f, m, 0, &w);
    add_tile(f, m, 1, &w);
    g_string_append(m, "{\"conversation\": [{\"role\": \"User\", \"content\": \"What is the "
                       "title?\"}, {\"role\": \"Assistant\", \"content\": \"the report\"}]}\n");
    dv_render_words_free(&w);
    f->manifest = g_build_filename(f->dir, "manifest.jsonl", NULL);
    test_write_file(f->manifest, m->str, m->len);
    g_string_free(m, TRUE);
    f->corpus = g_build_filename(f->dir, "corpus.txt", NULL);
    const char *text = "the page shows a table\n\nthe title of the report\n\nnumber of lines";
    test_write_file(f->corpus, text, strlen(text));
    f->ctx = (dv_ctx){ .n_threads = 1 };
}

static void fx_setup(fixture *f, gconstpointer data)
{
    (void)data;
    setup_with(f, (dv_mkmodel_opts){ .arch = "tiny-siglip", .dtype = DV_F32, .seed = 3,
                                     .shards = 1, .quiet = 1 });
}

/* docvl's line geometry: a 16 x 128 input in 8 px patches (2 x 16 tokens),
 * no system prompt. */
static void fx_setup_line(fixture *f, gconstpointer data)
{
    (void)data;
    setup_with(f, (dv_mkmodel_opts){ .arch = "tiny-siglip", .dtype = DV_F32, .seed = 3,
                                     .shards = 1, .quiet = 1, .image_h = 16, .image_w = 128,
                                     .patch = 8, .reads_lines = 1, .system_prompt = "" });
}

static void fx_teardown(fixture *f, gconstpointer data)
{
    (void)data;
    test_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->model);
    g_free(f->manifest);
    g_free(f->corpus);
}

static void opts(const fixture *f, dv_train_opts *o, const char *out, int stage, long steps)
{
    dv_train_opts_default(o);
    o->model_dir = f->model;
    o->data = f->manifest;
    o->text = f->corpus;
    o->stage = stage;
    o->steps = steps;
    o->lr = 3e-3;
    o->warmup = 2;
    o->batch = 1;
    o->accum = 2;
    o->clip = 1.0;
    o->weight_decay = 0.1;
    o->seed = 7;
    o->out_dir = g_build_filename(f->dir, out, NULL);
}

static dv_tmodel *load(const char *dir)
{
    dv_tmodel *m = NULL;
    dv_err e = {0};
    if (dv_tmodel_load(dir, &m, &e))
        g_error("load %s: %s", dir, e.msg);
    return m;
}

static void train(const fixture *f, const dv_train_opts *o)
{
    dv_train_report rep;
    dv_err e = {0};
    if (dv_train_run(o, &rep, &f->ctx, &e))
        g_error("train: %s", e.msg);
}

/* Params equal bit for bit, or (want_same 0) different somewhere, per part. */
static void compare_parts(const dv_tmodel *a, const dv_tmodel *b, const int changed[DV_PART_COUNT])
{
    g_assert_cmpint(a->n_params, ==, b->n_params);
    int differs[DV_PART_COUNT] = {0}, present[DV_PART_COUNT] = {0};
    for (int i = 0; i < a->n_params; i++) {
        const dv_param *p = &a->params[i], *q = &b->params[i];
        g_assert_cmpstr(p->name, ==, q->name);
        present[p->part] = 1;
        if (memcmp(p->w, q->w, p->n * sizeof(float)) != 0) {
            differs[p->part] = 1;
            if (!changed[p->part])
                g_error("%s (%s) changed but is frozen", p->name, dv_part_name(p->part));
        }
    }
    for (int k = 0; k < DV_PART_COUNT; k++)
        if (present[k] && changed[k])
            g_assert_true(differs[k]);
}

static void test_repeatable(fixture *f, gconstpointer data)
{
    (void)data;
    dv_train_opts a, b;
    opts(f, &a, "a", 2, 4);
    opts(f, &b, "b", 2, 4);
    train(f, &a);
    train(f, &b);
    dv_tmodel *ma = load(a.out_dir), *mb = load(b.out_dir);
    int none[DV_PART_COUNT] = {0};
    compare_parts(ma, mb, none);
    /* the log has a row per step */
    char *log = g_build_filename(a.out_dir, DV_TRAIN_LOG_FILE, NULL), *text = NULL;
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    g_assert_true(g_str_has_prefix(text, "step\tloss\tlr\tgrad_norm\ttokens_per_s\n"));
    g_assert_nonnull(strstr(text, "\n4\t"));
    char *png = g_build_filename(a.out_dir, DV_TRAIN_PLOT_FILE, NULL);
    g_assert_true(g_file_test(png, G_FILE_TEST_EXISTS));
    g_free(png);
    g_free(text);
    g_free(log);
    dv_tmodel_free(ma);
    dv_tmodel_free(mb);
    g_free((char *)a.out_dir);
    g_free((char *)b.out_dir);
}

/* data: threads (NULL: 1); with 2, batches of 2 samples run side by side. */
static void test_resume(fixture *f, gconstpointer data)
{
    int threads = data ? GPOINTER_TO_INT(data) : 1;
    f->ctx.n_threads = threads;
    dv_train_opts full, half, rest;
    opts(f, &full, "full", 2, 6);
    opts(f, &half, "half", 2, 6);
    half.stop_after = 3;
    opts(f, &rest, "rest", 2, 6);
    full.batch = half.batch = rest.batch = threads;
    full.accum = half.accum = rest.accum = threads > 1 ? 1 : 2;
    rest.resume_dir = half.out_dir;
    rest.model_dir = NULL;
    train(f, &full);
    train(f, &half);
    train(f, &rest);
    dv_tmodel *a = load(full.out_dir), *b = load(rest.out_dir);
    int none[DV_PART_COUNT] = {0};
    compare_parts(a, b, none);
    dv_tmodel_free(a);
    dv_tmodel_free(b);
    g_free((char *)full.out_dir);
    g_free((char *)half.out_dir);
    g_free((char *)rest.out_dir);
}

/* A line model trains and resumes bit for bit as a square one does, and
 * its checkpoints keep its geometry and processor keys. */
static void test_line_resume(fixture *f, gconstpointer data)
{
    test_resume(f, data);
    char *rest = g_build_filename(f->dir, "rest", NULL);
    dv_config c;
    dv_err e = {0};
    g_assert_cmpint(dv_config_load(rest, &c, &e), ==, 0);
    g_assert_cmpint(c.siglip.image_h, ==, 16);
    g_assert_cmpint(c.siglip.image_w, ==, 128);
    g_assert_cmpint(c.pre.image_w, ==, 128);
    g_assert_cmpint(c.proc.num_image_tokens, ==, 2 * 16);
    g_assert_cmpint(c.proc.reads_lines, ==, 1);
    g_assert_cmpstr(c.proc.system_prompt, ==, "");
    g_free(rest);
}

static void frozen_case(fixture *f, int stage, const char *override, const char *out)
{
    dv_train_opts o;
    opts(f, &o, out, stage, 3);
    o.text = NULL;   /* every sample multimodal: every part gets a gradient */
    if (override)
        o.overrides[o.n_overrides++] = override;
    train(f, &o);
    int changed[DV_PART_COUNT];
    dv_err e = {0};
    g_assert_cmpint(dv_stage_parts(stage, changed, &e), ==, 0);
    if (override)
        g_assert_cmpint(dv_stage_override(override, changed, &e), ==, 0);
    dv_tmodel *before = load(f->model), *after = load(o.out_dir);
    compare_parts(before, after, changed);
    dv_tmodel_free(before);
    dv_tmodel_free(after);
    g_free((char *)o.out_dir);
}

/* SAM's body stays frozen in stage 3 while its neck and downsamples train
 * (tiny hybrid model, one 1024 px tile). */
static void test_frozen_hybrid(fixture *f, gconstpointer data)
{
    (void)data;
    char *hyb = g_build_filename(f->dir, "hybrid", NULL);
    dv_mkmodel_opts mo = { .out_dir = hyb, .arch = "tiny-hybrid", .dtype = DV_F32,
                           .seed = 5, .shards = 1, .quiet = 1 };
    dv_err e = {0};
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    char *model = f->model;
    f->model = hyb;
    dv_train_opts o;
    opts(f, &o, "h3", 3, 1);
    o.text = NULL;
    o.accum = 1;
    train(f, &o);
    int changed[DV_PART_COUNT];
    g_assert_cmpint(dv_stage_parts(3, changed, &e), ==, 0);
    dv_tmodel *before = load(hyb), *after = load(o.out_dir);
    compare_parts(before, after, changed);
    int sam_body = 0, sam_neck = 0;
    for (int i = 0; i < before->n_params; i++) {
        sam_body += before->params[i].part == DV_PART_SAM_BODY;
        sam_neck += before->params[i].part == DV_PART_SAM_NECK;
    }
    g_assert_cmpint(sam_body, >, 0);
    g_assert_cmpint(sam_neck, >, 0);
    dv_tmodel_free(before);
    dv_tmodel_free(after);
    f->model = model;
    g_free(hyb);
    g_free((char *)o.out_dir);
}

static void test_frozen(fixture *f, gconstpointer data)
{
    (void)data;
    frozen_case(f, 1, NULL, "s1");
    frozen_case(f, 2, NULL, "s2");
    frozen_case(f, 3, NULL, "s3");
    frozen_case(f, 3, "siglip=off", "s3b");
}

/* Through the engine: the loss is the mean over exactly the counted labels,
 * computed here from the logits; masked positions add nothing. */
static void test_masked_loss(fixture *f, gconstpointer data)
{
    (void)data;
    dv_tmodel *m = load(f->model);
    char *tj = g_build_filename(f->model, "tokenizer.json", NULL);
    dv_tokenizer *tok = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_open(tj, &tok, &e), ==, 0);
    dv_seq_opts so = { .tok = tok, .image_tag = TAG, .image_id = dv_tokenizer_token_id(tok, TAG),
                       .n_img_tokens = dv_config_image_tokens(&m->cfg), .add_bos = 1,
                       .supervise = DV_SUPERVISE_ANSWERS, .answer_eos = 1 };
    dv_turn t[2] = { { "User", "What is the title?" }, { "Assistant", "the report" } };
    dv_conv c = { .n_turns = 2, .turns = t };
    dv_seq s;
    g_assert_cmpint(dv_seq_from_conv(&so, &c, &s, &e), ==, 0);
    dv_tsample ts = { .n_tokens = s.n, .ids = s.ids, .labels = s.labels };
    int vocab = m->cfg.lm.vocab, counted = 0, counted2 = 0;
    float *logits = g_new(float, (size_t)s.n * vocab);
    double nll = 0;
    g_assert_cmpint(dv_tmodel_nll(m, &ts, &nll, &counted, logits, &f->ctx, &e), ==, 0);
    g_assert_cmpint(counted, ==, dv_seq_counted(&s));
    double want = 0;
    for (int i = 0; i < s.n; i++) {
        if (s.labels[i] == DV_IGNORE_LABEL)
            continue;
        const float *row = logits + (size_t)i * vocab;
        double mx = row[0], sum = 0;
        for (int k = 1; k < vocab; k++)
            mx = fmax(mx, row[k]);
        for (int k = 0; k < vocab; k++)
            sum += exp(row[k] - mx);
        want += mx + log(sum) - row[s.labels[i]];
    }
    g_assert_cmpfloat_with_epsilon(nll, want, 1e-3 * fabs(want));
    float loss = 0;
    g_assert_cmpint(dv_tmodel_forward_backward(m, &ts, &loss, &counted2, &f->ctx, &e), ==, 0);
    g_assert_cmpint(counted2, ==, counted);
    g_assert_cmpfloat_with_epsilon(loss, nll / counted, 1e-4 * fabs(loss));
    g_free(logits);
    dv_seq_free(&s);
    dv_tokenizer_free(tok);
    g_free(tj);
    dv_tmodel_free(m);
}

static void test_eval_mc(fixture *f, gconstpointer data)
{
    (void)data;
    /* teach two answers, then ask with both options each */
    char *man = g_build_filename(f->dir, "qa.jsonl", NULL);
    const char *qa =
        "{\"conversation\": [{\"role\": \"User\", \"content\": \"What is the title?\"}, "
        "{\"role\": \"Assistant\", \"content\": \"the report\"}]}\n"
        "{\"conversation\": [{\"role\": \"User\", \"content\": \"What is the number?\"}, "
        "{\"role\": \"Assistant\", \"content\": \"a table\"}]}\n";
    test_write_file(man, qa, strlen(qa));
    dv_train_opts o;
    opts(f, &o, "qa", 3, 30);
    o.data = man;
    o.text = NULL;
    o.lr = 1e-2;
    o.weight_decay = 0;
    train(f, &o);
    char *mc = g_build_filename(f->dir, "mc.jsonl", NULL);
    const char *items =
        "{\"question\": \"What is the title?\", \"options\": [\"a table\", \"the report\"], "
        "\"answer\": 1}\n"
        "{\"image\": \"tile0.png\", \"question\": \"What is the number?\", \"options\": "
        "[\"a table\", \"the report\"], \"answer\": \"A\"}\n";
    test_write_file(mc, items, strlen(items));
    dv_mc_set set;
    dv_err e = {0};
    g_assert_cmpint(dv_mc_load(mc, &set, &e), ==, 0);
    g_assert_cmpint(set.n, ==, 2);
    g_assert_cmpint(set.items[1].answer, ==, 0);
    dv_tmodel *m = load(o.out_dir);
    char *tj = g_build_filename(o.out_dir, "tokenizer.json", NULL);
    dv_tokenizer *tok = NULL;
    g_assert_cmpint(dv_tokenizer_open(tj, &tok, &e), ==, 0);
    dv_seq_opts so = { .tok = tok, .image_tag = TAG, .image_id = dv_tokenizer_token_id(tok, TAG),
                       .n_img_tokens = dv_config_image_tokens(&m->cfg), .add_bos = 1 };
    dv_mc_result r;
    g_assert_cmpint(dv_evalmc(m, &so, &set, &r, NULL, &f->ctx, &e), ==, 0);
    g_assert_cmpint(r.n, ==, 2);
    g_assert_cmpint(r.correct, ==, 2);
    g_assert_cmpfloat(r.accuracy, ==, 1.0);
    /* malformed items are refused with the line */
    const char *bad = "{\"question\": \"q\", \"options\": [\"x\", \"y\"], \"answer\": 5}";
    dv_mc_set s2;
    dv_err e2 = {0};
    g_assert_cmpint(dv_mc_parse(bad, strlen(bad), NULL, "mc", &s2, &e2), ==, DOCVL_EFORMAT);
    g_assert_nonnull(strstr(e2.msg, "mc line 1"));
    dv_mc_free(&set);
    dv_tokenizer_free(tok);
    dv_tmodel_free(m);
    g_free(tj);
    g_free(mc);
    g_free(man);
    g_free((char *)o.out_dir);
}

static void test_errors(fixture *f, gconstpointer data)
{
    (void)data;
    dv_train_opts o;
    opts(f, &o, "err", 9, 2);
    dv_train_report rep;
    dv_err e = {0};
    g_assert_cmpint(dv_train_run(&o, &rep, &f->ctx, &e), ==, DOCVL_EINVAL);
    o.stage = 2;
    o.data = "/nonexistent/m.jsonl";
    dv_err e2 = {0};
    g_assert_cmpint(dv_train_run(&o, &rep, &f->ctx, &e2), ==, DOCVL_EIO);
    g_assert_nonnull(strstr(e2.msg, "/nonexistent/m.jsonl"));
    o.data = f->manifest;
    o.overrides[o.n_overrides++] = "eyes=on";
    dv_err e3 = {0};
    g_assert_cmpint(dv_train_run(&o, &rep, &f->ctx, &e3), ==, DOCVL_EINVAL);
    g_free((char *)o.out_dir);
}

#define FX(path, fn) g_test_add(path, fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    FX("/train/repeatable", test_repeatable);
    FX("/train/resume", test_resume);
    g_test_add("/train/resume_two_threads", fixture, GINT_TO_POINTER(2), fx_setup, test_resume,
               fx_teardown);
    g_test_add("/train/resume_line_model", fixture, NULL, fx_setup_line, test_line_resume,
               fx_teardown);
    FX("/train/frozen", test_frozen);
    FX("/train/frozen_hybrid", test_frozen_hybrid);
    FX("/train/masked_loss", test_masked_loss);
    FX("/train/eval_mc", test_eval_mc);
    FX("/train/errors", test_errors);
    return g_test_run();
}
