/*
 * frame_io.c - reading and writing {packet,4} frames, retrying on EINTR
 * and on short reads and writes, and waiting (spinning first, see
 * frame_reader_set_spin) when a non-blocking descriptor has nothing yet.
 */
#include "frame_io.h"
#include "term.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "mono_clock.h"
#include <time.h>
#include <unistd.h>

/* Wait until fd is ready for ev (or poll says it never will be: the next
 * read or write then reports why). 0, or -1 if poll itself fails. */
static int wait_fd(int fd, short ev)
{
    struct pollfd p = { fd, ev, 0 };

    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR) return -1;
    return 0;
}

/* The spin policy (frame_io.h, frame_reader_set_spin). A wait begins when
 * the reader needs input and has none buffered; it spins if no pause is
 * left, else it is one more paused wait. */
static void begin_wait(frame_reader *r)
{
    r->in_wait = 1;
    r->wait_start = 0;
    r->spinning = r->spin_now;
    if (!r->spin_now && --r->pause == 0) r->spin_now = 1;
}

/* A miss: pause the next waits, twice as many as the last miss did
 * (hits in between halve that). */
static void spin_missed(frame_reader *r)
{
    r->spinning = 0;
    r->backoff = r->backoff == 0 ? 1
               : r->backoff >= FRAME_SPIN_BACKOFF_MAX / 2 ? FRAME_SPIN_BACKOFF_MAX
               : r->backoff * 2;
    r->pause = r->backoff;
    r->spin_now = 0;
}

/* The input of a wait that spun came at `now`: within the budget it is a
 * hit, which halves the backoff. Later it is a miss: the thread was off
 * its CPU when the budget ran out (sched_yield gave the CPU to another
 * thread for longer than the budget: the cores are oversubscribed, and a
 * spin there only takes CPU from the threads that would send the input). */
static void spin_ended(frame_reader *r, long long now)
{
    if (now - r->wait_start <= r->spin_ns) r->backoff /= 2;
    else spin_missed(r);
    r->wait_start = 0;
}

/* Input arrived: a wait that spun and found none at first is judged. */
static void input_arrived(frame_reader *r)
{
    if (r->spin_ns <= 0) return;
    if (r->spinning && r->wait_start != 0) spin_ended(r, lsq_mono_ns());
    r->in_wait = 0;
    r->spinning = 0;
    r->wait_start = 0;
}

/* Make fd non-blocking to spin, blocking not to (one read(2) per wait, as
 * with spin 0). If fcntl fails the descriptor stays as it is, and both
 * kinds of wait still work on it: a blocking one blocks in read (no spin,
 * and no hit or miss counted: wait_start stays 0), a non-blocking one
 * polls after its read fails (await_input). */
static void set_nonblock(frame_reader *r, int on)
{
    if (r->nonblock == on) return;
    if (fcntl(r->fd, F_SETFL, r->fd_flags | (on ? O_NONBLOCK : 0)) == 0) r->nonblock = on;
}

/* A read found no input on a non-blocking descriptor. While the wait spins
 * and the budget lasts return at once, so the caller reads again; then
 * block. */
static int await_input(frame_reader *r)
{
    long long now;

    if (r->spinning) {
        now = lsq_mono_ns();
        if (r->wait_start == 0) r->wait_start = now;
        if (now - r->wait_start < r->spin_ns) {
            (void)sched_yield(); /* a thread that wants this CPU gets it */
            return 0;
        }
        spin_missed(r);
    }
    return wait_fd(r->fd, POLLIN);
}

void frame_reader_set_spin(frame_reader *r, long long spin_ns)
{
    int fl;

    r->spin_ns = spin_ns > 0 ? spin_ns : 0;
    r->wait_start = 0;
    r->spin_now = 1;
    r->in_wait = 0;
    r->spinning = 0;
    r->backoff = 0;
    r->pause = 0;
    r->nonblock = 0;
    r->fd_flags = 0;
    if (r->spin_ns == 0) return;
    fl = fcntl(r->fd, F_GETFL);
    if (fl < 0) {
        /* Without its flags the reader cannot switch modes: no spinning. */
        r->spin_ns = 0;
        return;
    }
    r->fd_flags = fl & ~O_NONBLOCK;
    r->nonblock = (fl & O_NONBLOCK) != 0;
}

int frame_reader_wait(frame_reader *r, int ms)
{
    struct pollfd p = { r->fd, POLLIN, 0 };
    int rc;

    if (r->end > r->start) return 1;
    if (r->spin_ns > 0) {
        if (!r->in_wait) begin_wait(r);
        while (r->spinning) {
            rc = poll(&p, 1, 0);
            if (rc > 0) {
                /* Judged now, not at the read that ends the wait (the
                 * caller may take a while to get there). */
                if (r->wait_start != 0) spin_ended(r, lsq_mono_ns());
                return 1;
            }
            if (rc < 0 && errno != EINTR) return -1;
            if (r->wait_start == 0) {
                r->wait_start = lsq_mono_ns();
            } else if (lsq_mono_ns() - r->wait_start >= r->spin_ns) {
                spin_missed(r);
                break;
            }
            (void)sched_yield();
        }
    }
    rc = poll(&p, 1, ms);
    if (rc < 0) return errno == EINTR ? 0 : -1;
    return rc > 0;
}

/* Take exactly n bytes: first what the buffer holds, then from the
 * descriptor (refilling the buffer when what is missing is small, reading
 * straight into dst otherwise). Returns n, 0 on EOF before the first byte,
 * or -1 (error, or EOF part way). */
static ssize_t take(frame_reader *r, void *dst, size_t n)
{
    size_t got = 0, c;
    ssize_t rr;

    while (got < n) {
        if (r->end > r->start) {
            c = r->end - r->start;
            if (c > n - got) c = n - got;
            memcpy((char *)dst + got, r->buf + r->start, c);
            /* A request may hold a secret (open's auth_token): what was
             * read from the buffer does not stay in it. */
            memset(r->buf + r->start, 0, c);
            r->start += c;
            got += c;
            continue;
        }
        if (r->spin_ns > 0) {
            if (!r->in_wait) begin_wait(r);
            set_nonblock(r, r->spinning);
        }
        if (r->cap > 0 && n - got < r->cap) {
            rr = read(r->fd, r->buf, r->cap);
            if (rr > 0) { r->start = 0; r->end = (size_t)rr; input_arrived(r); continue; }
        } else {
            rr = read(r->fd, (char *)dst + got, n - got);
            if (rr > 0) { got += (size_t)rr; input_arrived(r); continue; }
        }
        if (rr == 0) return got == 0 ? 0 : -1;
        if (errno == EINTR) continue;
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && await_input(r) == 0) continue;
        return -1;
    }
    return (ssize_t)n;
}

int frame_reader_init(frame_reader *r, int fd, size_t cap)
{
    r->fd = fd;
    r->start = r->end = 0;
    frame_reader_set_spin(r, 0);
    r->cap = cap;
    r->buf = cap ? malloc(cap) : NULL;
    return cap && r->buf == NULL ? -1 : 0;
}

void frame_reader_free(frame_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

size_t frame_reader_buffered(const frame_reader *r)
{
    return r->end - r->start;
}

int frame_read(int fd, size_t max, char **buf, size_t *len, long *ref)
{
    frame_reader unbuffered = { .fd = fd }; /* no buffer, no spinning */

    return frame_reader_next(&unbuffered, max, buf, len, ref);
}

int frame_reader_next(frame_reader *r, size_t max, char **buf, size_t *len, long *ref)
{
    unsigned char head[4];
    char chunk[64 * 1024]; /* bounded scratch for skipping, never indexed by input */
    size_t n, left, step, peeked;
    ssize_t rr;
    char *b;

    *buf = NULL;
    *len = 0;
    *ref = LSQ_REF_UNKNOWN;
    rr = take(r, head, sizeof head);
    if (rr == 0) return FRAME_EOF;
    if (rr < 0) return FRAME_ERROR;
    n = ((size_t)head[0] << 24) | ((size_t)head[1] << 16) | ((size_t)head[2] << 8) | head[3];
    if (n > max) {
        /* Read the first bytes to learn the ref, then throw the rest away. */
        peeked = n < sizeof chunk ? n : sizeof chunk;
        if (take(r, chunk, peeked) != (ssize_t)peeked) return FRAME_ERROR;
        *ref = term_peek_ref(chunk, peeked);
        for (left = n - peeked; left > 0; left -= step) {
            step = left < sizeof chunk ? left : sizeof chunk;
            if (take(r, chunk, step) != (ssize_t)step) return FRAME_ERROR;
        }
        *len = n;
        return FRAME_TOO_LARGE;
    }
    b = malloc(n ? n : 1);
    if (b == NULL) return FRAME_NOMEM;
    if (n > 0 && take(r, b, n) != (ssize_t)n) {
        free(b);
        return FRAME_ERROR;
    }
    *buf = b;
    *len = n;
    return FRAME_OK;
}

int frame_write(int fd, const char *body, size_t len)
{
    unsigned char head[4];
    struct iovec iov[2];
    int iovcnt = 2, i = 0;
    ssize_t w;

    if (len > UINT32_MAX) return -1;
    head[0] = (unsigned char)(len >> 24);
    head[1] = (unsigned char)(len >> 16);
    head[2] = (unsigned char)(len >> 8);
    head[3] = (unsigned char)len;
    iov[0].iov_base = head;
    iov[0].iov_len = sizeof head;
    iov[1].iov_base = (void *)body;
    iov[1].iov_len = len;
    while (i < iovcnt) {
        w = writev(fd, iov + i, iovcnt - i);
        if (w < 0) {
            if (errno == EINTR) continue;
            /* fd may share a non-blocking open file with the input */
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLOUT) == 0) continue;
            return -1;
        }
        while (i < iovcnt && (size_t)w >= iov[i].iov_len) {
            w -= (ssize_t)iov[i].iov_len;
            i++;
        }
        if (i < iovcnt) {
            iov[i].iov_base = (char *)iov[i].iov_base + w;
            iov[i].iov_len -= (size_t)w;
        }
    }
    return 0;
}
