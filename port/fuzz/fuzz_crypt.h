/*
 * fuzz_crypt.h - one input of the encryption code (crypt_codec.c and the
 * VFS shim: crypt_vfs.c, crypt_wal.c), shared by the libFuzzer target
 * port/fuzz/fuzz_crypt.c and the corpus replay in
 * port/test/test_fuzz_corpus.c.
 *
 * The top two bits of byte 0 pick what the input is:
 *
 * 00, 01: the page codec. Byte 0 bits 0-2: page size 512 << n; bit 3: a
 *   page 1 is made well formed (the magic, clear bytes 16..23 for the page
 *   size); bit 4: the page number is 1; bit 5: the codec is also called
 *   with sizes that are not page sizes. Bytes 1-4: the page number (le32),
 *   byte 5: the key length (0..63), then the key, then the page (cut or
 *   zero-padded to the page size). Every page the codec sees ends at a
 *   PROT_NONE page (fuzz_harness.h), so an over-read faults even inside
 *   gnutls. What must hold: the KDF refuses an empty key and ignores bytes
 *   past 32; the IV is the one encryption.md 2.3 defines (computed here in
 *   64-bit arithmetic); page number 0 and bad sizes are refused, the
 *   buffers untouched; decrypt(encrypt(x)) == x and encrypt(decrypt(x)) ==
 *   x for pages other than 1; for page 1, the clear bytes 16..23 stay, a
 *   well-formed page comes back whole (the magic included), a wrong key is
 *   refused by decrypt and by check_page1, and check_page1 agrees with
 *   decrypt on any bytes.
 *
 * 10: a crashed WAL; 11: a hot rollback journal. Byte 1: flags (bit 0:
 *   fix the WAL's header and checksums / the journal's header (magic,
 *   page size, a sector size if it has none) and record checksums, so
 *   frames and records are valid; bit 1: write afterwards
 *   and compare the files; bit 2: big-endian WAL checksums; bits 4-5: page
 *   size 512 << n). Bytes 2-3: the length of the database (le16), then the
 *   plain database, then the plain WAL or journal. The harness writes two
 *   copies: as they are (plain SQLite opens them) and encrypted as
 *   libSQL would have written them (pages encrypted with their page
 *   numbers, WAL checksums chained over the ciphertext); the shim opens the
 *   second. Both run recovery or playback and the same queries (integrity
 *   check, schema, every table), then optionally a write and a checkpoint:
 *   every result code and value must agree, and the encrypted file,
 *   decrypted, must be byte for byte the plain one. A page 1 anywhere is
 *   given the magic and clear bytes of its page size first (the format
 *   keeps neither: encryption.md 2.4-2.5). Where the comparison would say
 *   nothing about the shim, only crashes count: the WAL or journal says
 *   another page size than the database; the journal's database size
 *   leaves pages no record restores (holes, which read as zeros in the
 *   plain file and as decrypted zeros in the other); the database is
 *   corrupt (plain SQLite's integrity check says more than "ok": on such
 *   files SQLite 3.40 reads memory past a page and its answers change
 *   from run to run, shim or not); plain SQLite does not answer the same
 *   twice. A page that is a hole in both files counts as equal. On a
 *   finding, each side's steps are printed on stderr.
 *
 * FUZZ_CRYPT_KEEP=dir keeps a copy of the last file input's four files.
 *
 * All functions are static inline (the header is compiled into the
 * fuzzer and the tests). fuzz_crypt_fini frees what the runs keep (the
 * guard pages, the shim's VFS, a scratch directory in /dev/shm or /tmp).
 */
#ifndef LSQ_FUZZ_CRYPT_H
#define LSQ_FUZZ_CRYPT_H

#include "crypt_codec.h"
#include "crypt_vfs.h"
#include "fuzz_harness.h"

#include <dirent.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FZC_PS_MAX 65536
#define FZC_FILE_KEY "fuzz-crypt-file-key"
#define FZC_WAL_MAGIC 0x377f0682u
#define FZC_NSIG 9
#define FZC_COMPARE_MAX (16 << 20)  /* larger files: compared by size */
#define FZC_HEAP_LIMIT (256LL << 20) /* sqlite3_hard_heap_limit64 */

static const unsigned char fzc_magic[16] = "SQLite format 3";
static const unsigned char fzc_journal_magic[8] = { 0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7 };

typedef struct fzc_state {
    int ready, failed;
    fuzz_guard in, out;          /* pages handed to the codec end at a guard page */
    lsq_crypt_key fallback;      /* for inputs with an empty key */
    unsigned char kb[64];        /* the last key's bytes and what they derive */
    size_t kn;
    int khave;
    lsq_crypt_key k, kwrong;
    lsq_crypt_vfs *vfs;          /* the file modes' shim */
    lsq_crypt_key fkey;          /* its key */
    char dir[96];
    char why[160];               /* a finding's details */
    sqlite3_int64 heap_limit;    /* SQLite's before fzc_init */
    /* file inputs run; compared with plain SQLite; files compared */
    unsigned long files, compared, bytes_compared;
} fzc_state;

static inline fzc_state *fzc_get(void)
{
    static fzc_state s;

    return &s;
}

/* ---- bytes -------------------------------------------------------------- */

static inline uint32_t fzc_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void fzc_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline int fzc_valid_ps(uint64_t n)
{
    return n >= 512 && n <= 65536 && (n & (n - 1)) == 0;
}

/* The page size clear header bytes 16..23 give, or 0 (encryption.md 2.5). */
static inline uint32_t fzc_ref_ps(const unsigned char *d, size_t n)
{
    uint32_t ps;

    if (n < 24) return 0;
    ps = (uint32_t)d[16] << 8 | (uint32_t)d[17] << 16;
    if (!fzc_valid_ps(ps) || d[21] != 0x40 || d[22] != 0x20 || d[23] != 0x20) return 0;
    return ps;
}

/* A page 1 as SQLite writes one: the magic, the page size, 40 20 20. */
static inline void fzc_page1(unsigned char *p, uint32_t ps)
{
    memcpy(p, fzc_magic, 16);
    p[16] = (unsigned char)(ps >> 8);
    p[17] = (unsigned char)(ps >> 16);
    p[21] = 0x40;
    p[22] = 0x20;
    p[23] = 0x20;
}

/* IV(pgno) by the definition (encryption.md 2.3) in 64-bit arithmetic;
 * -1 if an intermediate leaves the signed 32-bit range. */
static inline int fzc_ref_iv(uint32_t pgno, unsigned char out[16])
{
    unsigned char seed[16];
    int64_t z = (int64_t)pgno + 1, q, t;
    int j, k, over = 0;

    if (z > INT32_MAX) z -= (int64_t)1 << 32; /* sqlite3mc's int page number + 1 */
    for (j = 0; j < 4; j++) {
        q = z / 52774;
        t = z - 52774 * q;
        over |= 40692 * t > INT32_MAX || 40692 * t < INT32_MIN;
        z = 40692 * t - 3791 * q;
        over |= z > INT32_MAX || z < INT32_MIN;
        if (z < 0) z += 2147483399;
        for (k = 0; k < 4; k++) seed[4 * j + k] = (unsigned char)((uint64_t)z >> (8 * k));
    }
    if (gnutls_hash_fast(GNUTLS_DIG_MD5, seed, sizeof seed, out) != 0) return -1;
    return over ? -1 : 0;
}

/* SQLite's WAL checksum (n a multiple of 8). */
static inline void fzc_wal_cksum(int big, const unsigned char *d, size_t n, uint32_t s[2])
{
    size_t i;

    for (i = 0; i < n; i += 8) {
        s[0] += (big ? fz_be32(d + i) : fzc_le32(d + i)) + s[1];
        s[1] += (big ? fz_be32(d + i + 4) : fzc_le32(d + i + 4)) + s[0];
    }
}

/* ---- set-up ------------------------------------------------------------- */

static inline void fzc_clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[560];

    if (d == NULL) return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        (void)snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        (void)unlink(path);
    }
    (void)closedir(d);
}

static inline int fzc_init(void)
{
    fzc_state *s = fzc_get();
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    if (s->ready) return s->failed ? -1 : 0;
    s->ready = 1;
    s->failed = 1;
    if (fuzz_guard_init(&s->in, FZC_PS_MAX + 4096) != 0) return -1;
    if (fuzz_guard_init(&s->out, FZC_PS_MAX + 4096) != 0) return -1;
    if (lsq_crypt_derive("fuzz", 4, &s->fallback) != LSQ_CRYPT_OK) return -1;
    if (lsq_crypt_derive(FZC_FILE_KEY, strlen(FZC_FILE_KEY), &s->fkey) != LSQ_CRYPT_OK) return -1;
    if ((s->vfs = lsq_crypt_vfs_create(FZC_FILE_KEY, strlen(FZC_FILE_KEY))) == NULL) return -1;
    /* A corrupt file can make SQLite allocate by its page count. */
    s->heap_limit = sqlite3_hard_heap_limit64(-1);
    if (s->heap_limit == 0 || s->heap_limit > FZC_HEAP_LIMIT)
        (void)sqlite3_hard_heap_limit64(FZC_HEAP_LIMIT);
    (void)snprintf(s->dir, sizeof s->dir, "%s/lsq_fuzz_crypt.XXXXXX", base);
    if (mkdtemp(s->dir) == NULL) {
        s->dir[0] = 0;
        return -1;
    }
    s->failed = 0;
    return 0;
}

/* How many file inputs ran, were compared with plain SQLite, had their
 * files compared byte for byte (since fzc_init). */
static inline void fuzz_crypt_counts(unsigned long *files, unsigned long *compared,
                                     unsigned long *bytes_compared)
{
    fzc_state *s = fzc_get();

    *files = s->files;
    *compared = s->compared;
    *bytes_compared = s->bytes_compared;
}

static inline void fuzz_crypt_fini(void)
{
    fzc_state *s = fzc_get();

    if (!s->ready) return;
    fuzz_guard_free(&s->in);
    fuzz_guard_free(&s->out);
    lsq_crypt_vfs_release(s->vfs);
    if (s->vfs != NULL) (void)sqlite3_hard_heap_limit64(s->heap_limit);
    if (s->dir[0]) {
        fzc_clear_dir(s->dir);
        (void)rmdir(s->dir);
    }
    memset(s, 0, sizeof *s);
}

/* ---- the codec ------------------------------------------------------------ */

/* The key of the input (cached: the KDF is 4002 hashes), its wrong twin. */
static inline const char *fzc_key(const unsigned char *kb, size_t kn)
{
    fzc_state *s = fzc_get();
    unsigned char alt[64];
    lsq_crypt_key k32;

    if (s->khave && kn == s->kn && memcmp(kb, s->kb, kn) == 0) return NULL;
    s->khave = 0;
    if (kn == 0) {
        if (lsq_crypt_derive(kb, 0, &s->k) != LSQ_CRYPT_ERROR) return "the KDF took an empty key";
        if (lsq_crypt_vfs_create(kb, 0) != NULL) return "a VFS for an empty key";
        s->k = s->fallback;
    } else if (lsq_crypt_derive(kb, kn, &s->k) != LSQ_CRYPT_OK) {
        return "the KDF failed";
    }
    if (kn > 32) {
        if (lsq_crypt_derive(kb, 32, &k32) != LSQ_CRYPT_OK) return "the KDF failed";
        if (memcmp(k32.k, s->k.k, 32) != 0) return "key bytes past 32 changed the key";
    }
    /* The wrong key differs in a byte that counts. */
    memcpy(alt, kb, kn);
    if (kn == 0) alt[0] = 'x';
    else alt[(kn - 1) % 32] ^= 0x5a;
    if (lsq_crypt_derive(alt, kn ? kn : 1, &s->kwrong) != LSQ_CRYPT_OK) return "the KDF failed";
    if (memcmp(s->kwrong.k, s->k.k, 32) == 0) return "two keys derive the same master key";
    memcpy(s->kb, kb, kn);
    s->kn = kn;
    s->khave = 1;
    return NULL;
}

/* p at the end of guard g (a copy of n bytes). */
static inline unsigned char *fzc_at_guard(fuzz_guard *g, const void *p, size_t n)
{
    return (unsigned char *)fuzz_guard_copy(g, p, n);
}

static inline const char *fzc_codec(const uint8_t *data, size_t size)
{
    fzc_state *s = fzc_get();
    uint32_t ps = 512u << (data[0] & 7), pgno, rps;
    size_t kn, off, take, small;
    unsigned char *x, *e, *d, *in, *out, iv[16], ref[16];
    const char *bad = NULL;
    int r, c, plausible;

    if (size < 6) return NULL;
    pgno = (data[0] & 0x10) ? 1 : fzc_le32(data + 1);
    kn = data[5] & 63;
    if (6 + kn > size) kn = size - 6;
    if ((bad = fzc_key(data + 6, kn)) != NULL) return bad;
    off = 6 + kn;
    take = size - off < ps ? size - off : ps;
    x = calloc(1, ps);
    e = malloc(ps);
    d = malloc(ps);
    if (x == NULL || e == NULL || d == NULL) abort();
    memcpy(x, data + off, take);
    if (pgno == 1 && (data[0] & 0x08)) fzc_page1(x, ps);

    /* The IV and the header helpers against their definitions. */
    if (lsq_crypt_page_iv(pgno, iv) != LSQ_CRYPT_OK || fzc_ref_iv(pgno, ref) != 0 ||
        memcmp(iv, ref, 16) != 0) {
        bad = "the IV is not the one encryption.md 2.3 defines";
        goto out;
    }
    rps = fzc_ref_ps(x, ps);
    plausible = rps != 0;
    if (lsq_crypt_header_page_size(x, ps) != rps || lsq_crypt_header_plausible(x, ps) != plausible ||
        lsq_crypt_is_plain(x, ps) != (memcmp(x, fzc_magic, 16) == 0)) {
        bad = "a header helper disagrees with the definition";
        goto out;
    }
    small = x[ps - 1] % 40;
    in = fzc_at_guard(&s->in, x, small);
    if (lsq_crypt_header_page_size(in, small) != fzc_ref_ps(in, small) ||
        (small < 32 && lsq_crypt_check_page1(&s->k, in, small) != LSQ_CRYPT_BAD_KEY) ||
        lsq_crypt_is_plain(in, small) != (small >= 16 && memcmp(in, fzc_magic, 16) == 0)) {
        bad = "a header helper on a short buffer";
        goto out;
    }

    if (data[0] & 0x20) {
        /* Sizes that are not page sizes: refused, nothing written. */
        const size_t sizes[4] = { ps - 16, ps + 16, ps + ps / 2, 256 };
        int i;

        for (i = 0; i < 4 && bad == NULL; i++) {
            size_t m = sizes[i]; /* past the guard's size: a heap copy */
            unsigned char *buf = calloc(1, m);

            if (buf == NULL) abort();
            in = fzc_at_guard(&s->in, buf, m);
            if (lsq_crypt_encrypt_page(&s->k, pgno ? pgno : 1, in, in, m) != LSQ_CRYPT_ERROR ||
                lsq_crypt_decrypt_page(&s->k, pgno ? pgno : 1, in, in, m) != LSQ_CRYPT_ERROR ||
                memcmp(in, buf, m) != 0)
                bad = "the codec took a size that is not a page size";
            free(buf);
        }
        if (bad != NULL) goto out;
    }

    in = fzc_at_guard(&s->in, x, ps);
    out = fzc_at_guard(&s->out, x, ps);
    if (pgno == 0) {
        if (lsq_crypt_encrypt_page(&s->k, 0, in, out, ps) != LSQ_CRYPT_ERROR ||
            lsq_crypt_decrypt_page(&s->k, 0, in, out, ps) != LSQ_CRYPT_ERROR ||
            memcmp(out, x, ps) != 0 || memcmp(in, x, ps) != 0)
            bad = "page number 0 was not refused";
        goto out;
    }
    /* encrypt(x), out of place and in place */
    if (lsq_crypt_encrypt_page(&s->k, pgno, in, out, ps) != LSQ_CRYPT_OK || memcmp(in, x, ps) != 0) {
        bad = "encrypt failed or wrote its input";
        goto out;
    }
    memcpy(e, out, ps);
    out = fzc_at_guard(&s->out, x, ps);
    if (lsq_crypt_encrypt_page(&s->k, pgno, out, out, ps) != LSQ_CRYPT_OK || memcmp(out, e, ps) != 0) {
        bad = "encrypt in place differs";
        goto out;
    }
    /* decrypt(encrypt(x)) */
    in = fzc_at_guard(&s->in, e, ps);
    out = fzc_at_guard(&s->out, e, ps);
    r = lsq_crypt_decrypt_page(&s->k, pgno, in, out, ps);
    if (pgno != 1) {
        if (r != LSQ_CRYPT_OK || memcmp(out, x, ps) != 0) {
            bad = "decrypt(encrypt(x)) != x";
            goto out;
        }
        /* encrypt(decrypt(x)): any bytes decrypt */
        in = fzc_at_guard(&s->in, x, ps);
        out = fzc_at_guard(&s->out, x, ps);
        if (lsq_crypt_decrypt_page(&s->k, pgno, in, out, ps) != LSQ_CRYPT_OK) {
            bad = "decrypt refused a page other than 1";
            goto out;
        }
        memcpy(d, out, ps);
        in = fzc_at_guard(&s->in, d, ps);
        if (lsq_crypt_decrypt_page(&s->k, pgno, in, in, ps) != LSQ_CRYPT_OK) {
            bad = "decrypt refused a page other than 1";
            goto out;
        }
        if (lsq_crypt_encrypt_page(&s->k, pgno, d, d, ps) != LSQ_CRYPT_OK || memcmp(d, x, ps) != 0)
            bad = "encrypt(decrypt(x)) != x";
        goto out;
    }
    /* Page 1, encrypted: the clear bytes stay; a well-formed page comes
     * back whole, and only with its key. */
    if (memcmp(e + 16, x + 16, 8) != 0) {
        bad = "page 1's bytes 16..23 are not in the clear";
        goto out;
    }
    c = lsq_crypt_check_page1(&s->k, fzc_at_guard(&s->in, e, 32), 32);
    if (plausible) {
        if (r != LSQ_CRYPT_OK || memcmp(out, fzc_magic, 16) != 0 || memcmp(out + 16, x + 16, ps - 16) != 0) {
            bad = "page 1 does not decrypt to itself";
            goto out;
        }
        if (c != LSQ_CRYPT_OK || lsq_crypt_check_page1(&s->k, fzc_at_guard(&s->in, e, ps), ps) !=
                                     LSQ_CRYPT_OK) {
            bad = "check_page1 refused the right key";
            goto out;
        }
        if (lsq_crypt_check_page1(&s->kwrong, fzc_at_guard(&s->in, e, ps), ps) != LSQ_CRYPT_BAD_KEY ||
            lsq_crypt_decrypt_page(&s->kwrong, 1, fzc_at_guard(&s->in, e, ps),
                                   fzc_at_guard(&s->out, e, ps), ps) != LSQ_CRYPT_BAD_KEY) {
            bad = "a wrong key opened page 1";
            goto out;
        }
    } else if (c != LSQ_CRYPT_BAD_KEY || r != LSQ_CRYPT_BAD_KEY) {
        /* Without plausible clear bytes it is read as a legacy page 1 */
        bad = "a page 1 without a header was accepted";
        goto out;
    }
    /* Page 1 as it might be on disk (x): check_page1 agrees with decrypt,
     * and what decrypts encrypts back to the same bytes (bar 0..7). */
    in = fzc_at_guard(&s->in, x, ps);
    out = fzc_at_guard(&s->out, x, ps);
    r = lsq_crypt_decrypt_page(&s->k, 1, in, out, ps);
    c = lsq_crypt_check_page1(&s->k, fzc_at_guard(&s->in, x, ps), ps);
    if (r != LSQ_CRYPT_OK && r != LSQ_CRYPT_BAD_KEY) {
        bad = "decrypt of page 1 failed";
        goto out;
    }
    if (plausible && (c == LSQ_CRYPT_OK) != (r == LSQ_CRYPT_OK)) {
        bad = "check_page1 and decrypt disagree";
        goto out;
    }
    if (!plausible && c != LSQ_CRYPT_BAD_KEY) {
        bad = "check_page1 took a page 1 without a header";
        goto out;
    }
    if (plausible && r == LSQ_CRYPT_OK) {
        memcpy(d, out, ps);
        if (memcmp(d, fzc_magic, 16) != 0 || lsq_crypt_encrypt_page(&s->k, 1, d, d, ps) != LSQ_CRYPT_OK ||
            memcmp(d + 8, x + 8, ps - 8) != 0)
            bad = "encrypt(decrypt(page 1)) differs past byte 8";
    }
out:
    free(x);
    free(e);
    free(d);
    return bad;
}

/* ---- the files --------------------------------------------------------------- */

typedef struct fzc_buf { unsigned char *p; size_t n; } fzc_buf;

static inline void fzc_grow(fzc_buf *b, size_t n)
{
    unsigned char *p;

    if (n <= b->n) return;
    if ((p = realloc(b->p, n)) == NULL) abort();
    memset(p + b->n, 0, n - b->n);
    b->p = p;
    b->n = n;
}

/* The WAL, plain (w, fixed if asked) and as libSQL writes it (ew):
 * pages encrypted, each valid frame's checksum chained over the
 * ciphertext, each invalid one broken. *comparable = 0 when it names
 * another page size than the database's. */
static inline const char *fzc_build_wal(fzc_buf *w, fzc_buf *ew, uint32_t db_ps, int has_db, int fix,
                                        int big, int *comparable)
{
    fzc_state *s = fzc_get();
    uint32_t wps, magic, pc[2], cs[2], hs[2];
    size_t off;
    int bigw, chain = 1;

    if (fix) {
        fzc_grow(w, 32);
        fzc_put_be32(w->p, FZC_WAL_MAGIC | (big ? 1u : 0u));
        fzc_put_be32(w->p + 4, 3007000);
        fzc_put_be32(w->p + 8, db_ps);
        hs[0] = hs[1] = 0;
        fzc_wal_cksum(big, w->p, 24, hs);
        fzc_put_be32(w->p + 24, hs[0]);
        fzc_put_be32(w->p + 28, hs[1]);
    }
    ew->p = malloc(w->n ? w->n : 1);
    if (ew->p == NULL) abort();
    ew->n = w->n;
    if (w->n) memcpy(ew->p, w->p, w->n);
    if (w->n < 32) return NULL;
    magic = fz_be32(w->p);
    wps = fz_be32(w->p + 8);
    if ((magic & ~1u) != FZC_WAL_MAGIC || !fzc_valid_ps(wps)) return NULL;
    if (has_db && wps != db_ps) *comparable = 0;
    bigw = (int)(magic & 1u);
    pc[0] = cs[0] = fz_be32(w->p + 24);
    pc[1] = cs[1] = fz_be32(w->p + 28);
    for (off = 32; off + wps + 24 <= w->n; off += wps + 24) {
        unsigned char *h = w->p + off, *eh = ew->p + off;
        uint32_t pgno = fz_be32(h);
        int valid;

        if (pgno == 1) fzc_page1(h + 24, wps);
        if (fix) memcpy(h + 8, w->p + 16, 8);
        fzc_wal_cksum(bigw, h, 8, pc);
        fzc_wal_cksum(bigw, h + 24, wps, pc);
        if (fix) {
            fzc_put_be32(h + 16, pc[0]);
            fzc_put_be32(h + 20, pc[1]);
        }
        valid = memcmp(h + 8, w->p + 16, 8) == 0 && fz_be32(h + 16) == pc[0] &&
                fz_be32(h + 20) == pc[1];
        memcpy(eh, h, 24 + wps);
        if (pgno != 0 && lsq_crypt_encrypt_page(&s->fkey, pgno, h + 24, eh + 24, wps) != LSQ_CRYPT_OK)
            return "encrypt failed on a WAL page";
        fzc_wal_cksum(bigw, eh, 8, cs);
        fzc_wal_cksum(bigw, eh + 24, wps, cs);
        chain = chain && valid;
        fzc_put_be32(eh + 16, chain ? cs[0] : cs[0] ^ 1u);
        fzc_put_be32(eh + 20, cs[1]);
    }
    return NULL;
}

/* SQLite's journal record checksum (pager_cksum). */
static inline uint32_t fzc_journal_cksum(uint32_t init, const unsigned char *page, uint32_t ps)
{
    uint32_t ck = init;
    int i = (int)ps - 200;

    while (i > 0) {
        ck += page[i];
        i -= 200;
    }
    return ck;
}

/* The journal, plain (j, fixed if asked) and as libSQL writes it (ej):
 * every record's page encrypted with its page number, segment by segment
 * as SQLite's playback reads them. */
static inline const char *fzc_build_journal(fzc_buf *j, fzc_buf *ej, uint32_t db_ps,
                                            uint32_t db_pages, int fix, int *comparable)
{
    fzc_state *s = fzc_get();
    uint32_t sector, jps, mxpg;
    uint64_t covered = 0;    /* pages db_pages + 1.. + 64 some record restores */
    int has_db = db_pages > 0;
    size_t h = 0, off, rec, avail, cnt, i;
    int first = 1;

    if (fix) {
        fzc_grow(j, 512);
        memcpy(j->p, fzc_journal_magic, 8);
        sector = fz_be32(j->p + 20); /* kept if valid: the records start there */
        if (sector < 32 || sector > 65536 || (sector & (sector - 1)) != 0) fzc_put_be32(j->p + 20, 512);
        fzc_put_be32(j->p + 24, db_ps);
    }
    ej->p = malloc(j->n ? j->n : 1);
    if (ej->p == NULL) abort();
    ej->n = j->n;
    if (j->n) memcpy(ej->p, j->p, j->n);
    if (j->n < 28) return NULL;
    sector = fz_be32(j->p + 20);
    jps = fz_be32(j->p + 24);
    if (sector < 32 || sector > 65536 || (sector & (sector - 1)) != 0 || !fzc_valid_ps(jps)) return NULL;
    if (has_db && jps != db_ps) *comparable = 0;
    rec = (size_t)jps + 8;
    mxpg = fz_be32(j->p + 16);
    while (h + sector <= j->n && memcmp(j->p + h, fzc_journal_magic, 8) == 0) {
        uint32_t nrec = fz_be32(j->p + h + 8), init = fz_be32(j->p + h + 12);

        off = h + sector;
        avail = off <= j->n ? (j->n - off) / rec : 0;
        if (nrec == 0xffffffffu) cnt = first ? avail : 0;
        else cnt = nrec < avail ? nrec : avail;
        for (i = 0; i < cnt; i++, off += rec) {
            unsigned char *r = j->p + off;
            uint32_t pgno = fz_be32(r);

            if (pgno == 1) fzc_page1(r + 4, jps);
            if (pgno > db_pages && pgno <= mxpg && pgno - db_pages <= 64)
                covered |= 1ull << (pgno - db_pages - 1);
            if (fix) fzc_put_be32(r + 4 + jps, fzc_journal_cksum(init, r + 4, jps));
            memcpy(ej->p + off, r, rec);
            if (pgno != 0 &&
                lsq_crypt_encrypt_page(&s->fkey, pgno, r + 4, ej->p + off + 4, jps) != LSQ_CRYPT_OK)
                return "encrypt failed on a journal page";
        }
        if (nrec == 0xffffffffu || cnt < nrec) break;
        h = (off + sector - 1) / sector * sector;
        if (h == 0) break;
        first = 0;
    }
    /* Playback first sets the file to the journal's database size: past
     * the end of the file, a page no record restores is a hole, zeros in
     * the plain file and zeros (garbage once decrypted) in the encrypted
     * one. SQLite never reads such a page back in a real rollback (every
     * page a transaction truncated away is journaled first); where a
     * journal leaves one, the two cannot be compared. */
    if (mxpg > db_pages &&
        (mxpg - db_pages > 64 || covered != (mxpg - db_pages == 64 ? ~0ull
                                                                 : (1ull << (mxpg - db_pages)) - 1)))
        *comparable = 0;
    return NULL;
}

static inline int fzc_write(const char *path, const fzc_buf *b)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (f == NULL) return -1;
    ok = b->n == 0 || fwrite(b->p, 1, b->n, f) == b->n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static inline int fzc_read(const char *path, fzc_buf *b)
{
    FILE *f = fopen(path, "rb");
    long n;

    b->p = NULL;
    b->n = 0;
    if (f == NULL) return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (b->p = malloc((size_t)n + 1)) == NULL || fread(b->p, 1, (size_t)n, f) != (size_t)n) {
        (void)fclose(f);
        free(b->p);
        b->p = NULL;
        return -1;
    }
    b->n = (size_t)n;
    (void)fclose(f);
    return 0;
}

static inline uint64_t fzc_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Runs sql, hashing its result codes and every value (at most 2000 rows);
 * table names from a schema query (column 1 of rows whose column 0 is
 * 'table') go to names. */
static inline uint64_t fzc_query(sqlite3 *db, const char *sql, char names[4][64], int *nnames,
                                 int verbose, int *last, int *just_ok)
{
    sqlite3_stmt *st = NULL;
    uint64_t h = 14695981039346656037ull;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL), rows = 0, i, n, t, oks = 0;

    h = fzc_fnv(h, &rc, sizeof rc);
    *last = rc;
    if (verbose && rc != SQLITE_OK)
        fprintf(stderr, "    %s: prepare %d %s\n", sql, rc, sqlite3_errmsg(db));
    if (rc != SQLITE_OK) return h;
    while (rows++ < 2000 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        n = sqlite3_column_count(st);
        for (i = 0; i < n; i++) {
            t = sqlite3_column_type(st, i);
            h = fzc_fnv(h, &t, sizeof t);
            if (t == SQLITE_INTEGER) {
                sqlite3_int64 v = sqlite3_column_int64(st, i);

                h = fzc_fnv(h, &v, sizeof v);
            } else if (t == SQLITE_FLOAT) {
                double v = sqlite3_column_double(st, i);

                h = fzc_fnv(h, &v, sizeof v);
            } else if (t != SQLITE_NULL) {
                const void *p = sqlite3_column_blob(st, i);

                h = fzc_fnv(h, p, (size_t)sqlite3_column_bytes(st, i));
            }
        }
        if (n == 1 && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
            strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0)
            oks++;
        if (names != NULL && *nnames < 4 && n >= 2 && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
            strcmp((const char *)sqlite3_column_text(st, 0), "table") == 0 &&
            sqlite3_column_type(st, 1) == SQLITE_TEXT && sqlite3_column_bytes(st, 1) < 64)
            (void)snprintf(names[(*nnames)++], 64, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    h = fzc_fnv(h, &rc, sizeof rc);
    *last = rc;
    if (just_ok != NULL) *just_ok = rc == SQLITE_DONE && rows - 1 == 1 && oks == 1;
    if (verbose)
        fprintf(stderr, "    %s: %d rows, then %d %s; hash %016llx\n", sql, rows - 1, rc,
                sqlite3_errmsg(db), (unsigned long long)h);
    rc = sqlite3_finalize(st);
    return fzc_fnv(h, &rc, sizeof rc);
}

static inline uint64_t fzc_exec(sqlite3 *db, const char *sql, int verbose, int *last)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    *last = rc;
    if (verbose) fprintf(stderr, "    %s: %d %s\n", sql, rc, sqlite3_errmsg(db));
    return fzc_fnv(14695981039346656037ull, &rc, sizeof rc);
}

/* What a run said: a hash of each step's result codes and values; the
 * steps that ended in SQLITE_CORRUPT. */
typedef struct fzc_sig {
    uint64_t h[FZC_NSIG];
    int rc[FZC_NSIG];  /* each step's last result code */
    unsigned corrupt;  /* bit i: step i ended in SQLITE_CORRUPT */
    int sane;          /* integrity_check said just "ok" */
} fzc_sig;

static inline void fzc_sig_print(const char *what, const fzc_sig *g)
{
    int i;

    fprintf(stderr, "    %-22s", what);
    for (i = 0; i < FZC_NSIG; i++) fprintf(stderr, " %04llx/%d", (unsigned long long)(g->h[i] & 0xffff), g->rc[i]);
    fprintf(stderr, "\n");
}

/* Opens path (through vfs, NULL: SQLite's default), runs the queries and
 * the write, closes. */
static inline void fzc_session(const char *path, const char *vfs, int wal, int write, fzc_sig *sig,
                               int verbose)
{
    sqlite3 *db = NULL;
    char names[4][64], *sql;
    int nnames = 0, i, rc, last[FZC_NSIG];

    memset(sig, 0, sizeof *sig);
    for (i = 0; i < FZC_NSIG; i++) last[i] = SQLITE_OK;
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, vfs);
    sig->h[0] = (uint64_t)rc;
    if (rc == SQLITE_OK) {
        (void)sqlite3_extended_result_codes(db, 1);
        /* cell_size_check: a corrupt cell that runs off its page is
         * refused when the page loads; without it SQLite may read past
         * the page into its cache's bookkeeping (pointers: the result
         * changes from run to run, with or without the shim). */
        (void)sqlite3_exec(db, "PRAGMA synchronous=OFF; PRAGMA cell_size_check=ON", NULL, NULL, NULL);
        (void)sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
        sig->h[1] = fzc_query(db, "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema",
                              names, &nnames, verbose, &last[1], NULL);
        sig->h[2] = fzc_query(db, "PRAGMA integrity_check(5)", NULL, NULL, verbose, &last[2],
                              &sig->sane);
        for (i = 0; i < nnames; i++) {
            sql = sqlite3_mprintf("SELECT * FROM \"%w\"", names[i]);
            sig->h[3 + i] =
                sql != NULL ? fzc_query(db, sql, NULL, NULL, verbose, &last[3 + i], NULL) : 0;
            sqlite3_free(sql);
        }
        if (write) {
            int l2 = SQLITE_OK, l3 = SQLITE_OK;

            sig->h[7] = fzc_exec(db, "CREATE TABLE IF NOT EXISTS fz(a, b); "
                                     "INSERT INTO fz VALUES (1, zeroblob(700)), (2, 'fz')",
                                 verbose, &last[7]);
            if (wal)
                sig->h[7] = fzc_fnv(sig->h[7], "", 1) ^
                            fzc_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", verbose, &l2);
            sig->h[7] ^= fzc_query(db, "SELECT count(*) FROM fz", NULL, NULL, verbose, &l3, NULL);
            if ((l2 & 0xff) == SQLITE_CORRUPT || (l3 & 0xff) == SQLITE_CORRUPT) last[7] = l2 | l3;
        }
    }
    sig->h[8] = (uint64_t)sqlite3_close(db);
    for (i = 0; i < FZC_NSIG; i++) {
        sig->rc[i] = last[i];
        if ((last[i] & 0xff) == SQLITE_CORRUPT) sig->corrupt |= 1u << i;
    }
    if (verbose) fprintf(stderr, "    open %d, close %d\n", (int)sig->h[0], (int)sig->h[8]);
}

/* The first step where a and b differ, -1 if none. Once both found the
 * database corrupt, the rest counts as the same: what SQLite returns
 * before it notices can depend on memory it reads past a corrupt page,
 * and what it does next on what it read. */
static inline int fzc_sig_diff(const fzc_sig *a, const fzc_sig *b)
{
    int i;

    for (i = 0; i < FZC_NSIG; i++) {
        if (a->corrupt & b->corrupt & (1u << i)) return -1;
        if (a->h[i] != b->h[i]) return i;
    }
    return -1;
}

/* path and its WAL or journal (suffix) as they were before any run. */
static inline void fzc_put(const char *path, const fzc_buf *db, const fzc_buf *side,
                           const char *suffix)
{
    char p[560];

    (void)snprintf(p, sizeof p, "%s-shm", path);
    (void)unlink(p);
    (void)snprintf(p, sizeof p, "%s%s", path, suffix);
    (void)unlink(p);
    if (fzc_write(path, db) != 0 || (side->n && fzc_write(p, side) != 0)) abort();
}

/* FUZZ_CRYPT_KEEP=dir: the files of the last input are copied there
 * before anything opens them (p.db: plain, e.db: encrypted, each with its
 * -wal or -journal), to look into a finding. */
static inline void fzc_keep(const char *from, const char *suffix)
{
    const char *to = getenv("FUZZ_CRYPT_KEEP");
    const char *const names[2] = { "p.db", "e.db" };
    char a[560], b[560];
    fzc_buf f;
    int i, k;

    if (to == NULL || to[0] == 0) return;
    for (i = 0; i < 2; i++)
        for (k = 0; k < 2; k++) {
            (void)snprintf(a, sizeof a, "%s/%s%s", from, names[i], k ? suffix : "");
            (void)snprintf(b, sizeof b, "%s/%s%s", to, names[i], k ? suffix : "");
            (void)unlink(b);
            if (fzc_read(a, &f) != 0) continue;
            if (fzc_write(b, &f) != 0) fprintf(stderr, "fuzz_crypt: cannot write %s\n", b);
            free(f.p);
        }
}

static inline const char *fzc_files(const uint8_t *data, size_t size)
{
    static const char *const step[FZC_NSIG] = { "open", "sqlite_schema", "integrity_check", "table 1",
                                                "table 2", "table 3", "table 4", "write",
                                                "close" };
    fzc_state *s = fzc_get();
    int wal = (data[0] >> 6) == 2, fix, write, big, comparable = 1, i;
    uint32_t ps, fps;
    size_t L, np, n;
    fzc_buf P = { 0 }, E = { 0 }, S = { 0 }, ES = { 0 }, pf = { 0 }, ef = { 0 };
    fzc_sig sp, se, again, pagain;
    char pp[512], ep[512], side[540];
    struct stat stp, ste;
    const char *bad = NULL, *suffix = wal ? "-wal" : "-journal";

    if (size < 4) return NULL;
    fix = data[1] & 1;
    write = (data[1] >> 1) & 1;
    big = (data[1] >> 2) & 1;
    ps = 512u << ((data[1] >> 4) & 3);
    L = (size_t)data[2] | (size_t)data[3] << 8;
    n = size - 4;
    if (L > n) L = n;
    /* The plain database: whole pages, page 1 with its header. */
    np = (L + ps - 1) / ps;
    fzc_grow(&P, np * ps);
    if (L) memcpy(P.p, data + 4, L);
    if (np) fzc_page1(P.p, ps);
    fzc_grow(&E, np * ps);
    for (i = 0; (size_t)i < np; i++)
        if (lsq_crypt_encrypt_page(&s->fkey, (uint32_t)i + 1, P.p + (size_t)i * ps,
                                   E.p + (size_t)i * ps, ps) != LSQ_CRYPT_OK) {
            bad = "encrypt failed on a database page";
            goto out;
        }
    fzc_grow(&S, n - L);
    if (n > L) memcpy(S.p, data + 4 + L, n - L);
    bad = wal ? fzc_build_wal(&S, &ES, ps, np > 0, fix, big, &comparable)
              : fzc_build_journal(&S, &ES, ps, (uint32_t)np, fix, &comparable);
    if (bad != NULL) goto out;

    fzc_clear_dir(s->dir);
    (void)snprintf(pp, sizeof pp, "%s/p.db", s->dir);
    (void)snprintf(ep, sizeof ep, "%s/e.db", s->dir);
    if (fzc_write(pp, &P) != 0 || fzc_write(ep, &E) != 0) abort();
    (void)snprintf(side, sizeof side, "%s%s", pp, suffix);
    if (S.n && fzc_write(side, &S) != 0) abort();
    (void)snprintf(side, sizeof side, "%s%s", ep, suffix);
    if (ES.n && fzc_write(side, &ES) != 0) abort();

    fzc_keep(s->dir, suffix);
    s->files++;
    fzc_session(pp, NULL, wal, write, &sp, 0);
    fzc_session(ep, lsq_crypt_vfs_name(s->vfs), wal, write, &se, 0);
    /* On a corrupt database (as plain SQLite's integrity check finds it)
     * SQLite's answers can depend on memory it reads past a page (the
     * same input gives other rows from run to run, shim or not): only
     * crashes count there. */
    if (!comparable || !sp.sane) goto out;
    s->compared++;
    if ((i = fzc_sig_diff(&sp, &se)) < 0) goto agreed;
    /* Each once more, on fresh copies. If plain SQLite does not agree
     * with itself, the input is beyond what SQLite answers the same way
     * twice and proves nothing. */
    fzc_put(pp, &P, &S, suffix);
    fzc_session(pp, NULL, wal, write, &pagain, 0);
    if (fzc_sig_diff(&sp, &pagain) >= 0) goto out;
    fzc_put(ep, &E, &ES, suffix);
    fzc_session(ep, lsq_crypt_vfs_name(s->vfs), wal, write, &again, 0);
    (void)snprintf(s->why, sizeof s->why, "%s at '%s' (%s mode)",
                   fzc_sig_diff(&se, &again) >= 0 ? "the shim's answers change from run to run"
                                                  : "the shim and plain SQLite disagree",
                   step[i], wal ? "WAL" : "rollback");
    /* What each said, on stderr. */
    fprintf(stderr, "fuzz_crypt: step hashes/result codes (SQLite heap in use: %lld bytes)\n",
            (long long)sqlite3_memory_used());
    fzc_sig_print("plain", &sp);
    fzc_sig_print("plain, again", &pagain);
    fzc_sig_print("through the shim", &se);
    fzc_sig_print("through the shim, again", &again);
    fprintf(stderr, "fuzz_crypt: plain SQLite:\n");
    fzc_put(pp, &P, &S, suffix);
    fzc_session(pp, NULL, wal, write, &again, 1);
    fprintf(stderr, "fuzz_crypt: through the shim:\n");
    fzc_put(ep, &E, &ES, suffix);
    fzc_session(ep, lsq_crypt_vfs_name(s->vfs), wal, write, &again, 1);
    bad = s->why;
    goto out;
agreed:
    if (!write) goto out;
    /* Both closed: the encrypted file, decrypted, is the plain file. (A
     * journal can say the database had billions of pages: playback then
     * extends both files that far, sparse; those are compared by size.) */
    if (stat(pp, &stp) != 0 || stat(ep, &ste) != 0) {
        bad = "a database file went missing";
        goto out;
    }
    if (stp.st_size != ste.st_size) {
        bad = "the encrypted file's size differs from the plain one's";
        goto out;
    }
    if (stp.st_size > FZC_COMPARE_MAX) goto out;
    if (fzc_read(pp, &pf) != 0 || fzc_read(ep, &ef) != 0) {
        bad = "a database file went missing";
        goto out;
    }
    fps = lsq_crypt_header_page_size(ef.p, ef.n);
    if (pf.n == 0) goto out;
    if (fps == 0 || ef.n % fps != 0) {
        bad = "the encrypted file has no clear header or a torn page";
        goto out;
    }
    for (i = 0; (size_t)i * fps < ef.n; i++) {
        unsigned char *pg = ef.p + (size_t)i * fps;
        size_t k = 0;

        /* A page never written (a hole: playback extends a file by
         * writing its last page) reads as zeros in both files; SQLite
         * puts nothing there it will read back (a free page). */
        while (k < fps && pg[k] == 0) k++;
        if (k == fps) {
            while (k > 0 && pf.p[(size_t)i * fps + k - 1] == 0) k--;
            if (k != 0) {
                bad = "a page of the plain file is a hole (zeros) in the encrypted one";
                goto out;
            }
            memset(pg, 0, fps);
            continue;
        }
        if (lsq_crypt_decrypt_page(&s->fkey, (uint32_t)i + 1, pg, pg, fps) != LSQ_CRYPT_OK) {
            bad = "a page of the encrypted file does not decrypt";
            goto out;
        }
    }
    if (memcmp(pf.p, ef.p, pf.n) != 0) bad = "the encrypted file, decrypted, is not the plain file";
    else s->bytes_compared++;
out:
    free(P.p);
    free(E.p);
    free(S.p);
    free(ES.p);
    free(pf.p);
    free(ef.p);
    return bad;
}

/* ---- one input ---------------------------------------------------------------- */

/* NULL if every check held, else what broke. */
static inline const char *fuzz_crypt_run(const uint8_t *data, size_t size)
{
    if (size < 1) return NULL;
    if (fzc_init() != 0) return "harness setup failed";
    if ((data[0] >> 6) < 2) return fzc_codec(data, size);
    return fzc_files(data, size);
}

#endif
