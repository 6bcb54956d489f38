/*
 * backend_replica.c - an embedded replica: a local file that answers
 * reads, a server that takes writes, and a syncer that brings the
 * server's pages into the file (../shared/protocols.md 3-5).
 *
 * Made of the other two backends, called through their own tables: a
 * local connection opened with stay_read_only (query_only that nothing
 * lifts, and the pragmas that would get past it refused), a remote one,
 * and a replica_sync with its own read-write handle. Nothing here runs
 * SQL of its own.
 *
 * Routing, per statement:
 * - prepared on the local file first; what compiles there and cannot
 *   write (sqlite3_stmt_readonly), and is not transaction control, reads
 *   the file;
 * - everything else goes to the server: writes, BEGIN/COMMIT/SAVEPOINT,
 *   and text the file cannot compile (a table the last sync has not
 *   brought yet: the server is the authority);
 * - inside a server transaction every statement goes to the server, so
 *   that reads see the transaction's own writes (a statement cached as a
 *   read is prepared on the server too, once);
 * - a read-only transaction (begin with read_only) is a local one: a
 *   consistent snapshot of the file.
 * With read_your_writes, a read that follows a forwarded write pulls first.
 *
 * The server connection is opened lazily when the server cannot be
 * reached at open: reads work offline, writes fail with `network' until
 * it answers.
 */
#include "backend.h"
#include "events.h"
#include "replica_bg.h"
#include "replica_sync.h"
#include "ro_guard.h"
#include "sql_scan.h"
#include "local_crypt.h"
#include "wipe.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct replica_conn {
    lsq_conn base;              /* base.be == &lsq_backend_replica */
    lsq_conn *local;            /* reads: the file, read-only for good */
    _Atomic(lsq_conn *) remote; /* writes: the server; NULL until it answered */
    replica_sync *sync;         /* the syncer of this thread */
    replica_bg *bg;             /* the sync thread (sync_interval), or NULL */
    int frozen;                 /* freeze/1: a plain local database from now on */
    lsq_open_opts ro;           /* what opening the server again takes (owned copies) */
    int read_your_writes;
    int dirty;                  /* a write went to the server since the last pull */
    long long sync_timeout_ms;
    lsq_crypt_vfs *crypt;       /* an encrypted file's VFS (the file's readers and
                                 * syncers go through it), or NULL */
} replica_conn;

struct lsq_stmt {
    replica_conn *c;
    lsq_stmt *loc;   /* the file's statement, NULL when it must go to the server */
    lsq_stmt *rem;   /* the server's, prepared when first needed */
    lsq_stmt *cur;   /* the one bound and stepped now */
    char *sql;       /* for preparing rem later */
    size_t n;
    int view;        /* a borrowed wrapper around a batch's statement */
};

static replica_conn *as_replica(lsq_conn *c)
{
    return (replica_conn *)c;
}

static void nomem(lsq_error *err)
{
    lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
}

static lsq_conn *remote_of(replica_conn *c)
{
    return atomic_load(&c->remote);
}

/* ---- the parts ------------------------------------------------------------------ */

static char *dup_or_null(const char *z)
{
    return z != NULL ? strdup(z) : NULL;
}

static void free_ro(lsq_open_opts *o)
{
    if (o->auth_token != NULL) wipe(o->auth_token, strlen(o->auth_token));
    free(o->auth_token);
    free(o->url);
    free(o->ca_file);
    memset(o, 0, sizeof *o);
}

/* The server connection, opened now if it was not yet. */
static lsq_conn *need_remote(replica_conn *c, lsq_error *err)
{
    lsq_conn *r = remote_of(c);

    if (r != NULL) return r;
    if (c->frozen) {
        lsq_error_set(err, LSQ_E_INTERNAL, "a frozen replica has no server");
        return NULL;
    }
    if (lsq_backend_remote.open(&c->ro, &r, err) != 0) return NULL;
    atomic_store(&c->remote, r);
    return r;
}

/* Say that a sync of this thread applied something (events.h). */
static void applied(const lsq_sync_info *info)
{
    if (info->pages > 0 || info->bootstrapped) events_sync("sync", info);
}

/* Bring the file up to the server's state before a read that follows a
 * forwarded write (read_your_writes). */
static int fresh(replica_conn *c, lsq_error *err)
{
    lsq_sync_info info;

    if (!c->dirty || !c->read_your_writes || c->frozen) return 0;
    if (lsq_backend_local.autocommit(c->local) == 0 || lsq_local_reading(c->local)) {
        /* Our own read transaction would keep the sync out until the busy
         * timeout: say why now instead. */
        lsq_error_set(err, LSQ_E_BUSY, "a read after a write must pull first "
                      "(read_your_writes), and a cursor or read-only transaction of this "
                      "connection holds the file: close it first, or sync/1 later");
        return -1;
    }
    if (replica_sync_run(c->sync, &info, err) != 0) return -1;
    c->dirty = 0;
    applied(&info);
    return 0;
}

/* ---- open / close ----------------------------------------------------------------- */

static int replica_close(lsq_conn *conn, lsq_error *err);

static int replica_open(const lsq_open_opts *o, lsq_conn **out, lsq_error *err)
{
    replica_conn *c = calloc(1, sizeof *c);
    lsq_open_opts lo = *o, so = *o;
    lsq_sync_info info;
    lsq_error rerr;
    lsq_conn *r = NULL;

    *out = NULL;
    if (c == NULL) {
        nomem(err);
        return -1;
    }
    c->base.be = &lsq_backend_replica;
    atomic_init(&c->remote, NULL);
    c->read_your_writes = o->read_your_writes;
    c->sync_timeout_ms = o->sync_timeout_ms;
    c->ro = *o;
    c->ro.path = NULL;
    c->ro.encryption_key = NULL; /* the server never sees it */
    c->ro.encryption_key_len = 0;
    c->ro.url = dup_or_null(o->url);
    c->ro.auth_token = dup_or_null(o->auth_token);
    c->ro.ca_file = dup_or_null(o->ca_file);
    if (c->ro.url == NULL || (o->auth_token != NULL && c->ro.auth_token == NULL) ||
        (o->ca_file != NULL && c->ro.ca_file == NULL)) {
        nomem(err);
        goto fail;
    }
    if (o->path[0] == 0 || strcmp(o->path, ":memory:") == 0 || strncmp(o->path, "file:", 5) == 0) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "a replica's path must be a file name (not "
                      "\":memory:\", \"\" or a file: URI)");
        goto fail;
    }
    if (o->read_only) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "read_only does not apply to a replica: its file "
                      "is read-only already, and writes go to the server");
        goto fail;
    }
    /* One VFS for the key, shared by the file's reader and syncers. */
    if (lsq_local_crypt_vfs(o, &c->crypt, err) != 0) goto fail;
    lo.crypt = so.crypt = c->crypt;
    lo.encryption_key = so.encryption_key = NULL;
    if ((c->sync = replica_sync_new(&so, err)) == NULL) goto fail;
    /* The file first: bootstrapped when missing, a crashed apply rolled
     * back when not. */
    if (replica_sync_prepare(c->sync, &info, err) != 0) {
        lsq_local_crypt_explain(o->path, c->crypt, err);
        goto fail;
    }
    lo.url = NULL;
    lo.create = 0;
    lo.stay_read_only = 1;
    if (lsq_backend_local.open(&lo, &c->local, err) != 0) goto fail;
    /* Then the server, if it answers (reads work without it). */
    if (lsq_backend_remote.open(&c->ro, &r, &rerr) == 0) atomic_store(&c->remote, r);
    else if (rerr.code == LSQ_E_AUTH || rerr.code == LSQ_E_BAD_ARGUMENT || rerr.code == LSQ_E_TLS) {
        *err = rerr; /* not a matter of being offline: say so now */
        goto fail;
    }
    /* A file that existed may be behind: one pull now, if the server
     * answers (offline, the file serves as it is). */
    if (!info.bootstrapped && r != NULL) (void)replica_sync_run(c->sync, &info, &rerr);
    /* Background sync: a syncer of its own, on a thread of its own. */
    if (o->sync_interval_ms > 0) {
        replica_sync *bs = replica_sync_new(&so, err);

        if (bs == NULL || (c->bg = replica_bg_start(bs, o->sync_interval_ms, err)) == NULL)
            goto fail;
    }
    *out = &c->base;
    return 0;
fail:
    {
        lsq_error ignored;

        (void)replica_close(&c->base, &ignored);
    }
    return -1;
}

static int replica_close(lsq_conn *conn, lsq_error *err)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r = remote_of(c);
    int rc = 0;

    replica_bg_stop(c->bg);
    if (r != NULL && lsq_backend_remote.close(r, err) != 0) rc = -1;
    if (c->local != NULL && lsq_backend_local.close(c->local, err) != 0) rc = -1;
    replica_sync_free(c->sync);
    free_ro(&c->ro);
    /* After every handle through it is closed (a zombie's files keep it
     * registered until they close). */
    lsq_crypt_vfs_release(c->crypt);
    free(c);
    return rc;
}

/* ---- statements ----------------------------------------------------------------------- */

static const lsq_backend *be_of(const lsq_stmt *s, const lsq_stmt *inner)
{
    return inner == s->loc ? &lsq_backend_local : &lsq_backend_remote;
}

/* 1 for a pragma that writes the database's content (ro_guard.h). */
static int writes_database(const char *sql, size_t n)
{
    char name[32];
    int has_arg;

    return sql_pragma(sql, n, name, sizeof name, &has_arg) && has_arg &&
           ro_guard_writes_database(name);
}

/* Where a statement the file compiled runs. */
enum { ON_FILE, ON_SERVER };

/* Transaction control goes to the server (it holds the transactions);
 * pragmas stay on the file (they read or set the connection's own state,
 * and the guard has refused those that would change the file); any other
 * statement that can write goes to the server. ON_FILE, ON_SERVER, or -1
 * (no memory). */
static int route(const char *sql, size_t n, lsq_stmt *loc, lsq_error *err)
{
    sql_stmt_info info;
    int where;

    if (sql_scan_params(sql, n, &info) != 0) {
        nomem(err);
        return -1;
    }
    if (sql_is_transaction_control(info.keyword)) where = ON_SERVER;
    else if (strcmp(info.keyword, "PRAGMA") == 0) where = ON_FILE;
    else where = lsq_backend_local.readonly(loc) ? ON_FILE : ON_SERVER;
    sql_info_free(&info);
    return where;
}

static int in_remote_tx(replica_conn *c)
{
    lsq_conn *r = remote_of(c);

    return r != NULL && !lsq_backend_remote.autocommit(r);
}

static int replica_prepare(lsq_conn *conn, const char *sql, size_t n, lsq_stmt **out,
                           lsq_error *err)
{
    replica_conn *c = as_replica(conn);
    lsq_stmt *loc = NULL, *s;
    lsq_error lerr;
    int where;

    *out = NULL;
    /* The file up to date first, so that it compiles what our own writes
     * created. Best effort: a statement that runs on the file pulls again
     * when it is bound (pick), and a write needs no pull at all. */
    (void)fresh(c, &lerr);
    if (!c->frozen && writes_database(sql, n)) {
        loc = NULL; /* PRAGMA user_version = N: the server's database */
    } else if (lsq_backend_local.prepare(c->local, sql, n, &loc, &lerr) != 0) {
        /* What the file cannot compile the server may know (a table the
         * last sync has not brought); anything else (the guard's
         * refusals, two statements, too long) is the answer. */
        if (lerr.code != LSQ_E_ERROR || c->frozen) {
            *err = lerr;
            return -1;
        }
        loc = NULL;
    } else if (loc == NULL) {
        return 0; /* no statement in the text */
    } else if (!c->frozen && (where = route(sql, n, loc, err)) != ON_FILE) {
        lsq_backend_local.finalize(loc);
        if (where < 0) return -1;
        loc = NULL;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->sql = malloc(n + 1)) == NULL) {
        free(s);
        if (loc != NULL) lsq_backend_local.finalize(loc);
        nomem(err);
        return -1;
    }
    memcpy(s->sql, sql, n);
    s->sql[n] = 0;
    s->n = n;
    s->c = c;
    s->loc = loc;
    if (loc == NULL) {
        lsq_conn *r = need_remote(c, err);

        if (r == NULL || lsq_backend_remote.prepare(r, sql, n, &s->rem, err) != 0) {
            free(s->sql);
            free(s);
            return -1;
        }
        if (s->rem == NULL) { /* the server saw no statement either */
            free(s->sql);
            free(s);
            return 0;
        }
    }
    *out = s;
    return 0;
}

static int replica_prepare_next(lsq_conn *conn, const char *sql, size_t n, lsq_stmt **out,
                                size_t *used, lsq_error *err)
{
    (void)conn, (void)sql, (void)n, (void)out, (void)used;
    /* Scripts run through run_batch, which decides where the whole script
     * goes; nothing prepares a replica's script piece by piece. */
    lsq_error_set(err, LSQ_E_NOT_SUPPORTED, "prepare_next on a replica");
    return -1;
}

/* A write inside a read-only transaction (the only kind the file has). */
static void read_only_tx_error(lsq_error *err)
{
    lsq_error_sqlite(err, SQLITE_READONLY, "attempt to write a readonly database (inside a "
                     "read-only transaction)");
}

/* Which statement runs this time: the server's while it holds a
 * transaction or when the text must go there, the file's otherwise. */
static lsq_stmt *pick(lsq_stmt *s, lsq_error *err)
{
    replica_conn *c = s->c;

    if (s->view) return s->cur;
    if (c->frozen && s->loc == NULL) {
        /* Cached as a write before the freeze: the file takes it now. */
        if (lsq_backend_local.prepare(c->local, s->sql, s->n, &s->loc, err) != 0) return NULL;
        if (s->loc == NULL) {
            lsq_error_set(err, LSQ_E_INTERNAL, "no statement in the text");
            return NULL;
        }
    }
    if (s->loc != NULL && (c->frozen || !in_remote_tx(c))) {
        if (fresh(c, err) != 0) return NULL;
        return s->cur = s->loc;
    }
    if (!lsq_backend_local.autocommit(c->local)) {
        read_only_tx_error(err);
        return NULL;
    }
    if (s->rem == NULL) {
        lsq_conn *r = need_remote(c, err);

        if (r == NULL || lsq_backend_remote.prepare(r, s->sql, s->n, &s->rem, err) != 0)
            return NULL;
        if (s->rem == NULL) {
            lsq_error_set(err, LSQ_E_INTERNAL, "the server found no statement in the text");
            return NULL;
        }
    }
    return s->cur = s->rem;
}

static int replica_bind(lsq_stmt *s, const lsq_params *p, int copy, lsq_error *err)
{
    lsq_stmt *in = pick(s, err);

    return in == NULL ? -1 : be_of(s, in)->bind(in, p, copy, err);
}

static void replica_reset(lsq_stmt *s)
{
    if (s->loc != NULL) lsq_backend_local.reset(s->loc);
    if (s->rem != NULL) lsq_backend_remote.reset(s->rem);
    if (!s->view) s->cur = NULL;
}

/* For introspection: what runs now, else the file's, else the server's. */
static lsq_stmt *any(lsq_stmt *s)
{
    return s->cur != NULL ? s->cur : s->loc != NULL ? s->loc : s->rem;
}

static int replica_param_count(lsq_stmt *s)
{
    return be_of(s, any(s))->param_count(any(s));
}

static const char *replica_param_name(lsq_stmt *s, int i)
{
    return be_of(s, any(s))->param_name(any(s), i);
}

static const char *replica_column_decltype(lsq_stmt *s, int i)
{
    return be_of(s, any(s))->column_decltype(any(s), i);
}

static int replica_stmt_readonly(lsq_stmt *s)
{
    return s->loc != NULL || be_of(s, any(s))->readonly(any(s));
}

static int replica_step(lsq_stmt *s, lsq_error *err)
{
    lsq_stmt *in = s->cur;
    int rc;

    if (in == NULL && (in = pick(s, err)) == NULL) return LSQ_STEP_ERROR;
    rc = be_of(s, in)->step(in, err);
    /* A statement the server ran may have written: the next read pulls. */
    if (in == s->rem && !s->view && rc != LSQ_STEP_ERROR) s->c->dirty = 1;
    return rc;
}

static int replica_column_count(lsq_stmt *s)
{
    return be_of(s, any(s))->column_count(any(s));
}

static int replica_column_name(lsq_stmt *s, int i, const char **p, size_t *n)
{
    return be_of(s, any(s))->column_name(any(s), i, p, n);
}

static int replica_column_value(lsq_stmt *s, int i, lsq_value *out, lsq_error *err)
{
    return be_of(s, any(s))->column_value(any(s), i, out, err);
}

static void replica_finalize(lsq_stmt *s)
{
    if (s->view) return;
    if (s->loc != NULL) lsq_backend_local.finalize(s->loc);
    if (s->rem != NULL) lsq_backend_remote.finalize(s->rem);
    free(s->sql);
    free(s);
}

static int replica_steps_at_open(lsq_stmt *s)
{
    return any(s) == s->rem;
}

/* ---- the connection --------------------------------------------------------------------- */

static long long replica_changes(lsq_conn *conn)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r = remote_of(c);

    /* As SQLite's: the count of the last write, which only the server
     * runs (reads leave it as it was). */
    return r != NULL && !c->frozen ? lsq_backend_remote.changes(r)
                                   : lsq_backend_local.changes(c->local);
}

/* Both sides' counts: a statement changed something iff the sum moved. */
static long long replica_total_changes(lsq_conn *conn)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r = remote_of(c);

    return lsq_backend_local.total_changes(c->local) +
           (r != NULL ? lsq_backend_remote.total_changes(r) : 0);
}

static long long replica_last_insert_rowid(lsq_conn *conn)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r = remote_of(c);

    return r != NULL && !c->frozen ? lsq_backend_remote.last_insert_rowid(r)
                                        : lsq_backend_local.last_insert_rowid(c->local);
}

static void replica_interrupt(lsq_conn *conn)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r = remote_of(c);

    lsq_backend_local.interrupt(c->local);
    if (r != NULL) lsq_backend_remote.interrupt(r);
    replica_sync_interrupt(c->sync);
}

static void replica_clear_interrupt(lsq_conn *conn)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r = remote_of(c);

    lsq_backend_local.clear_interrupt(c->local);
    if (r != NULL) lsq_backend_remote.clear_interrupt(r);
    replica_sync_clear_interrupt(c->sync);
}

/* Functions and hooks plug into the file's connection: reads run there,
 * writes go to the server (whose SQL knows nothing of them). */
static struct sqlite3 *replica_sqlite(lsq_conn *conn)
{
    return lsq_backend_local.sqlite(as_replica(conn)->local);
}

static int replica_autocommit(lsq_conn *conn)
{
    replica_conn *c = as_replica(conn);

    return lsq_backend_local.autocommit(c->local) && !in_remote_tx(c);
}

static const char *replica_filename(lsq_conn *conn)
{
    return lsq_backend_local.filename(as_replica(conn)->local);
}

static int replica_db_readonly(lsq_conn *conn)
{
    (void)conn;
    return 0; /* writes are taken (by the server) */
}

static int replica_set_busy_timeout(lsq_conn *conn, int ms, lsq_error *err)
{
    replica_conn *c = as_replica(conn);

    replica_sync_set_busy_timeout(c->sync, ms);
    return lsq_backend_local.set_busy_timeout(c->local, ms, err);
}

static int replica_limit(lsq_conn *conn, int id, int value)
{
    return lsq_backend_local.limit(as_replica(conn)->local, id, value);
}

static int replica_encrypted(lsq_conn *conn)
{
    return as_replica(conn)->crypt != NULL;
}

static int replica_backup(lsq_conn *conn, const char *dest, const unsigned char *key, size_t n,
                          lsq_error *err)
{
    if (fresh(as_replica(conn), err) != 0) return -1;
    return lsq_backend_local.backup(as_replica(conn)->local, dest, key, n, err);
}

static void replica_busy_stats(lsq_conn *conn, long long *waits, long long *max_ms)
{
    lsq_backend_local.busy_stats(as_replica(conn)->local, waits, max_ms);
}

/* ---- transactions ------------------------------------------------------------------------ */

static int replica_begin(lsq_conn *conn, int mode, int read_only, lsq_error *err)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r;

    /* A read-only transaction is a snapshot of the file. */
    if (read_only || c->frozen) {
        if (fresh(c, err) != 0) return -1;
        return lsq_backend_local.begin(c->local, mode, read_only, err);
    }
    if (!lsq_backend_local.autocommit(c->local)) {
        lsq_error_set(err, LSQ_E_ERROR, "cannot start a transaction within a transaction");
        return -1;
    }
    if ((r = need_remote(c, err)) == NULL) return -1;
    return lsq_backend_remote.begin(r, mode, read_only, err);
}

/* The side that holds the transaction: the file's, or the server's. */
static int end_tx(replica_conn *c, int commit, lsq_error *err)
{
    lsq_conn *r = remote_of(c);
    int rc;

    if (!lsq_backend_local.autocommit(c->local) || r == NULL || c->frozen)
        return commit ? lsq_backend_local.commit(c->local, err)
                      : lsq_backend_local.rollback(c->local, err);
    rc = commit ? lsq_backend_remote.commit(r, err) : lsq_backend_remote.rollback(r, err);
    c->dirty = 1;
    return rc;
}

static int replica_commit(lsq_conn *conn, lsq_error *err)
{
    return end_tx(as_replica(conn), 1, err);
}

static int replica_rollback(lsq_conn *conn, lsq_error *err)
{
    return end_tx(as_replica(conn), 0, err);
}

static int replica_savepoint(lsq_conn *conn, int op, const char *name, lsq_error *err)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r;

    if (!lsq_backend_local.autocommit(c->local) || c->frozen)
        return lsq_backend_local.savepoint(c->local, op, name, err);
    if ((r = need_remote(c, err)) == NULL) return -1;
    return lsq_backend_remote.savepoint(r, op, name, err);
}

static int replica_clean(lsq_conn *conn, lsq_error *err)
{
    replica_conn *c = as_replica(conn);
    lsq_conn *r = remote_of(c);

    if (lsq_backend_local.clean(c->local, err) != 0) return -1;
    return r != NULL ? lsq_backend_remote.clean(r, err) : 0;
}

/* ---- batches ------------------------------------------------------------------------------ */

/* run_batch of one side, with the command layer's statement source and
 * sink seen through replica statements: the source hands out the file's
 * statement of a cached replica statement (and takes it back), the sink
 * gets each statement wrapped. The local backend holds one statement at a
 * time, so one held wrapper is all there is to remember. */
typedef struct side_ctx {
    replica_conn *c;
    const lsq_stmt_source *src;
    const lsq_batch_sink *sink;
    lsq_stmt *held;
    int remote;
} side_ctx;

static int side_get(void *ctx, const char *sql, size_t n, lsq_stmt **s, lsq_error *err)
{
    side_ctx *x = ctx;
    lsq_stmt *w = NULL;

    *s = NULL;
    if (x->src->get(x->src->ctx, sql, n, &w, err) != 0) return -1;
    if (w == NULL) return 0;
    if (w->loc == NULL) {
        x->src->put(x->src->ctx, sql, n, w);
        lsq_error_set(err, LSQ_E_INTERNAL, "a write in a batch of reads");
        return -1;
    }
    x->held = w;
    *s = w->loc;
    return 0;
}

static void side_put(void *ctx, const char *sql, size_t n, lsq_stmt *s)
{
    side_ctx *x = ctx;

    (void)s;
    if (x->held != NULL) x->src->put(x->src->ctx, sql, n, x->held);
    x->held = NULL;
}

static int side_rows(void *ctx, size_t i, lsq_stmt *in, lsq_error *err)
{
    side_ctx *x = ctx;
    lsq_stmt view;

    if (in == NULL) return x->sink->rows(x->sink->ctx, i, NULL, err);
    memset(&view, 0, sizeof view);
    view.c = x->c;
    view.view = 1;
    view.cur = in;
    if (x->remote) view.rem = in;
    else view.loc = in;
    return x->sink->rows(x->sink->ctx, i, &view, err);
}

static int side_counts(void *ctx, size_t i, long long changes, long long rowid)
{
    side_ctx *x = ctx;

    return x->sink->counts(x->sink->ctx, i, changes, rowid);
}

/* 1 if every item reads the file (0: something goes to the server). */
static int all_local(replica_conn *c, const lsq_stmt_source *src, const lsq_batch_item *items,
                     size_t n, int mode, lsq_error *err)
{
    size_t i;

    if (c->frozen) return 1;
    if (in_remote_tx(c)) return 0;
    if (mode == LSQ_BATCH_SCRIPT) {
        /* Each statement of the script compiled on the file: reads only? */
        const char *sql = items[0].sql;
        size_t off = 0, used;
        int where;

        while (off < items[0].n) {
            lsq_stmt *s = NULL;
            lsq_error ignored;

            if (lsq_backend_local.prepare_next(c->local, sql + off, items[0].n - off, &s, &used,
                                               &ignored) != 0)
                return 0;
            if (s == NULL) break;
            where = route(sql + off, used, s, err);
            lsq_backend_local.finalize(s);
            if (where != ON_FILE) return where < 0 ? -1 : 0;
            off += used;
        }
        return 1;
    }
    for (i = 0; i < n; i++) {
        lsq_stmt *w = NULL;
        int local;

        if (i > 0 && items[i].sql == items[i - 1].sql && items[i].n == items[i - 1].n) continue;
        if (src->get(src->ctx, items[i].sql, items[i].n, &w, err) != 0) {
            err->index = (long)i + 1;
            return -1;
        }
        if (w == NULL) continue;
        local = w->loc != NULL;
        src->put(src->ctx, items[i].sql, items[i].n, w);
        if (!local) return 0;
    }
    return 1;
}

static int replica_run_batch(lsq_conn *conn, const lsq_stmt_source *src,
                             const lsq_batch_item *items, size_t n, int mode,
                             const lsq_batch_sink *sink, lsq_batch_out *out, lsq_error *err)
{
    replica_conn *c = as_replica(conn);
    side_ctx x = { c, src, sink, NULL, 0 };
    lsq_stmt_source side_src = { &x, side_get, side_put };
    lsq_batch_sink side_sink = { &x, side_rows, side_counts };
    lsq_conn *r;
    int local, rc;

    memset(out, 0, sizeof *out);
    if (fresh(c, err) != 0) return -1;
    local = all_local(c, src, items, n, mode, err);
    if (local < 0) return -1;
    if (local) {
        return lsq_backend_local.run_batch(c->local, &side_src, items, n, mode,
                                           sink != NULL ? &side_sink : NULL, out, err);
    }
    if (!lsq_backend_local.autocommit(c->local)) {
        read_only_tx_error(err);
        return -1;
    }
    if ((r = need_remote(c, err)) == NULL) return -1;
    x.remote = 1;
    rc = lsq_backend_remote.run_batch(r, &side_src, items, n, mode,
                                      sink != NULL ? &side_sink : NULL, out, err);
    c->dirty = 1;
    return rc;
}

/* ---- replication ----------------------------------------------------------------------------- */

static int replica_sync_cmd(lsq_conn *conn, long long until, lsq_sync_info *info, lsq_error *err)
{
    replica_conn *c = as_replica(conn);
    long long waited = 0;

    if (c->frozen) {
        lsq_error_set(err, LSQ_E_NOT_SUPPORTED, "the replica was frozen: it never syncs again");
        return -1;
    }
    for (;;) {
        if (replica_sync_run(c->sync, info, err) != 0) return -1;
        c->dirty = 0;
        applied(info);
        if (until < 0 || info->revision >= until) return 0;
        /* The server has not got there yet (or its history restarted
         * below it): ask again until the sync timeout. */
        if (waited >= c->sync_timeout_ms) {
            lsq_error_set(err, LSQ_E_TIMEOUT, "the server is at revision %lld, not %lld, after "
                          "%lld ms", info->revision, until, waited);
            return -1;
        }
        (void)sqlite3_sleep(50);
        waited += 50 + info->ms;
    }
}

static int replica_revision(lsq_conn *conn, long long *rev, lsq_error *err)
{
    replica_conn *c = as_replica(conn);
    replica_state st;

    if (c->frozen) {
        lsq_error_set(err, LSQ_E_NOT_SUPPORTED, "the replica was frozen: it has no revision");
        return -1;
    }
    if (replica_sync_state(c->sync, &st, err) != 0) return -1;
    *rev = st.revision;
    return 0;
}

static int replica_freeze(lsq_conn *conn, lsq_error *err)
{
    replica_conn *c = as_replica(conn);

    if (c->frozen) return 0;
    if (!replica_autocommit(conn)) {
        lsq_error_set(err, LSQ_E_MISUSE, "freeze inside a transaction");
        return -1;
    }
    /* No sync may start once the file is a plain database. */
    replica_bg_stop(c->bg);
    c->bg = NULL;
    if (replica_sync_freeze(c->sync, err) != 0) return -1;
    /* From here on a plain database: the guard goes; the server
     * connection stays unused until close (statements cached for it are
     * finalized with it). */
    if (lsq_local_lift_guard(c->local, err) != 0) return -1;
    c->frozen = 1;
    return 0;
}

const lsq_backend lsq_backend_replica = {
    .mode = "replica",
    .open = replica_open,
    .close = replica_close,
    .prepare = replica_prepare,
    .prepare_next = replica_prepare_next,
    .bind = replica_bind,
    .reset = replica_reset,
    .param_count = replica_param_count,
    .param_name = replica_param_name,
    .column_decltype = replica_column_decltype,
    .readonly = replica_stmt_readonly,
    .step = replica_step,
    .column_count = replica_column_count,
    .column_name = replica_column_name,
    .column_value = replica_column_value,
    .finalize = replica_finalize,
    .changes = replica_changes,
    .total_changes = replica_total_changes,
    .last_insert_rowid = replica_last_insert_rowid,
    .interrupt = replica_interrupt,
    .clear_interrupt = replica_clear_interrupt,
    .sqlite = replica_sqlite,
    .autocommit = replica_autocommit,
    .filename = replica_filename,
    .db_readonly = replica_db_readonly,
    .set_busy_timeout = replica_set_busy_timeout,
    .limit = replica_limit,
    .backup = replica_backup,
    .encrypted = replica_encrypted,
    .busy_stats = replica_busy_stats,
    .begin = replica_begin,
    .commit = replica_commit,
    .rollback = replica_rollback,
    .savepoint = replica_savepoint,
    .clean = replica_clean,
    .steps_at_open = replica_steps_at_open,
    .run_batch = replica_run_batch,
    .sync = replica_sync_cmd,
    .revision = replica_revision,
    .freeze = replica_freeze,
};
