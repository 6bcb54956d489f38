/*
 * crypt_codec.h - libSQL's page cipher: SQLite3MultipleCiphers' `aes256cbc`
 * (the wxSQLite3 AES-256-CBC scheme, non-legacy page 1), which is what the
 * libsql crate and npm `libsql` write for an `encryptionKey`.
 *
 * Pure functions of (master key, page number, bytes): no file I/O, no
 * SQLite. The VFS shim (crypt_vfs.c) calls them for the main file, the
 * rollback journal and the WAL. The format (../shared/encryption.md, 2):
 *
 *   master key  K = SHA256^4001(SHA256(first 32 passphrase bytes, padded
 *               with the PDF padding string))          - lsq_crypt_derive
 *   page key    PK(p) = SHA256(K || le32(p) || "sAlT")
 *   page IV     IV(p) = MD5(4 Park-Miller steps from p + 1)
 *   page p > 1  AES-256-CBC(PK(p), IV(p)) of the whole page
 *   page 1      bytes 16..23 (page size, versions, reserved, 40 20 20) stay
 *               in the clear so SQLite can read them before any key; the
 *               ciphertext of them moves to bytes 8..15.
 *
 * There is no MAC: a wrong key shows only on page 1, whose decrypted bytes
 * 16..23 then differ from the clear ones.
 */
#ifndef LSQ_CRYPT_CODEC_H
#define LSQ_CRYPT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define LSQ_CRYPT_KEY_BYTES 32
/* Only this many passphrase bytes count (libSQL ignores the rest). */
#define LSQ_CRYPT_PASS_MAX 32

/* A master key. Wipe it (wipe.h) before it goes out of scope. */
typedef struct lsq_crypt_key {
    unsigned char k[LSQ_CRYPT_KEY_BYTES];
} lsq_crypt_key;

/* What decrypting page 1 found. */
enum {
    LSQ_CRYPT_OK = 0,
    LSQ_CRYPT_BAD_KEY = 1,  /* page 1 did not decrypt to a SQLite header */
    LSQ_CRYPT_ERROR = -1    /* the crypto library failed (or bad arguments) */
};

/* libSQL's KDF: K from a passphrase of n bytes (n > 0; bytes past 32 are
 * ignored, as libSQL does). LSQ_CRYPT_OK or LSQ_CRYPT_ERROR. */
int lsq_crypt_derive(const void *pass, size_t n, lsq_crypt_key *out);

/* Encrypt page pgno (>= 1) of ps bytes (a power of two, 512..65536) from
 * in to out (they may be the same buffer). LSQ_CRYPT_OK or LSQ_CRYPT_ERROR. */
int lsq_crypt_encrypt_page(const lsq_crypt_key *key, uint32_t pgno, const unsigned char *in,
                           unsigned char *out, size_t ps);

/* Decrypt page pgno from in to out (may be the same). For page 1:
 * LSQ_CRYPT_BAD_KEY when the key is wrong (out then holds garbage). */
int lsq_crypt_decrypt_page(const lsq_crypt_key *key, uint32_t pgno, const unsigned char *in,
                           unsigned char *out, size_t ps);

/* Bytes 16..47 of page 1 in clear, from its first 48 bytes on disk (the
 * two CBC blocks they hold): what SQLite reads at every transaction in
 * rollback mode (the change counter at 24), without decrypting the whole
 * page. LSQ_CRYPT_OK, LSQ_CRYPT_BAD_KEY or LSQ_CRYPT_ERROR. */
int lsq_crypt_page1_head(const lsq_crypt_key *key, const unsigned char disk[48],
                         unsigned char out[32]);

/* Whether the key opens this page 1 as it is on disk (at least 32 bytes
 * of it): one AES block, no page buffer. LSQ_CRYPT_OK, LSQ_CRYPT_BAD_KEY,
 * or LSQ_CRYPT_ERROR. */
int lsq_crypt_check_page1(const lsq_crypt_key *key, const unsigned char *disk, size_t n);

/* 1 when the 16..23 bytes of a page 1 on disk are a plausible clear
 * header (page size a power of two 512..65536, bytes 21..23 = 40 20 20),
 * which is what an aes256cbc file and a plain file both have. */
int lsq_crypt_header_plausible(const unsigned char *disk, size_t n);

/* The page size those bytes give (0 when not plausible). */
uint32_t lsq_crypt_header_page_size(const unsigned char *disk, size_t n);

/* 1 when the first 16 bytes are SQLite's plain magic "SQLite format 3". */
int lsq_crypt_is_plain(const unsigned char *disk, size_t n);

/* The per-page key and IV (for the known-answer tests). */
int lsq_crypt_page_key(const lsq_crypt_key *key, uint32_t pgno, unsigned char out[32]);
int lsq_crypt_page_iv(uint32_t pgno, unsigned char out[16]);

#endif
