/* docvl-ocr-eval: how well a model reads, in the figures OCR is judged by.
 *
 *   docvl-ocr-eval text REF.txt HYP.txt
 *   docvl-ocr-eval lines --model DIR --manifest M.jsonl [--limit N]
 *                        [--threads N] [--json] [-v]
 *
 * text: CER and WER of a transcription against the reference (whitespace
 * folded). lines: reads every line image of a docvl-render --lines manifest
 * with the model (greedy, the manifest's own instruction) and prints CER,
 * WER and exact lines, overall and by the render record's text kind and
 * font; -v prints each wrong line. Exit 0 ok, 1 error, 2 usage. */
#include <getopt.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "image/decode.h"
#include "model/reader.h"
#include "ocreval/cer.h"
#include "train/data.h"

#define EXIT_USAGE 2
#define MAX_LINE_TOKENS 160
#define MAX_IMAGE_BYTES (64u << 20)

typedef struct tally {
    dv_cer cer;
    long lines, exact;
} tally;

static void tally_print(FILE *f, const char *what, const tally *t, int json)
{
    double cer = dv_cer_rate(t->cer.char_errors, t->cer.chars);
    double wer = dv_cer_rate(t->cer.word_errors, t->cer.words);
    if (json)
        fprintf(f, "\"%s\": {\"lines\": %ld, \"cer\": %.5f, \"wer\": %.5f, \"exact\": %.5f}", what,
                t->lines, cer, wer, t->lines ? (double)t->exact / (double)t->lines : 0);
    else
        fprintf(f, "%-24s %6ld lines  CER %6.2f%%  WER %6.2f%%  exact %6.2f%%\n", what, t->lines,
                100 * cer, 100 * wer, t->lines ? 100.0 * (double)t->exact / (double)t->lines : 0);
}

static int cmd_text(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "docvl-ocr-eval: text needs REF.txt HYP.txt\n");
        return EXIT_USAGE;
    }
    char *ref = NULL, *hyp = NULL;
    GError *ge = NULL;
    if (!g_file_get_contents(argv[1], &ref, NULL, &ge) ||
        !g_file_get_contents(argv[2], &hyp, NULL, &ge)) {
        fprintf(stderr, "docvl-ocr-eval: %s\n", ge->message);
        g_error_free(ge);
        g_free(ref);
        return 1;
    }
    tally t = { .lines = 1 };
    int rc = dv_cer_add(ref, hyp, &t.cer);
    g_free(ref);
    g_free(hyp);
    if (rc) {
        fprintf(stderr, "docvl-ocr-eval: out of memory\n");
        return 1;
    }
    printf("CER %.4f (%ld/%ld) WER %.4f (%ld/%ld)\n", dv_cer_rate(t.cer.char_errors, t.cer.chars),
           t.cer.char_errors, t.cer.chars, dv_cer_rate(t.cer.word_errors, t.cer.words),
           t.cer.word_errors, t.cer.words);
    return 0;
}

typedef struct line_args {
    const char *model, *manifest;
    long limit;
    int threads, json, verbose;
} line_args;

/* The render record's kind and font of each manifest line (NULL when the
 * manifest has none), in the order dv_manifest_load keeps them: one pass
 * over the file for both. */
static void render_fields(const char *path, GPtrArray *kinds, GPtrArray *fonts)
{
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return;
    char **lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!*g_strstrip(*l))
            continue;
        JsonParser *p = json_parser_new();
        JsonObject *r = NULL;
        if (json_parser_load_from_data(p, *l, -1, NULL)) {
            JsonNode *root = json_parser_get_root(p);
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
            r = o && json_object_has_member(o, "render")
                    ? json_object_get_object_member(o, "render") : NULL;
        }
        g_ptr_array_add(kinds, r && json_object_has_member(r, "kind")
                                   ? g_strdup(json_object_get_string_member(r, "kind")) : NULL);
        g_ptr_array_add(fonts, r && json_object_has_member(r, "font")
                                   ? g_strdup(json_object_get_string_member(r, "font")) : NULL);
        g_object_unref(p);
    }
    g_strfreev(lines);
    g_free(text);
}

static void tally_add(tally *t, const tally *one)
{
    t->lines += one->lines;
    t->exact += one->exact;
    t->cer.char_errors += one->cer.char_errors;
    t->cer.chars += one->cer.chars;
    t->cer.word_errors += one->cer.word_errors;
    t->cer.words += one->cer.words;
}

static tally *group(GHashTable *groups, const char *key)
{
    tally *t = g_hash_table_lookup(groups, key);
    if (!t) {
        t = g_new0(tally, 1);
        g_hash_table_insert(groups, g_strdup(key), t);
    }
    return t;
}

/* One line image through the model: *text malloc'ed. */
static int read_line(dv_reader *r, const dv_conv *c, char **text, dv_err *e)
{
    const char *tag = "<image_placeholder>";
    const char *user = c->turns[0].content;
    const char *instr = g_str_has_prefix(user, tag) ? user + strlen(tag) : user;
    char *bytes = NULL;
    size_t len = 0;
    if (dv_read_file(c->images[0], MAX_IMAGE_BYTES, &bytes, &len, e))
        return e->code;
    dv_image im = {0};
    int rc = dv_image_decode((const uint8_t *)bytes, len, 0, 0, &im, e);
    free(bytes);
    if (rc)
        return dv_wrap(e, "%s", c->images[0]);
    dv_tile_opts o = { .instruction = instr, .max_tokens = MAX_LINE_TOKENS };
    dv_tile_result res = {0};
    rc = dv_reader_read(r, &im, &o, &res, e);
    dv_image_free(&im);
    if (rc)
        return dv_wrap(e, "%s", c->images[0]);
    *text = res.text;
    return DOCVL_OK;
}

static void print_groups(const char *title, GHashTable *groups, int json)
{
    GList *keys = g_list_sort(g_hash_table_get_keys(groups), (GCompareFunc)strcmp);
    if (json)
        printf(", \"%s\": {", title);
    for (GList *k = keys; k; k = k->next) {
        if (json && k != keys)
            printf(", ");
        tally_print(stdout, k->data, g_hash_table_lookup(groups, k->data), json);
    }
    if (json)
        printf("}");
    g_list_free(keys);
}

static int eval_lines(const line_args *a, dv_reader *r, const dv_manifest *m, dv_err *e)
{
    GPtrArray *kinds = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *fonts = g_ptr_array_new_with_free_func(g_free);
    render_fields(a->manifest, kinds, fonts);
    GHashTable *by_kind = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GHashTable *by_font = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    tally all = {0};
    int rc = DOCVL_OK;
    long n = a->limit > 0 && a->limit < m->n ? a->limit : m->n;
    for (long i = 0; i < n && !rc; i++) {
        const dv_conv *c = &m->convs[i];
        if (c->n_images != 1 || c->n_turns < 2) {
            rc = dv_fail(e, DOCVL_EINVAL, "%s: line %ld is not one image and an answer",
                         a->manifest, i + 1);
            break;
        }
        char *hyp = NULL;
        if ((rc = read_line(r, c, &hyp, e)))
            break;
        const char *ref = c->turns[1].content;
        tally one = { .lines = 1, .exact = strcmp(ref, hyp) == 0 };
        if (dv_cer_add(ref, hyp, &one.cer)) {
            free(hyp);
            rc = dv_fail(e, DOCVL_ENOMEM, "out of memory");
            break;
        }
        if (a->verbose && !one.exact)
            fprintf(stderr, "%s\n  want: %s\n  read: %s\n", c->images[0], ref, hyp);
        free(hyp);
        const char *kind = (guint)i < kinds->len && kinds->pdata[i] ? kinds->pdata[i] : "-";
        const char *font = (guint)i < fonts->len && fonts->pdata[i] ? fonts->pdata[i] : "-";
        tally_add(&all, &one);
        tally_add(group(by_kind, kind), &one);
        tally_add(group(by_font, font), &one);
        if (!a->json && !a->verbose && isatty(2))
            fprintf(stderr, "\r%ld/%ld lines", i + 1, n);
    }
    if (!a->json && !a->verbose && isatty(2))
        fprintf(stderr, "\n");
    if (!rc) {
        if (a->json)
            printf("{");
        tally_print(stdout, "all", &all, a->json);
        print_groups("kind", by_kind, a->json);
        print_groups("font", by_font, a->json);
        if (a->json)
            printf("}\n");
    }
    g_hash_table_destroy(by_kind);
    g_hash_table_destroy(by_font);
    g_ptr_array_free(kinds, TRUE);
    g_ptr_array_free(fonts, TRUE);
    return rc;
}

static int cmd_lines(int argc, char **argv)
{
    static const struct option opts[] = {
        { "model", 1, 0, 'm' }, { "manifest", 1, 0, 'f' }, { "limit", 1, 0, 'n' },
        { "threads", 1, 0, 't' }, { "json", 0, 0, 'j' }, { 0, 0, 0, 0 },
    };
    line_args a = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a.model = optarg; break;
        case 'f': a.manifest = optarg; break;
        case 'n': a.limit = atol(optarg); break;
        case 't': a.threads = atoi(optarg); break;
        case 'j': a.json = 1; break;
        case 'v': a.verbose = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if (!a.model || !a.manifest || optind < argc || a.limit < 0 || a.threads < 0) {
        fprintf(stderr, "docvl-ocr-eval: lines needs --model DIR --manifest M.jsonl\n");
        return EXIT_USAGE;
    }
    dv_err e = {0};
    dv_manifest m = {0};
    dv_reader *r = NULL;
    int rc = dv_manifest_load(a.manifest, &m, &e);
    if (!rc)
        rc = dv_reader_open(a.model, a.threads, 0, NULL, &r, &e);
    if (!rc)
        rc = eval_lines(&a, r, &m, &e);
    dv_reader_free(r);
    dv_manifest_free(&m);
    if (rc) {
        fprintf(stderr, "docvl-ocr-eval: %s\n", e.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "text") == 0)
        return cmd_text(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "lines") == 0)
        return cmd_lines(argc - 1, argv + 1);
    fprintf(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
            "usage: docvl-ocr-eval text REF.txt HYP.txt\n"
            "       docvl-ocr-eval lines --model DIR --manifest M.jsonl [--limit N]\n"
            "                            [--threads N] [--json] [-v]\n");
    return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : EXIT_USAGE;
}
