/*
 * vfs_pass.c - the VFS methods a shim passes to the VFS below it.
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
