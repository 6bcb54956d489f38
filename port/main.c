/*
 * main.c - the libsql_port program: who reads stdin, who runs requests.
 *
 * The main thread owns the database connection. It reads a frame from
 * stdin, runs it and writes the reply, with no hand-off between threads:
 * a round trip costs one read and one write. What a frame is and what
 * happens to it is intake.c's business; this file has the threads, the
 * timer and stdout. Control commands (interrupt, cancel) must still reach
 * a request that runs for long, so a watchdog thread takes over stdin
 * while one does: each request arms a one-shot timer (timerfd,
 * LONG_REQUEST_MS); if it fires while the request still runs, the
 * watchdog reads frames until it ends: control commands are acted on at
 * once, other requests are queued for the main thread, which empties the
 * queue before it reads stdin again. Short requests never wake it. A
 * callback (channel.h) reads stdin itself while it waits for its answer.
 *
 * Between requests the main thread busy-polls stdin for up to --spin-us
 * (frame_io.h) while requests keep coming that fast: on the machines we
 * measured, waking a sleeping port took longer than the round trip itself.
 *
 * Replies, events and callbacks from every thread go to stdout under one
 * lock, one whole frame at a time. When stdin closes (the VM or the owning process is gone), the
 * running request is interrupted, queued ones are dropped, the connection
 * is closed and the program exits 0. Exit codes: protocol.h.
 */
#include "backend.h"
#include "commands.h"
#include "fatal.h"
#include "channel.h"
#include "frame_io.h"
#include "intake.h"
#include "mono_clock.h"
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

#define STDIN_FD 0
#define STDOUT_FD 1
#define LONG_REQUEST_MS 2   /* after this, the watchdog watches stdin */
#define WATCH_POLL_MS 10    /* how often it rechecks while watching */
#define MAX_SPIN_US 10000   /* --spin-us upper bound */

static int g_debug; /* LIBSQL_PORT_DEBUG set: trace to stderr */

#define DEBUG(...) do { if (g_debug) { fprintf(stderr, "libsql_port: " __VA_ARGS__); fputc('\n', stderr); } } while (0)

static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER; /* one writer of stdout */
static int g_timer_fd = -1;     /* arms the watchdog */
static atomic_int g_timer_armed;        /* the timer is set and has not fired */
static atomic_llong g_run_start_ns;     /* when the running request started */
static size_t g_max_frame;      /* --max-frame */
static long g_spin_us;          /* --spin-us: busy-poll stdin this long (frame_io.h) */
static lsq_port g_port;
static int g_in_fd = STDIN_FD;  /* requests: stdin, or --nif-pipes' pipe */
static int g_out_fd = STDOUT_FD; /* replies: stdout, or --nif-pipes' pipe */
static int g_nif_pipes;         /* --nif-pipes */
static int g_nif_ends[2] = { -1, -1 }; /* the VM's ends, until it opened them */
static atomic_int g_nif_attached;      /* the VM has its ends (stdin_watch_main) */

/* Every frame to stdout, from any thread: replies, events, callbacks,
 * one whole frame at a time under one lock. */
static void write_frame(const char *frame, size_t len)
{
    lock(&g_write_lock);
    if (frame_write(g_out_fd, frame, len) != 0) {
        /* Nobody reads our replies any more: the owner is gone. EPIPE is
         * the expected way to learn it (the port was closed while a
         * request ran), so it exits quietly. The database is not closed
         * here: the other thread may be using it, and SQLite's journal
         * makes an exit at any point safe. */
        int e = errno;
        if (e == EPIPE && intake_eof()) {
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
 * left of the running one. That hand-over needs the request to count as
 * running before the exchange below, so intake_run calls this after it
 * marks it. When our exchange finds the flag still set, the watchdog has
 * yet to clear it; when it does, it then finds this request running and
 * re-arms the timer for it. Armed before the mark, as it was, the
 * watchdog could find no request, re-arm nothing, and leave this one
 * unwatched: a cancel sent meanwhile was read only when it ended. */
static void arm_watchdog(void)
{
    atomic_store(&g_run_start_ns, lsq_mono_ns());
    if (!atomic_exchange(&g_timer_armed, 1)) set_timer(LONG_REQUEST_MS * 1000000LL);
}

/* Watches stdin while a long request runs (see the head of this file). */
static void *watchdog_main(void *arg)
{
    struct pollfd tp = { .fd = g_timer_fd, .events = POLLIN };
    unsigned long long expirations;
    long long age;

    (void)arg;
    while (!intake_eof()) {
        if (poll(&tp, 1, -1) < 0) {
            if (errno == EINTR) continue;
            fatal(LSQ_EXIT_THREAD, "poll");
        }
        if (read(g_timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
            fatal(LSQ_EXIT_THREAD, "timerfd read");
        atomic_store(&g_timer_armed, 0);
        if (intake_running_ref() == 0) continue;
        age = lsq_mono_ns() - atomic_load(&g_run_start_ns);
        if (age < LONG_REQUEST_MS * 1000000LL) {
            /* The timer was set for an earlier request: wait out the
             * rest of this one's grace period. */
            if (!atomic_exchange(&g_timer_armed, 1))
                set_timer(LONG_REQUEST_MS * 1000000LL - age);
            continue;
        }
        intake_watch(WATCH_POLL_MS);
    }
    return NULL;
}

/* --nif-pipes (erl/libsql_nif.erl): requests and replies move to two
 * pipes of ours, which the VM opens through /proc/<pid>/fd/<n> (it is
 * told which in one frame on stdout, {0, nif_pipes, {Pid, ReqW, RespR}}),
 * so that a NIF in the VM can read and write them from any process.
 * The process itself stays the VM's Erlang port: it reaps us, knows our
 * exit status and closes stdin when the connection goes. */
static void open_nif_pipes(void)
{
    int rq[2], rs[2];
    ei_x_buff x;

    /* close-on-exec: an extension's child must not hold them open */
    if (pipe(rq) != 0 || pipe(rs) != 0) fatal(LSQ_EXIT_THREAD, "pipe");
    for (int i = 0; i < 2; i++)
        if (fcntl(rq[i], F_SETFD, FD_CLOEXEC) != 0 || fcntl(rs[i], F_SETFD, FD_CLOEXEC) != 0)
            fatal(LSQ_EXIT_THREAD, "fcntl");
    g_in_fd = rq[0];
    g_out_fd = rs[1];
    g_nif_ends[0] = rq[1];
    g_nif_ends[1] = rs[0];
    /* our pid: the VM's port may be a wrapper that started us */
    if (ei_x_new(&x) != 0 || term_reply_begin(&x, 0, "nif_pipes") != 0 || ei_x_encode_tuple_header(&x, 3) != 0 ||
        ei_x_encode_long(&x, (long)getpid()) != 0 || ei_x_encode_long(&x, rq[1]) != 0 ||
        ei_x_encode_long(&x, rs[0]) != 0)
        fatal(LSQ_EXIT_NOMEM, "nif_pipes frame");
    if (frame_write(STDOUT_FD, x.buff, (size_t)x.index) != 0) fatal(LSQ_EXIT_WRITE, "nif_pipes frame");
    (void)ei_x_free(&x);
}

/* The VM opened its ends (its first request came through them): ours go,
 * so that its closing them is our end of input. */
static void close_nif_ends(void)
{
    atomic_store(&g_nif_attached, 1);
    (void)close(g_nif_ends[0]);
    (void)close(g_nif_ends[1]);
    g_nif_ends[0] = g_nif_ends[1] = -1;
}

/* Under --nif-pipes nothing reads stdin; its end still means the VM (or
 * the connection process) is gone. Before the VM opened the pipes, we
 * hold both ends of each and would never see their end: exit. After,
 * the pipes end too, and the main loop closes the database as usual. */
static void *stdin_watch_main(void *arg)
{
    char b[256];
    ssize_t r;

    (void)arg;
    do {
        r = read(STDIN_FD, b, sizeof b);
    } while (r > 0 || (r < 0 && errno == EINTR));
    if (!atomic_load(&g_nif_attached)) _exit(LSQ_EXIT_OK);
    return NULL;
}

static void run(intake_job *j, ei_x_buff *x)
{
    if (g_nif_ends[0] >= 0) close_nif_ends();
    DEBUG("run %ld %s", j->req.ref, j->req.cmd);
    if (intake_run(j, x, arm_watchdog) != 0) fatal(LSQ_EXIT_NOMEM, "encoding a reply");
    write_frame(x->buff, (size_t)x->index);
    /* Keep a huge reply buffer from pinning memory between requests. */
    if (x->buffsz > 4 * 1024 * 1024) {
        (void)ei_x_free(x);
        if (ei_x_new(x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    }
    intake_free_job(j);
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
        } else if (strcmp(argv[i], "--nif-pipes") == 0) {
            g_nif_pipes = 1;
        } else if (strcmp(argv[i], "--spin-us") == 0 && i + 1 < argc) {
            g_spin_us = (long)arg_value(argv[i], argv[i + 1], 0, MAX_SPIN_US);
            i++;
        } else {
            fprintf(stderr, "usage: libsql_port [--max-frame BYTES] [--spin-us MICROSECONDS] [--nif-pipes]\n");
            exit(LSQ_EXIT_USAGE);
        }
    }
}

/* Spinning needs a non-blocking stdin: the reader then polls it itself. */
static void set_spin(void)
{
    int fl;

    if (g_spin_us == 0) return;
    fl = fcntl(g_in_fd, F_GETFL);
    if (fl < 0 || fcntl(g_in_fd, F_SETFL, fl | O_NONBLOCK) != 0) fatal(LSQ_EXIT_THREAD, "fcntl");
}

int main(int argc, char **argv)
{
    struct itimerspec now;
    pthread_t watchdog;
    ei_x_buff x;
    intake_job *j;

    parse_args(argc, argv);
    g_debug = getenv("LIBSQL_PORT_DEBUG") != NULL;
    if (g_nif_pipes) open_nif_pipes();
    /* A closed stdout must be an error from write(), not a signal. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) fatal(LSQ_EXIT_THREAD, "signal");
    /* Past a file-size limit (ulimit -f), write() must fail with EFBIG so
     * the statement fails (SQLite says SQLITE_IOERR_WRITE) instead of the
     * signal killing us. */
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR) fatal(LSQ_EXIT_THREAD, "signal");
    if (lsq_local_setup() != 0) fatal(LSQ_EXIT_THREAD, "sqlite3_config");
    if (pthread_mutex_init(&g_port.conn_lock, NULL) != 0) fatal(LSQ_EXIT_THREAD, "mutex");
    if (ei_init() != 0) fatal(LSQ_EXIT_NOMEM, "ei_init");
    if (ei_x_new(&x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    set_spin();
    if (intake_init(g_in_fd, g_max_frame, g_spin_us, &g_port, write_frame) != 0)
        fatal(LSQ_EXIT_NOMEM, "read buffer");
    channel_install(write_frame, intake_expect, intake_await, intake_running_ref, intake_stopped);
    g_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (g_timer_fd < 0) fatal(LSQ_EXIT_THREAD, "timerfd");
    if (pthread_create(&watchdog, NULL, watchdog_main, NULL) != 0) fatal(LSQ_EXIT_THREAD, "thread");
    if (g_nif_pipes) {
        pthread_t w;

        if (pthread_create(&w, NULL, stdin_watch_main, NULL) != 0 || pthread_detach(w) != 0)
            fatal(LSQ_EXIT_THREAD, "thread");
    }

    while (!intake_eof()) {
        j = intake_next(&x);
        if (j != NULL) run(j, &x);
    }

    /* stdin closed: drop what is queued, close the database, stop the
     * watchdog (its timer fires at once) and exit. */
    DEBUG("stdin closed, shutting down");
    commands_close_all(&g_port);
    memset(&now, 0, sizeof now);
    now.it_value.tv_nsec = 1;
    if (timerfd_settime(g_timer_fd, 0, &now, NULL) != 0) fatal(LSQ_EXIT_THREAD, "timerfd");
    if (pthread_join(watchdog, NULL) != 0) fatal(LSQ_EXIT_THREAD, "join");
    (void)close(g_timer_fd);
    intake_free();
    (void)ei_x_free(&x);
    if (intake_read_error()) {
        fprintf(stderr, "libsql_port: stdin failed or ended inside a frame\n");
        return LSQ_EXIT_READ;
    }
    return LSQ_EXIT_OK;
}
