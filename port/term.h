/*
 * term.h - the external term format, checked.
 *
 * ei's decoders trust their buffer: they read past its end on a truncated
 * term. Every request therefore goes through term_check() first, a bounded
 * walk of the whole term; after it succeeds, ei_decode_* on that buffer is
 * safe. This file has no I/O, so the C tests and the fuzzers feed it bytes.
 */
#ifndef LSQ_TERM_H
#define LSQ_TERM_H

#include <stddef.h>
#include <ei.h>

/* A database value, decoded from a request or read from a result.
 * Text and blob point into memory owned by someone else (the request
 * frame, or SQLite) and are valid only as long as that memory is. */
typedef enum { LSQ_NULL, LSQ_INT, LSQ_REAL, LSQ_TEXT, LSQ_BLOB } lsq_type;

typedef struct lsq_value {
    lsq_type type;          /* which member of u is set */
    union {
        long long i;        /* LSQ_INT */
        double r;           /* LSQ_REAL (never NaN; may be +-inf) */
        struct {
            const char *p;  /* LSQ_TEXT (UTF-8) or LSQ_BLOB bytes */
            size_t n;       /* their length */
        } s;
    } u;
} lsq_value;

/* Header of a request: {Ref, Cmd, Arg1, ..., ArgN}. */
/* Room for a command name. Small, so that a queued request (main.c) stays
 * within malloc's per-thread cache: with room for the longest atom (1 KB)
 * every request took malloc's slow path, a tenth of a point select's
 * instructions. No command name comes near it. */
#define LSQ_CMD_MAX 48

typedef struct lsq_request {
    const char *buf;        /* the whole frame (checked by term_check) */
    size_t len;             /* its length */
    long ref;               /* 1..LSQ_REF_MAX */
    char cmd[LSQ_CMD_MAX];  /* command name; a longer atom is named by its size */
    int nargs;              /* N: tuple arity - 2 */
    int idx;                /* ei index of Arg1 */
} lsq_request;

/* Largest nesting of lists/tuples/maps term_check accepts. */
#define TERM_MAX_DEPTH 32

/* term_check: 0 if buf[0..len) is exactly one well-formed term in the
 * external format (version byte first) made only of the types this
 * protocol uses: integers, NEW_FLOAT_EXT floats, atoms, binaries, lists,
 * strings, tuples, maps.
 * -1 otherwise, with a static reason in *why. */
int term_check(const char *buf, size_t len, const char **why);

/* term_peek_ref: best-effort read of the ref of a request from the first
 * bytes of a frame that was not (or not wholly) read. Returns the ref, or
 * LSQ_REF_UNKNOWN. Never reads beyond len. */
long term_peek_ref(const char *buf, size_t len);

/* term_parse_request: after term_check, split {Ref, Cmd, Args...}.
 * 0 on success; -1 with *why set if the shape is wrong (req->ref is then
 * the ref if one could be read, else LSQ_REF_UNKNOWN). */
int term_parse_request(const char *buf, size_t len, lsq_request *req,
                       const char **why);

/* term_decode_value: decode one value at *idx (on a checked buffer) into
 * *v and advance *idx. Accepted: null, integer (int64), float (not NaN),
 * binary (text), {blob, Binary}, infinity, neg_infinity.
 * Returns 0, or -1 with *why set. Text/blob point into buf. */
int term_decode_value(const char *buf, int *idx, lsq_value *v, const char **why);

/* term_decode_binary: the binary at *idx, zero-copy. 0 or -1. */
int term_decode_binary(const char *buf, int *idx, const char **p, size_t *n);

/* term_decode_int: an integer that fits in long long. 0 or -1. */
int term_decode_int(const char *buf, int *idx, long long *out);

/* term_decode_bool: the atoms true/false. 0 or -1. */
int term_decode_bool(const char *buf, int *idx, int *out);

/* term_set_null_atom: the atom SQL NULL is encoded as from now on (the
 * open option null: "null", "nil" or "undefined"; a static string). One
 * connection per port program, so this is set once, at open. */
void term_set_null_atom(const char *name);

/* Encoding. All return 0 or -1 (allocation failure inside ei_x). */
int term_reply_begin(ei_x_buff *x, long ref, const char *tag);
int term_encode_value(ei_x_buff *x, const lsq_value *v);
int term_encode_binary(ei_x_buff *x, const void *p, size_t n);
/* Make room for need more bytes in x, growing it by doubling (ei_x_buff
 * itself grows a hundred bytes at a time). 0, or -1 (no memory). */
int term_reserve(ei_x_buff *x, size_t need);

/* One row as the head cell of a list: [{V1, ..., Vn} | ...]. Writes the
 * bytes directly after a single capacity check (the hot path of every
 * query and fetch); the encodings are the standard ones binary_to_term
 * reads. 0 or -1 (allocation failure). */
int term_encode_row_cell(ei_x_buff *x, const lsq_value *v, int n);

#endif
