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
    long long spin_ns;  /* spin budget on a non-blocking fd (0: poll at once) */
    long long wait_start; /* when the current wait for input began, 0 if none */
    int spin_now;       /* spin on the next wait: the last one was short */
} frame_reader;

/* 0, or -1 if the buffer cannot be allocated. */
int frame_reader_init(frame_reader *r, int fd, size_t cap);
void frame_reader_free(frame_reader *r);
/* As frame_read, through the reader's buffer. The bytes of a frame are
 * zeroed in the buffer as they are taken: no request (a secret) lingers
 * in it. */
int frame_reader_next(frame_reader *r, size_t max, char **buf, size_t *len, long *ref);
/* Busy-poll a non-blocking descriptor for up to spin_ns before blocking in
 * poll(2), but only while the waits stay that short (a caller sending
 * requests back to back): waking a sleeping process costs more than the
 * whole round trip through the pipe. After a longer wait the reader blocks
 * at once, so an idle connection burns no CPU. 0: never spin. */
void frame_reader_set_spin(frame_reader *r, long long spin_ns);
/* Bytes read ahead and not yet handed out (a frame may be waiting there
 * even when the descriptor is not readable). */
size_t frame_reader_buffered(const frame_reader *r);

/* Write one frame (header and body) completely. 0, or -1 on error. */
int frame_write(int fd, const char *body, size_t len);

#endif
