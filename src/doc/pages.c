#include "doc/pages.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* One page number or "end"; 0 when none is there. */
static int parse_num(const char **ps, int n_pages, long *out)
{
    const char *s = skip_ws(*ps);
    if (strncmp(s, "end", 3) == 0) {
        *out = n_pages;
        *ps = s + 3;
        return 1;
    }
    if (!isdigit((unsigned char)*s))
        return 0;
    long v = 0;
    while (isdigit((unsigned char)*s)) {
        if (v < 100000000)
            v = v * 10 + (*s - '0');
        s++;
    }
    *out = v;
    *ps = s;
    return 1;
}

static int parse_range(const char **ps, int n_pages, long *lo, long *hi, dv_err *e)
{
    const char *start = *ps;
    if (!parse_num(ps, n_pages, lo))
        return dv_fail(e, DOCVL_EINVAL, "page selection: expected a page number at \"%s\"",
                       start);
    *hi = *lo;
    const char *s = skip_ws(*ps);
    if (*s == '-') {
        s++;
        if (!parse_num(&s, n_pages, hi))
            *hi = n_pages; /* "10-" runs to the end */
    }
    *ps = skip_ws(s);
    if (*lo < 1 || *hi < *lo)
        return dv_fail(e, DOCVL_EINVAL, "page selection: bad range at \"%s\"", start);
    if (*hi > n_pages)
        return dv_fail(e, DOCVL_EINVAL, "page selection: page %ld is beyond the last page (%d)",
                       *hi, n_pages);
    return DOCVL_OK;
}

static int select_all(int n_pages, int *idx, int *count)
{
    for (int i = 0; i < n_pages; i++)
        idx[i] = i;
    *count = n_pages;
    return DOCVL_OK;
}

int dv_pages_parse(const char *spec, int n_pages, int **indices, int *count, dv_err *e)
{
    *indices = NULL;
    *count = 0;
    if (n_pages <= 0)
        return dv_fail(e, DOCVL_EINVAL, "page selection: the document has no pages");
    int *idx = malloc((size_t)n_pages * sizeof *idx);
    char *seen = calloc((size_t)n_pages, 1);
    if (!idx || !seen) {
        free(idx);
        free(seen);
        return dv_fail(e, DOCVL_ENOMEM, "page selection: out of memory");
    }
    int rc = DOCVL_OK, n = 0;
    const char *s = spec ? skip_ws(spec) : "";
    if (*s == '\0')
        rc = select_all(n_pages, idx, &n);
    while (*s && rc == DOCVL_OK) {
        long lo, hi;
        rc = parse_range(&s, n_pages, &lo, &hi, e);
        for (long p = lo; rc == DOCVL_OK && p <= hi; p++)
            if (!seen[p - 1]) {
                seen[p - 1] = 1;
                idx[n++] = (int)(p - 1);
            }
        if (rc == DOCVL_OK && *s == ',' && *skip_ws(s + 1))
            s = skip_ws(s + 1);
        else if (rc == DOCVL_OK && *s)
            rc = dv_fail(e, DOCVL_EINVAL, "page selection: unexpected \"%s\"", s);
    }
    free(seen);
    if (rc) {
        free(idx);
        return rc;
    }
    *indices = idx;
    *count = n;
    return DOCVL_OK;
}
