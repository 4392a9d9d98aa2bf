/* Progress on stderr: one line rewritten in place on a terminal, a line per
 * page and tile otherwise (--progress always into a log). Warnings always
 * get their own line. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "docvl_cli.h"

struct cli_progress {
    int show;           /* progress lines wanted */
    int tty;            /* rewrite one line with \r */
    int quiet;
    char *input;        /* basename, for the progress line */
    char *path;         /* as given, for messages: as errors name it */
    gint64 start_us, last_us;
    int last_page, last_tile;
    int line_open;      /* a \r line is on screen */
    const volatile sig_atomic_t *cancel;
};

cli_progress *cli_progress_new(const cli_opts *o, const char *input)
{
    cli_progress *pr = g_new0(cli_progress, 1);
    pr->tty = isatty(STDERR_FILENO);
    pr->quiet = o->quiet;
    pr->show = !o->quiet && (o->progress == CLI_PROGRESS_ALWAYS ||
                             (o->progress == CLI_PROGRESS_AUTO && pr->tty));
    pr->input = g_path_get_basename(strcmp(input, "-") ? input : "(stdin)");
    pr->path = g_strdup(strcmp(input, "-") ? input : "(stdin)");
    pr->start_us = g_get_monotonic_time();
    pr->cancel = o->cancel;
    return pr;
}

static void fmt_time(char *buf, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void clear_line(cli_progress *pr)
{
    if (pr->line_open) {
        fputs("\r\033[K", stderr);
        pr->line_open = 0;
    }
}

void cli_progress_update(void *user, const docvl_progress *p)
{
    cli_progress *pr = user;
    if (!pr || !pr->show)
        return;
    gint64 now = g_get_monotonic_time();
    int moved = p->page != pr->last_page || p->tile != pr->last_tile;
    /* on a terminal at most 10 redraws a second; in a log only new tiles */
    if (pr->tty ? (!moved && now - pr->last_us < 100000) : !moved)
        return;
    pr->last_us = now;
    pr->last_page = p->page;
    pr->last_tile = p->tile;
    double elapsed = (now - pr->start_us) / 1e6;
    char el[32], eta[32] = "?";
    fmt_time(el, sizeof el, elapsed);
    if (p->fraction > 0.001)
        fmt_time(eta, sizeof eta, elapsed * (1 - p->fraction) / p->fraction);
    GString *s = g_string_new(NULL);
    g_string_printf(s, "%s: page %d/%d", pr->input, p->page, p->n_pages);
    if (p->n_tiles > 0)
        g_string_append_printf(s, ", tile %d/%d, %d tokens, %.1f tok/s", p->tile, p->n_tiles,
                               p->tokens, p->tokens_per_s);
    g_string_append_printf(s, ", elapsed %s, ETA %s", el, eta);
    if (pr->tty) {
        fprintf(stderr, "\r%s\033[K", s->str);
        pr->line_open = 1;
    } else {
        fprintf(stderr, "%s\n", s->str);
    }
    fflush(stderr);
    g_string_free(s, TRUE);
}

/* Lost pages and tiles are errors and show even with -q; notes do not. */
void cli_progress_warn(void *user, int failure, const char *msg)
{
    cli_progress *pr = user;
    if (pr && pr->quiet && !failure)
        return;
    if (pr)
        clear_line(pr);
    fprintf(stderr, "docvl: %s: %s\n", pr ? pr->path : "", msg);
}

int cli_progress_aborted(void *user)
{
    const cli_progress *pr = user;
    return pr->cancel && *pr->cancel;
}

void cli_progress_done(cli_progress *pr)
{
    if (!pr)
        return;
    clear_line(pr);
    g_free(pr->input);
    g_free(pr->path);
    g_free(pr);
}
