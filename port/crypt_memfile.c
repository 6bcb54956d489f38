/*
 * crypt_memfile.c - temporary files of an encrypted connection, kept in
 * memory: SQLite's sorter spills, temp tables and statement journals
 * would otherwise go to disk in plaintext (sqlite3mc leaves them
 * unencrypted; PRAGMA temp_store=MEMORY does not cover the sorter).
 * The bytes are wiped when the file closes.
 */
#define LSQ_CRYPT_INTERNAL
#include "crypt_vfs.h"
#include "wipe.h"

#include <stdlib.h>
#include <string.h>

typedef struct mem_file {
    sqlite3_file base;
    unsigned char *data;
    size_t size, cap;
} mem_file;

static int mem_close(sqlite3_file *pf)
{
    mem_file *m = (mem_file *)pf;

    wipe(m->data, m->cap);
    free(m->data);
    m->data = NULL;
    m->size = m->cap = 0;
    return SQLITE_OK;
}

static int mem_read(sqlite3_file *pf, void *out, int n, sqlite3_int64 off)
{
    mem_file *m = (mem_file *)pf;
    size_t have = 0;

    if (off < 0 || n < 0) return SQLITE_IOERR_READ;
    if ((size_t)off < m->size) {
        have = m->size - (size_t)off;
        if (have > (size_t)n) have = (size_t)n;
        memcpy(out, m->data + off, have);
    }
    if (have < (size_t)n) {
        /* SQLite's contract: a short read zero-fills the rest. */
        memset((unsigned char *)out + have, 0, (size_t)n - have);
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

/* Grow to hold at least need bytes; the new part is zero. */
static int mem_reserve(mem_file *m, size_t need)
{
    size_t cap = m->cap ? m->cap : 8192;
    unsigned char *p;

    if (need <= m->cap) return SQLITE_OK;
    while (cap < need) {
        if (cap > ((size_t)-1) / 2) return SQLITE_FULL;
        cap *= 2;
    }
    p = malloc(cap);
    if (p == NULL) return SQLITE_NOMEM;
    /* Copy rather than realloc: the old block holds plaintext to wipe. */
    if (m->size) memcpy(p, m->data, m->size);
    memset(p + m->size, 0, cap - m->size);
    wipe(m->data, m->cap);
    free(m->data);
    m->data = p;
    m->cap = cap;
    return SQLITE_OK;
}

static int mem_write(sqlite3_file *pf, const void *in, int n, sqlite3_int64 off)
{
    mem_file *m = (mem_file *)pf;
    size_t end;
    int rc;

    if (off < 0 || n < 0) return SQLITE_IOERR_WRITE;
    end = (size_t)off + (size_t)n;
    if ((rc = mem_reserve(m, end)) != SQLITE_OK) return rc;
    if ((size_t)off > m->size) memset(m->data + m->size, 0, (size_t)off - m->size);
    memcpy(m->data + off, in, (size_t)n);
    if (end > m->size) m->size = end;
    return SQLITE_OK;
}

static int mem_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    mem_file *m = (mem_file *)pf;

    if (size < 0) return SQLITE_IOERR_TRUNCATE;
    if ((size_t)size < m->size) {
        wipe(m->data + size, m->size - (size_t)size);
        m->size = (size_t)size;
    }
    return SQLITE_OK;
}

static int mem_sync(sqlite3_file *pf, int flags)
{
    (void)pf;
    (void)flags;
    return SQLITE_OK;
}

static int mem_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    *size = (sqlite3_int64)((mem_file *)pf)->size;
    return SQLITE_OK;
}

static int mem_lock(sqlite3_file *pf, int lock)
{
    (void)pf;
    (void)lock;
    return SQLITE_OK;
}

static int mem_reserved(sqlite3_file *pf, int *out)
{
    (void)pf;
    *out = 0;
    return SQLITE_OK;
}

static int mem_control(sqlite3_file *pf, int op, void *arg)
{
    (void)pf;
    (void)op;
    (void)arg;
    return SQLITE_NOTFOUND;
}

static int mem_sector(sqlite3_file *pf)
{
    (void)pf;
    return 4096;
}

static int mem_device(sqlite3_file *pf)
{
    (void)pf;
    return SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL |
           SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static const sqlite3_io_methods mem_io = {
    1, mem_close, mem_read, mem_write, mem_truncate, mem_sync, mem_size, mem_lock, mem_lock,
    mem_reserved, mem_control, mem_sector, mem_device,
    NULL, NULL, NULL, NULL, NULL, NULL
};

int lsq_crypt_memfile_size(void)
{
    return (int)sizeof(mem_file);
}

int lsq_crypt_memfile_open(sqlite3_file *pf, int flags, int *out_flags)
{
    mem_file *m = (mem_file *)pf;

    memset(m, 0, sizeof *m);
    m->base.pMethods = &mem_io;
    if (out_flags != NULL) *out_flags = flags;
    return SQLITE_OK;
}
