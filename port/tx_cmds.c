/*
 * tx_cmds.c - transaction control: begin, commit, rollback and savepoint
 * operations, each one backend operation. The Erlang side writes no
 * transaction SQL: what a transaction is belongs to the backend (a local
 * file, a server's stream, a replica that forwards writes).
 */
#include "handlers.h"

#include <string.h>

/* The index of atom (at *idx) in names[0..n), or -1. */
static int atom_choice(const char *buf, int *idx, const char *const *names, int n)
{
    char atom[MAXATOMLEN_UTF8];
    int type, size, i;

    if (ei_get_type(buf, idx, &type, &size) != 0 ||
        (type != ERL_ATOM_EXT && type != ERL_SMALL_ATOM_EXT && type != ERL_ATOM_UTF8_EXT &&
         type != ERL_SMALL_ATOM_UTF8_EXT) ||
        ei_decode_atom(buf, idx, atom) != 0)
        return -1;
    for (i = 0; i < n; i++)
        if (strcmp(atom, names[i]) == 0) return i;
    return -1;
}

/* The first argument of a transaction command: a connection must be
 * open, and the atom one of names[0..n). REPLY_OK with *choice and *idx
 * past it, or the error reply (REPLY_ERROR / REPLY_NOMEM). */
static int command_choice(lsq_port *p, const lsq_request *r, ei_x_buff *x, int *idx,
                          const char *const *names, int n, const char *what, int *choice)
{
    int rc = run_need_conn(p, r, x);

    if (rc != REPLY_OK) return rc;
    *choice = atom_choice(r->buf, idx, names, n);
    if (*choice < 0) return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, "%s", what);
    return REPLY_OK;
}

/* {begin, Mode}: deferred | immediate | exclusive | read_only. */
int cmd_begin(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    static const char *const modes[] = { "deferred", "immediate", "exclusive", "read_only" };
    int idx = r->idx, mode, rc;
    lsq_error err;

    rc = command_choice(p, r, x, &idx, modes, 4,
                        "begin takes deferred, immediate, exclusive or read_only", &mode);
    if (rc != REPLY_OK) return rc;
    /* read_only: a deferred transaction whose writes are refused. */
    if (p->be->begin(p->conn, mode == 3 ? LSQ_TX_DEFERRED : mode, mode == 3, &err) != 0)
        return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

/* commit or rollback: end the transaction with the backend's op. */
static int end_transaction(lsq_port *p, const lsq_request *r, ei_x_buff *x,
                           int (*end)(lsq_conn *c, lsq_error *err))
{
    int rc = run_need_conn(p, r, x);
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (end(p->conn, &err) != 0) return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

int cmd_commit(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return end_transaction(p, r, x, p->be != NULL ? p->be->commit : NULL);
}

int cmd_rollback(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return end_transaction(p, r, x, p->be != NULL ? p->be->rollback : NULL);
}

/* A plain identifier: [A-Za-z_][A-Za-z0-9_]*, 1..64 bytes (quoted by the
 * backend, so nothing in it is SQL). */
static int plain_identifier(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 64) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';

        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

/* {savepoint, Op, Name}: Op savepoint | release | rollback_to. */
int cmd_savepoint(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    static const char *const ops[] = { "savepoint", "release", "rollback_to" };
    char name[65], sql[LSQ_SAVEPOINT_SQL_MAX];
    const char *z;
    size_t n;
    int idx = r->idx, op, rc;
    lsq_error err;

    rc = command_choice(p, r, x, &idx, ops, 3,
                        "savepoint takes savepoint, release or rollback_to", &op);
    if (rc != REPLY_OK) return rc;
    if (term_decode_binary(r->buf, &idx, &z, &n) != 0 || !plain_identifier(z, n))
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "a savepoint name is a plain identifier "
                            "([A-Za-z_][A-Za-z0-9_]*, at most 64)");
    memcpy(name, z, n);
    name[n] = 0;
    if (p->be->savepoint(p->conn, op, name, &err) != 0) {
        /* The error names the statement, as for any SQL that failed. */
        lsq_savepoint_sql(op, name, sql);
        err.sql = sql;
        err.sql_len = strlen(sql);
        return reply_error(x, r->ref, &err);
    }
    return reply_ok_atom(x, r->ref);
}
