/*
 * vector_ddl.h - reads a CREATE INDEX statement's text (as sqlite_master
 * keeps it) for libSQL's vector index form:
 *
 *   CREATE [UNIQUE] INDEX i ON t(libsql_vector_idx(col, 'k=v', ...)) [WHERE ...]
 *
 * Stock SQLite compiles such an index as an ordinary expression index; the
 * column and the options are what it does not keep, so they are read from
 * the text, with SQLite's tokens (quoted names, '' in strings, comments).
 * The errors are libSQL's ("vector index: ..."). Pure function.
 */
#ifndef LSQ_VECTOR_DDL_H
#define LSQ_VECTOR_DDL_H

typedef struct lsq_vddl {
    char *column;   /* the indexed column, dequoted */
    char **opts;    /* the option strings, dequoted */
    int nopts;
    char *where;    /* a partial index's condition (the text after WHERE), or NULL */
} lsq_vddl;         /* every string sqlite3_malloc'd; lsq_vddl_free */

/* 1 with *out filled (a vector index), 0 (no libsql_vector_idx in its
 * columns), or -1 with *err (sqlite3_malloc'd; NULL when out of memory). */
int lsq_vddl_parse(const char *sql, lsq_vddl *out, char **err);
void lsq_vddl_free(lsq_vddl *d);

#endif
