/*
 * fuzz_nif_frames.c - libFuzzer target: the frame reader of the NIF's
 * answer pipe (port/nif/nif_frames.c). Configuration bytes, then the
 * stream the port program would write; the harness is the pipe (chunks,
 * EAGAIN, EINTR, an error), the allocator (a cap, raised after a failure)
 * and the owner, and calls the reader as the NIF does, as the owner or as
 * a lane waiting for a ref; fuzz_nif_frames.h says what must hold.
 * Seeds: test/fuzz_corpus/nif_frames (port/fuzz/make_seeds.erl). At exit
 * it prints how often each path was taken, over all inputs.
 */
#include "fuzz_nif_frames.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void print_counts(void)
{
    const fzn_counts *c = fzn_counts_get();

    fprintf(stderr,
            "fuzz_nif_frames: %lu inputs: %lu frames to the owner, %lu lane answers, %lu reads into a "
            "frame, %lu allocations retried, %lu EAGAIN, %lu EINTR; dead: %lu at the end, %lu by an "
            "error, %lu by a length; %lu cut-off frames released\n",
            c->inputs, c->owner_frames, c->lane_frames, c->direct_reads, c->nomem_retries, c->eagain,
            c->eintr, c->dead_eof, c->dead_eio, c->dead_huge, c->cut_released);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    const char *bad;

    if (!ready) {
        /* nothing to undo if it cannot be registered: only the summary is lost */
        if (atexit(print_counts) != 0) fprintf(stderr, "fuzz_nif_frames: no summary at exit\n");
        ready = 1;
    }
    bad = fuzz_nif_frames_run(data, size);
    if (bad != NULL) {
        fprintf(stderr, "fuzz_nif_frames: FINDING: %s\n", bad);
        abort();
    }
    return 0;
}
