/*
 * hot_journal.h - a rollback journal written by the port itself, for a
 * change SQLite does not make (a rekey, a replica's apply): the originals
 * of the pages about to change, in SQLite's format, so that if the
 * process dies before the journal is deleted, the next connection to
 * open the file plays it back and the file is whole again.
 *
 * Playback reads the journal through the connection's VFS, as SQLite's
 * own journals: a record's image is the page as it is on disk (for an
 * encrypted file, encrypted with its page number, as the shim writes
 * journal pages), its checksum is over the page as SQLite sees it.
 */
#ifndef LSQ_HOT_JOURNAL_H
#define LSQ_HOT_JOURNAL_H

#include "errors.h"

#include <stdint.h>

/* The original of page pgno: its bytes on disk into image and as SQLite
 * reads them into plain (ps bytes each). 1: journal it, 0: leave it out,
 * -1 with *err. */
typedef int (*lsq_journal_page_fn)(void *ctx, uint32_t pgno, unsigned char *image,
                                   unsigned char *plain, lsq_error *err);

/* Write the journal at jpath for a file of db_pages pages of ps bytes:
 * the pages 1..db_pages that page() includes, then the header, then one
 * fsync of the journal and of its directory. 0, or -1 with *err (the
 * journal may then be partly written: it is not hot without its header). */
int lsq_hot_journal_write(const char *jpath, uint32_t ps, uint32_t db_pages,
                          lsq_journal_page_fn page, void *ctx, lsq_error *err);

#endif
