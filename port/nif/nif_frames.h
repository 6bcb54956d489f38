/*
 * nif_frames.h - the frame reader of the `transport => nif' lane
 * (libsql_nif.c): {packet,4} frames assembled from a non-blocking pipe.
 *
 * Separate from the NIF so that it can be fuzzed and tested outside a VM
 * (port/fuzz/fuzz_nif_frames.c): it makes no call into erl_nif. It holds
 * a frame as an ErlNifBinary, the type the NIF hands on, but the reading,
 * the allocation of a frame's buffer and the delivery of a whole frame
 * are the caller's (nf_ops): the NIF passes read(2), enif_alloc_binary
 * and its send to the owner; the fuzzer passes its own.
 *
 * How a pipe is read: into a staging buffer (the NIF's is 64 KiB), whole
 * frames out of it; a frame longer than what is staged is read straight
 * into its own buffer. A length over NF_MAX_FRAME means the program is
 * broken: the pipe is dead. The lane's answer (the frame whose ref is the
 * one the lane waits for, nf_frame_ref) is kept for the lane and reading
 * stops there; every other frame goes to xDeliver, in the order read.
 */
#ifndef LSQ_NIF_FRAMES_H
#define LSQ_NIF_FRAMES_H

#include <erl_nif.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NF_MAX_FRAME 0x7fffffffu /* a longer frame: the program is broken */
#define NF_MIN_STAGE 4           /* a staging buffer holds at least a length */

/* Results of nf_read_some. */
enum {
    NF_OK = 0,     /* nothing more now (EAGAIN, budget spent, or the lane's answer) */
    NF_DEAD = -1,  /* the pipe ended, failed, or sent a length over NF_MAX_FRAME */
    NF_NOMEM = -2  /* xAlloc failed: the length is still staged, a later call retries */
};

/* What the reader asks of its user; ctx is nf_reader.ctx. */
typedef struct nf_ops {
    /* As read(2) on the pipe: > 0 bytes read into buf (at most n, n > 0),
     * 0 at its end, -1 with errno (EAGAIN/EWOULDBLOCK: nothing now,
     * EINTR: asked again, anything else: the pipe failed). */
    ssize_t (*xRead)(void *ctx, unsigned char *buf, size_t n);
    /* As enif_alloc_binary: a buffer of n bytes in *bin, 1; or 0 when out
     * of memory (*bin is then not the caller's to release). */
    int (*xAlloc)(void *ctx, size_t n, ErlNifBinary *bin);
    /* A whole frame that is not the lane's answer: *bin is the callee's. */
    void (*xDeliver)(void *ctx, ErlNifBinary *bin);
    /* Frees a frame's buffer that will never be whole (nf_reader_free). */
    void (*xRelease)(void *ctx, ErlNifBinary *bin);
} nf_ops;

/* One pipe's reading state. Fields are the reader's but for stage, which
 * the user allocates before nf_reader_init and frees after
 * nf_reader_free. */
typedef struct nf_reader {
    const nf_ops *ops;      /* the user's callbacks */
    void *ctx;              /* their first argument */
    unsigned char *stage;   /* nstage bytes: read-ahead of the pipe */
    size_t nstage;          /* at least NF_MIN_STAGE */
    size_t lo, hi;          /* stage[lo..hi) is read and not yet framed */
    ErlNifBinary cur;       /* the frame being assembled, valid while cur_need > 0 */
    size_t cur_have;        /* bytes of cur read so far */
    size_t cur_need;        /* cur's length; 0: no frame under way */
} nf_reader;

/* Sets r up to read through ops/ctx with the staging buffer stage[0..nstage)
 * (the caller's; NULL is kept, for a caller whose allocation failed and
 * who will not read). 0, or -1 if nstage < NF_MIN_STAGE (a length could
 * never be staged). */
int nf_reader_init(nf_reader *r, const nf_ops *ops, void *ctx, unsigned char *stage, size_t nstage);

/* Reads what the pipe has, up to budget bytes (a read is made only while
 * fewer than budget bytes were read in this call, so the last read may go
 * past it; 0: only what is staged is framed), delivering whole frames in
 * order. lane_ref != 0: the reader is the lane waiting for that ref: the
 * first frame carrying it goes to *mine (the caller's to release) with
 * *got set to 1, and the call returns there; *got must be 0 on entry.
 * Returns NF_OK, NF_DEAD (then never call again) or NF_NOMEM (a later
 * call retries the same frame). */
int nf_read_some(nf_reader *r, size_t budget, uint32_t lane_ref, ErlNifBinary *mine, int *got);

/* Releases the frame under way (xRelease) and forgets what is staged;
 * r->stage stays, for its owner to free. */
void nf_reader_free(nf_reader *r);

/* The ref of an answer frame: {Ref, Tag, Result} with Ref as
 * INTEGER_EXT, 131 104 3 98 Ref:32; 0 for any other frame. */
uint32_t nf_frame_ref(const unsigned char *f, size_t n);

#endif
