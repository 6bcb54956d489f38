/*
 * vfs_pass.c - the VFS and file methods a shim passes to the VFS below it.
 */
#include "vfs_pass.h"

#include <stddef.h>

static sqlite3_vfs *below(sqlite3_vfs *pv)
{
    return ((lsq_vfs_below *)pv->pAppData)->real;
}

static int p_delete(sqlite3_vfs *pv, const char *name, int sync_dir)
{
    sqlite3_vfs *r = below(pv);

    return r->xDelete(r, name, sync_dir);
}

static int p_access(sqlite3_vfs *pv, const char *name, int flags, int *out)
{
    sqlite3_vfs *r = below(pv);

    return r->xAccess(r, name, flags, out);
}

static int p_full(sqlite3_vfs *pv, const char *name, int n, char *out)
{
    sqlite3_vfs *r = below(pv);

    return r->xFullPathname(r, name, n, out);
}

static void *p_dlopen(sqlite3_vfs *pv, const char *name)
{
    sqlite3_vfs *r = below(pv);

    return r->xDlOpen(r, name);
}

static void p_dlerror(sqlite3_vfs *pv, int n, char *out)
{
    sqlite3_vfs *r = below(pv);

    r->xDlError(r, n, out);
}

static void (*p_dlsym(sqlite3_vfs *pv, void *h, const char *sym))(void)
{
    sqlite3_vfs *r = below(pv);

    return r->xDlSym(r, h, sym);
}

static void p_dlclose(sqlite3_vfs *pv, void *h)
{
    sqlite3_vfs *r = below(pv);

    r->xDlClose(r, h);
}

static int p_random(sqlite3_vfs *pv, int n, char *out)
{
    sqlite3_vfs *r = below(pv);

    return r->xRandomness(r, n, out);
}

static int p_sleep(sqlite3_vfs *pv, int us)
{
    sqlite3_vfs *r = below(pv);

    return r->xSleep(r, us);
}

static int p_time(sqlite3_vfs *pv, double *out)
{
    sqlite3_vfs *r = below(pv);

    return r->xCurrentTime(r, out);
}

static int p_last_error(sqlite3_vfs *pv, int n, char *out)
{
    sqlite3_vfs *r = below(pv);

    return r->xGetLastError ? r->xGetLastError(r, n, out) : 0;
}

static int p_time64(sqlite3_vfs *pv, sqlite3_int64 *out)
{
    sqlite3_vfs *r = below(pv);
    double d = 0;
    int rc;

    if (r->iVersion >= 2 && r->xCurrentTimeInt64 != NULL) return r->xCurrentTimeInt64(r, out);
    rc = r->xCurrentTime(r, &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

void lsq_vfs_pass_init(sqlite3_vfs *v)
{
    v->iVersion = 2;
    v->xDelete = p_delete;
    v->xAccess = p_access;
    v->xFullPathname = p_full;
    v->xDlOpen = p_dlopen;
    v->xDlError = p_dlerror;
    v->xDlSym = p_dlsym;
    v->xDlClose = p_dlclose;
    v->xRandomness = p_random;
    v->xSleep = p_sleep;
    v->xCurrentTime = p_time;
    v->xGetLastError = p_last_error;
    v->xCurrentTimeInt64 = p_time64;
}

/* ---- file methods ---------------------------------------------------------------------- */

/* A shim's file starts with an lsq_file_over (vfs_pass.h), so the
 * sqlite3_file SQLite hands us is the address of one. */
static sqlite3_file *under(sqlite3_file *pf)
{
    return ((lsq_file_over *)pf)->real;
}

int lsq_file_pass_close(sqlite3_file *pf)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xClose(r);
}

int lsq_file_pass_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xRead(r, p, n, off);
}

int lsq_file_pass_size(sqlite3_file *pf, sqlite3_int64 *out)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xFileSize(r, out);
}

int lsq_file_pass_lock(sqlite3_file *pf, int level)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xLock(r, level);
}

int lsq_file_pass_unlock(sqlite3_file *pf, int level)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xUnlock(r, level);
}

int lsq_file_pass_reserved(sqlite3_file *pf, int *out)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xCheckReservedLock(r, out);
}

int lsq_file_pass_control(sqlite3_file *pf, int op, void *arg)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xFileControl(r, op, arg);
}

int lsq_file_pass_sector(sqlite3_file *pf)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xSectorSize(r);
}

int lsq_file_pass_device(sqlite3_file *pf)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xDeviceCharacteristics(r);
}

int lsq_file_pass_shm_map(sqlite3_file *pf, int region, int size, int extend, void volatile **out)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xShmMap(r, region, size, extend, out);
}

int lsq_file_pass_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xShmLock(r, offset, n, flags);
}

void lsq_file_pass_shm_barrier(sqlite3_file *pf)
{
    sqlite3_file *r = under(pf);

    r->pMethods->xShmBarrier(r);
}

int lsq_file_pass_shm_unmap(sqlite3_file *pf, int del)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xShmUnmap(r, del);
}

int lsq_file_pass_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **out)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xFetch(r, off, n, out);
}

int lsq_file_pass_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    sqlite3_file *r = under(pf);

    return r->pMethods->xUnfetch(r, off, p);
}
