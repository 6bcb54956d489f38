/*
 * crypt_wal.c - the encryption shim's WAL (../shared/encryption.md 2.7).
 *
 * The WAL header and the frame headers stay in the clear; each frame's
 * page is encrypted with the page number in its header. The catch is the
 * frame checksums: libSQL (sqlite3mc) computes them over the ciphertext,
 * while the SQLite above us computes them over the plaintext it hands us.
 * A WAL written with plaintext checksums would be thrown away by libSQL's
 * recovery from its first frame, and ours would throw away libSQL's: both
 * lose committed transactions after a crash. So the shim translates:
 *
 *   - on disk, every frame carries the ciphertext chain: a frame's
 *     header is held back (SQLite writes it just before the page) and
 *     written together with the encrypted page, its checksum recomputed;
 *     a header written alone (SQLite rewriting checksums of frames
 *     already on disk) is recomputed over the page on disk;
 *   - a whole frame read (recovery, the checksum rewrite) is checked
 *     against the ciphertext chain, decrypted, and handed up with the
 *     plaintext chain SQLite expects; a frame that fails the check goes
 *     up with a broken checksum, so SQLite's recovery stops there as it
 *     would on its own frames;
 *   - the 8-byte checksum read SQLite seeds a rewrite with gets the
 *     plaintext chain.
 * The plaintext chain of each frame is remembered (SQLite states it in
 * every header it writes); an entry counts only while the frame's stored
 * checksum is still the one it was remembered with, else the chain is
 * rebuilt from the last good entry.
 *
 * Any other write is refused (SQLITE_IOERR_WRITE): nothing unencrypted
 * reaches the file.
 */
#define LSQ_CRYPT_INTERNAL
#include "crypt_vfs.h"
#include "file_io.h"
#include "wipe.h"

#include <stdlib.h>
#include <string.h>

#define WAL_HDR 32
#define FRAME_HDR 24
#define WAL_MAGIC 0x377f0682u

typedef struct frame_ck {
    uint32_t stored[2]; /* the checksum on disk (ciphertext chain) */
    uint32_t plain[2];  /* the one SQLite expects (plaintext chain) */
    int known;
} frame_ck;

struct crypt_wal {
    unsigned char hdr[WAL_HDR];
    int have_hdr;
    uint32_t ps;
    int big;                        /* checksum words big-endian (magic bit 0) */
    unsigned char pend[FRAME_HDR];  /* a frame header held back for its page */
    sqlite3_int64 pend_off;
    int have_pend;
    frame_ck *ck;                   /* by frame number - 1 */
    size_t nck;
};

static uint32_t le32(const unsigned char *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* SQLite's walChecksumBytes: n a multiple of 8. */
static void cksum(int big, const unsigned char *d, size_t n, uint32_t s[2])
{
    uint32_t s1 = s[0], s2 = s[1];
    size_t i;

    for (i = 0; i < n; i += 8) {
        s1 += (big ? lsq_get_be32(d + i) : le32(d + i)) + s2;
        s2 += (big ? lsq_get_be32(d + i + 4) : le32(d + i + 4)) + s1;
    }
    s[0] = s1;
    s[1] = s2;
}

static sqlite3_file *real(crypt_file *f)
{
    return f->over.real;
}

static int raw_read(crypt_file *f, void *out, int n, sqlite3_int64 off)
{
    return real(f)->pMethods->xRead(real(f), out, n, off);
}

static int raw_write(crypt_file *f, const void *in, int n, sqlite3_int64 off)
{
    return real(f)->pMethods->xWrite(real(f), in, n, off);
}

static void take_hdr(crypt_wal *w, const unsigned char *h)
{
    uint32_t magic = lsq_get_be32(h), ps = lsq_get_be32(h + 8);

    w->have_hdr = (magic & ~1u) == WAL_MAGIC && ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0;
    if (!w->have_hdr) return;
    memcpy(w->hdr, h, WAL_HDR);
    w->ps = ps;
    w->big = (int)(magic & 1u);
}

/* The WAL header, read once (and followed on every write of it). */
static int load_hdr(crypt_file *f)
{
    crypt_wal *w = f->wal;
    unsigned char h[WAL_HDR];
    int rc;

    if (w->have_hdr) return SQLITE_OK;
    rc = raw_read(f, h, WAL_HDR, 0);
    if (rc == SQLITE_IOERR_SHORT_READ) return SQLITE_OK; /* an empty WAL */
    if (rc != SQLITE_OK) return rc;
    take_hdr(w, h);
    return SQLITE_OK;
}

static sqlite3_int64 frame_off(const crypt_wal *w, uint32_t i)
{
    return WAL_HDR + (sqlite3_int64)(i - 1) * (w->ps + FRAME_HDR);
}

/* The frame (1-based) holding off and the position in it; 0 before the
 * first frame. */
static uint32_t frame_at(const crypt_wal *w, sqlite3_int64 off, sqlite3_int64 *pos)
{
    sqlite3_int64 fs = w->ps + FRAME_HDR;

    if (off < WAL_HDR) return 0;
    *pos = (off - WAL_HDR) % fs;
    return (uint32_t)((off - WAL_HDR) / fs) + 1;
}

static frame_ck *ck_slot(crypt_wal *w, uint32_t i)
{
    if (i == 0) return NULL;
    if (i > w->nck) {
        size_t n = w->nck ? w->nck : 256;
        frame_ck *p;

        while (n < i) n *= 2;
        if ((p = realloc(w->ck, n * sizeof *p)) == NULL) return NULL;
        memset(p + w->nck, 0, (n - w->nck) * sizeof *p);
        w->ck = p;
        w->nck = n;
    }
    return &w->ck[i - 1];
}

static void remember(crypt_wal *w, uint32_t i, const uint32_t stored[2], const uint32_t *plain)
{
    frame_ck *c = ck_slot(w, i);

    if (c == NULL) return; /* out of memory: the chain is rebuilt when asked */
    c->stored[0] = stored[0];
    c->stored[1] = stored[1];
    c->known = plain != NULL;
    if (plain != NULL) {
        c->plain[0] = plain[0];
        c->plain[1] = plain[1];
    }
}

/* The checksum stored on disk for frame i (frame 0: the WAL header's). */
static int stored_of(crypt_file *f, uint32_t i, uint32_t out[2])
{
    crypt_wal *w = f->wal;
    unsigned char b[8];
    int rc;

    if (i == 0) {
        out[0] = lsq_get_be32(w->hdr + 24);
        out[1] = lsq_get_be32(w->hdr + 28);
        return SQLITE_OK;
    }
    if ((rc = raw_read(f, b, 8, frame_off(w, i) + 16)) != SQLITE_OK) return rc;
    out[0] = lsq_get_be32(b);
    out[1] = lsq_get_be32(b + 4);
    return SQLITE_OK;
}

/* Frame i's plaintext chain: from the last remembered entry that still
 * matches the disk, recomputed forward. */
static int plain_of(crypt_file *f, uint32_t i, uint32_t out[2])
{
    crypt_wal *w = f->wal;
    const lsq_crypt_key *key = lsq_crypt_file_key(f);
    uint32_t j = i, s[2], disk[2];
    unsigned char *fr = NULL;
    int rc;

    /* Back to a frame whose plaintext chain is known (frame 0's is the
     * header's checksum, the same in both chains). */
    for (; j > 0; j--) {
        frame_ck *c = j <= w->nck ? &w->ck[j - 1] : NULL;

        if (c == NULL || !c->known) continue;
        if ((rc = stored_of(f, j, disk)) != SQLITE_OK) return rc;
        if (disk[0] == c->stored[0] && disk[1] == c->stored[1]) break;
    }
    if (j == 0) {
        s[0] = lsq_get_be32(w->hdr + 24);
        s[1] = lsq_get_be32(w->hdr + 28);
    } else {
        s[0] = w->ck[j - 1].plain[0];
        s[1] = w->ck[j - 1].plain[1];
    }
    if (j < i && (fr = lsq_crypt_scratch(f, w->ps + FRAME_HDR)) == NULL) return SQLITE_IOERR_NOMEM;
    for (j++; j <= i; j++) {
        rc = raw_read(f, fr, (int)(w->ps + FRAME_HDR), frame_off(w, j));
        if (rc != SQLITE_OK) return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_READ : rc;
        disk[0] = lsq_get_be32(fr + 16);
        disk[1] = lsq_get_be32(fr + 20);
        /* A frame of page 0 is invalid (read_frame): its chain is never
         * asked for past it, whatever it holds. */
        if (lsq_get_be32(fr) != 0 &&
            lsq_crypt_decrypt_page(key, lsq_get_be32(fr), fr + FRAME_HDR, fr + FRAME_HDR, w->ps) ==
                LSQ_CRYPT_ERROR)
            return SQLITE_IOERR_READ;
        cksum(w->big, fr, 8, s);
        cksum(w->big, fr + FRAME_HDR, w->ps, s);
        remember(w, j, disk, s);
    }
    out[0] = s[0];
    out[1] = s[1];
    return SQLITE_OK;
}

/* ---- writes ----------------------------------------------------------------------------- */

/* Write frame i's header (h, as SQLite wrote it, its plaintext checksum
 * in bytes 16..23) and encrypted page (ct) with the ciphertext chain.
 * frame: 24 + ps bytes, header then ciphertext; only_hdr: the page is on
 * disk already, write the header alone. */
static int write_frame(crypt_file *f, uint32_t i, unsigned char *frame, const uint32_t *plain,
                       int only_hdr)
{
    crypt_wal *w = f->wal;
    uint32_t s[2];
    int rc;

    if ((rc = stored_of(f, i - 1, s)) != SQLITE_OK) return rc;
    cksum(w->big, frame, 8, s);
    cksum(w->big, frame + FRAME_HDR, w->ps, s);
    lsq_put_be32(frame + 16, s[0]);
    lsq_put_be32(frame + 20, s[1]);
    rc = raw_write(f, frame, only_hdr ? FRAME_HDR : (int)(w->ps + FRAME_HDR), frame_off(w, i));
    if (rc == SQLITE_OK) remember(w, i, s, plain);
    return rc;
}

int lsq_crypt_wal_flush(crypt_file *f)
{
    crypt_wal *w = f->wal;
    sqlite3_int64 pos;
    uint32_t i, plain[2];
    unsigned char *fr;
    int rc;

    if (w == NULL || !w->have_pend) return SQLITE_OK;
    w->have_pend = 0;
    i = frame_at(w, w->pend_off, &pos);
    if ((fr = lsq_crypt_scratch(f, w->ps + FRAME_HDR)) == NULL) return SQLITE_IOERR_NOMEM;
    memcpy(fr, w->pend, FRAME_HDR);
    rc = raw_read(f, fr + FRAME_HDR, (int)w->ps, w->pend_off + FRAME_HDR);
    if (rc == SQLITE_IOERR_SHORT_READ)
        /* No page behind it: a header SQLite wrote and abandoned. It
         * cannot pass anyone's check, and holds no page content. */
        return raw_write(f, fr, FRAME_HDR, w->pend_off);
    if (rc != SQLITE_OK) return rc;
    plain[0] = lsq_get_be32(w->pend + 16);
    plain[1] = lsq_get_be32(w->pend + 20);
    return write_frame(f, i, fr, plain, 1);
}

static int write_page(crypt_file *f, uint32_t i, const unsigned char *page, sqlite3_int64 off)
{
    crypt_wal *w = f->wal;
    const lsq_crypt_key *key = lsq_crypt_file_key(f);
    unsigned char *fr;
    uint32_t plain[2];
    int rc, from_sqlite = w->have_pend && w->pend_off == off - FRAME_HDR;

    if (!from_sqlite && (rc = lsq_crypt_wal_flush(f)) != SQLITE_OK) return rc;
    if ((fr = lsq_crypt_scratch(f, w->ps + FRAME_HDR)) == NULL) return SQLITE_IOERR_NOMEM;
    if (from_sqlite) {
        memcpy(fr, w->pend, FRAME_HDR);
        w->have_pend = 0;
    } else {
        /* A frame rewritten in place within a transaction: its header is
         * on disk (SQLite rewrites the checksums from it at commit). */
        rc = raw_read(f, fr, FRAME_HDR, off - FRAME_HDR);
        if (rc != SQLITE_OK) return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_WRITE : rc;
    }
    plain[0] = lsq_get_be32(fr + 16);
    plain[1] = lsq_get_be32(fr + 20);
    if (lsq_crypt_encrypt_page(key, lsq_get_be32(fr), page, fr + FRAME_HDR, w->ps) != LSQ_CRYPT_OK)
        return SQLITE_IOERR_WRITE;
    return write_frame(f, i, fr, from_sqlite ? plain : NULL, 0);
}

int lsq_crypt_wal_write(crypt_file *f, const void *in, int n, sqlite3_int64 off)
{
    crypt_wal *w = f->wal;
    sqlite3_int64 pos = 0;
    uint32_t i;
    int rc;

    if (off == 0 && n == WAL_HDR) {
        if ((rc = lsq_crypt_wal_flush(f)) != SQLITE_OK) return rc;
        if ((rc = raw_write(f, in, n, 0)) != SQLITE_OK) return rc;
        take_hdr(w, in);
        return SQLITE_OK;
    }
    if ((rc = load_hdr(f)) != SQLITE_OK) return rc;
    if (!w->have_hdr || (i = frame_at(w, off, &pos)) == 0) return SQLITE_IOERR_WRITE;
    if (n == FRAME_HDR && pos == 0) {
        if ((rc = lsq_crypt_wal_flush(f)) != SQLITE_OK) return rc;
        memcpy(w->pend, in, FRAME_HDR);
        w->pend_off = off;
        w->have_pend = 1;
        return SQLITE_OK;
    }
    if ((uint32_t)n == w->ps && pos == FRAME_HDR) return write_page(f, i, in, off);
    return SQLITE_IOERR_WRITE;
}

/* ---- reads ------------------------------------------------------------------------------ */

/* A whole frame: checked against the ciphertext chain, decrypted, with
 * the plaintext chain in its header. */
static int read_frame(crypt_file *f, uint32_t i, unsigned char *out, sqlite3_int64 off)
{
    crypt_wal *w = f->wal;
    uint32_t s[2], stored[2], plain[2];
    int rc = raw_read(f, out, (int)(w->ps + FRAME_HDR), off);

    if (rc != SQLITE_OK) return rc;
    stored[0] = lsq_get_be32(out + 16);
    stored[1] = lsq_get_be32(out + 20);
    if ((rc = stored_of(f, i - 1, s)) != SQLITE_OK) return rc;
    cksum(w->big, out, 8, s);
    cksum(w->big, out + FRAME_HDR, w->ps, s);
    /* Page 0 is no page: SQLite's own walDecodeFrame refuses such a frame. */
    if (lsq_get_be32(out) == 0 || memcmp(out + 8, w->hdr + 16, 8) != 0 || s[0] != stored[0] ||
        s[1] != stored[1]) {
        /* Not a valid frame: make sure SQLite sees it as one neither. */
        lsq_put_be32(out + 16, ~stored[0]);
        lsq_put_be32(out + 20, ~stored[1] ^ 0x5a5a5a5au);
        return SQLITE_OK;
    }
    if (lsq_crypt_decrypt_page(lsq_crypt_file_key(f), lsq_get_be32(out), out + FRAME_HDR, out + FRAME_HDR,
                               w->ps) == LSQ_CRYPT_ERROR)
        return SQLITE_IOERR_READ;
    if ((rc = plain_of(f, i - 1, plain)) != SQLITE_OK) return rc;
    cksum(w->big, out, 8, plain);
    cksum(w->big, out + FRAME_HDR, w->ps, plain);
    lsq_put_be32(out + 16, plain[0]);
    lsq_put_be32(out + 20, plain[1]);
    remember(w, i, stored, plain);
    return SQLITE_OK;
}

/* A page of frame i, decrypted with the page number in its header. */
static int read_page(crypt_file *f, unsigned char *out, sqlite3_int64 off)
{
    crypt_wal *w = f->wal;
    unsigned char *fr = lsq_crypt_scratch(f, w->ps + FRAME_HDR);
    int rc;

    if (fr == NULL) return SQLITE_IOERR_NOMEM;
    rc = raw_read(f, fr, (int)(w->ps + FRAME_HDR), off - FRAME_HDR);
    if (rc == SQLITE_IOERR_SHORT_READ) {
        memset(out, 0, w->ps);
        return rc;
    }
    if (rc != SQLITE_OK) return rc;
    if (lsq_crypt_decrypt_page(lsq_crypt_file_key(f), lsq_get_be32(fr), fr + FRAME_HDR, out, w->ps) ==
        LSQ_CRYPT_ERROR)
        return SQLITE_IOERR_READ;
    return SQLITE_OK;
}

int lsq_crypt_wal_read(crypt_file *f, void *out, int n, sqlite3_int64 off)
{
    crypt_wal *w = f->wal;
    sqlite3_int64 pos = 0;
    uint32_t i, plain[2];
    int rc;

    if ((rc = lsq_crypt_wal_flush(f)) != SQLITE_OK) return rc;
    if (off == 0 && n == WAL_HDR) {
        rc = raw_read(f, out, n, off);
        if (rc == SQLITE_OK) take_hdr(w, out);
        return rc;
    }
    if ((rc = load_hdr(f)) != SQLITE_OK) return rc;
    if (!w->have_hdr || (i = frame_at(w, off, &pos)) == 0) return raw_read(f, out, n, off);
    if ((uint32_t)n == w->ps + FRAME_HDR && pos == 0) return read_frame(f, i, out, off);
    if ((uint32_t)n == w->ps && pos == FRAME_HDR) return read_page(f, out, off);
    if (n == 8 && pos == 16) {
        if ((rc = plain_of(f, i, plain)) != SQLITE_OK) return rc;
        lsq_put_be32(out, plain[0]);
        lsq_put_be32((unsigned char *)out + 4, plain[1]);
        return SQLITE_OK;
    }
    /* Anything else holds no page content. */
    return raw_read(f, out, n, off);
}

int lsq_crypt_wal_truncate(crypt_file *f, sqlite3_int64 size)
{
    crypt_wal *w = f->wal;
    int rc;

    if ((rc = lsq_crypt_wal_flush(f)) != SQLITE_OK) return rc;
    if ((rc = real(f)->pMethods->xTruncate(real(f), size)) != SQLITE_OK) return rc;
    if (size < WAL_HDR) w->have_hdr = 0;
    if (w->have_hdr && w->nck > 0) {
        uint32_t keep = (uint32_t)((size - WAL_HDR) / (w->ps + FRAME_HDR));

        if (keep < w->nck) memset(w->ck + keep, 0, (w->nck - keep) * sizeof *w->ck);
    }
    return SQLITE_OK;
}

int lsq_crypt_wal_open(crypt_file *f)
{
    f->wal = calloc(1, sizeof *f->wal);
    return f->wal != NULL ? SQLITE_OK : SQLITE_NOMEM;
}

void lsq_crypt_wal_close(crypt_file *f)
{
    if (f->wal == NULL) return;
    (void)lsq_crypt_wal_flush(f);
    free(f->wal->ck);
    wipe(f->wal, sizeof *f->wal);
    free(f->wal);
    f->wal = NULL;
}
