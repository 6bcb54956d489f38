/*
 * journal_gather.c - the gathering VFS (journal_gather.h).
 *
 * Its mutex is taken with fatal.h's lock(): a lock that fails ends the
 * port program, which the journal makes as safe as a kill.
 *
 * A main journal's writes that follow each other in the file collect in
 * one buffer per journal; anything else done to that journal writes the
 * buffer out first, and so does any write, truncate or sync of any other
 * file of the VFS (the database file above all). SQLite's own order of
 * events is therefore kept as the OS sees it: every journal record is
 * written before the first database write that comes after it, and
 * before the journal is synced, read, sized, truncated or closed. What
 * is still in the buffer when the process dies protects pages the file
 * never saw changed.
 */
#include "journal_gather.h"
#include "fatal.h"
#include "vfs_pass.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(LSQ_GATHER_CAP < 0x20000, "SQLite's unix VFS writes under 128 KiB a call");

typedef struct gather_file gather_file;
struct gather_file {
    lsq_file_over over;     /* first (vfs_pass.h); the file below is right after this struct */
    gather_file *next;      /* the open journals (journals only) */
    unsigned char *buf;     /* LSQ_GATHER_CAP bytes once first needed */
    size_t len;             /* bytes held, for the file from start */
    sqlite3_int64 start;
};

typedef struct gather_vfs {
    lsq_vfs_below below;    /* first: vfs_pass.h */
    sqlite3_vfs vfs;
    char name[64];
} gather_vfs;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static gather_file *g_journals;  /* under g_mu */
static atomic_int g_pending;     /* journals holding bytes: a lock-free "none" */

static gather_file *as_file(sqlite3_file *pf)
{
    return (gather_file *)pf;
}

/* ---- the buffer (g_mu held) ------------------------------------------------------------ */

static int flush_locked(gather_file *f)
{
    int rc;

    if (f->len == 0) return SQLITE_OK;
    rc = f->over.real->pMethods->xWrite(f->over.real, f->buf, (int)f->len, f->start);
    /* Kept on failure: a later flush (or the close) tries again, and
     * nothing after it in SQLite's order may run before it succeeds. */
    if (rc != SQLITE_OK) return rc;
    f->len = 0;
    atomic_fetch_sub(&g_pending, 1);
    return SQLITE_OK;
}

static int flush_one(gather_file *f)
{
    int rc;

    lock(&g_mu);
    rc = flush_locked(f);
    unlock(&g_mu);
    return rc;
}

/* Before a write, truncate or sync of a file that is not a journal. Only
 * the same connection's journal has to be out first (others cannot hold
 * a write lock on the same file meanwhile), but writing them all out is
 * simpler and costs nothing when none holds bytes, the usual case. */
static int flush_all(void)
{
    gather_file *j;
    int rc = SQLITE_OK, r;

    if (atomic_load(&g_pending) == 0) return SQLITE_OK;
    lock(&g_mu);
    for (j = g_journals; j != NULL; j = j->next)
        if ((r = flush_locked(j)) != SQLITE_OK && rc == SQLITE_OK) rc = r;
    unlock(&g_mu);
    return rc;
}

/* ---- a journal ------------------------------------------------------------------------- */

static int j_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
    gather_file *f = as_file(pf);
    size_t un = (size_t)n;
    int rc;

    if (n < 0) return SQLITE_IOERR_WRITE;
    lock(&g_mu);
    if (f->len > 0 && off == f->start + (sqlite3_int64)f->len && f->len + un <= LSQ_GATHER_CAP) {
        memcpy(f->buf + f->len, p, un);
        f->len += un;
        rc = SQLITE_OK;
    } else if ((rc = flush_locked(f)) == SQLITE_OK) {
        if (f->buf == NULL && un < LSQ_GATHER_CAP) f->buf = malloc(LSQ_GATHER_CAP);
        if (off < LSQ_GATHER_HEAD || f->buf == NULL || un >= LSQ_GATHER_CAP || un == 0) {
            /* The header, too big to gather, or no memory for it: as
             * SQLite asked. The header goes at once because zeroing it
             * is how a commit ends in PERSIST mode (and the first byte
             * is what makes a journal hot): held back, a commit already
             * reported could be rolled back by the next opener. */
            rc = f->over.real->pMethods->xWrite(f->over.real, p, n, off);
        } else {
            memcpy(f->buf, p, un);
            f->start = off;
            f->len = un;
            atomic_fetch_add(&g_pending, 1);
        }
    }
    unlock(&g_mu);
    return rc;
}

static int j_close(sqlite3_file *pf)
{
    gather_file *f = as_file(pf), **pp;
    int rc = SQLITE_OK, rc2;

    lock(&g_mu);
    rc = flush_locked(f);
    if (f->len > 0) {
        /* Not written and never will be: SQLite hears of it. */
        f->len = 0;
        atomic_fetch_sub(&g_pending, 1);
    }
    for (pp = &g_journals; *pp != NULL; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    unlock(&g_mu);
    free(f->buf);
    f->buf = NULL;
    rc2 = f->over.real->pMethods->xClose(f->over.real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int j_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
    int rc = flush_one(as_file(pf));

    return rc != SQLITE_OK ? rc : lsq_file_pass_read(pf, p, n, off);
}

static int j_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    gather_file *f = as_file(pf);
    int rc = flush_one(f);

    return rc != SQLITE_OK ? rc : f->over.real->pMethods->xTruncate(f->over.real, size);
}

static int j_sync(sqlite3_file *pf, int flags)
{
    gather_file *f = as_file(pf);
    int rc = flush_one(f);

    return rc != SQLITE_OK ? rc : f->over.real->pMethods->xSync(f->over.real, flags);
}

static int j_size(sqlite3_file *pf, sqlite3_int64 *out)
{
    int rc = flush_one(as_file(pf));

    return rc != SQLITE_OK ? rc : lsq_file_pass_size(pf, out);
}

static int j_lock(sqlite3_file *pf, int level)
{
    int rc = flush_one(as_file(pf));

    return rc != SQLITE_OK ? rc : lsq_file_pass_lock(pf, level);
}

static int j_unlock(sqlite3_file *pf, int level)
{
    int rc = flush_one(as_file(pf));

    return rc != SQLITE_OK ? rc : lsq_file_pass_unlock(pf, level);
}

static int j_reserved(sqlite3_file *pf, int *out)
{
    int rc = flush_one(as_file(pf));

    return rc != SQLITE_OK ? rc : lsq_file_pass_reserved(pf, out);
}

static int j_control(sqlite3_file *pf, int op, void *arg)
{
    int rc = flush_one(as_file(pf));

    return rc != SQLITE_OK ? rc : lsq_file_pass_control(pf, op, arg);
}

/* ---- any other file: straight through, writes after the journals ------------------------ */

static int p_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
    gather_file *f = as_file(pf);
    int rc = flush_all();

    return rc != SQLITE_OK ? rc : f->over.real->pMethods->xWrite(f->over.real, p, n, off);
}

static int p_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    gather_file *f = as_file(pf);
    int rc = flush_all();

    return rc != SQLITE_OK ? rc : f->over.real->pMethods->xTruncate(f->over.real, size);
}

static int p_sync(sqlite3_file *pf, int flags)
{
    gather_file *f = as_file(pf);
    int rc = flush_all();

    return rc != SQLITE_OK ? rc : f->over.real->pMethods->xSync(f->over.real, flags);
}

/* Both: what SQLite asks of the device, shared memory and memory-mapping
 * pass straight down (the file below has version 3: checked at open). */
static const sqlite3_io_methods journal_io = {
    3, j_close, j_read, j_write, j_truncate, j_sync, j_size, j_lock, j_unlock, j_reserved,
    j_control, lsq_file_pass_sector, lsq_file_pass_device, lsq_file_pass_shm_map,
    lsq_file_pass_shm_lock, lsq_file_pass_shm_barrier, lsq_file_pass_shm_unmap,
    lsq_file_pass_fetch, lsq_file_pass_unfetch
};

static const sqlite3_io_methods pass_io = {
    3, lsq_file_pass_close, lsq_file_pass_read, p_write, p_truncate, p_sync, lsq_file_pass_size,
    lsq_file_pass_lock, lsq_file_pass_unlock, lsq_file_pass_reserved, lsq_file_pass_control,
    lsq_file_pass_sector, lsq_file_pass_device, lsq_file_pass_shm_map, lsq_file_pass_shm_lock,
    lsq_file_pass_shm_barrier, lsq_file_pass_shm_unmap, lsq_file_pass_fetch, lsq_file_pass_unfetch
};

/* ---- the VFS --------------------------------------------------------------------------- */

static int v_open(sqlite3_vfs *pv, const char *name, sqlite3_file *pf, int flags, int *out_flags)
{
    sqlite3_vfs *r = ((lsq_vfs_below *)pv->pAppData)->real;
    gather_file *f = as_file(pf);
    int rc;

    memset(f, 0, sizeof *f);
    f->over.real = (sqlite3_file *)(f + 1);
    rc = r->xOpen(r, name, f->over.real, flags, out_flags);
    if (rc != SQLITE_OK || f->over.real->pMethods == NULL) {
        /* The file below is not open: SQLite must not call xClose. */
        pf->pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    if (f->over.real->pMethods->iVersion < 3) {
        /* Not the unix VFS this was checked with: no shim for it. */
        (void)f->over.real->pMethods->xClose(f->over.real);
        pf->pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    if (flags & SQLITE_OPEN_MAIN_JOURNAL) {
        pf->pMethods = &journal_io;
        lock(&g_mu);
        f->next = g_journals;
        g_journals = f;
        unlock(&g_mu);
    } else {
        pf->pMethods = &pass_io;
    }
    return SQLITE_OK;
}

sqlite3_vfs *lsq_gather_vfs_create(sqlite3_vfs *below, const char *name)
{
    gather_vfs *v;

    if (below == NULL || name == NULL || strlen(name) >= sizeof v->name) return NULL;
    if ((v = calloc(1, sizeof *v)) == NULL) return NULL;
    memcpy(v->name, name, strlen(name) + 1);
    v->below.real = below;
    v->vfs = (sqlite3_vfs){
        .szOsFile = (int)sizeof(gather_file) + below->szOsFile,
        .mxPathname = below->mxPathname,
        .zName = v->name,
        .pAppData = &v->below,
        .xOpen = v_open,
    };
    lsq_vfs_pass_init(&v->vfs);
    if (sqlite3_vfs_register(&v->vfs, 0) != SQLITE_OK) {
        free(v);
        return NULL;
    }
    return &v->vfs;
}

static const char *g_name; /* once registered; NULL if that failed */

static void register_once(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL), *v;

    /* The shim relies on the version-3 file methods of SQLite's unix VFS
     * (shared memory for WAL, xFetch for memory-mapping). Registered for
     * the process's life. */
    if (real == NULL || strncmp(real->zName, "unix", 4) != 0) return;
    if ((v = lsq_gather_vfs_create(real, "libsql-gather")) != NULL) g_name = v->zName;
}

const char *lsq_journal_gather_vfs(void)
{
    if (pthread_once(&g_once, register_once) != 0) return NULL;
    return g_name;
}

const char *lsq_plain_vfs(const char *named)
{
    return named != NULL ? named : lsq_journal_gather_vfs();
}
