/*
 * run.c - what the command handlers share to run SQL: the connection
 * check, parameter and SQL decoding, the statement cache, stepping, the
 * changes rule, and the encoding of columns and rows. Below the handlers
 * (exec.c, cursors.c, conn_cmds.c), above the backends and reply.c.
 */
#include "run.h"

#include <stdlib.h>
#include <string.h>

int run_need_conn(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    if (p->conn != NULL) return REPLY_OK;
    return reply_errorf(x, r->ref, LSQ_E_CLOSED, "the connection is closed");
}

int run_need_sqlite(lsq_port *p, const lsq_request *r, ei_x_buff *x, struct sqlite3 **db)
{
    int rc = run_need_conn(p, r, x);

    if (rc != REPLY_OK) return rc;
    if (p->be->sqlite == NULL)
        return reply_errorf(x, r->ref, LSQ_E_NOT_SUPPORTED,
                            "a %s connection runs its SQL on the server: there is no SQLite "
                            "handle of ours to plug functions, hooks or extensions into, or "
                            "to copy", p->be->mode);
    *db = p->be->sqlite(p->conn);
    return REPLY_OK;
}

/* ---- parameters ---------------------------------------------------------- */

void run_free_params(decoded_params *d)
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
        run_free_params(d);
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

int run_decode_params(const char *buf, int idx, decoded_params *d, int *next, lsq_error *err)
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
                run_free_params(d);
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
                run_free_params(d);
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
    run_free_params(d);
    lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                  "parameters must be a list of values or {named, [{Name, Value}]}");
    return -1;
}

/* ---- statements and rows ------------------------------------------------ */

int run_get_stmt(lsq_port *p, const char *sql, size_t n, lsq_stmt **s, lsq_error *err)
{
    *s = cache_take(p->cache, sql, n);
    if (*s != NULL) return 0;
    if (p->be->prepare(p->conn, sql, n, s, err) != 0) return -1;
    if (*s != NULL) p->n.prepares++;
    return 0;
}

void run_put_stmt(lsq_port *p, const char *sql, size_t n, lsq_stmt *s)
{
    if (s == NULL) return;
    p->be->reset(s);
    cache_put(p->cache, sql, n, s);
}

int run_encode_columns(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err)
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

int run_decode_sql(const char *buf, int *idx, const char **sql, size_t *n)
{
    if (term_decode_binary(buf, idx, sql, n) != 0) return -1;
    /* SQLite would stop reading at a NUL and silently drop the rest. */
    return memchr(*sql, 0, *n) != NULL ? -1 : 0;
}

static int encode_rows(lsq_port *p, lsq_stmt *s, long long max, int *pending, ei_x_buff *x,
                       int *done, lsq_error *err, lsq_value *row, int ncol);

int run_encode_rows(lsq_port *p, lsq_stmt *s, long long max, int *pending, ei_x_buff *x,
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

int run_encode_result(lsq_port *p, lsq_stmt *s, ei_x_buff *x, lsq_error *err)
{
    int step = p->be->step(s, err), pending = step == LSQ_STEP_ROW, done, rc;

    if (step == LSQ_STEP_ERROR) return 1;
    /* Columns are read after the first step: a statement whose schema
     * changed is recompiled by that step, and only then are they right. */
    rc = run_encode_columns(p, s, x, err);
    if (rc != 0) return rc;
    if (step == LSQ_STEP_DONE) return ei_x_encode_empty_list(x);
    return run_encode_rows(p, s, -1, &pending, x, &done, err);
}

long long run_changes(lsq_port *p, long long before)
{
    /* sqlite3_changes keeps the count of the last write even across a
     * later SELECT or DDL: 0 when this statement changed nothing. */
    return p->be->total_changes(p->conn) == before ? 0 : p->be->changes(p->conn);
}

int run_to_end(lsq_port *p, lsq_stmt *s, long long *changes, lsq_error *err)
{
    long long before = p->be->total_changes(p->conn);
    int rc;

    do {
        rc = p->be->step(s, err);
    } while (rc == LSQ_STEP_ROW);
    if (rc == LSQ_STEP_ERROR) return 1;
    *changes = run_changes(p, before);
    return 0;
}

int run_exec_simple(lsq_port *p, const char *sql, lsq_error *err)
{
    size_t n = strlen(sql);
    lsq_stmt *s;
    long long changes;
    int rc;

    if (run_get_stmt(p, sql, n, &s, err) != 0) return -1;
    if (s == NULL) return 0;
    rc = run_to_end(p, s, &changes, err);
    run_put_stmt(p, sql, n, s);
    return rc == 0 ? 0 : -1;
}
