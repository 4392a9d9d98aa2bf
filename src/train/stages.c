#include "train/stages.h"

#include <string.h>

static const char *const PART_NAMES[DV_PART_COUNT] = {
    [DV_PART_SAM_BODY] = "sam_body",
    [DV_PART_SAM_NECK] = "sam_neck",
    [DV_PART_SIGLIP] = "siglip",
    [DV_PART_ALIGNER] = "aligner",
    [DV_PART_LLM] = "llm",
};

const char *dv_part_name(dv_part p)
{
    return p >= 0 && p < DV_PART_COUNT ? PART_NAMES[p] : "?";
}

int dv_stage_parts(int stage, int trainable[DV_PART_COUNT], dv_err *e)
{
    if (stage < 1 || stage > 3)
        return dv_fail(e, DOCVL_EINVAL, "stage must be 1, 2 or 3, not %d", stage);
    memset(trainable, 0, sizeof(int) * DV_PART_COUNT);
    trainable[DV_PART_ALIGNER] = 1;
    trainable[DV_PART_LLM] = stage >= 2;
    trainable[DV_PART_SIGLIP] = stage == 3;
    trainable[DV_PART_SAM_NECK] = stage == 3;
    return DOCVL_OK;
}

dv_supervise dv_stage_supervise(int stage)
{
    return stage == 3 ? DV_SUPERVISE_ANSWERS : DV_SUPERVISE_LANGUAGE;
}

/* The parts a name stands for, as a bit set; 0 if unknown. */
static unsigned parts_of(const char *name, size_t len)
{
    for (int p = 0; p < DV_PART_COUNT; p++)
        if (strlen(PART_NAMES[p]) == len && strncmp(name, PART_NAMES[p], len) == 0)
            return 1u << p;
    if (len == 3 && strncmp(name, "sam", 3) == 0)
        return 1u << DV_PART_SAM_BODY | 1u << DV_PART_SAM_NECK;
    if (len == 6 && strncmp(name, "vision", 6) == 0)
        return 1u << DV_PART_SAM_BODY | 1u << DV_PART_SAM_NECK | 1u << DV_PART_SIGLIP;
    return 0;
}

int dv_stage_override(const char *spec, int trainable[DV_PART_COUNT], dv_err *e)
{
    const char *eq = strchr(spec, '=');
    if (!eq)
        return dv_fail(e, DOCVL_EINVAL, "--train \"%s\": expected NAME=on|off", spec);
    unsigned set = parts_of(spec, (size_t)(eq - spec));
    if (!set)
        return dv_fail(e, DOCVL_EINVAL, "--train \"%s\": unknown component (sam_body, sam_neck, "
                       "sam, siglip, vision, aligner, llm)", spec);
    int on;
    if (strcmp(eq + 1, "on") == 0)
        on = 1;
    else if (strcmp(eq + 1, "off") == 0)
        on = 0;
    else
        return dv_fail(e, DOCVL_EINVAL, "--train \"%s\": value must be on or off", spec);
    for (int p = 0; p < DV_PART_COUNT; p++)
        if (set & (1u << p))
            trainable[p] = on;
    return DOCVL_OK;
}
