/*
 * hot_journal.c - a rollback journal of the port's own (hot_journal.h).
 * The format is SQLite's (pager.c): a header of one "sector" (the size is
 * in the header, SQLite takes it from there), then records of the page
 * number, the page image and a checksum; big-endian words.
 */
#include "hot_journal.h"
#include "file_io.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOURNAL_SECTOR 4096
static const unsigned char kJournalMagic[8] = { 0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7 };

/* pager.c pager_cksum: the nonce plus every 200th byte from the end. */
static uint32_t journal_cksum(uint32_t nonce, const unsigned char *page, uint32_t ps)
{
    uint32_t ck = nonce;
    int i;

    for (i = (int)ps - 200; i > 0; i -= 200) ck += page[i];
    return ck;
}

int lsq_hot_journal_write(const char *jpath, uint32_t ps, uint32_t db_pages,
                          lsq_journal_page_fn page, void *ctx, lsq_error *err)
{
    unsigned char *rec = malloc(4 + (size_t)ps + 4), *plain = malloc(ps), hdr[JOURNAL_SECTOR];
    uint32_t nonce = 0, nrec = 0, pg;
    off_t off = JOURNAL_SECTOR;
    int fd = -1, rc = -1, in;

    if (rec == NULL || plain == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        goto out;
    }
    sqlite3_randomness(sizeof nonce, &nonce);
    fd = open(jpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        (void)lsq_io_error(err, "cannot create", jpath);
        goto out;
    }
    for (pg = 1; pg <= db_pages; pg++) {
        if ((in = page(ctx, pg, rec + 4, plain, err)) < 0) goto out;
        if (in == 0) continue;
        lsq_put_be32(rec, pg);
        lsq_put_be32(rec + 4 + ps, journal_cksum(nonce, plain, ps));
        if (lsq_pwrite_all(fd, rec, 4 + (size_t)ps + 4, off) != 0) {
            (void)lsq_io_error(err, "cannot write", jpath);
            goto out;
        }
        off += 4 + (off_t)ps + 4;
        nrec++;
    }
    /* The header last, then one fsync: until the header is there the
     * file is not a journal at all. */
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, kJournalMagic, 8);
    lsq_put_be32(hdr + 8, nrec);
    lsq_put_be32(hdr + 12, nonce);
    lsq_put_be32(hdr + 16, db_pages);
    lsq_put_be32(hdr + 20, JOURNAL_SECTOR);
    lsq_put_be32(hdr + 24, ps);
    if (lsq_pwrite_all(fd, hdr, sizeof hdr, 0) != 0 || fsync(fd) != 0) {
        (void)lsq_io_error(err, "cannot write", jpath);
        goto out;
    }
    rc = lsq_sync_dir(jpath, err);
out:
    if (fd >= 0 && close(fd) != 0 && rc == 0) rc = lsq_io_error(err, "cannot write", jpath);
    if (plain != NULL) explicit_bzero(plain, ps); /* a page of an encrypted file */
    free(plain);
    free(rec);
    return rc;
}
