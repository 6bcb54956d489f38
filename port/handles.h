/*
 * handles.h - statements and cursors the Erlang side holds by id.
 *
 * Ids are unique for the life of the port program (never reused), so a
 * stale handle can only miss, never hit someone else's statement.
 */
#ifndef LSQ_HANDLES_H
#define LSQ_HANDLES_H

#include <stddef.h>
#include "backend.h"

enum { HANDLE_STMT = 1, HANDLE_CURSOR = 2 };

typedef struct handle {
    long long id;       /* what the Erlang side holds */
    int kind;           /* HANDLE_STMT or HANDLE_CURSOR */
    lsq_stmt *stmt;     /* owned */
    char *sql;          /* cursors: owned copy of the SQL (to re-cache) */
    size_t sql_len;     /* its length */
    int done;           /* cursors: stepped to the end */
    int pending;        /* cursors: standing on a row not yet sent */
    int started;        /* cursors: stepped at least once */
    int ncols;          /* cursors: columns announced at open */
} handle;

typedef struct handles {
    handle *a;          /* live handles */
    size_t n, cap;      /* used and allocated */
    long long next_id;  /* next id to hand out */
} handles;

/* Add a handle (takes ownership of stmt and sql). NULL on allocation
 * failure, in which case nothing was taken. */
handle *handles_add(handles *h, int kind, lsq_stmt *stmt, char *sql, size_t sql_len);

/* The live handle with this id and kind, or NULL. */
handle *handles_get(handles *h, long long id, int kind);

/* Forget a handle; the caller has taken care of its stmt and sql. */
void handles_remove(handles *h, handle *e);

/* Number of live handles of a kind. */
size_t handles_count(const handles *h, int kind);

#endif
