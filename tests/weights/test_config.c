#include <string.h>

#include "weights/checkpoint.h"
#include "weights/config.h"
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
    g_assert_cmpint(c.pre.image_size, ==, 1024);
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
    g_assert_cmpint(c.pre.image_size, ==, 384);
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/hybrid-golden", test_hybrid_golden);
    g_test_add_func("/config/siglip-golden", test_siglip_golden);
    g_test_add_func("/config/released-presets", test_released_presets);
    g_test_add_func("/config/bad", test_bad_configs);
    g_test_add_func("/checkpoint/golden-bf16", test_checkpoint_golden);
    return g_test_run();
}
