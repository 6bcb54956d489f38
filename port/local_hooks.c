/*
 * local_hooks.c - the authorizer and change hooks of a local connection
 * (local_hooks.h).
 */
#include "local_hooks.h"
#include "channel.h"
#include "ro_guard.h"
#include "term.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct local_hooks {
    const int *stay_read_only;  /* the connection's: the read-only guard applies */
    char *refused;              /* the guard's last refused pragma */
    int watching;               /* changes go to sink */
    lsq_change_sink sink;
    int sp_op;                  /* what the last prepare saw: LSQ_SP_* or -1 */
    char *sp_name;              /* and its savepoint (malloc'd) */
    lsq_auth_rules rules;       /* the user's authorizer (auth_rules.h) */
    int dropping;               /* the last action asked about dropped a table or view */
    int schema_op;              /* the last prepare creates, drops or alters an index or table */
    int vector_fn;              /* and calls libsql_vector_idx (a vector index's CREATE) */
    char denied[512];           /* why the last statement was denied, or "" */
};

local_hooks *local_hooks_new(const int *stay_read_only, char *refused)
{
    local_hooks *h = calloc(1, sizeof *h);

    if (h == NULL) return NULL;
    h->stay_read_only = stay_read_only;
    h->refused = refused;
    h->sp_op = -1;
    return h;
}

void local_hooks_free(local_hooks *h)
{
    if (h == NULL) return;
    auth_rules_free(&h->rules);
    free(h->sp_name);
    free(h);
}

/* The schema tables, which DROP and CREATE statements authorize deleting
 * from: their SQLITE_DELETE is not a DELETE statement's. */
static int is_schema_table(const char *t)
{
    return t != NULL && (sqlite3_stricmp(t, "sqlite_master") == 0 ||
                         sqlite3_stricmp(t, "sqlite_temp_master") == 0 ||
                         sqlite3_stricmp(t, "sqlite_schema") == 0 ||
                         sqlite3_stricmp(t, "sqlite_temp_schema") == 0);
}

/* Say which check denied the statement, for its error (local_hooks_denied). */
static int deny(local_hooks *h, int action, const char *object, const char *detail,
                const char *by)
{
    const char *name = auth_action_name(action);

    (void)snprintf(h->denied, sizeof h->denied, "not authorized by %s: %s%s%.200s%s%.100s%s",
                   by, name != NULL ? name : "an action", object != NULL ? " of " : "",
                   object != NULL ? object : "", detail != NULL ? " (" : "",
                   detail != NULL ? detail : "", detail != NULL ? ")" : "");
    return SQLITE_DENY;
}

/* The caller's authorizer fun decides (channel.h): {authorize, Action,
 * Object, Detail, Db} answered ok, deny, ignore or {error, Message}. A
 * check it cannot make is a denial. */
static int ask_erlang(local_hooks *h, int action, const char *object, const char *detail,
                      const char *db)
{
    channel_call c;
    char atom[MAXATOMLEN_UTF8];
    const char *name = auth_action_name(action);
    int rc = channel_begin(&c, 1), verdict = SQLITE_DENY, idx;

    if (rc == 0 && (ei_x_encode_tuple_header(&c.x, 5) != 0 ||
                    ei_x_encode_atom(&c.x, "authorize") != 0 ||
                    ei_x_encode_atom(&c.x, name != NULL ? name : "unknown") != 0 ||
                    (object != NULL ? term_encode_binary(&c.x, object, strlen(object))
                                    : ei_x_encode_atom(&c.x, "undefined")) != 0 ||
                    (detail != NULL ? term_encode_binary(&c.x, detail, strlen(detail))
                                    : ei_x_encode_atom(&c.x, "undefined")) != 0 ||
                    (db != NULL ? term_encode_binary(&c.x, db, strlen(db))
                                : ei_x_encode_atom(&c.x, "undefined")) != 0))
        rc = CHANNEL_NOMEM;
    if (rc == 0) rc = channel_finish(&c);
    idx = c.idx;
    if (rc == CHANNEL_ANSWERED && ei_decode_atom(c.answer, &idx, atom) == 0) {
        if (strcmp(atom, "ok") == 0) verdict = SQLITE_OK;
        else if (strcmp(atom, "ignore") == 0) verdict = SQLITE_IGNORE;
    }
    channel_free(&c);
    return verdict == SQLITE_DENY ? deny(h, action, object, detail, "the authorizer fun")
                                  : verdict;
}

/* The user's rules, then their fun for what no rule decided. */
static int user_rules(local_hooks *h, int action, const char *a1, const char *a2, const char *db)
{
    const char *object, *detail;
    char by[32];
    size_t which;
    int rc;

    auth_args(action, a1, a2, &object, &detail);
    rc = auth_rules_check(&h->rules, action, object, detail, &which);
    if (rc == SQLITE_DENY) {
        (void)snprintf(by, sizeof by, "rule %zu", which + 1);
        return deny(h, action, object, detail, by);
    }
    if (rc >= 0) return rc;
    return h->rules.ask_erlang ? ask_erlang(h, action, object, detail, db) : SQLITE_OK;
}

/* What the vector index glue (vector_index.h) must hear of: statements
 * that may create or remove a vector index, or its table. */
static void note_schema(local_hooks *h, int action, const char *a2)
{
    switch (action) {
    case SQLITE_CREATE_INDEX:
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TABLE:
    case SQLITE_ALTER_TABLE:
        h->schema_op = 1;
        break;
    case SQLITE_FUNCTION:
        if (a2 != NULL && sqlite3_stricmp(a2, "libsql_vector_idx") == 0) h->vector_fn = 1;
        break;
    default:
        break;
    }
}

static int authorize(void *arg, int action, const char *a1, const char *a2, const char *db,
                     const char *trigger)
{
    local_hooks *h = arg;
    int rc, dropping;

    if (action == SQLITE_SAVEPOINT && a1 != NULL && a2 != NULL && trigger == NULL) {
        /* a1 BEGIN, RELEASE or ROLLBACK; a2 the name, dequoted by SQLite:
         * no statement text is parsed here. */
        int op = sqlite3_stricmp(a1, "BEGIN") == 0     ? LSQ_SP_SAVEPOINT
                 : sqlite3_stricmp(a1, "RELEASE") == 0 ? LSQ_SP_RELEASE
                                                       : LSQ_SP_ROLLBACK_TO;
        char *name = strdup(a2);

        free(h->sp_name);
        h->sp_name = name;
        h->sp_op = name != NULL ? op : -1;
        /* Out of memory: the statement must not run untracked. */
        if (name == NULL) return SQLITE_DENY;
    }
    if (trigger == NULL) note_schema(h, action, a2);
    if (*h->stay_read_only) {
        rc = ro_guard_authorize(h->refused, action, a1, a2, db, trigger);
        if (rc != SQLITE_OK) return rc;
    }
    if (h->rules.n > 0 || h->rules.ask_erlang) {
        rc = user_rules(h, action, a1, a2, db);
        if (rc != SQLITE_OK) return rc;
    }
    /* IGNORE on a DELETE statement turns SQLite's truncate optimization
     * off (DELETE without WHERE empties the table without visiting rows,
     * and the update hook would not hear of them); the statement still
     * deletes every row. But DROP TABLE asks about deleting from the
     * schema table and, right after its DROP action, from the table
     * itself: IGNORE there would make the DROP do nothing. */
    dropping = h->dropping;
    h->dropping = action == SQLITE_DROP_TABLE || action == SQLITE_DROP_TEMP_TABLE ||
                  action == SQLITE_DROP_VIEW || action == SQLITE_DROP_TEMP_VIEW ||
                  action == SQLITE_DROP_VTABLE;
    if (h->watching && action == SQLITE_DELETE && !dropping && !is_schema_table(a1))
        return SQLITE_IGNORE;
    return SQLITE_OK;
}

static void on_update(void *arg, int op, const char *db, const char *table, sqlite3_int64 rowid)
{
    local_hooks *h = arg;
    int kind = op == SQLITE_INSERT ? LSQ_CHANGE_INSERT
               : op == SQLITE_UPDATE ? LSQ_CHANGE_UPDATE
                                     : LSQ_CHANGE_DELETE;

    h->sink.row(h->sink.ctx, kind, db, table, rowid);
}

static int on_commit(void *arg)
{
    local_hooks *h = arg;

    h->sink.commit(h->sink.ctx);
    return 0; /* never veto */
}

static void on_rollback(void *arg)
{
    local_hooks *h = arg;

    h->sink.rollback(h->sink.ctx);
}

static void set_change_hooks(local_hooks *h, sqlite3 *db)
{
    int on = h->watching;

    (void)sqlite3_update_hook(db, on ? on_update : NULL, on ? h : NULL);
    (void)sqlite3_commit_hook(db, on ? on_commit : NULL, on ? h : NULL);
    (void)sqlite3_rollback_hook(db, on ? on_rollback : NULL, on ? h : NULL);
}

int local_hooks_install(local_hooks *h, sqlite3 *db)
{
    set_change_hooks(h, db);
    /* Setting it also expires every prepared statement: they are compiled
     * again, under the rules in force now. */
    return sqlite3_set_authorizer(db, authorize, h);
}

int local_hooks_watch(local_hooks *h, sqlite3 *db, const lsq_change_sink *sink)
{
    h->watching = sink != NULL;
    if (sink != NULL) h->sink = *sink;
    else memset(&h->sink, 0, sizeof h->sink);
    return local_hooks_install(h, db);
}

int local_hooks_authorize(local_hooks *h, sqlite3 *db, lsq_auth_rules *rules)
{
    auth_rules_free(&h->rules);
    h->rules = *rules;
    memset(rules, 0, sizeof *rules);
    return local_hooks_install(h, db);
}

const char *local_hooks_denied(local_hooks *h)
{
    return h->denied[0] != 0 ? h->denied : NULL;
}

void local_hooks_detach(local_hooks *h, sqlite3 *db)
{
    h->watching = 0;
    set_change_hooks(h, db);
    (void)sqlite3_set_authorizer(db, NULL, NULL);
}

void local_hooks_before_prepare(local_hooks *h)
{
    h->denied[0] = 0;
    h->schema_op = h->vector_fn = 0;
    free(h->sp_name);
    h->sp_name = NULL;
    h->sp_op = -1;
}

void local_hooks_take_savepoint(local_hooks *h, int *op, char **name)
{
    *op = h->sp_op;
    *name = h->sp_name;
    h->sp_op = -1;
    h->sp_name = NULL;
}

void local_hooks_take_schema(local_hooks *h, int *schema_op, int *vector_fn)
{
    *schema_op = h->schema_op;
    *vector_fn = h->vector_fn;
    h->schema_op = h->vector_fn = 0;
}

void local_hooks_statement_done(local_hooks *h, sqlite3 *db, int ok, int op, const char *name)
{
    if (!h->watching) return;
    if (ok && op >= 0 && name != NULL) h->sink.savepoint(h->sink.ctx, op, name);
    h->sink.statement_done(h->sink.ctx, sqlite3_get_autocommit(db));
}
