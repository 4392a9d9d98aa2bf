/* Markdown (GFM). Each page starts with an HTML comment "<!-- page N -->"
 * (invisible when rendered, easy to split on). Model pages are Markdown
 * already: their HTML tables become pipe tables. Text-layer pages are plain
 * text: one paragraph per block, with Markdown punctuation escaped so the
 * words come out as written, and the tables that document analysis found in
 * their word boxes (p->tables) as pipe tables. Pages the model read line by
 * line are plain text too and written the same way, their heading blocks
 * (found by type size) as # headings and their bulleted lines as list
 * items; the lines after an item in its block continue it. */
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

static void flush_line(GString *out, GString *line)
{
    if (line->len == 0)
        return;
    char *clean = dv_clean_text(line->str);
    escape_line(out, clean);
    g_free(clean);
    g_string_truncate(line, 0);
}

/* A blank line unless out ends one already (or is the page's start). */
static void blank_line(GString *out)
{
    if (out->len > 0 && !g_str_has_suffix(out->str, "\n\n"))
        g_string_append_c(out, '\n');
}

static void table_md(GString *out, const dv_page_table *t)
{
    int n = t->n_rows * t->n_cols;
    char **cells = g_new(char *, n);
    for (int k = 0; k < n; k++) {
        char *clean = dv_clean_text(t->cells[k]);
        GString *md = g_string_new(NULL);
        dv_md_escape(md, clean, strlen(clean));
        cells[k] = g_string_free(md, FALSE);
        g_free(clean);
    }
    /* a cell over several columns is repeated in each, as model HTML
     * tables' colspans are (docs/tables.md) */
    for (int k = 0; k < n; k++)
        for (int s = 1; s < t->spans[k]; s++) {
            g_free(cells[k + s]);
            cells[k + s] = g_strdup(cells[k]);
        }
    blank_line(out);
    dv_gfm_table(out, cells, t->n_rows, t->n_cols);
    g_string_append_c(out, '\n');
    for (int k = 0; k < n; k++)
        g_free(cells[k]);
    g_free(cells);
}

/* A list item's line: "- ", then the line without its bullet. */
static void start_item(GString *out, GString *line, const dv_page_line *l)
{
    flush_line(out, line);
    g_string_append(out, "- ");
    const char *rest = l->words[0].text + l->bullet;
    g_string_append(line, rest);
}

/* The block's lines; tables (when tt has any) replace their words, written
 * where their first word comes in reading order. *word counts the page's
 * words, done marks the tables written. */
static void plain_block(GString *out, const dv_page_block *b, const dv_page_tables *tt,
                        int *word, char *done)
{
    GString *line = g_string_new(NULL);
    for (int l = 0; l < b->n_lines; l++) {
        for (int w = 0; w < b->lines[l].n_words; w++, (*word)++) {
            int t = tt->n_tables > 0 && *word < tt->n_words ? tt->word_table[*word] : -1;
            if (t >= 0) {
                if (!done[t]) {
                    done[t] = 1;
                    flush_line(out, line);
                    table_md(out, &tt->tables[t]);
                }
                continue;
            }
            if (w == 0 && b->lines[l].bullet > 0) {
                start_item(out, line, &b->lines[l]);
                continue;
            }
            if (line->len > 0)
                g_string_append_c(line, ' ');
            g_string_append(line, b->lines[l].words[w].text);
        }
        flush_line(out, line);
    }
    g_string_free(line, TRUE);
}

/* A heading block's words on one line after its #s, escaped as lines are. */
static void heading_block(GString *out, const dv_page_block *b, int *word)
{
    GString *line = g_string_new(NULL);
    for (int l = 0; l < b->n_lines; l++)
        for (int w = 0; w < b->lines[l].n_words; w++, (*word)++) {
            if (line->len > 0)
                g_string_append_c(line, ' ');
            g_string_append(line, b->lines[l].words[w].text);
        }
    if (line->len > 0) {
        for (int i = 0; i < b->heading && i < 6; i++)
            g_string_append_c(out, '#');
        g_string_append_c(out, ' ');
        flush_line(out, line);
    }
    g_string_free(line, TRUE);
}

static void blocks_md(GString *out, const dv_page_result *p)
{
    char *done = g_new0(char, p->tables.n_tables + 1);
    int word = 0;
    for (int b = 0; b < p->n_blocks; b++) {
        if (b > 0)
            blank_line(out);
        if (p->blocks[b].heading > 0)
            heading_block(out, &p->blocks[b], &word);
        else
            plain_block(out, &p->blocks[b], &p->tables, &word, done);
    }
    g_free(done);
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

static int md_page(GString *out, const dv_page_result *p, int index,
                   const dv_writer_options *opt, dv_err *e)
{
    (void)opt;
    (void)e;
    if (index > 0)
        g_string_append_c(out, '\n');
    g_string_append_printf(out, "<!-- page %d -->\n\n", p->page_no);
    if (p->source == DV_SRC_MODEL && p->text) {
        model_text(out, p->text);
    } else if (p->n_blocks > 0) {
        blocks_md(out, p);
    } else if (p->text) {
        plain_text(out, p->text);
    }
    return DOCVL_OK;
}

const dv_format_ops dv_markdown_ops = { NULL, md_page, NULL };
