/*
 * cdc.c - change data capture (cdc.h).
 */
#include "cdc.h"
#include "channel.h"
#include "file_io.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CDC_EMIT_BYTES (1024 * 1024)            /* send committed changes past this */
#define CDC_MAX_PENDING (64LL * 1024 * 1024)    /* changes one transaction may hold */

/* Where a savepoint began: enough to go back to it. */
typedef struct mark {
    char *name;
    int off;                /* pending.index */
    long long kept;         /* changes kept (encoded) */
    long long changes;      /* changes seen */
} mark;

typedef struct cdc {
    int updates, commits;   /* what is captured */
    ei_x_buff pending;      /* the open transaction's changes, encoded */
    long long kept, changes;
    mark *marks;            /* open savepoints, innermost last */
    size_t nmarks, capmarks;
    int committing;         /* the commit hook fired; the commit may still fail */
    ei_x_buff out;          /* committed events, encoded, not sent yet */
    long long out_n;
    int nomem;              /* a savepoint could not be marked: the commit drops all */
} cdc;

static void drop_marks(cdc *c, size_t keep)
{
    while (c->nmarks > keep) free(c->marks[--c->nmarks].name);
}

static void clear_tx(cdc *c)
{
    c->pending.index = 0;
    c->kept = c->changes = 0;
    c->nomem = 0;
    drop_marks(c, 0);
}

/* Send the committed events now. */
static void emit(cdc *c)
{
    ei_x_buff f;

    if (c->out_n == 0) return;
    if (ei_x_new(&f) == 0 && term_reply_begin(&f, 0, "event") == 0 &&
        ei_x_encode_tuple_header(&f, 2) == 0 && ei_x_encode_atom(&f, "changes") == 0 &&
        ei_x_encode_list_header(&f, c->out_n) == 0 &&
        ei_x_append_buf(&f, c->out.buff, c->out.index) == 0 && ei_x_encode_empty_list(&f) == 0)
        (void)channel_emit(f.buff, (size_t)f.index);
    (void)ei_x_free(&f);
    c->out.index = 0;
    c->out_n = 0;
}

static int put_kv(ei_x_buff *x, const char *k, long long v)
{
    return ei_x_encode_atom(x, k) != 0 || ei_x_encode_longlong(x, v) != 0 ? -1 : 0;
}

/* The transaction committed: its changes, then the marker. */
static void committed(cdc *c)
{
    long long dropped = c->updates ? c->changes - c->kept : 0;

    /* A savepoint could not be marked: what a ROLLBACK TO undid may be
     * among the changes kept, so none is sent as certain. */
    if (c->nomem) {
        c->kept = 0;
        dropped = c->updates ? c->changes : 0;
    }
    if (c->updates && c->kept > 0) {
        if (ei_x_append_buf(&c->out, c->pending.buff, c->pending.index) == 0) {
            c->out_n += c->kept;
        } else {
            dropped = c->changes;
        }
    }
    if (c->commits) {
        if (ei_x_encode_tuple_header(&c->out, 2) == 0 && ei_x_encode_atom(&c->out, "commit") == 0 &&
            ei_x_encode_map_header(&c->out, 2) == 0 && put_kv(&c->out, "changes", c->changes) == 0 &&
            put_kv(&c->out, "dropped", dropped) == 0)
            c->out_n++;
    }
    clear_tx(c);
    if (c->out.index >= CDC_EMIT_BYTES) emit(c);
}

/* Each change is encoded by hand, straight into the buffer: this runs
 * inside the statement, once per row, and the statement's reply waits
 * for it. {Op, Db, Table, RowId}: a small tuple, a small UTF-8 atom, two
 * binaries, an integer (ei's encoding for what does not fit 32 bits). */
static void on_row(void *ctx, int op, const char *db, const char *table, long long rowid)
{
    static const char *const ops[] = { "insert", "update", "delete" };
    cdc *c = ctx;
    size_t dn, tn, an;
    unsigned char *p;
    int idx;

    c->changes++;
    if (!c->updates || c->pending.index >= CDC_MAX_PENDING) return;
    dn = strlen(db);
    tn = strlen(table);
    an = 6; /* strlen of each of ops[] */
    if (dn > 0xffff || tn > 0xffff || term_reserve(&c->pending, 2 + 2 + an + 5 + dn + 5 + tn + 11) != 0)
        return; /* counted as dropped */
    p = (unsigned char *)c->pending.buff + c->pending.index;
    *p++ = ERL_SMALL_TUPLE_EXT;
    *p++ = 4;
    *p++ = ERL_SMALL_ATOM_UTF8_EXT;
    *p++ = (unsigned char)an;
    memcpy(p, ops[op], an);
    p += an;
    *p++ = ERL_BINARY_EXT;
    lsq_put_be32(p, (uint32_t)dn);
    p += 4;
    memcpy(p, db, dn);
    p += dn;
    *p++ = ERL_BINARY_EXT;
    lsq_put_be32(p, (uint32_t)tn);
    p += 4;
    memcpy(p, table, tn);
    p += tn;
    if (rowid >= INT32_MIN && rowid <= INT32_MAX) {
        *p++ = ERL_INTEGER_EXT;
        lsq_put_be32(p, (uint32_t)(int32_t)rowid);
        p += 4;
        c->pending.index = (int)(p - (unsigned char *)c->pending.buff);
    } else {
        idx = (int)(p - (unsigned char *)c->pending.buff);
        if (ei_encode_longlong(c->pending.buff, &idx, rowid) != 0) return;
        c->pending.index = idx;
    }
    c->kept++;
}

static void on_commit(void *ctx)
{
    ((cdc *)ctx)->committing = 1;
}

static void on_rollback(void *ctx)
{
    cdc *c = ctx;

    c->committing = 0;
    clear_tx(c);
    if (c->commits && ei_x_encode_tuple_header(&c->out, 2) == 0 &&
        ei_x_encode_atom(&c->out, "rollback") == 0 && ei_x_encode_map_header(&c->out, 0) == 0)
        c->out_n++;
}

/* The innermost open savepoint called name, or -1. */
static long find_mark(const cdc *c, const char *name)
{
    size_t i = c->nmarks;

    while (i-- > 0)
        if (sqlite3_stricmp(c->marks[i].name, name) == 0) return (long)i;
    return -1;
}

static void on_savepoint(void *ctx, int op, const char *name)
{
    cdc *c = ctx;
    long i;

    switch (op) {
    case LSQ_SP_SAVEPOINT:
        if (c->nmarks == c->capmarks) {
            size_t cap = c->capmarks ? 2 * c->capmarks : 8;
            mark *m = realloc(c->marks, cap * sizeof *m);

            if (m == NULL) break; /* ROLLBACK TO it then keeps the changes: see nomem */
            c->marks = m;
            c->capmarks = cap;
        }
        c->marks[c->nmarks].name = strdup(name);
        if (c->marks[c->nmarks].name == NULL) break;
        c->marks[c->nmarks].off = c->pending.index;
        c->marks[c->nmarks].kept = c->kept;
        c->marks[c->nmarks].changes = c->changes;
        c->nmarks++;
        return;
    case LSQ_SP_RELEASE:
        i = find_mark(c, name);
        if (i >= 0) drop_marks(c, (size_t)i);
        return;
    default: /* LSQ_SP_ROLLBACK_TO: the savepoint stays open */
        i = find_mark(c, name);
        if (i < 0) return;
        drop_marks(c, (size_t)i + 1);
        c->pending.index = c->marks[i].off;
        c->kept = c->marks[i].kept;
        c->changes = c->marks[i].changes;
        return;
    }
    c->nomem = 1;
}

static void on_statement_done(void *ctx, int autocommit)
{
    cdc *c = ctx;

    if (!c->committing) return;
    c->committing = 0;
    /* Still in a transaction: the commit failed (a lock), and the
     * transaction goes on, its changes with it. */
    if (autocommit) committed(c);
}

static void free_cdc(cdc *c)
{
    if (c == NULL) return;
    drop_marks(c, 0);
    free(c->marks);
    (void)ei_x_free(&c->pending);
    (void)ei_x_free(&c->out);
    free(c);
}

int cdc_configure(lsq_port *p, int updates, int commits, lsq_error *err)
{
    lsq_change_sink sink = { NULL, on_row, on_commit, on_rollback, on_savepoint,
                             on_statement_done };
    cdc *c = p->cdc;

    if (p->be->watch_changes == NULL) {
        lsq_error_set(err, LSQ_E_NOT_SUPPORTED, "a %s connection's file does not change by "
                      "its own SQL: there are no row changes to capture", p->be->mode);
        return -1;
    }
    if (!updates && !commits) {
        cdc_flush(p);
        free_cdc(p->cdc);
        p->cdc = NULL;
        return p->be->watch_changes(p->conn, NULL, err);
    }
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL || ei_x_new(&c->pending) != 0 || ei_x_new(&c->out) != 0) {
            if (c != NULL) {
                (void)ei_x_free(&c->pending);
                free(c);
            }
            lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
            return -1;
        }
        c->pending.index = c->out.index = 0;
        sink.ctx = c;
        if (p->be->watch_changes(p->conn, &sink, err) != 0) {
            free_cdc(c);
            return -1;
        }
        p->cdc = c;
    }
    c->updates = updates;
    c->commits = commits;
    return 0;
}

void cdc_flush(lsq_port *p)
{
    cdc *c = p->cdc;

    if (c == NULL) return;
    /* A commit outside a statement of ours (COMMIT by the begin/commit
     * commands) is settled here. */
    if (c->committing && p->conn != NULL && p->be->autocommit != NULL)
        on_statement_done(c, p->be->autocommit(p->conn));
    emit(c);
}

void cdc_free(lsq_port *p)
{
    free_cdc(p->cdc);
    p->cdc = NULL;
}
