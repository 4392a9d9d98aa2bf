#include "text/prompt.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* Python's str.strip() on ASCII: the whitespace a prompt may carry. */
static int py_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

static void append_stripped(GString *s, const char *t)
{
    size_t a = 0, b = t ? strlen(t) : 0;
    while (a < b && py_space((unsigned char)t[a]))
        a++;
    while (b > a && py_space((unsigned char)t[b - 1]))
        b--;
    g_string_append_len(s, t + a, (gssize)(b - a));
}

static int is_blank(const char *t)
{
    for (; t && *t; t++)
        if (!py_space((unsigned char)*t))
            return 0;
    return 1;
}

int dv_prompt_format(const char *sft_format, const char *system, const dv_chat_msg *msgs, int n,
                     const char *eos_text, char **out, dv_err *e)
{
    *out = NULL;
    if (sft_format && strcmp(sft_format, "deepseek") != 0)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "sft_format \"%s\": only \"deepseek\" is supported",
                       sft_format);
    if (n < 0 || (n > 0 && !msgs))
        return dv_fail(e, DOCVL_EINVAL, "prompt with %d messages", n);
    const char *seps[2] = { "\n\n", eos_text ? eos_text : DV_PROMPT_EOS_DEFAULT };
    GString *s = g_string_new(NULL);
    if (system && *system) {
        g_string_append(s, system);
        g_string_append(s, seps[0]);
    }
    for (int i = 0; i < n; i++) {
        if (!msgs[i].role || !*msgs[i].role) {
            g_string_free(s, TRUE);
            return dv_fail(e, DOCVL_EINVAL, "prompt message %d has no role", i);
        }
        g_string_append(s, msgs[i].role);
        /* the reference tests the stripped content for emptiness */
        if (is_blank(msgs[i].content)) {
            g_string_append_c(s, ':');
            continue;
        }
        g_string_append(s, ": ");
        append_stripped(s, msgs[i].content);
        g_string_append(s, seps[i % 2]);
    }
    char *all = g_string_free(s, FALSE);
    GString *r = g_string_new(NULL);
    append_stripped(r, all);
    g_free(all);
    *out = strdup(r->str);
    g_string_free(r, TRUE);
    return *out ? DOCVL_OK : dv_fail(e, DOCVL_ENOMEM, "out of memory formatting the prompt");
}

const char *dv_prompt_answer(const char *generated)
{
    return generated[0] == ' ' ? generated + 1 : generated;
}

int dv_prompt_user(const char *content, char **out, dv_err *e)
{
    dv_chat_msg m[2] = { { "User", content }, { "Assistant", "" } };
    return dv_prompt_format("deepseek", DV_PROMPT_SYSTEM_DEFAULT, m, 2, NULL, out, e);
}

int dv_prompt_expand_images(const int32_t *ids, size_t n, int32_t image_id, int n_img_tokens,
                            int32_t **out, size_t *n_out, int *n_images, dv_err *e)
{
    *out = NULL;
    *n_out = 0;
    *n_images = 0;
    if (n_img_tokens < 1)
        return dv_fail(e, DOCVL_EINVAL, "%d tokens per image", n_img_tokens);
    size_t imgs = 0;
    for (size_t i = 0; i < n; i++)
        imgs += ids[i] == image_id;
    size_t total = n - imgs + imgs * (size_t)n_img_tokens;
    int32_t *o = malloc((total ? total : 1) * sizeof *o);
    if (!o)
        return dv_fail(e, DOCVL_ENOMEM, "out of memory expanding %zu image tokens", imgs);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int copies = ids[i] == image_id ? n_img_tokens : 1;
        for (int c = 0; c < copies; c++)
            o[k++] = ids[i];
    }
    *out = o;
    *n_out = total;
    *n_images = (int)imgs;
    return DOCVL_OK;
}

int dv_prompt_splice_images(const int32_t *ids, size_t n, int32_t image_id,
                            const float *const *images, int n_images, int n_img_tokens, int hidden,
                            float *embeds, dv_err *e)
{
    size_t positions = 0;
    for (size_t i = 0; i < n; i++)
        positions += ids[i] == image_id;
    size_t want = (size_t)(n_images > 0 ? n_images : 0) * (size_t)n_img_tokens;
    if (positions != want)
        return dv_fail(e, DOCVL_EINVAL,
                       "the prompt has %zu image token positions but %d image(s) x %d tokens = %zu "
                       "embeddings were given", positions, n_images, n_img_tokens, want);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] != image_id)
            continue;
        const float *src = images[j / (size_t)n_img_tokens] + (j % (size_t)n_img_tokens) * (size_t)hidden;
        memcpy(embeds + i * (size_t)hidden, src, (size_t)hidden * sizeof *embeds);
        j++;
    }
    return DOCVL_OK;
}
