/* A page as the writers see it: plain results, never model internals.
 * The pipeline fills it from the PDF text layer (exact words and boxes) or
 * from the model (text, optionally aligned to detected lines). Coordinates
 * are pixels of the page image at page->dpi, origin top left. */
#ifndef DV_OUT_PAGE_H
#define DV_OUT_PAGE_H

#include "base/box.h"
#include "base/error.h"

typedef struct dv_page_word {
    char *text;             /* UTF-8, owned */
    dv_box box;
} dv_page_word;

typedef struct dv_page_line {
    dv_box box;
    dv_page_word *words;
    int n_words;
    int bullet;             /* > 0: the line starts a list item, and its first word's
                               first `bullet` bytes are the bullet (Markdown "- ") */
} dv_page_line;

/* A block is a column-or-paragraph region: hOCR's ocr_carea + ocr_par. */
typedef struct dv_page_block {
    dv_box box;
    dv_page_line *lines;
    int n_lines;
    int heading;            /* 1-6: a heading of that level (Markdown #); 0: a paragraph */
} dv_page_block;

/* A table found in a text-layer page's word boxes (doc/tables.h). */
typedef struct dv_page_table {
    int n_rows, n_cols;     /* the first row is the header */
    char **cells;           /* n_rows * n_cols, row major, UTF-8 as in the words; "" when empty */
    int *spans;             /* n_rows * n_cols: the columns a cell covers from its own
                               (a header over several); 1 for most, 0 for empty cells */
    dv_box box;
} dv_page_table;

typedef struct dv_page_tables {
    dv_page_table *tables;
    int n_tables;
    /* For each word of the page, in block, line and word order: the index of
     * the table it belongs to, or -1. */
    int *word_table;
    int n_words;
} dv_page_tables;

typedef enum dv_page_source {
    DV_SRC_TEXT_LAYER,      /* read exactly from the PDF */
    DV_SRC_MODEL,           /* transcribed by the model */
    DV_SRC_MODEL_LINES,     /* transcribed by the model one text line at a time
                               (--tiles lines): plain text in blocks, lines and
                               words with boxes, written as text-layer pages are */
    DV_SRC_NONE,            /* nothing could be read (failed page) */
} dv_page_source;

typedef struct dv_page_result {
    int page_no;            /* 1-based, in the document */
    int width, height;      /* page image size in pixels */
    double dpi;
    char *image;            /* hOCR "image" property (input file name), may be NULL */
    dv_page_source source;
    /* The page's text in reading order. For model pages written as Markdown
     * it is the model's Markdown (HTML tables allowed); otherwise plain
     * lines. Writers prefer text; hOCR uses blocks when there are any. */
    char *text;
    dv_page_block *blocks;
    int n_blocks;
    /* Filled by document analysis for the formats that write tables; the
     * writers only format them. None when tables are not wanted. */
    dv_page_tables tables;
    int n_tiles, n_failed_tiles;
} dv_page_result;

void dv_page_init(dv_page_result *p, int page_no, int width, int height, double dpi);
void dv_page_clear(dv_page_result *p);
/* Drops text, blocks and tables, keeping the page's number, geometry and image. */
void dv_page_clear_content(dv_page_result *p);

void dv_page_table_free(dv_page_table *t);
void dv_page_tables_free(dv_page_tables *t);

/* Builders: blocks, lines and words are appended to the last one. */
dv_page_block *dv_page_add_block(dv_page_result *p, dv_box box);
dv_page_line *dv_page_block_add_line(dv_page_block *b, dv_box box);
dv_page_word *dv_page_line_add_word(dv_page_line *l, const char *text, size_t len, dv_box box);

/* Moves src's blocks to the end of dst's (src keeps none). */
void dv_page_take_blocks(dv_page_result *dst, dv_page_result *src);

/* Plain text from the blocks: one line per line, a blank line between
 * blocks. Used when a page has boxes but no text. Caller frees. */
char *dv_page_text_from_blocks(const dv_page_result *p);

/* Lays model text out on detected line boxes, in order: text line i goes on
 * line box i while there are enough boxes (extra boxes stay empty); more
 * text lines than boxes are spread evenly, those sharing a box splitting it
 * into strips. Words get widths proportional to their character counts. With no
 * line boxes the text lines are stacked evenly down the page. Positions are
 * computed in fractions of a pixel and stored rounded outwards (floor of
 * x0/y0, ceil of x1/y1). Replaces the page's blocks; the text itself is kept
 * as it is. */
int dv_page_align_text(dv_page_result *p, const dv_box *lines, int n_lines, dv_err *e);

#endif
