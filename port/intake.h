/*
 * intake.h - everything that comes in on the port's stdin: frames read,
 * checked and sorted into what runs at once and what waits its turn.
 *
 * Three kinds of frames arrive:
 *   worker requests   queued in arrival order, run one at a time by the
 *                     main thread (intake_next);
 *   control commands  interrupt and cancel, acted on by whichever thread
 *                     reads them, while a request runs;
 *   answers           {Ref, answer, Id, Result}: the Erlang side's answer
 *                     to a callback (channel.h); handed to the call that
 *                     waits for Id, dropped when none does (it gave up).
 *
 * Two threads read stdin, never at the same time (a read lock): the main
 * thread between requests and while a callback waits for its answer, the
 * watchdog (main.c) while a request runs for long. Whoever reads a frame
 * deals with it here, so the two behave the same.
 *
 * main.c owns the descriptor and the writer; the C tests and the frame
 * fuzzer drive this file through a pipe.
 */
#ifndef LSQ_INTAKE_H
#define LSQ_INTAKE_H

#include <stddef.h>
#include "commands.h"

/* A worker request read from stdin, waiting to run. */
typedef struct intake_job {
    char *frame;            /* the request frame (owned) */
    size_t len;             /* its size */
    lsq_request req;        /* parsed header; points into frame */
    const lsq_command *cmd; /* its table entry (commands_find), or NULL */
    struct intake_job *next;
} intake_job;

/* Writes one whole frame to stdout (main.c: under its lock, exiting when
 * nobody reads any more). */
typedef void (*intake_writer)(const char *frame, size_t len);

/* Read frames from fd, of at most max_frame bytes; spin_us: busy-poll
 * budget between requests (frame_io.h), 0 for none (fd must then be
 * blocking; with spin it must be non-blocking). Requests run on port.
 * 0, or -1 (no memory). */
int intake_init(int fd, size_t max_frame, long spin_us, lsq_port *port, intake_writer w);
/* Drop what is queued and free the read buffer. */
void intake_free(void);

/* The main thread, between requests: the next request to run (queued
 * first, else read from stdin, blocking), or NULL when the frame read was
 * not one (a control command, an answer, a malformed frame: dealt with)
 * or stdin ended (intake_eof). x is scratch for error replies. Exits the
 * program when out of memory. */
intake_job *intake_next(ei_x_buff *x);
/* 1 once stdin has ended. */
int intake_eof(void);
/* 1 if it ended badly: a read error, or inside a frame. */
int intake_read_error(void);
/* 1 once the running request was interrupted or cancelled, or stdin
 * ended: a callback it would make could not be answered. */
int intake_stopped(void);

/* Run j (commands_run into x) with it marked running: control commands
 * then reach it and callbacks carry its ref. started, if not NULL, is
 * called once j counts as running (intake_running_ref() is its ref) and
 * before it runs: main.c arms its watchdog there, so that a watchdog
 * woken by an earlier request's timer in between sees this one running.
 * Returns commands_run's. */
int intake_run(intake_job *j, ei_x_buff *x, void (*started)(void));
/* The ref of the request running now, 0 if none. */
long intake_running_ref(void);
void intake_free_job(intake_job *j);

/* The watchdog, once a request has run for long: read frames until it
 * ends or stdin does (interrupting it then), polling every poll_ms. */
void intake_watch(int poll_ms);

/* Outcomes of intake_await. */
enum {
    INTAKE_ANSWERED = 0,    /* *frame, *len: the answer frame (caller frees) */
    INTAKE_INTERRUPTED = 1, /* the running request was interrupted or cancelled */
    INTAKE_EOF = 2          /* stdin ended: the owner is gone */
};

/* The main thread, inside a running request: say that the answer to the
 * callback id is awaited, BEFORE the callback is written (the watchdog
 * may read its answer at once, and drops answers nobody awaits). */
void intake_expect(unsigned long id);
/* Then wait for it, reading stdin meanwhile (control commands are acted
 * on, requests queued). INTAKE_EOF also for an id not expected. */
int intake_await(unsigned long id, char **frame, size_t *len);

#endif
