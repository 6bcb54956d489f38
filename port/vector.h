/*
 * vector.h - libSQL's vector values on stock SQLite: the six element
 * types, their blobs, the text form, conversions and distances, byte-
 * and bit-compatible with libSQL 0.9.30 (npm libsql@0.5.29).
 * ../shared/vectors.md is the specification; section numbers below are
 * its sections.
 *
 * A vector is seen through an lsq_vec: its type, its dimension count and
 * its data part (the blob without its trailer). Nothing here allocates
 * except the text parser and vector_extract's printer, which return
 * sqlite3_malloc'd memory; errors are sqlite3_malloc'd messages, the
 * exact text libSQL gives (caller frees with sqlite3_free).
 *
 * Pure functions, no SQLite handle: any thread. Files: vector.c (blobs,
 * conversions, distances), vector_text.c (parse and print),
 * vector_sql.c (the SQL functions).
 */
#ifndef LSQ_VECTOR_H
#define LSQ_VECTOR_H

#include <stddef.h>
#include <stdint.h>

/* Element types: the ids libSQL writes in a blob's trailer and its
 * index metadata. */
enum {
    LSQ_VEC_F32 = 1,
    LSQ_VEC_F64 = 2,
    LSQ_VEC_1BIT = 3,
    LSQ_VEC_F8 = 4,
    LSQ_VEC_F16 = 5,
    LSQ_VEC_BF16 = 6
};

/* Distance metrics, as libSQL's index metadata numbers them. */
enum { LSQ_VEC_COS = 1, LSQ_VEC_L2 = 2 };

#define LSQ_VEC_MAX_DIMS 65536

typedef struct lsq_vec {
    int type;                  /* LSQ_VEC_* */
    unsigned dims;
    const unsigned char *data; /* the data part: lsq_vec_data_size bytes */
} lsq_vec;

/* Bytes of the data part of a (type, dims) vector: F32 4n, F64 8n,
 * F16/BF16 2n, 1BIT ceil(n/8), F8 ALIGN4(n) + 8 (alpha, shift). */
size_t lsq_vec_data_size(int type, unsigned dims);
/* Bytes of the whole blob libSQL writes: data part + trailer (§1). */
size_t lsq_vec_blob_size(int type, unsigned dims);

/* lsq_vec_from_blob's result for the blobs libSQL answers with "out of
 * memory" (SQLITE_NOMEM): a negative dimension count. */
#define LSQ_VEC_NOMEM (-2)

/* Reads a blob of len bytes by §1's rules into *v (a view into blob).
 * The data part must have its canonical size (libSQL skips that check in
 * vector_extract and the distances and reads uninitialised memory; we
 * raise the error everywhere). 0, or -1 with *err, or LSQ_VEC_NOMEM.
 *
 * *err is the whole message libSQL's SQL functions report, "vector: "
 * prefix included (e.g. "vector: unexpected data part size: type=1,
 * dims=1, 6 != 4"): pass it straight to sqlite3_result_error. vector_top_k
 * reports these messages unchanged too.
 *
 * A negative dimension count (a 1-bit or 8-bit trailer claiming more
 * padding than the blob has) is where libSQL's own arithmetic wraps: it
 * fails with "out of memory" (SQLITE_NOMEM) where its allocation fails
 * (everywhere but vector1bit() of a 1-bit blob 1-7 bits short, which
 * returns a garbage blob, and its distances, which crash), and we return
 * LSQ_VEC_NOMEM with *err "out of memory" for all of them (so a caller
 * that only checks for non-zero still shows the peer's text; use
 * sqlite3_result_error_nomem for the peer's code). A 1-bit blob with at
 * least 8 bits too few gives libSQL's "unexpected data part size" error
 * with its wrapped numbers (dims=-8, 0 != 536870911), and so do we.
 * *err NULL after a failure means sqlite3_mprintf ran out of memory. */
int lsq_vec_from_blob(const void *blob, size_t len, lsq_vec *v, char **err);

/* The first look libSQL's distances take at a blob argument, before
 * either argument is read: its type and its dimension count, which a
 * trailer claiming more padding than the blob has makes negative (libSQL
 * then compares types and lengths with it, and fails only when it reads
 * the data: lsq_vec_from_blob). Refuses what that look refuses: the
 * length rules, an unknown type, more than 65536 dimensions. 0, or -1
 * with *err as lsq_vec_from_blob's. */
int lsq_vec_blob_shape(const void *blob, size_t len, int *type, int *dims, char **err);

/* Parses text (§2) of n bytes (need not be NUL-terminated; a NUL byte
 * ends it, as in libSQL) as type (LSQ_VEC_F32, or LSQ_VEC_F64 for
 * vector64). On success *v views *buf, a sqlite3_malloc'd data part (the
 * elements little-endian, no trailer) the caller frees: NULL when there
 * are no elements ("[]"), dims 0.
 * 0, or -1 with *err: the whole message libSQL reports, "vector: " prefix
 * included (e.g. "vector: must start with '['", "vector: invalid float at
 * position 1: ''"): pass it straight to sqlite3_result_error. *err NULL
 * after -1 means out of memory (sqlite3_result_error_nomem). One known
 * difference: after a token of exactly 1025 characters libSQL's message
 * quotes a few bytes of its stack too; ours quotes the token alone. */
int lsq_vec_from_text(const char *text, size_t n, int type, lsq_vec *v,
                      unsigned char **buf, char **err);

/* Writes v converted to type `to` as a whole blob (trailer included,
 * pad bytes zero) into out, which holds lsq_vec_blob_size(to, v->dims)
 * bytes. The conversions are §1's, to the bit. */
void lsq_vec_write_blob(const lsq_vec *v, int to, unsigned char *out);

/* Writes v converted to type `to` as a data part only (what a DiskANN
 * block stores) into out, which holds lsq_vec_data_size(to, v->dims)
 * bytes: the first bytes of what lsq_vec_write_blob writes. Converting to
 * v's own type copies (1-bit garbage bits and F8 alpha/shift included;
 * F8 pad bytes become zero). To compare vectors of different types,
 * convert one to the other's type, as libSQL's index does. */
void lsq_vec_convert(const lsq_vec *v, int to, unsigned char *out);

/* The elements as floats (F64 cast, F16/BF16/F8 decoded, 1BIT as +-1):
 * bit for bit what converting to LSQ_VEC_F32 gives. out holds v->dims. */
void lsq_vec_to_floats(const lsq_vec *v, float *out);

/* An LSQ_VEC_F8 vector's alpha and shift (element i is alpha*q[i]+shift,
 * in float). */
void lsq_vec_f8_params(const lsq_vec *v, float *alpha, float *shift);

/* Distance between two vectors of the same type and dims (callers check,
 * §3), with libSQL's arithmetic (§3): a float value, NaN where libSQL
 * returns NULL. 1BIT cosine is the Hamming distance over every data byte
 * (garbage bits past dims count, as in libSQL); 1BIT has no L2 (callers
 * refuse it; NaN here), nor has an unknown metric or type. F8 cosine is
 * not symmetric in its last bit: keep libSQL's argument order. */
float lsq_vec_distance(int metric, const lsq_vec *a, const lsq_vec *b);

/* vector_extract's text (§2, 3.45's %g): sqlite3_malloc'd, NUL-ended,
 * *n its length; NULL when out of memory. */
char *lsq_vec_extract(const lsq_vec *v, size_t *n);

/* Name of a type in messages ("float32", ...), NULL if unknown. */
const char *lsq_vec_type_name(int type);

#endif
