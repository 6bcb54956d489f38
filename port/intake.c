/*
 * intake.c - stdin: frames read, checked and sorted (intake.h).
 */
#include "intake.h"
#include "fatal.h"
#include "frame_io.h"
#include "protocol.h"
#include "term.h"
#include "wipe.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AWAIT_POLL_MS 10 /* how often a waiting callback rechecks its flags */

static struct {
    pthread_mutex_t lock;   /* guards head, tail, running_ref, answer */
    pthread_cond_t answered; /* an answer, an interrupt or EOF arrived */
    intake_job *head, *tail; /* requests read while another ran, oldest first */
    long running_ref;       /* ref the main thread is running, 0 if none */
    struct {
        unsigned long want; /* the callback id waited for, 0: none */
        char *frame;        /* its answer once read (owned), else NULL */
        size_t len;
    } answer;
} g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, { 0, NULL, 0 } };

static pthread_mutex_t g_read_lock = PTHREAD_MUTEX_INITIALIZER; /* one reader of stdin */
static atomic_int g_eof;         /* stdin closed (or unreadable: g_read_error) */
static atomic_int g_read_error;  /* stdin failed, or ended inside a frame */
static atomic_int g_interrupted; /* the running request was interrupted */
static frame_reader g_in;        /* stdin, read ahead (under g_read_lock) */
static size_t g_max_frame;
static lsq_port *g_port;
static intake_writer g_write;

int intake_init(int fd, size_t max_frame, long spin_us, lsq_port *port, intake_writer w)
{
    if (frame_reader_init(&g_in, fd, 64 * 1024) != 0) return -1;
    if (spin_us > 0) frame_reader_set_spin(&g_in, spin_us * 1000LL);
    g_max_frame = max_frame;
    g_port = port;
    g_write = w;
    atomic_store(&g_eof, 0);
    atomic_store(&g_read_error, 0);
    atomic_store(&g_interrupted, 0);
    return 0;
}

void intake_free_job(intake_job *j)
{
    /* A request may hold a secret (open's auth_token, a key): its bytes
     * are wiped before the memory goes back (the cost is a fraction of
     * reading them). */
    wipe(j->frame, j->len);
    free(j->frame);
    free(j);
}

void intake_free(void)
{
    intake_job *j;

    lock(&g.lock);
    while ((j = g.head) != NULL) {
        g.head = j->next;
        intake_free_job(j);
    }
    g.tail = NULL;
    free(g.answer.frame);
    g.answer.frame = NULL;
    unlock(&g.lock);
    frame_reader_free(&g_in);
}

int intake_eof(void)
{
    return atomic_load(&g_eof);
}

int intake_stopped(void)
{
    return atomic_load(&g_interrupted) || atomic_load(&g_eof);
}

int intake_read_error(void)
{
    return atomic_load(&g_read_error);
}

long intake_running_ref(void)
{
    long r;

    lock(&g.lock);
    r = g.running_ref;
    unlock(&g.lock);
    return r;
}

static void send_x(const ei_x_buff *x)
{
    if (g_write != NULL) g_write(x->buff, (size_t)x->index);
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
    send_x(x);
}

static void send_ok(ei_x_buff *x, long ref)
{
    if (reply_ok_atom(x, ref) == REPLY_NOMEM) fatal(LSQ_EXIT_NOMEM, "encoding a reply");
    send_x(x);
}

static void enqueue(intake_job *j)
{
    lock(&g.lock);
    if (g.tail) g.tail->next = j; else g.head = j;
    g.tail = j;
    unlock(&g.lock);
}

static intake_job *dequeue(void)
{
    intake_job *j;

    lock(&g.lock);
    j = g.head;
    if (j != NULL) {
        g.head = j->next;
        if (g.head == NULL) g.tail = NULL;
    }
    unlock(&g.lock);
    return j;
}

/* Interrupt the running request if its ref is target (0: any); the caller
 * holds g.lock. A callback waiting for its answer is woken to give up. */
static void interrupt_locked(long target)
{
    if (g.running_ref == 0 || (target != 0 && g.running_ref != target)) return;
    commands_interrupt(g_port);
    atomic_store(&g_interrupted, 1);
    (void)pthread_cond_broadcast(&g.answered);
}

/* cancel TargetRef: drop it if still queued (answering it `interrupted`),
 * or interrupt it if it is the one running. */
static void run_cancel(ei_x_buff *x, const lsq_request *r)
{
    int idx = r->idx;
    long long target;
    intake_job *j, *prev = NULL, *found = NULL;

    if (term_decode_int(r->buf, &idx, &target) != 0 || target <= 0) {
        send_error(x, r->ref, LSQ_E_BAD_ARGUMENT, "cancel takes a positive integer ref");
        return;
    }
    lock(&g.lock);
    for (j = g.head; j != NULL; prev = j, j = j->next) {
        if (j->req.ref != target) continue;
        if (prev) prev->next = j->next; else g.head = j->next;
        if (g.tail == j) g.tail = prev;
        found = j;
        break;
    }
    if (found == NULL && target <= LSQ_REF_MAX) interrupt_locked((long)target);
    unlock(&g.lock);
    if (found != NULL) {
        send_error(x, found->req.ref, LSQ_E_INTERRUPTED, "cancelled before it ran");
        intake_free_job(found);
    }
    send_ok(x, r->ref);
}

/* {Ref, answer, Id, Result}: hand the frame to the call waiting for Id.
 * Takes j's frame when it does. No reply: the answer is not a request. */
static void take_answer(intake_job *j)
{
    int idx = j->req.idx;
    long long id;

    if (term_decode_int(j->req.buf, &idx, &id) != 0 || id <= 0) return;
    lock(&g.lock);
    if (g.answer.want == (unsigned long long)id && g.answer.frame == NULL) {
        g.answer.frame = j->frame;
        g.answer.len = j->len;
        j->frame = NULL;
        j->len = 0;
        (void)pthread_cond_broadcast(&g.answered);
    }
    unlock(&g.lock);
}

/* Read one frame (the caller holds g_read_lock) and deal with it: answer
 * malformed frames, run control commands, route answers. Returns a
 * worker request to run, or NULL when there is none (also at EOF: g_eof
 * is then set and any waiting callback woken). */
static intake_job *read_frame(ei_x_buff *x)
{
    size_t len;
    char *frame;
    long ref;
    const char *why;
    intake_job *j;
    int rc = frame_reader_next(&g_in, g_max_frame, &frame, &len, &ref);

    switch (rc) {
    case FRAME_ERROR:
        /* A read error or a frame cut off: nothing sane can follow. It
         * ends the input as EOF does, and the program's exit says why. */
        atomic_store(&g_read_error, 1);
        /* fall through */
    case FRAME_EOF:
        lock(&g.lock);
        atomic_store(&g_eof, 1);
        (void)pthread_cond_broadcast(&g.answered);
        unlock(&g.lock);
        return NULL;
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
        intake_free_job(j);
        return NULL;
    }
    j->cmd = commands_find(&j->req);
    switch (commands_kind(j->cmd, &j->req)) {
    case CMD_CONTROL:
        if (strcmp(j->req.cmd, "interrupt") == 0) {
            lock(&g.lock);
            interrupt_locked(0); /* only a request running now */
            unlock(&g.lock);
            send_ok(x, j->req.ref);
        } else {
            run_cancel(x, &j->req);
        }
        break;
    case CMD_ANSWER:
        take_answer(j);
        break;
    default:
        return j;
    }
    intake_free_job(j);
    return NULL;
}

intake_job *intake_next(ei_x_buff *x)
{
    intake_job *j = dequeue();

    if (j != NULL) return j;
    lock(&g_read_lock);
    /* Whatever the watchdog read before we took the lock comes first. */
    j = dequeue();
    if (j == NULL) j = read_frame(x);
    unlock(&g_read_lock);
    return j;
}

int intake_run(intake_job *j, ei_x_buff *x, void (*started)(void))
{
    int rc;

    lock(&g.lock);
    g.running_ref = j->req.ref;
    /* An interrupt meant for an earlier request must not hit this one. */
    commands_clear_interrupt(g_port);
    atomic_store(&g_interrupted, 0);
    unlock(&g.lock);
    if (started != NULL) started();

    rc = commands_run(g_port, j->cmd, &j->req, x);

    lock(&g.lock);
    g.running_ref = 0;
    unlock(&g.lock);
    return rc;
}

static int running(void)
{
    return intake_running_ref() != 0;
}

static void sleep_ms(int ms)
{
    struct timespec t = { 0, (long)ms * 1000000L };

    (void)nanosleep(&t, NULL);
}

void intake_watch(int poll_ms)
{
    struct pollfd in = { .fd = g_in.fd, .events = POLLIN };
    ei_x_buff x;

    if (ei_x_new(&x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    while (!atomic_load(&g_eof) && running()) {
        /* A frame may wait in the read-ahead buffer with nothing left to
         * read on the descriptor (an unlocked peek: at worst it costs one
         * more poll period). */
        if (frame_reader_buffered(&g_in) == 0 && poll(&in, 1, poll_ms) <= 0) continue;
        /* Held by the main thread between requests (then stdin is its
         * business and running() turns false) or while a callback of the
         * running request waits for its answer (it reads itself: let it). */
        if (pthread_mutex_trylock(&g_read_lock) != 0) {
            sleep_ms(1);
            continue;
        }
        if (running()) {
            intake_job *j = read_frame(&x);
            if (j != NULL) enqueue(j);
            if (atomic_load(&g_eof)) {
                lock(&g.lock);
                interrupt_locked(0);
                unlock(&g.lock);
            }
        }
        unlock(&g_read_lock);
    }
    (void)ei_x_free(&x);
}

/* The outcome of a wait for id, if there is one yet (the caller holds
 * g.lock). -1: none yet. */
static int await_outcome(char **frame, size_t *len)
{
    if (g.answer.frame != NULL) {
        *frame = g.answer.frame;
        *len = g.answer.len;
        g.answer.frame = NULL;
        return INTAKE_ANSWERED;
    }
    if (atomic_load(&g_interrupted)) return INTAKE_INTERRUPTED;
    if (atomic_load(&g_eof)) return INTAKE_EOF;
    return -1;
}

/* Wait (up to ms) for stdin to have a frame. The reader spins first by
 * the rule it follows between requests (frame_io.h): an answer usually
 * comes within tens of microseconds, as the next request does, unless
 * this connection's recent waits were longer than the budget. */
static int stdin_ready(int ms)
{
    return frame_reader_wait(&g_in, ms) > 0;
}

void intake_expect(unsigned long id)
{
    lock(&g.lock);
    free(g.answer.frame);
    g.answer.frame = NULL;
    g.answer.want = id;
    unlock(&g.lock);
}

int intake_await(unsigned long id, char **frame, size_t *len)
{
    ei_x_buff x;
    int rc;

    if (ei_x_new(&x) != 0) fatal(LSQ_EXIT_NOMEM, "reply buffer");
    lock(&g.lock);
    if (g.answer.want != id) {
        /* Not expected (intake_expect): it would be dropped on arrival. */
        unlock(&g.lock);
        (void)ei_x_free(&x);
        return INTAKE_EOF;
    }
    unlock(&g.lock);
    for (;;) {
        lock(&g.lock);
        rc = await_outcome(frame, len);
        unlock(&g.lock);
        if (rc >= 0) break;
        if (pthread_mutex_trylock(&g_read_lock) == 0) {
            /* The watchdog may have read the answer just before. */
            lock(&g.lock);
            rc = await_outcome(frame, len);
            unlock(&g.lock);
            if (rc >= 0) {
                unlock(&g_read_lock);
                break;
            }
            if (stdin_ready(AWAIT_POLL_MS)) {
                intake_job *j = read_frame(&x);
                if (j != NULL) enqueue(j);
            }
            unlock(&g_read_lock);
        } else {
            /* The watchdog is reading a frame: it wakes us if it is ours. */
            struct timespec until;

            (void)clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += AWAIT_POLL_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            lock(&g.lock);
            if (g.answer.frame == NULL && !atomic_load(&g_interrupted) && !atomic_load(&g_eof))
                (void)pthread_cond_timedwait(&g.answered, &g.lock, &until);
            unlock(&g.lock);
        }
    }
    lock(&g.lock);
    g.answer.want = 0;
    /* An answer that came after the interrupt or EOF decided it. */
    free(g.answer.frame);
    g.answer.frame = NULL;
    unlock(&g.lock);
    (void)ei_x_free(&x);
    return rc;
}
