/*
 * hrana_resp.h - a streaming parser for Hrana pipeline responses (JSON).
 *
 * The body is fed in the pieces the network delivers (yajl callbacks), and
 * only what the client needs is kept: result columns, rows as compact
 * cells with their text and blob bytes in one arena, counts, errors,
 * baton and base_url. There is no document tree, so a result costs about
 * its own size once. A size cap stops a runaway response early.
 *
 * This parser reads bytes from the network; it trusts nothing in them.
 * Shape errors, bad values and oversize are reported, never crash. A
 * fuzz target (port/fuzz) feeds it arbitrary bytes.
 */
#ifndef LSQ_HRANA_RESP_H
#define LSQ_HRANA_RESP_H

#include <stddef.h>
#include "errors.h"
#include "term.h"

/* A span of the arena. */
typedef struct hr_span { size_t off, len; int set; } hr_span;

typedef struct hr_cell {
    lsq_type type;
    union { long long i; double r; hr_span s; } u;
} hr_cell;

typedef struct hr_col { hr_span name, decltype; } hr_col;

/* One StmtResult. */
typedef struct hr_stmt {
    hr_col *cols;
    size_t ncols, cols_cap;
    hr_cell *cells; /* nrows * ncols, row by row */
    size_t ncells, cells_cap, nrows;
    size_t row_width; /* cells in the row being parsed */
    size_t width;     /* cells in the first row */
    long long affected;
    int has_rowid;
    long long rowid;
} hr_stmt;

typedef struct hr_err { int set; hr_span code, message; } hr_err;

enum { HR_RESP_NONE = 0, HR_RESP_EXECUTE, HR_RESP_BATCH, HR_RESP_AUTOCOMMIT, HR_RESP_OTHER };

/* One element of "results". */
typedef struct hr_entry {
    int is_error;         /* "type":"error" */
    int resp_type;        /* HR_RESP_* */
    hr_stmt *stmt;        /* execute: the result (NULL if absent) */
    hr_stmt **steps;      /* batch: step_results (NULL for null) */
    size_t nsteps, steps_cap;
    hr_err *step_errors;  /* batch: step_errors (set = 0 for null) */
    size_t nerrors, errors_cap;
    int is_autocommit;    /* get_autocommit */
    hr_err error;         /* "type":"error" */
} hr_entry;

typedef struct hr_parser hr_parser;

typedef struct hr_response {
    char *arena;          /* text, blob bytes, names, messages */
    size_t arena_len, arena_cap;
    hr_span baton, base_url;
    hr_entry *entries;
    size_t nentries, entries_cap;
    size_t bytes;         /* memory held, checked against the cap */
    hr_parser *parser;    /* while parsing */
} hr_response;

/* Start parsing into r with a memory cap in bytes. 0 or -1 (no memory). */
int hr_begin(hr_response *r, size_t cap);
/* Feed the next piece of the body. 0, or -1 with *err (protocol: bad
 * JSON or shape; toobig: over the cap; nomem). */
int hr_feed(hr_response *r, const char *p, size_t n, lsq_error *err);
/* The body ended. 0, or -1 with *err (truncated or incomplete). */
int hr_finish(hr_response *r, lsq_error *err);
void hr_free(hr_response *r);

/* Bytes of a span (not NUL-terminated; valid while r lives). */
static inline const char *hr_ptr(const hr_response *r, hr_span s) { return r->arena + s.off; }

/* A cell as a value pointing into r's arena. */
void hr_cell_value(const hr_response *r, const hr_cell *c, lsq_value *v);

/* Turn a Hrana error object into *err: the server's code and message
 * mapped onto the client's codes (see PROTOCOL.md, remote errors). */
void hr_error_to_lsq(const hr_response *r, const hr_err *e, lsq_error *err);
/* The same for a code and message given as bytes (HTTP error bodies). */
void hr_map_error(const char *code, size_t code_len, const char *msg, size_t msg_len,
                  lsq_error *err);

/* Standard base64 (padding optional) decoded in place; -1 if invalid. */
int hr_base64_decode(char *p, size_t n, size_t *out_len);

#endif
