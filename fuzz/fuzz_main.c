/* libFuzzer entry of one target; DV_FUZZ_FN names its body (targets.c). */
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return DV_FUZZ_FN(data, size);
}
