#include "train/mix.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static int parse_weight(const char *s, char **end, double *out)
{
    errno = 0;
    double v = strtod(s, end);
    if (*end == s || errno || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

int dv_mix_parse(const char *spec, dv_mix *m, dv_err *e)
{
    char *end;
    if (parse_weight(spec, &end, &m->language) || *end != ':' ||
        parse_weight(end + 1, &end, &m->multimodal) || *end)
        return dv_fail(e, DOCVL_EINVAL, "--mix \"%s\": expected LANGUAGE:MULTIMODAL, e.g. 7:3",
                       spec);
    if (m->language + m->multimodal <= 0)
        return dv_fail(e, DOCVL_EINVAL, "--mix \"%s\": both weights are zero", spec);
    return DOCVL_OK;
}

int dv_mix_draw(const dv_mix *m, dv_rng *r, long n_lang, long n_mm, long *index)
{
    double wl = n_lang > 0 ? m->language : 0.0;
    double wm = n_mm > 0 ? m->multimodal : 0.0;
    *index = 0;
    if (wl + wm <= 0)
        return -1;
    /* one uniform for the kind, one for the sample, always: the stream of
     * draws does not depend on which pools happen to be empty */
    double u = dv_rng_uniform(r);
    int kind = u * (wl + wm) < wl ? DV_KIND_LANGUAGE : DV_KIND_MULTIMODAL;
    long n = kind == DV_KIND_LANGUAGE ? n_lang : n_mm;
    *index = (long)dv_rng_below(r, (uint64_t)n);
    return kind;
}
