/*
 * test_gather.c - the journal-gathering VFS (journal_gather.c).
 *
 * The gatherer runs between two recording VFSes: the one above counts
 * the journal bytes SQLite wrote, the one below the journal bytes that
 * reached the file, and checks, at every write, truncate and sync of the
 * database file and at every other operation on the journal, that the
 * two counts agree: nothing the journal was given is still held back
 * when the file it protects changes. Then the property that matters, on
 * real files: a process that dies in the middle of a transaction (after
 * cache spills wrote pages of the database) leaves a file that stock
 * SQLite rolls back to exactly what it was.
 */
#include "test_util.h"
#include "journal_gather.h"
#include "vfs_pass.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the recording VFS ----------------------------------------------------------------- */

typedef struct rec_vfs {
    sqlite3_vfs *real;      /* first: vfs_pass.h */
    sqlite3_vfs vfs;
    int below;              /* under the gatherer (else above it) */
} rec_vfs;

typedef struct rec_file {
    lsq_file_over over;     /* first: vfs_pass.h */
    rec_vfs *v;
    int journal;
} rec_file;

static struct {
    long long above, below;         /* journal bytes written */
    long long above_n, below_n;     /* journal writes */
    long long db_writes;            /* database writes seen below */
    long long held_back;            /* times above != below where it must not be */
} rec;

static sqlite3_file *down(sqlite3_file *pf)
{
    return ((rec_file *)pf)->over.real;
}

/* Below the gatherer, before f's operation other than a journal write. */
static void must_be_out(sqlite3_file *pf)
{
    rec_file *f = (rec_file *)pf;

    if (f->v->below && rec.above != rec.below) rec.held_back++;
}

static int r_close(sqlite3_file *pf)
{
    if (((rec_file *)pf)->journal) must_be_out(pf);
    return down(pf)->pMethods->xClose(down(pf));
}

static int r_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
    if (((rec_file *)pf)->journal) must_be_out(pf);
    return down(pf)->pMethods->xRead(down(pf), p, n, off);
}

static int r_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
    rec_file *f = (rec_file *)pf;
    int rc;

    if (!f->journal) {
        must_be_out(pf);
        if (f->v->below) rec.db_writes++;
    }
    rc = down(pf)->pMethods->xWrite(down(pf), p, n, off);
    if (rc == SQLITE_OK && f->journal) {
        if (f->v->below) {
            rec.below += n;
            rec.below_n++;
        } else {
            rec.above += n;
            rec.above_n++;
        }
    }
    return rc;
}

static int r_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    must_be_out(pf);
    return down(pf)->pMethods->xTruncate(down(pf), size);
}

static int r_sync(sqlite3_file *pf, int flags)
{
    must_be_out(pf);
    return down(pf)->pMethods->xSync(down(pf), flags);
}

static int r_size(sqlite3_file *pf, sqlite3_int64 *out)
{
    if (((rec_file *)pf)->journal) must_be_out(pf);
    return down(pf)->pMethods->xFileSize(down(pf), out);
}

static const sqlite3_io_methods rec_io = {
    3, r_close, r_read, r_write, r_truncate, r_sync, r_size, lsq_file_pass_lock,
    lsq_file_pass_unlock, lsq_file_pass_reserved, lsq_file_pass_control, lsq_file_pass_sector,
    lsq_file_pass_device, lsq_file_pass_shm_map, lsq_file_pass_shm_lock, lsq_file_pass_shm_barrier,
    lsq_file_pass_shm_unmap, lsq_file_pass_fetch, lsq_file_pass_unfetch
};

static int r_open(sqlite3_vfs *pv, const char *name, sqlite3_file *pf, int flags, int *out_flags)
{
    rec_vfs *v = (rec_vfs *)pv->pAppData;
    rec_file *f = (rec_file *)pf;
    int rc;

    memset(f, 0, sizeof *f);
    f->over.real = (sqlite3_file *)(f + 1);
    f->v = v;
    f->journal = (flags & SQLITE_OPEN_MAIN_JOURNAL) != 0;
    rc = v->real->xOpen(v->real, name, f->over.real, flags, out_flags);
    if (rc != SQLITE_OK || f->over.real->pMethods == NULL) {
        pf->pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    pf->pMethods = &rec_io;
    return SQLITE_OK;
}

static void rec_init(rec_vfs *v, sqlite3_vfs *real, const char *name, int below)
{
    memset(v, 0, sizeof *v);
    v->real = real;
    v->below = below;
    v->vfs.szOsFile = (int)sizeof(rec_file) + real->szOsFile;
    v->vfs.mxPathname = real->mxPathname;
    v->vfs.zName = name;
    v->vfs.pAppData = v;
    v->vfs.xOpen = r_open;
    lsq_vfs_pass_init(&v->vfs);
}

/* rec-below over unix, the gatherer over it, rec-above over that: made
 * once, registered for the program's life. 0 or -1. */
static int stack(void)
{
    static rec_vfs below, above;
    static int made = -2;
    sqlite3_vfs *g;

    if (made != -2) return made;
    made = -1;
    rec_init(&below, sqlite3_vfs_find("unix"), "test-rec-below", 1);
    if (sqlite3_vfs_register(&below.vfs, 0) != SQLITE_OK) return -1;
    if ((g = lsq_gather_vfs_create(&below.vfs, "test-gather")) == NULL) return -1;
    rec_init(&above, g, "test-rec-above", 0);
    if (sqlite3_vfs_register(&above.vfs, 0) != SQLITE_OK) return -1;
    made = 0;
    return 0;
}

/* ---- helpers --------------------------------------------------------------------------- */

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) fprintf(stderr, "  sql: %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

/* A fingerprint of t's content (rows, lengths and every byte's sum). */
#define FINGERPRINT "SELECT count(*) * 1000003 + total(length(v)) * 7 + " \
                    "total(unicode(substr(v, id % 300 + 1, 1))) FROM t"

/* 3,000 rows of 300 bytes: about 250 pages, far over a cache of 20. */
static int fill(sqlite3 *db)
{
    return exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                    "BEGIN;"
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                    " INSERT INTO t SELECT i, printf('%.300c', char(65 + i % 26)) FROM n;"
                    "COMMIT;");
}

/* ---- the order below the gatherer --------------------------------------------------------- */

static void ordering_in(const char *mode, const char *sync, int cache)
{
    tmpdir td;
    sqlite3 *db = NULL;
    char sql[128];
    long long before;

    CHECK(stack() == 0);
    CHECK(tmpdir_make(&td) == 0);
    memset(&rec, 0, sizeof rec);
    CHECK(sqlite3_open_v2(tmpdir_file(&td, "g.db"), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                          "test-rec-above") == SQLITE_OK);
    (void)snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s; PRAGMA synchronous=%s; "
                   "PRAGMA cache_size=%d;", mode, sync, cache);
    CHECK(exec(db, sql) == SQLITE_OK);
    CHECK(fill(db) == SQLITE_OK);
    CHECK(exec(db, "BEGIN; UPDATE t SET v = lower(v) WHERE id % 3 = 0; COMMIT;") == SQLITE_OK);
    before = test_sql_int(db, FINGERPRINT);
    /* spills, then a rollback that reads the journal back */
    CHECK(exec(db, "BEGIN; UPDATE t SET v = v || '#'; ROLLBACK;") == SQLITE_OK);
    CHECK(test_sql_int(db, FINGERPRINT) == before);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v GLOB '*#'") == 0);
    CHECK(test_integrity_ok(db));
    CHECK(sqlite3_close(db) == SQLITE_OK);
    if (rec.held_back != 0 || rec.above != rec.below)
        fprintf(stderr, "  %s/%s: held back %lld times; journal bytes above %lld, below %lld\n",
                mode, sync, rec.held_back, rec.above, rec.below);
    CHECK(rec.held_back == 0);
    CHECK(rec.above == rec.below);
    /* the test saw what it is about: database writes (mid-transaction
     * ones with the small cache), and fewer journal writes below than
     * SQLite made; with the big cache, runs as long as the buffer (the
     * unix VFS's own limit a write is under 128 KiB: a longer run would
     * fail as a full disk) */
    CHECK(rec.db_writes > (cache > 1000 ? 100 : 500));
    CHECK(rec.above_n > 1000);
    CHECK(rec.below_n * 2 < rec.above_n);
    if (cache > 1000) CHECK(rec.below_n * 40 < rec.above_n);
    {
        const char *names[] = { "g.db" };

        tmpdir_remove(&td, names, 1);
    }
}

/* a cache of 20 pages spills: database writes in mid-transaction */
static void test_gather_order_delete_full(void) { ordering_in("DELETE", "FULL", 20); }
static void test_gather_order_delete_off(void) { ordering_in("DELETE", "OFF", 20); }
static void test_gather_order_truncate_normal(void) { ordering_in("TRUNCATE", "NORMAL", 20); }
static void test_gather_order_persist_off(void) { ordering_in("PERSIST", "OFF", 20); }
/* a cache of 5,000 pages: the journal grows in long runs */
static void test_gather_order_long_runs(void) { ordering_in("DELETE", "FULL", 5000); }

/* ---- a process that dies mid-transaction ---------------------------------------------- */

static long long g_die_at;

/* die_at(id): the process ends there, as a kill would end it (no
 * atexit, no SQLite cleanup, the gatherer's buffer lost). */
static void die_at(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_int64(argv[0]) == g_die_at) _exit(0);
    sqlite3_result_int(ctx, 0);
}

static void killed_at(long long row, const char *sync)
{
    tmpdir td;
    sqlite3 *db = NULL;
    const char *path;
    char sql[96];
    long long before;
    pid_t pid;
    int status = -1;

    CHECK(tmpdir_make(&td) == 0);
    path = tmpdir_file(&td, "k.db");
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(fill(db) == SQLITE_OK);
    before = test_sql_int(db, FINGERPRINT);
    CHECK(sqlite3_close(db) == SQLITE_OK);
    db = NULL;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        /* The port's own VFS, as a connection opens it. */
        const char *vfs = lsq_journal_gather_vfs();

        g_die_at = row;
        if (vfs == NULL || sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, vfs) != SQLITE_OK) _exit(3);
        (void)snprintf(sql, sizeof sql, "PRAGMA cache_size=20; PRAGMA synchronous=%s;", sync);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) _exit(4);
        if (sqlite3_create_function(db, "die_at", 1, SQLITE_UTF8, NULL, die_at, NULL, NULL) != SQLITE_OK)
            _exit(5);
        (void)sqlite3_exec(db, "BEGIN; UPDATE t SET v = lower(v) || die_at(id); COMMIT;", NULL, NULL, NULL);
        _exit(6); /* not reached: die_at ends it */
    }
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Stock SQLite (its own VFS) finds the hot journal and rolls back. */
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, "unix") == SQLITE_OK);
    CHECK(test_sql_int(db, FINGERPRINT) == before);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v GLOB '*0'") == 0);
    CHECK(test_integrity_ok(db));
    CHECK(sqlite3_close(db) == SQLITE_OK);
    {
        const char *names[] = { "k.db" };

        tmpdir_remove(&td, names, 1);
    }
}

static void test_gather_killed_mid_transaction(void)
{
    static const long long rows[] = { 40, 700, 1500, 2999 };
    size_t i;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        killed_at(rows[i], "FULL");
        killed_at(rows[i], "OFF");
    }
}

/* PERSIST mode ends a commit by zeroing the journal's header, with no
 * sync when synchronous is OFF, and in EXCLUSIVE locking mode nothing
 * else touches a file afterwards: a held-back header would leave a hot
 * journal behind a commit already reported, and the next opener would
 * roll it back. */
static void test_gather_persist_commit_survives(void)
{
    tmpdir td;
    sqlite3 *db = NULL;
    const char *path;
    pid_t pid;
    int status = -1;

    CHECK(tmpdir_make(&td) == 0);
    path = tmpdir_file(&td, "p.db");
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        const char *vfs = lsq_journal_gather_vfs();

        if (vfs == NULL || sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                           vfs) != SQLITE_OK)
            _exit(3);
        if (sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=PERSIST; "
                             "PRAGMA synchronous=OFF;", NULL, NULL, NULL) != SQLITE_OK)
            _exit(4);
        if (fill(db) != SQLITE_OK) _exit(5);
        _exit(0); /* the commit was reported: the process dies */
    }
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, "unix") == SQLITE_OK);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 3000);
    CHECK(test_integrity_ok(db));
    CHECK(sqlite3_close(db) == SQLITE_OK);
    {
        const char *names[] = { "p.db" };

        tmpdir_remove(&td, names, 1);
    }
}

static const test_case tests[] = {
    TEST(test_gather_order_delete_full),
    TEST(test_gather_order_delete_off),
    TEST(test_gather_order_truncate_normal),
    TEST(test_gather_order_persist_off),
    TEST(test_gather_order_long_runs),
    TEST(test_gather_killed_mid_transaction),
    TEST(test_gather_persist_commit_survives),
};

const test_suite gather_suite = SUITE("gather", tests);
