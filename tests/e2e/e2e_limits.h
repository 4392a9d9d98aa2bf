/* The end-to-end tests' bounds on the built-in model, all in one place.
 *
 * Each is set from the value measured on the model in model/ with a margin
 * (the tests print what they measure: `meson test -C build --suite e2e -v`),
 * so small changes of arithmetic between CPUs (int8 or f32 products) never
 * fail them while a model or pipeline that stops reading does. When model/
 * gets a better model, run the suite, read the measured values and tighten
 * these to them plus a margin. Measured on N1 (the stand-in, 2026-12-06, a
 * Xeon with AVX-512 VNNI: q8 int8 products, then DOCVL_KERNELS=f32), in
 * each comment. */
#ifndef DV_TEST_E2E_LIMITS_H
#define DV_TEST_E2E_LIMITS_H

/* A rendered page, an image-only PDF at 200 dpi (measured 0.107, f32 0.109). */
#define E2E_MAX_CER_PAGE 0.20
/* A two-column page against its columns' text in reading order (measured
 * 0.179, f32 0.181; the right column first: 0.75). */
#define E2E_MAX_CER_COLUMNS 0.28
/* A table's cells, all together, read to GFM (measured 0.100, f32 0.033). */
#define E2E_MAX_CER_TABLE_CELLS 0.25
/* Each page of a three-page scanned PDF (measured 0.101, 0.096, 0.157; f32
 * 0.101, 0.096, 0.152). */
#define E2E_MAX_CER_PDF_PAGE 0.25
/* A page image read from stdin (measured 0.137, f32 0.128). */
#define E2E_MAX_CER_STDIN 0.22

/* Real scans with human transcriptions: samples/scan.pdf (the Linn
 * brochure, what scripts/quickstart reads; its transcription is approximate)
 * and phototest.tif (measured 0.200 and 0.151). */
#define E2E_MAX_CER_SAMPLE_SCAN 0.28
#define E2E_MAX_CER_PHOTOTEST 0.23

/* hOCR word boxes: the share of the boxes docvl writes that lie half or more
 * on the drawn words' ink boxes, and the share of drawn words that some box
 * touches (measured 0.971 and 1.000, both kernels). */
#define E2E_MIN_HOCR_ON_INK 0.85
#define E2E_MIN_HOCR_COVERED 0.90

#endif
