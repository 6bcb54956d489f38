/*
 * functions.h - Erlang SQL functions: scalar and aggregate functions
 * whose bodies run in the Erlang process that made the running request.
 *
 * SQLite calls the C side (sqlite3_create_function_v2); it asks Erlang
 * through the channel (channel.h) and waits. Payloads of the callback
 * frames (port/PROTOCOL.md):
 *
 *   {call, FunId, Args}           a scalar call: {ok, Value} | {error, Msg}
 *   {steps, Steps}                aggregate steps, [{FunId, Ctx, Args}];
 *                                 sent without waiting, and every
 *                                 STEP_SYNC_EVERY-th batch as a call
 *                                 (answer ok | {error, Msg}) so that a
 *                                 slow Erlang side holds back the port
 *                                 and a step that raised stops the
 *                                 statement early;
 *   {final, FunId, Ctx, Steps}    the steps not sent yet, then the final
 *                                 call of context Ctx (0: no rows):
 *                                 {ok, Value} | {error, Msg}.
 *
 * SQLite finalizes every group it started, also as it cleans up after a
 * statement failed: the final call then runs for nothing (its result is
 * dropped). After an interrupt or EOF nothing is sent (channel.h).
 *
 * An aggregate's steps are not waited for one by one: a round trip per
 * row would make a GROUP BY over many rows as slow as a scalar call per
 * row, for no use (a step's result is its new state, kept in Erlang).
 *
 * FunId is the connection process's number for its fun; Ctx numbers an
 * aggregate's group within the port. Values travel as query values do.
 * Main thread only.
 */
#ifndef LSQ_FUNCTIONS_H
#define LSQ_FUNCTIONS_H

#include <sqlite3.h>
#include "errors.h"

typedef struct lsq_function lsq_function; /* an entry of a connection's list */

enum { LSQ_FN_AGGREGATE = 1, LSQ_FN_DETERMINISTIC = 2 };

/* Largest arity SQLite accepts for an application function. */
#define LSQ_FN_MAX_ARITY 127

/* Register name (n bytes, no NUL) of arity (-1: any) on db, replacing a
 * function of the same name and arity, and keep it in *list so it can be
 * registered again on a new handle. 0, or -1 with *err. */
int functions_create(sqlite3 *db, lsq_function **list, long long id, const char *name,
                     size_t n, int arity, int flags, lsq_error *err);
/* Remove name/arity from db and *list. 0 (also when unknown), or -1. */
int functions_delete(sqlite3 *db, lsq_function **list, const char *name, size_t n,
                     int arity, lsq_error *err);
/* Register every function of list on db (a handle reopened). 0 or -1. */
int functions_reapply(sqlite3 *db, const lsq_function *list, lsq_error *err);
/* Free the list (the handle it was on is closed). */
void functions_free(lsq_function **list);

#endif
