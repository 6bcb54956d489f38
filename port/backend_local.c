/*
 * backend_local.c - the local backend: a SQLite file (or :memory:) opened
 * with the Debian libsqlite3.
 */
#include "backend.h"
#include "crypt_rekey.h"
#include "journal_gather.h"
#include "local_crypt.h"
#include "local_hooks.h"
#include "params.h"
#include "ro_guard.h"
#include "sqlite_log.h"
#include "sqlite_value.h"
#include "uuid_sql.h"
#include "vector_diskann.h"
#include "vector_index.h"
#include "vector_sql.h"
#include "wipe.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Interrupts are a flag read by a progress handler and by our busy
 * handler, not sqlite3_interrupt(): SQLite keeps that one latched while
 * any statement is active (an open cursor), so it would also stop
 * statements started after the one it was meant for. The worker clears
 * the flag before each request (clear_interrupt). */
#define PROGRESS_OPS 1000

/* The statements of transaction control (lsq_tx_sql), prepared once per
 * connection: a transaction costs a BEGIN and a COMMIT, and compiling
 * them each time would be most of that cost. */
/* A local connection: the base every backend's connection starts with
 * (backend.h), then SQLite's handle and what we keep beside it. */
typedef struct local_conn {
    lsq_conn base;          /* base.be == &lsq_backend_local */
    sqlite3 *db;            /* the handle; closed by local_close */
    atomic_int interrupt;   /* 1: stop the running statement */
    atomic_int busy_ms;     /* how long to wait on a lock */
    sqlite3_stmt *tx[LSQ_TXSQL_COUNT]; /* transaction control, prepared on first use */
    const char *vfs;        /* the VFS of the file (a registered name), NULL: default */
    lsq_crypt_vfs *crypt;   /* an encrypted file's VFS (its key), or NULL */
    int open_flags;         /* of sqlite3_open_v2, for a reopen (rekey) */
    int tx_read_only;       /* query_only was set by a read_only begin */
    int stay_read_only;     /* query_only for good (lsq_open_opts.stay_read_only) */
    char refused[RO_GUARD_NAME]; /* the pragma the guard refused last */
    local_hooks *hooks;     /* the authorizer and change hooks (local_hooks.h) */
    lsq_vindex *vx;         /* libSQL's vector indexes (vector_index.h; db's, not freed here) */
    long long busy_waits;   /* statements that waited on a lock (main thread only) */
    long long busy_max_ms;  /* the longest such wait */
} local_conn;

static local_conn *as_local(lsq_conn *c)
{
    return (local_conn *)c;
}

static int local_encrypted(lsq_conn *c);

static int on_progress(void *arg)
{
    local_conn *c = arg;

    return atomic_load_explicit(&c->interrupt, memory_order_relaxed);
}

/* The busy handler's sleeps, ms: 1 ms steps for the first 30 ms, then
 * growing as SQLite's default handler does. A lock is usually held for a
 * few ms (a writer's commit, a replica's apply: 2-10 ms measured), and a
 * reader that slept 10 or 25 ms past its release waited for nothing: the
 * fine steps keep the wait within about a millisecond of the lock. */
static int busy_delay(int count)
{
    static const unsigned char grow[] = { 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 };

    if (count < 30) return 1;
    count -= 30;
    return count < (int)sizeof grow ? grow[count] : 100;
}

/* Wait on a locked database up to the busy timeout, but give up at once
 * when interrupted. */
static int on_busy(void *arg, int count)
{
    local_conn *c = arg;
    int limit = atomic_load(&c->busy_ms), slept = 0, delay, i;

    if (atomic_load(&c->interrupt)) return 0;
    for (i = 0; i < count && slept < limit; i++) slept += busy_delay(i);
    if (slept >= limit) return 0;
    delay = busy_delay(count);
    /* The wait this ends up being is at least what was slept by then. */
    if (count == 0) c->busy_waits++;
    if (delay > limit - slept) delay = limit - slept;
    if (slept + delay > c->busy_max_ms) c->busy_max_ms = slept + delay;
    (void)sqlite3_sleep(delay);
    return !atomic_load(&c->interrupt);
}

struct lsq_stmt {
    sqlite3_stmt *st;   /* the prepared statement */
    local_conn *conn;   /* owning connection */
    int count;          /* parameters in the statement */
    int is_begin;       /* the statement is BEGIN [DEFERRED|IMMEDIATE|EXCLUSIVE] */
    int sp_op;          /* SAVEPOINT, RELEASE, ROLLBACK TO (LSQ_SP_*), or -1 */
    char *sp_name;      /* its savepoint, as SQLite parsed it (malloc'd) */
    int schema_op;      /* creates, drops or alters an index or table (vector_index.h) */
    int vector_ddl;     /* and calls libsql_vector_idx: a vector index's CREATE */
};

static void set_db_error(lsq_error *err, sqlite3 *db, int rc)
{
    lsq_error_sqlite(err, sqlite3_extended_errcode(db) ? sqlite3_extended_errcode(db) : rc,
                     sqlite3_errmsg(db));
}

/* A compile error, told plainly when the read-only guard refused it. */
static void set_prepare_error(lsq_error *err, local_conn *c, int rc)
{
    const char *denied = local_hooks_denied(c->hooks);

    /* A denied function is SQLite's SQLITE_ERROR, the rest SQLITE_AUTH:
     * a denial recorded by this prepare is the reason either way. */
    if (denied != NULL) {
        lsq_error_set(err, LSQ_E_AUTH, "%s", denied);
        return;
    }
    if ((rc & 0xff) == SQLITE_AUTH && c->refused[0] != 0) {
        lsq_error_set(err, LSQ_E_READONLY, "PRAGMA %s is refused: this connection stays "
                      "read-only (an embedded replica's file is written by its sync alone)",
                      c->refused);
        c->refused[0] = 0;
        return;
    }
    set_db_error(err, c->db, rc);
}

/* ---- opening: one path, a list of setup steps -------------------------------- */

/* What every local connection gets right after SQLite opened it, in order.
 * A feature that needs a connection set up (SQL functions, hooks) adds a
 * step here, not a branch in open. 0, or -1 with *err. */
typedef int (*setup_step)(local_conn *c, const lsq_open_opts *o, lsq_error *err);

static int setup_result_codes(local_conn *c, const lsq_open_opts *o, lsq_error *err)
{
    (void)o, (void)err;
    (void)sqlite3_extended_result_codes(c->db, 1);
    return 0;
}

/* Extensions stay off unless a later option turns them on. */
static int setup_no_extensions(local_conn *c, const lsq_open_opts *o, lsq_error *err)
{
    (void)o, (void)err;
    (void)sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    return 0;
}

/* interrupt() from the watchdog thread and the busy timeout. */
static int setup_interrupts(local_conn *c, const lsq_open_opts *o, lsq_error *err)
{
    int rc;

    atomic_init(&c->interrupt, 0);
    atomic_init(&c->busy_ms, (int)o->busy_timeout_ms);
    sqlite3_progress_handler(c->db, PROGRESS_OPS, on_progress, c);
    rc = sqlite3_busy_handler(c->db, on_busy, c);
    if (rc == SQLITE_OK) return 0;
    set_db_error(err, c->db, rc);
    return -1;
}

static int tx_exec(local_conn *c, int which, lsq_error *err);

/* A connection that must stay read-only gets its guard now, for good:
 * query_only, and the pragmas that would get past it refused
 * (ro_guard.h). */
static int setup_read_only_guard(local_conn *c, const lsq_open_opts *o, lsq_error *err)
{
    c->stay_read_only = o->stay_read_only;
    if (!c->stay_read_only) return 0;
    return tx_exec(c, LSQ_TXSQL_QUERY_ONLY_ON, err);
}

/* An error of vector_index.h: its message (NULL: out of memory). */
static void vindex_error(lsq_error *err, char *why)
{
    if (why == NULL) lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
    else lsq_error_sqlite(err, SQLITE_ERROR, why);
    sqlite3_free(why);
}

/* The authorizer (it applies the guard above) and the change hooks, on
 * every handle the connection has (local_hooks.h). */
static int setup_hooks(local_conn *c, const lsq_open_opts *o, lsq_error *err)
{
    int rc;

    (void)o;
    if (c->hooks == NULL && (c->hooks = local_hooks_new(&c->stay_read_only, c->refused)) == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    rc = local_hooks_install(c->hooks, c->db);
    if (rc == SQLITE_OK) return 0;
    set_db_error(err, c->db, rc);
    return -1;
}

/* libSQL's SQL: the vector functions, uuid, vector indexes and
 * vector_top_k. */
static int setup_libsql_sql(local_conn *c, const lsq_open_opts *o, lsq_error *err)
{
    char *why = NULL;
    int rc;

    if ((rc = lsq_vector_sql_register(c->db)) != SQLITE_OK ||
        (rc = lsq_uuid_sql_register(c->db)) != SQLITE_OK) {
        set_db_error(err, c->db, rc);
        return -1;
    }
    if (lsq_vindex_attach(c->db, !o->read_only && !c->stay_read_only, &c->vx, &why) != 0) {
        vindex_error(err, why);
        return -1;
    }
    return 0;
}

int lsq_local_reading(lsq_conn *conn)
{
    local_conn *c = as_local(conn);
    sqlite3_stmt *st = NULL;

    while ((st = sqlite3_next_stmt(c->db, st)) != NULL)
        if (sqlite3_stmt_busy(st)) return 1;
    return 0;
}

int lsq_local_lift_guard(lsq_conn *conn, lsq_error *err)
{
    local_conn *c = as_local(conn);
    int rc;

    c->stay_read_only = 0;
    lsq_vindex_set_writable(c->vx, 1);
    /* Installed again: statements compiled under the guard are expired. */
    rc = local_hooks_install(c->hooks, c->db);
    if (rc != SQLITE_OK) {
        c->stay_read_only = 1;
        set_db_error(err, c->db, rc);
        return -1;
    }
    c->tx_read_only = 0;
    return tx_exec(c, LSQ_TXSQL_QUERY_ONLY_OFF, err);
}

static const setup_step aSetup[] = {
    setup_result_codes,
    setup_no_extensions,
    setup_interrupts,
    setup_read_only_guard,
    setup_hooks,
    setup_libsql_sql,
};

static int local_open(const lsq_open_opts *o, lsq_conn **out, lsq_error *err)
{
    int flags = SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    local_conn *c;
    size_t i;
    int rc;

    flags |= o->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (!o->read_only && o->create) flags |= SQLITE_OPEN_CREATE;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    c->base.be = &lsq_backend_local;
    if (lsq_local_crypt_vfs(o, &c->crypt, err) != 0) {
        free(c);
        return -1;
    }
    /* The VFS the file goes through: an encrypted file's own, the one
     * the options name, or SQLite's default under the journal-gathering
     * shim (journal_gather.h; NULL, the default itself, if the shim could
     * not be registered). Backup writes through the same one, so an
     * encrypted database's copy is encrypted with its key. */
    c->vfs = c->crypt != NULL ? lsq_crypt_vfs_name(c->crypt) : lsq_plain_vfs(o->vfs);
    c->open_flags = flags;
    rc = sqlite3_open_v2(o->path, &c->db, flags, c->vfs);
    if (rc != SQLITE_OK) {
        if (c->db != NULL) lsq_error_sqlite(err, rc, sqlite3_errmsg(c->db));
        else lsq_error_sqlite(err, rc, NULL);
        goto fail;
    }
    for (i = 0; i < sizeof aSetup / sizeof aSetup[0]; i++)
        if (aSetup[i](c, o, err) != 0) goto fail;
    if (lsq_local_crypt_check(c->db, c->crypt, err) != 0) goto fail;
    lsq_vindex_ready(c->vx);
    *out = &c->base;
    return 0;
fail:
    lsq_vindex_detach(c->vx);
    (void)sqlite3_close_v2(c->db);
    lsq_crypt_vfs_release(c->crypt);
    local_hooks_free(c->hooks);
    free(c);
    return -1;
}

static int local_close(lsq_conn *conn, lsq_error *err)
{
    local_conn *c = as_local(conn);
    int rc, i;

    for (i = 0; i < LSQ_TXSQL_COUNT; i++) (void)sqlite3_finalize(c->tx[i]);
    if (c->hooks != NULL) local_hooks_detach(c->hooks, c->db);
    lsq_vindex_detach(c->vx);
    rc = sqlite3_close_v2(c->db);
    /* Unregistered (and its key wiped) once the last file closes: a
     * zombie handle's too. */
    lsq_crypt_vfs_release(c->crypt);
    local_hooks_free(c->hooks);
    free(c);
    if (rc != SQLITE_OK) {
        lsq_error_sqlite(err, rc, NULL);
        return -1;
    }
    return 0;
}

/* True if text holds nothing but white space, semicolons and comments. */
static int only_trailing_noise(sqlite3 *db, const char *tail, size_t n, lsq_error *err)
{
    sqlite3_stmt *extra = NULL;
    int rc;

    if (n == 0) return 1;
    rc = sqlite3_prepare_v2(db, tail, (int)n, &extra, NULL);
    if (rc != SQLITE_OK) {
        set_db_error(err, db, rc);
        return 0;
    }
    if (extra != NULL) {
        (void)sqlite3_finalize(extra);
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                      "the SQL text holds more than one statement; "
                      "run it with execute_script or one statement at a time");
        return 0;
    }
    return 1;
}

/* True if sql starts (after white space and comments) with the keyword
 * BEGIN. */
static int starts_with_begin(const char *z)
{
    for (;;) {
        while (*z == ' ' || *z == '\t' || *z == '\n' || *z == '\r' || *z == '\f') z++;
        if (z[0] == '-' && z[1] == '-') {
            while (*z && *z != '\n') z++;
        } else if (z[0] == '/' && z[1] == '*') {
            const char *end = strstr(z + 2, "*/");
            if (end == NULL) return 0;
            z = end + 2;
        } else {
            break;
        }
    }
    return sqlite3_strnicmp(z, "begin", 5) == 0 &&
           !((z[5] >= 'a' && z[5] <= 'z') || (z[5] >= 'A' && z[5] <= 'Z') ||
             (z[5] >= '0' && z[5] <= '9') || z[5] == '_' || (unsigned char)z[5] >= 0x80);
}

static void local_finalize(lsq_stmt *s);

/* Our statement around st, with the savepoint operation the authorizer
 * saw while st was compiled. */
static int wrap_stmt(local_conn *c, sqlite3_stmt *st, lsq_stmt **out, lsq_error *err)
{
    lsq_stmt *s;
    int sp_op, schema_op, vector_fn;
    char *sp_name;

    local_hooks_take_savepoint(c->hooks, &sp_op, &sp_name);
    local_hooks_take_schema(c->hooks, &schema_op, &vector_fn);
    if (st == NULL) {
        free(sp_name);
        return 0;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        free(sp_name);
        (void)sqlite3_finalize(st);
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    s->st = st;
    s->conn = c;
    s->sp_op = sp_op;
    s->sp_name = sp_name;
    s->is_begin = starts_with_begin(sqlite3_sql(st));
    s->schema_op = schema_op || vector_fn;
    s->vector_ddl = vector_fn;
    s->count = sqlite3_bind_parameter_count(st);
    *out = s;
    return 0;
}

static int local_prepare(lsq_conn *conn, const char *sql, size_t n, lsq_stmt **out,
                         lsq_error *err)
{
    local_conn *c = as_local(conn);
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc;

    *out = NULL;
    if (n > (size_t)0x7ffffffe) {
        lsq_error_set(err, LSQ_E_TOOBIG, "SQL text too long");
        return -1;
    }
    local_hooks_before_prepare(c->hooks);
    rc = sqlite3_prepare_v3(c->db, sql, (int)n, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (rc != SQLITE_OK) {
        set_prepare_error(err, c, rc);
        return -1;
    }
    if (wrap_stmt(c, st, out, err) != 0) return -1;
    if (!only_trailing_noise(c->db, tail, n - (size_t)(tail - sql), err)) {
        local_finalize(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Length of the first statement of a script that failed to compile, so the
 * error can show that statement alone: the shortest prefix ending in ';'
 * that SQLite calls complete (string literals and comments respected), or
 * everything. Only runs on the error path. */
static size_t first_statement_length(const char *sql, size_t n)
{
    char *z = malloc(n + 1);
    size_t i;

    if (z == NULL) return n;
    for (i = 0; i < n; i++) {
        z[i] = sql[i];
        if (sql[i] != ';') continue;
        z[i + 1] = 0;
        if (sqlite3_complete(z)) {
            free(z);
            return i + 1;
        }
    }
    free(z);
    return n;
}

static int local_prepare_next(lsq_conn *conn, const char *sql, size_t n, lsq_stmt **out,
                              size_t *used, lsq_error *err)
{
    local_conn *c = as_local(conn);
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc;

    *out = NULL;
    *used = n;
    if (n > (size_t)0x7ffffffe) {
        lsq_error_set(err, LSQ_E_TOOBIG, "SQL text too long");
        return -1;
    }
    local_hooks_before_prepare(c->hooks);
    rc = sqlite3_prepare_v2(c->db, sql, (int)n, &st, &tail);
    if (rc != SQLITE_OK) {
        set_prepare_error(err, c, rc);
        *used = first_statement_length(sql, n);
        return -1;
    }
    *used = tail != NULL ? (size_t)(tail - sql) : n;
    return wrap_stmt(c, st, out, err);
}

static int bind_one(lsq_stmt *s, int i, const lsq_value *v, int copy)
{
    sqlite3_destructor_type how = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;

    switch (v->type) {
    case LSQ_NULL: return sqlite3_bind_null(s->st, i);
    case LSQ_INT: return sqlite3_bind_int64(s->st, i, v->u.i);
    case LSQ_REAL: return sqlite3_bind_double(s->st, i, v->u.r);
    case LSQ_TEXT:
        return sqlite3_bind_text64(s->st, i, v->u.s.n ? v->u.s.p : "", v->u.s.n,
                                   how, SQLITE_UTF8);
    case LSQ_BLOB:
        return sqlite3_bind_blob64(s->st, i, v->u.s.n ? v->u.s.p : "", v->u.s.n, how);
    }
    return SQLITE_MISUSE;
}

/* Index of a named parameter (params.h): the name as given if it carries a
 * prefix (: @ $), else the first of :name, @name, $name the statement uses. */
static int named_index(const void *ctx, const char *name, size_t n)
{
    static const char prefixes[] = ":@$";
    sqlite3_stmt *st = (sqlite3_stmt *)ctx;
    char stackbuf[128];
    char *z = stackbuf;
    int idx = 0;
    size_t k;

    if (n == 0 || memchr(name, 0, n) != NULL) return 0;
    if (n + 2 > sizeof stackbuf) {
        z = malloc(n + 2);
        if (z == NULL) return -1;
    }
    if (strchr(prefixes, name[0]) != NULL) {
        memcpy(z, name, n);
        z[n] = 0;
        idx = sqlite3_bind_parameter_index(st, z);
    } else {
        memcpy(z + 1, name, n);
        z[n + 1] = 0;
        for (k = 0; k < 3 && idx == 0; k++) {
            z[0] = prefixes[k];
            idx = sqlite3_bind_parameter_index(st, z);
        }
    }
    if (z != stackbuf) free(z);
    return idx;
}

static const char *param_name_of(const void *ctx, int i)
{
    return sqlite3_bind_parameter_name((sqlite3_stmt *)ctx, i);
}

static int local_bind(lsq_stmt *s, const lsq_params *p, int copy, lsq_error *err)
{
    lsq_param_lookup lookup = { s->count, named_index, param_name_of, s->st };
    const lsq_value *vals;
    int owned, rc = SQLITE_OK, i;

    (void)sqlite3_reset(s->st);
    (void)sqlite3_clear_bindings(s->st);
    if (lsq_params_order(&lookup, p, &vals, &owned, err) != 0) return -1;
    for (i = 0; i < s->count && rc == SQLITE_OK; i++)
        rc = bind_one(s, i + 1, &vals[i], copy);
    if (owned) free((void *)vals);
    if (rc != SQLITE_OK) {
        set_db_error(err, s->conn->db, rc);
        return -1;
    }
    return 0;
}

/* What a statement's first step needs of the vector indexes: the
 * triggers in place before it writes, a savepoint around a schema change.
 * 0, or -1 with *err. */
static int before_first_step(lsq_stmt *s, lsq_error *err)
{
    local_conn *c = s->conn;
    char *why = NULL;

    lsq_vindex_before_statement(c->vx);
    if (!sqlite3_stmt_readonly(s->st) && lsq_vindex_before_write(c->vx, &why) != 0) {
        vindex_error(err, why);
        return -1;
    }
    if (!s->schema_op) return 0;
    if (s->vector_ddl && lsq_vindex_check_create(sqlite3_sql(s->st), &why) != 0) {
        vindex_error(err, why);
        return -1;
    }
    if (lsq_vindex_ddl_begin(c->vx, &why) != 0) {
        vindex_error(err, why);
        return -1;
    }
    local_hooks_statement_done(c->hooks, c->db, 1, LSQ_SP_SAVEPOINT, lsq_vindex_savepoint);
    return 0;
}

/* After a schema change's step (done: it completed): the vector index
 * work, then the savepoint released (or rolled back to). 0, or -1 with
 * *err when the work failed (the statement is undone). */
static int after_schema_step(lsq_stmt *s, int done, lsq_error *err)
{
    local_conn *c = s->conn;
    char *why = NULL;
    int rc = lsq_vindex_ddl_end(c->vx, done, &why);

    if (rc == 0 && done) {
        local_hooks_statement_done(c->hooks, c->db, 1, LSQ_SP_RELEASE, lsq_vindex_savepoint);
        return 0;
    }
    local_hooks_statement_done(c->hooks, c->db, 1, LSQ_SP_ROLLBACK_TO, lsq_vindex_savepoint);
    local_hooks_statement_done(c->hooks, c->db, 1, LSQ_SP_RELEASE, lsq_vindex_savepoint);
    if (rc == 0) return 0;
    vindex_error(err, why);
    return -1;
}

static int local_step(lsq_stmt *s, lsq_error *err)
{
    int rc, first, repaired = 0;

    /* A BEGIN inside a transaction fails anyway; stepping it can still take
     * a lock, and in SQLite 3.40.1 a failed BEGIN IMMEDIATE/EXCLUSIVE after
     * a SAVEPOINT that opened the transaction, followed by ROLLBACK TO and
     * RELEASE, truncates the database file (every table lost). Refuse it
     * before SQLite sees it, with SQLite's own error. */
    if (s->is_begin && !sqlite3_get_autocommit(s->conn->db)) {
        lsq_error_sqlite(err, SQLITE_ERROR, "cannot start a transaction within a transaction");
        return LSQ_STEP_ERROR;
    }
    first = !sqlite3_stmt_busy(s->st);
    if (first && before_first_step(s, err) != 0) return LSQ_STEP_ERROR;
again:
    rc = sqlite3_step(s->st);
    /* libSQL leaves a vector index's b-tree empty: a row it wrote has no
     * entry there, and stock SQLite, deleting the row, calls that
     * corruption. The b-trees are rebuilt and the statement (undone by
     * SQLite) runs again, once. */
    if (rc == SQLITE_CORRUPT_INDEX && first && !repaired && !s->schema_op) {
        char *why = NULL;
        int fixed;

        (void)sqlite3_reset(s->st);
        fixed = lsq_vindex_repair(s->conn->vx, &why);
        sqlite3_free(why);
        repaired = 1;
        if (fixed == 1) goto again;
        rc = sqlite3_step(s->st); /* nothing rebuilt: the same error again */
    }
    if (s->schema_op && rc != SQLITE_ROW) {
        /* The statement's own error is taken before the savepoint's
         * statements replace SQLite's message. */
        if (rc != SQLITE_DONE) set_prepare_error(err, s->conn, rc);
        (void)sqlite3_reset(s->st);
        if (after_schema_step(s, rc == SQLITE_DONE, err) != 0 || rc != SQLITE_DONE) {
            local_hooks_statement_done(s->conn->hooks, s->conn->db, 0, -1, NULL);
            return LSQ_STEP_ERROR;
        }
    }

    if (rc == SQLITE_ROW) return LSQ_STEP_ROW;
    if (rc == SQLITE_DONE) {
        (void)sqlite3_reset(s->st);
        local_hooks_statement_done(s->conn->hooks, s->conn->db, 1, s->sp_op, s->sp_name);
        return LSQ_STEP_DONE;
    }
    /* A statement compiled again as it ran (the schema changed) meets the
     * authorizer again: its denial reads as at prepare. */
    set_prepare_error(err, s->conn, rc);
    (void)sqlite3_reset(s->st);
    local_hooks_statement_done(s->conn->hooks, s->conn->db, 0, -1, NULL);
    return LSQ_STEP_ERROR;
}

static int local_column_count(lsq_stmt *s)
{
    return sqlite3_column_count(s->st);
}

static int local_column_name(lsq_stmt *s, int i, const char **p, size_t *n)
{
    const char *z = sqlite3_column_name(s->st, i);

    if (z == NULL) return -1;
    *p = z;
    *n = strlen(z);
    return 0;
}

/* One sqlite3_column_value per cell, then the sqlite3_value_* accessors:
 * each sqlite3_column_* call locates the column and runs SQLite's API exit
 * checks again, which was a third of the port's work per row when reading
 * big results. The value is read at once, by the one thread that runs
 * statements, as SQLite requires of an unprotected sqlite3_value. */
int lsq_sqlite_value(sqlite3_value *val, lsq_value *v, lsq_error *err)
{
    switch (sqlite3_value_type(val)) {
    case SQLITE_INTEGER:
        v->type = LSQ_INT;
        v->u.i = sqlite3_value_int64(val);
        return 0;
    case SQLITE_FLOAT:
        v->type = LSQ_REAL;
        v->u.r = sqlite3_value_double(val);
        return 0;
    case SQLITE_TEXT:
        v->type = LSQ_TEXT;
        v->u.s.p = (const char *)sqlite3_value_text(val);
        v->u.s.n = (size_t)sqlite3_value_bytes(val);
        /* Text is never NULL, even empty, unless converting it (a UTF-16
         * database) ran out of memory. */
        if (v->u.s.p == NULL) {
            lsq_error_set(err, LSQ_E_NOMEM, "out of memory reading a value");
            return -1;
        }
        return 0;
    case SQLITE_BLOB:
        v->type = LSQ_BLOB;
        v->u.s.p = sqlite3_value_blob(val);
        v->u.s.n = (size_t)sqlite3_value_bytes(val);
        /* An empty blob reads as NULL. */
        if (v->u.s.p == NULL && v->u.s.n > 0) {
            lsq_error_set(err, LSQ_E_NOMEM, "out of memory reading a value");
            return -1;
        }
        if (v->u.s.p == NULL) v->u.s.p = "";
        return 0;
    default:
        v->type = LSQ_NULL;
        return 0;
    }
}

static int local_column_value(lsq_stmt *s, int i, lsq_value *v, lsq_error *err)
{
    return lsq_sqlite_value(sqlite3_column_value(s->st, i), v, err);
}

static void local_reset(lsq_stmt *s)
{
    (void)sqlite3_reset(s->st);
    (void)sqlite3_clear_bindings(s->st);
}

static int local_param_count(lsq_stmt *s) { return s->count; }
static const char *local_param_name(lsq_stmt *s, int i) { return sqlite3_bind_parameter_name(s->st, i); }
static const char *local_column_decltype(lsq_stmt *s, int i) { return sqlite3_column_decltype(s->st, i); }
static int local_stmt_readonly(lsq_stmt *s) { return sqlite3_stmt_readonly(s->st); }

static void local_finalize(lsq_stmt *s)
{
    if (s == NULL) return;
    (void)sqlite3_finalize(s->st);
    free(s->sp_name);
    free(s);
}

static long long local_changes(lsq_conn *c) { return sqlite3_changes64(as_local(c)->db); }
static long long local_total_changes(lsq_conn *c) { return sqlite3_total_changes64(as_local(c)->db); }
static long long local_last_insert_rowid(lsq_conn *c) { return sqlite3_last_insert_rowid(as_local(c)->db); }
static void local_interrupt(lsq_conn *c) { atomic_store(&as_local(c)->interrupt, 1); }
static void local_clear_interrupt(lsq_conn *c) { atomic_store(&as_local(c)->interrupt, 0); }
static int local_autocommit(lsq_conn *c) { return sqlite3_get_autocommit(as_local(c)->db); }

static const char *local_filename(lsq_conn *conn)
{
    const char *z = sqlite3_db_filename(as_local(conn)->db, "main");

    return z != NULL ? z : "";
}

static sqlite3 *local_sqlite(lsq_conn *c) { return as_local(c)->db; }

static int local_deserialize(lsq_conn *conn, const void *image, size_t n, lsq_error *err)
{
    local_conn *c = as_local(conn);
    unsigned char *copy;
    int rc;

    if (!sqlite3_get_autocommit(c->db)) {
        lsq_error_set(err, LSQ_E_MISUSE, "deserialize replaces the database: not inside a "
                      "transaction");
        return -1;
    }
    if (c->crypt != NULL) {
        lsq_error_set(err, LSQ_E_MISUSE, "an encrypted connection's database is its file: "
                      "deserialize into a connection opened on \":memory:\"");
        return -1;
    }
    copy = sqlite3_malloc64(n > 0 ? n : 1); /* an empty database is an image too */
    if (copy == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    memcpy(copy, image, n);
    /* SQLite owns the copy from here, failure or not (FREEONCLOSE). */
    rc = sqlite3_deserialize(c->db, "main", copy, (sqlite3_int64)n, (sqlite3_int64)n,
                             SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rc == SQLITE_OK) return 0;
    set_db_error(err, c->db, rc);
    return -1;
}

static int local_set_authorizer(lsq_conn *conn, lsq_auth_rules *rules, lsq_error *err)
{
    local_conn *c = as_local(conn);
    int rc = local_hooks_authorize(c->hooks, c->db, rules);

    if (rc == SQLITE_OK) return 0;
    set_db_error(err, c->db, rc);
    return -1;
}

static int local_watch_changes(lsq_conn *conn, const lsq_change_sink *sink, lsq_error *err)
{
    local_conn *c = as_local(conn);
    int rc = local_hooks_watch(c->hooks, c->db, sink);

    if (rc == SQLITE_OK) return 0;
    set_db_error(err, c->db, rc);
    return -1;
}
static int local_db_readonly(lsq_conn *c) { return sqlite3_db_readonly(as_local(c)->db, "main") == 1; }

/* ---- rekey ---------------------------------------------------------------------------- */

static int exec_text(local_conn *c, const char *sql, lsq_error *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

    if (rc == SQLITE_OK) return 0;
    set_db_error(err, c->db, rc);
    return -1;
}

/* The journal mode's name into buf ("" when unknown). */
static void current_journal_mode(local_conn *c, char *buf, size_t n)
{
    sqlite3_stmt *st = NULL;

    buf[0] = 0;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        (void)snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
    (void)sqlite3_finalize(st);
}

/* A plain connection whose file is now encrypted: the same file again,
 * through v (which it then owns). The handle is opened anew first, so
 * that a failure leaves the old one. Settings made with PRAGMA are those
 * of a new connection afterwards. */
static int reopen_through(local_conn *c, lsq_crypt_vfs *v, lsq_error *err)
{
    lsq_open_opts o;
    sqlite3 *db = NULL, *old = c->db;
    lsq_vindex *old_vx = c->vx;
    const char *old_vfs = c->vfs;
    char *path = NULL;
    const char *name = sqlite3_db_filename(c->db, "main");
    size_t i;
    int rc;

    memset(&o, 0, sizeof o);
    o.busy_timeout_ms = atomic_load(&c->busy_ms);
    o.stay_read_only = c->stay_read_only;
    if (name == NULL || (path = strdup(name)) == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    rc = sqlite3_open_v2(path, &db, c->open_flags, lsq_crypt_vfs_name(v));
    free(path);
    if (rc != SQLITE_OK) {
        lsq_error_sqlite(err, rc, db != NULL ? sqlite3_errmsg(db) : NULL);
        (void)sqlite3_close_v2(db);
        return -1;
    }
    for (i = 0; i < LSQ_TXSQL_COUNT; i++) {
        (void)sqlite3_finalize(c->tx[i]);
        c->tx[i] = NULL;
    }
    c->db = db;
    c->crypt = v;
    c->vfs = lsq_crypt_vfs_name(v);
    for (i = 0; i < sizeof aSetup / sizeof aSetup[0]; i++)
        if (aSetup[i](c, &o, err) != 0) break;
    if (i == sizeof aSetup / sizeof aSetup[0] && lsq_local_crypt_check(db, v, err) == 0) {
        lsq_vindex_detach(old_vx);
        (void)sqlite3_close_v2(old);
        lsq_vindex_ready(c->vx);
        return 0;
    }
    /* Not expected (the file was just written under this key). */
    if (c->vx != old_vx) lsq_vindex_detach(c->vx);
    c->vx = old_vx;
    (void)sqlite3_close_v2(db);
    for (i = 0; i < LSQ_TXSQL_COUNT; i++) c->tx[i] = NULL;
    c->db = old;
    c->crypt = NULL;
    c->vfs = old_vfs;
    return -1;
}

/* Change the file's key (key NULL: decrypt it). Outside any transaction,
 * with no statement running; in rollback-journal mode for the time of it
 * (a WAL is checkpointed away first, as sqlite3mc requires). */
static int local_rekey(lsq_conn *conn, const unsigned char *key, size_t n, lsq_error *err)
{
    local_conn *c = as_local(conn);
    const lsq_crypt_key *old_key = lsq_crypt_vfs_key(c->crypt);
    lsq_crypt_key new_key;
    lsq_crypt_vfs *v = NULL;
    const char *file = sqlite3_db_filename(c->db, "main");
    char mode[32], restore[64];
    struct stat sb;
    int result = -1, in_tx = 0;

    if (!sqlite3_get_autocommit(c->db) || lsq_local_reading(conn)) {
        lsq_error_set(err, LSQ_E_MISUSE, "rekey runs outside a transaction, with no "
                      "statement or cursor running");
        return -1;
    }
    if (file == NULL || file[0] == 0) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "a memory database has no file to encrypt");
        return -1;
    }
    if (c->stay_read_only || sqlite3_db_readonly(c->db, "main") == 1) {
        lsq_error_set(err, LSQ_E_READONLY, "the connection is read-only");
        return -1;
    }
    if (key != NULL) {
        if (n == 0) {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "the new key must not be empty");
            return -1;
        }
        if (c->crypt == NULL && (v = lsq_crypt_vfs_create(key, n)) == NULL) {
            lsq_error_set(err, LSQ_E_NOMEM, "cannot set up the encryption (out of memory)");
            return -1;
        }
        if (lsq_crypt_derive(key, n, &new_key) != LSQ_CRYPT_OK) {
            lsq_error_set(err, LSQ_E_INTERNAL, "key derivation failed");
            goto out;
        }
    } else if (old_key == NULL) {
        return 0; /* plain already */
    }
    restore[0] = 0;
    if (stat(file, &sb) == 0 && sb.st_size == 0) {
        /* Nothing written yet (and a write transaction would write a plain
         * page 1 now): only the key changes. */
        if (c->crypt != NULL) lsq_crypt_vfs_set_key(c->crypt, key != NULL ? &new_key : NULL);
        result = 0;
        goto back;
    }
    current_journal_mode(c, mode, sizeof mode);
    if (sqlite3_stricmp(mode, "delete") != 0) {
        /* Leaving WAL needs the file to itself: busy while others use it. */
        if (exec_text(c, "PRAGMA journal_mode = DELETE", err) != 0) goto out;
        current_journal_mode(c, restore, sizeof restore);
        if (sqlite3_stricmp(restore, "delete") != 0) {
            lsq_error_set(err, LSQ_E_BUSY, "cannot leave %s mode for the rekey: other "
                          "connections use the database", mode);
            goto out;
        }
        (void)snprintf(restore, sizeof restore, "PRAGMA journal_mode = %s", mode);
    }
    if (exec_text(c, "BEGIN EXCLUSIVE", err) != 0) goto back;
    in_tx = 1;
    /* The schema read makes SQLite hold the lock and play back any hot
     * journal before we look at the file. */
    if (exec_text(c, "SELECT count(*) FROM sqlite_schema", err) != 0) goto back;
    if (lsq_crypt_rekey_file(c->db, old_key, key != NULL ? &new_key : NULL,
                             sqlite3_stricmp(mode, "wal") == 0, err) != 0)
        goto back;
    if (c->crypt != NULL) lsq_crypt_vfs_set_key(c->crypt, key != NULL ? &new_key : NULL);
    result = 0;
back:
    if (in_tx) {
        lsq_error scratch; /* a failed rekey's error is the one to report */

        if (exec_text(c, result == 0 ? "COMMIT" : "ROLLBACK", result == 0 ? err : &scratch) != 0)
            result = -1;
    }
    /* Our page cache holds page 1 as it was in rollback mode; the file's
     * says WAL again (crypt_rekey.h): read it anew. The content is the
     * same, so the change counter stays and a round trip of keys gives
     * the file back byte for byte. */
    if (restore[0] != 0) (void)sqlite3_db_release_memory(c->db);
    if (result == 0 && v != NULL) {
        if (reopen_through(c, v, err) != 0) result = -1;
        else v = NULL; /* the connection's now */
    }
    if (restore[0] != 0) {
        lsq_error scratch;

        (void)exec_text(c, restore, result == 0 ? err : &scratch);
    }
out:
    wipe(&new_key, sizeof new_key);
    lsq_crypt_vfs_release(v);
    return result;
}

static int local_encrypted(lsq_conn *c)
{
    local_conn *l = as_local(c);

    return l->crypt != NULL && lsq_crypt_vfs_has_key(l->crypt);
}

static int local_set_busy_timeout(lsq_conn *conn, int ms, lsq_error *err)
{
    local_conn *c = as_local(conn);

    (void)err;
    atomic_store(&c->busy_ms, ms);
    return 0;
}

static int local_limit(lsq_conn *conn, int id, int value)
{
    local_conn *c = as_local(conn);

    return sqlite3_limit(c->db, id, value);
}

/* Copy "main" page by page so the source stays usable meanwhile; a busy
 * source or destination is retried for a bounded time. */
static int local_backup(lsq_conn *conn, const char *dest, const unsigned char *key, size_t n,
                        lsq_error *err)
{
    local_conn *c = as_local(conn);
    sqlite3 *out = NULL;
    sqlite3_backup *b;
    lsq_crypt_vfs *other = NULL;
    int rc, waits = 0, status;

    if (key != NULL && (other = lsq_crypt_vfs_create(key, n)) == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "cannot set up the encryption (out of memory)");
        return -1;
    }
    /* Through the source's VFS (or one for the key given): a copy of an
     * encrypted database is written encrypted, never in plaintext. */
    rc = sqlite3_open_v2(dest, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                         SQLITE_OPEN_URI, other != NULL ? lsq_crypt_vfs_name(other) : c->vfs);
    if (rc != SQLITE_OK) {
        lsq_error_sqlite(err, rc, out ? sqlite3_errmsg(out) : NULL);
        (void)sqlite3_close_v2(out);
        lsq_crypt_vfs_release(other);
        return -1;
    }
    lsq_crypt_vfs_release(other); /* stays until out's files close */
    if ((other != NULL || local_encrypted(conn)) &&
        sqlite3_file_control(out, "main", LSQ_FCNTL_CRYPT_STATUS, &status) != SQLITE_OK) {
        /* A file: URI naming another VFS would get plaintext. */
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "an encrypted backup cannot go through another "
                      "VFS (the destination names one)");
        (void)sqlite3_close_v2(out);
        return -1;
    }
    b = sqlite3_backup_init(out, "main", c->db, "main");
    if (b == NULL) {
        set_db_error(err, out, sqlite3_errcode(out));
        (void)sqlite3_close_v2(out);
        return -1;
    }
    /* A busy or locked database is retried for the busy timeout, like a
     * statement would be; an interrupt stops the backup. */
    for (;;) {
        rc = sqlite3_backup_step(b, 256);
        if (atomic_load(&c->interrupt)) {
            rc = SQLITE_INTERRUPT;
            break;
        }
        if (rc == SQLITE_OK) continue;
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && waits < atomic_load(&c->busy_ms)) {
            (void)sqlite3_sleep(10);
            waits += 10;
            continue;
        }
        break; /* SQLITE_DONE, an error, or busy past the timeout */
    }
    (void)sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        lsq_error_sqlite(err, rc, rc == SQLITE_INTERRUPT ? "interrupted" : sqlite3_errmsg(out));
        /* A destination the key does not open: say which way. */
        lsq_local_crypt_explain(sqlite3_db_filename(out, "main"),
                                other != NULL ? other : c->crypt, err);
        (void)sqlite3_close_v2(out);
        return -1;
    }
    rc = sqlite3_close_v2(out);
    if (rc != SQLITE_OK) {
        lsq_error_sqlite(err, rc, NULL);
        return -1;
    }
    return 0;
}

/* SQLite's memory statistics take a global mutex around every allocation
 * (seven lock/unlock pairs per point select); nothing here reads them. */
int lsq_local_setup(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK) return -1;
    return sqlite_log_setup();
}

/* ---- transactions ------------------------------------------------------------------ */

/* Run one of the transaction control statements. 0, or -1 with *err. */
static int tx_exec(local_conn *c, int which, lsq_error *err)
{
    int rc;

    if (c->tx[which] == NULL) {
        rc = sqlite3_prepare_v2(c->db, lsq_tx_sql(which), -1, &c->tx[which], NULL);
        if (rc != SQLITE_OK) {
            set_db_error(err, c->db, rc);
            return -1;
        }
    }
    rc = sqlite3_step(c->tx[which]);
    (void)sqlite3_reset(c->tx[which]);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return 0;
    set_db_error(err, c->db, rc);
    /* The error names the statement (a static text: not owned). */
    err->sql = lsq_tx_sql(which);
    err->sql_len = strlen(err->sql);
    return -1;
}

static int local_begin(lsq_conn *conn, int mode, int read_only, lsq_error *err)
{
    local_conn *c = as_local(conn);
    lsq_error ignored;

    /* SQLite's own error, before SQLite sees it (see local_step). */
    if (!sqlite3_get_autocommit(c->db)) {
        lsq_error_sqlite(err, SQLITE_ERROR, "cannot start a transaction within a transaction");
        err->sql = lsq_tx_sql(LSQ_TXSQL_DEFERRED + mode);
        err->sql_len = strlen(err->sql);
        return -1;
    }
    if (tx_exec(c, LSQ_TXSQL_DEFERRED + mode, err) != 0) return -1;
    if (read_only) {
        if (tx_exec(c, LSQ_TXSQL_QUERY_ONLY_ON, err) != 0) {
            (void)tx_exec(c, LSQ_TXSQL_ROLLBACK, &ignored);
            return -1;
        }
        c->tx_read_only = 1;
    }
    return 0;
}

/* The read-only guard of a read_only begin goes with its transaction. */
static int end_read_only(local_conn *c, lsq_error *err)
{
    if (!c->tx_read_only) return 0;
    if (c->stay_read_only) {
        c->tx_read_only = 0; /* the connection's own guard stays */
        return 0;
    }
    if (tx_exec(c, LSQ_TXSQL_QUERY_ONLY_OFF, err) != 0) return -1;
    c->tx_read_only = 0;
    return 0;
}

static int local_commit(lsq_conn *conn, lsq_error *err)
{
    local_conn *c = as_local(conn);

    if (end_read_only(c, err) != 0) return -1;
    return tx_exec(c, LSQ_TXSQL_COMMIT, err);
}

static int local_rollback(lsq_conn *conn, lsq_error *err)
{
    local_conn *c = as_local(conn);

    if (end_read_only(c, err) != 0) return -1;
    return tx_exec(c, LSQ_TXSQL_ROLLBACK, err);
}

static int local_savepoint(lsq_conn *conn, int op, const char *name, lsq_error *err)
{
    local_conn *c = as_local(conn);
    char sql[LSQ_SAVEPOINT_SQL_MAX];
    int rc;

    lsq_savepoint_sql(op, name, sql);
    rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    local_hooks_statement_done(c->hooks, c->db, rc == SQLITE_OK, op, name);
    if (rc == SQLITE_OK) return 0;
    set_db_error(err, c->db, rc);
    return -1;
}

/* An open transaction rolled back, and query_only off (whoever set it:
 * a read_only begin, or the last holder's own PRAGMA), unless the
 * connection must stay read-only: then its guard is put back. */
static void local_busy_stats(lsq_conn *conn, long long *waits, long long *max_ms)
{
    local_conn *c = as_local(conn);

    *waits = c->busy_waits;
    *max_ms = c->busy_max_ms;
}

static int local_clean(lsq_conn *conn, lsq_error *err)
{
    local_conn *c = as_local(conn);

    if (!sqlite3_get_autocommit(c->db) && tx_exec(c, LSQ_TXSQL_ROLLBACK, err) != 0) return -1;
    c->tx_read_only = 0;
    /* A connection that must stay read-only keeps (or gets back) its guard. */
    return tx_exec(c, c->stay_read_only ? LSQ_TXSQL_QUERY_ONLY_ON : LSQ_TXSQL_QUERY_ONLY_OFF, err);
}

/* ---- batches: a loop of steps ------------------------------------------------ */

/* A group of our own around a TX batch: a transaction, or a savepoint
 * inside the caller's. */
static int group_exec(local_conn *c, const char *sql, lsq_error *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

    if (rc == SQLITE_OK) return 0;
    set_db_error(err, c->db, rc);
    return -1;
}

/* Undo the group. Errors are ignored: SQLite may already have rolled the
 * transaction back itself (a full disk, an interrupt). */
static void group_undo(local_conn *c, int nested)
{
    lsq_error ignored;

    if (nested) {
        (void)group_exec(c, "ROLLBACK TO libsql_group", &ignored);
        (void)group_exec(c, "RELEASE libsql_group", &ignored);
    } else if (!sqlite3_get_autocommit(c->db)) {
        (void)group_exec(c, "ROLLBACK", &ignored);
    }
}

/* Whether a TX batch of n items may defer the vector indexes' neighbour
 * block writes to its end (lsq_vidx_defer): one INSERT, REPLACE, UPDATE or
 * DELETE text for every item (execute_many), a vector index in main, and
 * nothing that could read a shadow table but our own functions: the text
 * does not name one, and there is no trigger but ours and no view (main's
 * and temp's; an attached schema's cannot see main). */
static int batch_may_defer(local_conn *c, const lsq_batch_item *items, size_t n)
{
    static const char *const verbs[] = { "INSERT", "REPLACE", "UPDATE", "DELETE" };
    static const char q[] =
        "SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE name = 'libsql_vector_meta_shadow') "
        "AND NOT EXISTS (SELECT 1 FROM main.sqlite_master WHERE type IN ('trigger', 'view')) "
        "AND NOT EXISTS (SELECT 1 FROM temp.sqlite_master WHERE type IN ('trigger', 'view') "
        "AND name NOT LIKE 'libsql\\_vidx\\_%' ESCAPE '\\')";
    sqlite3_stmt *st = NULL;
    size_t i, j;
    int ok;

    if (n < 2) return 0;
    for (i = 0; i < items[0].n && (items[0].sql[i] == ' ' || (items[0].sql[i] >= '\t' && items[0].sql[i] <= '\r'));
         i++) {}
    for (j = 0; j < 4; j++) {
        size_t len = strlen(verbs[j]);
        char after;

        if (items[0].n - i <= len || sqlite3_strnicmp(items[0].sql + i, verbs[j], (int)len) != 0) continue;
        after = (char)(items[0].sql[i + len] | 0x20); /* the verb is a whole word */
        if (after != '_' && (after < 'a' || after > 'z') && (after < '0' || after > '9')) break;
    }
    if (j == 4) return 0;
    for (i = 1; i < n; i++)
        if (items[i].n != items[0].n || memcmp(items[i].sql, items[0].sql, items[0].n) != 0) return 0;
    for (j = 0; j + 7 <= items[0].n; j++)
        if (sqlite3_strnicmp(items[0].sql + j, "_shadow", 7) == 0) return 0;
    if (sqlite3_prepare_v2(c->db, q, -1, &st, NULL) != SQLITE_OK) return 0;
    ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    (void)sqlite3_finalize(st);
    return ok;
}

/* A script: each statement as SQLite parses it, in order, rows dropped.
 * The first error stops it (earlier statements stay) and names the
 * statement (index, text). */
static int local_run_script(local_conn *c, const char *sql, size_t n, lsq_batch_out *out,
                            lsq_error *err)
{
    long long before = sqlite3_total_changes64(c->db);
    size_t used = 0, off = 0;
    lsq_stmt *s;
    int rc;

    while (off < n) {
        if (local_prepare_next(&c->base, sql + off, n - off, &s, &used, err) != 0) {
            err->index = (long)out->statements + 1;
            goto failed;
        }
        if (s == NULL) break;
        out->statements++;
        if (s->count > 0) {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                          "a script cannot have parameters; use execute or batch");
            rc = LSQ_STEP_ERROR;
        } else {
            do {
                rc = local_step(s, err);
            } while (rc == LSQ_STEP_ROW);
        }
        local_finalize(s);
        if (rc == LSQ_STEP_ERROR) {
            err->index = (long)out->statements;
            goto failed;
        }
        off += used;
    }
    out->total_changes = sqlite3_total_changes64(c->db) - before;
    out->last_rowid = sqlite3_last_insert_rowid(c->db);
    return 0;
failed:
    err->sql = sql + off;
    err->sql_len = used;
    return -1;
}

/* Items in order, each a statement from the cache (the one before it when
 * the text is the same: execute_many binds one statement to many rows),
 * bound, and stepped to the end by the sink or here. */
static int local_run_batch(lsq_conn *conn, const lsq_stmt_source *src, const lsq_batch_item *items,
                           size_t n, int mode, const lsq_batch_sink *sink, lsq_batch_out *out,
                           lsq_error *err)
{
    local_conn *c = as_local(conn);
    static const lsq_params none = { 0, NULL, NULL };
    const lsq_params *params;
    const char *held = NULL;
    size_t held_n = 0, i = 0;
    lsq_stmt *s = NULL;
    long long before, changes;
    int nested = 0, rc = -1, step, deferred = 0;

    memset(out, 0, sizeof *out);
    if (mode == LSQ_BATCH_SCRIPT) return local_run_script(c, items[0].sql, items[0].n, out, err);
    if (mode == LSQ_BATCH_TX) {
        nested = !sqlite3_get_autocommit(c->db);
        if (group_exec(c, nested ? "SAVEPOINT libsql_group" : "BEGIN", err) != 0) return -1;
        /* all or nothing: the vector indexes write each changed neighbour
         * block once, before the group ends */
        deferred = batch_may_defer(c, items, n);
        if (deferred) lsq_vidx_defer(c->db);
    }
    for (i = 0; i < n; i++) {
        params = items[i].params != NULL ? items[i].params : &none;
        if (s == NULL || items[i].sql != held || items[i].n != held_n) {
            if (s != NULL) src->put(src->ctx, held, held_n, s);
            s = NULL;
            held = items[i].sql;
            held_n = items[i].n;
            if (src->get(src->ctx, held, held_n, &s, err) != 0) goto failed;
        }
        if (s == NULL) {
            /* Text without a statement: nothing runs, nothing changes. */
            if (params->n != 0) {
                lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                              "the statement takes 0 parameters, %zu given", params->n);
                goto failed;
            }
            if (sink != NULL && (sink->rows(sink->ctx, i, NULL, err) != 0 ||
                                 sink->counts(sink->ctx, i, 0,
                                              sqlite3_last_insert_rowid(c->db)) != 0)) {
                rc = LSQ_BATCH_NOMEM;
                goto undo;
            }
            continue;
        }
        if (local_bind(s, params, 0, err) != 0) goto failed;
        before = sqlite3_total_changes64(c->db);
        if (sink != NULL) {
            step = sink->rows(sink->ctx, i, s, err);
            if (step < 0) {
                rc = LSQ_BATCH_NOMEM;
                goto undo;
            }
            if (step > 0) goto failed;
        } else {
            do {
                step = local_step(s, err);
            } while (step == LSQ_STEP_ROW);
            if (step == LSQ_STEP_ERROR) goto failed;
        }
        /* sqlite3_changes keeps the count of the last write across a later
         * SELECT or DDL: 0 when this statement changed nothing. */
        changes = sqlite3_total_changes64(c->db) == before ? 0 : sqlite3_changes64(c->db);
        out->total_changes += changes;
        if (sink != NULL &&
            sink->counts(sink->ctx, i, changes, sqlite3_last_insert_rowid(c->db)) != 0) {
            rc = LSQ_BATCH_NOMEM;
            goto undo;
        }
    }
    if (s != NULL) src->put(src->ctx, held, held_n, s);
    s = NULL;
    if (deferred) {
        char *why = NULL;

        deferred = 0;
        if (lsq_vidx_flush(c->db, &why) != 0) {
            lsq_error_set(err, LSQ_E_ERROR, "%s", why != NULL ? why : "vector index: out of memory");
            sqlite3_free(why);
            goto undo;
        }
    }
    if (mode == LSQ_BATCH_TX &&
        group_exec(c, nested ? "RELEASE libsql_group" : "COMMIT", err) != 0) {
        group_undo(c, nested);
        return -1;
    }
    out->last_rowid = sqlite3_last_insert_rowid(c->db);
    out->statements = n;
    return 0;
failed:
    err->index = (long)i + 1;
undo:
    if (s != NULL) src->put(src->ctx, held, held_n, s);
    if (deferred) lsq_vidx_discard(c->db);
    if (mode == LSQ_BATCH_TX) group_undo(c, nested);
    return rc;
}

const lsq_backend lsq_backend_local = {
    .mode = "local",
    .open = local_open,
    .close = local_close,
    .prepare = local_prepare,
    .prepare_next = local_prepare_next,
    .bind = local_bind,
    .reset = local_reset,
    .param_count = local_param_count,
    .param_name = local_param_name,
    .column_decltype = local_column_decltype,
    .readonly = local_stmt_readonly,
    .step = local_step,
    .column_count = local_column_count,
    .column_name = local_column_name,
    .column_value = local_column_value,
    .finalize = local_finalize,
    .changes = local_changes,
    .total_changes = local_total_changes,
    .last_insert_rowid = local_last_insert_rowid,
    .interrupt = local_interrupt,
    .clear_interrupt = local_clear_interrupt,
    .sqlite = local_sqlite,
    .watch_changes = local_watch_changes,
    .set_authorizer = local_set_authorizer,
    .deserialize = local_deserialize,
    .autocommit = local_autocommit,
    .filename = local_filename,
    .db_readonly = local_db_readonly,
    .encrypted = local_encrypted,
    .rekey = local_rekey,
    .set_busy_timeout = local_set_busy_timeout,
    .limit = local_limit,
    .backup = local_backup,
    .busy_stats = local_busy_stats,
    .begin = local_begin,
    .commit = local_commit,
    .rollback = local_rollback,
    .savepoint = local_savepoint,
    .clean = local_clean,
    .steps_at_open = NULL,
    .run_batch = local_run_batch,
};
