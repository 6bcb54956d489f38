/*
 * test_port.c - the main of test_port, the C-level tests of the port
 * program without an Erlang VM. The tests live in one file per module of
 * the port they test; this runs their suites in order, as one program
 * printing one "C tests: N passed, N failed" line (harness.h):
 *
 *   test_term.c         the term codec (term.c)
 *   test_errors.c       the error encoder (errors.c, reply_error)
 *   test_commands.c     commands_dispatch end to end (commands.c, the handlers)
 *   test_frames.c       the frame reader and writer (frame_io.c)
 *   test_intake.c       stdin (intake.c) over a pipe, and Erlang SQL functions
 *                       through it (functions.c, channel.c, callback_cmds.c)
 *   test_params.c       parameter ordering (params.c)
 *   test_replica.c      an embedded replica's codec, page writer and guard
 *   test_crypt.c        encryption at rest: the page codec and the VFS shim
 *   test_gather.c       the journal-gathering VFS (journal_gather.c)
 *   test_vector.c       libSQL's vector blobs, conversions, distances (vector.c)
 *   test_vector_text.c  the vector text parser and printer (vector_text.c)
 *   test_vector_ddl.c   a vector index's CREATE INDEX text (vector_ddl.c)
 *   test_diskann.c      the vector index's graph and blocks (vector_diskann.c)
 *   test_fuzz_corpus.c  the replay of the committed fuzz corpus
 *
 * What they share (the reply decoder, request builders, rowsets, the port
 * fixture) is test_util.h / test_util.c.
 */
#include "test_util.h"

#include <ei.h>
#include <signal.h>

/* test_intake.c: intake.c and the callback path through it. */
extern const test_suite intake_suite;

int main(void)
{
    const test_suite suites[] = {
        term_suite, errors_suite, commands_suite, frames_suite, spin_suite, intake_suite, params_suite, replica_suite,
        crypt_suite, gather_suite, vector_suite, vector_text_suite, vector_ddl_suite, diskann_suite, fuzz_corpus_suite,
    };

    /* frame_write to a pipe nobody reads must fail, not kill the tests */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) return 2;
    if (ei_init() != 0) return 2;
    return run_suites(suites, sizeof suites / sizeof suites[0]);
}
