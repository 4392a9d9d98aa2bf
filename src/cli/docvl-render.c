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
#include "base/rng.h"
#include "text/tok_jsonl.h"
#include "train/render.h"
#include "train/render_line.h"

#define EXIT_USAGE 2
#define DEFAULT_PROMPT "Transcribe the text in the image."

static void usage(FILE *f)
{
    fputs("usage: docvl-render --text CORPUS.txt --out DIR [--count N] [--seed N]\n"
          "                    [--size WxH] [--font-px MIN:MAX] [--plain] [--scan X]\n"
          "                    [--max-blocks N] [--max-lines N]\n"
          "                    [--manifest [--prompt TEXT] [--markdown]]\n"
          "       docvl-render --list-fonts\n"
          "       docvl-render --lines --text CORPUS.txt --out DIR [--count N] [--seed N]\n"
          "                    [--split train|eval] [--fonts LIST|@FILE]\n"
          "                    [--line-height H] [--line-width W] [--crop]\n"
          "                    [--min-chars N] [--max-chars N] [--pt MIN:MAX]\n"
          "                    [--dpi MIN:MAX] [--scan X] [--pieces P] [--typeset P]\n"
          "                    [--quotes P] [--caps P] [--bullets P] [--spaced P]\n"
          "                    [--small-caps P]\n"
          "                    [--manifest [--prompt TEXT]]\n"
          "       docvl-render --lines --paragraphs --text CORPUS.txt --out FILE\n"
          "                    [--split train|eval]\n"
          "\n"
          "Draws N document tiles (default 10, 768x768, font 14:26 px) in the system's\n"
          "serif, sans and mono fonts with headings, paragraphs, lists and ruled tables,\n"
          "in one or two columns, with a light scan look (--scan 0 to 1, default 1), from\n"
          "the words of CORPUS.txt. Writes DIR/tile-NNNNN.png, .txt (the drawn text in\n"
          "reading order) and .md (Markdown, tables as GFM). The same --seed gives the same\n"
          "bytes. --plain: paragraphs only; --max-lines caps a paragraph. --manifest also\n"
          "writes DIR/manifest.jsonl for docvl-train (the user asks --prompt, the\n"
          "assistant answers the transcription, or the Markdown with --markdown).\n"
          "\n"
          "--lines draws single text lines instead: DIR/line-NNNNN.png, H px high (default\n"
          "32) and W px wide (default 512; --crop cuts after the text), with .txt, the\n"
          "exact transcription (min to max bytes, default 1:48, cut at a\n"
          "word), in --pt sizes (default 8:14) scanned at --dpi (default 200:300) with scan\n"
          "degradations of strength --scan. --pieces P (0 to 1, default 0): that share of\n"
          "lines cut as docvl cuts a page's lines, starting or ending inside a word or\n"
          "ending in a hyphen. --typeset P (default 0): that share with typographic quotes,\n"
          "apostrophes, dashes and ellipses: \" ' ` -- - ... in the ASCII text become\n"
          "\u201c \u201d \u2018 \u2019 \u2014 \u2013 \u2026). --quotes P (default 0): that share of lines with\n"
          "a word in quotes, the line typeset in English, German (\u201e \u201c \u201a \u2018) or French\n"
          "(\u00ab \u00bb \u2039 \u203a) style, a third each. --caps P (default 0): that share\n"
          "with one word, or up to half of the words, in capitals. --bullets P (default 0):\n"
          "that share starting with a bullet (\u2022). --spaced P (default 0): that share\n"
          "letter-spaced, half lightly (read as words), half so wide the transcription\n"
          "spaces the letters (d a t e l i n e). --small-caps P (default 0): that share in\n"
          "small capitals, transcribed in capitals.\n"
          "--split eval uses the held-out fonts and text;\n"
          "--fonts picks families (comma list, serif/sans/mono, or @FILE). --list-fonts\n"
          "prints the built-in families: class, split, Debian package, installed or not.\n"
          "--paragraphs writes FILE instead: the split's paragraphs as lines draw them\n"
          "(printable words, single spaces; blank lines between), for language-only\n"
          "training (docvl-train --text) that never sees held-out text.\n",
          f);
}

typedef struct args {
    const char *text, *out, *prompt, *fonts;
    long count, seed;
    int manifest, markdown, lines, paragraphs;
    const char *tile_opt, *line_opt;   /* an option of the other mode, for the usage error */
    dv_render_opts r;
    dv_line_opts l;
} args;

static const struct option OPTS[] = {
    { "text", 1, 0, 't' }, { "out", 1, 0, 'o' }, { "count", 1, 0, 'n' }, { "seed", 1, 0, 's' },
    { "size", 1, 0, 'S' }, { "font-px", 1, 0, 'F' }, { "plain", 0, 0, 'P' },
    { "scan", 1, 0, 'x' }, { "max-blocks", 1, 0, 'b' }, { "max-lines", 1, 0, 'l' },
    { "manifest", 0, 0, 'm' },
    { "prompt", 1, 0, 'p' }, { "markdown", 0, 0, 'M' }, { "help", 0, 0, 'h' },
    { "lines", 0, 0, 'L' }, { "split", 1, 0, 'v' }, { "fonts", 1, 0, 'f' },
    { "line-height", 1, 0, 'H' }, { "line-width", 1, 0, 'W' }, { "min-chars", 1, 0, 'c' },
    { "max-chars", 1, 0, 'C' }, { "pt", 1, 0, 'T' }, { "dpi", 1, 0, 'D' }, { "crop", 0, 0, 'k' },
    { "list-fonts", 0, 0, 'K' }, { "paragraphs", 0, 0, 'A' }, { "pieces", 1, 0, 'Q' },
    { "typeset", 1, 0, 'y' },
    { "quotes", 1, 0, 'q' },
    { "caps", 1, 0, 'U' },
    { "bullets", 1, 0, 'B' },
    { "spaced", 1, 0, 'G' },
    { "small-caps", 1, 0, 'j' },
    { 0, 0, 0, 0 },
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

/* A number >= 0. */
static int share_opt(const char *v, const char *flag, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= 0))
        return bad(flag, v);
    *out = x;
    return 0;
}

static int num_opt(args *a, int c, const char *v)
{
    long x = 0;
    int rc;
    switch (c) {
    case 'n': return int_opt(v, "--count", 1, &a->count);
    case 's': return int_opt(v, "--seed", 0, &a->seed);
    case 'b': rc = int_opt(v, "--max-blocks", 0, &x); a->r.max_blocks = (int)x; return rc;
    case 'l': rc = int_opt(v, "--max-lines", 0, &x); a->r.max_lines = (int)x; return rc;
    case 'x':
        rc = share_opt(v, "--scan", &a->r.scan);
        a->l.scan = a->r.scan;
        return rc;
    case 'S': return sscanf(v, "%dx%d", &a->r.width, &a->r.height) == 2 ? 0 : bad("--size", v);
    case 'F':
        return sscanf(v, "%lf:%lf", &a->r.min_px, &a->r.max_px) == 2 ? 0 : bad("--font-px", v);
    default: return 1;
    }
}

static const char *opt_name(int c)
{
    for (const struct option *o = OPTS; o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

/* Options of --lines only; 1 when c is none of them. */
static int line_opt(args *a, int c, const char *v)
{
    long x = 0;
    int rc = 0;
    dv_line_opts *l = &a->l;
    switch (c) {
    case 'H': rc = int_opt(v, "--line-height", 1, &x); l->height = (int)x; break;
    case 'W': rc = int_opt(v, "--line-width", 1, &x); l->width = (int)x; break;
    case 'c': rc = int_opt(v, "--min-chars", 1, &x); l->min_chars = (int)x; break;
    case 'C': rc = int_opt(v, "--max-chars", 1, &x); l->max_chars = (int)x; break;
    case 'T': rc = sscanf(v, "%lf:%lf", &l->min_pt, &l->max_pt) == 2 ? 0 : bad("--pt", v); break;
    case 'D': rc = sscanf(v, "%lf:%lf", &l->min_dpi, &l->max_dpi) == 2 ? 0 : bad("--dpi", v);
              break;
    case 'v':
        if (strcmp(v, "train") && strcmp(v, "eval"))
            return bad("--split", v);
        l->split = strcmp(v, "eval") == 0 ? DV_SPLIT_EVAL : DV_SPLIT_TRAIN;
        break;
    case 'f': a->fonts = v; break;
    case 'k': l->crop = 1; break;
    case 'Q': rc = share_opt(v, "--pieces", &l->pieces); break;
    case 'y': rc = share_opt(v, "--typeset", &l->typeset); break;
    case 'q': rc = share_opt(v, "--quotes", &l->quotes); break;
    case 'U': rc = share_opt(v, "--caps", &l->caps); break;
    case 'B': rc = share_opt(v, "--bullets", &l->bullets); break;
    case 'G': rc = share_opt(v, "--spaced", &l->spaced); break;
    case 'j': rc = share_opt(v, "--small-caps", &l->small_caps); break;
    case 'A': a->paragraphs = 1; break;
    default: return 1;
    }
    a->line_opt = opt_name(c);
    return rc;
}

static int set_opt(args *a, int c, const char *v)
{
    if (strchr("SFblPM", c))
        a->tile_opt = opt_name(c);
    int r = num_opt(a, c, v);
    if (r <= 0 || (r = line_opt(a, c, v)) <= 0)
        return r;
    switch (c) {
    case 't': a->text = v; return 0;
    case 'o': a->out = v; return 0;
    case 'p': a->prompt = v; return 0;
    case 'P': a->r.plain = 1; return 0;
    case 'm': a->manifest = 1; return 0;
    case 'M': a->markdown = 1; return 0;
    case 'L': a->lines = 1; return 0;
    default: return -1;
    }
}

/* extra: more members of the line's object (", \"render\": {...}"), or "". */
static void manifest_line(GString *m, const char *prompt, const char *png, const char *answer,
                          const char *extra)
{
    char *user = g_strconcat("<image_placeholder>", prompt, NULL);
    g_string_append(m, "{\"images\": [");
    dv_json_append_string(m, png, strlen(png));
    g_string_append(m, "], \"conversation\": [{\"role\": \"User\", \"content\": ");
    dv_json_append_string(m, user, strlen(user));
    g_string_append(m, "}, {\"role\": \"Assistant\", \"content\": ");
    dv_json_append_string(m, answer, strlen(answer));
    g_string_append_printf(m, "}]%s}\n", extra);
    g_free(user);
}

/* Sample i's seed: the run's seed spread by a large odd constant; the
 * held-out split draws from other streams than training. */
static uint64_t sample_seed(const args *a, long i)
{
    uint64_t s = (uint64_t)a->seed * 0x9e3779b97f4a7c15ull + (uint64_t)i;
    return a->lines && a->l.split == DV_SPLIT_EVAL ? dv_name_seed(s, "eval") : s;
}

static int render_tiles(const args *a, const char *text, GString *manifest, dv_err *e)
{
    dv_render_words w;
    if (dv_render_words_from_text(text, &w, e))
        return dv_wrap(e, "%s", a->text);
    int rc = DOCVL_OK;
    for (long i = 0; i < a->count && !rc; i++) {
        dv_rendered r;
        if ((rc = dv_render_tile(&a->r, &w, sample_seed(a, i), &r, e)))
            break;
        char name[32];
        snprintf(name, sizeof name, "tile-%05ld", i);
        char *stem = g_build_filename(a->out, name, NULL);
        rc = dv_rendered_write(&r, stem, e);
        char *png = g_strconcat(name, ".png", NULL);
        if (!rc && manifest)
            manifest_line(manifest, a->prompt, png, a->markdown ? r.markdown : r.text, "");
        g_free(png);
        g_free(stem);
        dv_rendered_free(&r);
    }
    dv_render_words_free(&w);
    return rc;
}

static char *line_record(const dv_line *l, dv_split split)
{
    static const char *const STYLE[] = { "regular", "bold", "italic", "bold italic" };
    const dv_line_look *k = &l->look;
    GString *g = g_string_new(", \"render\": {\"font\": ");
    dv_json_append_string(g, k->family, strlen(k->family));
    g_string_append_printf(g, ", \"style\": \"%s\", \"kind\": \"%s\", \"split\": \"%s\", "
                           "\"pt\": %.2f, \"dpi\": %.0f, \"skew\": %.3f, \"blur\": %.2f, "
                           "\"noise\": %.1f, \"speckle\": %.4f, \"ink\": %.2f, \"paper\": %.2f, "
                           "\"binarized\": %s, \"jpeg\": %d",
                           STYLE[k->style & 3], k->kind, split == DV_SPLIT_EVAL ? "eval" : "train",
                           k->pt, k->dpi, k->skew_deg, k->blur, k->noise, k->speckle, k->ink,
                           k->paper, k->binarized ? "true" : "false", k->jpeg);
    if (k->piece)
        g_string_append_printf(g, ", \"piece\": \"%s\"", k->piece);
    g_string_append_c(g, '}');
    return g_string_free(g, FALSE);
}

static int write_line(const args *a, long i, const dv_line *l, GString *manifest, dv_err *e)
{
    char name[32];
    snprintf(name, sizeof name, "line-%05ld", i);
    char *png = g_strconcat(name, ".png", NULL), *txt = g_strconcat(name, ".txt", NULL);
    char *png_path = g_build_filename(a->out, png, NULL);
    char *txt_path = g_build_filename(a->out, txt, NULL);
    int rc = dv_render_write_png(&l->image, png_path, e);
    if (!rc)
        rc = dv_render_write_text(txt_path, l->text, e);
    if (!rc && manifest) {
        char *rec = line_record(l, a->l.split);
        manifest_line(manifest, a->prompt, png, l->text, rec);
        g_free(rec);
    }
    g_free(png), g_free(txt), g_free(png_path), g_free(txt_path);
    return rc;
}

static int render_lines(const args *a, const char *text, GString *manifest, dv_err *e)
{
    dv_line_src *src = NULL;
    dv_fonts *fonts = NULL;
    int rc = dv_line_src_from_text(text, a->l.split, &src, e);
    if (rc)
        dv_wrap(e, "%s", a->text);
    else
        rc = dv_fonts_open(a->fonts, a->l.split, &fonts, e);
    for (long i = 0; i < a->count && !rc; i++) {
        dv_line l;
        if ((rc = dv_render_line(&a->l, src, fonts, sample_seed(a, i), &l, e)))
            break;
        rc = write_line(a, i, &l, manifest, e);
        dv_line_free(&l);
    }
    dv_fonts_free(fonts);
    dv_line_src_free(src);
    return rc;
}

static int write_paragraphs(const args *a, const char *text, dv_err *e)
{
    dv_line_src *src = NULL;
    if (dv_line_src_from_text(text, a->l.split, &src, e))
        return dv_wrap(e, "%s", a->text);
    char *pars = dv_line_src_paragraphs(src);
    int rc = dv_render_write_text(a->out, pars, e);
    g_free(pars);
    dv_line_src_free(src);
    return rc;
}

static int run(const args *a, dv_err *e)
{
    char *text = NULL;
    size_t len = 0;
    if (dv_read_file(a->text, (size_t)1 << 30, &text, &len, e))
        return e->code;
    if (a->paragraphs) {
        int rc = write_paragraphs(a, text, e);
        free(text);
        return rc;
    }
    int rc = DOCVL_OK;
    if (g_mkdir_with_parents(a->out, 0755) != 0)
        rc = dv_fail(e, DOCVL_EIO, "%s: cannot create: %s", a->out, strerror(errno));
    GString *m = a->manifest ? g_string_new(NULL) : NULL;
    if (!rc)
        rc = (a->lines ? render_lines : render_tiles)(a, text, m, e);
    free(text);
    if (!rc && m) {
        char *path = g_build_filename(a->out, "manifest.jsonl", NULL);
        rc = dv_render_write_text(path, m->str, e);
        g_free(path);
    }
    if (m)
        g_string_free(m, TRUE);
    return rc;
}

static void list_fonts(void)
{
    int n;
    const dv_font_entry *t = dv_font_table(&n);
    for (int i = 0; i < n; i++)
        printf("%s\t%s\t%s\t%s\t%s\n", t[i].family, t[i].cls,
               t[i].split == DV_SPLIT_EVAL ? "eval" : "train", t[i].package,
               dv_font_installed(t[i].family) ? "installed" : "missing");
}

/* Options of the other mode, and line options out of range: usage errors. */
static int check_mode(const args *a)
{
    dv_err e = {0};
    if (a->lines && a->tile_opt)
        fprintf(stderr, "docvl-render: --%s is for tiles, not --lines\n", a->tile_opt);
    else if (!a->lines && a->line_opt)
        fprintf(stderr, "docvl-render: --%s needs --lines\n", a->line_opt);
    else if (a->paragraphs && (a->manifest || strcmp(a->prompt, DEFAULT_PROMPT)))
        fprintf(stderr, "docvl-render: --paragraphs writes a text file: no --manifest/--prompt\n");
    else if (a->lines && dv_line_opts_check(&a->l, &e))
        fprintf(stderr, "docvl-render: %s\n", e.msg);
    else
        return 0;
    return -1;
}

int main(int argc, char **argv)
{
    args a = { .count = 10, .seed = 1, .prompt = DEFAULT_PROMPT, .r = DV_RENDER_DEFAULTS,
               .l = DV_LINE_DEFAULTS };
    int c;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        if (c == 'h' || c == 'K') {
            c == 'h' ? usage(stdout) : list_fonts();
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
    if (check_mode(&a))
        return EXIT_USAGE;
    dv_err e = {0};
    if (run(&a, &e)) {
        fprintf(stderr, "docvl-render: %s\n", e.msg);
        return 1;
    }
    return 0;
}
