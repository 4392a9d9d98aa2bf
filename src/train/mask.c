#include "train/mask.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "text/prompt.h"
#include "train/tmodel.h"

/* Tokens with a flag each: does the model learn to predict this token. */
typedef struct tokbuf {
    GArray *ids;     /* int32_t */
    GArray *sup;     /* uint8_t */
} tokbuf;

static void tb_init(tokbuf *b)
{
    b->ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
    b->sup = g_array_new(FALSE, FALSE, sizeof(uint8_t));
}

static void tb_free(tokbuf *b)
{
    g_array_free(b->ids, TRUE);
    g_array_free(b->sup, TRUE);
}

static void tb_push(tokbuf *b, int32_t id, uint8_t sup)
{
    g_array_append_val(b->ids, id);
    g_array_append_val(b->sup, sup);
}

/* Encodes one piece of the template. The pieces are cut where the
 * pre-tokenizer cuts anyway (before ": " content, around special tokens), so
 * their tokens are the tokens of the whole text. */
static int tb_text(tokbuf *b, const dv_seq_opts *o, const char *text, int bos, uint8_t sup,
                   dv_err *e)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (dv_tokenizer_encode(o->tok, text, strlen(text), bos, &ids, &n, e))
        return e->code;
    for (size_t i = 0; i < n; i++)
        tb_push(b, ids[i], sup);
    free(ids);
    return DOCVL_OK;
}

static char *stripped(const char *s)
{
    return g_strstrip(g_strdup(s ? s : ""));
}

static int lay_out_turn(tokbuf *b, const dv_seq_opts *o, const dv_turn *t, int assistant,
                        dv_err *e)
{
    char *content = stripped(t->content);
    int rc;
    if (!assistant) {
        char *s = g_strconcat(t->role, ": ", content, "\n\n", NULL);
        rc = tb_text(b, o, s, 0, 0, e);
        g_free(s);
    } else {
        int answers = o->supervise == DV_SUPERVISE_ANSWERS;
        char *head = g_strconcat(t->role, ":", NULL);
        char *body = g_strconcat(" ", content, NULL);
        rc = tb_text(b, o, head, 0, 0, e);
        if (!rc)
            rc = tb_text(b, o, body, 0, 1, e);
        int32_t eos = dv_tokenizer_eos(o->tok);
        if (!rc && eos < 0)
            rc = dv_fail(e, DOCVL_EMODEL, "the tokenizer has no eos token to end an answer");
        if (!rc)
            tb_push(b, eos, (uint8_t)(!answers || o->answer_eos));
        g_free(head);
        g_free(body);
    }
    g_free(content);
    return rc;
}

static int lay_out_conv(tokbuf *b, const dv_seq_opts *o, const dv_conv *c, dv_err *e)
{
    const char *system = o->system ? o->system : DV_PROMPT_SYSTEM_DEFAULT;
    int bos = o->add_bos;
    if (*system) {
        char *s = g_strconcat(system, "\n\n", NULL);
        int rc = tb_text(b, o, s, bos, 0, e);
        g_free(s);
        if (rc)
            return rc;
        bos = 0;
    }
    for (int i = 0; i < c->n_turns; i++) {
        if (bos && tb_text(b, o, "", 1, 0, e))
            return e->code;
        bos = 0;
        if (lay_out_turn(b, o, &c->turns[i], i % 2 == 1, e))
            return e->code;
    }
    return DOCVL_OK;
}

/* Expands each image token to n_img_tokens copies, never supervised: the
 * model does not predict pixels. */
static int finish(const tokbuf *b, const dv_seq_opts *o, int language_all, dv_seq *s, dv_err *e)
{
    const int32_t *ids = (const int32_t *)(void *)b->ids->data;
    const uint8_t *sup = (const uint8_t *)b->sup->data;
    size_t total = 0;
    int images = 0;
    for (guint i = 0; i < b->ids->len; i++) {
        int img = ids[i] == o->image_id;
        images += img;
        total += img ? (size_t)o->n_img_tokens : 1;
    }
    if (o->max_tokens > 0 && total > (size_t)o->max_tokens && images > 0)
        return dv_fail(e, DOCVL_ELIMIT, "sample of %zu tokens with %d image(s) is longer than "
                       "the %d-token limit", total, images, o->max_tokens);
    if (o->max_tokens > 0 && total > (size_t)o->max_tokens)
        total = (size_t)o->max_tokens;
    memset(s, 0, sizeof *s);
    s->ids = malloc((total + 1) * sizeof *s->ids);
    s->labels = malloc((total + 1) * sizeof *s->labels);
    uint8_t *flag = malloc(total + 1);
    if (!s->ids || !s->labels || !flag) {
        free(flag);
        dv_seq_free(s);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for a %zu-token sample", total);
    }
    size_t k = 0;
    for (guint i = 0; i < b->ids->len && k < total; i++) {
        int img = ids[i] == o->image_id;
        for (int c = 0; c < (img ? o->n_img_tokens : 1) && k < total; c++, k++) {
            s->ids[k] = ids[i];
            flag[k] = (uint8_t)(!img && (language_all || sup[i]));
        }
    }
    for (size_t i = 0; i < total; i++)
        s->labels[i] = i + 1 < total && flag[i + 1] ? s->ids[i + 1] : DV_IGNORE_LABEL;
    free(flag);
    s->n = (int)total;
    s->n_images = images;
    return DOCVL_OK;
}

static int count_tags(const dv_conv *c, const char *tag)
{
    int n = 0;
    for (int i = 0; i < c->n_turns; i++)
        for (const char *p = c->turns[i].content; (p = strstr(p, tag)); p += strlen(tag))
            n++;
    return n;
}

int dv_seq_from_conv(const dv_seq_opts *o, const dv_conv *c, dv_seq *s, dv_err *e)
{
    memset(s, 0, sizeof *s);
    int tags = count_tags(c, o->image_tag);
    if (tags != c->n_images)
        return dv_fail(e, DOCVL_EFORMAT, "the conversation has %d %s tag(s) but %d image(s)",
                       tags, o->image_tag, c->n_images);
    tokbuf b;
    tb_init(&b);
    int rc = lay_out_conv(&b, o, c, e);
    if (!rc)
        rc = finish(&b, o, o->supervise == DV_SUPERVISE_LANGUAGE, s, e);
    tb_free(&b);
    if (!rc && s->n_images != c->n_images)
        rc = dv_fail(e, DOCVL_EMODEL, "%s did not encode to the single image token %d",
                     o->image_tag, (int)o->image_id);
    if (rc)
        dv_seq_free(s);
    return rc;
}

int dv_seq_from_text(const dv_seq_opts *o, const char *text, dv_seq *s, dv_err *e)
{
    memset(s, 0, sizeof *s);
    /* the tag would become image positions with no image behind them */
    if (strstr(text, o->image_tag))
        return dv_fail(e, DOCVL_EFORMAT, "a language-only sample holds the image tag %s",
                       o->image_tag);
    int32_t eos = dv_tokenizer_eos(o->tok);
    if (eos < 0)
        return dv_fail(e, DOCVL_EMODEL, "the tokenizer has no eos token to end a text");
    tokbuf b;
    tb_init(&b);
    int rc = tb_text(&b, o, text, o->add_bos, 1, e);
    if (!rc) {
        tb_push(&b, eos, 1);
        rc = finish(&b, o, 1, s, e);
    }
    tb_free(&b);
    return rc;
}

void dv_seq_free(dv_seq *s)
{
    free(s->ids);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

int dv_seq_counted(const dv_seq *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->labels[i] != DV_IGNORE_LABEL;
    return n;
}
