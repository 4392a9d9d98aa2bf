/* docvl-train and docvl-render as programs: help, usage errors (exit 2),
 * runtime errors (exit 1), same seed same bytes, a train + eval-mc + plot
 * round on the tiny model. */
#include <glib.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "mkmodel/mkmodel.h"
#include "testutil.h"
#include "train/render_line.h"
#include "train/tmodel.h"

static int run(const char *env, const char *args, char **out, char **err)
{
    const char *exe = g_getenv(env);
    g_assert_nonnull(exe);
    char *cmd = g_strdup_printf("%s %s", exe, args);
    int status = -1;
    GError *ge = NULL;
    g_assert_true(g_spawn_command_line_sync(cmd, out, err, &status, &ge));
    g_assert_no_error(ge);
    g_free(cmd);
    return g_spawn_check_wait_status(status, NULL) ? 0 : WEXITSTATUS(status);
}

static void expect(const char *env, const char *args, int code, const char *in_stderr)
{
    char *out = NULL, *err = NULL;
    int rc = run(env, args, &out, &err);
    if (rc != code || (in_stderr && !strstr(err, in_stderr)))
        g_error("%s %s: exit %d (want %d), stderr: %s", env, args, rc, code, err);
    g_free(out);
    g_free(err);
}

static void test_usage(void)
{
    expect("DOCVL_TRAIN", "--help", 0, NULL);
    expect("DOCVL_TRAIN", "", 2, "usage");
    expect("DOCVL_TRAIN", "fly", 2, "unknown command");
    expect("DOCVL_TRAIN", "train --stage 4 --model m --data d --out o", 2, "stage");
    expect("DOCVL_TRAIN", "train --model m --out o", 2, "--data");
    expect("DOCVL_TRAIN", "train --model m --init c --data d --out o", 2, "one of");
    expect("DOCVL_TRAIN", "train --model m --data d --out o --mix 7", 2, "--mix");
    expect("DOCVL_TRAIN", "train --model m --data d --out o --lr x", 2, "--lr");
    expect("DOCVL_TRAIN", "train --model m --data d --out o --objective kl", 2, "--objective");
    expect("DOCVL_TRAIN", "train --model m --text t --out o --objective ctc -q", 1,
           "the CTC objective reads images");
    expect("DOCVL_TRAIN", "eval-mc --model m", 2, "--data");
    expect("DOCVL_TRAIN", "plot a.tsv", 2, "plot");
    expect("DOCVL_TRAIN", "train --model /nonexistent --data d --out o -q", 1, "/nonexistent");
    expect("DOCVL_RENDER", "--help", 0, NULL);
    expect("DOCVL_RENDER", "--out x", 2, "--text");
    expect("DOCVL_RENDER", "--text t --out x --size 9", 2, "--size");
    expect("DOCVL_RENDER", "--text /nonexistent.txt --out x", 1, "/nonexistent.txt");
    expect("DOCVL_RENDER", "--text t --out x --line-width 300", 2, "--line-width needs --lines");
    expect("DOCVL_RENDER", "--lines --text t --out x --size 90x90", 2, "--size is for tiles");
    expect("DOCVL_RENDER", "--lines --text t --out x --markdown", 2, "--markdown is for tiles");
    expect("DOCVL_RENDER", "--lines --text t --out x --line-width 40", 2, "line width 40");
    expect("DOCVL_RENDER", "--lines --text t --out x --line-height 2", 2, "line height 2");
    expect("DOCVL_RENDER", "--lines --text t --out x --min-chars 9 --max-chars 3", 2,
           "characters 9 to 3");
    expect("DOCVL_RENDER", "--lines --text t --out x --pt 12", 2, "--pt");
    expect("DOCVL_RENDER", "--lines --text t --out x --dpi 50:60", 2, "resolutions 50 to 60");
    expect("DOCVL_RENDER", "--lines --text t --out x --scan 2", 2, "scan strength 2");
    expect("DOCVL_RENDER", "--lines --text t --out x --split test", 2, "--split");
    expect("DOCVL_RENDER", "--lines --text t --out x --min-chars x", 2, "--min-chars");
}

static char *slurp(const char *dir, const char *name, gsize *len)
{
    char *p = g_build_filename(dir, name, NULL), *data = NULL;
    g_assert_true(g_file_get_contents(p, &data, len, NULL));
    g_free(p);
    return data;
}

/* Renders twice with the same options into DIR/a and DIR/b and checks the
 * named files are the same bytes; returns DIR/a. */
static char *render_twice(const char *text, const char *dir, const char *opts,
                          const char *const *names, size_t n_names)
{
    for (int run = 0; run < 2; run++) {
        char *args = g_strdup_printf("--text %s --out %s/%c %s", text, dir, "ab"[run], opts);
        expect("DOCVL_RENDER", args, 0, NULL);
        g_free(args);
    }
    char *a = g_build_filename(dir, "a", NULL), *b = g_build_filename(dir, "b", NULL);
    for (size_t i = 0; i < n_names; i++) {
        gsize la, lb;
        char *x = slurp(a, names[i], &la), *y = slurp(b, names[i], &lb);
        g_assert_cmpmem(x, la, y, lb);
        g_free(x);
        g_free(y);
    }
    g_free(b);
    return a;
}

static void test_render_same_bytes(void)
{
    char *dir = test_tmpdir();
    char *text = g_build_filename(dir, "t.txt", NULL);
    const char *words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu";
    test_write_file(text, words, strlen(words));
    const char *names[] = { "tile-00001.png", "tile-00001.txt", "tile-00001.md", "manifest.jsonl" };
    char *a = render_twice(text, dir, "--count 2 --seed 4 --size 200x160 --font-px 12:16 "
                           "--manifest", names, G_N_ELEMENTS(names));
    gsize n;
    char *m = slurp(a, "manifest.jsonl", &n);
    g_assert_nonnull(strstr(m, "\"images\": [\"tile-00000.png\"]"));
    g_assert_nonnull(strstr(m, "<image_placeholder>Transcribe"));
    g_free(m);
    test_rmtree(dir);
    g_free(a);
    g_free(text);
    g_free(dir);
}

/* Line mode: same bytes from the same seed, one PNG and transcription per
 * line, the manifest's answer is the transcription; a family fontconfig
 * lacks is a runtime error naming it. */
static void test_render_lines(void)
{
    if (!dv_font_installed("DejaVu Sans") || !dv_font_installed("Liberation Serif")) {
        g_test_skip("DejaVu Sans or Liberation Serif is not installed (scripts/deps)");
        return;
    }
    char *dir = test_tmpdir();
    char *text = g_build_filename(dir, "t.txt", NULL);
    GString *words = g_string_new(NULL);
    for (int p = 0; p < 40; p++)
        g_string_append_printf(words, "alpha beta %d gamma delta epsilon zeta eta theta\n\n", p);
    test_write_file(text, words->str, words->len);
    g_string_free(words, TRUE);
    const char *names[] = { "line-00002.png", "line-00002.txt", "manifest.jsonl" };
    char *a = render_twice(text, dir, "--lines --count 3 --seed 9 --line-height 24 "
                           "--line-width 240 --fonts \"DejaVu Sans,Liberation Serif\" --manifest",
                           names, G_N_ELEMENTS(names));
    char *out = NULL, *err = NULL;
    g_assert_cmpint(run("DOCVL_RENDER", "--list-fonts", &out, &err), ==, 0);
    g_assert_nonnull(strstr(out, "DejaVu Sans\tsans\ttrain\tfonts-dejavu-core\tinstalled\n"));
    g_assert_nonnull(strstr(out, "Noto Sans Mono\tmono\teval\tfonts-noto-mono\t"));
    g_free(out);
    g_free(err);
    gsize n;
    char *m = slurp(a, "manifest.jsonl", &n), *t0 = slurp(a, "line-00000.txt", &n);
    char *answer = g_strdup_printf("\"role\": \"Assistant\", \"content\": \"%s\"}]", t0);
    g_assert_nonnull(strstr(m, "\"images\": [\"line-00000.png\"]"));
    g_assert_nonnull(strstr(m, answer));
    g_assert_nonnull(strstr(m, "\"split\": \"train\""));
    g_free(answer);
    g_free(t0);
    g_free(m);
    char *args = g_strdup_printf("--lines --text %s --out %s/c --fonts \"No Such Family\"", text,
                                 dir);
    expect("DOCVL_RENDER", args, 1, "No Such Family");
    test_rmtree(dir);
    g_free(a);
    g_free(args);
    g_free(text);
    g_free(dir);
}

/* The tail --latin 20 appends: 5 lists x 20 words, ten a paragraph, each
 * of Latin letters with one or more accented. */
static void check_latin_tail(const char *tail, const char *sources)
{
    char **pars = g_strsplit(tail, "\n\n", -1);
    int words = 0;
    for (char **p = pars; *p; p++) {
        char **w = g_strsplit(g_strstrip(*p), " ", -1);
        for (char **x = w; **p && *x; x++, words++) {
            g_assert_true(g_utf8_validate(*x, -1, NULL));
            int accented = 0;
            for (const char *c = *x; *c; c = g_utf8_next_char(c)) {
                gunichar u = g_utf8_get_char(c);
                g_assert_true(g_unichar_isalpha(u));
                accented |= u > 0x7f;
            }
            g_assert_true(accented);
        }
        g_strfreev(w);
    }
    g_strfreev(pars);
    g_assert_cmpint(words, ==, 100);
    g_assert_nonnull(strstr(sources, "/usr/share/dict/ngerman"));
}

/* scripts/line-corpus: printable-ASCII paragraphs, each once, the same
 * bytes on a second run (which adds --latin 20 where the word lists are
 * installed: the same bytes, then the accented words), its sources listed. */
static void test_line_corpus(void)
{
    char *groff = g_find_program_in_path("groff");
    int have = groff && g_file_test("/usr/share/dict/american-english", G_FILE_TEST_EXISTS);
    g_free(groff);
    if (!have) {
        g_test_skip("groff or wamerican is not installed (scripts/deps)");
        return;
    }
    char *dir = test_tmpdir();
    char *out[2];
    gsize len[2];
    char *data[2];
    int latin = 1;
    for (const char *const *l = (const char *const[]){ "french", "ngerman", "spanish", "italian",
                                                       "portuguese", NULL };
         *l; l++) {
        char *f = g_strconcat("/usr/share/dict/", *l, NULL);
        latin &= g_file_test(f, G_FILE_TEST_EXISTS);
        g_free(f);
    }
    for (int i = 0; i < 2; i++) {
        out[i] = g_strdup_printf("%s/c%d.txt", dir, i);
        char *args = g_strdup_printf("%s%s", i && latin ? "--latin 20 " : "", out[i]);
        expect("DOCVL_LINE_CORPUS", args, 0, "paragraphs");
        g_free(args);
        g_assert_true(g_file_get_contents(out[i], &data[i], &len[i], NULL));
    }
    g_assert_cmpmem(data[0], len[0], data[1], latin ? len[0] : len[1]);
    if (latin) {
        char *src1 = NULL, *sources1 = g_strconcat(out[1], ".sources", NULL);
        g_assert_true(g_file_get_contents(sources1, &src1, NULL, NULL));
        check_latin_tail(data[1] + len[0], src1);
        g_free(src1);
        g_free(sources1);
    }
    expect("DOCVL_LINE_CORPUS", "--latin x out.txt", 2, "--latin needs a word count");
    g_assert_cmpuint(len[0], >, 100000);
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    char **pars = g_strsplit(data[0], "\n\n", -1);
    for (char **p = pars; *p && **p; p++) {
        for (const char *c = *p; *c; c++)
            g_assert_true(*c >= 0x20 && *c <= 0x7e);
        g_assert_false(g_hash_table_contains(seen, *p));
        g_hash_table_add(seen, *p);
    }
    g_assert_cmpuint(g_hash_table_size(seen), >, 1000);
    char *sources = g_strconcat(out[0], ".sources", NULL), *src = NULL;
    g_assert_true(g_file_get_contents(sources, &src, NULL, NULL));
    g_assert_nonnull(strstr(src, "coreutils="));
    g_assert_nonnull(strstr(src, "/usr/share/dict/american-english"));
    g_hash_table_destroy(seen);
    g_strfreev(pars);
    for (int i = 0; i < 2; i++)
        g_free(out[i]), g_free(data[i]);
    g_free(src);
    g_free(sources);
    test_rmtree(dir);
    g_free(dir);
}

static void test_train_eval_plot(void)
{
    char *dir = test_tmpdir();
    char *model = g_build_filename(dir, "model", NULL);
    dv_mkmodel_opts mo = { .out_dir = model, .arch = "tiny-siglip", .dtype = DV_F32,
                           .seed = 2, .shards = 1, .quiet = 1 };
    dv_err e = {0};
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    char *text = g_build_filename(dir, "t.txt", NULL);
    test_write_file(text, "the report\n\nthe table title", 26);
    char *args = g_strdup_printf("--text %s --out %s/tiles --count 2 --size 96x96 "
                                 "--font-px 12:14 --plain --manifest", text, dir);
    expect("DOCVL_RENDER", args, 0, NULL);
    g_free(args);
    args = g_strdup_printf("train --model %s --stage 2 --data %s/tiles/manifest.jsonl --text %s "
                           "--steps 3 --warmup 1 --lr 1e-3 --accum 2 --out %s/out --threads 1 -q",
                           model, dir, text, dir);
    expect("DOCVL_TRAIN", args, 0, NULL);
    g_free(args);
    char *mc = g_build_filename(dir, "mc.jsonl", NULL);
    const char *items = "{\"image\": \"tiles/tile-00000.png\", \"question\": \"Which?\", "
                        "\"options\": [\"the report\", \"a table\"], \"answer\": 0}\n";
    test_write_file(mc, items, strlen(items));
    args = g_strdup_printf("eval-mc --model %s/out --data %s --threads 1", dir, mc);
    char *out = NULL, *err = NULL;
    g_assert_cmpint(run("DOCVL_TRAIN", args, &out, &err), ==, 0);
    g_assert_true(g_str_has_prefix(out, "accuracy "));
    g_assert_nonnull(strstr(out, " of 1)"));
    g_free(out);
    g_free(err);
    g_free(args);
    args = g_strdup_printf("plot %s/out/train.tsv %s/plot.png", dir, dir);
    expect("DOCVL_TRAIN", args, 0, NULL);
    gsize n;
    char *png = slurp(dir, "plot.png", &n);
    g_assert_cmpmem(png, 8, "\x89PNG\r\n\x1a\n", 8);
    g_free(png);
    g_free(args);
    test_rmtree(dir);
    g_free(mc);
    g_free(text);
    g_free(model);
    g_free(dir);
}

/* --paragraphs: each split's paragraphs are the ones dv_split_of gives it,
 * and the two splits together hold every paragraph once. */
static void test_paragraphs(void)
{
    char *dir = test_tmpdir();
    char *text = g_build_filename(dir, "t.txt", NULL);
    GString *t = g_string_new(NULL);
    for (int i = 0; i < 200; i++)
        g_string_append_printf(t, "paragraph number %d of\nthe test %s\n\n", i,
                               i % 7 ? "text" : i % 2 ? "caf\xc3\xa9 text" : "\xe2\x82\xac" "5 text");
    test_write_file(text, t->str, t->len);
    int n_all = 0, n_cafe = 0;
    for (int split = 0; split < 2; split++) {
        char *args = g_strdup_printf("--lines --paragraphs --text %s --out %s/p%d --split %s", text,
                                     dir, split, split ? "eval" : "train");
        expect("DOCVL_RENDER", args, 0, NULL);
        char name[8];
        snprintf(name, sizeof name, "p%d", split);
        gsize len;
        char *data = slurp(dir, name, &len);
        char **pars = g_strsplit(data, "\n\n", -1);
        for (char **p = pars; *p && **p; p++, n_all++) {
            g_assert_cmpint(dv_split_of(*p), ==, split);
            g_assert_true(g_str_has_prefix(*p, "paragraph number "));
            g_assert_null(strchr(*p, '\n'));
            /* a word with a character neither ASCII nor a Latin letter is
             * dropped, the rest of its paragraph kept; accented words stay */
            g_assert_null(strstr(*p, "\xe2\x82\xac"));
            n_cafe += strstr(*p, "caf\xc3\xa9 text") != NULL;
        }
        g_strfreev(pars);
        g_free(data);
        g_free(args);
    }
    g_assert_cmpint(n_all, ==, 200);
    g_assert_cmpint(n_cafe, ==, 14);   /* i % 7 == 0 and odd: 7, 21, ..., 189 */
    expect("DOCVL_RENDER", "--paragraphs --text t --out x", 2, "--paragraphs needs --lines");
    g_string_free(t, TRUE);
    test_rmtree(dir);
    g_free(text);
    g_free(dir);
}

/* export writes 16-bit weights that load as the f32 ones rounded; --from
 * starts a new model from every tensor of the same name and shape. */
static void test_export_warm_start(void)
{
    char *dir = test_tmpdir();
    char *model = g_build_filename(dir, "model", NULL);
    dv_mkmodel_opts mo = { .out_dir = model, .arch = "tiny-siglip", .dtype = DV_F32,
                           .seed = 3, .shards = 1, .quiet = 1 };
    dv_err e = {0};
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    char *args = g_strdup_printf("export %s %s/m16", model, dir);
    expect("DOCVL_TRAIN", args, 0, NULL);
    g_free(args);
    gsize n32, n16;
    char *w32 = slurp(model, "model.safetensors", &n32);
    char *m16 = g_build_filename(dir, "m16", NULL);
    char *w16 = slurp(m16, "model.safetensors", &n16);
    g_assert_cmpuint(n16, <, n32 * 6 / 10);
    g_assert_nonnull(g_strstr_len(w16 + 8, 4000, "\"dtype\":\"F16\""));
    g_assert_null(g_strstr_len(w16 + 8, 4000, "\"dtype\":\"F32\""));
    dv_tmodel *a = NULL, *b = NULL;
    if (dv_tmodel_load(model, &a, &e) || dv_tmodel_load(m16, &b, &e))
        g_error("load: %s", e.msg);
    g_assert_cmpint(a->n_params, ==, b->n_params);
    for (int i = 0; i < a->n_params; i++)
        for (size_t k = 0; k < a->params[i].n; k++) {
            float x = a->params[i].w[k], y = b->params[i].w[k];
            g_assert_cmpfloat(fabsf(x - y), <=, fabsf(x) / 2048 + 6e-8f);
        }
    dv_tmodel_free(a);
    dv_tmodel_free(b);
    char *text = g_build_filename(dir, "t.txt", NULL);
    test_write_file(text, "the report\n\nthe table title", 26);
    args = g_strdup_printf("train --init %s --from %s --stage 2 --text %s --steps 1 --out %s/o "
                           "--threads 1", model, m16, text, dir);
    char *out = NULL, *err = NULL;
    g_assert_cmpint(run("DOCVL_TRAIN", args, &out, &err), ==, 0);
    g_assert_nonnull(strstr(err, "warm start: "));
    int copied = -1, total = -2;
    g_assert_cmpint(sscanf(strstr(err, "warm start: "), "warm start: %d of %d", &copied, &total),
                    ==, 2);
    g_assert_cmpint(copied, ==, total);
    g_free(out), g_free(err), g_free(args);
    args = g_strdup_printf("train --resume %s/o --from %s --stage 2 --text %s --steps 1 --out %s/o2 "
                           "-q", dir, m16, text, dir);
    expect("DOCVL_TRAIN", args, 1, "--from DIR starts a run");
    g_free(args);
    args = g_strdup_printf("export %s %s/x f8", model, dir);
    expect("DOCVL_TRAIN", args, 2, "export needs");
    g_free(args);
    test_rmtree(dir);
    g_free(w32), g_free(w16), g_free(m16), g_free(text), g_free(model), g_free(dir);
}

static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    g_assert_nonnull(at);
    return g_strdup_printf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

/* The tiny preset's config.json with one text replaced (and with another
 * when from2 is not NULL), written to dir/name. */
static char *preset_with(const char *dir, const char *name, const char *from, const char *to,
                         const char *from2, const char *to2)
{
    char *text = replaced(dv_mkmodel_preset("tiny-siglip"), from, to);
    if (from2) {
        char *t2 = replaced(text, from2, to2);
        g_free(text);
        text = t2;
    }
    char *path = g_build_filename(dir, name, NULL);
    test_write_file(path, text, strlen(text));
    g_free(text);
    return path;
}

/* grow: a bigger model written (exit 0), a change it cannot make refused
 * with the field (exit 1), a missing --config a usage error (exit 2). */
static void test_grow(void)
{
    char *dir = test_tmpdir();
    char *model = g_build_filename(dir, "model", NULL);
    dv_mkmodel_opts mo = { .out_dir = model, .arch = "tiny-siglip", .dtype = DV_F32,
                           .seed = 4, .shards = 1, .quiet = 1 };
    dv_err e = {0};
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    char *deeper = preset_with(dir, "deeper.json", "\"num_hidden_layers\":2",
                               "\"num_hidden_layers\":3", NULL, NULL);
    char *vocab = preset_with(dir, "vocab.json", "\"vocab_size\":659", "\"vocab_size\":700",
                              NULL, NULL);
    char *wide = preset_with(dir, "wide.json", "\"width\":32", "\"width\":64",
                             "\"input_dim\":32", "\"input_dim\":64");
    char *args = g_strdup_printf("grow %s %s/g --config %s --seed 3", model, dir, deeper);
    expect("DOCVL_TRAIN", args, 0, NULL);
    g_free(args);
    dv_tmodel *m = NULL;
    char *grown = g_build_filename(dir, "g", NULL);
    if (dv_tmodel_load(grown, &m, &e))
        g_error("load: %s", e.msg);
    g_assert_cmpint(m->cfg.lm.layers, ==, 3);
    dv_tmodel_free(m);
    args = g_strdup_printf("grow %s %s/v --config %s", model, dir, vocab);
    expect("DOCVL_TRAIN", args, 1, "vocab_size differs (659 in the model, 700 in the new config)");
    g_free(args);
    args = g_strdup_printf("grow %s %s/w --config %s", model, dir, wide);
    expect("DOCVL_TRAIN", args, 1, "LayerNorm subtracts the mean");
    g_free(args);
    args = g_strdup_printf("grow %s %s/x", model, dir);
    expect("DOCVL_TRAIN", args, 2, "grow needs");
    g_free(args);
    char *refused = g_build_filename(dir, "v", NULL);   /* nothing written */
    g_assert_false(g_file_test(refused, G_FILE_TEST_EXISTS));
    g_free(refused);
    test_rmtree(dir);
    g_free(deeper), g_free(vocab), g_free(wide), g_free(grown), g_free(model), g_free(dir);
}

/* A tiny SigLIP model of random weights (seed) in dir/name. */
static char *tiny_model(const char *dir, const char *name, uint64_t seed)
{
    char *model = g_build_filename(dir, name, NULL);
    dv_mkmodel_opts mo = { .out_dir = model, .arch = "tiny-siglip", .dtype = DV_F32,
                           .seed = seed, .shards = 1, .quiet = 1 };
    dv_err e = {0};
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    return model;
}

static dv_tmodel *load_tmodel(const char *dir)
{
    dv_tmodel *m = NULL;
    dv_err e = {0};
    if (dv_tmodel_load(dir, &m, &e))
        g_error("load: %s", e.msg);
    return m;
}

/* average: the element-wise mean of two models' weights, in double, with
 * the first's configuration (exit 0); models of different tensors refused
 * with the tensor named and nothing written (exit 1); fewer than two
 * models a usage error (exit 2). */
static void test_average(void)
{
    char *dir = test_tmpdir();
    char *a = tiny_model(dir, "a", 4), *b = tiny_model(dir, "b", 5);
    char *args = g_strdup_printf("average %s %s %s/mean", a, b, dir);
    expect("DOCVL_TRAIN", args, 0, NULL);
    g_free(args);
    char *mean_dir = g_build_filename(dir, "mean", NULL);
    dv_tmodel *ma = load_tmodel(a), *mb = load_tmodel(b), *mm = load_tmodel(mean_dir);
    g_assert_cmpint(mm->n_params, ==, ma->n_params);
    g_assert_cmpint(mm->cfg.lm.layers, ==, ma->cfg.lm.layers);
    size_t moved = 0;
    for (int i = 0; i < mm->n_params; i++) {
        g_assert_cmpstr(mm->params[i].name, ==, ma->params[i].name);
        for (size_t k = 0; k < mm->params[i].n; k++) {
            double x = ma->params[i].w[k], y = mb->params[i].w[k];
            g_assert_cmpfloat(mm->params[i].w[k], ==, (float)((x + y) / 2));
            moved += x != y;
        }
    }
    g_assert_cmpuint(moved, >, 1000);   /* the seeds gave different weights */
    dv_tmodel_free(ma), dv_tmodel_free(mb), dv_tmodel_free(mm);
    char *deeper = preset_with(dir, "deeper.json", "\"num_hidden_layers\":2",
                               "\"num_hidden_layers\":3", NULL, NULL);
    args = g_strdup_printf("grow %s %s/deep --config %s", a, dir, deeper);
    expect("DOCVL_TRAIN", args, 0, NULL);
    g_free(args);
    args = g_strdup_printf("average %s %s/deep %s/bad", a, dir, dir);
    expect("DOCVL_TRAIN", args, 1, "model 1 has");
    g_free(args);
    char *bad = g_build_filename(dir, "bad", NULL);
    g_assert_false(g_file_test(bad, G_FILE_TEST_EXISTS));
    args = g_strdup_printf("average %s %s/one", a, dir);
    expect("DOCVL_TRAIN", args, 2, "average needs");
    g_free(args);
    test_rmtree(dir);
    g_free(bad), g_free(deeper), g_free(mean_dir), g_free(a), g_free(b), g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/train_cli/usage", test_usage);
    g_test_add_func("/train_cli/render_same_bytes", test_render_same_bytes);
    g_test_add_func("/train_cli/render_lines", test_render_lines);
    g_test_add_func("/train_cli/line_corpus", test_line_corpus);
    g_test_add_func("/train_cli/train_eval_plot", test_train_eval_plot);
    g_test_add_func("/train_cli/paragraphs", test_paragraphs);
    g_test_add_func("/train_cli/export_warm_start", test_export_warm_start);
    g_test_add_func("/train_cli/grow", test_grow);
    g_test_add_func("/train_cli/average", test_average);
    return g_test_run();
}
