/* Pieces of the text-layer reader (textlayer.c) shared with the assembly of
 * right-to-left lines (textrtl.c). Not a public interface. */
#ifndef DV_DOC_TEXTLAYER_PARTS_H
#define DV_DOC_TEXTLAYER_PARTS_H

#include <poppler.h>

#include "doc/textlayer.h"

typedef struct word_builder {
    dv_page_text *t;
    int cap;
    GString *word;       /* the word being built */
    dv_box box;
    dv_err *e;
} word_builder;

/* Appends a word (a copy of s) to b->t's words. */
int dv_text_push_word(word_builder *b, const char *s, dv_box box, int rtl);
/* Appends the word being built, if any, and starts the next. */
int dv_text_end_word(word_builder *b, int rtl);

/* Whether glyphs a and b belong to different words (pdftotext's breaks). */
int dv_text_apart(const PopplerRectangle *a, const PopplerRectangle *b);

dv_box dv_text_rect_px(const PopplerRectangle *r, double scale);

/* Letters of the right-to-left scripts (Hebrew, Arabic, Syriac, Thaana,
 * N'Ko and the others of their blocks). */
int dv_text_is_rtl(gunichar c);

/* A right-to-left line as Poppler's selection gives it: its words in
 * logical order, each with its glyphs' box in PDF points and whether the
 * selection wrote a space after it. */
typedef struct rtl_token {
    GString *s;
    PopplerRectangle box;
    int space_after;
} rtl_token;

typedef struct rtl_line {
    rtl_token *v;
    int n, cap;
} rtl_line;

/* Starts a new token; the glyph's character and box are added with
 * dv_rtl_add_glyph (r NULL: a character without a glyph, a space inside
 * the word). */
int dv_rtl_new_token(rtl_line *l, dv_err *e);
void dv_rtl_add_glyph(rtl_line *l, gunichar c, const PopplerRectangle *r);

/* Writes the line's words to b (rtl set, boxes at scale) and its text to
 * text, then empties the line. */
int dv_rtl_line_emit(rtl_line *l, double scale, word_builder *b, GString *text);
void dv_rtl_line_free(rtl_line *l);

#endif
