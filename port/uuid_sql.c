/*
 * uuid_sql.c - UUID SQL functions (uuid_sql.h): libSQL's uuid(), uuid_str()
 * and uuid_blob(), and Turso's uuid4/uuid7 family, on stock SQLite.
 *
 * What the engines do (observed here, 2026-12):
 *   * npm libsql@0.5.29 (libSQL's engine, SQLite 3.45.1) has exactly uuid(),
 *     uuid_str(X) and uuid_blob(X): SQLite's ext/misc/uuid.c. uuid() is flagged
 *     innocuous, the other two innocuous and deterministic. It has no uuid4,
 *     uuid7 or uuid7_timestamp_ms. This file matches it value for value.
 *   * tursodb 0.7.0 (the server the remote tests use) has uuid4() and uuid7()
 *     returning 16-byte BLOBs, uuid4_str(), gen_random_uuid() and uuid7_str()
 *     returning TEXT, uuid7(S)/uuid7_str(S) for S seconds after the epoch, and
 *     uuid7_timestamp_ms(X); it has no uuid(). So the same SQL gives the same
 *     types locally and on the server. Where tursodb is looser, this file
 *     follows libSQL's input rules (see "Differences" below).
 *
 * Input (X of uuid_str, uuid_blob, uuid7_timestamp_ms), as libSQL reads it:
 *   * a BLOB of exactly 16 bytes;
 *   * TEXT: an optional '{', then 32 hex digits (either case) in pairs, each
 *     pair optionally preceded by one '-', then an optional '}', then the end
 *     of the text (an embedded NUL ends it). So "A0EEBC99...", "{a0eebc99-...}"
 *     and even "a0-eebc99-..." are accepted; a space, a '-' after the last
 *     pair, "--", a split pair or a 33rd digit are not.
 *   * anything else (other BLOB lengths, other text, NULL, numbers): NULL.
 *     No input raises an error.
 * Output: uuid_str gives 36 lowercase characters 8-4-4-4-12; uuid_blob gives
 * the 16 bytes in text order (big-endian, RFC 9562).
 *
 * Version 4: 16 bytes from sqlite3_randomness(), then the version nibble 4 in
 * byte 6 and the variant bits 10 in byte 8 (RFC 9562 section 5.4).
 *
 * Version 7 (RFC 9562 section 5.7, with section 6.2's method 1, a dedicated
 * counter), as 16 big-endian bytes:
 *   bytes 0-5    unix_ts_ms, 48 bits: CLOCK_REALTIME in milliseconds
 *   byte 6       0111 (version) and the counter's bits 41-38
 *   byte 7       the counter's bits 37-30                (so rand_a = 12 bits)
 *   byte 8       10 (variant) and the counter's bits 29-24
 *   bytes 9-11   the counter's bits 23-0
 *   bytes 12-15  32 random bits, fresh for every UUID
 * The 42-bit counter is per connection. When the clock has moved past the
 * last UUID's millisecond, the UUID takes the clock's millisecond and the
 * counter restarts at a random value below 2^41 (its top bit clear, so at
 * least 2^41 more fit in that millisecond). Otherwise (the same millisecond,
 * or the clock went backwards) the UUID keeps the last millisecond and the
 * counter goes up by 1; should it pass 2^42 - 1, the millisecond goes up by 1
 * and the counter restarts at random. So each uuid7() of a connection is
 * greater (bytewise, and as uuid_str text) than the one before, and its
 * timestamp is the clock's, or a little ahead of it after the clock stepped
 * back. A clock before 1970 counts as 0. Past 2^48 - 1 ms (year 10889) the
 * function fails with an error rather than go backwards.
 * uuid7(S) / uuid7_str(S): S an INTEGER of seconds, 0 <= S <= 281474976710;
 * the UUID has the millisecond S * 1000 and a random counter, and does not
 * touch the connection's sequence. Any other S (negative, too big, REAL,
 * TEXT, NULL): NULL.
 * uuid7_timestamp_ms(X): the 48-bit millisecond of X if X reads as a UUID
 * (above) whose version nibble is 7, else NULL.
 *
 * Differences from tursodb, chosen deliberately: uuid_str also takes text and
 * uuid_blob also takes a 16-byte blob (libSQL's rules, where tursodb gives
 * NULL); uuid7_timestamp_ms is NULL for a UUID of another version (tursodb
 * reads any 16 bytes); uuid7(S) with a negative S is NULL (tursodb returns a
 * UUID), and its extra arguments are an arity error.
 *
 * Flags: the generators are SQLITE_UTF8 | SQLITE_INNOCUOUS (not
 * deterministic); uuid_str, uuid_blob and uuid7_timestamp_ms add
 * SQLITE_DETERMINISTIC.
 */
#include "uuid_sql.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define UUID_BYTES 16
#define UUID_TEXT_LEN 36
#define MS_MAX ((UINT64_C(1) << 48) - 1)         /* the largest unix_ts_ms */
#define COUNTER_MAX ((UINT64_C(1) << 42) - 1)    /* the largest counter */
#define SEED_MASK ((UINT64_C(1) << 41) - 1)      /* a fresh counter's bits */
#define SECONDS_MAX (MS_MAX / 1000)              /* largest S of uuid7(S) */

/* A connection's uuid7 sequence, shared by its uuid7 and uuid7_str
 * registrations: each holds a reference, and SQLite drops it through
 * uuid7_state_release when that function is replaced or the connection
 * closes (or its registration failed). */
typedef struct Uuid7State {
    int nRef;            /* registrations holding this state */
    int started;         /* whether a uuid7 was made (lastMs, counter valid) */
    uint64_t lastMs;     /* unix_ts_ms of the last uuid7 made */
    uint64_t counter;    /* 42-bit counter of the last uuid7 made */
} Uuid7State;

static void uuid7_state_release(void *p)
{
    Uuid7State *s = p;

    if (s != NULL && --s->nRef == 0) sqlite3_free(s);
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the n bytes of z (not NUL-terminated; a NUL ends the text early) as
 * libSQL's uuid_blob does into out. Returns 1 if it is a UUID, else 0. */
static int text_to_uuid(const unsigned char *z, int n, unsigned char out[UUID_BYTES])
{
    int i = 0;

    if (i < n && z[i] == '{') i++;
    for (int k = 0; k < UUID_BYTES; k++) {
        int hi, lo;

        if (i < n && z[i] == '-') i++;
        if (i + 1 >= n) return 0;
        hi = hex_value(z[i]);
        lo = hex_value(z[i + 1]);
        if (hi < 0 || lo < 0) return 0;
        out[k] = (unsigned char)((hi << 4) | lo);
        i += 2;
    }
    if (i < n && z[i] == '}') i++;
    return i == n || z[i] == 0;
}

/* X of uuid_str, uuid_blob and uuid7_timestamp_ms as 16 bytes in buf.
 * Returns 1 if X reads as a UUID, 0 if it does not, or -1 with the error set
 * on ctx if SQLite ran out of memory converting it. */
static int value_to_uuid(sqlite3_context *ctx, sqlite3_value *x, unsigned char buf[UUID_BYTES])
{
    switch (sqlite3_value_type(x)) {
    case SQLITE_TEXT: {
        const unsigned char *z = sqlite3_value_text(x);
        int n = sqlite3_value_bytes(x);

        if (z == NULL) {
            sqlite3_result_error_nomem(ctx);
            return -1;
        }
        return text_to_uuid(z, n, buf);
    }
    case SQLITE_BLOB: {
        const unsigned char *b;

        if (sqlite3_value_bytes(x) != UUID_BYTES) return 0;
        b = sqlite3_value_blob(x);
        if (b == NULL) {
            sqlite3_result_error_nomem(ctx);
            return -1;
        }
        for (int k = 0; k < UUID_BYTES; k++) buf[k] = b[k];
        return 1;
    }
    default:
        return 0;
    }
}

/* u as 36 lowercase characters, 8-4-4-4-12, into z (not NUL-terminated). */
static void uuid_to_text(const unsigned char u[UUID_BYTES], char z[UUID_TEXT_LEN])
{
    static const char digits[] = "0123456789abcdef";
    int j = 0;

    for (int k = 0; k < UUID_BYTES; k++) {
        if (k == 4 || k == 6 || k == 8 || k == 10) z[j++] = '-';
        z[j++] = digits[u[k] >> 4];
        z[j++] = digits[u[k] & 0x0f];
    }
}

/* The UUID as the function's result: TEXT if asText, else a BLOB. */
static void result_uuid(sqlite3_context *ctx, const unsigned char u[UUID_BYTES], int asText)
{
    if (asText) {
        char z[UUID_TEXT_LEN];

        uuid_to_text(u, z);
        sqlite3_result_text(ctx, z, UUID_TEXT_LEN, SQLITE_TRANSIENT);
    } else {
        sqlite3_result_blob(ctx, u, UUID_BYTES, SQLITE_TRANSIENT);
    }
}

static void make_uuid4(unsigned char u[UUID_BYTES])
{
    sqlite3_randomness(UUID_BYTES, u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
}

/* Lays out a version 7 UUID of millisecond ms and 42-bit counter c, with
 * 32 fresh random bits at the end. */
static void make_uuid7(uint64_t ms, uint64_t c, unsigned char u[UUID_BYTES])
{
    for (int k = 0; k < 6; k++) u[k] = (unsigned char)(ms >> (8 * (5 - k)));
    u[6] = (unsigned char)(0x70 | ((c >> 38) & 0x0f));
    u[7] = (unsigned char)(c >> 30);
    u[8] = (unsigned char)(0x80 | ((c >> 24) & 0x3f));
    u[9] = (unsigned char)(c >> 16);
    u[10] = (unsigned char)(c >> 8);
    u[11] = (unsigned char)c;
    sqlite3_randomness(4, u + 12);
}

static uint64_t random_counter(uint64_t mask)
{
    unsigned char r[6];
    uint64_t v = 0;

    sqlite3_randomness(sizeof r, r);
    for (size_t k = 0; k < sizeof r; k++) v = (v << 8) | r[k];
    return v & mask;
}

/* The clock in unix milliseconds, clamped to [0, MS_MAX]. Returns 0 on
 * success, -1 if the clock cannot be read. */
static int now_ms(uint64_t *ms)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
    if (ts.tv_sec < 0) {
        *ms = 0;
        return 0;
    }
    *ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (*ms > MS_MAX) *ms = MS_MAX;
    return 0;
}

/* The next UUID of the connection's sequence s (header comment) into u.
 * Returns 0, or -1 with the error set on ctx. */
static int next_uuid7(sqlite3_context *ctx, Uuid7State *s, unsigned char u[UUID_BYTES])
{
    uint64_t ms;

    if (now_ms(&ms) != 0) {
        sqlite3_result_error(ctx, "uuid7: the system clock cannot be read", -1);
        return -1;
    }
    if (!s->started || ms > s->lastMs) {
        s->lastMs = ms;
        s->counter = random_counter(SEED_MASK);
    } else if (s->counter < COUNTER_MAX) {
        s->counter++;
    } else if (s->lastMs < MS_MAX) {
        s->lastMs++;
        s->counter = random_counter(SEED_MASK);
    } else {
        sqlite3_result_error(ctx, "uuid7: no timestamp is left after the last one", -1);
        return -1;
    }
    s->started = 1;
    make_uuid7(s->lastMs, s->counter, u);
    return 0;
}

/* uuid7 / uuid7_str: no argument, the connection's next UUID; one, the
 * seconds of the UUID's timestamp. The text flag is the function's own
 * (registered separately), the state the connection's. */
static void uuid7_common(sqlite3_context *ctx, int argc, sqlite3_value **argv, int asText)
{
    unsigned char u[UUID_BYTES];

    if (argc == 0) {
        Uuid7State *s = sqlite3_user_data(ctx);

        if (next_uuid7(ctx, s, u) != 0) return;
    } else {
        sqlite3_int64 sec;

        if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER) return;
        sec = sqlite3_value_int64(argv[0]);
        if (sec < 0 || (uint64_t)sec > SECONDS_MAX) return;
        make_uuid7((uint64_t)sec * 1000u, random_counter(COUNTER_MAX), u);
    }
    result_uuid(ctx, u, asText);
}

static void fn_uuid7(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uuid7_common(ctx, argc, argv, 0);
}

static void fn_uuid7_str(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uuid7_common(ctx, argc, argv, 1);
}

static void fn_uuid4_text(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char u[UUID_BYTES];

    (void)argc;
    (void)argv;
    make_uuid4(u);
    result_uuid(ctx, u, 1);
}

static void fn_uuid4_blob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char u[UUID_BYTES];

    (void)argc;
    (void)argv;
    make_uuid4(u);
    result_uuid(ctx, u, 0);
}

static void fn_uuid_str(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char u[UUID_BYTES];

    (void)argc;
    if (value_to_uuid(ctx, argv[0], u) == 1) result_uuid(ctx, u, 1);
}

static void fn_uuid_blob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char u[UUID_BYTES];

    (void)argc;
    if (value_to_uuid(ctx, argv[0], u) == 1) result_uuid(ctx, u, 0);
}

static void fn_uuid7_timestamp_ms(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char u[UUID_BYTES];
    uint64_t ms = 0;

    (void)argc;
    if (value_to_uuid(ctx, argv[0], u) != 1 || (u[6] >> 4) != 7) return;
    for (int k = 0; k < 6; k++) ms = (ms << 8) | u[k];
    sqlite3_result_int64(ctx, (sqlite3_int64)ms);
}

#define GEN (SQLITE_UTF8 | SQLITE_INNOCUOUS)
#define PURE (SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC)

static const struct {
    const char *zName;   /* SQL name */
    int nArg;            /* argument count */
    int flags;           /* eTextRep and flags of sqlite3_create_function_v2 */
    int seq;             /* whether it uses the connection's uuid7 state */
    void (*xFunc)(sqlite3_context *, int, sqlite3_value **);
} FUNCS[] = {
    { "uuid", 0, GEN, 0, fn_uuid4_text },
    { "uuid4_str", 0, GEN, 0, fn_uuid4_text },
    { "gen_random_uuid", 0, GEN, 0, fn_uuid4_text },
    { "uuid4", 0, GEN, 0, fn_uuid4_blob },
    { "uuid7", 0, GEN, 1, fn_uuid7 },
    { "uuid7", 1, GEN, 1, fn_uuid7 },
    { "uuid7_str", 0, GEN, 1, fn_uuid7_str },
    { "uuid7_str", 1, GEN, 1, fn_uuid7_str },
    { "uuid_str", 1, PURE, 0, fn_uuid_str },
    { "uuid_blob", 1, PURE, 0, fn_uuid_blob },
    { "uuid7_timestamp_ms", 1, PURE, 0, fn_uuid7_timestamp_ms },
};

int lsq_uuid_sql_register(sqlite3 *db)
{
    Uuid7State *s;
    int rc = SQLITE_OK;

    if (db == NULL) return SQLITE_MISUSE;
    s = sqlite3_malloc(sizeof *s);
    if (s == NULL) return SQLITE_NOMEM;
    s->nRef = 1;         /* this function's own, dropped at the end */
    s->started = 0;
    s->lastMs = 0;
    s->counter = 0;
    for (size_t k = 0; k < sizeof FUNCS / sizeof FUNCS[0]; k++) {
        if (FUNCS[k].seq) {
            /* SQLite calls the destructor if the registration fails, too. */
            s->nRef++;
            rc = sqlite3_create_function_v2(db, FUNCS[k].zName, FUNCS[k].nArg, FUNCS[k].flags, s,
                                            FUNCS[k].xFunc, NULL, NULL, uuid7_state_release);
        } else {
            rc = sqlite3_create_function_v2(db, FUNCS[k].zName, FUNCS[k].nArg, FUNCS[k].flags, NULL,
                                            FUNCS[k].xFunc, NULL, NULL, NULL);
        }
        if (rc != SQLITE_OK) break;
    }
    uuid7_state_release(s);
    return rc;
}
