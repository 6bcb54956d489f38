/*
 * vfs_pass.h - the VFS methods a shim over another VFS passes straight
 * down (all but xOpen): names, randomness, time, sleep, dynamic loading.
 *
 * The shim's pAppData must point to a struct whose first member is the
 * sqlite3_vfs * underneath (lsq_vfs_below).
 */
#ifndef LSQ_VFS_PASS_H
#define LSQ_VFS_PASS_H

#include <sqlite3.h>

typedef struct lsq_vfs_below {
    sqlite3_vfs *real;
} lsq_vfs_below;

/* Fills every method of v but xOpen with one calling the same method of
 * the VFS below, and iVersion with 2. */
void lsq_vfs_pass_init(sqlite3_vfs *v);

#endif
