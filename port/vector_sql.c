/*
 * vector_sql.c - libSQL's vector SQL functions (vector_sql.h).
 *
 * Each function reads its arguments as libSQL does: a blob by §1's
 * rules, text by §2's grammar (as FLOAT32, except in vector64, which
 * reads doubles), anything else "unexpected value type". The distances
 * first learn both arguments' type and length without parsing text
 * (libSQL counts a text's commas, plus one if it holds a digit), check
 * type, then length, then the metric, and only then parse: so
 * ('[1]', '[x]') fails with "same length: 1 != 0", as on libSQL.
 */
#include "vector_sql.h"

#include <math.h>
#include <stdint.h>

#include "vector.h"

/* The name libSQL's messages give a value's storage class. */
static const char *class_name(int t)
{
    switch (t) {
    case SQLITE_NULL: return "NULL";
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "FLOAT";
    case SQLITE_TEXT: return "TEXT";
    default: return "BLOB";
    }
}

static char *wrong_class(sqlite3_value *v)
{
    return sqlite3_mprintf("vector: unexpected value type: got %s, expected TEXT or BLOB",
                           class_name(sqlite3_value_type(v)));
}

/* A blob value's bytes (a zero-length blob's pointer may be NULL). */
static int read_blob(sqlite3_value *v, lsq_vec *out, char **err)
{
    static const unsigned char empty[1];
    const void *b = sqlite3_value_blob(v);
    int n = sqlite3_value_bytes(v);

    if (b == NULL && n > 0) {
        *err = NULL; /* out of memory: the caller reports it */
        return -1;
    }
    return lsq_vec_from_blob(b != NULL ? b : empty, (size_t)n, out, err);
}

int lsq_vec_from_value(sqlite3_value *v, int text_type, lsq_vec *out, unsigned char **buf,
                       char **err)
{
    const unsigned char *text;

    *buf = NULL;
    switch (sqlite3_value_type(v)) {
    case SQLITE_BLOB:
        return read_blob(v, out, err);
    case SQLITE_TEXT:
        text = sqlite3_value_text(v);
        if (text == NULL) {
            *err = NULL;
            return -1;
        }
        return lsq_vec_from_text((const char *)text, (size_t)sqlite3_value_bytes(v), text_type,
                                 out, buf, err);
    default:
        *err = wrong_class(v);
        return -1;
    }
}

/* Type and length of an argument without parsing text (§3, check 1).
 * A blob's length may be negative (vector.h, lsq_vec_blob_shape): it is
 * compared and printed as libSQL does, and refused only when read. */
static int arg_shape(sqlite3_value *v, int *type, long *dims, char **err)
{
    static const unsigned char empty[1];
    const unsigned char *text;
    const void *b;
    long commas = 0;
    int digit = 0, d, i, n;

    switch (sqlite3_value_type(v)) {
    case SQLITE_BLOB:
        b = sqlite3_value_blob(v);
        n = sqlite3_value_bytes(v);
        if (b == NULL && n > 0) {
            *err = NULL;
            return -1;
        }
        if (lsq_vec_blob_shape(b != NULL ? b : empty, (size_t)n, type, &d, err) != 0) return -1;
        *dims = d;
        return 0;
    case SQLITE_TEXT:
        text = sqlite3_value_text(v);
        if (text == NULL) {
            *err = NULL;
            return -1;
        }
        n = sqlite3_value_bytes(v);
        for (i = 0; i < n; i++) {
            if (text[i] == ',') commas++;
            if (text[i] >= '0' && text[i] <= '9') digit = 1;
        }
        *type = LSQ_VEC_F32;
        *dims = commas + digit;
        return 0;
    default:
        *err = wrong_class(v);
        return -1;
    }
}

/* Reports err (NULL: out of memory). A blob libSQL answers with
 * SQLITE_NOMEM (lsq_vec_from_blob's LSQ_VEC_NOMEM: a trailer claiming
 * more padding than the blob has) is reported as an ordinary error with
 * libSQL's message: it is bad input, not a lack of memory, and must not
 * read (or be logged) as one. */
static void report(sqlite3_context *ctx, char *err)
{
    if (err == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_error(ctx, err, -1);
    sqlite3_free(err);
}

/* vector32(X) and its kin: X converted to the function's type. */
static void fn_construct(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int to = (int)(intptr_t)sqlite3_user_data(ctx);
    unsigned char *buf, *out;
    char *err = NULL;
    size_t n;
    lsq_vec v;

    (void)argc;
    if (lsq_vec_from_value(argv[0], to == LSQ_VEC_F64 ? LSQ_VEC_F64 : LSQ_VEC_F32, &v, &buf, &err) != 0) {
        report(ctx, err);
        return;
    }
    n = lsq_vec_blob_size(to, v.dims);
    if (n == 0) {
        /* vector32('[]'): a zero-length BLOB, not NULL */
        sqlite3_result_zeroblob(ctx, 0);
    } else if ((out = sqlite3_malloc64(n)) == NULL) {
        sqlite3_result_error_nomem(ctx);
    } else {
        lsq_vec_write_blob(&v, to, out);
        sqlite3_result_blob64(ctx, out, n, sqlite3_free);
    }
    sqlite3_free(buf);
}

/* vector_extract(X): the text form. */
static void fn_extract(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char *buf;
    char *err = NULL, *text;
    size_t n;
    lsq_vec v;

    (void)argc;
    if (lsq_vec_from_value(argv[0], LSQ_VEC_F32, &v, &buf, &err) != 0) {
        report(ctx, err);
        return;
    }
    text = lsq_vec_extract(&v, &n);
    sqlite3_free(buf);
    if (text == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_text64(ctx, text, n, sqlite3_free, SQLITE_UTF8);
}

/* vector_distance_cos(X, Y) and vector_distance_l2(X, Y). */
static void fn_distance(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int metric = (int)(intptr_t)sqlite3_user_data(ctx);
    unsigned char *buf1 = NULL, *buf2 = NULL;
    long d1, d2;
    int t1, t2;
    char *err = NULL;
    lsq_vec a, b;
    float d;

    (void)argc;
    if (arg_shape(argv[0], &t1, &d1, &err) != 0 || arg_shape(argv[1], &t2, &d2, &err) != 0) {
        report(ctx, err);
        return;
    }
    if (t1 != t2) {
        report(ctx, sqlite3_mprintf("vector_distance: vectors must have the same type: %d != %d",
                                  t1, t2));
        return;
    }
    if (d1 != d2) {
        report(ctx, sqlite3_mprintf("vector_distance: vectors must have the same length: %ld != %ld",
                                  d1, d2));
        return;
    }
    if (metric == LSQ_VEC_L2 && t1 == LSQ_VEC_1BIT) {
        sqlite3_result_error(ctx, "vector_distance: l2 distance is not supported for float1bit vectors",
                             -1);
        return;
    }
    if (lsq_vec_from_value(argv[0], LSQ_VEC_F32, &a, &buf1, &err) != 0 ||
        lsq_vec_from_value(argv[1], LSQ_VEC_F32, &b, &buf2, &err) != 0) {
        report(ctx, err);
    } else if (a.dims != b.dims) {
        /* Counted commas agree but the parsed lengths do not: not
         * expected of text that parses, checked rather than trusted. */
        report(ctx, sqlite3_mprintf("vector_distance: vectors must have the same length: %u != %u",
                                  a.dims, b.dims));
    } else {
        d = lsq_vec_distance(metric, &a, &b);
        /* libSQL returns NaN, which SQLite stores as NULL */
        if (isnan(d)) sqlite3_result_null(ctx);
        else sqlite3_result_double(ctx, (double)d);
    }
    sqlite3_free(buf1);
    sqlite3_free(buf2);
}

/* libsql_vector_idx(col, 'option', ...): marks a vector index in CREATE
 * INDEX. libSQL returns its first argument; we return NULL, so the
 * ordinary b-tree stock SQLite keeps for such an index (libSQL keeps it
 * empty; the graph is in <idx>_shadow) holds a few bytes per row rather
 * than a copy of every vector. */
static void fn_vector_idx(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc, (void)argv;
    sqlite3_result_null(ctx);
}

typedef struct {
    const char *name;
    int nargs;
    int arg; /* the user data: a type or a metric */
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
} vector_fn;

static const vector_fn k_functions[] = {
    { "vector", 1, LSQ_VEC_F32, fn_construct },
    { "vector32", 1, LSQ_VEC_F32, fn_construct },
    { "vector64", 1, LSQ_VEC_F64, fn_construct },
    { "vector16", 1, LSQ_VEC_F16, fn_construct },
    { "vectorb16", 1, LSQ_VEC_BF16, fn_construct },
    { "vector8", 1, LSQ_VEC_F8, fn_construct },
    { "vector1bit", 1, LSQ_VEC_1BIT, fn_construct },
    { "vector_extract", 1, 0, fn_extract },
    { "vector_distance_cos", 2, LSQ_VEC_COS, fn_distance },
    { "vector_distance_l2", 2, LSQ_VEC_L2, fn_distance },
    { "libsql_vector_idx", -1, 0, fn_vector_idx },
};

int lsq_vector_sql_register(sqlite3 *db)
{
    const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    size_t i;
    int rc;

    for (i = 0; i < sizeof k_functions / sizeof k_functions[0]; i++) {
        const vector_fn *f = &k_functions[i];
        rc = sqlite3_create_function_v2(db, f->name, f->nargs, flags, (void *)(intptr_t)f->arg,
                                        f->fn, NULL, NULL, NULL);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}
