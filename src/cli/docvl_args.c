/* docvl's options. Numbers are checked whole ("12x" is an error), every
 * error names the option, and usage errors exit 2 as getopt tools do. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "docvl_cli.h"
#include "docvl.h"

static const char usage_text[] =
    "Usage: docvl [OPTION]... INPUT...\n"
    "  or:  docvl batch -o DIR [OPTION]... [INPUT]...  (many documents, resumable:\n"
    "       docvl batch --help)\n"
    "Read PDFs and page images with the DeepSeek-VL model; INPUT '-' is stdin.\n"
    "\n"
    "Output:\n"
    "  -f, --format FMT       txt (default), md (Markdown, GFM tables) or hocr\n"
    "  -o, --output PATH      write to PATH (atomically) instead of stdout; with\n"
    "                         several inputs PATH is a directory, one file each\n"
    "      --keep-partial     after a failure, keep the pages done in the -o file\n"
    "                         (default: an -o file appears only when complete)\n"
    "      --text-tables      tables found in a PDF text layer's word positions:\n"
    "                         GFM tables with -f md, ocr_table areas with -f hocr\n"
    "                         (default)\n"
    "      --no-text-tables   write those pages as plain lines\n"
    "      --keep-furniture   md: keep running heads and feet, page numbers and\n"
    "                         sideways margin notes of text-layer pages (default:\n"
    "                         left out, as Markdown readers do; txt and hocr keep\n"
    "                         them always)\n"
    "Model:\n"
    "  -m, --model DIR        DeepSeek-VL model directory (default $DOCVL_MODEL, else\n"
    "                         the built-in model; DOCVL_MODEL= set empty: none)\n"
    "      --no-model         no model: text layers only\n"
    "      --prompt TEXT      instruction given to the model for each tile\n"
    "      --ask QUESTION     answer QUESTION about each page instead\n"
    "      --max-tokens N     most tokens generated per tile (default 2048)\n"
    "      --decode-batch N   tiles of a page decoded side by side, each weight read\n"
    "                         once per token for all (the same text; q8/q4 and 5 or\n"
    "                         more: within float rounding): 0 (default) as many as\n"
    "                         keep their KV caches within 4 GiB, at most 8; 1: one\n"
    "                         tile after the other\n"
    "      --threads N        worker threads (default: all cores)\n"
    "      --weights FMT      how the decoder holds its weights: q8 (default; 8-bit\n"
    "                         blocks, half the bytes of bf16 per token), q4, bf16\n"
    "                         (as stored) or f32; the vision towers stay as stored\n"
    "      --cache-dir DIR    keep q8/q4 weights quantized in DIR and map them at\n"
    "                         later loads (default $DOCVL_CACHE_DIR, else\n"
    "                         $XDG_CACHE_HOME/docvl, else ~/.cache/docvl)\n"
    "      --no-cache         quantize at every load; read and write no cache\n"
    "Pages:\n"
    "      --pages LIST       pages to read, e.g. 1-3,7,10-end (default all)\n"
    "      --dpi N            rendering resolution for PDF pages (default 200)\n"
    "      --tiles MODE       how scanned pages are cut for the model: on\n"
    "                         (default) text lines for a model that reads lines,\n"
    "                         else tiles; lines: text lines cut at word gaps to\n"
    "                         the model's input shape; off: the whole page\n"
    "      --tile-size N      tile side in pixels (default: the model's image size)\n"
    "      --text-layer MODE  auto (default): use a PDF's own text where it has\n"
    "                         some; off: always the model; only: never the model\n"
    "      --password PW      password of an encrypted PDF\n"
    "      --page-timeout S   abandon a page after S seconds on the model (it\n"
    "                         counts as failed, status 5); 0 (default): no limit\n"
    "Messages:\n"
    "  -q, --quiet            only errors on stderr\n"
    "  -v, --verbose          more detail on stderr\n"
    "      --progress WHEN    auto (default: when stderr is a terminal), always, never\n"
    "      --info             print model information (with --model) and exit\n"
    "      --version          print the version and exit\n"
    "  -h, --help             print this help and exit\n"
    "\n"
    "Exit status: 0 ok, 1 error, 2 usage, 3 unreadable input, 4 model missing or\n"
    "invalid (pages needing it are reported and written empty, the run goes on),\n"
    "5 some pages or tiles failed, 130/143 interrupted.\n"
    "See docvl(1).\n";

enum {
    OPT_PAGES = 256, OPT_DPI, OPT_TILES, OPT_TILE_SIZE, OPT_TEXT_LAYER, OPT_THREADS,
    OPT_MAX_TOKENS, OPT_PROMPT, OPT_ASK, OPT_PASSWORD, OPT_PROGRESS, OPT_INFO, OPT_VERSION,
    OPT_PAGE_TIMEOUT, OPT_KEEP_PARTIAL, OPT_TEXT_TABLES, OPT_NO_TEXT_TABLES, OPT_KEEP_FURNITURE,
    OPT_WEIGHTS, OPT_CACHE_DIR, OPT_NO_CACHE, OPT_NO_MODEL, OPT_DECODE_BATCH,
};

static const struct option long_opts[] = {
    { "format", required_argument, NULL, 'f' },
    { "output", required_argument, NULL, 'o' },
    { "model", required_argument, NULL, 'm' },
    { "no-model", no_argument, NULL, OPT_NO_MODEL },
    { "pages", required_argument, NULL, OPT_PAGES },
    { "dpi", required_argument, NULL, OPT_DPI },
    { "tiles", required_argument, NULL, OPT_TILES },
    { "tile-size", required_argument, NULL, OPT_TILE_SIZE },
    { "text-layer", required_argument, NULL, OPT_TEXT_LAYER },
    { "threads", required_argument, NULL, OPT_THREADS },
    { "weights", required_argument, NULL, OPT_WEIGHTS },
    { "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
    { "no-cache", no_argument, NULL, OPT_NO_CACHE },
    { "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
    { "decode-batch", required_argument, NULL, OPT_DECODE_BATCH },
    { "prompt", required_argument, NULL, OPT_PROMPT },
    { "ask", required_argument, NULL, OPT_ASK },
    { "password", required_argument, NULL, OPT_PASSWORD },
    { "page-timeout", required_argument, NULL, OPT_PAGE_TIMEOUT },
    { "keep-partial", no_argument, NULL, OPT_KEEP_PARTIAL },
    { "text-tables", no_argument, NULL, OPT_TEXT_TABLES },
    { "no-text-tables", no_argument, NULL, OPT_NO_TEXT_TABLES },
    { "keep-furniture", no_argument, NULL, OPT_KEEP_FURNITURE },
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "progress", required_argument, NULL, OPT_PROGRESS },
    { "info", no_argument, NULL, OPT_INFO },
    { "version", no_argument, NULL, OPT_VERSION },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int usage_error(const char *fmt, const char *arg)
{
    fputs("docvl: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'docvl --help' for more information.\n", stderr);
    return CLI_EXIT_USAGE;
}

static int parse_int(const char *s, const char *opt, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "docvl: %s wants a whole number from %ld to %ld, not '%s'\n", opt, lo, hi,
                s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_dpi(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 10 && v <= 1200)) {
        fprintf(stderr, "docvl: --dpi wants a number from 10 to 1200, not '%s'\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Seconds, fractions allowed (tests use small ones); a day at most. */
static int parse_seconds(const char *s, const char *opt, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0 && v <= 86400)) {
        fprintf(stderr, "docvl: %s wants seconds from 0 to 86400, not '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* --weights: the library's names, "auto" excluded. */
static int parse_weights(const char *s, docvl_weights *out)
{
    docvl_weights w;
    if (docvl_weights_from_name(s, &w) || w == DOCVL_WEIGHTS_AUTO) {
        fprintf(stderr, "docvl: --weights: unknown value '%s' (q8, q4, bf16 or f32)\n", s);
        return -1;
    }
    *out = w;
    return 0;
}

static int parse_choice(const char *s, const char *opt, const char *const *names, int *out)
{
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    fprintf(stderr, "docvl: %s: unknown value '%s'\n", opt, s);
    return -1;
}

/* One option; returns -1 to go on, an exit code to stop. */
static int apply_option(int c, const char *arg, cli_opts *o)
{
    static const char *const tiles[] = { "off", "on", "lines", NULL };
    static const char *const tl[] = { "auto", "off", "only", NULL };
    static const char *const when[] = { "auto", "always", "never", NULL };
    docvl_params *p = &o->read;
    int v = 0, bad = 0;
    switch (c) {
    case 'f':
        if (docvl_format_from_name(arg, &p->format))
            return usage_error("unknown output format '%s' (expected txt, md or hocr)", arg);
        break;
    case 'o': o->output = arg; break;
    case 'm': o->model_dir = arg; break;
    case OPT_NO_MODEL: o->model_dir = NULL; break;
    case OPT_PAGES: p->pages = arg; break;
    case OPT_DPI: bad = parse_dpi(arg, &p->dpi); break;
    case OPT_TILES: bad = parse_choice(arg, "--tiles", tiles, &p->tiles); break;
    case OPT_TILE_SIZE: bad = parse_int(arg, "--tile-size", 64, 8192, &p->tile_size); break;
    case OPT_DECODE_BATCH: bad = parse_int(arg, "--decode-batch", 0, 8, &p->decode_batch); break;
    case OPT_TEXT_LAYER: bad = parse_choice(arg, "--text-layer", tl, &v); p->text_layer = v; break;
    case OPT_THREADS: bad = parse_int(arg, "--threads", 1, 1024, &o->open.n_threads); break;
    case OPT_WEIGHTS: bad = parse_weights(arg, &o->open.weights); break;
    case OPT_CACHE_DIR:
        if (!*arg)
            return usage_error("%s", "--cache-dir wants a directory (--no-cache: no cache)");
        o->open.cache_dir = arg;
        break;
    case OPT_NO_CACHE: o->open.no_cache = 1; break;
    case OPT_MAX_TOKENS: bad = parse_int(arg, "--max-tokens", 1, 1 << 20, &p->max_tokens); break;
    case OPT_PROMPT: p->prompt = arg; break;
    case OPT_ASK: p->ask = arg; break;
    case OPT_PASSWORD: p->password = arg; break;
    case OPT_PAGE_TIMEOUT: bad = parse_seconds(arg, "--page-timeout", &p->page_timeout); break;
    case OPT_KEEP_PARTIAL: o->keep_partial = 1; break;
    case OPT_TEXT_TABLES: p->text_tables = 1; break;
    case OPT_NO_TEXT_TABLES: p->text_tables = 0; break;
    case OPT_KEEP_FURNITURE: p->keep_furniture = 1; break;
    case 'q': o->quiet = 1; break;
    case 'v': o->verbose++; break;
    case OPT_PROGRESS: bad = parse_choice(arg, "--progress", when, &v); o->progress = v; break;
    case OPT_INFO: o->info = 1; break;
    case OPT_VERSION: printf("docvl %s\n", docvl_version()); return CLI_EXIT_OK;
    case 'h': fputs(usage_text, stdout); return CLI_EXIT_OK;
    default: return usage_error("%s", "invalid option");
    }
    if (bad) {
        fputs("Try 'docvl --help' for more information.\n", stderr);
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* The library's defaults; the model directory from $DOCVL_MODEL when it is
 * set (set and empty: no model), else the built-in one. */
static void defaults(cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->open = docvl_open_default_params();
    o->read = docvl_default_params();
    const char *env = getenv("DOCVL_MODEL");
    o->model_dir = env ? (*env ? env : NULL) : docvl_builtin_model();
}

static int check_inputs(const cli_opts *o)
{
    if (o->info)
        return -1;
    if (o->n_inputs == 0)
        return usage_error("%s", "no input (use '-' for standard input)");
    int stdin_uses = 0;
    for (int i = 0; i < o->n_inputs; i++)
        stdin_uses += strcmp(o->inputs[i], "-") == 0;
    if (stdin_uses > 1)
        return usage_error("%s", "standard input ('-') can be read only once");
    if (o->n_inputs > 1 && !o->output && o->read.format == DOCVL_FORMAT_HOCR)
        return usage_error("%s", "several hOCR documents cannot share stdout: use -o DIR");
    if (o->output && strcmp(o->output, "-") == 0)
        return usage_error("%s", "-o - is stdout: leave -o out instead");
    return -1;
}

/* extra's options come first, so they override docvl's of the same name. */
static struct option *merged_options(const struct option *extra)
{
    size_t ne = 0, nb = G_N_ELEMENTS(long_opts);
    while (extra && extra[ne].name)
        ne++;
    struct option *all = g_new0(struct option, ne + nb);
    if (ne)
        memcpy(all, extra, ne * sizeof *all);
    memcpy(all + ne, long_opts, nb * sizeof *all);
    return all;
}

static int parse_loop(int argc, char **argv, cli_opts *o, const struct option *all,
                      const char *shorts, cli_extra_fn extra_fn, void *user)
{
    int c;
    while ((c = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
        if (c == ':')
            return usage_error("option needs a value: %s", argv[optind - 1]);
        if (c == '?') {
            char opt[3] = { '-', (char)optopt, 0 };
            return usage_error("unknown option: %s", optopt ? opt : argv[optind - 1]);
        }
        int rc = extra_fn ? extra_fn(user, c, optarg) : -2;
        if (rc == -2)
            rc = apply_option(c, optarg, o);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

int cli_parse_ext(int argc, char **argv, cli_opts *o, const struct option *extra,
                  const char *extra_short, cli_extra_fn extra_fn, void *user)
{
    defaults(o);
    opterr = 0;
    optind = 1;
    struct option *all = merged_options(extra);
    char *shorts = g_strconcat(":f:o:m:qvh", extra_short, NULL);
    int rc = parse_loop(argc, argv, o, all, shorts, extra_fn, user);
    g_free(all);
    g_free(shorts);
    if (rc >= 0)
        return rc;
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
    if (o->quiet && o->verbose)
        return usage_error("%s", "-q and -v contradict each other");
    return extra ? -1 : check_inputs(o);
}

int cli_parse(int argc, char **argv, cli_opts *o)
{
    return cli_parse_ext(argc, argv, o, NULL, NULL, NULL, NULL);
}
