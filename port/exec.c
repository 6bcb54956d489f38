/*
 * exec.c - the statement commands: query, execute, batch, execute_many
 * and execute_script.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

/* Run one statement with its parameters. With x, encode {Columns, Rows}
 * (want_rows) or {Changes, LastInsertRowid}; *changes is set either way.
 * 0, -1 (no memory), 1 (*err set). */
static int run_one(lsq_port *p, const char *sql, size_t n, const lsq_params *params,
                   int want_rows, ei_x_buff *x, long long *changes, lsq_error *err)
{
    lsq_stmt *s = NULL;
    long long before;
    int rc;

    *changes = 0;
    if (run_get_stmt(p, sql, n, &s, err) != 0) return 1;
    if (s == NULL) {
        if (params->n != 0) {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                          "the statement takes 0 parameters, %zu given", params->n);
            return 1;
        }
        if (x == NULL) return 0;
        if (want_rows) return ei_x_encode_empty_list(x) || ei_x_encode_empty_list(x) ? -1 : 0;
        return ei_x_encode_longlong(x, 0) ||
               ei_x_encode_longlong(x, p->be->last_insert_rowid(p->conn)) ? -1 : 0;
    }
    if (p->be->bind(s, params, 0, err) != 0) {
        run_put_stmt(p, sql, n, s);
        return 1;
    }
    if (want_rows) {
        before = p->be->total_changes(p->conn);
        rc = run_encode_result(p, s, x, err);
        if (rc == 0) *changes = run_changes(p, before);
    } else {
        rc = run_to_end(p, s, changes, err);
        if (rc == 0 && x != NULL &&
            (ei_x_encode_longlong(x, *changes) != 0 ||
             ei_x_encode_longlong(x, p->be->last_insert_rowid(p->conn)) != 0))
            rc = -1;
    }
    run_put_stmt(p, sql, n, s);
    return rc;
}

static int reply_stmt_error(ei_x_buff *x, long ref, lsq_error *err, const char *sql, size_t n)
{
    err->sql = sql;
    err->sql_len = n;
    return reply_error(x, ref, err);
}

static int query_or_execute(lsq_port *p, const lsq_request *r, ei_x_buff *x, int want_rows)
{
    const char *sql;
    size_t n;
    int idx = r->idx, rc = run_need_conn(p, r, x);
    decoded_params d;
    lsq_error err;
    long long changes;

    if (rc != REPLY_OK) return rc;
    if (run_decode_sql(r->buf, &idx, &sql, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    if (run_decode_params(r->buf, idx, &d, NULL, &err) != 0)
        return reply_stmt_error(x, r->ref, &err, sql, n);
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0) {
        run_free_params(&d);
        return -1;
    }
    rc = run_one(p, sql, n, &d.p, want_rows, x, &changes, &err);
    run_free_params(&d);
    if (rc > 0) return reply_stmt_error(x, r->ref, &err, sql, n);
    return rc;
}

int cmd_query(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return query_or_execute(p, r, x, 1);
}

int cmd_execute(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    return query_or_execute(p, r, x, 0);
}

/* ---- batches: decode, the backend's run_batch, encode ------------------------ */

/* Items decoded from the request, parameters pointing into it. */
typedef struct batch_items {
    lsq_batch_item *items;
    decoded_params *params;
    size_t n;            /* items decoded */
    lsq_error err;       /* why decoding stopped early (bad == 1) */
    int bad;             /* item n + 1 could not be decoded */
} batch_items;

static void free_items(batch_items *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) run_free_params(&b->params[i]);
    free(b->items);
    free(b->params);
    b->items = NULL;
    b->params = NULL;
    b->n = 0;
}

static int alloc_items(batch_items *b, int n, lsq_error *err)
{
    size_t count = n > 0 ? (size_t)n : 1;

    memset(b, 0, sizeof *b);
    b->items = calloc(count, sizeof *b->items);
    b->params = calloc(count, sizeof *b->params);
    if (b->items == NULL || b->params == NULL) {
        free_items(b);
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

/* Decode count items at idx: {Sql, Params} each, or (sql != NULL) Params
 * each for that one statement. Stops at the first item that cannot be
 * decoded (b->bad, b->err with its index); 0, or -1 (no memory, *err). */
static int decode_items(const char *buf, int idx, int count, const char *sql, size_t sql_n,
                        batch_items *b, lsq_error *err)
{
    int type, size, arity, i;

    if (alloc_items(b, count, err) != 0) return -1;
    for (i = 0; i < count; i++) {
        lsq_batch_item *it = &b->items[i];

        if (sql != NULL) {
            it->sql = sql;
            it->n = sql_n;
        } else if (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_SMALL_TUPLE_EXT ||
                   ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
                   run_decode_sql(buf, &idx, &it->sql, &it->n) != 0) {
            lsq_error_set(&b->err, LSQ_E_BAD_ARGUMENT,
                          "batch element %d is not {SqlBinary, Params} (SQL without NUL bytes)",
                          i + 1);
            b->err.index = i + 1;
            b->bad = 1;
            return 0;
        }
        if (run_decode_params(buf, idx, &b->params[i], &idx, &b->err) != 0) {
            if (b->err.code == LSQ_E_NOMEM) {
                *err = b->err;
                return -1;
            }
            b->err.index = i + 1;
            b->err.sql = it->sql;
            b->err.sql_len = it->n;
            b->bad = 1;
            return 0;
        }
        it->params = &b->params[i].p;
        b->n = (size_t)i + 1;
    }
    return 0;
}

/* The statement cache as run_batch's statement source. */
static int source_get(void *ctx, const char *sql, size_t n, lsq_stmt **s, lsq_error *err)
{
    return run_get_stmt(ctx, sql, n, s, err);
}

static void source_put(void *ctx, const char *sql, size_t n, lsq_stmt *s)
{
    run_put_stmt(ctx, sql, n, s);
}

/* The sink of a batch's results: per item {Columns, Rows, Changes,
 * LastInsertRowid} into the reply. */
static int sink_rows(void *ctx, size_t i, lsq_stmt *s, lsq_error *err)
{
    lsq_port *p = ((void **)ctx)[0];
    ei_x_buff *x = ((void **)ctx)[1];

    (void)i;
    if (ei_x_encode_tuple_header(x, 4) != 0) return -1;
    if (s == NULL) return ei_x_encode_empty_list(x) || ei_x_encode_empty_list(x) ? -1 : 0;
    return run_encode_result(p, s, x, err);
}

static int sink_counts(void *ctx, size_t i, long long changes, long long rowid)
{
    ei_x_buff *x = ((void **)ctx)[1];

    (void)i;
    return ei_x_encode_longlong(x, changes) || ei_x_encode_longlong(x, rowid) ? -1 : 0;
}

/* Run the items through the backend. 0, REPLY_NOMEM, or REPLY_ERROR with
 * the error reply in x (err->sql taken from the failing item when the
 * backend did not say). */
static int run_items(lsq_port *p, const lsq_request *r, ei_x_buff *x, const batch_items *b,
                     int mode, const lsq_batch_sink *sink, lsq_batch_out *out)
{
    lsq_stmt_source src = { p, source_get, source_put };
    lsq_error err;
    int rc;

    err.sql = NULL;
    rc = p->be->run_batch(p->conn, &src, b->items, b->n, mode, sink, out, &err);
    if (rc == LSQ_BATCH_NOMEM) return REPLY_NOMEM;
    if (rc == 0) return 0;
    if (err.sql == NULL && err.index > 0 && (size_t)err.index <= b->n) {
        err.sql = b->items[err.index - 1].sql;
        err.sql_len = b->items[err.index - 1].n;
    }
    return reply_error(x, r->ref, &err);
}

/* {batch, [{Sql, Params}], Transactional}: one reply with, per statement,
 * {Columns, Rows, Changes, LastInsertRowid}; an error names its index.
 * An element that cannot be decoded fails the batch there (as a
 * statement error would: outside a transaction the ones before it run). */
int cmd_batch(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const char *buf = r->buf;
    int idx = r->idx, lidx, type, size, n, tx, rc = run_need_conn(p, r, x);
    batch_items b;
    lsq_batch_out out;
    lsq_error err;
    void *ctx[2] = { p, x };
    lsq_batch_sink sink = { ctx, sink_rows, sink_counts };

    if (rc != REPLY_OK) return rc;
    /* Check the Transactional flag first: it follows the list. */
    lidx = idx;
    if (ei_skip_term(buf, &lidx) != 0 || term_decode_bool(buf, &lidx, &tx) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "batch takes a list of {Sql, Params} and a boolean");
    if (ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(buf, &idx, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, "batch takes a list of {Sql, Params}");
    if (decode_items(buf, idx, n, NULL, 0, &b, &err) != 0) return reply_error(x, r->ref, &err);
    if (b.bad) {
        /* The elements before the bad one run first, unless all or nothing. */
        rc = tx ? 0 : run_items(p, r, x, &b, LSQ_BATCH_SEQUENCE, NULL, &out);
        if (rc == 0) rc = reply_error(x, r->ref, &b.err);
    } else if (reply_begin(x, r->ref) != 0 || (n > 0 && ei_x_encode_list_header(x, n) != 0)) {
        rc = REPLY_NOMEM;
    } else {
        rc = run_items(p, r, x, &b, tx ? LSQ_BATCH_TX : LSQ_BATCH_SEQUENCE, &sink, &out);
        if (rc == 0) rc = ei_x_encode_empty_list(x) != 0 ? REPLY_NOMEM : REPLY_OK;
    }
    free_items(&b);
    return rc;
}

/* {execute_many, Sql, [Params]}: one statement, many parameter lists, all
 * or nothing. Reply {TotalChanges, LastInsertRowid}. */
int cmd_execute_many(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const char *buf = r->buf, *sql;
    size_t n;
    int idx = r->idx, type, size, count, rc = run_need_conn(p, r, x);
    batch_items b;
    lsq_batch_out out;
    lsq_error err;
    lsq_stmt *s = NULL;

    if (rc != REPLY_OK) return rc;
    if (run_decode_sql(buf, &idx, &sql, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    if (ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(buf, &idx, &count) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "execute_many takes a list of parameter lists");
    /* The SQL is checked once, before any row runs: one statement (the
     * cache keeps it for the rows). */
    if (run_get_stmt(p, sql, n, &s, &err) != 0) {
        err.sql = sql;
        err.sql_len = n;
        return reply_error(x, r->ref, &err);
    }
    if (s == NULL)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "execute_many needs a statement, the SQL text has none");
    run_put_stmt(p, sql, n, s);
    if (decode_items(buf, idx, count, sql, n, &b, &err) != 0) return reply_error(x, r->ref, &err);
    if (b.bad) {
        rc = reply_error(x, r->ref, &b.err);
    } else {
        rc = run_items(p, r, x, &b, LSQ_BATCH_TX, NULL, &out);
        if (rc == 0)
            rc = reply_begin(x, r->ref) || ei_x_encode_tuple_header(x, 2) ||
                 ei_x_encode_longlong(x, out.total_changes) ||
                 ei_x_encode_longlong(x, out.last_rowid) ? REPLY_NOMEM : REPLY_OK;
    }
    free_items(&b);
    return rc;
}

/* {execute_script, Sql}: every statement in order, rows discarded, split
 * by the backend as its engine parses them. The script manages its own
 * transactions; an error stops it and names the statement (index and
 * text). Reply {Statements, Changes}. */
int cmd_execute_script(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    batch_items b = { 0 };
    lsq_batch_item item;
    lsq_batch_out out;
    int idx = r->idx, rc = run_need_conn(p, r, x);

    if (rc != REPLY_OK) return rc;
    if (run_decode_sql(r->buf, &idx, &item.sql, &item.n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    item.params = NULL;
    b.items = &item;
    b.n = 1;
    memset(&out, 0, sizeof out);
    rc = run_items(p, r, x, &b, LSQ_BATCH_SCRIPT, NULL, &out);
    p->n.prepares += out.statements;
    if (rc != 0) return rc;
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0 ||
        ei_x_encode_long(x, (long)out.statements) != 0 ||
        ei_x_encode_longlong(x, out.total_changes) != 0)
        return REPLY_NOMEM;
    return REPLY_OK;
}
