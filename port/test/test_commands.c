/*
 * test_commands.c - commands_dispatch end to end (commands.c and the
 * handlers: conn_cmds.c, exec.c, cursors.c, run.c, reply.c) on a port
 * without an Erlang VM: request frames built with ei go through term_check,
 * term_parse_request and commands_dispatch exactly as main.c runs them
 * (call_at, test_util.c), and every reply is decoded with ei and compared
 * value by value. Open/close and options, values both ways, changes,
 * named and positional parameters and their errors, SQL and constraint
 * errors, bad frames, files, big blobs, interrupts, the statement cache,
 * schema changes, cursors, prepared statements, batches, execute_many,
 * scripts, info/settings/reset.
 */
#include "test_util.h"
#include "backend.h"
#include "commands.h"
#include "errors.h"
#include "protocol.h"
#include "term.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
static void expect_open_ok_at(const char *file, int line, const reply *r, long ref)
{
    const char *buf = r->x.buff;
    char atom[MAXATOMLEN_UTF8];
    int idx = r->idx, n = -1;

    CHECK_AT(file, line, r->valid && r->ok && r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    CHECK_AT(file, line, ei_decode_map_header(buf, &idx, &n) == 0 && n == 1);
    CHECK_AT(file, line, ei_decode_atom(buf, &idx, atom) == 0 && strcmp(atom, "mode") == 0);
    CHECK_AT(file, line, ei_decode_atom(buf, &idx, atom) == 0 && strcmp(atom, "local") == 0);
    CHECK_AT(file, line, idx == r->x.index);
}
#define EXPECT_OPEN_OK(r, ref) expect_open_ok_at(__FILE__, __LINE__, (r), (ref))

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

/* Change capture and rules on a connection that closes inside a
 * transaction: closing rolls back, and SQLite tells the rollback hook,
 * which must not reach freed state (the fuzzer found it did). */
static void test_close_with_hooks(void)
{
    lsq_port p;
    reply r;
    ei_x_buff x;
    int round;

    port_init(&p);
    reply_init(&r);
    for (round = 0; round < 2; round++) {
        OPEN(&p, &r, 1, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 1);
        EXEC(&p, &r, 2, "CREATE TABLE t(x)", NULL, 0); EXPECT_EXEC(&r, 2, 0, 0);
        req_begin(&x, 3, "capture", 2);
        EI(ei_x_encode_atom(&x, "true")); EI(ei_x_encode_atom(&x, round ? "false" : "true"));
        CALL(&p, &x, &r); EXPECT_OK_ATOM(&r, 3);
        req_begin(&x, 4, "set_authorizer", 2);
        EI(ei_x_encode_list_header(&x, 1)); EI(ei_x_encode_tuple_header(&x, 4));
        EI(ei_x_encode_atom(&x, "deny")); EI(ei_x_encode_atom(&x, "attach"));
        EI(ei_x_encode_atom(&x, "_")); EI(ei_x_encode_atom(&x, "_"));
        EI(ei_x_encode_empty_list(&x)); EI(ei_x_encode_atom(&x, "false"));
        CALL(&p, &x, &r); EXPECT_OK_ATOM(&r, 4);
        EXEC(&p, &r, 5, "BEGIN", NULL, 0); EXPECT_EXEC(&r, 5, 0, 0);
        EXEC(&p, &r, 6, "INSERT INTO t VALUES (1)", NULL, 0); EXPECT_EXEC(&r, 6, 1, 1);
        EXEC(&p, &r, 7, "ATTACH ':memory:' AS a", NULL, 0); EXPECT_ERROR(&r, 7, "auth");
        SIMPLE(&p, &r, 8, "close"); EXPECT_OK_ATOM(&r, 8);
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
    /* A file and a server: an embedded replica, whose file must be a file
     * name (never :memory:); nothing is opened. */
    req_begin(&x, 7, "open", 1); EI(ei_x_encode_list_header(&x, 2));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "path")); EI(ei_x_encode_binary(&x, ":memory:", 8));
    EI(ei_x_encode_tuple_header(&x, 2)); EI(ei_x_encode_atom(&x, "url")); EI(ei_x_encode_binary(&x, "http://127.0.0.1:1", 18));
    EI(ei_x_encode_empty_list(&x));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 7, "bad_argument"); EXPECT_MSG(&r, "file name");
    CHECK(p.conn == NULL);
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
static void open_cache_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *path,
                          long cache)
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
    call_at(file, line, p, &x, r);
}
#define OPEN_CACHE(p, r, ref, path, n) \
    open_cache_at(__FILE__, __LINE__, (p), (r), (ref), (path), (n))

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
static long long stat_at(const char *file, int line, lsq_port *p, const char *key)
{
    reply r;
    long long v = -1;

    reply_init(&r);
    simple_at(file, line, p, &r, 999, "stats");
    CHECK_AT(file, line, r.valid && r.ok);
    CHECK_AT(file, line, r.valid && r.ok && map_int(r.x.buff, r.idx, key, &v) == 0);
    reply_free(&r);
    return v;
}
#define STAT(p, key) stat_at(__FILE__, __LINE__, (p), (key))

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

static void fetch_at(const char *file, int line, lsq_port *p, reply *r, long ref, long long id,
                     long max)
{
    ei_x_buff x;

    req_begin(&x, ref, "cursor_fetch", 2);
    EI(ei_x_encode_longlong(&x, id));
    xint_erl(&x, max);
    call_at(file, line, p, &x, r);
}

/* Fetch max rows and compare them (one integer column) and Done. */
static void expect_fetch_at(const char *file, int line, lsq_port *p, reply *r, long ref, long long id,
                            long max, long long first, size_t n, int want_done)
{
    rowset rs;
    lsq_value want[16];
    size_t i;
    int done = -1;

    fetch_at(file, line, p, r, ref, id, max);
    memset(&rs, 0, sizeof rs);
    rs.ncol = 1;
    CHECK_AT(file, line, r->valid && r->ok && r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return;
    }
    CHECK_AT(file, line, get_fetch(r, &rs, &done) == 0);
    for (i = 0; i < n && i < 16; i++) want[i] = vint(first + (long long)i);
    check_rowset_at(file, line, &rs, 1, NULL, n, want);
    CHECK_AT(file, line, done == want_done);
    rowset_free(&rs);
}
#define EXPECT_FETCH(p, r, ref, id, max, first, n, done) \
    expect_fetch_at(__FILE__, __LINE__, (p), (r), (ref), (id), (max), (first), (n), (done))

/* cursor_open -> Id (or -1), checking the columns are exactly [Col]. */
static long long cursor_open_at(const char *file, int line, lsq_port *p, reply *r, long ref,
                                const char *sql, const lsq_value *vals, int n, const char *col)
{
    ei_x_buff x;
    rowset rs;
    long long id = -1;
    int idx, arity;

    req_sql(&x, ref, "cursor_open", sql, strlen(sql), vals, n);
    call_at(file, line, p, &x, r);
    CHECK_AT(file, line, r->valid && r->ok && r->ref == ref);
    if (!(r->valid && r->ok)) {
        if (r->valid) fprintf(stderr, "    got error %s: %.*s\n", r->code, (int)r->msg_len, r->msg);
        return -1;
    }
    memset(&rs, 0, sizeof rs);
    idx = r->idx;
    CHECK_AT(file, line, ei_decode_tuple_header(r->x.buff, &idx, &arity) == 0 && arity == 2);
    CHECK_AT(file, line, ei_decode_longlong(r->x.buff, &idx, &id) == 0 && id > 0);
    CHECK_AT(file, line, get_columns(r->x.buff, &idx, &rs) == 0);
    CHECK_AT(file, line, idx == r->x.index);
    check_rowset_at(file, line, &rs, 1, &col, 0, NULL);
    return id;
}
#define CURSOR_OPEN(p, r, ref, sql, vals, n, col) \
    cursor_open_at(__FILE__, __LINE__, (p), (r), (ref), (sql), (vals), (n), (col))

static void simple_id_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *cmd,
                         long long id)
{
    ei_x_buff x;

    req_begin(&x, ref, cmd, 1);
    EI(ei_x_encode_longlong(&x, id));
    call_at(file, line, p, &x, r);
}
#define SIMPLE_ID(p, r, ref, cmd, id) \
    simple_id_at(__FILE__, __LINE__, (p), (r), (ref), (cmd), (id))

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
            check_rowset_at(__FILE__, __LINE__, &rs, 2, c5, 0, NULL);
            fetch_at(__FILE__, __LINE__, &p, &r, 19, id, 10);
            rs.ncol = 2;
            CHECK(get_fetch(&r, &rs, &done) == 0 && done == 1);
            check_rowset_at(__FILE__, __LINE__, &rs, 2, NULL, 1, v);
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
    fetch_at(__FILE__, __LINE__, &p, &r, 10, id, 2); EXPECT_ERROR(&r, 10, "bad_argument");
    SIMPLE_ID(&p, &r, 11, "cursor_close", id); EXPECT_OK_ATOM(&r, 11);
    SIMPLE_ID(&p, &r, 12, "cursor_close", 123456); EXPECT_OK_ATOM(&r, 12);
    /* parameters outlive the request frame (call_at frees it) */
    v = vtext("2");
    id = CURSOR_OPEN(&p, &r, 13, "SELECT x FROM c WHERE x > CAST(? AS INTEGER) ORDER BY x", &v, 1, "x");
    EXPECT_FETCH(&p, &r, 14, id, 10, 3, 3, 1);
    SIMPLE_ID(&p, &r, 15, "cursor_close", id); EXPECT_OK_ATOM(&r, 15);
    /* bad fetch sizes */
    id = CURSOR_OPEN(&p, &r, 16, sel, NULL, 0, "x");
    fetch_at(__FILE__, __LINE__, &p, &r, 17, id, 0); EXPECT_ERROR(&r, 17, "bad_argument");
    fetch_at(__FILE__, __LINE__, &p, &r, 18, id, -1); EXPECT_ERROR(&r, 18, "bad_argument");
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
    fetch_at(__FILE__, __LINE__, &p, &r, 25, id2, 2); EXPECT_ERROR(&r, 25, "bad_argument");
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
    fetch_at(__FILE__, __LINE__, &p, &r, 30, id, 2); EXPECT_ERROR(&r, 30, "closed");
    OPEN(&p, &r, 31, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 31);
    fetch_at(__FILE__, __LINE__, &p, &r, 32, id, 2); EXPECT_ERROR(&r, 32, "bad_argument");
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
        check_rowset_at(__FILE__, __LINE__, &rs, 2, ab, 0, NULL);
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
    fetch_at(__FILE__, __LINE__, &p, &r, 13, id2, 1); EXPECT_ERROR(&r, 13, "bad_argument");
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
static void batch_at(const char *file, int line, lsq_port *p, reply *r, long ref,
                     const char *const *sqls, const lsq_value *const *vals, const int *nvals, int n,
                     int tx)
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
    call_at(file, line, p, &x, r);
}

static long long count_rows_at(const char *file, int line, lsq_port *p, const char *table)
{
    char sql[64];
    reply r;
    rowset rs;
    long long n = -1;

    reply_init(&r);
    (void)snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sql_at(file, line, p, &r, 998, "query", sql, NULL, 0);
    if (get_rows(&r, &rs) == 0 && rs.ncol == 1 && rs.nrows == 1 && rs.vals[0].type == LSQ_INT)
        n = rs.vals[0].u.i;
    CHECK_AT(file, line, n >= 0);
    rowset_free(&rs);
    reply_free(&r);
    return n;
}
#define COUNT(p, table) count_rows_at(__FILE__, __LINE__, (p), (table))

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

        batch_at(__FILE__, __LINE__, &p, &r, 3, sqls, vals, nv, 2, 1);
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
                check_rowset_at(__FILE__, __LINE__, &rs, 0, NULL, 0, NULL);
                CHECK(c == 1 && id == 1);
            } else {
                check_rowset_at(__FILE__, __LINE__, &rs, 1, xc, 1, &one);
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

        batch_at(__FILE__, __LINE__, &p, &r, 4, sqls, vals, nv, 2, 1);
        EXPECT_ERROR(&r, 4, "constraint");
        CHECK(r.has_index && r.index == 2);
        EXPECT_SQL(&r, ins);
        CHECK(COUNT(&p, "b") == 1);
        /* not transactional: index 1 stays */
        batch_at(__FILE__, __LINE__, &p, &r, 5, sqls, vals, nv, 2, 0);
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
        batch_at(__FILE__, __LINE__, &p, &r, 8, sqls, vals, nv, 2, 1);
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

        batch_at(__FILE__, __LINE__, &p, &r, 10, NULL, NULL, NULL, 0, 1);
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

static void script_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *sql,
                      size_t n)
{
    ei_x_buff x;

    req_begin(&x, ref, "execute_script", 1);
    EI(ei_x_encode_binary(&x, n ? sql : "", (int)n));
    call_at(file, line, p, &x, r);
}
#define SCRIPT(p, r, ref, sql) \
    script_at(__FILE__, __LINE__, (p), (r), (ref), (sql), strlen(sql))

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

/* A request {Ref, Cmd, Atom} or {Ref, Cmd, Atom, Binary}. */
static void tx_at(const char *file, int line, lsq_port *p, reply *r, long ref, const char *cmd,
                  const char *atom, const char *name)
{
    ei_x_buff x;

    req_begin(&x, ref, cmd, atom == NULL ? 0 : name == NULL ? 1 : 2);
    if (atom != NULL) EI(ei_x_encode_atom(&x, atom));
    if (name != NULL) EI(ei_x_encode_binary(&x, name, (long)strlen(name)));
    call_at(file, line, p, &x, r);
}
#define TX(p, r, ref, cmd, atom, name) tx_at(__FILE__, __LINE__, (p), (r), (ref), (cmd), (atom), (name))

/* begin / commit / rollback / savepoint: the backend's transaction
 * operations. A read_only begin refuses writes until its end and leaves
 * no guard behind; a BEGIN inside a transaction is refused before SQLite
 * sees it; errors name the statement; savepoint names are identifiers. */
static void test_transactions(void)
{
    lsq_port p;
    reply r;

    port_init(&p);
    reply_init(&r);
    TX(&p, &r, 1, "begin", "deferred", NULL); EXPECT_ERROR(&r, 1, "closed");
    OPEN(&p, &r, 2, ":memory:", -1, -1); EXPECT_OPEN_OK(&r, 2);
    EXEC(&p, &r, 3, "CREATE TABLE t(x)", NULL, 0); EXPECT_EXEC(&r, 3, 0, 0);
    /* commit and rollback */
    TX(&p, &r, 4, "begin", "immediate", NULL); EXPECT_OK_ATOM(&r, 4);
    EXEC(&p, &r, 5, "INSERT INTO t VALUES (1)", NULL, 0); EXPECT_EXEC(&r, 5, 1, 1);
    TX(&p, &r, 6, "commit", NULL, NULL); EXPECT_OK_ATOM(&r, 6);
    TX(&p, &r, 7, "begin", "exclusive", NULL); EXPECT_OK_ATOM(&r, 7);
    EXEC(&p, &r, 8, "INSERT INTO t VALUES (2)", NULL, 0); EXPECT_EXEC(&r, 8, 1, 2);
    TX(&p, &r, 9, "rollback", NULL, NULL); EXPECT_OK_ATOM(&r, 9);
    CHECK(COUNT(&p, "t") == 1);
    /* nested BEGIN refused, with SQLite's own message and the statement */
    TX(&p, &r, 10, "begin", "deferred", NULL); EXPECT_OK_ATOM(&r, 10);
    TX(&p, &r, 11, "begin", "immediate", NULL); EXPECT_ERROR(&r, 11, "error");
    EXPECT_MSG(&r, "cannot start a transaction within a transaction");
    EXPECT_SQL(&r, "BEGIN IMMEDIATE");
    TX(&p, &r, 12, "rollback", NULL, NULL); EXPECT_OK_ATOM(&r, 12);
    /* no transaction: SQLite's error, naming the statement */
    TX(&p, &r, 13, "commit", NULL, NULL); EXPECT_ERROR(&r, 13, "error");
    EXPECT_SQL(&r, "COMMIT");
    TX(&p, &r, 14, "rollback", NULL, NULL); EXPECT_ERROR(&r, 14, "error");
    EXPECT_SQL(&r, "ROLLBACK");
    /* read_only: writes refused until the end, then allowed again */
    TX(&p, &r, 15, "begin", "read_only", NULL); EXPECT_OK_ATOM(&r, 15);
    EXEC(&p, &r, 16, "INSERT INTO t VALUES (3)", NULL, 0); EXPECT_ERROR(&r, 16, "readonly");
    QUERY(&p, &r, 17, "SELECT count(*) FROM t", NULL, 0); CHECK(r.valid && r.ok);
    TX(&p, &r, 18, "commit", NULL, NULL); EXPECT_OK_ATOM(&r, 18);
    EXEC(&p, &r, 19, "INSERT INTO t VALUES (3)", NULL, 0); EXPECT_EXEC(&r, 19, 1, 2);
    TX(&p, &r, 20, "begin", "read_only", NULL); EXPECT_OK_ATOM(&r, 20);
    TX(&p, &r, 21, "rollback", NULL, NULL); EXPECT_OK_ATOM(&r, 21);
    EXEC(&p, &r, 22, "INSERT INTO t VALUES (4)", NULL, 0); EXPECT_EXEC(&r, 22, 1, 3);
    /* savepoints */
    TX(&p, &r, 23, "begin", "deferred", NULL); EXPECT_OK_ATOM(&r, 23);
    TX(&p, &r, 24, "savepoint", "savepoint", "sp_1"); EXPECT_OK_ATOM(&r, 24);
    EXEC(&p, &r, 25, "INSERT INTO t VALUES (5)", NULL, 0); EXPECT_EXEC(&r, 25, 1, 4);
    TX(&p, &r, 26, "savepoint", "rollback_to", "sp_1"); EXPECT_OK_ATOM(&r, 26);
    TX(&p, &r, 27, "savepoint", "release", "sp_1"); EXPECT_OK_ATOM(&r, 27);
    TX(&p, &r, 28, "savepoint", "release", "nope"); EXPECT_ERROR(&r, 28, "error");
    EXPECT_MSG(&r, "no such savepoint: nope");
    EXPECT_SQL(&r, "RELEASE SAVEPOINT \"nope\"");
    TX(&p, &r, 29, "commit", NULL, NULL); EXPECT_OK_ATOM(&r, 29);
    CHECK(COUNT(&p, "t") == 3); /* 1, 3, 4: 2 and 5 were rolled back */
    /* bad arguments: nothing runs */
    TX(&p, &r, 30, "savepoint", "savepoint", "a b"); EXPECT_ERROR(&r, 30, "bad_argument");
    TX(&p, &r, 31, "savepoint", "savepoint", "1a"); EXPECT_ERROR(&r, 31, "bad_argument");
    TX(&p, &r, 32, "savepoint", "savepoint",
       "x2345678901234567890123456789012345678901234567890123456789012345");
    EXPECT_ERROR(&r, 32, "bad_argument");
    TX(&p, &r, 33, "savepoint", "drop", "sp"); EXPECT_ERROR(&r, 33, "bad_argument");
    TX(&p, &r, 34, "begin", "sometimes", NULL); EXPECT_ERROR(&r, 34, "bad_argument");
    SIMPLE(&p, &r, 35, "info");
    CHECK(atom_is(r.x.buff, map_find(r.x.buff, r.idx, "autocommit"), "true"));
    /* reset ends what a holder left: a transaction and the read-only guard */
    TX(&p, &r, 36, "begin", "read_only", NULL); EXPECT_OK_ATOM(&r, 36);
    SIMPLE(&p, &r, 37, "reset"); EXPECT_OK_ATOM(&r, 37);
    EXEC(&p, &r, 38, "INSERT INTO t VALUES (6)", NULL, 0); EXPECT_EXEC(&r, 38, 1, 4);
    reply_free(&r);
    port_fini(&p);
}

/* What a write on c answers: NULL when it ran, else the error code. */
static const char *try_write(const lsq_backend *be, lsq_conn *c)
{
    static const char sql[] = "PRAGMA user_version = 7"; /* a write, every time */
    lsq_stmt *s = NULL;
    lsq_error err;
    int rc;

    if (be->prepare(c, sql, sizeof sql - 1, &s, &err) != 0) return err.code;
    rc = be->step(s, &err);
    be->finalize(s);
    return rc == LSQ_STEP_ERROR ? err.code : NULL;
}

/* A connection that must stay read-only (a replica's reads): its guard is
 * set at open and nothing lifts it, not clean (a pool's check-in reset)
 * nor the end of a read_only transaction; a connection without it is
 * writable again after both. Called on the backend directly: this is not
 * a user's option but one a composing backend sets. */
static void test_stay_read_only(void)
{
    const lsq_backend *be = &lsq_backend_local;
    lsq_open_opts o;
    lsq_conn *c = NULL;
    lsq_error err;
    int stay;

    for (stay = 0; stay <= 1; stay++) {
        memset(&o, 0, sizeof o);
        o.path = (char *)":memory:";
        o.create = 1;
        o.busy_timeout_ms = 100;
        o.null_atom = "null";
        o.stay_read_only = stay;
        CHECK(be->open(&o, &c, &err) == 0);
        CHECK(c->be == be);
        if (stay) CHECK(try_write(be, c) == LSQ_E_READONLY);
        else CHECK(try_write(be, c) == NULL);
        CHECK(be->begin(c, LSQ_TX_DEFERRED, 1, &err) == 0);
        CHECK(try_write(be, c) == LSQ_E_READONLY);
        CHECK(be->commit(c, &err) == 0);
        CHECK(try_write(be, c) == (stay ? LSQ_E_READONLY : NULL));
        CHECK(be->begin(c, LSQ_TX_DEFERRED, 1, &err) == 0);
        CHECK(be->clean(c, &err) == 0);
        CHECK(try_write(be, c) == (stay ? LSQ_E_READONLY : NULL));
        CHECK(be->close(c, &err) == 0);
    }
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
        req_begin(&x, 21, "backup", 2); EI(ei_x_encode_binary(&x, path, (int)strlen(path)));
        EI(ei_x_encode_atom(&x, "same"));
        CALL(&p, &x, &r); EXPECT_OK_ATOM(&r, 21);
        port_init(&p2);
        OPEN(&p2, &r, 22, path, 1, -1); EXPECT_OPEN_OK(&r, 22);
        CHECK(COUNT(&p2, "i") == 3);
        port_fini(&p2);
        tmpdir_remove(&t, files, 1);
    } else {
        CHECK(!"mkdtemp failed");
    }
    req_begin(&x, 23, "backup", 2); EI(ei_x_encode_binary(&x, "", 0));
    EI(ei_x_encode_atom(&x, "same"));
    CALL(&p, &x, &r); EXPECT_ERROR(&r, 23, "bad_argument");
    reply_free(&r);
    port_fini(&p);
}

/* ---- the suite ---------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_commands_kind),
    TEST(test_dispatch_open_close_ping),
    TEST(test_dispatch_value_roundtrip),
    TEST(test_dispatch_changes),
    TEST(test_dispatch_named_params),
    TEST(test_close_with_hooks),
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
    TEST(test_transactions),
    TEST(test_stay_read_only),
};

const test_suite commands_suite = SUITE("commands", k_tests);
