/* The batch modules one by one: input listing and mirroring, shards, the
 * journal (torn tails, other writers), per-output locks (released by a
 * kill -9), atomic outputs. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch/bt_inputs.h"
#include "batch/bt_journal.h"
#include "batch/bt_lock.h"
#include "batch/bt_output.h"
#include "batch/corpus.h"
#include "testutil.h"

static void touch(const char *dir, const char *rel)
{
    char *p = g_build_filename(dir, rel, NULL);
    char *d = g_path_get_dirname(p);
    g_assert_cmpint(g_mkdir_with_parents(d, 0777), ==, 0);
    test_write_file(p, rel, strlen(rel));
    g_free(d);
    g_free(p);
}

static char *rels(const bt_inputs *l)
{
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < bt_inputs_count(l); i++)
        g_string_append_printf(s, "%s%s", i ? " " : "", bt_inputs_get(l, i)->rel);
    return g_string_free(s, FALSE);
}

static void test_walk(void)
{
    char *root = test_tmpdir();
    touch(root, "b/x.PDF");
    touch(root, "a/deep/y.png");
    touch(root, "a/notes.txt");
    touch(root, ".hidden/z.pdf");
    touch(root, "a/.w.pdf");
    touch(root, "out/old.pdf");
    char *out = g_build_filename(root, "out", NULL);
    bt_inputs *l = bt_inputs_new(NULL);
    bt_inputs_skip_dir(l, out);
    docvl_error e = { 0 };
    g_assert_cmpint(bt_inputs_add(l, root, &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_inputs_finish(l, &e), ==, DOCVL_OK);
    char *s = rels(l);
    g_assert_cmpstr(s, ==, "a/deep/y.png b/x.PDF");
    g_free(s);
    char *want = g_build_filename(root, "a", "deep", "y.png", NULL);
    g_assert_cmpstr(bt_inputs_get(l, 0)->path, ==, want);
    g_free(want);
    bt_inputs_free(l);

    l = bt_inputs_new("txt");
    g_assert_cmpint(bt_inputs_add(l, root, &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_inputs_finish(l, &e), ==, DOCVL_OK);
    s = rels(l);
    g_assert_cmpstr(s, ==, "a/notes.txt");
    g_free(s);
    bt_inputs_free(l);
    test_rmtree(root);
    g_free(out);
    g_free(root);
}

static void test_file_paths(void)
{
    char *root = test_tmpdir();
    touch(root, "a/b.pdf");
    char *cwd = g_get_current_dir();
    g_assert_cmpint(chdir(root), ==, 0);
    bt_inputs *l = bt_inputs_new(NULL);
    docvl_error e = { 0 };
    g_assert_cmpint(bt_inputs_add(l, "./a//b.pdf", &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_inputs_add(l, "a/b.pdf", &e), ==, DOCVL_OK);   /* the same file */
    char *abs = g_build_filename(root, "a", "b.pdf", NULL);
    g_assert_cmpint(bt_inputs_add(l, abs, &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_inputs_finish(l, &e), ==, DOCVL_OK);
    g_assert_cmpuint(bt_inputs_count(l), ==, 2);
    g_assert_cmpstr(bt_inputs_get(l, 0)->rel, ==, "a/b.pdf");
    g_assert_cmpstr(bt_inputs_get(l, 1)->rel, ==, abs + 1);
    bt_inputs_free(l);

    l = bt_inputs_new(NULL);
    g_assert_cmpint(bt_inputs_add(l, "a/../a/b.pdf", &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "'..'"));
    bt_inputs_free(l);

    /* two files, one output path: refused */
    touch(root, "c/b.pdf");
    l = bt_inputs_new(NULL);
    e = (docvl_error){ 0 };
    g_assert_cmpint(bt_inputs_add(l, "a", &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_inputs_add(l, "c", &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_inputs_finish(l, &e), ==, DOCVL_EINVAL);
    g_assert_nonnull(strstr(e.msg, "would both write"));
    bt_inputs_free(l);
    g_assert_cmpint(chdir(cwd), ==, 0);
    test_rmtree(root);
    g_free(abs);
    g_free(cwd);
    g_free(root);
}

static void check_list(const char *root, const char *content, size_t len, int nul,
                       const char *want)
{
    char *list = g_build_filename(root, "list", NULL);
    test_write_file(list, content, len);
    bt_inputs *l = bt_inputs_new(NULL);
    docvl_error e = { 0 };
    g_assert_cmpint(bt_inputs_add_list(l, list, nul, &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_inputs_finish(l, &e), ==, DOCVL_OK);
    char *s = rels(l);
    g_assert_cmpstr(s, ==, want);
    g_free(s);
    bt_inputs_free(l);
    g_free(list);
}

static void test_list(void)
{
    char *root = test_tmpdir();
    touch(root, "p q.pdf");
    touch(root, "line\nbreak.pdf");
    touch(root, "r.pdf");
    char *cwd = g_get_current_dir();
    g_assert_cmpint(chdir(root), ==, 0);
    check_list(root, "p q.pdf\n\nr.pdf\r\n", 16, 0, "p q.pdf r.pdf");
    /* NUL-separated, found by its NUL bytes or forced */
    check_list(root, "line\nbreak.pdf\0r.pdf\0", 21, 0, "line\nbreak.pdf r.pdf");
    check_list(root, "line\nbreak.pdf", 14, 1, "line\nbreak.pdf");
    bt_inputs *l = bt_inputs_new(NULL);
    docvl_error e = { 0 };
    g_assert_cmpint(bt_inputs_add_list(l, "missing-list", 0, &e), ==, DOCVL_EIO);
    g_assert_nonnull(strstr(e.msg, "missing-list"));
    bt_inputs_free(l);
    g_assert_cmpint(chdir(cwd), ==, 0);
    test_rmtree(root);
    g_free(cwd);
    g_free(root);
}

static void test_shards(void)
{
    int k = 0, n = 0;
    docvl_error e = { 0 };
    g_assert_cmpint(bt_shard_parse("3/4", &k, &n, &e), ==, DOCVL_OK);
    g_assert_cmpint(k, ==, 3);
    g_assert_cmpint(n, ==, 4);
    const char *bad[] = { "0/4", "5/4", "4", "a/4", "1/0", "1/4x", "-1/4", "" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        e = (docvl_error){ 0 };
        g_assert_cmpint(bt_shard_parse(bad[i], &k, &n, &e), ==, DOCVL_EINVAL);
    }
    /* every path in exactly one shard, and the shards not far from even */
    int sizes[4] = { 0 };
    for (int i = 0; i < 1000; i++) {
        char *rel = g_strdup_printf("d%02d/doc%04d.pdf", i % 17, i);
        int in = 0;
        for (int s = 1; s <= 4; s++) {
            if (bt_shard_has(rel, s, 4)) {
                in++;
                sizes[s - 1]++;
            }
        }
        g_assert_cmpint(in, ==, 1);
        g_assert_true(bt_shard_has(rel, 1, 1));
        g_free(rel);
    }
    for (int s = 0; s < 4; s++)
        g_assert_cmpint(sizes[s], >, 150);
}

static bt_record record(const char *key, bt_status s, int pages)
{
    static int failed[] = { 2, 5 };
    bt_record r = { 0 };
    r.key = (char *)key;
    r.input = (char *)"in/put \"quoted\".pdf";
    r.size = 1234;
    r.mtime_ns = 1700000000123456789;
    r.options = (char *)"format=txt";
    r.status = s;
    r.reason = s == BT_DONE ? NULL : (char *)"page 2: no model";
    r.output = s == BT_FAILED ? NULL : (char *)"out.txt";
    r.failed_pages = failed;
    r.n_failed_pages = s == BT_PARTIAL ? 2 : 0;
    r.pages = pages;
    r.seconds = 0.25;
    r.host = (char *)"h";
    r.pid = 42;
    r.time = 1700000000;
    return r;
}

static void test_record_json(void)
{
    bt_record r = record("a/b.pdf", BT_PARTIAL, 6);
    char *line = bt_record_to_json(&r);
    g_assert_null(strchr(line, '\n'));
    bt_record back;
    docvl_error e = { 0 };
    g_assert_cmpint(bt_record_from_json(line, strlen(line), &back, &e), ==, DOCVL_OK);
    g_assert_cmpstr(back.key, ==, "a/b.pdf");
    g_assert_cmpstr(back.input, ==, r.input);
    g_assert_cmpint(back.size, ==, 1234);
    g_assert_cmpint(back.mtime_ns, ==, 1700000000123456789);
    g_assert_cmpint(back.status, ==, BT_PARTIAL);
    g_assert_cmpint(back.n_failed_pages, ==, 2);
    g_assert_cmpint(back.failed_pages[1], ==, 5);
    g_assert_cmpint(back.pages, ==, 6);
    g_assert_cmpstr(back.output, ==, "out.txt");
    bt_record_clear(&back);
    g_free(line);
    g_assert_cmpint(bt_record_from_json("{\"key\":1}", 9, &back, &e), ==, DOCVL_EFORMAT);
}

static void test_journal(void)
{
    char *dir = test_tmpdir();
    bt_journal *j = NULL, *other = NULL;
    docvl_error e = { 0 };
    g_assert_cmpint(bt_journal_open(dir, &j, &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_journal_open(dir, &other, &e), ==, DOCVL_OK);
    g_assert_null(bt_journal_find(j, "a"));
    bt_record r = record("a", BT_FAILED, 0);
    g_assert_cmpint(bt_journal_append(j, &r, &e), ==, DOCVL_OK);
    r = record("a", BT_DONE, 3);
    g_assert_cmpint(bt_journal_append(j, &r, &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_journal_find(j, "a")->status, ==, BT_DONE);

    /* the other handle (another process) sees them after a refresh */
    g_assert_null(bt_journal_find(other, "a"));
    g_assert_cmpint(bt_journal_refresh(other, &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_journal_find(other, "a")->pages, ==, 3);
    bt_journal_close(other);

    /* a torn tail (a machine crash mid-line) and a foreign line are skipped,
     * and the next append starts a line of its own */
    char *path = g_build_filename(dir, BT_JOURNAL_NAME, NULL);
    int fd = open(path, O_WRONLY | O_APPEND);
    g_assert_cmpint(fd, >=, 0);
    const char junk[] = "not json\n{\"key\":\"b\",\"inp";
    g_assert_cmpint(write(fd, junk, sizeof junk - 1), ==, (ssize_t)sizeof junk - 1);
    close(fd);
    g_assert_cmpint(bt_journal_refresh(j, &e), ==, DOCVL_OK);
    g_assert_null(bt_journal_find(j, "b"));   /* the tail may still be being written */
    r = record("c", BT_DONE, 1);
    g_assert_cmpint(bt_journal_append(j, &r, &e), ==, DOCVL_OK);
    bt_journal_close(j);
    g_assert_cmpint(bt_journal_open(dir, &j, &e), ==, DOCVL_OK);
    g_assert_cmpint(bt_journal_bad_lines(j), ==, 2);
    g_assert_cmpint(bt_journal_find(j, "a")->status, ==, BT_DONE);
    g_assert_cmpint(bt_journal_find(j, "c")->pages, ==, 1);
    g_assert_null(bt_journal_find(j, "b"));
    bt_journal_close(j);
    g_free(path);
    test_rmtree(dir);
    g_free(dir);
}

static void test_lock(void)
{
    char *dir = test_tmpdir();
    bt_lock *a = NULL, *b = NULL;
    docvl_error e = { 0 };
    g_assert_cmpint(bt_lock_take(dir, "x/y.pdf", 0, &a, &e), ==, DOCVL_OK);
    g_assert_nonnull(a);
    g_assert_cmpint(bt_lock_take(dir, "x/y.pdf", 0, &b, &e), ==, DOCVL_OK);
    g_assert_null(b);   /* busy: another open file description holds it */
    g_assert_cmpint(bt_lock_take(dir, "x/z.pdf", 0, &b, &e), ==, DOCVL_OK);
    g_assert_nonnull(b);
    bt_lock_release(b);
    bt_lock_release(a);
    char *ldir = g_build_filename(dir, BT_LOCK_DIR, NULL);
    GDir *d = g_dir_open(ldir, 0, NULL);
    g_assert_null(g_dir_read_name(d));   /* released locks leave no file */
    g_dir_close(d);

    /* a holder killed with SIGKILL does not keep the lock */
    int pipefd[2];
    g_assert_cmpint(pipe(pipefd), ==, 0);
    pid_t pid = fork();
    if (pid == 0) {
        bt_lock *c = NULL;
        docvl_error ce = { 0 };
        bt_lock_take(dir, "x/y.pdf", 0, &c, &ce);
        char ok = c ? 'y' : 'n';
        if (write(pipefd[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char got = 0;
    g_assert_cmpint(read(pipefd[0], &got, 1), ==, 1);
    g_assert_cmpint(got, ==, 'y');
    g_assert_cmpint(bt_lock_take(dir, "x/y.pdf", 0, &a, &e), ==, DOCVL_OK);
    g_assert_null(a);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    g_assert_cmpint(bt_lock_take(dir, "x/y.pdf", 1, &a, &e), ==, DOCVL_OK);
    g_assert_nonnull(a);
    bt_lock_release(a);
    close(pipefd[0]);
    close(pipefd[1]);
    test_rmtree(dir);
    g_free(ldir);
    g_free(dir);
}

static void test_output(void)
{
    char *dir = test_tmpdir();
    char *final = g_build_filename(dir, "a", "b", "c.pdf.txt", NULL);
    char *part = g_build_filename(dir, "a", "b", ".c.pdf.txt.part", NULL);
    bt_output o;
    docvl_error e = { 0 };
    g_assert_cmpint(bt_output_begin(final, &o, &e), ==, DOCVL_OK);
    fputs("half", o.f);
    fflush(o.f);
    g_assert_false(g_file_test(final, G_FILE_TEST_EXISTS));
    bt_output_abort(&o);
    g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(final, G_FILE_TEST_EXISTS));

    /* a part file left by a killed writer is replaced, not appended to */
    test_write_file(part, "stale stale stale", 17);
    g_assert_cmpint(bt_output_begin(final, &o, &e), ==, DOCVL_OK);
    fputs("whole", o.f);
    g_assert_cmpint(bt_output_commit(&o, &e), ==, DOCVL_OK);
    char *got = NULL;
    g_assert_true(g_file_get_contents(final, &got, NULL, NULL));
    g_assert_cmpstr(got, ==, "whole");
    g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
    g_free(got);

    /* a parent that is a file: an error naming it */
    char *blocked = g_build_filename(dir, "a", "b", "c.pdf.txt", "d.txt", NULL);
    e = (docvl_error){ 0 };
    g_assert_cmpint(bt_output_begin(blocked, &o, &e), ==, DOCVL_EIO);
    g_assert_nonnull(strstr(e.msg, "c.pdf.txt"));
    g_free(blocked);
    test_rmtree(dir);
    g_free(part);
    g_free(final);
    g_free(dir);
}

static void count_failures(void *user, int failure, const char *msg)
{
    if (failure && strstr(msg, "page 2"))
        (*(int *)user)++;
}

static int discard(void *user, const char *data, size_t len, char *msg, size_t msg_len)
{
    (void)msg;
    (void)msg_len;
    g_string_append_len(user, data, (gssize)len);
    return 0;
}

/* docvl_params.continue_without_model (what the batch reads with): the
 * page that needs the absent model fails alone, the others are written. */
static void test_continue_without_model(void)
{
    char *dir = test_tmpdir();
    char *pdf = g_build_filename(dir, "partial.pdf", NULL);
    corpus_pdf(pdf, 13, 1);
    docvl_context *ctx = NULL;
    g_assert_cmpint(docvl_open(NULL, NULL, &ctx, NULL), ==, DOCVL_OK);
    docvl_params p = docvl_default_params();
    int failures = 0;
    p.on_message = count_failures;
    p.user = &failures;
    GString *out = g_string_new(NULL);
    docvl_read_stats st;
    docvl_error e = { 0 };
    g_assert_cmpint(docvl_read(ctx, pdf, &p, (docvl_sink){ discard, out }, &st, &e), ==,
                    DOCVL_EMODEL);
    g_assert_cmpint(e.stage, ==, DOCVL_STAGE_MODEL);
    p.continue_without_model = 1;
    g_string_truncate(out, 0);
    e = (docvl_error){ 0 };
    g_assert_cmpint(docvl_read(ctx, pdf, &p, (docvl_sink){ discard, out }, &st, &e), ==,
                    DOCVL_OK);
    g_assert_cmpint(st.pages, ==, 2);
    g_assert_cmpint(st.pages_failed, ==, 1);
    g_assert_cmpint(failures, ==, 1);
    g_assert_nonnull(strstr(out->str, "Document 13, page 1."));
    g_string_free(out, TRUE);
    docvl_close(ctx);
    test_rmtree(dir);
    g_free(pdf);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/batch/inputs/walk", test_walk);
    g_test_add_func("/batch/inputs/file-paths", test_file_paths);
    g_test_add_func("/batch/inputs/list", test_list);
    g_test_add_func("/batch/shards", test_shards);
    g_test_add_func("/batch/journal/record", test_record_json);
    g_test_add_func("/batch/journal/append-refresh-torn", test_journal);
    g_test_add_func("/batch/lock", test_lock);
    g_test_add_func("/batch/output", test_output);
    g_test_add_func("/batch/api/continue-without-model", test_continue_without_model);
    return g_test_run();
}
