/* Loading a model directory into f32 masters and saving one back in the
 * original layout (F32 model.safetensors, config and side files, tokenizer),
 * which docvl loads like any released checkpoint. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kvrow.h"
#include "weights/checkpoint.h"
#include "weights/modeldir.h"
#include "text/tokenizer.h"
#include "train/tmodel_impl.h"

static size_t numel(const dv_schema_entry *s) { return (size_t)dv_schema_numel(s); }

/* Unused tensors may be absent (they are zero then); used ones must exist
 * with the schema's shape and a float dtype. */
static int read_tensor(const dv_checkpoint *ck, const dv_schema_entry *s, float *dst, dv_err *e)
{
    if (!s->used && !dv_checkpoint_find(ck, s->name))
        return DOCVL_OK;
    const dv_tensor *t;
    int rc = dv_checkpoint_get(ck, s->name, s->ndim, s->shape, &t, e);
    if (rc)
        return rc;
    if (t->dtype != DV_F32 && t->dtype != DV_F16 && t->dtype != DV_BF16)
        return dv_fail(e, DOCVL_EUNSUPPORTED, "tensor %s has dtype %s; the trainer reads F32, "
                       "F16 or BF16", s->name, dv_dtype_name(t->dtype));
    dv_widen(t, 0, numel(s), dst);
    return DOCVL_OK;
}

/* The image placeholder's id from the directory's tokenizer, -1 without one. */
static int32_t image_token(const char *dir, const dv_config *cfg)
{
    if (cfg->image_token_id >= 0)
        return cfg->image_token_id;
    char *path = g_build_filename(dir, "tokenizer.json", NULL);
    dv_tokenizer *tok = NULL;
    dv_err e = { 0 };
    int32_t id = -1;
    if (g_file_test(path, G_FILE_TEST_IS_REGULAR) && dv_tokenizer_open(path, &tok, &e) == 0) {
        id = dv_tokenizer_token_id(tok, cfg->proc.image_tag);
        dv_tokenizer_free(tok);
    }
    g_free(path);
    return id;
}

int dv_tmodel_load(const char *dir, dv_tmodel **out, dv_err *e)
{
    *out = NULL;
    dv_config cfg;
    dv_checkpoint *ck = NULL;
    int rc = dv_config_load(dir, &cfg, e);
    if (!rc)
        rc = dv_checkpoint_open(dir, &ck, e);
    dv_tmodel *m = NULL;
    if (!rc)
        rc = tm_create(&cfg, &m, e);
    tm_impl *I = m ? m->impl : NULL;
    for (int i = 0; !rc && i < I->n_specs; i++)
        rc = read_tensor(ck, &I->specs[i], I->tensor_w[i], e);
    if (!rc && !(I->src_dir = strdup(dir)))
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory");
    if (!rc)
        I->image_token_id = image_token(dir, &cfg);
    if (ck)
        dv_checkpoint_close(ck);
    if (rc) {
        dv_tmodel_free(m);
        return dv_wrap(e, "loading %s for training", dir);
    }
    *out = m;
    return DOCVL_OK;
}

/* ---- saving ---- */

/* The safetensors header, space-padded to a multiple of 8 bytes. */
static GString *st_header(const tm_impl *I, dv_dtype dtype)
{
    size_t elem = dtype == DV_F32 ? sizeof(float) : sizeof(uint16_t);
    GString *h = g_string_new("{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int i = 0; i < I->n_specs; i++) {
        const dv_schema_entry *s = &I->specs[i];
        uint64_t bytes = numel(s) * elem;
        g_string_append_printf(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", s->name,
                               dv_dtype_name(dtype));
        for (int d = 0; d < s->ndim; d++)
            g_string_append_printf(h, "%s%lld", d ? "," : "", (long long)s->shape[d]);
        g_string_append_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                               (unsigned long long)(off + bytes));
        off += bytes;
    }
    g_string_append_c(h, '}');
    while (h->len % 8)
        g_string_append_c(h, ' ');
    return h;
}

/* One tensor in dtype (16-bit: rounded to nearest even). */
static int write_tensor(FILE *f, const float *w, size_t n, dv_dtype dtype)
{
    if (dtype == DV_F32)
        return fwrite(w, sizeof(float), n, f) == n ? 0 : -1;
    uint16_t buf[4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 4096 ? n - i : 4096;
        if (dtype == DV_F16)
            dv_f32_to_f16_row(w + i, buf, (int)k);
        else
            for (size_t j = 0; j < k; j++)
                buf[j] = dv_f32_to_bf16(w[i + j]);
        if (fwrite(buf, sizeof(uint16_t), k, f) != k)
            return -1;
        i += k;
    }
    return 0;
}

static int write_weights(const tm_impl *I, const char *dir, dv_dtype dtype, dv_err *e)
{
    char *path = g_build_filename(dir, "model.safetensors", NULL);
    char *tmp = g_strconcat(path, ".tmp", NULL);
    FILE *f = fopen(tmp, "wb");
    int rc = f ? DOCVL_OK : dv_fail(e, DOCVL_EIO, "%s: %s", tmp, strerror(errno));
    GString *h = st_header(I, dtype);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)h->len >> (8 * i));   /* little-endian u64 */
    if (!rc && (fwrite(len, 1, 8, f) != 8 || fwrite(h->str, 1, h->len, f) != h->len))
        rc = dv_fail(e, DOCVL_EIO, "%s: writing the header: %s", tmp, strerror(errno));
    for (int i = 0; !rc && i < I->n_specs; i++) {
        if (write_tensor(f, I->tensor_w[i], numel(&I->specs[i]), dtype))
            rc = dv_fail(e, DOCVL_EIO, "%s: writing %s: %s", tmp, I->specs[i].name,
                         strerror(errno));
    }
    if (f && fclose(f) != 0 && !rc)
        rc = dv_fail(e, DOCVL_EIO, "%s: %s", tmp, strerror(errno));
    /* rename last: a reader never sees a half-written checkpoint */
    if (!rc && rename(tmp, path) != 0)
        rc = dv_fail(e, DOCVL_EIO, "renaming %s to %s: %s", tmp, path, strerror(errno));
    if (rc)
        g_remove(tmp);
    g_string_free(h, TRUE);
    g_free(tmp);
    g_free(path);
    return rc;
}

/* Copies from_dir/name to dir/name; a missing source is fine unless required. */
static int copy_file(const char *from_dir, const char *dir, const char *name, int required,
                     dv_err *e)
{
    char *src = g_build_filename(from_dir, name, NULL), *dst = g_build_filename(dir, name, NULL);
    char *text = NULL;
    gsize len = 0;
    GError *ge = NULL;
    int rc = DOCVL_OK;
    if (!g_file_get_contents(src, &text, &len, &ge)) {
        if (required || !g_error_matches(ge, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            rc = dv_fail(e, DOCVL_EIO, "%s", ge->message);
        g_error_free(ge);
    } else if (!g_file_set_contents(dst, text, (gssize)len, &ge)) {
        rc = dv_fail(e, DOCVL_EIO, "%s", ge->message);
        g_error_free(ge);
    }
    g_free(text);
    g_free(src);
    g_free(dst);
    return rc;
}

static int write_text(const char *dir, const char *name, const char *text, dv_err *e)
{
    char *dst = g_build_filename(dir, name, NULL);
    GError *ge = NULL;
    int rc = DOCVL_OK;
    if (!g_file_set_contents(dst, text, -1, &ge)) {
        rc = dv_fail(e, DOCVL_EIO, "%s", ge->message);
        g_error_free(ge);
    }
    g_free(dst);
    return rc;
}

/* config.json: a grown model's own text; else the source's own text when
 * it was in the original layout (nothing lost), else written from the
 * parsed config. */
static int write_configs(const dv_tmodel *m, const char *dir, dv_dtype dtype, dv_err *e)
{
    const tm_impl *I = m->impl;
    int keep = I->src_dir && !m->cfg.hf_layout;
    int rc = I->config_text ? write_text(dir, "config.json", I->config_text, e)
             : keep ? copy_file(I->src_dir, dir, "config.json", 1, e)
                    : dv_mk_write_config(dir, &m->cfg, 0, I->image_token_id, dtype, e);
    if (!rc)
        rc = dv_mk_write_side_files(dir, &m->cfg, 0, e);
    const char *side[] = { "preprocessor_config.json", "processor_config.json",
                           "special_tokens_map.json", "generation_config.json" };
    for (size_t i = 0; keep && !rc && i < sizeof side / sizeof side[0]; i++)
        rc = copy_file(I->src_dir, dir, side[i], 0, e);
    return rc;
}

int dv_tmodel_save(const dv_tmodel *m, const char *dir, const char *tokenizer_dir, dv_err *e)
{
    return dv_tmodel_save_as(m, dir, tokenizer_dir, DV_F32, e);
}

int dv_tmodel_save_as(const dv_tmodel *m, const char *dir, const char *tokenizer_dir,
                      dv_dtype dtype, dv_err *e)
{
    const tm_impl *I = m->impl;
    int rc = DOCVL_OK;
    if (g_mkdir_with_parents(dir, 0755) != 0)
        rc = dv_fail(e, DOCVL_EIO, "%s: cannot create: %s", dir, strerror(errno));
    if (!rc)
        rc = write_configs(m, dir, dtype, e);
    const char *tok = tokenizer_dir ? tokenizer_dir : I->src_dir;
    if (!rc && tok && !(rc = copy_file(tok, dir, "tokenizer.json", 1, e)))
        rc = copy_file(tok, dir, "tokenizer_config.json", 0, e);
    if (!rc)
        rc = write_weights(I, dir, dtype, e);
    return rc ? dv_wrap(e, "saving the trained model to %s", dir) : DOCVL_OK;
}
