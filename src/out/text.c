/* Plain text: each page's text, ending in a newline, then a form feed, the
 * way pdftotext separates pages, so `docvl x.pdf | csplit` style tools work. */
#include "out/format.h"

static int text_page(GString *out, const dv_page_result *p, int index,
                     const dv_writer_options *opt, dv_err *e)
{
    (void)index;
    (void)opt;
    (void)e;
    char *raw = p->text ? NULL : dv_page_text_from_blocks(p);
    char *clean = dv_clean_text(p->text ? p->text : raw);
    g_free(raw);
    g_string_append(out, clean);
    if (out->len > 0 && out->str[out->len - 1] != '\n')
        g_string_append_c(out, '\n');
    g_string_append_c(out, '\f');
    g_free(clean);
    return DOCVL_OK;
}

const dv_format_ops dv_text_ops = { NULL, text_page, NULL };
