/* docvl: read documents with the DeepSeek-VL vision-language model on a CPU.
 *
 * The public API. Everything else in the library is internal. Every function
 * that can fail returns a docvl_status and, where it takes one, fills a
 * caller-provided message buffer with what went wrong and where. */
#ifndef DOCVL_H
#define DOCVL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DOCVL_VERSION "0.1.0"

typedef enum docvl_status {
    DOCVL_OK = 0,
    DOCVL_EINVAL = 1,      /* bad argument or option */
    DOCVL_EIO = 2,         /* file missing or unreadable */
    DOCVL_EFORMAT = 3,     /* malformed input (JSON, safetensors, image, PDF) */
    DOCVL_EMODEL = 4,      /* model directory invalid: missing tensor, wrong shape */
    DOCVL_EUNSUPPORTED = 5,/* valid but not supported (dtype, architecture) */
    DOCVL_ELIMIT = 6,      /* a documented resource limit was exceeded */
    DOCVL_ENOMEM = 7,
    DOCVL_ECONTEXT = 8,    /* prompt + generation exceed the context length */
    DOCVL_EINTERRUPTED = 9,
    DOCVL_EINTERNAL = 10,
} docvl_status;

const char *docvl_version(void);
const char *docvl_status_name(int status);

/* ---- models --------------------------------------------------------- */

typedef struct docvl_model docvl_model;

typedef struct docvl_model_options {
    int n_threads;          /* 0 = all cores */
} docvl_model_options;

/* Opens a Hugging Face DeepSeek-VL model directory (config.json,
 * model*.safetensors, tokenizer files). On failure *out is NULL and err holds
 * a message naming the file / tensor and what was expected. */




#ifdef __cplusplus
}
#endif
#endif
