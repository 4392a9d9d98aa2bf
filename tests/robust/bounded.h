/* Runs a function in a forked child under the bounds every bad input must
 * meet: 30 s of wall-clock time (alarm) and 2 GB of peak resident memory,
 * measured from wait4's rusage because ASan builds cannot use RLIMIT_AS
 * (they reserve terabytes of address space). Sanitized builds get four
 * times the time: ASan and UBSan slow code down about that much. */
#ifndef DV_TEST_BOUNDED_H
#define DV_TEST_BOUNDED_H

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

/* ASan builds are recognised by the compiler too, not only by CI's
 * DOCVL_SANITIZED, so a hand-run sanitized test does not set RLIMIT_AS. */
#if defined(__SANITIZE_ADDRESS__)
#define BOUNDED_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BOUNDED_ASAN 1
#endif
#endif
#ifndef BOUNDED_ASAN
#define BOUNDED_ASAN 0
#endif

#define BOUND_SECONDS 30
#define BOUND_BYTES ((long long)2 << 30)

typedef struct bounded_result {
    int exited;          /* 1: exited with status code, 0: killed by signal sig */
    int code, sig;
    long long peak_rss;  /* bytes */
} bounded_result;

static inline void bounded_quiet(void)
{
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
}

/* fn's return value is the child's exit status; exit() (not _exit) so that
 * LeakSanitizer checks the child too. */
static inline bounded_result bounded_run(int (*fn)(void *), void *arg)
{
    int sanitized = BOUNDED_ASAN || g_getenv("DOCVL_SANITIZED") != NULL;
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        if (!g_getenv("DOCVL_TEST_VERBOSE"))
            bounded_quiet();
        if (!sanitized) {
            struct rlimit r = { (rlim_t)BOUND_BYTES, (rlim_t)BOUND_BYTES };
            setrlimit(RLIMIT_AS, &r);
        }
        alarm(sanitized ? 4 * BOUND_SECONDS : BOUND_SECONDS);
        exit(fn(arg));
    }
    int status = 0;
    struct rusage ru;
    g_assert_cmpint(wait4(pid, &status, 0, &ru), ==, pid);
    bounded_result r = { WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                         WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                         (long long)ru.ru_maxrss * 1024 };
    return r;
}

/* Fails the test unless the child ended by itself with a docvl status (0 or
 * an error code, never a crash, a sanitizer report or a time-out) within
 * the memory bound. */
static inline void bounded_check(const char *what, bounded_result r, int max_code)
{
    if (!r.exited)
        g_printerr("%s: killed by signal %d (%s)\n", what, r.sig,
                   r.sig == SIGALRM ? "time limit" : "crash");
    else if (r.code > max_code)
        g_printerr("%s: exit status %d (a sanitizer report or an abort)\n", what, r.code);
    if (r.peak_rss > BOUND_BYTES)
        g_printerr("%s: peak resident memory %lld MB\n", what, r.peak_rss >> 20);
    g_assert_true(r.exited);
    g_assert_cmpint(r.code, <=, max_code);
    g_assert_cmpint(r.peak_rss, <=, BOUND_BYTES);
}

#endif
