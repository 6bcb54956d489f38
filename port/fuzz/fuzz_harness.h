/*
 * fuzz_harness.h - the request path of main.c, made safe to run millions of
 * times in one process. Shared by the fuzz targets (port/fuzz/fuzz_*.c) and
 * by the corpus replay test in port/test/test_fuzz_corpus.c, so that `make test`
 * runs every corpus file exactly the way the fuzzer did.
 *
 * Request path (fuzz_port_run): one frame body, as intake.c reads it and
 * main.c runs it: term_check, term_parse_request; a malformed frame gets
 * intake.c's bad_frame reply (ref peeked); a control command gets its
 * reply (interrupt: ok; cancel: ok or bad_argument); a worker command is
 * dispatched on a persistent lsq_port with an open ":memory:" database;
 * an answer to a callback is dropped with no reply (none waits for it).
 * No channel is installed (channel.h): the Erlang SQL functions the
 * fuzzer registers (create_function) fail every call with "an Erlang
 * function runs only inside a request".
 * Every reply must be one well-formed term {Ref, ok, _} or
 * {Ref, error, #{code, message, ...}} carrying the request's ref: anything
 * else is reported as a finding.
 *
 * What keeps the fuzzer from hurting itself (none of it changes the port):
 *  - input bytes are copied so that they end right at a PROT_NONE page:
 *    libei and libc are not instrumented, so an over-read in them (or in
 *    the port) past the end of a frame faults at once instead of passing
 *    unseen; under ASan the bytes just before the copy are poisoned too;
 *  - a watchdog thread interrupts a request after FUZZ_DEADLINE_MS (env,
 *    default 5 ms) the way main.c's control path does (commands_interrupt:
 *    the backend's progress handler stops the statement), so recursive
 *    CTEs and huge joins end as `interrupted` errors;
 *  - before every input: the connection is reopened (a real `open`
 *    request) if a `close` went through, as a fresh port (handle ids from
 *    1 again, see below); SQLite limits are put back to safe values
 *    (length 1 MB, 100 columns, no ATTACH, no worker threads; the fuzzer
 *    may change them with `limit`, for one input only), the busy timeout
 *    to 10 ms, max_result_bytes to at most 16 MiB, the SQLite heap to
 *    256 MiB;
 *  - nothing touches files: `backup` to anything but ":memory:" or "",
 *    `open` of anything but an in-memory database (a `url` or `ca_file`
 *    option included: the network and the disk), and any frame holding
 *    the word VACUUM (VACUUM INTO writes a file) are skipped;
 *  - frames holding the words PRINTF or FORMAT are skipped: SQLite 3.40's
 *    printf('%.*c', N, c) loops N times inside one call (seconds for
 *    N = 2^31, beyond the reach of interrupts; test/fuzz_corpus/crashes);
 *  - `open` closes the current connection first when its ref is odd (so
 *    the option decoder is reached), and is a plain `misuse` otherwise;
 *  - a fixture table t(a, b, c, d) with three rows, a prepared statement
 *    and a cursor exist whenever the fuzzer has not just removed them; on
 *    a fresh port they are handle ids 1 and 2 (the seeds use these); so do
 *    Erlang SQL functions f and g (any arity) and agg (an aggregate of
 *    one argument), registered again once the fuzzer has deleted them all,
 *    so that the SQL calling them reaches functions.c whatever came before;
 *  - after a `close`, every FUZZ_RECYCLE_EVERY inputs, or when more than
 *    128 handles or 64 MiB of SQLite memory pile up, the port is torn down
 *    and started afresh (as a new port program: handle ids restart at 1),
 *    which also reopens the database and rebuilds the fixture. The state
 *    an input sees is thus a function of the inputs since the last
 *    recycle, which fuzz_request records (FUZZ_HISTORY_DIR) so a crash
 *    that needs earlier requests can be replayed in order.
 *
 * Known findings can be stepped over with FUZZ_KNOWN (see below).
 *
 * Frame path (fuzz_frames_run): see FUZZ_FRAMES_* below; the same stream
 * then goes through the port's own reader, intake.c (fz_intake_run).
 *
 * All functions are static inline: the header is compiled into each user
 * (gcc -Wall -Wextra -Werror in the tests, clang in the fuzzers).
 */
#ifndef LSQ_FUZZ_HARNESS_H
#define LSQ_FUZZ_HARNESS_H

#include "commands.h"
#include "errors.h"
#include "frame_io.h"
#include "handles.h"
#include "intake.h"
#include "protocol.h"
#include "term.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#ifdef FZ_ASAN
#include <sanitizer/asan_interface.h>
#define FZ_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FZ_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define FZ_POISON(p, n) ((void)(p), (void)(n))
#define FZ_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define FUZZ_DEADLINE_MS 5            /* default; env FUZZ_DEADLINE_MS */
#define FUZZ_RECYCLE_EVERY 1000       /* inputs between fresh ports */
#define FUZZ_MAX_HANDLES 128          /* more live handles: recycle */
#define FUZZ_MAX_SQLITE_MEM (64LL << 20)
#define FUZZ_HEAP_LIMIT (256LL << 20) /* sqlite3_hard_heap_limit64 */
#define FUZZ_MAX_RESULT ((size_t)16 << 20)
#define FUZZ_GUARD_BYTES (256 * 1024) /* larger inputs go to the heap */
#define FUZZ_BIG_REPLY (4 * 1024 * 1024) /* as main.c: drop a bigger reply buffer */

/* Results of fuzz_port_run (negative: a finding, see *why). */
enum { FUZZ_RAN = 0, FUZZ_MALFORMED = 1, FUZZ_CONTROL = 2, FUZZ_SKIPPED = 3 };

/* ---- reading bytes ------------------------------------------------------ */

static inline uint32_t fz_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Skip the term at *pos in b[0..len): 0 with *pos after it, or -1 (bad
 * tag, truncated). Elements recurse (depth <= 64); a list's tail is
 * followed in a loop, so the chained cons cells of a reply's rows
 * ([R1 | [R2 | ...]]) cost no depth. Independent of term_check, whose
 * verdict it is compared with. */
static inline int fz_walk(const unsigned char *b, size_t len, size_t *pos, int depth,
                          size_t *last_float)
{
    size_t p;
    uint64_t n, i;

    if (depth > 64) return -1;
    for (;;) {
        p = *pos;
        if (p >= len) return -1;
        if (b[p] == ERL_FLOAT_EXT && last_float != NULL) *last_float = p;
        switch (b[p++]) {
        case ERL_SMALL_INTEGER_EXT: n = 1; break;
        case ERL_INTEGER_EXT: n = 4; break;
        case NEW_FLOAT_EXT: n = 8; break;
        case ERL_FLOAT_EXT: n = 31; break;
        case ERL_NIL_EXT: n = 0; break;
        case ERL_SMALL_ATOM_EXT:
        case ERL_SMALL_ATOM_UTF8_EXT:
            if (len - p < 1) return -1;
            n = b[p];
            p += 1;
            break;
        case ERL_ATOM_EXT:
        case ERL_ATOM_UTF8_EXT:
        case ERL_STRING_EXT:
            if (len - p < 2) return -1;
            n = ((uint64_t)b[p] << 8) | b[p + 1];
            p += 2;
            break;
        case ERL_BINARY_EXT:
            if (len - p < 4) return -1;
            n = fz_be32(b + p);
            p += 4;
            break;
        case ERL_BIT_BINARY_EXT:
            if (len - p < 5) return -1;
            n = fz_be32(b + p);
            p += 5;
            break;
        case ERL_SMALL_BIG_EXT:
            if (len - p < 2) return -1;
            n = b[p];
            p += 2;
            break;
        case ERL_LARGE_BIG_EXT:
            if (len - p < 5) return -1;
            n = fz_be32(b + p);
            p += 5;
            break;
        case ERL_SMALL_TUPLE_EXT:
        case ERL_LARGE_TUPLE_EXT:
        case ERL_MAP_EXT:
            if (b[p - 1] == ERL_SMALL_TUPLE_EXT) {
                if (len - p < 1) return -1;
                n = b[p];
                p += 1;
            } else {
                if (len - p < 4) return -1;
                n = fz_be32(b + p);
                if (b[p - 1] == ERL_MAP_EXT) n *= 2;
                p += 4;
            }
            if (n > len - p) return -1;
            for (i = 0; i < n; i++)
                if (fz_walk(b, len, &p, depth + 1, last_float) != 0) return -1;
            *pos = p;
            return 0;
        case ERL_LIST_EXT:
            if (len - p < 4) return -1;
            n = fz_be32(b + p);
            p += 4;
            if (n > len - p) return -1;
            for (i = 0; i < n; i++)
                if (fz_walk(b, len, &p, depth + 1, last_float) != 0) return -1;
            *pos = p;
            continue; /* the tail */
        default:
            return -1;
        }
        if (n > len - p) return -1;
        *pos = p + n;
        return 0;
    }
}

static inline int fz_skip(const unsigned char *b, size_t len, size_t *pos, int depth)
{
    return fz_walk(b, len, pos, depth, NULL);
}

/* ---- known findings ------------------------------------------------------ */

/* Findings already reported can be stepped over so that a long run goes on
 * past them until they are fixed: env FUZZ_KNOWN, a comma-separated list of
 * (details: test/fuzz_corpus/crashes/README.md; all three are fixed now,
 * the names stay for runs against older trees and as the pattern for the
 * next finding)
 *   float_ext         a FLOAT_EXT term with no NUL byte from its tag to the
 *                     end of the frame: ei_decode_double's sscanf reads past
 *                     the frame. Such frames are skipped (request path) or
 *                     not decoded (frame path).
 *   ei_skip_term      ei_skip_term returns 0 with a wrong end index when an
 *                     element of a list/tuple/map fails to decode (a
 *                     FLOAT_EXT that is not a number, a BIT_BINARY_EXT with a
 *                     bad bit count): the frame path stops comparing its
 *                     size with term_check's.
 *   backup_write_txn  `backup` while a write transaction is open waits
 *                     1000 x 10 ms and ignores interrupts: skipped while the
 *                     connection is not in autocommit mode.
 * Off by default. */
static inline int fz_known(const char *name)
{
    static const char *known = (const char *)1;
    const char *p;
    size_t k = strlen(name);

    if (known == (const char *)1) known = getenv("FUZZ_KNOWN");
    for (p = known; p != NULL && (p = strstr(p, name)) != NULL; p += k)
        if ((p == known || p[-1] == ',') && (p[k] == 0 || p[k] == ',')) return 1;
    return 0;
}

/* 1 if a FLOAT_EXT in the (checked) frame has no NUL byte after its tag. */
static inline int fz_float_overread(const char *frame, size_t len)
{
    const unsigned char *b = (const unsigned char *)frame;
    size_t pos = 1, last = 0;

    if (len < 2 || fz_walk(b, len, &pos, 0, &last) != 0 || last == 0) return 0;
    return memchr(b + last + 1, 0, len - last - 1) == NULL;
}

/* The atom at *pos (any of the four encodings): its bytes. 0 or -1. */
static inline int fz_atom_at(const unsigned char *b, size_t len, size_t *pos,
                             const unsigned char **s, size_t *n)
{
    size_t p = *pos;

    if (p >= len) return -1;
    switch (b[p]) {
    case ERL_SMALL_ATOM_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
        if (len - p < 2) return -1;
        *n = b[p + 1];
        p += 2;
        break;
    case ERL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
        if (len - p < 3) return -1;
        *n = ((size_t)b[p + 1] << 8) | b[p + 2];
        p += 3;
        break;
    default:
        return -1;
    }
    if (*n > len - p) return -1;
    *s = b + p;
    *pos = p + *n;
    return 0;
}

static inline int fz_bytes_are(const unsigned char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* An integer term (small, 32-bit or a bignum of up to 8 bytes). 0 or -1. */
static inline int fz_int_at(const unsigned char *b, size_t len, size_t *pos, long long *v)
{
    size_t p = *pos, k, n;
    uint64_t mag = 0;

    if (p >= len) return -1;
    switch (b[p]) {
    case ERL_SMALL_INTEGER_EXT:
        if (len - p < 2) return -1;
        *v = b[p + 1];
        *pos = p + 2;
        return 0;
    case ERL_INTEGER_EXT:
        if (len - p < 5) return -1;
        *v = (int32_t)fz_be32(b + p + 1);
        *pos = p + 5;
        return 0;
    case ERL_SMALL_BIG_EXT:
        if (len - p < 3) return -1;
        n = b[p + 1];
        if (n > 8 || n > len - p - 3) return -1;
        for (k = 0; k < n; k++) mag |= (uint64_t)b[p + 3 + k] << (8 * k);
        if (mag > (uint64_t)INT64_MAX) return -1;
        *v = b[p + 2] ? -(long long)mag : (long long)mag;
        *pos = p + 3 + n;
        return 0;
    default:
        return -1;
    }
}

/* ---- replies ---------------------------------------------------------- */

/* NULL if rbuf[0..len) is {Ref, ok, _} or {Ref, error, ErrorMap} with the
 * ref in a 4-byte INTEGER_EXT (PROTOCOL.md), else what is wrong. */
static inline const char *fuzz_check_reply(const char *rbuf, size_t len, long ref)
{
    const unsigned char *b = (const unsigned char *)rbuf, *s;
    size_t pos = 1, n, k, nkeys;
    long long v;
    int have_code = 0, have_msg = 0, have_ext = 0, have_sql = 0, have_index = 0;

    if (rbuf == NULL || len < 10 || b[0] != 131 || b[1] != ERL_SMALL_TUPLE_EXT || b[2] != 3 ||
        b[3] != ERL_INTEGER_EXT)
        return "reply does not start with 131, 104, 3, 98";
    if ((long)fz_be32(b + 4) != ref) return "reply carries another ref than the request";
    if (fz_skip(b, len, &pos, 0) != 0 || pos != len)
        return "reply is not exactly one well-formed term";
    pos = 8;
    if (fz_atom_at(b, len, &pos, &s, &n) != 0) return "reply tag is not an atom";
    if (fz_bytes_are(s, n, "ok")) return NULL;
    if (!fz_bytes_are(s, n, "error")) return "reply tag is neither ok nor error";
    if (len - pos < 5 || b[pos] != ERL_MAP_EXT) return "error reply without a map";
    nkeys = fz_be32(b + pos + 1);
    pos += 5;
    for (k = 0; k < nkeys; k++) {
        if (fz_atom_at(b, len, &pos, &s, &n) != 0) return "error map key is not an atom";
        if (fz_bytes_are(s, n, "code") && !have_code) {
            have_code = 1;
            if (fz_atom_at(b, len, &pos, &s, &n) != 0 || n == 0) return "error code is not an atom";
        } else if ((fz_bytes_are(s, n, "message") && !have_msg) ||
                   (fz_bytes_are(s, n, "sql") && !have_sql)) {
            if (n == 3) have_sql = 1; else have_msg = 1;
            if (pos >= len || b[pos] != ERL_BINARY_EXT) return "error message/sql is not a binary";
            if (fz_skip(b, len, &pos, 0) != 0) return "error message/sql is cut off";
        } else if (fz_bytes_are(s, n, "extended_code") && !have_ext) {
            have_ext = 1;
            if (fz_int_at(b, len, &pos, &v) != 0) return "extended_code is not an integer";
        } else if (fz_bytes_are(s, n, "index") && !have_index) {
            have_index = 1;
            if (fz_int_at(b, len, &pos, &v) != 0 || v < 1) return "error index is not a positive integer";
        } else {
            return "unknown or repeated key in an error map";
        }
    }
    if (!have_code || !have_msg) return "error map lacks code or message";
    if (pos != len) return "bytes after the error map";
    return NULL;
}

/* ---- guard page --------------------------------------------------------- */

/* Inputs are copied so that their last byte is the last byte before a
 * PROT_NONE page. */
typedef struct fuzz_guard {
    unsigned char *base;        /* mapping: size bytes, then the guard page */
    size_t size;
    unsigned char *poisoned;    /* ASan-poisoned bytes before the last copy */
    size_t poisoned_len;
    char *heap;                 /* copy of an input larger than size */
} fuzz_guard;

static inline int fuzz_guard_init(fuzz_guard *g, size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    void *m;

    memset(g, 0, sizeof *g);
    if (page <= 0) page = 4096;
    size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
    m = mmap(NULL, size + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -1;
    if (mprotect((unsigned char *)m + size, (size_t)page, PROT_NONE) != 0) {
        (void)munmap(m, size + (size_t)page);
        return -1;
    }
    g->base = m;
    g->size = size;
    return 0;
}

static inline void fuzz_guard_free(fuzz_guard *g)
{
    long page = sysconf(_SC_PAGESIZE);

    if (g->poisoned_len) FZ_UNPOISON(g->poisoned, g->poisoned_len);
    if (g->base != NULL) (void)munmap(g->base, g->size + (size_t)(page > 0 ? page : 4096));
    free(g->heap);
    memset(g, 0, sizeof *g);
}

/* A copy of data[0..len) ending at the guard page (or on the heap if it
 * does not fit); valid until the next copy. NULL only if out of memory. */
static inline char *fuzz_guard_copy(fuzz_guard *g, const void *data, size_t len)
{
    unsigned char *p;
    size_t before;

    free(g->heap);
    g->heap = NULL;
    if (g->base == NULL || len > g->size) {
        g->heap = malloc(len ? len : 1);
        if (g->heap != NULL && len) memcpy(g->heap, data, len);
        return g->heap;
    }
    if (g->poisoned_len) FZ_UNPOISON(g->poisoned, g->poisoned_len);
    p = g->base + g->size - len;
    if (len) memcpy(p, data, len);
    before = (size_t)(p - g->base);
    if (before > 4096) before = 4096;
    g->poisoned = p - before;
    g->poisoned_len = before;
    if (before) FZ_POISON(g->poisoned, before);
    return (char *)p;
}

/* ---- the port ------------------------------------------------------------- */

typedef struct fuzz_port {
    lsq_port port;              /* the port program's state */
    ei_x_buff out;              /* reply buffer, reused (as in main.c) */
    ei_x_buff req;              /* the harness's own requests */
    fuzz_guard guard;           /* where each input is copied */
    int begun;                  /* fuzz_port_begin ran for this input */
    unsigned long inputs;       /* since the last recycle */
    unsigned long recycles, reopens, skipped, interrupts;
    int deadline_ms;
    /* watchdog: interrupts a request that outlives the deadline */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed, idle, stop, started;
    struct timespec deadline;
} fuzz_port;

static inline int fz_ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static inline void *fz_watchdog_main(void *arg)
{
    fuzz_port *f = arg;
    struct timespec now;

    (void)pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        if (!f->armed) {
            f->idle = 1;
            (void)pthread_cond_wait(&f->cv, &f->mu);
            f->idle = 0;
            continue;
        }
        (void)clock_gettime(CLOCK_MONOTONIC, &now);
        if (fz_ts_before(&now, &f->deadline)) {
            (void)pthread_cond_timedwait(&f->cv, &f->mu, &f->deadline);
            continue;
        }
        /* As main.c's watchdog on `interrupt`: the progress handler stops
         * the statement, which answers `interrupted`. */
        commands_interrupt(&f->port);
        f->interrupts++;
        f->armed = 0;
    }
    (void)pthread_mutex_unlock(&f->mu);
    return NULL;
}

static inline void fz_arm(fuzz_port *f)
{
    (void)pthread_mutex_lock(&f->mu);
    (void)clock_gettime(CLOCK_MONOTONIC, &f->deadline);
    f->deadline.tv_nsec += (long)f->deadline_ms * 1000000L;
    f->deadline.tv_sec += f->deadline.tv_nsec / 1000000000L;
    f->deadline.tv_nsec %= 1000000000L;
    f->armed = 1;
    if (f->idle) (void)pthread_cond_signal(&f->cv);
    (void)pthread_mutex_unlock(&f->mu);
}

static inline void fz_disarm(fuzz_port *f)
{
    (void)pthread_mutex_lock(&f->mu);
    f->armed = 0;
    (void)pthread_mutex_unlock(&f->mu);
}

/* Start a request of the harness's own: {Ref, Cmd, ...} in f->req. */
static inline int fz_req(fuzz_port *f, const char *cmd, int nargs)
{
    f->req.index = 0;
    return ei_x_encode_version(&f->req) || ei_x_encode_tuple_header(&f->req, 2 + nargs) ||
           ei_x_encode_long(&f->req, 1) || ei_x_encode_atom(&f->req, cmd) ? -1 : 0;
}

/* Run f->req like any request; 0 if the reply is ok. */
static inline int fz_req_run(fuzz_port *f)
{
    lsq_request rq;
    const char *why;
    int rc;

    if (term_check(f->req.buff, (size_t)f->req.index, &why) != 0 ||
        term_parse_request(f->req.buff, (size_t)f->req.index, &rq, &why) != 0)
        return -1;
    fz_arm(f); /* a trigger the fuzzer left on t could run for ever */
    commands_clear_interrupt(&f->port);
    rc = commands_dispatch(&f->port, &rq, &f->out);
    fz_disarm(f);
    if (rc != 0 || f->out.index < 12) return -1;
    return memcmp(f->out.buff + 10, "ok", 2) == 0 ? 0 : -1;
}

static inline int fz_req_sql(fuzz_port *f, const char *cmd, const char *sql, int with_params,
                             long long param)
{
    if (fz_req(f, cmd, with_params ? 2 : 1) != 0 ||
        ei_x_encode_binary(&f->req, sql, (long)strlen(sql)) != 0)
        return -1;
    if (with_params > 0 && (ei_x_encode_list_header(&f->req, 1) != 0 ||
                            ei_x_encode_longlong(&f->req, param) != 0))
        return -1;
    if (with_params && ei_x_encode_empty_list(&f->req) != 0) return -1;
    return fz_req_run(f);
}

#define FZ_FIXTURE_SCRIPT                                                                 \
    "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT, c REAL, d BLOB);"        \
    "INSERT OR IGNORE INTO t VALUES (1, 'one', 1.5, x'01'), (2, 'two', -2.5, x'0203'),"   \
    " (3, NULL, NULL, NULL);"
#define FZ_FIXTURE_STMT "SELECT a, b, c, d FROM t WHERE a >= ?"
#define FZ_FIXTURE_CURSOR "SELECT * FROM t"

/* The fixture: table t, a prepared statement and a cursor over it. */
static inline void fz_fixture(fuzz_port *f)
{
    int need_stmt = handles_count(&f->port.h, HANDLE_STMT) == 0;
    int need_cursor = handles_count(&f->port.h, HANDLE_CURSOR) == 0;

    if (f->port.conn == NULL || (!need_stmt && !need_cursor)) return;
    (void)fz_req_sql(f, "execute_script", FZ_FIXTURE_SCRIPT, 0, 0);
    if (need_stmt) (void)fz_req_sql(f, "prepare", FZ_FIXTURE_STMT, 0, 0);
    if (need_cursor) (void)fz_req_sql(f, "cursor_open", FZ_FIXTURE_CURSOR, -1, 0);
}

/* The fixture's Erlang SQL functions, with real create_function requests
 * (FunIds 1 to 3), when the port has none. */
static inline void fz_functions(fuzz_port *f)
{
    static const struct { const char *name; int arity; const char *flag; } fns[] = {
        { "f", -1, "deterministic" }, { "g", -1, NULL }, { "agg", 1, "aggregate" },
    };
    size_t i;

    if (f->port.conn == NULL || f->port.functions != NULL) return;
    for (i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        if (fz_req(f, "create_function", 4) != 0 ||
            ei_x_encode_binary(&f->req, fns[i].name, (long)strlen(fns[i].name)) != 0 ||
            ei_x_encode_long(&f->req, fns[i].arity) != 0 ||
            ei_x_encode_long(&f->req, (long)i + 1) != 0 ||
            (fns[i].flag != NULL && (ei_x_encode_list_header(&f->req, 1) != 0 ||
                                     ei_x_encode_atom(&f->req, fns[i].flag) != 0)) ||
            ei_x_encode_empty_list(&f->req) != 0)
            return;
        (void)fz_req_run(f);
    }
}

/* Open ":memory:" with a real `open` request. */
static inline void fz_open(fuzz_port *f)
{
    f->reopens++;
    if (fz_req(f, "open", 1) != 0 || ei_x_encode_list_header(&f->req, 2) != 0 ||
        ei_x_encode_tuple_header(&f->req, 2) != 0 || ei_x_encode_atom(&f->req, "path") != 0 ||
        ei_x_encode_binary(&f->req, ":memory:", 8) != 0 ||
        ei_x_encode_tuple_header(&f->req, 2) != 0 ||
        ei_x_encode_atom(&f->req, "max_result_bytes") != 0 ||
        ei_x_encode_longlong(&f->req, (long long)FUZZ_MAX_RESULT) != 0 ||
        ei_x_encode_empty_list(&f->req) != 0)
        return;
    (void)fz_req_run(f);
}

static inline void fz_close(fuzz_port *f)
{
    if (fz_req(f, "close", 0) == 0) (void)fz_req_run(f);
}

/* Safe settings, put back before every input. */
static inline void fz_apply_limits(fuzz_port *f)
{
    static const int lim[][2] = {
        { SQLITE_LIMIT_LENGTH, 1000000 },       { SQLITE_LIMIT_SQL_LENGTH, 1000000 },
        { SQLITE_LIMIT_COLUMN, 100 },           { SQLITE_LIMIT_EXPR_DEPTH, 1000 },
        { SQLITE_LIMIT_COMPOUND_SELECT, 500 },  { SQLITE_LIMIT_VDBE_OP, 250000000 },
        { SQLITE_LIMIT_FUNCTION_ARG, 127 },     { SQLITE_LIMIT_ATTACHED, 0 },
        { SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 50000 }, { SQLITE_LIMIT_VARIABLE_NUMBER, 32766 },
        { SQLITE_LIMIT_TRIGGER_DEPTH, 100 },    { SQLITE_LIMIT_WORKER_THREADS, 0 },
    };
    lsq_port *p = &f->port;
    lsq_error err;
    size_t i;

    (void)sqlite3_hard_heap_limit64(FUZZ_HEAP_LIMIT);
    if (p->conn == NULL) return;
    for (i = 0; i < sizeof lim / sizeof lim[0]; i++) (void)p->be->limit(p->conn, lim[i][0], lim[i][1]);
    (void)p->be->set_busy_timeout(p->conn, 10, &err);
    if (p->max_result > FUZZ_MAX_RESULT) p->max_result = FUZZ_MAX_RESULT;
}

/* A fresh port program: everything closed and freed, ids from 1 again. */
static inline void fz_recycle(fuzz_port *f)
{
    commands_close_all(&f->port);
    f->port.h.next_id = 0;
    memset(&f->port.n, 0, sizeof f->port.n);
    f->port.max_result = 0;
    f->inputs = 0;
    f->recycles++;
}

/* 0, or -1 if something could not be set up. */
static inline int fuzz_port_init(fuzz_port *f)
{
    const char *env = getenv("FUZZ_DEADLINE_MS");
    pthread_condattr_t ca;

    memset(f, 0, sizeof *f);
    f->deadline_ms = env != NULL && atoi(env) > 0 ? atoi(env) : FUZZ_DEADLINE_MS;
    if (pthread_mutex_init(&f->port.conn_lock, NULL) != 0 || pthread_mutex_init(&f->mu, NULL) != 0)
        return -1;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&f->cv, &ca) != 0)
        return -1;
    (void)pthread_condattr_destroy(&ca);
    if (ei_x_new(&f->out) != 0 || ei_x_new(&f->req) != 0) return -1;
    if (fuzz_guard_init(&f->guard, FUZZ_GUARD_BYTES) != 0) return -1;
    if (pthread_create(&f->thread, NULL, fz_watchdog_main, f) != 0) return -1;
    f->started = 1;
    return 0;
}

static inline void fuzz_port_fini(fuzz_port *f)
{
    if (f->started) {
        (void)pthread_mutex_lock(&f->mu);
        f->stop = 1;
        (void)pthread_cond_signal(&f->cv);
        (void)pthread_mutex_unlock(&f->mu);
        (void)pthread_join(f->thread, NULL);
        f->started = 0;
    }
    commands_close_all(&f->port);
    (void)pthread_mutex_destroy(&f->port.conn_lock);
    (void)pthread_mutex_destroy(&f->mu);
    (void)pthread_cond_destroy(&f->cv);
    if (f->out.buff != NULL) (void)ei_x_free(&f->out);
    if (f->req.buff != NULL) (void)ei_x_free(&f->req);
    fuzz_guard_free(&f->guard);
}

/* Bring the port to a usable state for the next input (recycle, reopen,
 * fixture, limits). Returns 1 if it recycled the port (the state no longer
 * depends on earlier inputs), else 0. Called by fuzz_port_run when the
 * caller has not. */
static inline int fuzz_port_begin(fuzz_port *f)
{
    int recycled = 0;

    if (f->begun) return 0;
    f->begun = 1;
    /* A connection closed by the fuzzer (or never opened) also starts a
     * fresh port: nothing of the old state is left anyway, and handle ids
     * restart at 1, so the fixture is ids 1 and 2 again. */
    if (f->inputs >= FUZZ_RECYCLE_EVERY || f->port.h.n > FUZZ_MAX_HANDLES ||
        sqlite3_memory_used() > FUZZ_MAX_SQLITE_MEM || f->port.conn == NULL) {
        fz_recycle(f);
        recycled = 1;
    }
    f->inputs++;
    if (f->port.conn == NULL) fz_open(f);
    fz_apply_limits(f);
    fz_fixture(f);
    fz_functions(f);
    return recycled;
}

static inline int fz_has_word(const unsigned char *p, size_t n, const char *word)
{
    size_t k = strlen(word), i, j;

    for (i = 0; i + k <= n; i++) {
        for (j = 0; j < k; j++) {
            unsigned char c = p[i + j];
            if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
            if (c != (unsigned char)word[j]) break;
        }
        if (j == k) return 1;
    }
    return 0;
}

static inline int fz_path_ok(const unsigned char *s, size_t n, int for_open)
{
    static const char *const ok[] = { ":memory:", "", "file::memory:", "file:fuzz?mode=memory" };
    size_t i, count = for_open ? 4 : 2;

    for (i = 0; i < count; i++)
        if (fz_bytes_are(s, n, ok[i])) return 1;
    return 0;
}

/* 1 if this request could touch a file: skip it. */
static inline int fz_unsafe(const lsq_request *r)
{
    const unsigned char *b = (const unsigned char *)r->buf, *s;
    size_t len = r->len, pos = (size_t)r->idx, el, p2, n;
    uint32_t count, i;

    /* Loading a shared library runs its code: never with fuzzed paths. */
    if (strcmp(r->cmd, "load_extension") == 0 || strcmp(r->cmd, "allow_extensions") == 0)
        return 1;
    /* backup's destination is its first argument, whatever follows it
     * (the copy's encryption key since backup took two). */
    if (strcmp(r->cmd, "backup") == 0 && r->nargs >= 1) {
        if (pos + 5 <= len && b[pos] == ERL_BINARY_EXT)
            return !fz_path_ok(b + pos + 5, fz_be32(b + pos + 1), 0);
        return 0;
    }
    if (strcmp(r->cmd, "open") != 0 || r->nargs != 1 || pos + 5 > len || b[pos] != ERL_LIST_EXT)
        return 0;
    count = fz_be32(b + pos + 1);
    pos += 5;
    for (i = 0; i < count; i++) {
        el = pos;
        if (fz_skip(b, len, &pos, 0) != 0) return 1;
        if (b[el] != ERL_SMALL_TUPLE_EXT || b[el + 1] != 2) continue;
        p2 = el + 2;
        if (fz_atom_at(b, len, &p2, &s, &n) != 0) continue;
        /* A remote open would reach the network, a CA file the disk. */
        if (fz_bytes_are(s, n, "url") || fz_bytes_are(s, n, "ca_file")) return 1;
        if (!fz_bytes_are(s, n, "path")) continue;
        if (b[p2] == ERL_BINARY_EXT && !fz_path_ok(b + p2 + 5, fz_be32(b + p2 + 1), 1)) return 1;
    }
    return 0;
}

/* A control command, answered as main.c does (nothing is running). */
static inline int fz_control(fuzz_port *f, const lsq_request *r)
{
    int idx = r->idx;
    long long target;
    lsq_error e;

    if (strcmp(r->cmd, "cancel") == 0 &&
        (term_decode_int(r->buf, &idx, &target) != 0 || target <= 0)) {
        lsq_error_set(&e, LSQ_E_BAD_ARGUMENT, "cancel takes a positive integer ref");
        return reply_error(&f->out, r->ref, &e) == REPLY_NOMEM ? -1 : 0;
    }
    return term_reply_begin(&f->out, r->ref, "ok") || ei_x_encode_atom(&f->out, "ok") ? -1 : 0;
}

/* Run one request frame body. FUZZ_RAN / FUZZ_MALFORMED / FUZZ_CONTROL /
 * FUZZ_SKIPPED, or -1 with *why: a broken reply, or no reply at all. */
static inline int fuzz_port_run(fuzz_port *f, const void *data, size_t len, const char **why)
{
    const char *frame, *w = NULL;
    lsq_request rq;
    lsq_error e;
    long ref;
    int kind, rc;
    unsigned long long errors;

    *why = NULL;
    (void)fuzz_port_begin(f);
    f->begun = 0;
    if (fz_has_word(data, len, "vacuum") || fz_has_word(data, len, "printf") ||
        fz_has_word(data, len, "format")) {
        f->skipped++;
        return FUZZ_SKIPPED;
    }
    frame = fuzz_guard_copy(&f->guard, data, len);
    if (frame == NULL) {
        *why = "out of memory copying the input";
        return -1;
    }
    if (term_check(frame, len, &w) != 0 || term_parse_request(frame, len, &rq, &w) != 0) {
        if (w == NULL) {
            *why = "term_check/term_parse_request failed without a reason";
            return -1;
        }
        ref = term_peek_ref(frame, len);
        lsq_error_set(&e, LSQ_E_BAD_FRAME, "malformed request: %s", w);
        rc = reply_error(&f->out, ref, &e) == REPLY_NOMEM ? -1 : 0;
        kind = FUZZ_MALFORMED;
    } else if (fz_known("float_ext") && fz_float_overread(frame, len)) {
        f->skipped++;
        return FUZZ_SKIPPED;
    } else if (commands_kind(commands_find(&rq), &rq) == CMD_CONTROL) {
        ref = rq.ref;
        rc = fz_control(f, &rq);
        kind = FUZZ_CONTROL;
    } else if (commands_kind(commands_find(&rq), &rq) == CMD_ANSWER) {
        /* An answer to a callback: intake.c hands it to the call that
         * waits for it and none ever does here (no channel is installed):
         * dropped without a reply, as main.c drops a late answer. */
        return FUZZ_CONTROL;
    } else if (fz_unsafe(&rq) ||
               (fz_known("backup_write_txn") && strcmp(rq.cmd, "backup") == 0 &&
                f->port.conn != NULL && !f->port.be->autocommit(f->port.conn))) {
        f->skipped++;
        return FUZZ_SKIPPED;
    } else {
        if (strcmp(rq.cmd, "open") == 0 && (rq.ref & 1)) fz_close(f);
        ref = rq.ref;
        fz_arm(f);
        commands_clear_interrupt(&f->port);
        errors = f->port.n.errors;
        rc = commands_dispatch(&f->port, &rq, &f->out);
        fz_disarm(f);
        kind = FUZZ_RAN;
        /* The handler says what it answered; the count must match the
         * reply's tag (byte 10 on: "ok" or "error"). */
        if (rc == 0 && (f->port.n.errors != errors) !=
                           (f->out.index > 14 && memcmp(f->out.buff + 10, "error", 5) == 0)) {
            *why = "the error count disagrees with the reply (a handler's return value)";
            return -1;
        }
    }
    if (rc != 0) {
        *why = "no reply: encoding it failed (main.c exits with port_out_of_memory)";
        return -1;
    }
    *why = fuzz_check_reply(f->out.buff, (size_t)f->out.index, ref);
    if (f->out.buffsz > FUZZ_BIG_REPLY) {
        (void)ei_x_free(&f->out);
        if (ei_x_new(&f->out) != 0 && *why == NULL) *why = "out of memory";
    }
    return *why != NULL ? -1 : kind;
}

/* ---- the frame path ------------------------------------------------------ */

/* fuzz_frames input: byte 0 configures the reader, the rest is the byte
 * stream written to a pipe (a temporary file above 64 KiB) and read back
 * with frame_reader_next (frame_read when the buffer size is 0):
 *   bits 0-2: read-ahead buffer size FUZZ_FRAMES_CAPS[i]
 *   bits 3-5: largest frame accepted FUZZ_FRAMES_MAXES[i]
 * Each outcome is compared with a model of the framing computed from the
 * bytes; each frame read is then checked (term_check, term_peek_ref,
 * term_parse_request, and the argument decoders) on a guarded copy.
 * Then the same stream is read again by intake.c (fz_intake_run). */
static const size_t FUZZ_FRAMES_CAPS[8] = { 0, 1, 2, 5, 16, 64, 4096, 65536 };
static const size_t FUZZ_FRAMES_MAXES[8] = { 16, 17, 32, 64, 100, 256, 1024, 65536 };

/* What frame_reader_next must answer for the stream s[0..n) at *pos. */
static inline int fz_frame_model(const unsigned char *s, size_t n, size_t *pos, size_t max,
                                 size_t *len, long *ref)
{
    size_t p = *pos, body, peek;

    *len = 0;
    *ref = LSQ_REF_UNKNOWN;
    if (p == n) return FRAME_EOF;
    *pos = n;
    if (n - p < 4) return FRAME_ERROR;
    body = fz_be32(s + p);
    p += 4;
    if (body > max) {
        peek = body < 65536 ? body : 65536;
        if (n - p < peek) return FRAME_ERROR;
        *ref = term_peek_ref((const char *)s + p, peek);
        if (n - p < body) return FRAME_ERROR;
        *len = body;
        *pos = p + body;
        return FRAME_TOO_LARGE;
    }
    if (n - p < body) return FRAME_ERROR;
    *len = body;
    *pos = p + body;
    return FRAME_OK;
}

/* Checks on one frame read; NULL if all hold. */
static inline const char *fz_check_frame(fuzz_guard *g, const char *data, size_t len)
{
    const char *buf = fuzz_guard_copy(g, data, len), *w = NULL;
    const unsigned char *b = (const unsigned char *)buf;
    lsq_request rq;
    lsq_value v;
    long peek;
    long long ll;
    int i, j, bo, ei_idx;
    size_t end, n;
    const char *bp;

    if (buf == NULL) return "out of memory copying a frame";
    peek = term_peek_ref(buf, len);
    if (peek != LSQ_REF_UNKNOWN && (peek < 1 || peek > LSQ_REF_MAX)) return "term_peek_ref out of range";
    if (term_check(buf, len, &w) != 0) return w == NULL ? "term_check failed without a reason" : NULL;
    end = 1;
    if (fz_skip(b, len, &end, 0) != 0 || end != len)
        return "term_check accepted a term that does not end the frame";
    if (fz_known("float_ext") && fz_float_overread(buf, len)) return NULL;
    /* term.h: after term_check, ei_decode_* on the buffer is safe. */
    ei_idx = 1;
    if (ei_skip_term(buf, &ei_idx) == 0 && (size_t)ei_idx != len && !fz_known("ei_skip_term"))
        return "ei_skip_term sizes a checked term differently";
    if (term_parse_request(buf, len, &rq, &w) != 0) {
        if (w == NULL) return "term_parse_request failed without a reason";
        if (rq.ref != LSQ_REF_UNKNOWN && rq.ref != peek && (rq.ref < 1 || rq.ref > LSQ_REF_MAX))
            return "term_parse_request left a bad ref";
        return NULL;
    }
    if (rq.ref < 1 || rq.ref > LSQ_REF_MAX) return "parsed ref out of 1..2^31-1";
    if (peek != LSQ_REF_UNKNOWN && peek != rq.ref) return "term_peek_ref differs from the parsed ref";
    if (rq.nargs < 0 || rq.idx < 0 || (size_t)rq.idx > len) return "parsed request out of bounds";
    (void)commands_kind(commands_find(&rq), &rq);
    /* Each argument: every decoder refuses it or consumes exactly it. */
    end = (size_t)rq.idx;
    for (i = 0; i < rq.nargs; i++) {
        size_t at = end;

        if (fz_skip(b, len, &end, 0) != 0) return "an argument is not a term";
        j = (int)at;
        if (term_decode_value(buf, &j, &v, &w) == 0) {
            if ((size_t)j != end) return "term_decode_value consumed another size than the argument";
            if ((v.type == LSQ_TEXT || v.type == LSQ_BLOB) &&
                (v.u.s.p < buf || v.u.s.n > len || v.u.s.p + v.u.s.n > buf + len))
                return "term_decode_value text/blob outside the frame";
            if (v.type == LSQ_REAL && v.u.r != v.u.r) return "term_decode_value let a NaN through";
        } else if (w == NULL) {
            return "term_decode_value failed without a reason";
        }
        j = (int)at;
        if (term_decode_int(buf, &j, &ll) == 0 && (size_t)j != end)
            return "term_decode_int consumed another size than the argument";
        j = (int)at;
        if (term_decode_bool(buf, &j, &bo) == 0 && (size_t)j != end)
            return "term_decode_bool consumed another size than the argument";
        j = (int)at;
        if (term_decode_binary(buf, &j, &bp, &n) == 0 &&
            ((size_t)j != end || bp + n > buf + len))
            return "term_decode_binary consumed another size than the argument";
    }
    if (end != len) return "arguments do not end the frame";
    return NULL;
}

/* A descriptor to read stream[0..n) from: a pipe, or a temporary file when
 * it would not fit in the pipe buffer. -1 on failure. */
static inline int fz_stream_fd(const unsigned char *s, size_t n)
{
    int fds[2];
    size_t off = 0;
    ssize_t w;

    if (n <= 65536) {
        if (pipe(fds) != 0) return -1;
    } else {
        char name[] = "/tmp/libsql_fuzz_frames.XXXXXX";

        fds[0] = mkstemp(name);
        if (fds[0] < 0) return -1;
        (void)unlink(name);
        fds[1] = dup(fds[0]);
        if (fds[1] < 0) {
            (void)close(fds[0]);
            return -1;
        }
    }
    while (off < n) {
        w = write(fds[1], s + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            (void)close(fds[0]);
            (void)close(fds[1]);
            return -1;
        }
        off += (size_t)w;
    }
    (void)close(fds[1]);
    if (n > 65536 && lseek(fds[0], 0, SEEK_SET) != 0) {
        (void)close(fds[0]);
        return -1;
    }
    return fds[0];
}

/* ---- the frame path through intake.c ---------------------------------------- */

/* The stream read again as main.c reads stdin: intake_init on the pipe
 * (no spin, the configured frame limit), then intake_next until the end.
 * intake_next sorts each frame: a worker request comes out as a job;
 * everything else it deals with itself, writing through the writer. Each
 * outcome is compared with what the frame is (fz_frame_model, term_check,
 * term_parse_request, commands_kind):
 *   worker request    a job holding exactly the frame's bytes, nothing written;
 *   malformed         one reply {PeekedRef, error, #{code => bad_frame}};
 *   over the limit    one reply {PeekedRef, error, #{code => frame_too_large}};
 *   interrupt/cancel  one reply {Ref, ok, ok} (nothing runs, nothing is
 *                     queued), or bad_argument for a cancel of no positive
 *                     integer;
 *   answer            nothing at all (no callback waits for it);
 *   end of stream     EOF, with the read error set only for a frame cut off.
 * Nothing runs: the port holds no connection. */

/* What intake wrote for the frame being checked (one writer for the whole
 * process: intake_writer takes no context). */
typedef struct fz_intake_out {
    int n;          /* frames written */
    char *last;     /* a copy of the last one (NULL: none, or no memory) */
    size_t len;
    int nomem;      /* a copy could not be made */
} fz_intake_out;

static inline fz_intake_out *fz_intake_out_get(void)
{
    static fz_intake_out out;

    return &out;
}

static inline void fz_intake_write(const char *frame, size_t len)
{
    fz_intake_out *o = fz_intake_out_get();

    o->n++;
    free(o->last);
    o->last = malloc(len ? len : 1);
    o->len = len;
    if (o->last == NULL) o->nomem = 1;
    else if (len) memcpy(o->last, frame, len);
}

/* The error code of a reply that fuzz_check_reply accepted; NULL for ok. */
static inline const char *fz_reply_code(const char *rbuf, size_t len, size_t *n)
{
    const unsigned char *b = (const unsigned char *)rbuf, *s;
    size_t pos = 8, k, nkeys;

    if (fz_atom_at(b, len, &pos, &s, n) != 0 || fz_bytes_are(s, *n, "ok")) return NULL;
    nkeys = fz_be32(b + pos + 1);
    pos += 5;
    for (k = 0; k < nkeys; k++) {
        if (fz_atom_at(b, len, &pos, &s, n) != 0) return NULL;
        if (fz_bytes_are(s, *n, "code"))
            return fz_atom_at(b, len, &pos, &s, n) == 0 ? (const char *)s : NULL;
        if (fz_skip(b, len, &pos, 0) != 0) return NULL;
    }
    return NULL;
}

/* Exactly one reply was written for this frame, for ref, with code (NULL:
 * an ok reply). */
static inline const char *fz_intake_replied(long ref, const char *code)
{
    fz_intake_out *o = fz_intake_out_get();
    const char *why, *got;
    size_t n;

    if (o->nomem) return "harness: out of memory copying a reply";
    if (o->n != 1) return o->n == 0 ? "intake: no reply" : "intake: more than one reply to a frame";
    why = fuzz_check_reply(o->last, o->len, ref);
    if (why != NULL) return why;
    got = fz_reply_code(o->last, o->len, &n);
    if (code == NULL) return got == NULL ? NULL : "intake: an error reply where ok was due";
    if (got == NULL || !fz_bytes_are((const unsigned char *)got, n, code))
        return "intake: a reply with another error code";
    return NULL;
}

/* The checks of one intake_next (j: what it returned) against the frame
 * it read, s[pos - len..pos), whose framing outcome was want. */
static inline const char *fz_intake_check(int want, const unsigned char *frame, size_t len,
                                          long peeked, const intake_job *j)
{
    fz_intake_out *o = fz_intake_out_get();
    const char *buf = (const char *)frame, *w;
    lsq_request rq;
    long long target;
    int idx;

    if (want == FRAME_EOF || want == FRAME_ERROR) {
        if (j != NULL || o->n != 0) return "intake: a job or a reply at the end of the stream";
        if (!intake_eof()) return "intake: the end of the stream is not EOF";
        if (intake_read_error() != (want == FRAME_ERROR))
            return want == FRAME_ERROR ? "intake: a frame cut off is no read error"
                                       : "intake: a clean EOF is a read error";
        return NULL;
    }
    if (intake_eof()) return "intake: EOF before the end of the stream";
    if (want == FRAME_TOO_LARGE) {
        if (j != NULL) return "intake: a frame over the limit came out as a job";
        return fz_intake_replied(peeked, LSQ_E_FRAME_TOO_LARGE);
    }
    if (term_check(buf, len, &w) != 0 || term_parse_request(buf, len, &rq, &w) != 0) {
        if (j != NULL) return "intake: a malformed frame came out as a job";
        return fz_intake_replied(term_peek_ref(buf, len), LSQ_E_BAD_FRAME);
    }
    switch (commands_kind(commands_find(&rq), &rq)) {
    case CMD_CONTROL:
        if (j != NULL) return "intake: a control command came out as a job";
        idx = rq.idx;
        if (strcmp(rq.cmd, "cancel") == 0 &&
            (term_decode_int(buf, &idx, &target) != 0 || target <= 0))
            return fz_intake_replied(rq.ref, LSQ_E_BAD_ARGUMENT);
        return fz_intake_replied(rq.ref, NULL);
    case CMD_ANSWER:
        if (j != NULL) return "intake: an answer came out as a job";
        return o->n != 0 ? "intake: an answer nobody waits for was replied to" : NULL;
    default:
        if (j == NULL) return "intake: a worker request did not come out as a job";
        if (o->n != 0) return "intake: a reply to a worker request that did not run";
        if (j->len != len || memcmp(j->frame, frame, len) != 0)
            return "intake: a job's bytes differ from its frame";
        if (j->req.ref != rq.ref || strcmp(j->req.cmd, rq.cmd) != 0 || j->req.buf != j->frame)
            return "intake: a job's parsed header differs from the frame's";
        return NULL;
    }
}

/* Run stream s[0..n) through intake (frame limit max). NULL, or what broke. */
static inline const char *fz_intake_run(const unsigned char *s, size_t n, size_t max)
{
    fz_intake_out *o = fz_intake_out_get();
    size_t pos = 0, len;
    int fd, want, frames = 0;
    const char *bad = NULL;
    lsq_port port;
    ei_x_buff x;
    intake_job *j;
    long peeked;

    memset(&port, 0, sizeof port);
    if (pthread_mutex_init(&port.conn_lock, NULL) != 0) return "harness: mutex";
    if (ei_x_new(&x) != 0) {
        (void)pthread_mutex_destroy(&port.conn_lock);
        return "harness: out of memory";
    }
    fd = fz_stream_fd(s, n);
    if (fd < 0) bad = "harness: could not make a pipe";
    else if (intake_init(fd, max, 0, &port, fz_intake_write) != 0) bad = "harness: out of memory";
    while (bad == NULL) {
        want = fz_frame_model(s, n, &pos, max, &len, &peeked);
        o->n = 0;
        o->nomem = 0;
        j = intake_next(&x);
        bad = fz_intake_check(want, s + pos - len, len, peeked, j);
        if (j != NULL) intake_free_job(j);
        if (want == FRAME_EOF || want == FRAME_ERROR || ++frames > 100000) break;
    }
    if (fd >= 0) {
        intake_free();
        (void)close(fd);
    }
    free(o->last);
    o->last = NULL;
    (void)ei_x_free(&x);
    (void)pthread_mutex_destroy(&port.conn_lock);
    return bad;
}

/* Run one fuzz_frames input. NULL if every check held, else what broke. */
static inline const char *fuzz_frames_run(fuzz_guard *g, const unsigned char *data, size_t size)
{
    const unsigned char *s = size ? data + 1 : data;
    size_t n = size ? size - 1 : 0, cap, max, pos = 0, mlen, len;
    int cfg = size ? data[0] : 0, fd, rc, want, frames = 0;
    frame_reader r;
    const char *bad = NULL;
    char *buf;
    long ref, mref;

    cap = FUZZ_FRAMES_CAPS[cfg & 7];
    max = FUZZ_FRAMES_MAXES[(cfg >> 3) & 7];
    fd = fz_stream_fd(s, n);
    if (fd < 0) return "harness: could not make a pipe";
    if (frame_reader_init(&r, fd, cap) != 0) {
        (void)close(fd);
        return "harness: out of memory";
    }
    for (;;) {
        buf = (char *)1;
        rc = cap ? frame_reader_next(&r, max, &buf, &len, &ref) : frame_read(fd, max, &buf, &len, &ref);
        want = fz_frame_model(s, n, &pos, max, &mlen, &mref);
        if (rc != FRAME_OK && buf != NULL) {
            bad = "frame reader returned a buffer with no frame";
            break;
        }
        if (rc != want) {
            if (rc == FRAME_OK) free(buf);
            bad = "frame reader outcome differs from the framing of the bytes";
            break;
        }
        if (rc == FRAME_EOF || rc == FRAME_ERROR) break;
        if (rc == FRAME_TOO_LARGE) {
            if (len != mlen || ref != mref) {
                bad = "oversized frame reported with another length or ref";
                break;
            }
            continue;
        }
        if (buf == NULL || len != mlen || len > max ||
            (len && memcmp(buf, s + pos - len, len) != 0)) {
            free(buf);
            bad = "frame bytes differ from the stream";
            break;
        }
        bad = fz_check_frame(g, buf, len);
        free(buf);
        if (bad != NULL || ++frames > 100000) break;
    }
    frame_reader_free(&r);
    (void)close(fd);
    return bad != NULL ? bad : fz_intake_run(s, n, max);
}

#endif
