/* The end-to-end tests' bounds on the built-in model, all in one place.
 *
 * Each is set from the value measured on the model in model/ with a margin
 * (the tests print what they measure: `meson test -C build --suite e2e -v`),
 * so small changes of arithmetic between CPUs (int8 or f32 products) never
 * fail them while a model or pipeline that stops reading does. When model/
 * gets a better model, run the suite, read the measured values and tighten
 * these to them plus a margin. Measured on the model scripts/train-builtin
 * trained (2026-12-06, a Xeon with AVX-512 VNNI: q8 int8 products, then
 * DOCVL_KERNELS=f32), in each comment; N1, the stand-in before it, read
 * 0.107, 0.179, 0.100, 0.10-0.16, 0.137, 0.200 and 0.151. */
#ifndef DV_TEST_E2E_LIMITS_H
#define DV_TEST_E2E_LIMITS_H

/* A rendered page, an image-only PDF at 200 dpi (measured 0.032, f32 0.035). */
#define E2E_MAX_CER_PAGE 0.08
/* A two-column page against its columns' text in reading order (measured
 * 0.115, f32 0.115; the right column first: 0.73). */
#define E2E_MAX_CER_COLUMNS 0.18
/* A table's cells, all together, read to GFM (measured 0.017, f32 0.017). */
#define E2E_MAX_CER_TABLE_CELLS 0.08
/* Each page of a three-page scanned PDF (measured 0.040, 0.041, 0.039; f32
 * the same). */
#define E2E_MAX_CER_PDF_PAGE 0.09
/* A page image read from stdin (measured 0.049, f32 0.044). */
#define E2E_MAX_CER_STDIN 0.10

/* Real scans with human transcriptions: samples/scan.pdf (the Linn
 * brochure, what scripts/quickstart reads; its transcription is approximate)
 * and phototest.tif (measured 0.110 and 0.039, f32 the same). */
#define E2E_MAX_CER_SAMPLE_SCAN 0.16
#define E2E_MAX_CER_PHOTOTEST 0.08

/* hOCR word boxes: the share of the boxes docvl writes that lie half or more
 * on the drawn words' ink boxes, and the share of drawn words that some box
 * touches (measured 0.973 and 1.000, both kernels; N1 0.971). */
#define E2E_MIN_HOCR_ON_INK 0.85
#define E2E_MIN_HOCR_COVERED 0.90

#endif
