/* The PDF text layer: text and word boxes read from the PDF instead of the
 * model, for born-digital pages, and the checks that decide when it can be
 * trusted.
 *
 * Modes: auto (default) reads a page from its text layer when the layer is
 * usable: it has text, that text is made of mapped characters (no U+FFFD,
 * control or private-use code points), lies on the page, does not sit on
 * raster images (an OCR layer over a scan: invisible text whose quality is
 * unknown; text over a background picture without ink under the glyphs is
 * fine), and covers the ink that layout analysis found. Otherwise the page
 * is treated as scanned and goes to the model. off: always the model.
 * only: never the model (pages without a usable layer give what they have). */
#ifndef DV_DOC_TEXTLAYER_H
#define DV_DOC_TEXTLAYER_H

#include "base/box.h"
#include "base/error.h"
#include "doc/document.h"
#include "doc/layout.h"

/* The mode is the public docvl_text_layer (docvl.h): "auto", "off" or "only". */
int dv_text_mode_parse(const char *s, docvl_text_layer *mode, dv_err *e);

typedef struct dv_word {
    char *text;          /* UTF-8, owned */
    dv_box box;          /* rendered page pixels */
    int rtl;             /* 1: on a right-to-left line, whose next word lies to its left */
} dv_word;

typedef struct dv_page_text {
    char *text;          /* the page's text in Poppler's reading order, word breaks
                            and line-end hyphenation as pdftotext (no -layout);
                            right-to-left text in logical order, without the
                            bidirectional marks Poppler wraps it in */
    dv_word *words;
    int n_words;
    int n_chars;         /* non-space characters */
    int n_bad;           /* U+FFFD, control and private-use characters */
    int n_outside;       /* characters whose centre is off the page */
    int n_on_image;      /* characters lying on a raster image that has ink under
                            them: a picture of the text, the mark of an OCR layer */
} dv_page_text;

/* Reads page `index` of a PDF; boxes are scaled to a rendering at `dpi`
 * (the dpi dv_doc_render_page reported). Image documents give empty text. */
int dv_text_extract(dv_doc *doc, int index, double dpi, dv_page_text *out, dv_err *e);
void dv_page_text_free(dv_page_text *t);

typedef enum dv_text_verdict {
    DV_TEXTLAYER_USABLE = 0,
    DV_TEXTLAYER_ABSENT,      /* no text: a scan or a drawing */
    DV_TEXTLAYER_GARBAGE,     /* unmapped glyphs or text off the page */
    DV_TEXTLAYER_ON_IMAGE,    /* text over raster images: an OCR layer */
    DV_TEXTLAYER_INCOMPLETE,  /* visible text lines that the layer lacks */
    DV_TEXTLAYER_INVISIBLE,   /* text where the page shows no ink */
} dv_text_verdict;

/* Judges a page's layer; layout (of the same rendering) may be NULL, which
 * skips the ink checks. */
dv_text_verdict dv_text_assess(const dv_page_text *t, const dv_layout *layout);
const char *dv_text_verdict_name(dv_text_verdict v);
/* The verdict in words for a message about the page ("page 3: ..."). */
const char *dv_text_verdict_reason(dv_text_verdict v);

/* The resolution of the quick judgement: a page whose layer it finds
 * usable is read from its layer without the full-resolution rendering;
 * any other verdict is checked again at full resolution, so the quick
 * look only saves time (the same decisions on the corpus, tested). */
#define DV_TEXT_QUICK_DPI 72.0

/* Judges t (word boxes at words_dpi) against page `index` rendered and
 * analysed at dpi. */
int dv_text_judge(dv_doc *doc, int index, const dv_page_text *t, double words_dpi, double dpi,
                  dv_text_verdict *v, dv_err *e);

/* 1 when the page should be read from its text layer, 0 for the model. */
int dv_text_use_layer(docvl_text_layer mode, dv_text_verdict v);

#endif
