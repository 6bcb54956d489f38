/*
 * commands.c - the command table and the handlers of worker commands.
 *
 * Each handler receives a request whose term was checked (term_check) and
 * whose argument count matches the table, decodes its arguments, runs them
 * through the open connection's backend and encodes exactly one reply.
 * Bad arguments are answered {Ref, error, #{code => bad_argument}}.
 */
#include "commands.h"
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

typedef int (*handler_fn)(lsq_port *p, const lsq_request *r, ei_x_buff *x);

typedef struct command {
    const char *name;   /* request atom */
    int nargs;          /* exact number of arguments after Ref and Cmd */
    int kind;           /* CMD_WORKER or CMD_CONTROL */
    handler_fn fn;      /* NULL for control commands (run by main.c) */
} command;

static int cmd_open(lsq_port *p, const lsq_request *r, ei_x_buff *x);
static int cmd_close(lsq_port *p, const lsq_request *r, ei_x_buff *x);
static int cmd_ping(lsq_port *p, const lsq_request *r, ei_x_buff *x);
static int cmd_query(lsq_port *p, const lsq_request *r, ei_x_buff *x);
static int cmd_execute(lsq_port *p, const lsq_request *r, ei_x_buff *x);

static const command aCommand[] = {
    { "open", 1, CMD_WORKER, cmd_open },
    { "close", 0, CMD_WORKER, cmd_close },
    { "ping", 0, CMD_WORKER, cmd_ping },
    { "query", 2, CMD_WORKER, cmd_query },
    { "execute", 2, CMD_WORKER, cmd_execute },
    { "interrupt", 0, CMD_CONTROL, NULL },
    { "cancel", 1, CMD_CONTROL, NULL },
};

static const command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof aCommand / sizeof aCommand[0]; i++)
        if (strcmp(aCommand[i].name, name) == 0) return &aCommand[i];
    return NULL;
}

int commands_kind(const lsq_request *r)
{
    const command *c = find_command(r->cmd);

    return c != NULL && c->nargs == r->nargs ? c->kind : CMD_WORKER;
}

int commands_reply_error(ei_x_buff *x, long ref, const lsq_error *e)
{
    if (term_reply_begin(x, ref, "error") != 0) return -1;
    return lsq_error_encode(x, e);
}

static int reply_ok_atom(ei_x_buff *x, long ref)
{
    if (term_reply_begin(x, ref, "ok") != 0) return -1;
    return ei_x_encode_atom(x, "ok");
}

int commands_dispatch(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const command *c = find_command(r->cmd);
    lsq_error err;

    if (c == NULL || c->fn == NULL) {
        lsq_error_set(&err, LSQ_E_BAD_FRAME, "unknown command %.100s", r->cmd);
        return commands_reply_error(x, r->ref, &err);
    }
    if (c->nargs != r->nargs) {
        lsq_error_set(&err, LSQ_E_BAD_FRAME, "command %s takes %d argument%s, %d given",
                      c->name, c->nargs, c->nargs == 1 ? "" : "s", r->nargs);
        return commands_reply_error(x, r->ref, &err);
    }
    return c->fn(p, r, x);
}

void commands_interrupt(lsq_port *p)
{
    if (pthread_mutex_lock(&p->conn_lock) != 0) return;
    if (p->conn != NULL) p->be->interrupt(p->conn);
    (void)pthread_mutex_unlock(&p->conn_lock);
}

void commands_close_all(lsq_port *p)
{
    lsq_error err;
    lsq_conn *c;
    const lsq_backend *be;

    if (pthread_mutex_lock(&p->conn_lock) != 0) return;
    c = p->conn;
    be = p->be;
    p->conn = NULL;
    p->be = NULL;
    (void)pthread_mutex_unlock(&p->conn_lock);
    if (c != NULL) (void)be->close(c, &err);
}

/* ---- open / close / ping -------------------------------------------- */

static int atom_at(const char *buf, int *idx, char *out)
{
    int type, size;

    if (ei_get_type(buf, idx, &type, &size) != 0) return -1;
    if (type != ERL_ATOM_EXT && type != ERL_SMALL_ATOM_EXT &&
        type != ERL_ATOM_UTF8_EXT && type != ERL_SMALL_ATOM_UTF8_EXT)
        return -1;
    return ei_decode_atom(buf, idx, out);
}

/* Decode the open options: a proper list of {Key, Value} pairs. */
static int decode_open_opts(const char *buf, int idx, lsq_open_opts *o, lsq_error *err)
{
    char key[MAXATOMLEN_UTF8];
    const char *path = NULL;
    size_t path_len = 0;
    int n, i, arity, type, size;
    long long ms;

    o->path = NULL;
    o->read_only = 0;
    o->create = 1;
    o->busy_timeout_ms = 5000;
    if (ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(buf, &idx, &n) != 0)
        goto bad;
    for (i = 0; i < n; i++) {
        if (ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
            atom_at(buf, &idx, key) != 0)
            goto bad;
        if (strcmp(key, "path") == 0) {
            if (term_decode_binary(buf, &idx, &path, &path_len) != 0) goto bad_value;
        } else if (strcmp(key, "read_only") == 0) {
            if (term_decode_bool(buf, &idx, &o->read_only) != 0) goto bad_value;
        } else if (strcmp(key, "create") == 0) {
            if (term_decode_bool(buf, &idx, &o->create) != 0) goto bad_value;
        } else if (strcmp(key, "busy_timeout") == 0) {
            if (term_decode_int(buf, &idx, &ms) != 0 || ms < 0 || ms > 0x7fffffff)
                goto bad_value;
            o->busy_timeout_ms = (int)ms;
        } else {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "unknown open option %.100s", key);
            return -1;
        }
    }
    if (n > 0 && ei_decode_list_header(buf, &idx, &n) != 0) goto bad; /* tail [] */
    if (path == NULL) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "open needs a path");
        return -1;
    }
    if (memchr(path, 0, path_len) != NULL) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "path contains a NUL byte");
        return -1;
    }
    o->path = malloc(path_len + 1);
    if (o->path == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    memcpy(o->path, path, path_len);
    o->path[path_len] = 0;
    return 0;
bad_value:
    lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "bad value for open option %s", key);
    return -1;
bad:
    lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "open options must be a list of {Key, Value}");
    return -1;
}

static int cmd_open(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    lsq_open_opts o;
    lsq_error err;
    lsq_conn *c = NULL;
    int rc;

    if (p->conn != NULL) {
        lsq_error_set(&err, LSQ_E_MISUSE, "a connection is already open on this port");
        return commands_reply_error(x, r->ref, &err);
    }
    if (decode_open_opts(r->buf, r->idx, &o, &err) != 0)
        return commands_reply_error(x, r->ref, &err);
    rc = lsq_backend_local.open(&o, &c, &err);
    free(o.path);
    if (rc != 0) return commands_reply_error(x, r->ref, &err);
    if (pthread_mutex_lock(&p->conn_lock) != 0) {
        (void)lsq_backend_local.close(c, &err);
        lsq_error_set(&err, "internal", "lock failed");
        return commands_reply_error(x, r->ref, &err);
    }
    p->be = &lsq_backend_local;
    p->conn = c;
    (void)pthread_mutex_unlock(&p->conn_lock);
    if (term_reply_begin(x, r->ref, "ok") != 0 || ei_x_encode_map_header(x, 1) != 0 ||
        ei_x_encode_atom(x, "mode") != 0 || ei_x_encode_atom(x, p->be->mode) != 0)
        return -1;
    return 0;
}

static int cmd_close(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    lsq_error err;
    lsq_conn *c;
    const lsq_backend *be;

    if (p->conn == NULL) return reply_ok_atom(x, r->ref);
    if (pthread_mutex_lock(&p->conn_lock) != 0) {
        lsq_error_set(&err, "internal", "lock failed");
        return commands_reply_error(x, r->ref, &err);
    }
    c = p->conn;
    be = p->be;
    p->conn = NULL;
    p->be = NULL;
    (void)pthread_mutex_unlock(&p->conn_lock);
    if (be->close(c, &err) != 0) return commands_reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

static int cmd_ping(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    lsq_error err;

    if (p->conn == NULL) {
        lsq_error_set(&err, LSQ_E_CLOSED, "the connection is closed");
        return commands_reply_error(x, r->ref, &err);
    }
    return reply_ok_atom(x, r->ref);
}

/* ---- query / execute ------------------------------------------------- */

/* Decoded parameters of a request; arrays owned here, values point into
 * the request frame. */
typedef struct decoded_params {
    lsq_params p;
    lsq_value *values;
    lsq_name *names;
} decoded_params;

static void free_params(decoded_params *d)
{
    free(d->values);
    free(d->names);
}

static int alloc_params(decoded_params *d, int n, int named, lsq_error *err)
{
    size_t count = n > 0 ? (size_t)n : 1;

    d->values = calloc(count, sizeof *d->values);
    d->names = named ? calloc(count, sizeof *d->names) : NULL;
    if (d->values == NULL || (named && d->names == NULL)) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    d->p.n = (size_t)n;
    d->p.values = d->values;
    d->p.names = d->names;
    return 0;
}

/* Params: [V, ...] (positional; a string of small integers counts too) or
 * {named, [{NameBinary, V}, ...]}. */
static int decode_params(const char *buf, int idx, decoded_params *d, lsq_error *err)
{
    char atom[MAXATOMLEN_UTF8];
    const char *why = NULL;
    int type, size, n, i, arity;

    memset(d, 0, sizeof *d);
    if (ei_get_type(buf, &idx, &type, &size) != 0) goto bad;
    if (type == ERL_NIL_EXT) return alloc_params(d, 0, 0, err);
    if (type == ERL_STRING_EXT) {
        /* [1,2,3] arrives as a string: one byte per integer. */
        if (alloc_params(d, size, 0, err) != 0) return -1;
        for (i = 0; i < size; i++) {
            d->values[i].type = LSQ_INT;
            d->values[i].u.i = (unsigned char)buf[idx + 3 + i];
        }
        return 0;
    }
    if (type == ERL_LIST_EXT) {
        if (ei_decode_list_header(buf, &idx, &n) != 0) goto bad;
        if (alloc_params(d, n, 0, err) != 0) return -1;
        for (i = 0; i < n; i++) {
            if (term_decode_value(buf, &idx, &d->values[i], &why) != 0) {
                lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "parameter %d: %s", i + 1, why);
                return -1;
            }
        }
        if (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_NIL_EXT) goto bad;
        return 0;
    }
    if (type == ERL_SMALL_TUPLE_EXT) {
        if (ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
            atom_at(buf, &idx, atom) != 0 || strcmp(atom, "named") != 0 ||
            ei_get_type(buf, &idx, &type, &size) != 0 ||
            (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
            ei_decode_list_header(buf, &idx, &n) != 0)
            goto bad;
        if (alloc_params(d, n, 1, err) != 0) return -1;
        for (i = 0; i < n; i++) {
            if (ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
                term_decode_binary(buf, &idx, &d->names[i].p, &d->names[i].n) != 0)
                goto bad;
            if (term_decode_value(buf, &idx, &d->values[i], &why) != 0) {
                lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "parameter %.*s: %s",
                              (int)(d->names[i].n > 200 ? 200 : d->names[i].n),
                              d->names[i].p, why);
                return -1;
            }
        }
        if (n > 0 && (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_NIL_EXT))
            goto bad;
        return 0;
    }
bad:
    lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                  "parameters must be a list of values or {named, [{Name, Value}]}");
    return -1;
}

/* Encode {Columns, Rows} while stepping s; on a step error, *err is set and
 * 1 returned (the caller then encodes an error reply instead). */
static int encode_rows(const lsq_backend *be, lsq_stmt *s, ei_x_buff *x, lsq_error *err)
{
    int ncol = be->column_count(s), i, rc;
    const char *name;
    size_t name_len;
    lsq_value v;

    if (ei_x_encode_tuple_header(x, 2) != 0) return -1;
    if (ncol > 0 && ei_x_encode_list_header(x, ncol) != 0) return -1;
    for (i = 0; i < ncol; i++) {
        if (be->column_name(s, i, &name, &name_len) != 0) {
            lsq_error_set(err, LSQ_E_NOMEM, "out of memory reading a column name");
            return 1;
        }
        if (term_encode_binary(x, name, name_len) != 0) return -1;
    }
    if (ei_x_encode_empty_list(x) != 0) return -1;
    for (;;) {
        rc = be->step(s, err);
        if (rc == LSQ_STEP_DONE) break;
        if (rc == LSQ_STEP_ERROR) return 1;
        if (ei_x_encode_list_header(x, 1) != 0 || ei_x_encode_tuple_header(x, ncol) != 0)
            return -1;
        for (i = 0; i < ncol; i++) {
            if (be->column_value(s, i, &v, err) != 0) return 1;
            if (term_encode_value(x, &v) != 0) return -1;
        }
    }
    return ei_x_encode_empty_list(x);
}

/* Run Sql with Params. want_rows: reply {Columns, Rows}; else
 * {Changes, LastInsertRowid}. */
static int run_statement(lsq_port *p, const lsq_request *r, ei_x_buff *x, int want_rows)
{
    const char *sql;
    size_t sql_len;
    int idx = r->idx, rc = 0;
    decoded_params d;
    lsq_stmt *s = NULL;
    lsq_error err;
    long long before, changes;

    memset(&d, 0, sizeof d);
    err.code = NULL;
    if (p->conn == NULL) {
        lsq_error_set(&err, LSQ_E_CLOSED, "the connection is closed");
        return commands_reply_error(x, r->ref, &err);
    }
    if (term_decode_binary(r->buf, &idx, &sql, &sql_len) != 0) {
        lsq_error_set(&err, LSQ_E_BAD_ARGUMENT, "SQL must be a binary");
        return commands_reply_error(x, r->ref, &err);
    }
    if (decode_params(r->buf, idx, &d, &err) != 0) goto error_reply;
    if (p->be->prepare(p->conn, sql, sql_len, &s, &err) != 0) goto error_reply;
    if (s == NULL) {
        /* Nothing but comments or white space: an empty result. */
        if (d.p.n != 0) {
            lsq_error_set(&err, LSQ_E_BAD_ARGUMENT, "the statement takes 0 parameters, %zu given",
                          d.p.n);
            goto error_reply;
        }
        free_params(&d);
        if (term_reply_begin(x, r->ref, "ok") != 0) return -1;
        if (want_rows)
            return ei_x_encode_tuple_header(x, 2) || ei_x_encode_empty_list(x) ||
                   ei_x_encode_empty_list(x) ? -1 : 0;
        return ei_x_encode_tuple_header(x, 2) || ei_x_encode_longlong(x, 0) ||
               ei_x_encode_longlong(x, p->be->last_insert_rowid(p->conn)) ? -1 : 0;
    }
    if (p->be->bind(s, &d.p, &err) != 0) goto error_reply;
    if (term_reply_begin(x, r->ref, "ok") != 0) goto nomem;
    if (want_rows) {
        rc = encode_rows(p->be, s, x, &err);
        if (rc < 0) goto nomem;
        if (rc > 0) goto error_reply;
    } else {
        before = p->be->total_changes(p->conn);
        do {
            rc = p->be->step(s, &err);
        } while (rc == LSQ_STEP_ROW);
        if (rc == LSQ_STEP_ERROR) goto error_reply;
        /* sqlite3_changes keeps the count of the last write even across a
         * later SELECT or DDL: report 0 when this statement changed nothing. */
        changes = p->be->total_changes(p->conn) == before ? 0 : p->be->changes(p->conn);
        if (ei_x_encode_tuple_header(x, 2) != 0 || ei_x_encode_longlong(x, changes) != 0 ||
            ei_x_encode_longlong(x, p->be->last_insert_rowid(p->conn)) != 0)
            goto nomem;
    }
    p->be->finalize(s);
    free_params(&d);
    return 0;
error_reply:
    err.sql = sql;
    err.sql_len = sql_len;
    if (s != NULL) p->be->finalize(s);
    free_params(&d);
    return commands_reply_error(x, r->ref, &err);
nomem:
    if (s != NULL) p->be->finalize(s);
    free_params(&d);
    return -1;
}

static int cmd_query(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return run_statement(p, r, x, 1);
}

static int cmd_execute(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return run_statement(p, r, x, 0);
}
