/* The model writer: golden-identical layouts, sharding, determinism, the HF
 * layout read back under original names, generated tokenizer and side files. */
#include <math.h>
#include <sys/wait.h>
#include <string.h>

#include "base/json.h"
#include "weights/checkpoint.h"
#include "weights/config.h"
#include "weights/hf_layout.h"
#include "mkmodel/mkmodel.h"
#include "model/schema.h"
#include "text/tokenizer.h"
#include "testutil.h"

static char *make(const char *arch, const char *config, dv_dtype dt, int shards, int hf,
                  uint64_t seed)
{
    char *dir = test_tmpdir();
    dv_mkmodel_opts o = { .out_dir = dir, .arch = arch, .config_path = config, .dtype = dt,
                          .seed = seed, .shards = shards, .hf_layout = hf, .quiet = 1 };
    dv_err e = { 0 };
    if (dv_mkmodel(&o, &e))
        g_error("mkmodel: %s", e.msg);
    return dir;
}

static void drop(char *dir)
{
    test_rmtree(dir);
    g_free(dir);
}

/* Every tensor of a has the same name, shape and dtype in b and vice versa. */
static void same_tensors(const dv_checkpoint *a, const dv_checkpoint *b, int check_dtype)
{
    int na = 0, nb = 0;
    for (int s = 0; s < a->n_shards; s++)
        for (int i = 0; i < a->shards[s]->n; i++, na++) {
            const dv_tensor *t = &a->shards[s]->tensors[i], *u = dv_checkpoint_find(b, t->name);
            if (!u)
                g_error("%s missing", t->name);
            g_assert_cmpint(t->ndim, ==, u->ndim);
            for (int d = 0; d < t->ndim; d++)
                g_assert_cmpint(t->shape[d], ==, u->shape[d]);
            if (check_dtype)
                g_assert_cmpint(t->dtype, ==, u->dtype);
        }
    for (int s = 0; s < b->n_shards; s++)
        nb += b->shards[s]->n;
    g_assert_cmpint(na, ==, nb);
}

static void collect_keys(JsonObject *o, const char *prefix, GHashTable *set)
{
    GList *m = json_object_get_members(o);
    for (GList *l = m; l; l = l->next) {
        char *path = g_strconcat(prefix, l->data, NULL);
        JsonNode *n = json_object_get_member(o, l->data);
        if (JSON_NODE_HOLDS_OBJECT(n)) {
            char *p2 = g_strconcat(path, ".", NULL);
            collect_keys(json_node_get_object(n), p2, set);
            g_free(p2);
        }
        g_hash_table_add(set, path);
    }
    g_list_free(m);
}

static GHashTable *json_keys(const char *path)
{
    JsonParser *p = json_parser_new();
    g_assert_true(json_parser_load_from_file(p, path, NULL));
    GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    collect_keys(json_node_get_object(json_parser_get_root(p)), "", set);
    g_object_unref(p);
    return set;
}

static void same_keys(const char *a, const char *b)
{
    GHashTable *ka = json_keys(a), *kb = json_keys(b);
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, ka);
    while (g_hash_table_iter_next(&it, &k, NULL))
        if (!g_hash_table_contains(kb, k))
            g_error("%s: key %s not in %s", a, (char *)k, b);
    g_assert_cmpuint(g_hash_table_size(ka), ==, g_hash_table_size(kb));
    g_hash_table_destroy(ka);
    g_hash_table_destroy(kb);
}

static void open_both(const char *dir, dv_config *c, dv_checkpoint **ck)
{
    dv_err e = { 0 };
    if (dv_config_load(dir, c, &e) || dv_checkpoint_open(dir, ck, &e))
        g_error("%s: %s", dir, e.msg);
    g_assert_cmpint(dv_model_validate(c, *ck, &e), ==, DOCVL_OK);
}

/* Given a golden config.json (and as a preset), the writer reproduces the
 * golden's tensor names, shapes and config keys. */
static void check_like_golden(const char *case_dir, const char *preset, dv_dtype dt)
{
    char *gdir = test_data(case_dir);
    char *gcfg = g_build_filename(gdir, "config.json", NULL);
    char *dirs[2] = { make(NULL, gcfg, dt, 1, 0, 1), make(preset, NULL, dt, 1, 0, 1) };
    dv_config gc;
    dv_checkpoint *gck;
    open_both(gdir, &gc, &gck);
    for (int i = 0; i < 2; i++) {
        dv_config c;
        dv_checkpoint *ck;
        open_both(dirs[i], &c, &ck);
        same_tensors(gck, ck, 1);
        char *cfg = g_build_filename(dirs[i], "config.json", NULL);
        same_keys(cfg, gcfg);
        g_free(cfg);
        dv_checkpoint_close(ck);
        drop(dirs[i]);
    }
    dv_checkpoint_close(gck);
    g_free(gcfg);
    g_free(gdir);
}

static void test_like_golden_hybrid(void) { check_like_golden("golden/tiny-f32", "tiny-hybrid", DV_F32); }
static void test_like_golden_bf16(void) { check_like_golden("golden/tiny-bf16", "tiny-hybrid", DV_BF16); }
static void test_like_golden_siglip(void) { check_like_golden("golden/tiny-siglip-f32", "tiny-siglip", DV_F32); }

static int same_bytes(const dv_tensor *a, const dv_tensor *b)
{
    return a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0;
}

/* Values depend on (seed, name) only: sharding keeps them, the seed changes them. */
static void test_shards_and_seed(void)
{
    char *one = make("tiny-hybrid", NULL, DV_BF16, 1, 0, 7);
    char *three = make("tiny-hybrid", NULL, DV_BF16, 3, 0, 7);
    char *other = make("tiny-hybrid", NULL, DV_BF16, 1, 0, 8);
    dv_config c;
    dv_checkpoint *a, *b, *x;
    open_both(one, &c, &a);
    open_both(three, &c, &b);
    open_both(other, &c, &x);
    g_assert_cmpint(a->n_shards, ==, 1);
    g_assert_cmpint(b->n_shards, ==, 3);
    same_tensors(a, b, 1);
    const char *name = "vision_model.vision_tower_high.vision_tower.blocks.1.attn.qkv.weight";
    const dv_tensor *ta = dv_checkpoint_find(a, name), *tb = dv_checkpoint_find(b, name),
                    *tx = dv_checkpoint_find(x, name);
    g_assert_cmpint(ta->dtype, ==, DV_BF16);
    g_assert_true(same_bytes(ta, tb));
    g_assert_false(same_bytes(ta, tx));
    dv_checkpoint_close(a);
    dv_checkpoint_close(b);
    dv_checkpoint_close(x);
    drop(one);
    drop(three);
    drop(other);
}

/* Matrices ~ N(0, 1/fan_in), norms 1, biases 0. */
static void test_weight_scale(void)
{
    char *dir = make("tiny-siglip", NULL, DV_F32, 1, 0, 3);
    dv_config c;
    dv_checkpoint *ck;
    open_both(dir, &c, &ck);
    const dv_tensor *w = dv_checkpoint_find(ck, "language_model.model.layers.0.mlp.down_proj.weight");
    const float *v = w->data;
    size_t n = w->nbytes / 4;
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        s += v[i];
        s2 += (double)v[i] * v[i];
    }
    double sd = sqrt(s2 / n - (s / n) * (s / n));
    g_assert_cmpfloat(fabs(sd * sqrt(172.0) - 1.0), <, 0.1);
    const float *norm = dv_checkpoint_find(ck, "language_model.model.norm.weight")->data;
    const float *bias = dv_checkpoint_find(ck, "aligner.layers.0.bias")->data;
    g_assert_cmpfloat(norm[5], ==, 1.0f);
    g_assert_cmpfloat(bias[5], ==, 0.0f);
    dv_checkpoint_close(ck);
    drop(dir);
}

static const dv_tensor *raw(const dv_checkpoint *ck, const char *name)
{
    for (int s = 0; s < ck->n_shards; s++) {
        const dv_tensor *t = dv_safetensors_find(ck->shards[s], name);
        if (t)
            return t;
    }
    return NULL;
}

/* The HF layout reads back under original names; split q/k/v are fused. */
static void test_hf_siglip(void)
{
    char *dir = make("tiny-siglip", NULL, DV_F32, 2, 1, 5);
    dv_config c;
    dv_checkpoint *ck;
    open_both(dir, &c, &ck);
    g_assert_true(c.hf_layout);
    g_assert_true(ck->hf_layout);
    g_assert_cmpint(c.family, ==, DV_FAMILY_SIGLIP);
    g_assert_cmpint(c.siglip.mlp_dim, ==, 128);
    g_assert_cmpint(c.image_token_id, ==, 658);
    g_assert_false(c.pre.do_normalize);
    g_assert_cmpint(c.pre.image_h, ==, 384);
    g_assert_cmpint(c.pre.image_w, ==, 384);
    const dv_tensor *qkv = dv_checkpoint_find(ck, "vision_model.vision_tower.blocks.1.attn.qkv.weight");
    g_assert_nonnull(qkv);
    g_assert_cmpint(qkv->shape[0], ==, 96);
    const char *hk = "model.vision_model.vision_model.encoder.layers.1.self_attn.k_proj.weight";
    const dv_tensor *k = raw(ck, hk);
    g_assert_nonnull(k);
    g_assert_cmpint(memcmp((const char *)qkv->data + k->nbytes, k->data, k->nbytes), ==, 0);
    const dv_tensor *pos = dv_checkpoint_find(ck, "vision_model.vision_tower.pos_embed");
    g_assert_cmpint(pos->ndim, ==, 3);
    g_assert_cmpint(pos->shape[1], ==, 576);
    g_assert_null(dv_checkpoint_find(ck, hk));
    dv_checkpoint_close(ck);
    drop(dir);
}

/* A hybrid the HF config can express (downsamples = 2x, 4x prompt_embed_dim). */
static const char HYBRID_HF_OK[] =
    "{\"vision_config\":{\"cls\":\"HybridVisionTower\",\"params\":{\"concat_type\":\"tuple\","
    "\"high_res_cfg\":{\"model_name\":\"sam_small\",\"image_size\":1024,\"width\":16,\"layers\":3,"
    "\"heads\":2,\"global_attn_indexes\":[1],\"prompt_embed_dim\":8,\"downsample_channels\":"
    "[16,32]},\"low_res_cfg\":{\"model_name\":\"siglip_small\",\"image_size\":384,\"width\":32,"
    "\"layers\":1,\"heads\":4,\"mlp_ratio\":2}}},"
    "\"aligner_config\":{\"cls\":\"MlpProjector\",\"params\":{\"projector_type\":"
    "\"low_high_hybrid_split_mlp_gelu\",\"input_dim\":32,\"n_embed\":48,\"depth\":2}},"
    "\"language_config\":{\"hidden_size\":48,\"intermediate_size\":40,\"num_hidden_layers\":1,"
    "\"num_attention_heads\":3,\"num_key_value_heads\":1,\"vocab_size\":400,"
    "\"bos_token_id\":300,\"eos_token_id\":301}}";

static void test_hf_hybrid(void)
{
    char *tmp = test_tmpdir(), *cfg = g_build_filename(tmp, "arch.json", NULL);
    test_write_file(cfg, HYBRID_HF_OK, strlen(HYBRID_HF_OK));
    char *orig = make(NULL, cfg, DV_F16, 1, 0, 2), *hf = make(NULL, cfg, DV_F16, 1, 1, 2);
    dv_config co, ch;
    dv_checkpoint *ko, *kh;
    open_both(orig, &co, &ko);
    open_both(hf, &ch, &kh);
    g_assert_cmpint(ch.family, ==, DV_FAMILY_HYBRID);
    g_assert_cmpint(ch.sam.downsample_channels[0], ==, 16);
    g_assert_cmpint(ch.sam.n_global, ==, 1);
    g_assert_cmpint(ch.lm.kv_heads, ==, 1);
    g_assert_cmpfloat_with_epsilon(ch.sam.pixel_mean[0], 0.48145466f, 1e-6);
    /* Every tensor the forward pass reads is there under its original name. */
    dv_schema s;
    dv_err e = { 0 };
    g_assert_cmpint(dv_model_schema(&co, &s, &e), ==, DOCVL_OK);
    for (int i = 0; i < s.n; i++)
        if (s.items[i].used && !dv_checkpoint_find(kh, s.items[i].name))
            g_error("HF layout lacks %s", s.items[i].name);
    dv_schema_free(&s);
    const char *alpha = "vision_model.vision_tower_high.vision_tower.hd_alpha_downsamples";
    g_assert_cmpint(dv_checkpoint_find(kh, alpha)->dtype, ==, DV_F16);
    dv_checkpoint_close(ko);
    dv_checkpoint_close(kh);
    drop(orig);
    drop(hf);
    drop(tmp);
    g_free(cfg);
}

static void test_hf_inexpressible(void)
{
    char *dir = test_tmpdir();
    dv_mkmodel_opts o = { .out_dir = dir, .arch = "tiny-hybrid", .dtype = DV_F32, .shards = 1,
                          .hf_layout = 1, .quiet = 1 };
    dv_err e = { 0 };
    g_assert_cmpint(dv_mkmodel(&o, &e), ==, DOCVL_EUNSUPPORTED);
    g_assert_nonnull(strstr(e.msg, "downsample_channels"));
    o.hf_layout = 0;
    o.arch = "13b";
    dv_err e2 = { 0 };
    g_assert_cmpint(dv_mkmodel(&o, &e2), ==, DOCVL_EINVAL);
    drop(dir);
}

/* Name mapping both ways agrees. */
static void test_name_map(void)
{
    dv_hf_name out[3], back;
    const char *o = "vision_model.vision_tower_low.vision_tower.blocks.12.attn.qkv.bias";
    g_assert_cmpint(dv_hf_from_original(o, 1, out), ==, 3);
    g_assert_cmpstr(out[2].name, ==,
                    "model.vision_model.vision_model.encoder.layers.12.self_attn.v_proj.bias");
    g_assert_true(dv_hf_to_original(out[2].name, 1, &back));
    g_assert_cmpstr(back.name, ==, o);
    g_assert_cmpint(back.part, ==, 2);
    g_assert_true(dv_hf_to_original("model.high_res_vision_model.layers.3.attn.rel_pos_h", 1,
                                    &back));
    g_assert_cmpstr(back.name, ==, "vision_model.vision_tower_high.vision_tower.blocks.3.attn.rel_pos_h");
    g_assert_true(dv_hf_to_original("lm_head.weight", 0, &back));
    g_assert_cmpstr(back.name, ==, "language_model.lm_head.weight");
    g_assert_true(dv_hf_to_original("model.aligner.linear2.weight", 0, &back));
    g_assert_cmpstr(back.name, ==, "aligner.layers.2.weight");
    g_assert_false(dv_hf_to_original("model.aligner.linear2.weight", 1, &back));
    g_assert_cmpint(dv_hf_from_original("vision_model.high_layer_norm.weight", 1, out), ==, 0);
}

/* The generated tokenizer loads and round-trips; ids agree with config.json. */
static void test_tokenizer_and_tokens(void)
{
    char *dir = make("tiny-siglip", NULL, DV_BF16, 1, 0, 1);
    dv_config c;
    dv_checkpoint *ck;
    open_both(dir, &c, &ck);
    g_assert_cmpint(c.lm.bos_id, ==, 656);
    g_assert_cmpstr(c.tok.eos, ==, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
    g_assert_cmpstr(c.tok.pad, ==, "");
    g_assert_cmpint(c.gen.max_new_tokens, ==, 512);
    g_assert_cmpint(c.gen.n_eos, ==, 1);
    g_assert_cmpint(c.gen.eos_ids[0], ==, 657);
    char *path = g_build_filename(dir, "tokenizer.json", NULL);
    dv_tokenizer *t;
    dv_err e = { 0 };
    if (dv_tokenizer_open(path, &t, &e))
        g_error("%s", e.msg);
    g_assert_cmpint(dv_tokenizer_bos(t), ==, 656);
    g_assert_cmpint(dv_tokenizer_token_id(t, "<image_placeholder>"), ==, 658);
    const char *text = "Describe the page: 12 tables.";
    int32_t *ids;
    size_t n;
    g_assert_cmpint(dv_tokenizer_encode(t, text, strlen(text), 1, &ids, &n, &e), ==, DOCVL_OK);
    g_assert_cmpint(ids[0], ==, 656);
    g_assert_cmpuint(n, <, strlen(text));   /* merges apply */
    char *back;
    g_assert_cmpint(dv_tokenizer_decode(t, ids + 1, n - 1, 1, &back, &e), ==, DOCVL_OK);
    g_assert_cmpstr(back, ==, text);
    free(back);
    free(ids);
    dv_tokenizer_free(t);
    g_free(path);
    /* generation_config.json and special_tokens_map.json override the defaults */
    path = g_build_filename(dir, "generation_config.json", NULL);
    const char *gen = "{\"eos_token_id\":[657,3],\"do_sample\":true,\"temperature\":0.7,"
                      "\"max_new_tokens\":64,\"pad_token_id\":2}";
    test_write_file(path, gen, strlen(gen));
    g_free(path);
    path = g_build_filename(dir, "special_tokens_map.json", NULL);
    const char *stm = "{\"pad_token\":{\"content\":\"<pad>\"},\"eos_token\":\"</s>\"}";
    test_write_file(path, stm, strlen(stm));
    g_free(path);
    g_assert_cmpint(dv_config_load(dir, &c, &e), ==, DOCVL_OK);
    g_assert_cmpint(c.gen.n_eos, ==, 2);
    g_assert_cmpint(c.gen.eos_ids[1], ==, 3);
    g_assert_true(c.gen.do_sample);
    g_assert_cmpint(c.gen.max_new_tokens, ==, 64);
    g_assert_cmpint(c.gen.pad_id, ==, 2);
    g_assert_cmpstr(c.tok.pad, ==, "<pad>");
    g_assert_cmpstr(c.tok.eos, ==, "</s>");
    dv_checkpoint_close(ck);
    drop(dir);
}

/* A deepseek-community-style config.json stores only the fields that differ
 * from the transformers class defaults; it must describe the released 7B. */
static void test_hf_config_defaults(void)
{
    const char *hf =
        "{\"model_type\":\"deepseek_vl_hybrid\",\"image_token_id\":100015,"
        "\"text_config\":{\"model_type\":\"llama\",\"max_position_embeddings\":16384,"
        "\"num_hidden_layers\":30,\"vocab_size\":102400,\"bos_token_id\":100000,"
        "\"eos_token_id\":100001},"
        "\"vision_config\":{\"model_type\":\"siglip_vision_model\",\"hidden_size\":1024,"
        "\"intermediate_size\":4096,\"image_size\":384,\"num_attention_heads\":16,"
        "\"num_hidden_layers\":24,\"vision_use_head\":false},"
        "\"high_res_vision_config\":{\"model_type\":\"sam_vision_model\"}}";
    dv_config h, o;
    dv_err e = { 0 };
    const char *orig = dv_mkmodel_preset("7b");
    g_assert_cmpint(dv_config_parse_json(hf, strlen(hf), "hf", &h, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_config_parse_json(orig, strlen(orig), "7b", &o, &e), ==, DOCVL_OK);
    g_assert_true(h.hf_layout);
    g_assert_false(o.hf_layout);
    g_assert_cmpint(h.sam.downsample_channels[1], ==, 1024);
    g_assert_cmpint(h.lm.intermediate, ==, 11008);
    dv_schema sh, so;
    g_assert_cmpint(dv_model_schema(&h, &sh, &e), ==, DOCVL_OK);
    g_assert_cmpint(dv_model_schema(&o, &so, &e), ==, DOCVL_OK);
    /* same tensors the forward pass reads, same shapes */
    int used_h = 0, used_o = 0;
    for (int i = 0, j = 0; i < sh.n; i++) {
        if (!sh.items[i].used)
            continue;
        used_h++;
        while (j < so.n && strcmp(so.items[j].name, sh.items[i].name) < 0)
            j++;
        g_assert_cmpint(j, <, so.n);
        g_assert_cmpstr(so.items[j].name, ==, sh.items[i].name);
        g_assert_cmpint(memcmp(so.items[j].shape, sh.items[i].shape, sizeof sh.items[i].shape),
                        ==, 0);
    }
    for (int j = 0; j < so.n; j++)
        used_o += so.items[j].used;
    g_assert_cmpint(used_h, ==, used_o);
    dv_schema_free(&sh);
    dv_schema_free(&so);
}

/* The command-line tool: exit status and messages. */
static int run_tool(const char *const *args, char **err)
{
    const char *root = g_getenv("DOCVL_BUILD_ROOT");
    char *exe = g_build_filename(root, "tools", "docvl-mkmodel", NULL);
    const char *argv[16] = { exe };
    int n = 1;
    for (; args[n - 1]; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    int status = -1;
    GError *ge = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, err, &status, &ge));
    g_free(exe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_tool(void)
{
    if (!g_getenv("DOCVL_BUILD_ROOT")) {
        g_test_skip("DOCVL_BUILD_ROOT not set");
        return;
    }
    char *dir = test_tmpdir(), *err;
    const char *ok[] = { "--arch", "tiny-siglip", "--dtype", "f16", "--shards", "2", "--seed",
                         "9", "-q", dir, NULL };
    g_assert_cmpint(run_tool(ok, &err), ==, 0);
    g_free(err);
    dv_config c;
    dv_checkpoint *ck;
    open_both(dir, &c, &ck);
    g_assert_cmpint(ck->n_shards, ==, 2);
    g_assert_cmpint(dv_checkpoint_find(ck, "aligner.layers.0.weight")->dtype, ==, DV_F16);
    dv_checkpoint_close(ck);
    const char *bad_arch[] = { "--arch", "tiny-nope", dir, NULL };
    g_assert_cmpint(run_tool(bad_arch, &err), ==, 1);
    g_assert_nonnull(strstr(err, "unknown --arch"));
    g_free(err);
    const char *bad_dtype[] = { "--arch", "7b", "--dtype", "q4", dir, NULL };
    g_assert_cmpint(run_tool(bad_dtype, &err), ==, 2);
    g_free(err);
    const char *both[] = { "--arch", "7b", "--config", "x.json", dir, NULL };
    g_assert_cmpint(run_tool(both, &err), ==, 2);
    g_free(err);
    drop(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mkmodel/like-golden-hybrid", test_like_golden_hybrid);
    g_test_add_func("/mkmodel/like-golden-bf16", test_like_golden_bf16);
    g_test_add_func("/mkmodel/like-golden-siglip", test_like_golden_siglip);
    g_test_add_func("/mkmodel/shards-and-seed", test_shards_and_seed);
    g_test_add_func("/mkmodel/weight-scale", test_weight_scale);
    g_test_add_func("/mkmodel/hf-siglip", test_hf_siglip);
    g_test_add_func("/mkmodel/hf-hybrid", test_hf_hybrid);
    g_test_add_func("/mkmodel/hf-inexpressible", test_hf_inexpressible);
    g_test_add_func("/mkmodel/name-map", test_name_map);
    g_test_add_func("/mkmodel/tokenizer-and-tokens", test_tokenizer_and_tokens);
    g_test_add_func("/mkmodel/tool", test_tool);
    g_test_add_func("/mkmodel/hf-config-defaults", test_hf_config_defaults);
    return g_test_run();
}
