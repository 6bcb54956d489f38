/*
 * nif_frames.c - {packet,4} frames out of the NIF's answer pipe
 * (nif_frames.h). No erl_nif calls: everything that touches the VM or
 * the pipe is the user's nf_ops, so the fuzzer links this file alone.
 */
#include "nif_frames.h"

#include <errno.h>
#include <string.h>

int nf_reader_init(nf_reader *r, const nf_ops *ops, void *ctx, unsigned char *stage, size_t nstage)
{
    memset(r, 0, sizeof *r);
    r->ops = ops;
    r->ctx = ctx;
    r->stage = stage;
    r->nstage = nstage;
    return nstage < NF_MIN_STAGE ? -1 : 0;
}

uint32_t nf_frame_ref(const unsigned char *f, size_t n)
{
    /* {Ref, Tag, Result} with Ref as INTEGER_EXT: 131 104 3 98 Ref:32 */
    if (n < 8 || f[0] != 131 || f[1] != 104 || f[2] != 3 || f[3] != 98) return 0;
    return ((uint32_t)f[4] << 24) | ((uint32_t)f[5] << 16) | ((uint32_t)f[6] << 8) | f[7];
}

/* r->cur is whole: the lane's answer goes to *mine (when the reader is
 * the lane, lane_ref != 0, and has not got it yet), everything else to
 * xDeliver. Returns *got: 1 tells the reader to stop. */
static int deliver(nf_reader *r, uint32_t lane_ref, ErlNifBinary *mine, int *got)
{
    ErlNifBinary b = r->cur;

    /* cur is no longer ours: a destructor must not release it again */
    r->cur_need = 0;
    r->cur_have = 0;
    memset(&r->cur, 0, sizeof r->cur);
    if (lane_ref != 0 && !*got && nf_frame_ref(b.data, b.size) == lane_ref) {
        *mine = b;
        *got = 1;
    } else {
        r->ops->xDeliver(r->ctx, &b);
    }
    return *got;
}

/* What a failed or empty read means: NF_OK to stop for now (EAGAIN), 1
 * to read again (EINTR), NF_DEAD otherwise (the end, or an error). */
static int read_failed(ssize_t n)
{
    if (n < 0 && errno == EINTR) return 1;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return NF_OK;
    return NF_DEAD;
}

int nf_read_some(nf_reader *r, size_t budget, uint32_t lane_ref, ErlNifBinary *mine, int *got)
{
    size_t spent = 0;
    ssize_t n;
    int rc;

    for (;;) {
        /* whole frames out of the staging buffer first */
        while (r->cur_need == 0 && r->hi - r->lo >= 4) {
            const unsigned char *p = r->stage + r->lo;
            uint32_t len = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
            size_t take;

            if (len > NF_MAX_FRAME) return NF_DEAD;
            /* the length stays staged until the buffer is there: a later
             * call, with memory again, starts this frame afresh */
            if (!r->ops->xAlloc(r->ctx, len, &r->cur)) return NF_NOMEM;
            r->lo += 4;
            take = r->hi - r->lo < len ? r->hi - r->lo : len;
            if (take > 0) memcpy(r->cur.data, r->stage + r->lo, take);
            r->lo += take;
            r->cur_have = take;
            r->cur_need = len;
            if (r->cur_have == r->cur_need && deliver(r, lane_ref, mine, got)) return NF_OK;
        }
        if (r->lo == r->hi) r->lo = r->hi = 0;
        if (spent >= budget) return NF_OK;
        if (r->cur_need > 0) {
            /* a frame larger than what is staged: straight into it */
            n = r->ops->xRead(r->ctx, r->cur.data + r->cur_have, r->cur_need - r->cur_have);
            if (n > 0) {
                spent += (size_t)n;
                r->cur_have += (size_t)n;
                if (r->cur_have == r->cur_need && deliver(r, lane_ref, mine, got)) return NF_OK;
                continue;
            }
        } else {
            if (r->lo > 0) { /* keep a partial length at the front */
                memmove(r->stage, r->stage + r->lo, r->hi - r->lo);
                r->hi -= r->lo;
                r->lo = 0;
            }
            /* hi < 4 <= nstage here (4 staged bytes would have been framed),
             * so the read always asks for at least one byte */
            n = r->ops->xRead(r->ctx, r->stage + r->hi, r->nstage - r->hi);
            if (n > 0) {
                spent += (size_t)n;
                r->hi += (size_t)n;
                continue;
            }
        }
        rc = read_failed(n);
        if (rc != 1) return rc;
    }
}

void nf_reader_free(nf_reader *r)
{
    if (r->cur_need > 0 && r->ops != NULL) r->ops->xRelease(r->ctx, &r->cur);
    memset(&r->cur, 0, sizeof r->cur);
    r->cur_have = r->cur_need = 0;
    r->lo = r->hi = 0;
}
