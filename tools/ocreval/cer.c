#include "ocreval/cer.h"

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Levenshtein distance in O(m) memory: one row of the table at a time. */
static long edit_distance(const uint32_t *a, long n, const uint32_t *b, long m)
{
    long *row = malloc((size_t)(m + 1) * sizeof *row);
    if (!row)
        return -1;
    for (long j = 0; j <= m; j++)
        row[j] = j;
    for (long i = 1; i <= n; i++) {
        long diag = row[0];
        row[0] = i;
        for (long j = 1; j <= m; j++) {
            long up = row[j];
            long best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    long d = row[m];
    free(row);
    return d;
}

/* The text as symbols: code points with whitespace runs folded to one
 * space and trimmed (words != 0: one symbol per word, its hash). */
static uint32_t *symbols(const char *s, int words, long *n)
{
    size_t len = strlen(s);
    uint32_t *out = malloc((len + 1) * sizeof *out);
    if (!out)
        return NULL;
    long k = 0;
    uint32_t h = 2166136261u;
    int in_word = 0, pending_space = 0;
    for (const char *p = s; *p;) {
        gunichar c = g_utf8_get_char_validated(p, -1);
        const char *next = c == (gunichar)-1 || c == (gunichar)-2 ? p + 1 : g_utf8_next_char(p);
        if (c == (gunichar)-1 || c == (gunichar)-2)
            c = 0xDC00u + (uint8_t)*p;     /* a stray byte: a symbol of its own */
        p = next;
        if (g_unichar_isspace(c)) {
            if (words && in_word)
                out[k++] = h;
            in_word = 0;
            pending_space = k > 0;
            continue;
        }
        if (words) {
            if (!in_word)
                h = 2166136261u;
            h = (h ^ c) * 16777619u;
            in_word = 1;
            continue;
        }
        if (pending_space)
            out[k++] = ' ';
        pending_space = 0;
        out[k++] = c;
    }
    if (words && in_word)
        out[k++] = h;
    *n = k;
    return out;
}

static int add(const char *ref, const char *hyp, int words, long *errors, long *n)
{
    long nr = 0, nh = 0;
    uint32_t *r = symbols(ref, words, &nr), *h = symbols(hyp, words, &nh);
    long d = r && h ? edit_distance(r, nr, h, nh) : -1;
    free(r);
    free(h);
    if (d < 0)
        return -1;
    *errors += d;
    *n += nr;
    return 0;
}

int dv_cer_add(const char *ref, const char *hyp, dv_cer *acc)
{
    return add(ref, hyp, 0, &acc->char_errors, &acc->chars) ||
                   add(ref, hyp, 1, &acc->word_errors, &acc->words)
               ? -1
               : 0;
}

double dv_cer_rate(long errors, long n)
{
    return n > 0 ? (double)errors / (double)n : errors > 0;
}
