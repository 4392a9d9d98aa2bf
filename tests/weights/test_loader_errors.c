/* Broken model directories: each must fail with its own clear error and
 * status, without crashing or leaking. */
#include <string.h>

#include "weights/checkpoint.h"
#include "weights/config.h"
#include "model/schema.h"
#include "testutil.h"

/* A safetensors file from a header text (space-padded to 8 bytes unless
 * `misalign`) and `data` bytes of zeros. */
static void write_st_pad(const char *dir, const char *name, const char *header, size_t data,
                         int misalign)
{
    size_t hl = strlen(header), pad = misalign ? 0 : (8 - hl % 8) % 8;
    size_t n = 8 + hl + pad + data;
    unsigned char *b = calloc(1, n);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)(hl + pad) >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', pad);
    char *path = g_build_filename(dir, name, NULL);
    test_write_file(path, b, n);
    g_free(path);
    free(b);
}

static void write_st(const char *dir, const char *name, const char *header, size_t data)
{
    write_st_pad(dir, name, header, data, 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    test_write_file(path, text, strlen(text));
    g_free(path);
}

static void expect_ck(const char *dir, int code, const char *needle)
{
    dv_checkpoint *ck = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, code);
    g_assert_null(ck);
    if (!strstr(e.msg, needle))
        g_error("expected \"%s\" in: %s", needle, e.msg);
}

static void expect_st(const char *header, size_t data, int code, const char *needle)
{
    char *dir = test_tmpdir();
    write_st(dir, "model.safetensors", header, data);
    expect_ck(dir, code, needle);
    test_rmtree(dir);
    g_free(dir);
}

static void expect_cfg(const char *dir, int code, const char *needle)
{
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_load(dir, &c, &e), ==, code);
    if (!strstr(e.msg, needle))
        g_error("expected \"%s\" in: %s", needle, e.msg);
}

static void test_missing_dir(void)
{
    expect_cfg("/nonexistent/docvl-model", DOCVL_EMODEL, "no such model directory");
    expect_ck("/nonexistent/docvl-model", DOCVL_EMODEL, "no such model directory");
}

static void test_missing_config(void)
{
    char *dir = test_tmpdir();
    expect_cfg(dir, DOCVL_EMODEL, "config.json");
    expect_ck(dir, DOCVL_EMODEL, "no model.safetensors");
    test_rmtree(dir);
    g_free(dir);
}

static void test_config_not_json(void)
{
    char *dir = test_tmpdir();
    write_text(dir, "config.json", "{\"vision_config\": [1, 2");
    expect_cfg(dir, DOCVL_EMODEL, "config.json");
    test_rmtree(dir);
    g_free(dir);
}

static void test_unknown_cls(void)
{
    char *dir = test_tmpdir();
    write_text(dir, "config.json", "{\"vision_config\":{\"cls\":\"ViTTower\",\"params\":{}}}");
    expect_cfg(dir, DOCVL_EUNSUPPORTED, "ViTTower");
    test_rmtree(dir);
    g_free(dir);
}

static void test_empty_file(void)
{
    char *dir = test_tmpdir();
    write_text(dir, "model.safetensors", "");
    expect_ck(dir, DOCVL_EFORMAT, "empty");
    test_rmtree(dir);
    g_free(dir);
}

static void test_header_too_long(void)
{
    char *dir = test_tmpdir();
    unsigned char b[16] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}' };
    char *path = g_build_filename(dir, "model.safetensors", NULL);
    test_write_file(path, b, sizeof b);
    expect_ck(dir, DOCVL_EFORMAT, "larger than the file");
    g_free(path);
    test_rmtree(dir);
    g_free(dir);
}

static void test_header_not_json(void)
{
    expect_st("{\"a\": {\"dtype\": ", 0, DOCVL_EFORMAT, "safetensors header");
    expect_st("[1, 2]  ", 0, DOCVL_EFORMAT, "not a JSON object");
}

static void test_unknown_dtype(void)
{
    expect_st("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
              DOCVL_EFORMAT, "unknown dtype \"Q4_K\"");
}

static void test_span_outside(void)
{
    expect_st("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
              DOCVL_EFORMAT, "outside");
}

static void test_span_size(void)
{
    expect_st("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16,
              DOCVL_EFORMAT, "needs 12 bytes");
}

/* 8 + 61 header bytes put the F32 data at file offset 69. */
static void test_misaligned(void)
{
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}   ";
    g_assert_cmpuint(strlen(h) % 4, !=, 0);
    char *dir = test_tmpdir();
    write_st_pad(dir, "model.safetensors", h, 4, 1);
    expect_ck(dir, DOCVL_EFORMAT, "not aligned");
    test_rmtree(dir);
    g_free(dir);
}

static void test_overlap(void)
{
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16,
              DOCVL_EFORMAT, "overlap");
    /* nested after an empty tensor: still inside the first */
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
              "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
              "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]}}", 32,
              DOCVL_EFORMAT, "\"a\" and \"c\" overlap");
}

/* A tiny-siglip directory whose weights follow the schema except `drop`
 * (absent) and `bad` (last dimension + 1). */
static char *schema_dir(const char *drop, const char *bad)
{
    char *dir = test_tmpdir(), *src = test_data("golden/tiny-siglip-f32/config.json");
    char *text;
    gsize len;
    g_assert_true(g_file_get_contents(src, &text, &len, NULL));
    write_text(dir, "config.json", text);
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_parse_json(text, len, "t", &c, &e), ==, DOCVL_OK);
    dv_schema s;
    g_assert_cmpint(dv_model_schema(&c, &s, &e), ==, DOCVL_OK);
    GString *h = g_string_new("{");
    size_t off = 0;
    for (int i = 0; i < s.n; i++) {
        dv_schema_entry *t = &s.items[i];
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        if (bad && strcmp(t->name, bad) == 0)
            t->shape[t->ndim - 1]++;
        size_t n = (size_t)dv_schema_numel(t) * 4;
        g_string_append_printf(h, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", h->len > 1 ? "," : "",
                               t->name);
        for (int d = 0; d < t->ndim; d++)
            g_string_append_printf(h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        g_string_append_printf(h, "],\"data_offsets\":[%zu,%zu]}", off, off + n);
        off += n;
    }
    g_string_append(h, "}");
    write_st(dir, "model.safetensors", h->str, off);
    g_string_free(h, TRUE);
    dv_schema_free(&s);
    g_free(text);
    g_free(src);
    return dir;
}

static void expect_validate(const char *drop, const char *bad, int code, const char *needle)
{
    char *dir = schema_dir(drop, bad);
    dv_config c;
    dv_checkpoint *ck;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_load(dir, &c, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_model_validate(&c, ck, &e), ==, code);
    if (needle && !strstr(e.msg, needle))
        g_error("expected \"%s\" in: %s", needle, e.msg);
    dv_checkpoint_close(ck);
    test_rmtree(dir);
    g_free(dir);
}

static void test_schema_complete(void) { expect_validate(NULL, NULL, DOCVL_OK, NULL); }

static void test_missing_tensor(void)
{
    expect_validate("vision_model.vision_tower.blocks.1.mlp.fc2.weight", NULL, DOCVL_EMODEL,
                    "\"vision_model.vision_tower.blocks.1.mlp.fc2.weight\" is missing "
                    "(expected shape [32, 128])");
}

static void test_wrong_shape(void)
{
    expect_validate(NULL, "aligner.layers.2.weight", DOCVL_EMODEL,
                    "\"aligner.layers.2.weight\" has shape [64, 65], expected [64, 64]");
}

static void test_unused_may_be_absent(void)
{
    expect_validate("vision_model.vision_tower.attn_pool.latent", NULL, DOCVL_OK, NULL);
}

static void test_index_missing_shard(void)
{
    char *dir = test_tmpdir();
    write_st(dir, "model-00001-of-00002.safetensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    write_text(dir, "model.safetensors.index.json",
               "{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
               "\"b\":\"model-00002-of-00002.safetensors\"}}");
    expect_ck(dir, DOCVL_EMODEL, "names shard \"model-00002-of-00002.safetensors\", which is "
              "missing");
    test_rmtree(dir);
    g_free(dir);
}

static void test_pytorch_bin(void)
{
    char *dir = test_tmpdir();
    write_text(dir, "pytorch_model.bin", "PK");
    expect_ck(dir, DOCVL_EUNSUPPORTED, "save_file(");
    test_rmtree(dir);
    g_free(dir);
    dir = test_tmpdir();
    write_text(dir, "pytorch_model-00002-of-00002.bin", "PK");
    expect_ck(dir, DOCVL_EUNSUPPORTED, "weights_only=True");
    test_rmtree(dir);
    g_free(dir);
}

/* An HF-layout SigLIP block with q and v but no k. */
static void test_hf_split_incomplete(void)
{
    expect_st("{\"model.vision_model.vision_model.encoder.layers.0.self_attn.q_proj.weight\":"
              "{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
              "\"model.vision_model.vision_model.encoder.layers.0.self_attn.v_proj.weight\":"
              "{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}", 32,
              DOCVL_EMODEL, "lacks its k_proj");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/loader/missing-dir", test_missing_dir);
    g_test_add_func("/loader/missing-config", test_missing_config);
    g_test_add_func("/loader/config-not-json", test_config_not_json);
    g_test_add_func("/loader/unknown-cls", test_unknown_cls);
    g_test_add_func("/loader/empty-safetensors", test_empty_file);
    g_test_add_func("/loader/header-too-long", test_header_too_long);
    g_test_add_func("/loader/header-not-json", test_header_not_json);
    g_test_add_func("/loader/unknown-dtype", test_unknown_dtype);
    g_test_add_func("/loader/span-outside", test_span_outside);
    g_test_add_func("/loader/span-size", test_span_size);
    g_test_add_func("/loader/overlap", test_overlap);
    g_test_add_func("/loader/misaligned", test_misaligned);
    g_test_add_func("/loader/schema-complete", test_schema_complete);
    g_test_add_func("/loader/missing-tensor", test_missing_tensor);
    g_test_add_func("/loader/wrong-shape", test_wrong_shape);
    g_test_add_func("/loader/unused-absent", test_unused_may_be_absent);
    g_test_add_func("/loader/index-missing-shard", test_index_missing_shard);
    g_test_add_func("/loader/pytorch-bin", test_pytorch_bin);
    g_test_add_func("/loader/hf-split-incomplete", test_hf_split_incomplete);
    return g_test_run();
}
