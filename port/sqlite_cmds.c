/*
 * sqlite_cmds.c - commands on the SQLite handle itself: extensions from an
 * allowlist (extensions.h) and in-memory snapshots (sqlite3_serialize,
 * sqlite3_deserialize). Where SQL runs on a server they are
 * `not_supported' (backend.h, sqlite).
 */
#include "handlers.h"
#include "extensions.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* {Ref, allow_extensions, [Path]}: the allowlist, once, right after open. */
int cmd_allow_extensions(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    sqlite3 *db = NULL;
    int idx = r->idx, n, i, rc = run_need_sqlite(p, r, x, &db);
    const char **paths = NULL;
    size_t *lens = NULL;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (ei_decode_list_header(r->buf, &idx, &n) != 0 || n < 0 || n > 1000)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "allow_extensions takes a list of at most 1000 paths");
    if (n > 0 && ((paths = calloc((size_t)n, sizeof *paths)) == NULL ||
                  (lens = calloc((size_t)n, sizeof *lens)) == NULL)) {
        free(paths);
        return reply_errorf(x, r->ref, LSQ_E_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++)
        if (term_decode_binary(r->buf, &idx, &paths[i], &lens[i]) != 0) break;
    rc = i == n && (n == 0 || (ei_decode_list_header(r->buf, &idx, &i) == 0 && i == 0))
             ? extensions_allow(&p->extensions, paths, lens, (size_t)n, &err)
             : (lsq_error_set(&err, LSQ_E_BAD_ARGUMENT, "extension paths are binaries"), -1);
    free(paths);
    free(lens);
    return rc == 0 ? reply_ok_atom(x, r->ref) : reply_error(x, r->ref, &err);
}

/* {Ref, load_extension, Path, EntryPoint | undefined} */
int cmd_load_extension(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    sqlite3 *db = NULL;
    int idx = r->idx, rc = run_need_sqlite(p, r, x, &db), type, size;
    const char *path, *ep;
    size_t n, epn;
    char entry[256], atom[MAXATOMLEN_UTF8];
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (term_decode_binary(r->buf, &idx, &path, &n) != 0 ||
        ei_get_type(r->buf, &idx, &type, &size) != 0)
        goto bad;
    if (type == ERL_BINARY_EXT) {
        if (term_decode_binary(r->buf, &idx, &ep, &epn) != 0 || epn == 0 ||
            epn >= sizeof entry || memchr(ep, 0, epn) != NULL)
            goto bad;
        memcpy(entry, ep, epn);
        entry[epn] = 0;
    } else if (ei_decode_atom(r->buf, &idx, atom) != 0 || strcmp(atom, "undefined") != 0) {
        goto bad;
    }
    if (extensions_load(p->extensions, db, path, n, type == ERL_BINARY_EXT ? entry : NULL,
                        &err) != 0)
        return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
bad:
    return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                        "load_extension takes a path (binary) and an entry point (a binary of "
                        "1 to 255 bytes without NUL, or undefined)");
}

/* {Ref, serialize}: the main database as one binary (SQLite's bytes: an
 * encrypted file's pages come decrypted). */
int cmd_serialize(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    sqlite3 *db = NULL;
    sqlite3_int64 size = 0;
    unsigned char *image;
    int rc = run_need_sqlite(p, r, x, &db);

    if (rc != REPLY_OK) return rc;
    image = sqlite3_serialize(db, "main", &size, 0);
    /* A database without a page (nothing written yet) is the empty image:
     * SQLite's copy of no bytes is NULL. */
    if (image == NULL && size == 0) {
        return reply_begin(x, r->ref) != 0 || term_encode_binary(x, "", 0) != 0 ? REPLY_NOMEM
                                                                              : REPLY_OK;
    }
    if (image == NULL)
        return reply_errorf(x, r->ref, LSQ_E_NOMEM, "the database could not be copied "
                            "(out of memory)");
    if ((size_t)size > p->max_result) {
        sqlite3_free(image);
        return reply_errorf(x, r->ref, LSQ_E_TOOBIG, "the database is %lld bytes, over the "
                            "%zu-byte max_result_bytes", (long long)size, p->max_result);
    }
    rc = reply_begin(x, r->ref) != 0 || term_encode_binary(x, image, (size_t)size) != 0
             ? REPLY_NOMEM : REPLY_OK;
    sqlite3_free(image);
    return rc;
}

/* The header of an SQLite file, with a page size SQLite could have written
 * (a power of two 512..65536; 1 stands for 65536) that divides the
 * length; or nothing at all (a database without a page). */
static int image_ok(const unsigned char *b, size_t n)
{
    unsigned ps;

    if (n == 0) return 1; /* an empty database */
    if (n < 512 || memcmp(b, "SQLite format 3", 16) != 0) return 0;
    ps = (unsigned)b[16] << 8 | b[17];
    if (ps == 1) ps = 65536;
    return ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0 && n % ps == 0;
}

/* {Ref, deserialize, Image} */
int cmd_deserialize(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int idx = r->idx, rc = run_need_conn(p, r, x);
    const char *image;
    size_t n;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (p->be->deserialize == NULL)
        return reply_errorf(x, r->ref, LSQ_E_NOT_SUPPORTED,
                            "a %s connection's database is not ours to replace", p->be->mode);
    if (term_decode_binary(r->buf, &idx, &image, &n) != 0 ||
        !image_ok((const unsigned char *)image, n))
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "not an SQLite database image (serialize/1 makes one): the "
                            "header, a page size or the length is wrong");
    if (handles_count(&p->h, HANDLE_STMT) + handles_count(&p->h, HANDLE_CURSOR) > 0)
        return reply_errorf(x, r->ref, LSQ_E_MISUSE,
                            "finalize prepared statements and close cursors before "
                            "deserialize: they belong to the database it replaces");
    cache_clear(p->cache);
    if (p->be->deserialize(p->conn, image, n, &err) != 0) return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}
