/*
 * tx_sql.c - the SQL text of transaction control, written once: the
 * backends run it, and an error of the operation names it as its `sql'
 * (as for any statement that failed).
 */
#include "backend.h"

#include <stdio.h>

const char *lsq_tx_sql(int which)
{
    static const char *const sql[] = {
        [LSQ_TXSQL_DEFERRED] = "BEGIN DEFERRED",
        [LSQ_TXSQL_IMMEDIATE] = "BEGIN IMMEDIATE",
        [LSQ_TXSQL_EXCLUSIVE] = "BEGIN EXCLUSIVE",
        [LSQ_TXSQL_COMMIT] = "COMMIT",
        [LSQ_TXSQL_ROLLBACK] = "ROLLBACK",
        [LSQ_TXSQL_QUERY_ONLY_ON] = "PRAGMA query_only = 1",
        [LSQ_TXSQL_QUERY_ONLY_OFF] = "PRAGMA query_only = 0",
    };

    return which >= 0 && which < LSQ_TXSQL_COUNT ? sql[which] : "";
}

void lsq_savepoint_sql(int op, const char *name, char buf[LSQ_SAVEPOINT_SQL_MAX])
{
    static const char *const verb[] = {
        [LSQ_SP_SAVEPOINT] = "SAVEPOINT", [LSQ_SP_RELEASE] = "RELEASE SAVEPOINT",
        [LSQ_SP_ROLLBACK_TO] = "ROLLBACK TO SAVEPOINT",
    };

    /* The name is a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64
     * bytes): quoted, nothing in it is SQL, and it fits. */
    (void)snprintf(buf, LSQ_SAVEPOINT_SQL_MAX, "%s \"%.64s\"", verb[op], name);
}
