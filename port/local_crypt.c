/*
 * local_crypt.c - encryption at rest at open (local_crypt.h).
 */
#include "local_crypt.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int lsq_local_crypt_vfs(const lsq_open_opts *o, lsq_crypt_vfs **out, lsq_error *err)
{
    *out = NULL;
    if (o->crypt != NULL) {
        *out = lsq_crypt_vfs_retain(o->crypt);
        return 0;
    }
    if (o->encryption_key == NULL) return 0;
    if (o->encryption_key_len == 0) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "encryption_key must not be empty");
        return -1;
    }
    if ((*out = lsq_crypt_vfs_create(o->encryption_key, o->encryption_key_len)) == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "cannot set up the encryption (out of memory)");
        return -1;
    }
    return 0;
}

/* The first 32 bytes of the file at path: 1, or 0 (none, or too short). */
static int read_head(const char *path, unsigned char head[32])
{
    ssize_t n;
    int fd;

    if (path == NULL || path[0] == 0) return 0; /* memory or temp */
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return 0; /* not there yet */
    n = pread(fd, head, 32, 0);
    (void)close(fd);
    return n == 32;
}

/* An aes256cbc file has the clear header bytes 16..23 of a SQLite file
 * but not its magic. */
static int looks_encrypted(const unsigned char head[32])
{
    return !lsq_crypt_is_plain(head, 32) && lsq_crypt_header_plausible(head, 32);
}

static void set_encrypted(lsq_error *err)
{
    lsq_error_set(err, LSQ_E_ENCRYPTED,
                  "the database is encrypted: open it with its encryption_key");
}

static void set_not_encrypted(lsq_error *err)
{
    lsq_error_set(err, LSQ_E_NOT_ENCRYPTED,
                  "the database is not encrypted, but an encryption_key was given "
                  "(open it without one; rekey encrypts it)");
}

static void set_wrong_key(lsq_error *err)
{
    lsq_error_set(err, LSQ_E_WRONG_KEY,
                  "the encryption_key does not open the database (a wrong key, or a "
                  "file that is not a libSQL-encrypted database)");
}

/* tursodb's experimental encryption writes "Turso" where the magic was:
 * another format, which this library does not read. */
static int is_turso(const unsigned char head[32])
{
    return memcmp(head, "Turso", 6) == 0;
}

static void set_turso(lsq_error *err)
{
    lsq_error_set(err, LSQ_E_NOTADB, "the file is encrypted in tursodb's experimental format, "
                  "which this library does not read (only libSQL's aes256cbc)");
}

/* Without a key: is it an encrypted file? */
static int check_not_encrypted(sqlite3 *db, lsq_error *err)
{
    unsigned char head[32];

    if (!read_head(sqlite3_db_filename(db, "main"), head) || !looks_encrypted(head)) return 0;
    if (is_turso(head)) set_turso(err);
    else set_encrypted(err);
    return -1;
}

void lsq_local_crypt_explain(const char *path, const lsq_crypt_vfs *v, lsq_error *err)
{
    unsigned char head[32];

    if (err->code != LSQ_E_NOTADB || !read_head(path, head)) return;
    if (is_turso(head)) {
        set_turso(err);
    } else if (v == NULL) {
        if (looks_encrypted(head)) set_encrypted(err);
    } else if (lsq_crypt_is_plain(head, sizeof head)) {
        set_not_encrypted(err);
    } else if (lsq_crypt_check_page1(lsq_crypt_vfs_key(v), head, sizeof head) != LSQ_CRYPT_OK) {
        set_wrong_key(err);
    }
}

static int exec_sql(sqlite3 *db, const char *sql, lsq_error *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (rc == SQLITE_OK) return 0;
    lsq_error_sqlite(err, rc, sqlite3_errmsg(db));
    return -1;
}

int lsq_local_crypt_check(sqlite3 *db, const lsq_crypt_vfs *v, lsq_error *err)
{
    int status = LSQ_CRYPT_STATUS_UNKNOWN, rc;

    if (v == NULL) return check_not_encrypted(db, err);
    /* A file: URI may name its own VFS (vfs=unix): then the key would
     * silently not apply. */
    if (sqlite3_file_control(db, "main", LSQ_FCNTL_CRYPT_STATUS, &status) != SQLITE_OK) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                      "an encrypted database cannot be opened through another VFS "
                      "(the path names one)");
        return -1;
    }
    /* As sqlite3mc does for encrypted files: freed pages are zeroed. */
    if (exec_sql(db, "PRAGMA secure_delete = ON", err) != 0) return -1;
    /* Read the schema: the shim checks the key when it first locks the
     * file. A busy file is checked at the first statement instead. */
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    if ((rc & 0xff) != SQLITE_NOTADB) return 0;
    (void)sqlite3_file_control(db, "main", LSQ_FCNTL_CRYPT_STATUS, &status);
    if (status == LSQ_CRYPT_STATUS_PLAIN)
        set_not_encrypted(err);
    else if (status == LSQ_CRYPT_STATUS_WRONG_KEY)
        set_wrong_key(err);
    else
        lsq_error_sqlite(err, rc, sqlite3_errmsg(db));
    return -1;
}
