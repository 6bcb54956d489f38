/*
 * fuzz_pull.c - libFuzzer target: a /pull-updates response body from the
 * network, through the decoder a replica checks every pull with
 * (fuzz_pull.h says what must hold).
 */
#include "fuzz_pull.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bad = fuzz_pull_run(data, size);

    if (bad != NULL) {
        fprintf(stderr, "FINDING: %s\n", bad);
        abort();
    }
    return 0;
}
