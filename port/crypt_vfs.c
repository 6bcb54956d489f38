/*
 * crypt_vfs.c - the encryption shim's VFS, its main file and its rollback
 * journal (the WAL is crypt_wal.c, temporary files crypt_memfile.c).
 *
 * The main file is read and written in whole pages, each encrypted with
 * its page number; a partial read (SQLite reads the 100-byte header at
 * open and the 16 bytes of the change counter at every transaction)
 * decrypts the page around it. The journal's header, record numbers and
 * checksums stay in the clear, its page images are encrypted as the main
 * file's pages (../shared/encryption.md 2.6): SQLite's checksum is over
 * the plaintext, computed above us.
 *
 * A wrong key is found when the main file is first locked, before SQLite
 * can play back a hot journal with it: playing one back with the wrong
 * key would fail every record's checksum, and SQLite would then delete
 * the journal, leaving a half-rolled-back file.
 */
#define LSQ_CRYPT_INTERNAL
#include "crypt_vfs.h"
#include "file_io.h"
#include "vfs_pass.h"
#include "wipe.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lsq_crypt_vfs {
    sqlite3_vfs *real;       /* the default VFS underneath (first: vfs_pass.h) */
    sqlite3_vfs base;        /* registered under name; pAppData = this */
    char name[48];
    atomic_int refs;         /* open files, + 1 until released */
    int has_key;
    lsq_crypt_key key;
};

static atomic_ullong vfs_serial;

static const sqlite3_io_methods crypt_io;

const lsq_crypt_key *lsq_crypt_file_key(const crypt_file *f)
{
    return f->vfs->has_key ? &f->vfs->key : NULL;
}

unsigned char *lsq_crypt_scratch(crypt_file *f, size_t n)
{
    unsigned char *p;

    if (n <= f->buf_cap) return f->buf;
    p = malloc(n);
    if (p == NULL) return NULL;
    /* The old buffer held plaintext pages. */
    wipe(f->buf, f->buf_cap);
    free(f->buf);
    f->buf = p;
    f->buf_cap = n;
    return p;
}

static void vfs_unref(lsq_crypt_vfs *v)
{
    if (atomic_fetch_sub(&v->refs, 1) != 1) return;
    (void)sqlite3_vfs_unregister(&v->base);
    wipe(&v->key, sizeof v->key);
    free(v);
}

static int valid_ps(sqlite3_int64 n)
{
    return n >= 512 && n <= 65536 && (n & (n - 1)) == 0;
}

/* ---- the main file -------------------------------------------------------------------- */

/* The page size, from the clear header bytes on disk when not known yet.
 * 0 when the file has no (aes256cbc-shaped) header: new, or not ours. */
static uint32_t main_page_size(crypt_file *f)
{
    unsigned char head[24];

    if (f->ps != 0) return f->ps;
    if (f->over.real->pMethods->xRead(f->over.real, head, sizeof head, 0) == SQLITE_OK)
        f->ps = lsq_crypt_header_page_size(head, sizeof head);
    return f->ps;
}

/* Read and decrypt page pgno into out (f->ps bytes). */
static int main_read_page(crypt_file *f, const lsq_crypt_key *key, uint32_t pgno,
                          unsigned char *out)
{
    int rc = f->over.real->pMethods->xRead(f->over.real, out, (int)f->ps, (sqlite3_int64)(pgno - 1) * f->ps);

    if (rc == SQLITE_IOERR_SHORT_READ) {
        /* Past the end (or a torn last page): zeros, as SQLite expects. */
        memset(out, 0, f->ps);
        return rc;
    }
    if (rc != SQLITE_OK) return rc;
    switch (lsq_crypt_decrypt_page(key, pgno, out, out, f->ps)) {
    case LSQ_CRYPT_OK: return SQLITE_OK;
    case LSQ_CRYPT_BAD_KEY: return SQLITE_OK; /* SQLite reports "not a database" */
    default: return SQLITE_IOERR_READ;
    }
}

static int main_read(crypt_file *f, const lsq_crypt_key *key, void *out, int n, sqlite3_int64 off)
{
    unsigned char *dst = out, *page;
    sqlite3_int64 end = off + n;
    int rc = SQLITE_OK, short_read = 0;

    /* Page 1 says the page size; another connection may have changed
     * it (VACUUM) since we last looked. */
    if (off == 0) f->ps = 0;
    if (main_page_size(f) == 0)
        /* No header yet (a new file) or not one of ours: as it is on disk
         * (the lock check refuses a file that is not ours). */
        return f->over.real->pMethods->xRead(f->over.real, out, n, off);
    if (off % f->ps == 0 && n % (int)f->ps == 0) {
        /* Whole pages, decrypted in place. */
        for (; off < end; off += f->ps, dst += f->ps) {
            rc = main_read_page(f, key, (uint32_t)(off / f->ps) + 1, dst);
            if (rc == SQLITE_IOERR_SHORT_READ) short_read = 1;
            else if (rc != SQLITE_OK) return rc;
        }
        return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
    }
    if (off >= 16 && end <= 48) {
        /* Within the first blocks of page 1 (the change counter SQLite
         * reads at every transaction): two blocks, not the page. */
        unsigned char head[48], clear[32];

        rc = f->over.real->pMethods->xRead(f->over.real, head, sizeof head, 0);
        if (rc == SQLITE_OK && lsq_crypt_page1_head(key, head, clear) == LSQ_CRYPT_OK) {
            memcpy(out, clear + (off - 16), (size_t)n);
            return SQLITE_OK;
        }
        /* Anything else (short, a wrong key): the whole page, as below. */
    }
    /* Part of a page (or parts of two): decrypt the pages around it. */
    if ((page = lsq_crypt_scratch(f, f->ps)) == NULL) return SQLITE_IOERR_NOMEM;
    while (off < end) {
        sqlite3_int64 pstart = off - off % f->ps;
        size_t take = (size_t)(pstart + f->ps < end ? pstart + f->ps - off : end - off);

        rc = main_read_page(f, key, (uint32_t)(pstart / f->ps) + 1, page);
        if (rc == SQLITE_IOERR_SHORT_READ) short_read = 1;
        else if (rc != SQLITE_OK) return rc;
        memcpy(dst, page + (off - pstart), take);
        dst += take;
        off += (sqlite3_int64)take;
    }
    return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

static int main_write(crypt_file *f, const lsq_crypt_key *key, const void *in, int n,
                      sqlite3_int64 off)
{
    const unsigned char *src = in;
    unsigned char *page;
    uint32_t ps;

    /* SQLite writes the main file one whole page at a time, of the page
     * size the file has after the write: a VACUUM to another page size
     * writes pages of the new size (page 1 says it). */
    if (off == 0 && n >= 24) ps = lsq_crypt_header_page_size(src, (size_t)n);
    else ps = valid_ps(n) && off % n == 0 ? (uint32_t)n : 0;
    if (ps == 0 || (uint32_t)n != ps || off % ps != 0) return SQLITE_IOERR_WRITE;
    f->ps = ps;
    if ((page = lsq_crypt_scratch(f, ps)) == NULL) return SQLITE_IOERR_NOMEM;
    if (lsq_crypt_encrypt_page(key, (uint32_t)(off / ps) + 1, src, page, ps) != LSQ_CRYPT_OK)
        return SQLITE_IOERR_WRITE;
    return f->over.real->pMethods->xWrite(f->over.real, page, n, off);
}

/* On the first lock: does the key open this file? */
static int main_check_key(crypt_file *f, const lsq_crypt_key *key)
{
    unsigned char head[32];
    int rc = f->over.real->pMethods->xRead(f->over.real, head, sizeof head, 0);

    if (rc == SQLITE_IOERR_SHORT_READ) return SQLITE_OK; /* new: nothing to check */
    if (rc != SQLITE_OK) return rc;
    if (lsq_crypt_is_plain(head, sizeof head)) {
        f->status = LSQ_CRYPT_STATUS_PLAIN;
        return SQLITE_NOTADB;
    }
    switch (lsq_crypt_check_page1(key, head, sizeof head)) {
    case LSQ_CRYPT_OK:
        f->status = LSQ_CRYPT_STATUS_OK;
        return SQLITE_OK;
    case LSQ_CRYPT_BAD_KEY:
        f->status = LSQ_CRYPT_STATUS_WRONG_KEY;
        return SQLITE_NOTADB;
    default:
        return SQLITE_IOERR_READ;
    }
}

/* ---- the rollback journal ------------------------------------------------------------- */

/* A 4-byte write or read at off: the number of the record whose page
 * follows, unless it is the checksum right after a page. */
static void journal_note_word(crypt_file *f, const void *word, sqlite3_int64 off)
{
    if (off == f->page_end) {
        f->rec_off = -1;
    } else {
        f->rec_off = off;
        f->rec_pgno = lsq_get_be32(word);
    }
    f->page_end = -1;
}

/* The record's page number when a page image of n bytes at off follows
 * one; 0 otherwise. */
static uint32_t journal_record(crypt_file *f, int n, sqlite3_int64 off)
{
    if (!valid_ps(n) || f->rec_off < 0 || f->rec_off + 4 != off || f->rec_pgno == 0) return 0;
    return f->rec_pgno;
}

static int journal_write(crypt_file *f, const lsq_crypt_key *key, const void *in, int n,
                         sqlite3_int64 off)
{
    uint32_t pgno;
    unsigned char *page;
    int rc;

    if (n == 4) {
        journal_note_word(f, in, off);
        return f->over.real->pMethods->xWrite(f->over.real, in, n, off);
    }
    if ((pgno = journal_record(f, n, off)) == 0) {
        /* A header, a super-journal name: no page content. */
        f->rec_off = f->page_end = -1;
        return f->over.real->pMethods->xWrite(f->over.real, in, n, off);
    }
    if ((page = lsq_crypt_scratch(f, (size_t)n)) == NULL) return SQLITE_IOERR_NOMEM;
    if (lsq_crypt_encrypt_page(key, pgno, in, page, (size_t)n) != LSQ_CRYPT_OK)
        return SQLITE_IOERR_WRITE;
    rc = f->over.real->pMethods->xWrite(f->over.real, page, n, off);
    f->rec_off = -1;
    f->page_end = off + n;
    return rc;
}

static int journal_read(crypt_file *f, const lsq_crypt_key *key, void *out, int n,
                        sqlite3_int64 off)
{
    uint32_t pgno = journal_record(f, n, off);
    int rc = f->over.real->pMethods->xRead(f->over.real, out, n, off);

    if (n == 4) {
        if (rc == SQLITE_OK) journal_note_word(f, out, off);
        return rc;
    }
    f->rec_off = -1;
    f->page_end = -1;
    if (rc != SQLITE_OK || pgno == 0) return rc;
    f->page_end = off + n;
    /* A page 1 the key does not open decrypts to garbage: its checksum
     * then fails and SQLite ends the playback there. */
    if (lsq_crypt_decrypt_page(key, pgno, out, out, (size_t)n) == LSQ_CRYPT_ERROR)
        return SQLITE_IOERR_READ;
    return SQLITE_OK;
}

/* ---- io methods ----------------------------------------------------------------------- */

static crypt_file *as_crypt(sqlite3_file *pf)
{
    return (crypt_file *)pf;
}

static int x_close(sqlite3_file *pf)
{
    crypt_file *f = as_crypt(pf);
    int rc;

    if (f->kind == CK_WAL) lsq_crypt_wal_close(f);
    rc = f->over.real->pMethods->xClose(f->over.real);
    wipe(f->buf, f->buf_cap);
    free(f->buf);
    f->buf = NULL;
    f->buf_cap = 0;
    vfs_unref(f->vfs);
    return rc;
}

static int x_read(sqlite3_file *pf, void *out, int n, sqlite3_int64 off)
{
    crypt_file *f = as_crypt(pf);
    const lsq_crypt_key *key = lsq_crypt_file_key(f);

    if (key == NULL || f->kind == CK_PASS) return lsq_file_pass_read(pf, out, n, off);
    switch (f->kind) {
    case CK_MAIN: return main_read(f, key, out, n, off);
    case CK_JOURNAL: return journal_read(f, key, out, n, off);
    case CK_WAL: return lsq_crypt_wal_read(f, out, n, off);
    default: return lsq_file_pass_read(pf, out, n, off);
    }
}

static int x_write(sqlite3_file *pf, const void *in, int n, sqlite3_int64 off)
{
    crypt_file *f = as_crypt(pf);
    const lsq_crypt_key *key = lsq_crypt_file_key(f);

    if (key == NULL || f->kind == CK_PASS) return f->over.real->pMethods->xWrite(f->over.real, in, n, off);
    switch (f->kind) {
    case CK_MAIN: return main_write(f, key, in, n, off);
    case CK_JOURNAL: return journal_write(f, key, in, n, off);
    case CK_WAL: return lsq_crypt_wal_write(f, in, n, off);
    default: return f->over.real->pMethods->xWrite(f->over.real, in, n, off);
    }
}

static int x_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    crypt_file *f = as_crypt(pf);

    if (f->kind == CK_WAL) return lsq_crypt_wal_truncate(f, size);
    return f->over.real->pMethods->xTruncate(f->over.real, size);
}

static int x_sync(sqlite3_file *pf, int flags)
{
    crypt_file *f = as_crypt(pf);
    int rc;

    if (f->kind == CK_WAL && (rc = lsq_crypt_wal_flush(f)) != SQLITE_OK) return rc;
    return f->over.real->pMethods->xSync(f->over.real, flags);
}

static int x_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    crypt_file *f = as_crypt(pf);
    int rc;

    if (f->kind == CK_WAL && (rc = lsq_crypt_wal_flush(f)) != SQLITE_OK) return rc;
    return f->over.real->pMethods->xFileSize(f->over.real, size);
}

static int x_lock(sqlite3_file *pf, int lock)
{
    crypt_file *f = as_crypt(pf);
    const lsq_crypt_key *key = lsq_crypt_file_key(f);
    int rc = f->over.real->pMethods->xLock(f->over.real, lock);

    if (rc != SQLITE_OK || f->kind != CK_MAIN || key == NULL) return rc;
    if (lock != SQLITE_LOCK_SHARED || f->status == LSQ_CRYPT_STATUS_OK) return rc;
    /* Under the shared lock page 1 is not being written. */
    if ((rc = main_check_key(f, key)) != SQLITE_OK)
        (void)f->over.real->pMethods->xUnlock(f->over.real, SQLITE_LOCK_NONE);
    return rc;
}

/* PRAGMA cipher answers as sqlite3mc's does; the key pragmas are refused
 * (the key is an open option; rekey/2 changes it), everything else goes
 * to the file underneath. */
static int pragma_control(crypt_file *f, char **args)
{
    static const char *const refused[] = { "key", "hexkey", "textkey", "rekey", "hexrekey",
                                           "textrekey", NULL };
    size_t i;

    if (sqlite3_stricmp(args[1], "page_size") == 0 && args[2] != NULL &&
        lsq_crypt_file_key(f) != NULL && main_page_size(f) != 0 &&
        strtol(args[2], NULL, 10) != (long)f->ps) {
        /* A VACUUM to another page size writes the new pages in pieces of
         * the old size, which a page cipher cannot encrypt (libSQL's own
         * engine corrupts the file doing it). */
        args[0] = sqlite3_mprintf("the page size of an encrypted database cannot change "
                                  "(it is %u)", f->ps);
        return args[0] ? SQLITE_ERROR : SQLITE_NOMEM;
    }
    if (sqlite3_stricmp(args[1], "cipher") == 0 && args[2] == NULL) {
        args[0] = sqlite3_mprintf("%s", lsq_crypt_file_key(f) ? "aes256cbc" : "");
        return args[0] ? SQLITE_OK : SQLITE_NOMEM;
    }
    for (i = 0; refused[i] != NULL; i++) {
        if (sqlite3_stricmp(args[1], refused[i]) == 0) {
            args[0] = sqlite3_mprintf("PRAGMA %s is not supported: the key is the "
                                      "encryption_key open option, changed with rekey",
                                      refused[i]);
            return SQLITE_ERROR;
        }
    }
    return f->over.real->pMethods->xFileControl(f->over.real, SQLITE_FCNTL_PRAGMA, args);
}

static int x_control(sqlite3_file *pf, int op, void *arg)
{
    crypt_file *f = as_crypt(pf);

    switch (op) {
    case LSQ_FCNTL_CRYPT_STATUS:
        *(int *)arg = f->status;
        return SQLITE_OK;
    case LSQ_FCNTL_CRYPT_RAW:
        *(sqlite3_file **)arg = f->over.real;
        return SQLITE_OK;
    case SQLITE_FCNTL_PRAGMA:
        if (f->kind == CK_MAIN) return pragma_control(f, arg);
        break;
    case SQLITE_FCNTL_MMAP_SIZE:
        /* Never map an encrypted file: SQLite would read ciphertext. */
        *(sqlite3_int64 *)arg = 0;
        return SQLITE_OK;
    default:
        break;
    }
    return f->over.real->pMethods->xFileControl(f->over.real, op, arg);
}

/* Version 2: shared memory for WAL, but no xFetch, so SQLite never
 * memory-maps the file (it would read ciphertext). */
static const sqlite3_io_methods crypt_io = {
    2, x_close, x_read, x_write, x_truncate, x_sync, x_size, x_lock, lsq_file_pass_unlock,
    lsq_file_pass_reserved, x_control, lsq_file_pass_sector, lsq_file_pass_device,
    lsq_file_pass_shm_map, lsq_file_pass_shm_lock, lsq_file_pass_shm_barrier,
    lsq_file_pass_shm_unmap, NULL, NULL
};

/* ---- the VFS -------------------------------------------------------------------------- */

static lsq_crypt_vfs *as_vfs(sqlite3_vfs *pv)
{
    return pv->pAppData;
}

static int v_open(sqlite3_vfs *pv, const char *name, sqlite3_file *pf, int flags, int *out_flags)
{
    lsq_crypt_vfs *v = as_vfs(pv);
    crypt_file *f = (crypt_file *)pf;
    int type = flags & 0x0FFFFF00, rc;

    memset(f, 0, sizeof *f);
    if (v->has_key && (type & (SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL |
                               SQLITE_OPEN_TRANSIENT_DB | SQLITE_OPEN_SUBJOURNAL)))
        return lsq_crypt_memfile_open(pf, flags, out_flags);
    f->vfs = v;
    f->over.real = (sqlite3_file *)(f + 1);
    f->rec_off = f->page_end = -1;
    if (type & SQLITE_OPEN_MAIN_DB) f->kind = CK_MAIN;
    else if (type & SQLITE_OPEN_MAIN_JOURNAL) f->kind = CK_JOURNAL;
    else if (type & SQLITE_OPEN_WAL) f->kind = CK_WAL;
    else f->kind = CK_PASS; /* the super-journal: file names only */
    rc = v->real->xOpen(v->real, name, f->over.real, flags, out_flags);
    if (rc != SQLITE_OK) {
        /* The file under us is not open: SQLite must not call xClose. */
        pf->pMethods = NULL;
        return rc;
    }
    if (f->kind == CK_WAL && (rc = lsq_crypt_wal_open(f)) != SQLITE_OK) {
        (void)f->over.real->pMethods->xClose(f->over.real);
        pf->pMethods = NULL;
        return rc;
    }
    atomic_fetch_add(&v->refs, 1);
    pf->pMethods = &crypt_io;
    return SQLITE_OK;
}

lsq_crypt_vfs *lsq_crypt_vfs_create(const void *pass, size_t n)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    lsq_crypt_vfs *v;
    int szfile;

    if (real == NULL || pass == NULL || n == 0) return NULL;
    if ((v = calloc(1, sizeof *v)) == NULL) return NULL;
    if (lsq_crypt_derive(pass, n, &v->key) != LSQ_CRYPT_OK) {
        free(v);
        return NULL;
    }
    v->has_key = 1;
    v->real = real;
    atomic_init(&v->refs, 1);
    (void)snprintf(v->name, sizeof v->name, "libsql-aes256cbc-%llu",
                   (unsigned long long)atomic_fetch_add(&vfs_serial, 1));
    szfile = (int)sizeof(crypt_file) + real->szOsFile;
    if (szfile < lsq_crypt_memfile_size()) szfile = lsq_crypt_memfile_size();
    v->base = (sqlite3_vfs){
        .szOsFile = szfile,
        .mxPathname = real->mxPathname,
        .zName = v->name,
        .pAppData = v,
        .xOpen = v_open,
    };
    lsq_vfs_pass_init(&v->base);
    if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) {
        wipe(&v->key, sizeof v->key);
        free(v);
        return NULL;
    }
    return v;
}

const char *lsq_crypt_vfs_name(const lsq_crypt_vfs *v)
{
    return v->name;
}

void lsq_crypt_vfs_set_key(lsq_crypt_vfs *v, const lsq_crypt_key *key)
{
    if (key != NULL) {
        v->key = *key;
        v->has_key = 1;
    } else {
        wipe(&v->key, sizeof v->key);
        v->has_key = 0;
    }
}

int lsq_crypt_vfs_has_key(const lsq_crypt_vfs *v)
{
    return v->has_key;
}

const lsq_crypt_key *lsq_crypt_vfs_key(const lsq_crypt_vfs *v)
{
    return v != NULL && v->has_key ? &v->key : NULL;
}

lsq_crypt_vfs *lsq_crypt_vfs_retain(lsq_crypt_vfs *v)
{
    atomic_fetch_add(&v->refs, 1);
    return v;
}

void lsq_crypt_vfs_release(lsq_crypt_vfs *v)
{
    if (v != NULL) vfs_unref(v);
}
