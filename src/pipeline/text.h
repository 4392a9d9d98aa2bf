/* The PDF text layer's words (doc/textlayer.h) as a page result for the
 * writers: words grouped into lines, lines into blocks. */
#ifndef DV_PIPELINE_TEXT_H
#define DV_PIPELINE_TEXT_H

#include "doc/textlayer.h"
#include "out/page.h"

/* Adds t's text and its words, grouped, to p (whose blocks must be empty).
 * A word continues the current line when it overlaps the line vertically
 * by at least half its height and does not start left of the line's last
 * word (end right of it, for right-to-left words); a line starts a new block after a gap taller than the line before
 * it, or when it starts above that line (a new column). */
void dv_pipeline_text_page(const dv_page_text *t, dv_page_result *p);

/* The text of t's words whose centres lie in box, grouped the same way:
 * one line per line, a blank line between blocks. What a tile the model
 * failed on falls back to. Caller frees (g_free); "" when none. */
char *dv_pipeline_text_in_box(const dv_page_text *t, dv_box box);

#endif
