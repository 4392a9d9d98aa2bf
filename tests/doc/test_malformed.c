/* Every malformed corpus file ends in a clean error or a valid result, within
 * 30 s and 2 GB, without a crash: each runs in a forked child under
 * RLIMIT_AS and alarm(); the child's peak resident memory (wait4's rusage)
 * is checked too, which is the 2 GB bound in ASan builds where RLIMIT_AS
 * cannot be used. The child opens the file, then for each page
 * renders, analyses, tiles and reads the text layer. */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doc/document.h"
#include "doc/layout.h"
#include "doc/textlayer.h"
#include "doc/tiles.h"
#include "testutil.h"

#define LIMIT_SECONDS 30
#define LIMIT_BYTES ((rlim_t)2 << 30)
/* Pages read per file: the bounded work a malformed file may ask for. */
#define MAX_PAGES 4

static int process_page(dv_doc *d, int p)
{
    dv_rendered_page rp;
    dv_err e = {0};
    int rc = dv_doc_render_page(d, p, NULL, &rp, &e);
    if (rc)
        return rc;
    dv_layout l;
    rc = dv_layout_analyze(&rp.image, NULL, &l, &e);
    if (rc == DOCVL_OK) {
        dv_tiling t;
        rc = dv_tiles_make(&l, NULL, &t, &e);
        dv_tiling_free(&t);
        dv_page_text txt;
        if (rc == DOCVL_OK && (rc = dv_text_extract(d, p, rp.dpi > 0 ? rp.dpi : 72, &txt, &e)) == 0) {
            dv_text_assess(&txt, &l);
            dv_page_text_free(&txt);
        }
        dv_layout_free(&l);
    }
    dv_image_free(&rp.image);
    return rc;
}

/* The child's work; returns its exit status (0 or a docvl status). */
static int child(const char *path)
{
    dv_doc *d = NULL;
    dv_err e = {0};
    int rc = dv_doc_open_file(path, NULL, &d, &e);
    if (rc)
        return rc;
    int n = dv_doc_page_count(d);
    for (int p = 0; p < n && p < MAX_PAGES; p++)
        if ((rc = process_page(d, p)) != DOCVL_OK)
            break;
    dv_doc_close(d);
    return rc;
}

static void quiet(void)
{
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
}

static void run_one(const char *path, int sanitized)
{
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        quiet();
        /* ASan reserves terabytes of address space: no RLIMIT_AS there. */
        if (!sanitized) {
            struct rlimit r = {LIMIT_BYTES, LIMIT_BYTES};
            setrlimit(RLIMIT_AS, &r);
        }
        alarm(sanitized ? 4 * LIMIT_SECONDS : LIMIT_SECONDS);
        _exit(child(path));
    }
    int status = 0;
    struct rusage ru;
    g_assert_cmpint(wait4(pid, &status, 0, &ru), ==, pid);
    long long peak = (long long)ru.ru_maxrss * 1024;   /* ru_maxrss is in KiB */
    if (peak > (long long)LIMIT_BYTES)
        g_printerr("%s: peak resident memory %lld MB\n", path, peak >> 20);
    g_assert_cmpint(peak, <=, (long long)LIMIT_BYTES);
    if (WIFSIGNALED(status)) {
        g_printerr("%s: killed by signal %d (%s)\n", path, WTERMSIG(status),
                   WTERMSIG(status) == SIGALRM ? "time limit" : "crash");
        g_assert_not_reached();
    }
    g_assert_true(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    /* 0: a valid result; otherwise a docvl status, never an abort code. */
    g_assert_cmpint(code, <=, DOCVL_EINTERNAL);
    g_test_message("%s: %s", path, code ? docvl_status_name(code) : "ok");
}

static void test_all(void)
{
    char *dir = test_data("corpus/malformed");
    GDir *d = g_dir_open(dir, 0, NULL);
    g_assert_nonnull(d);
    int sanitized = g_getenv("DOCVL_SANITIZED") != NULL, n = 0;
    const char *name;
    while ((name = g_dir_read_name(d))) {
        char *path = g_build_filename(dir, name, NULL);
        run_one(path, sanitized);
        g_free(path);
        n++;
    }
    g_assert_cmpint(n, >=, 20);
    g_dir_close(d);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/malformed/all", test_all);
    return g_test_run();
}
