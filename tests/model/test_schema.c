/* The schema against the golden checkpoints, validation, and --info. */
#include <string.h>

#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/model_info.h"
#include "testutil.h"

static int count_tensors(const dv_checkpoint *ck)
{
    int n = 0;
    for (int s = 0; s < ck->n_shards; s++)
        n += ck->shards[s]->n;
    return n;
}

/* The schema holds exactly the golden file's names and shapes. */
static void check_golden(const char *rel)
{
    char *dir = test_data(rel);
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_load(dir, &c, &e), ==, DOCVL_OK);
    dv_checkpoint *ck;
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, DOCVL_OK);
    dv_schema s;
    g_assert_cmpint(dv_model_schema(&c, &s, &e), ==, DOCVL_OK);
    g_assert_cmpint(s.n, ==, count_tensors(ck));
    for (int i = 0; i < s.n; i++) {
        const dv_schema_entry *t = &s.items[i];
        const dv_tensor *f = dv_checkpoint_find(ck, t->name);
        if (!f)
            g_error("%s: schema tensor %s not in the golden", rel, t->name);
        g_assert_cmpint(f->ndim, ==, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            g_assert_cmpint(f->shape[d], ==, t->shape[d]);
        if (i)
            g_assert_cmpint(strcmp(s.items[i - 1].name, t->name), <, 0);
    }
    g_assert_cmpint(dv_model_validate(&c, ck, &e), ==, DOCVL_OK);
    dv_schema_free(&s);
    dv_checkpoint_close(ck);
    g_free(dir);
}

static void test_golden_hybrid_f32(void) { check_golden("golden/tiny-f32"); }
static void test_golden_hybrid_bf16(void) { check_golden("golden/tiny-bf16"); }
static void test_golden_siglip(void) { check_golden("golden/tiny-siglip-f32"); }

static const dv_schema_entry *find_entry(const dv_schema *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->items[i].name, name) == 0)
            return &s->items[i];
    return NULL;
}

/* Shapes come from the config: the released 7B's SAM tables and MAP head. */
static void test_released_shapes(void)
{
    const char *json =
        "{\"vision_config\":{\"cls\":\"HybridVisionTower\",\"params\":{\"concat_type\":\"tuple\","
        "\"high_res_cfg\":{\"model_name\":\"sam_b_downsample\",\"image_size\":1024},"
        "\"low_res_cfg\":{\"model_name\":\"siglip_large_patch16_384\",\"image_size\":384,"
        "\"select_layer\":-2}}},"
        "\"aligner_config\":{\"cls\":\"MlpProjector\",\"params\":{\"projector_type\":"
        "\"low_high_hybrid_split_mlp_gelu\",\"input_dim\":1024,\"n_embed\":4096,\"depth\":2}},"
        "\"language_config\":{\"hidden_size\":4096,\"num_hidden_layers\":30}}";
    dv_config c;
    dv_err e = { 0 };
    g_assert_cmpint(dv_config_parse_json(json, strlen(json), "t", &c, &e), ==, DOCVL_OK);
    dv_schema s;
    g_assert_cmpint(dv_model_schema(&c, &s, &e), ==, DOCVL_OK);
    const char *sam = "vision_model.vision_tower_high.vision_tower.";
    char name[160];
    snprintf(name, sizeof name, "%sblocks.2.attn.rel_pos_h", sam);
    const dv_schema_entry *t = find_entry(&s, name);
    g_assert_nonnull(t);
    g_assert_cmpint(t->shape[0], ==, 127);
    g_assert_cmpint(t->shape[1], ==, 64);
    snprintf(name, sizeof name, "%sblocks.3.attn.rel_pos_w", sam);
    g_assert_cmpint(find_entry(&s, name)->shape[0], ==, 27);
    snprintf(name, sizeof name, "%spos_embed", sam);
    g_assert_cmpint(find_entry(&s, name)->shape[1], ==, 64);
    /* select_layer -2: create_siglip_vit builds (and stores) 23 blocks. */
    g_assert_nonnull(find_entry(&s, "vision_model.vision_tower_low.vision_tower.blocks.22.norm1.weight"));
    g_assert_null(find_entry(&s, "vision_model.vision_tower_low.vision_tower.blocks.23.norm1.weight"));
    t = find_entry(&s, "vision_model.vision_tower_low.vision_tower.attn_pool.kv.weight");
    g_assert_nonnull(t);
    g_assert_false(t->used);
    g_assert_cmpint(t->shape[0], ==, 2048);
    g_assert_false(find_entry(&s, "vision_model.high_layer_norm.weight")->used);
    g_assert_true(find_entry(&s, "aligner.high_up_proj.weight")->used);
    g_assert_cmpint(find_entry(&s, "language_model.lm_head.weight")->shape[0], ==, 102400);
    dv_schema_free(&s);
}

static void test_info(void)
{
    char *dir = test_data("golden/tiny-bf16");
    dv_config c;
    dv_err e = { 0 };
    dv_checkpoint *ck;
    g_assert_cmpint(dv_config_load(dir, &c, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, DOCVL_OK);
    dv_model_info info;
    g_assert_cmpint(dv_model_info_get(&c, ck, &info, &e), ==, DOCVL_OK);
    g_assert_cmpint(info.family, ==, DV_FAMILY_HYBRID);
    g_assert_cmpstr(info.dtype, ==, "BF16");
    g_assert_cmpint(info.image_tokens, ==, 576);
    g_assert_cmpint(info.image_size, ==, 1024);
    g_assert_cmpint(info.vocab, ==, 659);
    g_assert_cmpint(info.context, ==, 2048);
    /* LLM: 2 x embeddings + final norm + 2 layers of (2 norms, 4 attn, 3 mlp). */
    int64_t layer = 2 * 64 + 4 * 64 * 64 + 3 * 64 * 172;
    g_assert_cmpint(info.params[DV_TOWER_LLM], ==, 2 * 659 * 64 + 64 + 2 * layer);
    g_assert_cmpint(info.params[DV_TOWER_ALIGNER], ==, 2 * (32 * 32 + 32) + 64 * 64 + 64);
    int64_t sum = 0;
    for (int p = 0; p < DV_TOWER_COUNT; p++)
        sum += info.params[p];
    g_assert_cmpint(sum, ==, info.params_total);
    g_assert_cmpint(info.params_used, <, info.params_total);
    g_assert_cmpuint(info.bytes_resident, ==, (size_t)info.params_used * 2);
    g_assert_cmpuint(info.bytes_files, ==, (size_t)info.params_total * 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    dv_model_info_print(&info, f);
    fclose(f);
    g_assert_nonnull(strstr(buf, "storage dtype: BF16"));
    g_assert_nonnull(strstr(buf, "image tokens: 576"));
    free(buf);
    dv_checkpoint_close(ck);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/schema/golden-hybrid-f32", test_golden_hybrid_f32);
    g_test_add_func("/schema/golden-hybrid-bf16", test_golden_hybrid_bf16);
    g_test_add_func("/schema/golden-siglip", test_golden_siglip);
    g_test_add_func("/schema/released-shapes", test_released_shapes);
    g_test_add_func("/schema/info", test_info);
    return g_test_run();
}
