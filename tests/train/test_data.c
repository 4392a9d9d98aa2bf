/* Manifests, text corpora and the labels of each stage: which tokens are
 * supervised, image expansion, errors that name the line. The tokenizer is
 * the one docvl-mkmodel writes for its tiny models. */
#include <glib.h>
#include <string.h>

#include "mkmodel/mkmodel.h"
#include "testutil.h"
#include "text/prompt.h"
#include "text/tokenizer.h"
#include "train/data.h"
#include "train/mask.h"

#define TAG "<image_placeholder>"
#define N_IMG 5

static const char MANIFEST[] =
    "{\"images\": [\"a.png\"], \"conversation\": [{\"role\": \"User\", \"content\": \""
    TAG "What is the title?\"}, {\"role\": \"Assistant\", \"content\": \"The report\"}]}\n"
    "\n"
    "{\"images\": [\"/abs/b.png\"], \"conversation\": [{\"role\": \"User\", \"content\": \""
    TAG "Describe it\"}, {\"role\": \"Assistant\", \"content\": \" a table \"},"
    "{\"role\": \"User\", \"content\": \"and the date?\"},"
    "{\"role\": \"Assistant\", \"content\": \"no date\"}]}\n";

static void test_manifest(void)
{
    dv_manifest m;
    dv_err e = {0};
    g_assert_cmpint(dv_manifest_parse(MANIFEST, strlen(MANIFEST), "/data", "m.jsonl", &m, &e),
                    ==, 0);
    g_assert_cmpint(m.n, ==, 2);
    g_assert_cmpstr(m.convs[0].images[0], ==, "/data/a.png");
    g_assert_cmpstr(m.convs[1].images[0], ==, "/abs/b.png");
    g_assert_cmpint(m.convs[1].n_turns, ==, 4);
    g_assert_cmpstr(m.convs[1].turns[3].content, ==, "no date");
    dv_manifest_free(&m);

    const char *bad = "{\"conversation\": [{\"role\": \"User\", \"content\": \"a\"}]}\n"
                      "{\"conversation\": [{\"role\": \"Assistant\", \"content\": \"a\"}]}\n";
    g_assert_cmpint(dv_manifest_parse(bad, strlen(bad), NULL, "m.jsonl", &m, &e), ==,
                    DOCVL_EFORMAT);
    g_assert_nonnull(strstr(e.msg, "m.jsonl line 2"));
    g_assert_cmpint(m.n, ==, 0);
    dv_err e2 = {0};
    const char *junk = "{\"images\": [3], \"conversation\": []}";
    g_assert_cmpint(dv_manifest_parse(junk, strlen(junk), NULL, "j", &m, &e2), ==, DOCVL_EFORMAT);
    dv_err e3 = {0};
    g_assert_cmpint(dv_manifest_parse("{", 1, NULL, "j", &m, &e3), !=, 0);
    dv_err e4 = {0};
    g_assert_cmpint(dv_manifest_load("/nonexistent/m.jsonl", &m, &e4), ==, DOCVL_EIO);
}

static void test_corpus(void)
{
    const char *t = "first line\nsame paragraph\n\n\n  \nsecond\n\nthird";
    dv_corpus c;
    dv_err e = {0};
    g_assert_cmpint(dv_corpus_parse(t, strlen(t), &c, &e), ==, 0);
    g_assert_cmpint(c.n, ==, 3);
    g_assert_cmpstr(c.docs[0], ==, "first line\nsame paragraph");
    g_assert_cmpstr(c.docs[2], ==, "third");
    dv_corpus_free(&c);
    g_assert_cmpint(dv_corpus_parse("\xff", 1, &c, &e), ==, DOCVL_EFORMAT);
}

typedef struct fixture {
    char *dir;
    dv_tokenizer *tok;
    dv_seq_opts o;
} fixture;

static void fx_setup(fixture *f, gconstpointer data)
{
    (void)data;
    f->dir = test_tmpdir();
    dv_mkmodel_opts mo = { .out_dir = f->dir, .arch = "tiny-siglip", .dtype = DV_F32,
                           .seed = 1, .shards = 1, .quiet = 1 };
    dv_err e = {0};
    if (dv_mkmodel(&mo, &e))
        g_error("mkmodel: %s", e.msg);
    char *tj = g_build_filename(f->dir, "tokenizer.json", NULL);
    if (dv_tokenizer_open(tj, &f->tok, &e))
        g_error("tokenizer: %s", e.msg);
    g_free(tj);
    f->o = (dv_seq_opts){ .tok = f->tok, .image_tag = TAG,
                          .image_id = dv_tokenizer_token_id(f->tok, TAG),
                          .n_img_tokens = N_IMG, .add_bos = 1,
                          .supervise = DV_SUPERVISE_ANSWERS, .answer_eos = 1 };
    g_assert_cmpint(f->o.image_id, >=, 0);
}

static void fx_teardown(fixture *f, gconstpointer data)
{
    (void)data;
    dv_tokenizer_free(f->tok);
    test_rmtree(f->dir);
    g_free(f->dir);
}

static dv_conv conv2(const char *user, const char *answer)
{
    static char *img[1] = { "x.png" };
    dv_turn *t = g_new0(dv_turn, 2);
    t[0] = (dv_turn){ g_strdup("User"), g_strdup(user) };
    t[1] = (dv_turn){ g_strdup("Assistant"), g_strdup(answer) };
    return (dv_conv){ .n_images = strstr(user, TAG) ? 1 : 0, .images = img, .n_turns = 2,
                      .turns = t };
}

static void conv_drop(dv_conv *c)
{
    for (int i = 0; i < c->n_turns; i++) {
        g_free(c->turns[i].role);
        g_free(c->turns[i].content);
    }
    g_free(c->turns);
}

/* The supervised targets, decoded. */
static char *targets(const fixture *f, const dv_seq *s)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(int32_t));
    for (int i = 0; i < s->n; i++)
        if (s->labels[i] != DV_IGNORE_LABEL)
            g_array_append_val(a, s->labels[i]);
    char *text = NULL;
    dv_err e = {0};
    g_assert_cmpint(dv_tokenizer_decode(f->tok, (int32_t *)(void *)a->data, a->len, 0, &text, &e),
                    ==, 0);
    g_array_free(a, TRUE);
    return text;
}

/* The pieces tokenize as the whole formatted prompt does, under the
 * default system prompt, a model's own (processor_config system_prompt) and
 * none: training and reading see the same tokens. */
static void test_same_tokens_as_prompt(fixture *f, gconstpointer data)
{
    (void)data;
    const char *systems[3] = { NULL, "Read the text.", "" };
    for (int k = 0; k < 3; k++) {
        dv_conv c = conv2(TAG "What is the title?", "The report, page 3.");
        dv_seq s;
        dv_err e = {0};
        f->o.n_img_tokens = 1;
        f->o.system = systems[k];
        g_assert_cmpint(dv_seq_from_conv(&f->o, &c, &s, &e), ==, 0);
        dv_chat_msg m[2] = { { "User", c.turns[0].content }, { "Assistant", c.turns[1].content } };
        char *text = NULL;
        g_assert_cmpint(dv_prompt_format("deepseek", k ? systems[k] : DV_PROMPT_SYSTEM_DEFAULT, m,
                                         2, NULL, &text, &e), ==, 0);
        int32_t *ids = NULL;
        size_t n = 0;
        g_assert_cmpint(dv_tokenizer_encode(f->tok, text, strlen(text), 1, &ids, &n, &e), ==, 0);
        g_assert_cmpint((int)n, ==, s.n);
        g_assert_cmpmem(ids, n * sizeof *ids, s.ids, n * sizeof *ids);
        free(ids);
        free(text);
        dv_seq_free(&s);
        conv_drop(&c);
    }
}

static void test_stage3_answers_only(fixture *f, gconstpointer data)
{
    (void)data;
    dv_conv c = conv2(TAG "What is the title?", "The report");
    dv_seq s;
    dv_err e = {0};
    g_assert_cmpint(dv_seq_from_conv(&f->o, &c, &s, &e), ==, 0);
    g_assert_cmpint(s.n_images, ==, 1);
    char *t = targets(f, &s);
    g_assert_cmpstr(t, ==, " The report" DV_PROMPT_EOS_DEFAULT);
    g_free(t);
    /* the image's tokens are all there, none of them a target */
    int img = 0;
    for (int i = 0; i < s.n; i++) {
        img += s.ids[i] == f->o.image_id;
        if (i + 1 < s.n && s.ids[i + 1] == f->o.image_id)
            g_assert_cmpint(s.labels[i], ==, DV_IGNORE_LABEL);
    }
    g_assert_cmpint(img, ==, N_IMG);
    g_assert_cmpint(s.labels[s.n - 1], ==, DV_IGNORE_LABEL);

    /* a different question (masked) leaves the targets as they were */
    dv_conv c2 = conv2(TAG "Which title?", "The report");
    dv_seq s2;
    g_assert_cmpint(dv_seq_from_conv(&f->o, &c2, &s2, &e), ==, 0);
    g_assert_cmpint(dv_seq_counted(&s2), ==, dv_seq_counted(&s));
    t = targets(f, &s2);
    g_assert_cmpstr(t, ==, " The report" DV_PROMPT_EOS_DEFAULT);
    g_free(t);

    /* without answer_eos (perplexity of an option), the eos is not counted */
    f->o.answer_eos = 0;
    dv_seq s3;
    g_assert_cmpint(dv_seq_from_conv(&f->o, &c, &s3, &e), ==, 0);
    g_assert_cmpint(dv_seq_counted(&s3), ==, dv_seq_counted(&s) - 1);
    dv_seq_free(&s);
    dv_seq_free(&s2);
    dv_seq_free(&s3);
    conv_drop(&c);
    conv_drop(&c2);
}

static void test_multi_turn(fixture *f, gconstpointer data)
{
    (void)data;
    dv_turn t[4] = { { "User", TAG "Describe it" }, { "Assistant", "a table" },
                     { "User", "and the date?" }, { "Assistant", "no date" } };
    char *img[1] = { "x" };
    dv_conv c = { .n_images = 1, .images = img, .n_turns = 4, .turns = t };
    dv_seq s;
    dv_err e = {0};
    g_assert_cmpint(dv_seq_from_conv(&f->o, &c, &s, &e), ==, 0);
    char *got = targets(f, &s);
    g_assert_cmpstr(got, ==, " a table" DV_PROMPT_EOS_DEFAULT " no date" DV_PROMPT_EOS_DEFAULT);
    g_free(got);
    dv_seq_free(&s);
}

static void test_stage12_language(fixture *f, gconstpointer data)
{
    (void)data;
    f->o.supervise = DV_SUPERVISE_LANGUAGE;
    f->o.system = "";
    dv_conv c = conv2(TAG "Read it.", "Hello world");
    dv_seq s;
    dv_err e = {0};
    g_assert_cmpint(dv_seq_from_conv(&f->o, &c, &s, &e), ==, 0);
    /* every text token after the first is a target; image positions are not */
    for (int i = 0; i + 1 < s.n; i++)
        g_assert_cmpint(s.labels[i], ==,
                        s.ids[i + 1] == f->o.image_id ? DV_IGNORE_LABEL : s.ids[i + 1]);
    char *got = targets(f, &s);
    g_assert_cmpstr(got, ==, "User: Read it.\n\nAssistant: Hello world" DV_PROMPT_EOS_DEFAULT);
    g_free(got);
    dv_seq_free(&s);

    g_assert_cmpint(dv_seq_from_text(&f->o, "plain text here", &s, &e), ==, 0);
    g_assert_cmpint(s.n_images, ==, 0);
    g_assert_cmpint(dv_seq_counted(&s), ==, s.n - 1);
    g_assert_cmpint(s.ids[0], ==, dv_tokenizer_bos(f->tok));
    g_assert_cmpint(s.ids[s.n - 1], ==, dv_tokenizer_eos(f->tok));
    dv_seq_free(&s);

    /* a cap cuts text, but refuses to cut images */
    f->o.max_tokens = 3;
    g_assert_cmpint(dv_seq_from_text(&f->o, "plain text here and more", &s, &e), ==, 0);
    g_assert_cmpint(s.n, ==, 3);
    g_assert_cmpint(s.labels[2], ==, DV_IGNORE_LABEL);
    dv_seq_free(&s);
    g_assert_cmpint(dv_seq_from_conv(&f->o, &c, &s, &e), ==, DOCVL_ELIMIT);
    conv_drop(&c);
}

static void test_tag_mismatch(fixture *f, gconstpointer data)
{
    (void)data;
    dv_conv c = conv2(TAG TAG "two?", "one");
    dv_seq s;
    dv_err e = {0};
    g_assert_cmpint(dv_seq_from_conv(&f->o, &c, &s, &e), ==, DOCVL_EFORMAT);
    g_assert_nonnull(strstr(e.msg, "2 " TAG));
    dv_err e2 = {0};
    g_assert_cmpint(dv_seq_from_text(&f->o, "a " TAG " b", &s, &e2), ==, DOCVL_EFORMAT);
    conv_drop(&c);
}

#define FX(path, fn) g_test_add(path, fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/data/manifest", test_manifest);
    g_test_add_func("/data/corpus", test_corpus);
    FX("/mask/same_tokens_as_prompt", test_same_tokens_as_prompt);
    FX("/mask/stage3_answers_only", test_stage3_answers_only);
    FX("/mask/multi_turn", test_multi_turn);
    FX("/mask/stage12_language", test_stage12_language);
    FX("/mask/tag_mismatch", test_tag_mismatch);
    return g_test_run();
}
