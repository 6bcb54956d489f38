/*
 * test_frames.c - tests of the frame reader and writer (frame_io.c) over
 * pipe(2): {packet,4} round trips, EOF inside a frame, the read-ahead
 * buffer's wipe of a request's bytes, frames too large, and the spinning
 * reader on a non-blocking pipe. SIGPIPE is ignored by test_port.c's main.
 */
#include "test_util.h"
#include "frame_io.h"
#include "protocol.h"
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);

        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void test_frame_roundtrip(void)
{
    int fds[2];
    char *buf = NULL;
    size_t len = 0;
    long ref = -1;
    unsigned char raw[7];

    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    /* the header is 4 bytes big-endian */
    CHECK(frame_write(fds[1], "abc", 3) == 0);
    CHECK(read(fds[0], raw, 7) == 7);
    CHECK(raw[0] == 0 && raw[1] == 0 && raw[2] == 0 && raw[3] == 3 && memcmp(raw + 4, "abc", 3) == 0);
    /* frames in a row, including an empty one, come back as written */
    CHECK(frame_write(fds[1], "hello", 5) == 0);
    CHECK(frame_write(fds[1], "", 0) == 0);
    CHECK(frame_write(fds[1], "\0\1\2", 3) == 0);
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 5 && buf != NULL && memcmp(buf, "hello", 5) == 0);
    CHECK(ref == LSQ_REF_UNKNOWN);
    free(buf);
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 0 && buf != NULL);
    free(buf);
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 3 && buf != NULL && memcmp(buf, "\0\1\2", 3) == 0);
    free(buf);
    /* a frame of exactly max bytes is accepted */
    {
        char body[1024];

        memset(body, 'm', sizeof body);
        CHECK(frame_write(fds[1], body, sizeof body) == 0);
        CHECK(frame_read(fds[0], sizeof body, &buf, &len, &ref) == FRAME_OK);
        CHECK(len == sizeof body && buf != NULL && memcmp(buf, body, sizeof body) == 0);
        free(buf);
    }
    /* EOF between frames */
    close(fds[1]);
    buf = (char *)1;
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_EOF);
    CHECK(buf == NULL && len == 0);
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_EOF);
    close(fds[0]);
    /* writing to a pipe nobody reads fails (SIGPIPE is ignored) */
    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    close(fds[0]);
    CHECK(frame_write(fds[1], "x", 1) == -1);
    close(fds[1]);
    /* bad descriptors */
    CHECK(frame_read(-1, 1024, &buf, &len, &ref) == FRAME_ERROR);
    CHECK(frame_write(-1, "x", 1) == -1);
}

/* Write raw bytes into a fresh pipe, close it, return the read end. */
static int pipe_with(const void *bytes, size_t n)
{
    int fds[2];

    if (pipe(fds) != 0) return -1;
    if (write_all(fds[1], bytes, n) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    close(fds[1]);
    return fds[0];
}

static void test_frame_eof_inside(void)
{
    static const unsigned char body_cut[] = { 0, 0, 0, 10, 'a', 'b', 'c' };
    static const unsigned char head_cut[] = { 0, 0 };
    static const unsigned char no_body[] = { 0, 0, 0, 1 };
    static const unsigned char big_cut[] = { 0, 0, 0x13, 0x88, 131, ERL_SMALL_TUPLE_EXT, 2,
                                             ERL_SMALL_INTEGER_EXT, 9 }; /* 5000 claimed */
    static const unsigned char good_then_cut[] = { 0, 0, 0, 2, 'o', 'k', 0, 0, 0, 5, 'x' };
    char *buf = (char *)1;
    size_t len = 99;
    long ref = -1;
    int fd;

    fd = pipe_with(body_cut, sizeof body_cut);
    CHECK(fd >= 0);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    CHECK(buf == NULL);
    close(fd);
    fd = pipe_with(head_cut, sizeof head_cut);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    close(fd);
    fd = pipe_with(no_body, sizeof no_body);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    close(fd);
    /* an oversized frame cut short is an error, not "too large" */
    fd = pipe_with(big_cut, sizeof big_cut);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    close(fd);
    fd = pipe_with(good_then_cut, sizeof good_then_cut);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 2 && buf != NULL && memcmp(buf, "ok", 2) == 0);
    free(buf);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    close(fd);
    fd = pipe_with("", 0);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_EOF);
    close(fd);
}

/* A request read through the read-ahead buffer leaves no byte of it
 * there (it may hold an auth token), while the frames after it, read
 * ahead in the same buffer, are still read whole. */
static void test_frame_reader_wipes(void)
{
    static const char bytes[] = "\0\0\0\x0btok-SECRET1\0\0\0\x02ok";
    frame_reader r;
    char *buf = NULL;
    size_t len = 0, i;
    long ref;
    int fd = pipe_with(bytes, sizeof bytes - 1), found = 0;

    CHECK(fd >= 0);
    CHECK(frame_reader_init(&r, fd, 4096) == 0);
    /* The scan below covers the whole buffer, past what was read into it:
     * give that tail defined bytes (valgrind), before any read, so that
     * nothing the reader leaves there is hidden. */
    if (r.buf != NULL) memset(r.buf, 0, r.cap);
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 11 && buf != NULL && memcmp(buf, "tok-SECRET1", 11) == 0);
    free(buf);
    /* The whole input is in the buffer now; the first frame's bytes are not. */
    CHECK(r.end == sizeof bytes - 1);
    for (i = 0; i + 6 <= r.cap; i++)
        if (memcmp(r.buf + i, "SECRET", 6) == 0) found = 1;
    CHECK(!found);
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 2 && buf != NULL && memcmp(buf, "ok", 2) == 0);
    free(buf);
    frame_reader_free(&r);
    close(fd);
}

typedef struct writer {
    int fd;
    const char *const *bodies;
    const size_t *lens;
    int n;
    int failed;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    int i;

    for (i = 0; i < w->n; i++)
        if (frame_write(w->fd, w->bodies[i], w->lens[i]) != 0) w->failed = 1;
    close(w->fd);
    return NULL;
}

/* A writer that sleeps before each step: step i writes bytes[i] (len[i]
 * bytes) after delay_ms[i]; a negative length closes the pipe. */
typedef struct slow_writer {
    int fd;
    int n;
    const int *delay_ms;
    const char *const *bytes;
    const int *len;
    int failed;
} slow_writer;

static void *slow_writer_main(void *arg)
{
    slow_writer *w = arg;
    int i;

    for (i = 0; i < w->n; i++) {
        struct timespec d = { w->delay_ms[i] / 1000, (long)(w->delay_ms[i] % 1000) * 1000000L };

        (void)nanosleep(&d, NULL);
        if (w->len[i] < 0) {
            close(w->fd);
            w->fd = -1;
        } else if (write_all(w->fd, w->bytes[i], (size_t)w->len[i]) != 0) {
            w->failed = 1;
        }
    }
    return NULL;
}

static double thread_cpu_ms(void)
{
    struct timespec t;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return -1;
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The spinning reader on a non-blocking pipe: frames that are there, that
 * come late, that come in pieces and EOF all read as with a blocking one;
 * it spins only after short waits, and a long wait blocks (no CPU). */
static void test_frame_reader_spin(void)
{
    static const int delay[] = { 30, 0, 5, 5, 5 };
    static const char *const bytes[] = { "\0\0\0\4late", "\0\0\0\3", "abc", "\0\0\0\2ok", "" };
    static const int lens[] = { 8, 4, 3, 6, -1 };
    slow_writer w = { -1, 5, delay, bytes, lens, 0 };
    frame_reader r;
    pthread_t th;
    int fds[2], fl;
    char *buf;
    size_t len;
    long ref;
    double cpu0, cpu1;

    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    fl = fcntl(fds[0], F_GETFL);
    CHECK(fl >= 0 && fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) == 0);
    CHECK(frame_reader_init(&r, fds[0], 64) == 0);
    frame_reader_set_spin(&r, 200000); /* 200 us */
    CHECK(r.spin_now == 1);
    /* "hi" is there before the first read */
    CHECK(write_all(fds[1], "\0\0\0\2hi", 6) == 0);
    w.fd = fds[1];
    if (pthread_create(&th, NULL, slow_writer_main, &w) != 0) { CHECK(!"pthread_create"); return; }

    /* "hi" was there at once: no wait, so the next wait spins first */
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 2 && memcmp(buf, "hi", 2) == 0);
    free(buf);
    CHECK(r.spin_now == 1);
    /* "late" comes 30 ms later: the reader spun 200 us, then slept in poll */
    cpu0 = thread_cpu_ms();
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    cpu1 = thread_cpu_ms();
    CHECK(len == 4 && memcmp(buf, "late", 4) == 0);
    free(buf);
    CHECK(cpu1 - cpu0 < 10.0); /* not 30 ms of spinning */
    /* that wait was long: the next one does not spin */
    CHECK(r.spin_now == 0);
    /* a frame whose body comes 5 ms after its header, then another */
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 3 && memcmp(buf, "abc", 3) == 0);
    free(buf);
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 2 && memcmp(buf, "ok", 2) == 0);
    free(buf);
    /* the writer closes: a clean end between frames */
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_EOF);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.failed == 0);
    frame_reader_free(&r);
    close(fds[0]);

    /* spinning off on a non-blocking descriptor: it polls at once */
    {
        static const int d2[] = { 10, 0 };
        static const char *const b2[] = { "\0\0\0\1z", "" };
        static const int l2[] = { 5, -1 };
        slow_writer w2 = { -1, 2, d2, b2, l2, 0 };

        if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
        fl = fcntl(fds[0], F_GETFL);
        CHECK(fl >= 0 && fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) == 0);
        CHECK(frame_reader_init(&r, fds[0], 64) == 0);
        w2.fd = fds[1];
        if (pthread_create(&th, NULL, slow_writer_main, &w2) != 0) { CHECK(!"pthread_create"); return; }
        cpu0 = thread_cpu_ms();
        CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
        cpu1 = thread_cpu_ms();
        CHECK(len == 1 && buf[0] == 'z');
        free(buf);
        CHECK(cpu1 - cpu0 < 5.0);
        CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_EOF);
        CHECK(pthread_join(th, NULL) == 0);
        CHECK(w2.failed == 0);
        frame_reader_free(&r);
        close(fds[0]);
    }
}

static void test_frame_too_large(void)
{
    const size_t max = 1024;
    ei_x_buff big, next, big2;
    char *garbage = malloc(2000), *atmax = malloc(max);
    const char *bodies[6];
    size_t lens[6];
    int fds[2];
    pthread_t th;
    writer w;
    char *buf;
    size_t len;
    long ref;
    char *payload = malloc(200000);
    lsq_request rq;
    const char *why;

    if (garbage == NULL || atmax == NULL || payload == NULL) abort();
    memset(garbage, 0xab, 2000);
    memset(atmax, 'q', max);
    memset(payload, 'p', 200000);
    /* {42, query, <<...>>, []}, 200000 bytes in all */
    req_begin(&big, 42, "query", 2);
    EI(ei_x_encode_binary(&big, payload, 200000 - 18));
    EI(ei_x_encode_empty_list(&big));
    CHECK(big.index == 200000);
    /* {100000, query, <<...>>, []} with the ref in an INTEGER_EXT, 70000 bytes */
    req_begin(&big2, 100000, "query", 2);
    EI(ei_x_encode_binary(&big2, payload, 70000 - 21));
    EI(ei_x_encode_empty_list(&big2));
    CHECK(big2.index == 70000);
    req_begin(&next, 43, "ping", 0);
    bodies[0] = big.buff;  lens[0] = (size_t)big.index;
    bodies[1] = next.buff; lens[1] = (size_t)next.index;
    bodies[2] = garbage;   lens[2] = 2000;
    bodies[3] = big2.buff; lens[3] = (size_t)big2.index;
    bodies[4] = atmax;     lens[4] = max;
    bodies[5] = next.buff; lens[5] = (size_t)next.index;
    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    w.fd = fds[1];
    w.bodies = bodies;
    w.lens = lens;
    w.n = 6;
    w.failed = 0;
    if (pthread_create(&th, NULL, writer_main, &w) != 0) { CHECK(!"pthread_create"); return; }

    buf = (char *)1;
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_TOO_LARGE);
    CHECK(buf == NULL);
    CHECK(ref == 42);
    CHECK(len == 200000);
    /* the next frame is intact */
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == (size_t)next.index && buf != NULL && memcmp(buf, next.buff, len) == 0);
    CHECK(buf != NULL && term_check(buf, len, &why) == 0 &&
          term_parse_request(buf, len, &rq, &why) == 0 && rq.ref == 43 &&
          strcmp(rq.cmd, "ping") == 0);
    free(buf);
    /* garbage over the limit: no ref */
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_TOO_LARGE);
    CHECK(ref == LSQ_REF_UNKNOWN && len == 2000);
    /* over the 64 KiB skip chunk, ref in INTEGER_EXT */
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_TOO_LARGE);
    CHECK(ref == 100000 && len == 70000);
    /* exactly max is fine */
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == max && buf != NULL && buf[0] == 'q' && buf[max - 1] == 'q');
    free(buf);
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == (size_t)next.index && buf != NULL && memcmp(buf, next.buff, len) == 0);
    free(buf);
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_EOF);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.failed == 0);
    close(fds[0]);
    ei_x_free(&big);
    ei_x_free(&big2);
    ei_x_free(&next);
    free(garbage);
    free(atmax);
    free(payload);
}

/* ---- the suite ---------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_frame_roundtrip),
    TEST(test_frame_eof_inside),
    TEST(test_frame_reader_wipes),
    TEST(test_frame_too_large),
    TEST(test_frame_reader_spin),
};

const test_suite frames_suite = SUITE("frames", k_tests);
