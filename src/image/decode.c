#include "image/decode.h"

#include <leptonica/allheaders.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <stb_image.h>

static int has_prefix(const uint8_t *d, size_t n, const char *sig, size_t sn)
{
    return n >= sn && memcmp(d, sig, sn) == 0;
}

static int tga_plausible(const uint8_t *d, size_t n)
{
    if (n < 18)
        return 0;
    int cmap = d[1], type = d[2], bpp = d[16];
    int w = d[12] | d[13] << 8, h = d[14] | d[15] << 8;
    int type_ok = type == 1 || type == 2 || type == 3 || type == 9 || type == 10 || type == 11;
    int bpp_ok = bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
    return cmap <= 1 && type_ok && bpp_ok && w > 0 && h > 0;
}

dv_image_format dv_image_sniff(const uint8_t *d, size_t n)
{
    if (has_prefix(d, n, "\x89PNG\r\n\x1a\n", 8))
        return DV_IMG_PNG;
    if (has_prefix(d, n, "\xff\xd8\xff", 3))
        return DV_IMG_JPEG;
    if (has_prefix(d, n, "GIF87a", 6) || has_prefix(d, n, "GIF89a", 6))
        return DV_IMG_GIF;
    if (has_prefix(d, n, "II*\0", 4) || has_prefix(d, n, "MM\0*", 4))
        return DV_IMG_TIFF;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return DV_IMG_WEBP;
    if (has_prefix(d, n, "BM", 2) && n >= 26)
        return DV_IMG_BMP;
    if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6' &&
        (d[2] == ' ' || d[2] == '\n' || d[2] == '\r' || d[2] == '\t'))
        return DV_IMG_PNM;
    if (tga_plausible(d, n))
        return DV_IMG_TGA;
    return DV_IMG_UNKNOWN;
}

const char *dv_image_format_name(dv_image_format f)
{
    static const char *const names[] = {"unknown", "PNG", "JPEG", "GIF", "BMP",
                                        "PNM", "TGA", "TIFF", "WebP"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

/* Leptonica reads TIFF, WebP and PNM; stb_image the rest. */
static int uses_leptonica(dv_image_format f)
{
    return f == DV_IMG_TIFF || f == DV_IMG_WEBP || f == DV_IMG_PNM;
}

static int tiff_count(const uint8_t *data, size_t len, int *count, dv_err *e)
{
    /* tiffGetCount walks the IFD chain through a stdio stream. */
    FILE *f = fmemopen((void *)data, len, "rb");
    if (!f)
        return dv_fail(e, DOCVL_ENOMEM, "TIFF: cannot open a memory stream");
    l_int32 n = 0;
    int bad = tiffGetCount(f, &n) != 0;
    fclose(f);
    if (bad || n <= 0)
        return dv_fail(e, DOCVL_EFORMAT, "TIFF: cannot read the page directory");
    *count = n;
    return DOCVL_OK;
}

int dv_image_frame_count(const uint8_t *data, size_t len, int *count, dv_err *e)
{
    dv_image_format f = dv_image_sniff(data, len);
    if (f == DV_IMG_UNKNOWN)
        return dv_fail(e, DOCVL_EFORMAT, "not a recognised image format");
    if (f == DV_IMG_TIFF)
        return tiff_count(data, len, count, e);
    *count = 1;
    return DOCVL_OK;
}

static int check_frame(const uint8_t *data, size_t len, int frame, dv_err *e)
{
    int n = 0;
    int rc = dv_image_frame_count(data, len, &n, e);
    if (rc)
        return rc;
    if (frame < 0 || frame >= n)
        return dv_fail(e, DOCVL_EINVAL, "frame %d requested, the image has %d", frame, n);
    return DOCVL_OK;
}

int dv_image_frame_size(const uint8_t *data, size_t len, int frame, int *w, int *h,
                        dv_err *e)
{
    int rc = check_frame(data, len, frame, e);
    if (rc)
        return rc;
    dv_image_format f = dv_image_sniff(data, len);
    l_int32 lw = 0, lh = 0, bps = 0, spp = 0, res = 0, cmap = 0, fmt = 0;
    int bad;
    if (f == DV_IMG_TIFF) {
        bad = readHeaderMemTiff(data, len, frame, &lw, &lh, &bps, &spp, &res, &cmap, &fmt);
    } else if (uses_leptonica(f)) {
        bad = pixReadHeaderMem(data, len, &fmt, &lw, &lh, &bps, &spp, &cmap);
    } else {
        int comp = 0;
        bad = len > INT_MAX || !stbi_info_from_memory(data, (int)len, &lw, &lh, &comp);
    }
    if (bad || lw <= 0 || lh <= 0)
        return dv_fail(e, DOCVL_EFORMAT, "%s: unreadable header", dv_image_format_name(f));
    *w = lw;
    *h = lh;
    return DOCVL_OK;
}

static void composite_px(const uint8_t *s, int comp, uint8_t *d)
{
    int gray = comp <= 2;
    int a = (comp == 2 || comp == 4) ? s[comp - 1] : 255;
    for (int c = 0; c < 3; c++) {
        int v = s[gray ? 0 : c];
        /* Over white: v*a + 255*(255-a), rounded. */
        d[c] = (uint8_t)((v * a + 255 * (255 - a) + 127) / 255);
    }
}

static int decode_stb(const uint8_t *data, size_t len, dv_image *out, dv_err *e)
{
    int w = 0, h = 0, comp = 0;
    uint8_t *px = stbi_load_from_memory(data, (int)len, &w, &h, &comp, 0);
    if (!px)
        return dv_fail(e, DOCVL_EFORMAT, "image decoder: %s", stbi_failure_reason());
    int rc = dv_image_alloc(out, w, h, e);
    if (rc == DOCVL_OK) {
        size_t n = (size_t)w * h;
        for (size_t i = 0; i < n; i++)
            composite_px(px + i * comp, comp, out->rgb + i * 3);
    }
    stbi_image_free(px);
    return rc;
}

static int pix_to_rgb(PIX *pix, dv_image *out, dv_err *e)
{
    PIX *p32 = pixConvertTo32(pix);
    if (!p32)
        return dv_fail(e, DOCVL_EFORMAT, "cannot convert the image to RGB");
    if (pixGetSpp(pix) == 4 || pixGetSpp(p32) == 4) {
        PIX *flat = pixAlphaBlendUniform(p32, 0xffffff00);
        pixDestroy(&p32);
        if (!flat)
            return dv_fail(e, DOCVL_ENOMEM, "cannot flatten the alpha channel");
        p32 = flat;
    }
    int w = pixGetWidth(p32), h = pixGetHeight(p32), wpl = pixGetWpl(p32);
    int rc = dv_image_alloc(out, w, h, e);
    if (rc == DOCVL_OK) {
        const l_uint32 *data = pixGetData(p32);
        for (int y = 0; y < h; y++) {
            const l_uint32 *line = data + (size_t)y * wpl;
            uint8_t *d = out->rgb + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                d[3 * x + 0] = (uint8_t)(line[x] >> L_RED_SHIFT);
                d[3 * x + 1] = (uint8_t)(line[x] >> L_GREEN_SHIFT);
                d[3 * x + 2] = (uint8_t)(line[x] >> L_BLUE_SHIFT);
            }
        }
    }
    pixDestroy(&p32);
    return rc;
}

static int decode_lept(const uint8_t *data, size_t len, dv_image_format f, int frame,
                       dv_image *out, dv_err *e)
{
    PIX *pix = f == DV_IMG_TIFF ? pixReadMemTiff(data, len, frame) : pixReadMem(data, len);
    if (!pix)
        return dv_fail(e, DOCVL_EFORMAT, "%s: cannot decode frame %d",
                       dv_image_format_name(f), frame);
    int rc = pix_to_rgb(pix, out, e);
    pixDestroy(&pix);
    return rc;
}

int dv_image_decode(const uint8_t *data, size_t len, int frame, size_t max_pixels,
                    dv_image *out, dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (!data || len == 0)
        return dv_fail(e, DOCVL_EFORMAT, "empty image data");
    if (len > INT_MAX)
        return dv_fail(e, DOCVL_ELIMIT, "image data of %zu bytes is too large", len);
    int w = 0, h = 0;
    int rc = dv_image_frame_size(data, len, frame, &w, &h, e);
    if (rc)
        return rc;
    if (max_pixels && (size_t)w * (size_t)h > max_pixels)
        return dv_fail(e, DOCVL_ELIMIT, "image of %d x %d pixels exceeds the limit of %zu pixels",
                       w, h, max_pixels);
    dv_image_format f = dv_image_sniff(data, len);
    if (uses_leptonica(f)) {
        rc = decode_lept(data, len, f, frame, out, e);
    } else {
        rc = decode_stb(data, len, out, e);
        /* stb_image lacks some variants Leptonica's codecs read (CMYK and
         * 12-bit JPEG, for one); TGA is stb's alone. */
        if (rc == DOCVL_EFORMAT && f != DV_IMG_TGA) {
            dv_err le = {0};
            if (decode_lept(data, len, f, frame, out, &le) == DOCVL_OK) {
                dv_err_clear(e);
                rc = DOCVL_OK;
            }
        }
    }
    if (rc == DOCVL_OK && (out->w != w || out->h != h)) {
        dv_image_free(out);
        return dv_fail(e, DOCVL_EFORMAT, "%s: decoded size differs from its header",
                       dv_image_format_name(f));
    }
    return rc;
}
