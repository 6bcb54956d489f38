/*
 * test_spin.c - the frame reader's spin policy (frame_io.h,
 * frame_reader_set_spin) over pipe(2): a wait the budget does not cover
 * pauses spinning for 1, 2, 4 ... up to FRAME_SPIN_BACKOFF_MAX waits, a
 * wait it covers halves that backoff (input that comes later than the
 * budget is a miss however it spun), a paused wait blocks in read(2) on a
 * blocking descriptor, a spinning one reads a non-blocking descriptor, and
 * frame_reader_wait (intake.c's wait for a callback's answer) follows the
 * same rule. Misses are made with frame_reader_wait(r, 0) on an empty
 * pipe (nothing comes, whatever the machine's load); hits with a writer
 * thread and a budget far longer than its delay.
 */
#include "test_util.h"
#include "frame_io.h"
#include "mono_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The descriptor's O_NONBLOCK: 1, 0, or -1 if fcntl fails. */
static int nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : (fl & O_NONBLOCK) != 0;
}

/* Write the frame "x" whole; 0 or -1. */
static int put_frame(int fd)
{
    return write(fd, "\0\0\0\1x", 5) == 5 ? 0 : -1;
}

/* Read one frame and check it is "x". */
static void take_frame(frame_reader *r)
{
    char *buf = NULL;
    size_t len = 0;
    long ref;

    CHECK(frame_reader_next(r, 64, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 1 && buf != NULL && buf[0] == 'x');
    free(buf);
}

/* One wait that finds nothing: frame_reader_wait spins its budget (if the
 * policy says so) and times out at once; then a frame ends the wait. */
static void empty_wait(frame_reader *r, int wfd)
{
    CHECK(frame_reader_wait(r, 0) == 0);
    CHECK(put_frame(wfd) == 0);
    take_frame(r);
}

typedef struct late_writer {
    int fd;
    int delay_ms;
    int failed;
} late_writer;

static void *late_writer_main(void *arg)
{
    late_writer *w = arg;
    struct timespec d = { 0, (long)w->delay_ms * 1000000L };

    (void)nanosleep(&d, NULL);
    if (put_frame(w->fd) != 0) w->failed = 1;
    return NULL;
}

/* One wait whose frame comes delay_ms later, through frame_reader_next
 * (use_wait 0) or frame_reader_wait then frame_reader_next (1). */
static void late_wait(frame_reader *r, int wfd, int delay_ms, int use_wait)
{
    late_writer w = { wfd, delay_ms, 0 };
    pthread_t th;

    if (pthread_create(&th, NULL, late_writer_main, &w) != 0) { CHECK(!"pthread_create"); return; }
    if (use_wait) CHECK(frame_reader_wait(r, 10000) == 1);
    take_frame(r);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.failed == 0);
}

/* Misses double the pause up to the cap, each pause is exactly that many
 * waits, and every wait is spun or paused as the counts say. */
static void test_spin_backoff(void)
{
    frame_reader r;
    int fds[2], fl;
    unsigned expect = 1, i, waits;

    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    /* non-blocking, as main.c leaves stdin when it spins */
    fl = fcntl(fds[0], F_GETFL);
    CHECK(fl >= 0 && fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) == 0);
    CHECK(frame_reader_init(&r, fds[0], 64) == 0);
    frame_reader_set_spin(&r, 20000); /* 20 us */
    CHECK(r.spin_now == 1 && r.backoff == 0 && r.pause == 0);
    for (;;) {
        empty_wait(&r, fds[1]); /* a probe: it spins, nothing comes */
        CHECK(r.backoff == expect && r.pause == expect);
        CHECK(r.spin_now == 0);
        /* the read that ended the missed wait did not spin: blocking */
        CHECK(nonblocking(fds[0]) == 0);
        for (waits = 0; !r.spin_now && waits < 2 * FRAME_SPIN_BACKOFF_MAX; waits++)
            empty_wait(&r, fds[1]);
        CHECK(waits == expect);
        CHECK(nonblocking(fds[0]) == 0);
        if (expect == FRAME_SPIN_BACKOFF_MAX) break;
        expect *= 2;
    }
    /* at the cap it stays there */
    empty_wait(&r, fds[1]);
    CHECK(r.backoff == FRAME_SPIN_BACKOFF_MAX);
    for (i = 0; i < FRAME_SPIN_BACKOFF_MAX && !r.spin_now; i++) empty_wait(&r, fds[1]);
    CHECK(r.spin_now == 1);
    frame_reader_free(&r);
    close(fds[0]);
    close(fds[1]);
}

/* Hits halve the backoff, back to spinning on every wait; a spinning wait
 * reads a non-blocking descriptor (the reader set O_NONBLOCK itself). A
 * budget of 10 s against a 20 ms writer makes each probe a hit however
 * slow the machine is. */
static void test_spin_hits(void)
{
    frame_reader r;
    int fds[2];
    unsigned i, expect;

    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    CHECK(frame_reader_init(&r, fds[0], 64) == 0);
    frame_reader_set_spin(&r, 20000);
    /* three misses in a row (each probe after its pause): backoff 4 */
    for (i = 0; i < 1 + 1 + 1 + 2 + 1; i++) empty_wait(&r, fds[1]);
    CHECK(r.backoff == 4 && r.pause == 4);
    while (!r.spin_now) empty_wait(&r, fds[1]);
    r.spin_ns = 10000000000LL;
    for (expect = 2;; expect /= 2) {
        late_wait(&r, fds[1], 20, 0);
        CHECK(r.backoff == expect);
        CHECK(r.spin_now == 1); /* no pause after a hit */
        CHECK(nonblocking(fds[0]) == 1);
        if (expect == 0) break;
    }
    /* the same through frame_reader_wait: hits keep it at 0 */
    late_wait(&r, fds[1], 20, 1);
    CHECK(r.backoff == 0 && r.spin_now == 1);
    /* a miss after hits starts again at 1 */
    r.spin_ns = 20000;
    empty_wait(&r, fds[1]);
    CHECK(r.backoff == 1 && r.spin_now == 0);
    while (!r.spin_now) empty_wait(&r, fds[1]);
    /* Input that came after the budget to a wait that spun (its thread was
     * off the CPU past the budget, which no test can arrange) is a miss:
     * the wait is set up as if it had spun from 1 ms ago. */
    CHECK(put_frame(fds[1]) == 0);
    r.in_wait = 1;
    r.spinning = 1;
    r.wait_start = lsq_mono_ns() - 1000000;
    take_frame(&r);
    CHECK(r.backoff == 2 && r.pause == 2 && r.spin_now == 0);
    frame_reader_free(&r);
    close(fds[0]);
    close(fds[1]);
}

/* frame_reader_wait: buffered input and the end of input are ready at
 * once; a wait that gives up (timeout) and is taken up again is still one
 * wait; spin 0 never touches the descriptor's flags. */
static void test_spin_wait(void)
{
    frame_reader r;
    int fds[2];

    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    CHECK(frame_reader_init(&r, fds[0], 64) == 0);
    frame_reader_set_spin(&r, 20000);
    /* two frames in one read: the second is buffered */
    CHECK(put_frame(fds[1]) == 0 && put_frame(fds[1]) == 0);
    take_frame(&r);
    CHECK(frame_reader_buffered(&r) == 5);
    CHECK(frame_reader_wait(&r, 0) == 1);
    take_frame(&r);
    /* a wait that times out twice is one miss, not two */
    CHECK(frame_reader_wait(&r, 0) == 0);
    CHECK(frame_reader_wait(&r, 1) == 0);
    CHECK(r.backoff == 1 && r.pause == 1);
    CHECK(put_frame(fds[1]) == 0);
    CHECK(frame_reader_wait(&r, 0) == 1);
    take_frame(&r);
    CHECK(r.spin_now == 0 && r.pause == 1); /* the missed wait is not a paused one */
    /* the writer is gone: readable (EOF) at once (a paused wait) */
    close(fds[1]);
    CHECK(frame_reader_wait(&r, 1000) == 1);
    {
        char *buf;
        size_t len;
        long ref;

        CHECK(frame_reader_next(&r, 64, &buf, &len, &ref) == FRAME_EOF);
    }
    frame_reader_free(&r);
    close(fds[0]);

    /* spin 0: the flags stay as they were, frame_reader_wait only polls */
    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    CHECK(frame_reader_init(&r, fds[0], 64) == 0);
    frame_reader_set_spin(&r, 0);
    CHECK(frame_reader_wait(&r, 0) == 0);
    CHECK(put_frame(fds[1]) == 0);
    CHECK(frame_reader_wait(&r, 1000) == 1);
    take_frame(&r);
    CHECK(nonblocking(fds[0]) == 0);
    CHECK(r.backoff == 0 && r.spin_now == 1);
    frame_reader_free(&r);
    close(fds[0]);
    close(fds[1]);
}

/* ---- the suite ---------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_spin_backoff),
    TEST(test_spin_hits),
    TEST(test_spin_wait),
};

const test_suite spin_suite = SUITE("spin", k_tests);
