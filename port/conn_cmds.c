/*
 * conn_cmds.c - the commands on the connection itself: open (the options
 * and the backend), close, ping, info, stats, busy timeout, limits,
 * backup and reset.
 */
#include "handlers.h"
#include "cdc.h"
#include "extensions.h"
#include "functions.h"
#include "wipe.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Detach the connection under the lock; close it outside. */
int cmd_close_conn(lsq_port *p, lsq_error *err)
{
    lsq_conn *c;
    const lsq_backend *be;
    lsq_error ignored;

    cmd_release_handles(p);
    cache_free(p->cache);
    p->cache = NULL;
    /* What committed is sent; what the close rolls back never will be:
     * the backend stops reporting before the capture is freed (closing
     * rolls back an open transaction, and SQLite tells the hook). */
    cdc_flush(p);
    if (p->cdc != NULL && p->conn != NULL && p->be->watch_changes != NULL)
        (void)p->be->watch_changes(p->conn, NULL, &ignored);
    cdc_free(p);
    if (pthread_mutex_lock(&p->conn_lock) != 0) {
        lsq_error_set(err, LSQ_E_INTERNAL, "lock failed");
        return -1;
    }
    c = p->conn;
    be = p->be;
    p->conn = NULL;
    p->be = NULL;
    (void)pthread_mutex_unlock(&p->conn_lock);
    /* SQLite frees its copies of the functions with the handle. */
    functions_free(&p->functions);
    extensions_free(&p->extensions);
    return c != NULL ? be->close(c, err) : 0;
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

/* A binary option as a fresh NUL-terminated string (no NUL inside). An
 * option given twice replaces the first copy (wiped if secret). */
static int string_opt(const char *buf, int *idx, char **out, int secret)
{
    const char *p;
    size_t n;

    if (term_decode_binary(buf, idx, &p, &n) != 0 || memchr(p, 0, n) != NULL) return -1;
    if (*out != NULL && secret) wipe(*out, strlen(*out));
    free(*out);
    *out = malloc(n + 1);
    if (*out == NULL) return -1;
    memcpy(*out, p, n);
    (*out)[n] = 0;
    return 0;
}

/* A binary option of any bytes, copied; given twice, the first copy is
 * wiped if secret. */
static int bytes_opt(const char *buf, int *idx, unsigned char **out, size_t *len, int secret)
{
    const char *p;
    size_t n;

    if (term_decode_binary(buf, idx, &p, &n) != 0) return -1;
    if (*out != NULL && secret) wipe(*out, *len);
    free(*out);
    *len = 0;
    *out = malloc(n ? n : 1);
    if (*out == NULL) return -1;
    memcpy(*out, p, n);
    *len = n;
    return 0;
}

/* The open options, from their one table (open_options.h). */
enum { OPT_STRING, OPT_INT, OPT_BOOL, OPT_NULL, OPT_BYTES };

typedef struct open_opt {
    const char *name;   /* the key (an atom) */
    int type;           /* OPT_* */
    size_t off;         /* its field in lsq_open_opts */
    long long dflt, min, max;
    int secret;         /* a string to wipe when freed */
    size_t len_off;     /* OPT_BYTES: its length field */
} open_opt;

static const open_opt aOpenOpt[] = {
#define LSQ_OPT_STRING(n, f, s) { #n, OPT_STRING, offsetof(lsq_open_opts, f), 0, 0, 0, s, 0 },
#define LSQ_OPT_BYTES(n, f, s) \
    { #n, OPT_BYTES, offsetof(lsq_open_opts, f), 0, 0, 0, s, offsetof(lsq_open_opts, f##_len) },
#define LSQ_OPT_INT(n, f, d, lo, hi) { #n, OPT_INT, offsetof(lsq_open_opts, f), d, lo, hi, 0, 0 },
#define LSQ_OPT_BOOL(n, f, d) { #n, OPT_BOOL, offsetof(lsq_open_opts, f), d, 0, 1, 0, 0 },
#define LSQ_OPT_NULL(n, f) { #n, OPT_NULL, offsetof(lsq_open_opts, f), 0, 0, 0, 0, 0 },
#include "open_options.h"
#undef LSQ_OPT_STRING
#undef LSQ_OPT_BYTES
#undef LSQ_OPT_INT
#undef LSQ_OPT_BOOL
#undef LSQ_OPT_NULL
};

#define OPT_FIELD(o, opt, type) ((type *)(void *)((char *)(o) + (opt)->off))

static void free_open_opts(lsq_open_opts *o)
{
    size_t i;

    for (i = 0; i < sizeof aOpenOpt / sizeof aOpenOpt[0]; i++) {
        const open_opt *opt = &aOpenOpt[i];
        char **z = OPT_FIELD(o, opt, char *);

        if (opt->type == OPT_BYTES && *z != NULL) {
            size_t *len = (size_t *)(void *)((char *)o + opt->len_off);

            if (opt->secret) wipe(*z, *len);
            free(*z);
            continue;
        }
        if (opt->type != OPT_STRING || *z == NULL) continue;
        /* Do not leave a secret in freed memory. */
        if (opt->secret) wipe(*z, strlen(*z));
        free(*z);
    }
    memset(o, 0, sizeof *o);
}

/* Every option at its default. */
static void default_open_opts(lsq_open_opts *o)
{
    size_t i;

    memset(o, 0, sizeof *o);
    for (i = 0; i < sizeof aOpenOpt / sizeof aOpenOpt[0]; i++) {
        const open_opt *opt = &aOpenOpt[i];

        if (opt->type == OPT_INT) *OPT_FIELD(o, opt, long long) = opt->dflt;
        else if (opt->type == OPT_BOOL) *OPT_FIELD(o, opt, int) = (int)opt->dflt;
        else if (opt->type == OPT_NULL) *OPT_FIELD(o, opt, const char *) = "null";
    }
}

/* The value at *idx for option opt. 0, or -1 (a bad value). */
static int decode_open_value(const char *buf, int *idx, const open_opt *opt, lsq_open_opts *o)
{
    static const char *const nulls[] = { "null", "nil", "undefined" };
    char atom[MAXATOMLEN_UTF8];
    long long v;
    size_t k;

    switch (opt->type) {
    case OPT_STRING:
        return string_opt(buf, idx, OPT_FIELD(o, opt, char *), opt->secret);
    case OPT_BYTES:
        return bytes_opt(buf, idx, OPT_FIELD(o, opt, unsigned char *),
                         (size_t *)(void *)((char *)o + opt->len_off), opt->secret);
    case OPT_INT:
        if (term_decode_int(buf, idx, &v) != 0 || v < opt->min || v > opt->max) return -1;
        *OPT_FIELD(o, opt, long long) = v;
        return 0;
    case OPT_BOOL:
        return term_decode_bool(buf, idx, OPT_FIELD(o, opt, int));
    case OPT_NULL:
        if (atom_at(buf, idx, atom) != 0) return -1;
        for (k = 0; k < sizeof nulls / sizeof nulls[0]; k++) {
            if (strcmp(atom, nulls[k]) == 0) {
                *OPT_FIELD(o, opt, const char *) = nulls[k];
                return 0;
            }
        }
        return -1;
    }
    return -1;
}

/* Decode the open options: a proper list of {Key, Value} pairs, each key
 * one of the table's. */
static int decode_open_opts(const char *buf, int idx, lsq_open_opts *o, lsq_error *err)
{
    char key[MAXATOMLEN_UTF8];
    int n, i, arity, type, size;
    const open_opt *opt;
    size_t k;

    default_open_opts(o);
    if (ei_get_type(buf, &idx, &type, &size) != 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(buf, &idx, &n) != 0)
        goto bad;
    for (i = 0; i < n; i++) {
        if (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_SMALL_TUPLE_EXT ||
            ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
            atom_at(buf, &idx, key) != 0)
            goto bad;
        for (k = 0, opt = NULL; k < sizeof aOpenOpt / sizeof aOpenOpt[0]; k++)
            if (strcmp(key, aOpenOpt[k].name) == 0) opt = &aOpenOpt[k];
        if (opt == NULL) {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "unknown open option %.100s", key);
            goto fail;
        }
        if (decode_open_value(buf, &idx, opt, o) != 0) {
            if (opt->type == OPT_STRING)
                lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                              "open option %s must be a binary without NUL bytes", key);
            else if (opt->type == OPT_BYTES)
                lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "open option %s must be a binary", key);
            else
                lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "bad value for open option %s", key);
            goto fail;
        }
    }
    if (n > 0 && (ei_get_type(buf, &idx, &type, &size) != 0 || type != ERL_NIL_EXT)) goto bad;
    return 0;
bad:
    lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "open options must be a list of {Key, Value}");
fail:
    free_open_opts(o);
    return -1;
}

/* Which backend opens what: the open options decide, by what they name:
 * a file, a server, or both (an embedded replica). */
static const struct {
    int path, url;            /* the options given */
    const lsq_backend *be;    /* who opens it, or NULL: why not */
    const char *why;
} aBackend[] = {
    { 1, 0, &lsq_backend_local, NULL },
    { 0, 1, &lsq_backend_remote, NULL },
    { 1, 1, &lsq_backend_replica, NULL },
    { 0, 0, NULL, "open needs a path or a url" },
};

static const lsq_backend *choose_backend(const lsq_open_opts *o, lsq_error *err)
{
    size_t i;

    for (i = 0; i < sizeof aBackend / sizeof aBackend[0]; i++) {
        if (aBackend[i].path != (o->path != NULL) || aBackend[i].url != (o->url != NULL))
            continue;
        if (aBackend[i].be == NULL) lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "%s", aBackend[i].why);
        return aBackend[i].be;
    }
    return NULL; /* not reached: the table covers every combination */
}

int cmd_open(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const lsq_backend *be;
    lsq_open_opts o;
    lsq_error err;
    lsq_conn *c = NULL;
    long long max_result;
    const char *null_atom;
    stmt_cache *cache;

    if (p->conn != NULL)
        return reply_errorf(x, r->ref, LSQ_E_MISUSE,
                                "a connection is already open on this port");
    if (decode_open_opts(r->buf, r->idx, &o, &err) != 0)
        return reply_error(x, r->ref, &err);
    null_atom = o.null_atom; /* static; free_open_opts clears o */
    max_result = o.max_result;
    if ((be = choose_backend(&o, &err)) == NULL) {
        free_open_opts(&o);
        return reply_error(x, r->ref, &err);
    }
    cache = cache_new((size_t)o.cache_size, be->finalize);
    if (cache == NULL) {
        free_open_opts(&o);
        return reply_errorf(x, r->ref, LSQ_E_NOMEM, "out of memory");
    }
    if (be->open(&o, &c, &err) != 0) {
        free_open_opts(&o);
        cache_free(cache);
        return reply_error(x, r->ref, &err);
    }
    free_open_opts(&o);
    if (pthread_mutex_lock(&p->conn_lock) != 0) {
        (void)be->close(c, &err);
        cache_free(cache);
        return reply_errorf(x, r->ref, LSQ_E_INTERNAL, "lock failed");
    }
    p->be = c->be; /* the connection's own backend (be, or one it owns) */
    p->conn = c;
    p->cache = cache;
    p->max_result = (size_t)max_result;
    term_set_null_atom(null_atom);
    (void)pthread_mutex_unlock(&p->conn_lock);
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_map_header(x, 1) != 0 ||
        ei_x_encode_atom(x, "mode") != 0 || ei_x_encode_atom(x, p->be->mode) != 0)
        return -1;
    return 0;
}

int cmd_close(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    lsq_error err;

    if (p->conn == NULL) return reply_ok_atom(x, r->ref);
    if (cmd_close_conn(p, &err) != 0) return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

int cmd_ping(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int rc = run_need_conn(p, r, x);

    return rc != REPLY_OK ? rc : reply_ok_atom(x, r->ref);
}

/* ---- information ----------------------------------------------------- */

static int encode_kv_int(ei_x_buff *x, const char *k, long long v)
{
    return ei_x_encode_atom(x, k) || ei_x_encode_longlong(x, v) ? -1 : 0;
}

static int encode_kv_bool(ei_x_buff *x, const char *k, int v)
{
    return ei_x_encode_atom(x, k) || ei_x_encode_atom(x, v ? "true" : "false") ? -1 : 0;
}

/* PRAGMA journal_mode as text, into buf (empty when unknown). */
static void journal_mode(lsq_port *p, char *buf, size_t n)
{
    lsq_stmt *s = NULL;
    lsq_error err;
    lsq_value v;
    static const char sql[] = "PRAGMA journal_mode";

    buf[0] = 0;
    if (run_get_stmt(p, sql, sizeof sql - 1, &s, &err) != 0 || s == NULL) return;
    if (p->be->step(s, &err) == LSQ_STEP_ROW && p->be->column_value(s, 0, &v, &err) == 0 &&
        v.type == LSQ_TEXT)
        (void)snprintf(buf, n, "%.*s", (int)(v.u.s.n < n ? v.u.s.n : n - 1), v.u.s.p);
    run_put_stmt(p, sql, sizeof sql - 1, s);
}

int cmd_info(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const lsq_backend *be = p->be;
    char jm[32];
    const char *file;
    int rc = run_need_conn(p, r, x);

    if (rc != REPLY_OK) return rc;
    journal_mode(p, jm, sizeof jm);
    file = be->filename(p->conn);
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_map_header(x, 9) != 0 ||
        encode_kv_bool(x, "encrypted", be->encrypted != NULL && be->encrypted(p->conn)) != 0 ||
        encode_kv_int(x, "last_insert_rowid", be->last_insert_rowid(p->conn)) != 0 ||
        encode_kv_int(x, "changes", be->changes(p->conn)) != 0 ||
        encode_kv_int(x, "total_changes", be->total_changes(p->conn)) != 0 ||
        encode_kv_bool(x, "autocommit", be->autocommit(p->conn)) != 0 ||
        encode_kv_bool(x, "read_only", be->db_readonly(p->conn)) != 0 ||
        ei_x_encode_atom(x, "file") != 0 || term_encode_binary(x, file, strlen(file)) != 0 ||
        ei_x_encode_atom(x, "journal_mode") != 0 || term_encode_binary(x, jm, strlen(jm)) != 0 ||
        ei_x_encode_atom(x, "mode") != 0 || ei_x_encode_atom(x, be->mode) != 0)
        return -1;
    return 0;
}

int cmd_stats(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    cache_stats cs;
    long long waits = 0, wait_max = 0;

    memset(&cs, 0, sizeof cs);
    if (p->cache != NULL) cache_get_stats(p->cache, &cs);
    if (p->conn != NULL && p->be->busy_stats != NULL) p->be->busy_stats(p->conn, &waits, &wait_max);
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_map_header(x, 13) != 0 ||
        encode_kv_int(x, "busy_waits", waits) != 0 ||
        encode_kv_int(x, "busy_wait_max_ms", wait_max) != 0 ||
        encode_kv_int(x, "requests", (long long)p->n.requests) != 0 ||
        encode_kv_int(x, "errors", (long long)p->n.errors) != 0 ||
        encode_kv_int(x, "rows", (long long)p->n.rows) != 0 ||
        encode_kv_int(x, "prepares", (long long)p->n.prepares) != 0 ||
        encode_kv_int(x, "cache_hits", (long long)cs.hits) != 0 ||
        encode_kv_int(x, "cache_misses", (long long)cs.misses) != 0 ||
        encode_kv_int(x, "cache_evictions", (long long)cs.evictions) != 0 ||
        encode_kv_int(x, "cache_size", (long long)cs.size) != 0 ||
        encode_kv_int(x, "cache_capacity", (long long)cs.capacity) != 0 ||
        encode_kv_int(x, "statements", (long long)handles_count(&p->h, HANDLE_STMT)) != 0 ||
        encode_kv_int(x, "cursors", (long long)handles_count(&p->h, HANDLE_CURSOR)) != 0)
        return -1;
    return 0;
}

/* ---- settings ---------------------------------------------------------- */

int cmd_set_busy_timeout(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int idx = r->idx, rc = run_need_conn(p, r, x);
    long long ms;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (term_decode_int(r->buf, &idx, &ms) != 0 || ms < 0 || ms > 0x7fffffff)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "busy timeout must be an integer 0..2147483647 (ms)");
    if (p->be->set_busy_timeout(p->conn, (int)ms, &err) != 0)
        return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

static const struct { const char *name; int id; } aLimit[] = {
    { "length", SQLITE_LIMIT_LENGTH },
    { "sql_length", SQLITE_LIMIT_SQL_LENGTH },
    { "column", SQLITE_LIMIT_COLUMN },
    { "expr_depth", SQLITE_LIMIT_EXPR_DEPTH },
    { "compound_select", SQLITE_LIMIT_COMPOUND_SELECT },
    { "vdbe_op", SQLITE_LIMIT_VDBE_OP },
    { "function_arg", SQLITE_LIMIT_FUNCTION_ARG },
    { "attached", SQLITE_LIMIT_ATTACHED },
    { "like_pattern_length", SQLITE_LIMIT_LIKE_PATTERN_LENGTH },
    { "variable_number", SQLITE_LIMIT_VARIABLE_NUMBER },
    { "trigger_depth", SQLITE_LIMIT_TRIGGER_DEPTH },
    { "worker_threads", SQLITE_LIMIT_WORKER_THREADS },
};

/* {limit, Name, Value}: set when Value >= 0, read when Value is -1;
 * answers the value in force before. */
int cmd_limit(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    char name[MAXATOMLEN_UTF8];
    int idx = r->idx, rc = run_need_conn(p, r, x), id = -1;
    long long v;
    size_t i;

    if (rc != REPLY_OK) return rc;
    if (atom_at(r->buf, &idx, name) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, "limit name must be an atom");
    for (i = 0; i < sizeof aLimit / sizeof aLimit[0]; i++)
        if (strcmp(aLimit[i].name, name) == 0) id = aLimit[i].id;
    if (id < 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT, "unknown limit %.100s", name);
    if (term_decode_int(r->buf, &idx, &v) != 0 || v < -1 || v > 0x7fffffff)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "limit value must be -1 (read) or 0..2147483647");
    if (p->be->limit == NULL)
        return reply_errorf(x, r->ref, LSQ_E_NOT_SUPPORTED,
                            "limits of a remote database are the server's");
    if (reply_begin(x, r->ref) != 0 ||
        ei_x_encode_longlong(x, p->be->limit(p->conn, id, (int)v)) != 0)
        return -1;
    return 0;
}

/* A key argument: a binary (1, its bytes in *p, *n), or the atom
 * `none_atom' (0); -1 for anything else. */
static int key_arg(const char *buf, int *idx, const char *none_atom, const char **p, size_t *n)
{
    char atom[MAXATOMLEN_UTF8];
    int save = *idx;

    if (term_decode_binary(buf, idx, p, n) == 0) return 1;
    *idx = save;
    if (atom_at(buf, idx, atom) == 0 && strcmp(atom, none_atom) == 0) return 0;
    return -1;
}

/* backup(Dest, Key): Key `same' writes the copy as the database is (an
 * encrypted database's copy under its key), a binary under that key. */
int cmd_backup(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    const char *dest, *key = NULL;
    size_t n, keylen = 0;
    char *z;
    int idx = r->idx, rc = run_need_conn(p, r, x), has_key;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (term_decode_binary(r->buf, &idx, &dest, &n) != 0 || n == 0 || memchr(dest, 0, n))
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                                "backup destination must be a non-empty path");
    if ((has_key = key_arg(r->buf, &idx, "same", &key, &keylen)) < 0 || (has_key && keylen == 0))
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "a backup's encryption_key must be a non-empty binary");
    z = malloc(n + 1);
    if (z == NULL) return reply_errorf(x, r->ref, LSQ_E_NOMEM, "out of memory");
    memcpy(z, dest, n);
    z[n] = 0;
    rc = p->be->backup(p->conn, z, (const unsigned char *)key, keylen, &err);
    free(z);
    if (rc != 0) return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

/* rekey(Key | null): the backend's, with no statement or cursor of ours
 * left on the connection (a plain file that becomes encrypted is opened
 * anew: the statement cache goes too). */
int cmd_rekey(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    sqlite3 *before;
    const char *key = NULL;
    size_t keylen = 0;
    int idx = r->idx, rc = run_need_conn(p, r, x), has_key;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if ((has_key = key_arg(r->buf, &idx, "null", &key, &keylen)) < 0 || (has_key && keylen == 0))
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "the new key must be a non-empty binary, or null");
    if (p->be->rekey == NULL)
        return reply_errorf(x, r->ref, LSQ_E_NOT_SUPPORTED,
                            "only a local database file can be rekeyed");
    if (handles_count(&p->h, HANDLE_STMT) + handles_count(&p->h, HANDLE_CURSOR) > 0)
        return reply_errorf(x, r->ref, LSQ_E_MISUSE,
                            "finalize prepared statements and close cursors before a rekey");
    cache_clear(p->cache);
    before = p->be->sqlite != NULL ? p->be->sqlite(p->conn) : NULL;
    if (p->be->rekey(p->conn, (const unsigned char *)key, keylen, &err) != 0)
        return reply_error(x, r->ref, &err);
    /* Encrypting a plain file opens it again: a new handle, which gets
     * what the old one had. */
    if (before != NULL && p->be->sqlite(p->conn) != before &&
        (functions_reapply(p->be->sqlite(p->conn), p->functions, &err) != 0 ||
         extensions_reapply(p->extensions, p->be->sqlite(p->conn), &err) != 0))
        return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

/* Back to a clean state for the next user: handles released, then the
 * backend's clean (an open transaction rolled back, no read-only guard
 * left). The statement cache stays. */
int cmd_reset(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    lsq_error err;
    int rc = run_need_conn(p, r, x);

    if (rc != REPLY_OK) return rc;
    cmd_release_handles(p);
    if (p->be->clean(p->conn, &err) != 0) return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}
