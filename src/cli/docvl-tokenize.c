/* docvl-tokenize: encodes JSON lines {"id", "text"} from stdin with a
 * tokenizer.json and writes {"id", "ids", "decoded"} lines, decoded the way
 * Rust tokenizers decodes (special tokens kept). Exit 0 ok, 1 error, 2 usage. */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "text/tok_jsonl.h"
#include "text/tokenizer.h"

#define MAX_LINE_BYTES ((size_t)256 << 20)

static void usage(FILE *f)
{
    fputs("usage: docvl-tokenize [--bos] TOKENIZER.json < cases.jsonl > out.jsonl\n"
          "\n"
          "Reads one JSON object per line with a string \"text\" and an \"id\" (string or\n"
          "integer), and writes {\"id\", \"ids\", \"decoded\"} per line: the token ids of the\n"
          "text and their decoding (special tokens kept, as Hugging Face tokenizers does).\n"
          "tokenizer_config.json beside TOKENIZER.json, if present, is read too.\n"
          "\n"
          "  --bos     add the special tokens the tokenizer adds to a single text\n"
          "            (BOS as tokenizer_config.json's add_bos_token says)\n"
          "  -h, --help  show this help\n",
          f);
}

/* Copies the "id" member (string or integer) to out as JSON. */
static int append_id(GString *out, const char *line, size_t len, long lineno)
{
    JsonParser *p = NULL;
    JsonNode *root = NULL;
    dv_err e = {0};
    char what[64];
    snprintf(what, sizeof what, "stdin line %ld", lineno);
    if (dv_json_parse(line, len, MAX_LINE_BYTES, what, &p, &root, &e)) {
        fprintf(stderr, "docvl-tokenize: %s\n", e.msg);
        return -1;
    }
    int rc = -1;
    JsonNode *id = JSON_NODE_HOLDS_OBJECT(root)
                       ? json_object_get_member(json_node_get_object(root), "id") : NULL;
    if (id && JSON_NODE_HOLDS_VALUE(id) && json_node_get_value_type(id) == G_TYPE_INT64) {
        g_string_append_printf(out, "%lld", (long long)json_node_get_int(id));
        rc = 0;
    } else if (id && JSON_NODE_HOLDS_VALUE(id) && json_node_get_value_type(id) == G_TYPE_STRING) {
        char *s = NULL;
        size_t n = 0;
        if (dv_jsonl_string(line, len, "id", &s, &n) == 1) {
            dv_json_append_string(out, s, n);
            rc = 0;
        }
        free(s);
    }
    if (rc)
        fprintf(stderr, "docvl-tokenize: %s: needs an object with an \"id\" string or integer\n",
                what);
    g_object_unref(p);
    return rc;
}

static int do_line(const dv_tokenizer *t, int bos, const char *line, size_t len, long lineno,
                   GString *out)
{
    g_string_assign(out, "{\"id\": ");
    if (append_id(out, line, len, lineno))
        return -1;
    char *text = NULL, *dec = NULL;
    size_t tlen = 0, dlen = 0, n = 0;
    int32_t *ids = NULL;
    if (dv_jsonl_string(line, len, "text", &text, &tlen) != 1) {
        fprintf(stderr, "docvl-tokenize: stdin line %ld: no \"text\" string\n", lineno);
        return -1;
    }
    dv_err e = {0};
    int rc = dv_tokenizer_encode(t, text, tlen, bos, &ids, &n, &e);
    if (rc == DOCVL_OK)
        rc = dv_tokenizer_decode_n(t, ids, n, 0, &dec, &dlen, &e);
    if (rc == DOCVL_OK) {
        g_string_append(out, ", \"ids\": [");
        for (size_t i = 0; i < n; i++)
            g_string_append_printf(out, i ? ", %d" : "%d", ids[i]);
        g_string_append(out, "], \"decoded\": ");
        dv_json_append_string(out, dec, dlen);
        g_string_append(out, "}\n");
    } else {
        fprintf(stderr, "docvl-tokenize: stdin line %ld: %s\n", lineno, e.msg);
    }
    free(text);
    free(ids);
    free(dec);
    return rc == DOCVL_OK ? 0 : -1;
}

static int run(const dv_tokenizer *t, int bos)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    GString *out = g_string_new(NULL);
    while (rc == 0 && (got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        rc = do_line(t, bos, line, len, lineno, out);
        if (rc == 0 && fwrite(out->str, 1, out->len, stdout) != out->len)
            rc = -1;
    }
    if (rc == 0 && (ferror(stdin) || fflush(stdout) != 0)) {
        fprintf(stderr, "docvl-tokenize: I/O error\n");
        rc = -1;
    }
    g_string_free(out, TRUE);
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int bos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--bos") == 0) {
            bos = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "docvl-tokenize: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "docvl-tokenize: one tokenizer file expected\n");
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    dv_tokenizer *t = NULL;
    dv_err e = {0};
    if (dv_tokenizer_open(path, &t, &e) != DOCVL_OK) {
        fprintf(stderr, "docvl-tokenize: %s\n", e.msg);
        return 1;
    }
    int rc = run(t, bos);
    dv_tokenizer_free(t);
    return rc ? 1 : 0;
}
