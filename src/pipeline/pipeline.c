/* document -> pages -> tiles -> model -> writer.
 *
 * Per page: the PDF text layer is read and judged (doc/textlayer.h) against
 * the rendered page's layout; a usable layer is written as it is. Otherwise
 * the page's layout blocks are cut into tiles (doc/tiles.h), each tile read
 * by the model, the tiles' text joined in reading order and, for hOCR, laid
 * on the detected text lines. A tile whose output loops is retried once with
 * sampling, then counted failed and replaced by the text layer's words
 * inside it when the page has a layer.
 *
 * With --tiles lines (the default for a model that reads lines) the layout's
 * text lines are cut into segments of the model's input shape instead
 * (doc/linecut.h), each read as a tile is, and the page is assembled from
 * the lines (pipeline/linepage.h); a segment the reader fails on is a failed
 * tile too, and the rest of the page goes on. */
#include "pipeline/pipeline.h"

#include <glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/document.h"
#include "doc/furniture.h"
#include "doc/layout.h"
#include "doc/linecut.h"
#include "doc/orient.h"
#include "doc/pages.h"
#include "doc/tables.h"
#include "doc/textlayer.h"
#include "doc/tiles.h"
#include "pipeline/linepage.h"
#include "pipeline/text.h"

/* The per-tile instructions (documented in man/docvl.1 and docs/cli.md). */
#define PROMPT_TEXT                                                                             \
    "Transcribe all the text in this image exactly as written, in reading order. "              \
    "Keep line breaks. Output only the text."
#define PROMPT_MARKDOWN                                                                         \
    "Convert this document image to Markdown, in reading order. Use # headings, lists and "     \
    "emphasis where the document has them, and write tables as HTML <table> elements. "         \
    "Output only the Markdown."

/* A line handed to a model that does not read lines is scaled into its
 * input whole: its text keeps at least this many pixels of height there. */
#define DV_LINE_MIN_PX 32.0
/* See level(). */
#define LEVEL_DRIFT 0.5

const char *dv_pipeline_default_prompt(docvl_format f)
{
    return f == DOCVL_FORMAT_MARKDOWN ? PROMPT_MARKDOWN : PROMPT_TEXT;
}

/* State of one run, for progress and the per-page steps. */
typedef struct run {
    const docvl_params *o;
    dv_reader_source src;
    const dv_tile_reader *reader;   /* asked for on first need */
    dv_doc *doc;
    const char *input;
    dv_writer *w;
    docvl_read_stats *st;
    docvl_stage *stage;
    docvl_progress prog;
    gint64 tile_start_us;
    gint64 page_deadline_us;    /* 0: no page timeout */
    dv_furniture *furniture;    /* md without keep_furniture: what leaves it out */
} run;

/* failure: a page or tile was lost (the run's status becomes 5), as
 * opposed to a note about how a page was read. */
static void warn(const run *r, int failure, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(const run *r, int failure, const char *fmt, ...)
{
    if (!r->o->on_message)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r->o->on_message(r->o->user, failure, msg);
    g_free(msg);
}

static int cancelled(const run *r)
{
    return r->o->should_abort && r->o->should_abort(r->o->user);
}

static void report(run *r)
{
    if (r->o->on_progress)
        r->o->on_progress(r->o->user, &r->prog);
}

static int need_reader(run *r, int page_no, dv_err *e)
{
    int rc = r->reader ? DOCVL_OK
             : r->src.available
             ? r->src.get(r->src.user, &r->reader, e)
             : dv_fail(e, DOCVL_EMODEL,
                       "page %d has no text to copy and needs the model, but no model was given",
                       page_no);
    if (rc) {
        *r->stage = DOCVL_STAGE_MODEL;
        return rc;
    }
    /* a line reader was trained to transcribe lines, never to answer */
    if (r->o->ask && r->reader->reads_lines) {
        *r->stage = DOCVL_STAGE_OPTIONS;
        return dv_fail(e, DOCVL_EUNSUPPORTED, "--ask: this model reads text lines and cannot "
                       "answer questions; ask with a DeepSeek-VL chat model (--model DIR)");
    }
    return DOCVL_OK;
}

static int past_deadline(const run *r)
{
    return r->page_deadline_us && g_get_monotonic_time() >= r->page_deadline_us;
}

static int timed_out(const run *r, dv_err *e)
{
    return dv_fail(e, DOCVL_ELIMIT, "took longer than %g s (--page-timeout): abandoned",
                   r->o->page_timeout);
}

static int on_token(void *user, int step, int32_t id, const char *text, size_t len)
{
    (void)id;
    (void)text;
    (void)len;
    run *r = user;
    int n_tokens = step + 1;
    if (cancelled(r) || past_deadline(r))
        return 1;
    double s = (g_get_monotonic_time() - r->tile_start_us) / 1e6;
    r->prog.tokens = n_tokens;
    r->prog.tokens_per_s = s > 0 ? n_tokens / s : 0;
    report(r);
    return 0;
}

/* Tiles decoded side by side: every generated token of any of them counts
 * (the flush of held-back text, id -1, is no token). */
static int on_batch_token(void *user, int step, int32_t id, const char *text, size_t len)
{
    (void)step;
    (void)text;
    (void)len;
    run *r = user;
    if (cancelled(r) || past_deadline(r))
        return 1;
    if (id < 0)
        return 0;
    double s = (g_get_monotonic_time() - r->tile_start_us) / 1e6;
    r->prog.tokens++;
    r->prog.tokens_per_s = s > 0 ? r->prog.tokens / s : 0;
    report(r);
    return 0;
}

/* The seed of the sampled retry of tile prog.tile: the same whether the
 * tile's first read was alone or beside others. */
static uint64_t retry_seed(const run *r)
{
    return (uint64_t)r->prog.page_no * 1000003u + (uint64_t)r->prog.tile;
}

/* One tile from attempt `first` on (0 greedy, 1 the sampled retry of a
 * loop), retried once with sampling when the output loops. Returns the
 * text (NULL when the tile failed) or an error. */
/* A read's mean log-probability per token (eos included): how sure the
 * model was of it; NAN from a reader that does not say (never read again,
 * never preferred: every comparison with NAN is false). */
static double mean_logprob(const dv_tile_result *res)
{
    return res->n_scored > 0 ? res->logprob / res->n_scored : NAN;
}

static int read_tile_from(run *r, const dv_image *tile, const char *instruction, int max_tokens,
                          int first, char **text, double *score, dv_err *e)
{
    *text = NULL;
    dv_tile_opts to = { instruction, max_tokens, 0, 0, on_token, r, score != NULL };
    for (int attempt = first; attempt < 2; attempt++) {
        to.sample = attempt;
        to.seed = retry_seed(r);
        r->tile_start_us = g_get_monotonic_time();
        dv_tile_result res;
        int rc = r->reader->read(r->reader->self, tile, &to, &res, e);
        if (rc)
            return rc;
        if (res.stopped) {
            dv_tile_result_free(&res);
            return cancelled(r) ? dv_fail(e, DOCVL_EINTERRUPTED, "interrupted")
                                   : timed_out(r, e);
        }
        if (!res.degenerate) {
            *text = res.text;
            res.text = NULL;
            if (score)
                *score = mean_logprob(&res);
            dv_tile_result_free(&res);
            return DOCVL_OK;
        }
        dv_tile_result_free(&res);
    }
    return DOCVL_OK;
}

static int read_tile(run *r, const dv_image *tile, const char *instruction, char **text,
                     dv_err *e)
{
    return read_tile_from(r, tile, instruction, r->o->max_tokens, 0, text, NULL, e);
}

static const char *instruction_of(const docvl_params *o)
{
    if (o->ask)
        return o->ask;
    return o->prompt ? o->prompt : dv_pipeline_default_prompt(o->format);
}

/* The most tokens a line segment's text may take: no glyph is narrower
 * than LINE_GLYPH_MIN_PX of the model's input, and a token is a glyph at
 * least, so a segment read past that is looping in a way the loop guard
 * did not catch (or reading garbage): stopped there, a page's time stays
 * bounded by its segments. */
#define LINE_GLYPH_MIN_PX 2
static int line_max_tokens(const run *r)
{
    int w = r->reader->input_w > 0 ? r->reader->input_w : r->reader->image_size;
    int cap = MAX(16, w / LINE_GLYPH_MIN_PX);
    return MIN(r->o->max_tokens, cap);
}

/* A line is plain text whatever the output format (the writers make the
 * Markdown and hOCR from the lines): the user's prompt, else what the model
 * declares it was trained to read with, else the plain-text prompt. */
static const char *line_instruction(const run *r)
{
    if (r->o->prompt)
        return r->o->prompt;
    return r->reader->instruction ? r->reader->instruction : PROMPT_TEXT;
}

/* Text lines instead of tiles: asked for, or the default for a model that
 * reads lines. Questions are asked about the whole page. */
static int reads_by_line(const run *r)
{
    if (r->o->ask || r->o->tiles == DOCVL_TILES_OFF)
        return 0;
    return r->o->tiles == DOCVL_TILES_LINES || r->reader->reads_lines;
}

/* The widest crop per unit of height a segment may have. A line model
 * scales the crop to its input's height: the input's aspect, less a little
 * for rounding. Any other model fits the crop into its input whole: the
 * text must keep DV_LINE_MIN_PX of height there. */
static double line_aspect(const dv_tile_reader *rd)
{
    double w = rd->input_w > 0 ? rd->input_w : rd->image_size;
    double h = rd->input_h > 0 ? rd->input_h : rd->image_size;
    if (rd->reads_lines)
        return fmax(1.0, 0.97 * w / h);
    return fmax(1.0, fmax(w / h, w / DV_LINE_MIN_PX));
}

/* Copies box b of the page (clipped) into a new image: the tile. */
static int crop(const dv_image *im, dv_box b, dv_image *out, dv_err *e)
{
    b = dv_box_intersect(b, (dv_box){ 0, 0, im->w, im->h });
    if (dv_box_empty(b))
        return dv_fail(e, DOCVL_EINVAL, "tile outside the %dx%d page", im->w, im->h);
    int rc = dv_image_alloc(out, dv_box_w(b), dv_box_h(b), e);
    if (rc)
        return rc;
    size_t row = (size_t)out->w * 3;
    for (int y = 0; y < out->h; y++)
        memcpy(out->rgb + (size_t)y * row, im->rgb + ((size_t)(b.y0 + y) * im->w + b.x0) * 3, row);
    return DOCVL_OK;
}

/* What one page needs, made at most once: text layer, rendering, layout. */
typedef struct page_work {
    int index;
    dv_page_text pt;
    dv_rendered_page rp;
    dv_layout lay;
    int rendered;
    int turned;         /* clockwise quarter turns applied for the model, in degrees */
    int levelled;       /* the page was deskewed for reading by lines */
} page_work;

static void page_work_free(page_work *pw)
{
    dv_page_text_free(&pw->pt);
    dv_image_free(&pw->rp.image);
    dv_layout_free(&pw->lay);
}

static int render(run *r, page_work *pw, dv_err *e)
{
    if (pw->rendered)
        return DOCVL_OK;
    dv_render_options ro = { r->o->dpi, 0 };
    int rc = dv_doc_render_page(r->doc, pw->index, &ro, &pw->rp, e);
    if (rc == DOCVL_OK && pw->rp.warning[0])
        warn(r, 0, "page %d: %s", pw->index + 1, pw->rp.warning);
    if (rc == DOCVL_OK)
        rc = dv_layout_analyze(&pw->rp.image, NULL, &pw->lay, e);
    pw->rendered = rc == DOCVL_OK;
    return rc;
}

/* The page's pixels become im (taken), analysed again. */
static int replace_page(page_work *pw, dv_image im, dv_err *e)
{
    dv_image_free(&pw->rp.image);
    pw->rp.image = im;
    dv_layout_free(&pw->lay);
    memset(&pw->lay, 0, sizeof pw->lay);
    return dv_layout_analyze(&pw->rp.image, NULL, &pw->lay, e);
}

/* Pages scanned sideways or upside down are turned upright before the
 * model sees them, and analysed again; boxes then refer to the turned page.
 * Weak evidence leaves the page as it is. */
static int upright(run *r, page_work *pw, dv_err *e)
{
    int deg = 0;
    dv_err oe = { 0 };
    if (dv_orient_detect(&pw->rp.image, &deg, NULL, &oe) != DOCVL_OK || deg == 0)
        return DOCVL_OK;
    dv_image turned = { 0 };
    int rc = dv_orient_rotate(&pw->rp.image, deg, &turned, e);
    if (rc)
        return rc;
    pw->turned = deg;
    warn(r, 0, "page %d: turned %d degrees clockwise to read it", pw->index + 1, deg);
    return replace_page(pw, turned, e);
}

/* The widest text line's rise over its width on the page as analysed. */
static double skew_drift(const dv_layout *l)
{
    int widest = 0;
    for (int i = 0; i < l->n_lines; i++)
        widest = dv_imax(widest, dv_box_w(l->lines[i]));
    return widest * tan(fabs(l->skew_deg) * G_PI / 180);
}

/* Lines are cut along rows of pixels: a page the layout found skewed is
 * levelled first when its widest line rises by more than LEVEL_DRIFT
 * character heights (the line boxes enclose the slope, taking in the lines
 * around), and its boxes then refer to the levelled page. Less skew is
 * left alone: resampling softens the type, and a levelled page's crops no
 * longer match the text layer's word boxes. */
static int level(page_work *pw, dv_err *e)
{
    if (!pw->lay.deskewed || skew_drift(&pw->lay) <= LEVEL_DRIFT * pw->lay.char_h)
        return DOCVL_OK;
    dv_image lev = { 0 };
    int rc = dv_orient_deskew(&pw->rp.image, pw->lay.skew_deg, &lev, e);
    if (rc)
        return rc;
    pw->levelled = 1;
    return replace_page(pw, lev, e);
}

/* hOCR needs boxes: a tile's text lines go on the text lines detected
 * inside that tile (or fill the tile when none were), appended to the
 * page's blocks in reading order. */
static int place_tile_text(const dv_layout *lay, dv_box tile, const char *text,
                           dv_page_result *pg, dv_err *e)
{
    dv_box *lines = g_new0(dv_box, lay->n_lines + 1);
    int n = 0;
    for (int i = 0; i < lay->n_lines; i++) {
        dv_box b = lay->lines[i];
        if (dv_box_centre_in(b, tile))
            lines[n++] = b;
    }
    if (n == 0)
        lines[n++] = tile;
    dv_page_result tmp;
    dv_page_init(&tmp, pg->page_no, pg->width, pg->height, pg->dpi);
    tmp.text = g_strdup(text);
    int rc = dv_page_align_text(&tmp, lines, n, e);
    if (rc == DOCVL_OK)
        dv_page_take_blocks(pg, &tmp);
    dv_page_clear(&tmp);
    g_free(lines);
    return rc;
}

/* A tile whose output looped twice: counted, reported, and replaced by the
 * text layer's words inside it when the page has a layer. */
static char *failed_tile(run *r, const page_work *pw, dv_box box, int t, int n, int *failed)
{
    (*failed)++;
    r->st->tiles_failed++;
    /* the layer's boxes are those of the page as stored, not turned or
     * levelled */
    int same_page = !pw->turned && !pw->levelled;
    char *layer = pw->pt.n_chars > 0 && same_page ? dv_pipeline_text_in_box(&pw->pt, box) : NULL;
    int has = layer && *layer;
    warn(r, 1, "page %d, tile %d of %d: the model's output kept repeating itself (also "
                  "when sampled); %s", r->prog.page_no, t + 1, n,
         has ? "using the text layer there" : "tile left out");
    if (has) {
        char *copy = strdup(layer);
        g_free(layer);
        return copy;
    }
    g_free(layer);
    return NULL;
}

/* Progress at the start of tile t of n (0-based). */
static void start_tile(run *r, int t, int n)
{
    r->prog.tile = t + 1;
    r->prog.tokens = 0;
    r->prog.tokens_per_s = 0;
    r->prog.fraction = (r->prog.page - 1 + (double)t / n) / r->prog.n_pages;
    report(r);
}

/* Tile t's text (NULL: it failed, then the text layer's words or nothing
 * stand in) joined to the page's in reading order, and laid on its lines
 * for hOCR. Takes tt. */
static int add_tile_text(run *r, page_work *pw, dv_page_result *pg, GString *text,
                         const dv_tiling *tiling, int t, char *tt, int *failed, dv_err *e)
{
    int rc = DOCVL_OK;
    if (!tt)
        tt = failed_tile(r, pw, tiling->tiles[t].box, t, tiling->n_tiles, failed);
    if (tt) {
        if (text->len && *tt)
            g_string_append(text, "\n\n");
        g_string_append(text, tt);
    }
    if (tt && r->o->format == DOCVL_FORMAT_HOCR)
        rc = place_tile_text(&pw->lay, tiling->tiles[t].box, tt, pg, e);
    free(tt);
    return rc;
}

/* Tiles of the page decoded side by side, each given up to max_tokens: 1
 * without a reader that can, or when asked for; else what the reader's
 * memory bound allows. */
static int batch_size(const run *r, int n_tiles, int max_tokens)
{
    const dv_tile_reader *rd = r->reader;
    if (r->o->decode_batch == 1 || n_tiles < 2 || !rd->read_batch || !rd->batch_room)
        return 1;
    int want = r->o->decode_batch ? r->o->decode_batch : DV_READER_MAX_BATCH;
    if (want > DV_READER_MAX_BATCH)
        want = DV_READER_MAX_BATCH;
    return rd->batch_room(rd->self, max_tokens, want < n_tiles ? want : n_tiles);
}

/* Images ims[0 .. n - 1] read at once (one by one by a reader that
 * cannot), greedy. texts[k]: image k's text; loops[k]: its output looped
 * (texts[k] NULL), to be read again alone, sampled, as read_tile would;
 * scores[k] (scores may be NULL): its mean_logprob. */
static int read_first_pass(run *r, const dv_image *ims, int n, const char *instruction,
                           int max_tokens, char **texts, int *loops, double *scores, dv_err *e)
{
    const dv_image *tp[DV_READER_MAX_BATCH];
    dv_tile_opts to[DV_READER_MAX_BATCH];
    dv_tile_result res[DV_READER_MAX_BATCH] = { 0 };
    for (int k = 0; k < n; k++) {
        tp[k] = &ims[k];
        to[k] = (dv_tile_opts){ instruction, max_tokens, 0, 0, on_batch_token, r, scores != NULL };
    }
    r->tile_start_us = g_get_monotonic_time();
    int rc = DOCVL_OK;
    if (r->reader->read_batch)
        rc = r->reader->read_batch(r->reader->self, tp, n, to, res, e);
    else
        for (int k = 0; k < n && rc == DOCVL_OK; k++)
            rc = r->reader->read(r->reader->self, tp[k], &to[k], &res[k], e);
    for (int k = 0; k < n && rc == DOCVL_OK; k++) {
        if (res[k].stopped) {
            rc = cancelled(r) ? dv_fail(e, DOCVL_EINTERRUPTED, "interrupted") : timed_out(r, e);
        } else {
            loops[k] = res[k].degenerate;
            texts[k] = res[k].degenerate ? NULL : res[k].text;
            res[k].text = texts[k] ? NULL : res[k].text;
            if (scores)
                scores[k] = mean_logprob(&res[k]);
        }
    }
    for (int k = 0; k < n; k++)
        dv_tile_result_free(&res[k]);
    return rc;
}

/* Tiles t0 .. t0 + n - 1 read at once (read_first_pass); a tile whose
 * output loops is read again alone, sampled. texts[k]: tile t0 + k's text,
 * NULL when it failed. */
static int read_group(run *r, page_work *pw, const dv_tiling *tiling, int t0, int n,
                      char **texts, dv_err *e)
{
    dv_image tiles[DV_READER_MAX_BATCH] = { 0 };
    int loops[DV_READER_MAX_BATCH] = { 0 };
    int rc = DOCVL_OK;
    for (int k = 0; k < n && rc == DOCVL_OK; k++)
        rc = crop(&pw->rp.image, tiling->tiles[t0 + k].box, &tiles[k], e);
    if (rc == DOCVL_OK)
        rc = read_first_pass(r, tiles, n, instruction_of(r->o), r->o->max_tokens, texts, loops,
                             NULL, e);
    for (int k = 0; k < n && rc == DOCVL_OK; k++)
        if (loops[k]) {
            start_tile(r, t0 + k, tiling->n_tiles);
            rc = read_tile_from(r, &tiles[k], instruction_of(r->o), r->o->max_tokens, 1,
                                &texts[k], NULL, e);
        }
    for (int k = 0; k < n; k++)
        dv_image_free(&tiles[k]);
    return rc;
}

/* Reads every tile of the page, batch_size() at a time; *failed counts
 * tiles that looped. */
static int read_tiles(run *r, page_work *pw, dv_page_result *pg, GString *text, int *failed,
                      dv_err *e)
{
    int size = r->o->tile_size ? r->o->tile_size : r->reader->image_size;
    dv_tile_options to = { size, !r->o->tiles || r->o->ask };
    dv_tiling tiling = { 0 };
    int rc = dv_tiles_make(&pw->lay, &to, &tiling, e);
    int n = rc == DOCVL_OK ? tiling.n_tiles : 0, batch = batch_size(r, n, r->o->max_tokens);
    r->prog.n_tiles = n;
    for (int t = 0, m = 1; rc == DOCVL_OK && t < n; t += m) {
        start_tile(r, t, n);
        if (past_deadline(r)) {
            rc = timed_out(r, e);
            break;
        }
        m = n - t < batch ? n - t : batch;
        char *texts[DV_READER_MAX_BATCH] = { 0 };
        if (m > 1) {
            rc = read_group(r, pw, &tiling, t, m, texts, e);
        } else {
            dv_image tile = { 0 };
            rc = crop(&pw->rp.image, tiling.tiles[t].box, &tile, e);
            if (rc == DOCVL_OK)
                rc = read_tile(r, &tile, instruction_of(r->o), &texts[0], e);
            dv_image_free(&tile);
        }
        for (int k = 0; k < m; k++) {
            r->st->tiles += rc == DOCVL_OK || k == 0;
            if (rc == DOCVL_OK)
                rc = add_tile_text(r, pw, pg, text, &tiling, t + k, texts[k], failed, e);
            else
                free(texts[k]);
        }
    }
    dv_tiling_free(&tiling);
    return rc;
}

/* Segment t of n after its read (rc, *text) is settled: a reader error
 * or a loop (text NULL) leaves it out, reported and counted as a failed
 * tile; a loop falls back to the text layer as tiles do. Only an interrupt
 * or the page's timeout is an error. */
static int settle_segment(run *r, page_work *pw, const dv_segment *seg, int t, int n, int rc,
                          int *failed, char **text, dv_err *e)
{
    r->st->tiles++;
    if (rc && (cancelled(r) || past_deadline(r)))
        return rc;
    if (rc) {
        (*failed)++;
        r->st->tiles_failed++;
        warn(r, 1, "page %d, tile %d of %d: %s; tile left out", r->prog.page_no, t + 1, n,
             e->msg);
        dv_err_clear(e);
    } else if (!*text) {
        *text = failed_tile(r, pw, seg->ink, t, n, failed);
        for (char *c = *text; c && *c; c++)
            *c = *c == '\n' ? ' ' : *c;
    }
    return DOCVL_OK;
}

/* One segment of a line, alone; its text, or NULL when it was left out
 * (settle_segment). */
static int read_segment(run *r, page_work *pw, const dv_cut_line *line, const dv_segment *seg,
                        int t, int n, int *failed, char **text, double *score, dv_err *e)
{
    *text = NULL;
    dv_image im = { 0 };
    int rc = dv_segment_image(&pw->rp.image, line, seg, &im, e);
    if (rc == DOCVL_OK)
        rc = read_tile_from(r, &im, line_instruction(r), line_max_tokens(r), 0, text, score, e);
    dv_image_free(&im);
    return settle_segment(r, pw, seg, t, n, rc, failed, text, e);
}

/* The page's segments in reading order: line and segment of each. */
typedef struct seg_ref {
    const dv_cut_line *line;
    const dv_segment *seg;
} seg_ref;

/* Segments t0 .. t0 + m - 1 read at once (read_first_pass), each settled
 * as read_segment settles it; a looping one is read again alone, sampled.
 * When the reader fails on the group, each is read alone instead, so a
 * failure stays that of one segment. */
static int read_segment_group(run *r, page_work *pw, const seg_ref *sr, int t0, int m, int n,
                              int *failed, char **texts, double *scores, dv_err *e)
{
    dv_image ims[DV_READER_MAX_BATCH] = { 0 };
    int loops[DV_READER_MAX_BATCH] = { 0 };
    int rc = DOCVL_OK;
    for (int k = 0; k < m && rc == DOCVL_OK; k++)
        rc = dv_segment_image(&pw->rp.image, sr[t0 + k].line, sr[t0 + k].seg, &ims[k], e);
    if (rc == DOCVL_OK)
        rc = read_first_pass(r, ims, m, line_instruction(r), line_max_tokens(r), texts + t0,
                             loops, scores + t0, e);
    if (rc && !cancelled(r) && !past_deadline(r)) {
        dv_err_clear(e);
        for (int k = 0; k < m; k++) {
            free(texts[t0 + k]);
            texts[t0 + k] = NULL;
        }
        rc = DOCVL_OK;
        for (int k = 0; k < m && rc == DOCVL_OK; k++) {
            start_tile(r, t0 + k, n);
            rc = read_segment(r, pw, sr[t0 + k].line, sr[t0 + k].seg, t0 + k, n, failed,
                              &texts[t0 + k], &scores[t0 + k], e);
        }
    } else {
        for (int k = 0; k < m && rc == DOCVL_OK; k++) {
            start_tile(r, t0 + k, n);
            int rk = loops[k] ? read_tile_from(r, &ims[k], line_instruction(r),
                                               line_max_tokens(r), 1, &texts[t0 + k],
                                               &scores[t0 + k], e)
                               : DOCVL_OK;
            rc = settle_segment(r, pw, sr[t0 + k].seg, t0 + k, n, rk, failed, &texts[t0 + k], e);
        }
    }
    for (int k = 0; k < m; k++)
        dv_image_free(&ims[k]);
    return rc;
}

/* The segments of every cut line, in reading order. */
static seg_ref *segment_list(const dv_line_cuts *cuts)
{
    seg_ref *sr = g_new0(seg_ref, cuts->n_segs + 1);
    int t = 0;
    for (int i = 0; i < cuts->n_lines; i++)
        for (int s = 0; s < cuts->lines[i].n_segs; s++, t++)
            sr[t] = (seg_ref){ &cuts->lines[i], &cuts->lines[i].segs[s] };
    return sr;
}

/* Segments read with a mean log-probability per token below REREAD_BELOW
 * are read again with the vertical margins of reread_margins (the type at
 * another size in the model's input), and the likeliest of the readings
 * kept. The built-in model's misreadings gather where it was unsure, and
 * no one margin reads every scan best (doc/linecut.c). A reading that loops
 * is not a candidate; the segment's first text stays when none is
 * likelier. */
#define REREAD_BELOW (-0.05)
static const double reread_margins[] = { 0.12, 0.15, 0.25, 0.30 };
#define N_REREAD (int)(sizeof reread_margins / sizeof *reread_margins)

static int reread_group(run *r, page_work *pw, const seg_ref *sr, const int *job, int m,
                        char **texts, double *scores, dv_err *e)
{
    dv_image ims[DV_READER_MAX_BATCH] = { 0 };
    char *alt[DV_READER_MAX_BATCH] = { 0 };
    double alt_score[DV_READER_MAX_BATCH];
    int loops[DV_READER_MAX_BATCH] = { 0 }, rc = DOCVL_OK;
    for (int k = 0; k < m && rc == DOCVL_OK; k++) {
        const seg_ref *s = &sr[job[k] / N_REREAD];
        rc = dv_segment_image_margin(&pw->rp.image, s->line, s->seg,
                                     reread_margins[job[k] % N_REREAD], &ims[k], e);
    }
    if (rc == DOCVL_OK)
        rc = read_first_pass(r, ims, m, line_instruction(r), line_max_tokens(r), alt, loops,
                             alt_score, e);
    for (int k = 0; k < m; k++) {
        int t = job[k] / N_REREAD;
        if (rc == DOCVL_OK && alt[k] && alt_score[k] > scores[t]) {
            free(texts[t]);
            texts[t] = alt[k];
            scores[t] = alt_score[k];
        } else {
            free(alt[k]);
        }
        dv_image_free(&ims[k]);
    }
    return rc;
}

static int reread_unsure(run *r, page_work *pw, const seg_ref *sr, int n, char **texts,
                         double *scores, dv_err *e)
{
    int *job = g_new(int, (size_t)n * N_REREAD + 1), n_jobs = 0;
    for (int t = 0; t < n; t++)
        for (int k = 0; k < N_REREAD && texts[t] && scores[t] < REREAD_BELOW; k++)
            job[n_jobs++] = t * N_REREAD + k;
    int batch = batch_size(r, n_jobs, line_max_tokens(r)), rc = DOCVL_OK;
    for (int j = 0, m; rc == DOCVL_OK && j < n_jobs; j += m) {
        m = MIN(batch, n_jobs - j);
        rc = past_deadline(r) ? timed_out(r, e) : reread_group(r, pw, sr, job + j, m, texts,
                                                                 scores, e);
    }
    g_free(job);
    return rc;
}

/* Reads every text line of the page, batch_size() segments at a time
 * (doc/linecut.h), and lays the text on the lines' ink
 * (pipeline/linepage.h). */
static int read_lines(run *r, page_work *pw, dv_page_result *pg, int *failed, dv_err *e)
{
    dv_line_cuts cuts;
    int rc = level(pw, e);
    if (rc == DOCVL_OK)
        rc = dv_lines_cut(&pw->rp.image, &pw->lay, line_aspect(r->reader), &cuts, e);
    if (rc)
        return rc;
    int n = cuts.n_segs, batch = batch_size(r, n, line_max_tokens(r));
    char **texts = g_new0(char *, n + 1);
    double *scores = g_new0(double, n + 1);
    seg_ref *sr = segment_list(&cuts);
    r->prog.n_tiles = n;
    for (int t = 0, m = 1; rc == DOCVL_OK && t < n; t += m) {
        start_tile(r, t, n);
        m = n - t < batch ? n - t : batch;
        if (past_deadline(r))
            rc = timed_out(r, e);
        else if (m > 1)
            rc = read_segment_group(r, pw, sr, t, m, n, failed, texts, scores, e);
        else
            rc = read_segment(r, pw, sr[t].line, sr[t].seg, t, n, failed, &texts[t], &scores[t],
                              e);
    }
    if (rc == DOCVL_OK)
        rc = reread_unsure(r, pw, sr, n, texts, scores, e);
    if (rc == DOCVL_OK) {
        dv_page_clear_content(pg);
        dv_line_page_fill(&cuts, texts, pg);
        pg->source = DV_SRC_MODEL_LINES;
    }
    for (int k = 0; k < n; k++)
        free(texts[k]);
    g_free(texts);
    g_free(scores);
    g_free(sr);
    dv_line_cuts_free(&cuts);
    return rc;
}

static int model_page(run *r, page_work *pw, dv_page_result *pg, int *failed, dv_err *e)
{
    int rc = render(r, pw, e);
    if (rc == DOCVL_OK)
        rc = upright(r, pw, e);
    if (rc)
        return rc;
    pg->width = pw->rp.image.w;
    pg->height = pw->rp.image.h;
    pg->dpi = pw->rp.dpi;
    if (reads_by_line(r))
        return read_lines(r, pw, pg, failed, e);
    GString *text = g_string_new(NULL);
    rc = read_tiles(r, pw, pg, text, failed, e);
    g_free(pg->text);
    pg->text = g_string_free(text, FALSE);
    pg->source = DV_SRC_MODEL;
    return rc;
}

static void layer_page(const page_work *pw, dv_page_result *pg)
{
    dv_page_clear_content(pg);
    pg->source = DV_SRC_TEXT_LAYER;
    dv_pipeline_text_page(&pw->pt, pg);
}

/* A page the model could not read: its text layer if it has one, else
 * nothing. Either way the page counts as failed. */
static void failed_page(run *r, const page_work *pw, dv_page_result *pg, const char *why)
{
    r->st->pages_failed++;
    if (pw->pt.n_chars > 0) {
        warn(r, 1, "page %d: %s; using its text layer instead", pg->page_no, why);
        layer_page(pw, pg);
    } else {
        warn(r, 1, "page %d: %s", pg->page_no, why);
        dv_page_clear_content(pg);
        pg->source = DV_SRC_NONE;
    }
}

/* Reads the page with the model; only a missing or unloadable model and an
 * interrupt stop the run, other failures fail the page. */
static int read_with_model(run *r, page_work *pw, dv_page_result *pg, dv_err *e)
{
    int rc = need_reader(r, pw->index + 1, e);
    if (rc && !r->src.available && r->o->continue_without_model) {
        dv_err_clear(e);
        *r->stage = DOCVL_STAGE_NONE;
        failed_page(r, pw, pg, "it needs the model, but no model was given");
        r->st->pages_without_model++;
        return DOCVL_OK;
    }
    if (rc)
        return rc;
    int failed = 0;   /* reported per tile; the count makes the status 5 */
    dv_err pe = { 0 };
    rc = model_page(r, pw, pg, &failed, &pe);
    r->st->model_pages++;
    if (rc == DOCVL_EINTERRUPTED || cancelled(r))
        return dv_fail(e, DOCVL_EINTERRUPTED, "interrupted");
    if (rc)
        failed_page(r, pw, pg, pe.msg);
    return DOCVL_OK;
}

/* Whether the page is read from its text layer. Auto mode renders the page
 * to judge the layer against the ink; a doubtful layer is still taken when
 * there is no model to read the page otherwise. */
static int use_layer(run *r, page_work *pw)
{
    const docvl_params *o = r->o;
    if (o->text_layer == DOCVL_TEXT_LAYER_ONLY)
        return 1;
    if (o->text_layer == DOCVL_TEXT_LAYER_OFF || o->ask || pw->pt.n_chars == 0)
        return 0;
    dv_err e = { 0 };
    /* a layer that a quick low-resolution look finds usable is used;
     * doubts are settled at full resolution */
    dv_text_verdict quick;
    if (dv_text_judge(r->doc, pw->index, &pw->pt, o->dpi, DV_TEXT_QUICK_DPI, &quick, &e) ==
            DOCVL_OK && quick == DV_TEXTLAYER_USABLE)
        return 1;
    dv_err_clear(&e);
    dv_text_verdict v = dv_text_assess(&pw->pt, render(r, pw, &e) ? NULL : &pw->lay);
    if (dv_text_use_layer(DOCVL_TEXT_LAYER_AUTO, v))
        return 1;
    if (r->src.available)
        return 0;
    warn(r, 0, "page %d: %s; without a model its text is used as it is", pw->index + 1,
         dv_text_verdict_reason(v));
    return 1;
}

/* Text-layer pages get their tables found for the formats that write them
 * (Markdown pipe tables, hOCR ocr_table areas); --no-text-tables or plain
 * text leaves them as lines. */
static int find_tables(const run *r, dv_page_result *pg, dv_err *e)
{
    const docvl_params *o = r->o;
    if (!o->text_tables ||
        (pg->source != DV_SRC_TEXT_LAYER && pg->source != DV_SRC_MODEL_LINES) ||
        (o->format != DOCVL_FORMAT_MARKDOWN && o->format != DOCVL_FORMAT_HOCR))
        return DOCVL_OK;
    return dv_text_tables_find(pg, &pg->tables, e);
}

static void page_init(run *r, int index, dv_page_result *pg)
{
    double w = 0, h = 0;
    dv_err e = { 0 };
    int pdf = dv_doc_get_kind(r->doc) == DV_DOC_PDF;
    if (dv_doc_page_size(r->doc, index, &w, &h, &e) != DOCVL_OK)
        w = h = 0;
    double s = pdf ? r->o->dpi / 72.0 : 1.0;
    dv_page_init(pg, index + 1, (int)(w * s + 0.5), (int)(h * s + 0.5), pdf ? r->o->dpi : 0);
    pg->image = g_path_get_basename(strcmp(r->input, "-") ? r->input : "stdin");
}

/* The page's trial run refused it (doc/guard.c): too slow or too big to
 * draw, or Poppler fails on it. */
static int page_refused(const dv_err *te)
{
    return te->code == DOCVL_ELIMIT || te->code == DOCVL_EFORMAT;
}

static int do_page(run *r, int index, dv_err *e)
{
    page_work pw;
    memset(&pw, 0, sizeof pw);
    pw.index = index;
    dv_page_result pg;
    page_init(r, index, &pg);
    int rc = DOCVL_OK;
    dv_err te = { 0 };
    /* read in every mode: with --text-layer off it is only the fallback of
     * tiles the model fails on */
    int unreadable = dv_text_extract(r->doc, index, pg.dpi, &pw.pt, &te);
    if (unreadable && r->o->text_layer != DOCVL_TEXT_LAYER_OFF && !page_refused(&te))
        warn(r, 0, "page %d: text layer unreadable: %s", index + 1, te.msg);
    if (page_refused(&te)) {
        /* no model could read it either; te names the page already */
        char *own = g_strdup_printf("page %d: ", index + 1);
        failed_page(r, &pw, &pg, g_str_has_prefix(te.msg, own) ? te.msg + strlen(own) : te.msg);
        g_free(own);
    } else if (use_layer(r, &pw)) {
        if (pw.pt.n_chars == 0)
            warn(r, 0, "page %d has no text to copy: written empty", index + 1);
        if (r->furniture)
            rc = dv_furniture_strip(r->furniture, index, pg.dpi, &pw.pt, NULL, e);
        layer_page(&pw, &pg);
    } else {
        rc = read_with_model(r, &pw, &pg, e);
    }
    if (rc == DOCVL_OK)
        rc = find_tables(r, &pg, e);
    if (rc == DOCVL_OK) {
        rc = dv_writer_page(r->w, &pg, e);
        if (rc)
            *r->stage = DOCVL_STAGE_OUTPUT;
        else
            r->st->pages++;
    }
    dv_page_clear(&pg);
    page_work_free(&pw);
    return rc;
}

static int open_doc(run *r, dv_err *e)
{
    dv_doc_options dopt = { r->o->password, 0 };
    int rc = dv_doc_open_file(r->input, &dopt, &r->doc, e);
    if (rc == DOCVL_OK && r->o->no_page_trial)
        dv_doc_set_trial_seconds(r->doc, 0);
    if (rc == DOCVL_OK && dv_doc_page_count(r->doc) <= 0)
        rc = dv_fail(e, DOCVL_EFORMAT, "the document has no pages");
    if (rc == DOCVL_OK && r->o->format == DOCVL_FORMAT_MARKDOWN && !r->o->keep_furniture)
        rc = dv_furniture_new(r->doc, &r->furniture, e);
    if (rc)
        *r->stage = DOCVL_STAGE_INPUT;
    return rc;
}

static int run_pages(run *r, const int *idx, int count, dv_err *e)
{
    r->prog.n_pages = count;
    for (int i = 0; i < count; i++) {
        if (cancelled(r))
            return dv_fail(e, DOCVL_EINTERRUPTED, "interrupted");
        r->prog.page = i + 1;
        r->prog.page_no = idx[i] + 1;
        r->prog.tile = r->prog.n_tiles = r->prog.tokens = 0;
        r->prog.fraction = (double)i / count;
        report(r);
        r->page_deadline_us = r->o->page_timeout > 0
            ? g_get_monotonic_time() + (gint64)(r->o->page_timeout * 1e6) : 0;
        int rc = do_page(r, idx[i], e);
        if (rc)
            return rc;
    }
    return DOCVL_OK;
}

int dv_pipeline_run(const docvl_params *params, dv_reader_source src, const char *input,
                    dv_writer *w, docvl_read_stats *st, docvl_stage *stage, dv_err *e)
{
    run r = { .o = params, .src = src, .input = input, .w = w, .st = st, .stage = stage };
    *stage = DOCVL_STAGE_NONE;
    int *idx = NULL, count = 0;
    int rc = open_doc(&r, e);
    if (rc == DOCVL_OK) {
        rc = dv_pages_parse(params->pages, dv_doc_page_count(r.doc), &idx, &count, e);
        if (rc)
            *stage = DOCVL_STAGE_OPTIONS;
    }
    if (rc == DOCVL_OK)
        rc = run_pages(&r, idx, count, e);
    if (rc == DOCVL_OK && (rc = dv_writer_finish(w, e)) != DOCVL_OK)
        *stage = DOCVL_STAGE_OUTPUT;
    if (rc && *stage == DOCVL_STAGE_NONE)
        *stage = DOCVL_STAGE_OTHER;
    free(idx);
    dv_furniture_free(r.furniture);
    dv_doc_close(r.doc);
    return rc;
}
