/* Character and word error rates, the figures OCR is judged by: edit
 * distance (insertions, deletions, substitutions) over the reference's
 * length, after folding every run of whitespace to one space and trimming,
 * so line breaks and indentation never count. */
#ifndef DV_OCR_CER_H
#define DV_OCR_CER_H

typedef struct dv_cer {
    long char_errors, chars;    /* CER = char_errors / chars (code points) */
    long word_errors, words;    /* WER over space-separated words */
} dv_cer;

/* Adds ref/hyp's errors and lengths to *acc (valid UTF-8 expected; other
 * bytes count as one symbol each). Returns -1 when out of memory. */
int dv_cer_add(const char *ref, const char *hyp, dv_cer *acc);
double dv_cer_rate(long errors, long n);   /* errors / n; 0 for 0/0, 1 for x/0 */

#endif
