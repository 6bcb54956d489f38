/*
 * test_port.c - C-level tests of the port program, without an Erlang VM.
 *
 * Request frames are built by hand with ei's ei_x_* encoders (or byte by
 * byte where ei cannot produce the term), fed to term_check /
 * term_parse_request / commands_dispatch exactly as main.c does, and the
 * replies are decoded with ei_decode_* and compared value by value.
 * frame_io is exercised over pipe(2).
 *
 * The harness (CHECK, the test table, the "C tests: N passed, N failed"
 * line) is harness.h, shared with test_remote.c.
 */
#include "harness.h"
#include "backend.h"
#include "commands.h"
#include "errors.h"
#include "frame_io.h"
#include "params.h"
#include "protocol.h"
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- harness (harness.h) ------------------------------------------------ */

/* For helpers: report the line of the test that called them. */
#define CHECK_AT(line, cond) check_at((cond) != 0, #cond, __FILE__, (line))
/* ei encoders return 0 or -1; a failure while building a frame is a failure. */
#define EI(call) CHECK((call) == 0)

/* ---- small utilities -------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int contains(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;

    if (k == 0) return 1;
    for (i = 0; i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0) return 1;
    return 0;
}

static uint64_t dbl_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof d);
    return d;
}

/* term_check on an exact-size heap copy, so that valgrind sees any read
 * past the end of the frame. */
static int tcheck(const void *bytes, size_t n, const char **why)
{
    char *copy = malloc(n ? n : 1);
    int rc;

    if (copy == NULL) abort();
    if (n) memcpy(copy, bytes, n);
    *why = NULL;
    rc = term_check(copy, n, why);
    free(copy);
    return rc;
}

static long tpeek(const void *bytes, size_t n)
{
    char *copy = malloc(n ? n : 1);
    long ref;

    if (copy == NULL) abort();
    if (n) memcpy(copy, bytes, n);
    ref = term_peek_ref(copy, n);
    free(copy);
    return ref;
}

static void xnew(ei_x_buff *x)
{
    if (ei_x_new_with_version(x) != 0) abort();
}

static void xraw(ei_x_buff *x, const void *bytes, size_t n)
{
    EI(ei_x_append_buf(x, (const char *)bytes, (int)n));
}

/* NEW_FLOAT_EXT with exactly these bits (NaN included). */
static void xfloat_bits(ei_x_buff *x, uint64_t u)
{
    unsigned char b[9];
    int i;

    b[0] = NEW_FLOAT_EXT;
    for (i = 0; i < 8; i++) b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
    xraw(x, b, sizeof b);
}

/* SMALL_BIG_EXT: sign and 8 little-endian magnitude bytes. */
static void xbig8(ei_x_buff *x, int negative, uint64_t mag)
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

static lsq_value vnull(void)
{
    lsq_value v;

    memset(&v, 0, sizeof v);
    v.type = LSQ_NULL;
    return v;
}

static lsq_value vint(long long i)
{
    lsq_value v = vnull();

    v.type = LSQ_INT;
    v.u.i = i;
    return v;
}

static lsq_value vreal(double r)
{
    lsq_value v = vnull();

    v.type = LSQ_REAL;
    v.u.r = r;
    return v;
}

static lsq_value vtextn(const char *p, size_t n)
{
    lsq_value v = vnull();

    v.type = LSQ_TEXT;
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

static lsq_value vtext(const char *s) { return vtextn(s, strlen(s)); }

static lsq_value vblob(const void *p, size_t n)
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

static void check_value_at(int line, const lsq_value *got, const lsq_value *want)
{
    int ok = same_value(got, want);

    CHECK_AT(line, ok);
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
static int get_bin(const char *buf, int *idx, const char **p, size_t *n)
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

static int get_value(const char *buf, int *idx, lsq_value *v)
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

typedef struct reply {
    ei_x_buff x;                /* the reply frame (owned) */
    int valid;                  /* decoded as {Ref, ok, _} or {Ref, error, Map} */
    long ref;
    int ok;                     /* 1: ok, 0: error */
    int idx;                    /* ei index of the third element */
    char code[MAXATOMLEN_UTF8]; /* error: code */
    const char *msg;            /* error: message (into x) */
    size_t msg_len;
    int has_ext;                /* error: extended_code present */
    long long ext;
    int has_sql;                /* error: sql present */
    const char *sql;
    size_t sql_len;
    int has_index;              /* error: index (batch/script statement) present */
    long long index;
} reply;

static void reply_init(reply *r)
{
    memset(r, 0, sizeof *r);
}

static void reply_free(reply *r)
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
static int reply_take(reply *r, ei_x_buff *x)
{
    reply_free(r);
    r->x = *x;
    memset(x, 0, sizeof *x);
    return parse_reply(r);
}

/* Run one request frame the way main.c does: term_check, parse, dispatch.
 * Frees req. The reply is left in r (r->valid == 0 if anything failed). */
static void call_at(int line, lsq_port *p, ei_x_buff *req, reply *r)
{
    lsq_request rq;
    const char *why = NULL;
    ei_x_buff out;
    unsigned long long errors;

    reply_free(r);
    if (ei_x_new(&out) != 0) abort();
    CHECK_AT(line, term_check(req->buff, (size_t)req->index, &why) == 0);
    if (term_parse_request(req->buff, (size_t)req->index, &rq, &why) != 0) {
        CHECK_AT(line, !"term_parse_request failed");
        (void)ei_x_free(&out);
        (void)ei_x_free(req);
        return;
    }
    errors = p->n.errors;
    CHECK_AT(line, commands_dispatch(p, &rq, &out) == 0);
    CHECK_AT(line, reply_take(r, &out) == 0);
    CHECK_AT(line, r->ref == rq.ref);
    /* The handler said what it answered: the error count follows the reply. */
    CHECK_AT(line, p->n.errors == errors + (r->valid && !r->ok ? 1 : 0));
    (void)ei_x_free(req);
}
#define CALL(p, req, r) call_at(__LINE__, (p), (req), (r))

/* An integer the way term_to_binary/1 writes it: SMALL_INTEGER_EXT for
 * 0..255, INTEGER_EXT for the rest of the 32-bit range, a bignum beyond.
 * (ei_x_encode_long uses a bignum from 2^27 on, which Erlang never does.) */
static void xint_erl(ei_x_buff *x, long long v)
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
static void req_begin(ei_x_buff *x, long ref, const char *cmd, int nargs)
{
    xnew(x);
    EI(ei_x_encode_tuple_header(x, 2 + nargs));
    xint_erl(x, ref);
    EI(ei_x_encode_atom(x, cmd));
}

static void put_list(ei_x_buff *x, const lsq_value *vals, int n)
{
    int i;

    if (n > 0) EI(ei_x_encode_list_header(x, n));
    for (i = 0; i < n; i++) put_value(x, &vals[i]);
    EI(ei_x_encode_empty_list(x));
}

/* {Ref, Cmd, Sql, [V...]} */
static void req_sql(ei_x_buff *x, long ref, const char *cmd, const char *sql, size_t sql_len,
                    const lsq_value *vals, int n)
{
    req_begin(x, ref, cmd, 2);
    EI(ei_x_encode_binary(x, sql_len ? sql : "", (int)sql_len));
    put_list(x, vals, n);
}

/* {Ref, Cmd, Sql, {named, [{Name, V}...]}} */
static void req_named(ei_x_buff *x, long ref, const char *cmd, const char *sql,
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

static void sql_at(int line, lsq_port *p, reply *r, long ref, const char *cmd, const char *sql,
                   const lsq_value *vals, int n)
{
    ei_x_buff x;

    req_sql(&x, ref, cmd, sql, strlen(sql), vals, n);
    call_at(line, p, &x, r);
}
#define QUERY(p, r, ref, sql, vals, n) sql_at(__LINE__, (p), (r), (ref), "query", (sql), (vals), (n))
#define EXEC(p, r, ref, sql, vals, n) sql_at(__LINE__, (p), (r), (ref), "execute", (sql), (vals), (n))

static void named_at(int line, lsq_port *p, reply *r, long ref, const char *cmd, const char *sql,
                     const char *const *names, const lsq_value *vals, int n)
{
    ei_x_buff x;

    req_named(&x, ref, cmd, sql, names, vals, n);
    call_at(line, p, &x, r);
}
#define QNAMED(p, r, ref, sql, names, vals, n) \
    named_at(__LINE__, (p), (r), (ref), "query", (sql), (names), (vals), (n))

static void simple_at(int line, lsq_port *p, reply *r, long ref, const char *cmd)
{
    ei_x_buff x;

    req_begin(&x, ref, cmd, 0);
    call_at(line, p, &x, r);
}
#define SIMPLE(p, r, ref, cmd) simple_at(__LINE__, (p), (r), (ref), (cmd))

/* {Ref, open, [{path, P}, {read_only, B}?, {create, B}?]}; -1 omits a flag. */
static void open_at(int line, lsq_port *p, reply *r, long ref, const char *path, int read_only,
                    int create)
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
    call_at(line, p, &x, r);
}
#define OPEN(p, r, ref, path, ro, cr) open_at(__LINE__, (p), (r), (ref), (path), (ro), (cr))

/* Reply expectations. */
static void expect_error_at(int line, const reply *r, long ref, const char *code)
{
    CHECK_AT(line, r->valid);
    CHECK_AT(line, r->ref == ref);
    CHECK_AT(line, r->valid && !r->ok);
    CHECK_AT(line, strcmp(r->code, code) == 0);
    CHECK_AT(line, r->msg_len > 0);
    if (r->valid && !r->ok && strcmp(r->code, code) != 0)
        fprintf(stderr, "    error code %s (%.*s), want %s\n", r->code, (int)r->msg_len,
                r->msg, code);
}
#define EXPECT_ERROR(r, ref, code) expect_error_at(__LINE__, (r), (ref), (code))

static void expect_msg_at(int line, const reply *r, const char *needle)
{
    int ok = r->valid && !r->ok && contains(r->msg, r->msg_len, needle);

    CHECK_AT(line, ok);
    if (!ok && r->valid && !r->ok)
        fprintf(stderr, "    message \"%.*s\" lacks \"%s\"\n", (int)r->msg_len, r->msg, needle);
}
#define EXPECT_MSG(r, needle) expect_msg_at(__LINE__, (r), (needle))

static void expect_sql_at(int line, const reply *r, const char *sql, size_t n)
{
    CHECK_AT(line, r->has_sql);
    CHECK_AT(line, r->sql_len == n);
    CHECK_AT(line, r->has_sql && r->sql_len == n && (n == 0 || memcmp(r->sql, sql, n) == 0));
}
#define EXPECT_SQL(r, sql) expect_sql_at(__LINE__, (r), (sql), strlen(sql))

static void expect_ok_atom_at(int line, const reply *r, long ref)
{
    const char *buf = r->x.buff;
    char atom[MAXATOMLEN_UTF8];
    int idx = r->idx;

    CHECK_AT(line, r->valid && r->ok);
    CHECK_AT(line, r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    CHECK_AT(line, ei_decode_atom(buf, &idx, atom) == 0 && strcmp(atom, "ok") == 0);
    CHECK_AT(line, idx == r->x.index);
}
#define EXPECT_OK_ATOM(r, ref) expect_ok_atom_at(__LINE__, (r), (ref))

static void expect_exec_at(int line, const reply *r, long ref, long long changes, long long rowid)
{
    const char *buf = r->x.buff;
    int idx = r->idx, arity = 0;
    long long c = -1, id = -1;

    CHECK_AT(line, r->valid && r->ok);
    CHECK_AT(line, r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    CHECK_AT(line, ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 2);
    CHECK_AT(line, ei_decode_longlong(buf, &idx, &c) == 0);
    CHECK_AT(line, ei_decode_longlong(buf, &idx, &id) == 0);
    CHECK_AT(line, c == changes);
    CHECK_AT(line, id == rowid);
    CHECK_AT(line, idx == r->x.index);
    if (c != changes || id != rowid)
        fprintf(stderr, "    got {%lld, %lld}, want {%lld, %lld}\n", c, id, changes, rowid);
}
#define EXPECT_EXEC(r, ref, ch, id) expect_exec_at(__LINE__, (r), (ref), (ch), (id))

#define MAX_COLS 16
typedef struct rowset {
    int ncol;
    lsq_value cols[MAX_COLS]; /* column names, as LSQ_TEXT */
    size_t nrows;
    lsq_value *vals;          /* nrows * ncol, row-major, pointing into the reply */
    size_t cap;
} rowset;

static void rowset_free(rowset *rs)
{
    free(rs->vals);
    memset(rs, 0, sizeof *rs);
}

/* Decode a column list (of binaries) at *idx into rs. */
static int get_columns(const char *buf, int *idx, rowset *rs)
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
static int get_row_list(const char *buf, int *idx, rowset *rs)
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
static int get_rows(const reply *r, rowset *rs)
{
    const char *buf = r->x.buff;
    int idx = r->idx, arity;

    memset(rs, 0, sizeof *rs);
    if (!r->valid || !r->ok) return -1;
    if (ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2) return -1;
    if (get_columns(buf, &idx, rs) != 0 || get_row_list(buf, &idx, rs) != 0) return -1;
    return idx == r->x.index ? 0 : -1;
}

static void check_rowset_at(int line, const rowset *rs, int ncol, const char *const *cols,
                            size_t nrows, const lsq_value *want)
{
    size_t i;
    int k;

    CHECK_AT(line, rs->ncol == ncol);
    CHECK_AT(line, rs->nrows == nrows);
    if (rs->ncol == ncol && cols != NULL) {
        for (k = 0; k < ncol; k++) {
            lsq_value c = vtext(cols[k]);
            check_value_at(line, &rs->cols[k], &c);
        }
    }
    if (rs->ncol == ncol && rs->nrows == nrows)
        for (i = 0; i < nrows * (size_t)ncol; i++) check_value_at(line, &rs->vals[i], &want[i]);
    else
        fprintf(stderr, "    got %d columns x %zu rows, want %d x %zu\n", rs->ncol, rs->nrows,
                ncol, nrows);
}

static void expect_rows_at(int line, const reply *r, long ref, int ncol, const char *const *cols,
                           size_t nrows, const lsq_value *want)
{
    rowset rs;

    CHECK_AT(line, r->valid && r->ok);
    CHECK_AT(line, r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    if (get_rows(r, &rs) != 0) {
        CHECK_AT(line, !"reply is not {Columns, Rows} with rows of the columns' arity");
        rowset_free(&rs);
        return;
    }
    check_rowset_at(line, &rs, ncol, cols, nrows, want);
    rowset_free(&rs);
}
#define EXPECT_ROWS(r, ref, ncol, cols, nrows, want) \
    expect_rows_at(__LINE__, (r), (ref), (ncol), (cols), (nrows), (want))

/* The integer under an atom key of the map at *idx (the whole map is
 * skipped); -1 if absent or not an integer. */
static int map_int(const char *buf, int idx, const char *key, long long *out)
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

static void port_init(lsq_port *p)
{
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->conn_lock, NULL) != 0) abort();
}

static void port_fini(lsq_port *p)
{
    commands_close_all(p);
    CHECK(p->conn == NULL && p->be == NULL);
    (void)pthread_mutex_destroy(&p->conn_lock);
}

/* A unique temporary directory, removed by tmpdir_remove. */
typedef struct tmpdir { char dir[64]; char path[128]; } tmpdir;

static int tmpdir_make(tmpdir *t)
{
    strcpy(t->dir, "/tmp/libsql_test_port.XXXXXX");
    if (mkdtemp(t->dir) == NULL) return -1;
    return 0;
}

static const char *tmpdir_file(tmpdir *t, const char *name)
{
    (void)snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
    return t->path;
}

static void tmpdir_remove(tmpdir *t, const char *const *names, int n)
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

static int file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* ======================================================================
 * 1. term_check
 * ==================================================================== */

/* A representative set of valid terms, built with ei. */
static void test_check_accepts_valid(void)
{
    ei_x_buff x;
    const char *why;
    static const unsigned char old_atom[] = { 131, ERL_ATOM_EXT, 0, 2, 'o', 'k' };
    static const unsigned char improper[] = { 131, ERL_LIST_EXT, 0, 0, 0, 1, ERL_SMALL_INTEGER_EXT, 1,
                                              ERL_SMALL_INTEGER_EXT, 2 };
    static const unsigned char large_big[] = { 131, ERL_LARGE_BIG_EXT, 0, 0, 0, 9, 0,
                                               1, 2, 3, 4, 5, 6, 7, 8, 9 };
    static const unsigned char bits[] = { 131, ERL_BIT_BINARY_EXT, 0, 0, 0, 2, 3, 0xff, 0xe0 };
    unsigned char old_float[33];
    int i;

    /* integers */
    xnew(&x); EI(ei_x_encode_long(&x, 0)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_long(&x, 255)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_long(&x, -70000)); CHECK(x.buff[1] == ERL_INTEGER_EXT);
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_longlong(&x, INT64_MIN)); CHECK((unsigned char)x.buff[1] == ERL_SMALL_BIG_EXT);
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    CHECK(tcheck(large_big, sizeof large_big, &why) == 0);
    /* floats, new and old format */
    xnew(&x); EI(ei_x_encode_double(&x, 3.25)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    memset(old_float, 0, sizeof old_float);
    old_float[0] = 131;
    old_float[1] = ERL_FLOAT_EXT;
    (void)snprintf((char *)old_float + 2, 31, "%.20e", 1.5);
    /* refused: ei_decode_double reads old floats past their 31 bytes */
    CHECK(tcheck(old_float, sizeof old_float, &why) == -1);
    /* atoms, in all four encodings */
    xnew(&x); EI(ei_x_encode_atom(&x, "hello")); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    CHECK(tcheck(old_atom, sizeof old_atom, &why) == 0);
    xnew(&x); EI(ei_x_encode_atom_len_as(&x, "abc", 3, ERLANG_LATIN1, ERLANG_LATIN1));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    /* binaries: empty, with NULs, bit string */
    xnew(&x); EI(ei_x_encode_binary(&x, "", 0)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_binary(&x, "a\0b", 3)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    /* refused: ei sizes a malformed bit string differently (found by fuzzing) */
    CHECK(tcheck(bits, sizeof bits, &why) == -1);
    /* lists, strings, improper list */
    xnew(&x); EI(ei_x_encode_empty_list(&x)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_string(&x, "abc")); CHECK(x.buff[1] == ERL_STRING_EXT);
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_list_header(&x, 3));
    EI(ei_x_encode_long(&x, 1)); EI(ei_x_encode_atom(&x, "a")); EI(ei_x_encode_binary(&x, "b", 1));
    EI(ei_x_encode_empty_list(&x)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    CHECK(tcheck(improper, sizeof improper, &why) == 0);
    /* tuples: empty, small, large (arity 300) */
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 0)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 300)); CHECK(x.buff[1] == ERL_LARGE_TUPLE_EXT);
    for (i = 0; i < 300; i++) EI(ei_x_encode_long(&x, i));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    /* maps: empty and with entries */
    xnew(&x); EI(ei_x_encode_map_header(&x, 0)); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_map_header(&x, 2));
    EI(ei_x_encode_atom(&x, "a")); EI(ei_x_encode_long(&x, 1));
    EI(ei_x_encode_binary(&x, "k", 1)); EI(ei_x_encode_double(&x, 2.0));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    /* nested: {1, [#{<<"k">> => [1.5, "str", {}]}], {a, {b, []}}} */
    xnew(&x);
    EI(ei_x_encode_tuple_header(&x, 3)); EI(ei_x_encode_long(&x, 1));
    EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_map_header(&x, 1));
    EI(ei_x_encode_binary(&x, "k", 1)); EI(ei_x_encode_list_header(&x, 3));
    EI(ei_x_encode_double(&x, 1.5)); EI(ei_x_encode_string(&x, "str"));
    EI(ei_x_encode_tuple_header(&x, 0)); EI(ei_x_encode_empty_list(&x));
    EI(ei_x_encode_empty_list(&x));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "a"));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "b")); EI(ei_x_encode_empty_list(&x));
    why = "unset";
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0);
    ei_x_free(&x);
}

static void test_check_rejects_framing(void)
{
    static const unsigned char ok_term[] = { 131, ERL_SMALL_INTEGER_EXT, 5 };
    static const unsigned char no_version[] = { ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_INTEGER_EXT, 1,
                                                ERL_SMALL_ATOM_UTF8_EXT, 4, 'p', 'i', 'n', 'g' };
    static const unsigned char wrong_version[] = { 130, ERL_SMALL_INTEGER_EXT, 5 };
    static const unsigned char trailing[] = { 131, ERL_SMALL_INTEGER_EXT, 5, 0 };
    static const unsigned char two_terms[] = { 131, ERL_SMALL_INTEGER_EXT, 5, ERL_NIL_EXT };
    static const unsigned char compressed[] = { 131, 80, 0, 0, 0, 1, 120, 156, 0 };
    static const unsigned char just_version[] = { 131 };
    const char *why = NULL;
    ei_x_buff x;

    CHECK(tcheck(ok_term, sizeof ok_term, &why) == 0);
    CHECK(tcheck(ok_term, 0, &why) == -1);
    CHECK(why != NULL);
    CHECK(tcheck(just_version, 1, &why) == -1);
    CHECK(tcheck(no_version, sizeof no_version, &why) == -1);
    CHECK(why != NULL && strstr(why, "external") != NULL);
    CHECK(tcheck(wrong_version, sizeof wrong_version, &why) == -1);
    CHECK(tcheck(trailing, sizeof trailing, &why) == -1);
    CHECK(why != NULL && strstr(why, "trailing") != NULL);
    CHECK(tcheck(two_terms, sizeof two_terms, &why) == -1);
    CHECK(tcheck(compressed, sizeof compressed, &why) == -1);
    /* a valid request with one extra byte */
    req_begin(&x, 1, "ping", 0);
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0);
    EI(ei_x_encode_long(&x, 0));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1);
    ei_x_free(&x);
}

/* Every proper prefix of a valid frame is rejected; the whole is accepted;
 * term_peek_ref on a prefix yields 0 or the right ref, never garbage. */
static void check_all_prefixes(int line, const char *buf, size_t len, long ref)
{
    const char *why;
    size_t n;
    long peeked;

    CHECK_AT(line, tcheck(buf, len, &why) == 0);
    for (n = 0; n < len; n++) {
        int rc = tcheck(buf, n, &why);

        CHECK_AT(line, rc == -1);
        if (rc != -1) fprintf(stderr, "    prefix of %zu/%zu bytes accepted\n", n, len);
        peeked = tpeek(buf, n);
        CHECK_AT(line, peeked == LSQ_REF_UNKNOWN || peeked == ref);
    }
    CHECK_AT(line, tpeek(buf, len) == ref);
}

static void test_check_rejects_truncation(void)
{
    static const unsigned char hand[] = {
        131, ERL_LARGE_TUPLE_EXT, 0, 0, 0, 9,
        ERL_INTEGER_EXT, 0, 1, 0, 0,                              /* ref 65536 */
        ERL_ATOM_EXT, 0, 5, 'q', 'u', 'e', 'r', 'y',
        NEW_FLOAT_EXT, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,             /* 1.5 */
        ERL_STRING_EXT, 0, 3, 1, 2, 3,
        ERL_MAP_EXT, 0, 0, 0, 1, ERL_SMALL_ATOM_EXT, 1, 'k', ERL_NIL_EXT,
        ERL_LIST_EXT, 0, 0, 0, 1, ERL_SMALL_INTEGER_EXT, 1, ERL_SMALL_INTEGER_EXT, 2,
        ERL_LARGE_BIG_EXT, 0, 0, 0, 2, 1, 0xff, 0xff,
        ERL_BINARY_EXT, 0, 0, 0, 1, 0xf0,
        ERL_SMALL_BIG_EXT, 1, 0, 7,
    };
    static const char *const names[] = { "a", ":b" };
    lsq_value vals[10];
    ei_x_buff x;

    /* {1, open, [{path, <<":memory:">>}, {read_only, false}, {busy_timeout, 5000}]} */
    req_begin(&x, 1, "open", 1);
    EI(ei_x_encode_list_header(&x, 3));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path"));
    EI(ei_x_encode_binary(&x, ":memory:", 8));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "read_only"));
    EI(ei_x_encode_atom(&x, "false"));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "busy_timeout"));
    EI(ei_x_encode_long(&x, 5000));
    EI(ei_x_encode_empty_list(&x));
    check_all_prefixes(__LINE__, x.buff, (size_t)x.index, 1);
    ei_x_free(&x);

    /* {300, query, <<"SELECT ...">>, [every kind of value]} */
    vals[0] = vnull(); vals[1] = vint(1); vals[2] = vint(-1); vals[3] = vint(300);
    vals[4] = vint(1LL << 40); vals[5] = vint(INT64_MIN); vals[6] = vreal(1.5);
    vals[7] = vreal(INFINITY); vals[8] = vtext("txt"); vals[9] = vblob("\1\2\3", 3);
    req_sql(&x, 300, "query", "SELECT ?,?,?,?,?,?,?,?,?,?", 26, vals, 10);
    check_all_prefixes(__LINE__, x.buff, (size_t)x.index, 300);
    ei_x_free(&x);

    /* {2147483647, execute, <<"INSERT">>, {named, [{<<"a">>, 1}, {<<":b">>, <<>>}]}} */
    vals[0] = vint(1); vals[1] = vtextn("", 0);
    req_named(&x, LSQ_REF_MAX, "execute", "INSERT", names, vals, 2);
    check_all_prefixes(__LINE__, x.buff, (size_t)x.index, LSQ_REF_MAX);
    ei_x_free(&x);

    /* hand-built: large tuple, old atom format, string, map, improper
     * list, large big, binary, small big */
    check_all_prefixes(__LINE__, (const char *)hand, sizeof hand, 65536);
}

static void test_check_rejects_unsupported_types(void)
{
    erlang_pid pid;
    erlang_ref ref;
    erlang_port port;
    ei_x_buff x;
    const char *why;
    static const unsigned char export_fun[] = { 131, ERL_EXPORT_EXT,
                                                ERL_SMALL_ATOM_UTF8_EXT, 1, 'm',
                                                ERL_SMALL_ATOM_UTF8_EXT, 1, 'f',
                                                ERL_SMALL_INTEGER_EXT, 0 };
    static const unsigned char new_fun[] = { 131, ERL_NEW_FUN_EXT, 0, 0, 0, 5, 0 };
    static const unsigned char old_ref[] = { 131, ERL_REFERENCE_EXT, ERL_SMALL_ATOM_UTF8_EXT, 1, 'n',
                                             0, 0, 0, 1, 0 };
    /* {1, ping, Pid} with a hand-written PID_EXT */
    static const unsigned char old_pid_in_req[] = { 131, ERL_SMALL_TUPLE_EXT, 3, ERL_SMALL_INTEGER_EXT, 1,
                                                    ERL_SMALL_ATOM_UTF8_EXT, 4, 'p', 'i', 'n', 'g',
                                                    ERL_PID_EXT, ERL_SMALL_ATOM_UTF8_EXT, 1, 'n',
                                                    0, 0, 0, 1, 0, 0, 0, 0, 0 };

    memset(&pid, 0, sizeof pid);
    strcpy(pid.node, "node@host");
    pid.num = 1;
    pid.creation = 4;
    memset(&ref, 0, sizeof ref);
    strcpy(ref.node, "node@host");
    ref.len = 3;
    ref.n[0] = 1; ref.n[1] = 2; ref.n[2] = 3;
    ref.creation = 4;
    memset(&port, 0, sizeof port);
    strcpy(port.node, "node@host");
    port.id = 7;
    port.creation = 4;

    xnew(&x); EI(ei_x_encode_pid(&x, &pid));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1);
    CHECK(why != NULL && strstr(why, "unsupported") != NULL);
    ei_x_free(&x);
    /* the pid nested inside a request */
    req_begin(&x, 1, "query", 2); EI(ei_x_encode_binary(&x, "S", 1));
    EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_pid(&x, &pid)); EI(ei_x_encode_empty_list(&x));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_ref(&x, &ref));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_port(&x, &port));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1);
    ei_x_free(&x);
    CHECK(tcheck(export_fun, sizeof export_fun, &why) == -1);
    CHECK(tcheck(new_fun, sizeof new_fun, &why) == -1);
    CHECK(tcheck(old_ref, sizeof old_ref, &why) == -1);
    CHECK(tcheck(old_pid_in_req, sizeof old_pid_in_req, &why) == -1);
    /* the same request with an integer in place of the pid is fine */
    {
        unsigned char okreq[11];

        memcpy(okreq, old_pid_in_req, 11);
        okreq[2] = 2;
        CHECK(tcheck(okreq, sizeof okreq, &why) == 0);
    }
}

/* k nested lists (or tuples) around an integer. */
static void nested(ei_x_buff *x, int k, int tuples)
{
    int i;

    xnew(x);
    for (i = 0; i < k; i++) {
        if (tuples) EI(ei_x_encode_tuple_header(x, 1));
        else EI(ei_x_encode_list_header(x, 1));
    }
    EI(ei_x_encode_long(x, 7));
    if (!tuples)
        for (i = 0; i < k; i++) EI(ei_x_encode_empty_list(x));
}

static void test_check_depth(void)
{
    ei_x_buff x;
    const char *why;
    int i;

    nested(&x, 10, 0); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    nested(&x, TERM_MAX_DEPTH, 0); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    nested(&x, TERM_MAX_DEPTH + 1, 0);
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1);
    CHECK(why != NULL && strstr(why, "deep") != NULL);
    ei_x_free(&x);
    nested(&x, TERM_MAX_DEPTH, 1); CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0); ei_x_free(&x);
    nested(&x, TERM_MAX_DEPTH + 1, 1); CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1); ei_x_free(&x);
    /* far deeper than the limit: must fail fast, not overflow the stack */
    nested(&x, 100000, 0); CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1); ei_x_free(&x);
    nested(&x, 100000, 1); CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1); ei_x_free(&x);
    /* deep maps: #{k => #{k => ...}} */
    xnew(&x);
    for (i = 0; i < 1000; i++) { EI(ei_x_encode_map_header(&x, 1)); EI(ei_x_encode_atom(&x, "k")); }
    EI(ei_x_encode_long(&x, 1));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == -1);
    ei_x_free(&x);
    /* a long but shallow list is fine */
    xnew(&x);
    EI(ei_x_encode_list_header(&x, 100000));
    for (i = 0; i < 100000; i++) EI(ei_x_encode_long(&x, i % 1000));
    EI(ei_x_encode_empty_list(&x));
    CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0);
    ei_x_free(&x);
}

static void test_check_rejects_huge_lengths(void)
{
    static const unsigned char bin[] = { 131, ERL_BINARY_EXT, 0xff, 0xff, 0xff, 0xff, 'a', 'b' };
    static const unsigned char bin1[] = { 131, ERL_BINARY_EXT, 0, 0, 0, 3, 'a', 'b' };
    static const unsigned char list[] = { 131, ERL_LIST_EXT, 0xff, 0xff, 0xff, 0xff, ERL_NIL_EXT };
    static const unsigned char list2[] = { 131, ERL_LIST_EXT, 0, 0, 0, 2, ERL_SMALL_INTEGER_EXT, 1,
                                           ERL_NIL_EXT };
    static const unsigned char map[] = { 131, ERL_MAP_EXT, 0xff, 0xff, 0xff, 0xff, ERL_NIL_EXT };
    static const unsigned char tuple[] = { 131, ERL_LARGE_TUPLE_EXT, 0xff, 0xff, 0xff, 0xff, ERL_NIL_EXT };
    static const unsigned char stuple[] = { 131, ERL_SMALL_TUPLE_EXT, 3, ERL_NIL_EXT, ERL_NIL_EXT };
    static const unsigned char str[] = { 131, ERL_STRING_EXT, 0xff, 0xff, 'a' };
    static const unsigned char lbig[] = { 131, ERL_LARGE_BIG_EXT, 0xff, 0xff, 0xff, 0xff, 0, 1 };
    static const unsigned char sbig[] = { 131, ERL_SMALL_BIG_EXT, 0xff, 0, 1 };
    static const unsigned char bits[] = { 131, ERL_BIT_BINARY_EXT, 0xff, 0xff, 0xff, 0xff, 8, 'x' };
    static const unsigned char atom[] = { 131, ERL_SMALL_ATOM_UTF8_EXT, 200, 'a' };
    /* {1, query, <<4 GiB claimed>>, []} */
    static const unsigned char req[] = { 131, ERL_SMALL_TUPLE_EXT, 4, ERL_SMALL_INTEGER_EXT, 1,
                                         ERL_SMALL_ATOM_UTF8_EXT, 5, 'q', 'u', 'e', 'r', 'y',
                                         ERL_BINARY_EXT, 0xff, 0xff, 0xff, 0xff, 'S', ERL_NIL_EXT };
    unsigned char long_atom[3 + 1021 + 1];
    const char *why;

    CHECK(tcheck(bin, sizeof bin, &why) == -1);
    CHECK(why != NULL && strstr(why, "truncated") != NULL);
    CHECK(tcheck(bin1, sizeof bin1, &why) == -1);
    CHECK(tcheck(list, sizeof list, &why) == -1);
    CHECK(tcheck(list2, sizeof list2, &why) == -1);
    CHECK(tcheck(map, sizeof map, &why) == -1);
    CHECK(tcheck(tuple, sizeof tuple, &why) == -1);
    CHECK(tcheck(stuple, sizeof stuple, &why) == -1);
    CHECK(tcheck(str, sizeof str, &why) == -1);
    CHECK(tcheck(lbig, sizeof lbig, &why) == -1);
    CHECK(tcheck(sbig, sizeof sbig, &why) == -1);
    CHECK(tcheck(bits, sizeof bits, &why) == -1);
    CHECK(tcheck(atom, sizeof atom, &why) == -1);
    CHECK(tcheck(req, sizeof req, &why) == -1);
    CHECK(tpeek(req, sizeof req) == 1);
    /* ATOM_EXT longer than any atom can be */
    memset(long_atom, 'a', sizeof long_atom);
    long_atom[0] = 131;
    long_atom[1] = ERL_ATOM_EXT;
    long_atom[2] = 1021 >> 8;
    long_atom[3] = 1021 & 0xff;
    CHECK(tcheck(long_atom, 4 + 1021, &why) == -1);
    CHECK(why != NULL && strstr(why, "atom") != NULL);
}

/* ======================================================================
 * 2. term_peek_ref / term_parse_request
 * ==================================================================== */

static void test_peek_ref(void)
{
    static const unsigned char small[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_INTEGER_EXT, 200 };
    static const unsigned char integer[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_INTEGER_EXT, 0x7f, 0xff, 0xff, 0xff };
    static const unsigned char large[] = { 131, ERL_LARGE_TUPLE_EXT, 0, 0, 0, 2, ERL_INTEGER_EXT, 0, 0, 1, 0 };
    static const unsigned char zero[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_INTEGER_EXT, 0 };
    static const unsigned char negative[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_INTEGER_EXT, 0xff, 0xff, 0xff, 0xfe };
    static const unsigned char over[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_INTEGER_EXT, 0x80, 0, 0, 0 };
    static const unsigned char big[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_BIG_EXT, 1, 0, 5 };
    static const unsigned char list[] = { 131, ERL_LIST_EXT, 0, 0, 0, 2, ERL_SMALL_INTEGER_EXT, 5 };
    static const unsigned char atomref[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_ATOM_UTF8_EXT, 1, 'a' };
    static const unsigned char badver[] = { 130, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_INTEGER_EXT, 5 };

    CHECK(tpeek(small, sizeof small) == 200);
    CHECK(tpeek(small, sizeof small - 1) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(integer, sizeof integer) == LSQ_REF_MAX);
    CHECK(tpeek(integer, sizeof integer - 1) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(large, sizeof large) == 256);
    CHECK(tpeek(large, sizeof large - 1) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(zero, sizeof zero) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(negative, sizeof negative) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(over, sizeof over) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(big, sizeof big) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(list, sizeof list) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(atomref, sizeof atomref) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(badver, sizeof badver) == LSQ_REF_UNKNOWN);
    CHECK(tpeek(small, 0) == LSQ_REF_UNKNOWN);
    /* trailing garbage after the ref does not matter to a peek */
    {
        unsigned char garbage[64];

        memset(garbage, 0xee, sizeof garbage);
        memcpy(garbage, small, sizeof small);
        CHECK(tpeek(garbage, sizeof garbage) == 200);
    }
}

/* term_check + term_parse_request on a frame; returns parse rc. */
static int parse(const ei_x_buff *x, lsq_request *rq, const char **why)
{
    char *copy = malloc((size_t)x->index);
    int rc;

    if (copy == NULL) abort();
    memcpy(copy, x->buff, (size_t)x->index);
    *why = NULL;
    if (term_check(copy, (size_t)x->index, why) != 0) {
        free(copy);
        return -2;
    }
    rc = term_parse_request(copy, (size_t)x->index, rq, why);
    /* rq->buf would dangle: point it at the caller's buffer */
    rq->buf = x->buff;
    free(copy);
    return rc;
}

static void test_parse_request_ok(void)
{
    ei_x_buff x;
    lsq_request rq;
    const char *why;
    long refs[] = { 1, 200, 255, 256, 65535, 100000, LSQ_REF_MAX };
    size_t i;
    static const unsigned char large[] = { 131, ERL_LARGE_TUPLE_EXT, 0, 0, 0, 3, ERL_SMALL_INTEGER_EXT, 9,
                                           ERL_ATOM_EXT, 0, 4, 'p', 'i', 'n', 'g', ERL_NIL_EXT };

    for (i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        req_begin(&x, refs[i], "ping", 0);
        CHECK(parse(&x, &rq, &why) == 0);
        CHECK(rq.ref == refs[i]);
        CHECK(strcmp(rq.cmd, "ping") == 0);
        CHECK(rq.nargs == 0);
        CHECK(rq.idx == x.index);
        CHECK(rq.len == (size_t)x.index);
        ei_x_free(&x);
    }
    /* arguments: idx points at the first one */
    req_begin(&x, 77, "query", 2);
    {
        int at = x.index;

        EI(ei_x_encode_binary(&x, "SELECT 1", 8));
        EI(ei_x_encode_empty_list(&x));
        CHECK(parse(&x, &rq, &why) == 0);
        CHECK(rq.ref == 77);
        CHECK(strcmp(rq.cmd, "query") == 0);
        CHECK(rq.nargs == 2);
        CHECK(rq.idx == at);
    }
    ei_x_free(&x);
    /* LARGE_TUPLE_EXT request, old-style ATOM_EXT command */
    x.buff = (char *)large;
    x.index = (int)sizeof large;
    CHECK(parse(&x, &rq, &why) == 0);
    CHECK(rq.ref == 9);
    CHECK(strcmp(rq.cmd, "ping") == 0);
    CHECK(rq.nargs == 1);
    /* a small ref carried in a (non-canonical) SMALL_BIG_EXT is still read */
    xnew(&x);
    EI(ei_x_encode_tuple_header(&x, 2));
    {
        static const unsigned char b5[] = { ERL_SMALL_BIG_EXT, 1, 0, 5 };
        xraw(&x, b5, sizeof b5);
    }
    EI(ei_x_encode_atom(&x, "ping"));
    CHECK(parse(&x, &rq, &why) == 0);
    CHECK(rq.ref == 5);
    ei_x_free(&x);
    /* command atoms: 47 bytes are kept whole; longer ones (up to the 255
     * characters an atom may have) parse, named by their size, and match
     * no command */
    {
        char name[256];

        memset(name, 'c', sizeof name);
        name[LSQ_CMD_MAX - 1] = 0;
        req_begin(&x, 6, name, 1);
        EI(ei_x_encode_atom(&x, "arg"));
        CHECK(parse(&x, &rq, &why) == 0);
        CHECK(strcmp(rq.cmd, name) == 0);
        CHECK(rq.nargs == 1);
        ei_x_free(&x);
        name[LSQ_CMD_MAX - 1] = 'c';
        name[255] = 0;
        req_begin(&x, 7, name, 1);
        {
            int at = x.index;

            EI(ei_x_encode_atom(&x, "arg"));
            CHECK(parse(&x, &rq, &why) == 0);
            CHECK(rq.ref == 7 && rq.nargs == 1 && rq.idx == at);
        }
        CHECK(strcmp(rq.cmd, "(an atom of 255 bytes)") == 0);
        ei_x_free(&x);
    }
}

static void test_parse_request_bad(void)
{
    ei_x_buff x;
    lsq_request rq;
    const char *why;

    /* ref 0 */
    req_begin(&x, 0, "ping", 0);
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN); CHECK(why != NULL);
    ei_x_free(&x);
    /* negative refs */
    req_begin(&x, -1, "ping", 0);
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
    req_begin(&x, -100000, "ping", 0);
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
    /* 2^31 and beyond */
    req_begin(&x, 2147483648L, "ping", 0);
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_longlong(&x, INT64_MAX));
    EI(ei_x_encode_atom(&x, "ping"));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); xbig8(&x, 0, UINT64_MAX);
    EI(ei_x_encode_atom(&x, "ping"));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
    /* non-integer refs */
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "one"));
    EI(ei_x_encode_atom(&x, "ping"));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_double(&x, 5.0));
    EI(ei_x_encode_atom(&x, "ping"));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
    /* non-atom commands: the ref is still reported */
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_long(&x, 42));
    EI(ei_x_encode_binary(&x, "ping", 4));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == 42);
    CHECK(why != NULL && strstr(why, "atom") != NULL);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 3)); EI(ei_x_encode_long(&x, 100000));
    EI(ei_x_encode_string(&x, "ping")); EI(ei_x_encode_long(&x, 1));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == 100000);
    ei_x_free(&x);
    /* arity < 2 */
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 1)); EI(ei_x_encode_long(&x, 43));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == 43);
    CHECK(why != NULL && strstr(why, "short") != NULL);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 0));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
    /* not a tuple */
    xnew(&x); EI(ei_x_encode_list_header(&x, 2)); EI(ei_x_encode_long(&x, 5));
    EI(ei_x_encode_atom(&x, "ping")); EI(ei_x_encode_empty_list(&x));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    CHECK(why != NULL && strstr(why, "tuple") != NULL);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_atom(&x, "ping"));
    CHECK(parse(&x, &rq, &why) == -1); CHECK(rq.ref == LSQ_REF_UNKNOWN);
    ei_x_free(&x);
}

/* ======================================================================
 * 3. term_decode_value
 * ==================================================================== */

/* Decode the single value in x (after the version byte) with the port's
 * decoder; on success the whole frame must have been consumed. */
static int decode_one(const ei_x_buff *x, lsq_value *v, const char **why)
{
    const char *w = NULL;
    int idx = 1, rc;

    *why = NULL;
    if (tcheck(x->buff, (size_t)x->index, &w) != 0) return -2;
    memset(v, 0, sizeof *v);
    rc = term_decode_value(x->buff, &idx, v, why);
    if (rc == 0 && idx != x->index) return -3;
    if (rc != 0 && idx != 1) return -4; /* a failed decode leaves idx alone */
    return rc;
}

static void decode_ok_at(int line, ei_x_buff *x, lsq_value want)
{
    lsq_value got;
    const char *why;
    int rc = decode_one(x, &got, &why);

    CHECK_AT(line, rc == 0);
    if (rc == 0) check_value_at(line, &got, &want);
    else fprintf(stderr, "    rc %d (%s)\n", rc, why ? why : "-");
    ei_x_free(x);
}
#define DECODE_OK(x, want) decode_ok_at(__LINE__, (x), (want))

static void decode_bad_at(int line, ei_x_buff *x, const char *why_has)
{
    lsq_value got;
    const char *why;
    int rc = decode_one(x, &got, &why);

    CHECK_AT(line, rc == -1);
    CHECK_AT(line, why != NULL);
    if (why_has != NULL) CHECK_AT(line, why != NULL && strstr(why, why_has) != NULL);
    ei_x_free(x);
}
#define DECODE_BAD(x, why_has) decode_bad_at(__LINE__, (x), (why_has))

static void test_decode_value_ints(void)
{
    static const long long ints[] = { 0, 1, 255, 256, -1, -256, 2147483647LL, -2147483648LL,
                                      2147483648LL, -2147483649LL, 1LL << 40, INT64_MAX, INT64_MIN,
                                      INT64_MAX - 1, INT64_MIN + 1 };
    ei_x_buff x;
    size_t i;

    for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        xnew(&x); EI(ei_x_encode_longlong(&x, ints[i]));
        DECODE_OK(&x, vint(ints[i]));
    }
    /* hand-made SMALL_BIG_EXTs at and beyond the int64 edges */
    xnew(&x); xbig8(&x, 0, (uint64_t)INT64_MAX); DECODE_OK(&x, vint(INT64_MAX));
    xnew(&x); xbig8(&x, 1, (uint64_t)INT64_MAX + 1); DECODE_OK(&x, vint(INT64_MIN));
    xnew(&x); xbig8(&x, 0, (uint64_t)INT64_MAX + 1); DECODE_BAD(&x, "64-bit");   /* 2^63 */
    xnew(&x); xbig8(&x, 1, (uint64_t)INT64_MAX + 2); DECODE_BAD(&x, "64-bit");   /* -2^63-1 */
    xnew(&x); xbig8(&x, 0, UINT64_MAX); DECODE_BAD(&x, "64-bit");
    xnew(&x); xbig8(&x, 1, UINT64_MAX); DECODE_BAD(&x, "64-bit");
    {
        /* 9 magnitude bytes: 2^64 */
        static const unsigned char b9[] = { ERL_SMALL_BIG_EXT, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
        static const unsigned char lb[] = { ERL_LARGE_BIG_EXT, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

        xnew(&x); xraw(&x, b9, sizeof b9); DECODE_BAD(&x, NULL);
        xnew(&x); xraw(&x, lb, sizeof lb); DECODE_BAD(&x, NULL);
    }
}

static void test_decode_value_floats(void)
{
    ei_x_buff x;
    lsq_value got;
    const char *why;
    unsigned char old_float[32];

    xnew(&x); xfloat_bits(&x, dbl_bits(1.5)); DECODE_OK(&x, vreal(1.5));
    xnew(&x); xfloat_bits(&x, dbl_bits(0.0)); DECODE_OK(&x, vreal(0.0));
    xnew(&x); xfloat_bits(&x, dbl_bits(-0.0)); DECODE_OK(&x, vreal(-0.0));
    /* -0.0 must really be negative zero, not +0.0 */
    xnew(&x); xfloat_bits(&x, dbl_bits(-0.0));
    CHECK(decode_one(&x, &got, &why) == 0 && got.type == LSQ_REAL && signbit(got.u.r) &&
          dbl_bits(got.u.r) == 0x8000000000000000ULL);
    ei_x_free(&x);
    xnew(&x); xfloat_bits(&x, dbl_bits(1.0e308)); DECODE_OK(&x, vreal(1.0e308));
    xnew(&x); xfloat_bits(&x, dbl_bits(-1.0e308)); DECODE_OK(&x, vreal(-1.0e308));
    xnew(&x); xfloat_bits(&x, 1); DECODE_OK(&x, vreal(bits_dbl(1)));  /* smallest denormal */
    xnew(&x); EI(ei_x_encode_double(&x, 0.1)); DECODE_OK(&x, vreal(0.1));
    /* old FLOAT_EXT (31-byte text): refused by term_check */
    memset(old_float, 0, sizeof old_float);
    old_float[0] = ERL_FLOAT_EXT;
    (void)snprintf((char *)old_float + 1, 31, "%.20e", -2.5);
    xnew(&x); xraw(&x, old_float, sizeof old_float); CHECK(decode_one(&x, &got, &why) == -2);
    ei_x_free(&x);
    /* infinities as atoms, also in the old ATOM_EXT form */
    xnew(&x); EI(ei_x_encode_atom(&x, "infinity")); DECODE_OK(&x, vreal(INFINITY));
    xnew(&x); EI(ei_x_encode_atom(&x, "neg_infinity")); DECODE_OK(&x, vreal(-INFINITY));
    {
        static const unsigned char inf[] = { ERL_ATOM_EXT, 0, 8, 'i', 'n', 'f', 'i', 'n', 'i', 't', 'y' };

        xnew(&x); xraw(&x, inf, sizeof inf); DECODE_OK(&x, vreal(INFINITY));
    }
    /* NaN: quiet, signalling, negative; and a NaN spelled in an old float */
    xnew(&x); xfloat_bits(&x, 0x7ff8000000000000ULL); DECODE_BAD(&x, "NaN");
    xnew(&x); xfloat_bits(&x, 0x7ff0000000000001ULL); DECODE_BAD(&x, "NaN");
    xnew(&x); xfloat_bits(&x, 0xfff8000000000000ULL); DECODE_BAD(&x, "NaN");
    memset(old_float, 0, sizeof old_float);
    old_float[0] = ERL_FLOAT_EXT;
    memcpy(old_float + 1, "nan", 3);
    xnew(&x); xraw(&x, old_float, sizeof old_float); CHECK(decode_one(&x, &got, &why) == -2);
    ei_x_free(&x);
    /* the raw IEEE infinity bits are fine too (Erlang never sends them) */
    xnew(&x); xfloat_bits(&x, dbl_bits(INFINITY)); DECODE_OK(&x, vreal(INFINITY));
}

static void test_decode_value_text_blob(void)
{
    ei_x_buff x;
    lsq_value got;
    const char *why;
    char big[1000];
    size_t i;

    xnew(&x); EI(ei_x_encode_atom(&x, "null")); DECODE_OK(&x, vnull());
    xnew(&x); EI(ei_x_encode_binary(&x, "hello", 5)); DECODE_OK(&x, vtext("hello"));
    xnew(&x); EI(ei_x_encode_binary(&x, "a\0b\0", 4)); DECODE_OK(&x, vtextn("a\0b\0", 4));
    xnew(&x); EI(ei_x_encode_binary(&x, "", 0)); DECODE_OK(&x, vtextn("", 0));
    xnew(&x); EI(ei_x_encode_binary(&x, "\xc3\xa9\xe2\x9c\x93", 5)); DECODE_OK(&x, vtext("\xc3\xa9\xe2\x9c\x93"));
    for (i = 0; i < sizeof big; i++) big[i] = (char)(i * 7);
    xnew(&x); EI(ei_x_encode_binary(&x, big, (int)sizeof big)); DECODE_OK(&x, vtextn(big, sizeof big));
    /* text points into the frame, zero-copy */
    xnew(&x); EI(ei_x_encode_binary(&x, "zc", 2));
    {
        int idx = 1;

        CHECK(term_decode_value(x.buff, &idx, &got, &why) == 0);
        CHECK(got.u.s.p == x.buff + 6);
        CHECK(idx == x.index);
    }
    ei_x_free(&x);
    /* {blob, Bin} */
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "blob"));
    EI(ei_x_encode_binary(&x, "\0\1\2\xff", 4)); DECODE_OK(&x, vblob("\0\1\2\xff", 4));
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "blob"));
    EI(ei_x_encode_binary(&x, "", 0)); DECODE_OK(&x, vblob("", 0));
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "blob"));
    EI(ei_x_encode_binary(&x, big, (int)sizeof big)); DECODE_OK(&x, vblob(big, sizeof big));
    /* several values in a row: idx advances exactly over each */
    xnew(&x);
    EI(ei_x_encode_atom(&x, "null")); EI(ei_x_encode_long(&x, 70000));
    EI(ei_x_encode_binary(&x, "t", 1)); EI(ei_x_encode_tuple_header(&x, 2));
    EI(ei_x_encode_atom(&x, "blob")); EI(ei_x_encode_binary(&x, "b", 1));
    EI(ei_x_encode_double(&x, 2.0));
    {
        int idx = 1;
        lsq_value v;

        CHECK(term_decode_value(x.buff, &idx, &v, &why) == 0 && v.type == LSQ_NULL);
        CHECK(term_decode_value(x.buff, &idx, &v, &why) == 0 && v.type == LSQ_INT && v.u.i == 70000);
        CHECK(term_decode_value(x.buff, &idx, &v, &why) == 0 && v.type == LSQ_TEXT && v.u.s.n == 1);
        CHECK(term_decode_value(x.buff, &idx, &v, &why) == 0 && v.type == LSQ_BLOB && v.u.s.n == 1 &&
              v.u.s.p[0] == 'b');
        CHECK(term_decode_value(x.buff, &idx, &v, &why) == 0 && v.type == LSQ_REAL && v.u.r == 2.0);
        CHECK(idx == x.index);
    }
    ei_x_free(&x);
}

static void test_decode_value_unsupported(void)
{
    ei_x_buff x;
    lsq_value got;
    const char *why;
    static const unsigned char bits[] = { ERL_BIT_BINARY_EXT, 0, 0, 0, 1, 3, 0xe0 };

    xnew(&x); EI(ei_x_encode_atom(&x, "true")); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_atom(&x, "undefined")); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_atom(&x, "nan")); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_atom(&x, "blob")); DECODE_BAD(&x, "unsupported");
    /* 3-tuple {blob, <<>>, 1} */
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 3)); EI(ei_x_encode_atom(&x, "blob"));
    EI(ei_x_encode_binary(&x, "", 0)); EI(ei_x_encode_long(&x, 1)); DECODE_BAD(&x, "unsupported");
    /* {text, <<"a">>}, {blob, "abc"}, {blob, 5}, {<<"blob">>, <<>>}, {blob} */
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "text"));
    EI(ei_x_encode_binary(&x, "a", 1)); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "blob"));
    EI(ei_x_encode_string(&x, "abc")); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "blob"));
    EI(ei_x_encode_long(&x, 5)); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_binary(&x, "blob", 4));
    EI(ei_x_encode_binary(&x, "", 0)); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_tuple_header(&x, 1)); EI(ei_x_encode_atom(&x, "blob"));
    DECODE_BAD(&x, "unsupported");
    /* lists: [1], "abc" (STRING_EXT), [] */
    xnew(&x); EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_long(&x, 1));
    EI(ei_x_encode_empty_list(&x)); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_string(&x, "abc")); DECODE_BAD(&x, "unsupported");
    xnew(&x); EI(ei_x_encode_empty_list(&x)); DECODE_BAD(&x, "unsupported");
    /* map, bit string */
    xnew(&x); EI(ei_x_encode_map_header(&x, 0)); DECODE_BAD(&x, "unsupported");
    xnew(&x); xraw(&x, bits, sizeof bits); CHECK(decode_one(&x, &got, &why) == -2);
    ei_x_free(&x);
}

static void test_decode_helpers(void)
{
    ei_x_buff x;
    long long i;
    int b, idx;
    const char *p;
    size_t n;

    xnew(&x); EI(ei_x_encode_longlong(&x, -5000000000LL));
    idx = 1; CHECK(term_decode_int(x.buff, &idx, &i) == 0 && i == -5000000000LL && idx == x.index);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_atom(&x, "x"));
    idx = 1; CHECK(term_decode_int(x.buff, &idx, &i) == -1 && idx == 1);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_binary(&x, "abc", 3));
    idx = 1; CHECK(term_decode_binary(x.buff, &idx, &p, &n) == 0 && n == 3 && memcmp(p, "abc", 3) == 0);
    CHECK(idx == x.index);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_string(&x, "abc"));
    idx = 1; CHECK(term_decode_binary(x.buff, &idx, &p, &n) == -1 && idx == 1);
    ei_x_free(&x);
    xnew(&x); EI(ei_x_encode_atom(&x, "true")); EI(ei_x_encode_atom(&x, "false"));
    EI(ei_x_encode_atom(&x, "maybe")); EI(ei_x_encode_long(&x, 1));
    idx = 1;
    b = -1; CHECK(term_decode_bool(x.buff, &idx, &b) == 0 && b == 1);
    b = -1; CHECK(term_decode_bool(x.buff, &idx, &b) == 0 && b == 0);
    {
        int at = idx;

        CHECK(term_decode_bool(x.buff, &idx, &b) == -1 && idx == at);
        idx = at + 8; /* skip SMALL_ATOM_UTF8 "maybe" */
        CHECK(term_decode_bool(x.buff, &idx, &b) == -1);
    }
    ei_x_free(&x);
}

/* ======================================================================
 * 4. Encoding
 * ==================================================================== */

static void test_reply_begin_header(void)
{
    static const long refs[] = { 1, 255, 256, 65536, LSQ_REF_MAX, 0 };
    ei_x_buff x;
    size_t i;

    for (i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        const unsigned char *b;
        long ref = refs[i], got = -1;
        int idx = 0, ver, arity;
        char atom[MAXATOMLEN_UTF8];

        if (ei_x_new(&x) != 0) abort();
        EI(ei_x_encode_atom(&x, "junk already in the buffer")); /* must be discarded */
        CHECK(term_reply_begin(&x, ref, "ok") == 0);
        EI(ei_x_encode_atom(&x, "ok"));
        b = (const unsigned char *)x.buff;
        CHECK(x.index >= 8);
        CHECK(b[0] == 131 && b[1] == 104 && b[2] == 3 && b[3] == 98);
        CHECK(b[4] == ((ref >> 24) & 0xff) && b[5] == ((ref >> 16) & 0xff) &&
              b[6] == ((ref >> 8) & 0xff) && b[7] == (ref & 0xff));
        CHECK(be32(b + 4) == (uint32_t)ref);
        CHECK(ei_decode_version(x.buff, &idx, &ver) == 0 && ver == 131);
        CHECK(ei_decode_tuple_header(x.buff, &idx, &arity) == 0 && arity == 3);
        CHECK(ei_decode_long(x.buff, &idx, &got) == 0 && got == ref);
        CHECK(ei_decode_atom(x.buff, &idx, atom) == 0 && strcmp(atom, "ok") == 0);
        CHECK(ei_decode_atom(x.buff, &idx, atom) == 0 && strcmp(atom, "ok") == 0);
        CHECK(idx == x.index);
        {
            const char *why;
            CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0);
        }
        ei_x_free(&x);
    }
    /* the error tag */
    if (ei_x_new(&x) != 0) abort();
    CHECK(term_reply_begin(&x, 9, "error") == 0);
    {
        int idx = 8;
        char atom[MAXATOMLEN_UTF8];

        CHECK(ei_decode_atom(x.buff, &idx, atom) == 0 && strcmp(atom, "error") == 0);
        CHECK(idx == x.index);
    }
    ei_x_free(&x);
}

static void test_encode_value_roundtrip(void)
{
    static const char bytes[] = "\0\1\2\3\xff";
    lsq_value vals[20];
    int n = 0, i;

    vals[n++] = vnull();
    vals[n++] = vint(0);
    vals[n++] = vint(255);
    vals[n++] = vint(-1);
    vals[n++] = vint(2147483647LL);
    vals[n++] = vint(2147483648LL);
    vals[n++] = vint(-2147483649LL);
    vals[n++] = vint(INT64_MAX);
    vals[n++] = vint(INT64_MIN);
    vals[n++] = vreal(1.5);
    vals[n++] = vreal(-0.0);
    vals[n++] = vreal(1.0e308);
    vals[n++] = vreal(bits_dbl(1));
    vals[n++] = vreal(INFINITY);
    vals[n++] = vreal(-INFINITY);
    vals[n++] = vtext("text");
    vals[n++] = vtextn("a\0b", 3);
    vals[n++] = vtextn(NULL, 0);
    vals[n++] = vblob(bytes, 5);
    vals[n++] = vblob(NULL, 0);
    for (i = 0; i < n; i++) {
        ei_x_buff x;
        lsq_value got, back;
        lsq_value want = vals[i];
        const char *why;
        int idx = 1;

        if (want.u.s.p == NULL && (want.type == LSQ_TEXT || want.type == LSQ_BLOB)) want.u.s.p = "";
        xnew(&x);
        CHECK(term_encode_value(&x, &vals[i]) == 0);
        /* decoded by ei */
        CHECK(get_value(x.buff, &idx, &got) == 0);
        CHECK(idx == x.index);
        check_value_at(__LINE__, &got, &want);
        /* and by the port's own decoder */
        CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0);
        idx = 1;
        CHECK(term_decode_value(x.buff, &idx, &back, &why) == 0);
        check_value_at(__LINE__, &back, &want);
        ei_x_free(&x);
    }
    /* -0.0 keeps its sign bit through the encoder */
    {
        ei_x_buff x;
        lsq_value v = vreal(-0.0);
        double d = 1;
        int idx = 1;

        xnew(&x);
        CHECK(term_encode_value(&x, &v) == 0);
        CHECK((unsigned char)x.buff[1] == NEW_FLOAT_EXT);
        CHECK(ei_decode_double(x.buff, &idx, &d) == 0 && dbl_bits(d) == 0x8000000000000000ULL);
        ei_x_free(&x);
    }
    /* NaN (never produced by SQLite) is encoded as null, not as a NaN float */
    {
        ei_x_buff x;
        lsq_value v = vreal(bits_dbl(0x7ff8000000000000ULL)), got;
        int idx = 1;

        xnew(&x);
        CHECK(term_encode_value(&x, &v) == 0);
        CHECK(get_value(x.buff, &idx, &got) == 0 && got.type == LSQ_NULL);
        ei_x_free(&x);
    }
    /* term_encode_binary: size_t length, empty with NULL pointer */
    {
        ei_x_buff x;
        const char *p;
        size_t len;
        int idx = 1;

        xnew(&x);
        CHECK(term_encode_binary(&x, NULL, 0) == 0);
        CHECK(get_bin(x.buff, &idx, &p, &len) == 0 && len == 0 && idx == x.index);
        ei_x_free(&x);
    }
}

static void test_error_encode(void)
{
    lsq_error e;
    ei_x_buff x;
    reply r;
    char longmsg[2000];

    reply_init(&r);
    /* a client error: code and message only */
    lsq_error_set(&e, LSQ_E_BAD_ARGUMENT, "parameter %d: %s", 3, "bad");
    CHECK(e.extended_code == -1 && e.sql == NULL);
    if (ei_x_new(&x) != 0) abort();
    CHECK(reply_error(&x, 77, &e) == REPLY_ERROR);
    CHECK(reply_take(&r, &x) == 0);
    EXPECT_ERROR(&r, 77, "bad_argument");
    CHECK(r.msg_len == strlen("parameter 3: bad") && memcmp(r.msg, "parameter 3: bad", r.msg_len) == 0);
    CHECK(!r.has_ext && !r.has_sql);
    /* a SQLite error with extended code and statement */
    lsq_error_sqlite(&e, SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: t.x");
    e.sql = "INSERT INTO t VALUES (1)";
    e.sql_len = strlen(e.sql);
    if (ei_x_new(&x) != 0) abort();
    CHECK(reply_error(&x, LSQ_REF_MAX, &e) == REPLY_ERROR);
    CHECK(reply_take(&r, &x) == 0);
    EXPECT_ERROR(&r, LSQ_REF_MAX, "constraint");
    CHECK(r.has_ext && r.ext == 2067);
    EXPECT_SQL(&r, "INSERT INTO t VALUES (1)");
    EXPECT_MSG(&r, "UNIQUE constraint failed: t.x");
    /* NULL message: SQLite's text for the code */
    lsq_error_sqlite(&e, SQLITE_BUSY, NULL);
    CHECK(strcmp(e.code, "busy") == 0);
    CHECK(strlen(e.message) > 0);
    CHECK(e.extended_code == SQLITE_BUSY);
    /* messages are truncated, never overflowed */
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    lsq_error_set(&e, LSQ_E_BAD_FRAME, "%s", longmsg);
    CHECK(strlen(e.message) == LSQ_ERRMSG_MAX - 1);
    /* the code table */
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_ERROR), "error") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_READONLY), "readonly") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_CANTOPEN), "cantopen") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_CONSTRAINT_PRIMARYKEY), "constraint") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_INTERRUPT), "interrupted") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_IOERR_READ), "ioerr") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_ROW), "error") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(-1), "error") == 0);
    reply_free(&r);
}

/* ======================================================================
 * 5. commands_dispatch end to end
 * ==================================================================== */

static int kind_of(const lsq_request *r)
{
    return commands_kind(commands_find(r), r);
}

static void test_commands_kind(void)
{
    lsq_request rq;

    memset(&rq, 0, sizeof rq);
    strcpy(rq.cmd, "interrupt"); rq.nargs = 0; CHECK(kind_of(&rq) == CMD_CONTROL);
    strcpy(rq.cmd, "cancel"); rq.nargs = 1; CHECK(kind_of(&rq) == CMD_CONTROL);
    strcpy(rq.cmd, "cancel"); rq.nargs = 0; CHECK(kind_of(&rq) == CMD_WORKER);
    strcpy(rq.cmd, "interrupt"); rq.nargs = 1; CHECK(kind_of(&rq) == CMD_WORKER);
    strcpy(rq.cmd, "query"); rq.nargs = 2; CHECK(kind_of(&rq) == CMD_WORKER);
    strcpy(rq.cmd, "open"); rq.nargs = 1; CHECK(kind_of(&rq) == CMD_WORKER);
    strcpy(rq.cmd, "nosuch"); rq.nargs = 0; CHECK(kind_of(&rq) == CMD_WORKER);
}

/* The open reply is exactly {Ref, ok, #{mode => local}}. */
static void expect_open_ok_at(int line, const reply *r, long ref)
{
    const char *buf = r->x.buff;
    char atom[MAXATOMLEN_UTF8];
    int idx = r->idx, n = -1;

    CHECK_AT(line, r->valid && r->ok && r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    CHECK_AT(line, ei_decode_map_header(buf, &idx, &n) == 0 && n == 1);
    CHECK_AT(line, ei_decode_atom(buf, &idx, atom) == 0 && strcmp(atom, "mode") == 0);
    CHECK_AT(line, ei_decode_atom(buf, &idx, atom) == 0 && strcmp(atom, "local") == 0);
    CHECK_AT(line, idx == r->x.index);
}
#define EXPECT_OPEN_OK(r, ref) expect_open_ok_at(__LINE__, (r), (ref))

static void test_dispatch_open_close_ping(void)
{
    lsq_port p;
    reply r;
    static const char *const one[] = { "1" };
    lsq_value v1 = vint(1);

    port_init(&p);
    reply_init(&r);
    /* nothing open yet */
    SIMPLE(&p, &r, 1, "ping"); EXPECT_ERROR(&r, 1, "closed");
    QUERY(&p, &r, 2, "SELECT 1", NULL, 0); EXPECT_ERROR(&r, 2, "closed");
    EXEC(&p, &r, 3, "SELECT 1", NULL, 0); EXPECT_ERROR(&r, 3, "closed");
    SIMPLE(&p, &r, 4, "close"); EXPECT_OK_ATOM(&r, 4);
    commands_interrupt(&p); /* harmless with no connection */
    /* open */
    OPEN(&p, &r, 5, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 5);
    CHECK(p.conn != NULL && p.be == &lsq_backend_local);
    SIMPLE(&p, &r, 6, "ping"); EXPECT_OK_ATOM(&r, 6);
    EXEC(&p, &r, 7, "CREATE TABLE keep(x)", NULL, 0); EXPECT_EXEC(&r, 7, 0, 0);
    /* a second open is misuse and leaves the first connection alone */
    OPEN(&p, &r, 8, ":memory:", -1, -1); EXPECT_ERROR(&r, 8, "misuse");
    QUERY(&p, &r, 9, "SELECT count(*) FROM keep", NULL, 0);
    {
        lsq_value zero = vint(0);
        static const char *const cols[] = { "count(*)" };
        EXPECT_ROWS(&r, 9, 1, cols, 1, &zero);
    }
    /* close, then everything is closed */
    SIMPLE(&p, &r, 10, "close"); EXPECT_OK_ATOM(&r, 10);
    CHECK(p.conn == NULL && p.be == NULL);
    SIMPLE(&p, &r, 11, "ping"); EXPECT_ERROR(&r, 11, "closed");
    EXPECT_MSG(&r, "closed");
    QUERY(&p, &r, 12, "SELECT 1", NULL, 0); EXPECT_ERROR(&r, 12, "closed");
    SIMPLE(&p, &r, 13, "close"); EXPECT_OK_ATOM(&r, 13);
    /* and it can be opened again; the old :memory: database is gone */
    OPEN(&p, &r, 14, ":memory:", 0, 1); EXPECT_OPEN_OK(&r, 14);
    QUERY(&p, &r, 15, "SELECT 1", NULL, 0); EXPECT_ROWS(&r, 15, 1, one, 1, &v1);
    QUERY(&p, &r, 16, "SELECT * FROM keep", NULL, 0); EXPECT_ERROR(&r, 16, "error");
    EXPECT_MSG(&r, "no such table");
    /* commands_close_all closes it too */
    commands_close_all(&p);
    CHECK(p.conn == NULL);
    SIMPLE(&p, &r, 17, "ping"); EXPECT_ERROR(&r, 17, "closed");
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_value_roundtrip(void)
{
    static const char *const cols[] = { "a", "b", "c", "d", "e" };
    static const char *const types_cols[] = { "typeof(a)", "typeof(b)", "typeof(c)", "typeof(d)",
                                              "typeof(e)" };
    static const char blob1[] = { 0, (char)0xff, 1, 0 };
    lsq_value rows[4][5], types[5];
    lsq_port p;
    reply r;
    int i;

    port_init(&p);
    reply_init(&r);
    rows[0][0] = vint(INT64_MIN); rows[0][1] = vreal(-0.0); rows[0][2] = vtextn("a\0b", 3);
    rows[0][3] = vblob(blob1, sizeof blob1); rows[0][4] = vnull();
    rows[1][0] = vint(INT64_MAX); rows[1][1] = vreal(1.0e308); rows[1][2] = vtextn("", 0);
    rows[1][3] = vblob("", 0); rows[1][4] = vint(0);
    rows[2][0] = vint(-1); rows[2][1] = vreal(INFINITY); rows[2][2] = vtext("h\xc3\xa9llo \xe2\x9c\x93");
    rows[2][3] = vreal(-INFINITY); rows[2][4] = vreal(2.5);
    rows[3][0] = vint(2147483648LL); rows[3][1] = vreal(bits_dbl(1)); rows[3][2] = vint(-2147483649LL);
    rows[3][3] = vreal(0.1); rows[3][4] = vtext("null");

    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    /* untyped columns: SQLite stores each value as given */
    EXEC(&p, &r, 2, "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b, c, d, e)", NULL, 0);
    EXPECT_EXEC(&r, 2, 0, 0);
    for (i = 0; i < 4; i++) {
        EXEC(&p, &r, 10 + i, "INSERT INTO t(a, b, c, d, e) VALUES (?, ?, ?, ?, ?)", rows[i], 5);
        EXPECT_EXEC(&r, 10 + i, 1, i + 1);
    }
    QUERY(&p, &r, 20, "SELECT a, b, c, d, e FROM t ORDER BY id", NULL, 0);
    EXPECT_ROWS(&r, 20, 5, cols, 4, &rows[0][0]);
    /* storage classes are right: text stays text, blob stays blob */
    types[0] = vtext("integer"); types[1] = vtext("real"); types[2] = vtext("text");
    types[3] = vtext("blob"); types[4] = vtext("null");
    QUERY(&p, &r, 21, "SELECT typeof(a), typeof(b), typeof(c), typeof(d), typeof(e) FROM t WHERE id = 1",
          NULL, 0);
    EXPECT_ROWS(&r, 21, 5, types_cols, 1, types);
    {
        static const char *const lcols[] = { "length(c)", "length(d)" };
        lsq_value lens[2];

        lens[0] = vint(1); /* length() of text stops at the NUL... */
        lens[1] = vint(4); /* ...of a blob counts bytes */
        QUERY(&p, &r, 22, "SELECT length(c), length(d) FROM t WHERE id = 1", NULL, 0);
        EXPECT_ROWS(&r, 22, 2, lcols, 1, lens);
    }
    /* values straight through a SELECT, no storage involved */
    {
        static const char *const qcols[] = { "?", "?", "?", "?", "?" };

        for (i = 0; i < 4; i++) {
            QUERY(&p, &r, 30 + i, "SELECT ?, ?, ?, ?, ?", rows[i], 5);
            EXPECT_ROWS(&r, 30 + i, 5, qcols, 1, rows[i]);
        }
    }
    /* a query with no rows still names its columns */
    QUERY(&p, &r, 40, "SELECT a, b, c, d, e FROM t WHERE id > 100", NULL, 0);
    EXPECT_ROWS(&r, 40, 5, cols, 0, NULL);
    /* a query of a statement without columns */
    QUERY(&p, &r, 41, "CREATE TABLE t2(x)", NULL, 0);
    EXPECT_ROWS(&r, 41, 0, NULL, 0, NULL);
    /* many rows */
    QUERY(&p, &r, 42, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
                      "SELECT x FROM c", NULL, 0);
    {
        lsq_value want[1000];
        static const char *const xc[] = { "x" };

        for (i = 0; i < 1000; i++) want[i] = vint(i + 1);
        EXPECT_ROWS(&r, 42, 1, xc, 1000, want);
    }
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_changes(void)
{
    static const char *const cnt[] = { "count(*)" };
    lsq_port p;
    reply r;
    lsq_value v;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE c(x)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    v = vint(1);
    EXEC(&p, &r, 3, "INSERT INTO c VALUES (?)", &v, 1); EXPECT_EXEC(&r, 3, 1, 1);
    /* a SELECT right after the INSERT changed nothing */
    EXEC(&p, &r, 4, "SELECT 1", NULL, 0); EXPECT_EXEC(&r, 4, 0, 1);
    EXEC(&p, &r, 5, "SELECT x FROM c", NULL, 0); EXPECT_EXEC(&r, 5, 0, 1);
    EXEC(&p, &r, 6, "INSERT INTO c VALUES (2), (3)", NULL, 0); EXPECT_EXEC(&r, 6, 2, 3);
    EXEC(&p, &r, 7, "UPDATE c SET x = x + 10", NULL, 0); EXPECT_EXEC(&r, 7, 3, 3);
    EXEC(&p, &r, 8, "UPDATE c SET x = 0 WHERE x < 0", NULL, 0); EXPECT_EXEC(&r, 8, 0, 3);
    EXEC(&p, &r, 9, "CREATE INDEX ci ON c(x)", NULL, 0); EXPECT_EXEC(&r, 9, 0, 3);
    EXEC(&p, &r, 10, "DELETE FROM c WHERE x = 11", NULL, 0); EXPECT_EXEC(&r, 10, 1, 3);
    EXEC(&p, &r, 11, "DELETE FROM c WHERE x = 11", NULL, 0); EXPECT_EXEC(&r, 11, 0, 3);
    EXEC(&p, &r, 12, "", NULL, 0); EXPECT_EXEC(&r, 12, 0, 3);
    v = vint(2);
    QUERY(&p, &r, 13, "SELECT count(*) FROM c", NULL, 0); EXPECT_ROWS(&r, 13, 1, cnt, 1, &v);
    /* query of a write runs it, and returns no rows */
    QUERY(&p, &r, 14, "INSERT INTO c VALUES (99)", NULL, 0); EXPECT_ROWS(&r, 14, 0, NULL, 0, NULL);
    v = vint(3);
    QUERY(&p, &r, 15, "SELECT count(*) FROM c", NULL, 0); EXPECT_ROWS(&r, 15, 1, cnt, 1, &v);
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_named_params(void)
{
    static const char *const abc[] = { "a", "b", "c" };
    lsq_port p;
    reply r;
    lsq_value v[3], rows[2][3];

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE n(a, b, c)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    {
        /* bare names bind :a, @b and $c */
        static const char *const names[] = { "a", "b", "c" };
        ei_x_buff x;

        rows[0][0] = vint(1); rows[0][1] = vtext("two"); rows[0][2] = vreal(3.5);
        req_named(&x, 3, "execute", "INSERT INTO n VALUES (:a, @b, $c)", names, rows[0], 3);
        CALL(&p, &x, &r);
        EXPECT_EXEC(&r, 3, 1, 1);
    }
    {
        /* prefixed names, in another order */
        static const char *const names[] = { "$c", ":a", "@b" };
        ei_x_buff x;

        rows[1][0] = vint(4); rows[1][1] = vnull(); rows[1][2] = vblob("\0\1", 2);
        v[0] = rows[1][2]; v[1] = rows[1][0]; v[2] = rows[1][1];
        req_named(&x, 4, "execute", "INSERT INTO n VALUES (:a, @b, $c)", names, v, 3);
        CALL(&p, &x, &r);
        EXPECT_EXEC(&r, 4, 1, 2);
    }
    QUERY(&p, &r, 5, "SELECT a, b, c FROM n ORDER BY rowid", NULL, 0);
    EXPECT_ROWS(&r, 5, 3, abc, 2, &rows[0][0]);
    {
        static const char *const names[] = { "a", ":b" };
        static const char *const cols[] = { ":a", ":b" };

        v[0] = vint(1); v[1] = vint(2);
        QNAMED(&p, &r, 6, "SELECT :a, :b", names, v, 2);
        EXPECT_ROWS(&r, 6, 2, cols, 1, v);
    }
    {
        static const char *const names[] = { "y", "x" };
        static const char *const cols[] = { "@x", "$y" };
        lsq_value want[2];

        v[0] = vtext("Y"); v[1] = vtext("X");
        want[0] = v[1]; want[1] = v[0];
        QNAMED(&p, &r, 7, "SELECT @x, $y", names, v, 2);
        EXPECT_ROWS(&r, 7, 2, cols, 1, want);
    }
    {
        /* one name used twice in the text binds once */
        static const char *const names[] = { "@a" };
        static const char *const cols[] = { "@a", "@a + 1" };
        lsq_value want[2];

        v[0] = vint(7);
        want[0] = vint(7); want[1] = vint(8);
        QNAMED(&p, &r, 8, "SELECT @a, @a + 1", names, v, 1);
        EXPECT_ROWS(&r, 8, 2, cols, 1, want);
    }
    {
        static const char *const cols[] = { "1" };

        v[0] = vint(1);
        QNAMED(&p, &r, 9, "SELECT 1", NULL, NULL, 0);
        EXPECT_ROWS(&r, 9, 1, cols, 1, v);
    }
    {
        /* a positional list binds named parameters by index; ?NNN too */
        static const char *const cols[] = { ":a", "@b" };
        static const char *const cols2[] = { "?2", "?1" };
        lsq_value want[2];

        v[0] = vint(1); v[1] = vint(2);
        QUERY(&p, &r, 10, "SELECT :a, @b", v, 2);
        EXPECT_ROWS(&r, 10, 2, cols, 1, v);
        want[0] = vint(2); want[1] = vint(1);
        QUERY(&p, &r, 11, "SELECT ?2, ?1", v, 2);
        EXPECT_ROWS(&r, 11, 2, cols2, 1, want);
    }
    {
        /* [1,2,3] arrives as a STRING_EXT */
        static const char *const cols[] = { "?", "?", "?" };
        ei_x_buff x;
        lsq_value want[3];

        req_begin(&x, 12, "query", 2);
        EI(ei_x_encode_binary(&x, "SELECT ?, ?, ?", 14));
        EI(ei_x_encode_string_len(&x, "\1\0\xff", 3));
        CHECK((unsigned char)x.buff[x.index - 6] == ERL_STRING_EXT);
        CALL(&p, &x, &r);
        want[0] = vint(1); want[1] = vint(0); want[2] = vint(255);
        EXPECT_ROWS(&r, 12, 3, cols, 1, want);
    }
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_param_errors(void)
{
    lsq_port p;
    reply r;
    lsq_value v[3];
    ei_x_buff x;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    /* wrong counts */
    v[0] = vint(1); v[1] = vint(2);
    QUERY(&p, &r, 2, "SELECT ?, ?", v, 1);
    EXPECT_ERROR(&r, 2, "bad_argument"); EXPECT_MSG(&r, "2 parameters, 1 given");
    EXPECT_SQL(&r, "SELECT ?, ?");
    QUERY(&p, &r, 3, "SELECT ?", v, 2); EXPECT_ERROR(&r, 3, "bad_argument");
    EXPECT_MSG(&r, "1 parameter, 2 given");
    QUERY(&p, &r, 4, "SELECT ?", NULL, 0); EXPECT_ERROR(&r, 4, "bad_argument");
    EXEC(&p, &r, 5, "SELECT 1", v, 1); EXPECT_ERROR(&r, 5, "bad_argument");
    /* unknown, missing, duplicate named parameters */
    {
        static const char *const names[] = { "a", "zz" };
        QNAMED(&p, &r, 6, "SELECT :a", names, v, 2);
        EXPECT_ERROR(&r, 6, "bad_argument"); EXPECT_MSG(&r, "unknown parameter zz");
        EXPECT_SQL(&r, "SELECT :a");
    }
    {
        static const char *const names[] = { "a" };
        QNAMED(&p, &r, 7, "SELECT :a, :b", names, v, 1);
        EXPECT_ERROR(&r, 7, "bad_argument"); EXPECT_MSG(&r, "missing"); EXPECT_MSG(&r, ":b");
    }
    {
        static const char *const names[] = { "a", ":a" };
        QNAMED(&p, &r, 8, "SELECT :a", names, v, 2);
        EXPECT_ERROR(&r, 8, "bad_argument"); EXPECT_MSG(&r, "more than once");
    }
    {
        /* a prefixed name binds only that parameter */
        static const char *const names[] = { ":a" };
        QNAMED(&p, &r, 9, "SELECT @a", names, v, 1);
        EXPECT_ERROR(&r, 9, "bad_argument"); EXPECT_MSG(&r, ":a");
    }
    {
        static const char *const names[] = { "a" };
        QNAMED(&p, &r, 10, "SELECT ?, :a", names, v, 1);
        EXPECT_ERROR(&r, 10, "bad_argument"); EXPECT_MSG(&r, "positional");
    }
    {
        static const char *const names[] = { "" };
        QNAMED(&p, &r, 11, "SELECT :a", names, v, 1);
        EXPECT_ERROR(&r, 11, "bad_argument");
    }
    /* unsupported values */
    req_begin(&x, 12, "query", 2); EI(ei_x_encode_binary(&x, "SELECT ?", 8));
    EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_atom(&x, "foo")); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 12, "bad_argument"); EXPECT_MSG(&r, "parameter 1");
    EXPECT_SQL(&r, "SELECT ?");
    req_begin(&x, 13, "query", 2); EI(ei_x_encode_binary(&x, "SELECT ?, ?", 11));
    EI(ei_x_encode_list_header(&x, 2)); EI(ei_x_encode_long(&x, 1));
    xfloat_bits(&x, 0x7ff8000000000000ULL); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 13, "bad_argument"); EXPECT_MSG(&r, "parameter 2");
    EXPECT_MSG(&r, "NaN");
    req_begin(&x, 14, "query", 2); EI(ei_x_encode_binary(&x, "SELECT ?", 8));
    EI(ei_x_encode_list_header(&x, 1)); xbig8(&x, 0, (uint64_t)1 << 63); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 14, "bad_argument"); EXPECT_MSG(&r, "parameter 1");
    EXPECT_MSG(&r, "64-bit");
    {
        static const char *const names[] = { "a" };

        req_begin(&x, 15, "query", 2); EI(ei_x_encode_binary(&x, "SELECT :a", 9));
        EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "named"));
        EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_tuple_header(&x, 2));
        EI(ei_x_encode_binary(&x, names[0], 1)); EI(ei_x_encode_atom(&x, "true"));
        EI(ei_x_encode_empty_list(&x));
        CALL(&p, &x, &r); EXPECT_ERROR(&r, 15, "bad_argument"); EXPECT_MSG(&r, "parameter a");
    }
    /* malformed parameter containers */
    req_begin(&x, 16, "query", 2); EI(ei_x_encode_binary(&x, "SELECT ?", 8)); EI(ei_x_encode_atom(&x, "foo"));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 16, "bad_argument");
    req_begin(&x, 17, "query", 2); EI(ei_x_encode_binary(&x, "SELECT ?", 8));
    EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_long(&x, 1)); EI(ei_x_encode_long(&x, 2));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 17, "bad_argument"); /* improper list [1|2] */
    req_begin(&x, 18, "query", 2); EI(ei_x_encode_binary(&x, "SELECT :a", 9));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "named"));
    EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_tuple_header(&x, 2));
    EI(ei_x_encode_atom(&x, "a")); EI(ei_x_encode_long(&x, 1)); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 18, "bad_argument"); /* name must be a binary */
    req_begin(&x, 19, "query", 2); EI(ei_x_encode_binary(&x, "SELECT :a", 9));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "positional"));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 19, "bad_argument");
    /* SQL must be a binary */
    req_begin(&x, 20, "query", 2); EI(ei_x_encode_atom(&x, "select")); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 20, "bad_argument"); EXPECT_MSG(&r, "binary");
    req_begin(&x, 21, "execute", 2); EI(ei_x_encode_string(&x, "SELECT 1")); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 21, "bad_argument");
    /* the connection is still fine */
    {
        static const char *const cols[] = { "42" };
        lsq_value want = vint(42);
        QUERY(&p, &r, 22, "SELECT 42", NULL, 0); EXPECT_ROWS(&r, 22, 1, cols, 1, &want);
    }
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_sql_errors(void)
{
    static const char *const one[] = { "1" };
    lsq_port p;
    reply r;
    lsq_value v;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    QUERY(&p, &r, 2, "SELEC 1", NULL, 0);
    EXPECT_ERROR(&r, 2, "error"); CHECK(r.has_ext && r.ext == SQLITE_ERROR);
    EXPECT_MSG(&r, "syntax error"); EXPECT_SQL(&r, "SELEC 1");
    EXEC(&p, &r, 3, "SELECT * FROM nosuch", NULL, 0);
    EXPECT_ERROR(&r, 3, "error"); CHECK(r.has_ext); EXPECT_MSG(&r, "no such table");
    EXPECT_SQL(&r, "SELECT * FROM nosuch");
    /* a runtime error (not at prepare) also carries the statement */
    QUERY(&p, &r, 4, "SELECT abs(-9223372036854775807 - 1)", NULL, 0);
    EXPECT_ERROR(&r, 4, "error"); EXPECT_MSG(&r, "overflow");
    EXPECT_SQL(&r, "SELECT abs(-9223372036854775807 - 1)");
    /* two statements */
    QUERY(&p, &r, 5, "SELECT 1; SELECT 2", NULL, 0);
    EXPECT_ERROR(&r, 5, "bad_argument"); EXPECT_SQL(&r, "SELECT 1; SELECT 2");
    EXEC(&p, &r, 6, "CREATE TABLE a(x); CREATE TABLE b(x)", NULL, 0);
    EXPECT_ERROR(&r, 6, "bad_argument");
    v = vint(0);
    {
        static const char *const cols[] = { "count(*)" };
        QUERY(&p, &r, 7, "SELECT count(*) FROM sqlite_master", NULL, 0); /* nothing ran */
        EXPECT_ROWS(&r, 7, 1, cols, 1, &v);
    }
    /* trailing noise is fine */
    v = vint(1);
    QUERY(&p, &r, 8, "SELECT 1;", NULL, 0); EXPECT_ROWS(&r, 8, 1, one, 1, &v);
    QUERY(&p, &r, 9, "SELECT 1 ; -- trailing comment\n ; /* more */ ;\n\t", NULL, 0);
    EXPECT_ROWS(&r, 9, 1, one, 1, &v);
    /* no statement at all */
    QUERY(&p, &r, 10, "", NULL, 0); EXPECT_ROWS(&r, 10, 0, NULL, 0, NULL);
    QUERY(&p, &r, 11, "  -- nothing here\n", NULL, 0); EXPECT_ROWS(&r, 11, 0, NULL, 0, NULL);
    QUERY(&p, &r, 12, ";", NULL, 0); EXPECT_ROWS(&r, 12, 0, NULL, 0, NULL);
    EXEC(&p, &r, 13, "", NULL, 0); EXPECT_EXEC(&r, 13, 0, 0);
    QUERY(&p, &r, 14, "", &v, 1); EXPECT_ERROR(&r, 14, "bad_argument");
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_constraint(void)
{
    static const char *const ins = "INSERT INTO u VALUES (?, ?, ?)";
    lsq_port p;
    reply r;
    lsq_value v[3];

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE u(id INTEGER PRIMARY KEY, x UNIQUE, y NOT NULL)", NULL, 0);
    EXPECT_EXEC(&r, 2, 0, 0);
    v[0] = vint(1); v[1] = vint(10); v[2] = vint(0);
    EXEC(&p, &r, 3, ins, v, 3); EXPECT_EXEC(&r, 3, 1, 1);
    v[0] = vint(2);
    EXEC(&p, &r, 4, ins, v, 3);
    EXPECT_ERROR(&r, 4, "constraint"); CHECK(r.has_ext && r.ext == 2067);
    EXPECT_MSG(&r, "UNIQUE"); EXPECT_SQL(&r, ins);
    v[0] = vint(1); v[1] = vint(11);
    EXEC(&p, &r, 5, ins, v, 3);
    EXPECT_ERROR(&r, 5, "constraint"); CHECK(r.has_ext && r.ext == 1555);
    v[0] = vint(3); v[1] = vint(12); v[2] = vnull();
    EXEC(&p, &r, 6, ins, v, 3);
    EXPECT_ERROR(&r, 6, "constraint"); CHECK(r.has_ext && r.ext == SQLITE_CONSTRAINT_NOTNULL);
    /* a text primary key conflict is also 1555 */
    EXEC(&p, &r, 7, "CREATE TABLE k(name TEXT PRIMARY KEY)", NULL, 0);
    EXPECT_EXEC(&r, 7, 0, 1); /* last_insert_rowid is still u's row 1 */
    v[0] = vtext("a");
    EXEC(&p, &r, 8, "INSERT INTO k VALUES (?)", v, 1); EXPECT_EXEC(&r, 8, 1, 1);
    EXEC(&p, &r, 9, "INSERT INTO k VALUES (?)", v, 1);
    EXPECT_ERROR(&r, 9, "constraint"); CHECK(r.has_ext && r.ext == 1555);
    /* nothing was written by the failed statements */
    {
        static const char *const cols[] = { "count(*)" };
        lsq_value one = vint(1);
        QUERY(&p, &r, 10, "SELECT count(*) FROM u", NULL, 0); EXPECT_ROWS(&r, 10, 1, cols, 1, &one);
    }
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_bad_frames(void)
{
    lsq_port p;
    reply r;
    ei_x_buff x;

    port_init(&p);
    reply_init(&r);
    SIMPLE(&p, &r, 5, "frobnicate"); EXPECT_ERROR(&r, 5, "bad_frame"); EXPECT_MSG(&r, "frobnicate");
    SIMPLE(&p, &r, LSQ_REF_MAX, "frobnicate"); EXPECT_ERROR(&r, LSQ_REF_MAX, "bad_frame");
    CHECK(r.valid && (unsigned char)r.x.buff[4] == 0x7f && (unsigned char)r.x.buff[7] == 0xff);
    req_begin(&x, 6, "ping", 1); EI(ei_x_encode_atom(&x, "extra"));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 6, "bad_frame");
    req_begin(&x, 7, "query", 1); EI(ei_x_encode_binary(&x, "SELECT 1", 8));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 7, "bad_frame"); EXPECT_MSG(&r, "takes 2 arguments, 1 given");
    SIMPLE(&p, &r, 8, "open"); EXPECT_ERROR(&r, 8, "bad_frame");
    req_begin(&x, 9, "close", 1); EI(ei_x_encode_long(&x, 1));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 9, "bad_frame");
    req_begin(&x, 10, "execute", 3); EI(ei_x_encode_binary(&x, "S", 1));
    EI(ei_x_encode_empty_list(&x)); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 10, "bad_frame");
    /* control commands are not run by dispatch */
    SIMPLE(&p, &r, 11, "interrupt"); EXPECT_ERROR(&r, 11, "bad_frame");
    /* the port is still closed and usable */
    SIMPLE(&p, &r, 12, "ping"); EXPECT_ERROR(&r, 12, "closed");
    OPEN(&p, &r, 13, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 13);
    SIMPLE(&p, &r, 14, "nosuch"); EXPECT_ERROR(&r, 14, "bad_frame");
    {
        char name[200];

        memset(name, 'q', sizeof name - 1);
        name[sizeof name - 1] = 0;
        SIMPLE(&p, &r, 16, name); EXPECT_ERROR(&r, 16, "bad_frame");
        EXPECT_MSG(&r, "unknown command (an atom of 199 bytes)");
    }
    SIMPLE(&p, &r, 15, "ping"); EXPECT_OK_ATOM(&r, 15);
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_open_options(void)
{
    lsq_port p;
    reply r;
    ei_x_buff x;

    port_init(&p);
    reply_init(&r);
    req_begin(&x, 1, "open", 1); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 1, "bad_argument"); EXPECT_MSG(&r, "path");
    req_begin(&x, 2, "open", 1); EI(ei_x_encode_list_header(&x, 2));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path")); EI(ei_x_encode_binary(&x, ":memory:", 8));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "bogus")); EI(ei_x_encode_long(&x, 1));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 2, "bad_argument"); EXPECT_MSG(&r, "bogus");
    req_begin(&x, 3, "open", 1); EI(ei_x_encode_list_header(&x, 1));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path")); EI(ei_x_encode_string(&x, "x.db"));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 3, "bad_argument"); EXPECT_MSG(&r, "path");
    req_begin(&x, 4, "open", 1); EI(ei_x_encode_list_header(&x, 2));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path")); EI(ei_x_encode_binary(&x, ":memory:", 8));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "read_only")); EI(ei_x_encode_atom(&x, "maybe"));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 4, "bad_argument"); EXPECT_MSG(&r, "read_only");
    req_begin(&x, 5, "open", 1); EI(ei_x_encode_list_header(&x, 2));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path")); EI(ei_x_encode_binary(&x, ":memory:", 8));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "busy_timeout")); EI(ei_x_encode_long(&x, -1));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 5, "bad_argument"); EXPECT_MSG(&r, "busy_timeout");
    req_begin(&x, 6, "open", 1); EI(ei_x_encode_atom(&x, "foo"));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 6, "bad_argument");
    req_begin(&x, 7, "open", 1); EI(ei_x_encode_list_header(&x, 1));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path")); EI(ei_x_encode_binary(&x, "a\0b", 3));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 7, "bad_argument"); EXPECT_MSG(&r, "NUL");
    req_begin(&x, 8, "open", 1); EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_atom(&x, "path"));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 8, "bad_argument");
    /* an improper option list */
    req_begin(&x, 9, "open", 1); EI(ei_x_encode_list_header(&x, 1));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path")); EI(ei_x_encode_binary(&x, ":memory:", 8));
    EI(ei_x_encode_atom(&x, "tail"));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 9, "bad_argument");
    CHECK(p.conn == NULL);
    SIMPLE(&p, &r, 10, "ping"); EXPECT_ERROR(&r, 10, "closed");
    /* every option at once */
    req_begin(&x, 11, "open", 1); EI(ei_x_encode_list_header(&x, 4));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "busy_timeout")); EI(ei_x_encode_long(&x, 100));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "create")); EI(ei_x_encode_atom(&x, "true"));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "read_only")); EI(ei_x_encode_atom(&x, "false"));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path")); EI(ei_x_encode_binary(&x, ":memory:", 8));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_OPEN_OK(&r, 11);
    SIMPLE(&p, &r, 12, "ping"); EXPECT_OK_ATOM(&r, 12);
    reply_free(&r);
    port_fini(&p);
}

static void test_dispatch_files(void)
{
    static const char *const files[] = { "db.sqlite", "missing.db", "created.db" };
    static const char *const xc[] = { "x" };
    char db[128], missing[128], created[128];
    lsq_port p;
    reply r;
    tmpdir t;
    lsq_value v = vint(1);

    if (tmpdir_make(&t) != 0) {
        CHECK(!"mkdtemp failed");
        return;
    }
    strcpy(db, tmpdir_file(&t, files[0]));
    strcpy(missing, tmpdir_file(&t, files[1]));
    strcpy(created, tmpdir_file(&t, files[2]));
    port_init(&p);
    reply_init(&r);
    /* create and fill a file */
    OPEN(&p, &r, 1, db, -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE f(x)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    EXEC(&p, &r, 3, "INSERT INTO f VALUES (?)", &v, 1); EXPECT_EXEC(&r, 3, 1, 1);
    SIMPLE(&p, &r, 4, "close"); EXPECT_OK_ATOM(&r, 4);
    CHECK(file_exists(db));
    /* read-only: reads work, writes fail with readonly */
    OPEN(&p, &r, 5, db, 1, -1); EXPECT_OPEN_OK(&r, 5);
    QUERY(&p, &r, 6, "SELECT x FROM f", NULL, 0); EXPECT_ROWS(&r, 6, 1, xc, 1, &v);
    EXEC(&p, &r, 7, "INSERT INTO f VALUES (2)", NULL, 0);
    EXPECT_ERROR(&r, 7, "readonly"); CHECK(r.has_ext && (r.ext & 0xff) == SQLITE_READONLY);
    EXPECT_SQL(&r, "INSERT INTO f VALUES (2)");
    EXEC(&p, &r, 8, "CREATE TABLE g(y)", NULL, 0); EXPECT_ERROR(&r, 8, "readonly");
    SIMPLE(&p, &r, 9, "close"); EXPECT_OK_ATOM(&r, 9);
    /* the file was not changed */
    OPEN(&p, &r, 10, db, -1, 0); EXPECT_OPEN_OK(&r, 10);
    QUERY(&p, &r, 11, "SELECT x FROM f", NULL, 0); EXPECT_ROWS(&r, 11, 1, xc, 1, &v);
    SIMPLE(&p, &r, 12, "close"); EXPECT_OK_ATOM(&r, 12);
    /* create = false on a missing file: cantopen, and no file appears */
    OPEN(&p, &r, 13, missing, 0, 0);
    EXPECT_ERROR(&r, 13, "cantopen"); CHECK(r.has_ext && (r.ext & 0xff) == SQLITE_CANTOPEN);
    CHECK(!file_exists(missing));
    CHECK(p.conn == NULL);
    SIMPLE(&p, &r, 14, "ping"); EXPECT_ERROR(&r, 14, "closed");
    /* read_only on a missing file: cantopen (create is ignored) */
    OPEN(&p, &r, 15, missing, 1, 1); EXPECT_ERROR(&r, 15, "cantopen");
    CHECK(!file_exists(missing));
    /* a directory that does not exist */
    OPEN(&p, &r, 16, "/nonexistent-dir-for-libsql-test/x.db", -1, -1); EXPECT_ERROR(&r, 16, "cantopen");
    /* default create = true */
    OPEN(&p, &r, 17, created, -1, -1); EXPECT_OPEN_OK(&r, 17);
    EXEC(&p, &r, 18, "CREATE TABLE c(x)", NULL, 0); EXPECT_EXEC(&r, 18, 0, 0);
    SIMPLE(&p, &r, 19, "close"); EXPECT_OK_ATOM(&r, 19);
    CHECK(file_exists(created));
    reply_free(&r);
    port_fini(&p);
    tmpdir_remove(&t, files, 3);
}

static void test_dispatch_big_blob(void)
{
    static const char *const cols[] = { "x", "length(x)", "typeof(x)" };
    const size_t size = 10u * 1024u * 1024u;
    char *blob = malloc(size);
    lsq_port p;
    reply r;
    lsq_value v, want[3];
    size_t i;

    if (blob == NULL) abort();
    for (i = 0; i < size; i++) blob[i] = (char)((i * 31 + 7) ^ (i >> 13));
    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE b(x)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    v = vblob(blob, size);
    EXEC(&p, &r, 3, "INSERT INTO b VALUES (?)", &v, 1); EXPECT_EXEC(&r, 3, 1, 1);
    QUERY(&p, &r, 4, "SELECT x, length(x), typeof(x) FROM b", NULL, 0);
    want[0] = v; want[1] = vint((long long)size); want[2] = vtext("blob");
    EXPECT_ROWS(&r, 4, 3, cols, 1, want);
    /* and as text */
    {
        static const char *const tcols[] = { "?" };
        lsq_value t = vtextn(blob, size);

        QUERY(&p, &r, 5, "SELECT ?", &t, 1);
        EXPECT_ROWS(&r, 5, 1, tcols, 1, &t);
    }
    reply_free(&r);
    port_fini(&p);
    free(blob);
}

typedef struct query_job {
    lsq_port *p;
    reply r;
    atomic_int done;
} query_job;

static const char *const k_forever =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM (SELECT x FROM c LIMIT 4000000000)";

static void *query_thread(void *arg)
{
    query_job *j = arg;

    QUERY(j->p, &j->r, 2, k_forever, NULL, 0);
    atomic_store(&j->done, 1);
    return NULL;
}

static void test_dispatch_interrupt(void)
{
    static const char *const one[] = { "1" };
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    lsq_value v1 = vint(1);
    query_job j;
    pthread_t th;
    reply r;
    lsq_port p;
    int i;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    j.p = &p;
    reply_init(&j.r);
    atomic_init(&j.done, 0);
    if (pthread_create(&th, NULL, query_thread, &j) != 0) {
        CHECK(!"pthread_create");
        port_fini(&p);
        return;
    }
    /* keep interrupting until the query gives up (it cannot finish alone) */
    for (i = 0; i < 6000 && !atomic_load(&j.done); i++) {
        commands_interrupt(&p);
        nanosleep(&ts, NULL);
    }
    CHECK(pthread_join(th, NULL) == 0);
    EXPECT_ERROR(&j.r, 2, "interrupted");
    CHECK(j.r.has_ext && (j.r.ext & 0xff) == SQLITE_INTERRUPT);
    EXPECT_SQL(&j.r, k_forever);
    /* the connection is usable afterwards */
    QUERY(&p, &r, 3, "SELECT 1", NULL, 0); EXPECT_ROWS(&r, 3, 1, one, 1, &v1);
    reply_free(&j.r);
    reply_free(&r);
    port_fini(&p);
}

/* The whole path of main.c on raw bytes: check, parse, then dispatch or an
 * error reply carrying the peeked ref. */
static void pipeline(lsq_port *p, const char *buf, size_t len, reply *r)
{
    lsq_request rq;
    const char *why = NULL;
    ei_x_buff out;

    if (ei_x_new(&out) != 0) abort();
    if (term_check(buf, len, &why) != 0 || term_parse_request(buf, len, &rq, &why) != 0) {
        lsq_error e;

        lsq_error_set(&e, LSQ_E_BAD_FRAME, "malformed request: %s", why);
        CHECK(reply_error(&out, term_peek_ref(buf, len), &e) == REPLY_ERROR);
    } else {
        CHECK(commands_dispatch(p, &rq, &out) == 0);
    }
    CHECK(reply_take(r, &out) == 0);
}

static void test_pipeline_malformed(void)
{
    static const unsigned char garbage[] = { 1, 2, 3, 4, 5 };
    static const unsigned char truncated[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_INTEGER_EXT, 33,
                                               ERL_SMALL_ATOM_UTF8_EXT, 4, 'p', 'i' };
    static const unsigned char pid_req[] = { 131, ERL_SMALL_TUPLE_EXT, 3, ERL_INTEGER_EXT, 0, 0, 1, 0,
                                             ERL_SMALL_ATOM_UTF8_EXT, 4, 'p', 'i', 'n', 'g',
                                             ERL_PID_EXT, ERL_SMALL_ATOM_UTF8_EXT, 1, 'n',
                                             0, 0, 0, 1, 0, 0, 0, 0, 0 };
    static const unsigned char ok_req[] = { 131, ERL_SMALL_TUPLE_EXT, 2, ERL_SMALL_INTEGER_EXT, 34,
                                            ERL_SMALL_ATOM_UTF8_EXT, 4, 'p', 'i', 'n', 'g' };
    lsq_port p;
    reply r;

    port_init(&p);
    reply_init(&r);
    pipeline(&p, (const char *)garbage, sizeof garbage, &r); EXPECT_ERROR(&r, 0, "bad_frame");
    pipeline(&p, (const char *)truncated, sizeof truncated, &r); EXPECT_ERROR(&r, 33, "bad_frame");
    EXPECT_MSG(&r, "truncated");
    pipeline(&p, (const char *)pid_req, sizeof pid_req, &r); EXPECT_ERROR(&r, 256, "bad_frame");
    pipeline(&p, (const char *)ok_req, sizeof ok_req, &r); EXPECT_ERROR(&r, 34, "closed");
    reply_free(&r);
    port_fini(&p);
}

/* ---- statement cache, groups, scripts, handles, cursors ---------------- */

/* {Ref, open, [{path, Path}, {cache_size, N}]} */
static void open_cache_at(int line, lsq_port *p, reply *r, long ref, const char *path, long cache)
{
    ei_x_buff x;

    req_begin(&x, ref, "open", 1);
    EI(ei_x_encode_list_header(&x, 2));
    EI(ei_x_encode_tuple_header(&x, 2));
    EI(ei_x_encode_atom(&x, "path"));
    EI(ei_x_encode_binary(&x, path, (int)strlen(path)));
    EI(ei_x_encode_tuple_header(&x, 2));
    EI(ei_x_encode_atom(&x, "cache_size"));
    xint_erl(&x, cache);
    EI(ei_x_encode_empty_list(&x));
    call_at(line, p, &x, r);
}
#define OPEN_CACHE(p, r, ref, path, n) open_cache_at(__LINE__, (p), (r), (ref), (path), (n))

/* The value index of an atom key in the map at idx, or -1. */
static int map_find(const char *buf, int idx, const char *key)
{
    char k[MAXATOMLEN_UTF8];
    int n, i;

    if (ei_decode_map_header(buf, &idx, &n) != 0) return -1;
    for (i = 0; i < n; i++) {
        if (ei_decode_atom(buf, &idx, k) != 0) return -1;
        if (strcmp(k, key) == 0) return idx;
        if (ei_skip_term(buf, &idx) != 0) return -1;
    }
    return -1;
}

static int atom_is(const char *buf, int idx, const char *want)
{
    char a[MAXATOMLEN_UTF8];

    return idx >= 0 && ei_decode_atom(buf, &idx, a) == 0 && strcmp(a, want) == 0;
}

/* Run {Ref, stats} and read one counter. */
static long long stat_at(int line, lsq_port *p, const char *key)
{
    reply r;
    long long v = -1;

    reply_init(&r);
    simple_at(line, p, &r, 999, "stats");
    CHECK_AT(line, r.valid && r.ok);
    CHECK_AT(line, r.valid && r.ok && map_int(r.x.buff, r.idx, key, &v) == 0);
    reply_free(&r);
    return v;
}
#define STAT(p, key) stat_at(__LINE__, (p), (key))

static void test_stmt_cache_reuse(void)
{
    static const char *const q[] = { "?" };
    static const char *const qa[] = { ":a" };
    lsq_port p;
    reply r;
    lsq_value v, w;
    int i;

    port_init(&p);
    reply_init(&r);
    OPEN_CACHE(&p, &r, 1, ":memory:", 2); EXPECT_OPEN_OK(&r, 1);
    CHECK(STAT(&p, "cache_capacity") == 2);
    /* one cached statement, rebound with each type in turn */
    v = vint(1); QUERY(&p, &r, 2, "SELECT ?", &v, 1); EXPECT_ROWS(&r, 2, 1, q, 1, &v);
    v = vtext("x"); QUERY(&p, &r, 3, "SELECT ?", &v, 1); EXPECT_ROWS(&r, 3, 1, q, 1, &v);
    QUERY(&p, &r, 4, "SELECT ?", NULL, 0); EXPECT_ERROR(&r, 4, "bad_argument");
    v = vblob("\0b", 2); QUERY(&p, &r, 5, "SELECT ?", &v, 1); EXPECT_ROWS(&r, 5, 1, q, 1, &v);
    v = vnull(); QUERY(&p, &r, 6, "SELECT ?", &v, 1); EXPECT_ROWS(&r, 6, 1, q, 1, &v);
    CHECK(STAT(&p, "prepares") == 1);
    CHECK(STAT(&p, "cache_hits") == 4);
    CHECK(STAT(&p, "cache_misses") == 1);
    CHECK(STAT(&p, "cache_size") == 1);
    /* named, then positional, then a failed named bind, then named again */
    {
        static const char *const na[] = { "a" };
        static const char *const nb[] = { "b" };

        v = vint(5); QNAMED(&p, &r, 7, "SELECT :a", na, &v, 1); EXPECT_ROWS(&r, 7, 1, qa, 1, &v);
        v = vint(6); QUERY(&p, &r, 8, "SELECT :a", &v, 1); EXPECT_ROWS(&r, 8, 1, qa, 1, &v);
        QNAMED(&p, &r, 9, "SELECT :a", NULL, NULL, 0); EXPECT_ERROR(&r, 9, "bad_argument");
        EXPECT_MSG(&r, "missing");
        QNAMED(&p, &r, 10, "SELECT :a", nb, &v, 1); EXPECT_ERROR(&r, 10, "bad_argument");
        v = vint(7); QNAMED(&p, &r, 11, "SELECT :a", na, &v, 1); EXPECT_ROWS(&r, 11, 1, qa, 1, &v);
    }
    CHECK(STAT(&p, "prepares") == 2);
    /* LRU eviction at capacity 2, and evicted SQL still runs */
    for (i = 1; i <= 3; i++) {
        char sql[32];
        static const char *const cols[3][1] = { { "1" }, { "2" }, { "3" } };

        (void)snprintf(sql, sizeof sql, "SELECT %d", i);
        w = vint(i);
        QUERY(&p, &r, 20 + i, sql, NULL, 0);
        EXPECT_ROWS(&r, 20 + i, 1, cols[i - 1], 1, &w);
    }
    CHECK(STAT(&p, "prepares") == 5);
    CHECK(STAT(&p, "cache_evictions") == 3);
    CHECK(STAT(&p, "cache_size") == 2);
    v = vint(9); QUERY(&p, &r, 30, "SELECT ?", &v, 1); EXPECT_ROWS(&r, 30, 1, q, 1, &v);
    CHECK(STAT(&p, "prepares") == 6);
    /* a write through a cached statement, twice */
    EXEC(&p, &r, 31, "CREATE TABLE c(x)", NULL, 0); EXPECT_EXEC(&r, 31, 0, 0);
    v = vint(1); EXEC(&p, &r, 32, "INSERT INTO c VALUES (?)", &v, 1); EXPECT_EXEC(&r, 32, 1, 1);
    v = vint(2); EXEC(&p, &r, 33, "INSERT INTO c VALUES (?)", &v, 1); EXPECT_EXEC(&r, 33, 1, 2);
    SIMPLE(&p, &r, 34, "close"); EXPECT_OK_ATOM(&r, 34);
    /* cache_size 0: nothing is kept */
    OPEN_CACHE(&p, &r, 40, ":memory:", 0); EXPECT_OPEN_OK(&r, 40);
    v = vint(1); QUERY(&p, &r, 41, "SELECT ?", &v, 1); EXPECT_ROWS(&r, 41, 1, q, 1, &v);
    v = vint(2); QUERY(&p, &r, 42, "SELECT ?", &v, 1); EXPECT_ROWS(&r, 42, 1, q, 1, &v);
    CHECK(STAT(&p, "cache_size") == 0);
    CHECK(STAT(&p, "cache_hits") == 0);
    SIMPLE(&p, &r, 43, "close"); EXPECT_OK_ATOM(&r, 43);
    OPEN_CACHE(&p, &r, 44, ":memory:", -1); EXPECT_ERROR(&r, 44, "bad_argument");
    OPEN_CACHE(&p, &r, 45, ":memory:", 100001); EXPECT_ERROR(&r, 45, "bad_argument");
    reply_free(&r);
    port_fini(&p);
}

/* Decode a cursor_fetch reply {Rows, Done} into rs (ncol preset). */
static int get_fetch(const reply *r, rowset *rs, int *done)
{
    const char *buf = r->x.buff;
    int idx = r->idx, arity;
    char a[MAXATOMLEN_UTF8];

    if (!r->valid || !r->ok) return -1;
    if (ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2) return -1;
    if (get_row_list(buf, &idx, rs) != 0) return -1;
    if (ei_decode_atom(buf, &idx, a) != 0) return -1;
    if (strcmp(a, "true") == 0) *done = 1;
    else if (strcmp(a, "false") == 0) *done = 0;
    else return -1;
    return idx == r->x.index ? 0 : -1;
}

static void fetch_at(int line, lsq_port *p, reply *r, long ref, long long id, long max)
{
    ei_x_buff x;

    req_begin(&x, ref, "cursor_fetch", 2);
    EI(ei_x_encode_longlong(&x, id));
    xint_erl(&x, max);
    call_at(line, p, &x, r);
}

/* Fetch max rows and compare them (one integer column) and Done. */
static void expect_fetch_at(int line, lsq_port *p, reply *r, long ref, long long id, long max,
                            long long first, size_t n, int want_done)
{
    rowset rs;
    lsq_value want[16];
    size_t i;
    int done = -1;

    fetch_at(line, p, r, ref, id, max);
    memset(&rs, 0, sizeof rs);
    rs.ncol = 1;
    CHECK_AT(line, r->valid && r->ok && r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    CHECK_AT(line, get_fetch(r, &rs, &done) == 0);
    for (i = 0; i < n && i < 16; i++) want[i] = vint(first + (long long)i);
    check_rowset_at(line, &rs, 1, NULL, n, want);
    CHECK_AT(line, done == want_done);
    rowset_free(&rs);
}
#define EXPECT_FETCH(p, r, ref, id, max, first, n, done) \
    expect_fetch_at(__LINE__, (p), (r), (ref), (id), (max), (first), (n), (done))

/* cursor_open -> Id (or -1), checking the columns are exactly [Col]. */
static long long cursor_open_at(int line, lsq_port *p, reply *r, long ref, const char *sql,
                                const lsq_value *vals, int n, const char *col)
{
    ei_x_buff x;
    rowset rs;
    long long id = -1;
    int idx, arity;

    req_sql(&x, ref, "cursor_open", sql, strlen(sql), vals, n);
    call_at(line, p, &x, r);
    CHECK_AT(line, r->valid && r->ok && r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return -1;
    }
    memset(&rs, 0, sizeof rs);
    idx = r->idx;
    CHECK_AT(line, ei_decode_tuple_header(r->x.buff, &idx, &arity) == 0 && arity == 2);
    CHECK_AT(line, ei_decode_longlong(r->x.buff, &idx, &id) == 0 && id > 0);
    CHECK_AT(line, get_columns(r->x.buff, &idx, &rs) == 0);
    CHECK_AT(line, idx == r->x.index);
    check_rowset_at(line, &rs, 1, &col, 0, NULL);
    return id;
}
#define CURSOR_OPEN(p, r, ref, sql, vals, n, col) \
    cursor_open_at(__LINE__, (p), (r), (ref), (sql), (vals), (n), (col))

static void simple_id_at(int line, lsq_port *p, reply *r, long ref, const char *cmd, long long id)
{
    ei_x_buff x;

    req_begin(&x, ref, cmd, 1);
    EI(ei_x_encode_longlong(&x, id));
    call_at(line, p, &x, r);
}
#define SIMPLE_ID(p, r, ref, cmd, id) simple_id_at(__LINE__, (p), (r), (ref), (cmd), (id))

/* Column sets must follow the schema. A cached (or prepared) statement is
 * recompiled by SQLite inside sqlite3_step after a schema change, so its
 * column count and names are only right after the first step. */
static void test_schema_change_columns(void)
{
    static const char *const sel = "SELECT * FROM s";
    lsq_port p;
    reply r;
    lsq_value v[3];
    ei_x_buff x;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE s(x)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    EXEC(&p, &r, 3, "INSERT INTO s VALUES (1)", NULL, 0); EXPECT_EXEC(&r, 3, 1, 1);
    {
        static const char *const c1[] = { "x" };
        v[0] = vint(1);
        QUERY(&p, &r, 4, sel, NULL, 0); EXPECT_ROWS(&r, 4, 1, c1, 1, v);
    }
    /* a column added: SELECT * must show it at once */
    EXEC(&p, &r, 5, "ALTER TABLE s ADD COLUMN y DEFAULT 2", NULL, 0); EXPECT_EXEC(&r, 5, 0, 1);
    {
        static const char *const c2[] = { "x", "y" };
        v[0] = vint(1); v[1] = vint(2);
        QUERY(&p, &r, 6, sel, NULL, 0); EXPECT_ROWS(&r, 6, 2, c2, 1, v);
    }
    /* the table replaced by one with other columns */
    EXEC(&p, &r, 7, "DROP TABLE s", NULL, 0); EXPECT_EXEC(&r, 7, 0, 1);
    EXEC(&p, &r, 8, "CREATE TABLE s(a, b, c)", NULL, 0); EXPECT_EXEC(&r, 8, 0, 1);
    EXEC(&p, &r, 9, "INSERT INTO s VALUES (7, 8, 9)", NULL, 0); EXPECT_EXEC(&r, 9, 1, 1);
    {
        static const char *const c3[] = { "a", "b", "c" };
        v[0] = vint(7); v[1] = vint(8); v[2] = vint(9);
        QUERY(&p, &r, 10, sel, NULL, 0); EXPECT_ROWS(&r, 10, 3, c3, 1, v);
    }
    EXEC(&p, &r, 11, "DROP TABLE s", NULL, 0); EXPECT_EXEC(&r, 11, 0, 1);
    EXEC(&p, &r, 12, "CREATE TABLE s(only)", NULL, 0); EXPECT_EXEC(&r, 12, 0, 1);
    EXEC(&p, &r, 13, "INSERT INTO s VALUES (5)", NULL, 0); EXPECT_EXEC(&r, 13, 1, 1);
    {
        static const char *const c4[] = { "only" };
        v[0] = vint(5);
        QUERY(&p, &r, 14, sel, NULL, 0); EXPECT_ROWS(&r, 14, 1, c4, 1, v);
    }
    /* a prepared handle across a schema change */
    req_begin(&x, 15, "prepare", 1); EI(ei_x_encode_binary(&x, sel, (int)strlen(sel)));
    CALL(&p, &x, &r);
    {
        long long id = -1;
        int idx = r.idx, arity;
        static const char *const c5[] = { "only", "z" };

        CHECK(r.valid && r.ok && ei_decode_tuple_header(r.x.buff, &idx, &arity) == 0 && arity == 2 &&
              ei_decode_longlong(r.x.buff, &idx, &id) == 0);
        EXEC(&p, &r, 16, "ALTER TABLE s ADD COLUMN z DEFAULT 3", NULL, 0); EXPECT_EXEC(&r, 16, 0, 1);
        req_begin(&x, 17, "stmt_query", 2); EI(ei_x_encode_longlong(&x, id)); EI(ei_x_encode_empty_list(&x));
        CALL(&p, &x, &r);
        v[0] = vint(5); v[1] = vint(3);
        EXPECT_ROWS(&r, 17, 2, c5, 1, v);
        /* a cursor on the cached statement: its columns, and rows of that arity */
        req_sql(&x, 18, "cursor_open", sel, strlen(sel), NULL, 0);
        CALL(&p, &x, &r);
        {
            rowset rs;
            int done = -1;

            memset(&rs, 0, sizeof rs);
            idx = r.idx;
            CHECK(r.valid && r.ok && ei_decode_tuple_header(r.x.buff, &idx, &arity) == 0 &&
                  ei_decode_longlong(r.x.buff, &idx, &id) == 0 && get_columns(r.x.buff, &idx, &rs) == 0);
            check_rowset_at(__LINE__, &rs, 2, c5, 0, NULL);
            fetch_at(__LINE__, &p, &r, 19, id, 10);
            rs.ncol = 2;
            CHECK(get_fetch(&r, &rs, &done) == 0 && done == 1);
            check_rowset_at(__LINE__, &rs, 2, NULL, 1, v);
            rowset_free(&rs);
        }
    }
    reply_free(&r);
    port_fini(&p);
}

static void test_cursors(void)
{
    static const char *const sel = "SELECT x FROM c ORDER BY x";
    static const char *const xc[] = { "x" };
    lsq_port p;
    reply r;
    lsq_value v, all[5];
    long long id, id2;
    int i;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE c(x)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    EXEC(&p, &r, 3, "INSERT INTO c VALUES (1), (2), (3), (4), (5)", NULL, 0); EXPECT_EXEC(&r, 3, 5, 5);
    for (i = 0; i < 5; i++) all[i] = vint(i + 1);
    /* chunks of 2 */
    id = CURSOR_OPEN(&p, &r, 4, sel, NULL, 0, "x");
    CHECK(STAT(&p, "cursors") == 1);
    EXPECT_FETCH(&p, &r, 5, id, 2, 1, 2, 0);
    EXPECT_FETCH(&p, &r, 6, id, 2, 3, 2, 0);
    EXPECT_FETCH(&p, &r, 7, id, 2, 5, 1, 1);
    EXPECT_FETCH(&p, &r, 8, id, 2, 0, 0, 1);
    SIMPLE_ID(&p, &r, 9, "cursor_close", id); EXPECT_OK_ATOM(&r, 9);
    CHECK(STAT(&p, "cursors") == 0);
    fetch_at(__LINE__, &p, &r, 10, id, 2); EXPECT_ERROR(&r, 10, "bad_argument");
    SIMPLE_ID(&p, &r, 11, "cursor_close", id); EXPECT_OK_ATOM(&r, 11);
    SIMPLE_ID(&p, &r, 12, "cursor_close", 123456); EXPECT_OK_ATOM(&r, 12);
    /* parameters outlive the request frame (call_at frees it) */
    v = vtext("2");
    id = CURSOR_OPEN(&p, &r, 13, "SELECT x FROM c WHERE x > CAST(? AS INTEGER) ORDER BY x", &v, 1, "x");
    EXPECT_FETCH(&p, &r, 14, id, 10, 3, 3, 1);
    SIMPLE_ID(&p, &r, 15, "cursor_close", id); EXPECT_OK_ATOM(&r, 15);
    /* bad fetch sizes */
    id = CURSOR_OPEN(&p, &r, 16, sel, NULL, 0, "x");
    fetch_at(__LINE__, &p, &r, 17, id, 0); EXPECT_ERROR(&r, 17, "bad_argument");
    fetch_at(__LINE__, &p, &r, 18, id, -1); EXPECT_ERROR(&r, 18, "bad_argument");
    /* the same SQL used meanwhile gets its own statement */
    EXPECT_FETCH(&p, &r, 19, id, 1, 1, 1, 0);
    QUERY(&p, &r, 20, sel, NULL, 0); EXPECT_ROWS(&r, 20, 1, xc, 5, all);
    id2 = CURSOR_OPEN(&p, &r, 21, sel, NULL, 0, "x");
    CHECK(id2 != id);
    EXPECT_FETCH(&p, &r, 22, id2, 3, 1, 3, 0);
    EXPECT_FETCH(&p, &r, 23, id, 10, 2, 4, 1);
    CHECK(STAT(&p, "cursors") == 2);
    /* reset closes cursors */
    SIMPLE(&p, &r, 24, "reset"); EXPECT_OK_ATOM(&r, 24);
    CHECK(STAT(&p, "cursors") == 0);
    fetch_at(__LINE__, &p, &r, 25, id2, 2); EXPECT_ERROR(&r, 25, "bad_argument");
    /* errors: bad SQL carries the statement; no statement at all */
    {
        ei_x_buff x;

        req_sql(&x, 26, "cursor_open", "SELEC x", 7, NULL, 0);
        CALL(&p, &x, &r); EXPECT_ERROR(&r, 26, "error"); EXPECT_SQL(&r, "SELEC x");
        req_sql(&x, 27, "cursor_open", "", 0, NULL, 0);
        CALL(&p, &x, &r); EXPECT_ERROR(&r, 27, "bad_argument");
    }
    /* close with a cursor open: the cursor is gone after reopening */
    id = CURSOR_OPEN(&p, &r, 28, sel, NULL, 0, "x");
    SIMPLE(&p, &r, 29, "close"); EXPECT_OK_ATOM(&r, 29);
    fetch_at(__LINE__, &p, &r, 30, id, 2); EXPECT_ERROR(&r, 30, "closed");
    OPEN(&p, &r, 31, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 31);
    fetch_at(__LINE__, &p, &r, 32, id, 2); EXPECT_ERROR(&r, 32, "bad_argument");
    reply_free(&r);
    port_fini(&p);
}

static void test_prepared_statements(void)
{
    lsq_port p;
    reply r;
    ei_x_buff x;
    long long id = -1, id2 = -1, pc = -1;
    lsq_value v[2];
    int idx, arity, at;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE t(a INTEGER, b TEXT)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    /* prepare: {Id, Info} */
    req_begin(&x, 3, "prepare", 1); EI(ei_x_encode_binary(&x, "SELECT a, b FROM t WHERE a > ? OR b = :n", 40));
    CALL(&p, &x, &r);
    CHECK(r.valid && r.ok);
    idx = r.idx;
    CHECK(ei_decode_tuple_header(r.x.buff, &idx, &arity) == 0 && arity == 2);
    CHECK(ei_decode_longlong(r.x.buff, &idx, &id) == 0 && id > 0);
    CHECK(map_int(r.x.buff, idx, "param_count", &pc) == 0 && pc == 2);
    CHECK(atom_is(r.x.buff, map_find(r.x.buff, idx, "readonly"), "true"));
    at = map_find(r.x.buff, idx, "columns");
    {
        rowset rs;
        static const char *const ab[] = { "a", "b" };

        memset(&rs, 0, sizeof rs);
        CHECK(at > 0 && get_columns(r.x.buff, &at, &rs) == 0);
        check_rowset_at(__LINE__, &rs, 2, ab, 0, NULL);
    }
    at = map_find(r.x.buff, idx, "param_names");
    {
        int n = -1;
        lsq_value name;

        CHECK(at > 0 && ei_decode_list_header(r.x.buff, &at, &n) == 0 && n == 2);
        CHECK(atom_is(r.x.buff, at, "null"));
        CHECK(ei_skip_term(r.x.buff, &at) == 0);
        CHECK(get_value(r.x.buff, &at, &name) == 0 && name.type == LSQ_TEXT && name.u.s.n == 2 &&
              memcmp(name.u.s.p, ":n", 2) == 0);
    }
    at = map_find(r.x.buff, idx, "decltypes");
    {
        int n = -1;
        lsq_value t;

        CHECK(at > 0 && ei_decode_list_header(r.x.buff, &at, &n) == 0 && n == 2);
        CHECK(get_value(r.x.buff, &at, &t) == 0 && t.type == LSQ_TEXT && t.u.s.n == 7 &&
              memcmp(t.u.s.p, "INTEGER", 7) == 0);
    }
    /* an INSERT handle */
    req_begin(&x, 4, "prepare", 1); EI(ei_x_encode_binary(&x, "INSERT INTO t VALUES (?, ?)", 27));
    CALL(&p, &x, &r);
    idx = r.idx;
    CHECK(r.valid && r.ok && ei_decode_tuple_header(r.x.buff, &idx, &arity) == 0 &&
          ei_decode_longlong(r.x.buff, &idx, &id2) == 0 && id2 > id);
    CHECK(atom_is(r.x.buff, map_find(r.x.buff, idx, "readonly"), "false"));
    CHECK(STAT(&p, "statements") == 2);
    v[0] = vint(1); v[1] = vtext("one");
    req_begin(&x, 5, "stmt_execute", 2); EI(ei_x_encode_longlong(&x, id2)); put_list(&x, v, 2);
    CALL(&p, &x, &r); EXPECT_EXEC(&r, 5, 1, 1);
    v[0] = vint(2); v[1] = vtext("two");
    req_begin(&x, 6, "stmt_execute", 2); EI(ei_x_encode_longlong(&x, id2)); put_list(&x, v, 2);
    CALL(&p, &x, &r); EXPECT_EXEC(&r, 6, 1, 2);
    req_begin(&x, 7, "stmt_execute", 2); EI(ei_x_encode_longlong(&x, id2)); put_list(&x, v, 1);
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 7, "bad_argument");
    /* query through the first handle, twice with other parameters */
    {
        static const char *const ab[] = { "a", "b" };
        lsq_value want[4];

        want[0] = vint(1); want[1] = vtext("one"); want[2] = vint(2); want[3] = vtext("two");
        v[0] = vint(0); v[1] = vtext("none");
        req_begin(&x, 8, "stmt_query", 2); EI(ei_x_encode_longlong(&x, id)); put_list(&x, v, 2);
        CALL(&p, &x, &r); EXPECT_ROWS(&r, 8, 2, ab, 2, want);
        v[0] = vint(5); v[1] = vtext("one");
        req_begin(&x, 9, "stmt_query", 2); EI(ei_x_encode_longlong(&x, id)); put_list(&x, v, 2);
        CALL(&p, &x, &r); EXPECT_ROWS(&r, 9, 2, ab, 1, want);
    }
    /* finalize; the id is then unknown */
    SIMPLE_ID(&p, &r, 10, "finalize", id); EXPECT_OK_ATOM(&r, 10);
    CHECK(STAT(&p, "statements") == 1);
    req_begin(&x, 11, "stmt_query", 2); EI(ei_x_encode_longlong(&x, id)); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 11, "bad_argument"); EXPECT_MSG(&r, "unknown");
    SIMPLE_ID(&p, &r, 12, "finalize", id); EXPECT_ERROR(&r, 12, "bad_argument");
    /* a handle is not a cursor and the other way round */
    fetch_at(__LINE__, &p, &r, 13, id2, 1); EXPECT_ERROR(&r, 13, "bad_argument");
    /* bad prepares */
    req_begin(&x, 14, "prepare", 1); EI(ei_x_encode_binary(&x, "", 0));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 14, "bad_argument");
    req_begin(&x, 15, "prepare", 1); EI(ei_x_encode_binary(&x, "SELEC 1", 7));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 15, "error"); EXPECT_SQL(&r, "SELEC 1");
    req_begin(&x, 16, "prepare", 1); EI(ei_x_encode_binary(&x, "SELECT 1; SELECT 2", 18));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 16, "bad_argument");
    /* handles do not survive close */
    SIMPLE(&p, &r, 17, "close"); EXPECT_OK_ATOM(&r, 17);
    OPEN(&p, &r, 18, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 18);
    CHECK(STAT(&p, "statements") == 0);
    req_begin(&x, 19, "stmt_execute", 2); EI(ei_x_encode_longlong(&x, id2)); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 19, "bad_argument");
    reply_free(&r);
    port_fini(&p);
}

/* {Ref, batch, [{Sql, [V...]}...], Tx} */
static void batch_at(int line, lsq_port *p, reply *r, long ref, const char *const *sqls,
                     const lsq_value *const *vals, const int *nvals, int n, int tx)
{
    ei_x_buff x;
    int i;

    req_begin(&x, ref, "batch", 2);
    if (n > 0) EI(ei_x_encode_list_header(&x, n));
    for (i = 0; i < n; i++) {
        EI(ei_x_encode_tuple_header(&x, 2));
        EI(ei_x_encode_binary(&x, sqls[i], (int)strlen(sqls[i])));
        put_list(&x, vals[i], nvals[i]);
    }
    EI(ei_x_encode_empty_list(&x));
    EI(ei_x_encode_atom(&x, tx ? "true" : "false"));
    call_at(line, p, &x, r);
}

static long long count_rows_at(int line, lsq_port *p, const char *table)
{
    char sql[64];
    reply r;
    rowset rs;
    long long n = -1;

    reply_init(&r);
    (void)snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sql_at(line, p, &r, 998, "query", sql, NULL, 0);
    if (get_rows(&r, &rs) == 0 && rs.ncol == 1 && rs.nrows == 1 && rs.vals[0].type == LSQ_INT)
        n = rs.vals[0].u.i;
    CHECK_AT(line, n >= 0);
    rowset_free(&rs);
    reply_free(&r);
    return n;
}
#define COUNT(p, table) count_rows_at(__LINE__, (p), (table))

static void test_batch(void)
{
    static const char *const ins = "INSERT INTO b VALUES (?)";
    lsq_port p;
    reply r;
    lsq_value one = vint(1), two = vint(2), ten = vint(10);

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE b(x UNIQUE)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    {
        /* [{Columns, Rows, Changes, LastInsertRowid}] per statement */
        const char *sqls[2] = { ins, "SELECT x FROM b" };
        const lsq_value *vals[2] = { &one, NULL };
        const int nv[2] = { 1, 0 };
        static const char *const xc[] = { "x" };
        const char *buf;
        int idx, n = -1, arity, k;
        rowset rs;
        long long c = -1, id = -1;

        batch_at(__LINE__, &p, &r, 3, sqls, vals, nv, 2, 1);
        CHECK(r.valid && r.ok && r.ref == 3);
        buf = r.x.buff;
        idx = r.idx;
        CHECK(ei_decode_list_header(buf, &idx, &n) == 0 && n == 2);
        for (k = 0; k < 2 && n == 2; k++) {
            memset(&rs, 0, sizeof rs);
            CHECK(ei_decode_tuple_header(buf, &idx, &arity) == 0 && arity == 4);
            CHECK(get_columns(buf, &idx, &rs) == 0 && get_row_list(buf, &idx, &rs) == 0);
            CHECK(ei_decode_longlong(buf, &idx, &c) == 0 && ei_decode_longlong(buf, &idx, &id) == 0);
            if (k == 0) {
                check_rowset_at(__LINE__, &rs, 0, NULL, 0, NULL);
                CHECK(c == 1 && id == 1);
            } else {
                check_rowset_at(__LINE__, &rs, 1, xc, 1, &one);
                CHECK(c == 0 && id == 1);
            }
            rowset_free(&rs);
        }
        CHECK(ei_decode_list_header(buf, &idx, &n) == 0 && n == 0 && idx == r.x.index);
    }
    {
        /* transactional: the failure at index 2 undoes index 1 */
        const char *sqls[2] = { ins, ins };
        const lsq_value *vals[2] = { &two, &one };
        const int nv[2] = { 1, 1 };

        batch_at(__LINE__, &p, &r, 4, sqls, vals, nv, 2, 1);
        EXPECT_ERROR(&r, 4, "constraint");
        CHECK(r.has_index && r.index == 2);
        EXPECT_SQL(&r, ins);
        CHECK(COUNT(&p, "b") == 1);
        /* not transactional: index 1 stays */
        batch_at(__LINE__, &p, &r, 5, sqls, vals, nv, 2, 0);
        EXPECT_ERROR(&r, 5, "constraint");
        CHECK(r.has_index && r.index == 2);
        CHECK(COUNT(&p, "b") == 2);
    }
    {
        /* inside the caller's transaction: a savepoint, the outer one survives */
        const char *sqls[2] = { ins, ins };
        const lsq_value *vals[2] = { &ten, &one };
        const int nv[2] = { 1, 1 };
        lsq_value v11 = vint(11);

        EXEC(&p, &r, 6, "BEGIN", NULL, 0); EXPECT_EXEC(&r, 6, 0, 2);
        EXEC(&p, &r, 7, ins, &v11, 1); EXPECT_EXEC(&r, 7, 1, 3);
        batch_at(__LINE__, &p, &r, 8, sqls, vals, nv, 2, 1);
        EXPECT_ERROR(&r, 8, "constraint");
        CHECK(r.has_index && r.index == 2);
        CHECK(COUNT(&p, "b") == 3); /* 1, 2, 11: 10 undone, 11 kept */
        /* (last_insert_rowid is not rolled back: 10 got rowid 4) */
        EXEC(&p, &r, 9, "COMMIT", NULL, 0); EXPECT_EXEC(&r, 9, 0, 4);
        CHECK(COUNT(&p, "b") == 3);
    }
    {
        /* shapes */
        ei_x_buff x;

        batch_at(__LINE__, &p, &r, 10, NULL, NULL, NULL, 0, 1);
        CHECK(r.valid && r.ok && r.x.buff[r.idx] == ERL_NIL_EXT && r.idx + 1 == r.x.index);
        req_begin(&x, 11, "batch", 2); EI(ei_x_encode_atom(&x, "foo")); EI(ei_x_encode_atom(&x, "true"));
        CALL(&p, &x, &r); EXPECT_ERROR(&r, 11, "bad_argument");
        req_begin(&x, 12, "batch", 2); EI(ei_x_encode_empty_list(&x)); EI(ei_x_encode_long(&x, 1));
        CALL(&p, &x, &r); EXPECT_ERROR(&r, 12, "bad_argument");
        req_begin(&x, 13, "batch", 2); EI(ei_x_encode_list_header(&x, 1));
        EI(ei_x_encode_binary(&x, "SELECT 1", 8)); EI(ei_x_encode_empty_list(&x));
        EI(ei_x_encode_atom(&x, "false"));
        CALL(&p, &x, &r); EXPECT_ERROR(&r, 13, "bad_argument");
        CHECK(r.has_index && r.index == 1);
    }
    reply_free(&r);
    port_fini(&p);
}

static void test_execute_many(void)
{
    static const char *const ins = "INSERT INTO m VALUES (?, ?)";
    lsq_port p;
    reply r;
    ei_x_buff x;
    lsq_value rows[3][2];
    int i;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    EXEC(&p, &r, 2, "CREATE TABLE m(a, b UNIQUE)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
    rows[0][0] = vint(1); rows[0][1] = vtext("a");
    rows[1][0] = vint(2); rows[1][1] = vtext("b");
    rows[2][0] = vint(3); rows[2][1] = vtext("c");
    req_begin(&x, 3, "execute_many", 2); EI(ei_x_encode_binary(&x, ins, (int)strlen(ins)));
    EI(ei_x_encode_list_header(&x, 3));
    for (i = 0; i < 3; i++) put_list(&x, rows[i], 2);
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_EXEC(&r, 3, 3, 3);
    /* all or nothing: the duplicate at index 2 undoes index 1 */
    rows[0][0] = vint(4); rows[0][1] = vtext("d");
    rows[1][0] = vint(5); rows[1][1] = vtext("a");
    req_begin(&x, 4, "execute_many", 2); EI(ei_x_encode_binary(&x, ins, (int)strlen(ins)));
    EI(ei_x_encode_list_header(&x, 2));
    for (i = 0; i < 2; i++) put_list(&x, rows[i], 2);
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 4, "constraint");
    CHECK(r.has_index && r.index == 2); EXPECT_SQL(&r, ins);
    CHECK(COUNT(&p, "m") == 3);
    /* a bad parameter list names its index */
    req_begin(&x, 5, "execute_many", 2); EI(ei_x_encode_binary(&x, ins, (int)strlen(ins)));
    EI(ei_x_encode_list_header(&x, 2)); put_list(&x, rows[0], 2); put_list(&x, rows[0], 1);
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 5, "bad_argument");
    CHECK(r.has_index && r.index == 2);
    CHECK(COUNT(&p, "m") == 3);
    /* named parameter lists, and the small-integer string form */
    {
        static const char *const names[] = { "a", "b" };

        req_begin(&x, 6, "execute_many", 2);
        EI(ei_x_encode_binary(&x, "INSERT INTO m VALUES (:a, :b)", 29));
        EI(ei_x_encode_list_header(&x, 2));
        EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "named"));
        EI(ei_x_encode_list_header(&x, 2));
        EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_binary(&x, names[0], 1)); EI(ei_x_encode_long(&x, 6));
        EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_binary(&x, names[1], 1)); EI(ei_x_encode_binary(&x, "f", 1));
        EI(ei_x_encode_empty_list(&x));
        EI(ei_x_encode_string_len(&x, "\7\10", 2));
        EI(ei_x_encode_empty_list(&x));
        CALL(&p, &x, &r); EXPECT_EXEC(&r, 6, 2, 5);
    }
    /* empty list: nothing done; SQL with no statement */
    req_begin(&x, 7, "execute_many", 2); EI(ei_x_encode_binary(&x, ins, (int)strlen(ins)));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_EXEC(&r, 7, 0, 5);
    req_begin(&x, 8, "execute_many", 2); EI(ei_x_encode_binary(&x, " ", 1)); EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 8, "bad_argument");
    req_begin(&x, 9, "execute_many", 2); EI(ei_x_encode_binary(&x, ins, (int)strlen(ins)));
    EI(ei_x_encode_atom(&x, "x"));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 9, "bad_argument");
    CHECK(COUNT(&p, "m") == 5);
    reply_free(&r);
    port_fini(&p);
}

static void script_at(int line, lsq_port *p, reply *r, long ref, const char *sql, size_t n)
{
    ei_x_buff x;

    req_begin(&x, ref, "execute_script", 1);
    EI(ei_x_encode_binary(&x, n ? sql : "", (int)n));
    call_at(line, p, &x, r);
}
#define SCRIPT(p, r, ref, sql) script_at(__LINE__, (p), (r), (ref), (sql), strlen(sql))

static void test_execute_script(void)
{
    lsq_port p;
    reply r;

    port_init(&p);
    reply_init(&r);
    OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
    /* {Statements, Changes} */
    SCRIPT(&p, &r, 2, "CREATE TABLE s1(x);\nINSERT INTO s1 VALUES (1);\n"
                      "INSERT INTO s1 VALUES (2), (3); -- done\n");
    EXPECT_EXEC(&r, 2, 3, 3);
    SCRIPT(&p, &r, 3, "; CREATE TABLE s2(x) ;;"); EXPECT_EXEC(&r, 3, 1, 0);
    SCRIPT(&p, &r, 4, ""); EXPECT_EXEC(&r, 4, 0, 0);
    SCRIPT(&p, &r, 5, "  -- only a comment\n"); EXPECT_EXEC(&r, 5, 0, 0);
    SCRIPT(&p, &r, 6, "BEGIN; INSERT INTO s2 VALUES (1); INSERT INTO s2 SELECT x FROM s1; COMMIT;");
    EXPECT_EXEC(&r, 6, 4, 4);
    CHECK(COUNT(&p, "s2") == 4);
    /* an error stops the script and names the statement */
    SCRIPT(&p, &r, 7, "INSERT INTO s1 VALUES (4); INSERT INTO nosuch VALUES (1); INSERT INTO s1 VALUES (5)");
    EXPECT_ERROR(&r, 7, "error");
    CHECK(r.has_index && r.index == 2);
    CHECK(r.has_sql && contains(r.sql, r.sql_len, "INSERT INTO nosuch"));
    CHECK(r.has_sql && !contains(r.sql, r.sql_len, "VALUES (4)"));
    CHECK(COUNT(&p, "s1") == 4);
    /* a runtime error: the statement's own text */
    SCRIPT(&p, &r, 8, "CREATE TABLE u(x UNIQUE); INSERT INTO u VALUES (1); INSERT INTO u VALUES (1);");
    EXPECT_ERROR(&r, 8, "constraint");
    CHECK(r.has_index && r.index == 3);
    CHECK(r.has_sql && contains(r.sql, r.sql_len, "INSERT INTO u VALUES (1)") &&
          r.sql_len <= strlen(" INSERT INTO u VALUES (1);"));
    /* parameters are refused */
    SCRIPT(&p, &r, 9, "SELECT 1; SELECT ?"); EXPECT_ERROR(&r, 9, "bad_argument");
    CHECK(r.has_index && r.index == 2);
    {
        ei_x_buff x;

        req_begin(&x, 10, "execute_script", 1); EI(ei_x_encode_string(&x, "SELECT 1"));
        CALL(&p, &x, &r); EXPECT_ERROR(&r, 10, "bad_argument");
    }
    reply_free(&r);
    port_fini(&p);
}

static void test_info_settings_reset(void)
{
    static const char *const files[] = { "backup.db" };
    lsq_port p, p2;
    reply r;
    ei_x_buff x;
    tmpdir t;
    long long v = -1;
    char path[128];

    port_init(&p);
    reply_init(&r);
    SIMPLE(&p, &r, 1, "info"); EXPECT_ERROR(&r, 1, "closed");
    OPEN(&p, &r, 2, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 2);
    EXEC(&p, &r, 3, "CREATE TABLE i(x)", NULL, 0); EXPECT_EXEC(&r, 3, 0, 0);
    EXEC(&p, &r, 4, "INSERT INTO i VALUES (1), (2)", NULL, 0); EXPECT_EXEC(&r, 4, 2, 2);
    SIMPLE(&p, &r, 5, "info");
    CHECK(r.valid && r.ok);
    CHECK(map_int(r.x.buff, r.idx, "last_insert_rowid", &v) == 0 && v == 2);
    CHECK(map_int(r.x.buff, r.idx, "changes", &v) == 0 && v == 2);
    CHECK(map_int(r.x.buff, r.idx, "total_changes", &v) == 0 && v == 2);
    CHECK(atom_is(r.x.buff, map_find(r.x.buff, r.idx, "autocommit"), "true"));
    CHECK(atom_is(r.x.buff, map_find(r.x.buff, r.idx, "read_only"), "false"));
    CHECK(atom_is(r.x.buff, map_find(r.x.buff, r.idx, "mode"), "local"));
    {
        int at = map_find(r.x.buff, r.idx, "journal_mode");
        lsq_value jm;

        CHECK(at > 0 && get_value(r.x.buff, &at, &jm) == 0 && jm.type == LSQ_TEXT &&
              jm.u.s.n == 6 && memcmp(jm.u.s.p, "memory", 6) == 0);
    }
    /* reset rolls back an open transaction */
    EXEC(&p, &r, 6, "BEGIN", NULL, 0); EXPECT_EXEC(&r, 6, 0, 2);
    EXEC(&p, &r, 7, "INSERT INTO i VALUES (3)", NULL, 0); EXPECT_EXEC(&r, 7, 1, 3);
    SIMPLE(&p, &r, 8, "info");
    CHECK(atom_is(r.x.buff, map_find(r.x.buff, r.idx, "autocommit"), "false"));
    EXEC(&p, &r, 9, "PRAGMA query_only = 1", NULL, 0); EXPECT_EXEC(&r, 9, 0, 3);
    SIMPLE(&p, &r, 10, "reset"); EXPECT_OK_ATOM(&r, 10);
    SIMPLE(&p, &r, 11, "info");
    CHECK(atom_is(r.x.buff, map_find(r.x.buff, r.idx, "autocommit"), "true"));
    CHECK(COUNT(&p, "i") == 2);
    EXEC(&p, &r, 12, "INSERT INTO i VALUES (3)", NULL, 0); EXPECT_EXEC(&r, 12, 1, 3); /* query_only off */
    /* busy timeout */
    req_begin(&x, 13, "set_busy_timeout", 1); EI(ei_x_encode_long(&x, 100));
    CALL(&p, &x, &r); EXPECT_OK_ATOM(&r, 13);
    req_begin(&x, 14, "set_busy_timeout", 1); EI(ei_x_encode_long(&x, -1));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 14, "bad_argument");
    /* limits: read, set (answers the old value), enforced, bad names */
    req_begin(&x, 15, "limit", 2); EI(ei_x_encode_atom(&x, "sql_length")); xint_erl(&x, -1);
    CALL(&p, &x, &r);
    v = -1;
    CHECK(r.valid && r.ok);
    {
        int idx = r.idx;
        CHECK(ei_decode_longlong(r.x.buff, &idx, &v) == 0 && v > 1000);
    }
    req_begin(&x, 16, "limit", 2); EI(ei_x_encode_atom(&x, "sql_length")); xint_erl(&x, 20);
    CALL(&p, &x, &r);
    {
        int idx = r.idx;
        long long old = -2;
        CHECK(r.valid && r.ok && ei_decode_longlong(r.x.buff, &idx, &old) == 0 && old == v);
    }
    QUERY(&p, &r, 17, "SELECT 1 + 1 + 1 + 1 + 1 + 1 + 1", NULL, 0); EXPECT_ERROR(&r, 17, "toobig");
    req_begin(&x, 18, "limit", 2); EI(ei_x_encode_atom(&x, "sql_length")); xint_erl(&x, v);
    CALL(&p, &x, &r);
    req_begin(&x, 19, "limit", 2); EI(ei_x_encode_atom(&x, "bogus")); xint_erl(&x, 1);
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 19, "bad_argument");
    req_begin(&x, 20, "limit", 2); EI(ei_x_encode_atom(&x, "length")); xint_erl(&x, -2);
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 20, "bad_argument");
    /* backup into a file, read back through a second port */
    if (tmpdir_make(&t) == 0) {
        strcpy(path, tmpdir_file(&t, files[0]));
        req_begin(&x, 21, "backup", 1); EI(ei_x_encode_binary(&x, path, (int)strlen(path)));
        CALL(&p, &x, &r); EXPECT_OK_ATOM(&r, 21);
        port_init(&p2);
        OPEN(&p2, &r, 22, path, 1, -1); EXPECT_OPEN_OK(&r, 22);
        CHECK(COUNT(&p2, "i") == 3);
        port_fini(&p2);
        tmpdir_remove(&t, files, 1);
    } else {
        CHECK(!"mkdtemp failed");
    }
    req_begin(&x, 23, "backup", 1); EI(ei_x_encode_binary(&x, "", 0));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 23, "bad_argument");
    reply_free(&r);
    port_fini(&p);
}

/* ======================================================================
 * 6. frame_io
 * ==================================================================== */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);

        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* lsq_params_order with a statement whose parameters are ?1 = :a, ?2 = @b,
 * ?3 positional, ?4 = $c (what a backend's lookup reports). */
static const char *const k_pnames[] = { NULL, ":a", "@b", NULL, "$c" };

static int fake_index(const void *ctx, const char *name, size_t n)
{
    static const char prefixes[] = ":@$";
    int i, k;

    (void)ctx;
    if (n == 5 && memcmp(name, "nomem", 5) == 0) return -1;
    for (k = 0; k < 3; k++)
        for (i = 1; i <= 4; i++) {
            const char *pn = k_pnames[i];

            if (pn == NULL) continue;
            if (strchr(prefixes, name[0]) != NULL) {
                if (k == 0 && strlen(pn) == n && memcmp(pn, name, n) == 0) return i;
            } else if (pn[0] == prefixes[k] && strlen(pn) == n + 1 && memcmp(pn + 1, name, n) == 0) {
                return i;
            }
        }
    return 0;
}

static const char *fake_name(const void *ctx, int i)
{
    (void)ctx;
    return k_pnames[i];
}

static int order(const lsq_name *names, const lsq_value *vals, size_t n, int count,
                 const lsq_value **out, int *owned, lsq_error *err)
{
    lsq_param_lookup l = { count, fake_index, fake_name, NULL };
    lsq_params p = { n, vals, names };

    memset(err, 0, sizeof *err);
    return lsq_params_order(&l, &p, out, owned, err);
}

static void test_params_order(void)
{
    lsq_value v[5];
    const lsq_value *out;
    int owned, i;
    lsq_error err;

    for (i = 0; i < 5; i++) {
        v[i].type = LSQ_INT;
        v[i].u.i = 10 + i;
    }
    /* a list: exactly count values, used in place */
    CHECK(order(NULL, v, 4, 4, &out, &owned, &err) == 0);
    CHECK(out == v && owned == 0);
    CHECK(order(NULL, v, 3, 4, &out, &owned, &err) == -1);
    CHECK(strcmp(err.code, "bad_argument") == 0);
    CHECK(strstr(err.message, "takes 4 parameters, 3 given") != NULL);
    CHECK(order(NULL, v, 2, 1, &out, &owned, &err) == -1);
    CHECK(strstr(err.message, "takes 1 parameter, 2 given") != NULL);
    CHECK(order(NULL, NULL, 0, 0, &out, &owned, &err) == 0 && owned == 0);
    /* names, bare or prefixed, in any order; the positional one is missing */
    {
        lsq_name n1[] = { { "c", 1 }, { ":a", 2 }, { "b", 1 } };

        CHECK(order(n1, v, 3, 4, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "parameter 3 is positional; pass a list") != NULL);
    }
    {
        lsq_name n2[] = { { "c", 1 }, { ":a", 2 }, { "b", 1 } };

        /* a statement of only the named ones: 1 = :a, 2 = @b; 4 not reached */
        CHECK(order(n2, v, 2, 2, &out, &owned, &err) == -1); /* $c is index 4 > 2 */
        CHECK(strstr(err.message, "unknown parameter c") != NULL);
        CHECK(order(n2 + 1, v + 1, 2, 2, &out, &owned, &err) == 0);
        CHECK(owned == 1 && out[0].u.i == 11 && out[1].u.i == 12);
        free((void *)out);
    }
    /* unknown, duplicate (bare and prefixed are the same one), missing */
    {
        lsq_name unk[] = { { "zz", 2 } }, dup[] = { { "a", 1 }, { ":a", 2 } },
                 miss[] = { { "a", 1 } }, nul[] = { { "a\0b", 3 } }, nm[] = { { "nomem", 5 } },
                 empty[] = { { "", 0 } };

        CHECK(order(unk, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "unknown parameter zz") != NULL);
        CHECK(order(dup, v, 2, 2, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "parameter :a is given more than once") != NULL);
        CHECK(order(miss, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "missing value for parameter @b") != NULL);
        CHECK(order(nul, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "unknown parameter") != NULL);
        CHECK(order(empty, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(order(nm, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(strcmp(err.code, "nomem") == 0);
        CHECK(out == NULL && owned == 0);
    }
}

static void test_frame_roundtrip(void)
{
    int fds[2];
    char *buf = NULL;
    size_t len = 0;
    long ref = -1;
    unsigned char raw[7];

    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    /* the header is 4 bytes big-endian */
    CHECK(frame_write(fds[1], "abc", 3) == 0);
    CHECK(read(fds[0], raw, 7) == 7);
    CHECK(raw[0] == 0 && raw[1] == 0 && raw[2] == 0 && raw[3] == 3 && memcmp(raw + 4, "abc", 3) == 0);
    /* frames in a row, including an empty one, come back as written */
    CHECK(frame_write(fds[1], "hello", 5) == 0);
    CHECK(frame_write(fds[1], "", 0) == 0);
    CHECK(frame_write(fds[1], "\0\1\2", 3) == 0);
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 5 && buf != NULL && memcmp(buf, "hello", 5) == 0);
    CHECK(ref == LSQ_REF_UNKNOWN);
    free(buf);
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 0 && buf != NULL);
    free(buf);
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 3 && buf != NULL && memcmp(buf, "\0\1\2", 3) == 0);
    free(buf);
    /* a frame of exactly max bytes is accepted */
    {
        char body[1024];

        memset(body, 'm', sizeof body);
        CHECK(frame_write(fds[1], body, sizeof body) == 0);
        CHECK(frame_read(fds[0], sizeof body, &buf, &len, &ref) == FRAME_OK);
        CHECK(len == sizeof body && buf != NULL && memcmp(buf, body, sizeof body) == 0);
        free(buf);
    }
    /* EOF between frames */
    close(fds[1]);
    buf = (char *)1;
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_EOF);
    CHECK(buf == NULL && len == 0);
    CHECK(frame_read(fds[0], 1024, &buf, &len, &ref) == FRAME_EOF);
    close(fds[0]);
    /* writing to a pipe nobody reads fails (SIGPIPE is ignored) */
    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    close(fds[0]);
    CHECK(frame_write(fds[1], "x", 1) == -1);
    close(fds[1]);
    /* bad descriptors */
    CHECK(frame_read(-1, 1024, &buf, &len, &ref) == FRAME_ERROR);
    CHECK(frame_write(-1, "x", 1) == -1);
}

/* Write raw bytes into a fresh pipe, close it, return the read end. */
static int pipe_with(const void *bytes, size_t n)
{
    int fds[2];

    if (pipe(fds) != 0) return -1;
    if (write_all(fds[1], bytes, n) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    close(fds[1]);
    return fds[0];
}

static void test_frame_eof_inside(void)
{
    static const unsigned char body_cut[] = { 0, 0, 0, 10, 'a', 'b', 'c' };
    static const unsigned char head_cut[] = { 0, 0 };
    static const unsigned char no_body[] = { 0, 0, 0, 1 };
    static const unsigned char big_cut[] = { 0, 0, 0x13, 0x88, 131, ERL_SMALL_TUPLE_EXT, 2,
                                             ERL_SMALL_INTEGER_EXT, 9 }; /* 5000 claimed */
    static const unsigned char good_then_cut[] = { 0, 0, 0, 2, 'o', 'k', 0, 0, 0, 5, 'x' };
    char *buf = (char *)1;
    size_t len = 99;
    long ref = -1;
    int fd;

    fd = pipe_with(body_cut, sizeof body_cut);
    CHECK(fd >= 0);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    CHECK(buf == NULL);
    close(fd);
    fd = pipe_with(head_cut, sizeof head_cut);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    close(fd);
    fd = pipe_with(no_body, sizeof no_body);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    close(fd);
    /* an oversized frame cut short is an error, not "too large" */
    fd = pipe_with(big_cut, sizeof big_cut);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    close(fd);
    fd = pipe_with(good_then_cut, sizeof good_then_cut);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 2 && buf != NULL && memcmp(buf, "ok", 2) == 0);
    free(buf);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_ERROR);
    close(fd);
    fd = pipe_with("", 0);
    CHECK(frame_read(fd, 1024, &buf, &len, &ref) == FRAME_EOF);
    close(fd);
}

/* A request read through the read-ahead buffer leaves no byte of it
 * there (it may hold an auth token), while the frames after it, read
 * ahead in the same buffer, are still read whole. */
static void test_frame_reader_wipes(void)
{
    static const char bytes[] = "\0\0\0\x0btok-SECRET1\0\0\0\x02ok";
    frame_reader r;
    char *buf = NULL;
    size_t len = 0, i;
    long ref;
    int fd = pipe_with(bytes, sizeof bytes - 1), found = 0;

    CHECK(fd >= 0);
    CHECK(frame_reader_init(&r, fd, 4096) == 0);
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 11 && buf != NULL && memcmp(buf, "tok-SECRET1", 11) == 0);
    free(buf);
    /* The whole input is in the buffer now; the first frame's bytes are not. */
    CHECK(r.end == sizeof bytes - 1);
    for (i = 0; i + 6 <= r.cap; i++)
        if (memcmp(r.buf + i, "SECRET", 6) == 0) found = 1;
    CHECK(!found);
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 2 && buf != NULL && memcmp(buf, "ok", 2) == 0);
    free(buf);
    frame_reader_free(&r);
    close(fd);
}

typedef struct writer {
    int fd;
    const char *const *bodies;
    const size_t *lens;
    int n;
    int failed;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    int i;

    for (i = 0; i < w->n; i++)
        if (frame_write(w->fd, w->bodies[i], w->lens[i]) != 0) w->failed = 1;
    close(w->fd);
    return NULL;
}

/* A writer that sleeps before each step: step i writes bytes[i] (len[i]
 * bytes) after delay_ms[i]; a negative length closes the pipe. */
typedef struct slow_writer {
    int fd;
    int n;
    const int *delay_ms;
    const char *const *bytes;
    const int *len;
    int failed;
} slow_writer;

static void *slow_writer_main(void *arg)
{
    slow_writer *w = arg;
    int i;

    for (i = 0; i < w->n; i++) {
        struct timespec d = { w->delay_ms[i] / 1000, (long)(w->delay_ms[i] % 1000) * 1000000L };

        (void)nanosleep(&d, NULL);
        if (w->len[i] < 0) {
            close(w->fd);
            w->fd = -1;
        } else if (write_all(w->fd, w->bytes[i], (size_t)w->len[i]) != 0) {
            w->failed = 1;
        }
    }
    return NULL;
}

static double thread_cpu_ms(void)
{
    struct timespec t;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return -1;
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The spinning reader on a non-blocking pipe: frames that are there, that
 * come late, that come in pieces and EOF all read as with a blocking one;
 * it spins only after short waits, and a long wait blocks (no CPU). */
static void test_frame_reader_spin(void)
{
    static const int delay[] = { 30, 0, 5, 5, 5 };
    static const char *const bytes[] = { "\0\0\0\4late", "\0\0\0\3", "abc", "\0\0\0\2ok", "" };
    static const int lens[] = { 8, 4, 3, 6, -1 };
    slow_writer w = { -1, 5, delay, bytes, lens, 0 };
    frame_reader r;
    pthread_t th;
    int fds[2], fl;
    char *buf;
    size_t len;
    long ref;
    double cpu0, cpu1;

    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    fl = fcntl(fds[0], F_GETFL);
    CHECK(fl >= 0 && fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) == 0);
    CHECK(frame_reader_init(&r, fds[0], 64) == 0);
    frame_reader_set_spin(&r, 200000); /* 200 us */
    CHECK(r.spin_now == 1);
    /* "hi" is there before the first read */
    CHECK(write_all(fds[1], "\0\0\0\2hi", 6) == 0);
    w.fd = fds[1];
    if (pthread_create(&th, NULL, slow_writer_main, &w) != 0) { CHECK(!"pthread_create"); return; }

    /* "hi" was there at once: no wait, so the next wait spins first */
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 2 && memcmp(buf, "hi", 2) == 0);
    free(buf);
    CHECK(r.spin_now == 1);
    /* "late" comes 30 ms later: the reader spun 200 us, then slept in poll */
    cpu0 = thread_cpu_ms();
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    cpu1 = thread_cpu_ms();
    CHECK(len == 4 && memcmp(buf, "late", 4) == 0);
    free(buf);
    CHECK(cpu1 - cpu0 < 10.0); /* not 30 ms of spinning */
    /* that wait was long: the next one does not spin */
    CHECK(r.spin_now == 0);
    /* a frame whose body comes 5 ms after its header, then another */
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 3 && memcmp(buf, "abc", 3) == 0);
    free(buf);
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == 2 && memcmp(buf, "ok", 2) == 0);
    free(buf);
    /* the writer closes: a clean end between frames */
    CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_EOF);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.failed == 0);
    frame_reader_free(&r);
    close(fds[0]);

    /* spinning off on a non-blocking descriptor: it polls at once */
    {
        static const int d2[] = { 10, 0 };
        static const char *const b2[] = { "\0\0\0\1z", "" };
        static const int l2[] = { 5, -1 };
        slow_writer w2 = { -1, 2, d2, b2, l2, 0 };

        if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
        fl = fcntl(fds[0], F_GETFL);
        CHECK(fl >= 0 && fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) == 0);
        CHECK(frame_reader_init(&r, fds[0], 64) == 0);
        w2.fd = fds[1];
        if (pthread_create(&th, NULL, slow_writer_main, &w2) != 0) { CHECK(!"pthread_create"); return; }
        cpu0 = thread_cpu_ms();
        CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_OK);
        cpu1 = thread_cpu_ms();
        CHECK(len == 1 && buf[0] == 'z');
        free(buf);
        CHECK(cpu1 - cpu0 < 5.0);
        CHECK(frame_reader_next(&r, 1024, &buf, &len, &ref) == FRAME_EOF);
        CHECK(pthread_join(th, NULL) == 0);
        CHECK(w2.failed == 0);
        frame_reader_free(&r);
        close(fds[0]);
    }
}

static void test_frame_too_large(void)
{
    const size_t max = 1024;
    ei_x_buff big, next, big2;
    char *garbage = malloc(2000), *atmax = malloc(max);
    const char *bodies[6];
    size_t lens[6];
    int fds[2];
    pthread_t th;
    writer w;
    char *buf;
    size_t len;
    long ref;
    char *payload = malloc(200000);
    lsq_request rq;
    const char *why;

    if (garbage == NULL || atmax == NULL || payload == NULL) abort();
    memset(garbage, 0xab, 2000);
    memset(atmax, 'q', max);
    memset(payload, 'p', 200000);
    /* {42, query, <<...>>, []}, 200000 bytes in all */
    req_begin(&big, 42, "query", 2);
    EI(ei_x_encode_binary(&big, payload, 200000 - 18));
    EI(ei_x_encode_empty_list(&big));
    CHECK(big.index == 200000);
    /* {100000, query, <<...>>, []} with the ref in an INTEGER_EXT, 70000 bytes */
    req_begin(&big2, 100000, "query", 2);
    EI(ei_x_encode_binary(&big2, payload, 70000 - 21));
    EI(ei_x_encode_empty_list(&big2));
    CHECK(big2.index == 70000);
    req_begin(&next, 43, "ping", 0);
    bodies[0] = big.buff;  lens[0] = (size_t)big.index;
    bodies[1] = next.buff; lens[1] = (size_t)next.index;
    bodies[2] = garbage;   lens[2] = 2000;
    bodies[3] = big2.buff; lens[3] = (size_t)big2.index;
    bodies[4] = atmax;     lens[4] = max;
    bodies[5] = next.buff; lens[5] = (size_t)next.index;
    if (pipe(fds) != 0) { CHECK(!"pipe"); return; }
    w.fd = fds[1];
    w.bodies = bodies;
    w.lens = lens;
    w.n = 6;
    w.failed = 0;
    if (pthread_create(&th, NULL, writer_main, &w) != 0) { CHECK(!"pthread_create"); return; }

    buf = (char *)1;
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_TOO_LARGE);
    CHECK(buf == NULL);
    CHECK(ref == 42);
    CHECK(len == 200000);
    /* the next frame is intact */
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == (size_t)next.index && buf != NULL && memcmp(buf, next.buff, len) == 0);
    CHECK(buf != NULL && term_check(buf, len, &why) == 0 &&
          term_parse_request(buf, len, &rq, &why) == 0 && rq.ref == 43 &&
          strcmp(rq.cmd, "ping") == 0);
    free(buf);
    /* garbage over the limit: no ref */
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_TOO_LARGE);
    CHECK(ref == LSQ_REF_UNKNOWN && len == 2000);
    /* over the 64 KiB skip chunk, ref in INTEGER_EXT */
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_TOO_LARGE);
    CHECK(ref == 100000 && len == 70000);
    /* exactly max is fine */
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == max && buf != NULL && buf[0] == 'q' && buf[max - 1] == 'q');
    free(buf);
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_OK);
    CHECK(len == (size_t)next.index && buf != NULL && memcmp(buf, next.buff, len) == 0);
    free(buf);
    CHECK(frame_read(fds[0], max, &buf, &len, &ref) == FRAME_EOF);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(w.failed == 0);
    close(fds[0]);
    ei_x_free(&big);
    ei_x_free(&big2);
    ei_x_free(&next);
    free(garbage);
    free(atmax);
    free(payload);
}

/* ======================================================================
 * 7. fuzz corpus replay
 *
 * Every file of the committed fuzz corpus goes through the fuzz targets'
 * own path (port/fuzz/fuzz_harness.h): request files in name order on one
 * persistent port with an open :memory: database, each answered with a
 * well-formed {Ref, ok | error, _}; frame files through the frame reader
 * and the term checks. Run from the repository root. A missing or empty
 * corpus directory is a failure, never a silent pass. Reproducers of open
 * findings live in test/fuzz_corpus/crashes/ and are not replayed here.
 * ==================================================================== */

#include "fuzz/fuzz_harness.h"

#include <dirent.h>

static int corpus_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted by name (malloc'd paths); -1 if dir
 * cannot be read. */
static int corpus_list(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    char **files = NULL, **grown, path[1024];
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        (void)snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(files, cap * sizeof *files);
            if (grown == NULL) abort();
            files = grown;
        }
        files[*n] = strdup(path);
        if (files[*n] == NULL) abort();
        (*n)++;
    }
    (void)closedir(d);
    if (*n > 1) qsort(files, *n, sizeof *files, corpus_cmp);
    *out = files;
    return 0;
}

static void corpus_free(char **files, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* The whole file in a malloc'd buffer; -1 on error. */
static int corpus_read(const char *path, char **buf, size_t *len)
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

static void test_fuzz_corpus_request(void)
{
    static const char dir[] = "test/fuzz_corpus/request";
    fuzz_port f;
    char **files, *buf;
    size_t n, i, len, kinds[4] = { 0, 0, 0, 0 };
    const char *why;
    int rc;

    if (corpus_list(dir, &files, &n) != 0 || n == 0) {
        CHECK(!"fuzz corpus test/fuzz_corpus/request is missing or empty (run from the repo root)");
        return;
    }
    if (fuzz_port_init(&f) != 0) {
        CHECK(!"fuzz harness setup failed");
        corpus_free(files, n);
        return;
    }
    for (i = 0; i < n; i++) {
        if (corpus_read(files[i], &buf, &len) != 0) {
            CHECK(!"cannot read a corpus file");
            fprintf(stderr, "    %s\n", files[i]);
            continue;
        }
        rc = fuzz_port_run(&f, buf, len, &why);
        CHECK(rc >= 0);
        if (rc < 0) fprintf(stderr, "    %s: %s\n", files[i], why);
        else kinds[rc]++;
        free(buf);
    }
    /* The corpus must reach the commands, not only the frame checks. */
    CHECK(kinds[FUZZ_RAN] > 0);
    CHECK(kinds[FUZZ_MALFORMED] > 0);
    CHECK(f.port.conn != NULL || f.reopens > 0);
    fuzz_port_fini(&f);
    corpus_free(files, n);
}

static void test_fuzz_corpus_frames(void)
{
    static const char dir[] = "test/fuzz_corpus/frames";
    fuzz_guard g;
    char **files, *buf;
    size_t n, i, len;
    const char *bad;

    if (corpus_list(dir, &files, &n) != 0 || n == 0) {
        CHECK(!"fuzz corpus test/fuzz_corpus/frames is missing or empty (run from the repo root)");
        return;
    }
    if (fuzz_guard_init(&g, FUZZ_GUARD_BYTES) != 0) {
        CHECK(!"guard page setup failed");
        corpus_free(files, n);
        return;
    }
    for (i = 0; i < n; i++) {
        if (corpus_read(files[i], &buf, &len) != 0) {
            CHECK(!"cannot read a corpus file");
            fprintf(stderr, "    %s\n", files[i]);
            continue;
        }
        bad = fuzz_frames_run(&g, (const unsigned char *)buf, len);
        CHECK(bad == NULL);
        if (bad != NULL) fprintf(stderr, "    %s: %s\n", files[i], bad);
        free(buf);
    }
    fuzz_guard_free(&g);
    corpus_free(files, n);
}

/* ======================================================================
 * main
 * ==================================================================== */


static const test_case k_tests[] = {
    TEST(test_check_accepts_valid),
    TEST(test_check_rejects_framing),
    TEST(test_check_rejects_truncation),
    TEST(test_check_rejects_unsupported_types),
    TEST(test_check_depth),
    TEST(test_check_rejects_huge_lengths),
    TEST(test_peek_ref),
    TEST(test_parse_request_ok),
    TEST(test_parse_request_bad),
    TEST(test_decode_value_ints),
    TEST(test_decode_value_floats),
    TEST(test_decode_value_text_blob),
    TEST(test_decode_value_unsupported),
    TEST(test_decode_helpers),
    TEST(test_reply_begin_header),
    TEST(test_encode_value_roundtrip),
    TEST(test_error_encode),
    TEST(test_commands_kind),
    TEST(test_dispatch_open_close_ping),
    TEST(test_dispatch_value_roundtrip),
    TEST(test_dispatch_changes),
    TEST(test_dispatch_named_params),
    TEST(test_dispatch_param_errors),
    TEST(test_dispatch_sql_errors),
    TEST(test_dispatch_constraint),
    TEST(test_dispatch_bad_frames),
    TEST(test_dispatch_open_options),
    TEST(test_dispatch_files),
    TEST(test_dispatch_big_blob),
    TEST(test_dispatch_interrupt),
    TEST(test_pipeline_malformed),
    TEST(test_stmt_cache_reuse),
    TEST(test_schema_change_columns),
    TEST(test_cursors),
    TEST(test_prepared_statements),
    TEST(test_batch),
    TEST(test_execute_many),
    TEST(test_execute_script),
    TEST(test_info_settings_reset),
    TEST(test_frame_roundtrip),
    TEST(test_frame_eof_inside),
    TEST(test_frame_reader_wipes),
    TEST(test_frame_too_large),
    TEST(test_frame_reader_spin),
    TEST(test_params_order),
    TEST(test_fuzz_corpus_request),
    TEST(test_fuzz_corpus_frames),
};

int main(void)
{
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) return 2;
    if (ei_init() != 0) return 2;
    return run_tests(k_tests, sizeof k_tests / sizeof k_tests[0]);
}
