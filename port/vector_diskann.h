/*
 * vector_diskann.h - libSQL's vector index (DiskANN) in libSQL's own file
 * format: the options of libsql_vector_idx(...), the metadata row in
 * libsql_vector_meta_shadow, the <idx>_shadow table of node blocks, and
 * the graph's insert, delete and search (../shared/vectors.md §4, §5).
 *
 * A file indexed by libSQL is searched and written here, and a file
 * indexed here by libSQL, so the metadata blob, the shadow schema and
 * the block layout are the contract; the graph itself is not
 * reproducible (libSQL's start node is random) and need not be equal,
 * only navigable with consistent stored distances.
 *
 * Everything runs SQL on the handle it is given, inside whatever
 * transaction the caller has (a CREATE INDEX's, a trigger's): nothing
 * here begins or commits. Errors are sqlite3_malloc'd messages with
 * libSQL's text (caller frees with sqlite3_free). Main thread only.
 */
#ifndef LSQ_VECTOR_DISKANN_H
#define LSQ_VECTOR_DISKANN_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "vector.h"

/* An index's parameters: what the metadata blob holds (§4). */
typedef struct lsq_vidx_params {
    int format;            /* 3 for what we write */
    int index_type;        /* 1: diskann */
    int vector_type;       /* LSQ_VEC_* of the column */
    unsigned dims;
    int metric;            /* LSQ_VEC_COS / LSQ_VEC_L2 */
    int compress;          /* LSQ_VEC_* of the edge vectors */
    uint64_t block_size;   /* bytes */
    double alpha;
    uint64_t insert_l, search_l, max_neighbors;
} lsq_vidx_params;

/* Parses a column's declared type (F32_BLOB(3), FLOAT64(768), ...) and
 * the option strings of libsql_vector_idx ('metric=cos', ...) into *p,
 * with every default libSQL applies. 0, or -1 with *err (libSQL's
 * "vector index: ..." messages). */
int lsq_vidx_parse(const char *decl_type, const char *const *opts, int nopts,
                   lsq_vidx_params *p, char **err);

/* Meta blob codec (9-byte records, §4). encode: *out sqlite3_malloc'd. */
int lsq_vidx_meta_encode(const lsq_vidx_params *p, const char *const *opts, int nopts,
                         unsigned char **out, int *n, char **err);
/* decode: the records of a stored blob, last record of a tag winning,
 * with libSQL's defaults for what is absent (alpha, insert_l, search_l)
 * and legacy block sizes (<= 128: 512-byte units) converted to bytes;
 * -1 with "failed to parse vector index parameters" for a blob that
 * cannot describe an index. */
int lsq_vidx_meta_decode(const unsigned char *blob, int n, lsq_vidx_params *p, char **err);

/* Where things are in a node block (§4), from the parameters: header
 * (16 bytes in format 3, 10 in formats 1-2), node vector, max_edges edge
 * vectors, then max_edges 16-byte edge records. */
typedef struct lsq_vidx_layout_t {
    unsigned header;     /* bytes before the node vector */
    unsigned node_size;  /* data part of the node type */
    unsigned edge_size;  /* data part of the edge (compress) type */
    unsigned max_edges;  /* floor((block - header - node) / (edge + 16)) */
    unsigned edges_at;   /* edge vector j at edges_at + j * edge_size */
    unsigned records_at; /* edge record j at records_at + 16 * j */
} lsq_vidx_layout_t;
void lsq_vidx_layout(const lsq_vidx_params *p, lsq_vidx_layout_t *l);
unsigned lsq_vidx_max_edges(const lsq_vidx_params *p);

typedef struct lsq_vidx lsq_vidx; /* an index open on a handle */

/* Creates the index's objects in schema (usually "main"): the meta row
 * (table created if missing), <idx>_shadow and <idx>_shadow_idx, with
 * the exact SQL libSQL writes, keyed by rowid (libSQL's other shape,
 * for WITHOUT ROWID tables with a text key, is not built here yet).
 * 0 when created; 1 when the meta row was already there (a dump being
 * loaded: libSQL then skips the refill, so should the caller); -1 with
 * *err. */
int lsq_vidx_create(sqlite3 *db, const char *schema, const char *idx,
                    const lsq_vidx_params *p, const char *const *opts, int nopts,
                    char **err);
/* Opens an existing index (reads its meta row). 0, or -1 with *err
 * ("failed to parse vector index parameters" when there is none). */
int lsq_vidx_open(sqlite3 *db, const char *schema, const char *idx, lsq_vidx **out,
                  char **err);
/* Keep one lsq_vidx open per (connection, index) for as long as the
 * index exists: it holds prepared statements and a cache of the graph
 * (node vectors and edge lists) that makes searches and inserts run
 * from memory. The cache checks itself at every call: PRAGMA
 * data_version (other connections), and a sentinel in the TEMP table
 * libsql_vidx_state that every insert/delete/clear writes, so that a
 * ROLLBACK, ROLLBACK TO or a failed statement undoing our writes is seen.
 * Create that table with lsq_vidx_prepare_connection before the first
 * write, outside any running statement (a TEMP table made while a
 * statement runs expires it). Writes to the
 * shadow table through this connection by other means than these
 * functions are not seen: go through lsq_vidx_*. Close every lsq_vidx
 * of a connection before closing it (they hold prepared statements). */
int lsq_vidx_prepare_connection(sqlite3 *db, char **err);
const lsq_vidx_params *lsq_vidx_get_params(const lsq_vidx *x);
void lsq_vidx_close(lsq_vidx *x);

/* Graph maintenance, keyed by the base row's rowid. insert checks the
 * vector against the index (libSQL's "vector index(insert): ..."
 * errors); delete of an absent key is not an error. 0 or -1 with *err. */
int lsq_vidx_insert(lsq_vidx *x, int64_t rowid, const lsq_vec *v, char **err);
int lsq_vidx_delete(lsq_vidx *x, int64_t rowid, char **err);

/* The k nearest rowids to q (checked as libSQL does: "vector
 * index(search): ..."), nearest first, into ids (room for k); *n how
 * many. k 0 gives none. 0, or -1 with *err. */
int lsq_vidx_search(lsq_vidx *x, const lsq_vec *q, unsigned k, int64_t *ids, unsigned *n,
                    char **err);

/* Deferred block writes, for a group of statements that commits or is
 * undone as a whole (execute_many): after lsq_vidx_defer, the inserts and
 * deletes of every index on db update the cache and the rows they add or
 * remove at once, but the changed edges of neighbour blocks only in the
 * cache, so that a block changed by many rows is written once.
 * lsq_vidx_flush writes them (call it before the group's RELEASE/COMMIT,
 * outside any running statement, and before anything but the group's own
 * statement reads the shadow tables) and ends the deferral; -1 with *err
 * on failure (the group must then be undone). lsq_vidx_discard ends it
 * dropping what is pending (the group is being undone). Until the flush,
 * the shadow blocks of the changed neighbours are behind the cache: only
 * this connection's lsq_vidx_* calls see a consistent graph. */
void lsq_vidx_defer(sqlite3 *db);
int lsq_vidx_flush(sqlite3 *db, char **err);
void lsq_vidx_discard(sqlite3 *db);

/* A bulk build (a CREATE INDEX filling the graph from the table's rows):
 * after lsq_vidx_bulk_begin, lsq_vidx_insert builds the graph in the
 * cache and writes nothing to the shadow table; lsq_vidx_bulk_end
 * inserts every new node's block whole, with its final edges (and the
 * changed slots of older blocks), so that each block is written once
 * instead of once and then edge by edge. Past the cache's budget an
 * insert writes what is pending and the build goes on from the file.
 * Between the two, only lsq_vidx_insert on this handle, and nothing else
 * reads its shadow table. bulk_end with ok 0 drops it all (the caller
 * undoes the statement); with ok 1, 0 or -1 with *err (then undo too). */
void lsq_vidx_bulk_begin(lsq_vidx *x);
int lsq_vidx_bulk_end(lsq_vidx *x, int ok, char **err);

/* The cache's budget in bytes, for every handle (0: the default, 512
 * MiB). For tests, which need the budget's paths with small graphs. */
void lsq_vidx_set_cache_budget(size_t bytes);

/* Empties the index (REINDEX: DELETE FROM <idx>_shadow, then the caller
 * inserts every row again). 0 or -1 with *err. */
int lsq_vidx_clear(lsq_vidx *x, char **err);

/* Drops <idx>_shadow and the meta row (DROP INDEX / DROP TABLE). */
int lsq_vidx_drop(sqlite3 *db, const char *schema, const char *idx, char **err);

#endif
