/*
 * crypt_rekey.c - a rekey in place (crypt_rekey.h).
 */
#include "crypt_rekey.h"
#include "crypt_vfs.h"
#include "file_io.h"
#include "hot_journal.h"
#include "wipe.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct rekey_ctx {
    sqlite3_file *raw;   /* the file as it is on disk, under any shim */
    uint32_t ps;
    const lsq_crypt_key *old_key;
    int wal;             /* page 1 says WAL mode, in the journal and after */
} rekey_ctx;

/* Header bytes 18 and 19: 2 for a WAL database, 1 for rollback. */
static void say_wal(unsigned char *page1)
{
    page1[18] = 2;
    page1[19] = 2;
}

/* The file under the encryption shim, or SQLite's own for a plain
 * connection: bytes as they are on disk. */
static sqlite3_file *raw_file(sqlite3 *db)
{
    sqlite3_file *f = NULL;

    if (sqlite3_file_control(db, "main", LSQ_FCNTL_CRYPT_RAW, &f) == SQLITE_OK && f != NULL)
        return f;
    f = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK) return NULL;
    return f != NULL && f->pMethods != NULL ? f : NULL;
}

static int io_fail(lsq_error *err, int rc, const char *what)
{
    lsq_error_sqlite(err, rc, what);
    return -1;
}

/* Page pgno as on disk into image, and as SQLite sees it into plain. */
static int original(void *arg, uint32_t pgno, unsigned char *image, unsigned char *plain,
                    lsq_error *err)
{
    rekey_ctx *c = arg;
    int rc = c->raw->pMethods->xRead(c->raw, image, (int)c->ps, (sqlite3_int64)(pgno - 1) * c->ps);

    if (rc != SQLITE_OK) return io_fail(err, rc, "cannot read the database for the rekey");
    if (c->old_key == NULL) {
        memcpy(plain, image, c->ps);
        if (pgno == 1 && c->wal) {
            say_wal(plain);
            say_wal(image);
        }
        return 1;
    }
    switch (lsq_crypt_decrypt_page(c->old_key, pgno, image, plain, c->ps)) {
    case LSQ_CRYPT_OK:
        if (pgno != 1 || !c->wal) return 1;
        /* The original as it was before the rekey left WAL mode: a
         * playback gives back a WAL database. */
        say_wal(plain);
        if (lsq_crypt_encrypt_page(c->old_key, 1, plain, image, c->ps) == LSQ_CRYPT_OK) return 1;
        lsq_error_set(err, LSQ_E_INTERNAL, "encryption failed");
        return -1;
    case LSQ_CRYPT_BAD_KEY:
        lsq_error_set(err, LSQ_E_WRONG_KEY, "the database is not encrypted with the "
                      "connection's key");
        return -1;
    default:
        lsq_error_set(err, LSQ_E_INTERNAL, "decryption failed");
        return -1;
    }
}

/* Rewrite page pgno under the new key. */
static int recode(rekey_ctx *c, const lsq_crypt_key *new_key, uint32_t pgno, unsigned char *image,
                  unsigned char *plain, lsq_error *err)
{
    int rc;

    if (original(c, pgno, image, plain, err) < 0) return -1;
    if (new_key != NULL) {
        if (lsq_crypt_encrypt_page(new_key, pgno, plain, image, c->ps) != LSQ_CRYPT_OK) {
            lsq_error_set(err, LSQ_E_INTERNAL, "encryption failed");
            return -1;
        }
    } else {
        memcpy(image, plain, c->ps);
    }
    rc = c->raw->pMethods->xWrite(c->raw, image, (int)c->ps, (sqlite3_int64)(pgno - 1) * c->ps);
    return rc == SQLITE_OK ? 0 : io_fail(err, rc, "cannot write the database for the rekey");
}

int lsq_crypt_rekey_file(sqlite3 *db, const lsq_crypt_key *old_key,
                         const lsq_crypt_key *new_key, int wal, lsq_error *err)
{
    rekey_ctx c = { raw_file(db), 0, old_key, wal };
    const char *jpath = sqlite3_filename_journal(sqlite3_db_filename(db, "main"));
    unsigned char head[24], *image = NULL, *plain = NULL;
    sqlite3_int64 size = 0;
    uint32_t n, pg;
    int rc, result = -1;

    if (c.raw == NULL || jpath == NULL) {
        lsq_error_set(err, LSQ_E_INTERNAL, "the database file is not available");
        return -1;
    }
    if ((rc = c.raw->pMethods->xFileSize(c.raw, &size)) != SQLITE_OK)
        return io_fail(err, rc, "cannot size the database");
    if (size == 0) return 0; /* nothing written yet: only the key changes */
    if ((rc = c.raw->pMethods->xRead(c.raw, head, sizeof head, 0)) != SQLITE_OK)
        return io_fail(err, rc, "cannot read the database header");
    /* The page size is in the clear in both formats. */
    c.ps = lsq_crypt_header_page_size(head, sizeof head);
    if (c.ps == 0 || size % c.ps != 0 || size / c.ps > UINT32_MAX) {
        lsq_error_set(err, LSQ_E_CORRUPT, "the database file is not whole pages of a "
                      "valid page size");
        return -1;
    }
    n = (uint32_t)(size / c.ps);
    image = malloc(c.ps);
    plain = malloc(c.ps);
    if (image == NULL || plain == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        goto out;
    }
    /* Before any page changes: every original, synced. */
    if (lsq_hot_journal_write(jpath, c.ps, n, original, &c, err) != 0) {
        (void)unlink(jpath);
        goto out;
    }
    for (pg = 2; pg <= n; pg++)
        if (recode(&c, new_key, pg, image, plain, err) != 0) goto out;
    if (recode(&c, new_key, 1, image, plain, err) != 0) goto out;
    if ((rc = c.raw->pMethods->xSync(c.raw, SQLITE_SYNC_FULL)) != SQLITE_OK) {
        (void)io_fail(err, rc, "cannot sync the database");
        goto out;
    }
    /* The commit point. */
    if (unlink(jpath) != 0) {
        (void)lsq_io_error(err, "cannot delete", jpath);
        goto out;
    }
    result = lsq_sync_dir(jpath, err);
out:
    if (plain != NULL) wipe(plain, c.ps);
    free(plain);
    free(image);
    return result;
}
