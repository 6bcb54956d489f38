/*
 * The pipe floor: a port program that does no database work at all. It
 * reads {packet,4} frames holding {Ref, ...} (the shape of a libsql_port
 * request), decodes the ref with ei and answers {Ref, ok, ok}, encoded with ei. Timed from Erlang, a round trip
 * through it is the least any port-based call can cost.
 * Exits 0 when stdin closes.
 *
 * echo_port --spin-us N: wait for a request the way libsql_port does by
 * default (port/frame_io.h): read stdin without blocking for up to N us,
 * yielding the CPU between attempts, before blocking in poll. Always
 * spins (libsql_port stops after a long wait; the benchmark never waits).
 */
#include <ei.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long g_spin_ns; /* 0: blocking reads */

static long long now_ns(void)
{
    struct timespec t;

    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* 0 on success, -1 on end of input or error. */
static int read_full(unsigned char *buf, size_t len)
{
    size_t got = 0;
    long long since = 0;

    while (got < len) {
        ssize_t n = read(0, buf + got, len - got);

        if (n == 0) return -1;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) return -1;
            if (since == 0) since = now_ns();
            if (now_ns() - since < g_spin_ns) {
                (void)sched_yield();
            } else {
                struct pollfd p = { 0, POLLIN, 0 };

                if (poll(&p, 1, -1) < 0 && errno != EINTR) return -1;
            }
            continue;
        }
        got += (size_t)n;
        since = 0;
    }
    return 0;
}

static int write_full(const unsigned char *buf, size_t len)
{
    size_t put = 0;

    while (put < len) {
        ssize_t n = write(1, buf + put, len - put);

        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        put += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned char head[4];
    unsigned char *frame = NULL;
    size_t cap = 0;

    if (argc == 3 && strcmp(argv[1], "--spin-us") == 0) {
        int fl = fcntl(0, F_GETFL);

        g_spin_ns = atol(argv[2]) * 1000LL;
        if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) != 0) return 7;
    } else if (argc != 1) {
        fprintf(stderr, "usage: echo_port [--spin-us MICROSECONDS]\n");
        return 5;
    }
    if (ei_init() != 0) return 6;
    for (;;) {
        unsigned char out[64];
        uint32_t len;
        long ref = 0;
        int idx = 0, ver, arity;

        if (read_full(head, 4) != 0) return 0;
        len = ((uint32_t)head[0] << 24) | ((uint32_t)head[1] << 16) |
              ((uint32_t)head[2] << 8) | head[3];
        if (len > cap) {
            unsigned char *p = realloc(frame, len);

            if (p == NULL) return 4;
            frame = p;
            cap = len;
        }
        if (read_full(frame, len) != 0) return 2;
        if (ei_decode_version((char *)frame, &idx, &ver) != 0 ||
            ei_decode_tuple_header((char *)frame, &idx, &arity) != 0 || arity < 1 ||
            ei_decode_long((char *)frame, &idx, &ref) != 0)
            ref = 0;

        /* The reply term, after 4 bytes left for the length. */
        idx = 0;
        if (ei_encode_version((char *)out + 4, &idx) != 0 ||
            ei_encode_tuple_header((char *)out + 4, &idx, 3) != 0 ||
            ei_encode_long((char *)out + 4, &idx, ref) != 0 ||
            ei_encode_atom((char *)out + 4, &idx, "ok") != 0 ||
            ei_encode_atom((char *)out + 4, &idx, "ok") != 0)
            return 4;
        len = (uint32_t)idx;
        out[0] = (unsigned char)(len >> 24);
        out[1] = (unsigned char)(len >> 16);
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        idx += 4;
        if (write_full(out, (size_t)idx) != 0) return 3;
    }
}
