/*
 * fuzz_crypt.c - libFuzzer target: encryption at rest. The page codec
 * (crypt_codec.c) on any page, page number, page size and key, and the VFS
 * shim's recovery of a crashed WAL (crypt_wal.c) and playback of a hot
 * journal (crypt_vfs.c), compared with plain SQLite on the same files in
 * the clear (fuzz_crypt.h says what the input is and what must hold).
 *
 * FUZZ_CRYPT_SEEDS=dir build/fuzz/fuzz_crypt writes the seeds (into
 * test/fuzz_corpus/crypt: the codec's corner cases, and WAL and journal
 * files SQLite leaves after a crash, made here with SQLite) and exits.
 */
#include "fuzz_crypt.h"

#include <stdio.h>

static int g_seeds;

static void seed(const char *dir, const char *name, const unsigned char *p, size_t n)
{
    char path[400];
    fzc_buf b = { (unsigned char *)p, n };

    (void)snprintf(path, sizeof path, "%s/%s", dir, name);
    if (fzc_write(path, &b) != 0) {
        fprintf(stderr, "fuzz_crypt: cannot write %s\n", path);
        exit(1);
    }
    g_seeds++;
}

/* A codec input: mode byte, page number, key, page. */
static void seed_codec(const char *dir, const char *name, unsigned char mode, uint32_t pgno,
                       const char *key, size_t kn, const unsigned char *page, size_t n)
{
    unsigned char b[6 + 63 + 4096];

    b[0] = mode;
    b[1] = (unsigned char)pgno;
    b[2] = (unsigned char)(pgno >> 8);
    b[3] = (unsigned char)(pgno >> 16);
    b[4] = (unsigned char)(pgno >> 24);
    b[5] = (unsigned char)kn;
    memcpy(b + 6, key, kn);
    memcpy(b + 6 + kn, page, n);
    seed(dir, name, b, 6 + kn + n);
}

static void exec_or_die(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "fuzz_crypt seeds: %s: %s\n", sql, msg ? msg : "?");
        exit(1);
    }
}

/* A file input: the database and its WAL or journal as a crash left them. */
static void seed_files(const char *dir, const char *name, int wal, unsigned char flags,
                       const char *tmp, const char *db_name)
{
    char db_path[300], side_path[320];
    fzc_buf db, side;
    unsigned char *b;
    size_t n;

    (void)snprintf(db_path, sizeof db_path, "%s/%s", tmp, db_name);
    (void)snprintf(side_path, sizeof side_path, "%s%s", db_path, wal ? "-wal" : "-journal");
    if (fzc_read(db_path, &db) != 0 || fzc_read(side_path, &side) != 0 || db.n > 65535) {
        fprintf(stderr, "fuzz_crypt seeds: no %s or %s\n", db_path, side_path);
        exit(1);
    }
    n = 4 + db.n + side.n;
    if ((b = malloc(n)) == NULL) abort();
    b[0] = wal ? 0x80 : 0xc0;
    b[1] = flags;
    b[2] = (unsigned char)db.n;
    b[3] = (unsigned char)(db.n >> 8);
    memcpy(b + 4, db.p, db.n);
    memcpy(b + 4 + db.n, side.p, side.n);
    seed(dir, name, b, n);
    free(b);
    free(db.p);
    free(side.p);
}

static void make_seeds(const char *dir)
{
    char tmp[] = "/tmp/fuzz_crypt_seeds.XXXXXX", path[300];
    unsigned char page[4096];
    lsq_crypt_key k;
    sqlite3 *db;
    int i, ps_sel;

    /* The codec. */
    for (i = 0; i < 4096; i++) page[i] = (unsigned char)(i * 7 + 3);
    seed_codec(dir, "codec_page1_4096", 0x08 | 0x10 | 3, 1, "secret-key-123", 14, page, 4096);
    seed_codec(dir, "codec_page1_512_raw", 0x10 | 0, 1, "k", 1, page, 512);
    seed_codec(dir, "codec_page2_512", 0, 2, "k", 1, page, 512);
    seed_codec(dir, "codec_page_2pow31m1_1024", 1, 2147483647u, "0123456789abcdef0123456789abcdef-extra", 38,
               page, 1024);
    seed_codec(dir, "codec_page_2pow32m2_65536", 7, 4294967294u, "key", 3, page, 64);
    seed_codec(dir, "codec_page0", 2, 0, "key", 3, page, 2048);
    seed_codec(dir, "codec_bad_sizes", 0x20 | 1, 5, "key", 3, page, 1024);
    seed_codec(dir, "codec_empty_key", 0x08 | 0x10 | 1, 1, "", 0, page, 1024);
    /* An encrypted page 1 (what the shim reads from disk). */
    if (lsq_crypt_derive("secret-key-123", 14, &k) != LSQ_CRYPT_OK) exit(1);
    fzc_page1(page, 4096);
    if (lsq_crypt_encrypt_page(&k, 1, page, page, 4096) != LSQ_CRYPT_OK) exit(1);
    seed_codec(dir, "codec_page1_encrypted_4096", 0x10 | 3, 1, "secret-key-123", 14, page, 4096);

    /* Crashed WALs and hot journals, made by SQLite (page size 512 or 1024). */
    if (mkdtemp(tmp) == NULL) exit(1);
    for (ps_sel = 0; ps_sel < 2; ps_sel++) {
        char sql[200], name[64];

        (void)snprintf(path, sizeof path, "%s/w%d.db", tmp, ps_sel);
        if (sqlite3_open(path, &db) != SQLITE_OK) exit(1);
        (void)snprintf(sql, sizeof sql, "PRAGMA page_size=%d", 512 << ps_sel);
        exec_or_die(db, sql);
        exec_or_die(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX tv ON t(v);"
                        "INSERT INTO t(v) VALUES ('one'), ('two'), ('three');"
                        "PRAGMA journal_mode=wal; PRAGMA wal_autocheckpoint=0;"
                        "INSERT INTO t(v) SELECT v || ' again' FROM t;"
                        "UPDATE t SET v = upper(v) WHERE id % 2 = 0;"
                        "CREATE TABLE u(x BLOB); INSERT INTO u VALUES (zeroblob(600));"
                        "DELETE FROM t WHERE id = 2;");
        (void)snprintf(name, sizeof name, "wal_%d_fix_write", 512 << ps_sel);
        seed_files(dir, name, 1, (unsigned char)(0x03 | ps_sel << 4), tmp, path + strlen(tmp) + 1);
        if (ps_sel == 0) {
            seed_files(dir, "wal_512_as_is", 1, 0x00, tmp, path + strlen(tmp) + 1);
            seed_files(dir, "wal_512_big_endian", 1, 0x07, tmp, path + strlen(tmp) + 1);
        }
        (void)sqlite3_close(db);

        (void)snprintf(path, sizeof path, "%s/j%d.db", tmp, ps_sel);
        if (sqlite3_open(path, &db) != SQLITE_OK) exit(1);
        (void)snprintf(sql, sizeof sql, "PRAGMA page_size=%d", 512 << ps_sel);
        exec_or_die(db, sql);
        exec_or_die(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 80) "
                        "INSERT INTO t(v) SELECT printf('row %d of the journal seed', x) FROM c;"
                        "PRAGMA cache_size=2; BEGIN; UPDATE t SET v = upper(v);"
                        "DELETE FROM t WHERE id > 25;");
        (void)snprintf(name, sizeof name, "journal_%d_fix_write", 512 << ps_sel);
        seed_files(dir, name, 0, (unsigned char)(0x03 | ps_sel << 4), tmp, path + strlen(tmp) + 1);
        if (ps_sel == 0) seed_files(dir, "journal_512_as_is", 0, 0x00, tmp, path + strlen(tmp) + 1);
        exec_or_die(db, "ROLLBACK");
        (void)sqlite3_close(db);
    }
    fzc_clear_dir(tmp);
    (void)rmdir(tmp);
    printf("fuzz_crypt: %d seeds in %s\n", g_seeds, dir);
}

/* At exit: the counts, and the scratch directory goes. */
static void at_exit(void)
{
    unsigned long files, compared, bytes;

    fuzz_crypt_counts(&files, &compared, &bytes);
    fprintf(stderr, "fuzz_crypt: %lu file inputs, %lu compared with plain SQLite, %lu files "
                    "compared byte for byte\n", files, compared, bytes);
    fuzz_crypt_fini();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("FUZZ_CRYPT_SEEDS");

    (void)argc;
    (void)argv;
    if (dir != NULL && dir[0] != 0) {
        make_seeds(dir);
        exit(0);
    }
    if (fzc_init() != 0) {
        fprintf(stderr, "fuzz_crypt: harness setup failed\n");
        abort();
    }
    (void)atexit(at_exit);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bad = fuzz_crypt_run(data, size);

    if (bad != NULL) {
        fprintf(stderr, "FINDING: %s\n", bad);
        abort();
    }
    return 0;
}
