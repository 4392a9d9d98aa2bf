#include "train/evalmc.h"

#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "train/pixels.h"

#define MAX_FILE ((size_t)1 << 30)

static void item_free(dv_mc_item *it)
{
    g_free(it->image);
    g_free(it->question);
    for (int i = 0; i < it->n_options; i++)
        g_free(it->options[i]);
    g_free(it->options);
}

void dv_mc_free(dv_mc_set *s)
{
    for (long i = 0; i < s->n; i++)
        item_free(&s->items[i]);
    g_free(s->items);
    memset(s, 0, sizeof *s);
}

static int read_options(JsonObject *o, const char *what, dv_mc_item *it, dv_err *e)
{
    JsonArray *a = NULL;
    int has = dv_json_arr(o, "options", what, &a, e);
    if (has < 0)
        return e->code;
    if (!has || json_array_get_length(a) < 2)
        return dv_fail(e, DOCVL_EFORMAT, "%s: needs \"options\" with at least two entries", what);
    it->n_options = (int)json_array_get_length(a);
    it->options = g_new0(char *, it->n_options);
    for (int i = 0; i < it->n_options; i++) {
        JsonNode *n = json_array_get_element(a, (guint)i);
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
            return dv_fail(e, DOCVL_EFORMAT, "%s: options[%d] is not a string", what, i);
        it->options[i] = g_strdup(json_node_get_string(n));
    }
    return DOCVL_OK;
}

/* The answer as an index: a number, a letter, or the option's text. */
static int read_answer(JsonObject *o, const char *what, dv_mc_item *it, dv_err *e)
{
    JsonNode *n = json_object_get_member(o, "answer");
    it->answer = -1;
    if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64)
        it->answer = (int)json_node_get_int(n);
    else if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        const char *s = json_node_get_string(n);
        for (int i = 0; i < it->n_options && it->answer < 0; i++)
            if (strcmp(s, it->options[i]) == 0)
                it->answer = i;
        if (it->answer < 0 && s[0] >= 'A' && s[0] <= 'Z' && !s[1])
            it->answer = s[0] - 'A';
    }
    if (it->answer < 0 || it->answer >= it->n_options)
        return dv_fail(e, DOCVL_EFORMAT, "%s: \"answer\" must be an option's index, letter or "
                       "text", what);
    return DOCVL_OK;
}

static int read_item(JsonObject *o, const char *base, const char *what, dv_mc_item *it,
                     dv_err *e)
{
    const char *image = NULL, *q = NULL;
    if (dv_json_str(o, "image", what, &image, e) < 0 || dv_json_str(o, "question", what, &q, e) < 0)
        return e->code;
    if (!q)
        return dv_fail(e, DOCVL_EFORMAT, "%s: no \"question\"", what);
    it->question = g_strdup(q);
    if (image && *image)
        it->image = g_path_is_absolute(image) || !base ? g_strdup(image)
                                                       : g_build_filename(base, image, NULL);
    if (read_options(o, what, it, e))
        return e->code;
    return read_answer(o, what, it, e);
}

static int parse_one(const char *line, size_t len, const char *base, const char *what,
                     dv_mc_item *it, dv_err *e)
{
    JsonParser *p = NULL;
    JsonNode *root = NULL;
    if (dv_json_parse(line, len, MAX_FILE, what, &p, &root, e))
        return e->code;
    int rc = JSON_NODE_HOLDS_OBJECT(root) ? read_item(json_node_get_object(root), base, what, it, e)
                                          : dv_fail(e, DOCVL_EFORMAT, "%s: not an object", what);
    g_object_unref(p);
    return rc;
}

int dv_mc_parse(const char *text, size_t len, const char *base_dir, const char *what,
                dv_mc_set *s, dv_err *e)
{
    memset(s, 0, sizeof *s);
    GArray *items = g_array_new(FALSE, TRUE, sizeof(dv_mc_item));
    int rc = DOCVL_OK;
    long lineno = 0;
    for (size_t at = 0; at < len && !rc;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        lineno++;
        if (strspn(text + at, " \t\r") < end - at) {
            char where[512];
            snprintf(where, sizeof where, "%s line %ld", what, lineno);
            dv_mc_item it = {0};
            rc = parse_one(text + at, end - at, base_dir, where, &it, e);
            if (rc)
                item_free(&it);
            else
                g_array_append_val(items, it);
        }
        at = end + 1;
    }
    s->n = (long)items->len;
    s->items = (dv_mc_item *)(void *)g_array_free(items, FALSE);
    if (rc)
        dv_mc_free(s);
    return rc;
}

int dv_mc_load(const char *path, dv_mc_set *s, dv_err *e)
{
    char *text = NULL;
    size_t len = 0;
    memset(s, 0, sizeof *s);
    if (dv_read_file(path, MAX_FILE, &text, &len, e))
        return e->code;
    char *base = g_path_get_dirname(path);
    int rc = dv_mc_parse(text, len, base, path, s, e);
    g_free(base);
    free(text);
    return rc;
}

/* Mean nll per option token of one option after the question. */
static int option_nll(dv_tmodel *m, const dv_seq_opts *so, const dv_mc_item *it, int k,
                      const float *pixels, double *out, const dv_ctx *ctx, dv_err *e)
{
    char *user = g_strconcat(it->image ? so->image_tag : "", it->question, NULL);
    dv_turn turns[2] = { { "User", user }, { "Assistant", it->options[k] } };
    char *imgs[1] = { it->image };
    dv_conv c = { .n_images = it->image ? 1 : 0, .images = imgs, .n_turns = 2, .turns = turns };
    dv_seq seq;
    int rc = dv_seq_from_conv(so, &c, &seq, e);
    g_free(user);
    if (rc)
        return rc;
    dv_tsample ts = { .n_images = seq.n_images, .pixels = pixels, .n_tokens = seq.n,
                      .ids = seq.ids, .labels = seq.labels };
    double nll = 0;
    int counted = 0;
    rc = dv_tmodel_nll(m, &ts, &nll, &counted, NULL, ctx, e);
    dv_seq_free(&seq);
    if (!rc && counted == 0)
        rc = dv_fail(e, DOCVL_EINVAL, "option \"%s\" has no tokens", it->options[k]);
    *out = rc ? INFINITY : nll / counted;
    return rc;
}

static int score_item(dv_tmodel *m, const dv_seq_opts *so, const dv_mc_item *it, int *pick,
                      FILE *report, const dv_ctx *ctx, dv_err *e)
{
    float *pixels = NULL;
    if (it->image && dv_pixels_load(it->image, &m->cfg, &pixels, e))
        return e->code;
    double best = INFINITY;
    *pick = -1;
    int rc = DOCVL_OK;
    for (int k = 0; k < it->n_options && !rc; k++) {
        double nll;
        rc = option_nll(m, so, it, k, pixels, &nll, ctx, e);
        if (!rc && (nll < best || *pick < 0)) {
            best = nll;
            *pick = k;
        }
        if (!rc && report)
            fprintf(report, "  option %d \"%s\": perplexity %.4g\n", k, it->options[k], exp(nll));
    }
    free(pixels);
    return rc;
}

int dv_evalmc(dv_tmodel *m, const dv_seq_opts *so, const dv_mc_set *s, dv_mc_result *r,
              FILE *report, const dv_ctx *ctx, dv_err *e)
{
    memset(r, 0, sizeof *r);
    dv_seq_opts o = *so;
    o.supervise = DV_SUPERVISE_ANSWERS;
    o.answer_eos = 0;   /* perplexity of the option's own tokens */
    for (long i = 0; i < s->n; i++) {
        int pick = -1;
        if (report)
            fprintf(report, "item %ld: %s\n", i + 1, s->items[i].question);
        if (score_item(m, &o, &s->items[i], &pick, report, ctx, e))
            return dv_wrap(e, "multiple-choice item %ld", i + 1);
        r->correct += pick == s->items[i].answer;
        r->n++;
        if (report)
            fprintf(report, "  picked %d, answer %d\n", pick, s->items[i].answer);
    }
    r->accuracy = r->n ? (double)r->correct / (double)r->n : 0.0;
    return DOCVL_OK;
}
