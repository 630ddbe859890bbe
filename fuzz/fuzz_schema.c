/* fuzz_schema.c -- libFuzzer harness for manifest JSON parsing and schema
 * validation (the embedded schema against arbitrary JSON text). */
#include "raiiaf.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[256];
    raiiaf_validate_manifest((const char *)data, size, msg, sizeof msg);
    return 0;
}
