#include "train/optim.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define OPT_X86 1
#else
#define OPT_X86 0
#endif

#define STATE_MAGIC "DVADAMW1"
#define MAX_NAME 4096

static int is_trainable(const dv_tmodel *model, const dv_param *p)
{
    return model->trainable[p->part] != 0;
}

int dv_adamw_init(dv_adamw *a, const dv_tmodel *model, const dv_adamw_opts *o, dv_err *e)
{
    memset(a, 0, sizeof *a);
    a->o = *o;
    a->n = model->n_params;
    a->m = calloc((size_t)a->n + 1, sizeof *a->m);
    a->v = calloc((size_t)a->n + 1, sizeof *a->v);
    if (!a->m || !a->v) {
        dv_adamw_free(a);
        return dv_fail(e, DOCVL_ENOMEM, "out of memory for the optimizer's tables");
    }
    for (int i = 0; i < a->n; i++) {
        const dv_param *p = &model->params[i];
        if (!is_trainable(model, p))
            continue;
        a->m[i] = calloc(p->n ? p->n : 1, sizeof(float));
        a->v[i] = calloc(p->n ? p->n : 1, sizeof(float));
        if (!a->m[i] || !a->v[i]) {
            dv_adamw_free(a);
            return dv_fail(e, DOCVL_ENOMEM, "out of memory for the moments of %s (%zu values)",
                           p->name, p->n);
        }
    }
    return DOCVL_OK;
}

void dv_adamw_free(dv_adamw *a)
{
    for (int i = 0; i < a->n && a->m && a->v; i++) {
        free(a->m[i]);
        free(a->v[i]);
    }
    free(a->m);
    free(a->v);
    memset(a, 0, sizeof *a);
}

typedef struct norm_job {
    const dv_tmodel *model;
    double *sq;              /* sq[i]: param p0 + i */
    int p0;
} norm_job;

static double param_sq(const dv_tmodel *model, const dv_param *p)
{
    double sum = 0.0;
    for (size_t k = 0; is_trainable(model, p) && k < p->n; k++)
        sum += (double)p->g[k] * (double)p->g[k];
    return sum;
}

static void norm_params(void *arg, int lo, int hi)
{
    const norm_job *j = arg;
    for (int i = lo; i < hi; i++)
        j->sq[i] = param_sq(j->model, &j->model->params[j->p0 + i]);
}

/* Params per pool job: their sums live on the stack (nothing allocated
 * per step). */
#define NORM_BLOCK 256

double dv_grad_norm_pool(const dv_tmodel *model, double scale, dv_pool *pool)
{
    double sum = 0.0, sq[NORM_BLOCK];
    for (int p0 = 0; p0 < model->n_params; p0 += NORM_BLOCK) {
        int n = model->n_params - p0 < NORM_BLOCK ? model->n_params - p0 : NORM_BLOCK;
        norm_job j = { model, sq, p0 };
        dv_pool_for(pool, n, 1, norm_params, &j);
        for (int i = 0; i < n; i++)
            sum += sq[i];
    }
    return sqrt(sum) * fabs(scale);
}

double dv_grad_norm(const dv_tmodel *model, double scale)
{
    return dv_grad_norm_pool(model, scale, NULL);
}

double dv_clip_factor(double norm, double clip)
{
    /* the 1e-6 keeps a zero gradient from dividing by zero, as torch does */
    if (clip <= 0.0 || !(norm > clip))
        return 1.0;
    return clip / (norm + 1e-6);
}

/* The update's constants. The update runs in float, as torch's AdamW on
 * float parameters does (the moments are stored in float either way): in
 * double, four elements at a time, it took four times the time of eight in
 * float, for changes below the float weights' own rounding. */
typedef struct adamw_k {
    float b1, nb1, b2, nb2, lr, grad_scale, c1, c2, eps, shrink;
} adamw_k;

/* One element; the vector form below does exactly these operations in this
 * order (no fused multiply-add), so both give the same bits. */
static void update_one(const adamw_k *c, float *w, float *m, float *v, const float *gp)
{
    float g = *gp * c->grad_scale;
    float mk = c->b1 * *m + c->nb1 * g;
    float vk = c->b2 * *v + c->nb2 * g * g;
    *m = mk;
    *v = vk;
    float x = *w * c->shrink;
    x -= c->lr * (mk / c->c1) / (sqrtf(vk / c->c2) + c->eps);
    *w = x;
}

#if OPT_X86
/* Eight elements at a time: returns how many it did. */
__attribute__((target("avx2"))) static size_t update_avx2(const adamw_k *c, float *w, float *m,
                                                          float *v, const float *g, size_t n)
{
    const __m256 b1 = _mm256_set1_ps(c->b1), nb1 = _mm256_set1_ps(c->nb1);
    const __m256 b2 = _mm256_set1_ps(c->b2), nb2 = _mm256_set1_ps(c->nb2);
    const __m256 gs = _mm256_set1_ps(c->grad_scale), lr = _mm256_set1_ps(c->lr);
    const __m256 c1 = _mm256_set1_ps(c->c1), c2 = _mm256_set1_ps(c->c2);
    const __m256 eps = _mm256_set1_ps(c->eps), shrink = _mm256_set1_ps(c->shrink);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 gd = _mm256_mul_ps(_mm256_loadu_ps(g + k), gs);
        __m256 mk = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + k)),
                                  _mm256_mul_ps(nb1, gd));
        __m256 vk = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + k)),
                                  _mm256_mul_ps(_mm256_mul_ps(nb2, gd), gd));
        _mm256_storeu_ps(m + k, mk);
        _mm256_storeu_ps(v + k, vk);
        __m256 x = _mm256_mul_ps(_mm256_loadu_ps(w + k), shrink);
        __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(vk, c2)), eps);
        x = _mm256_sub_ps(x, _mm256_div_ps(_mm256_mul_ps(lr, _mm256_div_ps(mk, c1)), den));
        _mm256_storeu_ps(w + k, x);
    }
    return k;
}
#endif

static void update_param(const dv_adamw *a, int i, dv_param *p, double lr, double grad_scale,
                         double c1, double c2)
{
    float *m = a->m[i], *v = a->v[i];
    /* decoupled decay: shrink the weight itself, never the gradient */
    const adamw_k c = { (float)a->o.beta1, (float)(1.0 - a->o.beta1), (float)a->o.beta2,
                        (float)(1.0 - a->o.beta2), (float)lr, (float)grad_scale, (float)c1,
                        (float)c2, (float)a->o.eps,
                        (float)(p->decay ? 1.0 - lr * a->o.weight_decay : 1.0) };
    size_t k = 0;
#if OPT_X86
    if (dv_cpu_vec_level() >= 1)
        k = update_avx2(&c, p->w, m, v, p->g, p->n);
#endif
    for (; k < p->n; k++)
        update_one(&c, &p->w[k], &m[k], &v[k], &p->g[k]);
}

typedef struct step_job {
    const dv_adamw *a;
    dv_tmodel *model;
    double lr, grad_scale, c1, c2;
} step_job;

static void update_params(void *arg, int lo, int hi)
{
    const step_job *j = arg;
    for (int i = lo; i < hi && i < j->a->n; i++) {
        dv_param *p = &j->model->params[i];
        if (is_trainable(j->model, p) && j->a->m[i])
            update_param(j->a, i, p, j->lr, j->grad_scale, j->c1, j->c2);
    }
}

void dv_adamw_step(dv_adamw *a, dv_tmodel *model, double lr, double grad_scale)
{
    a->step++;
    step_job j = { a, model, lr, grad_scale, 1.0 - pow(a->o.beta1, (double)a->step),
                   1.0 - pow(a->o.beta2, (double)a->step) };
    dv_pool_for(a->pool, model->n_params, 1, update_params, &j);
}

/* ---- state file ------------------------------------------------------------
 * "DVADAMW1", u64 step, u32 n_extra, extra words, u32 entries, then per entry
 * u32 name length, name, u64 count, count f32 m, count f32 v. Host byte order
 * (little-endian on every machine docvl runs on); the file is for --resume on
 * the same kind of machine, not for exchange. */

static int put(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int write_entries(FILE *f, const dv_adamw *a, const dv_tmodel *model)
{
    uint32_t entries = 0;
    for (int i = 0; i < a->n; i++)
        entries += a->m[i] != NULL;
    if (put(f, &entries, sizeof entries))
        return -1;
    for (int i = 0; i < a->n; i++) {
        if (!a->m[i])
            continue;
        const dv_param *p = &model->params[i];
        uint32_t len = (uint32_t)strlen(p->name);
        uint64_t count = p->n;
        if (put(f, &len, sizeof len) || put(f, p->name, len) || put(f, &count, sizeof count) ||
            put(f, a->m[i], p->n * sizeof(float)) || put(f, a->v[i], p->n * sizeof(float)))
            return -1;
    }
    return 0;
}

int dv_adamw_save(const dv_adamw *a, const dv_tmodel *model, const uint64_t *extra, int n_extra,
                  const char *path, dv_err *e)
{
    char *tmp = g_strconcat(path, ".tmp", NULL);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = dv_fail(e, DOCVL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        g_free(tmp);
        return rc;
    }
    uint64_t step = (uint64_t)a->step;
    uint32_t ne = (uint32_t)n_extra;
    int bad = put(f, STATE_MAGIC, 8) || put(f, &step, sizeof step) || put(f, &ne, sizeof ne) ||
              put(f, extra, sizeof *extra * (size_t)n_extra) || write_entries(f, a, model);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int rc = dv_fail(e, DOCVL_EIO, "%s: cannot write the optimizer state: %s", path,
                         strerror(errno));
        remove(tmp);
        g_free(tmp);
        return rc;
    }
    g_free(tmp);
    return DOCVL_OK;
}

static int get(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n ? 0 : -1;
}

static int find_param(const dv_tmodel *model, const char *name)
{
    for (int i = 0; i < model->n_params; i++)
        if (strcmp(model->params[i].name, name) == 0)
            return i;
    return -1;
}

/* Reads one entry into the moments of the param of that name, or skips it
 * when that param is frozen now. */
static int read_entry(FILE *f, dv_adamw *a, const dv_tmodel *model, const char *path, dv_err *e)
{
    uint32_t len;
    uint64_t count;
    char name[MAX_NAME + 1];
    if (get(f, &len, sizeof len) || len > MAX_NAME || get(f, name, len))
        return dv_fail(e, DOCVL_EFORMAT, "%s: truncated or bad parameter name", path);
    name[len] = 0;
    if (get(f, &count, sizeof count))
        return dv_fail(e, DOCVL_EFORMAT, "%s: truncated at %s", path, name);
    int i = find_param(model, name);
    if (i < 0 || model->params[i].n != count)
        return dv_fail(e, DOCVL_EFORMAT, "%s: %s (%llu values) is not a parameter of this model "
                       "with that size", path, name, (unsigned long long)count);
    if (!a->m[i])   /* frozen now: its moments are not needed */
        return fseek(f, (long)(2 * count * sizeof(float)), SEEK_CUR)
                   ? dv_fail(e, DOCVL_EIO, "%s: seek failed", path) : DOCVL_OK;
    if (get(f, a->m[i], count * sizeof(float)) || get(f, a->v[i], count * sizeof(float)))
        return dv_fail(e, DOCVL_EFORMAT, "%s: truncated in the moments of %s", path, name);
    return DOCVL_OK;
}

static int read_state(FILE *f, dv_adamw *a, const dv_tmodel *model, uint64_t *extra,
                      int n_extra, const char *path, dv_err *e)
{
    char magic[8];
    uint64_t step;
    uint32_t ne, entries;
    if (get(f, magic, 8) || memcmp(magic, STATE_MAGIC, 8) != 0)
        return dv_fail(e, DOCVL_EFORMAT, "%s: not a docvl optimizer state", path);
    if (get(f, &step, sizeof step) || get(f, &ne, sizeof ne))
        return dv_fail(e, DOCVL_EFORMAT, "%s: truncated header", path);
    if ((int)ne != n_extra || get(f, extra, sizeof *extra * ne))
        return dv_fail(e, DOCVL_EFORMAT, "%s: %u trainer words, expected %d", path, ne, n_extra);
    if (get(f, &entries, sizeof entries))
        return dv_fail(e, DOCVL_EFORMAT, "%s: truncated header", path);
    for (uint32_t k = 0; k < entries; k++)
        if (read_entry(f, a, model, path, e))
            return e->code;
    a->step = (long)step;
    return DOCVL_OK;
}

int dv_adamw_load(dv_adamw *a, const dv_tmodel *model, uint64_t *extra, int n_extra,
                  const char *path, dv_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dv_fail(e, DOCVL_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc = read_state(f, a, model, extra, n_extra, path, e);
    fclose(f);
    return rc;
}
