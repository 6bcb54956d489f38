/*
 * crypt_vfs.h - the encryption shim: a SQLite VFS over the default one that
 * keeps the main file, its rollback journal and its WAL in libSQL's
 * aes256cbc format (crypt_codec.h) and keeps temporary files in memory.
 *
 * One VFS per encrypted connection, registered under a unique name: it
 * carries that connection's key, so whatever the connection opens through
 * its default VFS (its journal and WAL, an ATTACH, VACUUM INTO, a backup's
 * destination) is encrypted with the same key, as sqlite3mc does. Open the
 * database with sqlite3_open_v2(path, ..., lsq_crypt_vfs_name(v)).
 *
 * Lifetime: the VFS stays registered until lsq_crypt_vfs_release has been
 * called and every file opened through it is closed (sqlite3_close_v2 may
 * leave a zombie handle whose files close later). The key is wiped then.
 *
 * Threads: a VFS may be used by several connections on several threads
 * (an embedded replica's reader and its syncer); the key only changes
 * through lsq_crypt_vfs_set_key, which the caller runs while no file of
 * the VFS does I/O (rekey holds the database's exclusive lock).
 */
#ifndef LSQ_CRYPT_VFS_H
#define LSQ_CRYPT_VFS_H

#include "crypt_codec.h"
#include "vfs_pass.h"

#include <sqlite3.h>

typedef struct lsq_crypt_vfs lsq_crypt_vfs;

/* File controls the shim answers (sqlite3_file_control on "main"). */
#define LSQ_FCNTL_CRYPT_STATUS 0x4c5301 /* int *: an LSQ_CRYPT_STATUS_* */
#define LSQ_FCNTL_CRYPT_RAW    0x4c5302 /* sqlite3_file **: the file under the shim */

/* What the shim found when it first locked the main file. */
enum {
    LSQ_CRYPT_STATUS_UNKNOWN = 0, /* not locked yet, or an empty (new) file */
    LSQ_CRYPT_STATUS_OK = 1,      /* page 1 decrypts with the key */
    LSQ_CRYPT_STATUS_WRONG_KEY = 2,
    LSQ_CRYPT_STATUS_PLAIN = 3    /* a plain SQLite file */
};

/* Register a new VFS for a key of n bytes (n > 0; libSQL's KDF runs here).
 * NULL on failure (out of memory, the crypto library). */
lsq_crypt_vfs *lsq_crypt_vfs_create(const void *pass, size_t n);

/* The registered name, for sqlite3_open_v2. */
const char *lsq_crypt_vfs_name(const lsq_crypt_vfs *v);

/* Replace the key (a derived master key; NULL: no key, files pass through
 * as plain SQLite files). */
void lsq_crypt_vfs_set_key(lsq_crypt_vfs *v, const lsq_crypt_key *key);

/* Whether the VFS has a key. */
int lsq_crypt_vfs_has_key(const lsq_crypt_vfs *v);

/* Its master key, NULL when it has none (v may be NULL). */
const lsq_crypt_key *lsq_crypt_vfs_key(const lsq_crypt_vfs *v);

/* One more owner (released with lsq_crypt_vfs_release). Returns v. */
lsq_crypt_vfs *lsq_crypt_vfs_retain(lsq_crypt_vfs *v);

/* The owner is done with it: unregistered and freed once its last file
 * closes. NULL is a no-op. */
void lsq_crypt_vfs_release(lsq_crypt_vfs *v);

/* ---- internals shared by crypt_vfs.c, crypt_wal.c, crypt_memfile.c ---- */

#ifdef LSQ_CRYPT_INTERNAL
#include <stdint.h>

enum crypt_kind { CK_PASS, CK_MAIN, CK_JOURNAL, CK_WAL };

typedef struct crypt_wal crypt_wal;

typedef struct crypt_file {
    lsq_file_over over;      /* first (vfs_pass.h): pMethods &crypt_io, the file below */
    lsq_crypt_vfs *vfs;      /* holds the key; referenced while open */
    enum crypt_kind kind;
    uint32_t ps;             /* main: page size, 0 until known */
    int status;              /* main: an LSQ_CRYPT_STATUS_* */
    unsigned char *buf;      /* scratch for one page (plus a WAL frame header) */
    size_t buf_cap;
    /* journal: a record is its page number (4 bytes), its page, its
     * checksum (4 bytes); the page's number is the 4-byte write or read
     * just before it */
    sqlite3_int64 rec_off;   /* where the last record number was, -1: none */
    uint32_t rec_pgno;
    sqlite3_int64 page_end;  /* the end of the last page image, -1: none */
    crypt_wal *wal;          /* wal: its state (crypt_wal.c) */
} crypt_file;

/* The key of a file's VFS, NULL when the VFS has none. */
const lsq_crypt_key *lsq_crypt_file_key(const crypt_file *f);

/* A scratch buffer of at least n bytes, NULL when out of memory. */
unsigned char *lsq_crypt_scratch(crypt_file *f, size_t n);

/* crypt_wal.c */
int lsq_crypt_wal_open(crypt_file *f);
void lsq_crypt_wal_close(crypt_file *f);
int lsq_crypt_wal_read(crypt_file *f, void *out, int n, sqlite3_int64 off);
int lsq_crypt_wal_write(crypt_file *f, const void *in, int n, sqlite3_int64 off);
int lsq_crypt_wal_flush(crypt_file *f);
int lsq_crypt_wal_truncate(crypt_file *f, sqlite3_int64 size);

/* crypt_memfile.c: a temporary file kept in memory (never on disk). */
int lsq_crypt_memfile_open(sqlite3_file *f, int flags, int *out_flags);
int lsq_crypt_memfile_size(void);
#endif

#endif
