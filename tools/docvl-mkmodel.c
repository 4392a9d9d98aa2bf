/* docvl-mkmodel: writes a random-weight DeepSeek-VL model directory (config,
 * weights, tokenizer and processor files) for tests and benchmarks. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkmodel/mkmodel.h"

static int parse_dtype(const char *s, dv_dtype *d)
{
    if (!s || strcmp(s, "bf16") == 0)
        *d = DV_BF16;
    else if (strcmp(s, "f16") == 0)
        *d = DV_F16;
    else if (strcmp(s, "f32") == 0)
        *d = DV_F32;
    else
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    char *arch = NULL, *config = NULL, *dtype = NULL, *layout = NULL, *tokenizer = NULL;
    gint64 seed = 0;
    int shards = 1, quiet = 0;
    GOptionEntry entries[] = {
        { "arch", 0, 0, G_OPTION_ARG_STRING, &arch, "preset: tiny-hybrid, tiny-siglip, 1.3b, 7b",
          "NAME" },
        { "config", 0, 0, G_OPTION_ARG_FILENAME, &config, "architecture from a config.json",
          "FILE" },
        { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype, "f32, f16 or bf16 (default bf16)", "T" },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "random seed (default 0)", "N" },
        { "shards", 0, 0, G_OPTION_ARG_INT, &shards, "safetensors shards (default 1)", "N" },
        { "layout", 0, 0, G_OPTION_ARG_STRING, &layout, "original (default) or hf", "L" },
        { "tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer,
          "tokenizer.json to copy (default: a small generated one)", "FILE" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "no progress on stderr", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    GOptionContext *ctx = g_option_context_new("OUT_DIR - write a random-weight model");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *ge = NULL;
    int status = 2;
    dv_mkmodel_opts o = { 0 };
    if (!g_option_context_parse(ctx, &argc, &argv, &ge)) {
        fprintf(stderr, "docvl-mkmodel: %s\n", ge->message);
        g_error_free(ge);
        goto out;
    }
    if (argc != 2 || (!arch == !config)) {
        fprintf(stderr, "docvl-mkmodel: give OUT_DIR and exactly one of --arch, --config\n");
        goto out;
    }
    if (parse_dtype(dtype, &o.dtype) ||
        (layout && strcmp(layout, "hf") != 0 && strcmp(layout, "original") != 0)) {
        fprintf(stderr, "docvl-mkmodel: bad --dtype or --layout\n");
        goto out;
    }
    o.out_dir = argv[1];
    o.arch = arch;
    o.config_path = config;
    o.seed = (uint64_t)seed;
    o.shards = shards;
    o.hf_layout = layout && strcmp(layout, "hf") == 0;
    o.tokenizer = tokenizer;
    o.quiet = quiet;
    dv_err e = { 0 };
    int rc = dv_mkmodel(&o, &e);
    if (rc) {
        fprintf(stderr, "docvl-mkmodel: %s\n", e.msg);
        status = 1;
    } else {
        status = 0;
    }
out:
    g_option_context_free(ctx);
    g_free(arch);
    g_free(config);
    g_free(dtype);
    g_free(layout);
    g_free(tokenizer);
    return status;
}
