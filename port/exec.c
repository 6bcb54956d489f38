/*
 * exec.c - running SQL: query, execute, batch, execute_many and
 * execute_script, and the helpers they share with cursors.c (parameter
 * decoding, the statement cache, row encoding).
 */
#include "cmd_internal.h"
#include "sql_scan.h"

#include <stdlib.h>
#include <string.h>

/* ---- parameters ---------------------------------------------------------- */

void cmd_free_params(decoded_params *d)
{
    free(d->values);
    free(d->names);
    d->values = NULL;
    d->names = NULL;
}

static int alloc_params(decoded_params *d, int n, int named, lsq_error *err)
{
    size_t count = n > 0 ? (size_t)n : 1;

    d->values = calloc(count, sizeof *d->values);
    d->names = named ? calloc(count, sizeof *d->names) : NULL;
    if (d->values == NULL || (named && d->names == NULL)) {
        cmd_free_params(d);
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    d->p.n = (size_t)n;
    d->p.values = d->values;
    d->p.names = d->names;
    return 0;
}

static int is_atom_type(int type)
{
    return type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT ||
           type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_UTF8_EXT;
}

int cmd_decode_params(const char *buf, int idx, decoded_params *d, int *next, lsq_error *err)
{
    char atom[MAXATOMLEN_UTF8];
    const char *why = NULL;
    int type, size, n, i, arity, start = idx;

    memset(d, 0, sizeof *d);
    if (ei_get_type(buf, &idx, &type, &size) != 0) goto bad;
    if (type == ERL_NIL_EXT) {
        if (alloc_params(d, 0, 0, err) != 0) return -1;
    } else if (type == ERL_STRING_EXT) {
        /* [1,2,3] arrives as a string: one byte per integer. */
        if (alloc_params(d, size, 0, err) != 0) return -1;
        for (i = 0; i < size; i++) {
            d->values[i].type = LSQ_INT;
            d->values[i].u.i = (unsigned char)buf[idx + 3 + i];
        }
    } else if (type == ERL_LIST_EXT) {
        if (ei_decode_list_header(buf, &idx, &n) != 0) goto bad;
        if (alloc_params(d, n, 0, err) != 0) return -1;
        for (i = 0; i < n; i++) {
            if (term_decode_value(buf, &idx, &d->values[i], &why) != 0) {
                lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "parameter %d: %s", i + 1, why);
                cmd_free_params(d);
                return -1;
            }
        }
        if (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_NIL_EXT) goto bad;
    } else if (type == ERL_SMALL_TUPLE_EXT) {
        if (ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
            ei_get_type(buf, &idx, &type, &size) != 0 || !is_atom_type(type) ||
            ei_decode_atom(buf, &idx, atom) != 0 || strcmp(atom, "named") != 0 ||
            ei_get_type(buf, &idx, &type, &size) != 0 ||
            (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
            ei_decode_list_header(buf, &idx, &n) != 0)
            goto bad;
        if (alloc_params(d, n, 1, err) != 0) return -1;
        for (i = 0; i < n; i++) {
            if (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_SMALL_TUPLE_EXT ||
                ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
                term_decode_binary(buf, &idx, &d->names[i].p, &d->names[i].n) != 0)
                goto bad;
            if (term_decode_value(buf, &idx, &d->values[i], &why) != 0) {
                lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "parameter %.*s: %s",
                              (int)(d->names[i].n > 200 ? 200 : d->names[i].n),
                              d->names[i].p, why);
                cmd_free_params(d);
                return -1;
            }
        }
        if (n > 0 && (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_NIL_EXT))
            goto bad;
    } else {
        goto bad;
    }
    if (next != NULL) {
        *next = start;
        if (ei_skip_term(buf, next) != 0) goto bad;
    }
    return 0;
bad:
    cmd_free_params(d);
    lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                  "parameters must be a list of values or {named, [{Name, Value}]}");
    return -1;
}

/* ---- statements and rows ------------------------------------------------ */

int cmd_get_stmt(lsq_port *p, const char *sql, size_t n, lsq_stmt **s, lsq_error *err)
{
    *s = cache_take(p->cache, sql, n);
    if (*s != NULL) return 0;
    if (p->be->prepare(p->conn, sql, n, s, err) != 0) return -1;
    if (*s != NULL) p->n.prepares++;
    return 0;
}

void cmd_put_stmt(lsq_port *p, const char *sql, size_t n, lsq_stmt *s)
{
    if (s == NULL) return;
    p->be->reset(s);
    cache_put(p->cache, sql, n, s);
}

int cmd_encode_columns(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err)
{
    int ncol = p->be->column_count(s), i;
    const char *name;
    size_t len;

    if (ncol > 0 && ei_x_encode_list_header(x, ncol) != 0) return -1;
    for (i = 0; i < ncol; i++) {
        if (p->be->column_name(s, i, &name, &len) != 0) {
            lsq_error_set(err, LSQ_E_NOMEM, "out of memory reading a column name");
            return 1;
        }
        if (term_encode_binary(x, name, len) != 0) return -1;
    }
    return ei_x_encode_empty_list(x);
}

int cmd_decode_sql(const char *buf, int *idx, const char **sql, size_t *n)
{
    if (term_decode_binary(buf, idx, sql, n) != 0) return -1;
    /* SQLite would stop reading at a NUL and silently drop the rest. */
    return memchr(*sql, 0, *n) != NULL ? -1 : 0;
}

static int encode_rows(lsq_port *p, lsq_stmt *s, long long max, int *pending, ei_x_buff *x,
                       int *done, lsq_error *err, lsq_value *row, int ncol);

int cmd_encode_rows(lsq_port *p, lsq_stmt *s, long long max, int *pending, ei_x_buff *x,
                    int *done, lsq_error *err)
{
    int ncol = p->be->column_count(s), rc;
    lsq_value stackrow[16], *row = stackrow;

    /* Room for one row's values; most rows fit on the stack. */
    if (ncol > (int)(sizeof stackrow / sizeof stackrow[0])) {
        row = malloc((size_t)ncol * sizeof *row);
        if (row == NULL) {
            lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
            return 1;
        }
    }
    rc = encode_rows(p, s, max, pending, x, done, err, row, ncol);
    if (row != stackrow) free(row);
    return rc;
}

static int encode_rows(lsq_port *p, lsq_stmt *s, long long max, int *pending, ei_x_buff *x,
                       int *done, lsq_error *err, lsq_value *row, int ncol)
{
    long long k;
    int i, rc;

    *done = 0;
    for (k = 0; max < 0 || k < max; k++) {
        if (*pending) {
            *pending = 0; /* the row the statement already stands on */
        } else {
            rc = p->be->step(s, err);
            if (rc == LSQ_STEP_DONE) {
                *done = 1;
                break;
            }
            if (rc == LSQ_STEP_ERROR) return 1;
        }
        for (i = 0; i < ncol; i++)
            if (p->be->column_value(s, i, &row[i], err) != 0) return 1;
        if (term_encode_row_cell(x, row, ncol) != 0) return -1;
        p->n.rows++;
        if ((size_t)x->index > p->max_result) {
            lsq_error_set(err, LSQ_E_TOOBIG,
                          "the result is over max_result_bytes (%zu bytes): stream it with "
                          "fold or a cursor, or raise the limit", p->max_result);
            return 1;
        }
    }
    return ei_x_encode_empty_list(x);
}

int cmd_encode_result(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err)
{
    int step = p->be->step(s, err), pending = step == LSQ_STEP_ROW, done, rc;

    if (step == LSQ_STEP_ERROR) return 1;
    /* Columns are read after the first step: a statement whose schema
     * changed is recompiled by that step, and only then are they right. */
    rc = cmd_encode_columns(p, s, x, err);
    if (rc != 0) return rc;
    if (step == LSQ_STEP_DONE) return ei_x_encode_empty_list(x);
    return cmd_encode_rows(p, s, -1, &pending, x, &done, err);
}

/* Step to the end discarding rows; *changes is this statement's count. */
static int run_to_end(lsq_port *p, lsq_stmt *s, long long *changes, lsq_error *err)
{
    long long before = p->be->total_changes(p->conn);
    int rc;

    do {
        rc = p->be->step(s, err);
    } while (rc == LSQ_STEP_ROW);
    if (rc == LSQ_STEP_ERROR) return 1;
    /* sqlite3_changes keeps the count of the last write even across a
     * later SELECT or DDL: 0 when this statement changed nothing. */
    *changes = p->be->total_changes(p->conn) == before ? 0 : p->be->changes(p->conn);
    return 0;
}

int cmd_exec_simple(lsq_port *p, const char *sql, lsq_error *err)
{
    size_t n = strlen(sql);
    lsq_stmt *s;
    long long changes;
    int rc;

    if (cmd_get_stmt(p, sql, n, &s, err) != 0) return -1;
    if (s == NULL) return 0;
    rc = run_to_end(p, s, &changes, err);
    cmd_put_stmt(p, sql, n, s);
    return rc == 0 ? 0 : -1;
}

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
    if (cmd_get_stmt(p, sql, n, &s, err) != 0) return 1;
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
        cmd_put_stmt(p, sql, n, s);
        return 1;
    }
    if (want_rows) {
        before = p->be->total_changes(p->conn);
        rc = cmd_encode_result(p, s, x, err);
        if (rc == 0)
            *changes = p->be->total_changes(p->conn) == before ? 0 : p->be->changes(p->conn);
    } else {
        rc = run_to_end(p, s, changes, err);
        if (rc == 0 && x != NULL &&
            (ei_x_encode_longlong(x, *changes) != 0 ||
             ei_x_encode_longlong(x, p->be->last_insert_rowid(p->conn)) != 0))
            rc = -1;
    }
    cmd_put_stmt(p, sql, n, s);
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
    int idx = r->idx, rc = cmd_need_conn(p, r, x);
    decoded_params d;
    lsq_error err;
    long long changes;

    if (rc != REPLY_OK) return rc;
    if (cmd_decode_sql(r->buf, &idx, &sql, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    if (cmd_decode_params(r->buf, idx, &d, NULL, &err) != 0)
        return reply_stmt_error(x, r->ref, &err, sql, n);
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_tuple_header(x, 2) != 0) {
        cmd_free_params(&d);
        return -1;
    }
    rc = run_one(p, sql, n, &d.p, want_rows, x, &changes, &err);
    cmd_free_params(&d);
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
    return cmd_exec_simple(p, *nested ? "SAVEPOINT libsql_group" : "BEGIN", err);
}

static int group_commit(lsq_port *p, int nested, lsq_error *err)
{
    return cmd_exec_simple(p, nested ? "RELEASE libsql_group" : "COMMIT", err);
}

/* Undo the group. Errors are ignored: SQLite may already have rolled the
 * transaction back itself (a full disk, an interrupt). */
static void group_rollback(lsq_port *p, int nested)
{
    lsq_error ignored;

    if (nested) {
        (void)cmd_exec_simple(p, "ROLLBACK TO libsql_group", &ignored);
        (void)cmd_exec_simple(p, "RELEASE libsql_group", &ignored);
    } else if (!p->be->autocommit(p->conn)) {
        (void)cmd_exec_simple(p, "ROLLBACK", &ignored);
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

    for (i = 0; i < b->n; i++) cmd_free_params(&b->params[i]);
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
            cmd_decode_sql(buf, &idx, &b.items[i].sql, &b.items[i].n) != 0) {
            lsq_error_set(&err, LSQ_E_BAD_ARGUMENT,
                          "batch element %zu is not {SqlBinary, Params} (SQL without NUL bytes)",
                          i + 1);
            err.index = (long)i + 1;
            free_items(&b);
            return reply_error(x, r->ref, &err);
        }
        if (cmd_decode_params(buf, idx, &b.params[i], &idx, &err) != 0) {
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
        rc = cmd_encode_result(p, out.results[i], x, &err);
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
    int idx = r->idx, type, size, n, i, arity, tx, nested = 0, rc = cmd_need_conn(p, r, x);
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
            cmd_decode_sql(buf, &idx, &sql, &sql_len) != 0) {
            lsq_error_set(&err, LSQ_E_BAD_ARGUMENT,
                          "batch element %d is not {SqlBinary, Params} (SQL without NUL bytes)",
                          i + 1);
            sql = NULL;
            goto failed;
        }
        if (cmd_decode_params(buf, idx, &d, &idx, &err) != 0) goto failed;
        if (ei_x_encode_tuple_header(x, 4) != 0) {
            cmd_free_params(&d);
            return -1;
        }
        rc = run_one(p, sql, sql_len, &d.p, 1, x, &changes, &err);
        cmd_free_params(&d);
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
        if (cmd_decode_params(r->buf, idx, &b.params[i], &idx, &err) != 0) {
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
    int idx = r->idx, type, size, count, i = 0, nested = 0, rc = cmd_need_conn(p, r, x);
    decoded_params d;
    lsq_error err;
    lsq_stmt *s = NULL;
    long long changes, total = 0;

    if (rc != REPLY_OK) return rc;
    if (cmd_decode_sql(buf, &idx, &sql, &n) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, LSQ_SQL_TYPE_MSG);
    if (ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(buf, &idx, &count) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "execute_many takes a list of parameter lists");
    if (p->be->run_batch != NULL) return many_one_trip(p, r, x, sql, n, idx, count);
    if (cmd_get_stmt(p, sql, n, &s, &err) != 0) return reply_stmt_error(x, r->ref, &err, sql, n);
    if (s == NULL) {
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "execute_many needs a statement, the SQL text has none");
    }
    if (group_begin(p, &nested, &err) != 0) {
        cmd_put_stmt(p, sql, n, s);
        return reply_stmt_error(x, r->ref, &err, sql, n);
    }
    for (i = 0; i < count; i++) {
        if (cmd_decode_params(buf, idx, &d, &idx, &err) != 0) goto failed;
        rc = p->be->bind(s, &d.p, 0, &err);
        if (rc == 0) rc = run_to_end(p, s, &changes, &err);
        cmd_free_params(&d);
        if (rc != 0) goto failed;
        total += changes;
    }
    cmd_put_stmt(p, sql, n, s);
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
    cmd_put_stmt(p, sql, n, s);
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
    int idx = r->idx, rc = cmd_need_conn(p, r, x);
    long count = 0;
    lsq_stmt *s;
    lsq_error err;
    long long changes, before;

    if (rc != REPLY_OK) return rc;
    if (cmd_decode_sql(r->buf, &idx, &sql, &n) != 0)
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
