/*
 * cmd_internal.h - helpers shared by the command handler files
 * (commands.c, exec.c, cursors.c). Not used outside the command layer.
 */
#ifndef LSQ_CMD_INTERNAL_H
#define LSQ_CMD_INTERNAL_H

#include "commands.h"

typedef int (*handler_fn)(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* Decoded parameters; arrays owned here, values point into the frame. */
typedef struct decoded_params {
    lsq_params p;
    lsq_value *values;
    lsq_name *names;
} decoded_params;

/* Decode Params at idx (list, string of small ints, or {named, List}).
 * On success *next (if not NULL) is the index after the term. */
int cmd_decode_params(const char *buf, int idx, decoded_params *d, int *next,
                      lsq_error *err);
void cmd_free_params(decoded_params *d);

/* REPLY_OK if a connection is open; else REPLY_ERROR with the `closed'
 * error in x (or REPLY_NOMEM). */
int cmd_need_conn(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* A statement for sql, from the cache or freshly prepared (counted).
 * *s is NULL for text with no statement. 0, or -1 with *err. */
int cmd_get_stmt(lsq_port *p, const char *sql, size_t n, lsq_stmt **s, lsq_error *err);
/* Give a statement back to the cache (reset first). */
void cmd_put_stmt(lsq_port *p, const char *sql, size_t n, lsq_stmt *s);

#define LSQ_SQL_TYPE_MSG "SQL must be a binary without NUL bytes"

/* The SQL binary at *idx; -1 if not a binary or if it holds a NUL byte. */
int cmd_decode_sql(const char *buf, int *idx, const char **sql, size_t *n);

/* Step s to the end and encode Columns then Rows (two terms), the columns
 * read after the first step. 0, -1 (no memory), 1 (*err). */
int cmd_encode_result(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err);

/* Encode the column names of s as a list. 0, -1 (no memory), 1 (*err). */
int cmd_encode_columns(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err);
/* Step s and encode up to max rows (max < 0: all) as a list of tuples.
 * *pending (in/out): s stands on a row not yet sent, which comes first.
 * *done = 1 when the statement finished. 0, -1 (no memory), 1 (*err). */
int cmd_encode_rows(lsq_port *p, lsq_stmt *s, long long max, int *pending, ei_x_buff *x,
                    int *done, lsq_error *err);

/* Run a statement without parameters to completion, discarding rows. */
int cmd_exec_simple(lsq_port *p, const char *sql, lsq_error *err);

/* Handlers. */
int cmd_query(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_execute(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_batch(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_execute_many(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_execute_script(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_prepare(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_stmt_query(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_stmt_execute(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_finalize(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_cursor_open(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_cursor_fetch(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_cursor_close(lsq_port *p, const lsq_request *r, ei_x_buff *x);
/* Release every handle (cursors' statements go back to the cache). */
void cmd_release_handles(lsq_port *p);

#endif
