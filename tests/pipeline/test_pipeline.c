/* The pipeline without a model: a fake tile reader answers each tile with
 * its number, so the checks are about the pipeline itself: pages cut into
 * tiles, the tiles' texts joined in reading order, the retry of a looping
 * tile, failed tiles and pages counted, the reader asked for once, on first
 * need, and only when a page needs it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "glyphpage.h"
#include "kernels/cpu.h"
#include "mkmodel/mkmodel.h"
#include "out/writer.h"
#include "pipeline/pipeline.h"
#include "pipeline/text.h"
#include "testutil.h"

typedef struct fake {
    dv_tile_reader reader;
    int gets;               /* times the pipeline asked for the reader */
    int calls;              /* tiles read, retries included */
    int tiles;              /* distinct tiles */
    int loop_tile;          /* this tile (1-based) loops every time; 0: none */
    int fail_call;          /* this call fails with DOCVL_ENOMEM; 0: none */
    int retried_sampled;    /* the retry of a looping tile was sampled */
    int max_w, max_h;       /* largest tile seen */
    double max_aspect;      /* widest tile seen, width / height */
    int batches;            /* read_batch calls */
    int sampled;            /* sampled reads (retries of a loop) */
    int max_tokens;         /* the largest token budget a tile was given */
    int glyphs;             /* 1: answers with the glyph text in the tile
                               (glyphpage.h), which fails on "fail" and
                               loops on "loop" */
    int scores;             /* 1: glyph answers carry a score (fake_score) */
    GHashTable *first_h;    /* scores: text -> the height of its first read */
    char instruction[256];
} fake;

/* The glyph reader's answer, or an error for text with "fail" in it. */
static int glyph_answer(const dv_image *tile, dv_tile_result *res, dv_err *e)
{
    char *text = glyph_read(tile);
    int rc = strstr(text, "fail") ? dv_fail(e, DOCVL_EIO, "fake: cannot read") : DOCVL_OK;
    res->degenerate = strstr(text, "loop") != NULL;
    res->text = rc ? NULL : strdup(text);
    g_free(text);
    return rc;
}

/* A scoring glyph reader's answer: a text with "blurry" in it is read
 * unsure (-1 a token) the first time; read again taller (more margin) it
 * is "sharp" and sure (-0.01), read again lower it stays as it was, surer
 * still than at first but less than the tall read (-0.5). Other texts are
 * sure (-0.001). Four tokens a read. */
static void fake_score(fake *f, const dv_image *tile, dv_tile_result *res)
{
    if (!res->text)
        return;
    double per = strstr(res->text, "blurry") ? -1 : -0.001;
    int first = GPOINTER_TO_INT(g_hash_table_lookup(f->first_h, res->text));
    if (!first) {
        g_hash_table_insert(f->first_h, g_strdup(res->text), GINT_TO_POINTER(tile->h));
    } else if (per < -0.5 && tile->h > first) {
        char *t = strstr(res->text, "blurry");
        memcpy(t, "sharp", 5);
        memmove(t + 5, t + 6, strlen(t + 6) + 1);
        per = -0.01;
    } else if (per < -0.5) {
        per = -0.5;
    }
    res->n_scored = 4;
    res->logprob = 4 * per;
}

static int fake_read(void *self, const dv_image *tile, const dv_tile_opts *o,
                     dv_tile_result *res, dv_err *e)
{
    fake *f = self;
    memset(res, 0, sizeof *res);
    f->calls++;
    f->sampled += o->sample;
    if (f->calls == f->fail_call)
        return dv_fail(e, DOCVL_ENOMEM, "fake: no memory");
    if (!o->sample)
        f->tiles++;
    else if (f->tiles == f->loop_tile)
        f->retried_sampled = 1;
    f->max_w = tile->w > f->max_w ? tile->w : f->max_w;
    f->max_h = tile->h > f->max_h ? tile->h : f->max_h;
    f->max_aspect = MAX(f->max_aspect, (double)tile->w / tile->h);
    f->max_tokens = MAX(f->max_tokens, o->max_tokens);
    snprintf(f->instruction, sizeof f->instruction, "%s", o->instruction);
    if (f->glyphs) {
        int rc = glyph_answer(tile, res, e);
        if (f->scores && o->score)
            fake_score(f, tile, res);
        return rc;
    }
    if (o->on_token && o->on_token(o->user, 0, 0, "", 0)) {
        res->stopped = 1;
        res->text = strdup("");
        return DOCVL_OK;
    }
    res->degenerate = f->tiles == f->loop_tile;
    res->n_tokens = 1;
    char buf[32];
    snprintf(buf, sizeof buf, "tile %d", f->tiles);
    res->text = strdup(buf);
    return DOCVL_OK;
}

/* Tiles read at once, each as fake_read reads it; one that fails fails
 * them all, as a model's batch does. */
static int fake_read_batch(void *self, const dv_image *const *tiles, int n,
                           const dv_tile_opts *o, dv_tile_result *res, dv_err *e)
{
    fake *f = self;
    f->batches++;
    int rc = DOCVL_OK;
    for (int k = 0; k < n && rc == DOCVL_OK; k++)
        rc = fake_read(self, tiles[k], &o[k], &res[k], e);
    for (int k = 0; k < n && rc; k++)
        dv_tile_result_free(&res[k]);
    return rc;
}

static int fake_batch_room(void *self, int max_tokens, int want)
{
    (void)self;
    (void)max_tokens;
    return want;
}

static int fake_get(void *user, const dv_tile_reader **out, dv_err *e)
{
    (void)e;
    fake *f = user;
    f->gets++;
    *out = &f->reader;
    return DOCVL_OK;
}

static void fake_init(fake *f, int image_size)
{
    memset(f, 0, sizeof *f);
    f->reader = (dv_tile_reader){ .image_size = image_size, .read = fake_read, .self = f,
                                  .input_w = image_size, .input_h = image_size };
}

/* A model that reads one text line of w x h pixels at a time. */
static void fake_init_lines(fake *f, int w, int h, const char *instruction)
{
    fake_init(f, w);
    f->reader.input_w = w;
    f->reader.input_h = h;
    f->reader.reads_lines = 1;
    f->reader.instruction = instruction;
    f->glyphs = 1;
}

typedef struct messages {
    GString *all;
    int failures;
    int most_tiles;         /* the largest n_tiles progress reported */
} messages;

static void on_message(void *user, int failure, const char *msg)
{
    messages *m = user;
    m->failures += failure;
    g_string_append_printf(m->all, "%s\n", msg);
}

static void on_progress(void *user, const docvl_progress *p)
{
    messages *m = user;
    m->most_tiles = MAX(m->most_tiles, p->n_tiles);
}

typedef struct result {
    int rc;
    docvl_stage stage;
    docvl_read_stats st;
    char *out;
    messages msgs;
    dv_err e;
} result;

static result run(fake *f, int available, const char *input, docvl_params p)
{
    result r = { 0 };
    r.msgs.all = g_string_new(NULL);
    p.on_message = on_message;
    p.on_progress = on_progress;
    p.user = &r.msgs;
    GString *s = g_string_new(NULL);
    dv_writer *w = NULL;
    dv_writer_options wo = { .title = input };
    g_assert_cmpint(dv_writer_new((dv_format)p.format, (dv_sink){ dv_sink_gstring, s }, &wo, &w,
                                  &r.e), ==, DOCVL_OK);
    dv_reader_source src = { available, fake_get, f };
    r.rc = dv_pipeline_run(&p, src, input, w, &r.st, &r.stage, &r.e);
    dv_writer_free(w);
    r.out = g_string_free(s, FALSE);
    return r;
}

static void result_free(result *r)
{
    g_free(r->out);
    g_string_free(r->msgs.all, TRUE);
}

static char *sample(const char *name)
{
    char *rel = g_build_filename("..", "..", "samples", name, NULL);
    char *p = test_data(rel);
    g_free(rel);
    return p;
}

/* out is one text page of "tile 1\n\ntile 2\n\n...tile n", tile `skip`
 * left out (0: none). */
static void assert_tiles_page(const char *out, int n, int skip)
{
    GString *s = g_string_new(NULL);
    for (int t = 1; t <= n; t++) {
        if (t == skip)
            continue;
        if (s->len)
            g_string_append(s, "\n\n");
        g_string_append_printf(s, "tile %d", t);
    }
    g_string_append(s, "\n\f");
    g_assert_cmpstr(out, ==, s->str);
    g_string_free(s, TRUE);
}

/* A scanned page is cut into tiles near the reader's size, each read
 * once with the format's instruction, and their texts joined in order. */
static void test_tiles_in_order(void)
{
    char *scan = sample("scan.pdf");
    fake f;
    fake_init(&f, 256);
    docvl_params p = docvl_default_params();
    p.dpi = 100;
    result r = run(&f, 1, scan, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(f.gets, ==, 1);
    g_assert_cmpint(f.tiles, >, 2);
    g_assert_cmpint(f.calls, ==, f.tiles);
    g_assert_cmpint(r.st.tiles, ==, f.tiles);
    g_assert_cmpint(r.st.model_pages, ==, 1);
    g_assert_cmpint(r.st.pages, ==, 1);
    g_assert_cmpint(r.st.tiles_failed + r.st.pages_failed, ==, 0);
    g_assert_cmpstr(f.instruction, ==, dv_pipeline_default_prompt(DOCVL_FORMAT_TEXT));
    assert_tiles_page(r.out, f.tiles, 0);
    result_free(&r);
    /* tiles off: the page is one tile whatever the reader's size */
    int tile_h = f.max_h;
    fake_init(&f, 256);
    p.tiles = 0;
    p.format = DOCVL_FORMAT_MARKDOWN;
    r = run(&f, 1, scan, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(f.tiles, ==, 1);
    g_assert_cmpint(f.max_h, >, tile_h);
    g_assert_cmpstr(f.instruction, ==, dv_pipeline_default_prompt(DOCVL_FORMAT_MARKDOWN));
    g_assert_cmpstr(r.out, ==, "<!-- page 1 -->\n\ntile 1\n");
    result_free(&r);
    g_free(scan);
}

/* A tile that loops is retried once, sampled; looping again it is left out,
 * reported and counted, and the rest of the page is written (status 5 in
 * the CLI). */
static void test_looping_tile(void)
{
    char *scan = sample("scan.pdf");
    fake f;
    fake_init(&f, 256);
    f.loop_tile = 2;
    docvl_params p = docvl_default_params();
    p.dpi = 100;
    result r = run(&f, 1, scan, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_true(f.retried_sampled);
    g_assert_cmpint(f.calls, ==, f.tiles + 1);
    /* tiles get the whole --max-tokens */
    g_assert_cmpint(f.max_tokens, ==, docvl_default_params().max_tokens);
    g_assert_cmpint(r.st.tiles_failed, ==, 1);
    g_assert_cmpint(r.st.pages_failed, ==, 0);
    g_assert_cmpint(r.msgs.failures, ==, 1);
    g_assert_nonnull(strstr(r.msgs.all->str, "page 1, tile 2 of"));
    g_assert_nonnull(strstr(r.msgs.all->str, "tile left out"));
    assert_tiles_page(r.out, f.tiles, 2);
    result_free(&r);
    g_free(scan);
}

/* A reader error fails its page, which falls back to the page's text layer;
 * the next page is read all the same. */
static void test_failed_page(void)
{
    char *pdf = sample("born-digital.pdf");
    fake f;
    fake_init(&f, 4096);
    f.fail_call = 1;
    docvl_params p = docvl_default_params();
    p.pages = "1-2";
    p.tiles = 0;
    p.dpi = 72;
    p.text_layer = DOCVL_TEXT_LAYER_OFF;
    result r = run(&f, 1, pdf, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(r.st.pages, ==, 2);
    g_assert_cmpint(r.st.pages_failed, ==, 1);
    g_assert_cmpint(r.st.model_pages, ==, 2);
    g_assert_nonnull(strstr(r.msgs.all->str, "page 1: fake: no memory; using its text layer"));
    g_assert_true(g_str_has_prefix(r.out, "Hello, here is some text"));
    g_assert_true(g_str_has_suffix(r.out, "\ftile 1\n\f"));
    result_free(&r);
    g_free(pdf);
}

/* Born-digital pages never ask for the reader; a page that needs it without
 * a model stops the run at the model stage. */
static void test_reader_on_need(void)
{
    char *pdf = sample("born-digital.pdf"), *scan = sample("scan.pdf");
    fake f;
    fake_init(&f, 384);
    docvl_params p = docvl_default_params();
    result r = run(&f, 1, pdf, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(f.gets, ==, 0);
    g_assert_cmpint(r.st.pages, ==, 4);
    result_free(&r);
    r = run(&f, 0, scan, p);
    g_assert_cmpint(r.rc, ==, DOCVL_EMODEL);
    g_assert_cmpint(r.stage, ==, DOCVL_STAGE_MODEL);
    g_assert_nonnull(strstr(r.e.msg, "needs the model, but no model was given"));
    g_assert_cmpint(f.gets, ==, 0);
    result_free(&r);
    g_free(pdf);
    g_free(scan);
}

static int always(void *user)
{
    (void)user;
    return 1;
}

/* should_abort stops a read at the next token; a page over its time is
 * abandoned as a failed page. */
static void test_abort_and_timeout(void)
{
    char *img = sample("phototest.tif");
    fake f;
    fake_init(&f, 384);
    docvl_params p = docvl_default_params();
    p.tiles = 0;
    p.page_timeout = 1e-9;
    result r = run(&f, 1, img, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(r.st.pages_failed, ==, 1);
    g_assert_nonnull(strstr(r.msgs.all->str, "page 1: took longer than"));
    g_assert_cmpstr(r.out, ==, "\f");
    result_free(&r);
    p.page_timeout = 0;
    p.should_abort = always;
    r = run(&f, 1, img, p);
    g_assert_cmpint(r.rc, ==, DOCVL_EINTERRUPTED);
    result_free(&r);
    g_free(img);
}

/* Text-layer words grouped into a line: a zero-width word (a glyph with no
 * advance) still widens the line's box, as the table finder and hOCR
 * expect (dv_box_cover, not dv_box_union). */
static void test_text_layer_line_box(void)
{
    dv_word words[] = { { "ab", { 10, 0, 20, 10 }, 0 }, { "\u200b", { 30, 0, 30, 10 }, 0 } };
    dv_page_text t = { .text = "ab \u200b", .words = words, .n_words = 2 };
    dv_page_result p;
    dv_page_init(&p, 1, 100, 100, 72);
    dv_pipeline_text_page(&t, &p);
    g_assert_cmpint(p.n_blocks, ==, 1);
    g_assert_cmpint(p.blocks[0].n_lines, ==, 1);
    g_assert_cmpint(p.blocks[0].lines[0].n_words, ==, 2);
    g_assert_cmpint(p.blocks[0].lines[0].box.x1, ==, 30);
    g_assert_cmpint(p.blocks[0].box.x1, ==, 30);
    dv_page_clear(&p);
}

/* ---- pages read one text line at a time (--tiles lines) ---- */

typedef struct gline {
    int x, y, h;
    const char *text;
} gline;

/* A scanned page of glyph text written as an image file in a fresh
 * directory; *im keeps its pixels. */
typedef struct gpage {
    dv_image im;
    char *dir, *path;
} gpage;

static gpage gpage_make(const gline *lines, int n, int w, int h)
{
    gpage g = { glyph_page(w, h), test_tmpdir(), NULL };
    for (int i = 0; i < n; i++)
        glyph_draw(&g.im, lines[i].x, lines[i].y, lines[i].h, lines[i].text);
    g.path = g_build_filename(g.dir, "page.ppm", NULL);
    glyph_write_ppm(&g.im, g.path);
    return g;
}

static void gpage_free(gpage *g)
{
    test_rmtree(g->dir);
    g_free(g->dir);
    g_free(g->path);
    dv_image_free(&g->im);
}

/* The glyph page of lines read by a 256 x 32 line model in format fmt;
 * keep (may be NULL) gets the page. */
static result read_glyph_lines(const gline *lines, int n, int w, int h, docvl_format fmt,
                               gpage *keep)
{
    gpage g = gpage_make(lines, n, w, h);
    fake f;
    fake_init_lines(&f, 256, 32, NULL);
    docvl_params p = docvl_default_params();
    p.format = fmt;
    result r = run(&f, 1, g.path, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpstr(f.instruction, ==, dv_pipeline_default_prompt(DOCVL_FORMAT_TEXT));
    if (keep)
        *keep = g;
    else
        gpage_free(&g);
    return r;
}

/* Two paragraphs, the first of lines too long for one read. */
static const gline prose[] = {
    { 40, 40, GLYPH_H, "the quick brown fox jumps over the lazy dog" },
    { 40, 80, GLYPH_H, "pack my box with five dozen liquor jugs now" },
    { 40, 120, GLYPH_H, "sphinx of black quartz judge my vow 12345" },
    { 40, 240, GLYPH_H, "hello world" },
};
#define PROSE_TEXT                                                                              \
    "the quick brown fox jumps over the lazy dog\n"                                             \
    "pack my box with five dozen liquor jugs now\n"                                             \
    "sphinx of black quartz judge my vow 12345\n\nhello world\n\f"

/* A model that declares it reads lines gets them without asking: each line
 * cut at word gaps into crops of its input's shape, read with its own
 * instruction, the segments joined with spaces, lines with newlines, the
 * layout's blocks with a blank line; progress counts segments as tiles. */
static void test_lines_in_order(void)
{
    gpage g = gpage_make(prose, 4, 1400, 320);
    fake f;
    fake_init_lines(&f, 256, 32, "read the line");
    docvl_params p = docvl_default_params();
    result r = run(&f, 1, g.path, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpstr(r.out, ==, PROSE_TEXT);
    g_assert_cmpint(f.calls, >, 6);
    g_assert_cmpint(r.st.tiles, ==, f.calls);
    g_assert_cmpint(r.msgs.most_tiles, ==, f.calls);
    g_assert_cmpint(r.st.tiles_failed, ==, 0);
    g_assert_cmpfloat(f.max_aspect, <=, 256.0 / 32);
    g_assert_cmpstr(f.instruction, ==, "read the line");
    result_free(&r);
    gpage_free(&g);
}

/* A segment read unsure is read again at four other margins and the
 * likeliest reading kept (the taller crop's "sharp"); sure segments are
 * read once; readers that give no score are never asked again
 * (lines-in-order counts their reads). */
static void test_lines_reread_unsure(void)
{
    static const gline lines[] = {
        { 40, 40, GLYPH_H, "a blurry cat" },
        { 40, 80, GLYPH_H, "clear day" },
    };
    gpage g = gpage_make(lines, 2, 700, 160);
    for (int batch = 0; batch <= 1; batch++) {
        fake f;
        fake_init_lines(&f, 256, 32, NULL);
        f.scores = 1;
        f.first_h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (!batch) {
            f.reader.read_batch = fake_read_batch;
            f.reader.batch_room = fake_batch_room;
        }
        result r = run(&f, 1, g.path, docvl_default_params());
        g_assert_cmpint(r.rc, ==, DOCVL_OK);
        g_assert_cmpstr(r.out, ==, "a sharp cat\nclear day\n\f");
        g_assert_cmpint(r.st.tiles, ==, 2);
        g_assert_cmpint(f.calls, ==, 2 + 4);
        g_assert_cmpint(r.st.tiles_failed, ==, 0);
        result_free(&r);
        g_hash_table_destroy(f.first_h);
    }
    gpage_free(&g);
}

/* A word wider than a read is cut between its letters, and its pieces
 * come back as one word: no space where the cut fell inside the word. */
static void test_lines_long_word(void)
{
    static const gline line[] = {
        { 40, 40, GLYPH_H, "ab abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz cd" },
        { 40, 80, GLYPH_H, "the quick brown fox jumps over the lazy dog" },
    };
    gpage g = gpage_make(line, 2, 1500, 200);
    fake f;
    fake_init_lines(&f, 256, 32, NULL);
    result r = run(&f, 1, g.path, docvl_default_params());
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(f.calls, >=, 5);
    g_assert_cmpstr(r.out, ==,
                    "ab abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz cd\n"
                    "the quick brown fox jumps over the lazy dog\n\f");
    result_free(&r);
    gpage_free(&g);
}

/* A model without reads_lines reads the same lines when asked to, each
 * segment at most as wide as keeps its text legible in the square input,
 * with the plain-text instruction whatever the output format; by default
 * it gets tiles. */
static void test_lines_square_model(void)
{
    gpage g = gpage_make(prose, 4, 1400, 320);
    fake f;
    fake_init(&f, 384);
    f.glyphs = 1;
    docvl_params p = docvl_default_params();
    p.tiles = DOCVL_TILES_LINES;
    result r = run(&f, 1, g.path, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpstr(r.out, ==, PROSE_TEXT);
    g_assert_cmpfloat(f.max_aspect, <=, 384.0 / 32);
    g_assert_cmpint(f.max_h, <, 2 * GLYPH_H);
    g_assert_cmpstr(f.instruction, ==, dv_pipeline_default_prompt(DOCVL_FORMAT_TEXT));
    result_free(&r);
    p.format = DOCVL_FORMAT_MARKDOWN;
    r = run(&f, 1, g.path, p);
    g_assert_cmpstr(f.instruction, ==, dv_pipeline_default_prompt(DOCVL_FORMAT_TEXT));
    result_free(&r);
    fake_init(&f, 384);
    f.glyphs = 1;
    r = run(&f, 1, g.path, docvl_default_params());
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(f.max_h, >, 4 * GLYPH_H);
    result_free(&r);
    gpage_free(&g);
}

/* Two columns come out in reading order: the left one, then the right. */
static void test_lines_two_columns(void)
{
    static const gline cols[] = {
        { 40, 40, GLYPH_H, "left one" },     { 700, 40, GLYPH_H, "right one" },
        { 40, 80, GLYPH_H, "left two" },     { 700, 80, GLYPH_H, "right two" },
        { 40, 120, GLYPH_H, "left three" },  { 700, 120, GLYPH_H, "right three" },
    };
    result r = read_glyph_lines(cols, 6, 1200, 300, DOCVL_FORMAT_TEXT, NULL);
    g_assert_cmpstr(r.out, ==, "left one\nleft two\nleft three\n\n"
                               "right one\nright two\nright three\n\f");
    result_free(&r);
}

/* The text of a Markdown line with its backslash escapes taken out. */
static char *unescape_md(const char *s)
{
    GString *u = g_string_new(NULL);
    for (; *s; s++) {
        if (*s == '\\' && s[1])
            s++;
        g_string_append_c(u, *s);
    }
    return g_string_free(u, FALSE);
}

/* Markdown from lines: a block of large type is a heading, the model's
 * text is escaped where Markdown would read it as markup (a heading, an
 * emphasis: how much more is the writer's choice), a line that starts
 * with a bullet starts a list item (its next lines continue it). */
static void test_lines_markdown(void)
{
    static const gline md[] = {
        { 40, 40, 56, "most rooms" },
        { 40, 160, GLYPH_H, "# not a heading" },
        { 40, 200, GLYPH_H, "*y* and _z_ $5" },
        { 40, 280, GLYPH_H, "* first item" },
        { 80, 320, GLYPH_H, "goes on here" },
        { 40, 360, GLYPH_H, "* second item" },
    };
    result r = read_glyph_lines(md, 6, 1000, 420, DOCVL_FORMAT_MARKDOWN, NULL);
    char **l = g_strsplit(r.out, "\n", -1);
    g_assert_cmpuint(g_strv_length(l), ==, 11);
    g_assert_cmpstr(l[0], ==, "<!-- page 1 -->");
    /* level 1 or 2: the layout's boxes are a little taller than the type */
    g_assert_true(g_str_has_prefix(l[2], "#") && g_str_has_suffix(l[2], "# most rooms"));
    g_assert_cmpstr(l[4], ==, "\\# not a heading");
    char *plain = unescape_md(l[5]);
    g_assert_cmpstr(plain, ==, "*y* and _z_ $5");
    g_assert_true(g_str_has_prefix(l[5], "\\*y"));
    g_assert_nonnull(strstr(l[5], " \\_z"));
    g_free(plain);
    g_assert_cmpstr(l[7], ==, "- first item");
    g_assert_cmpstr(l[8], ==, "goes on here");
    g_assert_cmpstr(l[9], ==, "- second item");
    g_assert_cmpstr(l[10], ==, "");
    g_strfreev(l);
    result_free(&r);
}

static long ink_in(const dv_image *im, dv_box b)
{
    long n = 0;
    for (int y = MAX(b.y0, 0); y < MIN(b.y1, im->h); y++)
        for (int x = MAX(b.x0, 0); x < MIN(b.x1, im->w); x++)
            n += im->rgb[((size_t)y * im->w + x) * 3] < 128;
    return n;
}

/* hOCR from lines: one ocr_line per text line, one ocrx_word per word, in
 * order, each box on its word's ink and holding all of it. */
static void test_lines_hocr(void)
{
    gpage g;
    result r = read_glyph_lines(prose, 4, 1400, 320, DOCVL_FORMAT_HOCR, &g);
    int lines = 0;
    for (const char *c = r.out; (c = strstr(c, "class=\"ocr_line\"")); c++)
        lines++;
    g_assert_cmpint(lines, ==, 4);
    GString *words = g_string_new(NULL);
    for (const char *c = r.out; (c = strstr(c, "class=\"ocrx_word\"")); c++) {
        dv_box b;
        char text[64];
        const char *t = strstr(c, "bbox ");
        g_assert_cmpint(sscanf(t, "bbox %d %d %d %d\">%63[^<]", &b.x0, &b.y0, &b.x1, &b.y1,
                               text), ==, 5);
        dv_image one = glyph_page(600, GLYPH_H);
        int w = glyph_draw(&one, 0, 0, GLYPH_H, text);
        dv_image_free(&one);
        g_assert_cmpint(dv_box_w(b), ==, w);
        g_assert_cmpint(dv_box_h(b), ==, GLYPH_H);
        g_assert_cmpint(ink_in(&g.im, b), ==, ink_in(&g.im, (dv_box){ b.x0 - 2, b.y0 - 2,
                                                                       b.x1 + 2, b.y1 + 2 }));
        g_assert_cmpint(ink_in(&g.im, b), >, 0);
        g_string_append_printf(words, "%s%s", words->len ? " " : "", text);
    }
    g_assert_cmpstr(words->str, ==, "the quick brown fox jumps over the lazy dog "
                                    "pack my box with five dozen liquor jugs now "
                                    "sphinx of black quartz judge my vow 12345 hello world");
    g_string_free(words, TRUE);
    result_free(&r);
    gpage_free(&g);
}

/* A segment that loops (also when sampled) or that the reader fails on is
 * a failed tile, reported, and left out (status 5 in the CLI); the other
 * segments of its line and the other lines are written. */
static void lines_failing_segment(int batched)
{
    static const gline bad[] = {
        { 40, 40, GLYPH_H, "one two three" },
        { 40, 80, GLYPH_H, "we see words go on and on then a loop here and more after it" },
        { 40, 120, GLYPH_H, "we fail there" },
        { 40, 160, GLYPH_H, "last line" },
    };
    gpage g = gpage_make(bad, 4, 1600, 300);
    fake f;
    fake_init_lines(&f, 256, 32, NULL);
    if (batched) {
        f.reader.read_batch = fake_read_batch;
        f.reader.batch_room = fake_batch_room;
    }
    docvl_params p = docvl_default_params();
    p.decode_batch = 4;
    result r = run(&f, 1, g.path, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(r.st.tiles_failed, ==, 2);
    g_assert_cmpint(r.st.pages_failed, ==, 0);
    g_assert_cmpint(r.msgs.failures, ==, 2);
    g_assert_nonnull(strstr(r.msgs.all->str, "kept repeating itself"));
    g_assert_nonnull(strstr(r.msgs.all->str, "fake: cannot read; tile left out"));
    g_assert_cmpint(f.sampled, ==, 1);   /* the loop's retry, alone */
    g_assert_cmpint(r.msgs.most_tiles, ==, r.st.tiles);
    if (batched) /* the failing segment's group is read again one by one */
        g_assert_cmpint(f.batches, ==, (r.st.tiles + 3) / 4);
    else
        g_assert_cmpint(f.calls, ==, r.st.tiles + 1);
    /* a segment's budget: no more tokens than glyphs fit its 256 pixels */
    g_assert_cmpint(f.max_tokens, ==, 128);
    g_assert_true(g_str_has_prefix(r.out, "one two three\nwe see words go on"));
    g_assert_true(g_str_has_suffix(r.out, "after it\nlast line\n\f"));
    g_assert_null(strstr(r.out, "loop"));
    g_assert_null(strstr(r.out, "fail"));
    result_free(&r);
    gpage_free(&g);
}

static void test_lines_failing_segment(void) { lines_failing_segment(0); }

/* Segments read in groups: the same page, the same failures, messages and
 * counts; a group with a failing segment is read again one segment at a
 * time, so only that segment is lost. */
static void test_lines_failing_segment_batched(void) { lines_failing_segment(1); }

/* A table read line by line becomes a GFM table: the table finder gets
 * the words with their boxes on the ink. (The blank line after it is the
 * column blocks the table took all the words of, as on text-layer pages.) */
static void test_lines_table(void)
{
    static const gline tab[] = {
        { 40, 40, GLYPH_H, "id" },   { 240, 40, GLYPH_H, "2023" },  { 440, 40, GLYPH_H, "2024" },
        { 40, 80, GLYPH_H, "a1" },   { 240, 80, GLYPH_H, "12" },    { 440, 80, GLYPH_H, "340" },
        { 40, 120, GLYPH_H, "b2" },  { 240, 120, GLYPH_H, "7" },    { 440, 120, GLYPH_H, "15" },
        { 40, 160, GLYPH_H, "c3" },  { 240, 160, GLYPH_H, "30" },   { 440, 160, GLYPH_H, "99" },
    };
    result r = read_glyph_lines(tab, 12, 800, 300, DOCVL_FORMAT_MARKDOWN, NULL);
    g_assert_cmpstr(r.out, ==, "<!-- page 1 -->\n\n"
                               "| id | 2023 | 2024 |\n| --- | --- | --- |\n| a1 | 12 | 340 |\n"
                               "| b2 | 7 | 15 |\n| c3 | 30 | 99 |\n\n");
    result_free(&r);
}

/* A page scanned 2 degrees askew is levelled before its lines are cut:
 * every crop is one line high, and all eight lines come out. */
static void test_lines_skewed(void)
{
    gpage g = { glyph_page(1400, 500), test_tmpdir(), NULL };
    for (int l = 0; l < 8; l++)
        glyph_draw_sloped(&g.im, 60, 60 + 40 * l, GLYPH_H, "the quick brown fox jumps over it",
                          tan(2 * G_PI / 180));
    g.path = g_build_filename(g.dir, "page.ppm", NULL);
    glyph_write_ppm(&g.im, g.path);
    fake f;
    fake_init_lines(&f, 512, 32, NULL);
    result r = run(&f, 1, g.path, docvl_default_params());
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(f.max_h, <, 2 * GLYPH_H);
    char **lines = g_strsplit(r.out, "\n", -1);
    int n = 0;
    for (char **l = lines; *l; l++)
        n += strlen(*l) > 10;
    g_assert_cmpint(n, ==, 8);
    g_strfreev(lines);
    result_free(&r);
    gpage_free(&g);
}

/* The model's own reader with a random line model (docvl-mkmodel's 32 x
 * 512 SigLIP): it declares that it reads lines, so a page goes by lines
 * without asking, and every segment crop, whatever its size, is read. */
static void test_lines_real_reader(void)
{
    char *dir = test_tmpdir();
    char *model = g_build_filename(dir, "line-model", NULL);
    dv_mkmodel_opts mo = { .out_dir = model, .arch = "tiny-siglip", .dtype = DV_F32, .seed = 1,
                           .shards = 1, .quiet = 1, .image_h = 32, .image_w = 512, .patch = 8,
                           .reads_lines = 1, .instruction = "", .system_prompt = "" };
    dv_err e = { 0 };
    g_assert_cmpint(dv_mkmodel(&mo, &e), ==, DOCVL_OK);
    fake f;
    fake_init(&f, 0);
    docvl_open_params op = docvl_open_default_params();
    op.weights = DOCVL_WEIGHTS_F32;
    char *note = NULL;
    g_assert_cmpint(dv_model_reader_open(model, &op, NULL, &f.reader, &note, &e), ==, DOCVL_OK);
    g_free(note);
    g_assert_true(f.reader.reads_lines);
    g_assert_cmpint(f.reader.input_w, ==, 512);
    g_assert_cmpint(f.reader.input_h, ==, 32);
    gpage g = gpage_make(prose, 4, 1400, 320);
    docvl_params p = docvl_default_params();
    p.max_tokens = 3;
    p.format = DOCVL_FORMAT_HOCR;
    result r = run(&f, 1, g.path, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(r.st.tiles, >, 4);
    g_assert_cmpint(r.st.tiles_failed + r.st.pages_failed, ==, 0);
    g_assert_cmpint(r.msgs.most_tiles, ==, r.st.tiles);
    result_free(&r);
    gpage_free(&g);
    dv_model_reader_close(&f.reader);
    test_rmtree(dir);
    g_free(model);
    g_free(dir);
}

/* The text of phototest.tif read by N1 (checkpoints/line-reader-n1) with
 * weights w, its segments decode_batch at a time. */
static char *n1_page(int weights, int decode_batch)
{
    char *model = test_data("../../checkpoints/line-reader-n1"), *img = sample("phototest.tif");
    fake f;
    fake_init(&f, 0);
    docvl_open_params op = docvl_open_default_params();
    op.weights = weights;
    op.n_threads = 2;
    char *note = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_model_reader_open(model, &op, NULL, &f.reader, &note, &e), ==, DOCVL_OK);
    g_free(note);
    docvl_params p = docvl_default_params();
    p.decode_batch = decode_batch;
    result r = run(&f, 1, img, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(r.st.tiles, >, 30);
    g_assert_cmpint(r.msgs.most_tiles, ==, r.st.tiles);
    char *out = g_strdup(r.out);
    result_free(&r);
    dv_model_reader_close(&f.reader);
    g_free(model);
    g_free(img);
    return out;
}

/* A real line reader's segments read in groups (towers, where their
 * products allow, and decoding side by side) give the page the text one
 * segment at a time gives it, byte for byte: with q8 weights (integer
 * products, the towers stacked) and f32 (decoding side by side only). */
static void test_lines_n1_batched(void)
{
    int formats[] = { DOCVL_WEIGHTS_Q8, DOCVL_WEIGHTS_F32 };
    for (size_t i = 0; i < G_N_ELEMENTS(formats); i++) {
        char *alone = n1_page(formats[i], 1), *together = n1_page(formats[i], 0);
        char *three = n1_page(formats[i], 3);
        g_assert_nonnull(strstr(alone, "fox"));
        g_assert_cmpstr(together, ==, alone);
        g_assert_cmpstr(three, ==, alone);
        g_free(alone);
        g_free(together);
        g_free(three);
    }
}

/* The text the tiny SigLIP model of the goldens reads from an image with
 * weights w on n_threads threads. */
static char *tiny_page(const char *img, int weights, int n_threads)
{
    char *model = test_data("golden/tiny-siglip-f32");
    fake f;
    fake_init(&f, 0);
    docvl_open_params op = docvl_open_default_params();
    op.weights = weights;
    op.n_threads = n_threads;
    char *note = NULL;
    dv_err e = { 0 };
    g_assert_cmpint(dv_model_reader_open(model, &op, NULL, &f.reader, &note, &e), ==, DOCVL_OK);
    g_free(note);
    docvl_params p = docvl_default_params();
    p.max_tokens = 16;
    result r = run(&f, 1, img, p);
    g_assert_cmpint(r.rc, ==, DOCVL_OK);
    g_assert_cmpint(r.st.tiles, >, 0);
    char *out = g_strdup(r.out);
    result_free(&r);
    dv_model_reader_close(&f.reader);
    g_free(model);
    return out;
}

/* The thread count never changes what a page reads: every product's floats
 * are the same on 1, 2 and 3 threads (tests/kernels/test_threadbits.c), for
 * every weight format. Two pages of the golden model (its own image and
 * phototest.tif); with q8 weights the first read another token on 2 threads
 * than on 1 when sgemm's chunks were cut by the thread count (its f32 patch
 * embedding, under OpenBLAS's Haswell kernels: test_threads_haswell). */
static void test_threads_same_text(void)
{
    char *imgs[] = { test_data("golden/tiny-siglip-f32/doc_1000x700.png"),
                     sample("phototest.tif") };
    int formats[] = { DOCVL_WEIGHTS_Q8, DOCVL_WEIGHTS_Q4, DOCVL_WEIGHTS_F32, DOCVL_WEIGHTS_BF16 };
    for (size_t i = 0; i < G_N_ELEMENTS(imgs); i++) {
        for (size_t k = 0; k < G_N_ELEMENTS(formats); k++) {
            char *one = tiny_page(imgs[i], formats[k], 1);
            for (int t = 2; t <= 3; t++) {
                char *more = tiny_page(imgs[i], formats[k], t);
                g_assert_cmpstr(more, ==, one);
                g_free(more);
            }
            g_free(one);
        }
        g_free(imgs[i]);
    }
}

/* The same under OpenBLAS's Haswell kernels, whatever core it picked here
 * (the core is chosen when the library loads: a child process). */
static void test_threads_haswell(void)
{
    if (g_test_subprocess()) {
        test_threads_same_text();
        return;
    }
    if (!dv_cpu_has_avx2_fma()) {
        g_test_skip("no AVX2 + FMA: OpenBLAS's Haswell kernels cannot run");
        return;
    }
    char *had = test_env_set("OPENBLAS_CORETYPE", "Haswell");
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
    test_env_restore("OPENBLAS_CORETYPE", had);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pipeline/tiles-in-order", test_tiles_in_order);
    g_test_add_func("/pipeline/threads-same-text", test_threads_same_text);
    g_test_add_func("/pipeline/threads-same-text-haswell", test_threads_haswell);
    g_test_add_func("/pipeline/looping-tile", test_looping_tile);
    g_test_add_func("/pipeline/failed-page", test_failed_page);
    g_test_add_func("/pipeline/reader-on-need", test_reader_on_need);
    g_test_add_func("/pipeline/abort-and-timeout", test_abort_and_timeout);
    g_test_add_func("/pipeline/text-layer-line-box", test_text_layer_line_box);
    g_test_add_func("/pipeline/lines-in-order", test_lines_in_order);
    g_test_add_func("/pipeline/lines-square-model", test_lines_square_model);
    g_test_add_func("/pipeline/lines-two-columns", test_lines_two_columns);
    g_test_add_func("/pipeline/lines-markdown", test_lines_markdown);
    g_test_add_func("/pipeline/lines-hocr", test_lines_hocr);
    g_test_add_func("/pipeline/lines-failing-segment", test_lines_failing_segment);
    g_test_add_func("/pipeline/lines-failing-segment-batched",
                    test_lines_failing_segment_batched);
    g_test_add_func("/pipeline/lines-table", test_lines_table);
    g_test_add_func("/pipeline/lines-skewed", test_lines_skewed);
    g_test_add_func("/pipeline/lines-real-reader", test_lines_real_reader);
    g_test_add_func("/pipeline/lines-n1-batched", test_lines_n1_batched);
    g_test_add_func("/pipeline/lines-long-word", test_lines_long_word);
    g_test_add_func("/pipeline/lines-reread-unsure", test_lines_reread_unsure);
    return g_test_run();
}
