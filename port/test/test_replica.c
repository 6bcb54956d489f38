/*
 * test_replica.c - tests of an embedded replica's parts that need no
 * server: the /pull-updates codec (pull_proto.c) on hand-built responses,
 * good and bad; and the page writer (replica_file.c) on real SQLite files:
 * a new file made from a full page set, then an increment, a shrink and a
 * grow applied into it with a reader connection open, each state read back
 * by SQLite and checked with integrity_check; the sidecar round trip.
 *
 * The page sets come from real databases: a source file is built with
 * SQLite and its pages are served as the server would serve them.
 */
#include "test_util.h"
#include "pull_proto.h"
#include "replica_file.h"
#include "ro_guard.h"
#include "sql_scan.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- building responses ------------------------------------------------ */

typedef struct buf { unsigned char *p; size_t n, cap; } buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) abort();
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void varint(buf *b, unsigned long long v)
{
    unsigned char c;

    while (v >= 0x80) {
        c = (unsigned char)(v | 0x80);
        put(b, &c, 1);
        v >>= 7;
    }
    c = (unsigned char)v;
    put(b, &c, 1);
}

static void field_bytes(buf *b, int field, const void *p, size_t n)
{
    varint(b, (unsigned long long)field << 3 | 2);
    varint(b, n);
    put(b, p, n);
}

static void field_varint(buf *b, int field, unsigned long long v)
{
    varint(b, (unsigned long long)field << 3);
    varint(b, v);
}

/* A length-delimited message appended to the stream. */
static void message(buf *stream, const buf *m)
{
    varint(stream, m->n);
    put(stream, m->p, m->n);
}

static void header(buf *stream, const char *rev, unsigned long long db_size, int replace)
{
    buf h = { 0 };

    field_bytes(&h, 1, rev, strlen(rev));
    if (db_size) field_varint(&h, 2, db_size);
    field_bytes(&h, 3, "", 0);
    if (replace) field_varint(&h, 6, 1);
    field_varint(&h, 9, 7); /* an unknown field: skipped */
    message(stream, &h);
    free(h.p);
}

static void page(buf *stream, unsigned long long id, const unsigned char *data, size_t n)
{
    buf m = { 0 };

    if (id) field_varint(&m, 1, id); /* proto3 leaves out a zero page_id */
    field_bytes(&m, 2, data, n);
    message(stream, &m);
    free(m.p);
}

/* Decode a whole stream fed in pieces of `piece' bytes. */
static int decode(const buf *stream, size_t piece, size_t cap, pull_resp *r, lsq_error *err)
{
    pull_decoder d;
    size_t off, k;
    int rc = 0;

    pull_decoder_init(&d, cap);
    for (off = 0; off < stream->n && rc == 0; off += k) {
        k = stream->n - off < piece ? stream->n - off : piece;
        rc = pull_decoder_feed(&d, stream->p + off, k, err);
    }
    if (rc == 0) rc = pull_decoder_finish(&d, r, err);
    pull_decoder_free(&d);
    return rc;
}

/* ---- the codec --------------------------------------------------------------- */

static void test_pull_request(void)
{
    pull_req q = { 41, 42, 0 }, boot = { -1, -1, 1 }, none = { -1, -1, 0 };
    unsigned char *b;
    size_t n;
    static const unsigned char want[] = { 0x12, 2, '4', '2', 0x1a, 2, '4', '1' };

    CHECK(pull_req_encode(&q, &b, &n) == 0);
    CHECK(n == sizeof want && memcmp(b, want, n) == 0);
    free(b);
    CHECK(pull_req_encode(&boot, &b, &n) == 0);
    CHECK(n == 2 && b[0] == 0x40 && b[1] == 1);
    free(b);
    CHECK(pull_req_encode(&none, &b, &n) == 0);
    CHECK(n == 0);
    free(b);
}

static void test_pull_decode(void)
{
    unsigned char p1[PULL_PAGE_SIZE], p2[PULL_PAGE_SIZE];
    buf s = { 0 };
    pull_resp r;
    lsq_error err;
    size_t piece;

    replica_empty_page1(p1);
    memset(p2, 0xab, sizeof p2);
    header(&s, "page:2", 2, 1);
    page(&s, 0, p1, sizeof p1);
    page(&s, 1, p2, sizeof p2);
    /* Any cut of the body decodes the same. */
    for (piece = 1; piece < 9000; piece = piece * 3 + 1) {
        memset(&r, 0, sizeof r);
        CHECK(decode(&s, piece, (size_t)1 << 30, &r, &err) == 0);
        CHECK(r.revision == 2 && r.page_prefixed && r.replace_base && r.db_size == 2);
        CHECK(r.npages == 2 && r.pages[0].pgno == 1 && r.pages[1].pgno == 2);
        CHECK(r.npages == 2 && memcmp(r.pages[1].data, p2, sizeof p2) == 0);
        pull_resp_free(&r);
    }
    /* Over the memory cap: toobig, not a partial set. */
    CHECK(decode(&s, 100, PULL_PAGE_SIZE, &r, &err) == -1 && err.code == LSQ_E_TOOBIG);
    /* Cut short: inside a message. */
    s.n -= 10;
    CHECK(decode(&s, 100, (size_t)1 << 30, &r, &err) == -1 && err.code == LSQ_E_PROTOCOL);
    free(s.p);
}

/* Each response breaks one rule; each is a protocol error naming it. */
static void test_pull_refused(void)
{
    unsigned char p1[PULL_PAGE_SIZE], p2[PULL_PAGE_SIZE + 1];
    struct { const char *why; buf s; } c[9];
    size_t i;
    pull_resp r;
    lsq_error err;
    buf h = { 0 };

    memset(c, 0, sizeof c);
    replica_empty_page1(p1);
    memset(p2, 1, sizeof p2);
    c[0].why = "page is not 4096";
    header(&c[0].s, "3", 1, 0);
    page(&c[0].s, 0, p2, sizeof p2);
    c[1].why = "twice";
    header(&c[1].s, "3", 2, 0);
    page(&c[1].s, 1, p2, PULL_PAGE_SIZE);
    page(&c[1].s, 1, p2, PULL_PAGE_SIZE);
    c[2].why = "missing";
    header(&c[2].s, "page:2", 2, 1);
    page(&c[2].s, 0, p1, sizeof p1);
    c[3].why = "not a frame number";
    header(&c[3].s, "page:x", 1, 1);
    c[4].why = "zstd";
    field_bytes(&h, 1, "5", 1);
    field_bytes(&h, 4, "", 0);
    message(&c[4].s, &h);
    c[5].why = "page 1 is not";
    header(&c[5].s, "3", 1, 0);
    page(&c[5].s, 0, p2, PULL_PAGE_SIZE);
    c[6].why = "raw encoding";
    h.n = 0;
    field_bytes(&h, 1, "5", 1);
    message(&c[6].s, &h);
    c[7].why = "message length";
    varint(&c[7].s, (unsigned long long)1 << 40);
    c[8].why = "no header";
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        memset(&err, 0, sizeof err);
        CHECK(decode(&c[i].s, 7, (size_t)1 << 30, &r, &err) == -1);
        CHECK(err.code == LSQ_E_PROTOCOL);
        CHECK(strstr(err.message, c[i].why) != NULL);
        if (err.code != LSQ_E_PROTOCOL || strstr(err.message, c[i].why) == NULL)
            fprintf(stderr, "    case %zu: %s\n", i, err.message);
        free(c[i].s.p);
    }
    free(h.p);
}

/* ---- the page writer --------------------------------------------------------- */

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

    CHECK(rc == SQLITE_OK);
    if (rc != SQLITE_OK) fprintf(stderr, "    %s: %s\n", sql, msg ? msg : "");
    sqlite3_free(msg);
}

/* The pages of a database file as a server set: every page (full) or
 * those that differ from `base' (an increment), page 1 always. */
static void serve(const char *path, const char *base, long long rev, int full, pull_resp *r)
{
    FILE *f = fopen(path, "rb"), *b = base ? fopen(base, "rb") : NULL;
    unsigned char pg[PULL_PAGE_SIZE], old[PULL_PAGE_SIZE];
    uint32_t n = 0;

    memset(r, 0, sizeof *r);
    r->revision = rev;
    r->replace_base = full;
    r->pages = calloc(100000, sizeof *r->pages);
    if (f == NULL || r->pages == NULL) abort();
    while (fread(pg, 1, sizeof pg, f) == sizeof pg) {
        int same = 0;

        n++;
        if (!full && b != NULL && n > 1)
            same = fseek(b, (long)(n - 1) * PULL_PAGE_SIZE, SEEK_SET) == 0 &&
                   fread(old, 1, sizeof old, b) == sizeof old && memcmp(old, pg, sizeof pg) == 0;
        if (same) continue;
        r->pages[r->npages].pgno = n;
        r->pages[r->npages].data = malloc(PULL_PAGE_SIZE);
        if (r->pages[r->npages].data == NULL) abort();
        memcpy(r->pages[r->npages].data, pg, sizeof pg);
        r->npages++;
    }
    r->db_size = n;
    (void)fclose(f);
    if (b != NULL) (void)fclose(b);
}

static void copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb"), *t = fopen(to, "wb");
    char b[8192];
    size_t n;

    if (f == NULL || t == NULL) abort();
    while ((n = fread(b, 1, sizeof b, f)) > 0)
        if (fwrite(b, 1, n, t) != n) abort();
    (void)fclose(f);
    (void)fclose(t);
}

static void test_replica_file_apply(void)
{
    char dir[] = "/tmp/lsq_replica_XXXXXX", src[256], prev[256], rep[256];
    sqlite3 *s = NULL, *applier = NULL, *reader = NULL;
    replica_state st = { 7, 0, 0, 0 }, got;
    long long locked = -1;
    pull_resp r;
    lsq_error err;
    char *side;

    if (mkdtemp(dir) == NULL) abort();
    (void)snprintf(src, sizeof src, "%s/server.db", dir);
    (void)snprintf(prev, sizeof prev, "%s/server.prev", dir);
    (void)snprintf(rep, sizeof rep, "%s/replica.db", dir);
    /* The "server": a 4096-byte-page database in WAL mode bytes, as turso's. */
    CHECK(sqlite3_open(src, &s) == SQLITE_OK);
    exec_ok(s, "PRAGMA page_size = 4096; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
               "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000) "
               "INSERT INTO t(v) SELECT printf('%.200c', 'a') FROM c;");
    exec_ok(s, "PRAGMA journal_mode = WAL; PRAGMA wal_checkpoint(TRUNCATE);");

    /* A new file from the full set: readable, rollback mode, the state beside it. */
    serve(src, NULL, 7, 1, &r);
    CHECK(replica_file_create(rep, &r, &st, NULL, &err) == 0);
    CHECK(replica_file_create(rep, &r, &st, NULL, &err) == 1); /* there already: nothing done */
    pull_resp_free(&r);
    CHECK(replica_state_read(rep, &got, &err) == 1 && got.revision == 7 && !got.frozen);
    CHECK(sqlite3_open_v2(rep, &applier, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    CHECK(sqlite3_open_v2(rep, &reader, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    exec_ok(reader, "PRAGMA query_only = 1");
    CHECK(test_sql_int(reader, "SELECT count(*) FROM t") == 2000);
    CHECK(test_integrity_ok(reader));
    {
        sqlite3_stmt *jm = NULL;

        CHECK(sqlite3_prepare_v2(reader, "PRAGMA journal_mode", -1, &jm, NULL) == SQLITE_OK &&
              sqlite3_step(jm) == SQLITE_ROW &&
              strcmp((const char *)sqlite3_column_text(jm, 0), "delete") == 0);
        (void)sqlite3_finalize(jm);
    }

    /* An increment: the reader (warm cache) sees the new state. */
    (void)sqlite3_close(s);
    copy_file(src, prev);
    CHECK(sqlite3_open(src, &s) == SQLITE_OK);
    exec_ok(s, "UPDATE t SET v = 'changed' WHERE id % 100 = 0; PRAGMA wal_checkpoint(TRUNCATE);");
    serve(src, prev, 9, 0, &r);
    CHECK(r.npages > 1 && r.npages < r.db_size);
    st.revision = 9;
    CHECK(replica_file_apply(applier, rep, &r, 7, &st, &locked, &err) == 0);
    CHECK(locked > 0 && locked < 10000000);
    /* Applied already (the state moved on): nothing done. */
    CHECK(replica_file_apply(applier, rep, &r, 7, &st, &locked, &err) == 1);
    pull_resp_free(&r);
    CHECK(test_sql_int(reader, "SELECT count(*) FROM t WHERE v = 'changed'") == 20);
    CHECK(test_integrity_ok(reader));
    CHECK(access((side = replica_state_path(rep)) != NULL ? side : "", F_OK) == 0);
    free(side);

    /* A shrink (rows deleted, vacuumed) and a grow, as full sets into the file. */
    exec_ok(s, "DELETE FROM t WHERE id > 10; VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
    serve(src, NULL, 2, 1, &r);
    st.revision = 2;
    CHECK(replica_file_apply(applier, rep, &r, 9, &st, &locked, &err) == 0);
    pull_resp_free(&r);
    CHECK(test_sql_int(reader, "SELECT count(*) FROM t") == 10);
    CHECK(test_sql_int(reader, "PRAGMA page_count") < 10);
    CHECK(test_integrity_ok(reader));
    exec_ok(s, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) "
               "INSERT INTO t(v) SELECT printf('%.300c', 'g') FROM c; "
               "PRAGMA wal_checkpoint(TRUNCATE);");
    copy_file(rep, prev);
    serve(src, prev, 50, 0, &r);
    st.revision = 50;
    CHECK(replica_file_apply(applier, rep, &r, 2, &st, &locked, &err) == 0);
    pull_resp_free(&r);
    CHECK(test_sql_int(reader, "SELECT count(*) FROM t") == 3010);
    CHECK(test_integrity_ok(reader));
    /* A set that says the file grows but lacks the new pages: refused, the
     * file as it was. */
    serve(src, src, 51, 0, &r);
    r.db_size += 2;
    st.revision = 51;
    CHECK(replica_file_apply(applier, rep, &r, 50, &st, &locked, &err) == -1 &&
          err.code == LSQ_E_PROTOCOL);
    pull_resp_free(&r);
    CHECK(test_sql_int(reader, "SELECT count(*) FROM t") == 3010);
    CHECK(test_integrity_ok(reader));
    CHECK(replica_state_read(rep, &got, &err) == 1 && got.revision == 50);
    /* No journal left behind. */
    {
        char j[300];

        (void)snprintf(j, sizeof j, "%s-journal", rep);
        CHECK(access(j, F_OK) != 0);
    }
    (void)sqlite3_close(reader);
    (void)sqlite3_close(applier);
    (void)sqlite3_close(s);
    {
        char cmd[300];

        (void)snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
    }
}

static void test_replica_state_file(void)
{
    char dir[] = "/tmp/lsq_state_XXXXXX", db[256], *side;
    replica_state st = { 123456789012LL, 77, 0xfedcba9876543210ULL, 1 }, got;
    lsq_error err;
    FILE *f;

    if (mkdtemp(dir) == NULL) abort();
    (void)snprintf(db, sizeof db, "%s/x.db", dir);
    CHECK(replica_state_read(db, &got, &err) == 0 && got.revision == -1);
    CHECK(replica_state_write(db, &st, &err) == 0);
    CHECK(replica_state_read(db, &got, &err) == 1);
    CHECK(got.revision == st.revision && got.probe_pgno == 77 &&
          got.probe_hash == st.probe_hash && got.frozen == 1);
    /* Not ours: an error, never a state. */
    side = replica_state_path(db);
    f = side != NULL ? fopen(side, "w") : NULL;
    CHECK(f != NULL);
    if (f != NULL) {
        (void)fputs("something else\n", f);
        (void)fclose(f);
    }
    CHECK(replica_state_read(db, &got, &err) == -1 && err.code == LSQ_E_CORRUPT);
    (void)unlink(side);
    free(side);
    CHECK(rmdir(dir) == 0);
}

/* The guard's pragma rules and the pragma scanner a replica routes with. */
static void test_replica_guard(void)
{
    char name[32];
    int arg;

    CHECK(ro_guard_authorize(name, SQLITE_PRAGMA, "journal_mode", "wal", "main", NULL) == SQLITE_DENY);
    CHECK(strcmp(name, "journal_mode") == 0);
    CHECK(ro_guard_authorize(name, SQLITE_PRAGMA, "journal_mode", NULL, "main", NULL) == SQLITE_OK);
    CHECK(ro_guard_authorize(name, SQLITE_PRAGMA, "query_only", "0", "main", NULL) == SQLITE_DENY);
    CHECK(ro_guard_authorize(name, SQLITE_PRAGMA, "QUERY_ONLY", "on", "main", NULL) == SQLITE_OK);
    CHECK(ro_guard_authorize(name, SQLITE_PRAGMA, "optimize", NULL, "main", NULL) == SQLITE_DENY);
    CHECK(ro_guard_authorize(name, SQLITE_PRAGMA, "cache_size", "10", "main", NULL) == SQLITE_OK);
    CHECK(ro_guard_authorize(name, SQLITE_READ, "t", "x", "main", NULL) == SQLITE_OK);
    CHECK(ro_guard_writes_database("user_version") && !ro_guard_writes_database("cache_size"));
    CHECK(sql_pragma(" /* c */ PRAGMA main . user_version = 3", 38, name, sizeof name, &arg) == 1);
    CHECK(strcmp(name, "user_version") == 0 && arg == 1);
    CHECK(sql_pragma("pragma table_info(t)", 20, name, sizeof name, &arg) == 1 && arg == 1);
    CHECK(sql_pragma("PRAGMA user_version", 19, name, sizeof name, &arg) == 1 && arg == 0);
    CHECK(sql_pragma("SELECT 1", 8, name, sizeof name, &arg) == 0);
    CHECK(sql_pragma("PRAGMA", 6, name, sizeof name, &arg) == 0);
}

static const test_case k_tests[] = {
    TEST(test_pull_request),
    TEST(test_pull_decode),
    TEST(test_pull_refused),
    TEST(test_replica_file_apply),
    TEST(test_replica_state_file),
    TEST(test_replica_guard),
};

const test_suite replica_suite = SUITE("replica", k_tests);
