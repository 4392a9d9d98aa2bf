/* Which components train in each stage of DeepSeek-VL's recipe
 * (docs/training.md, "The three stages"), what each stage supervises, and per-component
 * overrides from the command line ("siglip=off", "sam_neck=on"). */
#ifndef DV_STAGES_H
#define DV_STAGES_H

#include "base/error.h"
#include "train/tmodel.h"

/* What a sample's labels supervise. */
typedef enum dv_supervise {
    DV_SUPERVISE_LANGUAGE,   /* stages 1-2: every text token; image positions masked */
    DV_SUPERVISE_ANSWERS,    /* stage 3: assistant answers and the eos closing each */
} dv_supervise;

/* Stage 1: aligner. Stage 2: LLM + aligner. Stage 3: LLM + aligner + SigLIP
 * + SAM's neck and downsamples (SAM's body stays frozen). */
int dv_stage_parts(int stage, int trainable[DV_PART_COUNT], dv_err *e);
dv_supervise dv_stage_supervise(int stage);

/* Applies "NAME=on|off" (NAME: sam_body, sam_neck, sam (both), siglip,
 * vision (all towers), aligner, llm). */
int dv_stage_override(const char *spec, int trainable[DV_PART_COUNT], dv_err *e);

const char *dv_part_name(dv_part p);

#endif
