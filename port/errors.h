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

/* The error codes: LSQ_E_BAD_ARGUMENT is "bad_argument", LSQ_E_BUSY is
 * "busy", ... one for each code of error_codes.h, the table shared with the
 * Erlang side (which describes each in format_error). Every error code in
 * C is one of these: a code missing from the table does not compile. */
#define LSQ_CLIENT(NAME, atom) extern const char LSQ_E_##NAME[];
#define LSQ_SQLITE(NAME, atom, rc, SQLNAME, from_server) extern const char LSQ_E_##NAME[];
#include "error_codes.h"

#define LSQ_ERRMSG_MAX 2048

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
