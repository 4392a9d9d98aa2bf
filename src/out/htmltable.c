/* HTML table -> GFM pipe table, through libxml2's forgiving HTML parser
 * (model output is rarely well-formed: unclosed cells, missing tbody). */
#include "out/htmltable.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The table being filled: rows of column slots; NULL = slot not yet taken. */
typedef struct grid {
    GPtrArray *rows;     /* of GPtrArray of char* */
    int n_tr;            /* rows started by a <tr> (spans may add more) */
    int cols;
} grid;

void dv_md_escape(GString *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (strchr("\\`*_[]<>|", s[i]) && s[i])
            g_string_append_c(out, '\\');
        g_string_append_c(out, s[i]);
    }
}

static int is_el(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && g_ascii_strcasecmp((const char *)n->name, name) == 0;
}

/* Appends text with white space runs collapsed to one space. */
static void append_collapsed(GString *s, const char *t)
{
    for (; *t; t++) {
        if (g_ascii_isspace(*t)) {
            if (s->len > 0 && s->str[s->len - 1] != ' ')
                g_string_append_c(s, ' ');
        } else {
            dv_md_escape(s, t, 1);
        }
    }
}

static void inline_md(const xmlNode *n, GString *s);

/* Emphasis markers must hug their text to count in Markdown, so the inner
 * text is trimmed and its outer spaces moved outside the markers. */
static void wrap_emphasis(const xmlNode *n, GString *s, const char *mark)
{
    GString *in = g_string_new(NULL);
    inline_md(n, in);
    int lead = in->len > 0 && in->str[0] == ' ';
    int trail = in->len > 0 && in->str[in->len - 1] == ' ';
    g_strstrip(in->str);
    size_t len = strlen(in->str);
    if (len > 0) {
        if (lead && s->len > 0 && s->str[s->len - 1] != ' ')
            g_string_append_c(s, ' ');
        g_string_append(s, mark);
        g_string_append(s, in->str);
        g_string_append(s, mark);
        if (trail)
            g_string_append_c(s, ' ');
    } else if (lead || trail) {
        append_collapsed(s, " ");
    }
    g_string_free(in, TRUE);
}

static void wrap_tag(const xmlNode *n, GString *s, const char *tag)
{
    g_string_append_printf(s, "<%s>", tag);
    inline_md(n, s);
    g_string_append_printf(s, "</%s>", tag);
}

static void inline_md(const xmlNode *n, GString *s)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
            append_collapsed(s, (const char *)c->content);
        else if (c->type != XML_ELEMENT_NODE)
            continue;
        else if (is_el(c, "b") || is_el(c, "strong"))
            wrap_emphasis(c, s, "**");
        else if (is_el(c, "i") || is_el(c, "em"))
            wrap_emphasis(c, s, "_");
        else if (is_el(c, "sup") || is_el(c, "sub"))
            wrap_tag(c, s, is_el(c, "sup") ? "sup" : "sub");
        else if (is_el(c, "br") || is_el(c, "td") || is_el(c, "th") || is_el(c, "tr")) {
            /* nested rows and cells flatten into words of this cell */
            append_collapsed(s, " ");
            inline_md(c, s);
            append_collapsed(s, " ");
        } else
            inline_md(c, s);
    }
}

static char *cell_text(const xmlNode *cell)
{
    GString *s = g_string_new(NULL);
    inline_md(cell, s);
    g_strstrip(s->str);
    char *r = g_strdup(s->str);
    g_string_free(s, TRUE);
    return r;
}

static int span_attr(const xmlNode *cell, const char *name)
{
    xmlChar *v = xmlGetProp(cell, (const xmlChar *)name);
    if (!v)
        return 1;
    long n = strtol((const char *)v, NULL, 10);
    xmlFree(v);
    if (n < 1)
        return 1;
    return n > DV_TABLE_MAX_SPAN ? DV_TABLE_MAX_SPAN : (int)n;
}

static GPtrArray *grid_row(grid *g, int r)
{
    while ((int)g->rows->len <= r)
        g_ptr_array_add(g->rows, g_ptr_array_new_with_free_func(g_free));
    return g->rows->pdata[r];
}

static int slot_taken(GPtrArray *row, int c)
{
    return c < (int)row->len && row->pdata[c] != NULL;
}

static void set_slot(GPtrArray *row, int c, const char *text)
{
    while ((int)row->len <= c)
        g_ptr_array_add(row, NULL);
    if (!row->pdata[c])
        row->pdata[c] = g_strdup(text);
}

static void place_cell(grid *g, int r, int *col, const xmlNode *cell)
{
    GPtrArray *row = grid_row(g, r);
    while (slot_taken(row, *col))
        (*col)++;
    int rs = span_attr(cell, "rowspan"), cs = span_attr(cell, "colspan");
    if (r + rs > DV_TABLE_MAX_ROWS)
        rs = DV_TABLE_MAX_ROWS - r;
    char *text = cell_text(cell);
    for (int i = 0; i < rs; i++)
        for (int j = 0; j < cs && *col + j < DV_TABLE_MAX_COLS; j++)
            set_slot(grid_row(g, r + i), *col + j, text);
    g_free(text);
    *col += cs;
}

static void add_row(grid *g, const xmlNode *tr)
{
    if (g->n_tr >= DV_TABLE_MAX_ROWS)
        return;
    int r = g->n_tr++, col = 0;
    grid_row(g, r);
    for (const xmlNode *c = tr->children; c; c = c->next)
        if (is_el(c, "td") || is_el(c, "th"))
            place_cell(g, r, &col, c);
}

/* Rows of this table in document order, not descending into nested tables. */
static void collect_rows(grid *g, const xmlNode *n)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (is_el(c, "tr"))
            add_row(g, c);
        else if (c->type == XML_ELEMENT_NODE && !is_el(c, "table"))
            collect_rows(g, c);
    }
}

static const xmlNode *find_table(const xmlNode *n)
{
    for (; n; n = n->next) {
        if (is_el(n, "table"))
            return n;
        const xmlNode *t = find_table(n->children);
        if (t)
            return t;
    }
    return NULL;
}

static void emit_row(GString *out, char *const *cells, int n, int cols)
{
    g_string_append_c(out, '|');
    for (int c = 0; c < cols; c++) {
        const char *t = c < n && cells[c] ? cells[c] : "";
        g_string_append_printf(out, " %s |", t);
    }
    g_string_append_c(out, '\n');
}

static void emit_delimiter(GString *out, int cols)
{
    g_string_append_c(out, '|');
    for (int c = 0; c < cols; c++)
        g_string_append(out, " --- |");
    g_string_append_c(out, '\n');
}

void dv_gfm_table(GString *out, char *const *cells, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        emit_row(out, cells + (size_t)r * cols, cols, cols);
        if (r == 0)
            emit_delimiter(out, cols);
    }
}

static int grid_cols(const grid *g)
{
    int cols = 0;
    for (int r = 0; r < g->n_tr; r++) {
        GPtrArray *row = g->rows->pdata[r];
        if ((int)row->len > cols)
            cols = (int)row->len;
    }
    return cols;
}

static void emit_grid(GString *out, grid *g)
{
    for (int r = 0; r < g->n_tr; r++) {
        GPtrArray *row = g->rows->pdata[r];
        emit_row(out, (char *const *)row->pdata, (int)row->len, g->cols);
        if (r == 0)
            emit_delimiter(out, g->cols);
    }
}

int dv_html_table_to_gfm(const char *html, size_t len, GString *out, dv_err *e)
{
    if (len > INT_MAX)
        return dv_fail(e, DOCVL_ELIMIT, "HTML table of %zu bytes is too large", len);
    htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                                    HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                    HTML_PARSE_NONET | HTML_PARSE_NOIMPLIED);
    if (!doc)
        return dv_fail(e, DOCVL_EFORMAT, "HTML table: not parseable");
    const xmlNode *table = find_table(doc->children);
    grid g = { g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref), 0, 0 };
    if (table)
        collect_rows(&g, table);
    int rc = DOCVL_OK;
    g.cols = grid_cols(&g);
    if (g.cols == 0)
        rc = dv_fail(e, DOCVL_EFORMAT, "HTML table: no cells");
    else
        emit_grid(out, &g);
    g_ptr_array_unref(g.rows);
    xmlFreeDoc(doc);
    return rc;
}

/* Whether s starts a "<table" tag (not "<tablex"), case-insensitively. */
static int is_open_at(const char *s)
{
    return g_ascii_strncasecmp(s, "<table", 6) == 0 &&
           (s[6] == '>' || s[6] == '/' || g_ascii_isspace(s[6]));
}

static const char *find_open(const char *s)
{
    for (; (s = strchr(s, '<')); s++)
        if (is_open_at(s))
            return s;
    return NULL;
}

/* The end of the table opened at start: just past its matching "</table>",
 * counting nested tables; the text's end when it never closes. */
static const char *find_close(const char *start)
{
    int depth = 0;
    for (const char *s = start; (s = strchr(s, '<')); s++) {
        if (is_open_at(s))
            depth++;
        else if (g_ascii_strncasecmp(s, "</table", 7) == 0 && --depth == 0) {
            const char *gt = strchr(s, '>');
            return gt ? gt + 1 : s + strlen(s);
        }
    }
    return start + strlen(start);
}

static void end_paragraph(GString *out)
{
    while (out->len > 0 && (out->str[out->len - 1] == ' ' || out->str[out->len - 1] == '\t'))
        g_string_truncate(out, out->len - 1);
    if (out->len == 0)
        return;
    if (out->str[out->len - 1] != '\n')
        g_string_append_c(out, '\n');
    if (out->len < 2 || out->str[out->len - 2] != '\n')
        g_string_append_c(out, '\n');
}

/* Models often wrap a table in <html><body> or in a ```html fence. Left
 * around a pipe table, a fence would turn it into a code block and the tags
 * would be stray HTML, so they go with the table. */
static void rtrim(GString *s)
{
    while (s->len > 0 && g_ascii_isspace(s->str[s->len - 1]))
        g_string_truncate(s, s->len - 1);
}

static int drop_suffix(GString *s, const char *tag)
{
    size_t n = strlen(tag);
    rtrim(s);
    if (s->len >= n && g_ascii_strcasecmp(s->str + s->len - n, tag) == 0) {
        g_string_truncate(s, s->len - n);
        return 1;
    }
    return 0;
}

/* Where the fence opening the last line of s starts, or -1. */
static gssize fence_before(GString *s)
{
    size_t len = s->len;
    while (len > 0 && g_ascii_isspace(s->str[len - 1]))
        len--;
    size_t start = len;
    while (start > 0 && s->str[start - 1] != '\n')
        start--;
    if (len - start < 3 || strncmp(s->str + start, "```", 3) != 0)
        return -1;
    for (size_t i = start + 3; i < len; i++)
        if (!g_ascii_isalnum(s->str[i]) && s->str[i] != '-' && s->str[i] != '_')
            return -1;
    return (gssize)start;
}

static const char *skip_tag(const char *p, const char *tag)
{
    const char *q = p;
    while (g_ascii_isspace(*q))
        q++;
    size_t n = strlen(tag);
    return g_ascii_strncasecmp(q, tag, n) == 0 ? q + n : p;
}

/* Past the fence closing a table that starts at p, or NULL. */
static const char *fence_after(const char *p)
{
    while (g_ascii_isspace(*p))
        p++;
    if (strncmp(p, "```", 3) != 0)
        return NULL;
    p += 3;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\n' || *p == '\0' ? p : NULL;
}

static const char *strip_wrappers(GString *out, const char *close)
{
    while (drop_suffix(out, "<body>") || drop_suffix(out, "<html>"))
        ;
    close = skip_tag(close, "</body>");
    close = skip_tag(close, "</html>");
    gssize fence = fence_before(out);
    const char *after = fence >= 0 ? fence_after(close) : NULL;
    if (after) {
        g_string_truncate(out, (gsize)fence);
        close = after;
    }
    return close;
}

char *dv_markdown_convert_tables(const char *text)
{
    GString *out = g_string_new(NULL);
    const char *s = text;
    const char *open;
    while ((open = find_open(s))) {
        const char *close = find_close(open);
        g_string_append_len(out, s, open - s);
        GString *table = g_string_new(NULL);
        dv_err e = { 0 };
        if (dv_html_table_to_gfm(open, (size_t)(close - open), table, &e) == DOCVL_OK) {
            close = strip_wrappers(out, close);
            end_paragraph(out);
            g_string_append(out, table->str);
            g_string_append_c(out, '\n');
            while (*close == '\n' || *close == '\r')
                close++;
        } else {
            g_string_append_len(out, open, close - open);
        }
        g_string_free(table, TRUE);
        s = close;
    }
    g_string_append(out, s);
    return g_string_free(out, FALSE);
}
