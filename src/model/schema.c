#include "model/schema.h"

#include <stdlib.h>
#include <string.h>

static dv_init init_of(const dv_row *r, int bias)
{
    if (r->kind == DV_KIND_TENSOR)
        return r->init;
    return bias ? DV_INIT_ZEROS : r->kind == DV_KIND_NORM ? DV_INIT_ONES : DV_INIT_MATRIX;
}

static int add_entry(void *user, const dv_placed *p, const dv_row *r, int i, int bias,
                     const dv_tref *t, dv_err *e)
{
    (void)i;
    dv_schema *s = user;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 256;
        dv_schema_entry *q = realloc(s->items, (size_t)cap * sizeof *q);
        if (!q)
            return dv_fail(e, DOCVL_ENOMEM, "out of memory for the model schema");
        s->items = q;
        s->cap = cap;
    }
    dv_schema_entry *x = &s->items[s->n++];
    memset(x, 0, sizeof *x);
    memcpy(x->name, t->name, sizeof x->name);
    x->ndim = t->ndim;
    memcpy(x->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    x->used = !(r->flags & DV_ROW_UNUSED);
    x->tower = p->mod->tower;
    x->init = init_of(r, bias);
    x->flags = r->flags;
    x->fan_in = 1;
    for (int k = 1; k < t->ndim; k++)
        x->fan_in *= t->shape[k];
    return DOCVL_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const dv_schema_entry *)a)->name, ((const dv_schema_entry *)b)->name);
}

int dv_model_schema(const dv_config *cfg, dv_schema *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    int rc = dv_arch_walk(cfg, add_entry, out, e);
    if (rc) {
        dv_schema_free(out);
        return rc;
    }
    qsort(out->items, (size_t)out->n, sizeof *out->items, cmp_entry);
    return DOCVL_OK;
}

void dv_schema_free(dv_schema *s)
{
    free(s->items);
    memset(s, 0, sizeof *s);
}

int64_t dv_schema_numel(const dv_schema_entry *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

int dv_model_validate(const dv_config *cfg, const dv_checkpoint *ck, dv_err *e)
{
    dv_schema s;
    int rc = dv_model_schema(cfg, &s, e);
    if (rc)
        return rc;
    for (int i = 0; i < s.n && !rc; i++) {
        const dv_schema_entry *t = &s.items[i];
        const dv_tensor *found;
        if (!t->used && !dv_checkpoint_find(ck, t->name))
            continue;
        rc = dv_checkpoint_get(ck, t->name, t->ndim, t->shape, &found, e);
    }
    dv_schema_free(&s);
    return rc;
}
