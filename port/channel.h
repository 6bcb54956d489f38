/*
 * channel.h - the port's side of talking to Erlang unasked: events, and
 * callbacks that suspend the running statement until Erlang answers.
 *
 *   emit      an unsolicited frame ({0, event, Event}: events.h), from
 *             any thread;
 *   call      {Ref, callback, {Id, Payload}}: a request to the process
 *             that made the running request Ref (the connection process
 *             routes it there), then wait for {Ref, answer, Id, Result},
 *             reading stdin meanwhile (intake.h), until the answer, an
 *             interrupt (the request's deadline passed: the connection
 *             process cancels it) or EOF;
 *   send      the same frame with Id 0, not waited for (a batch of an
 *             aggregate's steps: local_functions.c).
 *
 * Calls run on the main thread only, inside a request. Without an
 * installed writer (the C tests, the fuzzers) a call answers
 * CHANNEL_NO_CALLER and an emit does nothing.
 */
#ifndef LSQ_CHANNEL_H
#define LSQ_CHANNEL_H

#include <stddef.h>
#include <ei.h>

typedef void (*channel_writer)(const char *frame, size_t len);
/* Say that the answer to id is awaited, before the call is written
 * (intake_expect's contract). */
typedef void (*channel_expecter)(unsigned long id);
/* Wait for the answer to id (intake_await's contract). */
typedef int (*channel_waiter)(unsigned long id, char **frame, size_t *len);
/* The ref of the request running now, 0 if none. */
typedef long (*channel_running)(void);
/* 1 once the running request was interrupted or stdin ended. */
typedef int (*channel_stopped)(void);

/* main.c, once, before any thread starts. */
void channel_install(channel_writer w, channel_expecter expect, channel_waiter wait,
                     channel_running running, channel_stopped stopped);

/* Write a whole frame unasked. 0, or -1 without a writer. */
int channel_emit(const char *frame, size_t len);

enum {
    CHANNEL_ANSWERED = 0,    /* the answer is in the call (answer, idx) */
    CHANNEL_INTERRUPTED = 1, /* the request was interrupted or cancelled */
    CHANNEL_CLOSED = 2,      /* stdin ended: the owner is gone */
    CHANNEL_NO_CALLER = 3,   /* no channel (tests) or no request running */
    CHANNEL_NOMEM = 4        /* the request could not be encoded */
};

typedef struct channel_call {
    ei_x_buff x;        /* the frame; the payload goes at x.index */
    unsigned long id;   /* this call's id (0: not waited for) */
    char *answer;       /* the answer frame (after CHANNEL_ANSWERED) */
    size_t len;
    int idx;            /* ei index of Result in answer */
} channel_call;

/* Start a call: c->x holds the frame up to its payload, which the caller
 * encodes next (one term). wait: 1 for a call, 0 for a send. Returns 0,
 * CHANNEL_NO_CALLER, CHANNEL_INTERRUPTED (the request was stopped: nothing
 * is sent, as nobody would hear the answer; SQLite finalizing an
 * aggregate as it cleans up after an interrupt lands here) or
 * CHANNEL_NOMEM; c is to be freed in every case. */
int channel_begin(channel_call *c, int wait);
/* Send the frame; for a call, wait for its answer. A CHANNEL_* value. */
int channel_finish(channel_call *c);
void channel_free(channel_call *c);

#endif
