/* A page read one text line at a time (--tiles lines) as a page result: the
 * segments' texts joined into lines (one space between segments, none where
 * a cut fell inside a word: its pieces are one word), the lines
 * into the layout's blocks, every word with a box on its ink (doc/linecut.h),
 * so the writers treat the page as they treat a text layer's: paragraphs and
 * tables in Markdown, ocr_line and ocrx_word boxes in hOCR. A line whose
 * first word is a bullet (one of a few round and square marks, or "-", "*",
 * "+", an en dash or "o" standing alone before other words) starts a list
 * item. */
#ifndef DV_PIPELINE_LINEPAGE_H
#define DV_PIPELINE_LINEPAGE_H

#include "doc/linecut.h"
#include "out/page.h"

/* Blocks of at most this many lines whose type is this much taller than the
 * page's usual line are headings: level 1 from the larger ratio, else 2. */
#define DV_HEADING_MAX_LINES 2
#define DV_HEADING_RATIO 1.5
#define DV_HEADING_RATIO_H1 2.2

/* Fills p (whose blocks must be empty) from the cut lines and their
 * segments' texts: seg_text[k] is the k-th segment over all lines in
 * order, NULL for one left out. Lines without text are left out; p->text
 * becomes the page's plain text: lines ending in '\n', a blank line
 * between blocks. */
void dv_line_page_fill(const dv_line_cuts *c, char *const *seg_text, dv_page_result *p);

#endif
