/*
 * main.c - the libsql_port program: who reads stdin, who runs requests.
 *
 * The main thread owns the database connection. It reads a frame from
 * stdin, runs it and writes the reply, with no hand-off between threads:
 * a round trip costs one read and one write. Control commands (interrupt,
 * cancel) must still reach a request that runs for long, so a watchdog
 * thread takes over stdin while one does: each request arms a one-shot
 * timer (timerfd, LONG_REQUEST_MS); if it fires while the request still
 * runs, the watchdog reads frames until it ends: control commands are acted
 * on at once, other requests are queued for the main thread, which empties
 * the queue before it reads stdin again. Short requests never wake it.
 *
 * Between requests the main thread busy-polls stdin for up to --spin-us
 * (frame_io.h) while requests keep coming that fast: on the machines we
 * measured, waking a sleeping port took longer than the round trip itself.
 *
 * Replies from both threads go to stdout under one lock, one whole frame
 * at a time. When stdin closes (the VM or the owning process is gone), the
 * running request is interrupted, queued ones are dropped, the connection
 * is closed and the program exits 0. Exit codes: protocol.h.
 */
#include "backend.h"
#include "commands.h"
#include "events.h"
#include "frame_io.h"
#include "mono_clock.h"
#include "wipe.h"
#include "protocol.h"
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define IN_FD 0
#define OUT_FD 1
#define LONG_REQUEST_MS 2   /* after this, the watchdog watches stdin */
#define WATCH_POLL_MS 10    /* how often it rechecks while watching */
#define MAX_SPIN_US 10000   /* --spin-us upper bound */

static int g_debug; /* LIBSQL_PORT_DEBUG set: trace to stderr */

#define DEBUG(...) do { if (g_debug) { fprintf(stderr, "libsql_port: " __VA_ARGS__); fputc('\n', stderr); } } while (0)

typedef struct job {
    char *frame;        /* the request frame (owned) */
    size_t len;         /* its size */
    lsq_request req;    /* parsed header; points into frame */
    const lsq_command *cmd; /* its table entry (commands_find), or NULL */
    struct job *next;
} job;

static struct {
    pthread_mutex_t lock;   /* guards head, tail, running_ref */
    job *head, *tail;       /* requests read by the watchdog, oldest first */
    long running_ref;       /* ref the main thread is running, 0 if none */
} g_queue = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0 };

static pthread_mutex_t g_read_lock = PTHREAD_MUTEX_INITIALIZER;  /* one reader of stdin */
static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER; /* one writer of stdout */
static atomic_int g_eof;        /* stdin closed (or unreadable) */
static int g_timer_fd = -1;     /* arms the watchdog */
static atomic_int g_timer_armed;        /* the timer is set and has not fired */
static atomic_llong g_run_start_ns;     /* when the running request started */
static size_t g_max_frame;      /* --max-frame */
static long g_spin_us;          /* --spin-us: busy-poll stdin this long (frame_io.h) */
static frame_reader g_in;       /* stdin, read ahead (under g_read_lock) */
static lsq_port g_port;

static _Noreturn void fatal(int code, const char *what)
{
    fprintf(stderr, "libsql_port: fatal: %s (%s)\n", what, strerror(errno));
    _exit(code);
}

static void lock(pthread_mutex_t *m)
{
    if (pthread_mutex_lock(m) != 0) fatal(LSQ_EXIT_THREAD, "lock");
}

static void unlock(pthread_mutex_t *m)
{
    (void)pthread_mutex_unlock(m);
}

static void send_reply(const ei_x_buff *x)
{
    lock(&g_write_lock);
    if (frame_write(OUT_FD, x->buff, (size_t)x->index) != 0) {
        /* Nobody reads our replies any more: the owner is gone. EPIPE is
         * the expected way to learn it (the port was closed while a
         * request ran), so it exits quietly. The database is not closed
         * here: the other thread may be using it, and SQLite's journal
         * makes an exit at any point safe. */
        int e = errno;
        if (e == EPIPE && atomic_load(&g_eof)) {
            /* Shutting down anyway: let main close the database. */
            unlock(&g_write_lock);
            return;
        }
        if (e == EPIPE) {
            DEBUG("stdout closed, exiting");
            _exit(LSQ_EXIT_WRITE);
        }
        errno = e;
        fatal(LSQ_EXIT_WRITE, "writing a reply");
    }
    unlock(&g_write_lock);
}

/* The events writer (events.h): an event is written like a reply, under
 * the same lock, from whichever thread has one. */
static void send_event(const char *frame, size_t len)
{
    ei_x_buff x;

    x.buff = (char *)frame;
    x.buffsz = (int)len;
    x.index = (int)len;
    send_reply(&x);
}

static void send_error(ei_x_buff *x, long ref, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void send_error(ei_x_buff *x, long ref, const char *code, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = reply_verrorf(x, ref, code, fmt, ap);
    va_end(ap);
    if (rc == REPLY_NOMEM) fatal(LSQ_EXIT_NOMEM, "encoding a reply");
    send_reply(x);
}

static void send_ok(ei_x_buff *x, long ref)
{
    if (reply_ok_atom(x, ref) == REPLY_NOMEM) fatal(LSQ_EXIT_NOMEM, "encoding a reply");
    send_reply(x);
}

static void enqueue(job *j)
{
    lock(&g_queue.lock);
    if (g_queue.tail) g_queue.tail->next = j; else g_queue.head = j;
    g_queue.tail = j;
    unlock(&g_queue.lock);
}

static job *dequeue(void)
{
    job *j;

    lock(&g_queue.lock);
    j = g_queue.head;
    if (j != NULL) {
        g_queue.head = j->next;
        if (g_queue.head == NULL) g_queue.tail = NULL;
    }
    unlock(&g_queue.lock);
    return j;
}

/* A request may hold a secret (open's auth_token): its bytes are wiped
 * before the memory goes back (the cost is a fraction of reading them). */
static void free_job(job *j)
{
    wipe(j->frame, j->len);
    free(j->frame);
    free(j);
}

/* Interrupt the running request if its ref is target (0: any). */
static void interrupt_running(long target)
{
    lock(&g_queue.lock);
    if (g_queue.running_ref != 0 && (target == 0 || g_queue.running_ref == target))
        commands_interrupt(&g_port);
    unlock(&g_queue.lock);
}

/* cancel TargetRef: drop it if still queued (answering it `interrupted`),
 * or interrupt it if it is the one running. */
static void run_cancel(ei_x_buff *x, const lsq_request *r)
{
    int idx = r->idx;
    long long target;
    job *j, *prev = NULL, *found = NULL;

    if (term_decode_int(r->buf, &idx, &target) != 0 || target <= 0) {
        send_error(x, r->ref, LSQ_E_BAD_ARGUMENT, "cancel takes a positive integer ref");
        return;
    }
    lock(&g_queue.lock);
    for (j = g_queue.head; j != NULL; prev = j, j = j->next) {
        if (j->req.ref != target) continue;
        if (prev) prev->next = j->next; else g_queue.head = j->next;
        if (g_queue.tail == j) g_queue.tail = prev;
        found = j;
        break;
    }
    if (found == NULL && g_queue.running_ref == target) commands_interrupt(&g_port);
    unlock(&g_queue.lock);
    if (found != NULL) {
        send_error(x, found->req.ref, LSQ_E_INTERRUPTED, "cancelled before it ran");
        free_job(found);
    }
    send_ok(x, r->ref);
}

/* Read one frame (the caller holds g_read_lock) and deal with it: answer
 * malformed frames, run control commands. Returns a worker request to
 * run, or NULL when there is none (also at EOF: g_eof is then set). */
static job *read_request(ei_x_buff *x)
{
    size_t len;
    char *frame;
    long ref;
    const char *why;
    job *j;
    int rc = frame_reader_next(&g_in, g_max_frame, &frame, &len, &ref);

    switch (rc) {
    case FRAME_EOF:
        atomic_store(&g_eof, 1);
        return NULL;
    case FRAME_ERROR:
        /* A read error or a frame cut off: nothing sane can follow. */
        fatal(LSQ_EXIT_READ, "reading a request");
    case FRAME_NOMEM:
        fatal(LSQ_EXIT_NOMEM, "allocating a request");
    case FRAME_TOO_LARGE:
        send_error(x, ref, LSQ_E_FRAME_TOO_LARGE,
                   "request of %zu bytes is over the %zu-byte frame limit", len, g_max_frame);
        return NULL;
    default:
        break;
    }
    j = malloc(sizeof *j);
    if (j == NULL) fatal(LSQ_EXIT_NOMEM, "queueing a request");
    j->frame = frame;
    j->len = len;
    j->next = NULL;
    if (term_check(frame, len, &why) != 0 ||
        term_parse_request(frame, len, &j->req, &why) != 0) {
        send_error(x, term_peek_ref(frame, len), LSQ_E_BAD_FRAME, "malformed request: %s", why);
        free_job(j);
        return NULL;
    }
    j->cmd = commands_find(&j->req);
    if (commands_kind(j->cmd, &j->req) == CMD_CONTROL) {
        if (strcmp(j->req.cmd, "interrupt") == 0) {
            interrupt_running(0); /* only a request running now */
            send_ok(x, j->req.ref);
        } else {
            run_cancel(x, &j->req);
        }
        free_job(j);
        return NULL;
    }
    return j;
}

static void set_timer(long long ns)
{
    struct itimerspec t;

    memset(&t, 0, sizeof t);
    t.it_value.tv_sec = (time_t)(ns / 1000000000LL);
    t.it_value.tv_nsec = (long)(ns % 1000000000LL);
    if (timerfd_settime(g_timer_fd, 0, &t, NULL) != 0) fatal(LSQ_EXIT_THREAD, "timerfd");
}

/* Arm the watchdog: it looks at stdin if this request outlives
 * LONG_REQUEST_MS. The timer is set only when it is not already pending:
 * in a stream of short requests that is once per LONG_REQUEST_MS, not
 * once per request (each timerfd_settime is a system call). When a timer
 * set for an earlier request fires, the watchdog re-arms it for what is
 * left of the running one. */
static void arm_watchdog(void)
{
    atomic_store(&g_run_start_ns, lsq_mono_ns());
    if (!atomic_exchange(&g_timer_armed, 1)) set_timer(LONG_REQUEST_MS * 1000000LL);
}

static int request_running(void)
{
    int r;

    lock(&g_queue.lock);
    r = g_queue.running_ref != 0;
    unlock(&g_queue.lock);
    return r;
}

/* Watches stdin while a long request runs (see the head of this file). */
static void *watchdog_main(void *arg)
{
    struct pollfd tp = { .fd = g_timer_fd, .events = POLLIN };
    struct pollfd in = { .fd = IN_FD, .events = POLLIN };
    unsigned long long expirations;
    long long age;
    ei_x_buff x;
    job *j;

    (void)arg;
    if (ei_x_new(&x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    while (!atomic_load(&g_eof)) {
        if (poll(&tp, 1, -1) < 0) {
            if (errno == EINTR) continue;
            fatal(LSQ_EXIT_THREAD, "poll");
        }
        if (read(g_timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
            fatal(LSQ_EXIT_THREAD, "timerfd read");
        atomic_store(&g_timer_armed, 0);
        if (!request_running()) continue;
        age = lsq_mono_ns() - atomic_load(&g_run_start_ns);
        if (age < LONG_REQUEST_MS * 1000000LL) {
            /* The timer was set for an earlier request: wait out the
             * rest of this one's grace period. */
            if (!atomic_exchange(&g_timer_armed, 1))
                set_timer(LONG_REQUEST_MS * 1000000LL - age);
            continue;
        }
        while (!atomic_load(&g_eof) && request_running()) {
            /* A frame may wait in the read-ahead buffer with nothing left
             * to read on the descriptor (an unlocked peek: at worst it
             * costs one more poll period). */
            if (frame_reader_buffered(&g_in) == 0 && poll(&in, 1, WATCH_POLL_MS) <= 0) continue;
            /* The main thread holds the read lock only when it is not
             * running a request: then stdin is its business. */
            if (pthread_mutex_trylock(&g_read_lock) != 0) break;
            if (request_running()) {
                j = read_request(&x);
                if (j != NULL) enqueue(j);
                if (atomic_load(&g_eof)) interrupt_running(0);
            }
            unlock(&g_read_lock);
        }
    }
    (void)ei_x_free(&x);
    return NULL;
}

static void run(job *j, ei_x_buff *x)
{
    lock(&g_queue.lock);
    g_queue.running_ref = j->req.ref;
    /* An interrupt meant for an earlier request must not hit this one. */
    commands_clear_interrupt(&g_port);
    unlock(&g_queue.lock);
    arm_watchdog();

    DEBUG("run %ld %s", j->req.ref, j->req.cmd);
    if (commands_run(&g_port, j->cmd, &j->req, x) != 0) fatal(LSQ_EXIT_NOMEM, "encoding a reply");

    lock(&g_queue.lock);
    g_queue.running_ref = 0;
    unlock(&g_queue.lock);
    send_reply(x);
    /* Keep a huge reply buffer from pinning memory between requests. */
    if (x->buffsz > 4 * 1024 * 1024) {
        (void)ei_x_free(x);
        if (ei_x_new(x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    }
    free_job(j);
}

/* The value of a numeric option, lo..hi; exits on anything else. */
static unsigned long long arg_value(const char *name, const char *text,
                                    unsigned long long lo, unsigned long long hi)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != 0 || *text == '-' || v < lo || v > hi) {
        fprintf(stderr, "libsql_port: bad %s value\n", name);
        exit(LSQ_EXIT_USAGE);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    int i;

    g_max_frame = LSQ_DEFAULT_MAX_FRAME;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-frame") == 0 && i + 1 < argc) {
            g_max_frame = (size_t)arg_value(argv[i], argv[i + 1], 16, 0x7fffffffULL);
            i++;
        } else if (strcmp(argv[i], "--spin-us") == 0 && i + 1 < argc) {
            g_spin_us = (long)arg_value(argv[i], argv[i + 1], 0, MAX_SPIN_US);
            i++;
        } else {
            fprintf(stderr, "usage: libsql_port [--max-frame BYTES] [--spin-us MICROSECONDS]\n");
            exit(LSQ_EXIT_USAGE);
        }
    }
}

/* Spinning needs a non-blocking stdin: the reader then polls it itself. */
static void set_spin(void)
{
    int fl;

    if (g_spin_us == 0) return;
    fl = fcntl(IN_FD, F_GETFL);
    if (fl < 0 || fcntl(IN_FD, F_SETFL, fl | O_NONBLOCK) != 0) fatal(LSQ_EXIT_THREAD, "fcntl");
    frame_reader_set_spin(&g_in, g_spin_us * 1000LL);
}

int main(int argc, char **argv)
{
    struct itimerspec now;
    pthread_t watchdog;
    ei_x_buff x;
    job *j;

    parse_args(argc, argv);
    g_debug = getenv("LIBSQL_PORT_DEBUG") != NULL;
    /* A closed stdout must be an error from write(), not a signal. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) fatal(LSQ_EXIT_THREAD, "signal");
    /* Past a file-size limit (ulimit -f), write() must fail with EFBIG so
     * the statement fails (SQLite says SQLITE_IOERR_WRITE) instead of the
     * signal killing us. */
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR) fatal(LSQ_EXIT_THREAD, "signal");
    if (lsq_local_setup() != 0) fatal(LSQ_EXIT_THREAD, "sqlite3_config");
    events_set_writer(send_event);
    if (pthread_mutex_init(&g_port.conn_lock, NULL) != 0) fatal(LSQ_EXIT_THREAD, "mutex");
    if (ei_init() != 0) fatal(LSQ_EXIT_NOMEM, "ei_init");
    if (ei_x_new(&x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    if (frame_reader_init(&g_in, IN_FD, 64 * 1024) != 0) fatal(LSQ_EXIT_NOMEM, "read buffer");
    set_spin();
    g_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (g_timer_fd < 0) fatal(LSQ_EXIT_THREAD, "timerfd");
    if (pthread_create(&watchdog, NULL, watchdog_main, NULL) != 0) fatal(LSQ_EXIT_THREAD, "thread");

    while (!atomic_load(&g_eof)) {
        j = dequeue();
        if (j == NULL) {
            lock(&g_read_lock);
            /* Whatever the watchdog read before we took the lock comes first. */
            j = dequeue();
            if (j == NULL) j = read_request(&x);
            unlock(&g_read_lock);
        }
        if (j != NULL) run(j, &x);
    }

    /* stdin closed: drop what is queued, close the database, stop the
     * watchdog (its timer fires at once) and exit. */
    DEBUG("stdin closed, shutting down");
    while ((j = dequeue()) != NULL) free_job(j);
    commands_close_all(&g_port);
    memset(&now, 0, sizeof now);
    now.it_value.tv_nsec = 1;
    if (timerfd_settime(g_timer_fd, 0, &now, NULL) != 0) fatal(LSQ_EXIT_THREAD, "timerfd");
    if (pthread_join(watchdog, NULL) != 0) fatal(LSQ_EXIT_THREAD, "join");
    (void)close(g_timer_fd);
    frame_reader_free(&g_in);
    (void)ei_x_free(&x);
    return LSQ_EXIT_OK;
}
