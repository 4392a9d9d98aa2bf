/* A bounded trial run of a PDF page before the real work touches it.
 *
 * Poppler has no way to cancel a page: a decompression bomb in a content
 * stream (a JBIG2 page of 10^10 pixels) keeps it busy for minutes whatever
 * the dpi, and a fuzzed file can crash it. So the first time a page is
 * used, a forked child renders it at a very low resolution and reads its
 * text, under a time and memory limit; a page whose trial does not finish
 * cleanly is refused with an error instead of hanging or crashing the
 * caller. The fork shares memory copy-on-write, so the trial costs one
 * low-resolution rendering. */
#ifndef DV_DOC_GUARD_H
#define DV_DOC_GUARD_H

#include "base/error.h"

struct _PopplerPage;

/* Default budget of one page's trial, in seconds of CPU time (rounded up
 * to whole seconds)... */
#define DV_GUARD_DEFAULT_SECONDS 10.0
/* ...and, for a trial that waits instead of computing, this many times as
 * many seconds of wall clock. */
#define DV_GUARD_WALL_FACTOR 6.0
/* Address space a trial may add to the caller's (which it shares). */
#define DV_GUARD_MAX_BYTES ((unsigned long long)2 << 30)
/* Resident memory a trial may add, watched from the parent: the bound
 * where address space cannot be limited (ASan), below the 2 GB every bad
 * input must stay within so that the poll interval's overshoot fits. */
#define DV_GUARD_MAX_RSS ((unsigned long long)3 << 29)

/* Returns DOCVL_OK when the trial finished (or no child process could be
 * made), DOCVL_ELIMIT when it ran out of CPU time, wall-clock time or
 * DV_GUARD_MAX_RSS,
 * DOCVL_EFORMAT when it crashed or ran out of address space. */
int dv_guard_try_page(struct _PopplerPage *page, double seconds, dv_err *e);

#endif
