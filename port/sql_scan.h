/*
 * sql_scan.h - what the remote backend must know about SQL text without a
 * database to compile it against: where each statement ends, how SQLite
 * would number its parameters, and its first keyword.
 *
 * The server compiles the SQL; this scan only has to agree with SQLite's
 * tokenizer on string literals, quoted identifiers, comments and parameter
 * tokens, and with sqlite3_complete() on where a statement ends (a trigger
 * body holds semicolons).
 */
#ifndef LSQ_SQL_SCAN_H
#define LSQ_SQL_SCAN_H

#include <stddef.h>

/* A named parameter as written (prefix included) and its SQLite number. */
typedef struct sql_param {
    const char *name; /* points into the scanned text */
    size_t len;
    int index; /* 1-based */
} sql_param;

typedef struct sql_stmt_info {
    int nparams;        /* highest parameter number (sqlite3_bind_parameter_count) */
    sql_param *named;   /* first occurrence of each named parameter (malloc'd) */
    int nnamed;
    char keyword[12];   /* first keyword, upper case ("" if none) */
} sql_stmt_info;

/* Length of the first statement of sql[0..n) including its ';', or n when
 * the text has no complete statement. *empty = 1 when that part holds only
 * white space, comments and semicolons. 0, or -1 (no memory). */
int sql_next_statement(const char *sql, size_t n, size_t *len, int *empty);

/* Scan one statement: its parameters and first keyword. 0 or -1 (no
 * memory). Free with sql_info_free. */
int sql_scan_params(const char *sql, size_t n, sql_stmt_info *out);
void sql_info_free(sql_stmt_info *info);

/* Parameter number for a name given by the caller: the name as written if
 * it starts with : @ or $, else the first of :name, @name, $name used.
 * 0 if the statement has no such parameter. */
int sql_param_index(const sql_stmt_info *info, const char *name, size_t len);

/* 1 if the keyword starts or ends a transaction or a savepoint. */
int sql_is_transaction_control(const char *keyword);

/* If the statement is a PRAGMA: 1, its name (without schema) in
 * name[0..size) and *has_arg 1 when it is given a value (`= v' or `(v)').
 * 0 otherwise (or a name that does not fit). */
int sql_pragma(const char *sql, size_t n, char *name, size_t size, int *has_arg);

/* 1 if a statement starting with keyword cannot write (best effort). */
int sql_keyword_readonly(const char *keyword);

#endif
