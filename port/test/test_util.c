/*
 * test_util.c - the helpers the modules of test_port share (test_util.h):
 * term builders, values, the reply decoder, request builders that run a
 * frame as main.c does, rowsets, the port fixture, temporary directories.
 * No tests here.
 */
#include "test_util.h"
#include "commands.h"
#include "errors.h"
#include "protocol.h"
#include "term.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small utilities -------------------------------------------------- */

uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int contains(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;

    if (k == 0) return 1;
    for (i = 0; i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0) return 1;
    return 0;
}

uint64_t dbl_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof u);
    return u;
}

double bits_dbl(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof d);
    return d;
}

void xnew(ei_x_buff *x)
{
    if (ei_x_new_with_version(x) != 0) abort();
}

void xraw(ei_x_buff *x, const void *bytes, size_t n)
{
    EI(ei_x_append_buf(x, (const char *)bytes, (int)n));
}

/* NEW_FLOAT_EXT with exactly these bits (NaN included). */
void xfloat_bits(ei_x_buff *x, uint64_t u)
{
    unsigned char b[9];
    int i;

    b[0] = NEW_FLOAT_EXT;
    for (i = 0; i < 8; i++) b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
    xraw(x, b, sizeof b);
}

/* SMALL_BIG_EXT: sign and 8 little-endian magnitude bytes. */
void xbig8(ei_x_buff *x, int negative, uint64_t mag)
{
    unsigned char b[11];
    int i;

    b[0] = ERL_SMALL_BIG_EXT;
    b[1] = 8;
    b[2] = negative ? 1 : 0;
    for (i = 0; i < 8; i++) b[3 + i] = (unsigned char)(mag >> (8 * i));
    xraw(x, b, sizeof b);
}

/* ---- values ---------------------------------------------------------- */

lsq_value vnull(void)
{
    lsq_value v;

    memset(&v, 0, sizeof v);
    v.type = LSQ_NULL;
    return v;
}

lsq_value vint(long long i)
{
    lsq_value v = vnull();

    v.type = LSQ_INT;
    v.u.i = i;
    return v;
}

lsq_value vreal(double r)
{
    lsq_value v = vnull();

    v.type = LSQ_REAL;
    v.u.r = r;
    return v;
}

lsq_value vtextn(const char *p, size_t n)
{
    lsq_value v = vnull();

    v.type = LSQ_TEXT;
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

lsq_value vtext(const char *s) { return vtextn(s, strlen(s)); }

lsq_value vblob(const void *p, size_t n)
{
    lsq_value v = vnull();

    v.type = LSQ_BLOB;
    v.u.s.p = (const char *)p;
    v.u.s.n = n;
    return v;
}

/* Exact equality; reals compare bit for bit (-0.0 differs from 0.0). */
static int same_value(const lsq_value *a, const lsq_value *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case LSQ_NULL: return 1;
    case LSQ_INT: return a->u.i == b->u.i;
    case LSQ_REAL: return dbl_bits(a->u.r) == dbl_bits(b->u.r);
    case LSQ_TEXT:
    case LSQ_BLOB:
        return a->u.s.n == b->u.s.n &&
               (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
    }
    return 0;
}

static void print_value(const lsq_value *v)
{
    switch (v->type) {
    case LSQ_NULL: fprintf(stderr, "null"); break;
    case LSQ_INT: fprintf(stderr, "%lld", v->u.i); break;
    case LSQ_REAL: fprintf(stderr, "%.17g (bits %016llx)", v->u.r,
                           (unsigned long long)dbl_bits(v->u.r)); break;
    case LSQ_TEXT: fprintf(stderr, "text(%zu) \"%.*s\"", v->u.s.n,
                           (int)(v->u.s.n > 40 ? 40 : v->u.s.n), v->u.s.p); break;
    case LSQ_BLOB: fprintf(stderr, "blob(%zu)", v->u.s.n); break;
    }
}

void check_value_at(const char *file, int line, const lsq_value *got, const lsq_value *want)
{
    int ok = same_value(got, want);

    CHECK_AT(file, line, ok);
    if (!ok) {
        fprintf(stderr, "    got ");
        print_value(got);
        fprintf(stderr, ", want ");
        print_value(want);
        fprintf(stderr, "\n");
    }
}

/* Request-side encoder, independent of term_encode_value. */
static void put_value(ei_x_buff *x, const lsq_value *v)
{
    switch (v->type) {
    case LSQ_NULL: EI(ei_x_encode_atom(x, "null")); break;
    case LSQ_INT: EI(ei_x_encode_longlong(x, v->u.i)); break;
    case LSQ_REAL:
        if (isinf(v->u.r)) EI(ei_x_encode_atom(x, v->u.r > 0 ? "infinity" : "neg_infinity"));
        else xfloat_bits(x, dbl_bits(v->u.r));
        break;
    case LSQ_TEXT: EI(ei_x_encode_binary(x, v->u.s.n ? v->u.s.p : "", (int)v->u.s.n)); break;
    case LSQ_BLOB:
        EI(ei_x_encode_tuple_header(x, 2));
        EI(ei_x_encode_atom(x, "blob"));
        EI(ei_x_encode_binary(x, v->u.s.n ? v->u.s.p : "", (int)v->u.s.n));
        break;
    }
}

/* Reply-side decoders (ei only, independent of term_decode_*). */
int get_bin(const char *buf, int *idx, const char **p, size_t *n)
{
    unsigned int off = 0;
    size_t bits = 0;

    if ((unsigned char)buf[*idx] != ERL_BINARY_EXT) return -1;
    if (ei_decode_bitstring(buf, idx, p, &off, &bits) != 0 || off != 0 || bits % 8 != 0)
        return -1;
    *n = bits / 8;
    return 0;
}

static int is_atom_type(int type)
{
    return type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT ||
           type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_UTF8_EXT;
}

int get_value(const char *buf, int *idx, lsq_value *v)
{
    char atom[MAXATOMLEN_UTF8];
    int type, size, arity;

    *v = vnull();
    if (ei_get_type(buf, idx, &type, &size) != 0) return -1;
    if (is_atom_type(type)) {
        if (ei_decode_atom(buf, idx, atom) != 0) return -1;
        if (strcmp(atom, "null") == 0) *v = vnull();
        else if (strcmp(atom, "infinity") == 0) *v = vreal(INFINITY);
        else if (strcmp(atom, "neg_infinity") == 0) *v = vreal(-INFINITY);
        else return -1;
        return 0;
    }
    switch (type) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
        v->type = LSQ_INT;
        return ei_decode_longlong(buf, idx, &v->u.i);
    case ERL_FLOAT_EXT:
    case NEW_FLOAT_EXT:
        v->type = LSQ_REAL;
        return ei_decode_double(buf, idx, &v->u.r);
    case ERL_BINARY_EXT:
        v->type = LSQ_TEXT;
        return get_bin(buf, idx, &v->u.s.p, &v->u.s.n);
    case ERL_SMALL_TUPLE_EXT:
        if (ei_decode_tuple_header(buf, idx, &arity) != 0 || arity != 2 ||
            ei_decode_atom(buf, idx, atom) != 0 || strcmp(atom, "blob") != 0)
            return -1;
        v->type = LSQ_BLOB;
        return get_bin(buf, idx, &v->u.s.p, &v->u.s.n);
    default:
        return -1;
    }
}

/* ---- replies --------------------------------------------------------- */

void reply_init(reply *r)
{
    memset(r, 0, sizeof *r);
}

void reply_free(reply *r)
{
    if (r->x.buff != NULL) (void)ei_x_free(&r->x);
    memset(r, 0, sizeof *r);
}

/* Decode the fixed header, the tag and (for errors) the whole map. */
static int parse_reply(reply *r)
{
    const unsigned char *b = (const unsigned char *)r->x.buff;
    const char *buf = r->x.buff;
    char tag[MAXATOMLEN_UTF8], key[MAXATOMLEN_UTF8];
    int idx = 0, ver, arity, nkeys, i, type, size;
    int have_code = 0, have_msg = 0;

    r->valid = 0;
    if (r->x.index < 9 || b[0] != 131 || b[1] != ERL_SMALL_TUPLE_EXT || b[2] != 3 ||
        b[3] != ERL_INTEGER_EXT)
        return -1;
    if (ei_decode_version(buf, &idx, &ver) != 0 || ei_decode_tuple_header(buf, &idx, &arity) != 0 ||
        arity != 3 || ei_decode_long(buf, &idx, &r->ref) != 0 ||
        ei_decode_atom(buf, &idx, tag) != 0)
        return -1;
    if ((long)be32(b + 4) != r->ref) return -1;
    r->idx = idx;
    if (strcmp(tag, "ok") == 0) {
        r->ok = 1;
        r->valid = 1;
        return 0;
    }
    if (strcmp(tag, "error") != 0) return -1;
    r->ok = 0;
    if (ei_decode_map_header(buf, &idx, &nkeys) != 0) return -1;
    for (i = 0; i < nkeys; i++) {
        if (ei_decode_atom(buf, &idx, key) != 0) return -1;
        if (strcmp(key, "code") == 0 && !have_code) {
            if (ei_get_type(buf, &idx, &type, &size) != 0 || !is_atom_type(type) ||
                ei_decode_atom(buf, &idx, r->code) != 0)
                return -1;
            have_code = 1;
        } else if (strcmp(key, "message") == 0 && !have_msg) {
            if (get_bin(buf, &idx, &r->msg, &r->msg_len) != 0) return -1;
            have_msg = 1;
        } else if (strcmp(key, "extended_code") == 0 && !r->has_ext) {
            if (ei_decode_longlong(buf, &idx, &r->ext) != 0) return -1;
            r->has_ext = 1;
        } else if (strcmp(key, "sql") == 0 && !r->has_sql) {
            if (get_bin(buf, &idx, &r->sql, &r->sql_len) != 0) return -1;
            r->has_sql = 1;
        } else if (strcmp(key, "index") == 0 && !r->has_index) {
            if (ei_decode_longlong(buf, &idx, &r->index) != 0 || r->index < 1) return -1;
            r->has_index = 1;
        } else {
            return -1;
        }
    }
    if (!have_code || !have_msg || idx != r->x.index) return -1;
    r->valid = 1;
    return 0;
}

/* Take a reply already encoded in x (ownership moves into r). */
int reply_take(reply *r, ei_x_buff *x)
{
    reply_free(r);
    r->x = *x;
    memset(x, 0, sizeof *x);
    return parse_reply(r);
}

/* Run one request frame the way main.c does: term_check, parse, dispatch.
 * Frees req. The reply is left in r (r->valid == 0 if anything failed). */
void call_at(const char *file, int line, lsq_port *p, ei_x_buff *req, reply *r)
{
    lsq_request rq;
    const char *why = NULL;
    ei_x_buff out;
    unsigned long long errors;

    reply_free(r);
    if (ei_x_new(&out) != 0) abort();
    CHECK_AT(file, line, term_check(req->buff, (size_t)req->index, &why) == 0);
    if (term_parse_request(req->buff, (size_t)req->index, &rq, &why) != 0) {
        CHECK_AT(file, line, !"term_parse_request failed");
        (void)ei_x_free(&out);
        (void)ei_x_free(req);
        return;
    }
    errors = p->n.errors;
    CHECK_AT(file, line, commands_dispatch(p, &rq, &out) == 0);
    CHECK_AT(file, line, reply_take(r, &out) == 0);
    CHECK_AT(file, line, r->ref == rq.ref);
    /* The handler said what it answered: the error count follows the reply. */
    CHECK_AT(file, line, p->n.errors == errors + (r->valid && !r->ok ? 1 : 0));
    (void)ei_x_free(req);
}

/* An integer the way term_to_binary/1 writes it: SMALL_INTEGER_EXT for
 * 0..255, INTEGER_EXT for the rest of the 32-bit range, a bignum beyond.
 * (ei_x_encode_long uses a bignum from 2^27 on, which Erlang never does.) */
void xint_erl(ei_x_buff *x, long long v)
{
    if (v >= INT32_MIN && v <= INT32_MAX && (v < 0 || v > 255)) {
        unsigned char b[5];
        uint32_t u = (uint32_t)(int32_t)v;

        b[0] = ERL_INTEGER_EXT;
        b[1] = (unsigned char)(u >> 24);
        b[2] = (unsigned char)(u >> 16);
        b[3] = (unsigned char)(u >> 8);
        b[4] = (unsigned char)u;
        xraw(x, b, sizeof b);
    } else {
        EI(ei_x_encode_longlong(x, v));
    }
}

/* Frame builders. */
void req_begin(ei_x_buff *x, long ref, const char *cmd, int nargs)
{
    xnew(x);
    EI(ei_x_encode_tuple_header(x, 2 + nargs));
    xint_erl(x, ref);
    EI(ei_x_encode_atom(x, cmd));
}

void put_list(ei_x_buff *x, const lsq_value *vals, int n)
{
    int i;

    if (n > 0) EI(ei_x_encode_list_header(x, n));
    for (i = 0; i < n; i++) put_value(x, &vals[i]);
    EI(ei_x_encode_empty_list(x));
}

/* {Ref, Cmd, Sql, [V...]} */
void req_sql(ei_x_buff *x, long ref, const char *cmd, const char *sql, size_t sql_len,
             const lsq_value *vals, int n)
{
    req_begin(x, ref, cmd, 2);
    EI(ei_x_encode_binary(x, sql_len ? sql : "", (int)sql_len));
    put_list(x, vals, n);
}

/* {Ref, Cmd, Sql, {named, [{Name, V}...]}} */
void req_named(ei_x_buff *x, long ref, const char *cmd, const char *sql,
               const char *const *names, const lsq_value *vals, int n)
{
    int i;

    req_begin(x, ref, cmd, 2);
    EI(ei_x_encode_binary(x, sql, (int)strlen(sql)));
    EI(ei_x_encode_tuple_header(x, 2));
    EI(ei_x_encode_atom(x, "named"));
    if (n > 0) EI(ei_x_encode_list_header(x, n));
    for (i = 0; i < n; i++) {
        EI(ei_x_encode_tuple_header(x, 2));
        EI(ei_x_encode_binary(x, names[i], (int)strlen(names[i])));
        put_value(x, &vals[i]);
    }
    EI(ei_x_encode_empty_list(x));
}

void sql_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *cmd,
            const char *sql, const lsq_value *vals, int n)
{
    ei_x_buff x;

    req_sql(&x, ref, cmd, sql, strlen(sql), vals, n);
    call_at(file, line, p, &x, r);
}

void named_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *cmd,
              const char *sql, const char *const *names, const lsq_value *vals, int n)
{
    ei_x_buff x;

    req_named(&x, ref, cmd, sql, names, vals, n);
    call_at(file, line, p, &x, r);
}

void simple_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *cmd)
{
    ei_x_buff x;

    req_begin(&x, ref, cmd, 0);
    call_at(file, line, p, &x, r);
}

/* {Ref, open, [{path, P}, {read_only, B}?, {create, B}?]}; -1 omits a flag. */
void open_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *path,
             int read_only, int create)
{
    ei_x_buff x;
    int n = 1 + (read_only >= 0) + (create >= 0);

    req_begin(&x, ref, "open", 1);
    EI(ei_x_encode_list_header(&x, n));
    EI(ei_x_encode_tuple_header(&x, 2));
    EI(ei_x_encode_atom(&x, "path"));
    EI(ei_x_encode_binary(&x, path, (int)strlen(path)));
    if (read_only >= 0) {
        EI(ei_x_encode_tuple_header(&x, 2));
        EI(ei_x_encode_atom(&x, "read_only"));
        EI(ei_x_encode_atom(&x, read_only ? "true" : "false"));
    }
    if (create >= 0) {
        EI(ei_x_encode_tuple_header(&x, 2));
        EI(ei_x_encode_atom(&x, "create"));
        EI(ei_x_encode_atom(&x, create ? "true" : "false"));
    }
    EI(ei_x_encode_empty_list(&x));
    call_at(file, line, p, &x, r);
}

/* Reply expectations. */
void expect_error_at(const char *file, int line, const reply *r, long ref, const char *code)
{
    CHECK_AT(file, line, r->valid);
    CHECK_AT(file, line, r->ref == ref);
    CHECK_AT(file, line, r->valid && !r->ok);
    CHECK_AT(file, line, strcmp(r->code, code) == 0);
    CHECK_AT(file, line, r->msg_len > 0);
    if (r->valid && !r->ok && strcmp(r->code, code) != 0)
        fprintf(stderr, "    error code %s (%.*s), want %s\n", r->code, (int)r->msg_len,
                r->msg, code);
}

void expect_msg_at(const char *file, int line, const reply *r, const char *needle)
{
    int ok = r->valid && !r->ok && contains(r->msg, r->msg_len, needle);

    CHECK_AT(file, line, ok);
    if (!ok && r->valid && !r->ok)
        fprintf(stderr, "    message \"%.*s\" lacks \"%s\"\n", (int)r->msg_len, r->msg, needle);
}

void expect_sql_at(const char *file, int line, const reply *r, const char *sql, size_t n)
{
    CHECK_AT(file, line, r->has_sql);
    CHECK_AT(file, line, r->sql_len == n);
    CHECK_AT(file, line, r->has_sql && r->sql_len == n && (n == 0 || memcmp(r->sql, sql, n) == 0));
}

void expect_ok_atom_at(const char *file, int line, const reply *r, long ref)
{
    const char *buf = r->x.buff;
    char atom[MAXATOMLEN_UTF8];
    int idx = r->idx;

    CHECK_AT(file, line, r->valid && r->ok);
    CHECK_AT(file, line, r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    CHECK_AT(file, line, ei_decode_atom(buf, &idx, atom) == 0 && strcmp(atom, "ok") == 0);
    CHECK_AT(file, line, idx == r->x.index);
}

void expect_exec_at(const char *file, int line, const reply *r, long ref, long long changes,
                    long long rowid)
{
    const char *buf = r->x.buff;
    int idx = r->idx, arity = 0;
    long long c = -1, id = -1;

    CHECK_AT(file, line, r->valid && r->ok);
    CHECK_AT(file, line, r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    CHECK_AT(file, line, ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 2);
    CHECK_AT(file, line, ei_decode_longlong(buf, &idx, &c) == 0);
    CHECK_AT(file, line, ei_decode_longlong(buf, &idx, &id) == 0);
    CHECK_AT(file, line, c == changes);
    CHECK_AT(file, line, id == rowid);
    CHECK_AT(file, line, idx == r->x.index);
    if (c != changes || id != rowid)
        fprintf(stderr, "    got {%lld, %lld}, want {%lld, %lld}\n", c, id, changes, rowid);
}

/* ---- rowsets ---------------------------------------------------------- */

void rowset_free(rowset *rs)
{
    free(rs->vals);
    memset(rs, 0, sizeof *rs);
}

/* Decode a column list (of binaries) at *idx into rs. */
int get_columns(const char *buf, int *idx, rowset *rs)
{
    int n, i, k, type, size;

    if (ei_get_type(buf, idx, &type, &size) != 0 ||
        (type != ERL_LIST_EXT && type != ERL_NIL_EXT) ||
        ei_decode_list_header(buf, idx, &n) != 0 || n > MAX_COLS)
        return -1;
    for (i = 0; i < n; i++) {
        rs->cols[i].type = LSQ_TEXT;
        if (get_bin(buf, idx, &rs->cols[i].u.s.p, &rs->cols[i].u.s.n) != 0) return -1;
    }
    if (n > 0 && (ei_get_type(buf, idx, &type, &size) != 0 || type != ERL_NIL_EXT ||
                  ei_decode_list_header(buf, idx, &k) != 0))
        return -1;
    rs->ncol = n;
    return 0;
}

/* Decode a list of row tuples of arity rs->ncol at *idx, appending to rs.
 * The list may be flat or a chain of cons cells ([R1 | [R2 | ...]]): both
 * are the same proper list. */
int get_row_list(const char *buf, int *idx, rowset *rs)
{
    int arity, n, i, k, type, size;
    lsq_value v;

    for (;;) {
        if (ei_get_type(buf, idx, &type, &size) != 0) return -1;
        if (type == ERL_NIL_EXT) return ei_decode_list_header(buf, idx, &k);
        if (type != ERL_LIST_EXT || ei_decode_list_header(buf, idx, &n) != 0) return -1;
        for (i = 0; i < n; i++) {
            if (ei_decode_tuple_header(buf, idx, &arity) != 0 || arity != rs->ncol) return -1;
            if ((rs->nrows + 1) * (size_t)(rs->ncol ? rs->ncol : 1) > rs->cap) {
                size_t cap = rs->cap ? rs->cap * 2 : 64;
                lsq_value *nv;

                while (cap < (rs->nrows + 1) * (size_t)(rs->ncol ? rs->ncol : 1)) cap *= 2;
                nv = realloc(rs->vals, cap * sizeof *nv);
                if (nv == NULL) abort();
                rs->vals = nv;
                rs->cap = cap;
            }
            for (k = 0; k < rs->ncol; k++) {
                if (get_value(buf, idx, &v) != 0) return -1;
                rs->vals[rs->nrows * (size_t)rs->ncol + (size_t)k] = v;
            }
            rs->nrows++;
        }
    }
}

/* Decode {Columns, Rows} at r->idx; the reply must end there. */
int get_rows(const reply *r, rowset *rs)
{
    const char *buf = r->x.buff;
    int idx = r->idx, arity;

    memset(rs, 0, sizeof *rs);
    if (!r->valid || !r->ok) return -1;
    if (ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2) return -1;
    if (get_columns(buf, &idx, rs) != 0 || get_row_list(buf, &idx, rs) != 0) return -1;
    return idx == r->x.index ? 0 : -1;
}

void check_rowset_at(const char *file, int line, const rowset *rs, int ncol,
                     const char *const *cols, size_t nrows, const lsq_value *want)
{
    size_t i;
    int k;

    CHECK_AT(file, line, rs->ncol == ncol);
    CHECK_AT(file, line, rs->nrows == nrows);
    if (rs->ncol == ncol && cols != NULL) {
        for (k = 0; k < ncol; k++) {
            lsq_value c = vtext(cols[k]);
            check_value_at(file, line, &rs->cols[k], &c);
        }
    }
    if (rs->ncol == ncol && rs->nrows == nrows)
        for (i = 0; i < nrows * (size_t)ncol; i++)
            check_value_at(file, line, &rs->vals[i], &want[i]);
    else
        fprintf(stderr, "    got %d columns x %zu rows, want %d x %zu\n", rs->ncol, rs->nrows,
                ncol, nrows);
}

void expect_rows_at(const char *file, int line, const reply *r, long ref, int ncol,
                    const char *const *cols, size_t nrows, const lsq_value *want)
{
    rowset rs;

    CHECK_AT(file, line, r->valid && r->ok);
    CHECK_AT(file, line, r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    if (get_rows(r, &rs) != 0) {
        CHECK_AT(file, line, !"reply is not {Columns, Rows} with rows of the columns' arity");
        rowset_free(&rs);
        return;
    }
    check_rowset_at(file, line, &rs, ncol, cols, nrows, want);
    rowset_free(&rs);
}

/* The integer under an atom key of the map at *idx (the whole map is
 * skipped); -1 if absent or not an integer. */
int map_int(const char *buf, int idx, const char *key, long long *out)
{
    char k[MAXATOMLEN_UTF8];
    int n, i, found = -1, type, size;

    if (ei_decode_map_header(buf, &idx, &n) != 0) return -1;
    for (i = 0; i < n; i++) {
        if (ei_decode_atom(buf, &idx, k) != 0) return -1;
        if (strcmp(k, key) == 0 && ei_get_type(buf, &idx, &type, &size) == 0 &&
            (type == ERL_SMALL_INTEGER_EXT || type == ERL_INTEGER_EXT || type == ERL_SMALL_BIG_EXT)) {
            if (ei_decode_longlong(buf, &idx, out) != 0) return -1;
            found = 0;
        } else if (ei_skip_term(buf, &idx) != 0) {
            return -1;
        }
    }
    return found;
}

/* ---- port fixture ------------------------------------------------------ */

void port_init(lsq_port *p)
{
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->conn_lock, NULL) != 0) abort();
}

void port_fini(lsq_port *p)
{
    commands_close_all(p);
    CHECK(p->conn == NULL && p->be == NULL);
    (void)pthread_mutex_destroy(&p->conn_lock);
}

/* A unique temporary directory, removed by tmpdir_remove. */
int tmpdir_make(tmpdir *t)
{
    strcpy(t->dir, "/tmp/libsql_test_port.XXXXXX");
    if (mkdtemp(t->dir) == NULL) return -1;
    return 0;
}

const char *tmpdir_file(tmpdir *t, const char *name)
{
    (void)snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
    return t->path;
}

void tmpdir_remove(tmpdir *t, const char *const *names, int n)
{
    static const char *const suffix[] = { "", "-journal", "-wal", "-shm" };
    char path[160];
    int i, k;

    for (i = 0; i < n; i++)
        for (k = 0; k < 4; k++) {
            (void)snprintf(path, sizeof path, "%s/%s%s", t->dir, names[i], suffix[k]);
            (void)unlink(path);
        }
    CHECK(rmdir(t->dir) == 0);
}

int file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

int test_read_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    long size;

    *buf = NULL;
    *len = 0;
    if (fp == NULL) return -1;
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        (void)fclose(fp);
        return -1;
    }
    *buf = malloc((size_t)size + 1);
    if (*buf == NULL || fread(*buf, 1, (size_t)size, fp) != (size_t)size) {
        free(*buf);
        *buf = NULL;
        (void)fclose(fp);
        return -1;
    }
    (void)fclose(fp);
    *len = (size_t)size;
    return 0;
}

long long test_sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    (void)sqlite3_finalize(st);
    return v;
}

int test_integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *t;
    int ok = 0;

    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && (t = sqlite3_column_text(st, 0)) != NULL)
        ok = strcmp((const char *)t, "ok") == 0;
    (void)sqlite3_finalize(st);
    return ok;
}
