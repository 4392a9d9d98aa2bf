/* Token ids and labels of one training sample: the deepseek chat format
 * (text/prompt.h) built segment by segment, so each token knows whether
 * it is supervised, images expanded to their token count, and labels shifted
 * for next-token prediction (-100 where nothing is learnt). */
#ifndef DV_MASK_H
#define DV_MASK_H

#include <stdint.h>

#include "base/error.h"
#include "text/tokenizer.h"
#include "train/data.h"
#include "train/stages.h"

typedef struct dv_seq_opts {
    const dv_tokenizer *tok;
    const char *image_tag;     /* "<image_placeholder>" */
    int32_t image_id;          /* its token id */
    int n_img_tokens;          /* 576 */
    int add_bos;
    const char *system;        /* NULL: DeepSeek-VL's default; "": none */
    dv_supervise supervise;
    int answer_eos;            /* DV_SUPERVISE_ANSWERS: also the eos after each answer */
    int max_tokens;            /* longer samples are cut (text) or refused (images); 0: no cap */
} dv_seq_opts;

typedef struct dv_seq {
    int n;
    int32_t *ids;
    int32_t *labels;           /* labels[i]: the token after i, or DV_IGNORE_LABEL */
    int n_images;
} dv_seq;

/* A conversation as the chat template lays it out, each assistant turn
 * closed by eos. Its placeholders must match its images in number. */
int dv_seq_from_conv(const dv_seq_opts *o, const dv_conv *c, dv_seq *s, dv_err *e);
/* A language-only sample: [BOS] text EOS, every token supervised. */
int dv_seq_from_text(const dv_seq_opts *o, const char *text, dv_seq *s, dv_err *e);
void dv_seq_free(dv_seq *s);

/* Tokens whose labels count. */
int dv_seq_counted(const dv_seq *s);

#endif
