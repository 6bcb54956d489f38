/*
 * crypt_rekey.h - change the key of a database file in place, crash-safe:
 * encrypt a plain file, decrypt an encrypted one, or re-encrypt it under
 * another key, page by page, with the port's own hot journal of the
 * originals (hot_journal.h) written and synced first.
 *
 * A crash before the journal is deleted leaves a hot journal that the
 * next open under the old key plays back. Page 1 is rewritten last: until
 * then the file's key check (crypt_vfs.c, at the first lock) accepts only
 * the old key, so nobody can play the journal back under the new key;
 * after it, the file is whole under the new key, and a playback under the
 * new key fails its first record's checksum and deletes the journal
 * without writing a page.
 */
#ifndef LSQ_CRYPT_REKEY_H
#define LSQ_CRYPT_REKEY_H

#include "crypt_codec.h"
#include "errors.h"

#include <sqlite3.h>

/* Re-encode the main file of db from old_key to new_key (NULL: plain).
 * The caller holds the file's exclusive lock (BEGIN EXCLUSIVE, rollback-
 * journal mode) and changes nothing else meanwhile. wal: the database was
 * in WAL mode before the caller took it out for the rekey; page 1 then
 * says WAL mode both in the journal and once rewritten, so that a crash
 * at any moment leaves a WAL database, as the caller's switch back would.
 * 0, or -1 with *err; a failure after the journal was written leaves it
 * hot, so the next access rolls the file back to the old key. */
int lsq_crypt_rekey_file(sqlite3 *db, const lsq_crypt_key *old_key,
                         const lsq_crypt_key *new_key, int wal, lsq_error *err);

#endif
