/* Markdown (GFM). Each page starts with an HTML comment "<!-- page N -->"
 * (invisible when rendered, easy to split on). Model pages are Markdown
 * already: their HTML tables become pipe tables. Text-layer pages are plain
 * text: one paragraph per block, hyphenation joined as in txt, escaped only
 * where Markdown would read structure into it, and the tables that document
 * analysis found in their word boxes (p->tables) as pipe tables. Pages the
 * model read line by line are plain text too and written the same way, their
 * heading blocks (found by type size) as # headings and their bulleted lines
 * as list items; the lines after an item in its block continue it. */
#include "out/format.h"
#include "out/htmltable.h"

#include <string.h>

/* Text-layer text is escaped only where Markdown would read structure
 * into it; elsewhere a reader (and a text matcher) sees the characters as
 * they are: "150." inside a paragraph, a footer's "|", "a*b", "[12]" and
 * "x < y" stay as written. */

static int ascii_punct(char c)
{
    return c && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c);
}

static int is_space_or_end(char c)
{
    return c == '\0' || c == ' ' || c == '\t';
}

/* An emphasis (or strikethrough) opener: the character before is not part
 * of a word for "_" (intraword underscores never emphasise), the one after
 * is not a space, and the same character comes later in the line to close
 * it. */
static int opens_span(const char *line, const char *p)
{
    char c = *p, before = p > line ? p[-1] : ' ';
    if (is_space_or_end(p[1]) || p[1] == c)
        return p[1] == c && strchr(p + 2, c) != NULL;
    if (c == '_' && g_ascii_isalnum(before))
        return 0;
    return strchr(p + 1, c) != NULL;
}

/* "&amp;" and "&#38;" would be read as the character they name. */
static int entity_at(const char *p)
{
    size_t n = strspn(p + 1, "#0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
    return n > 0 && p[1 + n] == ';';
}

static int needs_escape(const char *line, const char *p, int cell)
{
    switch (*p) {
    case '\\': return ascii_punct(p[1]);
    case '`': return strchr(p + 1, '`') != NULL;
    case '*': case '_': case '~': return opens_span(line, p);
    case '[': return strstr(p, "](") || strstr(p, "][") || (p == line && strstr(p, "]:"));
    case '<': return g_ascii_isalpha(p[1]) || (p[1] && strchr("/!?", p[1]));
    case '&': return entity_at(p);
    case '|': return cell;
    default: return 0;
    }
}

/* Inline text: backslashes only before the characters that would start a
 * span, link, tag or entity, and before every "|" of a table cell. */
static void escape_inline(GString *out, const char *s, int cell)
{
    for (const char *p = s; *p; p++) {
        if (needs_escape(s, p, cell))
            g_string_append_c(out, '\\');
        g_string_append_c(out, *p);
    }
}

/* A line of only these characters (and spaces) is a rule, a setext
 * heading's underline or a table's delimiter row. */
static int rule_like(const char *line)
{
    return line[strspn(line, "-=*_|: \t")] == '\0' && strpbrk(line, "-=*_") != NULL;
}

/* Where the line would open a block: a heading, quote, list item, rule,
 * fence or table delimiter. An ordered item interrupts a paragraph only
 * when it is numbered 1, so "150. x" inside a paragraph stays as it is.
 * Returns the number of characters before the backslash. */
static int block_escape_at(const char *line, int para_start)
{
    size_t h = strspn(line, "#");
    if (h >= 1 && h <= 6 && is_space_or_end(line[h]))
        return 0;
    if (line[0] == '>' || rule_like(line) || g_str_has_prefix(line, "```") ||
        g_str_has_prefix(line, "~~~"))
        return 0;
    if (line[0] && strchr("-+*", line[0]) && is_space_or_end(line[1]))
        return 0;
    size_t d = strspn(line, "0123456789");
    if (d >= 1 && d <= 9 && (line[d] == '.' || line[d] == ')') && is_space_or_end(line[d + 1]) &&
        (para_start || (d == 1 && line[0] == '1' && line[d + 1])))
        return (int)d;
    return -1;
}

static void escape_line(GString *out, const char *line, int para_start)
{
    while (*line == ' ' || *line == '\t')
        line++;
    int at = block_escape_at(line, para_start);
    if (at >= 0) {
        g_string_append_len(out, line, at);
        g_string_append_c(out, '\\');
        line += at;
    }
    escape_inline(out, line, 0);
    g_string_append_c(out, '\n');
}

static int at_para_start(const GString *out)
{
    return out->len == 0 || g_str_has_suffix(out->str, "\n\n");
}

static void flush_line(GString *out, GString *line)
{
    if (line->len == 0)
        return;
    char *clean = dv_clean_text(line->str);
    escape_line(out, clean, at_para_start(out));
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
        escape_inline(md, clean, 1);
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

/* Line-end hyphenation joined as in the txt output (doc/textlayer.c): the
 * line ends with a letter and a hyphen (or soft hyphen), the next line of
 * the block starts with a lower-case letter. */
static int hyphen_joins(const GString *line, const dv_page_line *next)
{
    if (line->len < 2 || !next || next->n_words == 0)
        return 0;
    const char *end = line->str + line->len;
    const char *h = g_utf8_find_prev_char(line->str, end);
    gunichar hc = g_utf8_get_char(h);
    if (hc != '-' && hc != 0xAD)
        return 0;
    const char *before = g_utf8_find_prev_char(line->str, h);
    return before && g_unichar_isalpha(g_utf8_get_char(before)) &&
           g_unichar_islower(g_utf8_get_char(next->words[0].text));
}

/* The block's lines; tables (when tt has any) replace their words, written
 * where their first word comes in reading order. *word counts the page's
 * words, done marks the tables written. */
static void plain_block(GString *out, const dv_page_block *b, const dv_page_tables *tt,
                        int *word, char *done)
{
    GString *line = g_string_new(NULL);
    int joined = 0;   /* the line goes on from a hyphenated word */
    for (int l = 0; l < b->n_lines; l++) {
        for (int w = 0; w < b->lines[l].n_words; w++, (*word)++) {
            int t = tt->n_tables > 0 && *word < tt->n_words ? tt->word_table[*word] : -1;
            if (t >= 0) {
                if (!done[t]) {
                    done[t] = 1;
                    flush_line(out, line);
                    table_md(out, &tt->tables[t]);
                }
                joined = 0;
                continue;
            }
            if (w == 0 && b->lines[l].bullet > 0) {
                start_item(out, line, &b->lines[l]);
                joined = 0;
                continue;
            }
            if (line->len > 0 && !joined)
                g_string_append_c(line, ' ');
            joined = 0;
            g_string_append(line, b->lines[l].words[w].text);
        }
        const dv_page_line *next = l + 1 < b->n_lines ? &b->lines[l + 1] : NULL;
        int next_in_table = tt->n_tables > 0 && *word < tt->n_words && tt->word_table[*word] >= 0;
        if (!next_in_table && hyphen_joins(line, next)) {
            const char *h = g_utf8_find_prev_char(line->str, line->str + line->len);
            g_string_truncate(line, (gsize)(h - line->str));
            joined = 1;
            continue;
        }
        flush_line(out, line);
    }
    flush_line(out, line);
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
            escape_line(out, *l, at_para_start(out));
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
