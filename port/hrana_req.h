/*
 * hrana_req.h - building Hrana request JSON: a growable byte buffer and
 * the Stmt object with its arguments. Written by hand (yajl parses the
 * responses): strings are escaped and checked for UTF-8 in one pass,
 * integers go as decimal strings and floats keep their exact value.
 */
#ifndef LSQ_HRANA_REQ_H
#define LSQ_HRANA_REQ_H

#include <stddef.h>
#include "errors.h"
#include "term.h"

typedef struct jbuf { char *p; size_t n, cap; } jbuf;

/* Append raw bytes / a NUL-terminated literal. 0 or -1 (no memory). */
int jb_raw(jbuf *b, const char *p, size_t n);
int jb_lit(jbuf *b, const char *s);
/* Append s[0..n) as a JSON string. 0, -1 (no memory), -2 (not UTF-8). */
int jb_str(jbuf *b, const char *s, size_t n);
void jb_free(jbuf *b);

/* Append {"sql":..., "args":[...]} for positional args. 0, or -1 with
 * *err (bad_argument for a value JSON cannot carry, nomem). */
int hq_stmt(jbuf *b, const char *sql, size_t n, const lsq_value *args, size_t nargs,
            lsq_error *err);

/* Standard base64 with padding of p[0..n), appended. 0 or -1. */
int hq_base64(jbuf *b, const unsigned char *p, size_t n);

#endif
