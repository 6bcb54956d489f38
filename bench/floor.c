/*
 * The floor: the benchmark workloads run in process against libsqlite3,
 * with no port, no pipe and no Erlang. What libsql does on top of this is
 * its overhead. Driven by bench/libsql_bench.erl; prints one line per
 * round so that the Erlang side takes the medians the same way for every
 * contender.
 *
 *   floor setup PATH ROWS           (re)create table t with ROWS rows
 *   floor wal PATH                  switch PATH to journal_mode=WAL (kept in the file)
 *   floor w1 PATH CALLS ROUNDS      point selects: "w1 MEDIAN_NS P99_NS"
 *   floor w2 PATH ROWS ROUNDS       insert ROWS rows in one transaction
 *                                   into a fresh PATH: "w2 ROWS_PER_S"
 *   floor w3 PATH ROUNDS            read every row: "w3 ROWS_PER_S ROWS"
 *                                   and at the end "rss PEAK_KB"
 *   floor w4 PATH CALLS ROUNDS      two threads, one connection each,
 *                                   CALLS point selects each: "w4 CALLS_PER_S"
 *
 * Lines "sum N" carry a checksum of what was read (so that nothing is
 * optimised away); the Erlang side ignores them.
 *
 * The data is the same everywhere: id 1..ROWS, name "name-<id>",
 * v = id / 7.0 (bench/libsql_bench.erl builds the very same rows).
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SELECT_SQL "SELECT id, name, v FROM t WHERE id = ?"
#define INSERT_SQL "INSERT INTO t (id, name, v) VALUES (?, ?, ?)"
#define CREATE_SQL "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v REAL)"

static void die(const char *what, sqlite3 *db)
{
    fprintf(stderr, "floor: %s: %s\n", what, db != NULL ? sqlite3_errmsg(db) : "error");
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        die("open", db);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die(sql, db);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(sql, db);
    return st;
}

static long arg_long(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0) {
        fprintf(stderr, "floor: not a positive number: %s\n", s);
        exit(2);
    }
    return v;
}

/* xorshift64*: the ids of the point selects. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

/* Insert rows 1..rows into t with one prepared statement (inside whatever
 * transaction the caller opened). */
static void insert_rows(sqlite3 *db, long rows)
{
    sqlite3_stmt *st = prepare(db, INSERT_SQL);
    char name[32];

    for (long id = 1; id <= rows; id++) {
        int n = snprintf(name, sizeof name, "name-%ld", id);

        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, name, n, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 3, (double)id / 7.0);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("insert", db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

static long count_rows(sqlite3 *db)
{
    sqlite3_stmt *st = prepare(db, "SELECT max(id) FROM t");
    long n;

    if (sqlite3_step(st) != SQLITE_ROW)
        die("max(id)", db);
    n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (n <= 0) {
        fprintf(stderr, "floor: table t is empty\n");
        exit(1);
    }
    return n;
}

/* One point select, reading every column as a client would (text copied). */
static uint64_t point_select(sqlite3 *db, sqlite3_stmt *st, long id)
{
    char buf[64];
    uint64_t sum = 0;
    int n;

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW)
        die("point select", db);
    sum += (uint64_t)sqlite3_column_int64(st, 0);
    n = sqlite3_column_bytes(st, 1);
    if (n > (int)sizeof buf) n = (int)sizeof buf;
    memcpy(buf, sqlite3_column_text(st, 1), (size_t)n);
    sum += (uint64_t)buf[0] + (uint64_t)n;
    sum += (uint64_t)sqlite3_column_double(st, 2);
    sqlite3_reset(st);
    return sum;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int setup(const char *path, long rows)
{
    sqlite3 *db = open_db(path);

    exec(db, "DROP TABLE IF EXISTS t");
    exec(db, CREATE_SQL);
    exec(db, "BEGIN");
    insert_rows(db, rows);
    exec(db, "COMMIT");
    sqlite3_close(db);
    return 0;
}

/* WAL mode is a property of the file: every contender that opens it
 * afterwards reads and writes it in WAL mode. */
static int wal(const char *path)
{
    sqlite3 *db = open_db(path);
    sqlite3_stmt *st = prepare(db, "PRAGMA journal_mode=WAL");
    int ok = sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;

    sqlite3_finalize(st);
    sqlite3_close(db);
    if (!ok) die("journal_mode=WAL refused", NULL);
    printf("wal ok\n");
    return 0;
}

static int w1(const char *path, long calls, long rounds)
{
    sqlite3 *db = open_db(path);
    sqlite3_stmt *st = prepare(db, SELECT_SQL);
    long rows = count_rows(db);
    int64_t *lat = malloc(sizeof *lat * (size_t)calls);
    uint64_t seed = 0x9E3779B97F4A7C15ULL, sum = 0;

    if (lat == NULL) die("out of memory", NULL);
    for (long i = 0; i < 1000; i++)          /* warm up */
        sum += point_select(db, st, 1 + (long)(next_rand(&seed) % (uint64_t)rows));
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < calls; i++) {
            long id = 1 + (long)(next_rand(&seed) % (uint64_t)rows);
            int64_t t0 = now_ns();

            sum += point_select(db, st, id);
            lat[i] = now_ns() - t0;
        }
        qsort(lat, (size_t)calls, sizeof *lat, cmp_i64);
        printf("w1 %lld %lld\n", (long long)lat[calls / 2],
               (long long)lat[(calls * 99) / 100]);
        fflush(stdout);
    }
    printf("sum %llu\n", (unsigned long long)sum);
    free(lat);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}

static void remove_db(const char *path)
{
    char journal[4096];

    (void)unlink(path);
    snprintf(journal, sizeof journal, "%s-journal", path);
    (void)unlink(journal);
}

static int w2(const char *path, long rows, long rounds)
{
    for (long r = 0; r < rounds; r++) {
        sqlite3 *db;
        int64_t t0, t1;

        remove_db(path);
        db = open_db(path);
        exec(db, CREATE_SQL);
        t0 = now_ns();
        exec(db, "BEGIN");
        insert_rows(db, rows);
        exec(db, "COMMIT");
        t1 = now_ns();
        sqlite3_close(db);
        printf("w2 %.0f\n", (double)rows * 1e9 / (double)(t1 - t0));
        fflush(stdout);
    }
    remove_db(path);
    return 0;
}

static int w3(const char *path, long rounds)
{
    sqlite3 *db = open_db(path);
    uint64_t sum = 0;
    struct rusage ru;

    for (long r = 0; r < rounds; r++) {
        sqlite3_stmt *st = prepare(db, "SELECT id, name, v FROM t");
        long n = 0;
        int64_t t0 = now_ns(), t1;
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            char buf[64];
            int len = sqlite3_column_bytes(st, 1);

            if (len > (int)sizeof buf) len = (int)sizeof buf;
            sum += (uint64_t)sqlite3_column_int64(st, 0);
            memcpy(buf, sqlite3_column_text(st, 1), (size_t)len);
            sum += (uint64_t)buf[0] + (uint64_t)sqlite3_column_double(st, 2);
            n++;
        }
        if (rc != SQLITE_DONE) die("read", db);
        t1 = now_ns();
        sqlite3_finalize(st);
        printf("w3 %.0f %ld\n", (double)n * 1e9 / (double)(t1 - t0), n);
        fflush(stdout);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("rss %ld\n", ru.ru_maxrss);
    printf("sum %llu\n", (unsigned long long)sum);
    sqlite3_close(db);
    return 0;
}

struct w4_arg {
    const char *path;
    long calls;
    uint64_t seed;
    pthread_barrier_t *start;
    uint64_t sum;
};

static void *w4_thread(void *p)
{
    struct w4_arg *a = p;
    sqlite3 *db = open_db(a->path);
    sqlite3_stmt *st = prepare(db, SELECT_SQL);
    long rows = count_rows(db);

    for (long i = 0; i < 1000; i++)
        a->sum += point_select(db, st, 1 + (long)(next_rand(&a->seed) % (uint64_t)rows));
    pthread_barrier_wait(a->start);     /* both connections open and warm */
    pthread_barrier_wait(a->start);     /* the clock runs */
    for (long i = 0; i < a->calls; i++)
        a->sum += point_select(db, st, 1 + (long)(next_rand(&a->seed) % (uint64_t)rows));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

static int w4(const char *path, long calls, long rounds)
{
    for (long r = 0; r < rounds; r++) {
        pthread_barrier_t start;
        pthread_t th[2];
        struct w4_arg args[2];
        int64_t t0, t1;

        pthread_barrier_init(&start, NULL, 3);
        for (int i = 0; i < 2; i++) {
            args[i] = (struct w4_arg){path, calls, 0x9E3779B97F4A7C15ULL + (uint64_t)i * 7919,
                                      &start, 0};
            if (pthread_create(&th[i], NULL, w4_thread, &args[i]) != 0)
                die("pthread_create", NULL);
        }
        pthread_barrier_wait(&start);
        t0 = now_ns();
        pthread_barrier_wait(&start);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        t1 = now_ns();
        pthread_barrier_destroy(&start);
        printf("w4 %.0f\n", (double)(2 * calls) * 1e9 / (double)(t1 - t0));
        printf("sum %llu\n", (unsigned long long)(args[0].sum + args[1].sum));
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "setup") == 0)
        return setup(argv[2], arg_long(argv[3]));
    if (argc == 3 && strcmp(argv[1], "wal") == 0)
        return wal(argv[2]);
    if (argc == 5 && strcmp(argv[1], "w1") == 0)
        return w1(argv[2], arg_long(argv[3]), arg_long(argv[4]));
    if (argc == 5 && strcmp(argv[1], "w2") == 0)
        return w2(argv[2], arg_long(argv[3]), arg_long(argv[4]));
    if (argc == 4 && strcmp(argv[1], "w3") == 0)
        return w3(argv[2], arg_long(argv[3]));
    if (argc == 5 && strcmp(argv[1], "w4") == 0)
        return w4(argv[2], arg_long(argv[3]), arg_long(argv[4]));
    fprintf(stderr,
            "usage: floor setup PATH ROWS | wal PATH | w1 PATH CALLS ROUNDS | w2 PATH ROWS ROUNDS\n"
            "       | w3 PATH ROUNDS | w4 PATH CALLS ROUNDS\n");
    return 2;
}
