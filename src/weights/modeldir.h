/* The model-directory writer: config.json in either layout and the side
 * files (preprocessor, processor, tokenizer config, special tokens,
 * generation config), as the released models carry them. docvl-mkmodel
 * and the trainer's save write model directories with it. */
#ifndef DV_MODELDIR_H
#define DV_MODELDIR_H

#include "base/error.h"
#include "kernels/tensor.h"
#include "weights/config.h"

int dv_mk_write_config(const char *dir, const dv_config *c, int hf, int image_id, dv_dtype dtype,
                       dv_err *e);
int dv_mk_write_side_files(const char *dir, const dv_config *c, int hf, dv_err *e);

#endif
