/*
 * journal_gather.h - a VFS over SQLite's default one that gathers the
 * rollback journal's small contiguous writes into few large ones.
 *
 * SQLite journals a page in three writes (its number, the page, a
 * checksum); a vector index's transaction journals tens of thousands of
 * pages, and system calls are what this machine pays for most. Files
 * other than a main journal pass straight through, memory-mapping and
 * shared memory included.
 *
 * What the buffer must never break: a page of the database file is only
 * overwritten once its original is in the journal as far as the OS is
 * concerned, so that a process killed at any moment leaves a journal
 * that restores every page change that reached the file. Hence the
 * buffer is written out before any write, truncate or sync of any other
 * file opened through this VFS, and before anything else is done to the
 * journal itself (read, sync, truncate, size, lock, file control, close).
 * The journal's header is never held at all: its first byte is what
 * makes a journal hot, and zeroing it is how a PERSIST-mode commit ends.
 *
 * Threads: several connections on several threads may share the VFS
 * (an embedded replica's reader and its syncer); one mutex guards every
 * journal's buffer.
 */
#ifndef LSQ_JOURNAL_GATHER_H
#define LSQ_JOURNAL_GATHER_H

#include <sqlite3.h>

/* Registers the VFS (once; not as the default) and returns its name for
 * sqlite3_open_v2, or NULL when it cannot be registered (then open with
 * SQLite's default VFS: the same files, one write per piece). */
const char *lsq_journal_gather_vfs(void);

/* A gathering VFS over below, registered (not as the default) under
 * name, for the process's life: what lsq_journal_gather_vfs makes over
 * SQLite's default, and the tests over a recording VFS. NULL when out of
 * memory or not registered. Files below must have version-3 methods. */
sqlite3_vfs *lsq_gather_vfs_create(sqlite3_vfs *below, const char *name);

/* The VFS a plain (unencrypted) file is opened through: the one the
 * options name if any, else this one (NULL if unavailable). */
const char *lsq_plain_vfs(const char *named);

/* Journal writes that start before this offset (the header, which
 * SQLite pads to a sector of at least 512 bytes) are never held. */
#define LSQ_GATHER_HEAD 512

/* The largest run gathered before it is written out (bytes): under
 * 128 KiB, since SQLite's unix VFS writes at most 0x1ffff bytes a call
 * (seekAndWriteFd masks the length) and calls a longer write's remainder
 * a full disk. 30 journal records of a 4 KiB page. */
#define LSQ_GATHER_CAP (120 * 1024)

#endif
