/* docvl-render: draws document tiles from a text source for OCR training
 * pairs: tile-NNNNN.png with its exact transcription (.txt) and Markdown
 * (.md), and optionally a training manifest. Exit 0 ok, 1 error, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "text/tok_jsonl.h"
#include "train/render.h"

#define EXIT_USAGE 2
#define DEFAULT_PROMPT "Transcribe the text in the image."

static void usage(FILE *f)
{
    fputs("usage: docvl-render --text CORPUS.txt --out DIR [--count N] [--seed N]\n"
          "                    [--size WxH] [--font-px MIN:MAX] [--plain] [--scan X]\n"
          "                    [--max-blocks N] [--max-lines N]\n"
          "                    [--manifest [--prompt TEXT] [--markdown]]\n"
          "\n"
          "Draws N document tiles (default 10, 768x768, font 14:26 px) in the system's\n"
          "serif, sans and mono fonts with headings, paragraphs, lists and ruled tables,\n"
          "in one or two columns, with a light scan look (--scan 0 to 1, default 1), from\n"
          "the words of CORPUS.txt. Writes DIR/tile-NNNNN.png, .txt (the drawn text in\n"
          "reading order) and .md (Markdown, tables as GFM). The same --seed gives the same\n"
          "bytes. --plain: paragraphs only; --max-lines caps a paragraph. --manifest also\n"
          "writes DIR/manifest.jsonl for docvl-train (the user asks --prompt, the\n"
          "assistant answers the transcription, or the Markdown with --markdown).\n",
          f);
}

typedef struct args {
    const char *text, *out, *prompt;
    long count, seed;
    int manifest, markdown;
    dv_render_opts r;
} args;

static const struct option OPTS[] = {
    { "text", 1, 0, 't' }, { "out", 1, 0, 'o' }, { "count", 1, 0, 'n' }, { "seed", 1, 0, 's' },
    { "size", 1, 0, 'S' }, { "font-px", 1, 0, 'F' }, { "plain", 0, 0, 'P' },
    { "scan", 1, 0, 'x' }, { "max-blocks", 1, 0, 'b' }, { "max-lines", 1, 0, 'l' },
    { "manifest", 0, 0, 'm' },
    { "prompt", 1, 0, 'p' }, { "markdown", 0, 0, 'M' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
};

static int bad(const char *flag, const char *v)
{
    fprintf(stderr, "docvl-render: %s \"%s\" is not valid (see --help)\n", flag, v);
    return -1;
}

/* A whole number >= lo that fits an int. */
static int int_opt(const char *v, const char *flag, long lo, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > 1 << 30)
        return bad(flag, v);
    *out = x;
    return 0;
}

static int num_opt(args *a, int c, const char *v)
{
    long x = 0;
    char *end;
    int rc;
    switch (c) {
    case 'n': return int_opt(v, "--count", 1, &a->count);
    case 's': return int_opt(v, "--seed", 0, &a->seed);
    case 'b': rc = int_opt(v, "--max-blocks", 0, &x); a->r.max_blocks = (int)x; return rc;
    case 'l': rc = int_opt(v, "--max-lines", 0, &x); a->r.max_lines = (int)x; return rc;
    case 'x':
        errno = 0;
        a->r.scan = strtod(v, &end);
        return errno || end == v || *end || !(a->r.scan >= 0) ? bad("--scan", v) : 0;
    case 'S': return sscanf(v, "%dx%d", &a->r.width, &a->r.height) == 2 ? 0 : bad("--size", v);
    case 'F':
        return sscanf(v, "%lf:%lf", &a->r.min_px, &a->r.max_px) == 2 ? 0 : bad("--font-px", v);
    default: return 1;
    }
}

static int set_opt(args *a, int c, const char *v)
{
    int r = num_opt(a, c, v);
    if (r <= 0)
        return r;
    switch (c) {
    case 't': a->text = v; return 0;
    case 'o': a->out = v; return 0;
    case 'p': a->prompt = v; return 0;
    case 'P': a->r.plain = 1; return 0;
    case 'm': a->manifest = 1; return 0;
    case 'M': a->markdown = 1; return 0;
    default: return -1;
    }
}

static void manifest_line(GString *m, const args *a, const char *png, const dv_rendered *r)
{
    const char *answer = a->markdown ? r->markdown : r->text;
    char *user = g_strconcat("<image_placeholder>", a->prompt, NULL);
    g_string_append(m, "{\"images\": [");
    dv_json_append_string(m, png, strlen(png));
    g_string_append(m, "], \"conversation\": [{\"role\": \"User\", \"content\": ");
    dv_json_append_string(m, user, strlen(user));
    g_string_append(m, "}, {\"role\": \"Assistant\", \"content\": ");
    dv_json_append_string(m, answer, strlen(answer));
    g_string_append(m, "}]}\n");
    g_free(user);
}

static int render_all(const args *a, const dv_render_words *w, GString *manifest, dv_err *e)
{
    for (long i = 0; i < a->count; i++) {
        dv_rendered r;
        /* tile i's seed: the run's seed spread by a large odd constant */
        uint64_t seed = (uint64_t)a->seed * 0x9e3779b97f4a7c15ull + (uint64_t)i;
        if (dv_render_tile(&a->r, w, seed, &r, e))
            return e->code;
        char name[32];
        snprintf(name, sizeof name, "tile-%05ld", i);
        char *stem = g_build_filename(a->out, name, NULL);
        int rc = dv_rendered_write(&r, stem, e);
        char *png = g_strconcat(name, ".png", NULL);
        if (!rc && manifest)
            manifest_line(manifest, a, png, &r);
        g_free(png);
        g_free(stem);
        dv_rendered_free(&r);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}

static int run(const args *a, dv_err *e)
{
    char *text = NULL;
    size_t len = 0;
    if (dv_read_file(a->text, (size_t)1 << 30, &text, &len, e))
        return e->code;
    dv_render_words w;
    int rc = dv_render_words_from_text(text, &w, e);
    free(text);
    if (rc)
        return dv_wrap(e, "%s", a->text);
    if (g_mkdir_with_parents(a->out, 0755) != 0)
        rc = dv_fail(e, DOCVL_EIO, "%s: cannot create: %s", a->out, strerror(errno));
    GString *m = a->manifest ? g_string_new(NULL) : NULL;
    if (!rc)
        rc = render_all(a, &w, m, e);
    if (!rc && m) {
        char *path = g_build_filename(a->out, "manifest.jsonl", NULL);
        GError *ge = NULL;
        if (!g_file_set_contents(path, m->str, (gssize)m->len, &ge)) {
            rc = dv_fail(e, DOCVL_EIO, "%s", ge->message);
            g_error_free(ge);
        }
        g_free(path);
    }
    if (m)
        g_string_free(m, TRUE);
    dv_render_words_free(&w);
    return rc;
}

int main(int argc, char **argv)
{
    args a = { .count = 10, .seed = 1, .prompt = DEFAULT_PROMPT, .r = DV_RENDER_DEFAULTS };
    int c;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == '?' || set_opt(&a, c, optarg))
            return EXIT_USAGE;
    }
    if (optind < argc || !a.text || !a.out) {
        if (optind < argc)
            fprintf(stderr, "docvl-render: unexpected argument \"%s\"\n", argv[optind]);
        else
            fprintf(stderr, "docvl-render: --text and --out are needed (see --help)\n");
        return EXIT_USAGE;
    }
    dv_err e = {0};
    if (run(&a, &e)) {
        fprintf(stderr, "docvl-render: %s\n", e.msg);
        return 1;
    }
    return 0;
}
