/*
 * test_crypt.c - encryption at rest: the aes256cbc page codec
 * (crypt_codec.c) and the VFS shim (crypt_vfs.c, crypt_wal.c,
 * crypt_memfile.c), against ../shared/encryption.md sections 2 and 4.
 *
 *   - the codec: the known-answer vectors of section 2, the 32-byte key
 *     rule, the IV against the definition of 2.3 (computed here in 64-bit
 *     arithmetic, every intermediate checked to fit in 32 bits), the page
 *     layout of 2.4 recomputed with gnutls, round trips for every page
 *     size at page numbers up to 2^32-2, the wrong-key and header checks;
 *   - the peer's files (libsql 0.5.29, test/fixtures/crypt, or
 *     $LSQ_CRYPT_SAMPLES): decrypted page by page and encrypted back byte
 *     for byte; a crashed libSQL WAL whose frames chain over the
 *     ciphertext, recovered through the shim;
 *   - the shim on real SQLite files: no plaintext on disk (file, journal,
 *     WAL), reopen, wrong key, plain files, WAL crash copies (commits, a
 *     cache spill inside a transaction, a rollback after one), savepoints
 *     and a hot journal in rollback mode, temporary files kept in memory,
 *     the page size fixed once written (VACUUM, VACUUM INTO), and a VFS
 *     released under a zombie connection.
 *
 * Run from the repository root (the samples' default path is relative).
 */
#include "test_util.h"
#include "crypt_codec.h"
#include "crypt_vfs.h"

#include <dirent.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char k_pass[] = "secret-key-123";
static const char k_magic[16] = "SQLite format 3";
static const char k_marker[] = "lsq-crypt-marker";

/* ---- small helpers ------------------------------------------------------- */

static int hex_is(const unsigned char *p, size_t n, const char *hex)
{
    char got[2 * 64 + 1];
    size_t i;

    if (n > 64 || strlen(hex) != 2 * n) return 0;
    for (i = 0; i < n; i++) (void)snprintf(got + 2 * i, 3, "%02x", p[i]);
    if (strcmp(got, hex) == 0) return 1;
    fprintf(stderr, "    got  %s\n    want %s\n", got, hex);
    return 0;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void fill_random(unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) p[i] = (unsigned char)(rnd() >> 24);
}

/* A page 1 as SQLite writes one: the magic, then the clear header bytes
 * 16..23 for ps (1 means 65536), the rest whatever p held. */
static void make_page1(unsigned char *p, size_t ps)
{
    memcpy(p, k_magic, 16);
    p[16] = (unsigned char)(ps >> 8);
    p[17] = (unsigned char)(ps >> 16);
    p[18] = 1;
    p[19] = 1;
    p[20] = 0;
    p[21] = 0x40;
    p[22] = 0x20;
    p[23] = 0x20;
}

static uint32_t get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int write_all(const char *path, const unsigned char *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    int ok;

    if (fp == NULL) return -1;
    ok = fwrite(p, 1, n, fp) == n;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* 0, or -1 when from cannot be read or to cannot be written. */
static int copy_file(const char *from, const char *to)
{
    unsigned char *p;
    size_t n;
    int rc;

    if (test_read_file(from, &p, &n) != 0) return -1;
    rc = write_all(to, p, n);
    free(p);
    return rc;
}

static long long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Whether the file holds needle anywhere (a missing file holds nothing). */
static int file_contains(const char *path, const char *needle)
{
    unsigned char *p;
    size_t n;
    int found;

    if (test_read_file(path, &p, &n) != 0) return 0;
    found = contains((const char *)p, n, needle);
    free(p);
    return found;
}

/* Entries of a directory other than . and ..; -1 if it cannot be read. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    (void)closedir(d);
    return n;
}

/* Removes a directory and the files in it (one level). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d == NULL) return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        (void)snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        (void)unlink(path);
    }
    (void)closedir(d);
    CHECK(rmdir(dir) == 0);
}

/* How many of this process's open descriptors name a file in dir (a
 * deleted temporary file still shows its path, with " (deleted)"). */
static int fds_under(const char *dir)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char link[300], target[PATH_MAX];
    size_t k = strlen(dir);
    ssize_t m;
    int n = 0;

    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        (void)snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        if ((m = readlink(link, target, sizeof target - 1)) <= 0) continue;
        target[m] = 0;
        if (strncmp(target, dir, k) == 0 && target[k] == '/') n++;
    }
    (void)closedir(d);
    return n;
}

/* ---- SQLite helpers ------------------------------------------------------ */

static void exec_at(const char *file, int line, sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

    CHECK_AT(file, line, rc == SQLITE_OK);
    if (rc != SQLITE_OK) fprintf(stderr, "    %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
}
#define EXEC_OK(db, sql) exec_at(__FILE__, __LINE__, (db), (sql))

/* Whether the first column of the first row is the text want. */
static int text_is(sqlite3 *db, const char *sql, const char *want)
{
    sqlite3_stmt *st = NULL;
    int ok = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);

        ok = t != NULL && strcmp((const char *)t, want) == 0;
        if (!ok) fprintf(stderr, "    %s: got '%s', want '%s'\n", sql, t ? (const char *)t : "NULL",
                         want);
    } else {
        fprintf(stderr, "    %s: %s\n", sql, sqlite3_errmsg(db));
    }
    (void)sqlite3_finalize(st);
    return ok;
}

/* The result code of preparing and stepping sql once (SQLITE_ROW and
 * SQLITE_DONE count as SQLITE_OK). */
static int first_statement_rc(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
        else rc = sqlite3_errcode(db);
    }
    (void)sqlite3_finalize(st);
    return rc;
}

static sqlite3 *open_through(const char *path, const lsq_crypt_vfs *v)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                             v != NULL ? lsq_crypt_vfs_name(v) : NULL);

    CHECK(rc == SQLITE_OK);
    if (rc != SQLITE_OK) fprintf(stderr, "    open %s: %s\n", path, sqlite3_errmsg(db));
    return db;
}

static int crypt_status(sqlite3 *db)
{
    int status = -1;

    if (sqlite3_file_control(db, "main", LSQ_FCNTL_CRYPT_STATUS, &status) != SQLITE_OK) return -1;
    return status;
}

/* 3000 rows, each with the marker text, in one transaction. */
static void fill_table(sqlite3 *db)
{
    EXEC_OK(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    EXEC_OK(db, "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) "
                "INSERT INTO t(v) SELECT printf('lsq-crypt-marker %06d %.80c', x, 'p') FROM c; COMMIT");
}

/* A temporary directory and names in it. */
typedef struct scratch { char dir[64]; char path[256]; } scratch;

static int scratch_make(scratch *s)
{
    strcpy(s->dir, "/tmp/lsq_test_crypt.XXXXXX");
    return mkdtemp(s->dir) != NULL ? 0 : -1;
}

static const char *at(scratch *s, const char *name)
{
    (void)snprintf(s->path, sizeof s->path, "%s/%s", s->dir, name);
    return s->path;
}

/* Copies name (and its -wal or -journal, when suffix is given) to a new
 * name, as a crash would leave them: no -shm. */
static void crash_copy(scratch *s, const char *from, const char *to, const char *suffix)
{
    char a[300], b[300];

    (void)snprintf(a, sizeof a, "%s/%s", s->dir, from);
    (void)snprintf(b, sizeof b, "%s/%s", s->dir, to);
    CHECK(copy_file(a, b) == 0);
    if (suffix == NULL) return;
    (void)snprintf(a, sizeof a, "%s/%s%s", s->dir, from, suffix);
    (void)snprintf(b, sizeof b, "%s/%s%s", s->dir, to, suffix);
    CHECK(copy_file(a, b) == 0);
}

/* ---- an independent WAL checker (encryption.md 2.7) ------------------------ */

static void wal_cksum(int big, const unsigned char *d, size_t n, uint32_t s[2])
{
    size_t i;

    for (i = 0; i < n; i += 8) {
        uint32_t a = big ? get_be32(d + i)
                         : (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 | (uint32_t)d[i + 2] << 16 |
                               (uint32_t)d[i + 3] << 24;
        uint32_t b = big ? get_be32(d + i + 4)
                         : (uint32_t)d[i + 4] | (uint32_t)d[i + 5] << 8 | (uint32_t)d[i + 6] << 16 |
                               (uint32_t)d[i + 7] << 24;

        s[0] += a + s[1];
        s[1] += b + s[0];
    }
}

/* How many frames of a WAL image, from the first, chain over the bytes
 * as they are on disk (the ciphertext) with the header's salt; *total:
 * how many whole frames there are. With key, each valid frame's page must
 * also decrypt (page 1 with the key's check): *bad counts those that do
 * not. -1 if the header is not a WAL header. */
static long wal_valid_frames(const unsigned char *w, size_t n, const lsq_crypt_key *key,
                             long *total, long *bad)
{
    uint32_t magic, ps, s[2];
    size_t off, fs;
    long valid = 0, i = 0;
    int big, chain = 1;
    unsigned char *page;

    *total = *bad = 0;
    if (n < 32) return -1;
    magic = get_be32(w);
    ps = get_be32(w + 8);
    if ((magic & ~1u) != 0x377f0682u || ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0) return -1;
    big = (int)(magic & 1u);
    s[0] = s[1] = 0;
    wal_cksum(big, w, 24, s);
    if (s[0] != get_be32(w + 24) || s[1] != get_be32(w + 28)) return -1;
    fs = (size_t)ps + 24;
    page = malloc(ps);
    if (page == NULL) abort();
    for (off = 32; off + fs <= n; off += fs, i++) {
        const unsigned char *h = w + off;

        (*total)++;
        if (!chain) continue;
        wal_cksum(big, h, 8, s);
        wal_cksum(big, h + 24, ps, s);
        if (memcmp(h + 8, w + 16, 8) != 0 || s[0] != get_be32(h + 16) || s[1] != get_be32(h + 20)) {
            chain = 0;
            continue;
        }
        valid++;
        if (key != NULL && lsq_crypt_decrypt_page(key, get_be32(h), h + 24, page, ps) != LSQ_CRYPT_OK)
            (*bad)++;
    }
    free(page);
    return valid;
}

/* At least min_frames frames of the WAL at path, from the first, valid
 * over their ciphertext, each decrypting with key; with all, every whole
 * frame in the file (a WAL with no frames left over from a rollback). */
static void check_wal_file_at(const char *file, int line, const char *path,
                              const lsq_crypt_key *key, long min_frames, int all)
{
    unsigned char *w;
    size_t n;
    long total = 0, bad = 0, valid;

    CHECK_AT(file, line, test_read_file(path, &w, &n) == 0);
    if (w == NULL) return;
    valid = wal_valid_frames(w, n, key, &total, &bad);
    CHECK_AT(file, line, valid >= min_frames);
    CHECK_AT(file, line, !all || valid == total);
    CHECK_AT(file, line, bad == 0);
    if ((all && valid != total) || valid < min_frames || bad != 0)
        fprintf(stderr, "    %s: %ld of %ld frames chain over the ciphertext, %ld do not decrypt\n",
                path, valid, total, bad);
    free(w);
}
#define CHECK_WAL_FILE(path, key, min, all) \
    check_wal_file_at(__FILE__, __LINE__, (path), (key), (min), (all))

/* ---- the codec ------------------------------------------------------------ */

/* The known-answer vectors of encryption.md section 2. */
static void test_crypt_known_answers(void)
{
    lsq_crypt_key k;
    unsigned char pk[32], iv[16], *page = calloc(1, 4096);

    if (page == NULL) abort();
    CHECK(lsq_crypt_derive(k_pass, strlen(k_pass), &k) == LSQ_CRYPT_OK);
    CHECK(hex_is(k.k, 32, "be7df79bc9b36e1f84e1f31ca11018168c32c62be446c51ac5513ef01663ab3d"));
    CHECK(lsq_crypt_page_key(&k, 1, pk) == LSQ_CRYPT_OK);
    CHECK(hex_is(pk, 32, "211cbafce51d1647a8eda00cf971d5f60446e9f66a1800f452ca3d54574113f7"));
    CHECK(lsq_crypt_page_iv(1, iv) == LSQ_CRYPT_OK);
    CHECK(hex_is(iv, 16, "20d7420f9c37a35dca6fe92a1c6999a9"));
    CHECK(lsq_crypt_page_iv(2, iv) == LSQ_CRYPT_OK);
    CHECK(hex_is(iv, 16, "b2547aac5270eef583e1d267a725d988"));
    /* Bytes 0..7 of any page 1 depend on the key alone. */
    make_page1(page, 4096);
    fill_random(page + 24, 4096 - 24);
    CHECK(lsq_crypt_encrypt_page(&k, 1, page, page, 4096) == LSQ_CRYPT_OK);
    CHECK(hex_is(page, 8, "d1d112c721de3fd3"));
    CHECK(hex_is(page + 16, 8, "1000010100402020")); /* the clear header bytes */
    free(page);
}

/* Only the first 32 passphrase bytes count; an empty key is refused. */
static void test_crypt_key_bytes(void)
{
    unsigned char a[40], b[40];
    lsq_crypt_key ka, kb, k32;

    memset(a, 'a', sizeof a);
    memcpy(b, a, sizeof b);
    memset(b + 32, 'z', 8); /* same first 32 bytes */
    CHECK(lsq_crypt_derive(a, sizeof a, &ka) == LSQ_CRYPT_OK);
    CHECK(lsq_crypt_derive(b, sizeof b, &kb) == LSQ_CRYPT_OK);
    CHECK(lsq_crypt_derive(a, 32, &k32) == LSQ_CRYPT_OK);
    CHECK(memcmp(ka.k, kb.k, 32) == 0);
    CHECK(memcmp(ka.k, k32.k, 32) == 0);
    b[31] ^= 1; /* the 32nd byte does count */
    CHECK(lsq_crypt_derive(b, sizeof b, &kb) == LSQ_CRYPT_OK);
    CHECK(memcmp(ka.k, kb.k, 32) != 0);
    CHECK(lsq_crypt_derive(a, 31, &kb) == LSQ_CRYPT_OK); /* a shorter key is padded, not equal */
    CHECK(memcmp(ka.k, kb.k, 32) != 0);
    /* Empty or missing: refused, by the KDF and by the VFS. */
    CHECK(lsq_crypt_derive(a, 0, &kb) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_derive(NULL, 5, &kb) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_derive(a, 5, NULL) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_vfs_create(a, 0) == NULL);
    CHECK(lsq_crypt_vfs_create(NULL, 3) == NULL);
    /* Two VFSs for two 40-byte keys sharing 32 bytes open each other's
     * files (below, a file written through one is read through the other). */
    {
        scratch s;
        lsq_crypt_vfs *va, *vb;
        sqlite3 *db;

        CHECK(scratch_make(&s) == 0);
        va = lsq_crypt_vfs_create(a, sizeof a);
        b[31] ^= 1;
        vb = lsq_crypt_vfs_create(b, sizeof b);
        CHECK(va != NULL && vb != NULL);
        if (va != NULL && vb != NULL) {
            CHECK(strcmp(lsq_crypt_vfs_name(va), lsq_crypt_vfs_name(vb)) != 0);
            db = open_through(at(&s, "k.db"), va);
            EXEC_OK(db, "CREATE TABLE t(x); INSERT INTO t VALUES (42)");
            (void)sqlite3_close(db);
            db = open_through(at(&s, "k.db"), vb);
            CHECK(test_sql_int(db, "SELECT x FROM t") == 42);
            (void)sqlite3_close(db);
        }
        lsq_crypt_vfs_release(va);
        lsq_crypt_vfs_release(vb);
        remove_tree(s.dir);
    }
}

/* IV(pgno) as encryption.md 2.3 defines it, in 64-bit arithmetic: z
 * starts as pgno + 1 taken as a signed 32-bit value (sqlite3mc passes the
 * page number as an int: 2^31 - 1 + 1 wraps to -2^31, 2^32 - 2 + 1 is -1),
 * and every intermediate must fit in 32 bits (*overflow set if not). */
static void iv_definition(uint32_t pgno, unsigned char out[16], int *overflow)
{
    unsigned char seed[16];
    int64_t z = (int64_t)pgno + 1, q, t;
    int j, k;

    if (z > INT32_MAX) z -= (int64_t)1 << 32;
    for (j = 0; j < 4; j++) {
        q = z / 52774; /* C division truncates towards zero, as int division does */
        t = z - 52774 * q;
        if (52774 * q < INT32_MIN || 52774 * q > INT32_MAX || t < INT32_MIN || t > INT32_MAX)
            *overflow = 1;
        if (40692 * t < INT32_MIN || 40692 * t > INT32_MAX || 3791 * q < INT32_MIN ||
            3791 * q > INT32_MAX)
            *overflow = 1;
        z = 40692 * t - 3791 * q;
        if (z < INT32_MIN || z > INT32_MAX) *overflow = 1;
        if (z < 0) z += 2147483399;
        if (z < INT32_MIN || z > INT32_MAX) *overflow = 1;
        for (k = 0; k < 4; k++) seed[4 * j + k] = (unsigned char)((uint64_t)z >> (8 * k));
    }
    if (gnutls_hash_fast(GNUTLS_DIG_MD5, seed, sizeof seed, out) != 0) abort();
}

static void check_iv(uint32_t pgno)
{
    unsigned char want[16], got[16];
    int overflow = 0;

    iv_definition(pgno, want, &overflow);
    CHECK(!overflow);
    CHECK(lsq_crypt_page_iv(pgno, got) == LSQ_CRYPT_OK);
    CHECK(memcmp(want, got, 16) == 0);
    if (overflow || memcmp(want, got, 16) != 0) fprintf(stderr, "    pgno %lu\n", (unsigned long)pgno);
}

/* The IV matches the definition at the edges of its arithmetic (the
 * Park-Miller modulus, 2^31, SQLite's largest page number 2^32 - 2) and
 * at random page numbers. */
static void test_crypt_iv_definition(void)
{
    static const uint32_t edges[] = {
        1, 2, 3, 1000, 52772, 52773, 52774, 52775, 105548, 2147483398u, 2147483399u,
        2147483646u, 2147483647u, 2147483648u, 2147483649u, 4294915000u, 4294967294u,
        4294967295u /* not a page number SQLite uses; still no overflow */
    };
    size_t i;

    for (i = 0; i < sizeof edges / sizeof edges[0]; i++) check_iv(edges[i]);
    for (i = 0; i < 20000; i++) check_iv((uint32_t)rnd());
}

/* AES-256-CBC of n bytes with gnutls directly (the test's own reference). */
static void ref_cbc(const unsigned char key[32], const unsigned char iv[16], unsigned char *buf,
                    size_t n)
{
    gnutls_cipher_hd_t h;
    gnutls_datum_t k = { (unsigned char *)key, 32 }, v = { (unsigned char *)iv, 16 };

    if (gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_256_CBC, &k, &v) != 0) abort();
    if (gnutls_cipher_encrypt(h, buf, n) != 0) abort();
    gnutls_cipher_deinit(h);
}

/* What encryption.md 2.4 says the page is on disk, built here from
 * the page key, the IV and gnutls. */
static void ref_encrypt(const lsq_crypt_key *key, uint32_t pgno, const unsigned char *in,
                        unsigned char *out, size_t ps)
{
    unsigned char pk[32], iv[16], e1[16];

    if (lsq_crypt_page_key(key, pgno, pk) != LSQ_CRYPT_OK) abort();
    if (lsq_crypt_page_iv(pgno, iv) != LSQ_CRYPT_OK) abort();
    memcpy(out, in, ps);
    if (pgno != 1) {
        ref_cbc(pk, iv, out, ps);
        return;
    }
    memcpy(e1, in, 16);
    ref_cbc(pk, iv, e1, 16);
    ref_cbc(pk, iv, out + 16, ps - 16); /* E2, again from IV(1) */
    memcpy(out, e1, 8);
    memcpy(out + 8, out + 16, 8);
    memcpy(out + 16, in + 16, 8);
}

/* Every page size, page numbers up to 2^32 - 2: decrypt(encrypt(x)) = x,
 * in place or not, and the bytes are the ones 2.4 defines. */
static void test_crypt_round_trip(void)
{
    static const uint32_t pgnos[] = { 1, 2, 3, 1000, 2147483647u, 4294967294u };
    lsq_crypt_key k;
    size_t ps, i;

    CHECK(lsq_crypt_derive(k_pass, strlen(k_pass), &k) == LSQ_CRYPT_OK);
    for (ps = 512; ps <= 65536; ps *= 2) {
        unsigned char *plain = malloc(ps), *enc = malloc(ps), *ref = malloc(ps), *buf = malloc(ps);

        if (plain == NULL || enc == NULL || ref == NULL || buf == NULL) abort();
        for (i = 0; i < sizeof pgnos / sizeof pgnos[0]; i++) {
            uint32_t pgno = pgnos[i];
            int ok = 1;

            fill_random(plain, ps);
            if (pgno == 1) make_page1(plain, ps);
            ok &= lsq_crypt_encrypt_page(&k, pgno, plain, enc, ps) == LSQ_CRYPT_OK;
            ref_encrypt(&k, pgno, plain, ref, ps);
            ok &= memcmp(enc, ref, ps) == 0;
            ok &= memcmp(enc + 24, plain + 24, ps - 24) != 0;
            ok &= lsq_crypt_decrypt_page(&k, pgno, enc, buf, ps) == LSQ_CRYPT_OK;
            ok &= memcmp(buf, plain, ps) == 0;
            /* In place, both ways. */
            memcpy(buf, plain, ps);
            ok &= lsq_crypt_encrypt_page(&k, pgno, buf, buf, ps) == LSQ_CRYPT_OK;
            ok &= memcmp(buf, enc, ps) == 0;
            ok &= lsq_crypt_decrypt_page(&k, pgno, buf, buf, ps) == LSQ_CRYPT_OK;
            ok &= memcmp(buf, plain, ps) == 0;
            /* Another page number, another ciphertext. */
            ok &= lsq_crypt_encrypt_page(&k, pgno == 1 ? 2 : pgno - 1, plain, buf, ps) == LSQ_CRYPT_OK;
            ok &= memcmp(buf + 24, enc + 24, ps - 24) != 0;
            if (pgno == 1) {
                ok &= memcmp(enc + 16, plain + 16, 8) == 0; /* the clear bytes */
                ok &= lsq_crypt_header_page_size(enc, ps) == ps;
                ok &= lsq_crypt_check_page1(&k, enc, ps) == LSQ_CRYPT_OK;
                ok &= lsq_crypt_check_page1(&k, enc, 32) == LSQ_CRYPT_OK;
                ok &= !lsq_crypt_is_plain(enc, ps);
            }
            CHECK(ok);
            if (!ok) fprintf(stderr, "    page size %zu, page %lu\n", ps, (unsigned long)pgno);
        }
        free(plain);
        free(enc);
        free(ref);
        free(buf);
    }
}

/* A wrong key shows on page 1 (and only there); the header checks. */
static void test_crypt_wrong_key(void)
{
    lsq_crypt_key k, other;
    unsigned char page[1024], disk[1024], out[1024], plain[1024];

    CHECK(lsq_crypt_derive(k_pass, strlen(k_pass), &k) == LSQ_CRYPT_OK);
    CHECK(lsq_crypt_derive("secret-key-124", 14, &other) == LSQ_CRYPT_OK);
    fill_random(page, sizeof page);
    make_page1(page, sizeof page);
    memcpy(plain, page, sizeof plain);
    CHECK(lsq_crypt_encrypt_page(&k, 1, page, disk, sizeof disk) == LSQ_CRYPT_OK);
    CHECK(lsq_crypt_check_page1(&k, disk, sizeof disk) == LSQ_CRYPT_OK);
    CHECK(lsq_crypt_check_page1(&other, disk, sizeof disk) == LSQ_CRYPT_BAD_KEY);
    CHECK(lsq_crypt_decrypt_page(&other, 1, disk, out, sizeof out) == LSQ_CRYPT_BAD_KEY);
    CHECK(memcmp(out, k_magic, 16) != 0);
    CHECK(lsq_crypt_decrypt_page(&k, 1, disk, out, sizeof out) == LSQ_CRYPT_OK);
    CHECK(memcmp(out, plain, sizeof out) == 0);
    /* Other pages have no check: a wrong key gives garbage, not an error. */
    CHECK(lsq_crypt_encrypt_page(&k, 2, plain, disk, sizeof disk) == LSQ_CRYPT_OK);
    CHECK(lsq_crypt_decrypt_page(&other, 2, disk, out, sizeof out) == LSQ_CRYPT_OK);
    CHECK(memcmp(out, plain, sizeof out) != 0);
    /* A plain page 1: plain, plausible, and no key opens it. */
    CHECK(lsq_crypt_is_plain(plain, sizeof plain));
    CHECK(lsq_crypt_header_plausible(plain, sizeof plain));
    CHECK(lsq_crypt_check_page1(&k, plain, sizeof plain) == LSQ_CRYPT_BAD_KEY);
    CHECK(lsq_crypt_decrypt_page(&k, 1, plain, out, sizeof out) == LSQ_CRYPT_BAD_KEY);
    /* An encrypted page 1: plausible (the clear bytes), not plain. */
    CHECK(lsq_crypt_encrypt_page(&k, 1, plain, disk, sizeof disk) == LSQ_CRYPT_OK);
    CHECK(!lsq_crypt_is_plain(disk, sizeof disk));
    CHECK(lsq_crypt_header_plausible(disk, sizeof disk));
    CHECK(lsq_crypt_header_page_size(disk, sizeof disk) == 1024);
    /* Too short to tell. */
    CHECK(!lsq_crypt_is_plain(plain, 15));
    CHECK(!lsq_crypt_header_plausible(disk, 23));
    CHECK(lsq_crypt_header_page_size(disk, 23) == 0);
    CHECK(lsq_crypt_check_page1(&k, disk, 31) == LSQ_CRYPT_BAD_KEY);
    CHECK(!lsq_crypt_is_plain(NULL, 100) && !lsq_crypt_header_plausible(NULL, 100));
    /* Page sizes: 65536 is written as 1; others must be powers of two in
     * 512..65536; bytes 21..23 must be 40 20 20. */
    memcpy(out, disk, 32);
    out[16] = 0x00, out[17] = 0x01;
    CHECK(lsq_crypt_header_page_size(out, 32) == 65536);
    out[16] = 0x02, out[17] = 0x00;
    CHECK(lsq_crypt_header_page_size(out, 32) == 512);
    out[16] = 0x01, out[17] = 0x00; /* 256 */
    CHECK(!lsq_crypt_header_plausible(out, 32));
    out[16] = 0x03, out[17] = 0x00; /* 768 */
    CHECK(!lsq_crypt_header_plausible(out, 32));
    out[16] = 0x00, out[17] = 0x00;
    CHECK(!lsq_crypt_header_plausible(out, 32));
    out[16] = 0x10, out[17] = 0x00;
    out[21] = 0x41;
    CHECK(!lsq_crypt_header_plausible(out, 32));
    out[21] = 0x40, out[23] = 0x21;
    CHECK(!lsq_crypt_header_plausible(out, 32));
    /* A page 1 without plausible clear bytes is taken as legacy (encrypted
     * whole): the key opens it only if it decrypts to the magic. */
    fill_random(disk, sizeof disk);
    disk[21] = 0;
    CHECK(lsq_crypt_check_page1(&k, disk, sizeof disk) == LSQ_CRYPT_BAD_KEY);
    CHECK(lsq_crypt_decrypt_page(&k, 1, disk, out, sizeof out) == LSQ_CRYPT_BAD_KEY);
}

/* What the codec refuses (and leaves untouched). */
static void test_crypt_bad_arguments(void)
{
    lsq_crypt_key k;
    unsigned char in[2048], out[2048], before[2048];

    CHECK(lsq_crypt_derive(k_pass, strlen(k_pass), &k) == LSQ_CRYPT_OK);
    fill_random(in, sizeof in);
    memcpy(out, in, sizeof out);
    memcpy(before, in, sizeof before);
    CHECK(lsq_crypt_encrypt_page(&k, 0, in, out, 1024) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_decrypt_page(&k, 0, in, out, 1024) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_encrypt_page(&k, 2, in, out, 1000) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_encrypt_page(&k, 2, in, out, 256) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_encrypt_page(&k, 2, in, out, 1536) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_decrypt_page(&k, 2, in, out, 0) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_decrypt_page(&k, 2, in, out, 131072) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_encrypt_page(NULL, 2, in, out, 1024) == LSQ_CRYPT_ERROR);
    CHECK(lsq_crypt_decrypt_page(NULL, 1, in, out, 1024) == LSQ_CRYPT_ERROR);
    CHECK(memcmp(out, before, sizeof out) == 0 && memcmp(in, before, sizeof in) == 0);
}

/* ---- the peer's files ------------------------------------------------------- */

/* dir/name of the peer's samples; NULL (and a failure saying where they
 * were looked for) when the file is not there. */
static const char *sample_path(char *out, size_t n, const char *name)
{
    const char *dir = getenv("LSQ_CRYPT_SAMPLES");

    if (dir == NULL || dir[0] == 0) dir = "test/fixtures/crypt";
    (void)snprintf(out, n, "%s/%s", dir, name);
    if (access(out, R_OK) == 0) return out;
    CHECK(!"a sample of the peer (npm libsql) is missing: run from the repository root, "
           "with test/fixtures/crypt in it, or set LSQ_CRYPT_SAMPLES");
    fprintf(stderr, "    %s: %s\n", out, strerror(errno));
    return NULL;
}

/* libsql 0.5.29's file for "secret-key-123": every page decrypts, page 1
 * to a SQLite header; encrypted again, byte for byte the peer's file. */
static void test_crypt_peer_file(void)
{
    char path[512];
    unsigned char *file, *plain, *again;
    size_t n, ps, i, pages;
    lsq_crypt_key k, other;
    scratch s;
    sqlite3 *db;
    lsq_crypt_vfs *v;

    if (sample_path(path, sizeof path, "libsql_aes256cbc_key-secret-key-123.db") == NULL) return;
    CHECK(test_read_file(path, &file, &n) == 0);
    if (file == NULL) return;
    CHECK(lsq_crypt_derive(k_pass, strlen(k_pass), &k) == LSQ_CRYPT_OK);
    CHECK(lsq_crypt_derive("secret-key-12", 13, &other) == LSQ_CRYPT_OK);
    CHECK(hex_is(file, 8, "d1d112c721de3fd3"));
    CHECK(!lsq_crypt_is_plain(file, n));
    ps = lsq_crypt_header_page_size(file, n);
    CHECK(ps == 4096);
    CHECK(ps != 0 && n % ps == 0 && n / ps >= 2);
    if (ps == 0 || n % ps != 0) {
        free(file);
        return;
    }
    pages = n / ps;
    CHECK(lsq_crypt_check_page1(&k, file, n) == LSQ_CRYPT_OK);
    CHECK(lsq_crypt_check_page1(&other, file, n) == LSQ_CRYPT_BAD_KEY);
    plain = malloc(n);
    again = malloc(n);
    if (plain == NULL || again == NULL) abort();
    for (i = 0; i < pages; i++)
        CHECK(lsq_crypt_decrypt_page(&k, (uint32_t)i + 1, file + i * ps, plain + i * ps, ps) ==
              LSQ_CRYPT_OK);
    CHECK(memcmp(plain, "SQLite format 3\0", 16) == 0);
    CHECK(memcmp(plain + 16, file + 16, 8) == 0);
    CHECK(get_be32(plain + 28) == pages);                      /* the header's page count */
    CHECK(plain[100] == 0x0d || plain[100] == 0x05);            /* a table b-tree page */
    CHECK(contains((const char *)plain, ps, "CREATE TABLE t("));
    CHECK(contains((const char *)plain + ps, ps, "hello encrypted world"));
    CHECK(!contains((const char *)file, n, "hello encrypted world"));
    for (i = 0; i < pages; i++)
        CHECK(lsq_crypt_encrypt_page(&k, (uint32_t)i + 1, plain + i * ps, again + i * ps, ps) ==
              LSQ_CRYPT_OK);
    CHECK(memcmp(again, file, n) == 0);
    /* The wrong key: page 1 says so. */
    CHECK(lsq_crypt_decrypt_page(&other, 1, file, again, ps) == LSQ_CRYPT_BAD_KEY);
    free(plain);
    free(again);
    free(file);

    /* Through the shim, a copy (the samples are read-only). */
    CHECK(scratch_make(&s) == 0);
    CHECK(copy_file(path, at(&s, "peer.db")) == 0);
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    CHECK(v != NULL);
    if (v != NULL) {
        db = open_through(at(&s, "peer.db"), v);
        CHECK(text_is(db, "SELECT v FROM t WHERE id = 1", "hello encrypted world"));
        CHECK(test_integrity_ok(db));
        CHECK(text_is(db, "PRAGMA cipher", "aes256cbc"));
        CHECK(crypt_status(db) == LSQ_CRYPT_STATUS_OK);
        (void)sqlite3_close(db);
        lsq_crypt_vfs_release(v);
    }
    remove_tree(s.dir);
}

/* A WAL libsql left behind when it crashed (200 rows in 213 frames, the
 * main file only page 1): every frame chains over the ciphertext, and the
 * shim recovers all of it. */
static void test_crypt_peer_wal(void)
{
    char db_path[512], wal_path[512];
    scratch s;
    lsq_crypt_key k;
    lsq_crypt_vfs *v;
    sqlite3 *db;

    if (sample_path(db_path, sizeof db_path, "libsql_wal_crash_key-walkey.db") == NULL ||
        sample_path(wal_path, sizeof wal_path, "libsql_wal_crash_key-walkey.db-wal") == NULL)
        return;
    CHECK(lsq_crypt_derive("walkey", 6, &k) == LSQ_CRYPT_OK);
    CHECK_WAL_FILE(wal_path, &k, 213, 1);
    CHECK(scratch_make(&s) == 0);
    CHECK(copy_file(db_path, at(&s, "w.db")) == 0);
    CHECK(copy_file(wal_path, at(&s, "w.db-wal")) == 0);
    CHECK(file_size(at(&s, "w.db")) == 4096);
    v = lsq_crypt_vfs_create("walkey", 6);
    CHECK(v != NULL);
    if (v != NULL) {
        db = open_through(at(&s, "w.db"), v);
        CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 200);
        CHECK(test_sql_int(db, "SELECT sum(length(v)) FROM t") == 21390);
        CHECK(test_sql_int(db, "SELECT max(id) FROM t") == 200);
        CHECK(text_is(db, "SELECT v FROM t WHERE id = 1", "row 0 "));
        CHECK(test_integrity_ok(db));
        CHECK(text_is(db, "PRAGMA journal_mode", "wal"));
        /* A checkpoint writes the pages into the main file, encrypted. */
        EXEC_OK(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        (void)sqlite3_close(db);
        lsq_crypt_vfs_release(v);
    }
    CHECK(file_size(at(&s, "w.db")) > 4096);
    CHECK(!file_contains(at(&s, "w.db"), "row 1"));
    v = lsq_crypt_vfs_create("walkey", 6);
    if (v != NULL) {
        db = open_through(at(&s, "w.db"), v);
        CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 200);
        CHECK(test_integrity_ok(db));
        (void)sqlite3_close(db);
        lsq_crypt_vfs_release(v);
    }
    remove_tree(s.dir);
}

/* ---- the shim on real files --------------------------------------------------- */

/* Rollback mode: nothing in the clear on disk (file and journal); the
 * same key reopens it, another gets SQLITE_NOTADB and changes nothing,
 * as does SQLite without the shim. */
static void test_crypt_vfs_rollback(void)
{
    scratch s;
    lsq_crypt_vfs *v;
    sqlite3 *db;
    unsigned char *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;
    char path[300], journal[300];

    CHECK(scratch_make(&s) == 0);
    (void)snprintf(path, sizeof path, "%s/enc.db", s.dir);
    (void)snprintf(journal, sizeof journal, "%s/enc.db-journal", s.dir);
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    CHECK(v != NULL);
    if (v == NULL) return;
    db = open_through(path, v);
    fill_table(db);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 3000);
    CHECK(crypt_status(db) == LSQ_CRYPT_STATUS_OK || crypt_status(db) == LSQ_CRYPT_STATUS_UNKNOWN);
    /* The journal of a transaction in progress holds the old pages,
     * encrypted. */
    EXEC_OK(db, "BEGIN; UPDATE t SET v = v || ' changed' WHERE id <= 1500");
    CHECK(file_size(journal) > 4096);
    CHECK(!file_contains(journal, k_marker));
    EXEC_OK(db, "COMMIT");
    CHECK(text_is(db, "PRAGMA journal_mode", "delete"));
    CHECK(sqlite3_close(db) == SQLITE_OK);
    lsq_crypt_vfs_release(v);

    CHECK(file_size(path) > 3000 * 80);
    CHECK(!file_contains(path, k_marker));
    CHECK(!file_contains(path, "CREATE TABLE"));
    CHECK(!file_contains(path, "SQLite format 3"));
    CHECK(test_read_file(path, &before, &nb) == 0);
    if (before != NULL) {
        CHECK(nb >= 24 && hex_is(before, 8, "d1d112c721de3fd3")); /* the key's constant */
        CHECK(nb >= 24 && lsq_crypt_header_page_size(before, nb) == 4096);
    }

    /* The same key, a new VFS. */
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    db = open_through(path, v);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 3000);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v LIKE '%changed'") == 1500);
    {
        char want[128];

        (void)snprintf(want, sizeof want, "%s 002345 %080d", k_marker, 0);
        memset(want + strlen(k_marker) + 8, 'p', 80);
        CHECK(text_is(db, "SELECT v FROM t WHERE id = 2345", want));
    }
    CHECK(test_integrity_ok(db));
    CHECK(crypt_status(db) == LSQ_CRYPT_STATUS_OK);
    CHECK(sqlite3_close(db) == SQLITE_OK);
    lsq_crypt_vfs_release(v);

    /* Another key: "file is not a database" on the first statement. */
    v = lsq_crypt_vfs_create("another key", 11);
    db = open_through(path, v);
    CHECK(first_statement_rc(db, "SELECT count(*) FROM t") == SQLITE_NOTADB);
    CHECK(crypt_status(db) == LSQ_CRYPT_STATUS_WRONG_KEY);
    CHECK(first_statement_rc(db, "CREATE TABLE u(x)") == SQLITE_NOTADB);
    CHECK(sqlite3_close(db) == SQLITE_OK);
    lsq_crypt_vfs_release(v);
    /* No key at all: SQLite alone sees no database either. */
    db = open_through(path, NULL);
    CHECK(first_statement_rc(db, "SELECT count(*) FROM t") == SQLITE_NOTADB);
    CHECK(sqlite3_close(db) == SQLITE_OK);
    CHECK(test_read_file(path, &after, &na) == 0);
    CHECK(before != NULL && after != NULL && na == nb && memcmp(before, after, na) == 0);
    CHECK(!file_exists(journal));
    free(before);
    free(after);
    remove_tree(s.dir);
}

/* A plain SQLite file through the shim: refused, status plain, untouched. */
static void test_crypt_vfs_plain_file(void)
{
    scratch s;
    lsq_crypt_vfs *v;
    sqlite3 *db;
    char path[300];
    long long size;

    CHECK(scratch_make(&s) == 0);
    (void)snprintf(path, sizeof path, "%s/plain.db", s.dir);
    db = open_through(path, NULL);
    EXEC_OK(db, "CREATE TABLE t(x); INSERT INTO t VALUES ('in the clear')");
    (void)sqlite3_close(db);
    size = file_size(path);
    CHECK(file_contains(path, "in the clear"));
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    db = open_through(path, v);
    CHECK(first_statement_rc(db, "SELECT x FROM t") == SQLITE_NOTADB);
    CHECK(crypt_status(db) == LSQ_CRYPT_STATUS_PLAIN);
    (void)sqlite3_close(db);
    lsq_crypt_vfs_release(v);
    CHECK(file_size(path) == size && file_contains(path, "in the clear"));
    remove_tree(s.dir);
}

/* WAL mode, checkpoints off: commits, then a copy of the file and its WAL
 * taken without closing (what a crash leaves). Recovery of the copy goes
 * through the WAL checksum translation: every frame on disk chains over
 * its ciphertext, and the shim hands SQLite the plaintext chain. */
static void test_crypt_vfs_wal_crash(void)
{
    scratch s;
    lsq_crypt_vfs *v, *v2;
    lsq_crypt_key k;
    sqlite3 *db, *copy;
    int i;

    CHECK(lsq_crypt_derive(k_pass, strlen(k_pass), &k) == LSQ_CRYPT_OK);
    CHECK(scratch_make(&s) == 0);
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    db = open_through(at(&s, "w.db"), v);
    CHECK(text_is(db, "PRAGMA journal_mode=wal", "wal"));
    EXEC_OK(db, "PRAGMA wal_autocheckpoint=0; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    for (i = 0; i < 50; i++) {
        char sql[300];

        (void)snprintf(sql, sizeof sql,
                       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60) "
                       "INSERT INTO t(v) SELECT printf('lsq-crypt-marker %%d %%d %%.60c', %d, x, 'w') "
                       "FROM c",
                       i);
        EXEC_OK(db, sql);
    }
    EXEC_OK(db, "UPDATE t SET v = v || ' updated' WHERE id % 7 = 0");
    EXEC_OK(db, "DELETE FROM t WHERE id % 100 = 0");
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 2970);
    /* The crash copy: file and WAL, no -shm. */
    crash_copy(&s, "w.db", "crash.db", "-wal");
    CHECK(file_size(at(&s, "crash.db-wal")) > 50 * 4096);
    CHECK(!file_contains(at(&s, "crash.db-wal"), k_marker));
    CHECK(!file_contains(at(&s, "crash.db"), k_marker));
    CHECK_WAL_FILE(at(&s, "crash.db-wal"), &k, 52, 1);

    v2 = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    copy = open_through(at(&s, "crash.db"), v2);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t") == 2970);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t WHERE v LIKE '%updated'") == 424);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t WHERE id % 100 = 0") == 0);
    CHECK(test_sql_int(copy, "SELECT max(id) FROM t") == 2999);
    CHECK(test_integrity_ok(copy));
    /* The recovered copy goes on: a commit, a checkpoint into the file. */
    EXEC_OK(copy, "INSERT INTO t(v) VALUES ('after recovery')");
    EXEC_OK(copy, "PRAGMA wal_checkpoint(TRUNCATE)");
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t") == 2971);
    (void)sqlite3_close(copy);
    lsq_crypt_vfs_release(v2);
    CHECK(!file_contains(at(&s, "crash.db"), k_marker));
    CHECK(!file_contains(at(&s, "crash.db"), "after recovery"));
    (void)sqlite3_close(db);
    lsq_crypt_vfs_release(v);
    remove_tree(s.dir);
}

/* WAL mode: a transaction bigger than the cache spills frames to the WAL
 * before it commits, and rewrites some of them in place; another spills
 * and rolls back, and the next transaction overwrites its frames. */
static void test_crypt_vfs_wal_spill(void)
{
    scratch s;
    lsq_crypt_vfs *v, *v2;
    lsq_crypt_key k;
    sqlite3 *db, *copy;
    long long wal_before;

    CHECK(lsq_crypt_derive(k_pass, strlen(k_pass), &k) == LSQ_CRYPT_OK);
    CHECK(scratch_make(&s) == 0);
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    db = open_through(at(&s, "s.db"), v);
    CHECK(text_is(db, "PRAGMA journal_mode=wal", "wal"));
    EXEC_OK(db, "PRAGMA wal_autocheckpoint=0");
    fill_table(db);
    EXEC_OK(db, "PRAGMA cache_size=2");
    wal_before = file_size(at(&s, "s.db-wal"));
    EXEC_OK(db, "BEGIN; UPDATE t SET v = v || ' u1'");
    /* Spilled: frames of the open transaction are on disk. */
    CHECK(file_size(at(&s, "s.db-wal")) > wal_before + 40 * 4096);
    EXEC_OK(db, "UPDATE t SET v = v || ' u2' WHERE id % 2 = 0");
    EXEC_OK(db, "UPDATE t SET v = v || ' u3' WHERE id % 3 = 0");
    EXEC_OK(db, "COMMIT");
    /* Spilled and rolled back. */
    EXEC_OK(db, "BEGIN; UPDATE t SET v = 'rolled back'; ROLLBACK");
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v = 'rolled back'") == 0);
    EXEC_OK(db, "UPDATE t SET v = v || ' u4' WHERE id <= 10");
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v LIKE '% u1%'") == 3000);
    crash_copy(&s, "s.db", "crash.db", "-wal");
    CHECK(!file_contains(at(&s, "crash.db-wal"), k_marker));
    CHECK_WAL_FILE(at(&s, "crash.db-wal"), &k, 100, 0);

    v2 = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    copy = open_through(at(&s, "crash.db"), v2);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t") == 3000);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t WHERE v LIKE '% u1%'") == 3000);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t WHERE v LIKE '% u2%'") == 1500);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t WHERE v LIKE '% u3%'") == 1000);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t WHERE v LIKE '% u4'") == 10);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t WHERE v = 'rolled back'") == 0);
    CHECK(test_integrity_ok(copy));
    (void)sqlite3_close(copy);
    lsq_crypt_vfs_release(v2);
    (void)sqlite3_close(db);
    lsq_crypt_vfs_release(v);
    remove_tree(s.dir);
}

/* Rollback mode with a cache that spills: a savepoint rolled back reads
 * pages back from the journal; a copy taken mid-transaction is a hot
 * journal, rolled back when the copy opens; a full rollback too. */
static void test_crypt_vfs_savepoint_hot_journal(void)
{
    scratch s;
    lsq_crypt_vfs *v, *v2;
    sqlite3 *db, *copy;

    CHECK(scratch_make(&s) == 0);
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    db = open_through(at(&s, "j.db"), v);
    fill_table(db);
    EXEC_OK(db, "PRAGMA cache_size=2");
    EXEC_OK(db, "BEGIN; UPDATE t SET v = v || ' a' WHERE id <= 1000");
    EXEC_OK(db, "SAVEPOINT sp; UPDATE t SET v = v || ' b'; DELETE FROM t WHERE id % 5 = 0");
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 2400);
    EXEC_OK(db, "ROLLBACK TO sp; RELEASE sp");
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 3000);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v LIKE '% b'") == 0);
    EXEC_OK(db, "UPDATE t SET v = v || ' c' WHERE id > 2000");
    /* The spill wrote changed pages into the file: it and the journal
     * are a hot journal now. */
    CHECK(file_size(at(&s, "j.db-journal")) > 4096);
    crash_copy(&s, "j.db", "hot.db", "-journal");
    CHECK(!file_contains(at(&s, "hot.db-journal"), k_marker));
    CHECK(!file_contains(at(&s, "hot.db"), k_marker));
    EXEC_OK(db, "COMMIT");
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v LIKE '% a'") == 1000);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v LIKE '% c'") == 1000);
    CHECK(test_integrity_ok(db));
    /* A whole transaction that spills, rolled back. */
    EXEC_OK(db, "BEGIN; UPDATE t SET v = 'gone'; DELETE FROM t WHERE id > 100; ROLLBACK");
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 3000);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t WHERE v = 'gone'") == 0);
    CHECK(test_integrity_ok(db));
    (void)sqlite3_close(db);
    lsq_crypt_vfs_release(v);

    /* The hot journal rolls the copy back to before the transaction. */
    v2 = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    copy = open_through(at(&s, "hot.db"), v2);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t") == 3000);
    CHECK(test_sql_int(copy, "SELECT count(*) FROM t WHERE v LIKE '% a' OR v LIKE '% c'") == 0);
    CHECK(test_integrity_ok(copy));
    (void)sqlite3_close(copy);
    lsq_crypt_vfs_release(v2);
    CHECK(!file_exists(at(&s, "hot.db-journal")));
    remove_tree(s.dir);
}

/* A query whose sorter spills to temporary files: with the shim they stay
 * in memory (none open in the temporary directory while the query runs,
 * none left after). Without the shim the same query does open files
 * there, which shows the query spills. SQLite reads SQLITE_TMPDIR once,
 * when it initializes, so sqlite3_temp_directory (which SQLite looks at
 * first, every time) points it at the directory; the variable is set too. */
static void test_crypt_vfs_temp_files(void)
{
    scratch s;
    char tmp[300];
    char *saved = sqlite3_temp_directory, *old_env = getenv("SQLITE_TMPDIR");
    char *env_copy = old_env != NULL ? strdup(old_env) : NULL;
    lsq_crypt_vfs *v;
    int pass;

    CHECK(scratch_make(&s) == 0);
    (void)snprintf(tmp, sizeof tmp, "%s/tmp", s.dir);
    CHECK(mkdir(tmp, 0700) == 0);
    CHECK(setenv("SQLITE_TMPDIR", tmp, 1) == 0);
    sqlite3_temp_directory = sqlite3_mprintf("%s", tmp);
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    for (pass = 0; pass < 2; pass++) {
        /* pass 0: through the shim; pass 1: plain SQLite, the control */
        sqlite3 *db = open_through(at(&s, pass == 0 ? "enc.db" : "plain.db"), pass == 0 ? v : NULL);
        sqlite3_stmt *st = NULL;
        int rows = 0, open_during = -1, rc;

        EXEC_OK(db, "PRAGMA cache_size=10; PRAGMA temp.cache_size=10");
        EXEC_OK(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); BEGIN; "
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000) "
                    "INSERT INTO t(v) SELECT printf('lsq-crypt-marker %s %.200c', hex(randomblob(8)), 's') "
                    "FROM c; COMMIT");
        CHECK(sqlite3_prepare_v2(db, "SELECT v FROM t ORDER BY substr(v, 18)", -1, &st, NULL) ==
              SQLITE_OK);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if (rows++ == 0) open_during = fds_under(tmp);
        CHECK(rc == SQLITE_DONE && rows == 4000);
        (void)sqlite3_finalize(st);
        /* A temp table bigger than its cache, and a statement journal. */
        EXEC_OK(db, "CREATE TEMP TABLE tt AS SELECT * FROM t ORDER BY v");
        CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM temp.tt", -1, &st, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 4000);
        if (pass == 0) CHECK(fds_under(tmp) == 0);
        (void)sqlite3_finalize(st);
        EXEC_OK(db, "BEGIN; UPDATE t SET v = upper(v) WHERE id > 10; "
                    "INSERT INTO t(id, v) SELECT id, v FROM t WHERE id > 3990 ON CONFLICT DO NOTHING; "
                    "COMMIT");
        if (pass == 0) {
            CHECK(open_during == 0);
            if (open_during != 0) fprintf(stderr, "    %d temporary files on disk\n", open_during);
        } else {
            /* The control: SQLite alone does spill this sort to files. */
            CHECK(open_during > 0);
            if (open_during <= 0)
                fprintf(stderr, "    the query did not spill to temporary files: the test "
                                "shows nothing\n");
        }
        (void)sqlite3_close(db);
        CHECK(dir_entries(tmp) == 0);
    }
    CHECK(!file_contains(at(&s, "enc.db"), k_marker));
    lsq_crypt_vfs_release(v);
    sqlite3_free(sqlite3_temp_directory);
    sqlite3_temp_directory = saved;
    if (env_copy != NULL) {
        (void)setenv("SQLITE_TMPDIR", env_copy, 1);
        free(env_copy);
    } else {
        (void)unsetenv("SQLITE_TMPDIR");
    }
    CHECK(rmdir(tmp) == 0);
    remove_tree(s.dir);
}

/* The owner releases the VFS while a zombie connection (closed with
 * sqlite3_close_v2, a statement still unfinalized) keeps its files open:
 * the VFS stays registered until the statement is finalized, then goes
 * (ASan's leak check, in make test-c-asan, sees it freed). In rollback
 * and WAL mode. */
static void test_crypt_vfs_zombie_release(void)
{
    scratch s;
    int wal;

    CHECK(scratch_make(&s) == 0);
    for (wal = 0; wal < 2; wal++) {
        lsq_crypt_vfs *v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
        sqlite3 *db, *other;
        sqlite3_stmt *st = NULL;
        char name[64];
        const char *file = wal ? "zw.db" : "z.db";

        CHECK(v != NULL);
        if (v == NULL) break;
        (void)snprintf(name, sizeof name, "%s", lsq_crypt_vfs_name(v));
        db = open_through(at(&s, file), v);
        if (wal) CHECK(text_is(db, "PRAGMA journal_mode=wal", "wal"));
        EXEC_OK(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3)");
        CHECK(sqlite3_prepare_v2(db, "SELECT x FROM t ORDER BY x", -1, &st, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1);
        CHECK(sqlite3_close_v2(db) == SQLITE_OK); /* a zombie now */
        lsq_crypt_vfs_release(v);
        CHECK(sqlite3_vfs_find(name) != NULL); /* its files are open still */
        CHECK(sqlite3_finalize(st) == SQLITE_OK); /* the zombie closes */
        CHECK(sqlite3_vfs_find(name) == NULL);
        /* The file is fine, for a new VFS with the same key. */
        v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
        (void)snprintf(name, sizeof name, "%s", lsq_crypt_vfs_name(v));
        other = open_through(at(&s, file), v);
        lsq_crypt_vfs_release(v); /* released while open: goes at close */
        CHECK(test_sql_int(other, "SELECT sum(x) FROM t") == 6);
        CHECK(sqlite3_vfs_find(name) != NULL);
        CHECK(sqlite3_close(other) == SQLITE_OK);
        CHECK(sqlite3_vfs_find(name) == NULL);
    }
    /* Released with nothing open: gone at once. */
    {
        lsq_crypt_vfs *v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
        char name[64];

        (void)snprintf(name, sizeof name, "%s", lsq_crypt_vfs_name(v));
        CHECK(sqlite3_vfs_find(name) != NULL);
        lsq_crypt_vfs_release(v);
        CHECK(sqlite3_vfs_find(name) == NULL);
        lsq_crypt_vfs_release(NULL);
    }
    remove_tree(s.dir);
}

/* A page size chosen before the first write holds; an encrypted file's
 * page size cannot change after (VACUUM would write the new pages in
 * pieces of the old size); VACUUM and VACUUM INTO otherwise work, and the
 * copy is encrypted with the same key. */
static void test_crypt_vfs_page_size_vacuum(void)
{
    scratch s;
    lsq_crypt_vfs *v, *v2;
    sqlite3 *db;
    unsigned char *head = NULL;
    size_t n = 0;
    char into[400];

    CHECK(scratch_make(&s) == 0);
    v = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    db = open_through(at(&s, "p.db"), v);
    EXEC_OK(db, "PRAGMA page_size=1024");
    fill_table(db);
    CHECK(test_sql_int(db, "PRAGMA page_size") == 1024);
    CHECK(first_statement_rc(db, "PRAGMA page_size=8192") == SQLITE_ERROR);
    CHECK(first_statement_rc(db, "PRAGMA page_size=1024") == SQLITE_OK);
    EXEC_OK(db, "DELETE FROM t WHERE id % 3 = 0; VACUUM");
    CHECK(test_sql_int(db, "PRAGMA page_size") == 1024);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 2000);
    CHECK(test_integrity_ok(db));
    CHECK(test_read_file(at(&s, "p.db"), &head, &n) == 0);
    CHECK(head != NULL && lsq_crypt_header_page_size(head, n) == 1024 && n % 1024 == 0);
    free(head);
    /* VACUUM INTO a file of the same VFS: encrypted with the same key. */
    (void)snprintf(into, sizeof into, "VACUUM INTO '%s/copy.db'", s.dir);
    EXEC_OK(db, into);
    CHECK(file_size(at(&s, "copy.db")) > 0);
    CHECK(!file_contains(at(&s, "copy.db"), k_marker));
    /* WAL mode: VACUUM too. */
    CHECK(text_is(db, "PRAGMA journal_mode=wal", "wal"));
    EXEC_OK(db, "DELETE FROM t WHERE id % 3 = 1; VACUUM");
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 1000);
    CHECK(test_integrity_ok(db));
    CHECK(!file_contains(at(&s, "p.db-wal"), k_marker));
    (void)sqlite3_close(db);
    lsq_crypt_vfs_release(v);

    v2 = lsq_crypt_vfs_create(k_pass, strlen(k_pass));
    db = open_through(at(&s, "copy.db"), v2);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 2000);
    CHECK(test_sql_int(db, "PRAGMA page_size") == 1024);
    CHECK(test_integrity_ok(db));
    (void)sqlite3_close(db);
    db = open_through(at(&s, "p.db"), v2);
    CHECK(test_sql_int(db, "SELECT count(*) FROM t") == 1000);
    CHECK(test_integrity_ok(db));
    (void)sqlite3_close(db);
    lsq_crypt_vfs_release(v2);
    CHECK(!file_contains(at(&s, "p.db"), k_marker));
    remove_tree(s.dir);
}

/* ---- the suite ---------------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_crypt_known_answers),
    TEST(test_crypt_key_bytes),
    TEST(test_crypt_iv_definition),
    TEST(test_crypt_round_trip),
    TEST(test_crypt_wrong_key),
    TEST(test_crypt_bad_arguments),
    TEST(test_crypt_peer_file),
    TEST(test_crypt_peer_wal),
    TEST(test_crypt_vfs_rollback),
    TEST(test_crypt_vfs_plain_file),
    TEST(test_crypt_vfs_wal_crash),
    TEST(test_crypt_vfs_wal_spill),
    TEST(test_crypt_vfs_savepoint_hot_journal),
    TEST(test_crypt_vfs_temp_files),
    TEST(test_crypt_vfs_page_size_vacuum),
    TEST(test_crypt_vfs_zombie_release),
};

const test_suite crypt_suite = SUITE("crypt", k_tests);
