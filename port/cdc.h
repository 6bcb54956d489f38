/*
 * cdc.h - change data capture: a connection's committed row changes, sent
 * to the Erlang side in batches, never one frame per row.
 *
 * The backend reports each row change, commit, rollback and savepoint
 * operation as it happens (backend.h, lsq_change_sink). Changes are held
 * here until their transaction commits: those of a transaction that rolls
 * back, and those a ROLLBACK TO undoes, are never sent. A committed
 * transaction becomes its changes followed by a commit marker; a rollback
 * a rollback marker. They go out as
 *
 *   {0, event, {changes, [Event]}}
 *   Event = {insert | update | delete, Db, Table, RowId}
 *         | {commit, #{changes := N, dropped := D}}
 *         | {rollback, #{}}
 *
 * before the reply of the request that committed (cdc_flush, called by
 * the command layer), and earlier once a megabyte has gathered while a
 * long request commits many transactions. One transaction holds at most
 * CDC_MAX_PENDING bytes of changes: past that its further changes are
 * counted (dropped) but not kept, and its commit says how many.
 *
 * Main thread only.
 */
#ifndef LSQ_CDC_H
#define LSQ_CDC_H

#include "commands.h"

/* Capture row changes (updates) and/or commit and rollback markers
 * (commits) of p's connection from now on; both 0: stop. 0, or -1 with
 * *err (not_supported where the backend does not watch changes). */
int cdc_configure(lsq_port *p, int updates, int commits, lsq_error *err);
/* Send what committed and has not been sent (the command layer, after
 * each request, before its reply). */
void cdc_flush(lsq_port *p);
/* Forget everything (the connection closes). */
void cdc_free(lsq_port *p);

#endif
