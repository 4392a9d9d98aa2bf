#include "doc/layout.h"

#include <leptonica/allheaders.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "doc/layout_parts.h"

/* Leptonica's own deskew thresholds: below this confidence the sweep found
 * no dominant line direction; below this angle rotating does not help. */
#define MIN_SKEW_CONF 2.0
#define MIN_SKEW_DEG 0.1
#define DEFAULT_MAX_DESKEW_DEG 5.0
/* More components than this is halftone or noise, not text worth grouping. */
#define MAX_COMPONENTS 200000

PIX *dv_page_gray(const dv_image *im)
{
    PIX *g = pixCreate(im->w, im->h, 8);
    if (!g)
        return NULL;
    l_uint32 *data = pixGetData(g);
    int wpl = pixGetWpl(g);
    for (int y = 0; y < im->h; y++) {
        l_uint32 *line = data + (size_t)y * wpl;
        const uint8_t *s = im->rgb + (size_t)y * im->w * 3;
        for (int x = 0; x < im->w; x++) {
            int v = (77 * s[3 * x] + 150 * s[3 * x + 1] + 29 * s[3 * x + 2]) >> 8;
            SET_DATA_BYTE(line, x, v);
        }
    }
    return g;
}

/* Sauvola with a window of about a fiftieth of the page: two or three text
 * lines at any resolution, so local contrast decides, not page-wide light. */
PIX *dv_page_binarize(PIX *gray)
{
    int w = pixGetWidth(gray), h = pixGetHeight(gray);
    int half = dv_imax(7, dv_imin(40, dv_imin(w, h) / 60));
    if (w < 2 * half + 4 || h < 2 * half + 4)
        return pixThresholdToBinary(gray, 128);
    int nx = dv_imax(1, dv_imin(w / 1024 + 1, w / (2 * half + 4)));
    int ny = dv_imax(1, dv_imin(h / 1024 + 1, h / (2 * half + 4)));
    PIX *bin = NULL;
    if (pixSauvolaBinarizeTiled(gray, half, 0.34f, nx, ny, NULL, &bin))
        return NULL;
    /* Sauvola leaves the inside of strokes wider than its window white
     * (no local contrast there): very dark pixels are ink regardless. */
    PIX *dark = pixThresholdToBinary(gray, 64);
    if (!dark || !pixOr(bin, bin, dark))
        pixDestroy(&bin);
    pixDestroy(&dark);
    return bin;
}

PIX *dv_page_ink(const dv_image *im)
{
    PIX *gray = dv_page_gray(im);
    PIX *bin = gray ? dv_page_binarize(gray) : NULL;
    pixDestroy(&gray);
    return bin;
}

static void find_skew(PIX *bin, dv_layout *out)
{
    l_float32 angle = 0, conf = 0;
    if (pixFindSkew(bin, &angle, &conf) == 0) {
        /* Leptonica gives the rotation that deskews, negative when the
         * lines descend to the right as seen on screen. */
        out->skew_deg = -angle;
        out->skew_conf = conf;
    }
}

static int components(PIX *bin, dv_box **boxes, int *n, dv_err *e)
{
    *boxes = NULL;
    *n = 0;
    BOXA *ba = pixConnCompBB(bin, 8);
    if (!ba)
        return dv_fail(e, DOCVL_ENOMEM, "layout: connected components failed");
    int count = boxaGetCount(ba);
    if (count > MAX_COMPONENTS || count == 0) {
        boxaDestroy(&ba);
        return DOCVL_OK;
    }
    dv_box *v = malloc((size_t)count * sizeof *v);
    if (!v) {
        boxaDestroy(&ba);
        return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for %d components", count);
    }
    for (int i = 0; i < count; i++) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(ba, i, &x, &y, &w, &h);
        v[i] = (dv_box){x, y, x + w, y + h};
    }
    boxaDestroy(&ba);
    *boxes = v;
    *n = count;
    return DOCVL_OK;
}

/* Encloses a box of the deskewed page, rotated back onto the original. */
static dv_box unrotate(dv_box b, double rad, int w, int h)
{
    double cx = w / 2.0, cy = h / 2.0, c = cos(rad), s = sin(rad);
    double xs[2] = {b.x0, b.x1}, ys[2] = {b.y0, b.y1};
    double x0 = 1e18, y0 = 1e18, x1 = -1e18, y1 = -1e18;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            double dx = xs[i] - cx, dy = ys[j] - cy;
            double x = cx + c * dx + s * dy, y = cy - s * dx + c * dy;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    dv_box r = {(int)floor(x0), (int)floor(y0), (int)ceil(x1), (int)ceil(y1)};
    return dv_box_intersect(r, (dv_box){0, 0, w, h});
}

static void map_back(dv_layout *l, double rad)
{
    for (int i = 0; i < l->n_lines; i++)
        l->lines[i] = unrotate(l->lines[i], rad, l->page_w, l->page_h);
    for (int i = 0; i < l->n_blocks; i++)
        l->blocks[i].box = unrotate(l->blocks[i].box, rad, l->page_w, l->page_h);
}

/* Ink this dense over a figure's box makes it a picture (a photo, a
 * screenshot) rather than a frame or rule around text. */
#define PICTURE_DENSITY 0.25

static int inside_picture(dv_box line, const dv_box *pics, int n)
{
    for (int i = 0; i < n; i++)
        if (dv_box_area(dv_box_intersect(line, pics[i])) * 10 >= dv_box_area(line) * 7)
            return 1;
    return 0;
}

/* Specks of a photo group into short "lines" that are not text: drop the
 * lines lying mostly inside dense figures. A figure over half the page is
 * a background or the dark surround of a book scan, not a picture. */
static void drop_lines_in_pictures(PIX *bin, dv_line_set *s)
{
    int k = 0;
    long long page = (long long)pixGetWidth(bin) * pixGetHeight(bin);
    for (int i = 0; i < s->n_figures; i++) {
        dv_box f = s->figures[i];
        if (dv_box_area(f) * 2 > page)
            continue;
        BOX *b = boxCreate(f.x0, f.y0, dv_box_w(f), dv_box_h(f));
        l_int32 count = 0;
        if (b && pixCountPixelsInRect(bin, b, &count, NULL) == 0 &&
            count >= PICTURE_DENSITY * (double)dv_box_area(f)) {
            dv_box t = s->figures[k];
            s->figures[k++] = f;
            s->figures[i] = t;
        }
        boxDestroy(&b);
    }
    int n = 0;
    for (int i = 0; i < s->n_lines; i++)
        if (!inside_picture(s->lines[i], s->figures, k))
            s->lines[n++] = s->lines[i];
    s->n_lines = n;
}

static int analyze_binary(PIX *bin, dv_layout *out, dv_err *e)
{
    dv_box *comps = NULL;
    int n = 0;
    int rc = components(bin, &comps, &n, e);
    if (rc)
        return rc;
    dv_line_set set;
    rc = dv_group_lines(comps, n, pixGetHeight(bin), &set, e);
    free(comps);
    if (rc)
        return rc;
    out->char_h = set.char_h;
    drop_lines_in_pictures(bin, &set);
    rc = dv_xycut(&set, out, e);
    dv_line_set_free(&set);
    return rc;
}

static int deskew_and_analyze(PIX *bin, double max_deg, dv_layout *out, dv_err *e)
{
    find_skew(bin, out);
    double a = -out->skew_deg;
    if (!(out->skew_conf >= MIN_SKEW_CONF && fabs(a) >= MIN_SKEW_DEG && fabs(a) <= max_deg))
        return analyze_binary(bin, out, e);
    double rad = a * M_PI / 180.0;
    PIX *rot = pixRotateShearCenter(bin, (l_float32)rad, L_BRING_IN_WHITE);
    if (!rot)
        return dv_fail(e, DOCVL_ENOMEM, "layout: deskewing failed");
    out->deskewed = 1;
    int rc = analyze_binary(rot, out, e);
    pixDestroy(&rot);
    if (rc == DOCVL_OK)
        map_back(out, rad);
    return rc;
}

int dv_layout_analyze(const dv_image *page, const dv_layout_options *opts, dv_layout *out,
                      dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (!page || !page->rgb || page->w <= 0 || page->h <= 0)
        return dv_fail(e, DOCVL_EINVAL, "layout: empty page image");
    out->page_w = page->w;
    out->page_h = page->h;
    double max_deg = opts && opts->max_deskew_deg > 0 ? opts->max_deskew_deg
                                                      : DEFAULT_MAX_DESKEW_DEG;
    PIX *gray = dv_page_gray(page);
    if (!gray)
        return dv_fail(e, DOCVL_ENOMEM, "layout: out of memory for a %d x %d page", page->w,
                       page->h);
    PIX *bin = dv_page_binarize(gray);
    pixDestroy(&gray);
    if (!bin)
        return dv_fail(e, DOCVL_ENOMEM, "layout: binarization failed");
    int rc = deskew_and_analyze(bin, max_deg, out, e);
    pixDestroy(&bin);
    if (rc)
        dv_layout_free(out);
    return rc;
}

void dv_layout_free(dv_layout *l)
{
    if (!l)
        return;
    free(l->lines);
    free(l->blocks);
    memset(l, 0, sizeof *l);
}
