/* Writing rendered tiles and lines: PNG through Cairo, text files through GLib. */
#include <cairo.h>
#include <glib.h>
#include <string.h>

#include "train/render.h"

static int is_gray(const dv_image *im)
{
    size_t n = (size_t)im->w * im->h;
    for (size_t i = 0; i < n; i++)
        if (im->rgb[i * 3] != im->rgb[i * 3 + 1] || im->rgb[i * 3] != im->rgb[i * 3 + 2])
            return 0;
    return 1;
}

cairo_surface_t *dv_render_surface(const dv_image *im, int gray)
{
    cairo_surface_t *s = cairo_image_surface_create(gray ? CAIRO_FORMAT_A8 : CAIRO_FORMAT_RGB24,
                                                    im->w, im->h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
        return s;
    cairo_surface_flush(s);
    uint8_t *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            const uint8_t *p = im->rgb + ((size_t)y * im->w + x) * 3;
            uint32_t px = 0xff000000u | (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
            if (gray)
                data[(size_t)y * stride + x] = p[0];
            else
                memcpy(data + (size_t)y * stride + (size_t)x * 4, &px, 4);
        }
    cairo_surface_mark_dirty(s);
    return s;
}

/* A gray image (rendered tiles and lines are) is written as an 8-bit gray
 * PNG: Cairo writes an A8 surface so, a third of the bytes to compress and
 * store; decoders give back the same RGB. */
int dv_render_write_png(const dv_image *im, const char *path, dv_err *e)
{
    cairo_surface_t *s = dv_render_surface(im, is_gray(im));
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return dv_fail(e, DOCVL_ENOMEM, "%s: cannot make a %d x %d surface", path, im->w, im->h);
    }
    cairo_status_t st = cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
    return st == CAIRO_STATUS_SUCCESS
               ? DOCVL_OK : dv_fail(e, DOCVL_EIO, "%s: %s", path, cairo_status_to_string(st));
}

int dv_render_write_text(const char *path, const char *text, dv_err *e)
{
    GError *ge = NULL;
    if (g_file_set_contents(path, text, -1, &ge))
        return DOCVL_OK;
    int rc = dv_fail(e, DOCVL_EIO, "%s", ge->message);
    g_error_free(ge);
    return rc;
}

int dv_rendered_write(const dv_rendered *r, const char *stem, dv_err *e)
{
    char *png = g_strconcat(stem, ".png", NULL);
    char *txt = g_strconcat(stem, ".txt", NULL);
    char *md = g_strconcat(stem, ".md", NULL);
    int rc = dv_render_write_png(&r->image, png, e);
    if (!rc)
        rc = dv_render_write_text(txt, r->text, e);
    if (!rc)
        rc = dv_render_write_text(md, r->markdown, e);
    g_free(png);
    g_free(txt);
    g_free(md);
    return rc;
}
