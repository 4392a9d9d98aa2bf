/* docvl-golden, vision stages: preprocessing (exact bytes), every tower tap,
 * the aligner output. The towers are fed the golden pixels when the case has
 * them, so a preprocessing difference does not hide a tower's own error. */
#include <glib.h>
#include <stb_image.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "kernels/linear.h"
#include "cli/golden.h"
#include "image/preprocess.h"
#include "model/vision.h"

static const struct {
    const char *name;
    size_t off;
} TAPS[] = {
    { "low_res_pixels", offsetof(dv_vision_taps, low_res_pixels) },
    { "sam_block0_out", offsetof(dv_vision_taps, sam_block0_out) },
    { "sam_neck_out", offsetof(dv_vision_taps, sam_neck_out) },
    { "sam_main_branch", offsetof(dv_vision_taps, sam_main_branch) },
    { "sam_hd_branch", offsetof(dv_vision_taps, sam_hd_branch) },
    { "sam_out", offsetof(dv_vision_taps, sam_out) },
    { "siglip_embed", offsetof(dv_vision_taps, siglip_embed) },
    { "siglip_blocks_out", offsetof(dv_vision_taps, siglip_blocks_out) },
    { "siglip_out", offsetof(dv_vision_taps, siglip_out) },
};
#define N_TAPS (sizeof TAPS / sizeof TAPS[0])

static float **tap_slot(dv_vision_taps *t, size_t i)
{
    return (float **)((char *)t + TAPS[i].off);
}

/* case.json image.file, decoded to RGB. */
static int load_image(const golden_case *gc, dv_image *im, dv_err *e)
{
    JsonObject *img = NULL;
    const char *file = NULL;
    if (dv_json_obj(gc->case_obj, "image", "case.json", &img, e) <= 0 ||
        dv_json_str(img, "file", "case.json image", &file, e) <= 0)
        return dv_fail(e, DOCVL_EFORMAT, "%s/case.json: no image.file", gc->dir);
    if (strchr(file, '/'))
        return dv_fail(e, DOCVL_EFORMAT, "%s/case.json: image.file \"%s\" is not a plain name",
                       gc->dir, file);
    char *path = g_build_filename(gc->dir, file, NULL);
    int w, h, n;
    unsigned char *px = stbi_load(path, &w, &h, &n, 3);
    int rc = px ? dv_image_alloc(im, w, h, e)
                : dv_fail(e, DOCVL_EIO, "%s: cannot decode (%s)", path, stbi_failure_reason());
    if (!rc)
        memcpy(im->rgb, px, (size_t)w * h * 3);
    stbi_image_free(px);
    g_free(path);
    return rc;
}

/* Our preprocessing, compared byte for byte; pixels receives the tower input. */
static int preprocess_stage(golden_case *gc, float *pixels, dv_err *e)
{
    dv_image im = { 0 };
    int rc = load_image(gc, &im, e);
    int h = gc->cfg.pre.image_h, w = gc->cfg.pre.image_w;
    size_t n = 3 * (size_t)h * w;
    uint8_t *u8 = rc ? NULL : malloc(n);
    if (!rc && !u8)
        rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for a %d x %d image", w, h);
    if (!rc && !(rc = dv_preprocess(&im, &gc->cfg.pre, u8, pixels, NULL, e)))
        golden_compare_u8(gc, "pixel_values_u8", u8, n);
    const dv_tensor *ref = golden_tensor(gc, "pixel_values_u8");
    if (!rc && ref && ref->dtype == DV_U8 && (size_t)dv_tensor_numel(ref) == n)
        dv_preprocess_to_float(ref->data, &gc->cfg.pre, pixels);
    free(u8);
    dv_image_free(&im);
    return rc;
}

static int alloc_taps(const dv_vision *v, dv_vision_taps *t, dv_err *e)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < N_TAPS; i++) {
        size_t n = dv_vision_tap_len(v, TAPS[i].name);
        if (n && !(*tap_slot(t, i) = malloc(n * sizeof(float))))
            return dv_fail(e, DOCVL_ENOMEM, "out of memory for stage %s", TAPS[i].name);
    }
    return DOCVL_OK;
}

static void free_taps(dv_vision_taps *t)
{
    for (size_t i = 0; i < N_TAPS; i++)
        free(*tap_slot(t, i));
}

static void compare_taps(golden_case *gc, const dv_vision *v, dv_vision_taps *t)
{
    for (size_t i = 0; i < N_TAPS; i++)
        if (*tap_slot(t, i))
            golden_compare(gc, TAPS[i].name, *tap_slot(t, i), dv_vision_tap_len(v, TAPS[i].name));
}

/* A golden tensor as f32 when it holds exactly n values, else NULL. */
static float *golden_f32(const golden_case *gc, const char *name, size_t n, dv_err *e)
{
    const dv_tensor *t = golden_tensor(gc, name);
    if (!t || (size_t)dv_tensor_numel(t) != n)
        return NULL;
    return dv_tensor_to_f32(t, e);
}

/* The aligner fed the reference tower outputs: tells an aligner error from
 * an error carried in from the towers. */
static int aligner_isolated(golden_case *gc, const dv_vision *v, const dv_vision_taps *t,
                            const dv_ctx *ctx, dv_err *e)
{
    size_t n_sig = dv_vision_tap_len(v, "siglip_out"), n_sam = dv_vision_tap_len(v, "sam_out");
    size_t n_out = (size_t)dv_vision_tokens(v) * dv_vision_embed_dim(v);
    float *sig = golden_f32(gc, "siglip_out", n_sig, e);
    float *sam = t->sam_out ? golden_f32(gc, "sam_out", n_sam, e) : NULL;
    float *out = malloc(n_out * sizeof *out);
    int rc = !out ? dv_fail(e, DOCVL_ENOMEM, "out of memory for the image embeddings") : e->code;
    if (!rc && sig && (sam || !t->sam_out) && !(rc = dv_vision_align(v, sam, sig, out, ctx, e)))
        golden_compare_as(gc, "aligner_out", "aligner_out[golden inputs]", out, n_out);
    free(sig);
    free(sam);
    free(out);
    return rc;
}

int golden_run_vision(golden_case *gc, float **aligner_out, const dv_ctx *ctx, dv_err *e)
{
    *aligner_out = NULL;
    dv_vision *v = NULL;
    dv_vision_taps taps = { 0 };
    float *pixels = malloc(3 * (size_t)gc->cfg.pre.image_h * gc->cfg.pre.image_w * sizeof *pixels);
    float *out = NULL;
    int rc = pixels ? preprocess_stage(gc, pixels, e)
                    : dv_fail(e, DOCVL_ENOMEM, "out of memory for a %d x %d image",
                              gc->cfg.pre.image_w, gc->cfg.pre.image_h);
    /* keep 16-bit weights 16-bit: exercises the streamed widening path (or
     * the bf16 products, --bf16-products) */
    if (!rc)
        rc = dv_vision_bind(&gc->cfg, gc->ck, gc->bf16_products ? DV_TOWERS_BF16 : DV_TOWERS_STORED,
                            &v, e);
    if (!rc)
        rc = alloc_taps(v, &taps, e);
    if (!rc) {
        size_t n = (size_t)dv_vision_tokens(v) * dv_vision_embed_dim(v);
        if (!(out = malloc(n * sizeof *out)))
            rc = dv_fail(e, DOCVL_ENOMEM, "out of memory for the image embeddings");
        else if (!(rc = dv_vision_forward(v, pixels, out, &taps, ctx, e))) {
            compare_taps(gc, v, &taps);
            golden_compare(gc, "aligner_out", out, n);
            rc = aligner_isolated(gc, v, &taps, ctx, e);
        }
    }
    if (rc) {
        free(out);
        out = NULL;
    }
    *aligner_out = out;
    free_taps(&taps);
    dv_vision_free(v);
    free(pixels);
    return rc;
}
