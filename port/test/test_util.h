/*
 * test_util.h - what the modules of the test_port program share (test_util.c):
 * value and frame builders made with ei alone, the reply decoder (every
 * reply is checked against the {Ref, ok, _} | {Ref, error, Map} shape and
 * taken apart with ei_decode_*, independently of term.c), request builders
 * that run a frame the way main.c does, rowset helpers, the port fixture
 * and temporary directories; and the suites that test_port.c runs.
 *
 * Helpers named *_at take the file and line of the test that called them
 * (the upper-case macros pass them), so that a failed CHECK_AT points at
 * the test, not at the helper.
 */
#ifndef LSQ_TEST_UTIL_H
#define LSQ_TEST_UTIL_H

#include "harness.h"
#include "commands.h"
#include "protocol.h"

#include <ei.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- the suites of test_port, in the order test_port.c runs them ---------- */

extern const test_suite term_suite;        /* test_term.c: term.c */
extern const test_suite errors_suite;      /* test_errors.c: errors.c, reply_error */
extern const test_suite commands_suite;    /* test_commands.c: commands_dispatch end to end */
extern const test_suite frames_suite;      /* test_frames.c: frame_io.c */
extern const test_suite spin_suite;        /* test_spin.c: frame_io.c's spin policy */
extern const test_suite params_suite;      /* test_params.c: params.c */
extern const test_suite replica_suite;     /* test_replica.c: pull_proto.c, replica_file.c, ro_guard.c */
extern const test_suite crypt_suite;       /* test_crypt.c: crypt_codec.c and the VFS shim */
extern const test_suite gather_suite;      /* test_gather.c: journal_gather.c */
extern const test_suite vector_suite;      /* test_vector.c: vector.c */
extern const test_suite vector_text_suite; /* test_vector_text.c: vector_text.c */
extern const test_suite vector_ddl_suite;  /* test_vector_ddl.c: vector_ddl.c */
extern const test_suite diskann_suite;     /* test_diskann.c: vector_diskann.c */
extern const test_suite fuzz_corpus_suite; /* test_fuzz_corpus.c: the fuzz corpus replay */

/* ---- checks ------------------------------------------------------------------ */

/* For helpers: report the file and line of the test that called them. */
#define CHECK_AT(file, line, cond) check_at((cond) != 0, #cond, (file), (line))
/* ei encoders return 0 or -1; a failure while building a frame is a failure. */
#define EI(call) CHECK((call) == 0)

/* ---- small utilities ------------------------------------------------------- */

uint32_t be32(const unsigned char *p);
/* Whether needle occurs in the n bytes at p. */
int contains(const char *p, size_t n, const char *needle);
uint64_t dbl_bits(double d);
double bits_dbl(uint64_t u);

/* Raw term builders: a new buffer with the version byte, raw bytes,
 * NEW_FLOAT_EXT with exactly these bits (NaN included), SMALL_BIG_EXT with
 * sign and 8 little-endian magnitude bytes. */
void xnew(ei_x_buff *x);
void xraw(ei_x_buff *x, const void *bytes, size_t n);
void xfloat_bits(ei_x_buff *x, uint64_t u);
void xbig8(ei_x_buff *x, int negative, uint64_t mag);

/* ---- values ------------------------------------------------------------------ */

lsq_value vnull(void);
lsq_value vint(long long i);
lsq_value vreal(double r);
lsq_value vtextn(const char *p, size_t n);
lsq_value vtext(const char *s);
lsq_value vblob(const void *p, size_t n);

/* CHECK that got equals want exactly (reals bit for bit); prints both if not. */
void check_value_at(const char *file, int line, const lsq_value *got, const lsq_value *want);

/* Reply-side decoders (ei only, independent of term_decode_*): a binary
 * (pointing into buf), a value as the port encodes one. 0 or -1. */
int get_bin(const char *buf, int *idx, const char **p, size_t *n);
int get_value(const char *buf, int *idx, lsq_value *v);

/* ---- replies ----------------------------------------------------------------- */

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

void reply_init(reply *r);
void reply_free(reply *r);
/* Take a reply already encoded in x (ownership moves into r) and decode
 * its header, its tag and (for errors) the whole map; 0 if well-formed. */
int reply_take(reply *r, ei_x_buff *x);

/* Run one request frame the way main.c does: term_check, parse, dispatch.
 * Frees req. The reply is left in r (r->valid == 0 if anything failed). */
void call_at(const char *file, int line, lsq_port *p, ei_x_buff *req, reply *r);
#define CALL(p, req, r) call_at(__FILE__, __LINE__, (p), (req), (r))

/* ---- request builders -------------------------------------------------------- */

/* An integer the way term_to_binary/1 writes it. */
void xint_erl(ei_x_buff *x, long long v);
/* {Ref, Cmd, ...} with nargs arguments still to be encoded. */
void req_begin(ei_x_buff *x, long ref, const char *cmd, int nargs);
/* [V...] */
void put_list(ei_x_buff *x, const lsq_value *vals, int n);
/* {Ref, Cmd, Sql, [V...]} */
void req_sql(ei_x_buff *x, long ref, const char *cmd, const char *sql, size_t sql_len,
             const lsq_value *vals, int n);
/* {Ref, Cmd, Sql, {named, [{Name, V}...]}} */
void req_named(ei_x_buff *x, long ref, const char *cmd, const char *sql,
               const char *const *names, const lsq_value *vals, int n);

void sql_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *cmd,
            const char *sql, const lsq_value *vals, int n);
#define QUERY(p, r, ref, sql, vals, n) \
    sql_at(__FILE__, __LINE__, (p), (r), (ref), "query", (sql), (vals), (n))
#define EXEC(p, r, ref, sql, vals, n) \
    sql_at(__FILE__, __LINE__, (p), (r), (ref), "execute", (sql), (vals), (n))

void named_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *cmd,
              const char *sql, const char *const *names, const lsq_value *vals, int n);
#define QNAMED(p, r, ref, sql, names, vals, n) \
    named_at(__FILE__, __LINE__, (p), (r), (ref), "query", (sql), (names), (vals), (n))

/* {Ref, Cmd} */
void simple_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *cmd);
#define SIMPLE(p, r, ref, cmd) simple_at(__FILE__, __LINE__, (p), (r), (ref), (cmd))

/* {Ref, open, [{path, P}, {read_only, B}?, {create, B}?]}; -1 omits a flag. */
void open_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *path,
             int read_only, int create);
#define OPEN(p, r, ref, path, ro, cr) \
    open_at(__FILE__, __LINE__, (p), (r), (ref), (path), (ro), (cr))

/* ---- reply expectations ------------------------------------------------------ */

void expect_error_at(const char *file, int line, const reply *r, long ref, const char *code);
#define EXPECT_ERROR(r, ref, code) expect_error_at(__FILE__, __LINE__, (r), (ref), (code))

void expect_msg_at(const char *file, int line, const reply *r, const char *needle);
#define EXPECT_MSG(r, needle) expect_msg_at(__FILE__, __LINE__, (r), (needle))

void expect_sql_at(const char *file, int line, const reply *r, const char *sql, size_t n);
#define EXPECT_SQL(r, sql) expect_sql_at(__FILE__, __LINE__, (r), (sql), strlen(sql))

void expect_ok_atom_at(const char *file, int line, const reply *r, long ref);
#define EXPECT_OK_ATOM(r, ref) expect_ok_atom_at(__FILE__, __LINE__, (r), (ref))

void expect_exec_at(const char *file, int line, const reply *r, long ref, long long changes,
                    long long rowid);
#define EXPECT_EXEC(r, ref, ch, id) expect_exec_at(__FILE__, __LINE__, (r), (ref), (ch), (id))

/* ---- rowsets ----------------------------------------------------------------- */

#define MAX_COLS 16
typedef struct rowset {
    int ncol;
    lsq_value cols[MAX_COLS]; /* column names, as LSQ_TEXT */
    size_t nrows;
    lsq_value *vals;          /* nrows * ncol, row-major, pointing into the reply */
    size_t cap;
} rowset;

void rowset_free(rowset *rs);
/* A column list (of binaries) at *idx into rs. */
int get_columns(const char *buf, int *idx, rowset *rs);
/* A list of row tuples of arity rs->ncol at *idx, appended to rs. */
int get_row_list(const char *buf, int *idx, rowset *rs);
/* {Columns, Rows} at r->idx; the reply must end there. */
int get_rows(const reply *r, rowset *rs);

void check_rowset_at(const char *file, int line, const rowset *rs, int ncol,
                     const char *const *cols, size_t nrows, const lsq_value *want);
void expect_rows_at(const char *file, int line, const reply *r, long ref, int ncol,
                    const char *const *cols, size_t nrows, const lsq_value *want);
#define EXPECT_ROWS(r, ref, ncol, cols, nrows, want) \
    expect_rows_at(__FILE__, __LINE__, (r), (ref), (ncol), (cols), (nrows), (want))

/* The integer under an atom key of the map at idx; -1 if absent or not an
 * integer. */
int map_int(const char *buf, int idx, const char *key, long long *out);

/* ---- port fixture ------------------------------------------------------------ */

void port_init(lsq_port *p);
/* Closes everything; CHECKs that nothing is left open. */
void port_fini(lsq_port *p);

/* A unique temporary directory, removed by tmpdir_remove (which also
 * removes the names given and their -journal, -wal and -shm files). */
typedef struct tmpdir { char dir[64]; char path[128]; } tmpdir;

int tmpdir_make(tmpdir *t);
/* dir/name, in t->path (valid until the next call). */
const char *tmpdir_file(tmpdir *t, const char *name);
void tmpdir_remove(tmpdir *t, const char *const *names, int n);
int file_exists(const char *path);
/* A whole file in a malloc'd buffer (one byte more than its length): 0, or
 * -1 if it cannot be read (*buf NULL). */
int test_read_file(const char *path, unsigned char **buf, size_t *len);

/* The integer the first column of sql's first row holds; -1 on any error. */
long long test_sql_int(sqlite3 *db, const char *sql);
/* 1 if PRAGMA integrity_check says ok. */
int test_integrity_ok(sqlite3 *db);

#endif
