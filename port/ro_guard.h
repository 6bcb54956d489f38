/*
 * ro_guard.h - what a connection that must stay read-only (an embedded
 * replica's reader) refuses when a statement is compiled.
 *
 * PRAGMA query_only = 1 stops writes to the database's content, but not
 * every statement that changes the file or the guard itself: PRAGMA
 * query_only = 0 lifts it, journal_mode = WAL rewrites the header,
 * wal_checkpoint, optimize and incremental_vacuum write, locking_mode =
 * EXCLUSIVE would keep the sync out for good. An SQLite authorizer sees
 * each pragma with its argument before the statement exists, so the
 * refusal costs nothing at run time and no statement text is parsed here.
 */
#ifndef LSQ_RO_GUARD_H
#define LSQ_RO_GUARD_H

/* The authorizer (sqlite3_set_authorizer). arg: a char[RO_GUARD_NAME]
 * that receives the refused pragma's name, for the error message. */
#define RO_GUARD_NAME 32
int ro_guard_authorize(void *arg, int action, const char *a1, const char *a2, const char *db,
                       const char *trigger);

/* 1 if setting this pragma writes the database's content (user_version,
 * application_id): refused on the file, but a replica sends it to the
 * server, where the database is written. */
int ro_guard_writes_database(const char *pragma);

#endif
