/* Replays every saved fuzzer finding (tests/data/regress/<target>/) and
 * every fuzz seed (fuzz/corpus/<target>/) through the same entry points as
 * the libFuzzer targets (fuzz/targets.c), in the normal and the sanitized
 * builds: each must end cleanly within the bounds of bounded.h. */
#include <stdio.h>
#include <string.h>

#include "../../fuzz/targets.h"
#include "bounded.h"
#include "testutil.h"

typedef struct one_input {
    const dv_fuzz_target *t;
    const char *path;
} one_input;

static int replay(void *arg)
{
    const one_input *in = arg;
    gchar *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(in->path, &data, &len, NULL))
        return 99;
    in->t->run((const uint8_t *)data, len);
    g_free(data);
    return 0;
}

/* Runs every file of dir through t; returns how many there were. */
static int replay_dir(const dv_fuzz_target *t, const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return 0;
    int n = 0;
    const char *name;
    while ((name = g_dir_read_name(d))) {
        char *path = g_build_filename(dir, name, NULL);
        one_input in = { t, path };
        bounded_check(path, bounded_run(replay, &in), 0);
        g_test_message("%s: %s ok", t->name, name);
        g_free(path);
        n++;
    }
    g_dir_close(d);
    return n;
}

static void test_target(gconstpointer p)
{
    const dv_fuzz_target *t = p;
    char *rel = g_build_filename("regress", t->name, NULL);
    char *regress = test_data(rel);
    /* tests/data/../../fuzz/corpus: the seeds live beside the fuzzers */
    char *seeds_rel = g_build_filename("..", "..", "fuzz", "corpus", t->name, NULL);
    char *seeds = test_data(seeds_rel);
    g_free(seeds_rel);
    int n = replay_dir(t, regress) + replay_dir(t, seeds);
    g_test_message("%s: %d inputs", t->name, n);
    g_assert_cmpint(n, >, 0);
    g_free(rel);
    g_free(regress);
    g_free(seeds);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (const dv_fuzz_target *t = dv_fuzz_targets; t->name; t++) {
        char *path = g_strdup_printf("/regress/%s", t->name);
        g_test_add_data_func(path, t, test_target);
        g_free(path);
    }
    return g_test_run();
}
