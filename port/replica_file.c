/*
 * replica_file.c - algorithm A (replica_file.h): the hot journal, the
 * page writes through SQLite's own file handle, the page-1 patch, the
 * bootstrap of a new file, and the sidecar.
 */
#include "replica_file.h"
#include "crypt_vfs.h"
#include "file_io.h"
#include "hot_journal.h"
#include "mono_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAGE PULL_PAGE_SIZE

uint32_t replica_get_u32(const unsigned char *p)
{
    return lsq_get_be32(p);
}

void replica_put_u32(unsigned char *p, uint32_t v)
{
    lsq_put_be32(p, v);
}

/* ---- the sidecar ------------------------------------------------------------ */

#define STATE_MAGIC "libsql-replica 1"

char *replica_state_path(const char *db_path)
{
    return lsq_suffixed(db_path, "-replica");
}

int replica_state_read(const char *db_path, replica_state *st, lsq_error *err)
{
    char *path = replica_state_path(db_path), line[128], magic[32] = "";
    uint64_t hash = 0;
    long long rev = -1;
    unsigned pgno = 0;
    int frozen = 0, got = 0;
    FILE *f;

    st->revision = -1;
    st->probe_pgno = 0;
    st->probe_hash = 0;
    st->frozen = 0;
    if (path == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    f = fopen(path, "re");
    if (f == NULL) {
        int rc = errno == ENOENT ? 0 : lsq_io_error(err, "cannot read", path);

        free(path);
        return rc;
    }
    if (fgets(line, sizeof line, f) != NULL) (void)sscanf(line, "%31[^\n]", magic);
    while (fgets(line, sizeof line, f) != NULL) {
        got += sscanf(line, "revision %lld", &rev) == 1;
        got += sscanf(line, "probe %u %" SCNx64, &pgno, &hash) == 2;
        frozen |= strncmp(line, "frozen", 6) == 0;
    }
    (void)fclose(f);
    if (strcmp(magic, STATE_MAGIC) != 0 || got != 2 || rev < -1) {
        lsq_error_set(err, LSQ_E_CORRUPT, "%s is not a replica state file", path);
        free(path);
        return -1;
    }
    free(path);
    st->revision = rev;
    st->probe_pgno = pgno;
    st->probe_hash = hash;
    st->frozen = frozen;
    return 1;
}

int replica_state_write(const char *db_path, const replica_state *st, lsq_error *err)
{
    char *path = replica_state_path(db_path), *tmp = NULL, text[160];
    int fd = -1, n, rc = -1;

    if (path == NULL || (tmp = lsq_suffixed(path, ".tmp")) == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        goto out;
    }
    n = snprintf(text, sizeof text, STATE_MAGIC "\nrevision %lld\nprobe %u %" PRIx64 "\n%s",
                 st->revision, st->probe_pgno, st->probe_hash, st->frozen ? "frozen\n" : "");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || lsq_pwrite_all(fd, text, (size_t)n, 0) != 0 || fsync(fd) != 0) {
        (void)lsq_io_error(err, "cannot write", tmp);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        (void)lsq_io_error(err, "cannot write", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        (void)lsq_io_error(err, "cannot rename to", path);
        goto out;
    }
    rc = lsq_sync_dir(path, err);
out:
    if (fd >= 0) (void)close(fd);
    if (rc != 0 && tmp != NULL) (void)unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

/* ---- page 1 ------------------------------------------------------------------ */

void replica_empty_page1(unsigned char page[PULL_PAGE_SIZE])
{
    memset(page, 0, PAGE);
    memcpy(page, "SQLite format 3", 16);
    page[16] = PAGE >> 8;          /* page size, big-endian */
    page[17] = PAGE & 0xff;
    page[18] = page[19] = 1;       /* legacy (rollback journal) read/write versions */
    page[21] = 64;                 /* payload fractions, fixed by the format */
    page[22] = 32;
    page[23] = 32;
    replica_put_u32(page + 28, 1); /* one page */
    replica_put_u32(page + 44, 4); /* schema format 4 */
    replica_put_u32(page + 56, 1); /* UTF-8 */
    replica_put_u32(page + 96, (uint32_t)sqlite3_libversion_number());
    /* The b-tree page of sqlite_schema: an empty table leaf whose cell
     * content area starts at the end of the page. */
    page[100] = 0x0d;
    page[105] = PAGE >> 8;
    page[106] = PAGE & 0xff;
}

/* Make the server's page 1 a rollback-journal SQLite's: journal mode
 * bytes (H4), a change counter above both the server's and ours (H5), and
 * the page count valid for that counter (H6). */
static void patch_page1(unsigned char *p, uint32_t local_counter, uint32_t npages)
{
    uint32_t counter = replica_get_u32(p + 24);

    if (local_counter > counter) counter = local_counter;
    counter++;
    p[18] = 1;
    p[19] = 1;
    replica_put_u32(p + 24, counter);
    replica_put_u32(p + 28, npages);
    replica_put_u32(p + 92, counter);
}

static const pull_page *find_page(const pull_resp *r, uint32_t pgno)
{
    size_t i;

    for (i = 0; i < r->npages; i++)
        if (r->pages[i].pgno == pgno) return &r->pages[i];
    return NULL;
}

/* ---- a new file ------------------------------------------------------------------ */

/* Write the pages of r to fd, page 1 from page1: runs of consecutive
 * pages in one pwritev each (a 40 MB set is 10,000 pages: one system call
 * per page cost tens of ms). 0 or -1 (errno). */
static int write_set(int fd, const pull_resp *r, const unsigned char *page1,
                     const lsq_crypt_key *key)
{
    struct iovec iov[256];
    unsigned char *enc = NULL; /* a run's pages encrypted, when there is a key */
    size_t i = 0;

    if (key != NULL && (enc = malloc(sizeof iov / sizeof iov[0] * PAGE)) == NULL) {
        errno = ENOMEM;
        return -1;
    }

    while (i < r->npages) {
        uint32_t first = r->pages[i].pgno;
        size_t n = 0, k, done = 0, total;
        off_t off = (off_t)(first - 1) * PAGE;

        while (i + n < r->npages && n < sizeof iov / sizeof iov[0] &&
               r->pages[i + n].pgno == first + n) {
            iov[n].iov_base = (void *)(r->pages[i + n].pgno == 1 ? page1 : r->pages[i + n].data);
            iov[n].iov_len = PAGE;
            if (enc != NULL) {
                /* As the encryption shim writes it (crypt_vfs.h). */
                if (lsq_crypt_encrypt_page(key, first + (uint32_t)n, iov[n].iov_base,
                                           enc + n * PAGE, PAGE) != LSQ_CRYPT_OK) {
                    free(enc);
                    errno = EIO;
                    return -1;
                }
                iov[n].iov_base = enc + n * PAGE;
            }
            n++;
        }
        total = n * PAGE;
        while (done < total) {
            ssize_t w;

            /* Skip the iovecs written whole; the first one left may be
             * partly written (a short write). */
            k = done / PAGE;
            if (done % PAGE != 0) {
                iov[k].iov_base = (unsigned char *)iov[k].iov_base + done % PAGE;
                iov[k].iov_len = PAGE - done % PAGE;
            }
            w = pwritev(fd, iov + k, (int)(n - k), off + (off_t)done);
            if (w < 0) {
                if (errno == EINTR) continue;
                free(enc);
                return -1;
            }
            done += (size_t)w;
        }
        i += n;
    }
    free(enc);
    return 0;
}

/* Write the full set to tmp and link it in as db_path. 0, 1 (db_path
 * exists), -1 with *err. The caller holds the bootstrap lock. */
static int create_locked(const char *db_path, const char *tmp, const pull_resp *r,
                         const replica_state *st, const lsq_crypt_key *key, lsq_error *err)
{
    unsigned char page1[PAGE];
    const pull_page *p1 = find_page(r, 1);
    struct stat sb;
    int fd = -1, rc = -1;

    if (stat(db_path, &sb) == 0) return 1; /* someone else was first */
    if (p1 == NULL || r->db_size == 0) {
        lsq_error_set(err, LSQ_E_PROTOCOL, "the server sent no database to bootstrap from");
        return -1;
    }
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return lsq_io_error(err, "cannot create", tmp);
    memcpy(page1, p1->data, PAGE);
    patch_page1(page1, 0, (uint32_t)r->db_size);
    if (write_set(fd, r, page1, key) != 0) {
        (void)lsq_io_error(err, "cannot write", tmp);
        goto out;
    }
    if (ftruncate(fd, (off_t)r->db_size * PAGE) != 0 || fsync(fd) != 0) {
        (void)lsq_io_error(err, "cannot write", tmp);
        goto out;
    }
    /* The state first: a crash after it and before the link leaves a
     * state without a file, which the next open bootstraps again. */
    if (replica_state_write(db_path, st, err) != 0) goto out;
    /* link, not rename: never replace a file that appeared meanwhile
     * (made by something that does not take our lock). A file system
     * without hard links gets a rename after one more look. */
    if (link(tmp, db_path) != 0) {
        if (errno == EEXIST) {
            rc = 1;
            goto out;
        }
        if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS) {
            (void)lsq_io_error(err, "cannot create", db_path);
            goto out;
        }
        if (stat(db_path, &sb) == 0) {
            rc = 1;
            goto out;
        }
        if (rename(tmp, db_path) != 0) {
            (void)lsq_io_error(err, "cannot create", db_path);
            goto out;
        }
    }
    rc = lsq_sync_dir(db_path, err);
out:
    (void)close(fd);
    (void)unlink(tmp);
    return rc;
}

int replica_file_create(const char *db_path, const pull_resp *r, const replica_state *st,
                        const lsq_crypt_key *key, lsq_error *err)
{
    char *tmp = lsq_suffixed(db_path, ".bootstrap-tmp"), *lock = lsq_suffixed(db_path, "-replica.lock");
    int fd = -1, rc = -1;

    if (tmp == NULL || lock == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        goto out;
    }
    /* Bootstraps of one new file by several processes (a pool's workers)
     * take turns: the sidecar and the file must come from the same pull.
     * flock, not fcntl: it is not dropped when some other descriptor of
     * the process closes, and SQLite never sees this file. */
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        (void)lsq_io_error(err, "cannot create", lock);
        goto out;
    }
    while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {}
    if (rc != 0) {
        rc = lsq_io_error(err, "cannot lock", lock);
        goto out;
    }
    rc = create_locked(db_path, tmp, r, st, key, err);
out:
    if (fd >= 0) (void)close(fd); /* drops the lock */
    free(tmp);
    free(lock);
    return rc;
}

/* ---- an existing file: algorithm A -------------------------------------------------- */

static sqlite3_file *file_of(sqlite3 *db, lsq_error *err)
{
    sqlite3_file *fp = NULL;

    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &fp) != SQLITE_OK ||
        fp == NULL || fp->pMethods == NULL) {
        lsq_error_set(err, LSQ_E_INTERNAL, "the replica's file handle is not available");
        return NULL;
    }
    return fp;
}

static int sqlite_io(lsq_error *err, int rc, const char *what)
{
    lsq_error_sqlite(err, rc, what);
    return -1;
}

/* 1 if pgno (1-based) needs its original in the journal. */
static int journaled(const unsigned char *in_set, uint32_t pgno, uint32_t old_n, uint32_t new_n)
{
    if (pgno > old_n) return 0;
    return pgno == 1 || pgno > new_n || in_set[pgno];
}

/* The original of a page the apply changes, for the hot journal: as
 * SQLite sees it (through fp) and as it is on disk (through raw, the file
 * under an encryption shim; fp itself for a plain file). */
typedef struct apply_originals {
    sqlite3_file *fp, *raw;
    const unsigned char *in_set;
    uint32_t old_n, new_n;
} apply_originals;

static int original_page(void *arg, uint32_t pg, unsigned char *image, unsigned char *plain,
                         lsq_error *err)
{
    apply_originals *a = arg;
    sqlite3_int64 off = (sqlite3_int64)(pg - 1) * PAGE;
    int io;

    if (!journaled(a->in_set, pg, a->old_n, a->new_n)) return 0;
    io = a->fp->pMethods->xRead(a->fp, plain, PAGE, off);
    if (io != SQLITE_OK && io != SQLITE_IOERR_SHORT_READ)
        return sqlite_io(err, io, "cannot read the replica");
    if (a->raw == a->fp) {
        memcpy(image, plain, PAGE);
        return 1;
    }
    io = a->raw->pMethods->xRead(a->raw, image, PAGE, off);
    if (io != SQLITE_OK && io != SQLITE_IOERR_SHORT_READ)
        return sqlite_io(err, io, "cannot read the replica");
    return 1;
}

/* With the journal safe: page 1 patched, the set written, the size set. */
static int write_pages(sqlite3_file *fp, const pull_resp *r, uint32_t old_n, uint32_t new_n,
                       lsq_error *err)
{
    unsigned char page1[PAGE];
    const pull_page *p1 = find_page(r, 1);
    uint32_t local_counter = 0;
    size_t i;
    int rc;

    rc = fp->pMethods->xRead(fp, page1, PAGE, 0);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
        return sqlite_io(err, rc, "cannot read the replica");
    local_counter = replica_get_u32(page1 + 24);
    if (p1 != NULL) memcpy(page1, p1->data, PAGE);
    patch_page1(page1, local_counter, new_n);
    for (i = 0; i < r->npages; i++) {
        const pull_page *pg = &r->pages[i];

        if (pg->pgno == 1 || pg->pgno > new_n) continue;
        rc = fp->pMethods->xWrite(fp, pg->data, PAGE, (sqlite3_int64)(pg->pgno - 1) * PAGE);
        if (rc != SQLITE_OK) return sqlite_io(err, rc, "cannot write the replica");
    }
    rc = fp->pMethods->xWrite(fp, page1, PAGE, 0);
    if (rc == SQLITE_OK && new_n != old_n)
        rc = fp->pMethods->xTruncate(fp, (sqlite3_int64)new_n * PAGE);
    if (rc == SQLITE_OK) rc = fp->pMethods->xSync(fp, SQLITE_SYNC_NORMAL);
    return rc == SQLITE_OK ? 0 : sqlite_io(err, rc, "cannot write the replica");
}

/* The state under the lock: what the sidecar says now. */
static int applies(const char *db_path, const pull_resp *r, long long base, lsq_error *err)
{
    replica_state now;
    int rc = replica_state_read(db_path, &now, err);

    if (rc < 0) return -1;
    if (r->replace_base) return 1;
    return rc == 1 && now.revision == base;
}

int replica_file_apply(sqlite3 *db, const char *db_path, const pull_resp *r, long long base,
                       const replica_state *next, long long *locked_us, lsq_error *err)
{
    long long t0;
    sqlite3_file *fp;
    sqlite3_int64 size = 0;
    unsigned char *in_set = NULL;
    char *jpath = lsq_suffixed(db_path, "-journal");
    uint32_t old_n, new_n;
    int rc, journal = 0, result = -1;
    size_t i;

    if (jpath == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    /* From the BEGIN on: while it waits for readers to finish it already
     * holds SQLite's PENDING lock, which keeps new readers out. */
    *locked_us = 0;
    t0 = lsq_mono_ns();
    rc = sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        lsq_error_sqlite(err, sqlite3_extended_errcode(db), sqlite3_errmsg(db));
        free(jpath);
        return -1;
    }
    rc = applies(db_path, r, base, err);
    if (rc <= 0) {
        result = rc < 0 ? -1 : 1;
        goto end;
    }
    if ((fp = file_of(db, err)) == NULL) goto end;
    rc = fp->pMethods->xFileSize(fp, &size);
    if (rc != SQLITE_OK) {
        (void)sqlite_io(err, rc, "cannot size the replica");
        goto end;
    }
    old_n = (uint32_t)(size / PAGE);
    /* A set that does not say the size keeps the size page 1 says. */
    new_n = r->db_size > 0 ? (uint32_t)r->db_size : old_n;
    if (new_n == 0) {
        lsq_error_set(err, LSQ_E_PROTOCOL, "pull-updates response: a database of no pages");
        goto end;
    }
    in_set = calloc((size_t)(old_n > new_n ? old_n : new_n) + 2, 1);
    if (in_set == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        goto end;
    }
    for (i = 0; i < r->npages; i++)
        if (r->pages[i].pgno <= (old_n > new_n ? old_n : new_n)) in_set[r->pages[i].pgno] = 1;
    /* A file that grows gets every new page from the set: one missing
     * would be a hole of zeros in the middle of the database. */
    for (i = (size_t)old_n + 1; i <= new_n; i++)
        if (!in_set[i]) {
            lsq_error_set(err, LSQ_E_PROTOCOL, "pull-updates response: the database grows "
                          "to %u pages but page %zu is not in the set", new_n, i);
            goto end;
        }
    {
        apply_originals a = { fp, fp, in_set, old_n, new_n };
        sqlite3_file *raw = NULL;

        if (sqlite3_file_control(db, "main", LSQ_FCNTL_CRYPT_RAW, &raw) == SQLITE_OK && raw != NULL)
            a.raw = raw;
        if (lsq_hot_journal_write(jpath, PAGE, old_n, original_page, &a, err) != 0) goto end;
    }
    journal = 1;
    if (write_pages(fp, r, old_n, new_n, err) != 0) goto end;
    /* The commit point: without its journal the new content is the file's. */
    if (unlink(jpath) != 0) {
        (void)lsq_io_error(err, "cannot remove", jpath);
        goto end;
    }
    journal = 0;
    (void)lsq_sync_dir(jpath, err);
    /* Under the same lock, so that no other process pulls from the old
     * revision after it sees the new pages. A crash before this point only
     * makes the next pull send pages again: applying them twice gives the
     * same file. */
    result = replica_state_write(db_path, next, err);
end:
    /* COMMIT writes nothing (the pager has no dirty page); it releases the
     * lock. A journal left by a failed write is hot from then on. */
    (void)sqlite3_exec(db, result < 0 ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    *locked_us = (lsq_mono_ns() - t0) / 1000;
    if (journal) {
        /* Roll it back now, through this read-write connection: the next
         * reader finds the file as it was. */
        (void)sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    }
    free(in_set);
    free(jpath);
    return result;
}
