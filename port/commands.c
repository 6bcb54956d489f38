/*
 * commands.c - the command table and dispatch: request name -> handler,
 * with the argument count checked in one place before any handler runs,
 * and the calls main.c makes on the port's state (interrupt, shutdown).
 *
 * Each handler (handlers.h) receives a request whose term was checked
 * (term_check) and whose argument count matches the table; it decodes its
 * arguments, encodes exactly one reply and says which (reply.h).
 */
#include "handlers.h"
#include "cdc.h"

#include <stdlib.h>
#include <string.h>

struct lsq_command {
    const char *name;   /* request atom */
    int nargs;          /* exact number of arguments after Ref and Cmd */
    int kind;           /* CMD_WORKER, CMD_CONTROL or CMD_ANSWER */
    handler_fn fn;      /* NULL for control commands and answers (intake.c) */
};
typedef struct lsq_command command;

static const command aCommand[] = {
    { "open", 1, CMD_WORKER, cmd_open },
    { "close", 0, CMD_WORKER, cmd_close },
    { "ping", 0, CMD_WORKER, cmd_ping },
    { "query", 2, CMD_WORKER, cmd_query },
    { "execute", 2, CMD_WORKER, cmd_execute },
    { "batch", 2, CMD_WORKER, cmd_batch },
    { "execute_many", 2, CMD_WORKER, cmd_execute_many },
    { "execute_script", 1, CMD_WORKER, cmd_execute_script },
    { "prepare", 1, CMD_WORKER, cmd_prepare },
    { "stmt_query", 2, CMD_WORKER, cmd_stmt_query },
    { "stmt_execute", 2, CMD_WORKER, cmd_stmt_execute },
    { "finalize", 1, CMD_WORKER, cmd_finalize },
    { "cursor_open", 2, CMD_WORKER, cmd_cursor_open },
    { "cursor_fetch", 2, CMD_WORKER, cmd_cursor_fetch },
    { "cursor_close", 1, CMD_WORKER, cmd_cursor_close },
    { "info", 0, CMD_WORKER, cmd_info },
    { "stats", 0, CMD_WORKER, cmd_stats },
    { "set_busy_timeout", 1, CMD_WORKER, cmd_set_busy_timeout },
    { "limit", 2, CMD_WORKER, cmd_limit },
    { "backup", 2, CMD_WORKER, cmd_backup },
    { "rekey", 1, CMD_WORKER, cmd_rekey },
    { "reset", 0, CMD_WORKER, cmd_reset },
    { "begin", 1, CMD_WORKER, cmd_begin },
    { "commit", 0, CMD_WORKER, cmd_commit },
    { "rollback", 0, CMD_WORKER, cmd_rollback },
    { "savepoint", 2, CMD_WORKER, cmd_savepoint },
    { "sync", 0, CMD_WORKER, cmd_sync },
    { "sync_until", 1, CMD_WORKER, cmd_sync_until },
    { "replication_index", 0, CMD_WORKER, cmd_replication_index },
    { "freeze", 0, CMD_WORKER, cmd_freeze },
    { "create_function", 4, CMD_WORKER, cmd_create_function },
    { "delete_function", 2, CMD_WORKER, cmd_delete_function },
    { "capture", 2, CMD_WORKER, cmd_capture },
    { "set_authorizer", 2, CMD_WORKER, cmd_set_authorizer },
    { "allow_extensions", 1, CMD_WORKER, cmd_allow_extensions },
    { "load_extension", 2, CMD_WORKER, cmd_load_extension },
    { "serialize", 0, CMD_WORKER, cmd_serialize },
    { "deserialize", 1, CMD_WORKER, cmd_deserialize },
    { "interrupt", 0, CMD_CONTROL, NULL },
    { "cancel", 1, CMD_CONTROL, NULL },
    { "answer", 2, CMD_ANSWER, NULL },
};

static const command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof aCommand / sizeof aCommand[0]; i++)
        if (strcmp(aCommand[i].name, name) == 0) return &aCommand[i];
    return NULL;
}

const lsq_command *commands_find(const lsq_request *r)
{
    return find_command(r->cmd);
}

int commands_kind(const lsq_command *c, const lsq_request *r)
{
    return c != NULL && c->nargs == r->nargs ? c->kind : CMD_WORKER;
}

int commands_run(lsq_port *p, const lsq_command *c, const lsq_request *r, ei_x_buff *x)
{
    int rc;

    p->n.requests++;
    if (c == NULL)
        rc = reply_errorf(x, r->ref, LSQ_E_BAD_FRAME, "unknown command %.100s", r->cmd);
    else if (c->nargs != r->nargs)
        rc = reply_errorf(x, r->ref, LSQ_E_BAD_FRAME, "command %s takes %d argument%s, %d given",
                          c->name, c->nargs, c->nargs == 1 ? "" : "s", r->nargs);
    else if (c->fn == NULL) /* control commands and answers: intake.c, never here */
        rc = reply_errorf(x, r->ref, LSQ_E_BAD_FRAME, "%s is not a worker command", c->name);
    else
        rc = c->fn(p, r, x);
    /* What the request committed goes out before its reply. */
    cdc_flush(p);
    if (rc == REPLY_ERROR) p->n.errors++;
    return rc == REPLY_NOMEM ? -1 : 0;
}

int commands_dispatch(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return commands_run(p, commands_find(r), r, x);
}

void commands_interrupt(lsq_port *p)
{
    if (pthread_mutex_lock(&p->conn_lock) != 0) return;
    if (p->conn != NULL) p->be->interrupt(p->conn);
    (void)pthread_mutex_unlock(&p->conn_lock);
}

void commands_clear_interrupt(lsq_port *p)
{
    if (pthread_mutex_lock(&p->conn_lock) != 0) return;
    if (p->conn != NULL) p->be->clear_interrupt(p->conn);
    (void)pthread_mutex_unlock(&p->conn_lock);
}

void commands_close_all(lsq_port *p)
{
    lsq_error err;

    (void)cmd_close_conn(p, &err);
    free(p->h.a);
    p->h.a = NULL;
    p->h.n = p->h.cap = 0;
}
