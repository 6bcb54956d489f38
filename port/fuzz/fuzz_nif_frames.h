/*
 * fuzz_nif_frames.h - one input of the NIF's frame reader
 * (port/nif/nif_frames.c), shared by the libFuzzer target
 * port/fuzz/fuzz_nif_frames.c and the corpus replay in
 * port/test/test_fuzz_corpus.c.
 *
 * Input: FZN_CONFIG bytes of configuration (below), then the bytes the
 * port program writes into the answer pipe. The harness is the reader's
 * pipe, allocator and owner (nf_ops): it hands the stream over in chunks
 * of 1 B .. 100 KiB with EAGAIN and EINTR among them, and calls
 * nf_read_some again and again as the NIF does, now as the owner, now as
 * the lane waiting for a ref, until the reader says the pipe is dead.
 * Everything is compared with a framing of the same bytes made here,
 * independently of the reader (fzn_model):
 *   - every whole frame comes out exactly once, in order, byte for byte,
 *     from the buffer allocated for it, at its length; a frame cut off by
 *     the end of the stream never comes out, its buffer is released;
 *   - a lane call gets the first frame carrying its ref and returns at
 *     once; no frame carrying it goes to the owner in that call;
 *   - a call returns only with the lane's answer, after EAGAIN, or once
 *     it has read its budget; it reads only while under its budget, never
 *     after EAGAIN, the end or an error; a read lands in the staging
 *     buffer or exactly at the next byte of the frame under way;
 *   - an allocation over the cap fails, the call says NF_NOMEM, and the
 *     same frame is asked for again after the cap is raised to its length
 *     (the length was not consumed);
 *   - the pipe is dead only at its end (nothing whole left), after an
 *     error, or at a length over 2^31 - 1 (nothing allocated for it).
 * Memory errors and leaks are left to ASan/LSan.
 */
#ifndef LSQ_FUZZ_NIF_FRAMES_H
#define LSQ_FUZZ_NIF_FRAMES_H

#include "nif/nif_frames.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Configuration bytes (missing ones are 0):
 *   c[0] bits 0-2  chunk sizes: 1; 1-4; 1-64; 1-4096; 1-100 KiB; whatever
 *                  the reader asks; a mix, per read; to a frame's edge +-1
 *        bits 3-4  reads answered EAGAIN: none, 1/8, 1/2, 7/8
 *        bit 5     1/8 of reads answered EINTR
 *        bit 6     the lane waits for the ref of a frame just ahead
 *                  (else for c[4..7])
 *        bit 7     the pipe fails (EIO) once it has given fail_at bytes
 *   c[1] bits 0-2  the owner's budget, bits 3-5 the lane's (FZN_BUDGETS)
 *        bits 6-7  calls made as the lane: none, 1/4, 1/2, all
 *   c[2] bits 0-2  allocation cap (FZN_CAPS), bits 3-5 staging buffer
 *                  size (FZN_STAGES; 0 is the NIF's 64 KiB)
 *        bits 6-7  with c[3]: the schedule's seed, and fail_at
 *   c[4..7]        the lane's ref, big-endian (0: a lane call reads as
 *                  the owner, as the NIF's reader does with no ref) */
#define FZN_CONFIG 8
#define FZN_BIG_CHUNK (100 * 1024)
#define FZN_IDLE_MAX 8 /* calls without progress before one that must progress */

/* Budgets: 0 picks one of FZN_BUDGET_PICKS per call. */
static const size_t FZN_BUDGETS[8] = { 0, 1, 3, 4, 100, 4096, 64 * 1024, 1024 * 1024 };
static const size_t FZN_BUDGET_PICKS[8] = { 0, 1, 2, 5, 64, 4096, 64 * 1024, SIZE_MAX };
static const size_t FZN_CAPS[8] = { SIZE_MAX, 0, 1, 7, 64, 1000, 4096, 64 * 1024 };
static const size_t FZN_STAGES[8] = { 64 * 1024, 4, 5, 7, 16, 64, 1000, 4096 };
static const unsigned FZN_EAGAIN_8THS[4] = { 0, 1, 4, 7 };

/* How a call's reading ended (the last xRead). */
enum { FZN_READING, FZN_EAGAIN, FZN_EOF, FZN_EIO };

/* What the stream holds at a position (fzn_model). */
enum { FZN_WHOLE, FZN_CUT, FZN_HUGE, FZN_END };

/* Totals over every input of a process (the fuzzer prints them at exit;
 * the replay checks its corpus reaches each path). */
typedef struct fzn_counts {
    unsigned long inputs, owner_frames, lane_frames, direct_reads, nomem_retries;
    unsigned long dead_eof, dead_eio, dead_huge, cut_released, eagain, eintr;
} fzn_counts;

static inline fzn_counts *fzn_counts_get(void)
{
    static fzn_counts counts;

    return &counts;
}

typedef struct fzn_state {
    const unsigned char *s;    /* the stream */
    size_t n;                  /* its length */
    size_t fed;                /* bytes of it given to the reader */
    size_t mpos;               /* where the next frame to come out starts */
    uint64_t rng;              /* the schedule (xorshift64) */
    unsigned chunk_mode, eagain_8ths;
    int eintr;
    size_t fail_at;            /* EIO once fed reaches it (SIZE_MAX: never) */
    size_t cap;                /* xAlloc fails above it */
    unsigned char *stage;      /* the reader's staging buffer */
    size_t nstage;
    unsigned char *out;        /* the frame allocated and not out yet */
    size_t out_len;            /* its length (the buffer may be shorter, fzn_alloc) */
    /* the call under way */
    uint32_t lane_ref;
    size_t budget, spent;
    int forced;                /* no EAGAIN: it must make progress */
    int ended;                 /* FZN_*: how its last read ended */
    int nomem, oom;            /* xAlloc said no (oom: malloc did, not the cap) */
    size_t nomem_len;
    int progress;              /* a byte read or a frame out */
    const char *bad;           /* the first thing that broke */
} fzn_state;

static inline uint64_t fzn_next(fzn_state *st)
{
    st->rng ^= st->rng << 13;
    st->rng ^= st->rng >> 7;
    st->rng ^= st->rng << 17;
    return st->rng;
}

static inline size_t fzn_pick(fzn_state *st, size_t n)
{
    return n ? (size_t)(fzn_next(st) % n) : 0;
}

static inline void fzn_fail(fzn_state *st, const char *why)
{
    if (st->bad == NULL) st->bad = why;
}

static inline uint32_t fzn_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The framing of s[0..n) at pos, written from the protocol, not from the
 * reader: a 4-byte big-endian length, then that many bytes; lengths over
 * 2^31 - 1 are refused. *len: the length read (0 for a cut-off length). */
static inline int fzn_model(const unsigned char *s, size_t n, size_t pos, size_t *len)
{
    size_t left = n - pos;

    *len = 0;
    if (left == 0) return FZN_END;
    if (left < 4) return FZN_CUT;
    *len = fzn_be32(s + pos);
    if (*len > 2147483647u) return FZN_HUGE;
    return *len <= left - 4 ? FZN_WHOLE : FZN_CUT;
}

/* An answer's ref ({Ref, Tag, Result}, Ref an INTEGER_EXT), else 0. */
static inline uint32_t fzn_ref(const unsigned char *f, size_t n)
{
    static const unsigned char head[4] = { 131, 104, 3, 98 };

    return n >= 8 && memcmp(f, head, 4) == 0 ? fzn_be32(f + 4) : 0;
}

/* How many bytes the next read gives (before the caller's limits). */
static inline size_t fzn_chunk(fzn_state *st)
{
    unsigned mode = st->chunk_mode;
    size_t pos, len, edge, k;
    int kind;

    if (mode == 6) { /* a mix: any other mode for this read */
        mode = (unsigned)fzn_pick(st, 7);
        mode = mode == 6 ? 7 : mode;
    }
    switch (mode) {
    case 0: return 1;
    case 1: return 1 + fzn_pick(st, 4);
    case 2: return 1 + fzn_pick(st, 64);
    case 3: return 1 + fzn_pick(st, 4096);
    case 4: return 1 + fzn_pick(st, FZN_BIG_CHUNK);
    case 5: return SIZE_MAX;
    default: break;
    }
    /* to the next edge (the end of a length, the end of a frame) after
     * what was given, give or take a byte */
    edge = st->n;
    for (pos = st->mpos, k = 0; k < 100000; k++) {
        kind = fzn_model(st->s, st->n, pos, &len);
        if (kind != FZN_WHOLE && kind != FZN_CUT) break;
        if (pos + 4 > st->fed) {
            edge = pos + 4;
            break;
        }
        if (kind == FZN_CUT) break;
        if (pos + 4 + len > st->fed) {
            edge = pos + 4 + len;
            break;
        }
        pos += 4 + len;
    }
    edge = edge > st->n ? st->n : edge;
    k = edge > st->fed ? edge - st->fed : 1;
    k = k + fzn_pick(st, 3);
    return k > 1 ? k - 1 : 1;
}

static inline ssize_t fzn_read(void *ctx, unsigned char *buf, size_t n)
{
    fzn_state *st = ctx;
    fzn_counts *c = fzn_counts_get();
    uintptr_t b = (uintptr_t)buf, o = (uintptr_t)st->out, sg = (uintptr_t)st->stage;
    size_t k;

    if (st->ended != FZN_READING) fzn_fail(st, "read again after EAGAIN, the end or an error");
    if (n == 0) fzn_fail(st, "asked to read 0 bytes");
    if (st->spent >= st->budget) fzn_fail(st, "read with its budget spent");
    if (st->out != NULL && b >= o && b - o < st->out_len) {
        /* straight into the frame under way: at its next byte, its rest */
        c->direct_reads++;
        if (st->fed < st->mpos + 4 || buf != st->out + (st->fed - st->mpos - 4) ||
            n != st->out_len - (st->fed - st->mpos - 4))
            fzn_fail(st, "a read into a frame not at its next byte or not for its rest");
    } else if (b < sg || b - sg >= st->nstage || n > st->nstage - (b - sg)) {
        fzn_fail(st, "a read neither into the staging buffer nor into the frame under way");
    }
    if (st->bad != NULL) {
        errno = EIO; /* whatever it does next, stop it reading */
        return -1;
    }
    if (st->eintr && fzn_pick(st, 8) == 0) {
        c->eintr++;
        errno = EINTR;
        return -1;
    }
    if (!st->forced && fzn_pick(st, 8) < st->eagain_8ths) {
        c->eagain++;
        st->ended = FZN_EAGAIN;
        errno = EAGAIN;
        return -1;
    }
    if (st->fed >= st->fail_at) {
        st->ended = FZN_EIO;
        errno = EIO;
        return -1;
    }
    if (st->fed == st->n) {
        st->ended = FZN_EOF;
        return 0;
    }
    k = fzn_chunk(st);
    if (k > n) k = n;
    if (k > st->n - st->fed) k = st->n - st->fed;
    memcpy(buf, st->s + st->fed, k);
    st->fed += k;
    st->spent += k;
    st->progress = 1;
    return (ssize_t)k;
}

static inline int fzn_alloc(void *ctx, size_t len, ErlNifBinary *bin)
{
    fzn_state *st = ctx;
    size_t mlen, size;
    int kind = fzn_model(st->s, st->n, st->mpos, &mlen);

    if (st->ended != FZN_READING) fzn_fail(st, "allocated after EAGAIN, the end or an error");
    if (st->out != NULL) fzn_fail(st, "a frame allocated while another was under way");
    if ((kind != FZN_WHOLE && kind != FZN_CUT) || st->fed < st->mpos + 4 || len != mlen)
        fzn_fail(st, "an allocation that is not for the next frame's length");
    if (st->nomem) fzn_fail(st, "allocated again after a failed allocation in one call");
    if (st->bad != NULL) return 0; /* the call ends as a finding: no more buffers */
    if (len > st->cap) {
        st->nomem = 1;
        st->nomem_len = len;
        return 0;
    }
    /* A frame longer than the whole stream can never be whole, and the
     * reader writes into it only what the stream gives: a buffer of n
     * bytes holds that, without 2 GiB for a length of 2^31 - 1. */
    size = len < st->n ? len : st->n;
    bin->data = malloc(size > 0 ? size : 1);
    if (bin->data == NULL) {
        st->nomem = st->oom = 1;
        st->nomem_len = len;
        return 0;
    }
    bin->size = len;
    bin->ref_bin = NULL;
    st->out = bin->data;
    st->out_len = len;
    return 1;
}

/* A frame came out (to the owner or to the lane): it must be the next
 * whole frame of the stream, in the buffer allocated for it. Frees it. */
static inline void fzn_out(fzn_state *st, const ErlNifBinary *bin)
{
    size_t mlen;
    int kind = fzn_model(st->s, st->n, st->mpos, &mlen);

    if (bin->data != st->out || st->out == NULL) {
        fzn_fail(st, "a frame out of a buffer that is not the one allocated for it");
        return; /* not ours to free */
    }
    if (kind != FZN_WHOLE) fzn_fail(st, "a frame out where the stream has no whole frame");
    else if (bin->size != mlen || st->fed < st->mpos + 4 + mlen) fzn_fail(st, "a frame out at another length");
    else if (mlen > 0 && memcmp(bin->data, st->s + st->mpos + 4, mlen) != 0) fzn_fail(st, "a frame's bytes differ from the stream");
    else st->mpos += 4 + mlen;
    free(st->out);
    st->out = NULL;
    st->progress = 1;
}

static inline void fzn_deliver(void *ctx, ErlNifBinary *bin)
{
    fzn_state *st = ctx;

    if (st->ended != FZN_READING) fzn_fail(st, "a frame out after EAGAIN, the end or an error");
    if (st->lane_ref != 0 && fzn_ref(bin->data, bin->size) == st->lane_ref)
        fzn_fail(st, "the lane's answer went to the owner");
    fzn_out(st, bin);
    fzn_counts_get()->owner_frames++;
}

static inline void fzn_release(void *ctx, ErlNifBinary *bin)
{
    fzn_state *st = ctx;

    if (bin->data != st->out || st->out == NULL) {
        fzn_fail(st, "released a buffer that is not the frame under way");
        return;
    }
    free(st->out);
    st->out = NULL;
    fzn_counts_get()->cut_released++;
}

static const nf_ops FZN_OPS = { fzn_read, fzn_alloc, fzn_deliver, fzn_release };

/* The ref a lane call waits for: with aim, that of the frame 0-3 frames
 * ahead when it has one, else the configured one. */
static inline uint32_t fzn_lane_ref(fzn_state *st, int aim, uint32_t cfg_ref)
{
    size_t pos = st->mpos, len, ahead = fzn_pick(st, 4), i;
    int kind;

    for (i = 0; aim; i++) {
        kind = fzn_model(st->s, st->n, pos, &len);
        if ((kind != FZN_WHOLE && kind != FZN_CUT) || st->n - pos < 4) break;
        if (i == ahead) {
            uint32_t r = fzn_ref(st->s + pos + 4, st->n - pos - 4 < len ? st->n - pos - 4 : len);

            return r != 0 ? r : cfg_ref;
        }
        if (kind == FZN_CUT) break;
        pos += 4 + len;
    }
    return cfg_ref;
}

/* One call of the reader and what must hold after it. 1: the pipe is
 * dead (the run is over), 0: go on, -1: stop (a finding, or out of
 * memory for real). */
static inline int fzn_call(fzn_state *st, nf_reader *r, size_t budget, uint32_t lane_ref)
{
    fzn_counts *c = fzn_counts_get();
    ErlNifBinary mine;
    size_t mlen;
    int got = 0, rc, kind;

    memset(&mine, 0, sizeof mine);
    st->lane_ref = lane_ref;
    st->budget = budget;
    st->spent = 0;
    st->ended = FZN_READING;
    st->nomem = st->oom = 0;
    st->progress = 0;
    rc = nf_read_some(r, budget, lane_ref, &mine, &got);
    if (got) {
        if (rc != NF_OK || lane_ref == 0) fzn_fail(st, "an answer for the lane with a failure, or for no lane");
        if (st->ended != FZN_READING) fzn_fail(st, "the lane's answer after EAGAIN, the end or an error");
        if (fzn_ref(mine.data, mine.size) != lane_ref) fzn_fail(st, "the lane got a frame without its ref");
        fzn_out(st, &mine);
        c->lane_frames++;
    }
    if (st->bad != NULL) return -1;
    switch (rc) {
    case NF_OK:
        if (st->nomem) fzn_fail(st, "an allocation failed and the call said NF_OK");
        else if (!got && st->ended != FZN_EAGAIN && st->spent < budget)
            fzn_fail(st, "returned with budget left, no EAGAIN and no answer");
        else if (st->forced && !st->progress) fzn_fail(st, "a call with budget and bytes to read did nothing");
        return st->bad != NULL ? -1 : 0;
    case NF_NOMEM:
        if (!st->nomem) fzn_fail(st, "NF_NOMEM without a failed allocation");
        if (st->bad != NULL || st->oom) return -1;
        /* memory again: the same frame must come next */
        st->cap = st->nomem_len;
        st->progress = 1;
        c->nomem_retries++;
        return 0;
    case NF_DEAD:
        kind = fzn_model(st->s, st->n, st->mpos, &mlen);
        if (st->nomem) fzn_fail(st, "an allocation failed and the call said NF_DEAD");
        else if (st->ended == FZN_EOF && kind != FZN_CUT && kind != FZN_END)
            fzn_fail(st, "dead at the end of the stream with a whole frame or a bad length not read");
        else if (st->ended == FZN_READING && (kind != FZN_HUGE || st->fed < st->mpos + 4))
            fzn_fail(st, "dead with no end, no error and no length over 2^31 - 1");
        else if (st->ended == FZN_EAGAIN)
            fzn_fail(st, "dead after EAGAIN");
        if (st->ended == FZN_EOF) c->dead_eof++;
        else if (st->ended == FZN_EIO) c->dead_eio++;
        else c->dead_huge++;
        return st->bad != NULL ? -1 : 1;
    default:
        fzn_fail(st, "nf_read_some returned something else than NF_OK, NF_DEAD, NF_NOMEM");
        return -1;
    }
}

/* NULL if every check held, else what broke. */
static inline const char *fuzz_nif_frames_run(const uint8_t *data, size_t size)
{
    unsigned char cfg[FZN_CONFIG] = { 0 };
    fzn_state st;
    nf_reader r;
    size_t budget, calls, limit, idle = 0;
    unsigned lane_4ths;
    uint32_t cfg_ref;
    int rc, lane, aim;

    memcpy(cfg, data, size < FZN_CONFIG ? size : FZN_CONFIG);
    memset(&st, 0, sizeof st);
    st.s = size > FZN_CONFIG ? data + FZN_CONFIG : data;
    st.n = size > FZN_CONFIG ? size - FZN_CONFIG : 0;
    st.chunk_mode = cfg[0] & 7;
    st.eagain_8ths = FZN_EAGAIN_8THS[(cfg[0] >> 3) & 3];
    st.eintr = (cfg[0] >> 5) & 1;
    aim = (cfg[0] >> 6) & 1;
    lane_4ths = (cfg[1] >> 6) & 3;
    lane_4ths = lane_4ths == 3 ? 4 : lane_4ths;
    st.cap = FZN_CAPS[cfg[2] & 7];
    st.nstage = FZN_STAGES[(cfg[2] >> 3) & 7];
    st.rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)(cfg[2] >> 6) << 40 | (uint64_t)cfg[3] << 32 | st.n);
    st.fail_at = (cfg[0] & 0x80) ? ((size_t)cfg[3] * 257 + (cfg[2] >> 6)) % (st.n + 1) : SIZE_MAX;
    cfg_ref = fzn_be32(cfg + 4);
    fzn_counts_get()->inputs++;
    st.stage = malloc(st.nstage);
    if (st.stage == NULL) return NULL; /* out of memory: nothing to say */
    if (nf_reader_init(&r, &FZN_OPS, &st, st.stage, st.nstage) != 0) {
        free(st.stage);
        return "nf_reader_init refused a staging buffer of at least 4 bytes";
    }
    /* every call but FZN_IDLE_MAX in a row makes progress (a byte, a
     * frame, a failed allocation), and there are at most 2n + 1 of those */
    limit = (FZN_IDLE_MAX + 1) * (2 * st.n + 2);
    for (calls = 0; calls <= limit; calls++) {
        lane = fzn_pick(&st, 4) < lane_4ths;
        budget = FZN_BUDGETS[lane ? (cfg[1] >> 3) & 7 : cfg[1] & 7];
        if (budget == 0) budget = FZN_BUDGET_PICKS[fzn_pick(&st, 8)];
        st.forced = idle >= FZN_IDLE_MAX;
        if (st.forced && budget == 0) budget = 1;
        rc = fzn_call(&st, &r, budget, lane ? fzn_lane_ref(&st, aim, cfg_ref) : 0);
        if (rc != 0) break;
        idle = st.progress ? 0 : idle + 1;
    }
    if (calls > limit) fzn_fail(&st, "the reader never reached the end of the stream");
    nf_reader_free(&r);
    if (st.out != NULL) {
        fzn_fail(&st, "the frame under way was not released");
        free(st.out);
    }
    free(st.stage);
    return st.bad;
}

#endif
