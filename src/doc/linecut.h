/* Text lines cut for a model that reads one line at a time (--tiles lines).
 *
 * Each text line of the layout (in its reading order) is cut into segments
 * whose crop fits the model's input shape: crop width / crop height at most
 * max_aspect. Cuts follow the ink's column profile inside the line's box:
 * the widest word gap within the allowed span (one in the span's right half
 * when there is one, so segments stay long); without a word gap the widest
 * gap between letters; a run of ink wider than the span (a single word) is
 * cut at its narrowest-ink column as a last resort. Every ink column of a
 * line belongs to exactly one segment.
 *
 * Word gaps are told from letter gaps per line: the gap widths split in two
 * classes (Otsu), the threshold kept within 0.12..0.45 line heights.
 *
 * A segment's crop is its ink with margins of page around it: 0.20 heights
 * above and below (more on lines lower than the page's usual line, so the
 * type keeps its size relative to the crop), 0.25 heights at the sides, never
 * reaching past the middle of the gap to a neighbouring segment nor into its
 * ink. The trained line images have margins of that order (docs/cli.md;
 * linecut.c says how they were measured).
 *
 * Lines under half the page's usual line height lying on or under a full
 * line (a detached i-dot or apostrophe) are joined to it. */
#ifndef DV_DOC_LINECUT_H
#define DV_DOC_LINECUT_H

#include "base/box.h"
#include "base/error.h"
#include "doc/layout.h"
#include "image/image.h"

typedef struct dv_segment {
    dv_box ink;             /* its columns [x0, x1), the rows of its ink */
    dv_box crop;            /* what the model reads: ink and margins, inside the page */
    int first_word, n_words; /* its ink words in the line's words */
    int joins_prev;         /* cut from the segment before it inside a word (a letter
                               gap or ink, not a word gap): its first word goes on
                               that segment's last, with no space between */
    double margin_unit;     /* the height its vertical margins are measured in, pixels */
} dv_segment;

typedef struct dv_cut_line {
    dv_box box;             /* the layout's line */
    int block;              /* the layout block holding it */
    dv_segment *segs;       /* left to right; none when the box holds no ink */
    int n_segs;
    dv_box *words;          /* ink between word gaps (split where a segment cut
                               falls inside a word), left to right */
    int n_words;
} dv_cut_line;

typedef struct dv_line_cuts {
    dv_cut_line *lines;     /* the layout's text lines, in its reading order */
    int n_lines;
    int n_segs;             /* over all lines */
    double usual_h;         /* the median line height over the lines' widths, pixels */
} dv_line_cuts;

/* The cut's vertical margin, in margin units (dv_segment.margin_unit). */
#define DV_LINE_VMARGIN 0.20

/* Cuts the lines of lay, the layout of page. max_aspect: the most crop
 * width per crop height (at least 1). */
int dv_lines_cut(const dv_image *page, const dv_layout *lay, double max_aspect,
                 dv_line_cuts *out, dv_err *e);
void dv_line_cuts_free(dv_line_cuts *c);

/* The pixels of segment s of line l: its crop of the page, with the rows
 * above and below the line's box painted the paper's colour (their
 * median), so that the neighbouring lines' ascenders and descenders
 * reaching into the margins are not read. */
int dv_segment_image(const dv_image *page, const dv_cut_line *l, const dv_segment *s,
                     dv_image *out, dv_err *e);
/* The same with vmargin margin units of paper above and below the line
 * instead of the cut's own DV_LINE_VMARGIN (a negative vmargin: the cut's
 * own), rows past the page's edge painted paper too: the same segment
 * read at another scale. */
int dv_segment_image_margin(const dv_image *page, const dv_cut_line *l, const dv_segment *s,
                            double vmargin, dv_image *out, dv_err *e);

/* Boxes for the n words a segment was read as, chars[i] characters each:
 * the segment's ink words when there are n of them; otherwise slices of the
 * segment's ink proportional to the characters (a space counted with each
 * word), each shrunk to the ink words it overlaps. */
void dv_segment_word_boxes(const dv_cut_line *l, const dv_segment *s, const int *chars, int n,
                           dv_box *out);

#endif
