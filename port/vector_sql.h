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

#include "vector.h"

/* Registers them all on db. An SQLite result code. */
int lsq_vector_sql_register(sqlite3 *db);

/* A value as libSQL's vector functions read it: a blob by §1's rules
 * (*out views it), text parsed as text_type (LSQ_VEC_F32, or LSQ_VEC_F64
 * for vector64) into *buf (sqlite3_malloc'd, the caller frees it; NULL
 * for a blob), anything else "vector: unexpected value type: ...". 0, or
 * non-zero with *err (libSQL's whole message; NULL: out of memory). The
 * SQL functions, the index's triggers and vector_top_k all read their
 * vectors here. */
int lsq_vec_from_value(sqlite3_value *v, int text_type, lsq_vec *out, unsigned char **buf,
                       char **err);

#endif
