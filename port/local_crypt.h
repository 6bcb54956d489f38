/*
 * local_crypt.h - encryption at rest for the local backend: the VFS of an
 * encrypted connection, and the checks at open that turn a wrong key, a
 * plain file opened with a key, or an encrypted file opened without one
 * into an error there and then (SQLite alone would say "file is not a
 * database" at the first statement).
 */
#ifndef LSQ_LOCAL_CRYPT_H
#define LSQ_LOCAL_CRYPT_H

#include "backend.h"
#include "crypt_vfs.h"

#include <sqlite3.h>

/* The VFS for o's key into *out (NULL when o has no key; o->crypt's,
 * retained, when o has one). 0, or -1 with *err (an empty key, out of
 * memory). Released with lsq_crypt_vfs_release. */
int lsq_local_crypt_vfs(const lsq_open_opts *o, lsq_crypt_vfs **out, lsq_error *err);

/* After sqlite3_open_v2: with a key (v != NULL), the connection's settings
 * (secure_delete, as libSQL's) and the key check; without one, whether the
 * file is an encrypted database. 0, or -1 with *err: wrong_key,
 * not_encrypted, encrypted, bad_argument (a file: URI naming another VFS). */
int lsq_local_crypt_check(sqlite3 *db, const lsq_crypt_vfs *v, lsq_error *err);

/* An open that failed with notadb before the checks above could run (a
 * replica's file is prepared first): the error said as they would say
 * it, from the file's first bytes. */
void lsq_local_crypt_explain(const char *path, const lsq_crypt_vfs *v, lsq_error *err);

#endif
