/*
 * fuzz_vector.c - libFuzzer target: the vector core (vector.h). Input
 * bytes as vector text (lsq_vec_from_text, FLOAT32 and FLOAT64, then
 * vector_extract's text parsed again) and as a vector blob
 * (lsq_vec_from_blob, printed, converted to every type, distances);
 * fuzz_vector.h says what must hold. Seeds: test/fuzz_corpus/vector.
 */
#include "fuzz_vector.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_guard g;
    static int ready;
    const char *bad;

    if (!ready) {
        if (fuzz_guard_init(&g, FUZZ_GUARD_BYTES) != 0) {
            fprintf(stderr, "fuzz_vector: guard page setup failed\n");
            abort();
        }
        ready = 1;
    }
    bad = fuzz_vector_run(&g, data, size);
    if (bad != NULL) {
        fprintf(stderr, "FINDING: %s\n", bad);
        abort();
    }
    return 0;
}
