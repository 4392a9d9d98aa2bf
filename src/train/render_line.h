/* Rendered text lines for a line-reading model: one line of printable ASCII
 * text drawn in a font found through fontconfig, at the size a 200-300 dpi
 * scan gives, degraded as a scan is (blur, noise, speckle, low contrast,
 * binarization, JPEG, small skew) at that resolution, then resampled to a
 * fixed height H and padded to a width W. The transcription is exactly the
 * drawn words, joined by single spaces. Everything follows from the seed.
 *
 * Held-out split: fonts (a fixed table, whole designs on one side), corpus
 * paragraphs and words (by hash) and whole line texts (by hash) are each
 * either "train" or "eval", so evaluation lines never repeat a training
 * font or line. */
#ifndef DV_RENDER_LINE_H
#define DV_RENDER_LINE_H

#include <stdint.h>

#include "base/error.h"
#include "image/image.h"

struct dv_rng;

typedef enum dv_split { DV_SPLIT_TRAIN = 0, DV_SPLIT_EVAL = 1 } dv_split;

/* One text in DV_SPLIT_EVAL_OF of its hash values goes to eval (10%). */
#define DV_SPLIT_EVAL_OF 10
dv_split dv_split_of(const char *text);

/* ---- fonts (render_fonts.c) ---- */

typedef struct dv_font_entry {
    const char *family;   /* fontconfig family name */
    const char *cls;      /* "serif", "sans" or "mono" */
    const char *package;  /* the Debian package that ships it */
    dv_split split;
} dv_font_entry;

/* The built-in table of families (n entries). */
const dv_font_entry *dv_font_table(int *n);
/* 1 when fontconfig knows the family (exact name). */
int dv_font_installed(const char *family);

typedef struct dv_fonts dv_fonts;

/* spec NULL: the table's families of the split. Otherwise a comma list of
 * family names and class names (serif, sans, mono: the table's families of
 * that class in the split), or "@FILE" with one entry a line (# comments).
 * A family fontconfig does not have is an error naming it. */
int dv_fonts_open(const char *spec, dv_split split, dv_fonts **out, dv_err *e);
void dv_fonts_free(dv_fonts *f);
int dv_fonts_count(const dv_fonts *f);
const char *dv_fonts_family(const dv_fonts *f, int i);
/* The Cairo face of family i closest to style (bits: 1 bold, 2 italic), a
 * cairo_font_face_t *; *real: the style the face has (a family without an
 * italic gives its upright face). */
void *dv_fonts_face(const dv_fonts *f, int i, int style, int *real);
/* 1 when face style of family i has a glyph for every character of the
 * UTF-8 text (a face without one would draw a box the transcription does
 * not have). */
int dv_fonts_covers(const dv_fonts *f, int i, int style, const char *text);

/* ---- text (render_content.c) ---- */

/* A corpus reduced to one split: paragraphs of printable-ASCII words and a
 * vocabulary of plain words. */
typedef struct dv_line_src dv_line_src;

int dv_line_src_from_text(const char *text, dv_split split, dv_line_src **out, dv_err *e);
void dv_line_src_free(dv_line_src *s);
/* The split's paragraphs as the lines draw them (printable words joined by
 * single spaces), a blank line between paragraphs: the text a language
 * model of the same split may learn from. g_free. */
char *dv_line_src_paragraphs(const dv_line_src *s);

/* The words of one line, before fitting: w[i] is drawn gap_em[i] ems after
 * the previous word (0 for a normal space). */
typedef struct dv_line_words {
    int n;
    char **w;
    double *gap_em;
    const char *kind;     /* prose, words, heading, numbers, prices, dates, punct, cells */
    const char *piece;    /* NULL, or how dv_line_words_piece cut the line */
    /* letterforms of the whole line (0: none) */
    double track_em;      /* space after every letter, ems */
    int spaced;           /* 1: tracked so wide it reads as spaced letters (T R A V E L) */
    double small_caps;    /* lower-case letters drawn as capitals this fraction of the size */
} dv_line_words;

/* Words of about `target` characters of a seed-chosen kind. */
int dv_line_words_make(const dv_line_src *s, struct dv_rng *r, int target, dv_line_words *out,
                       dv_err *e);
void dv_line_words_free(dv_line_words *w);
/* Cuts the words to the part of a page's line that docvl's line cutter
 * hands the model (doc/linecut.h): it cuts a word wider than a read between
 * its letters, so reads start and end inside words, and printed lines end in
 * a hyphenated word. Keeps the first words within max_chars, then starts the
 * line inside its first word ("start": "ment of the"), ends it inside its
 * last ("end"), both ("both"), or ends it in a hyphen ("hyphen": "to con-");
 * sets w->piece to that name. */
void dv_line_words_piece(dv_line_words *w, struct dv_rng *r, int max_chars);
/* Quote styles of print: English “ ” ‘ ’, German „ “ ‚ ‘, French (also
 * Spanish and Portuguese) « » ‹ ›. */
typedef enum dv_quotes { DV_QUOTES_EN, DV_QUOTES_DE, DV_QUOTES_FR } dv_quotes;
/* Sets quotes, apostrophes, dashes and ellipses as print does (the text
 * sources are ASCII): " and ' opening a word are the style's opening quotes,
 * others its closing ones, except a ' between letters, the apostrophe ’ in
 * every style (it’s); ` is an opening single quote, -- an em dash, a lone
 * - an en dash, ... an ellipsis. */
void dv_line_words_typeset(dv_line_words *w, dv_quotes style);
/* Puts one word of the line in double (4 in 5) or single quotes and sets the
 * line as dv_line_words_typeset does in a style drawn from r (English,
 * German or French, a third each): the text sources hold few quotes, and
 * print sets them in the style of its language. */
void dv_line_words_quote(dv_line_words *w, struct dv_rng *r);
/* Sets one word of the line, or up to half of its words, in capitals
 * (LOCATE controls, the USA and): the text sources are mostly lower case, so
 * a model that learnt case from them reads o, s, v, w, z by the words around
 * them instead of by their size. */
void dv_line_words_caps(dv_line_words *w, struct dv_rng *r);
/* Starts the line with a bullet (•) as its own word, 0.3 to 1 em before
 * the next: lists are common in documents and the text sources have none. */
void dv_line_words_bullet(dv_line_words *w, struct dv_rng *r);
/* Letter-spaced type: half of the lines tracked lightly (0.04 to 0.15 em
 * after each letter, read as words), half so wide (0.45 to 1 em) that
 * print's transcriptions give the letters one by one (d a t e l i n e). */
void dv_line_words_space(dv_line_words *w, struct dv_rng *r);
/* Small capitals: lower-case letters drawn as capitals at 0.66 to 0.82 of
 * the size, read as capitals (THE TERRA-COTTA), as captions, running heads
 * and openings set them. Fonts without true small capitals are drawn so in
 * print too. */
void dv_line_words_small_caps(dv_line_words *w, struct dv_rng *r);
/* Word i as the transcription gives it: in capitals under small capitals,
 * its letters one space apart when spaced. g_free. */
char *dv_line_word_text(const dv_line_words *w, int i);
/* The first n words as the transcription gives them, joined by single spaces. */
char *dv_line_words_join(const dv_line_words *w, int n);

/* ---- scan degradations on a gray image (render_degrade.c) ---- */

/* Documented ranges (docs/training.md "Line data"), at full --scan. */
#define DV_LINE_SKEW_MAX 0.5       /* degrees either way */
#define DV_LINE_BLUR_MAX 1.2       /* Gaussian sigma, scan pixels */
#define DV_LINE_NOISE_MAX 12.0     /* Gaussian sigma, gray levels */
#define DV_LINE_SPECKLE_MAX 0.003  /* fraction of pixels flipped */
#define DV_LINE_JPEG_MIN 30        /* quality 30..90 */
#define DV_LINE_JPEG_MAX 90
#define DV_LINE_INK_MAX 0.55       /* ink level 0 (black) .. 0.55 of white */
#define DV_LINE_PAPER_MIN 0.75     /* paper level 0.75 .. 1 of white */

/* What was drawn, for the manifest and the tests. */
typedef struct dv_line_look {
    const char *family;
    const char *kind;
    const char *piece;         /* NULL, or dv_line_words.piece */
    int style;                 /* as drawn: 1 bold, 2 italic */
    double pt, dpi;
    double skew_deg, blur, noise, speckle, ink, paper;
    int binarized, jpeg;       /* jpeg: quality, 0 none */
} dv_line_look;

typedef struct dv_gray {
    int w, h;
    uint8_t *p;
} dv_gray;

/* Draws the look's random values for strength scan (0 clean .. 1). */
void dv_line_look_draw(dv_line_look *k, double scan, struct dv_rng *r);
/* Applies blur, noise, speckle, binarization and JPEG in that order. */
int dv_line_degrade(dv_gray *g, const dv_line_look *k, struct dv_rng *r, dv_err *e);

/* ---- lines (render_line.c) ---- */

typedef struct dv_line_opts {
    int height, width;           /* H and the widest line W, pixels */
    int min_chars, max_chars;    /* transcription length */
    double min_pt, max_pt;       /* font size, points */
    double min_dpi, max_dpi;     /* the scan resolution the line is drawn at */
    double scan;                 /* degradation strength 0 .. 1 */
    int crop;                    /* 1: width cut after the text instead of padded to W */
    double pieces;               /* the share of lines cut as dv_line_words_piece does */
    double typeset;              /* the share set as dv_line_words_typeset does */
    double quotes;               /* the share set as dv_line_words_quote does (not typeset then) */
    double caps;                 /* the share with words in capitals (dv_line_words_caps) */
    double bullets;              /* the share starting with a bullet (dv_line_words_bullet) */
    double spaced;               /* the share letter-spaced (dv_line_words_space) */
    double small_caps;           /* the share in small capitals (dv_line_words_small_caps) */
    dv_split split;
} dv_line_opts;

#define DV_LINE_DEFAULTS ((dv_line_opts){ .height = 32, .width = 512, .min_chars = 1, \
                                          .max_chars = 48, .min_pt = 8, .max_pt = 14, \
                                          .min_dpi = 200, .max_dpi = 300, .scan = 1.0 })

typedef struct dv_line {
    dv_image image;
    char *text;
    dv_line_look look;
} dv_line;

int dv_line_opts_check(const dv_line_opts *o, dv_err *e);
int dv_render_line(const dv_line_opts *o, const dv_line_src *s, const dv_fonts *f, uint64_t seed,
                   dv_line *out, dv_err *e);
void dv_line_free(dv_line *l);

#endif
