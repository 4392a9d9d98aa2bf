#include "cli/batch/bt_err.h"

#include <stdarg.h>
#include <stdio.h>

int bt_fail(bt_err *e, int code, const char *fmt, ...)
{
    if (e && !e->code) {
        e->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

unsigned long long bt_hash(const char *s)
{
    unsigned long long h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}
