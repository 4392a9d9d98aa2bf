#include "doc/guard.h"

#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <poppler.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The trial renders at this dpi: enough to run every drawing operator. */
#define TRIAL_DPI 9.0

/* Runs in the child: everything Poppler will later be asked to do. */
static void trial(PopplerPage *page)
{
    double w, h;
    poppler_page_get_size(page, &w, &h);
    double s = TRIAL_DPI / 72.0;
    int pw = (int)(w * s) + 1, ph = (int)(h * s) + 1;
    if (pw > 4096 || ph > 4096)
        pw = ph = 1;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, pw, ph);
    cairo_t *cr = cairo_create(surf);
    cairo_scale(cr, s, s);
    poppler_page_render(page, cr);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    g_free(poppler_page_get_text(page));
    PopplerRectangle *rects = NULL;
    guint n = 0;
    if (poppler_page_get_text_layout(page, &rects, &n))
        g_free(rects);
    poppler_page_free_image_mapping(poppler_page_get_image_mapping(page));
}

/* Address space (field 0) or resident memory (field 1) of process pid in
 * bytes, from Linux's /proc/PID/statm; 0 if unknown. */
static unsigned long long statm_bytes(pid_t pid, int field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long long v[2] = {0, 0};
    int n = f ? fscanf(f, "%llu %llu", &v[0], &v[1]) : 0;
    if (f)
        fclose(f);
    return n == 2 ? v[field] * (unsigned long long)sysconf(_SC_PAGESIZE) : 0;
}

/* The bounds count what the trial adds: the caller may already hold
 * gigabytes (a loaded model), which the child shares copy-on-write. */
static void limit_child(double seconds)
{
    /* Time is counted in CPU seconds, so a busy machine (a page taking 2 s
     * of CPU can take 10 s of wall clock beside other work) does not refuse
     * good pages; past the soft limit the kernel sends SIGXCPU, whose core
     * dump of a process holding a model would be gigabytes: none. */
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    rlim_t cpu = (rlim_t)ceil(seconds);
    struct rlimit c = {cpu, cpu + 1};
    setrlimit(RLIMIT_CPU, &c);
    /* ASan reserves far more address space than the limit: no cap there. */
#if !defined(__SANITIZE_ADDRESS__)
    rlim_t cap = (rlim_t)(statm_bytes(getpid(), 0) + DV_GUARD_MAX_BYTES);
    struct rlimit r = {cap, cap};
    setrlimit(RLIMIT_AS, &r);
#endif
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Why the parent gave up on a trial. */
enum { GAVE_UP_NOT, GAVE_UP_MEMORY, GAVE_UP_WALL };

/* Waits for the child's one-byte report on fd; 1 if it came in time. The
 * child's resident memory is looked at every few milliseconds meanwhile:
 * DV_GUARD_MAX_RSS over base (the caller's own at the fork) counts as no
 * report, as does the end of wall_seconds (*gave_up says which). */
static int wait_report(int fd, pid_t pid, unsigned long long base, double wall_seconds,
                       int *gave_up)
{
    double end = now_s() + wall_seconds;
    *gave_up = GAVE_UP_NOT;
    for (;;) {
        double left = end - now_s();
        if (left <= 0) {
            *gave_up = GAVE_UP_WALL;
            return 0;
        }
        if (statm_bytes(pid, 1) > base + DV_GUARD_MAX_RSS) {
            *gave_up = GAVE_UP_MEMORY;
            return 0;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, left > 0.01 ? 10 : (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            continue;
        if (r < 0)
            return 0;
        char c;
        return read(fd, &c, 1) == 1 && c == 'k';
    }
}

int dv_guard_try_page(PopplerPage *page, double seconds, dv_err *e)
{
    /* Where no process can be made (a sandbox, a process limit) the page
     * goes unguarded rather than unread. */
    int fds[2];
    if (pipe(fds) != 0)
        return DOCVL_OK;
    unsigned long long base = statm_bytes(getpid(), 1);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return DOCVL_OK;
    }
    if (pid == 0) {
        /* The child never returns into the caller's code: _exit skips the
         * parent's atexit handlers and stdio buffers it shares. */
        close(fds[0]);
        /* a parent killed with SIGKILL takes its trial along: an orphan
         * would keep the parent's file locks (docvl batch) while it runs */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(1);
        limit_child(seconds);
        /* what Poppler says while failing ("Out of memory") would reach
         * the user bare; the refusal is reported by the parent */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        trial(page);
        ssize_t w = write(fds[1], "k", 1);
        _exit(w == 1 ? 0 : 1);
    }
    close(fds[1]);
    int gave_up = GAVE_UP_NOT;
    int ok = wait_report(fds[0], pid, base, seconds * DV_GUARD_WALL_FACTOR, &gave_up);
    close(fds[0]);
    if (!ok)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (ok)
        return DOCVL_OK;
    if (gave_up == GAVE_UP_MEMORY)
        return dv_fail(e, DOCVL_ELIMIT, "page needs more than %llu MB of memory to draw",
                       DV_GUARD_MAX_RSS >> 20);
    if (gave_up == GAVE_UP_WALL)
        return dv_fail(e, DOCVL_ELIMIT, "page needs more than %.0f s to draw",
                       seconds * DV_GUARD_WALL_FACTOR);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
        return dv_fail(e, DOCVL_ELIMIT, "page needs more than %.0f s of CPU time to draw",
                       ceil(seconds));
    return dv_fail(e, DOCVL_EFORMAT,
                   "page cannot be drawn (Poppler failed on it or needed over %llu MB)",
                   DV_GUARD_MAX_BYTES >> 20);
}
