/*
 * test_vector_text.c - tests of the vector text form (vector_text.c):
 * lsq_vec_from_text against every text example of vectors.md §2 and its
 * Appendix (values, whitespace, errors and their positions, the token and
 * element limits, embedded NULs, input that is not NUL-ended),
 * lsq_vec_extract against the Appendix's printer examples and other
 * types' blobs, then the peer-derived table of vector_text_cases.h.
 */
#include "test_util.h"
#include "vector.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vector_text_cases.h"

/* ---- helpers ------------------------------------------------------------ */

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* hex (even length) into bytes; the byte count. */
static size_t from_hex(const char *hex, unsigned char *out)
{
    size_t i, n = strlen(hex) / 2;
    unsigned hi, lo;

    for (i = 0; i < n; i++) {
        hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : (hex[2 * i] | 32) - 'a' + 10);
        lo = (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : (hex[2 * i + 1] | 32) - 'a' + 10);
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return n;
}

/* What parsing text[0..n) as type gives, in the form of the case table:
 * "OK:" and the data part in hex, or the message. malloc'd. */
/* Whether long double arithmetic here has its 64-bit significand. Not
 * under valgrind, which computes x87 long doubles as doubles: there the
 * F64 values that libSQL's long-double parse rounds its own way cannot be
 * reproduced, and those checks are left to the native runs. */
static int long_double_is_extended(void)
{
    volatile long double one = 1.0L, tiny = 1e-19L;

    return one + tiny != one;
}

static char *parse_answer(const char *text, size_t n, int type)
{
    lsq_vec v;
    unsigned char *buf = (unsigned char *)1;
    char *err = (char *)1, *out;
    size_t size;

    if (lsq_vec_from_text(text, n, type, &v, &buf, &err) != 0) {
        CHECK(buf == NULL);
        out = strdup(err != NULL ? err : "(out of memory)");
        sqlite3_free(err);
    } else {
        CHECK(err == NULL);
        CHECK(v.type == type);
        CHECK(v.data == buf);
        CHECK(v.dims > 0 || buf == NULL);
        size = lsq_vec_data_size(type, v.dims);
        out = malloc(3 + 2 * size + 1);
        if (out != NULL) {
            memcpy(out, "OK:", 3);
            to_hex(buf, size, out + 3);
        }
        sqlite3_free(buf);
    }
    if (out == NULL) abort();
    return out;
}

/* CHECK parse_answer(text, strlen(text), type) == want. */
#define CHECK_PARSE(text, type, want) check_parse(__FILE__, __LINE__, (text), strlen(text), (type), (want))

static void check_parse(const char *file, int line, const char *text, size_t n, int type,
                        const char *want)
{
    char *got;

    if (type == LSQ_VEC_F64 && !long_double_is_extended()) return;
    got = parse_answer(text, n, type);
    CHECK_AT(file, line, strcmp(got, want) == 0);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "    %.*s (type %d)\n      got  %s\n      want %s\n", (int)(n < 200 ? n : 200),
                text, type, got, want);
    free(got);
}

/* vector_extract of a vector parsed from text (as vector_extract(vector(T))). */
#define CHECK_TEXT_EXTRACT(text, type, want) check_text_extract(__FILE__, __LINE__, (text), (type), (want))

static void check_text_extract(const char *file, int line, const char *text, int type, const char *want)
{
    lsq_vec v;
    unsigned char *buf;
    char *err, *got;
    size_t n;

    if (lsq_vec_from_text(text, strlen(text), type, &v, &buf, &err) != 0) {
        CHECK_AT(file, line, !"parse failed");
        fprintf(stderr, "    %s: %s\n", text, err ? err : "out of memory");
        sqlite3_free(err);
        return;
    }
    got = lsq_vec_extract(&v, &n);
    if (!long_double_is_extended()) want = got != NULL ? got : "?"; /* see check_parse */
    CHECK_AT(file, line, got != NULL && strlen(got) == n && strcmp(got, want) == 0);
    if (got == NULL || strcmp(got, want) != 0)
        fprintf(stderr, "    %s\n      got  %s\n      want %s\n", text, got ? got : "(null)", want);
    sqlite3_free(got);
    sqlite3_free(buf);
}

/* vector_extract of a whole blob, read by lsq_vec_from_blob. */
#define CHECK_BLOB_EXTRACT(hex, want) check_blob_extract(__FILE__, __LINE__, (hex), (want))

static void check_blob_extract(const char *file, int line, const char *hex, const char *want)
{
    unsigned char blob[64];
    lsq_vec v;
    char *err = NULL, *got;
    size_t n = from_hex(hex, blob);

    if (lsq_vec_from_blob(blob, n, &v, &err) != 0) {
        CHECK_AT(file, line, !"blob refused");
        fprintf(stderr, "    %s: %s\n", hex, err ? err : "?");
        sqlite3_free(err);
        return;
    }
    got = lsq_vec_extract(&v, &n);
    if (!long_double_is_extended()) want = got != NULL ? got : "?"; /* see check_parse */
    CHECK_AT(file, line, got != NULL && strcmp(got, want) == 0);
    if (got == NULL || strcmp(got, want) != 0)
        fprintf(stderr, "    %s\n      got  %s\n      want %s\n", hex, got ? got : "(null)", want);
    sqlite3_free(got);
}

/* ---- the parser ----------------------------------------------------------- */

/* §1/Appendix constructor bytes (data parts) and §2's value rules. */
static void test_parse_values(void)
{
    CHECK_PARSE("[1,2,3]", LSQ_VEC_F32, "OK:0000803F0000004000004040");
    CHECK_PARSE("[1,2,3]", LSQ_VEC_F64, "OK:000000000000F03F00000000000000400000000000000840");
    CHECK_PARSE("[0.1]", LSQ_VEC_F32, "OK:CDCCCC3D");
    CHECK_PARSE("[0.1]", LSQ_VEC_F64, "OK:9A9999999999B93F");
    /* -0 keeps its sign; overflow is Inf, in F32 from 1e39 on. */
    CHECK_PARSE("[-0]", LSQ_VEC_F32, "OK:00000080");
    CHECK_PARSE("[-0]", LSQ_VEC_F64, "OK:0000000000000080");
    CHECK_PARSE("[1e39]", LSQ_VEC_F32, "OK:0000807F");
    CHECK_PARSE("[1e39]", LSQ_VEC_F64, "OK:1D4A9CF487820748");
    CHECK_PARSE("[1e400]", LSQ_VEC_F64, "OK:000000000000F07F");
    CHECK_PARSE("[-1e400]", LSQ_VEC_F32, "OK:000080FF");
    CHECK_PARSE("[1e-400]", LSQ_VEC_F64, "OK:0000000000000000");
    /* Not correctly rounded in F64 (strtod gives ...B9), exact in F32. */
    CHECK_PARSE("[0.6224190]", LSQ_VEC_F64, "OK:BA162D40DBEAE33F");
    CHECK_PARSE("[0.6224190]", LSQ_VEC_F32, "OK:DA561F3F");
    CHECK_PARSE("[4.9406564584124654e-324]", LSQ_VEC_F64, "OK:0100000000000000");
    CHECK_PARSE("[2.4703282292062327e-324]", LSQ_VEC_F64, "OK:0000000000000000");
    CHECK_PARSE("[1e-45]", LSQ_VEC_F32, "OK:01000000");
    /* The forms of a number: 5. and .5 yes, leading zeros, signs. */
    CHECK_PARSE("[.5,5.,+1]", LSQ_VEC_F32, "OK:0000003F0000A0400000803F");
    CHECK_PARSE("[00012]", LSQ_VEC_F64, "OK:0000000000002840");
    /* Whitespace anywhere, inside numbers too. */
    CHECK_PARSE("[ 1 2 , 3 ]", LSQ_VEC_F32, "OK:0000404100004040");
    CHECK_PARSE(" \t\n\v\f\r[\t1\r2\n,\v3\f] \t\n\v\f\r", LSQ_VEC_F64,
                "OK:00000000000028400000000000000840");
}

/* "[]" and "[ ]" are empty vectors: no buffer, dims 0. */
static void test_parse_empty(void)
{
    static const char *const texts[] = { "[]", "[ ]", "  [\t]\n" };
    lsq_vec v;
    unsigned char *buf;
    char *err;
    size_t i;
    int t;

    for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
        for (t = LSQ_VEC_F32; t <= LSQ_VEC_F64; t++) {
            buf = (unsigned char *)1;
            v.dims = 7;
            CHECK(lsq_vec_from_text(texts[i], strlen(texts[i]), t, &v, &buf, &err) == 0);
            CHECK(buf == NULL && v.dims == 0 && v.type == t);
        }
    CHECK_TEXT_EXTRACT("[]", LSQ_VEC_F32, "[]");
    CHECK_TEXT_EXTRACT("[ ]", LSQ_VEC_F64, "[]");
}

/* Every message of §2, with positions and the token as libSQL quotes it. */
static void test_parse_errors(void)
{
    CHECK_PARSE("abc", LSQ_VEC_F32, "vector: must start with '['");
    CHECK_PARSE("", LSQ_VEC_F32, "vector: must start with '['");
    CHECK_PARSE("  ", LSQ_VEC_F64, "vector: must start with '['");
    CHECK_PARSE("[1,]", LSQ_VEC_F32, "vector: invalid float at position 1: ''");
    CHECK_PARSE("[,1]", LSQ_VEC_F32, "vector: invalid float at position 0: ''");
    CHECK_PARSE("[0x10]", LSQ_VEC_F32, "vector: invalid float at position 0: '0x10'");
    CHECK_PARSE("[inf]", LSQ_VEC_F32, "vector: invalid float at position 0: 'inf'");
    CHECK_PARSE("[nan]", LSQ_VEC_F64, "vector: invalid float at position 0: 'nan'");
    CHECK_PARSE("[1e]", LSQ_VEC_F32, "vector: invalid float at position 0: '1e'");
    CHECK_PARSE("[1e+]", LSQ_VEC_F32, "vector: invalid float at position 0: '1e+'");
    CHECK_PARSE("[.]", LSQ_VEC_F64, "vector: invalid float at position 0: '.'");
    CHECK_PARSE("[-]", LSQ_VEC_F64, "vector: invalid float at position 0: '-'");
    CHECK_PARSE("[+-1]", LSQ_VEC_F64, "vector: invalid float at position 0: '+-1'");
    CHECK_PARSE("[1e5.3]", LSQ_VEC_F64, "vector: invalid float at position 0: '1e5.3'");
    CHECK_PARSE("[1,2,x]", LSQ_VEC_F32, "vector: invalid float at position 2: 'x'");
    /* The token is quoted with its spaces dropped. */
    CHECK_PARSE("[1, 2 x 3 ]", LSQ_VEC_F32, "vector: invalid float at position 1: '2x3'");
    CHECK_PARSE("[[1]", LSQ_VEC_F32, "vector: invalid float at position 0: '[1'");
    CHECK_PARSE("[1,2", LSQ_VEC_F32, "vector: must end with ']'");
    CHECK_PARSE("[", LSQ_VEC_F64, "vector: must end with ']'");
    CHECK_PARSE("[abc", LSQ_VEC_F64, "vector: must end with ']'");
    CHECK_PARSE("[1]]", LSQ_VEC_F32, "vector: non-space symbols after closing ']' are forbidden");
    CHECK_PARSE("[] x", LSQ_VEC_F32, "vector: non-space symbols after closing ']' are forbidden");
    CHECK_PARSE("[1] ,", LSQ_VEC_F64, "vector: non-space symbols after closing ']' are forbidden");
}

/* Appendix: vector_extract(vector('...')). */
static void test_parse_appendix(void)
{
    CHECK_TEXT_EXTRACT("[1 2, 3]", LSQ_VEC_F32, "[12,3]");
    CHECK_TEXT_EXTRACT("[1e3,1E+3,1e-3,.5,5.,+1,-0,00012]", LSQ_VEC_F32,
                       "[1000,1000,0.001,0.5,5,1,0,12]");
    CHECK_TEXT_EXTRACT("[1e400]", LSQ_VEC_F32, "[Inf]");
    /* Text does not round-trip: 6 digits. */
    CHECK_TEXT_EXTRACT("[0.123456789,1234567.8,3.14159265]", LSQ_VEC_F32,
                       "[0.123457,1.23457e+06,3.14159]");
}

/* The input ends at n or at its first NUL, whichever comes first: bytes
 * past n are never read (the fuzzer checks that under ASan). */
static void test_parse_bounds(void)
{
    check_parse(__FILE__, __LINE__, "[1,2]garbage", 5, LSQ_VEC_F32, "OK:0000803F00000040");
    check_parse(__FILE__, __LINE__, "[1,2]", 4, LSQ_VEC_F32, "vector: must end with ']'");
    check_parse(__FILE__, __LINE__, "[1]\0xyz", 7, LSQ_VEC_F32, "OK:0000803F");
    check_parse(__FILE__, __LINE__, "[1\0]", 4, LSQ_VEC_F32, "vector: must end with ']'");
    check_parse(__FILE__, __LINE__, "\0[1]", 4, LSQ_VEC_F32, "vector: must start with '['");
    check_parse(__FILE__, __LINE__, "[12", 2, LSQ_VEC_F64, "vector: must end with ']'");
}

/* A token holds at most 1025 characters (spaces not counted): the 1026th
 * fails, quoting the first 1025. */
static void test_parse_token_length(void)
{
    char *text = malloc(2 * 1100 + 8), *want = malloc(1100 + 100);
    size_t i, k;

    if (text == NULL || want == NULL) abort();
    /* 1025 characters: 1024 zeros and a 1, a valid number (1). */
    text[0] = '[';
    memset(text + 1, '0', 1024);
    memcpy(text + 1025, "1]", 3);
    CHECK_PARSE(text, LSQ_VEC_F32, "OK:0000803F");
    /* 1025 nines are too large for either type. */
    memset(text + 1, '9', 1025);
    CHECK_PARSE(text, LSQ_VEC_F32, "OK:0000807F");
    CHECK_PARSE(text, LSQ_VEC_F64, "OK:000000000000F07F");
    /* 1026 characters. */
    memset(text + 1, '1', 1026);
    memcpy(text + 1027, "]", 2);
    (void)snprintf(want, 1100 + 100, "vector: float string length exceeded 1024 characters: '%.1025s'",
                   text + 1);
    CHECK_PARSE(text, LSQ_VEC_F32, want);
    CHECK_PARSE(text, LSQ_VEC_F64, want);
    /* The limit counts before the terminator: no ']' needed to reach it. */
    text[1027] = '\0';
    CHECK_PARSE(text, LSQ_VEC_F32, want);
    /* Spaces do not count, and are not quoted: 1026 ones with spaces. */
    k = 0;
    text[k++] = '[';
    for (i = 0; i < 1026; i++) {
        text[k++] = '1';
        text[k++] = ' ';
    }
    memcpy(text + k, "]", 2);
    CHECK_PARSE(text, LSQ_VEC_F32, want);
    text[2 * 1025] = ']';
    text[2 * 1025 + 1] = '\0';
    CHECK_PARSE(text, LSQ_VEC_F64, "OK:000000000000F07F");
    /* 1025 characters that are no number: quoted whole. */
    text[0] = '[';
    memset(text + 1, 'x', 1025);
    memcpy(text + 1026, "]", 2);
    (void)snprintf(want, 1100 + 100, "vector: invalid float at position 0: '%.1025s'", text + 1);
    CHECK_PARSE(text, LSQ_VEC_F32, want);
    free(text);
    free(want);
}

/* 65,536 elements pass; the 65,537th fails, after its own parse. */
static void test_parse_max_elements(void)
{
    size_t n = LSQ_VEC_MAX_DIMS, i, k = 0;
    char *text = malloc(2 * (n + 1) + 16);
    lsq_vec v;
    unsigned char *buf;
    char *err;

    if (text == NULL) abort();
    text[k++] = '[';
    for (i = 0; i < n; i++) {
        text[k++] = (char)('0' + i % 10);
        text[k++] = ',';
    }
    text[k - 1] = ']';
    CHECK(lsq_vec_from_text(text, k, LSQ_VEC_F32, &v, &buf, &err) == 0);
    CHECK(v.dims == LSQ_VEC_MAX_DIMS);
    if (buf != NULL) CHECK(buf[4 * 65535 + 3] == 0x40 && buf[4 * 65535 + 2] == 0xA0); /* 5 */
    sqlite3_free(buf);
    CHECK(lsq_vec_from_text(text, k, LSQ_VEC_F64, &v, &buf, &err) == 0 && v.dims == 65536);
    sqlite3_free(buf);

    memcpy(text + k - 1, ",7]", 3);
    check_parse(__FILE__, __LINE__, text, k + 2, LSQ_VEC_F32, "vector: max size exceeded 65536");
    check_parse(__FILE__, __LINE__, text, k + 2, LSQ_VEC_F64, "vector: max size exceeded 65536");
    memcpy(text + k - 1, ",x]", 3);
    check_parse(__FILE__, __LINE__, text, k + 2, LSQ_VEC_F32,
                "vector: invalid float at position 65536: 'x'");
    memcpy(text + k - 1, ",7", 2);
    check_parse(__FILE__, __LINE__, text, k + 1, LSQ_VEC_F32, "vector: must end with ']'");
    free(text);
}

/* ---- the printer ---------------------------------------------------------- */

static void test_extract_appendix(void)
{
    CHECK_TEXT_EXTRACT("[0.1,0.3333333333,1e-5,1e-4,0.0001234567,123456,1234567,1234565,1234575,"
                       "100000,1000000,1e16]",
                       LSQ_VEC_F32,
                       "[0.1,0.333333,1e-05,0.0001,0.000123457,123456,1.23457e+06,1.23457e+06,"
                       "1.23458e+06,100000,1e+06,1e+16]");
    CHECK_BLOB_EXTRACT("0000C07F0000C0FF0000807F000080FF01000000", "[NaN,NaN,Inf,-Inf,1.4013e-45]");
    CHECK_TEXT_EXTRACT("[1e-310,-999999.5,0.00001,-0,1e100,123456.5,-1.5e-300,9.999995]", LSQ_VEC_F64,
                       "[1e-310,-1e+06,1e-05,0,1e+100,123457,-1.5e-300,10]");
    CHECK_BLOB_EXTRACT("", "[]");
    CHECK_BLOB_EXTRACT("02", "[]");
}

/* Other types print the floats they convert to (peer's answers). */
static void test_extract_other_types(void)
{
    CHECK_BLOB_EXTRACT("003C0040004205", "[1,2,3]");
    CHECK_BLOB_EXTRACT("662E00C10200007C484205", "[0.0999756,-2.5,1.19209e-07,Inf,3.14063]");
    CHECK_BLOB_EXTRACT("803F0040404006", "[1,2,3]");
    CHECK_BLOB_EXTRACT("CC3D20C0D6337F47494006", "[0.0996094,-2.5,9.96515e-08,65280,3.14063]");
    CHECK_BLOB_EXTRACT("007FFF008180003C0000803F000104", "[1,1.99608,3]");
    CHECK_BLOB_EXTRACT("000000FF007F0000BA798043000020C0000304", "[-2.5,-2.5,-2.5,65520,-2.5]");
    CHECK_BLOB_EXTRACT("1D0B03", "[1,-1,1,1,1]");
    CHECK_BLOB_EXTRACT("FF0903", "[1,1,1,1,1,1,1]");
    CHECK_BLOB_EXTRACT("001003", "[]");
    CHECK_BLOB_EXTRACT("05", "[]");
}

/* ---- the peer's table ----------------------------------------------------- */

static void test_peer_parse_cases(void)
{
    size_t i;

    for (i = 0; i < sizeof k_parse_cases / sizeof k_parse_cases[0]; i++) {
        const struct vt_parse_case *c = &k_parse_cases[i];

        check_parse(__FILE__, __LINE__, c->text, c->len, c->type, c->want);
    }
}

static void test_peer_extract_cases(void)
{
    unsigned char data[64];
    size_t i, n;
    lsq_vec v;
    char *got;

    for (i = 0; i < sizeof k_extract_cases / sizeof k_extract_cases[0]; i++) {
        const struct vt_extract_case *c = &k_extract_cases[i];

        CHECK(strlen(c->data_hex) <= 2 * sizeof data);
        if (strlen(c->data_hex) > 2 * sizeof data) continue;
        n = from_hex(c->data_hex, data);
        v.type = c->type;
        v.dims = (unsigned)(n / (c->type == LSQ_VEC_F64 ? 8 : 4));
        v.data = data;
        got = lsq_vec_extract(&v, &n);
        if (!long_double_is_extended()) { /* printed through long double: see above */
            CHECK(got != NULL);
            sqlite3_free(got);
            continue;
        }
        CHECK(got != NULL && strcmp(got, c->want) == 0);
        if (got == NULL || strcmp(got, c->want) != 0)
            fprintf(stderr, "    %s\n      got  %s\n      want %s\n", c->data_hex, got ? got : "(null)",
                    c->want);
        sqlite3_free(got);
    }
}

/* ---- the suite ---------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_parse_values),
    TEST(test_parse_empty),
    TEST(test_parse_errors),
    TEST(test_parse_appendix),
    TEST(test_parse_bounds),
    TEST(test_parse_token_length),
    TEST(test_parse_max_elements),
    TEST(test_extract_appendix),
    TEST(test_extract_other_types),
    TEST(test_peer_parse_cases),
    TEST(test_peer_extract_cases),
};

const test_suite vector_text_suite = SUITE("vector_text", k_tests);
