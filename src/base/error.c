#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int dv_fail(dv_err *e, int code, const char *fmt, ...)
{
    if (!e || e->code != DOCVL_OK)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int dv_wrap(dv_err *e, const char *fmt, ...)
{
    if (!e)
        return DOCVL_EINTERNAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    /* the message is cut at the buffer's end by design */
    size_t n = strlen(prefix);
    if (n > sizeof e->msg - 3)
        n = sizeof e->msg - 3;
    memcpy(e->msg, prefix, n);
    memcpy(e->msg + n, ": ", 2);
    size_t rest = sizeof e->msg - n - 2 - 1;
    size_t m = strnlen(old, rest);
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = '\0';
    return e->code ? e->code : DOCVL_EINTERNAL;
}

void dv_err_clear(dv_err *e)
{
    e->code = DOCVL_OK;
    e->msg[0] = '\0';
}
