/*
 * sqlite_value.h - SQLite's values as the protocol's (term.h), for every
 * file that reads a sqlite3_value: the local backend's columns and the
 * arguments of Erlang SQL functions (functions.c).
 */
#ifndef LSQ_SQLITE_VALUE_H
#define LSQ_SQLITE_VALUE_H

#include <sqlite3.h>
#include "errors.h"
#include "term.h"

/* Read val into *v (text and blobs point into SQLite's memory, valid
 * until the value changes). 0, or -1 with *err (no memory). */
int lsq_sqlite_value(sqlite3_value *val, lsq_value *v, lsq_error *err);

#endif
