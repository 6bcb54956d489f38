/*
 * run.h - what the command handlers share to run SQL (run.c): the
 * connection check, decoding of parameters and SQL text, the statement
 * cache, stepping and the changes rule, and the encoding of columns and
 * rows. Layering of the command files, each using only those below it:
 *
 *   commands.c  the command table and dispatch        (commands_*)
 *   exec.c, cursors.c, conn_cmds.c  the handlers       (cmd_*)
 *   run.c       shared statement helpers               (run_*)
 *   reply.c     the one reply of a request             (reply_*)
 */
#ifndef LSQ_RUN_H
#define LSQ_RUN_H

#include "commands.h"

/* REPLY_OK if a connection is open; else REPLY_ERROR with the `closed'
 * error in x (or REPLY_NOMEM). */
int run_need_conn(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* As run_need_conn, and *db the SQLite handle the connection's statements
 * run on (backend.h, sqlite); REPLY_ERROR `not_supported' where SQL runs
 * on a server. */
struct sqlite3;
int run_need_sqlite(lsq_port *p, const lsq_request *r, ei_x_buff *x, struct sqlite3 **db);

/* Decoded parameters; arrays owned here, values point into the frame. */
typedef struct decoded_params {
    lsq_params p;
    lsq_value *values;
    lsq_name *names;
} decoded_params;

/* Decode Params at idx (list, string of small ints, or {named, List}).
 * On success *next (if not NULL) is the index after the term. */
int run_decode_params(const char *buf, int idx, decoded_params *d, int *next,
                      lsq_error *err);
void run_free_params(decoded_params *d);

#define LSQ_SQL_TYPE_MSG "SQL must be a binary without NUL bytes"

/* The SQL binary at *idx; -1 if not a binary or if it holds a NUL byte. */
int run_decode_sql(const char *buf, int *idx, const char **sql, size_t *n);

/* A statement for sql, from the cache or freshly prepared (counted).
 * *s is NULL for text with no statement. 0, or -1 with *err. */
int run_get_stmt(lsq_port *p, const char *sql, size_t n, lsq_stmt **s, lsq_error *err);
/* Give a statement back to the cache (reset first). */
void run_put_stmt(lsq_port *p, const char *sql, size_t n, lsq_stmt *s);

/* The changes of the statement that just ran, given total_changes from
 * before it: 0 when it changed nothing (sqlite3_changes alone keeps the
 * count of the last write across a later SELECT or DDL). */
long long run_changes(lsq_port *p, long long before);

/* Step s to the end, discarding rows; *changes is its count.
 * 0, or 1 with *err. */
int run_to_end(lsq_port *p, lsq_stmt *s, long long *changes, lsq_error *err);

/* Run a statement without parameters to completion, discarding rows. */
int run_exec_simple(lsq_port *p, const char *sql, lsq_error *err);

/* Step s to the end and encode Columns then Rows (two terms), the columns
 * read after the first step. 0, -1 (no memory), 1 (*err). */
int run_encode_result(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err);

/* Encode the column names of s as a list. 0, -1 (no memory), 1 (*err). */
int run_encode_columns(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err);
/* Step s and encode up to max rows (max < 0: all) as a list of tuples.
 * *pending (in/out): s stands on a row not yet sent, which comes first.
 * *done = 1 when the statement finished. 0, -1 (no memory), 1 (*err). */
int run_encode_rows(lsq_port *p, lsq_stmt *s, long long max, int *pending, ei_x_buff *x,
                    int *done, lsq_error *err);

#endif
