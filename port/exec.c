/*
 * exec.c - the statement commands: query, execute, batch, execute_many
 * and execute_script.
 */
#include "handlers.h"
#include "sql_scan.h"

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

/* ---- atomic groups --------------------------------------------------------- */

/* A transaction of our own, or a savepoint inside the caller's. */
static int group_begin(lsq_port *p, int *nested, lsq_error *err)
{
    *nested = !p->be->autocommit(p->conn);
    return run_exec_simple(p, *nested ? "SAVEPOINT libsql_group" : "BEGIN", err);
}

static int group_commit(lsq_port *p, int nested, lsq_error *err)
{
    return run_exec_simple(p, nested ? "RELEASE libsql_group" : "COMMIT", err);
}

/* Undo the group. Errors are ignored: SQLite may already have rolled the
 * transaction back itself (a full disk, an interrupt). */
static void group_rollback(lsq_port *p, int nested)
{
    lsq_error ignored;

    if (nested) {
        (void)run_exec_simple(p, "ROLLBACK TO libsql_group", &ignored);
        (void)run_exec_simple(p, "RELEASE libsql_group", &ignored);
    } else if (!p->be->autocommit(p->conn)) {
        (void)run_exec_simple(p, "ROLLBACK", &ignored);
    }
}

/* ---- one round trip (backends with run_batch) ------------------------------ */

/* Items decoded from the request, parameters pointing into it. */
typedef struct batch_items {
    lsq_batch_item *items;
    decoded_params *params;
    size_t n;
} batch_items;

static void free_items(batch_items *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) run_free_params(&b->params[i]);
    free(b->items);
    free(b->params);
    memset(b, 0, sizeof *b);
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

/* Reply to a failed run_batch: the failing item's SQL and index. */
static int reply_batch_error(ei_x_buff *x, long ref, lsq_error *err, const batch_items *b)
{
    if (err->index > 0 && (size_t)err->index <= b->n) {
        err->sql = b->items[err->index - 1].sql;
        err->sql_len = b->items[err->index - 1].n;
    }
    return reply_error(x, ref, err);
}

static int batch_one_trip(lsq_port *p, const lsq_request *r, ei_x_buff *x, int idx, int n,
                          int tx)
{
    const char *buf = r->buf;
    batch_items b;
    lsq_batch_out out;
    lsq_error err;
    int type, size, arity, rc;
    size_t i;

    if (alloc_items(&b, n, &err) != 0) return reply_error(x, r->ref, &err);
    for (i = 0; i < (size_t)n; i++) {
        if (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_SMALL_TUPLE_EXT ||
            ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
            run_decode_sql(buf, &idx, &b.items[i].sql, &b.items[i].n) != 0) {
            lsq_error_set(&err, LSQ_E_BAD_ARGUMENT,
                          "batch element %zu is not {SqlBinary, Params} (SQL without NUL bytes)",
                          i + 1);
            err.index = (long)i + 1;
            free_items(&b);
            return reply_error(x, r->ref, &err);
        }
        if (run_decode_params(buf, idx, &b.params[i], &idx, &err) != 0) {
            err.index = (long)i + 1;
            b.n = i + 1;
            rc = reply_batch_error(x, r->ref, &err, &b);
            free_items(&b);
            return rc;
        }
        b.items[i].params = &b.params[i].p;
        b.n = i + 1;
    }
    if (p->be->run_batch(p->conn, b.items, b.n, tx ? LSQ_BATCH_TX : LSQ_BATCH_SEQUENCE, 1, &out,
                         &err) != 0) {
        rc = reply_batch_error(x, r->ref, &err, &b);
        free_items(&b);
        return rc;
    }
    rc = reply_begin(x, r->ref);
    if (rc == 0 && b.n > 0) rc = ei_x_encode_list_header(x, (long)b.n);
    for (i = 0; rc == 0 && i < b.n; i++) {
        if (ei_x_encode_tuple_header(x, 4) != 0) {
            rc = -1;
            break;
        }
        rc = run_encode_result(p, out.results[i], x, &err);
        if (rc == 0 && (ei_x_encode_longlong(x, out.changes[i]) != 0 ||
                        ei_x_encode_longlong(x, out.rowids[i]) != 0))
            rc = -1;
    }
    if (rc == 0) rc = ei_x_encode_empty_list(x);
    p->be->batch_free(&out, b.n);
    if (rc > 0) {
        /* Only the size cap can stop the encoding of rows already here. */
        rc = reply_error(x, r->ref, &err);
    }
    free_items(&b);
    return rc;
}

/* {batch, [{Sql, Params}], Transactional}: one reply with, per statement,
 * {Columns, Rows, Changes, LastInsertRowid}; an error names its index. */
int cmd_batch(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const char *buf = r->buf, *sql = NULL;
    int idx = r->idx, type, size, n, i, arity, tx, nested = 0, rc = run_need_conn(p, r, x);
    int lidx;
    size_t sql_len = 0;
    decoded_params d;
    lsq_error err;
    long long changes;

    if (rc != REPLY_OK) return rc;
    /* Check the Transactional flag first: it follows the list. */
    lidx = idx;
    if (ei_skip_term(buf, &lidx) != 0 || term_decode_bool(buf, &lidx, &tx) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "batch takes a list of {Sql, Params} and a boolean");
    if (ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(buf, &idx, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "batch takes a list of {Sql, Params}");
    if (p->be->run_batch != NULL) return batch_one_trip(p, r, x, idx, n, tx);
    if (tx && group_begin(p, &nested, &err) != 0) return reply_error(x, r->ref, &err);
    if (reply_begin(x, r->ref) != 0) return -1;
    if (n > 0 && ei_x_encode_list_header(x, n) != 0) return -1;
    for (i = 0; i < n; i++) {
        if (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_SMALL_TUPLE_EXT ||
            ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
            run_decode_sql(buf, &idx, &sql, &sql_len) != 0) {
            lsq_error_set(&err, LSQ_E_BAD_ARGUMENT,
                          "batch element %d is not {SqlBinary, Params} (SQL without NUL bytes)",
                          i + 1);
            sql = NULL;
            goto failed;
        }
        if (run_decode_params(buf, idx, &d, &idx, &err) != 0) goto failed;
        if (ei_x_encode_tuple_header(x, 4) != 0) {
            run_free_params(&d);
            return -1;
        }
        rc = run_one(p, sql, sql_len, &d.p, 1, x, &changes, &err);
        run_free_params(&d);
        if (rc < 0) return -1;
        if (rc > 0) goto failed;
        if (ei_x_encode_longlong(x, changes) != 0 ||
            ei_x_encode_longlong(x, p->be->last_insert_rowid(p->conn)) != 0)
            return -1;
    }
    if (ei_x_encode_empty_list(x) != 0) return -1;
    if (tx && group_commit(p, nested, &err) != 0) {
        group_rollback(p, nested);
        return reply_error(x, r->ref, &err);
    }
    return 0;
failed:
    if (tx) group_rollback(p, nested);
    err.index = i + 1;
    if (sql != NULL) {
        err.sql = sql;
        err.sql_len = sql_len;
    }
    return reply_error(x, r->ref, &err);
}

/* execute_many in one round trip: all or nothing. */
static int many_one_trip(lsq_port *p, const lsq_request *r, ei_x_buff *x, const char *sql,
                         size_t n, int idx, int count)
{
    batch_items b;
    lsq_batch_out out;
    lsq_error err;
    size_t i;
    int rc;
    lsq_stmt *s;

    /* The SQL is checked once, as a local prepare would (one statement,
     * none that a server cannot keep), before any row is sent. */
    if (p->be->prepare(p->conn, sql, n, &s, &err) != 0)
        return reply_stmt_error(x, r->ref, &err, sql, n);
    if (s == NULL)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "execute_many needs a statement, the SQL text has none");
    p->be->finalize(s);
    if (alloc_items(&b, count, &err) != 0) return reply_error(x, r->ref, &err);
    for (i = 0; i < (size_t)count; i++) {
        b.items[i].sql = sql;
        b.items[i].n = n;
        if (run_decode_params(r->buf, idx, &b.params[i], &idx, &err) != 0) {
            err.index = (long)i + 1;
            free_items(&b);
            return reply_stmt_error(x, r->ref, &err, sql, n);
        }
        b.items[i].params = &b.params[i].p;
        b.n = i + 1;
    }
    rc = p->be->run_batch(p->conn, b.items, b.n, LSQ_BATCH_TX, 0, &out, &err);
    free_items(&b);
    if (rc != 0) return reply_stmt_error(x, r->ref, &err, sql, n);
    rc = reply_begin(x, r->ref) || ei_x_encode_tuple_header(x, 2) ||
         ei_x_encode_longlong(x, out.total_changes) ||
         ei_x_encode_longlong(x, out.last_rowid) ? -1 : 0;
    p->be->batch_free(&out, 0);
    return rc;
}

/* {execute_many, Sql, [Params]}: one statement, many parameter lists, all
 * or nothing. Reply {TotalChanges, LastInsertRowid}. */
int cmd_execute_many(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const char *buf = r->buf, *sql;
    size_t n;
    int idx = r->idx, type, size, count, i = 0, nested = 0, rc = run_need_conn(p, r, x);
    decoded_params d;
    lsq_error err;
    lsq_stmt *s = NULL;
    long long changes, total = 0;

    if (rc != REPLY_OK) return rc;
    if (run_decode_sql(buf, &idx, &sql, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    if (ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(buf, &idx, &count) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "execute_many takes a list of parameter lists");
    if (p->be->run_batch != NULL) return many_one_trip(p, r, x, sql, n, idx, count);
    if (run_get_stmt(p, sql, n, &s, &err) != 0) return reply_stmt_error(x, r->ref, &err, sql, n);
    if (s == NULL) {
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "execute_many needs a statement, the SQL text has none");
    }
    if (group_begin(p, &nested, &err) != 0) {
        run_put_stmt(p, sql, n, s);
        return reply_stmt_error(x, r->ref, &err, sql, n);
    }
    for (i = 0; i < count; i++) {
        if (run_decode_params(buf, idx, &d, &idx, &err) != 0) goto failed;
        rc = p->be->bind(s, &d.p, 0, &err);
        if (rc == 0) rc = run_to_end(p, s, &changes, &err);
        run_free_params(&d);
        if (rc != 0) goto failed;
        total += changes;
    }
    run_put_stmt(p, sql, n, s);
    if (group_commit(p, nested, &err) != 0) {
        group_rollback(p, nested);
        return reply_stmt_error(x, r->ref, &err, sql, n);
    }
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0 ||
        ei_x_encode_longlong(x, total) != 0 ||
        ei_x_encode_longlong(x, p->be->last_insert_rowid(p->conn)) != 0)
        return -1;
    return 0;
failed:
    run_put_stmt(p, sql, n, s);
    group_rollback(p, nested);
    err.index = i + 1;
    return reply_stmt_error(x, r->ref, &err, sql, n);
}

/* A script split here into statements and run in one round trip, so that
 * its own BEGIN ... COMMIT never spans two requests. */
static int script_one_trip(lsq_port *p, const lsq_request *r, ei_x_buff *x, const char *sql,
                           size_t n)
{
    batch_items b = { 0 };
    lsq_batch_out out;
    lsq_error err;
    size_t off = 0, len, cap = 0, k;
    lsq_batch_item *grown;
    int empty, rc, bad = 0;
    sql_stmt_info info;

    while (off < n) {
        if (sql_next_statement(sql + off, n - off, &len, &empty) != 0) goto nomem;
        if (!empty) {
            if (b.n == cap) {
                cap = cap ? cap * 2 : 16;
                grown = realloc(b.items, cap * sizeof *grown);
                if (grown == NULL) goto nomem;
                b.items = grown;
            }
            b.items[b.n].sql = sql + off;
            b.items[b.n].n = len;
            b.items[b.n].params = NULL;
            b.n++;
            /* Parameters cannot be given to a script (as locally, where
             * the statements before that one still run). */
            if (sql_scan_params(sql + off, len, &info) != 0) goto nomem;
            k = (size_t)info.nparams;
            sql_info_free(&info);
            if (k > 0) {
                b.n--;
                bad = 1;
                break;
            }
        }
        off += len;
    }
    rc = p->be->run_batch(p->conn, b.items, b.n, LSQ_BATCH_SCRIPT, 0, &out, &err);
    if (rc == 0 && bad) {
        p->be->batch_free(&out, 0);
        lsq_error_set(&err, LSQ_E_BAD_ARGUMENT,
                      "a script cannot have parameters; use execute or batch");
        err.index = (long)b.n + 1;
        free(b.items);
        return reply_stmt_error(x, r->ref, &err, sql + off, len);
    }
    if (rc != 0) {
        if (err.index > 0 && (size_t)err.index <= b.n) {
            err.sql = b.items[err.index - 1].sql;
            err.sql_len = b.items[err.index - 1].n;
        }
        free(b.items);
        return reply_error(x, r->ref, &err);
    }
    free(b.items);
    p->n.prepares += b.n;
    rc = reply_begin(x, r->ref) || ei_x_encode_tuple_header(x, 2) ||
         ei_x_encode_long(x, (long)b.n) || ei_x_encode_longlong(x, out.total_changes) ? -1 : 0;
    p->be->batch_free(&out, 0);
    return rc;
nomem:
    free(b.items);
    return reply_errorf(x, r->ref, LSQ_E_NOMEM, "out of memory");
}

/* {execute_script, Sql}: every statement in order, rows discarded. The
 * script manages its own transactions; an error stops it and names the
 * statement (index and text). Reply {Statements, Changes}. */
int cmd_execute_script(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const char *sql;
    size_t n, used, off = 0;
    int idx = r->idx, rc = run_need_conn(p, r, x);
    long count = 0;
    lsq_stmt *s;
    lsq_error err;
    long long changes, before;

    if (rc != REPLY_OK) return rc;
    if (run_decode_sql(r->buf, &idx, &sql, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    if (p->be->run_batch != NULL) return script_one_trip(p, r, x, sql, n);
    before = p->be->total_changes(p->conn);
    while (off < n) {
        if (p->be->prepare_next(p->conn, sql + off, n - off, &s, &used, &err) != 0) {
            err.index = count + 1;
            return reply_stmt_error(x, r->ref, &err, sql + off, used);
        }
        if (s == NULL) break;
        p->n.prepares++;
        count++;
        rc = p->be->param_count(s) > 0 ? 2 : run_to_end(p, s, &changes, &err);
        p->be->finalize(s);
        if (rc == 2)
            lsq_error_set(&err, LSQ_E_BAD_ARGUMENT,
                          "a script cannot have parameters; use execute or batch");
        if (rc != 0) {
            err.index = count;
            return reply_stmt_error(x, r->ref, &err, sql + off, used);
        }
        off += used;
    }
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0 ||
        ei_x_encode_long(x, count) != 0 ||
        ei_x_encode_longlong(x, p->be->total_changes(p->conn) - before) != 0)
        return -1;
    return 0;
}
