/* Fuzz target bodies. The limits used here are the library's own defaults
 * or lower ones that keep one execution fast (a fuzzer runs each input in
 * milliseconds); the in-process bounds stand in for the forked trial run
 * of PDF pages, which a fuzzer turns off. */
#include "targets.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "doc/document.h"
#include "doc/layout.h"
#include "doc/orient.h"
#include "doc/pages.h"
#include "doc/textlayer.h"
#include "doc/tiles.h"
#include "image/decode.h"
#include "weights/config.h"
#include "weights/safetensors.h"
#include "model/schema.h"
#include "out/htmltable.h"
#include "out/writer.h"
#include "text/tokenizer.h"

/* Pixels one decoded image or rendered page may have while fuzzing:
 * enough for every header path, small enough for fast executions. */
#define FUZZ_MAX_PIXELS ((size_t)4 << 20)
#define FUZZ_DPI 18.0

/* A NUL-terminated copy for parsers that take C strings. */
static char *cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

int dv_fuzz_safetensors(const uint8_t *data, size_t size)
{
    dv_safetensors *st = NULL;
    dv_err e = { 0 };
    if (dv_safetensors_parse(data, size, "fuzz.safetensors", &st, &e) == DOCVL_OK) {
        for (int i = 0; i < st->n; i++)
            dv_safetensors_find(st, st->tensors[i].name);
        dv_safetensors_close(st);
    }
    return 0;
}

/* A small valid config.json (the SigLIP-only test model's) for the side
 * files to apply to. */
static const char base_config[] =
    "{\"vision_config\":{\"cls\":\"CLIPVisionTower\",\"params\":{\"image_size\":384,"
    "\"model_name\":\"siglip_tiny_patch16_384\",\"pixel_mean\":[0.5,0.5,0.5],"
    "\"pixel_std\":[0.5,0.5,0.5],\"select_feature\":\"same\",\"select_layer\":-1,"
    "\"width\":32,\"layers\":2,\"heads\":2,\"patch_size\":16,\"mlp_ratio\":4,"
    "\"global_pool\":\"map\",\"class_token\":false}},"
    "\"aligner_config\":{\"cls\":\"MlpProjector\",\"params\":{\"projector_type\":\"mlp_gelu\","
    "\"input_dim\":32,\"n_embed\":64,\"depth\":2}},"
    "\"language_config\":{\"model_type\":\"llama\",\"vocab_size\":659,\"hidden_size\":64,"
    "\"intermediate_size\":172,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
    "\"num_key_value_heads\":4,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-06,"
    "\"bos_token_id\":656,\"eos_token_id\":657}}";

/* The same kind of model in transformers' layout (deepseek-community). */
static const char hf_config[] =
    "{\"model_type\":\"deepseek_vl_hybrid\",\"image_token_id\":100015,"
    "\"text_config\":{\"model_type\":\"llama\",\"max_position_embeddings\":16384,"
    "\"num_hidden_layers\":30,\"vocab_size\":102400,\"bos_token_id\":100000,"
    "\"eos_token_id\":100001},"
    "\"vision_config\":{\"model_type\":\"siglip_vision_model\",\"hidden_size\":1024,"
    "\"intermediate_size\":4096,\"image_size\":384,\"num_attention_heads\":16,"
    "\"num_hidden_layers\":24,\"vision_use_head\":false},"
    "\"high_res_vision_config\":{\"model_type\":\"sam_vision_model\"}}";

static const char *const side_names[] = {
    "preprocessor_config.json", "processor_config.json", "tokenizer_config.json",
    "special_tokens_map.json", "generation_config.json",
};

/* First byte: 0 = the rest is a config.json, whose tensor schema is then
 * built (names and shapes from its numbers); 1..5 = the rest is that side
 * file, applied to base_config; 6..10 = the same applied to hf_config. */
int dv_fuzz_config(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0] % 11;
    const char *text = (const char *)data + 1;
    dv_config cfg;
    dv_err e = { 0 };
    if (which == 0) {
        dv_schema sc;
        if (dv_config_parse_json(text, size - 1, "config.json", &cfg, &e) == DOCVL_OK &&
            dv_model_schema(&cfg, &sc, &e) == DOCVL_OK)
            dv_schema_free(&sc);
        return 0;
    }
    const char *base = which <= 5 ? base_config : hf_config;
    if (dv_config_parse_json(base, strlen(base), "base", &cfg, &e) != DOCVL_OK)
        abort();   /* the harness itself is broken */
    dv_config_parse_side(side_names[(which - 1) % 5], text, size - 1, &cfg, &e);
    return 0;
}

/* tokenizer.json, then a NUL byte, then text to encode (and decode back). */
int dv_fuzz_tokenizer(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : "Hello, world! 123";
    size_t text_len = nul ? size - json_len - 1 : strlen(text);
    dv_tokenizer *t = NULL;
    dv_err e = { 0 };
    if (dv_tokenizer_load((const char *)data, json_len, NULL, 0, "tokenizer.json", &t, &e))
        return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    if (dv_tokenizer_encode(t, text, text_len, 1, &ids, &n, &e) == DOCVL_OK) {
        char *back = NULL;
        size_t back_len = 0;
        if (dv_tokenizer_decode_n(t, ids, n, 0, &back, &back_len, &e) == DOCVL_OK)
            free(back);
        free(ids);
    }
    dv_tokenizer_free(t);
    return 0;
}

int dv_fuzz_image(const uint8_t *data, size_t size)
{
    dv_err e = { 0 };
    int frames = 0, w = 0, h = 0;
    if (dv_image_frame_count(data, size, &frames, &e) != DOCVL_OK)
        return 0;
    dv_image_frame_size(data, size, 0, &w, &h, &e);
    dv_image im = { 0 };
    if (dv_image_decode(data, size, 0, FUZZ_MAX_PIXELS, &im, &e) == DOCVL_OK)
        dv_image_free(&im);
    return 0;
}

/* What the pipeline does with a rendered page before the model: layout,
 * orientation, tiles, and the text layer judged against the layout. */
static void analyse_page(dv_doc *d, const dv_image *im)
{
    dv_err e = { 0 };
    int deg = 0;
    dv_orient_detect(im, &deg, NULL, &e);
    dv_layout l;
    if (dv_layout_analyze(im, NULL, &l, &e) != DOCVL_OK)
        return;
    dv_tiling t;
    if (dv_tiles_make(&l, NULL, &t, &e) == DOCVL_OK)
        dv_tiling_free(&t);
    dv_page_text txt;
    if (dv_text_extract(d, 0, FUZZ_DPI, &txt, &e) == DOCVL_OK) {
        dv_text_assess(&txt, &l);
        dv_page_text_free(&txt);
    }
    dv_layout_free(&l);
}

/* Opens the bytes as a document, renders its first page at a low dpi and
 * analyses it, without the forked trial run (the fuzzer's -timeout and
 * -rss_limit_mb bound each execution instead). */
int dv_fuzz_pdf(const uint8_t *data, size_t size)
{
    dv_doc *d = NULL;
    dv_err e = { 0 };
    if (dv_doc_open_memory(data, size, NULL, &d, &e) != DOCVL_OK)
        return 0;
    dv_doc_set_trial_seconds(d, 0);
    if (dv_doc_page_count(d) > 0) {
        double w, h;
        dv_doc_page_size(d, 0, &w, &h, &e);
        dv_render_options ro = { FUZZ_DPI, FUZZ_MAX_PIXELS };
        dv_rendered_page rp;
        if (dv_doc_render_page(d, 0, &ro, &rp, &e) == DOCVL_OK) {
            analyse_page(d, &rp.image);
            dv_image_free(&rp.image);
        }
    }
    dv_doc_close(d);
    return 0;
}

int dv_fuzz_htmltable(const uint8_t *data, size_t size)
{
    char *s = cstr(data, size);
    if (!s)
        return 0;
    GString *out = g_string_new(NULL);
    dv_err e = { 0 };
    dv_html_table_to_gfm(s, size, out, &e);
    g_string_free(out, TRUE);
    g_free(dv_markdown_convert_tables(s));
    free(s);
    return 0;
}

/* Text as a model may produce it (any bytes) through every writer. First
 * byte: the format (mod 3); second: how many detected line boxes the text
 * is laid on (hOCR's path for model pages); the rest: the page text. */
int dv_fuzz_writer(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    dv_format f = (dv_format)(data[0] % 3);
    int n_lines = data[1] % 64;
    char *text = cstr(data + 2, size - 2);
    if (!text)
        return 0;
    dv_page_result pg;
    dv_page_init(&pg, 1, 600, 800, 72);
    pg.source = DV_SRC_MODEL;
    pg.text = text;   /* the page owns it now */
    dv_box lines[64];
    for (int i = 0; i < n_lines; i++)
        lines[i] = (dv_box){ 10, 10 + 12 * i, 590, 20 + 12 * i };
    dv_err e = { 0 };
    GString *out = g_string_new(NULL);
    dv_sink sink = { dv_sink_gstring, out };
    dv_writer *w = NULL;
    if ((f != DV_FMT_HOCR || dv_page_align_text(&pg, lines, n_lines, &e) == DOCVL_OK) &&
        dv_writer_new(f, sink, NULL, &w, &e) == DOCVL_OK && dv_writer_page(w, &pg, &e) == DOCVL_OK)
        dv_writer_finish(w, &e);
    dv_writer_free(w);
    g_string_free(out, TRUE);
    dv_page_clear(&pg);
    return 0;
}

/* Two bytes of page count, then the --pages text. */
int dv_fuzz_pages(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int n_pages = data[0] | (data[1] << 8);
    char *spec = cstr(data + 2, size - 2);
    if (!spec)
        return 0;
    int *idx = NULL, count = 0;
    dv_err e = { 0 };
    if (dv_pages_parse(spec, n_pages, &idx, &count, &e) == DOCVL_OK)
        free(idx);
    free(spec);
    return 0;
}

const dv_fuzz_target dv_fuzz_targets[] = {
    { "safetensors", dv_fuzz_safetensors },
    { "config", dv_fuzz_config },
    { "tokenizer", dv_fuzz_tokenizer },
    { "image", dv_fuzz_image },
    { "pdf", dv_fuzz_pdf },
    { "htmltable", dv_fuzz_htmltable },
    { "pages", dv_fuzz_pages },
    { "writer", dv_fuzz_writer },
    { NULL, NULL },
};
