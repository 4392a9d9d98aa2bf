/* Format dispatch and the sinks. Each page is rendered to memory first and
 * handed to the sink in one piece, so a failing page never leaves half of
 * its markup in the output. */
#include "out/format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct dv_writer {
    const dv_format_ops *ops;
    dv_sink sink;
    dv_writer_options opt;
    int pages;
    int begun, finished;
};

int dv_format_parse(const char *name, dv_format *out, dv_err *e)
{
    static const struct { const char *name; dv_format f; } names[] = {
        { "txt", DV_FMT_TEXT }, { "text", DV_FMT_TEXT },
        { "md", DV_FMT_MARKDOWN }, { "markdown", DV_FMT_MARKDOWN },
        { "hocr", DV_FMT_HOCR }, { "html", DV_FMT_HOCR },
    };
    for (size_t i = 0; name && i < G_N_ELEMENTS(names); i++) {
        if (g_ascii_strcasecmp(name, names[i].name) == 0) {
            *out = names[i].f;
            return DOCVL_OK;
        }
    }
    return dv_fail(e, DOCVL_EINVAL, "unknown output format '%s' (expected txt, md or hocr)",
                   name ? name : "(null)");
}

const char *dv_format_name(dv_format f)
{
    switch (f) {
    case DV_FMT_MARKDOWN: return "md";
    case DV_FMT_HOCR: return "hocr";
    default: return "txt";
    }
}

const char *dv_format_ext(dv_format f)
{
    switch (f) {
    case DV_FMT_MARKDOWN: return ".md";
    case DV_FMT_HOCR: return ".hocr";
    default: return ".txt";
    }
}

static const dv_format_ops *ops_of(dv_format f)
{
    switch (f) {
    case DV_FMT_MARKDOWN: return &dv_markdown_ops;
    case DV_FMT_HOCR: return &dv_hocr_ops;
    default: return &dv_text_ops;
    }
}

int dv_writer_new(dv_format f, dv_sink sink, const dv_writer_options *opt, dv_writer **out,
                  dv_err *e)
{
    *out = NULL;
    if (!sink.write)
        return dv_fail(e, DOCVL_EINVAL, "writer: no sink");
    dv_writer *w = g_new0(dv_writer, 1);
    w->ops = ops_of(f);
    w->sink = sink;
    if (opt)
        w->opt = *opt;
    *out = w;
    return DOCVL_OK;
}

static int flush(dv_writer *w, GString *s, dv_err *e)
{
    int rc = s->len ? w->sink.write(w->sink.user, s->str, s->len, e) : DOCVL_OK;
    g_string_free(s, TRUE);
    return rc;
}

static int begin(dv_writer *w, dv_err *e)
{
    if (w->begun)
        return DOCVL_OK;
    w->begun = 1;
    GString *s = g_string_new(NULL);
    int rc = w->ops->begin ? w->ops->begin(s, &w->opt, e) : DOCVL_OK;
    if (rc) {
        g_string_free(s, TRUE);
        return rc;
    }
    return flush(w, s, e);
}

int dv_writer_page(dv_writer *w, const dv_page_result *p, dv_err *e)
{
    if (w->finished)
        return dv_fail(e, DOCVL_EINVAL, "writer: page %d after the end", p->page_no);
    int rc = begin(w, e);
    if (rc)
        return rc;
    GString *s = g_string_new(NULL);
    rc = w->ops->page(s, p, w->pages, &w->opt, e);
    if (rc) {
        g_string_free(s, TRUE);
        return dv_wrap(e, "writing page %d", p->page_no);
    }
    w->pages++;
    return flush(w, s, e);
}

int dv_writer_finish(dv_writer *w, dv_err *e)
{
    if (w->finished)
        return DOCVL_OK;
    int rc = begin(w, e);
    if (rc)
        return rc;
    w->finished = 1;
    GString *s = g_string_new(NULL);
    rc = w->ops->end ? w->ops->end(s, e) : DOCVL_OK;
    if (rc) {
        g_string_free(s, TRUE);
        return rc;
    }
    return flush(w, s, e);
}

void dv_writer_free(dv_writer *w)
{
    g_free(w);
}

int dv_sink_gstring(void *gstring, const char *data, size_t len, dv_err *e)
{
    (void)e;
    g_string_append_len(gstring, data, (gssize)len);
    return DOCVL_OK;
}

int dv_sink_file(void *file, const char *data, size_t len, dv_err *e)
{
    if (fwrite(data, 1, len, file) != len)
        return dv_fail(e, DOCVL_EIO, "writing output: %s", strerror(errno));
    return DOCVL_OK;
}

char *dv_clean_text(const char *s)
{
    char *valid = g_utf8_make_valid(s ? s : "", -1);
    size_t j = 0;
    for (size_t i = 0; valid[i]; i++) {
        unsigned char c = (unsigned char)valid[i];
        if (c == '\f' || c == '\v')
            valid[j++] = '\n';
        else if (c >= 0x20 || c == '\t' || c == '\n')
            valid[j++] = (char)c;
        else if (c == '\r' && valid[i + 1] != '\n')
            valid[j++] = '\n';
    }
    valid[j] = '\0';
    return valid;
}
