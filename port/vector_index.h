/*
 * vector_index.h - libSQL's vector indexes on a local connection: what
 * makes stock SQLite keep `CREATE INDEX i ON t(libsql_vector_idx(e, ...))`
 * as libSQL does (../shared/vectors.md §4, §5).
 *
 * Stock SQLite compiles such an index as an ordinary expression index
 * (libsql_vector_idx returns NULL, so its b-tree holds a few bytes a
 * row). The rest is done here, around it:
 *
 *  - CREATE INDEX runs inside a savepoint; when it completed, the index's
 *    options are read from its text (vector_ddl.h) and checked, libSQL's
 *    metadata row and <idx>_shadow table are written and the table's rows
 *    inserted into the graph (vector_diskann.h). A bad option undoes the
 *    CREATE, with libSQL's message. DROP INDEX / DROP TABLE drop the
 *    shadow table and the metadata row the same way.
 *  - Rows are kept in the graph by TEMP triggers (never written to the
 *    file, so libSQL and stock SQLite see nothing of them) that call
 *    libsql_vidx_update(). They are created for every vector index of
 *    the file before any statement that writes runs, so an index another
 *    connection (or libSQL) created is maintained too.
 *  - vector_top_k (vector_topk.c) searches through the indexes opened here.
 *  - libSQL leaves that b-tree empty: rows libSQL wrote have no entry in
 *    it, which stock SQLite calls corruption when it deletes one. Such a
 *    b-tree is rebuilt (REINDEX, a b-tree of NULLs) when a connection that
 *    may write opens the file, and when a write meets a missing entry.
 *
 * Only the main database's indexes, on rowid tables, are handled.
 * Main thread only.
 */
#ifndef LSQ_VECTOR_INDEX_H
#define LSQ_VECTOR_INDEX_H

#include <sqlite3.h>

#include "vector_diskann.h"

typedef struct lsq_vindex lsq_vindex;

/* Registers vector_top_k and libsql_vidx_update on db; no SQL runs yet
 * (the file may not be readable: a wrong key). The state belongs to db
 * (freed when it closes); *out is valid while db is open. 0, or -1 with
 * *err (sqlite3_malloc'd, NULL when out of memory). */
int lsq_vindex_attach(sqlite3 *db, int writable, lsq_vindex **out, char **err);
/* Once the file is known readable: before the connection's first
 * statement (lsq_vindex_before_statement), if writable, the triggers of
 * the file's vector indexes are made and b-trees libSQL left empty are
 * rebuilt. Not at open itself: opening reads nothing of the file (a pool
 * opens workers before the file has its tables or its journal mode), and
 * a file without vector indexes never has its temp database opened. Best
 * effort (a busy file is dealt with at the first write). */
void lsq_vindex_ready(lsq_vindex *x);
void lsq_vindex_before_statement(lsq_vindex *x);
/* Before db closes: statements finalized, indexes closed (a handle with
 * statements left would stay open as a zombie). */
void lsq_vindex_detach(lsq_vindex *x);
/* The connection may write from now on (a replica guard lifted). */
void lsq_vindex_set_writable(lsq_vindex *x, int writable);

/* Before a statement that may write runs: the triggers match the schema
 * (cheap when nothing changed). 0, or -1 with *err. */
int lsq_vindex_before_write(lsq_vindex *x, char **err);

/* Around a statement that creates, drops or alters an index or a table
 * (local_hooks_take_schema): begin takes a savepoint; end (ok: the
 * statement completed) does the vector index work, then releases it, or
 * rolls back to it and fails with *err. 0, or -1 with *err. */
int lsq_vindex_ddl_begin(lsq_vindex *x, char **err);
int lsq_vindex_ddl_end(lsq_vindex *x, int ok, char **err);
/* Before a CREATE INDEX that calls libsql_vector_idx runs: libSQL's
 * errors for the forms it refuses (so that they come before anything
 * SQLite would say evaluating the expression). 0, or -1 with *err. */
int lsq_vindex_check_create(const char *sql, char **err);
/* The savepoint's name (what a change sink is told of). */
extern const char lsq_vindex_savepoint[];

/* A write failed with SQLITE_CORRUPT_INDEX: rebuilds the b-trees of the
 * vector indexes. 1 if there were any (run the statement again), 0 if
 * none, -1 with *err. */
int lsq_vindex_repair(lsq_vindex *x, char **err);

/* The index schema.name open for searching (cached), or NULL with *err
 * (libSQL's "failed to parse vector index parameters" when there is no
 * such vector index). */
lsq_vidx *lsq_vindex_get(lsq_vindex *x, const char *schema, const char *name, char **err);

/* vector_topk.c: the vector_top_k module, searching x's indexes. */
int lsq_vector_topk_register(sqlite3 *db, lsq_vindex *x);

#endif
