/*
 * test_remote.c - C-level tests of the remote backend's pure parts: the
 * SQL scanner (statement ends, parameter numbering), the Hrana request
 * writer and the streaming response parser. The backend against a real
 * server is tested by the Common Test suites (libsql_remote_*_SUITE).
 *
 * The harness is harness.h (harness.c), shared with test_port.
 */
#include "harness.h"
#include "hrana_req.h"
#include "hrana_resp.h"
#include "sql_scan.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- sql_scan -------------------------------------------------------------- */

static size_t first_len(const char *sql, int *empty)
{
    size_t len;

    CHECK(sql_next_statement(sql, strlen(sql), &len, empty) == 0);
    return len;
}

static void test_statement_ends(void)
{
    static const char trig[] =
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); "
        "UPDATE b SET x = 2; END; SELECT 1";
    int empty;

    CHECK(first_len("SELECT 1; SELECT 2", &empty) == 9 && !empty);
    CHECK(first_len("SELECT ';'; SELECT 2", &empty) == 11 && !empty);
    CHECK(first_len("SELECT \"a;b\" FROM [x;y]; x", &empty) == 24);
    CHECK(first_len("-- c;\nSELECT 1 /* ; */; x", &empty) == 23);
    CHECK(first_len("  -- only a comment; still comment", &empty) == 34 && empty);
    CHECK(first_len(" ; ", &empty) == 2 && empty);
    CHECK(first_len("/* c */;", &empty) == 8 && empty);
    CHECK(first_len("SELECT 1", &empty) == 8 && !empty);
    CHECK(first_len("", &empty) == 0 && empty);
    /* A trigger body's semicolons do not end the statement. */
    CHECK(first_len(trig, &empty) == strlen(trig) - strlen(" SELECT 1"));
    /* An unterminated string runs to the end. */
    CHECK(first_len("SELECT 'abc; def", &empty) == 16 && !empty);
}

static void test_param_numbering(void)
{
    /* SQLite numbers ?, :x, ?, ?5, :x, ? as 1, 2, 3, 5, 2, 6. */
    static const char sql[] = "SELECT ?, :x, ?, ?5, :x, ?";
    sql_stmt_info info;

    CHECK(sql_scan_params(sql, strlen(sql), &info) == 0);
    CHECK(info.nparams == 6);
    CHECK(info.nnamed == 1);
    CHECK(sql_param_index(&info, ":x", 2) == 2);
    CHECK(sql_param_index(&info, "x", 1) == 2);
    CHECK(sql_param_index(&info, "@x", 2) == 0);
    CHECK(strcmp(info.keyword, "SELECT") == 0);
    sql_info_free(&info);

    CHECK(sql_scan_params("  insert into t values (@a, $b, ':c', \"?\", [?], -- ?\n ?)", 56,
                          &info) == 0);
    CHECK(info.nparams == 3);
    CHECK(sql_param_index(&info, "a", 1) == 1);
    CHECK(sql_param_index(&info, "$b", 2) == 2);
    CHECK(sql_param_index(&info, "c", 1) == 0);
    CHECK(strcmp(info.keyword, "INSERT") == 0);
    sql_info_free(&info);

    CHECK(sql_scan_params("/* x */ begin immediate", 23, &info) == 0);
    CHECK(strcmp(info.keyword, "BEGIN") == 0 && sql_is_transaction_control(info.keyword));
    sql_info_free(&info);
    CHECK(sql_scan_params("beginning", 9, &info) == 0);
    CHECK(strcmp(info.keyword, "BEGINNING") == 0 && !sql_is_transaction_control(info.keyword));
    sql_info_free(&info);
    CHECK(sql_scan_params("beginningsandends", 17, &info) == 0);
    CHECK(info.keyword[0] == 0);
    sql_info_free(&info);
    CHECK(sql_scan_params("SELECT ?10, ?", 13, &info) == 0);
    CHECK(info.nparams == 11);
    sql_info_free(&info);
}

/* ---- hrana_req ---------------------------------------------------------------- */

static int jb_equals(const jbuf *b, const char *want)
{
    return b->n == strlen(want) && memcmp(b->p, want, b->n) == 0;
}

static void test_json_strings(void)
{
    jbuf b = { 0 };

    CHECK(jb_str(&b, "a\"b\\c\n\x01\x7f", 8) == 0);
    CHECK(jb_equals(&b, "\"a\\\"b\\\\c\\u000a\\u0001\x7f\""));
    b.n = 0;
    CHECK(jb_str(&b, "\0x", 2) == 0 && jb_equals(&b, "\"\\u0000x\""));
    b.n = 0;
    CHECK(jb_str(&b, "\xc3\xa9\xf0\x9f\x98\x80", 6) == 0);
    CHECK(jb_equals(&b, "\"\xc3\xa9\xf0\x9f\x98\x80\""));
    b.n = 0;
    CHECK(jb_str(&b, "\xff", 1) == -2);           /* not UTF-8 */
    CHECK(jb_str(&b, "\xc0\x80", 2) == -2);       /* overlong NUL */
    CHECK(jb_str(&b, "\xed\xa0\x80", 3) == -2);   /* a surrogate */
    CHECK(jb_str(&b, "\xf4\x90\x80\x80", 4) == -2); /* past U+10FFFF */
    CHECK(jb_str(&b, "\xe2\x82", 2) == -2);       /* cut short */
    jb_free(&b);
}

static void test_stmt_values(void)
{
    jbuf b = { 0 };
    lsq_error err;
    lsq_value v[6];

    v[0].type = LSQ_INT;
    v[0].u.i = INT64_MIN;
    v[1].type = LSQ_REAL;
    v[1].u.r = -0.0;
    v[2].type = LSQ_REAL;
    v[2].u.r = 0.1;
    v[3].type = LSQ_NULL;
    v[4].type = LSQ_BLOB;
    v[4].u.s.p = "\x00\x01\xff";
    v[4].u.s.n = 3;
    v[5].type = LSQ_REAL;
    v[5].u.r = 1.0;
    CHECK(hq_stmt(&b, "SELECT ?", 8, v, 6, &err) == 0);
    CHECK(jb_equals(&b, "{\"sql\":\"SELECT ?\",\"args\":["
                        "{\"type\":\"integer\",\"value\":\"-9223372036854775808\"},"
                        "{\"type\":\"float\",\"value\":-0.0},"
                        "{\"type\":\"float\",\"value\":0.1},"
                        "{\"type\":\"null\"},"
                        "{\"type\":\"blob\",\"base64\":\"AAH/\"},"
                        "{\"type\":\"float\",\"value\":1.0}]}"));
    b.n = 0;
    v[0].type = LSQ_REAL;
    v[0].u.r = INFINITY;
    CHECK(hq_stmt(&b, "SELECT ?", 8, v, 1, &err) == -1);
    CHECK(strcmp(err.code, "bad_argument") == 0);
    b.n = 0;
    v[0].type = LSQ_TEXT;
    v[0].u.s.p = "\xfe";
    v[0].u.s.n = 1;
    CHECK(hq_stmt(&b, "SELECT ?", 8, v, 1, &err) == -1);
    CHECK(strcmp(err.code, "bad_argument") == 0 && strstr(err.message, "UTF-8") != NULL);
    jb_free(&b);
}

static void test_base64_roundtrip(void)
{
    unsigned char data[300];
    jbuf b = { 0 };
    size_t n, len, i;
    int ok = 1;

    for (i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7 + 3);
    for (n = 0; n < sizeof data; n++) {
        b.n = 0;
        if (hq_base64(&b, data, n) != 0 || b.n != (n + 2) / 3 * 4 ||
            (n > 0 && (hr_base64_decode(b.p, b.n, &len) != 0 || len != n ||
                       memcmp(b.p, data, n) != 0)))
            ok = 0;
    }
    CHECK(ok);
    {
        char unpadded[] = "AAH/", bad[] = "AA*A", one[] = "A";

        CHECK(hr_base64_decode(unpadded, 4, &len) == 0 && len == 3);
        CHECK(hr_base64_decode(bad, 4, &len) == -1);
        CHECK(hr_base64_decode(one, 1, &len) == -1);
    }
    jb_free(&b);
}

/* ---- hrana_resp ----------------------------------------------------------------- */

static const char k_batch_resp[] =
    "{\"baton\":\"b1\",\"base_url\":null,\"results\":[{\"type\":\"ok\",\"response\":{\"type\":"
    "\"batch\",\"result\":{\"step_results\":[{\"cols\":[{\"name\":\"a\",\"decltype\":"
    "\"INTEGER\"},{\"name\":null}],\"rows\":[[{\"type\":\"integer\",\"value\":\"-5\"},"
    "{\"type\":\"text\",\"value\":\"x\\u0000y\\ud83d\\ude00\"}],[{\"type\":\"float\","
    "\"value\":-0.0},{\"type\":\"blob\",\"base64\":\"AAH/\"}],[{\"value\":null,\"type\":"
    "\"float\"},{\"type\":\"null\"}]],\"affected_row_count\":0,\"last_insert_rowid\":\"7\","
    "\"extra\":{\"nested\":[1,2,{\"x\":[]}]}},null],\"step_errors\":[null,{\"message\":"
    "\"UNIQUE constraint failed: t.id (19)\",\"code\":\"EXECUTE_ERROR\"}]}}},{\"type\":"
    "\"error\",\"error\":{\"message\":\"boom\",\"code\":\"SQLITE_BUSY\"}},{\"type\":\"ok\","
    "\"response\":{\"type\":\"get_autocommit\",\"is_autocommit\":false}}]}";

/* Parse text fed in pieces of `step` bytes. */
static int parse(const char *text, size_t step, size_t cap, hr_response *r, lsq_error *err)
{
    size_t n = strlen(text), off, k;

    if (hr_begin(r, cap) != 0) return -2;
    for (off = 0; off < n; off += k) {
        k = n - off < step ? n - off : step;
        if (hr_feed(r, text + off, k, err) != 0) return -1;
    }
    return hr_finish(r, err);
}

static void check_batch_resp(const hr_response *r)
{
    const hr_entry *e;
    const hr_stmt *s;
    lsq_value v;
    lsq_error err;

    CHECK(r->nentries == 3);
    if (r->nentries != 3) return;
    CHECK(r->baton.set && r->baton.len == 2 && memcmp(hr_ptr(r, r->baton), "b1", 2) == 0);
    CHECK(!r->base_url.set);
    e = &r->entries[0];
    CHECK(!e->is_error && e->resp_type == HR_RESP_BATCH && e->nsteps == 2 && e->nerrors == 2);
    if (e->nsteps != 2 || e->nerrors != 2) return;
    s = e->steps[0];
    CHECK(s != NULL && e->steps[1] == NULL);
    CHECK(!e->step_errors[0].set && e->step_errors[1].set);
    if (s == NULL) return;
    CHECK(s->ncols == 2 && s->nrows == 3 && s->has_rowid && s->rowid == 7);
    CHECK(s->cols[0].name.set && !s->cols[1].name.set && s->cols[0].decltype.set);
    hr_cell_value(r, &s->cells[0], &v);
    CHECK(v.type == LSQ_INT && v.u.i == -5);
    hr_cell_value(r, &s->cells[1], &v);
    CHECK(v.type == LSQ_TEXT && v.u.s.n == 7 && memcmp(v.u.s.p, "x\0y\xf0\x9f\x98\x80", 7) == 0);
    hr_cell_value(r, &s->cells[2], &v);
    CHECK(v.type == LSQ_REAL && v.u.r == 0.0 && signbit(v.u.r));
    hr_cell_value(r, &s->cells[3], &v);
    CHECK(v.type == LSQ_BLOB && v.u.s.n == 3 && memcmp(v.u.s.p, "\x00\x01\xff", 3) == 0);
    hr_cell_value(r, &s->cells[4], &v);
    CHECK(v.type == LSQ_NULL); /* a float sent as null (+-Inf) */
    hr_cell_value(r, &s->cells[5], &v);
    CHECK(v.type == LSQ_NULL);
    hr_error_to_lsq(r, &e->step_errors[1], &err);
    CHECK(strcmp(err.code, "constraint") == 0 && err.extended_code == 19);
    CHECK(r->entries[1].is_error && r->entries[1].error.set);
    hr_error_to_lsq(r, &r->entries[1].error, &err);
    CHECK(strcmp(err.code, "busy") == 0);
    CHECK(r->entries[2].resp_type == HR_RESP_AUTOCOMMIT && r->entries[2].is_autocommit == 0);
}

static void test_parse_response(void)
{
    static const size_t steps[] = { 1, 2, 3, 7, 64, 100000 };
    hr_response r;
    lsq_error err;
    size_t i;

    for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        CHECK(parse(k_batch_resp, steps[i], 1 << 20, &r, &err) == 0);
        check_batch_resp(&r);
        hr_free(&r);
    }
}

static void expect_parse_error(const char *text, const char *code)
{
    hr_response r;
    lsq_error err;
    int rc = parse(text, 5, 1 << 20, &r, &err);

    CHECK(rc == -1);
    if (rc == -1 && strcmp(err.code, code) != 0)
        fprintf(stderr, "  [%s] %s -> %s (%s)\n", g_test_name, text, err.code, err.message);
    CHECK(rc != -1 || strcmp(err.code, code) == 0);
    hr_free(&r);
}

static void test_parse_errors(void)
{
    static const char *const bad_shape[] = {
        "[]",
        "{\"results\":{}}",
        "{\"results\":[1]}",
        "{\"results\":[{\"type\":\"maybe\"}]}",
        "{\"results\":[{\"type\":\"ok\",\"response\":{\"type\":\"execute\",\"result\":"
        "{\"cols\":[{\"name\":\"a\"}],\"rows\":[[{\"type\":\"integer\",\"value\":\"1\"}],[]]}}}]}",
        "{\"results\":[{\"type\":\"ok\",\"response\":{\"type\":\"execute\",\"result\":"
        "{\"cols\":[],\"rows\":[[{\"type\":\"integer\",\"value\":\"1\"}]]}}}]}",
        "{\"results\":[{\"type\":\"ok\",\"response\":{\"type\":\"execute\",\"result\":"
        "{\"cols\":[{}],\"rows\":[[{\"type\":\"integer\",\"value\":\"9223372036854775808\"}]]}}}]}",
        "{\"results\":[{\"type\":\"ok\",\"response\":{\"type\":\"execute\",\"result\":"
        "{\"cols\":[{}],\"rows\":[[{\"type\":\"integer\",\"value\":12}]]}}}]}",
        "{\"results\":[{\"type\":\"ok\",\"response\":{\"type\":\"execute\",\"result\":"
        "{\"cols\":[{}],\"rows\":[[{\"type\":\"blob\",\"base64\":\"A\"}]]}}}]}",
        "{\"results\":[{\"type\":\"ok\",\"response\":{\"type\":\"execute\",\"result\":"
        "{\"cols\":[{}],\"rows\":[[{\"type\":\"date\",\"value\":\"x\"}]]}}}]}",
        "{\"results\":[{\"type\":\"ok\",\"response\":{\"type\":\"execute\",\"result\":"
        "{\"cols\":[{}],\"rows\":[[{\"type\":\"text\",\"value\":\"a\",\"base64\":\"b\"}]]}}}]}",
        "{\"baton\":5}",
        "{\"results\":[]}{\"results\":[]}",
    };
    static const char *const bad_json[] = {
        "", "{", "{\"results\":[", "{\"results\":[]", "nul", "{\"a\":\"\xff\"}",
        "{\"results\":[]} x",
    };
    char deep[300];
    size_t i;

    for (i = 0; i < sizeof bad_shape / sizeof bad_shape[0]; i++)
        expect_parse_error(bad_shape[i], "protocol");
    for (i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++)
        expect_parse_error(bad_json[i], "protocol");
    /* Nesting past the parser's stack inside an unknown key. */
    strcpy(deep, "{\"x\":");
    for (i = 0; i < 100; i++) strcat(deep, "[");
    expect_parse_error(deep, "protocol");
}

static void test_parse_cap(void)
{
    char *big;
    hr_response r;
    lsq_error err;
    size_t i, n = 0, cap = 64 * 1024;

    big = malloc(1 << 20);
    CHECK(big != NULL);
    if (big == NULL) return;
    n += (size_t)sprintf(big + n, "{\"results\":[{\"type\":\"ok\",\"response\":{\"type\":"
                                  "\"execute\",\"result\":{\"cols\":[{}],\"rows\":[");
    for (i = 0; i < 5000; i++)
        n += (size_t)sprintf(big + n, "%s[{\"type\":\"text\",\"value\":\"%0100d\"}]",
                             i ? "," : "", (int)i);
    strcpy(big + n, "]}}}]}");
    CHECK(parse(big, 4096, cap, &r, &err) == -1 && strcmp(err.code, "toobig") == 0);
    hr_free(&r);
    CHECK(parse(big, 4096, 4 << 20, &r, &err) == 0);
    CHECK(r.nentries == 1 && r.entries[0].stmt != NULL && r.entries[0].stmt->nrows == 5000);
    CHECK(r.bytes < 2 << 20); /* about the data's size, no tree */
    hr_free(&r);
    free(big);
}

static void test_error_mapping(void)
{
    lsq_error err;

    hr_map_error("SQLITE_CONSTRAINT_UNIQUE", 24, "x", 1, &err);
    CHECK(strcmp(err.code, "constraint") == 0);
    hr_map_error("ARGS_INVALID", 12, "bad", 3, &err);
    CHECK(strcmp(err.code, "bad_argument") == 0);
    hr_map_error("STREAM_EXPIRED", 14, "gone", 4, &err);
    CHECK(strcmp(err.code, "stream_expired") == 0);
    hr_map_error("PREPARE_ERROR", 13, "Parse error: no such table: t", 29, &err);
    CHECK(strcmp(err.code, "error") == 0 && strcmp(err.message, "Parse error: no such table: t") == 0);
    hr_map_error(NULL, 0, "Runtime error: database is locked (5)", 37, &err);
    CHECK(strcmp(err.code, "busy") == 0 && err.extended_code == 5);
    hr_map_error(NULL, 0, "ends in (x)", 11, &err);
    CHECK(strcmp(err.code, "error") == 0);
}

/* Every input in the Hrana fuzz corpus parses or fails cleanly. */
static void test_hrana_corpus(void)
{
    static const char *const dirs[] = { "test/fuzz_corpus/hrana", NULL };
    struct dirent *d;
    DIR *dir;
    char path[1024], *buf;
    size_t k, n, files = 0;
    FILE *f;
    hr_response r;
    lsq_error err;

    for (k = 0; dirs[k] != NULL; k++) {
        dir = opendir(dirs[k]);
        CHECK(dir != NULL);
        if (dir == NULL) continue;
        while ((d = readdir(dir)) != NULL) {
            if (d->d_name[0] == '.') continue;
            (void)snprintf(path, sizeof path, "%s/%s", dirs[k], d->d_name);
            f = fopen(path, "rb");
            if (f == NULL) continue;
            buf = malloc(1 << 20);
            n = buf != NULL ? fread(buf, 1, (1 << 20) - 1, f) : 0;
            fclose(f);
            if (buf == NULL) continue;
            if (hr_begin(&r, 1 << 20) == 0) {
                if (hr_feed(&r, buf, n, &err) == 0) (void)hr_finish(&r, &err);
                hr_free(&r);
            }
            free(buf);
            files++;
        }
        closedir(dir);
    }
    CHECK(files > 0);
}

static const test_case k_tests[] = {
    { "statement_ends", test_statement_ends },
    { "param_numbering", test_param_numbering },
    { "json_strings", test_json_strings },
    { "stmt_values", test_stmt_values },
    { "base64_roundtrip", test_base64_roundtrip },
    { "parse_response", test_parse_response },
    { "parse_errors", test_parse_errors },
    { "parse_cap", test_parse_cap },
    { "error_mapping", test_error_mapping },
    { "hrana_corpus", test_hrana_corpus },
};

int main(void)
{
    return run_tests(k_tests, sizeof k_tests / sizeof k_tests[0]);
}
