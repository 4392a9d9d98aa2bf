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

/* "HxW" (height x width, e.g. 32x512) or one side N (a square). */
static int parse_image(const char *s, int *h, int *w)
{
    if (!s)
        return 0;
    char *end;
    long a = strtol(s, &end, 10), b = a;
    if (*end == 'x')
        b = strtol(end + 1, &end, 10);
    if (*end || a < 1 || b < 1 || a > 4096 || b > 4096)
        return -1;
    *h = (int)a;
    *w = (int)b;
    return 0;
}

int main(int argc, char **argv)
{
    char *arch = NULL, *config = NULL, *dtype = NULL, *layout = NULL, *tokenizer = NULL;
    char *image = NULL, *reads = NULL, *instruction = NULL, *system_prompt = NULL;
    gint64 seed = 0;
    int shards = 1, quiet = 0, patch = 0;
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
        { "image", 0, 0, G_OPTION_ARG_STRING, &image,
          "SigLIP-only input: HEIGHTxWIDTH pixels (e.g. 32x512: one text line) or a side",
          "HxW" },
        { "patch", 0, 0, G_OPTION_ARG_INT, &patch, "SigLIP patch side in pixels", "N" },
        { "reads", 0, 0, G_OPTION_ARG_STRING, &reads,
          "processor docvl_reads: tiles (default) or lines", "WHAT" },
        { "instruction", 0, 0, G_OPTION_ARG_STRING, &instruction,
          "processor docvl_instruction: the user-turn text after the image", "TEXT" },
        { "system-prompt", 0, 0, G_OPTION_ARG_STRING, &system_prompt,
          "processor system_prompt (\"\": none)", "TEXT" },
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
    if (parse_image(image, &o.image_h, &o.image_w) || patch < 0 ||
        (reads && strcmp(reads, "lines") != 0 && strcmp(reads, "tiles") != 0)) {
        fprintf(stderr, "docvl-mkmodel: bad --image (HEIGHTxWIDTH), --patch or --reads "
                "(tiles, lines)\n");
        goto out;
    }
    o.patch = patch;
    o.reads_lines = reads && strcmp(reads, "lines") == 0;
    o.instruction = instruction;
    o.system_prompt = system_prompt;
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
    g_free(image);
    g_free(reads);
    g_free(instruction);
    g_free(system_prompt);
    return status;
}
