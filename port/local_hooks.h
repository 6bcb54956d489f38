/*
 * local_hooks.h - what a local connection plugs into SQLite besides its
 * interrupts: the one authorizer (a replica reader's read-only guard, the
 * truncate optimization kept off while changes are watched, the savepoint
 * a statement being prepared operates on) and the change hooks that feed
 * a change sink (backend.h, lsq_change_sink).
 *
 * The user's rules (auth_rules.h) and authorizer fun come after the guard
 * and before the truncate rule.
 *
 * SQLite has one authorizer and one hook of each kind per handle: every
 * user of them goes through here, so none replaces another's. Everything
 * is installed again on a new handle (a rekey that reopens the file).
 * Main thread only.
 */
#ifndef LSQ_LOCAL_HOOKS_H
#define LSQ_LOCAL_HOOKS_H

#include <sqlite3.h>
#include "auth_rules.h"
#include "backend.h"

typedef struct local_hooks local_hooks;

/* stay_read_only and refused are the connection's (ro_guard.h), read by
 * the authorizer. NULL when out of memory. */
local_hooks *local_hooks_new(const int *stay_read_only, char *refused);
void local_hooks_free(local_hooks *h);

/* Install the authorizer, and the change hooks if changes are watched,
 * on db (at open, and on a reopened handle). SQLite's result code. */
int local_hooks_install(local_hooks *h, sqlite3 *db);
/* Take everything off db before it closes: h is freed with the
 * connection, and a handle SQLite keeps as a zombie (a statement not
 * finalized) must not call into freed memory. */
void local_hooks_detach(local_hooks *h, sqlite3 *db);
/* Watch the changes of db for sink (NULL: stop). SQLite's result code. */
int local_hooks_watch(local_hooks *h, sqlite3 *db, const lsq_change_sink *sink);

/* Authorize statements by rules from now on (taken: *rules is left
 * empty; no rules and no ask_erlang: everything allowed). Statements
 * compiled before are compiled again under them. SQLite's result code. */
int local_hooks_authorize(local_hooks *h, sqlite3 *db, lsq_auth_rules *rules);
/* Why the user's authorizer denied the statement last prepared, or NULL
 * (the error's message, code `auth'). */
const char *local_hooks_denied(local_hooks *h);

/* Around a prepare: forget, then take what the authorizer saw of a
 * savepoint statement (*op an LSQ_SP_* or -1, *name malloc'd or NULL). */
void local_hooks_before_prepare(local_hooks *h);
void local_hooks_take_savepoint(local_hooks *h, int *op, char **name);

/* After a prepare: whether the statement creates, drops or alters an
 * index or a table (*schema_op), and whether it calls libsql_vector_idx
 * (*vector_fn), as the authorizer saw it compiled. */
void local_hooks_take_schema(local_hooks *h, int *schema_op, int *vector_fn);

/* A statement ended (ok: it completed), having operated on savepoint
 * op/name (op -1: none): told to the sink, if changes are watched. */
void local_hooks_statement_done(local_hooks *h, sqlite3 *db, int ok, int op, const char *name);

#endif
