/* The deepseek chat template against the goldens' sft_prompt, multi-turn and
 * stripping rules, image-token expansion and the splicing of several images. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "../model/lm_golden.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

static void test_golden_prompts(void)
{
    char **names = lm_case_names();
    int done = 0;
    for (char **nm = names; *nm; nm++) {
        lm_case c;
        lm_case_open(*nm, &c);
        JsonArray *conv = json_object_get_array_member(c.root, "conversation");
        int n = (int)json_array_get_length(conv);
        dv_chat_msg *msgs = g_new0(dv_chat_msg, n);
        for (int i = 0; i < n; i++) {
            JsonObject *m = json_array_get_object_element(conv, (guint)i);
            msgs[i].role = json_object_get_string_member(m, "role");
            msgs[i].content = json_object_get_string_member(m, "content");
        }
        char *p;
        dv_err e = { 0 };
        g_assert_cmpint(dv_prompt_format(c.cfg.proc.sft_format, DV_PROMPT_SYSTEM_DEFAULT, msgs, n, NULL,
                                         &p, &e), ==, DOCVL_OK);
        g_assert_cmpstr(p, ==, json_object_get_string_member(c.root, "sft_prompt"));
        g_free(msgs);

        /* prompt ids with the placeholder expanded are the golden input_ids */
        JsonArray *pid = json_object_get_array_member(c.root, "prompt_ids");
        size_t np = json_array_get_length(pid);
        int32_t *ids = g_new(int32_t, np);
        for (size_t i = 0; i < np; i++)
            ids[i] = (int32_t)json_array_get_int_element(pid, (guint)i);
        int32_t image_id = (int32_t)json_object_get_int_member(c.root, "image_token_id");

        /* the formatted prompt through the model's tokenizer gives those ids */
        char *tp = g_build_filename(c.dir, "tokenizer.json", NULL);
        dv_tokenizer *tok;
        g_assert_cmpint(dv_tokenizer_open(tp, &tok, &e), ==, DOCVL_OK);
        g_free(tp);
        int32_t *enc;
        size_t nenc;
        g_assert_cmpint(dv_tokenizer_encode(tok, p, strlen(p), c.cfg.proc.add_bos, &enc, &nenc, &e), ==,
                        DOCVL_OK);
        g_assert_cmpmem(enc, nenc * sizeof *enc, ids, np * sizeof *ids);
        g_assert_cmpint(dv_tokenizer_token_id(tok, c.cfg.proc.image_tag), ==, image_id);
        free(enc);
        dv_tokenizer_free(tok);
        free(p);
        int32_t *x;
        size_t nx;
        int n_img;
        g_assert_cmpint(dv_prompt_expand_images(ids, np, image_id, c.cfg.proc.num_image_tokens, &x, &nx,
                                                &n_img, &e), ==, DOCVL_OK);
        const dv_tensor *gi = lm_gold(&c, "input_ids");
        g_assert_nonnull(gi);
        g_assert_cmpint(n_img, ==, 1);
        g_assert_cmpuint(nx, ==, (size_t)gi->shape[0]);
        g_assert_cmpmem(x, nx * sizeof *x, gi->data, nx * sizeof *x);
        JsonArray *span = json_object_get_array_member(c.root, "image_token_span");
        size_t first = 0;
        while (x[first] != image_id)
            first++;
        g_assert_cmpuint(first, ==, (size_t)json_array_get_int_element(span, 0));
        free(x);
        g_free(ids);
        lm_case_close(&c);
        done++;
    }
    g_strfreev(names);
    g_assert_cmpint(done, >=, 1);
}

static void test_multi_turn(void)
{
    dv_chat_msg m[] = { { "User", "<image_placeholder>What is this?" },
                        { "Assistant", " A table. \n" },
                        { "User", "\tAnd the total?  " },
                        { "Assistant", "" } };
    char *p;
    dv_err e = { 0 };
    g_assert_cmpint(dv_prompt_format("deepseek", "SYS", m, 4, "</s>", &p, &e), ==, DOCVL_OK);
    g_assert_cmpstr(p, ==, "SYS\n\nUser: <image_placeholder>What is this?\n\nAssistant: A table.</s>"
                           "User: And the total?\n\nAssistant:");
    free(p);
    /* no system prompt; the default eos text; a closed last turn is stripped */
    g_assert_cmpint(dv_prompt_format("deepseek", "", m, 2, NULL, &p, &e), ==, DOCVL_OK);
    g_assert_cmpstr(p, ==, "User: <image_placeholder>What is this?\n\nAssistant: A table." DV_PROMPT_EOS_DEFAULT);
    free(p);
    /* a blank user message counts as empty */
    dv_chat_msg blank[] = { { "User", "  \n" } };
    g_assert_cmpint(dv_prompt_format(NULL, NULL, blank, 1, NULL, &p, &e), ==, DOCVL_OK);
    g_assert_cmpstr(p, ==, "User:");
    free(p);
    g_assert_cmpint(dv_prompt_user("Describe.", &p, &e), ==, DOCVL_OK);
    g_assert_true(g_str_has_prefix(p, DV_PROMPT_SYSTEM_DEFAULT "\n\nUser: Describe.\n\nAssistant:"));
    g_assert_true(g_str_has_suffix(p, "Assistant:"));
    free(p);
    g_assert_cmpint(dv_prompt_format("vicuna", NULL, m, 1, NULL, &p, &e), ==, DOCVL_EUNSUPPORTED);
    g_assert_null(p);
    dv_err_clear(&e);
    dv_chat_msg norole[] = { { NULL, "x" } };
    g_assert_cmpint(dv_prompt_format(NULL, NULL, norole, 1, NULL, &p, &e), ==, DOCVL_EINVAL);
}

static void test_multi_image_splice(void)
{
    enum { IMG = 9, NT = 3, H = 4 };
    int32_t ids[] = { 1, IMG, 5, 6, IMG, 7 };
    int32_t *x;
    size_t nx;
    int n_img;
    dv_err e = { 0 };
    g_assert_cmpint(dv_prompt_expand_images(ids, 6, IMG, NT, &x, &nx, &n_img, &e), ==, DOCVL_OK);
    g_assert_cmpint(n_img, ==, 2);
    g_assert_cmpuint(nx, ==, 6 - 2 + 2 * NT);
    const int32_t want[] = { 1, IMG, IMG, IMG, 5, 6, IMG, IMG, IMG, 7 };
    g_assert_cmpmem(x, nx * sizeof *x, want, sizeof want);

    float emb[10 * H], a[NT * H], b[NT * H];
    for (size_t i = 0; i < nx; i++)
        for (int d = 0; d < H; d++)
            emb[i * H + d] = -(float)x[i];          /* token rows: -id */
    for (int i = 0; i < NT * H; i++) {
        a[i] = 100.0f + (float)i;                    /* image 0 */
        b[i] = 200.0f + (float)i;                    /* image 1 */
    }
    const float *imgs[2] = { a, b };
    g_assert_cmpint(dv_prompt_splice_images(x, nx, IMG, imgs, 2, NT, H, emb, &e), ==, DOCVL_OK);
    g_assert_cmpfloat(emb[0], ==, -1.0f);
    g_assert_cmpmem(emb + 1 * H, NT * H * sizeof(float), a, sizeof a);
    g_assert_cmpfloat(emb[4 * H], ==, -5.0f);
    g_assert_cmpfloat(emb[5 * H + 3], ==, -6.0f);
    g_assert_cmpmem(emb + 6 * H, NT * H * sizeof(float), b, sizeof b);
    g_assert_cmpfloat(emb[9 * H], ==, -7.0f);

    /* one image for two placeholders is an error that says so */
    g_assert_cmpint(dv_prompt_splice_images(x, nx, IMG, imgs, 1, NT, H, emb, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "6 image token positions"));
    free(x);

    /* no placeholder: nothing to expand */
    g_assert_cmpint(dv_prompt_expand_images(ids, 1, IMG, NT, &x, &nx, &n_img, &e), ==, DOCVL_OK);
    g_assert_cmpint(n_img, ==, 0);
    g_assert_cmpuint(nx, ==, 1);
    free(x);
}

/* What a model trained on the template generates after the prompt is the
 * rest of the trained conversation: the answer after the separator's space. */
static void test_answer(void)
{
    dv_chat_msg ask[] = { { "User", "<image_placeholder>" }, { "Assistant", "" } };
    dv_chat_msg full[] = { { "User", "<image_placeholder>" }, { "Assistant", "two words" } };
    char *prompt = NULL, *trained = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_prompt_format(NULL, "", ask, 2, "</s>", &prompt, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_prompt_format(NULL, "", full, 2, "</s>", &trained, &e), ==, DOCVL_OK);
    g_assert_true(g_str_has_prefix(trained, prompt));
    g_assert_cmpstr(dv_prompt_answer(trained + strlen(prompt)), ==, "two words</s>");
    free(prompt);
    free(trained);
    /* only the template's one space: the answer's own text is kept */
    g_assert_cmpstr(dv_prompt_answer("  indented"), ==, " indented");
    g_assert_cmpstr(dv_prompt_answer("word"), ==, "word");
    g_assert_cmpstr(dv_prompt_answer(""), ==, "");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/prompt/answer", test_answer);
    g_test_add_func("/prompt/golden", test_golden_prompts);
    g_test_add_func("/prompt/multi-turn", test_multi_turn);
    g_test_add_func("/prompt/multi-image-splice", test_multi_image_splice);
    return g_test_run();
}
