/* docvl batch end to end on a generated corpus (corpus.h): 1,000 tiny
 * documents (text-layer PDFs, PNGs and PDF pages that need the absent
 * model, malformed files). One run; a run killed with SIGKILL at random
 * moments five times and resumed; four shards; four shards beside an
 * unsharded run in the same directory: the same bytes in every output, the
 * same journal totals, one journal line per document (none lost, none
 * written twice), and never a half-written output at its final path. Peak
 * RSS after 1,000 documents stays within 10% of the RSS after 100.
 *
 * Under the sanitizer build (DOCVL_SANITIZED=1) the corpus has 200
 * documents and the RSS check is skipped: ASan's quarantine holds freed
 * memory on purpose, so its RSS grows with the work done. The trees live in
 * /dev/shm when there is one: the test is about ordering and locks, and
 * tmpfs makes the fsyncs free. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "batch/corpus.h"
#include "testutil.h"

static const char *exe;
static int n_docs;
static char *root;
static char *corpus;
static GHashTable *tree_a;          /* run A's outputs: relative path -> contents */
static double seconds_a;

static char *make_root(void)
{
    if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) && access("/dev/shm", W_OK) == 0) {
        char *tmpl = g_strdup("/dev/shm/docvl-batch-XXXXXX");
        if (g_mkdtemp(tmpl))
            return tmpl;
        g_free(tmpl);
    }
    return test_tmpdir();
}

/* Starts docvl batch -q --dpi 72 -j 2 -o OUT [extra...] [CORPUS]. Two jobs
 * also make these runs skip the forked trial run of each PDF page (see
 * bt_engine.h), which costs more than the tiny pages themselves; the
 * single-job path with trials is exercised by rerun-rules and the recipe
 * tests. */
static pid_t spawn_batch(const char *out, const char *const *extra, int with_corpus)
{
    GPtrArray *args = g_ptr_array_new();
    const char *base[] = { exe, "batch", "-q", "--dpi", "72", "-j", "2", "-o", out };
    for (size_t i = 0; i < G_N_ELEMENTS(base); i++)
        g_ptr_array_add(args, (char *)base[i]);
    for (; extra && *extra; extra++)
        g_ptr_array_add(args, (char *)*extra);
    if (with_corpus)
        g_ptr_array_add(args, corpus);
    g_ptr_array_add(args, NULL);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        execv(exe, (char **)args->pdata);
        _exit(127);
    }
    g_ptr_array_free(args, TRUE);
    return pid;
}

/* Waits for pid; returns its exit status, or 128+signal. */
static int reap(pid_t pid, long *maxrss_kb)
{
    int st = 0;
    struct rusage ru;
    g_assert_cmpint(wait4(pid, &st, 0, &ru), ==, pid);
    if (maxrss_kb)
        *maxrss_kb = ru.ru_maxrss;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_batch(const char *out, const char *const *extra, int with_corpus, long *rss)
{
    return reap(spawn_batch(out, extra, with_corpus), rss);
}

/* Every file under dir except the journal and the locks; a .part file
 * fails the test when parts_allowed is 0. */
static void collect(const char *dir, const char *rel, GHashTable *t, int parts_allowed)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    g_assert_nonnull(d);
    const char *n;
    while ((n = g_dir_read_name(d))) {
        if (!*rel && (strcmp(n, "docvl-batch.jsonl") == 0 || strcmp(n, ".docvl-locks") == 0))
            continue;
        char *p = g_build_filename(dir, n, NULL);
        char *r = *rel ? g_strconcat(rel, "/", n, NULL) : g_strdup(n);
        if (g_file_test(p, G_FILE_TEST_IS_DIR)) {
            collect(p, r, t, parts_allowed);
            g_free(r);
        } else if (g_str_has_suffix(n, ".part")) {
            if (!parts_allowed)
                g_error("half-written output left behind: %s", p);
            g_free(r);
        } else {
            char *data = NULL;
            g_assert_true(g_file_get_contents(p, &data, NULL, NULL));
            g_hash_table_insert(t, r, data);
        }
        g_free(p);
    }
    g_dir_close(d);
}

static GHashTable *tree(const char *dir, int parts_allowed)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    collect(dir, "", t, parts_allowed);
    return t;
}

/* Every file of sub is in tree_a with the same bytes; with whole, the
 * other way round too. */
static void same_as_a(GHashTable *sub, int whole, const char *what)
{
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, sub);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const char *want = g_hash_table_lookup(tree_a, k);
        if (!want || strcmp(want, v) != 0)
            g_error("%s: %s %s", what, (char *)k, want ? "differs from run A" : "not in run A");
    }
    if (whole)
        g_assert_cmpuint(g_hash_table_size(sub), ==, g_hash_table_size(tree_a));
}

typedef struct totals {
    int keys, lines, done, partial, failed, pages, max_lines_per_key;
} totals;

static totals journal_totals(const char *dir)
{
    char *path = g_build_filename(dir, "docvl-batch.jsonl", NULL);
    char *data = NULL;
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    GHashTable *per_key = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTable *last = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    totals t = { 0 };
    char **lines = g_strsplit(data, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!**l)
            continue;
        JsonParser *p = json_parser_new();
        g_assert_true(json_parser_load_from_data(p, *l, -1, NULL));
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        const char *key = json_object_get_string_member(o, "key");
        int n = GPOINTER_TO_INT(g_hash_table_lookup(per_key, key)) + 1;
        g_hash_table_replace(per_key, g_strdup(key), GINT_TO_POINTER(n));
        t.max_lines_per_key = MAX(t.max_lines_per_key, n);
        char *summary = g_strdup_printf("%s %d", json_object_get_string_member(o, "status"),
                                        (int)json_object_get_int_member(o, "pages"));
        g_hash_table_replace(last, g_strdup(key), summary);
        t.lines++;
        g_object_unref(p);
    }
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, last);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        char status[16];
        int pages = 0;
        g_assert_cmpint(sscanf(v, "%15s %d", status, &pages), ==, 2);
        t.done += strcmp(status, "done") == 0;
        t.partial += strcmp(status, "partial") == 0;
        t.failed += strcmp(status, "failed") == 0;
        t.pages += pages;
    }
    t.keys = (int)g_hash_table_size(last);
    g_strfreev(lines);
    g_hash_table_destroy(per_key);
    g_hash_table_destroy(last);
    g_free(data);
    g_free(path);
    return t;
}

/* What the corpus holds, from its generator. */
static totals expected_totals(void)
{
    totals t = { 0 };
    for (int i = 0; i < n_docs; i++) {
        switch (corpus_kind_of(i)) {
        case CORPUS_PDF: t.done++; t.pages += 1 + i % 3; break;
        case CORPUS_PARTIAL: t.partial++; t.pages += 2; break;
        default: t.failed++; break;
        }
    }
    t.keys = t.lines = n_docs;
    t.max_lines_per_key = 1;
    return t;
}

static void assert_totals(totals got, const char *what)
{
    totals want = expected_totals();
    g_test_message("%s: %d documents, %d done, %d partial, %d failed, %d pages, %d lines", what,
                   got.keys, got.done, got.partial, got.failed, got.pages, got.lines);
    g_assert_cmpint(got.keys, ==, want.keys);
    g_assert_cmpint(got.lines, ==, want.lines);
    g_assert_cmpint(got.max_lines_per_key, ==, 1);
    g_assert_cmpint(got.done, ==, want.done);
    g_assert_cmpint(got.partial, ==, want.partial);
    g_assert_cmpint(got.failed, ==, want.failed);
    g_assert_cmpint(got.pages, ==, want.pages);
}

static char *out_dir(const char *name)
{
    return g_build_filename(root, name, NULL);
}

static void test_one_run(void)
{
    char *out = out_dir("a");
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(run_batch(out, NULL, 1, NULL), ==, 5);   /* some failed or partial */
    seconds_a = (g_get_monotonic_time() - t0) / 1e6;
    tree_a = tree(out, 0);
    assert_totals(journal_totals(out), "one run");
    totals want = expected_totals();
    g_assert_cmpint(g_hash_table_size(tree_a), ==, want.done + want.partial);
    /* a rerun reads nothing and adds no line */
    g_assert_cmpint(run_batch(out, NULL, 1, NULL), ==, 5);
    assert_totals(journal_totals(out), "rerun");
    g_free(out);
}

static void test_killed_and_resumed(void)
{
    g_assert_nonnull(tree_a);
    char *out = out_dir("b");
    GRand *rng = g_rand_new_with_seed(19);
    int landed = 0;
    for (int k = 0; k < 5; k++) {
        pid_t pid = spawn_batch(out, NULL, 1);
        /* five kills within 75% of a whole run: each lands before the end */
        double delay = g_rand_double_range(rng, 0.03, 0.15) * seconds_a;
        g_usleep((gulong)(delay * 1e6));
        kill(pid, SIGKILL);
        landed += reap(pid, NULL) == 128 + SIGKILL;
        GHashTable *t = tree(out, 1);
        same_as_a(t, 0, "after a SIGKILL");
        g_hash_table_destroy(t);
    }
    g_test_message("%d of 5 SIGKILLs landed during a run", landed);
    g_assert_cmpint(landed, ==, 5);
    g_assert_cmpint(run_batch(out, NULL, 1, NULL), ==, 5);
    GHashTable *t = tree(out, 0);
    same_as_a(t, 1, "killed and resumed");
    g_hash_table_destroy(t);
    assert_totals(journal_totals(out), "killed and resumed");
    g_rand_free(rng);
    g_free(out);
}

/* Four shards at once into one directory; with whole, one unsharded
 * process beside them. */
static void run_shards(const char *name, int whole, const char *what)
{
    g_assert_nonnull(tree_a);
    char *out = out_dir(name);
    const char *shards[4][3] = { { "--shard", "1/4", NULL }, { "--shard", "2/4", NULL },
                                 { "--shard", "3/4", NULL }, { "--shard", "4/4", NULL } };
    pid_t pids[5];
    for (int i = 0; i < 4; i++)
        pids[i] = spawn_batch(out, shards[i], 1);
    if (whole)
        pids[4] = spawn_batch(out, NULL, 1);
    for (int i = 0; i < 4 + whole; i++) {
        int rc = reap(pids[i], NULL);
        g_assert_true(rc == 0 || rc == 5);
    }
    GHashTable *t = tree(out, 0);
    same_as_a(t, 1, what);
    g_hash_table_destroy(t);
    assert_totals(journal_totals(out), what);
    g_free(out);
}

/* The shards alone read every document once. */
static void test_shards(void)
{
    run_shards("c", 0, "four shards");
}

/* The locks and the journal keep each document to one writer. */
static void test_shards_and_whole(void)
{
    run_shards("d", 1, "four shards and one whole");
}

/* Peak RSS of a run over the first n documents of the corpus. */
static long rss_of_first(int n)
{
    char *name = g_strdup_printf("first%d", n);
    char *list = g_build_filename(root, name, NULL);
    GString *s = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        char *rel = corpus_rel(i);
        g_string_append_printf(s, "%s/%s\n", corpus, rel);
        g_free(rel);
    }
    test_write_file(list, s->str, s->len);
    g_string_free(s, TRUE);
    char *out = g_strconcat(list, ".out", NULL);
    const char *from[] = { "--from", list, NULL };
    long rss = 0;
    g_assert_cmpint(run_batch(out, from, 0, &rss), ==, 5);
    g_free(out);
    g_free(list);
    g_free(name);
    return rss;
}

/* Memory flat over the batch: nothing grows per document but the batch's
 * list of inputs and its journal records (under 1 kB a document). Cairo's
 * cache of released fonts would add ~10 MB over the first ~300 small PDFs
 * (each brings its own embedded font), if closing a document did not empty
 * it (dv_doc_close). */
static void test_memory_flat(void)
{
    if (g_getenv("DOCVL_SANITIZED")) {
        g_test_skip("sanitizer build: ASan's quarantine grows RSS with the work by design");
        return;
    }
    long rss100 = rss_of_first(100), rss1000 = rss_of_first(1000);
    g_test_message("peak RSS: %ld kB after 100 documents, %ld kB after 1000", rss100, rss1000);
    g_assert_cmpint(rss1000, <=, rss100 + rss100 / 10);
}

/* A small corpus: rerun, changed input, --retry-failed, another format in
 * the same directory, and one JSON progress line per page. */
static void test_rerun_rules(void)
{
    char *small = out_dir("small-corpus");
    corpus_write(small, 20);
    char *out = out_dir("small-out");
    const char *plain[] = { "-j", "1", small, NULL };
    char *argv[12] = { (char *)exe, "batch", "--dpi", "72", "--progress", "json", "-o", out,
                       small, NULL };   /* one job: PDF pages get their trial runs */
    char *err = NULL;
    int status = 0;
    GError *ge = NULL;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                               &err, &status, &ge));
    g_assert_no_error(ge);
    int page_lines = 0, doc_lines = 0, want_pages = 0;
    for (int i = 0; i < 20; i++) {
        corpus_kind k = corpus_kind_of(i);
        want_pages += k == CORPUS_PDF ? 1 + i % 3 : k == CORPUS_PARTIAL ? 2 : k == CORPUS_PNG;
    }
    char **lines = g_strsplit(err, "\n", -1);
    for (char **l = lines; *l; l++) {
        page_lines += g_str_has_prefix(*l, "{\"event\":\"page\"");
        doc_lines += g_str_has_prefix(*l, "{\"event\":\"document\"");
    }
    g_strfreev(lines);
    g_free(err);
    g_assert_cmpint(page_lines, ==, want_pages);
    g_assert_cmpint(doc_lines, ==, 20);
    totals t = journal_totals(out);
    g_assert_cmpint(t.lines, ==, 20);

    /* a changed input is read again, nothing else */
    char *changed = g_build_filename(small, "d01", "e1", "doc0001.pdf", NULL);
    corpus_pdf(changed, 101, 0);
    g_assert_cmpint(run_batch(out, plain, 0, NULL), ==, 5);
    t = journal_totals(out);
    g_assert_cmpint(t.lines, ==, 21);
    g_assert_cmpint(t.max_lines_per_key, ==, 2);

    /* --retry-failed reads the failed one (a PNG) and the partial one again */
    const char *retry[] = { "-j", "1", "--retry-failed", small, NULL };
    g_assert_cmpint(run_batch(out, retry, 0, NULL), ==, 5);
    t = journal_totals(out);
    g_assert_cmpint(t.failed + t.partial, ==, 2);
    g_assert_cmpint(t.lines, ==, 23);

    /* Markdown beside the text outputs: a line per document of its own */
    const char *md[] = { "-f", "md", small, NULL };
    g_assert_cmpint(run_batch(out, md, 0, NULL), ==, 5);
    t = journal_totals(out);
    g_assert_cmpint(t.keys, ==, 40);
    char *md_out = g_build_filename(out, "d00", "doc0000.pdf.md", NULL);
    g_assert_true(g_file_test(md_out, G_FILE_TEST_IS_REGULAR));
    g_free(md_out);
    g_free(changed);
    g_free(out);
    g_free(small);
}

/* SIGTERM: the documents being read are abandoned with their part files,
 * the exit status says so, and a rerun finishes the batch. */
static void test_sigterm(void)
{
    g_assert_nonnull(tree_a);
    char *out = out_dir("term");
    pid_t pid = spawn_batch(out, NULL, 1);
    g_usleep((gulong)(0.3 * seconds_a * 1e6));
    kill(pid, SIGTERM);
    int rc = reap(pid, NULL);
    g_assert_true(rc == 128 + SIGTERM || rc == 5);   /* 5: it had finished first */
    GHashTable *t = tree(out, 0);
    same_as_a(t, 0, "after SIGTERM");
    g_hash_table_destroy(t);
    g_assert_cmpint(run_batch(out, NULL, 1, NULL), ==, 5);
    assert_totals(journal_totals(out), "terminated and resumed");
    g_free(out);
}

/* A NUL-separated list on standard input, as find -print0 writes it. */
static void test_list_on_stdin(void)
{
    char *out = out_dir("stdin");
    GString *list = g_string_new(NULL);
    for (int i = 0; i < 6; i++) {
        char *rel = corpus_rel(i);
        g_string_append_printf(list, "%s/%s", corpus, rel);
        g_string_append_c(list, '\0');
        g_free(rel);
    }
    char *argv[] = { (char *)exe, "batch", "-q", "--dpi", "72", "-o", out, "--from", "-", "-0",
                     NULL };
    GPid pid;
    int in_fd = -1, status = -1;
    GError *ge = NULL;
    g_assert_true(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                           NULL, &pid, &in_fd, NULL, NULL, &ge));
    g_assert_no_error(ge);
    g_assert_cmpint(write(in_fd, list->str, list->len), ==, (ssize_t)list->len);
    close(in_fd);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);   /* the first six are all good PDFs */
    totals t = journal_totals(out);
    g_assert_cmpint(t.done, ==, 6);
    /* a listed path keeps its whole path below DIR */
    char *first = g_strdup_printf("%s/%s/d00/doc0000.pdf.txt", out, corpus + 1);
    g_assert_true(g_file_test(first, G_FILE_TEST_IS_REGULAR));
    g_free(first);
    g_string_free(list, TRUE);
    g_free(out);
}

/* Runs docvl batch with the tiny model of the goldens over dir with j jobs
 * into out; returns the model loads its JSON summary counts. */
static int model_run(const char *dir, const char *out, const char *jobs)
{
    char *model = test_data("golden/tiny-siglip-f32");
    char *argv[] = { (char *)exe, "batch", "-m", model, "--max-tokens", "16", "--no-cache", "-j",
                     (char *)jobs, "--progress", "json", "-o", (char *)out, (char *)dir, NULL };
    char *err = NULL;
    int status = -1;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                               &err, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    const char *sum = strstr(err, "{\"event\":\"summary\"");
    g_assert_nonnull(sum);
    const char *loads = strstr(sum, "\"model_loads\":");
    g_assert_nonnull(loads);
    int n = atoi(loads + strlen("\"model_loads\":"));
    g_free(err);
    g_free(model);
    return n;
}

/* --jobs 2 with a model: one load for both workers, the same outputs as
 * one job (the model reads one tile at a time). */
static void test_shared_model(void)
{
    char *dir = out_dir("model-in");
    g_assert_cmpint(g_mkdir_with_parents(dir, 0777), ==, 0);
    for (int i = 7; i < 200; i += 50) {   /* the corpus's PNGs: they need the model */
        g_assert_true(corpus_kind_of(i) == CORPUS_PNG);
        char *rel = corpus_rel(i);
        char *src = g_build_filename(corpus, rel, NULL);
        char *base = g_path_get_basename(rel);
        char *dst = g_build_filename(dir, base, NULL);
        char *data = NULL;
        gsize len = 0;
        g_assert_true(g_file_get_contents(src, &data, &len, NULL));
        test_write_file(dst, data, len);
        g_free(data);
        g_free(dst);
        g_free(base);
        g_free(src);
        g_free(rel);
    }
    char *one = out_dir("model-j1"), *two = out_dir("model-j2");
    g_assert_cmpint(model_run(dir, one, "1"), ==, 1);
    g_assert_cmpint(model_run(dir, two, "2"), ==, 1);
    GHashTable *a = tree(one, 0), *b = tree(two, 0);
    g_assert_cmpuint(g_hash_table_size(a), ==, 4);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, a);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_assert_cmpstr(g_hash_table_lookup(b, k), ==, v);
    g_hash_table_destroy(a);
    g_hash_table_destroy(b);
    g_free(one);
    g_free(two);
    g_free(dir);
}

/* The options docvl batch adds are in its --help and in the man page. */
static void test_help_in_man(void)
{
    char *argv[] = { (char *)exe, "batch", "--help", NULL };
    char *out = NULL, *man = NULL;
    int status = -1;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                               NULL, &status, NULL));
    g_assert_cmpint(status, ==, 0);
    g_assert_true(g_file_get_contents(g_getenv("DOCVL_MAN"), &man, NULL, NULL));
    static const char *const opts[][2] = {
        { "--from", "\\-\\-from" },   { "--null", "\\-\\-null" },
        { "--ext", "\\-\\-ext" },     { "--shard", "\\-\\-shard" },
        { "--jobs", "\\-\\-jobs" },   { "--retry-failed", "\\-\\-retry\\-failed" },
        { "--progress", "\\-\\-progress" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
        if (!strstr(out, opts[i][0]) || !strstr(man, opts[i][1]))
            g_error("%s is missing from docvl batch --help or man/docvl.1", opts[i][0]);
    }
    g_free(man);
    g_free(out);
}

static void test_usage(void)
{
    char *out = out_dir("usage");
    const char *bad_shard[] = { "--shard", "5/4", NULL };
    g_assert_cmpint(run_batch(out, bad_shard, 1, NULL), ==, 2);
    const char *no_input[] = { NULL };
    g_assert_cmpint(run_batch(out, no_input, 0, NULL), ==, 2);
    g_free(out);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    exe = g_getenv("DOCVL_EXE");
    if (!exe)
        exe = "build/src/cli/docvl";
    n_docs = g_getenv("DOCVL_SANITIZED") ? 200 : 1000;
    root = make_root();
    corpus = g_build_filename(root, "corpus", NULL);
    corpus_write(corpus, n_docs);
    g_test_add_func("/batch/e2e/one-run", test_one_run);
    g_test_add_func("/batch/e2e/killed-and-resumed", test_killed_and_resumed);
    g_test_add_func("/batch/e2e/four-shards", test_shards);
    g_test_add_func("/batch/e2e/four-shards-and-whole", test_shards_and_whole);
    g_test_add_func("/batch/e2e/sigterm", test_sigterm);
    g_test_add_func("/batch/e2e/list-on-stdin", test_list_on_stdin);
    g_test_add_func("/batch/e2e/shared-model", test_shared_model);
    g_test_add_func("/batch/e2e/memory-flat", test_memory_flat);
    g_test_add_func("/batch/e2e/rerun-rules", test_rerun_rules);
    g_test_add_func("/batch/e2e/usage", test_usage);
    g_test_add_func("/batch/e2e/help-in-man", test_help_in_man);
    int rc = g_test_run();
    test_rmtree(root);
    if (tree_a)
        g_hash_table_destroy(tree_a);
    g_free(corpus);
    g_free(root);
    return rc;
}
