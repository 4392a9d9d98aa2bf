/* The writers' internals: one function table per format, each appending the
 * bytes of a page to a GString that writer.c hands to the sink. */
#ifndef DV_OUT_FORMAT_H
#define DV_OUT_FORMAT_H

#include <glib.h>

#include "out/writer.h"

typedef struct dv_format_ops {
    int (*begin)(GString *out, const dv_writer_options *opt, dv_err *e);
    int (*page)(GString *out, const dv_page_result *p, int index, const dv_writer_options *opt,
                dv_err *e);
    int (*end)(GString *out, dv_err *e);
} dv_format_ops;

extern const dv_format_ops dv_text_ops;
extern const dv_format_ops dv_markdown_ops;
extern const dv_format_ops dv_hocr_ops;

/* Valid UTF-8 without the C0 controls XML forbids (tab and newline kept;
 * form feeds become newlines): model output is untrusted. Caller frees. */
char *dv_clean_text(const char *s);

#endif
