/*
 * handlers.h - the command handlers, one per request name (commands.c
 * holds the table). Each decodes its arguments, runs, and leaves exactly
 * one reply in x, returning what it answered: REPLY_OK, REPLY_ERROR or
 * REPLY_NOMEM (reply.h). See run.h for the layering.
 */
#ifndef LSQ_HANDLERS_H
#define LSQ_HANDLERS_H

#include "run.h"

typedef int (*handler_fn)(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* conn_cmds.c: the connection itself. */
int cmd_open(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_close(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_ping(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_info(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_stats(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_set_busy_timeout(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_limit(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_backup(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_rekey(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_reset(lsq_port *p, const lsq_request *r, ei_x_buff *x);
/* Close the open connection, if any (close, and shutdown). 0 or -1. */
int cmd_close_conn(lsq_port *p, lsq_error *err);

/* tx_cmds.c: transaction control, one backend operation each. */
int cmd_begin(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_commit(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_rollback(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_savepoint(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* replica_cmds.c: an embedded replica's sync and state. */
int cmd_sync(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_sync_until(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_replication_index(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_freeze(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* callback_cmds.c: what plugs into SQLite and calls back to Erlang. */
int cmd_create_function(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_delete_function(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_capture(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_set_authorizer(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* sqlite_cmds.c: the SQLite handle itself: extensions, snapshots. */
int cmd_allow_extensions(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_load_extension(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_serialize(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_deserialize(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* exec.c: statements by SQL text. */
int cmd_query(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_execute(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_batch(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_execute_many(lsq_port *p, const lsq_request *r, ei_x_buff *x);
int cmd_execute_script(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* cursors.c: statements and cursors held by id. */
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
