/* Markdown (GFM). Each page starts with an HTML comment "<!-- page N -->"
 * (invisible when rendered, easy to split on). Model pages are Markdown
 * already: their HTML tables become pipe tables. Text-layer pages are plain
 * text: one paragraph per block, with Markdown punctuation escaped so the
 * words come out as written. */
#include "out/format.h"
#include "out/htmltable.h"

#include <string.h>

/* Line starts that Markdown would read as a heading, quote, list or rule
 * get a backslash where it breaks that reading ("2\\. x", "\\# x"). */
static void escape_line(GString *out, const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t d = strspn(line, "0123456789");
    if (d > 0 && (line[d] == '.' || line[d] == ')')) {
        g_string_append_len(out, line, d);
        g_string_append_c(out, '\\');
        line += d;
    } else if (line[0] && strchr("#>-+=~", line[0])) {
        g_string_append_c(out, '\\');
    }
    dv_md_escape(out, line, strlen(line));
    g_string_append_c(out, '\n');
}

static void plain_block(GString *out, const dv_page_block *b)
{
    for (int l = 0; l < b->n_lines; l++) {
        GString *line = g_string_new(NULL);
        for (int w = 0; w < b->lines[l].n_words; w++) {
            if (w > 0)
                g_string_append_c(line, ' ');
            g_string_append(line, b->lines[l].words[w].text);
        }
        char *clean = dv_clean_text(line->str);
        escape_line(out, clean);
        g_free(clean);
        g_string_free(line, TRUE);
    }
}

/* Plain text without blocks: blank lines separate paragraphs already. */
static void plain_text(GString *out, const char *text)
{
    char *clean = dv_clean_text(text);
    char **lines = g_strsplit(clean, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (**l)
            escape_line(out, *l);
        else if (out->len > 0 && !g_str_has_suffix(out->str, "\n\n"))
            g_string_append_c(out, '\n');
    }
    g_strfreev(lines);
    g_free(clean);
}

static void model_text(GString *out, const char *text)
{
    char *clean = dv_clean_text(text);
    char *md = dv_markdown_convert_tables(clean);
    g_strstrip(md);
    g_string_append(out, md);
    if (*md)
        g_string_append_c(out, '\n');
    g_free(md);
    g_free(clean);
}

static int md_page(GString *out, const dv_page_result *p, int index, dv_err *e)
{
    (void)e;
    if (index > 0)
        g_string_append_c(out, '\n');
    g_string_append_printf(out, "<!-- page %d -->\n\n", p->page_no);
    if (p->source == DV_SRC_MODEL && p->text) {
        model_text(out, p->text);
    } else if (p->n_blocks > 0) {
        for (int b = 0; b < p->n_blocks; b++) {
            if (b > 0)
                g_string_append_c(out, '\n');
            plain_block(out, &p->blocks[b]);
        }
    } else if (p->text) {
        plain_text(out, p->text);
    }
    return DOCVL_OK;
}

const dv_format_ops dv_markdown_ops = { NULL, md_page, NULL };
