/*
 * main.c - the libsql_port program: threads and the request queue.
 *
 * The main thread reads frames from stdin. Control commands (interrupt,
 * cancel) run at once on it, so they reach a query that is running; every
 * other request is checked and queued for the worker thread, which owns
 * the database connection and answers requests in order. Replies from both
 * threads go to stdout under one lock, one whole frame at a time.
 *
 * When stdin closes (the VM or the owning process is gone), the running
 * statement is interrupted, queued requests are dropped, the connection
 * is closed and the program exits 0. Exit codes: protocol.h.
 */
#include "commands.h"
#include "frame_io.h"
#include "protocol.h"
#include "term.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IN_FD 0
#define OUT_FD 1

static int g_debug; /* LIBSQL_PORT_DEBUG set: trace to stderr */

#define DEBUG(...) do { if (g_debug) { fprintf(stderr, "libsql_port: " __VA_ARGS__); fputc('\n', stderr); } } while (0)

typedef struct job {
    char *frame;        /* the request frame (owned) */
    lsq_request req;    /* parsed header; points into frame */
    struct job *next;
} job;

static struct {
    pthread_mutex_t lock;   /* guards everything in this struct */
    pthread_cond_t ready;   /* signalled on push and on shutdown */
    job *head, *tail;       /* queued requests, oldest first */
    long running_ref;       /* ref the worker is executing, 0 if none */
    int shutdown;           /* stdin closed: stop after the current job */
} g_queue = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0 };

static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER;
static lsq_port g_port;

static _Noreturn void fatal(int code, const char *what)
{
    fprintf(stderr, "libsql_port: fatal: %s (%s)\n", what, strerror(errno));
    _exit(code);
}

static void send_reply(const ei_x_buff *x)
{
    if (pthread_mutex_lock(&g_write_lock) != 0) fatal(LSQ_EXIT_THREAD, "lock");
    if (frame_write(OUT_FD, x->buff, (size_t)x->index) != 0) {
        /* Nobody reads our replies any more: the owner is gone. EPIPE is
         * the expected way to learn it (the port was closed while a
         * request ran), so it exits quietly. The database is not closed
         * here: this may be the reader thread while the worker uses it,
         * and SQLite's journal makes an exit at any point safe. */
        int e = errno;
        if (e == EPIPE) {
            DEBUG("stdout closed, exiting");
            _exit(LSQ_EXIT_WRITE);
        }
        errno = e;
        fatal(LSQ_EXIT_WRITE, "writing a reply");
    }
    (void)pthread_mutex_unlock(&g_write_lock);
}

static void send_error(ei_x_buff *x, long ref, const char *code, const char *fmt, ...)
{
    lsq_error err;
    va_list ap;

    lsq_error_set(&err, code, "%s", "");
    va_start(ap, fmt);
    (void)vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    if (commands_reply_error(x, ref, &err) != 0) fatal(LSQ_EXIT_NOMEM, "encoding a reply");
    send_reply(x);
}

static void send_ok(ei_x_buff *x, long ref)
{
    if (term_reply_begin(x, ref, "ok") != 0 || ei_x_encode_atom(x, "ok") != 0)
        fatal(LSQ_EXIT_NOMEM, "encoding a reply");
    send_reply(x);
}

static void *worker_main(void *arg)
{
    ei_x_buff x;
    job *j;

    (void)arg;
    if (ei_x_new(&x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    for (;;) {
        if (pthread_mutex_lock(&g_queue.lock) != 0) fatal(LSQ_EXIT_THREAD, "lock");
        while (g_queue.head == NULL && !g_queue.shutdown)
            (void)pthread_cond_wait(&g_queue.ready, &g_queue.lock);
        if (g_queue.shutdown) {
            (void)pthread_mutex_unlock(&g_queue.lock);
            break;
        }
        j = g_queue.head;
        g_queue.head = j->next;
        if (g_queue.head == NULL) g_queue.tail = NULL;
        g_queue.running_ref = j->req.ref;
        /* An interrupt meant for the previous request must not hit this one. */
        commands_clear_interrupt(&g_port);
        (void)pthread_mutex_unlock(&g_queue.lock);

        DEBUG("run %ld %s", j->req.ref, j->req.cmd);
        if (commands_dispatch(&g_port, &j->req, &x) != 0)
            fatal(LSQ_EXIT_NOMEM, "encoding a reply");
        send_reply(&x);
        /* Keep a huge reply buffer from pinning memory between requests. */
        if (x.buffsz > 4 * 1024 * 1024) {
            (void)ei_x_free(&x);
            if (ei_x_new(&x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
        }

        if (pthread_mutex_lock(&g_queue.lock) != 0) fatal(LSQ_EXIT_THREAD, "lock");
        g_queue.running_ref = 0;
        (void)pthread_mutex_unlock(&g_queue.lock);
        free(j->frame);
        free(j);
    }
    (void)ei_x_free(&x);
    commands_close_all(&g_port);
    return NULL;
}

/* cancel TargetRef: drop it if still queued (answering it `interrupted`),
 * or interrupt it if it is the one running. */
static void run_cancel(ei_x_buff *x, const lsq_request *r)
{
    int idx = r->idx;
    long long target;
    job *j, *prev = NULL, *found = NULL;

    if (term_decode_int(r->buf, &idx, &target) != 0) {
        send_error(x, r->ref, LSQ_E_BAD_ARGUMENT, "cancel takes an integer ref");
        return;
    }
    if (pthread_mutex_lock(&g_queue.lock) != 0) fatal(LSQ_EXIT_THREAD, "lock");
    for (j = g_queue.head; j != NULL; prev = j, j = j->next) {
        if (j->req.ref != target) continue;
        if (prev) prev->next = j->next; else g_queue.head = j->next;
        if (g_queue.tail == j) g_queue.tail = prev;
        found = j;
        break;
    }
    if (found == NULL && g_queue.running_ref == target && target != 0)
        commands_interrupt(&g_port);
    (void)pthread_mutex_unlock(&g_queue.lock);
    if (found != NULL) {
        send_error(x, found->req.ref, LSQ_E_INTERRUPTED, "cancelled before it ran");
        free(found->frame);
        free(found);
    }
    send_ok(x, r->ref);
}

static void enqueue(char *frame, const lsq_request *req)
{
    job *j = malloc(sizeof *j);

    if (j == NULL) fatal(LSQ_EXIT_NOMEM, "queueing a request");
    j->frame = frame;
    j->req = *req;
    j->next = NULL;
    if (pthread_mutex_lock(&g_queue.lock) != 0) fatal(LSQ_EXIT_THREAD, "lock");
    if (g_queue.tail) g_queue.tail->next = j; else g_queue.head = j;
    g_queue.tail = j;
    (void)pthread_cond_signal(&g_queue.ready);
    (void)pthread_mutex_unlock(&g_queue.lock);
}

static size_t parse_args(int argc, char **argv)
{
    size_t max = LSQ_DEFAULT_MAX_FRAME;
    char *end;
    unsigned long long v;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-frame") == 0 && i + 1 < argc) {
            errno = 0;
            v = strtoull(argv[++i], &end, 10);
            if (errno != 0 || *end != 0 || v < 16 || v > 0x7fffffffULL) {
                fprintf(stderr, "libsql_port: bad --max-frame value\n");
                exit(LSQ_EXIT_USAGE);
            }
            max = (size_t)v;
        } else {
            fprintf(stderr, "usage: libsql_port [--max-frame BYTES]\n");
            exit(LSQ_EXIT_USAGE);
        }
    }
    return max;
}

int main(int argc, char **argv)
{
    size_t max_frame = parse_args(argc, argv), len;
    pthread_t worker;
    ei_x_buff x;
    lsq_request req;
    const char *why;
    char *frame;
    long ref;
    int rc;

    g_debug = getenv("LIBSQL_PORT_DEBUG") != NULL;
    /* A closed stdout must be an error from write(), not a signal. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) fatal(LSQ_EXIT_THREAD, "signal");
    if (pthread_mutex_init(&g_port.conn_lock, NULL) != 0) fatal(LSQ_EXIT_THREAD, "mutex");
    if (ei_init() != 0) fatal(LSQ_EXIT_NOMEM, "ei_init");
    if (ei_x_new(&x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    if (pthread_create(&worker, NULL, worker_main, NULL) != 0) fatal(LSQ_EXIT_THREAD, "thread");

    for (;;) {
        rc = frame_read(IN_FD, max_frame, &frame, &len, &ref);
        if (rc == FRAME_EOF) break;
        if (rc == FRAME_ERROR) fatal(LSQ_EXIT_READ, "reading a request");
        if (rc == FRAME_NOMEM) fatal(LSQ_EXIT_NOMEM, "allocating a request");
        if (rc == FRAME_TOO_LARGE) {
            send_error(&x, ref, LSQ_E_FRAME_TOO_LARGE,
                       "request of %zu bytes is over the %zu-byte frame limit", len, max_frame);
            continue;
        }
        if (term_check(frame, len, &why) != 0 ||
            term_parse_request(frame, len, &req, &why) != 0) {
            send_error(&x, term_peek_ref(frame, len), LSQ_E_BAD_FRAME, "malformed request: %s", why);
            free(frame);
            continue;
        }
        if (commands_kind(&req) == CMD_CONTROL) {
            if (strcmp(req.cmd, "interrupt") == 0) {
                /* Only a request that is running now is interrupted. */
                if (pthread_mutex_lock(&g_queue.lock) != 0) fatal(LSQ_EXIT_THREAD, "lock");
                if (g_queue.running_ref != 0) commands_interrupt(&g_port);
                (void)pthread_mutex_unlock(&g_queue.lock);
                send_ok(&x, req.ref);
            } else {
                run_cancel(&x, &req);
            }
            free(frame);
            continue;
        }
        enqueue(frame, &req);
    }

    /* stdin closed: stop the running statement, drop the rest, close. */
    DEBUG("stdin closed, shutting down");
    if (pthread_mutex_lock(&g_queue.lock) != 0) fatal(LSQ_EXIT_THREAD, "lock");
    g_queue.shutdown = 1;
    if (g_queue.running_ref != 0) commands_interrupt(&g_port);
    (void)pthread_cond_signal(&g_queue.ready);
    (void)pthread_mutex_unlock(&g_queue.lock);
    if (pthread_join(worker, NULL) != 0) fatal(LSQ_EXIT_THREAD, "join");
    while (g_queue.head != NULL) {
        job *j = g_queue.head;
        g_queue.head = j->next;
        free(j->frame);
        free(j);
    }
    (void)ei_x_free(&x);
    return LSQ_EXIT_OK;
}
