/*
 * fuzz_vector.h - one input of the vector core (vector.h), shared by the
 * libFuzzer target port/fuzz/fuzz_vector.c and the corpus replay in
 * port/test/test_fuzz_corpus.c.
 *
 * The input bytes, copied to end at a guard page (fuzz_harness.h: not
 * NUL-ended, an over-read faults), go
 *   - as text through lsq_vec_from_text, as FLOAT32 and as FLOAT64: a
 *     failure must carry a "vector: " message and no buffer; a success at
 *     most 65536 elements and a buffer exactly when there are elements.
 *     Its vector_extract text (lsq_vec_extract) must be NUL-ended at the
 *     length it says and parse again to as many elements, within the six
 *     printed digits of each value, unless it holds an Inf, which the
 *     parser refuses: then exactly with "invalid float at position I:
 *     'Inf'" (or '-Inf') at the first one;
 *   - as a blob through lsq_vec_from_blob: a success is printed
 *     (lsq_vec_extract) and converted to each of the six types
 *     (lsq_vec_write_blob), each written blob must read back as that
 *     type with the same dims, and its distance to itself is computed
 *     (cosine, and L2 but for 1-bit), 0 in L2 when every element is
 *     finite.
 * Memory errors and undefined behaviour are left to ASan/UBSan.
 */
#ifndef LSQ_FUZZ_VECTOR_H
#define LSQ_FUZZ_VECTOR_H

#include "fuzz_harness.h"
#include "vector.h"
#include "vector_ddl.h"

#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Element i of a FLOAT32 or FLOAT64 data part. */
static inline double fzv_elem(const lsq_vec *v, unsigned i)
{
    double d;
    float f;

    if (v->type == LSQ_VEC_F64) {
        memcpy(&d, v->data + (size_t)i * 8, 8); /* x86-64: little-endian */
        return d;
    }
    memcpy(&f, v->data + (size_t)i * 4, 4);
    return f;
}

/* The printed text of a parsed vector parses again (see above). */
static inline const char *fzv_reparse(const lsq_vec *v)
{
    const char *bad = NULL, *p;
    char *text, *err = NULL, want[64];
    unsigned char *buf = NULL;
    unsigned i, inf_at = v->dims;
    size_t n;
    lsq_vec w;
    double a, b;

    text = lsq_vec_extract(v, &n);
    if (text == NULL) return NULL; /* out of memory */
    if (strlen(text) != n || n < 2 || text[0] != '[' || text[n - 1] != ']')
        bad = "vector_extract: text not [..] or its length wrong";
    for (i = 0; i < v->dims && inf_at == v->dims; i++)
        if (isinf(fzv_elem(v, i))) inf_at = i;
    if (bad == NULL && lsq_vec_from_text(text, n, v->type, &w, &buf, &err) != 0) {
        p = fzv_elem(v, inf_at < v->dims ? inf_at : 0) < 0 ? "-Inf" : "Inf";
        (void)snprintf(want, sizeof want, "vector: invalid float at position %u: '%s'", inf_at, p);
        if (inf_at == v->dims) bad = "vector_extract's text does not parse";
        else if (err == NULL || strcmp(err, want) != 0) bad = "an Inf refused with another message";
    } else if (bad == NULL) {
        if (inf_at < v->dims) bad = "a text holding Inf parsed";
        else if (w.dims != v->dims) bad = "vector_extract's text parses to another dims";
        for (i = 0; i < v->dims && bad == NULL; i++) {
            a = fzv_elem(v, i);
            b = fzv_elem(&w, i);
            /* Six digits, half-up: within 5e-6 of the value, plus the
             * reparse's own rounding and a subnormal's coarse steps. */
            if (fabs(a - b) > 6e-6 * fabs(a) + (v->type == LSQ_VEC_F64 ? 1e-323 : 3e-45))
                bad = "vector_extract's text is not the value to 6 digits";
        }
    }
    sqlite3_free(err);
    sqlite3_free(buf);
    sqlite3_free(text);
    return bad;
}

static inline const char *fzv_text(const char *p, size_t n, int type)
{
    const char *bad = NULL;
    unsigned char *buf = (unsigned char *)1;
    char *err = (char *)1;
    lsq_vec v;

    if (lsq_vec_from_text(p, n, type, &v, &buf, &err) != 0) {
        if (buf != NULL) bad = "a failed parse left a buffer";
        else if (err != NULL && strncmp(err, "vector: ", 8) != 0) bad = "a message without 'vector: '";
        sqlite3_free(err);
        return bad;
    }
    if (err != NULL) bad = "a parse that worked set a message";
    else if (v.type != type || v.dims > LSQ_VEC_MAX_DIMS) bad = "a parse with a wrong type or dims";
    else if ((v.dims == 0) != (buf == NULL) || v.data != buf) bad = "a parse's buffer is not its data";
    else bad = fzv_reparse(&v);
    sqlite3_free(buf);
    return bad;
}

static inline const char *fzv_blob(const unsigned char *p, size_t n)
{
    static const int types[] = { LSQ_VEC_F32, LSQ_VEC_F64,  LSQ_VEC_1BIT,
                                 LSQ_VEC_F8,  LSQ_VEC_F16, LSQ_VEC_BF16 };
    const char *bad = NULL;
    char *err = NULL, *text;
    unsigned char *out;
    float *floats;
    lsq_vec v, w;
    size_t k, size, tn;
    unsigned i;
    int finite = 1;
    float d;

    if (lsq_vec_from_blob(p, n, &v, &err) != 0) {
        sqlite3_free(err);
        return NULL;
    }
    text = lsq_vec_extract(&v, &tn);
    if (text != NULL && strlen(text) != tn) bad = "vector_extract of a blob: length wrong";
    sqlite3_free(text);
    floats = malloc(((size_t)v.dims + 1) * sizeof *floats);
    if (floats == NULL) return bad;
    lsq_vec_to_floats(&v, floats);
    for (i = 0; i < v.dims; i++) finite &= isfinite(floats[i]) != 0;
    free(floats);
    for (k = 0; k < sizeof types / sizeof types[0] && bad == NULL; k++) {
        size = lsq_vec_blob_size(types[k], v.dims);
        out = malloc(size ? size : 1);
        if (out == NULL) break;
        lsq_vec_write_blob(&v, types[k], out);
        if (lsq_vec_from_blob(out, size, &w, &err) != 0) {
            bad = "a written blob does not read back";
            sqlite3_free(err);
            err = NULL;
        } else if (w.type != types[k] || w.dims != v.dims) {
            bad = "a written blob reads back as another type or dims";
        } else {
            (void)lsq_vec_distance(LSQ_VEC_COS, &w, &w);
            if (types[k] != LSQ_VEC_1BIT) {
                d = lsq_vec_distance(LSQ_VEC_L2, &w, &w);
                if (finite && v.type == types[k] && d != 0) bad = "L2 distance to itself not 0";
            }
        }
        free(out);
    }
    return bad;
}

/* NULL if every check held, else what broke. g: where the input is
 * copied to end at a guard page. */
/* The input as a vector index's CREATE INDEX text (vector_ddl.c): it
 * reads NUL-ended text, so a copy with a NUL is read; the answer is one
 * of its three, with a column and options when it is a vector index. */
static inline const char *fzv_ddl(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *err = NULL;
    const char *bad = NULL;
    lsq_vddl d;
    int rc, i;

    if (text == NULL) return NULL;
    memcpy(text, data, size);
    text[size] = 0;
    rc = lsq_vddl_parse(text, &d, &err);
    if (rc == 1) {
        if (d.column == NULL || (d.nopts > 0 && d.opts == NULL)) bad = "vddl: parsed without a column";
        for (i = 0; bad == NULL && i < d.nopts; i++)
            if (d.opts[i] == NULL) bad = "vddl: a NULL option";
        lsq_vddl_free(&d);
    } else if (rc == -1) {
        sqlite3_free(err);
    } else if (rc != 0) {
        bad = "vddl: unexpected result";
    }
    free(text);
    return bad;
}

static inline const char *fuzz_vector_run(fuzz_guard *g, const uint8_t *data, size_t size)
{
    const char *p = fuzz_guard_copy(g, data, size), *bad;

    if (p == NULL) return NULL; /* out of memory */
    bad = fzv_text(p, size, LSQ_VEC_F32);
    if (bad == NULL) bad = fzv_text(p, size, LSQ_VEC_F64);
    if (bad == NULL) bad = fzv_blob((const unsigned char *)p, size);
    if (bad == NULL) bad = fzv_ddl(data, size);
    return bad;
}

#endif
