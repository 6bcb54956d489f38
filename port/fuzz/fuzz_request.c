/*
 * fuzz_request.c - libFuzzer target: the input is one request frame body
 * (what follows the 4-byte length on the port's stdin), run the way
 * main.c runs it (see fuzz_harness.h: term_check, term_parse_request,
 * commands_dispatch on a persistent port with an open ":memory:"
 * database; control commands answered as main.c does). Every reply must be
 * a well-formed {Ref, ok | error, _}; a broken or missing reply aborts.
 *
 * Structure-aware: LLVMFuzzerCustomMutator decodes half of the inputs as
 * terms and mutates them as terms (a value replaced by another type,
 * integers set to boundaries or to live handle ids, binaries mutated or
 * replaced by SQL, wrapping/unwrapping in lists and tuples, other
 * encodings of the same value, another command with well-typed
 * arguments: create_function / delete_function register Erlang SQL
 * functions that the generated SQL then calls, answer carries a callback's
 * Result), then re-encodes them with ei; the other half goes to
 * LLVMFuzzerMutate. LLVMFuzzerCustomCrossOver grafts a subterm of one input
 * into another.
 *
 * State: requests depend on the ones before (tables, handles). With
 * FUZZ_HISTORY_DIR set, every input since the last recycle of the port
 * (fuzz_harness.h) is appended, as a {packet,4} frame, to
 * $FUZZ_HISTORY_DIR/request-<pid>.frames; the file is removed on a clean
 * exit, so after a crash it holds the requests that built the state.
 * `escript port/fuzz/split_frames.erl FILE DIR` turns it into numbered
 * files to replay in order: build/fuzz/fuzz_request DIR/...
 */
#include "fuzz_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/uio.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static fuzz_port g_fp;
static int g_ready;
static int g_history = -1;
static char g_history_path[4096];

static void at_exit(void)
{
    if (g_history >= 0) {
        (void)close(g_history);
        (void)unlink(g_history_path);
        g_history = -1;
    }
    if (g_ready) {
        fprintf(stderr, "fuzz_request: harness: %lu recycles, %lu reopens, %lu skipped, "
                "%lu interrupted at the %d ms deadline\n", g_fp.recycles, g_fp.reopens,
                g_fp.skipped, g_fp.interrupts, g_fp.deadline_ms);
        fuzz_port_fini(&g_fp);
        g_ready = 0;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("FUZZ_HISTORY_DIR");

    (void)argc;
    (void)argv;
    (void)signal(SIGPIPE, SIG_IGN);
    if (ei_init() != 0 || fuzz_port_init(&g_fp) != 0) {
        fprintf(stderr, "fuzz_request: harness setup failed\n");
        abort();
    }
    g_ready = 1;
    if (dir != NULL && *dir) {
        (void)snprintf(g_history_path, sizeof g_history_path, "%s/request-%ld.frames", dir,
                       (long)getpid());
        g_history = open(g_history_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (g_history < 0) fprintf(stderr, "fuzz_request: cannot write %s\n", g_history_path);
    }
    (void)atexit(at_exit);
    return 0;
}

static void history_add(const uint8_t *data, size_t size, int recycled)
{
    unsigned char head[4] = { (unsigned char)(size >> 24), (unsigned char)(size >> 16),
                              (unsigned char)(size >> 8), (unsigned char)size };
    struct iovec iov[2] = { { head, 4 }, { (void *)data, size } };

    if (g_history < 0) return;
    if (recycled && (ftruncate(g_history, 0) != 0 || lseek(g_history, 0, SEEK_SET) != 0)) return;
    (void)writev(g_history, iov, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why;
    int recycled;

    if (!g_ready) (void)LLVMFuzzerInitialize(NULL, NULL);
    recycled = fuzz_port_begin(&g_fp);
    history_add(data, size, recycled);
    if (fuzz_port_run(&g_fp, data, size, &why) < 0) {
        fprintf(stderr, "fuzz_request: FINDING: %s\n", why);
        abort();
    }
    return 0;
}

/* ======================================================================
 * Terms as trees, for the mutator
 * ==================================================================== */

enum { T_INT, T_FLOAT, T_ATOM, T_BIN, T_STR, T_NIL, T_LIST, T_TUPLE, T_MAP, T_RAW };
/* Encodings of T_INT */
enum { I_ERL, I_EI, I_BIG, I_BIG8, I_LARGEBIG, I_INT32, I_COUNT };

typedef struct tnode {
    int kind;
    int enc;                    /* T_INT: I_*; T_FLOAT: 1 = FLOAT_EXT; T_ATOM: tag; T_TUPLE: 1 = large */
    long long i;                /* T_INT */
    double d;                   /* T_FLOAT */
    const unsigned char *s;     /* T_ATOM/T_BIN/T_STR bytes; T_RAW encoding; FLOAT_EXT text */
    size_t n;
    struct tnode **kids;        /* T_LIST: elements then the tail; T_TUPLE; T_MAP: k1, v1, ... */
    size_t nk;
} tnode;

#define MAX_NODES 8192
#define ARENA_BYTES (1024 * 1024)
static tnode g_nodes[MAX_NODES];
static size_t g_nnodes;
static unsigned char g_arena[ARENA_BYTES];
static size_t g_used;
static uint64_t g_rng;

static void arena_reset(void)
{
    g_nnodes = 0;
    g_used = 0;
}

static void *aalloc(size_t n)
{
    void *p;

    g_used = (g_used + 15) & ~(size_t)15;
    if (n > ARENA_BYTES - g_used) return NULL;
    p = g_arena + g_used;
    g_used += n;
    return p;
}

static tnode *node(int kind)
{
    tnode *t;

    if (g_nnodes >= MAX_NODES) return NULL;
    t = &g_nodes[g_nnodes++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    return t;
}

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static size_t pick(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* Parse the checked term at *pos (term_check passed: lengths are sound). */
static tnode *parse(const unsigned char *b, size_t len, size_t *pos, int depth)
{
    size_t p = *pos, start = p, n, k;
    unsigned tag;
    uint64_t mag = 0, bits;
    tnode *t;
    char text[32];

    if (depth > 40 || p >= len) return NULL;
    tag = b[p++];
    switch (tag) {
    case ERL_SMALL_INTEGER_EXT:
        if ((t = node(T_INT)) == NULL) return NULL;
        t->i = b[p];
        t->enc = I_ERL;
        p += 1;
        break;
    case ERL_INTEGER_EXT:
        if ((t = node(T_INT)) == NULL) return NULL;
        t->i = (int32_t)fz_be32(b + p);
        t->enc = t->i >= 0 && t->i <= 255 ? I_INT32 : I_ERL;
        p += 4;
        break;
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT:
        n = tag == ERL_SMALL_BIG_EXT ? b[p] : fz_be32(b + p);
        p += tag == ERL_SMALL_BIG_EXT ? 1 : 4;
        if (n <= 8) {
            for (k = 0; k < n; k++) mag |= (uint64_t)b[p + 1 + k] << (8 * k);
            if (mag <= (uint64_t)INT64_MAX || (b[p] && mag == (uint64_t)INT64_MAX + 1)) {
                if ((t = node(T_INT)) == NULL) return NULL;
                t->i = b[p] ? (long long)(0 - mag) : (long long)mag;
                t->enc = tag == ERL_LARGE_BIG_EXT ? I_LARGEBIG : n == 8 ? I_BIG8 : I_BIG;
                p += 1 + n;
                break;
            }
        }
        if ((t = node(T_RAW)) == NULL) return NULL;
        p += 1 + n;
        t->s = b + start;
        t->n = p - start;
        break;
    case NEW_FLOAT_EXT:
        if ((t = node(T_FLOAT)) == NULL) return NULL;
        bits = ((uint64_t)fz_be32(b + p) << 32) | fz_be32(b + p + 4);
        memcpy(&t->d, &bits, sizeof t->d);
        p += 8;
        break;
    case ERL_FLOAT_EXT:
        if ((t = node(T_FLOAT)) == NULL) return NULL;
        t->enc = 1;
        t->s = b + p;
        t->n = 31;
        memcpy(text, b + p, 31);
        text[31] = 0;
        t->d = strtod(text, NULL);
        p += 31;
        break;
    case ERL_SMALL_ATOM_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
    case ERL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
        if ((t = node(T_ATOM)) == NULL) return NULL;
        t->enc = (int)tag;
        p = start;
        if (fz_atom_at(b, len, &p, &t->s, &t->n) != 0) return NULL;
        break;
    case ERL_BINARY_EXT:
        if ((t = node(T_BIN)) == NULL) return NULL;
        t->n = fz_be32(b + p);
        t->s = b + p + 4;
        p += 4 + t->n;
        break;
    case ERL_STRING_EXT:
        if ((t = node(T_STR)) == NULL) return NULL;
        t->n = ((size_t)b[p] << 8) | b[p + 1];
        t->s = b + p + 2;
        p += 2 + t->n;
        break;
    case ERL_NIL_EXT:
        if ((t = node(T_NIL)) == NULL) return NULL;
        break;
    case ERL_LIST_EXT:
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT:
    case ERL_MAP_EXT:
        t = node(tag == ERL_LIST_EXT ? T_LIST : tag == ERL_MAP_EXT ? T_MAP : T_TUPLE);
        if (t == NULL) return NULL;
        if (tag == ERL_SMALL_TUPLE_EXT) {
            n = b[p];
            p += 1;
        } else {
            n = fz_be32(b + p);
            p += 4;
        }
        if (tag == ERL_MAP_EXT) n *= 2;
        if (tag == ERL_LIST_EXT) n += 1;
        t->enc = tag == ERL_LARGE_TUPLE_EXT;
        if (n > MAX_NODES) return NULL;
        t->kids = aalloc(n * sizeof *t->kids);
        if (n && t->kids == NULL) return NULL;
        t->nk = n;
        for (k = 0; k < n; k++)
            if ((t->kids[k] = parse(b, len, &p, depth + 1)) == NULL) return NULL;
        break;
    default: /* bit binaries and anything else term_check lets through */
        if ((t = node(T_RAW)) == NULL) return NULL;
        p = start;
        if (fz_skip(b, len, &p, 0) != 0) return NULL;
        t->s = b + start;
        t->n = p - start;
        break;
    }
    *pos = p;
    return t;
}

static int raw(ei_x_buff *x, const void *p, size_t n)
{
    return n > INT32_MAX ? -1 : ei_x_append_buf(x, p, (int)n);
}

static int emit_int(ei_x_buff *x, long long v, int enc)
{
    unsigned char b[16];
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    int k = 0, i;

    if (enc == I_EI) return ei_x_encode_longlong(x, v);
    if (enc == I_ERL || enc == I_INT32) {
        if (enc == I_ERL && v >= 0 && v <= 255) {
            b[0] = ERL_SMALL_INTEGER_EXT;
            b[1] = (unsigned char)v;
            return raw(x, b, 2);
        }
        if (v >= INT32_MIN && v <= INT32_MAX) {
            uint32_t u = (uint32_t)(int32_t)v;
            b[0] = ERL_INTEGER_EXT;
            b[1] = (unsigned char)(u >> 24);
            b[2] = (unsigned char)(u >> 16);
            b[3] = (unsigned char)(u >> 8);
            b[4] = (unsigned char)u;
            return raw(x, b, 5);
        }
    }
    while (k < 8 && (mag >> (8 * k)) != 0) k++;
    if (enc == I_BIG8 || enc == I_LARGEBIG) k = 8;
    i = 0;
    if (enc == I_LARGEBIG) {
        b[i++] = ERL_LARGE_BIG_EXT;
        b[i++] = 0;
        b[i++] = 0;
        b[i++] = 0;
        b[i++] = (unsigned char)k;
    } else {
        b[i++] = ERL_SMALL_BIG_EXT;
        b[i++] = (unsigned char)k;
    }
    b[i++] = v < 0;
    for (int j = 0; j < k; j++) b[i++] = (unsigned char)(mag >> (8 * j));
    return raw(x, b, (size_t)i);
}

static int emit(ei_x_buff *x, const tnode *t, int depth)
{
    unsigned char b[40];
    uint64_t bits;
    size_t k;

    if (depth > 64) return -1;
    switch (t->kind) {
    case T_INT:
        return emit_int(x, t->i, t->enc);
    case T_FLOAT:
        if (t->enc && t->s != NULL) {
            b[0] = ERL_FLOAT_EXT;
            memcpy(b + 1, t->s, 31);
            return raw(x, b, 32);
        }
        if (t->enc) { /* as term_to_binary(F, [{minor_version, 0}]) */
            memset(b, 0, sizeof b);
            b[0] = ERL_FLOAT_EXT;
            (void)snprintf((char *)b + 1, 32, "%.20e", t->d);
            return raw(x, b, 32);
        }
        memcpy(&bits, &t->d, sizeof bits); /* NEW_FLOAT_EXT: NaN and inf included */
        b[0] = NEW_FLOAT_EXT;
        for (k = 0; k < 8; k++) b[1 + k] = (unsigned char)(bits >> (56 - 8 * k));
        return raw(x, b, 9);
    case T_ATOM:
        if ((t->enc == ERL_SMALL_ATOM_EXT || t->enc == ERL_SMALL_ATOM_UTF8_EXT) && t->n <= 255) {
            b[0] = (unsigned char)t->enc;
            b[1] = (unsigned char)t->n;
            return raw(x, b, 2) || raw(x, t->s, t->n) ? -1 : 0;
        }
        b[0] = t->enc == ERL_ATOM_EXT || t->enc == ERL_SMALL_ATOM_EXT ? ERL_ATOM_EXT : ERL_ATOM_UTF8_EXT;
        b[1] = (unsigned char)(t->n >> 8);
        b[2] = (unsigned char)t->n;
        return t->n > 0xffff || raw(x, b, 3) || raw(x, t->s, t->n) ? -1 : 0;
    case T_BIN:
        return ei_x_encode_binary(x, t->n ? (const char *)t->s : "", (long)t->n);
    case T_STR:
        if (t->n == 0) return ei_x_encode_empty_list(x);
        if (t->n > 0xffff) return -1;
        b[0] = ERL_STRING_EXT;
        b[1] = (unsigned char)(t->n >> 8);
        b[2] = (unsigned char)t->n;
        return raw(x, b, 3) || raw(x, t->s, t->n) ? -1 : 0;
    case T_NIL:
        return ei_x_encode_empty_list(x);
    case T_LIST:
        if (t->nk == 0) return ei_x_encode_empty_list(x);
        if (t->nk > 1 && ei_x_encode_list_header(x, (long)t->nk - 1) != 0) return -1;
        for (k = 0; k < t->nk; k++)
            if (emit(x, t->kids[k], depth + 1) != 0) return -1;
        return 0;
    case T_TUPLE:
        if (t->enc) {
            b[0] = ERL_LARGE_TUPLE_EXT;
            b[1] = (unsigned char)(t->nk >> 24);
            b[2] = (unsigned char)(t->nk >> 16);
            b[3] = (unsigned char)(t->nk >> 8);
            b[4] = (unsigned char)t->nk;
            if (raw(x, b, 5) != 0) return -1;
        } else if (ei_x_encode_tuple_header(x, (long)t->nk) != 0) {
            return -1;
        }
        for (k = 0; k < t->nk; k++)
            if (emit(x, t->kids[k], depth + 1) != 0) return -1;
        return 0;
    case T_MAP:
        if (ei_x_encode_map_header(x, (long)(t->nk / 2)) != 0) return -1;
        for (k = 0; k < t->nk / 2 * 2; k++)
            if (emit(x, t->kids[k], depth + 1) != 0) return -1;
        return 0;
    case T_RAW:
        return raw(x, t->s, t->n);
    }
    return -1;
}

/* ---- building values ------------------------------------------------------ */

static const char *const k_cmds[] = {
    "open", "close", "ping", "query", "execute", "batch", "execute_many", "execute_script",
    "prepare", "stmt_query", "stmt_execute", "finalize", "cursor_open", "cursor_fetch",
    "cursor_close", "info", "stats", "set_busy_timeout", "limit", "backup", "reset",
    "interrupt", "cancel", "begin", "commit", "rollback", "savepoint", "create_function",
    "delete_function", "answer", "capture", "set_authorizer", "serialize", "deserialize",
};
#define NCMDS (sizeof k_cmds / sizeof k_cmds[0])
static const char *const k_tx_modes[] = { "deferred", "immediate", "exclusive", "read_only", "x" };
static const char *const k_sp_ops[] = { "savepoint", "release", "rollback_to", "drop" };
static const char *const k_sp_names[] = { "a", "sp_1", "b", "", "a b", "1x", "\"q\"" };

static const char *const k_atoms[] = {
    "null", "true", "false", "blob", "named", "infinity", "neg_infinity", "undefined",
    "path", "read_only", "create", "busy_timeout", "cache_size", "max_result_bytes",
    "length", "sql_length", "column", "expr_depth", "compound_select", "vdbe_op",
    "function_arg", "attached", "like_pattern_length", "variable_number", "trigger_depth",
    "worker_threads", "ok", "error", "text", "aggregate", "deterministic", "call", "steps",
    "final",
};

static const char *const k_limits[] = {
    "length", "sql_length", "column", "expr_depth", "compound_select", "vdbe_op",
    "function_arg", "attached", "like_pattern_length", "variable_number", "trigger_depth",
    "worker_threads",
};

static const char *const k_sql[] = {
    "SELECT ?", "SELECT ?, ?", "SELECT ?1, ?2, ?1", "SELECT ?999", "SELECT :a, @b, $c",
    "SELECT :a, :a", "SELECT 1", "SELECT * FROM t", "SELECT a, b, c, d FROM t WHERE a >= ?",
    "SELECT count(*) FROM t", "SELECT typeof(?), length(?)", "SELECT * FROM t ORDER BY random()",
    "INSERT INTO t(b, c, d) VALUES (?, ?, ?)", "INSERT INTO t VALUES (?, ?, ?, ?)",
    "INSERT OR REPLACE INTO t(a, b) VALUES (?, ?)", "UPDATE t SET b = ? WHERE a = ?",
    "DELETE FROM t WHERE a > ?", "DELETE FROM t", "BEGIN", "BEGIN IMMEDIATE", "COMMIT",
    "ROLLBACK", "SAVEPOINT libsql_group", "RELEASE libsql_group", "ROLLBACK TO libsql_group",
    "SAVEPOINT s1", "RELEASE s1", "CREATE TABLE IF NOT EXISTS u(x INTEGER PRIMARY KEY, y)",
    "CREATE TABLE v(x UNIQUE)", "DROP TABLE t", "DROP TABLE IF EXISTS u",
    "ALTER TABLE t ADD COLUMN e", "ALTER TABLE t DROP COLUMN b", "CREATE INDEX IF NOT EXISTS ti ON t(b)",
    "CREATE VIEW IF NOT EXISTS w AS SELECT b FROM t",
    "CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN UPDATE t SET c = 0 WHERE a = new.a; END",
    "PRAGMA query_only = 1", "PRAGMA query_only = 0", "PRAGMA journal_mode",
    "PRAGMA foreign_keys = 1", "PRAGMA recursive_triggers = 1", "PRAGMA table_info(t)",
    "SELECT zeroblob(?)", "SELECT randomblob(?)", "SELECT substr(?, ?, ?)",
    "SELECT x'00ff', 1.5e308, -0.0, 9223372036854775807, -9223372036854775808",
    "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?) SELECT x, 'row' FROM c",
    "SELECT 1; SELECT 2", "SELECT 1;", "  -- only a comment", "", ";", "SELECT 1 /*",
    "SELECT 'unterminated", "SELEC 1", "SELECT * FROM nope", "SELECT abs(-9223372036854775808)",
    "BEGIN; INSERT INTO t(b) VALUES ('s'); COMMIT;", "CREATE TABLE s1(z); DROP TABLE s1;",
    "SELECT load_extension('x')", "ATTACH ':memory:' AS aux", "ANALYZE", "REINDEX",
    "SELECT sqlite_version(), changes(), total_changes(), last_insert_rowid()",
    /* Erlang SQL functions (k_fn_names): with no channel in the fuzzer
     * every call fails, which is the path under test. */
    "SELECT f(1)", "SELECT f(?)", "SELECT f(a), g(b, c) FROM t", "SELECT g()",
    "SELECT agg(a) FROM t", "SELECT agg(b) FROM t GROUP BY c", "SELECT agg(a) FROM t WHERE 0",
    "SELECT agg(a) OVER () FROM t", "SELECT f(agg(a)) FROM t", "SELECT lower('X'), count(*) FROM t",
    "CREATE INDEX IF NOT EXISTS tf ON t(f(a))", "DROP INDEX IF EXISTS tf",
    "UPDATE t SET b = f(b) WHERE a = ?",
};

static const long long k_ints[] = {
    0, 1, -1, 2, 3, 5, 100, 255, 256, -255, -256, 1000, 1024, 5000, 65535, 65536, 100000,
    100001, 32766, 32767, 1LL << 27, (1LL << 27) - 1, 2147483647LL, -2147483647LL - 1,
    2147483648LL, 4294967295LL, 4294967296LL, 100000000, 100000001, 0x70000000LL,
    0x70000001LL, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
};

/* Names for create_function / delete_function, and the SQL above calls
 * them: plain, aggregate, any arity, a built-in's, empty, too long. */
static const char *const k_fn_names[] = {
    "f", "g", "agg", "F", "lower", "count", "", "f2",
    "a_name_longer_than_255_bytes_a_name_longer_than_255_bytes_a_name_longer_than_255_bytes_"
    "a_name_longer_than_255_bytes_a_name_longer_than_255_bytes_a_name_longer_than_255_bytes_"
    "a_name_longer_than_255_bytes_a_name_longer_than_255_bytes_a_name_longer_than_255_bytes_",
};
static const char *const k_fn_flags[] = { "aggregate", "deterministic", "bogus" };

static int g_depth; /* guards generator recursion */

static tnode *mk_int(long long v)
{
    tnode *t = node(T_INT);

    if (t) {
        t->i = v;
        t->enc = pick(3) == 0 ? (int)pick(I_COUNT) : I_ERL;
    }
    return t;
}

static tnode *mk_bytes(int kind, const void *p, size_t n)
{
    tnode *t = node(kind);
    unsigned char *c;

    if (t == NULL) return NULL;
    c = aalloc(n ? n : 1);
    if (c == NULL) return NULL;
    if (n) memcpy(c, p, n);
    t->s = c;
    t->n = n;
    if (kind == T_ATOM) t->enc = pick(4) ? ERL_SMALL_ATOM_UTF8_EXT : ERL_ATOM_EXT;
    return t;
}

static tnode *mk_atom(const char *a) { return mk_bytes(T_ATOM, a, strlen(a)); }
static tnode *mk_bin(const char *s) { return mk_bytes(T_BIN, s, strlen(s)); }

static tnode *mk_kids(int kind, size_t n)
{
    tnode *t = node(kind);

    if (t == NULL) return NULL;
    t->kids = aalloc((n ? n : 1) * sizeof *t->kids);
    if (t->kids == NULL) return NULL;
    t->nk = n;
    return t;
}

static tnode *mk_tuple2(tnode *a, tnode *b)
{
    tnode *t = mk_kids(T_TUPLE, 2);

    if (t == NULL || a == NULL || b == NULL) return NULL;
    t->kids[0] = a;
    t->kids[1] = b;
    return t;
}

/* A proper list of n elements (kids[n] = []), elements unset. */
static tnode *mk_list(size_t n)
{
    tnode *t;

    if (n == 0) return node(T_NIL);
    t = mk_kids(T_LIST, n + 1);
    if (t == NULL || (t->kids[n] = node(T_NIL)) == NULL) return NULL;
    return t;
}

/* A live handle id of the port if there is one. */
static long long some_id(void)
{
    const handles *h = &g_fp.port.h;

    if (h->n == 0 || pick(4) == 0) return (long long)pick(6);
    return h->a[pick(h->n)].id;
}

static long long some_int(void)
{
    switch (pick(5)) {
    case 0: return some_id();
    case 1: return (long long)pick(300) - 20;
    default: return k_ints[pick(sizeof k_ints / sizeof k_ints[0])];
    }
}

static tnode *gen_value(void);

static tnode *gen_sql(void)
{
    char buf[600];
    const char *a = k_sql[pick(sizeof k_sql / sizeof k_sql[0])];

    if (pick(6) == 0) { /* two fragments glued */
        (void)snprintf(buf, sizeof buf, "%s%s%s", a, pick(2) ? "; " : " ",
                       k_sql[pick(sizeof k_sql / sizeof k_sql[0])]);
        return mk_bin(buf);
    }
    return mk_bin(a);
}

static tnode *gen_float(void)
{
    static const double k[] = { 0.0, -0.0, 1.5, -2.5, 1e308, -1e308, 5e-324, 2.2250738585072014e-308,
                                9.2233720368547758e18, 1e-10 };
    tnode *t = node(T_FLOAT);
    uint64_t bits;

    if (t == NULL) return NULL;
    t->enc = pick(5) == 0;
    if (pick(8) == 0) { /* NaN or an infinity, as raw NEW_FLOAT_EXT bits */
        bits = pick(2) ? 0x7ff8000000000000ULL : pick(2) ? 0x7ff0000000000000ULL : 0xfff0000000000001ULL;
        memcpy(&t->d, &bits, sizeof t->d);
        t->enc = 0;
    } else {
        t->d = k[pick(sizeof k / sizeof k[0])];
    }
    return t;
}

static tnode *gen_params(void)
{
    tnode *t;
    size_t n, i;

    switch (pick(6)) {
    case 0: return node(T_NIL);
    case 1: { /* [1, 2, 3] as term_to_binary writes it: a string */
        unsigned char s[4] = { (unsigned char)pick(256), 2, 3, 0 };
        return mk_bytes(T_STR, s, 1 + pick(3));
    }
    case 2: /* named */
        n = pick(4);
        t = mk_list(n);
        for (i = 0; t != NULL && i < n; i++) {
            static const char *const names[] = { "a", ":a", "@b", "$c", "b", "x", "", "zz" };
            t->kids[i] = mk_tuple2(mk_bin(names[pick(8)]), gen_value());
            if (t->kids[i] == NULL) return NULL;
        }
        return mk_tuple2(mk_atom("named"), t);
    default:
        n = pick(5);
        t = mk_list(n);
        for (i = 0; t != NULL && i < n; i++)
            if ((t->kids[i] = gen_value()) == NULL) return NULL;
        return t;
    }
}

static tnode *gen_value(void)
{
    static const char *const texts[] = { "text", "", "caf\xc3\xa9", ":memory:", "a\0b", "\xff\xfe" };
    tnode *t;
    size_t n, i;

    if (++g_depth > 6) {
        g_depth--;
        return mk_atom("null");
    }
    switch (pick(12)) {
    case 0: case 1: t = mk_int(some_int()); break;
    case 2: t = gen_float(); break;
    case 3: t = mk_atom(k_atoms[pick(sizeof k_atoms / sizeof k_atoms[0])]); break;
    case 4: i = pick(6); t = mk_bytes(T_BIN, texts[i], i == 4 ? 3 : strlen(texts[i])); break;
    case 5: t = gen_sql(); break;
    case 6: t = node(T_NIL); break;
    case 7: t = mk_tuple2(mk_atom("blob"), mk_bin(pick(2) ? "\x01\x02" : "")); break;
    case 8: t = gen_params(); break;
    case 9:
        n = pick(4);
        t = mk_kids(T_TUPLE, n);
        for (i = 0; t != NULL && i < n; i++)
            if ((t->kids[i] = gen_value()) == NULL) t = NULL;
        break;
    case 10: t = mk_atom("null"); break;
    default: t = mk_int((long long)pick(10)); break;
    }
    g_depth--;
    return t;
}

static tnode *gen_opts(void)
{
    static const char *const paths[] = { ":memory:", "", "file::memory:", "file:fuzz?mode=memory",
                                         "/nonexistent/dir/x.db" };
    size_t n = pick(5), i;
    tnode *t = mk_list(n), *v;

    for (i = 0; t != NULL && i < n; i++) {
        const char *key;

        switch (pick(8)) {
        case 0: case 1: key = "path"; v = mk_bin(paths[pick(5)]); break;
        case 2: key = "read_only"; v = mk_atom(pick(2) ? "true" : "false"); break;
        case 3: key = "create"; v = mk_atom(pick(2) ? "true" : "false"); break;
        case 4: key = "busy_timeout"; v = mk_int(some_int()); break;
        case 5: key = "cache_size"; v = mk_int(some_int()); break;
        case 6: key = "max_result_bytes"; v = mk_int(some_int()); break;
        default: key = k_atoms[pick(sizeof k_atoms / sizeof k_atoms[0])]; v = gen_value(); break;
        }
        if ((t->kids[i] = mk_tuple2(mk_atom(key), v)) == NULL) return NULL;
    }
    return t;
}

/* create_function's Flags: a list of the atoms it knows, sometimes one
 * it does not. */
static tnode *gen_fn_flags(void)
{
    size_t n = pick(3), i;
    tnode *t = mk_list(n);

    for (i = 0; t != NULL && i < n; i++)
        if ((t->kids[i] = mk_atom(k_fn_flags[pick(pick(8) ? 2 : 3)])) == NULL) return NULL;
    return t;
}

/* Authorizer rules: {deny | ignore, Action, Object, Detail}, sometimes
 * not quite. */
static tnode *gen_auth_rules(void)
{
    static const char *const verdicts[] = { "deny", "ignore", "allow" };
    static const char *const actions[] = { "read", "insert", "update", "delete", "pragma",
                                           "function", "attach", "select", "_", "reed" };
    static const char *const names[] = { "t", "a", "b", "sqlite_master", "f", "journal_mode" };
    size_t n = pick(4), i;
    tnode *t = mk_list(n), *r;

    for (i = 0; t != NULL && i < n; i++) {
        r = mk_kids(T_TUPLE, pick(16) ? 4 : 3);
        if (r == NULL) return NULL;
        r->kids[0] = mk_atom(verdicts[pick(pick(8) ? 2 : 3)]);
        r->kids[1] = mk_atom(actions[pick(sizeof actions / sizeof actions[0])]);
        r->kids[2] = pick(3) ? mk_bin(names[pick(sizeof names / sizeof names[0])]) : mk_atom("_");
        if (r->nk == 4) r->kids[3] = pick(2) ? mk_atom("_") : mk_bin(names[pick(6)]);
        t->kids[i] = r;
    }
    return t;
}

/* An image for deserialize: empty, garbage, or an SQLite header with a
 * page size (right or wrong) and pages of zeros. */
static tnode *gen_image(void)
{
    static const unsigned sizes[] = { 512, 1024, 4096, 1, 0, 3000, 65536 };
    unsigned char b[1024];
    unsigned ps = sizes[pick(sizeof sizes / sizeof sizes[0])];
    size_t n = pick(3) ? 512 * (1 + pick(2)) : pick(64);

    memset(b, 0, sizeof b);
    memcpy(b, "SQLite format 3", 16);
    b[16] = (unsigned char)(ps >> 8);
    b[17] = (unsigned char)ps;
    if (pick(4) == 0) n = 0;
    return mk_bytes(T_BIN, b, n);
}

/* The Result of an answer: {ok, Value}, {error, Msg}, ok, or anything. */
static tnode *gen_answer_result(void)
{
    switch (pick(4)) {
    case 0: return mk_tuple2(mk_atom("ok"), gen_value());
    case 1: return mk_tuple2(mk_atom("error"), mk_bin(pick(2) ? "nope" : ""));
    case 2: return mk_atom("ok");
    default: return gen_value();
    }
}

/* Well-typed arguments for command c (most of the time). */
static tnode *gen_arg(const char *c, int i)
{
    size_t n, k;
    tnode *t;

    if (pick(16) == 0) return gen_value();
    if (!strcmp(c, "open")) return gen_opts();
    if (!strcmp(c, "query") || !strcmp(c, "execute") || !strcmp(c, "cursor_open"))
        return i == 0 ? gen_sql() : gen_params();
    if (!strcmp(c, "execute_script") || !strcmp(c, "prepare")) return gen_sql();
    if (!strcmp(c, "batch")) {
        if (i == 1) return mk_atom(pick(2) ? "true" : "false");
        n = pick(4);
        t = mk_list(n);
        for (k = 0; t != NULL && k < n; k++)
            if ((t->kids[k] = mk_tuple2(gen_sql(), gen_params())) == NULL) return NULL;
        return t;
    }
    if (!strcmp(c, "execute_many")) {
        if (i == 0) return gen_sql();
        n = pick(4);
        t = mk_list(n);
        for (k = 0; t != NULL && k < n; k++)
            if ((t->kids[k] = gen_params()) == NULL) return NULL;
        return t;
    }
    if (!strcmp(c, "stmt_query") || !strcmp(c, "stmt_execute"))
        return i == 0 ? mk_int(some_id()) : gen_params();
    if (!strcmp(c, "finalize") || !strcmp(c, "cursor_close")) return mk_int(some_id());
    if (!strcmp(c, "cursor_fetch")) return i == 0 ? mk_int(some_id()) : mk_int(some_int());
    if (!strcmp(c, "limit"))
        return i == 0 ? mk_atom(k_limits[pick(sizeof k_limits / sizeof k_limits[0])])
                      : mk_int(pick(2) ? -1 : some_int());
    if (!strcmp(c, "backup")) /* {Ref, backup, Dest, same | Key} */
        return i == 0 ? mk_bin(pick(2) ? ":memory:" : "") : pick(2) ? mk_atom("same") : mk_bin("key");
    if (!strcmp(c, "begin")) return mk_atom(k_tx_modes[pick(sizeof k_tx_modes / sizeof k_tx_modes[0])]);
    if (!strcmp(c, "savepoint"))
        return i == 0 ? mk_atom(k_sp_ops[pick(sizeof k_sp_ops / sizeof k_sp_ops[0])])
                      : mk_bin(k_sp_names[pick(sizeof k_sp_names / sizeof k_sp_names[0])]);
    if (!strcmp(c, "create_function") || !strcmp(c, "delete_function")) {
        static const long long arities[] = { -1, 0, 1, 2, 1, 127, 128, -2 };

        switch (i) {
        case 0: /* NUL bytes inside a name, sometimes */
            if (pick(16) == 0) return mk_bytes(T_BIN, "f\0g", 3);
            return mk_bin(k_fn_names[pick(sizeof k_fn_names / sizeof k_fn_names[0])]);
        case 1: return mk_int(arities[pick(sizeof arities / sizeof arities[0])]);
        case 2: return mk_int(pick(4) ? 1 + (long long)pick(8) : some_int());
        default: return gen_fn_flags();
        }
    }
    if (!strcmp(c, "answer")) return i == 0 ? mk_int(some_int()) : gen_answer_result();
    if (!strcmp(c, "capture")) return mk_atom(pick(2) ? "true" : "false");
    if (!strcmp(c, "set_authorizer"))
        return i == 0 ? gen_auth_rules() : mk_atom(pick(4) ? "false" : "true");
    if (!strcmp(c, "deserialize")) return gen_image();
    return mk_int(some_int()); /* set_busy_timeout, cancel */
}

static int cmd_nargs(const char *c)
{
    static const int nargs[] = { 1, 0, 0, 2, 2, 2, 2, 1, 1, 2, 2, 1, 2, 2, 1, 0, 0, 1, 2, 2, 0, 0, 1,
                                 1, 0, 0, 2, 4, 2, 2, 2, 2, 0, 1 };
    /* One entry per command: a missing one would silently be 0. */
    _Static_assert(sizeof nargs / sizeof nargs[0] == NCMDS, "nargs and k_cmds differ");
    size_t i;

    for (i = 0; i < NCMDS; i++)
        if (!strcmp(k_cmds[i], c)) return nargs[i];
    return 0;
}

/* {Ref, Cmd, Args...} for a random command (ref kept if given). */
static tnode *gen_request(const tnode *old_ref)
{
    const char *c = k_cmds[pick(NCMDS)];
    int n = cmd_nargs(c), i;
    tnode *t = mk_kids(T_TUPLE, (size_t)n + 2);

    if (t == NULL) return NULL;
    t->kids[0] = old_ref != NULL && pick(4) ? (tnode *)old_ref : mk_int(1 + (long long)pick(1000));
    t->kids[1] = mk_atom(c);
    for (i = 0; i < n; i++)
        if ((t->kids[2 + i] = gen_arg(c, i)) == NULL) return NULL;
    return t->kids[0] && t->kids[1] ? t : NULL;
}

/* ---- mutating ------------------------------------------------------------- */

/* A deep copy, so that a subterm copied elsewhere shares nothing (and can
 * never end up inside itself). */
static tnode *clone(const tnode *t, int depth)
{
    tnode *c;
    size_t k;

    if (t == NULL || depth > 64 || (c = node(t->kind)) == NULL) return NULL;
    *c = *t;
    if (t->nk == 0) return c;
    c->kids = aalloc(t->nk * sizeof *c->kids);
    if (c->kids == NULL) return NULL;
    for (k = 0; k < t->nk; k++)
        if ((c->kids[k] = clone(t->kids[k], depth + 1)) == NULL) return NULL;
    return c;
}

typedef struct slot {
    tnode **at;   /* where the node hangs (the root pointer for the root) */
    tnode *parent;
    size_t index; /* in parent->kids */
} slot;

static slot g_slots[MAX_NODES];
static size_t g_nslots;

static void collect(tnode **at, tnode *parent, size_t index)
{
    size_t k;
    tnode *t = *at;

    if (g_nslots >= MAX_NODES || t == NULL) return;
    g_slots[g_nslots].at = at;
    g_slots[g_nslots].parent = parent;
    g_slots[g_nslots].index = index;
    g_nslots++;
    if (t->kind == T_LIST || t->kind == T_TUPLE || t->kind == T_MAP)
        for (k = 0; k < t->nk; k++) collect(&t->kids[k], t, k);
}

/* A copy of t's kids array with one more (at i, value v) or one fewer. */
static int kids_insert(tnode *t, size_t i, tnode *v)
{
    tnode **k = aalloc((t->nk + 1) * sizeof *k);

    if (k == NULL || v == NULL) return -1;
    memcpy(k, t->kids, i * sizeof *k);
    k[i] = v;
    memcpy(k + i + 1, t->kids + i, (t->nk - i) * sizeof *k);
    t->kids = k;
    t->nk++;
    return 0;
}

static void kids_delete(tnode *t, size_t i)
{
    memmove(t->kids + i, t->kids + i + 1, (t->nk - i - 1) * sizeof *t->kids);
    t->nk--;
}

static int mutate_bytes(tnode *t)
{
    size_t cap = t->n + 64;
    unsigned char *c;

    if (cap > 2048) cap = t->n + 8;
    c = aalloc(cap);
    if (c == NULL) return -1;
    if (t->n) memcpy(c, t->s, t->n);
    switch (pick(4)) {
    case 0: t->n = t->n ? LLVMFuzzerMutate(c, t->n, cap) : 0; break;
    case 1: if (t->n) c[pick(t->n)] = 0; break;                   /* a NUL byte */
    case 2: t->n = pick(t->n + 1); break;                         /* cut */
    default:                                                      /* repeat the tail */
        if (t->n && t->n * 2 <= cap) { memcpy(c + t->n, c, t->n); t->n *= 2; }
        break;
    }
    t->s = c;
    return 0;
}

static int mutate_once(tnode **root)
{
    slot sl;
    tnode *t, *v, *w;
    size_t k;

    g_nslots = 0;
    collect(root, NULL, 0);
    if (g_nslots == 0) return -1;
    /* Top-level operations on a request tuple. */
    if ((*root)->kind == T_TUPLE && pick(4) == 0) {
        t = *root;
        switch (pick(4)) {
        case 0: /* a new well-typed request */
            v = gen_request(t->nk > 0 ? t->kids[0] : NULL);
            if (v == NULL) return -1;
            *root = v;
            return 0;
        case 1: /* another command, same arguments */
            if (t->nk < 2) return -1;
            t->kids[1] = mk_atom(k_cmds[pick(NCMDS)]);
            return t->kids[1] ? 0 : -1;
        case 2: /* another ref */
            if (t->nk < 1) return -1;
            t->kids[0] = mk_int(pick(2) ? some_int() : 1 + (long long)pick(100));
            return t->kids[0] ? 0 : -1;
        default: /* the arity the command wants: pad with typed arguments or cut */
            if (t->nk < 2 || t->kids[1]->kind != T_ATOM) return -1;
            {
                char c[64];
                size_t want;

                (void)snprintf(c, sizeof c, "%.*s", (int)(t->kids[1]->n < 63 ? t->kids[1]->n : 63),
                               (const char *)t->kids[1]->s);
                want = (size_t)cmd_nargs(c) + 2;
                while (t->nk > want) kids_delete(t, t->nk - 1);
                while (t->nk < want)
                    if (kids_insert(t, t->nk, gen_arg(c, (int)t->nk - 2)) != 0) return -1;
            }
            return 0;
        }
    }
    sl = g_slots[pick(g_nslots)];
    t = *sl.at;
    switch (pick(10)) {
    case 0: /* replace with a value of another type */
        v = gen_value();
        break;
    case 1: /* integers: boundaries, live ids, neighbours */
        if (t->kind == T_INT && pick(3) == 0) {
            v = mk_int((long long)((unsigned long long)t->i + (pick(2) ? 1ULL : ~0ULL)));
        } else {
            v = mk_int(some_int());
        }
        break;
    case 2: /* binaries, atoms, strings, FLOAT_EXT text: their bytes */
        if (t->kind == T_FLOAT) {
            static const char chars[] = "0123456789 .e+-xpabcdefinINF";
            unsigned char *c = aalloc(48);
            size_t m;

            v = node(T_FLOAT);
            if (v == NULL || c == NULL) return -1;
            *v = *t;
            v->enc = 1;
            if (t->enc && t->s != NULL && pick(2)) {
                memcpy(c, t->s, 31);
                m = LLVMFuzzerMutate(c, 31, 31);
                while (m < 31) c[m++] = (unsigned char)chars[pick(sizeof chars - 1)];
            } else { /* the text padded with spaces, or with more digits, instead of NULs */
                (void)snprintf((char *)c, 48, pick(2) ? "%-31.20e" : "%.29e", t->d);
            }
            v->s = c;
            v->n = 31;
        } else if (t->kind == T_BIN || t->kind == T_ATOM || t->kind == T_STR) {
            if (t->kind == T_BIN && pick(3) == 0) {
                v = gen_sql();
            } else if (t->kind == T_ATOM && pick(2)) {
                v = mk_atom(pick(2) ? k_cmds[pick(NCMDS)] : k_atoms[pick(sizeof k_atoms / sizeof k_atoms[0])]);
            } else {
                v = node(t->kind);
                if (v == NULL) return -1;
                *v = *t;
                if (mutate_bytes(v) != 0) return -1;
            }
        } else {
            v = gen_sql();
        }
        break;
    case 3: /* wrap */
        switch (pick(4)) {
        case 0: v = mk_list(1); if (v) v->kids[0] = t; break;
        case 1: v = mk_kids(T_TUPLE, 1); if (v) v->kids[0] = t; break;
        case 2: v = mk_tuple2(mk_atom("blob"), t); break;
        default: v = mk_list(1); if (v) v->kids[0] = mk_tuple2(mk_bin(":a"), t);
                 v = v ? mk_tuple2(mk_atom("named"), v) : NULL; break;
        }
        break;
    case 4: /* unwrap */
        if ((t->kind != T_LIST && t->kind != T_TUPLE && t->kind != T_MAP) || t->nk == 0) return -1;
        v = t->kids[pick(t->nk)];
        break;
    case 5: /* another encoding of the same value */
        v = node(t->kind);
        if (v == NULL) return -1;
        *v = *t;
        if (t->kind == T_INT) v->enc = (int)pick(I_COUNT);
        else if (t->kind == T_FLOAT) { v->enc = !t->enc; v->s = NULL; }
        else if (t->kind == T_ATOM) {
            static const int tags[] = { ERL_SMALL_ATOM_EXT, ERL_SMALL_ATOM_UTF8_EXT, ERL_ATOM_EXT, ERL_ATOM_UTF8_EXT };
            v->enc = tags[pick(4)];
        } else if (t->kind == T_TUPLE) v->enc = !t->enc;
        else if (t->kind == T_STR) { /* the same integers as a list */
            w = mk_list(t->n);
            if (w == NULL) return -1;
            for (k = 0; k < t->n; k++)
                if ((w->kids[k] = mk_int(t->s[k])) == NULL) return -1;
            v = w;
        } else return -1;
        break;
    case 6: /* containers: insert, delete, duplicate, swap elements */
        if (t->kind != T_LIST && t->kind != T_TUPLE && t->kind != T_MAP) return -1;
        v = node(t->kind);
        if (v == NULL) return -1;
        *v = *t;
        v->kids = aalloc((t->nk + 1) * sizeof *v->kids);
        if (v->kids == NULL) return -1;
        memcpy(v->kids, t->kids, t->nk * sizeof *v->kids);
        k = v->kind == T_LIST ? v->nk - 1 : v->nk; /* elements (a list's tail stays last) */
        switch (pick(4)) {
        case 0: if (kids_insert(v, pick(k + 1), gen_value()) != 0) return -1; break;
        case 1: if (k == 0) return -1; kids_delete(v, pick(k)); break;
        case 2: if (k == 0) return -1; { size_t i = pick(k); if (kids_insert(v, i, clone(v->kids[i], 0)) != 0) return -1; } break;
        default:
            if (k < 2) return -1;
            { size_t i = pick(k), j = pick(k); w = v->kids[i]; v->kids[i] = v->kids[j]; v->kids[j] = w; }
            break;
        }
        if (v->kind == T_LIST && v->nk == 1) v = v->kids[0]; /* no elements: just the tail */
        break;
    case 7: /* an improper tail */
        if (t->kind != T_LIST) return -1;
        v = node(T_LIST);
        if (v == NULL) return -1;
        *v = *t;
        v->kids = aalloc(t->nk * sizeof *v->kids);
        if (v->kids == NULL) return -1;
        memcpy(v->kids, t->kids, t->nk * sizeof *v->kids);
        v->kids[v->nk - 1] = gen_value();
        break;
    default: /* a copy of another subterm */
        v = clone(*g_slots[pick(g_nslots)].at, 0);
        break;
    }
    if (v == NULL) return -1;
    *sl.at = v;
    return 0;
}

/* Encode root into out (at most max bytes). The size, or 0. */
static size_t encode(const tnode *root, uint8_t *out, size_t max)
{
    ei_x_buff x;
    size_t n = 0;

    if (ei_x_new_with_version(&x) != 0) return 0;
    if (emit(&x, root, 0) == 0 && x.index > 0 && (size_t)x.index <= max) {
        n = (size_t)x.index;
        memcpy(out, x.buff, n);
    }
    (void)ei_x_free(&x);
    return n;
}

static tnode *parse_input(const uint8_t *data, size_t size)
{
    const char *why;
    size_t pos = 1;
    tnode *t;

    if (size < 2 || term_check((const char *)data, size, &why) != 0) return NULL;
    t = parse(data, size, &pos, 0);
    return t != NULL && pos == size ? t : NULL;
}

static uint8_t g_copy[1 << 16];

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    tnode *root;
    size_t n, rounds, i;

    g_rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed << 1 | 1);
    if (pick(2) == 0) return LLVMFuzzerMutate(data, size, max_size);
    if (size > sizeof g_copy) return LLVMFuzzerMutate(data, size, max_size);
    memcpy(g_copy, data, size); /* the tree points into the input */
    arena_reset();
    root = parse_input(g_copy, size);
    if (root == NULL) {
        if (pick(8) != 0) return LLVMFuzzerMutate(data, size, max_size);
        root = gen_request(NULL); /* garbage in: start from a fresh request */
        if (root == NULL) return LLVMFuzzerMutate(data, size, max_size);
    }
    rounds = 1 + pick(3);
    for (i = 0; i < rounds; i++) (void)mutate_once(&root);
    n = encode(root, data, max_size);
    return n ? n : LLVMFuzzerMutate(data, size, max_size);
}

static uint8_t g_copy2[1 << 16];

size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed)
{
    tnode *a, *b, *donor;
    slot sl;
    size_t n, i, j;

    g_rng = 0x2545f4914f6cdd1dULL ^ ((uint64_t)seed << 1 | 1);
    if (s1 <= sizeof g_copy && s2 <= sizeof g_copy2) {
        memcpy(g_copy, d1, s1);
        memcpy(g_copy2, d2, s2);
        arena_reset();
        a = parse_input(g_copy, s1);
        b = parse_input(g_copy2, s2);
        if (a != NULL && b != NULL) {
            g_nslots = 0;
            collect(&b, NULL, 0);
            donor = *g_slots[pick(g_nslots)].at;
            g_nslots = 0;
            collect(&a, NULL, 0);
            sl = g_slots[pick(g_nslots)];
            *sl.at = donor;
            n = encode(a, out, max_out);
            if (n) return n;
        }
    }
    /* Bytes: a prefix of one, a suffix of the other. */
    i = pick(s1 + 1);
    j = pick(s2 + 1);
    n = 0;
    if (i > max_out) i = max_out;
    memcpy(out, d1, i);
    n = i;
    if (s2 - j > max_out - n) j = s2 - (max_out - n);
    memcpy(out + n, d2 + j, s2 - j);
    return n + (s2 - j);
}
