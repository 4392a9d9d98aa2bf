/* The quantized-weight cache (weights/qcache.h): written at a quantizing load,
 * mapped at the next one with bit-identical results, ignored and rewritten
 * when the checkpoint changes or the file is truncated or corrupt, and never
 * a reason for a load to fail (unwritable directory, no room). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkmodel/mkmodel.h"
#include "model/model.h"
#include "weights/qcache.h"
#include "testutil.h"

#define PROMPT 6
#define STEPS 6

/* A tiny BF16 model in two shards: the key must name both files. */
static char *make_model(void)
{
    char *dir = test_tmpdir();
    dv_mkmodel_opts o = { .out_dir = dir, .arch = "tiny-siglip", .dtype = DV_BF16, .seed = 11,
                          .shards = 2, .quiet = 1 };
    dv_err e = { 0 };
    if (dv_mkmodel(&o, &e))
        g_error("mkmodel: %s", e.msg);
    return dir;
}

static dv_model *load_min_free(const char *dir, dv_weights w, const char *cache, uint64_t min_free)
{
    dv_model_opts o = { .widen = -1, .weights = w, .n_threads = 2, .cache_dir = cache,
                        .cache_min_free = min_free };
    dv_model *m = NULL;
    dv_err e = { 0 };
    if (dv_model_load(dir, &o, &m, &e))
        g_error("loading %s: %s", dir, e.msg);
    return m;
}

static dv_model *load(const char *dir, dv_weights w, const char *cache)
{
    return load_min_free(dir, w, cache, 0);
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* Logits of a prefill and of STEPS greedy steps after it, one after another:
 * equal arrays mean equal greedy ids too. */
static float *run(const dv_model *m, size_t *n)
{
    const dv_lm_cfg *c = &m->cfg.lm;
    size_t V = (size_t)c->vocab, H = (size_t)c->hidden;
    *n = (STEPS + 1) * V;
    float *logits = g_new0(float, *n), *emb = g_new0(float, PROMPT * H);
    int32_t ids[PROMPT] = { 1, 5, 9, 13, 17, 21 };
    dv_llama_state *st = NULL;
    dv_ctx ctx = { .n_threads = 2 };
    dv_err e = { 0 };
    int rc = dv_llama_state_new(m->llama, PROMPT + STEPS + 1, &st, &e);
    if (!rc)
        rc = dv_llama_embed(m->llama, ids, PROMPT, emb, &e);
    if (!rc)
        rc = dv_llama_forward(m->llama, st, emb, PROMPT, logits, 0, NULL, &ctx, &e);
    for (int s = 0; !rc && s < STEPS; s++) {
        int32_t id = argmax(logits + s * V, (int)V);
        rc = dv_llama_embed(m->llama, &id, 1, emb, &e);
        if (!rc)
            rc = dv_llama_forward(m->llama, st, emb, 1, logits + (s + 1) * V, 0, NULL, &ctx, &e);
    }
    if (rc)
        g_error("run: %s", e.msg);
    dv_llama_state_free(st);
    g_free(emb);
    return logits;
}

static void assert_same(const float *a, const float *b, size_t n)
{
    g_assert_cmpint(memcmp(a, b, n * sizeof *a), ==, 0);
}

/* Files in dir ending in suffix (".dvq"), and temporaries left behind. */
static int count_files(const char *dir, const char *suffix, int *tmps)
{
    int n = 0;
    if (tmps)
        *tmps = 0;
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return 0;
    const char *name;
    while ((name = g_dir_read_name(d))) {
        n += g_str_has_suffix(name, suffix);
        if (tmps)
            *tmps += strstr(name, ".tmp-") != NULL;
    }
    g_dir_close(d);
    return n;
}

/* Loads with the cache and checks it was used (or written) and the run
 * matches ref bit for bit. */
static void load_check(const char *dir, dv_weights w, const char *cache, int want_used,
                       const float *ref, size_t nref)
{
    dv_model *m = load(dir, w, cache);
    g_assert_cmpint(m->weight_cache.used, ==, want_used);
    g_assert_cmpint(m->weight_cache.written, ==, !want_used);
    g_assert_null(m->weight_cache.warning);
    g_assert_nonnull(m->weight_cache.path);
    g_assert_true(g_file_test(m->weight_cache.path, G_FILE_TEST_IS_REGULAR));
    size_t n;
    float *got = run(m, &n);
    g_assert_cmpuint(n, ==, nref);
    assert_same(got, ref, n);
    g_free(got);
    dv_model_free(m);
}

static float *reference(const char *dir, dv_weights w, size_t *n, size_t *weight_bytes)
{
    dv_model *m = load(dir, w, NULL);
    g_assert_cmpint(m->weight_cache.used, ==, 0);
    g_assert_cmpint(m->weight_cache.written, ==, 0);
    g_assert_null(m->weight_cache.path);
    float *ref = run(m, n);
    if (weight_bytes)
        *weight_bytes = dv_llama_weight_bytes(m->llama);
    dv_model_free(m);
    return ref;
}

/* (1) + (2): written at the first load, mapped at the second, identical
 * logits and ids to a load without cache; same bytes per token. */
static void test_roundtrip(gconstpointer data)
{
    dv_weights w = (dv_weights)GPOINTER_TO_INT(data);
    char *dir = make_model(), *tmp = test_tmpdir(), *cache = g_build_filename(tmp, "a", "b", NULL);
    size_t n, bytes;
    float *ref = reference(dir, w, &n, &bytes);
    load_check(dir, w, cache, 0, ref, n); /* made with its parents */
    g_assert_cmpint(count_files(cache, ".dvq", NULL), ==, 1);
    struct stat st;
    g_assert_cmpint(stat(cache, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);

    dv_model *m = load(dir, w, cache);
    g_assert_cmpint(m->weight_cache.used, ==, 1);
    g_assert_cmpint(m->weight_cache.written, ==, 0);
    g_assert_true(g_str_has_suffix(m->weight_cache.path, w == DV_WEIGHTS_Q8 ? ".dvq" : ".dvq"));
    g_assert_nonnull(strstr(m->weight_cache.path, w == DV_WEIGHTS_Q8 ? "-q8-" : "-q4-"));
    g_assert_cmpuint(m->weight_cache.bytes, >, bytes);
    g_assert_cmpuint(dv_llama_weight_bytes(m->llama), ==, bytes);
    size_t n2;
    float *got = run(m, &n2);
    g_assert_cmpuint(n2, ==, n);
    assert_same(got, ref, n);
    g_free(got);
    dv_model_free(m);
    g_assert_cmpint(count_files(cache, ".dvq", NULL), ==, 1);

    /* the other format is another file; bf16 neither reads nor writes one */
    dv_weights other = w == DV_WEIGHTS_Q8 ? DV_WEIGHTS_Q4 : DV_WEIGHTS_Q8;
    m = load(dir, other, cache);
    g_assert_cmpint(m->weight_cache.written, ==, 1);
    dv_model_free(m);
    g_assert_cmpint(count_files(cache, ".dvq", NULL), ==, 2);
    m = load(dir, DV_WEIGHTS_BF16, cache);
    g_assert_cmpint(m->weight_cache.used + m->weight_cache.written, ==, 0);
    g_assert_null(m->weight_cache.path);
    dv_model_free(m);
    g_assert_cmpint(count_files(cache, ".dvq", NULL), ==, 2);

    g_free(ref);
    test_rmtree(tmp);
    test_rmtree(dir);
    g_free(cache);
    g_free(tmp);
    g_free(dir);
}

/* (3) a checkpoint file with another mtime is another key: not used, rebuilt
 * under another name. */
static void test_touch(void)
{
    char *dir = make_model(), *cache = test_tmpdir();
    size_t n;
    float *ref = reference(dir, DV_WEIGHTS_Q8, &n, NULL);
    load_check(dir, DV_WEIGHTS_Q8, cache, 0, ref, n);
    load_check(dir, DV_WEIGHTS_Q8, cache, 1, ref, n);
    char *shard = NULL;
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d)))
        if (!shard && g_str_has_suffix(name, ".safetensors"))
            shard = g_build_filename(dir, name, NULL);
    g_dir_close(d);
    g_assert_nonnull(shard);
    struct timespec ts[2] = { { .tv_sec = 1000000000, .tv_nsec = 5 },
                              { .tv_sec = 1000000000, .tv_nsec = 5 } };
    g_assert_cmpint(utimensat(AT_FDCWD, shard, ts, 0), ==, 0);
    load_check(dir, DV_WEIGHTS_Q8, cache, 0, ref, n);
    g_assert_cmpint(count_files(cache, ".dvq", NULL), ==, 2); /* the stale one stays */
    load_check(dir, DV_WEIGHTS_Q8, cache, 1, ref, n);
    g_free(shard);
    g_free(ref);
    test_rmtree(cache);
    test_rmtree(dir);
    g_free(cache);
    g_free(dir);
}

static char *cache_file(const char *dir, dv_weights w, const char *cache)
{
    dv_model *m = load(dir, w, cache);
    char *path = g_strdup(m->weight_cache.path);
    dv_model_free(m);
    return path;
}

static GBytes *read_bytes(const char *path)
{
    char *data;
    gsize len;
    GError *ge = NULL;
    g_assert_true(g_file_get_contents(path, &data, &len, &ge));
    return g_bytes_new_take(data, len);
}

/* Header + key + table: from the file's own header (data offset at byte 32). */
static size_t described_bytes(GBytes *b)
{
    uint64_t data_off;
    memcpy(&data_off, (const char *)g_bytes_get_data(b, NULL) + 32, sizeof data_off);
    g_assert_cmpuint(data_off, <, g_bytes_get_size(b));
    return (size_t)data_off;
}

static void write_variant(const char *path, GBytes *orig, size_t len, long flip)
{
    char *copy = g_memdup2(g_bytes_get_data(orig, NULL), g_bytes_get_size(orig));
    if (flip >= 0)
        copy[flip] ^= 0x5a;
    test_write_file(path, copy, len);
    g_free(copy);
}

/* orig with the 32-bit or 64-bit field at off of entry i changed and the
 * checksum made right again: only the checks of the table can refuse it. */
static void write_crafted(const char *path, GBytes *orig, int entry, size_t field, int wide,
                          uint64_t value)
{
    char *c = g_memdup2(g_bytes_get_data(orig, NULL), g_bytes_get_size(orig));
    uint64_t table_off, data_off, zero = 0;
    memcpy(&table_off, c + 24, 8);
    memcpy(&data_off, c + 32, 8);
    char *f = c + table_off + (size_t)entry * 128 + field;
    uint32_t v32 = (uint32_t)value;
    memcpy(f, wide ? (const void *)&value : (const void *)&v32, wide ? 8 : 4);
    memcpy(c + 48, &zero, 8);
    uint64_t sum = dv_qcache_hash(c, (size_t)data_off);
    memcpy(c + 48, &sum, 8);
    test_write_file(path, c, g_bytes_get_size(orig));
    g_free(c);
}

/* (4) truncated files and flipped bytes in header, key and table: refused
 * by dv_qcache_open; at a load ignored, rebuilt, results unchanged. */
static void test_corrupt(void)
{
    char *dir = make_model(), *cache = test_tmpdir();
    size_t n;
    float *ref = reference(dir, DV_WEIGHTS_Q4, &n, NULL);
    char *path = cache_file(dir, DV_WEIGHTS_Q4, cache);
    GBytes *orig = read_bytes(path);
    size_t size = g_bytes_get_size(orig), desc = described_bytes(orig);

    /* the key as the loader computes it: the file opens with it */
    dv_checkpoint *ck = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_checkpoint_open(dir, &ck, &e), ==, 0);
    char *key = NULL;
    g_assert_cmpint(dv_qcache_key(ck, DV_Q4, DV_Q8, &key, &e), ==, 0);
    dv_checkpoint_close(ck);
    dv_qcache *qc = dv_qcache_open(path, key, NULL);
    g_assert_nonnull(qc);
    g_assert_cmpint(dv_qcache_count(qc), >, 1);
    g_assert_cmpuint(dv_qcache_size(qc), ==, size);
    dv_qcache_close(qc);
    const char *why = NULL;
    g_assert_null(dv_qcache_open(path, "another key", &why));
    g_assert_nonnull(why);

    /* every byte of the description flipped, and many truncations */
    for (size_t i = 0; i < desc; i++) {
        write_variant(path, orig, size, (long)i);
        why = NULL;
        qc = dv_qcache_open(path, key, &why);
        if (qc)
            g_error("byte %zu flipped: accepted", i);
        g_assert_nonnull(why);
    }
    size_t cuts[] = { 0, 1, 63, 64, 65, desc / 2, desc - 1, desc, desc + 1, size / 2, size - 1 };
    for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
        write_variant(path, orig, cuts[i], -1);
        if ((qc = dv_qcache_open(path, key, NULL)))
            g_error("cut to %zu of %zu bytes: accepted", cuts[i], size);
    }
    /* one byte too many is no longer the file described either */
    char *longer = g_malloc0(size + 1);
    memcpy(longer, g_bytes_get_data(orig, NULL), size);
    test_write_file(path, longer, size + 1);
    g_assert_null(dv_qcache_open(path, key, NULL));
    g_free(longer);

    /* a right checksum over wrong entries: offsets and sizes outside the
     * file, shapes that overflow, a bad format */
    write_crafted(path, orig, 0, 0, 0, 0); /* the first entry's name only: checksum is right */
    qc = dv_qcache_open(path, key, &why);
    g_assert_null(qc);
    g_assert_cmpstr(why, ==, "an entry's name is not a string");
    struct { int entry; size_t field; int wide; uint64_t value; } bad[] = {
        { 0, 112, 1, size }, { 1, 112, 1, 64 }, { 0, 120, 1, size }, { 0, 104, 0, 0x7fffffff },
        { 0, 100, 0, 0 }, { 0, 96, 0, 3 }, { 0, 112, 1, desc + 1 }, { 0, 120, 1, (uint64_t)-1 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        write_crafted(path, orig, bad[i].entry, bad[i].field, bad[i].wide, bad[i].value);
        if ((qc = dv_qcache_open(path, key, &why)))
            g_error("crafted entry %zu: accepted", i);
    }
    /* a valid file without the matrix the loader asks for: not used */
    write_crafted(path, orig, 0, 0, 0, 'X');
    g_assert_nonnull((qc = dv_qcache_open(path, key, NULL)));
    g_assert_null(dv_qcache_rows(qc, "language_model.model.layers.0.self_attn.q_proj.weight",
                                 DV_Q4, 64, 64));
    dv_qcache_close(qc);
    load_check(dir, DV_WEIGHTS_Q4, cache, 0, ref, n);

    /* at a load: ignored, rebuilt (the same bytes), then used */
    long flips[] = { 0, 9, 20, 40, 56, 64, (long)desc - 200, (long)desc - 1 };
    for (size_t i = 0; i < G_N_ELEMENTS(flips) + 2; i++) {
        if (i < G_N_ELEMENTS(flips))
            write_variant(path, orig, size, flips[i]);
        else
            write_variant(path, orig, i == G_N_ELEMENTS(flips) ? size / 2 : 10, -1);
        load_check(dir, DV_WEIGHTS_Q4, cache, 0, ref, n);
        GBytes *again = read_bytes(path);
        g_assert_true(g_bytes_equal(again, orig));
        g_bytes_unref(again);
        load_check(dir, DV_WEIGHTS_Q4, cache, 1, ref, n);
    }
    int tmps;
    g_assert_cmpint(count_files(cache, ".dvq", &tmps), ==, 1);
    g_assert_cmpint(tmps, ==, 0);
    g_bytes_unref(orig);
    free(key);
    g_free(path);
    g_free(ref);
    test_rmtree(cache);
    test_rmtree(dir);
    g_free(cache);
    g_free(dir);
}

/* A load whose cache cannot be written works all the same and says why;
 * nothing is left behind. */
static void expect_warning(const char *dir, const char *cache, uint64_t min_free, const char *why,
                           const float *ref, size_t nref)
{
    dv_model *m = load_min_free(dir, DV_WEIGHTS_Q8, cache, min_free);
    g_assert_cmpint(m->weight_cache.used, ==, 0);
    g_assert_cmpint(m->weight_cache.written, ==, 0);
    g_assert_nonnull(m->weight_cache.warning);
    if (!strstr(m->weight_cache.warning, why))
        g_error("warning \"%s\" does not say \"%s\"", m->weight_cache.warning, why);
    size_t n;
    float *got = run(m, &n);
    g_assert_cmpuint(n, ==, nref);
    assert_same(got, ref, n);
    g_free(got);
    dv_model_free(m);
}

/* (5) */
static void test_unwritable(void)
{
    char *dir = make_model(), *tmp = test_tmpdir();
    size_t n;
    float *ref = reference(dir, DV_WEIGHTS_Q8, &n, NULL);
    /* a directory under a regular file cannot exist, even for root */
    char *file = g_build_filename(tmp, "file", NULL), *under = g_build_filename(file, "c", NULL);
    test_write_file(file, "x", 1);
    expect_warning(dir, under, 0, "Not a directory", ref, n);
    /* no room: the file would leave less than min_free */
    char *full = g_build_filename(tmp, "full", NULL);
    expect_warning(dir, full, (uint64_t)1 << 62, "free", ref, n);
    int tmps;
    g_assert_cmpint(count_files(full, "", &tmps), ==, 0);
    g_assert_cmpint(tmps, ==, 0);
    /* a read-only directory (root writes anyway) */
    if (geteuid() != 0) {
        char *ro = g_build_filename(tmp, "ro", NULL);
        g_assert_cmpint(mkdir(ro, 0500), ==, 0);
        expect_warning(dir, ro, 0, "Permission denied", ref, n);
        g_assert_cmpint(count_files(ro, "", &tmps), ==, 0);
        chmod(ro, 0700);
        g_free(ro);
    }
    g_free(ref);
    g_free(file);
    g_free(under);
    g_free(full);
    test_rmtree(tmp);
    test_rmtree(dir);
    g_free(tmp);
    g_free(dir);
}

/* Temporaries an interrupted writer left are removed by the next write of
 * that file once they are old; a fresh one may be another writer's. */
static void test_stale_tmp(void)
{
    char *dir = make_model(), *cache = test_tmpdir();
    char *path = cache_file(dir, DV_WEIGHTS_Q8, cache);
    char *old = g_strconcat(path, ".tmp-AbC123", NULL);
    char *fresh = g_strconcat(path, ".tmp-XyZ789", NULL);
    char *other = g_build_filename(cache, "other.dvq.tmp-AbC123", NULL);
    test_write_file(old, "x", 1);
    test_write_file(fresh, "x", 1);
    test_write_file(other, "x", 1);
    struct timespec ts[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
    g_assert_cmpint(utimensat(AT_FDCWD, old, ts, 0), ==, 0);
    g_assert_cmpint(utimensat(AT_FDCWD, other, ts, 0), ==, 0);
    test_write_file(path, "truncated", 9); /* the next load rewrites it */
    dv_model *m = load(dir, DV_WEIGHTS_Q8, cache);
    g_assert_cmpint(m->weight_cache.written, ==, 1);
    dv_model_free(m);
    g_assert_false(g_file_test(old, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(fresh, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS)); /* not this file's */
    g_free(old);
    g_free(fresh);
    g_free(other);
    g_free(path);
    test_rmtree(cache);
    test_rmtree(dir);
    g_free(cache);
    g_free(dir);
}

/* The file name: model directory's base name, format, the key's hash. */
static void test_path(void)
{
    char *p = dv_qcache_path("/c", "/models/deepseek-vl-1.3b-chat/", DV_Q4, "k");
    char *want = g_strdup_printf("/c/deepseek-vl-1.3b-chat-q4-%016llx.dvq",
                                 (unsigned long long)dv_qcache_hash("k", 1));
    g_assert_cmpstr(p, ==, want);
    /* FNV-1a 64 of "a" */
    g_assert_cmpuint(dv_qcache_hash("a", 1), ==, 0xaf63dc4c8601ec8cull);
    free(p);
    g_free(want);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/qcache/roundtrip-q8", GINT_TO_POINTER(DV_WEIGHTS_Q8), test_roundtrip);
    g_test_add_data_func("/qcache/roundtrip-q4", GINT_TO_POINTER(DV_WEIGHTS_Q4), test_roundtrip);
    g_test_add_func("/qcache/touched-checkpoint", test_touch);
    g_test_add_func("/qcache/corrupt", test_corrupt);
    g_test_add_func("/qcache/unwritable", test_unwritable);
    g_test_add_func("/qcache/stale-temporaries", test_stale_tmp);
    g_test_add_func("/qcache/path", test_path);
    return g_test_run();
}
