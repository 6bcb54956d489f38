/*
 * backend.h - what a database backend provides to the command layer.
 *
 * The command layer (commands.c) decodes requests, runs statements through
 * one of these tables and encodes replies; it never calls SQLite directly.
 * local (backend_local.c) is libsqlite3; remote (Hrana over HTTP) and
 * replica implement the same table.
 *
 * Threading: every function runs on the main thread, except interrupt(),
 * which the watchdog thread may call at any moment while the connection is
 * open.
 */
#ifndef LSQ_BACKEND_H
#define LSQ_BACKEND_H

#include <stddef.h>
#include "errors.h"
#include "term.h"

typedef struct lsq_backend lsq_backend;
struct lsq_auth_rules; /* auth_rules.h */
typedef struct lsq_stmt lsq_stmt; /* a backend's prepared statement */

/* Every backend's connection starts with this, as SQLite's sqlite3_file
 * starts with its pMethods: whoever holds a connection reaches its
 * backend, so one backend can own connections of others (an embedded
 * replica: a local one for reads, a remote one for writes) and call them
 * through their own tables. A backend's own struct has it as its first
 * member and casts. */
typedef struct lsq_conn {
    const lsq_backend *be; /* the backend this connection belongs to */
} lsq_conn;

/* Options of `open`, decoded by the command layer from the table in
 * open_options.h (names, ranges, defaults). Strings are NUL-terminated
 * copies owned by the caller for the duration of open(). */
typedef struct lsq_open_opts {
    /* what to open: a file (path) or a server (url) */
    char *path;          /* file name, ":memory:" or "file:" URI */
    char *url;           /* libsql://, https:// or http:// base URL, or NULL */
    char *auth_token;    /* bearer token or NULL (wiped and freed by the caller) */
    char *ca_file;       /* CA bundle for TLS, or NULL */
    unsigned char *encryption_key; /* the key's bytes (libSQL's aes256cbc), or NULL
                                    * (wiped and freed by the caller) */
    size_t encryption_key_len;
    struct lsq_crypt_vfs *crypt; /* an encryption VFS (crypt_vfs.h) to open through,
                                  * shared: set by a backend that owns this one and
                                  * made it from encryption_key; NULL: none */
    /* local */
    int read_only;       /* 1: SQLITE_OPEN_READONLY */
    int create;          /* 1: create the file if missing */
    long long busy_timeout_ms; /* sqlite3_busy_timeout */
    const char *vfs;     /* the registered SQLite VFS the file goes through (a
                          * static name, e.g. an encryption shim's), NULL: default */
    int stay_read_only;  /* writes refused for the connection's whole life: the
                          * guard (PRAGMA query_only) is set at open and nothing
                          * lifts it, not clean (a pool's check-in reset) nor the
                          * end of a read_only transaction. Not a user option: set
                          * by a backend that owns this one (a replica's reads). */
    /* remote */
    long long connect_timeout_ms;
    long long request_timeout_ms;
    /* every connection */
    /* replica (path and url) */
    long long sync_interval_ms; /* background sync period, 0: none */
    int read_your_writes;       /* pull before a read that follows a write */
    long long sync_timeout_ms;  /* a sync's whole HTTP exchange */
    long long cache_size;  /* statement cache capacity (0: none) */
    long long max_result;  /* cap on a reply (and a response held in memory), bytes */
    const char *null_atom; /* the atom SQL NULL reads back as (a static string) */
} lsq_open_opts;

/* Parameters of one execution: positional when names == NULL. */
typedef struct lsq_name { const char *p; size_t n; } lsq_name;
typedef struct lsq_params {
    size_t n;                /* number of values */
    const lsq_value *values; /* n values (pointing into the request) */
    const lsq_name *names;   /* n names, or NULL for positional binding */
} lsq_params;

enum { LSQ_STEP_ERROR = -1, LSQ_STEP_ROW = 1, LSQ_STEP_DONE = 2 };

/* A statement of a batch (run_batch). */
typedef struct lsq_batch_item {
    const char *sql;
    size_t n;
    const lsq_params *params; /* NULL: none */
} lsq_batch_item;

/* Where run_batch takes statements from and gives them back to: the
 * command layer's statement cache. get is as prepare (a statement, or
 * NULL for text without one; 0, or -1 with *err); put takes back what get
 * gave, after a reset. A backend that prepares nothing itself ignores it. */
typedef struct lsq_stmt_source {
    void *ctx;
    int (*get)(void *ctx, const char *sql, size_t n, lsq_stmt **s, lsq_error *err);
    void (*put)(void *ctx, const char *sql, size_t n, lsq_stmt *s);
} lsq_stmt_source;

/* What run_batch hands each item's outcome to, in item order: the local
 * backend as it runs them, the remote one after the round trip. */
typedef struct lsq_batch_sink {
    void *ctx;
    /* Item i's statement stands before its first row (s is NULL for an
     * item without a statement): read its rows by stepping it to the end.
     * 0, -1 (no memory), or 1 with *err (the batch fails there). */
    int (*rows)(void *ctx, size_t i, lsq_stmt *s, lsq_error *err);
    /* Then its changes and the last insert rowid after it. 0 or -1. */
    int (*counts)(void *ctx, size_t i, long long changes, long long rowid);
} lsq_batch_sink;

/* What a whole batch did. */
typedef struct lsq_batch_out {
    long long total_changes; /* the items' changes, summed */
    long long last_rowid;    /* the last insert rowid afterwards */
    size_t statements;       /* statements run (a script's count) */
} lsq_batch_out;

/* run_batch's answer when a sink ran out of memory (no reply possible). */
#define LSQ_BATCH_NOMEM (-2)

/* SEQUENCE: stop at the first error, earlier statements stay. TX: all or
 * nothing. SCRIPT: exactly one item (n == 1), a text of any number of
 * statements that the
 * backend splits (as its engine parses them) and runs like SEQUENCE; they
 * may manage their own transaction (BEGIN ... COMMIT inside the script)
 * and may not have parameters. */
enum { LSQ_BATCH_SEQUENCE = 0, LSQ_BATCH_TX = 1, LSQ_BATCH_SCRIPT = 2 };

/* What a replica's sync did. */
typedef struct lsq_sync_info {
    long long revision_before; /* -1: there was no file (a bootstrap) */
    long long revision;        /* the server revision the file holds now */
    size_t pages;              /* pages written */
    unsigned long long bytes;  /* response bytes received */
    long long ms;              /* wall time */
    long long locked_us;       /* the file under the EXCLUSIVE lock (readers wait at most
                                * this); 0 when nothing was applied */
    int bootstrapped;          /* the full page set was applied */
} lsq_sync_info;

/* Where a connection's row changes go (change data capture: cdc.h),
 * called on the thread that runs the statement, while it runs. row: a
 * row of a rowid table was inserted, updated or deleted (db and table are
 * SQLite's, valid only during the call). commit: a transaction is about
 * to commit (it may still fail: statement_done then finds it open);
 * rollback: one was rolled back, wholly. savepoint: a SAVEPOINT, RELEASE
 * or ROLLBACK TO (an LSQ_SP_* op) completed. statement_done: a statement
 * ended, autocommit saying whether a transaction is still open. */
enum { LSQ_CHANGE_INSERT = 0, LSQ_CHANGE_UPDATE = 1, LSQ_CHANGE_DELETE = 2 };
typedef struct lsq_change_sink {
    void *ctx;
    void (*row)(void *ctx, int op, const char *db, const char *table, long long rowid);
    void (*commit)(void *ctx);
    void (*rollback)(void *ctx);
    void (*savepoint)(void *ctx, int op, const char *name);
    void (*statement_done)(void *ctx, int autocommit);
} lsq_change_sink;

/* BEGIN modes, and what a savepoint operation does. */
enum { LSQ_TX_DEFERRED = 0, LSQ_TX_IMMEDIATE = 1, LSQ_TX_EXCLUSIVE = 2 };
enum { LSQ_SP_SAVEPOINT = 0, LSQ_SP_RELEASE = 1, LSQ_SP_ROLLBACK_TO = 2 };

/* The SQL of transaction control (tx_sql.c): LSQ_TXSQL_DEFERRED + mode
 * is the BEGIN of an LSQ_TX_* mode. */
enum { LSQ_TXSQL_DEFERRED, LSQ_TXSQL_IMMEDIATE, LSQ_TXSQL_EXCLUSIVE, LSQ_TXSQL_COMMIT,
       LSQ_TXSQL_ROLLBACK, LSQ_TXSQL_QUERY_ONLY_ON, LSQ_TXSQL_QUERY_ONLY_OFF, LSQ_TXSQL_COUNT };
const char *lsq_tx_sql(int which);

/* Room for the SQL of a savepoint operation on a name of up to 64 bytes. */
#define LSQ_SAVEPOINT_SQL_MAX 100

/* The SQL of savepoint operation op on name (a plain identifier of at
 * most 64 bytes, so it always fits): what the backends run, and what an
 * error of the operation names as its `sql'. */
void lsq_savepoint_sql(int op, const char *name, char buf[LSQ_SAVEPOINT_SQL_MAX]);

struct lsq_backend {
    const char *mode; /* "local", "remote", "replica" */

    /* Open a connection. 0 and *out set, or -1 with *err. */
    int (*open)(const lsq_open_opts *opts, lsq_conn **out, lsq_error *err);
    /* Close and free; the connection is gone whatever the result. */
    int (*close)(lsq_conn *c, lsq_error *err);
    /* Prepare the one statement in sql[0..n). *out is NULL (and 0
     * returned) for text with no statement; text with more than one
     * statement is an error. */
    int (*prepare)(lsq_conn *c, const char *sql, size_t n, lsq_stmt **out,
                   lsq_error *err);
    /* Prepare the first statement of a script; *used is the number of
     * bytes it took (so the caller can go on with the rest). *out is NULL
     * when only white space and comments were left. */
    int (*prepare_next)(lsq_conn *c, const char *sql, size_t n, lsq_stmt **out,
                        size_t *used, lsq_error *err);
    /* Bind every parameter of the statement, or fail naming the one at
     * fault. copy == 0: values must stay valid until the statement is
     * reset; copy == 1: the backend keeps its own copies (cursors). */
    int (*bind)(lsq_stmt *s, const lsq_params *p, int copy, lsq_error *err);
    /* Back to the start, bindings cleared: ready to be cached or rerun. */
    void (*reset)(lsq_stmt *s);
    /* Introspection (NULL-safe results: empty string when unknown). */
    int (*param_count)(lsq_stmt *s);
    const char *(*param_name)(lsq_stmt *s, int i);      /* 1-based; NULL if positional */
    const char *(*column_decltype)(lsq_stmt *s, int i); /* NULL if none */
    int (*readonly)(lsq_stmt *s);                       /* 1 if it cannot write */
    /* Advance: LSQ_STEP_ROW, LSQ_STEP_DONE or LSQ_STEP_ERROR (*err set). */
    int (*step)(lsq_stmt *s, lsq_error *err);
    int (*column_count)(lsq_stmt *s);
    /* Column name as bytes (valid until the next step/finalize). 0 or -1. */
    int (*column_name)(lsq_stmt *s, int i, const char **p, size_t *n);
    /* Value of column i of the current row (valid until the next step). */
    int (*column_value)(lsq_stmt *s, int i, lsq_value *out, lsq_error *err);
    /* Release the statement. */
    void (*finalize)(lsq_stmt *s);
    /* Connection counters after a statement ran. */
    long long (*changes)(lsq_conn *c);
    long long (*total_changes)(lsq_conn *c);
    long long (*last_insert_rowid)(lsq_conn *c);
    /* Stop the statement running now, from any thread; it fails with an
     * `interrupted' error. Stays in force until clear_interrupt(). */
    void (*interrupt)(lsq_conn *c);
    /* Forget an earlier interrupt (worker, before each request). */
    void (*clear_interrupt)(lsq_conn *c);

    /* The SQLite handle this connection's statements run on, for what
     * plugs into SQLite itself (Erlang SQL functions: functions.h). NULL
     * (the op) where SQL runs on a server. */
    struct sqlite3 *(*sqlite)(lsq_conn *c);
    /* Report the connection's changes to sink from now on (a copy is
     * kept; NULL: stop). NULL (the op) where the file is not changed by
     * the connection's own SQL (a server's; a replica's, changed by
     * syncs). 0, or -1 with *err. */
    int (*watch_changes)(lsq_conn *c, const lsq_change_sink *sink, lsq_error *err);
    /* Authorize every statement compiled from now on by rules
     * (auth_rules.h; taken, *rules left empty). NULL where statements are
     * not compiled here alone (a server's; a replica's writes). 0, or -1
     * with *err. */
    int (*set_authorizer)(lsq_conn *c, struct lsq_auth_rules *rules, lsq_error *err);
    /* Replace the main database by an in-memory copy of the n bytes of
     * image (sqlite3_deserialize; the connection's file, if any, is left
     * as it is). NULL where the database is not ours to replace (a
     * server's; a replica's file, which its syncs write). 0, or -1 with
     * *err. */
    int (*deserialize)(lsq_conn *c, const void *image, size_t n, lsq_error *err);

    /* Connection facts and settings (NULL where a backend has none). */
    int (*autocommit)(lsq_conn *c);                  /* 1 outside a transaction */
    const char *(*filename)(lsq_conn *c);            /* "" for memory */
    int (*db_readonly)(lsq_conn *c);                 /* 1 if opened read-only */
    int (*encrypted)(lsq_conn *c);                   /* 1 if the file is encrypted */
    /* Change the file's key (key NULL: store it plain). 0, or -1 with
     * *err. NULL where the file is not ours to rekey. */
    int (*rekey)(lsq_conn *c, const unsigned char *key, size_t n, lsq_error *err);
    int (*set_busy_timeout)(lsq_conn *c, int ms, lsq_error *err);
    /* sqlite3_limit: the old value; value < 0 only reads. -1 on bad id.
     * NULL where the limits are not ours (a server's). */
    int (*limit)(lsq_conn *c, int id, int value);
    /* Online backup of "main" into the file dest: as the database is (key
     * NULL; an encrypted database's copy under its key), or encrypted
     * under key (n bytes). 0 or -1. */
    int (*backup)(lsq_conn *c, const char *dest, const unsigned char *key, size_t n,
                  lsq_error *err);
    /* Lock waits so far: how many statements waited on a lock another
     * connection held, and the longest wait, ms. NULL where there are no
     * locks of ours (a server's). */
    void (*busy_stats)(lsq_conn *c, long long *waits, long long *max_ms);

    /* Transactions. begin: BEGIN in an LSQ_TX_* mode; with read_only,
     * writes are refused (`readonly') until commit or rollback end it.
     * A BEGIN inside a transaction is refused before it runs. commit and
     * rollback end it (and the read-only guard of a read_only begin).
     * savepoint: an LSQ_SP_* operation on the savepoint name (a plain
     * identifier, checked by the caller). clean: back to a state a new
     * user can have (after a pool holder): any transaction rolled back,
     * no read-only guard left. All 0, or -1 with *err. */
    int (*begin)(lsq_conn *c, int mode, int read_only, lsq_error *err);
    int (*commit)(lsq_conn *c, lsq_error *err);
    int (*rollback)(lsq_conn *c, lsq_error *err);
    int (*savepoint)(lsq_conn *c, int op, const char *name, lsq_error *err);
    int (*clean)(lsq_conn *c, lsq_error *err);

    /* 1 when the bound statement has no columns until it ran (a
     * server's): a cursor steps it at open. NULL: never. */
    int (*steps_at_open)(lsq_stmt *s);
    /* Run n items in one of the LSQ_BATCH_* modes, in one round trip
     * where the backend has trips (the local one runs them as a loop of
     * steps). Each item's outcome goes to sink (NULL: outcomes not
     * wanted, only *out). An item that fails fails the batch there: the
     * items before it stay applied unless mode is TX. 0 with *out filled;
     * -1 with *err (err->index the 1-based failing item, or statement of
     * a script; err->sql set when the backend knows the failing text);
     * LSQ_BATCH_NOMEM when sink ran out of memory. */
    int (*run_batch)(lsq_conn *c, const lsq_stmt_source *src, const lsq_batch_item *items,
                     size_t n, int mode, const lsq_batch_sink *sink, lsq_batch_out *out,
                     lsq_error *err);

    /* Replication: NULL where the backend is not a replica. sync: pull
     * and apply what the server has, until the file holds at least
     * revision `until' (-1: one sync) or the sync timeout. revision: the
     * server revision the file holds. freeze: a plain local database from
     * now on, never synced again. 0, or -1 with *err. */
    int (*sync)(lsq_conn *c, long long until, lsq_sync_info *info, lsq_error *err);
    int (*revision)(lsq_conn *c, long long *rev, lsq_error *err);
    int (*freeze)(lsq_conn *c, lsq_error *err);
};

extern const lsq_backend lsq_backend_local;
/* Process-wide SQLite settings, before any connection opens: 0, or -1 if
 * SQLite refused them (it is already in use). */
int lsq_local_setup(void);
extern const lsq_backend lsq_backend_remote;
/* A file that reads locally and writes to a server (backend_replica.c),
 * made of a local and a remote connection. */
extern const lsq_backend lsq_backend_replica;

/* The local connection's read-only guard (stay_read_only) lifted for
 * good: a frozen replica is a plain database. 0 or -1 with *err. */
int lsq_local_lift_guard(lsq_conn *c, lsq_error *err);

/* 1 if a statement of the local connection is part way through its rows
 * (a cursor): its read transaction keeps a replica's sync out. */
int lsq_local_reading(lsq_conn *c);

#endif
