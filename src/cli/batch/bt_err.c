#include "batch/bt_err.h"

#include <stdarg.h>

#include <glib.h>

int bt_fail(docvl_error *e, int code, const char *fmt, ...)
{
    if (!e || e->code != DOCVL_OK)
        return code;
    va_list ap;
    va_start(ap, fmt);
    g_vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = (docvl_status)code;
    return code;
}

uint64_t bt_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}
