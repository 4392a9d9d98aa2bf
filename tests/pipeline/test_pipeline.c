/* The pipeline without a model: a fake tile reader answers each tile with
 * its number, so the checks are about the pipeline itself: pages cut into
 * tiles, the tiles' texts joined in reading order, the retry of a looping
 * tile, failed tiles and pages counted, the reader asked for once, on first
 * need, and only when a page needs it. */
#include <stdlib.h>
#include <string.h>

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
    char instruction[256];
} fake;

static int fake_read(void *self, const dv_image *tile, const dv_tile_opts *o,
                     dv_tile_result *res, dv_err *e)
{
    fake *f = self;
    memset(res, 0, sizeof *res);
    f->calls++;
    if (f->calls == f->fail_call)
        return dv_fail(e, DOCVL_ENOMEM, "fake: no memory");
    if (!o->sample)
        f->tiles++;
    else if (f->tiles == f->loop_tile)
        f->retried_sampled = 1;
    f->max_w = tile->w > f->max_w ? tile->w : f->max_w;
    f->max_h = tile->h > f->max_h ? tile->h : f->max_h;
    snprintf(f->instruction, sizeof f->instruction, "%s", o->instruction);
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

typedef struct messages {
    GString *all;
    int failures;
} messages;

static void on_message(void *user, int failure, const char *msg)
{
    messages *m = user;
    m->failures += failure;
    g_string_append_printf(m->all, "%s\n", msg);
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
    dv_word words[] = { { "ab", { 10, 0, 20, 10 } }, { "\u200b", { 30, 0, 30, 10 } } };
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pipeline/tiles-in-order", test_tiles_in_order);
    g_test_add_func("/pipeline/looping-tile", test_looping_tile);
    g_test_add_func("/pipeline/failed-page", test_failed_page);
    g_test_add_func("/pipeline/reader-on-need", test_reader_on_need);
    g_test_add_func("/pipeline/abort-and-timeout", test_abort_and_timeout);
    g_test_add_func("/pipeline/text-layer-line-box", test_text_layer_line_box);
    return g_test_run();
}
