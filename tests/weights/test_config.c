#include <string.h>

#include "text/prompt.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/modeldir.h"
#include "testutil.h"

static void test_hybrid_golden(void)
{
    char *dir = test_data("golden/tiny-f32");
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_load(dir, &c, &e), ==, DOCVL_OK);
    g_assert_cmpint(c.family, ==, DV_FAMILY_HYBRID);
    g_assert_cmpint(c.sam.width, ==, 32);
    g_assert_cmpint(c.sam.layers, ==, 4);
    g_assert_cmpint(c.sam.n_global, ==, 2);
    g_assert_cmpint(c.sam.global_attn_indexes[1], ==, 3);
    g_assert_cmpint(c.sam.downsample_channels[0], ==, 24);
    g_assert_cmpint(c.sam.prompt_embed_dim, ==, 16);
    g_assert_cmpint(c.siglip.width, ==, 32);
    g_assert_cmpint(c.siglip.mlp_dim, ==, 128);
    g_assert_cmpint(c.aligner.type, ==, DV_PROJ_LOW_HIGH_HYBRID_SPLIT);
    g_assert_cmpint(c.lm.hidden, ==, 64);
    g_assert_cmpint(c.lm.head_dim, ==, 16);
    g_assert_cmpint(c.pre.image_h, ==, 1024);
    g_assert_cmpint(c.pre.image_w, ==, 1024);
    g_assert_cmpint(c.proc.num_image_tokens, ==, 576);
    g_assert_cmpfloat_with_epsilon(c.sam.pixel_mean[0], 0.48145466f, 1e-7);
    g_free(dir);
}

static void test_siglip_golden(void)
{
    char *dir = test_data("golden/tiny-siglip-f32");
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_load(dir, &c, &e), ==, DOCVL_OK);
    g_assert_cmpint(c.family, ==, DV_FAMILY_SIGLIP);
    g_assert_cmpint(c.aligner.type, ==, DV_PROJ_MLP_GELU);
    g_assert_cmpint(c.pre.image_h, ==, 384);
    g_assert_cmpint(c.pre.image_w, ==, 384);
    g_free(dir);
}

static void test_released_presets(void)
{
    const char *json =
        "{\"vision_config\":{\"cls\":\"HybridVisionTower\",\"params\":{\"concat_type\":\"tuple\","
        "\"high_res_cfg\":{\"model_name\":\"sam_b_downsample\",\"image_size\":1024},"
        "\"low_res_cfg\":{\"model_name\":\"siglip_large_patch16_384\",\"image_size\":384}}},"
        "\"aligner_config\":{\"cls\":\"MlpProjector\",\"params\":{\"projector_type\":"
        "\"low_high_hybrid_split_mlp_gelu\",\"input_dim\":1024,\"n_embed\":4096,\"depth\":2}},"
        "\"language_config\":{\"hidden_size\":4096,\"num_hidden_layers\":30}}";
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_parse_json(json, strlen(json), "t", &c, &e), ==, DOCVL_OK);
    g_assert_cmpint(c.sam.width, ==, 768);
    g_assert_cmpint(c.sam.n_global, ==, 4);
    g_assert_cmpint(c.sam.global_attn_indexes[0], ==, 2);
    g_assert_cmpint(c.sam.downsample_channels[1], ==, 1024);
    g_assert_cmpint(c.siglip.layers, ==, 24);
    g_assert_cmpint(c.siglip.mlp_dim, ==, 4096);
    g_assert_cmpint(c.lm.heads, ==, 32);
    g_assert_cmpint(c.lm.intermediate, ==, 11008);
}

static void test_bad_configs(void)
{
    struct { const char *json; int code; const char *needle; } cases[] = {
        { "not json", DOCVL_EMODEL, "not valid JSON" },
        { "[1]", DOCVL_EMODEL, "not a JSON object" },
        { "{\"vision_config\":{\"cls\":\"FooTower\",\"params\":{}}}", DOCVL_EUNSUPPORTED, "FooTower" },
        { "{}", DOCVL_EMODEL, "vision_config" },
        { "{\"vision_config\":{\"cls\":\"CLIPVisionTower\",\"params\":{\"model_name\":\"x\"}}}",
          DOCVL_EUNSUPPORTED, "unknown SigLIP model_name" },
        /* docvl's [height, width]: SigLIP-only, whole patches, two sides */
        { "{\"vision_config\":{\"cls\":\"HybridVisionTower\",\"params\":{\"high_res_cfg\":"
          "{\"model_name\":\"sam_b_downsample\"},\"low_res_cfg\":{\"model_name\":"
          "\"siglip_large_patch16_384\",\"image_size\":[384,768]}}}}",
          DOCVL_EUNSUPPORTED, "image_size 384x768 is not square" },
        { "{\"vision_config\":{\"cls\":\"CLIPVisionTower\",\"params\":{\"model_name\":"
          "\"siglip_large_patch16_384\",\"image_size\":[32,500]}}}",
          DOCVL_EMODEL, "image_size 32x500 (height x width) by patch_size 16" },
        { "{\"vision_config\":{\"cls\":\"CLIPVisionTower\",\"params\":{\"model_name\":"
          "\"siglip_large_patch16_384\",\"image_size\":[32]}}}",
          DOCVL_EMODEL, "must be a side or [height, width]" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        dv_config c;
        dv_err e = { 0 };
        int rc = dv_config_parse_json(cases[i].json, strlen(cases[i].json), "t", &c, &e);
        g_assert_cmpint(rc, ==, cases[i].code);
        g_assert_nonnull(strstr(e.msg, cases[i].needle));
    }
}

static void test_checkpoint_golden(void)
{
    char *dir = test_data("golden/tiny-bf16");
    dv_checkpoint *ck;
    dv_err e = { 0 };
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, DOCVL_OK);
    const dv_tensor *t;
    int64_t shape[2] = { 659, 64 };
    g_assert_cmpint(dv_checkpoint_get(ck, "language_model.model.embed_tokens.weight", 2, shape, &t, &e),
                    ==, DOCVL_OK);
    g_assert_cmpint(t->dtype, ==, DV_BF16);
    int64_t wrong[2] = { 659, 65 };
    g_assert_cmpint(dv_checkpoint_get(ck, "language_model.model.embed_tokens.weight", 2, wrong, &t, &e),
                    ==, DOCVL_EMODEL);
    g_assert_nonnull(strstr(e.msg, "[659, 65]"));
    dv_checkpoint_close(ck);
    g_free(dir);
}

static void load_siglip_golden(dv_config *c)
{
    char *dir = test_data("golden/tiny-siglip-f32");
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_load(dir, c, &e), ==, DOCVL_OK);
    g_free(dir);
}

static int apply_processor(dv_config *c, const char *json, dv_err *e)
{
    return dv_config_parse_side("processor_config.json", json, strlen(json), c, e);
}

/* Released processor configs carry none of docvl's keys: the defaults are
 * DeepSeek-VL's behaviour. */
static void test_processor_defaults(void)
{
    dv_config c;
    load_siglip_golden(&c);
    g_assert_cmpstr(c.proc.system_prompt, ==, DV_PROMPT_SYSTEM_DEFAULT);
    g_assert_cmpint(c.proc.reads_lines, ==, 0);
    g_assert_cmpint(c.proc.has_instruction, ==, 0);
}

static void test_processor_extensions(void)
{
    dv_config c;
    load_siglip_golden(&c);
    dv_err e = { 0 };
    g_assert_cmpint(apply_processor(&c, "{\"system_prompt\":\"\",\"docvl_reads\":\"lines\","
                                        "\"docvl_instruction\":\"\"}", &e), ==, DOCVL_OK);
    g_assert_cmpstr(c.proc.system_prompt, ==, "");
    g_assert_cmpint(c.proc.reads_lines, ==, 1);
    g_assert_cmpint(c.proc.has_instruction, ==, 1);
    g_assert_cmpstr(c.proc.instruction, ==, "");
    g_assert_cmpint(apply_processor(&c, "{\"docvl_reads\":\"tiles\",\"docvl_instruction\":"
                                        "\"Read the line.\"}", &e), ==, DOCVL_OK);
    g_assert_cmpint(c.proc.reads_lines, ==, 0);
    g_assert_cmpstr(c.proc.instruction, ==, "Read the line.");
    g_assert_cmpint(apply_processor(&c, "{\"docvl_reads\":\"pages\"}", &e), ==, DOCVL_EMODEL);
    g_assert_nonnull(strstr(e.msg, "docvl_reads \"pages\""));
    e = (dv_err){ 0 };
    g_assert_cmpint(apply_processor(&c, "{\"system_prompt\":7}", &e), ==, DOCVL_EMODEL);
    g_assert_nonnull(strstr(e.msg, "system_prompt"));
}

static void test_processor_token_count(void)
{
    dv_config c;
    load_siglip_golden(&c);
    dv_err e = { 0 };
    g_assert_cmpint(apply_processor(&c, "{\"num_image_tokens\":100}", &e), ==, DOCVL_EMODEL);
    g_assert_nonnull(strstr(e.msg, "num_image_tokens 100"));
    g_assert_nonnull(strstr(e.msg, "576"));
}

static char *written_text(const char *dir, const char *name)
{
    char *path = g_build_filename(dir, name, NULL), *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_free(path);
    return text;
}

/* The writer puts docvl's keys back, and only for a model that has them. */
static void test_processor_round_trip(void)
{
    dv_config c, back;
    load_siglip_golden(&c);
    char *dir = test_tmpdir();
    dv_err e = { 0 };
    g_assert_cmpint(dv_mk_write_config(dir, &c, 0, -1, DV_F32, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_mk_write_side_files(dir, &c, 0, &e), ==, DOCVL_OK);
    char *text = written_text(dir, "processor_config.json");
    g_assert_null(strstr(text, "docvl_"));
    g_assert_null(strstr(text, "system_prompt"));
    g_free(text);
    /* a square input is written as the released models write it: one side */
    text = written_text(dir, "config.json");
    g_assert_nonnull(strstr(text, "\"image_size\" : 384,"));
    g_free(text);
    text = written_text(dir, "preprocessor_config.json");
    g_assert_nonnull(strstr(text, "\"image_size\" : 384,"));
    g_free(text);
    snprintf(c.proc.system_prompt, sizeof c.proc.system_prompt, "Read.");
    snprintf(c.proc.instruction, sizeof c.proc.instruction, "Transcribe the line.");
    c.proc.has_instruction = 1;
    c.proc.reads_lines = 1;
    for (int hf = 0; hf <= 1; hf++) {
        g_assert_cmpint(dv_mk_write_config(dir, &c, hf, 5, DV_F32, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_mk_write_side_files(dir, &c, hf, &e), ==, DOCVL_OK);
        g_assert_cmpint(dv_config_load(dir, &back, &e), ==, DOCVL_OK);
        g_assert_cmpstr(back.proc.system_prompt, ==, "Read.");
        g_assert_cmpstr(back.proc.instruction, ==, "Transcribe the line.");
        g_assert_cmpint(back.proc.has_instruction, ==, 1);
        g_assert_cmpint(back.proc.reads_lines, ==, 1);
    }
    test_rmtree(dir);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/hybrid-golden", test_hybrid_golden);
    g_test_add_func("/config/siglip-golden", test_siglip_golden);
    g_test_add_func("/config/released-presets", test_released_presets);
    g_test_add_func("/config/bad", test_bad_configs);
    g_test_add_func("/checkpoint/golden-bf16", test_checkpoint_golden);
    g_test_add_func("/config/processor-defaults", test_processor_defaults);
    g_test_add_func("/config/processor-extensions", test_processor_extensions);
    g_test_add_func("/config/processor-token-count", test_processor_token_count);
    g_test_add_func("/config/processor-round-trip", test_processor_round_trip);
    return g_test_run();
}
