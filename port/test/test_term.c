/*
 * test_term.c - tests of the term codec (term.c), without an Erlang VM:
 * term_check on valid terms, bad framing, every truncation, unsupported
 * types, nesting depth and huge length claims; term_peek_ref and
 * term_parse_request; term_decode_value and the decode helpers; the reply
 * header and term_encode_value, checked against ei's own decoders.
 * Frames are built with ei's ei_x_* encoders, or byte by byte where ei
 * cannot produce the term.
 */
#include "test_util.h"
#include "protocol.h"
#include "term.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ======================================================================
 * term_check
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
static void check_all_prefixes(const char *file, int line, const char *buf, size_t len, long ref)
{
    const char *why;
    size_t n;
    long peeked;

    CHECK_AT(file, line, tcheck(buf, len, &why) == 0);
    for (n = 0; n < len; n++) {
        int rc = tcheck(buf, n, &why);

        CHECK_AT(file, line, rc == -1);
        if (rc != -1) fprintf(stderr, "    prefix of %zu/%zu bytes accepted\n", n, len);
        peeked = tpeek(buf, n);
        CHECK_AT(file, line, peeked == LSQ_REF_UNKNOWN || peeked == ref);
    }
    CHECK_AT(file, line, tpeek(buf, len) == ref);
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
    check_all_prefixes(__FILE__, __LINE__, x.buff, (size_t)x.index, 1);
    ei_x_free(&x);

    /* {300, query, <<"SELECT ...">>, [every kind of value]} */
    vals[0] = vnull(); vals[1] = vint(1); vals[2] = vint(-1); vals[3] = vint(300);
    vals[4] = vint(1LL << 40); vals[5] = vint(INT64_MIN); vals[6] = vreal(1.5);
    vals[7] = vreal(INFINITY); vals[8] = vtext("txt"); vals[9] = vblob("\1\2\3", 3);
    req_sql(&x, 300, "query", "SELECT ?,?,?,?,?,?,?,?,?,?", 26, vals, 10);
    check_all_prefixes(__FILE__, __LINE__, x.buff, (size_t)x.index, 300);
    ei_x_free(&x);

    /* {2147483647, execute, <<"INSERT">>, {named, [{<<"a">>, 1}, {<<":b">>, <<>>}]}} */
    vals[0] = vint(1); vals[1] = vtextn("", 0);
    req_named(&x, LSQ_REF_MAX, "execute", "INSERT", names, vals, 2);
    check_all_prefixes(__FILE__, __LINE__, x.buff, (size_t)x.index, LSQ_REF_MAX);
    ei_x_free(&x);

    /* hand-built: large tuple, old atom format, string, map, improper
     * list, large big, binary, small big */
    check_all_prefixes(__FILE__, __LINE__, (const char *)hand, sizeof hand, 65536);
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
 * term_peek_ref / term_parse_request
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
 * term_decode_value and the decode helpers
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

static void decode_ok_at(const char *file, int line, ei_x_buff *x, lsq_value want)
{
    lsq_value got;
    const char *why;
    int rc = decode_one(x, &got, &why);

    CHECK_AT(file, line, rc == 0);
    if (rc == 0) check_value_at(file, line, &got, &want);
    else fprintf(stderr, "    rc %d (%s)\n", rc, why ? why : "-");
    ei_x_free(x);
}
#define DECODE_OK(x, want) decode_ok_at(__FILE__, __LINE__, (x), (want))

static void decode_bad_at(const char *file, int line, ei_x_buff *x, const char *why_has)
{
    lsq_value got;
    const char *why;
    int rc = decode_one(x, &got, &why);

    CHECK_AT(file, line, rc == -1);
    CHECK_AT(file, line, why != NULL);
    if (why_has != NULL) CHECK_AT(file, line, why != NULL && strstr(why, why_has) != NULL);
    ei_x_free(x);
}
#define DECODE_BAD(x, why_has) decode_bad_at(__FILE__, __LINE__, (x), (why_has))

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
 * term_reply_begin / term_encode_value / term_encode_binary
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
        check_value_at(__FILE__, __LINE__, &got, &want);
        /* and by the port's own decoder */
        CHECK(tcheck(x.buff, (size_t)x.index, &why) == 0);
        idx = 1;
        CHECK(term_decode_value(x.buff, &idx, &back, &why) == 0);
        check_value_at(__FILE__, __LINE__, &back, &want);
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

/* ---- the suite ---------------------------------------------------------- */

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
};

const test_suite term_suite = SUITE("term", k_tests);
