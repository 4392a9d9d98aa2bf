#include "train/trainlog.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

int dv_trainlog_open(dv_trainlog *l, const char *path, dv_err *e)
{
    memset(l, 0, sizeof *l);
    l->f = fopen(path, "a");
    if (!l->f)
        return dv_fail(e, DOCVL_EIO, "%s: cannot open the training log: %s", path, strerror(errno));
    l->path = g_strdup(path);
    if (ftell(l->f) == 0 && fputs(DV_TRAINLOG_HEADER, l->f) < 0) {
        dv_err ignore = {0};
        dv_trainlog_close(l, &ignore);
        return dv_fail(e, DOCVL_EIO, "%s: cannot write: %s", path, strerror(errno));
    }
    return DOCVL_OK;
}

int dv_trainlog_row(dv_trainlog *l, long step, double loss, double lr, double grad_norm,
                    double tokens_per_s, dv_err *e)
{
    /* flushed per row: a run stopped half way still has its curve */
    if (fprintf(l->f, "%ld\t%.6f\t%.6g\t%.6g\t%.1f\n", step, loss, lr, grad_norm,
                tokens_per_s) < 0 || fflush(l->f) != 0)
        return dv_fail(e, DOCVL_EIO, "%s: cannot write: %s", l->path, strerror(errno));
    return DOCVL_OK;
}

int dv_trainlog_close(dv_trainlog *l, dv_err *e)
{
    int rc = DOCVL_OK;
    if (l->f && fclose(l->f) != 0)
        rc = dv_fail(e, DOCVL_EIO, "%s: cannot close: %s", l->path, strerror(errno));
    g_free(l->path);
    memset(l, 0, sizeof *l);
    return rc;
}

typedef struct rows {
    GArray *step, *loss, *lr;
} rows;

/* Keeps rows in step order, a repeated step replacing what came after it. */
static void add_row(rows *r, double step, double loss, double lr)
{
    while (r->step->len && g_array_index(r->step, double, r->step->len - 1) >= step) {
        g_array_set_size(r->step, r->step->len - 1);
        g_array_set_size(r->loss, r->loss->len - 1);
        g_array_set_size(r->lr, r->lr->len - 1);
    }
    g_array_append_val(r->step, step);
    g_array_append_val(r->loss, loss);
    g_array_append_val(r->lr, lr);
}

static int parse_rows(char *text, rows *r, const char *path, dv_err *e)
{
    char **lines = g_strsplit(text, "\n", -1);
    int rc = DOCVL_OK;
    for (int i = 0; lines[i] && rc == DOCVL_OK; i++) {
        if (!*lines[i] || g_str_has_prefix(lines[i], "step\t"))
            continue;
        double s, lo, lr;
        if (sscanf(lines[i], "%lf\t%lf\t%lf", &s, &lo, &lr) != 3)
            rc = dv_fail(e, DOCVL_EFORMAT, "%s line %d: expected step, loss, lr", path, i + 1);
        else
            add_row(r, s, lo, lr);
    }
    g_strfreev(lines);
    return rc;
}

int dv_trainlog_read(const char *path, double **step, double **loss, double **lr, int *n,
                     dv_err *e)
{
    *step = *loss = *lr = NULL;
    *n = 0;
    char *text = NULL;
    size_t len = 0;
    if (dv_read_file(path, (size_t)1 << 30, &text, &len, e))
        return e->code;
    rows r = { g_array_new(FALSE, FALSE, sizeof(double)), g_array_new(FALSE, FALSE, sizeof(double)),
               g_array_new(FALSE, FALSE, sizeof(double)) };
    int rc = parse_rows(text, &r, path, e);
    free(text);
    *n = rc ? 0 : (int)r.step->len;
    *step = (double *)(void *)g_array_free(r.step, rc != 0);
    *loss = (double *)(void *)g_array_free(r.loss, rc != 0);
    *lr = (double *)(void *)g_array_free(r.lr, rc != 0);
    return rc;
}
