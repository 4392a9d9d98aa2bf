#include "text/loopguard.h"

#include <stdlib.h>
#include <string.h>

int dv_loopguard_init(dv_loopguard *g, const dv_loopguard_opts *o, dv_err *e)
{
    memset(g, 0, sizeof *g);
    g->o = o ? *o : DV_LOOPGUARD_DEFAULT;
    if (g->o.enabled && (g->o.window < 1 || g->o.min_repeats < 2 || g->o.min_span < 2))
        return dv_fail(e, DOCVL_EINVAL,
                       "loop guard: window %d, min_repeats %d, min_span %d (need >= 1, 2, 2)",
                       g->o.window, g->o.min_repeats, g->o.min_span);
    if (g->o.enabled && !(g->run = calloc((size_t)g->o.window + 1, sizeof *g->run)))
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the loop guard");
    return DOCVL_OK;
}

void dv_loopguard_free(dv_loopguard *g)
{
    free(g->ids);
    free(g->off);
    free(g->text);
    free(g->run);
    memset(g, 0, sizeof *g);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Length of a <td>, </tr>, <th colspan=2> ... tag at t, or 0. */
static size_t table_tag(const char *t, size_t len)
{
    static const char *names[] = { "table", "thead", "tbody", "tr", "td", "th" };
    if (len < 3 || t[0] != '<')
        return 0;
    size_t i = t[1] == '/' ? 2 : 1;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        size_t nl = strlen(names[k]);
        if (len - i < nl || strncmp(t + i, names[k], nl) != 0)
            continue;
        size_t j = i + nl;
        if (j < len && t[j] != '>' && !is_space(t[j]))
            continue;   /* <tdx> is not a cell */
        const char *gt = memchr(t + j, '>', len - j);
        if (gt)
            return (size_t)(gt - t) + 1;
    }
    return 0;
}

int dv_is_table_markup(const char *text, size_t len)
{
    if (!text || len == 0)
        return 0;
    size_t i = 0;
    int cells = 0;   /* blank lines or dashes alone are no table */
    while (i < len) {
        char c = text[i];
        size_t tag;
        if (c == '-' || c == ':' || is_space(c)) {
            i++;
        } else if (c == '|') {
            cells = 1;
            i++;
        } else if ((tag = table_tag(text + i, len - i))) {
            cells = 1;
            i += tag;
        } else {
            return 0;
        }
    }
    return cells;
}

static int grow(dv_loopguard *g, size_t add, dv_err *e)
{
    if (g->n + 1 >= g->cap) {
        int cap = g->cap ? g->cap * 2 : 256;
        int32_t *ids = realloc(g->ids, (size_t)cap * sizeof *ids);
        if (ids)
            g->ids = ids;
        size_t *off = realloc(g->off, ((size_t)cap + 1) * sizeof *off);
        if (off)
            g->off = off;
        if (!ids || !off)
            return dv_fail(e, DOCVL_ENOMEM, "out of memory in the loop guard");
        g->cap = cap;
    }
    if (g->text_len + add + 1 > g->text_cap) {
        size_t cap = (g->text_len + add + 1) * 2;
        char *t = realloc(g->text, cap);
        if (!t)
            return dv_fail(e, DOCVL_ENOMEM, "out of memory in the loop guard");
        g->text = t;
        g->text_cap = cap;
    }
    return DOCVL_OK;
}

/* The run of the last `span` tokens has period p: is it exempt markup? */
static int exempt(const dv_loopguard *g, int p, int span)
{
    if (span / p >= g->o.table_max_repeats)
        return 0;
    size_t a = g->off[g->n - p], b = g->off[g->n];
    return dv_is_table_markup(g->text + a, b - a);
}

static void check(dv_loopguard *g)
{
    int last = g->n - 1;
    for (int p = 1; p <= g->o.window; p++) {
        if (p > last) {
            g->run[p] = 0;
            continue;
        }
        g->run[p] = g->ids[last] == g->ids[last - p] ? g->run[p] + 1 : 0;
        int span = g->run[p] + p;
        int need = p * g->o.min_repeats > g->o.min_span ? p * g->o.min_repeats : g->o.min_span;
        if (!g->tripped && span >= need && !exempt(g, p, span)) {
            g->tripped = 1;
            g->period = p;
            g->loop_start = g->n - span;
        }
    }
}

int dv_loopguard_push(dv_loopguard *g, int32_t id, const char *piece, size_t len, int *looped,
                      dv_err *e)
{
    if (!piece)
        len = 0;
    int rc = grow(g, len, e);
    if (rc)
        return rc;
    if (g->n == 0)
        g->off[0] = 0;
    g->ids[g->n] = id;
    if (len)
        memcpy(g->text + g->text_len, piece, len);
    g->text_len += len;
    g->text[g->text_len] = '\0';
    g->n++;
    g->off[g->n] = g->text_len;
    if (g->o.enabled)
        check(g);
    *looped = g->tripped;
    return DOCVL_OK;
}
