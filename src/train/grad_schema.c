#include "train/grad_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/schema.h"

static tg_tower tower_of(dv_part p, int used)
{
    if (!used)
        return TG_UNUSED;
    switch (p) {
    case DV_PART_SAM: return TG_SAM;
    case DV_PART_SIGLIP: return TG_SIGLIP;
    case DV_PART_ALIGNER: return TG_ALIGNER;
    case DV_PART_LLM: return TG_LLM;
    default: return TG_UNUSED;
    }
}

static tg_init init_of(dv_init i)
{
    switch (i) {
    case DV_INIT_ONES: return TG_INIT_ONES;
    case DV_INIT_ZEROS: return TG_INIT_ZEROS;
    case DV_INIT_SMALL: return TG_INIT_SMALL;
    case DV_INIT_SCALAR: return TG_INIT_SCALAR;
    default: return TG_INIT_MATRIX;
    }
}

int tg_schema(const dv_config *cfg, tg_spec **out, int *n, dv_err *e)
{
    dv_schema s;
    int rc = dv_model_schema(cfg, &s, e);
    if (rc)
        return rc;
    tg_spec *t = calloc((size_t)(s.n ? s.n : 1), sizeof *t);
    if (!t) {
        dv_schema_free(&s);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for %d tensor descriptions", s.n);
    }
    for (int i = 0; i < s.n; i++) {
        const dv_schema_entry *x = &s.items[i];
        if (x->ndim > 4) {
            dv_schema_free(&s);
            free(t);
            return dv_fail(e, DOCVL_EUNSUPPORTED, "tensor %s has %d dimensions", x->name, x->ndim);
        }
        snprintf(t[i].name, sizeof t[i].name, "%s", x->name);
        t[i].ndim = x->ndim;
        memcpy(t[i].shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
        t[i].used = x->used;
        t[i].tower = tower_of(x->part, x->used);
        t[i].init = init_of(x->init);
        t[i].fan_in = x->fan_in;
    }
    *n = s.n;
    *out = t;
    dv_schema_free(&s);
    return DOCVL_OK;
}
