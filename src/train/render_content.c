/* What a rendered line says: running text from the corpus, dictionary
 * words, headings, numbers, prices, dates, punctuation and table cells, in
 * printable ASCII and the accented letters of Latin scripts, split into
 * training and held-out text by hash. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "base/rng.h"
#include "train/render_line.h"

#define MAX_WORD 40     /* longer corpus tokens (paths, URLs) are skipped */

struct dv_line_src {
    GPtrArray *words;   /* the split's paragraphs' words, paragraph after paragraph */
    GArray *par_end;    /* long: index one past each paragraph's last word */
    GPtrArray *vocab;   /* plain words of the split, sorted */
};

dv_split dv_split_of(const char *text)
{
    uint64_t h = dv_fnv1a(DV_FNV1A_BASIS, text, strlen(text));
    return h % DV_SPLIT_EVAL_OF == 0 ? DV_SPLIT_EVAL : DV_SPLIT_TRAIN;
}

/* A letter of Latin-1 or Latin Extended-A/B: é, ß, ł, ... (not × or ÷). */
static int latin_letter(gunichar c)
{
    return c >= 0xc0 && c <= 0x24f && c != 0xd7 && c != 0xf7 && g_unichar_isalpha(c);
}

static int printable(const char *w)
{
    size_t n = 0;
    for (const char *p = w; *p; p = g_utf8_next_char(p), n++) {
        gunichar c = g_utf8_get_char(p);
        if (!(c >= 0x21 && c <= 0x7e) && !latin_letter(c))
            return 0;
    }
    return n > 0 && n <= MAX_WORD;
}

/* A token stripped of surrounding punctuation, if what is left is letters. */
static char *plain_word(const char *t)
{
    const char *s = t, *end = t + strlen(t);
    while (s < end && g_ascii_ispunct(*s))
        s++;
    while (end > s && g_ascii_ispunct(end[-1]))
        end--;
    long n = g_utf8_strlen(s, end - s);
    if (n < 2 || n > 20)
        return NULL;
    for (const char *p = s; p < end; p = g_utf8_next_char(p))
        if (!g_ascii_isalpha(*p) && !latin_letter(g_utf8_get_char(p)))
            return NULL;
    return g_utf8_strdown(s, end - s);
}

/* The word with its first letter in upper case (é -> É). */
static char *capitalized(const char *w)
{
    const char *rest = g_utf8_next_char(w);
    char first[8] = { 0 };
    g_unichar_to_utf8(g_unichar_toupper(g_utf8_get_char(w)), first);
    return g_strconcat(first, rest, NULL);
}

static void add_vocab(GHashTable *seen, dv_line_src *s, const char *token, dv_split split)
{
    char *w = plain_word(token);
    if (!w || g_hash_table_contains(seen, w) || dv_split_of(w) != split) {
        g_free(w);
        return;
    }
    g_hash_table_add(seen, w);
    g_ptr_array_add(s->vocab, w);
}

static void add_paragraph(dv_line_src *s, GHashTable *seen, char **tokens, dv_split split)
{
    GPtrArray *kept = g_ptr_array_new();
    for (char **t = tokens; *t; t++)
        if (printable(*t))
            g_ptr_array_add(kept, *t);
    g_ptr_array_add(kept, NULL);
    char *joined = g_strjoinv(" ", (char **)kept->pdata);
    if (kept->len > 1 && dv_split_of(joined) == split) {
        for (guint i = 0; i + 1 < kept->len; i++)
            g_ptr_array_add(s->words, g_strdup(kept->pdata[i]));
        long end = (long)s->words->len;
        g_array_append_val(s->par_end, end);
    }
    for (guint i = 0; i + 1 < kept->len; i++)
        add_vocab(seen, s, kept->pdata[i], split);
    g_free(joined);
    g_ptr_array_free(kept, TRUE);
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dv_line_src_from_text(const char *text, dv_split split, dv_line_src **out, dv_err *e)
{
    *out = NULL;
    if (!g_utf8_validate(text, -1, NULL))
        return dv_fail(e, DOCVL_EFORMAT, "the text to render is not valid UTF-8");
    dv_line_src *s = g_new0(dv_line_src, 1);
    s->words = g_ptr_array_new_with_free_func(g_free);
    s->par_end = g_array_new(FALSE, FALSE, sizeof(long));
    s->vocab = g_ptr_array_new();   /* owned by `seen` until the end */
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    /* paragraphs end at a line of only whitespace */
    char **lines = g_strsplit(text, "\n", -1);
    GString *par = g_string_new(NULL);
    for (char **l = lines;; l++) {
        int blank = !*l || !*g_strstrip(*l);
        if (*l && !blank)
            g_string_append_printf(par, "%s ", *l);
        if (blank && par->len) {
            char **tokens = g_strsplit_set(par->str, " \t\r\f\v", -1);
            add_paragraph(s, seen, tokens, split);
            g_strfreev(tokens);
            g_string_truncate(par, 0);
        }
        if (!*l)
            break;
    }
    g_string_free(par, TRUE);
    g_strfreev(lines);
    for (guint i = 0; i < s->vocab->len; i++)
        s->vocab->pdata[i] = g_strdup(s->vocab->pdata[i]);
    g_ptr_array_set_free_func(s->vocab, g_free);
    g_hash_table_destroy(seen);
    g_ptr_array_sort(s->vocab, cmp_str);
    if (s->words->len == 0 || s->vocab->len == 0) {
        dv_line_src_free(s);
        return dv_fail(e, DOCVL_EINVAL, "the text has no %s paragraphs or words in printable "
                       "ASCII or Latin letters", split == DV_SPLIT_EVAL ? "held-out (eval)" : "training");
    }
    *out = s;
    return DOCVL_OK;
}

void dv_line_src_free(dv_line_src *s)
{
    if (!s)
        return;
    g_ptr_array_free(s->words, TRUE);
    g_array_free(s->par_end, TRUE);
    g_ptr_array_free(s->vocab, TRUE);
    g_free(s);
}

char *dv_line_src_paragraphs(const dv_line_src *s)
{
    GString *g = g_string_new(NULL);
    long w = 0;
    for (guint p = 0; p < s->par_end->len; p++) {
        long end = g_array_index(s->par_end, long, p);
        for (; w < end; w++)
            g_string_append_printf(g, "%s%s", (const char *)s->words->pdata[w],
                                   w + 1 < end ? " " : "\n\n");
    }
    return g_string_free(g, FALSE);
}

/* ---- building a line ---- */

typedef struct builder {
    const dv_line_src *s;
    dv_rng *r;
    GPtrArray *w;
    GArray *gap;
    int chars;
} builder;

static void push(builder *b, const char *frag, double gap_em)
{
    char **parts = g_strsplit(frag, " ", -1);
    for (char **p = parts; *p; p++) {
        if (!**p)
            continue;
        b->chars += (int)strlen(*p) + (b->w->len ? 1 : 0);
        g_ptr_array_add(b->w, g_strdup(*p));
        double g = p == parts ? gap_em : 0;
        g_array_append_val(b->gap, g);
    }
    g_strfreev(parts);
}

static int pick(builder *b, int n)
{
    return (int)dv_rng_below(b->r, (uint64_t)n);
}

static const char *PICK(builder *b, const char *const *list, int n)
{
    return list[pick(b, n)];
}
#define ONE_OF(b, ...) PICK((b), (const char *const[]){ __VA_ARGS__ }, \
                            (int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *)))

/* A vocabulary word, lower case, Capitalised or UPPER. */
static char *word(builder *b)
{
    char *w = g_strdup(b->s->vocab->pdata[dv_rng_below(b->r, b->s->vocab->len)]);
    double u = dv_rng_uniform(b->r);
    char *t = u < 0.1 ? g_utf8_strup(w, -1) : u < 0.4 ? capitalized(w) : g_strdup(w);
    g_free(w);
    return t;
}

/* 1234567 with thousands commas. */
static void grouped(GString *g, long v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%ld", v);
    for (int i = 0; i < n; i++) {
        g_string_append_c(g, digits[i]);
        if (i < n - 1 && (n - 1 - i) % 3 == 0)
            g_string_append_c(g, ',');
    }
}

static long magnitude(builder *b)
{
    static const long top[] = { 10, 100, 1000, 10000, 100000, 10000000 };
    return (long)dv_rng_below(b->r, (uint64_t)top[pick(b, 6)]);
}

static char *number(builder *b)
{
    GString *g = g_string_new(NULL);
    long v = magnitude(b);
    switch (pick(b, 9)) {
    case 0: g_string_printf(g, "%ld", v); break;
    case 1: grouped(g, v); break;
    case 2: g_string_printf(g, "%.*f", 1 + pick(b, 3), v / 100.0); break;
    case 3: g_string_printf(g, "%.1f%%", dv_rng_uniform(b->r) * 100); break;
    case 4: g_string_append(g, pick(b, 2) ? "(" : "-"); grouped(g, v);
            if (g->str[0] == '(') g_string_append_c(g, ')');
            break;
    case 5: g_string_printf(g, "(%03d) %03d-%04d", 200 + pick(b, 800), pick(b, 1000),
                            pick(b, 10000)); break;
    case 6: g_string_printf(g, "%s%ld", ONE_OF(b, "No. ", "#", "ID ", "Ref. ", "A-", "x"), v);
            break;
    case 7: g_string_printf(g, "%d.%d.%d", 1 + pick(b, 12), 1 + pick(b, 9), 1 + pick(b, 9));
            break;
    default: g_string_printf(g, "%d%s%d", pick(b, 100), ONE_OF(b, "-", "/", "x", ":", " to "),
                             pick(b, 1000)); break;
    }
    return g_string_free(g, FALSE);
}

static char *price(builder *b)
{
    GString *g = g_string_new(NULL);
    long cents = magnitude(b);
    GString *amount = g_string_new(NULL);
    grouped(amount, cents / 100);
    g_string_append_printf(amount, ".%02ld", cents % 100);
    switch (pick(b, 5)) {
    case 0: g_string_printf(g, "$%s", amount->str); break;
    case 1: g_string_printf(g, "%s %s", amount->str, ONE_OF(b, "USD", "EUR", "GBP")); break;
    case 2: g_string_printf(g, "%s %s", ONE_OF(b, "USD", "EUR", "CHF"), amount->str); break;
    case 3: g_string_printf(g, "-$%s", amount->str); break;
    default: g_string_printf(g, "%s $%s", ONE_OF(b, "Total:", "Subtotal", "Tax", "Due:",
                                                 "@", "Price:", "Balance"), amount->str);
    }
    g_string_free(amount, TRUE);
    return g_string_free(g, FALSE);
}

static const char *const MONTHS[] = { "January", "February", "March", "April", "May", "June",
                                      "July", "August", "September", "October", "November",
                                      "December" };

static char *date(builder *b)
{
    int y = 1950 + pick(b, 80), m = pick(b, 12), d = 1 + pick(b, 28);
    int h = pick(b, 24), mi = pick(b, 60);
    switch (pick(b, 9)) {
    case 0: return g_strdup_printf("%d-%02d-%02d", y, m + 1, d);
    case 1: return g_strdup_printf("%02d/%02d/%d", d, m + 1, y);
    case 2: return g_strdup_printf("%d/%d/%02d", m + 1, d, y % 100);
    case 3: return g_strdup_printf("%s %d, %d", MONTHS[m], d, y);
    case 4: return g_strdup_printf("%d %.3s %d", d, MONTHS[m], y);
    case 5: return g_strdup_printf("%s, %d %.3s. %d", ONE_OF(b, "Mon", "Tue", "Wed", "Thu", "Fri"),
                                   d, MONTHS[m], y);
    case 6: return g_strdup_printf("%02d:%02d", h, mi);
    case 7: return g_strdup_printf("%d:%02d %s", 1 + h % 12, mi, ONE_OF(b, "am", "pm", "a.m.",
                                                                        "p.m."));
    default: return g_strdup_printf("%s%d", ONE_OF(b, "Q1 ", "Q3 ", "FY", "FY ", "1990-"), y);
    }
}

/* A word dressed in the punctuation documents use. */
static char *punct(builder *b, const char *w)
{
    static const char *const WRAP[][2] = {
        { "(", ")" }, { "\"", "\"" }, { "'", "'" }, { "[", "]" }, { "{", "}" }, { "<", ">" },
        { "", "," }, { "", "." }, { "", ";" }, { "", ":" }, { "", "!" }, { "", "?" },
        { "", "..." }, { "", "'s" }, { "`", "`" }, { "*", "*" }, { "_", "_" }, { "", "%" },
        { "#", "" }, { "@", "" }, { "~", "" }, { "", "^2" }, { "$", "" }, { "\\", "" },
        { "|", "" }, { "+", "" }, { "", "=" }, { "&", "" }, { "", "/" }, { "", "-" },
    };
    int i = pick(b, (int)(sizeof WRAP / sizeof WRAP[0]));
    return g_strconcat(WRAP[i][0], w, WRAP[i][1], NULL);
}

static char *table_cell(builder *b)
{
    switch (pick(b, 5)) {
    case 0: return number(b);
    case 1: return price(b);
    case 2: return date(b);
    case 3: return g_strdup(ONE_OF(b, "n/a", "-", "Total", "Yes", "No", "N/A", "--", "TBD"));
    default: return word(b);
    }
}

static void run_of_prose(builder *b, int target, int dress)
{
    const dv_line_src *s = b->s;
    long n = (long)s->words->len, i = (long)dv_rng_below(b->r, (uint64_t)n);
    while (b->chars < target) {
        const char *w = s->words->pdata[i];
        i = (i + 1) % n;
        if (dress && dv_rng_uniform(b->r) < 0.3) {
            char *p = punct(b, w);
            push(b, p, 0);
            g_free(p);
        } else {
            push(b, w, 0);
        }
    }
}

static void heading(builder *b, int target)
{
    if (dv_rng_uniform(b->r) < 0.3) {
        char *num = g_strdup_printf("%s%d%s", ONE_OF(b, "", "", "Chapter ", "Section ", "Part "),
                                    1 + pick(b, 20), ONE_OF(b, ".", "", ".1", ":"));
        push(b, num, 0);
        g_free(num);
    }
    int upper = dv_rng_uniform(b->r) < 0.5;
    while (b->chars < target) {
        char *w = word(b);
        char *t = upper ? g_utf8_strup(w, -1) : capitalized(w);
        push(b, t, 0);
        g_free(t);
        g_free(w);
    }
}

/* Fragments of one generator, with a vocabulary word between them at
 * probability p_word. */
static void mixed(builder *b, int target, char *(*gen)(builder *), double p_word, double gap_lo,
                  double gap_hi)
{
    while (b->chars < target) {
        char *f = dv_rng_uniform(b->r) < p_word ? word(b) : gen(b);
        double gap = b->w->len ? gap_lo + (gap_hi - gap_lo) * dv_rng_uniform(b->r) : 0;
        push(b, f, gap);
        g_free(f);
    }
}

int dv_line_words_make(const dv_line_src *s, dv_rng *r, int target, dv_line_words *out,
                       dv_err *e)
{
    memset(out, 0, sizeof *out);
    if (target < 1)
        return dv_fail(e, DOCVL_EINVAL, "a line of %d characters", target);
    builder b = { .s = s, .r = r, .w = g_ptr_array_new(), .gap = g_array_new(0, 0, sizeof(double)) };
    int k = pick(&b, 100);
    if (k < 34) {
        out->kind = "prose";
        run_of_prose(&b, target, 0);
    } else if (k < 44) {
        out->kind = "words";
        mixed(&b, target, word, 1.0, 0, 0);
    } else if (k < 52) {
        out->kind = "heading";
        heading(&b, target);
    } else if (k < 60) {
        out->kind = "numbers";
        mixed(&b, target, number, 0.3, 0, 0);
    } else if (k < 68) {
        out->kind = "prices";
        mixed(&b, target, price, 0.5, 0, 0);
    } else if (k < 76) {
        out->kind = "dates";
        mixed(&b, target, date, 0.5, 0, 0);
    } else if (k < 88) {
        out->kind = "punct";
        run_of_prose(&b, target, 1);
    } else {
        out->kind = "cells";
        mixed(&b, target, table_cell, 0.0, 1.5, 5.0);
    }
    out->n = (int)b.w->len;
    out->w = (char **)g_ptr_array_free(b.w, FALSE);
    out->gap_em = (double *)(void *)g_array_free(b.gap, FALSE);
    return DOCVL_OK;
}

/* The first k bytes of w (k < strlen(w)), then tail. */
static void keep_head(char **w, size_t k, const char *tail)
{
    char *t = g_strndup(*w, k);
    g_free(*w);
    *w = g_strconcat(t, tail, NULL);
    g_free(t);
}

/* The byte offset of a cut strictly inside word w, between two of its
 * characters and at least lo characters from either end (so an accented
 * letter is never split): 0 when the word is too short. */
static size_t inside(dv_rng *r, const char *w, size_t lo)
{
    size_t len = (size_t)g_utf8_strlen(w, -1);
    if (len < 2 * lo)
        return 0;
    long k = (long)(lo + (size_t)dv_rng_below(r, (uint64_t)(len - 2 * lo + 1)));
    return (size_t)(g_utf8_offset_to_pointer(w, k) - w);
}

void dv_line_words_piece(dv_line_words *w, dv_rng *r, int max_chars)
{
    if (w->n == 0)
        return;
    int n = 1, chars = (int)strlen(w->w[0]);
    while (n < w->n && chars + 1 + (int)strlen(w->w[n]) <= max_chars)
        chars += 1 + (int)strlen(w->w[n++]);
    for (int i = n; i < w->n; i++)
        g_free(w->w[i]);
    w->n = n;
    double u = dv_rng_uniform(r);
    w->piece = u < 0.3 ? "start" : u < 0.6 ? "end" : u < 0.85 ? "hyphen" : "both";
    char **first = &w->w[0], **last = &w->w[n - 1];
    if (strcmp(w->piece, "hyphen") == 0) {
        size_t k = inside(r, *last, 2);
        if (k)
            keep_head(last, k, "-");
        return;
    }
    if (strcmp(w->piece, "start") && g_utf8_strlen(*last, -1) > 1)
        keep_head(last, inside(r, *last, 1), "");
    size_t k = strcmp(w->piece, "end") ? inside(r, *first, 1) : 0;
    if (k) {
        char *t = g_strdup(*first + k);
        g_free(*first);
        *first = t;
    }
}

/* Opening and closing double quotes, opening and closing single quotes, by
 * dv_quotes style. */
static const char *const QUOTES[][4] = {
    { "\u201c", "\u201d", "\u2018", "\u2019" },   /* English: “ ” ‘ ’ */
    { "\u201e", "\u201c", "\u201a", "\u2018" },   /* German: „ “ ‚ ‘ */
    { "\u00ab", "\u00bb", "\u2039", "\u203a" },   /* French, Spanish, Portuguese: « » ‹ › */
};

static char *typeset_word(const char *s, dv_quotes style)
{
    if (strcmp(s, "-") == 0)
        return g_strdup("\u2013");
    const char *const *q = QUOTES[style];
    GString *g = g_string_new(NULL);
    int opening = 1;   /* at the word's start, after a bracket or an opening quote */
    for (size_t k = 0; s[k]; k++) {
        char c = s[k];
        if (c == '-' && s[k + 1] == '-') {
            g_string_append(g, "\u2014");
            k++;
        } else if (strncmp(s + k, "...", 3) == 0) {
            g_string_append(g, "\u2026");
            k += 2;
        } else if (c == '\'' && !opening && g_ascii_isalnum(s[k + 1])) {
            g_string_append(g, "\u2019");   /* an apostrophe in every style: it’s */
        } else if (c == '"' || c == '\'' || c == '`') {
            int left = opening || c == '`';
            g_string_append(g, q[(c == '"' ? 0 : 2) + !left]);
            opening = left;
            continue;
        } else {
            g_string_append_c(g, c);
        }
        opening = strchr("([{", c) != NULL;
    }
    return g_string_free(g, FALSE);
}

void dv_line_words_typeset(dv_line_words *w, dv_quotes style)
{
    for (int i = 0; i < w->n; i++) {
        char *t = typeset_word(w->w[i], style);
        g_free(w->w[i]);
        w->w[i] = t;
    }
}

void dv_line_words_quote(dv_line_words *w, dv_rng *r)
{
    dv_quotes style = (dv_quotes)dv_rng_below(r, 3);
    if (w->n > 0) {
        int i = (int)dv_rng_below(r, (uint64_t)w->n);
        const char *q = dv_rng_uniform(r) < 0.8 ? "\"" : "'";
        char *t = g_strconcat(q, w->w[i], q, NULL);
        g_free(w->w[i]);
        w->w[i] = t;
    }
    dv_line_words_typeset(w, style);
}

void dv_line_words_caps(dv_line_words *w, struct dv_rng *r)
{
    if (w->n == 0)
        return;
    int k = 1 + (int)dv_rng_below(r, (uint64_t)(w->n > 1 ? w->n / 2 : 1));
    for (int j = 0; j < k; j++) {
        int i = (int)dv_rng_below(r, (uint64_t)w->n);
        char *t = g_utf8_strup(w->w[i], -1);
        g_free(w->w[i]);
        w->w[i] = t;
    }
}

void dv_line_words_free(dv_line_words *w)
{
    for (int i = 0; i < w->n; i++)
        g_free(w->w[i]);
    g_free(w->w);
    g_free(w->gap_em);
    memset(w, 0, sizeof *w);
}

void dv_line_words_bullet(dv_line_words *w, struct dv_rng *r)
{
    w->w = g_renew(char *, w->w, w->n + 1);
    w->gap_em = g_renew(double, w->gap_em, w->n + 1);
    memmove(w->w + 1, w->w, sizeof *w->w * (size_t)w->n);
    memmove(w->gap_em + 1, w->gap_em, sizeof *w->gap_em * (size_t)w->n);
    w->n++;
    w->w[0] = g_strdup("\u2022");
    w->gap_em[0] = 0;
    if (w->n > 1)
        w->gap_em[1] = 0.3 + 0.7 * dv_rng_uniform(r);
}

void dv_line_words_space(dv_line_words *w, struct dv_rng *r)
{
    w->spaced = dv_rng_uniform(r) < 0.5;
    double u = dv_rng_uniform(r);
    w->track_em = w->spaced ? 0.45 + 0.55 * u : 0.04 + 0.11 * u;
}

void dv_line_words_small_caps(dv_line_words *w, struct dv_rng *r)
{
    w->small_caps = 0.66 + 0.16 * dv_rng_uniform(r);
}

char *dv_line_word_text(const dv_line_words *w, int i)
{
    char *t = w->small_caps > 0 ? g_utf8_strup(w->w[i], -1) : g_strdup(w->w[i]);
    if (!w->spaced)
        return t;
    GString *g = g_string_new(NULL);
    for (const char *p = t; *p; p = g_utf8_next_char(p)) {
        if (p != t)
            g_string_append_c(g, ' ');
        g_string_append_len(g, p, g_utf8_next_char(p) - p);
    }
    g_free(t);
    return g_string_free(g, FALSE);
}

char *dv_line_words_join(const dv_line_words *w, int n)
{
    GString *g = g_string_new(NULL);
    for (int i = 0; i < n && i < w->n; i++) {
        char *t = dv_line_word_text(w, i);
        g_string_append_printf(g, "%s%s", i ? " " : "", t);
        g_free(t);
    }
    return g_string_free(g, FALSE);
}
