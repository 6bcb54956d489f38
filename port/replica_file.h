/*
 * replica_file.h - putting pulled pages into a replica's file, on stock
 * SQLite, with readers in any process (../shared/protocols.md 5.3,
 * algorithm A), and the sidecar that says which server revision the file
 * holds.
 *
 * Two ways in:
 * - a file that does not exist yet is written whole beside it and linked
 *   into place (never renamed over a file someone may have open: their
 *   connections would keep the old inode, 5.1);
 * - an existing file is changed under SQLite's own EXCLUSIVE lock through
 *   the connection's own sqlite3_file (closing a second descriptor of the
 *   file would drop SQLite's POSIX locks), with a rollback journal written
 *   by us first: a crash at any moment leaves a hot journal that the next
 *   read-write connection of any SQLite rolls back. Page 1 is patched so
 *   that stock SQLite reads the server's pages as its own (H4-H6): rollback
 *   journal mode, a bumped change counter (other connections drop their
 *   caches), the page count valid.
 */
#ifndef LSQ_REPLICA_FILE_H
#define LSQ_REPLICA_FILE_H

#include <sqlite3.h>
#include <stdint.h>
#include "crypt_codec.h"
#include "pull_proto.h"

/* What the sidecar (<db>-replica) holds. */
typedef struct replica_state {
    long long revision;  /* the server revision the file holds; -1: none yet */
    uint32_t probe_pgno; /* the page written by frame `revision' (0: unknown) */
    uint64_t probe_hash; /* its pull_page_hash */
    int frozen;          /* freeze/1: a plain database now, never synced */
} replica_state;

/* The sidecar's name for a database path (malloc'd), or NULL. */
char *replica_state_path(const char *db_path);

/* Read the sidecar: 1 read, 0 there is none (*st = no revision), -1 with
 * *err (unreadable or not ours). */
int replica_state_read(const char *db_path, replica_state *st, lsq_error *err);

/* Replace the sidecar atomically (a temporary file, fsync, rename, fsync
 * of the directory). 0 or -1 with *err. */
int replica_state_write(const char *db_path, const replica_state *st, lsq_error *err);

/* A new file at db_path made of the full page set r, with state *st
 * written first (encrypted under key as the encryption shim writes, when
 * key is not NULL): 0; 1 when a file appeared at db_path meanwhile
 * (someone else bootstrapped it: nothing done); -1 with *err. */
int replica_file_create(const char *db_path, const pull_resp *r, const replica_state *st,
                        const lsq_crypt_key *key, lsq_error *err);

/* Apply r to the existing replica open read-write (journal mode DELETE)
 * on db, and replace the sidecar with *next, both under one EXCLUSIVE
 * lock. An incremental set applies only while the sidecar still says
 * `base' (another process may have applied meanwhile): returns 1, nothing
 * done, when it does not. 0 applied; -1 with *err, the file as it was (or
 * a hot journal that the next read rolls back). *locked_us: how long new
 * readers were kept out (from BEGIN EXCLUSIVE, whose PENDING lock does
 * that while it waits for the readers already in, to COMMIT). */
int replica_file_apply(sqlite3 *db, const char *db_path, const pull_resp *r, long long base,
                       const replica_state *next, long long *locked_us, lsq_error *err);

/* The page 1 of an empty database (no tables), as SQLite would make it
 * with 4096-byte pages and UTF-8: what a server with no pages at all is
 * replicated as. */
void replica_empty_page1(unsigned char page[PULL_PAGE_SIZE]);

/* The 4-byte big-endian fields of a SQLite header. */
uint32_t replica_get_u32(const unsigned char *p);
void replica_put_u32(unsigned char *p, uint32_t v);

#endif
