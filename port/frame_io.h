/*
 * frame_io.h - {packet,4} framing on file descriptors.
 *
 * A frame is a 4-byte big-endian length and that many bytes. Reading
 * allocates exactly the announced length, and only when it is within the
 * limit; a larger frame is skipped in bounded chunks (its ref peeked from
 * the first bytes) so the port can answer it and stay up.
 */
#ifndef LSQ_FRAME_IO_H
#define LSQ_FRAME_IO_H

#include <stddef.h>

/* The longest pause, in waits, after spins that keep missing: at the cap
 * a connection whose spins all miss spins one budget per 257 waits, and
 * one that starts sending back to back spins again after at most this
 * many requests. */
#define FRAME_SPIN_BACKOFF_MAX 256u

enum {
    FRAME_OK = 0,        /* *buf (malloc'd, caller frees) and *len set */
    FRAME_EOF = 1,       /* clean end of input between frames */
    FRAME_TOO_LARGE = 2, /* frame over max skipped; *ref peeked or 0 */
    FRAME_ERROR = 3,     /* read error, or input ended inside a frame */
    FRAME_NOMEM = 4      /* the frame could not be allocated */
};

int frame_read(int fd, size_t max, char **buf, size_t *len, long *ref);

/* A buffered reader: one read() usually brings a whole frame (header and
 * body), often several; frame_read reads twice per frame. */
typedef struct frame_reader {
    int fd;             /* where frames come from */
    char *buf;          /* read-ahead buffer (cap bytes) */
    size_t cap;         /* its size */
    size_t start, end;  /* unread bytes are buf[start..end) */
    long long spin_ns;  /* spin budget: the most one wait spins (0: never spin) */
    long long wait_start; /* when the current wait first found no input, 0 if not yet */
    int spin_now;       /* the next wait spins (no paused wait left) */
    int in_wait;        /* a wait has begun and its input has not come yet */
    int spinning;       /* the current wait spins until the budget runs out */
    int nonblock;       /* fd is O_NONBLOCK now (as the reader set it) */
    int fd_flags;       /* fd's file status flags, O_NONBLOCK cleared */
    unsigned backoff;   /* waits the next miss pauses: 1, 2, 4 ... (0: none yet) */
    unsigned pause;     /* paused waits left before the next spin (a probe) */
} frame_reader;

/* 0, or -1 if the buffer cannot be allocated. */
int frame_reader_init(frame_reader *r, int fd, size_t cap);
void frame_reader_free(frame_reader *r);
/* As frame_read, through the reader's buffer. The bytes of a frame are
 * zeroed in the buffer as they are taken: no request (a secret) lingers
 * in it. */
int frame_reader_next(frame_reader *r, size_t max, char **buf, size_t *len, long *ref);
/* Busy-poll the descriptor for up to spin_ns before blocking, but only
 * while spinning pays. A wait whose input came within the budget (a hit:
 * the caller sends requests back to back) keeps the reader spinning, since
 * waking a sleeping process costs more than the whole round trip through
 * the pipe. A wait whose input did not (a miss: an idle connection, or
 * more busy connections than cores, each waiting longer than it spins, or
 * a spin whose thread was off its CPU until past the budget because the
 * cores had other work) makes the next 1, 2, 4 ... up to
 * FRAME_SPIN_BACKOFF_MAX waits block at once (doubling while misses
 * follow one another); then one wait spins again (a probe). Each hit
 * halves the pause the next miss brings. While it does not spin the
 * reader keeps the descriptor blocking, so a wait costs one read(2) as
 * with spin 0 (not a read that fails, a poll and a read); it sets
 * O_NONBLOCK again to spin. 0: never spin (the descriptor's flags are left
 * alone). Reads the descriptor's flags; if that fails it never spins. */
void frame_reader_set_spin(frame_reader *r, long long spin_ns);
/* Wait up to ms for input without reading it, spinning first by the same
 * rule (a wait that a frame_reader_next then ends): 1 when input is
 * buffered or the descriptor is readable (or at its end), 0 on timeout,
 * -1 if poll(2) fails. */
int frame_reader_wait(frame_reader *r, int ms);
/* Bytes read ahead and not yet handed out (a frame may be waiting there
 * even when the descriptor is not readable). */
size_t frame_reader_buffered(const frame_reader *r);

/* Write one frame (header and body) completely. 0, or -1 on error. */
int frame_write(int fd, const char *body, size_t len);

#endif
