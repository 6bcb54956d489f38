/*
 * ro_guard.c - the pragmas a read-only-for-good connection refuses
 * (ro_guard.h).
 */
#include "ro_guard.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Refused with an argument (a setting, not a read of it). query_only
 * may be set on (its own BEGIN of a read-only transaction does), never
 * off. */
static const char *const kSetRefused[] = {
    "journal_mode", "locking_mode", "writable_schema", "schema_version",
    "user_version", "application_id", "auto_vacuum", "page_size",
};
/* Of those, the ones that write the database's content. */
static const char *const kDatabaseWrites[] = { "user_version", "application_id" };
/* Refused in any form: they write (or may) whenever they run. */
static const char *const kAlwaysRefused[] = {
    "wal_checkpoint", "optimize", "incremental_vacuum",
};

static int refuse(char *name, const char *pragma)
{
    (void)snprintf(name, RO_GUARD_NAME, "%s", pragma);
    return SQLITE_DENY;
}

int ro_guard_authorize(void *arg, int action, const char *a1, const char *a2, const char *db,
                       const char *trigger)
{
    size_t i;

    (void)db, (void)trigger;
    if (action != SQLITE_PRAGMA || a1 == NULL) return SQLITE_OK;
    for (i = 0; i < sizeof kAlwaysRefused / sizeof kAlwaysRefused[0]; i++)
        if (strcasecmp(a1, kAlwaysRefused[i]) == 0) return refuse(arg, kAlwaysRefused[i]);
    if (a2 == NULL) return SQLITE_OK;
    if (strcasecmp(a1, "query_only") == 0)
        return strcmp(a2, "1") == 0 || strcasecmp(a2, "on") == 0 || strcasecmp(a2, "true") == 0 ||
                       strcasecmp(a2, "yes") == 0
                   ? SQLITE_OK
                   : refuse(arg, "query_only");
    for (i = 0; i < sizeof kSetRefused / sizeof kSetRefused[0]; i++)
        if (strcasecmp(a1, kSetRefused[i]) == 0) return refuse(arg, kSetRefused[i]);
    return SQLITE_OK;
}

int ro_guard_writes_database(const char *pragma)
{
    size_t i;

    for (i = 0; i < sizeof kDatabaseWrites / sizeof kDatabaseWrites[0]; i++)
        if (strcasecmp(pragma, kDatabaseWrites[i]) == 0) return 1;
    return 0;
}
