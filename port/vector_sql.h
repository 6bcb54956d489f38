/*
 * vector_sql.h - libSQL's vector SQL functions on a stock SQLite handle:
 * vector/vector32, vector64, vector16, vectorb16, vector8, vector1bit,
 * vector_extract, vector_distance_cos, vector_distance_l2 and
 * libsql_vector_idx (../shared/vectors.md §3), with libSQL's argument
 * checks, check order and messages. The arithmetic is vector.h's.
 *
 * Every function is deterministic and innocuous, so a schema may use
 * them (an index expression, a CHECK, a generated column) also with
 * trusted_schema off, as it may on libSQL.
 */
#ifndef LSQ_VECTOR_SQL_H
#define LSQ_VECTOR_SQL_H

#include <sqlite3.h>

/* Registers them all on db. An SQLite result code. */
int lsq_vector_sql_register(sqlite3 *db);

#endif
