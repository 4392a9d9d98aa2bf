/* The end-to-end tests' bounds on the built-in model, all in one place.
 *
 * Each is set from the value measured on the model in model/ with a margin
 * (the tests print what they measure: `meson test -C build --suite e2e -v`),
 * so small changes of arithmetic between CPUs (AVX-512, AVX2 or scalar
 * kernels) never fail them while a model or pipeline that stops reading
 * does. When model/ gets a better model, run the suite, read the measured
 * values and tighten these to them plus a margin. Measured on the model
 * scripts/train-builtin trained (2026-12-07, the mean of phases stage5e
 * and stage5f, crops with margins of 0.20 line heights, unsure segments
 * read again at four other margins; AMD EPYC with AVX-512), in each
 * comment: page 0.000, columns 0.000, table 0.000, PDF 0.000/0.000/0.000,
 * stdin 0.000, samples/scan.pdf 0.025, phototest 0.000, hOCR 0.973/1.000.
 * stage5e alone: the same but samples/scan.pdf 0.026; without the second
 * look 0.028 and phototest 0.004 (one full stop). Earlier models with the layout of their day: stage5b the
 * same but phototest 0.000; stage4e 0.000, 0.075 (the right
 * column's last two lines read as one crop, since fixed), 0.000,
 * 0.000/0.000/0.005, 0.000, 0.028, 0.000; stage3h (a Xeon with AVX-512,
 * then DOCVL_KERNELS=scalar: the same values) 0.003, 0.073, 0.000,
 * 0.009/0.000/0.000, 0.000, 0.032, 0.000; stage3g 0.000, 0.073, 0.000,
 * 0.004/0.000/0.005, 0.000, 0.034 and 0.000. */
#ifndef DV_TEST_E2E_LIMITS_H
#define DV_TEST_E2E_LIMITS_H

/* A rendered page, an image-only PDF at 200 dpi (measured 0.000). */
#define E2E_MAX_CER_PAGE 0.03
/* A two-column page against its columns' text in reading order (measured
 * 0.000; the right column first: 0.73). */
#define E2E_MAX_CER_COLUMNS 0.05
/* A table's cells, all together, read to GFM (measured 0.000). */
#define E2E_MAX_CER_TABLE_CELLS 0.03
/* Each page of a three-page scanned PDF (measured 0.000, 0.000, 0.000). */
#define E2E_MAX_CER_PDF_PAGE 0.03
/* A page image read from stdin (measured 0.000). */
#define E2E_MAX_CER_STDIN 0.03

/* Real scans with human transcriptions: samples/scan.pdf (the Linn
 * brochure, what scripts/quickstart reads; its transcription is approximate)
 * and phototest.tif (measured 0.025 and 0.000). */
#define E2E_MAX_CER_SAMPLE_SCAN 0.06
#define E2E_MAX_CER_PHOTOTEST 0.02

/* hOCR word boxes: the share of the boxes docvl writes that lie half or more
 * on the drawn words' ink boxes, and the share of drawn words that some box
 * touches (measured 0.973 and 1.000). */
#define E2E_MIN_HOCR_ON_INK 0.90
#define E2E_MIN_HOCR_COVERED 0.95

#endif
