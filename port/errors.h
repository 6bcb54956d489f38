/*
 * errors.h - error values handed from backends to replies.
 *
 * A database error is data: it travels back as {Ref, error, Map} with
 * code, message and, where known, extended_code, sql and param. This
 * struct carries it from the place it happened to the reply encoder.
 */
#ifndef LSQ_ERRORS_H
#define LSQ_ERRORS_H

#include <ei.h>

/* Client error codes (the Erlang side documents each in format_error). */
#define LSQ_E_BAD_ARGUMENT "bad_argument"
#define LSQ_E_BAD_FRAME "bad_frame"
#define LSQ_E_FRAME_TOO_LARGE "frame_too_large"
#define LSQ_E_CLOSED "closed"
#define LSQ_E_NOT_SUPPORTED "not_supported"
#define LSQ_E_INTERRUPTED "interrupted"
#define LSQ_E_NOMEM "nomem"
#define LSQ_E_MISUSE "misuse"

#define LSQ_ERRMSG_MAX 512

typedef struct lsq_error {
    const char *code;           /* atom name (static string) */
    int extended_code;          /* SQLite extended code, or -1 if none */
    char message[LSQ_ERRMSG_MAX]; /* human sentence, truncated to fit */
    const char *sql;            /* statement text, or NULL (not owned) */
    size_t sql_len;             /* its length */
    long index;                 /* 1-based statement in a batch/script, 0 if none */
} lsq_error;

/* Fill *e with a client error; message printf-style, truncated safely. */
void lsq_error_set(lsq_error *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill *e from a SQLite result code and message. */
void lsq_error_sqlite(lsq_error *e, int rc, const char *msg);

/* Atom for a SQLite result code (primary code of rc). */
const char *lsq_sqlite_code_atom(int rc);

/* Encode the error map as the third element of a reply. 0 or -1. */
int lsq_error_encode(ei_x_buff *x, const lsq_error *e);

#endif
