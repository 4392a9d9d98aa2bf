/* Page selections as users write them: "1-3,7,10-end" (1-based, inclusive;
 * "end" and an open range "10-" mean the last page). */
#ifndef DV_DOC_PAGES_H
#define DV_DOC_PAGES_H

#include "base/error.h"

/* Parses spec against a document of n_pages pages into *indices (0-based,
 * malloc'd, in the order written, each page at most once). NULL or "" selects
 * every page. Pages beyond the document, reversed ranges and stray characters
 * are DOCVL_EINVAL errors naming the offending part. */
int dv_pages_parse(const char *spec, int n_pages, int **indices, int *count, dv_err *e);

#endif
