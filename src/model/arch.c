/* Resolving a family table's rows into concrete tensors (names, shapes). */
#include "model/arch.h"

#include <stdio.h>
#include <string.h>

/* Every family file, in lookup order (the first file's first family is the
 * default). */
static const dv_family_desc *(*const FAMILY_FILES[])(int *n) = { dv_deepseek_vl_families };

const dv_family_desc *dv_family_at(int i)
{
    for (size_t k = 0; i >= 0 && k < sizeof FAMILY_FILES / sizeof FAMILY_FILES[0]; k++) {
        int n;
        const dv_family_desc *f = FAMILY_FILES[k](&n);
        if (i < n)
            return &f[i];
        i -= n;
    }
    return NULL;
}

int dv_arch_modules(const dv_config *cfg, dv_placed out[DV_ARCH_MAX_MODULES])
{
    return dv_family_of(cfg)->modules(cfg, out);
}

const dv_family_desc *dv_family_of(const dv_config *cfg)
{
    const dv_family_desc *f;
    for (int i = 0; (f = dv_family_at(i)); i++)
        if (f->id == cfg->family)
            return f;
    return dv_family_at(0);
}

const dv_family_desc *dv_family_by_cls(const char *cls)
{
    const dv_family_desc *f;
    for (int i = 0; (f = dv_family_at(i)); i++)
        if (strcmp(f->vision_cls, cls) == 0)
            return f;
    return NULL;
}

int dv_config_has_tower(const dv_config *cfg, dv_tower t)
{
    const dv_family_desc *f = dv_family_of(cfg);
    return dv_arch_find(f->towers, f->n_towers, t) != NULL;
}

void dv_config_input_dims(const dv_config *cfg, int *h, int *w)
{
    int sam = dv_family_of(cfg)->input_tower == DV_TOWER_SAM;
    *h = sam ? cfg->sam.image_size : cfg->siglip.image_h;
    *w = sam ? cfg->sam.image_size : cfg->siglip.image_w;
}

const dv_placed *dv_arch_find(const dv_placed *mods, int n, dv_tower tower)
{
    for (int i = 0; i < n; i++)
        if (mods[i].mod->tower == tower)
            return &mods[i];
    return NULL;
}

int dv_row_count(const dv_config *cfg, const dv_module *mod, const dv_row *r)
{
    if (!r->rep)
        return 1;
    int64_t n = mod->dim(cfg, r->rep, -1);
    return n > 0 ? (int)n : 0;
}

const dv_row *dv_module_row(const dv_module *mod, int slot)
{
    for (int i = 0; i < mod->n_rows; i++)
        if (mod->rows[i].slot == slot)
            return &mod->rows[i];
    return NULL;
}

static int64_t resolve(const dv_config *cfg, const dv_module *mod, int sym, int i)
{
    return sym < 0 ? -(int64_t)sym : mod->dim(cfg, sym, i);
}

/* prefix + pattern with "%d" replaced by number; 0 if it does not fit. */
static int compose(char *dst, size_t cap, const char *prefix, const char *pat, int number,
                   const char *suffix)
{
    char num[16];
    snprintf(num, sizeof num, "%d", number);
    size_t n = 0;
    const char *parts[3] = { prefix, pat, suffix };
    for (int k = 0; k < 3; k++)
        for (const char *s = parts[k]; *s; s++) {
            const char *piece = k == 1 && s[0] == '%' && s[1] == 'd' ? num : NULL;
            size_t len = piece ? strlen(piece) : 1;
            if (n + len >= cap)
                return 0;
            memcpy(dst + n, piece ? piece : s, len);
            n += len;
            s += piece != NULL;
        }
    dst[n] = '\0';
    return 1;
}

int dv_row_tensor(const dv_config *cfg, const dv_placed *p, const dv_row *r, int i, int bias,
                  dv_tref *out, dv_err *e)
{
    const dv_module *mod = p->mod;
    int number = r->rep && mod->index ? mod->index(cfg, r->rep, i) : i;
    const char *suffix = r->kind == DV_KIND_TENSOR ? "" : bias ? ".bias" : ".weight";
    memset(out, 0, sizeof *out);
    if (!compose(out->name, sizeof out->name, p->prefix, r->name, number, suffix))
        return dv_fail(e, DOCVL_ELIMIT, "tensor name too long: %s%s...", p->prefix, r->name);
    int64_t d[DV_ARCH_MAX_DIMS] = { 0 };
    int nd = 0;
    while (nd < DV_ARCH_MAX_DIMS && r->dims[nd]) {
        d[nd] = resolve(cfg, mod, r->dims[nd], i);
        nd++;
    }
    if (bias || r->kind == DV_KIND_NORM) {
        out->ndim = 1;
        out->shape[0] = d[0];
    } else if (r->kind == DV_KIND_CONV) {
        out->ndim = 4;
        out->shape[0] = d[0];
        out->shape[1] = d[1];
        out->shape[2] = out->shape[3] = d[2];
        out->stride = resolve(cfg, mod, r->stride, i);
    } else {
        out->ndim = nd;
        memcpy(out->shape, d, sizeof d);
    }
    return DOCVL_OK;
}

static int walk_row(const dv_config *cfg, const dv_placed *p, const dv_row *r, dv_arch_visit fn,
                    void *user, dv_err *e)
{
    int n = dv_row_count(cfg, p->mod, r), nb = r->flags & DV_ROW_BIAS ? 2 : 1;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < nb; b++) {
            dv_tref t;
            int rc = dv_row_tensor(cfg, p, r, r->rep ? i : -1, b, &t, e);
            if (rc || (rc = fn(user, p, r, r->rep ? i : -1, b, &t, e)))
                return rc;
        }
    return DOCVL_OK;
}

int dv_arch_walk_module(const dv_config *cfg, const dv_placed *p, dv_arch_visit fn, void *user,
                        dv_err *e)
{
    for (int k = 0; k < p->mod->n_rows; k++) {
        int rc = walk_row(cfg, p, &p->mod->rows[k], fn, user, e);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}

int dv_arch_walk(const dv_config *cfg, dv_arch_visit fn, void *user, dv_err *e)
{
    dv_placed mods[DV_ARCH_MAX_MODULES];
    int n = dv_arch_modules(cfg, mods);
    for (int m = 0; m < n; m++) {
        int rc = dv_arch_walk_module(cfg, &mods[m], fn, user, e);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}
