/*
 * vfs_pass.h - what a shim over another VFS passes straight down: the VFS
 * methods but xOpen (names, randomness, time, sleep, dynamic loading), and
 * the file methods a shim does not change (lsq_file_pass_*).
 *
 * The shim's pAppData must point to a struct whose first member is the
 * sqlite3_vfs * underneath (lsq_vfs_below); each of its open files must
 * start with an lsq_file_over.
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

/* The head of a shim's open file: SQLite's part, then the file below
 * (which the shim keeps right after its own struct). */
typedef struct lsq_file_over {
    sqlite3_file base;      /* pMethods: the shim's */
    sqlite3_file *real;     /* the file below */
} lsq_file_over;

/* File methods that call the same method of the file below, unchanged.
 * The shared-memory and memory-mapping ones need a file below of
 * version 2 and 3 respectively. */
int lsq_file_pass_close(sqlite3_file *pf);
int lsq_file_pass_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off);
int lsq_file_pass_size(sqlite3_file *pf, sqlite3_int64 *out);
int lsq_file_pass_lock(sqlite3_file *pf, int level);
int lsq_file_pass_unlock(sqlite3_file *pf, int level);
int lsq_file_pass_reserved(sqlite3_file *pf, int *out);
int lsq_file_pass_control(sqlite3_file *pf, int op, void *arg);
int lsq_file_pass_sector(sqlite3_file *pf);
int lsq_file_pass_device(sqlite3_file *pf);
int lsq_file_pass_shm_map(sqlite3_file *pf, int region, int size, int extend, void volatile **out);
int lsq_file_pass_shm_lock(sqlite3_file *pf, int offset, int n, int flags);
void lsq_file_pass_shm_barrier(sqlite3_file *pf);
int lsq_file_pass_shm_unmap(sqlite3_file *pf, int del);
int lsq_file_pass_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **out);
int lsq_file_pass_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p);

#endif
