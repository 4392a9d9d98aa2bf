#include "doc/input.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

dv_input_kind dv_input_sniff(const uint8_t *data, size_t len)
{
    size_t scan = len < 1024 ? len : 1024;
    for (size_t i = 0; i + 5 <= scan; i++)
        if (memcmp(data + i, "%PDF-", 5) == 0)
            return DV_INPUT_PDF;
    return dv_image_sniff(data, len) != DV_IMG_UNKNOWN ? DV_INPUT_IMAGE : DV_INPUT_UNKNOWN;
}

static int grow(uint8_t **buf, size_t *cap, size_t need, size_t max, const char *what,
                dv_err *e)
{
    if (need <= *cap)
        return DOCVL_OK;
    size_t ncap = *cap ? *cap : 65536;
    while (ncap < need)
        ncap *= 2;
    if (ncap > max + 1)
        ncap = max + 1;
    uint8_t *nb = realloc(*buf, ncap);
    if (!nb)
        return dv_fail(e, DOCVL_ENOMEM, "%s: out of memory after %zu bytes", what, *cap);
    *buf = nb;
    *cap = ncap;
    return DOCVL_OK;
}

int dv_read_stream(FILE *f, size_t max_bytes, const char *what, uint8_t **out, size_t *len,
                   dv_err *e)
{
    size_t max = max_bytes ? max_bytes : DV_INPUT_DEFAULT_MAX_BYTES;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    *out = NULL;
    *len = 0;
    for (;;) {
        /* One byte beyond the limit tells "exactly max" from "too big". */
        int rc = grow(&buf, &cap, n + 1, max, what, e);
        if (rc) {
            free(buf);
            return rc;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max) {
            free(buf);
            return dv_fail(e, DOCVL_ELIMIT, "%s: larger than the input limit of %zu bytes",
                           what, max);
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        return dv_fail(e, DOCVL_EIO, "%s: read error: %s", what, strerror(errno));
    }
    *out = buf;
    *len = n;
    return DOCVL_OK;
}

int dv_read_input(const char *path, size_t max_bytes, uint8_t **out, size_t *len, dv_err *e)
{
    if (!path)
        return dv_fail(e, DOCVL_EINVAL, "no input path");
    if (strcmp(path, "-") == 0)
        return dv_read_stream(stdin, max_bytes, "standard input", out, len, e);
    FILE *f = fopen(path, "rb");
    if (!f)
        return dv_fail(e, DOCVL_EIO, "%s: %s", path, strerror(errno));
    int rc = dv_read_stream(f, max_bytes, path, out, len, e);
    fclose(f);
    return rc;
}
