/* The fuzz targets' bodies, one per parser. libFuzzer wrappers (fuzz_*.c)
 * call them, and so does the regression replay test (tests/fuzz), which
 * runs every saved crash input through the same code in normal builds.
 * Each returns 0 whatever the input: a clean error is a correct outcome,
 * only crashes, sanitizer reports, leaks and hangs are failures. */
#ifndef DV_FUZZ_TARGETS_H
#define DV_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

typedef int (*dv_fuzz_fn)(const uint8_t *data, size_t size);

typedef struct dv_fuzz_target {
    const char *name;   /* fuzz/corpus/<name>, tests/data/regress/<name> */
    dv_fuzz_fn run;
} dv_fuzz_target;

int dv_fuzz_safetensors(const uint8_t *data, size_t size);
int dv_fuzz_config(const uint8_t *data, size_t size);
int dv_fuzz_tokenizer(const uint8_t *data, size_t size);
int dv_fuzz_image(const uint8_t *data, size_t size);
int dv_fuzz_pdf(const uint8_t *data, size_t size);
int dv_fuzz_htmltable(const uint8_t *data, size_t size);
int dv_fuzz_pages(const uint8_t *data, size_t size);
int dv_fuzz_writer(const uint8_t *data, size_t size);

/* Every target, ending with a { NULL, NULL } entry. */
extern const dv_fuzz_target dv_fuzz_targets[];

#endif
