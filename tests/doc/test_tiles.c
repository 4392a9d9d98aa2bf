/* Tiling on every page of the test corpus (malformed files included where
 * they render): no tile cuts a text line, tiles stay within T x T unless
 * one line forces more, every line is in a tile. */
#include <string.h>

#include "doc/document.h"
#include "doc/layout.h"
#include "doc/tiles.h"
#include "testutil.h"

/* Folders of tests/data/corpus whose documents are all tiled. */
static const char *const folders[] = {"images", "scanned", "born_digital", "multipage", "tables",
                                      "malformed"};

static void check_tiling(const dv_layout *l, const dv_tiling *t, int T, const char *what)
{
    g_assert_cmpint(t->n_tiles, >=, 1);
    for (int i = 0; i < t->n_tiles; i++) {
        dv_box b = t->tiles[i].box;
        g_assert_false(dv_box_empty(b));
        g_assert_cmpint(b.x0, >=, 0);
        g_assert_cmpint(b.y0, >=, 0);
        g_assert_cmpint(b.x1, <=, l->page_w);
        g_assert_cmpint(b.y1, <=, l->page_h);
        dv_box held = {0, 0, 0, 0};
        for (int j = 0; j < l->n_lines; j++) {
            if (dv_box_cuts(b, l->lines[j])) {
                g_printerr("%s: tile %d cuts line %d\n", what, i, j);
                g_assert_not_reached();
            }
            if (dv_box_area(dv_box_intersect(b, l->lines[j])) > 0)
                held = dv_box_union(held, l->lines[j]);
        }
        /* Larger than T only as far as the uncuttable lines it holds reach. */
        if (t->n_tiles > 1) {
            g_assert_cmpint(dv_box_w(b), <=, dv_imax(T, dv_box_w(held)));
            g_assert_cmpint(dv_box_h(b), <=, dv_imax(T, dv_box_h(held)));
        }
    }
    for (int j = 0; j < l->n_lines; j++) {
        int in = 0;
        for (int i = 0; i < t->n_tiles && !in; i++)
            in = dv_box_area(dv_box_intersect(t->tiles[i].box, l->lines[j])) > 0;
        g_assert_true(in);
    }
}

static void tile_page(dv_doc *d, int p, const char *rel)
{
    dv_rendered_page rp;
    dv_err e = {0};
    int rc = dv_doc_render_page(d, p, NULL, &rp, &e);
    if (rc && strstr(rel, "malformed/"))
        return; /* a clean refusal is what malformed pages may give */
    g_assert_cmpint(rc, ==, DOCVL_OK);
    dv_layout l;
    g_assert_cmpint(dv_layout_analyze(&rp.image, NULL, &l, &e), ==, DOCVL_OK);
    const int sizes[2] = {DV_TILE_DEFAULT_SIZE, 384};
    for (int s = 0; s < 2; s++) {
        dv_tile_options o = {sizes[s], 0};
        dv_tiling t;
        g_assert_cmpint(dv_tiles_make(&l, &o, &t, &e), ==, DOCVL_OK);
        char *what = g_strdup_printf("%s page %d T %d", rel, p + 1, sizes[s]);
        check_tiling(&l, &t, sizes[s], what);
        g_free(what);
        dv_tiling_free(&t);
    }
    dv_layout_free(&l);
    dv_image_free(&rp.image);
}

static int is_document(const char *name)
{
    return !g_str_has_suffix(name, ".txt") && !g_str_has_suffix(name, ".md");
}

/* Every page of every document that opens (malformed ones may refuse). */
static void tile_file(const char *rel, int first_page_only)
{
    char *path = test_data(rel);
    dv_doc *d = NULL;
    dv_err e = {0};
    if (dv_doc_open_file(path, NULL, &d, &e) == DOCVL_OK) {
        dv_doc_set_trial_seconds(d, 3);
        int n = first_page_only ? 1 : dv_doc_page_count(d);
        for (int p = 0; p < n; p++)
            tile_page(d, p, rel);
        dv_doc_close(d);
    } else {
        g_assert_nonnull(strstr(rel, "malformed/"));
    }
    g_free(path);
}

static void test_corpus_pages(void)
{
    /* Under sanitizers: the first page of each well-formed document. */
    int sanitized = g_getenv("DOCVL_SANITIZED") != NULL, files = 0;
    for (size_t f = 0; f < G_N_ELEMENTS(folders); f++) {
        if (sanitized && strcmp(folders[f], "malformed") == 0)
            continue;
        char *rel_dir = g_build_filename("corpus", folders[f], NULL);
        char *dir = test_data(rel_dir);
        GDir *gd = g_dir_open(dir, 0, NULL);
        g_assert_nonnull(gd);
        const char *name;
        while ((name = g_dir_read_name(gd)))
            if (is_document(name)) {
                char *rel = g_build_filename(rel_dir, name, NULL);
                tile_file(rel, sanitized);
                g_free(rel);
                files++;
            }
        g_dir_close(gd);
        g_free(dir);
        g_free(rel_dir);
    }
    g_assert_cmpint(files, >=, 15);
}

static dv_layout synthetic(int w, int h)
{
    dv_layout l = {0};
    l.page_w = w;
    l.page_h = h;
    return l;
}

static void test_off_and_small(void)
{
    dv_layout l = synthetic(3000, 2000);
    dv_box lines[2] = {{100, 100, 900, 130}, {100, 1500, 900, 1530}};
    dv_block blocks[2] = {{{100, 100, 900, 130}, DV_BLOCK_TEXT, 0, 1},
                          {{100, 1500, 900, 1530}, DV_BLOCK_TEXT, 1, 1}};
    l.lines = lines;
    l.n_lines = 2;
    l.blocks = blocks;
    l.n_blocks = 2;
    dv_tiling t;
    dv_err e = {0};
    dv_tile_options off = {0, 1};
    g_assert_cmpint(dv_tiles_make(&l, &off, &t, &e), ==, DOCVL_OK);
    g_assert_cmpint(t.n_tiles, ==, 1);
    g_assert_cmpint(t.tiles[0].box.x1, ==, 3000);
    g_assert_cmpint(t.tiles[0].box.y1, ==, 2000);
    dv_tiling_free(&t);
    /* Two blocks too far apart for one 1024 tile: two tiles, in order. */
    g_assert_cmpint(dv_tiles_make(&l, NULL, &t, &e), ==, DOCVL_OK);
    g_assert_cmpint(t.n_tiles, ==, 2);
    g_assert_cmpint(t.tiles[0].box.y0, ==, 100);
    g_assert_cmpint(t.tiles[1].box.y0, ==, 1500);
    dv_tiling_free(&t);
    /* With T = 2000 they share one tile. */
    dv_tile_options big = {2000, 0};
    g_assert_cmpint(dv_tiles_make(&l, &big, &t, &e), ==, DOCVL_OK);
    g_assert_cmpint(t.n_tiles, ==, 1);
    dv_tiling_free(&t);
    /* A page that fits in one tile is one tile. */
    dv_layout s = synthetic(800, 600);
    s.lines = lines;
    s.n_lines = 1;
    s.blocks = blocks;
    s.n_blocks = 1;
    g_assert_cmpint(dv_tiles_make(&s, NULL, &t, &e), ==, DOCVL_OK);
    g_assert_cmpint(t.n_tiles, ==, 1);
    g_assert_cmpint(t.tiles[0].box.x1, ==, 800);
    dv_tiling_free(&t);
    dv_tile_options tiny = {4, 0};
    g_assert_cmpint(dv_tiles_make(&l, &tiny, &t, &e), ==, DOCVL_EINVAL);
}

static void test_box_cuts(void)
{
    dv_box line = {10, 10, 50, 20};
    g_assert_false(dv_box_cuts((dv_box){0, 0, 100, 100}, line));  /* contains */
    g_assert_false(dv_box_cuts((dv_box){60, 0, 100, 100}, line)); /* apart */
    g_assert_true(dv_box_cuts((dv_box){0, 0, 30, 100}, line));
    g_assert_true(dv_box_cuts((dv_box){0, 15, 100, 100}, line));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tiles/box-cuts", test_box_cuts);
    g_test_add_func("/tiles/off-and-small", test_off_and_small);
    g_test_add_func("/tiles/corpus-pages", test_corpus_pages);
    return g_test_run();
}
