/*
 * crypt_codec.c - libSQL's aes256cbc page cipher on gnutls (see the header
 * for the format). Every key schedule and IV lives on the stack and is
 * wiped before return.
 */
#include "crypt_codec.h"
#include "wipe.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#define KDF_ROUNDS 4001
#define BLOCK 16
#define PS_MIN 512
#define PS_MAX 65536

/* What pads a short passphrase (the PDF standard's padding string). */
static const unsigned char pdf_pad[32] = {
    0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01, 0x08,
    0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A
};

static const char sqlite_magic[16] = "SQLite format 3";

static void le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static int valid_ps(size_t ps)
{
    return ps >= PS_MIN && ps <= PS_MAX && (ps & (ps - 1)) == 0;
}

int lsq_crypt_derive(const void *pass, size_t n, lsq_crypt_key *out)
{
    unsigned char pad[32], k[32];
    size_t take = n < LSQ_CRYPT_PASS_MAX ? n : LSQ_CRYPT_PASS_MAX;
    int i, rc = LSQ_CRYPT_ERROR;

    if (pass == NULL || n == 0 || out == NULL) return LSQ_CRYPT_ERROR;
    memcpy(pad, pass, take);
    memcpy(pad + take, pdf_pad, sizeof pad - take);
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, pad, sizeof pad, k) != 0) goto out;
    for (i = 0; i < KDF_ROUNDS; i++)
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, k, sizeof k, k) != 0) goto out;
    memcpy(out->k, k, sizeof k);
    rc = LSQ_CRYPT_OK;
out:
    wipe(pad, sizeof pad);
    wipe(k, sizeof k);
    return rc;
}

int lsq_crypt_page_key(const lsq_crypt_key *key, uint32_t pgno, unsigned char out[32])
{
    unsigned char in[LSQ_CRYPT_KEY_BYTES + 8];
    int rc;

    memcpy(in, key->k, LSQ_CRYPT_KEY_BYTES);
    le32(in + LSQ_CRYPT_KEY_BYTES, pgno);
    memcpy(in + LSQ_CRYPT_KEY_BYTES + 4, "sAlT", 4);
    rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, in, sizeof in, out) == 0 ? LSQ_CRYPT_OK : LSQ_CRYPT_ERROR;
    wipe(in, sizeof in);
    return rc;
}

/* The Park-Miller-style steps of sqlite3mc's GenerateInitialVector, in
 * signed 32-bit arithmetic (no intermediate value overflows). */
int lsq_crypt_page_iv(uint32_t pgno, unsigned char out[16])
{
    unsigned char seed[16];
    int32_t z = (int32_t)(pgno + 1u), q;
    int j;

    for (j = 0; j < 4; j++) {
        q = z / 52774;
        z = 40692 * (z - 52774 * q) - 3791 * q;
        if (z < 0) z += 2147483399;
        le32(seed + 4 * j, (uint32_t)z);
    }
    return gnutls_hash_fast(GNUTLS_DIG_MD5, seed, sizeof seed, out) == 0 ? LSQ_CRYPT_OK
                                                                        : LSQ_CRYPT_ERROR;
}

/* AES-256-CBC over buf[0..n) in place, n a multiple of 16. */
static int cbc(const unsigned char key[32], const unsigned char iv[16], unsigned char *buf, size_t n,
               int encrypt)
{
    gnutls_cipher_hd_t h;
    gnutls_datum_t k = { (unsigned char *)key, 32 }, v = { (unsigned char *)iv, 16 };
    int rc;

    if (gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_256_CBC, &k, &v) != 0) return LSQ_CRYPT_ERROR;
    rc = encrypt ? gnutls_cipher_encrypt(h, buf, n) : gnutls_cipher_decrypt(h, buf, n);
    gnutls_cipher_deinit(h); /* gnutls wipes the key schedule */
    return rc == 0 ? LSQ_CRYPT_OK : LSQ_CRYPT_ERROR;
}

/* The page key and IV of pgno into pk and iv. */
static int page_secrets(const lsq_crypt_key *key, uint32_t pgno, unsigned char pk[32],
                        unsigned char iv[16])
{
    if (lsq_crypt_page_key(key, pgno, pk) != LSQ_CRYPT_OK) return LSQ_CRYPT_ERROR;
    return lsq_crypt_page_iv(pgno, iv);
}

int lsq_crypt_encrypt_page(const lsq_crypt_key *key, uint32_t pgno, const unsigned char *in,
                           unsigned char *out, size_t ps)
{
    unsigned char pk[32], iv[16], e1[BLOCK], clear[8];
    int rc = LSQ_CRYPT_ERROR;

    if (key == NULL || pgno == 0 || !valid_ps(ps)) return LSQ_CRYPT_ERROR;
    if (out != in) memmove(out, in, ps);
    if (page_secrets(key, pgno, pk, iv) != LSQ_CRYPT_OK) goto out;
    if (pgno != 1) {
        rc = cbc(pk, iv, out, ps, 1);
        goto out;
    }
    /* Page 1: bytes 0..15 and 16..ps-1 are encrypted apart, each from
     * IV(1); the ciphertext of 16..23 moves to 8..15 and the clear 16..23
     * stay where SQLite reads them before it has a key. */
    memcpy(clear, out + 16, 8);
    memcpy(e1, out, BLOCK);
    if (cbc(pk, iv, e1, BLOCK, 1) != LSQ_CRYPT_OK) goto out;
    if (cbc(pk, iv, out + 16, ps - 16, 1) != LSQ_CRYPT_OK) goto out;
    memcpy(out, e1, 8);
    memcpy(out + 8, out + 16, 8);
    memcpy(out + 16, clear, 8);
    rc = LSQ_CRYPT_OK;
out:
    wipe(pk, sizeof pk);
    wipe(e1, sizeof e1);
    return rc;
}

int lsq_crypt_header_plausible(const unsigned char *disk, size_t n)
{
    return lsq_crypt_header_page_size(disk, n) != 0;
}

uint32_t lsq_crypt_header_page_size(const unsigned char *disk, size_t n)
{
    uint32_t ps;

    if (disk == NULL || n < 24) return 0;
    ps = ((uint32_t)disk[16] << 8) | ((uint32_t)disk[17] << 16); /* 1 means 65536 */
    if (!valid_ps(ps)) return 0;
    if (disk[21] != 0x40 || disk[22] != 0x20 || disk[23] != 0x20) return 0;
    return ps;
}

int lsq_crypt_is_plain(const unsigned char *disk, size_t n)
{
    return disk != NULL && n >= 16 && memcmp(disk, sqlite_magic, 16) == 0;
}

int lsq_crypt_decrypt_page(const lsq_crypt_key *key, uint32_t pgno, const unsigned char *in,
                           unsigned char *out, size_t ps)
{
    unsigned char pk[32], iv[16], clear[8];
    int rc = LSQ_CRYPT_ERROR;

    if (key == NULL || pgno == 0 || !valid_ps(ps)) return LSQ_CRYPT_ERROR;
    if (out != in) memmove(out, in, ps);
    if (page_secrets(key, pgno, pk, iv) != LSQ_CRYPT_OK) goto out;
    if (pgno != 1 || !lsq_crypt_header_plausible(out, ps)) {
        /* Any other page; or page 1 of a legacy file, encrypted whole. */
        rc = cbc(pk, iv, out, ps, 0);
        if (rc == LSQ_CRYPT_OK && pgno == 1 && !lsq_crypt_is_plain(out, ps)) rc = LSQ_CRYPT_BAD_KEY;
        goto out;
    }
    memcpy(clear, out + 16, 8);
    memcpy(out + 16, out + 8, 8);
    if (cbc(pk, iv, out + 16, ps - 16, 0) != LSQ_CRYPT_OK) goto out;
    if (memcmp(out + 16, clear, 8) != 0) {
        rc = LSQ_CRYPT_BAD_KEY;
        goto out;
    }
    memcpy(out, sqlite_magic, 16);
    rc = LSQ_CRYPT_OK;
out:
    wipe(pk, sizeof pk);
    return rc;
}

int lsq_crypt_check_page1(const lsq_crypt_key *key, const unsigned char *disk, size_t n)
{
    unsigned char pk[32], iv[16], block[BLOCK];
    int rc = LSQ_CRYPT_ERROR;

    if (key == NULL || disk == NULL || n < 32 || !lsq_crypt_header_plausible(disk, n))
        return LSQ_CRYPT_BAD_KEY;
    if (page_secrets(key, 1, pk, iv) != LSQ_CRYPT_OK) goto out;
    /* The first block of the 16..ps-1 ciphertext: its first half was
     * moved to 8..15, its second half is 24..31. */
    memcpy(block, disk + 8, 8);
    memcpy(block + 8, disk + 24, 8);
    if (cbc(pk, iv, block, BLOCK, 0) != LSQ_CRYPT_OK) goto out;
    rc = memcmp(block, disk + 16, 8) == 0 ? LSQ_CRYPT_OK : LSQ_CRYPT_BAD_KEY;
out:
    wipe(pk, sizeof pk);
    wipe(block, sizeof block);
    return rc;
}

int lsq_crypt_page1_head(const lsq_crypt_key *key, const unsigned char disk[48],
                         unsigned char out[32])
{
    unsigned char pk[32], iv[16];
    int rc = LSQ_CRYPT_ERROR;

    if (key == NULL || !lsq_crypt_header_plausible(disk, 48)) return LSQ_CRYPT_BAD_KEY;
    if (page_secrets(key, 1, pk, iv) != LSQ_CRYPT_OK) goto out;
    /* The first two blocks of the 16..ps-1 ciphertext: the first block's
     * first half was moved to 8..15. */
    memcpy(out, disk + 8, 8);
    memcpy(out + 8, disk + 24, 24);
    if (cbc(pk, iv, out, 32, 0) != LSQ_CRYPT_OK) goto out;
    rc = memcmp(out, disk + 16, 8) == 0 ? LSQ_CRYPT_OK : LSQ_CRYPT_BAD_KEY;
out:
    wipe(pk, sizeof pk);
    return rc;
}
