/* The chat prompt of DeepSeek-VL (sft_format "deepseek") and the splicing of
 * image embeddings into the token sequence. */
#ifndef DV_PROMPT_H
#define DV_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* The system prompt DeepSeek-VL's chat processor uses by default. */
#define DV_PROMPT_SYSTEM_DEFAULT                                                                   \
    "You are a helpful language and vision assistant. You are able to understand the visual "     \
    "content that the user provides, and assist the user with a variety of tasks using natural "  \
    "language."

/* The text that closes an assistant turn in the deepseek template (the
 * tokenizer's eos token). */
#define DV_PROMPT_EOS_DEFAULT "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

typedef struct dv_chat_msg {
    const char *role;      /* "User" / "Assistant" */
    const char *content;   /* may hold image tags; "" or NULL: the turn to generate */
} dv_chat_msg;

/* The "deepseek" template: system + "\n\n"; then, for message i,
 * role + ": " + content + ("\n\n" if i is even, eos_text if odd), or just
 * role + ":" when the content is empty. Contents and the result are stripped
 * of surrounding whitespace (as the reference does). system NULL or "": no
 * system part. eos_text NULL: DV_PROMPT_EOS_DEFAULT. *out is malloc'ed. */
int dv_prompt_format(const char *sft_format, const char *system, const dv_chat_msg *msgs, int n,
                     const char *eos_text, char **out, dv_err *e);

/* The answer in what the model generated after the prompt: the template
 * ends the prompt at "Assistant:" and writes an answer after ": ", so a
 * model trained on it begins with that space, which is no part of the
 * answer. Returns generated past one leading space. */
const char *dv_prompt_answer(const char *generated);

/* One user turn and the assistant turn to generate, default system prompt. */
int dv_prompt_user(const char *content, char **out, dv_err *e);

/* Each image_id in ids becomes n_img_tokens copies. *out malloc'ed;
 * *n_images counts the placeholders. */
int dv_prompt_expand_images(const int32_t *ids, size_t n, int32_t image_id, int n_img_tokens,
                            int32_t **out, size_t *n_out, int *n_images, dv_err *e);

/* embeds [n, hidden] holds the token embeddings of ids; the rows at image_id
 * positions are overwritten, in order, by the images' rows: images[k] is
 * [n_img_tokens, hidden], and the k-th group of n_img_tokens image positions
 * takes it. The count of image positions must be n_images * n_img_tokens. */
int dv_prompt_splice_images(const int32_t *ids, size_t n, int32_t image_id,
                            const float *const *images, int n_images, int n_img_tokens, int hidden,
                            float *embeds, dv_err *e);

#endif
