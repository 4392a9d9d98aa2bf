#include "train/pixels.h"

#include <stdlib.h>

#include "base/json.h"
#include "image/decode.h"
#include "image/preprocess.h"

int dv_pixels_load(const char *path, const dv_config *cfg, float **out, dv_err *e)
{
    *out = NULL;
    char *bytes = NULL;
    size_t len = 0;
    if (dv_read_file(path, DV_PIXELS_MAX_FILE, &bytes, &len, e))
        return e->code;
    dv_image im = {0};
    int rc = dv_image_decode((const uint8_t *)bytes, len, 0, DV_PIXELS_MAX_PIXELS, &im, e);
    free(bytes);
    if (rc)
        return dv_wrap(e, "%s", path);
    float *px = malloc(3 * (size_t)cfg->pre.image_h * cfg->pre.image_w * sizeof *px);
    if (!px) {
        dv_image_free(&im);
        return dv_fail(e, DOCVL_ENOMEM, "%s: out of memory for a %dx%d px input", path,
                       cfg->pre.image_h, cfg->pre.image_w);
    }
    rc = dv_preprocess(&im, &cfg->pre, NULL, px, NULL, e);
    dv_image_free(&im);
    if (rc) {
        free(px);
        return dv_wrap(e, "%s", path);
    }
    *out = px;
    return DOCVL_OK;
}
