/*
 * channel.c - events and callbacks to the Erlang side (channel.h).
 */
#include "channel.h"
#include "term.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic(channel_writer) g_writer;
static channel_expecter g_expect;
static channel_waiter g_wait;
static channel_running g_running;
static channel_stopped g_stopped;
static unsigned long g_next_id; /* main thread only */

void channel_install(channel_writer w, channel_expecter expect, channel_waiter wait,
                     channel_running running, channel_stopped stopped)
{
    g_stopped = stopped;
    g_expect = expect;
    g_wait = wait;
    g_running = running;
    atomic_store(&g_writer, w);
}

int channel_emit(const char *frame, size_t len)
{
    channel_writer w = atomic_load(&g_writer);

    if (w == NULL) return -1;
    w(frame, len);
    return 0;
}

int channel_begin(channel_call *c, int wait)
{
    long ref;

    memset(c, 0, sizeof *c);
    c->x.buff = NULL;
    if (atomic_load(&g_writer) == NULL || g_expect == NULL || g_wait == NULL || g_running == NULL)
        return CHANNEL_NO_CALLER;
    ref = g_running();
    if (ref <= 0) return CHANNEL_NO_CALLER;
    if (g_stopped != NULL && g_stopped()) return CHANNEL_INTERRUPTED;
    if (wait) {
        /* Ids are never 0 (a send's), and wrap long after any statement. */
        if (++g_next_id == 0) g_next_id = 1;
        c->id = g_next_id;
    }
    if (ei_x_new(&c->x) != 0) return CHANNEL_NOMEM;
    if (term_reply_begin(&c->x, ref, "callback") != 0 ||
        ei_x_encode_tuple_header(&c->x, 2) != 0 ||
        ei_x_encode_ulong(&c->x, c->id) != 0)
        return CHANNEL_NOMEM;
    return 0;
}

/* The position of Result in {Ref, answer, Id, Result} (a checked term). */
static int answer_result(channel_call *c)
{
    int idx = 0, version, arity;

    if (ei_decode_version(c->answer, &idx, &version) != 0 ||
        ei_decode_tuple_header(c->answer, &idx, &arity) != 0 || arity != 4 ||
        ei_skip_term(c->answer, &idx) != 0 || ei_skip_term(c->answer, &idx) != 0 ||
        ei_skip_term(c->answer, &idx) != 0)
        return -1;
    c->idx = idx;
    return 0;
}

int channel_finish(channel_call *c)
{
    channel_writer w = atomic_load(&g_writer);
    int rc;

    if (w == NULL) return CHANNEL_NO_CALLER;
    if (c->id != 0) g_expect(c->id);
    w(c->x.buff, (size_t)c->x.index);
    if (c->id == 0) return CHANNEL_ANSWERED;
    rc = g_wait(c->id, &c->answer, &c->len);
    switch (rc) {
    case 0:
        /* intake checked the frame and its shape (a 4-tuple): Result
         * is always found. */
        return answer_result(c) == 0 ? CHANNEL_ANSWERED : CHANNEL_NOMEM;
    case 1: return CHANNEL_INTERRUPTED;
    default: return CHANNEL_CLOSED;
    }
}

void channel_free(channel_call *c)
{
    if (c->x.buff != NULL) (void)ei_x_free(&c->x);
    c->x.buff = NULL;
    free(c->answer);
    c->answer = NULL;
}
