/*
 * cursors.c - statements and cursors held by the Erlang side by id:
 * prepare / stmt_query / stmt_execute / finalize, and cursor_open /
 * cursor_fetch / cursor_close, which step SQLite only as rows are asked for.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

static void release_cursor(lsq_port *p, handle *h);

static int decode_id(const lsq_request *r, int *idx, long long *id)
{
    return term_decode_int(r->buf, idx, id);
}

static int encode_cstr_or_null(ei_x_buff *x, const char *z)
{
    return z == NULL ? ei_x_encode_atom(x, "null") : term_encode_binary(x, z, strlen(z));
}

/* Info of a prepared statement: columns, declared types, parameters. */
static int encode_stmt_info(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err)
{
    const lsq_backend *be = p->be;
    int ncol = be->column_count(s), npar = be->param_count(s), i, rc;

    if (ei_x_encode_map_header(x, 5) != 0 || ei_x_encode_atom(x, "columns") != 0) return -1;
    rc = run_encode_columns(p, s, x, err);
    if (rc != 0) return rc;
    if (ei_x_encode_atom(x, "decltypes") != 0) return -1;
    if (ncol > 0 && ei_x_encode_list_header(x, ncol) != 0) return -1;
    for (i = 0; i < ncol; i++)
        if (encode_cstr_or_null(x, be->column_decltype(s, i)) != 0) return -1;
    if (ei_x_encode_empty_list(x) != 0) return -1;
    if (ei_x_encode_atom(x, "param_count") != 0 || ei_x_encode_long(x, npar) != 0) return -1;
    if (ei_x_encode_atom(x, "param_names") != 0) return -1;
    if (npar > 0 && ei_x_encode_list_header(x, npar) != 0) return -1;
    for (i = 1; i <= npar; i++)
        if (encode_cstr_or_null(x, be->param_name(s, i)) != 0) return -1;
    if (ei_x_encode_empty_list(x) != 0) return -1;
    if (ei_x_encode_atom(x, "readonly") != 0 ||
        ei_x_encode_atom(x, be->readonly(s) ? "true" : "false") != 0)
        return -1;
    return 0;
}

/* {prepare, Sql} -> {Id, Info}. The statement is the caller's until
 * finalize; it is not in the cache. */
int cmd_prepare(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const char *sql;
    size_t n;
    int idx = r->idx, rc = run_need_conn(p, r, x);
    lsq_stmt *s = NULL;
    lsq_error err;
    handle *h;

    if (rc != REPLY_OK) return rc;
    if (run_decode_sql(r->buf, &idx, &sql, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    if (p->be->prepare(p->conn, sql, n, &s, &err) != 0) {
        err.sql = sql;
        err.sql_len = n;
        return reply_error(x, r->ref, &err);
    }
    if (s == NULL)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "the SQL text holds no statement to prepare");
    p->n.prepares++;
    h = handles_add(&p->h, HANDLE_STMT, s, NULL, 0);
    if (h == NULL) {
        p->be->finalize(s);
        return reply_errorf(x, r->ref, LSQ_E_NOMEM, "out of memory");
    }
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0 ||
        ei_x_encode_longlong(x, h->id) != 0)
        return -1;
    rc = encode_stmt_info(p, s, x, &err);
    if (rc > 0) return reply_error(x, r->ref, &err);
    return rc;
}

static handle *find_or_reply(lsq_port *p, const lsq_request *r, int *idx, int kind,
                             ei_x_buff *x, int *rc)
{
    long long id;
    handle *h;

    *rc = 0;
    if (decode_id(r, idx, &id) != 0) {
        *rc = reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, "handle id must be an integer");
        return NULL;
    }
    h = handles_get(&p->h, id, kind);
    if (h == NULL)
        *rc = reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                               kind == HANDLE_STMT
                                   ? "unknown or finalized statement %lld"
                                   : "unknown or closed cursor %lld", id);
    return h;
}

/* {stmt_query | stmt_execute, Id, Params}: a held statement bound and run
 * to the end, answering {Columns, Rows} (want_rows) or {Changes,
 * LastInsertRowid}; reset afterwards, ready for the next run. */
static int run_held(lsq_port *p, const lsq_request *r, ei_x_buff *x, int want_rows)
{
    int idx = r->idx, rc = run_need_conn(p, r, x);
    decoded_params d;
    lsq_error err;
    handle *h;
    long long changes = 0;

    if (rc != REPLY_OK) return rc;
    if ((h = find_or_reply(p, r, &idx, HANDLE_STMT, x, &rc)) == NULL) return rc;
    if (run_decode_params(r->buf, idx, &d, NULL, &err) != 0)
        return reply_error(x, r->ref, &err);
    if (p->be->bind(h->stmt, &d.p, 0, &err) != 0)
        rc = 1;
    else if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0)
        rc = -1;
    else if (want_rows)
        rc = run_encode_result(p, h->stmt, x, &err);
    else if ((rc = run_to_end(p, h->stmt, &changes, &err)) == 0 &&
             (ei_x_encode_longlong(x, changes) != 0 ||
              ei_x_encode_longlong(x, p->be->last_insert_rowid(p->conn)) != 0))
        rc = -1;
    p->be->reset(h->stmt);
    run_free_params(&d);
    if (rc > 0) return reply_error(x, r->ref, &err);
    return rc < 0 ? REPLY_NOMEM : REPLY_OK;
}

int cmd_stmt_query(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return run_held(p, r, x, 1);
}

int cmd_stmt_execute(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return run_held(p, r, x, 0);
}

int cmd_finalize(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int idx = r->idx, rc;
    handle *h;

    if ((h = find_or_reply(p, r, &idx, HANDLE_STMT, x, &rc)) == NULL) return rc;
    p->be->finalize(h->stmt);
    handles_remove(&p->h, h);
    return reply_ok_atom(x, r->ref);
}

/* {cursor_open, Sql, Params} -> {Id, Columns}. Parameters are copied
 * since the request frame is freed before the rows are read. */
int cmd_cursor_open(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const char *sql;
    size_t n;
    char *copy;
    int idx = r->idx, rc = run_need_conn(p, r, x);
    decoded_params d;
    lsq_error err;
    lsq_stmt *s = NULL;
    handle *h;

    if (rc != REPLY_OK) return rc;
    if (run_decode_sql(r->buf, &idx, &sql, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    if (run_decode_params(r->buf, idx, &d, NULL, &err) != 0) goto error;
    /* Compiled afresh rather than taken from the cache: the columns sent
     * now must be those of the current schema, and a cached statement only
     * learns of a schema change when stepped. It joins the cache on close. */
    if (p->be->prepare(p->conn, sql, n, &s, &err) != 0) {
        run_free_params(&d);
        goto error;
    }
    if (s != NULL) p->n.prepares++;
    if (s == NULL) {
        run_free_params(&d);
        lsq_error_set(&err, LSQ_E_BAD_ARGUMENT, "the SQL text holds no statement");
        goto error;
    }
    rc = p->be->bind(s, &d.p, 1, &err);
    run_free_params(&d);
    if (rc != 0) {
        run_put_stmt(p, sql, n, s);
        goto error;
    }

    copy = malloc(n ? n : 1);
    h = copy != NULL ? handles_add(&p->h, HANDLE_CURSOR, s, copy, n) : NULL;
    if (h == NULL) {
        free(copy);
        run_put_stmt(p, sql, n, s);
        return reply_errorf(x, r->ref, LSQ_E_NOMEM, "out of memory");
    }
    memcpy(copy, sql, n);
    if (p->be->steps_at_open != NULL && p->be->steps_at_open(s)) {
        /* A server's statement has no columns until it ran: run it now
         * (its rows arrive in this one response) and fetch from memory. */
        h->started = 1;
        rc = p->be->step(s, &err);
        if (rc == LSQ_STEP_ERROR) {
            release_cursor(p, h);
            goto error;
        }
        h->pending = rc == LSQ_STEP_ROW;
        h->done = rc == LSQ_STEP_DONE;
    }
    /* Locally nothing is stepped until the first fetch. */
    h->ncols = p->be->column_count(s);
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0 ||
        ei_x_encode_longlong(x, h->id) != 0)
        return -1;
    rc = run_encode_columns(p, s, x, &err);
    if (rc > 0) return reply_error(x, r->ref, &err);
    return rc;
error:
    err.sql = sql;
    err.sql_len = n;
    return reply_error(x, r->ref, &err);
}

/* {cursor_fetch, Id, Max} -> {Rows, Done}. */
int cmd_cursor_fetch(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int idx = r->idx, rc = run_need_conn(p, r, x), done = 1;
    long long max;
    lsq_error err;
    handle *h;

    if (rc != REPLY_OK) return rc;
    if ((h = find_or_reply(p, r, &idx, HANDLE_CURSOR, x, &rc)) == NULL) return rc;
    if (term_decode_int(r->buf, &idx, &max) != 0 || max < 1 || max > 100000000)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "fetch size must be an integer 1..100000000");
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0)
        return -1;
    if (!h->done && !h->started) {
        /* The first step recompiles a statement whose schema changed since
         * it was prepared: rows of another shape than the columns sent at
         * open would be wrong, so that is an error. */
        h->started = 1;
        rc = p->be->step(h->stmt, &err);
        if (rc == LSQ_STEP_ROW && p->be->column_count(h->stmt) != h->ncols) {
            lsq_error_set(&err, LSQ_E_SCHEMA, "the result columns changed since the cursor "
                                          "was opened; open it again");
            rc = LSQ_STEP_ERROR;
        }
        if (rc == LSQ_STEP_ERROR) goto failed;
        h->pending = rc == LSQ_STEP_ROW;
        h->done = rc == LSQ_STEP_DONE;
    }
    if (h->done) {
        if (ei_x_encode_empty_list(x) != 0) return -1;
    } else {
        rc = run_encode_rows(p, h->stmt, max, &h->pending, x, &done, &err);
        if (rc < 0) return -1;
        if (rc > 0) goto failed;
        h->done = done;
    }
    return ei_x_encode_atom(x, h->done ? "true" : "false");
failed:
    h->done = 1;
    err.sql = h->sql;
    err.sql_len = h->sql_len;
    return reply_error(x, r->ref, &err);
}

static void release_cursor(lsq_port *p, handle *h)
{
    char *sql = h->sql;

    if (p->cache != NULL) run_put_stmt(p, sql, h->sql_len, h->stmt);
    else p->be->finalize(h->stmt);
    handles_remove(&p->h, h);
    free(sql);
}

/* {cursor_close, Id} -> ok; closing an unknown or closed cursor is ok. */
int cmd_cursor_close(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int idx = r->idx;
    long long id;
    handle *h;

    if (decode_id(r, &idx, &id) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, "cursor id must be an integer");
    h = handles_get(&p->h, id, HANDLE_CURSOR);
    if (h != NULL) release_cursor(p, h);
    return reply_ok_atom(x, r->ref);
}

void cmd_release_handles(lsq_port *p)
{
    while (p->h.n > 0) {
        handle *h = &p->h.a[p->h.n - 1];
        if (h->kind == HANDLE_CURSOR) {
            release_cursor(p, h);
        } else {
            p->be->finalize(h->stmt);
            handles_remove(&p->h, h);
        }
    }
}
