/*
 * uuid_sql.h - UUID SQL functions for a local connection (uuid_sql.c).
 *
 * Registered on every local connection, so that libSQL's (and Turso's)
 * UUID SQL runs on stock SQLite:
 *
 *   uuid()              TEXT, a random (version 4) UUID      [libSQL]
 *   uuid_str(X)         TEXT, X as 36 lowercase characters   [libSQL]
 *   uuid_blob(X)        BLOB, X as 16 bytes                  [libSQL]
 *   uuid4()             BLOB, a version 4 UUID               [Turso]
 *   uuid4_str()         TEXT, a version 4 UUID               [Turso]
 *   gen_random_uuid()   TEXT, a version 4 UUID               [Turso, PostgreSQL]
 *   uuid7()             BLOB, a version 7 UUID, increasing within the connection
 *   uuid7(S)            BLOB, a version 7 UUID for S seconds after the epoch
 *   uuid7_str(), uuid7_str(S)                 the same as TEXT
 *   uuid7_timestamp_ms(X)  INTEGER, the milliseconds of a version 7 UUID
 *
 * uuid_sql.c's header comment says what each accepts and returns.
 */
#ifndef LSQ_UUID_SQL_H
#define LSQ_UUID_SQL_H

#include <sqlite3.h>

/* Registers the functions above on db, with the connection's own uuid7
 * state (freed by SQLite when the last function holding it goes, at the
 * latest when db closes). Returns SQLITE_OK, or the rc of the first
 * registration that failed (SQLITE_NOMEM, ...): the functions registered
 * before it stay, and db remains usable. */
int lsq_uuid_sql_register(sqlite3 *db);

#endif
