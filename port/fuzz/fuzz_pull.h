/*
 * fuzz_pull.h - one input of the /pull-updates decoder (pull_proto.c),
 * shared by the libFuzzer target port/fuzz/fuzz_pull.c and the corpus
 * replay in port/test/test_fuzz_corpus.c.
 *
 * Byte 0 picks how the body is cut into pieces (as curl delivers it) and
 * the memory cap; the rest is the response body, bytes from the network.
 * A response the decoder accepts must hold what the page writer relies on
 * (replica_file.c): every page 4096 bytes at a 1-based page number, no
 * page twice, a full set exactly pages 1..db_size, a page 1 that is a
 * SQLite header with 4096-byte pages; one it refuses must say why with a
 * protocol, toobig or nomem error. The same bytes also go, as SQL text,
 * through the pragma scanner (sql_scan.c sql_pragma), which a replica
 * runs on every statement.
 */
#ifndef LSQ_FUZZ_PULL_H
#define LSQ_FUZZ_PULL_H

#include "pull_proto.h"
#include "sql_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* NULL if every check held, else what broke. */
static inline const char *fuzz_pull_run(const uint8_t *data, size_t size)
{
    const uint8_t *body = data + 1;
    size_t n, off, k, piece, cap, i, j;
    pull_decoder d;
    pull_resp r;
    lsq_error err;
    char name[32];
    int ok = 1, has_arg;
    const char *bad = NULL;

    if (size < 1) return NULL;
    n = size - 1;
    piece = (size_t)(data[0] & 0x3f) * 97 + 1;
    cap = (data[0] & 0x40) ? (size_t)3 * PULL_PAGE_SIZE : (size_t)64 << 20;
    pull_decoder_init(&d, cap);
    for (off = 0; off < n && ok; off += k) {
        k = n - off < piece ? n - off : piece;
        ok = pull_decoder_feed(&d, body + off, k, &err) == 0;
    }
    if (ok) ok = pull_decoder_finish(&d, &r, &err) == 0;
    if (!ok && err.code != LSQ_E_PROTOCOL && err.code != LSQ_E_TOOBIG && err.code != LSQ_E_NOMEM)
        bad = "a refused response with an unexpected error code";
    if (ok) {
        for (i = 0; i < r.npages && bad == NULL; i++) {
            if (r.pages[i].pgno == 0 || r.pages[i].data == NULL) bad = "a page without a number";
            for (j = 0; j < i && bad == NULL; j++)
                if (r.pages[j].pgno == r.pages[i].pgno) bad = "a page twice";
            if (r.pages[i].pgno == 1 && pull_check_page1(r.pages[i].data, &err) != 0)
                bad = "a page 1 that fails its own check";
            if (r.replace_base && r.pages[i].pgno > r.db_size) bad = "a full set past its size";
            (void)pull_page_hash(r.pages[i].data);
        }
        if (bad == NULL && r.replace_base && r.npages != r.db_size)
            bad = "a full set with pages missing";
        if (bad == NULL && r.revision < 0) bad = "no revision";
        if (bad == NULL && (size_t)r.npages * PULL_PAGE_SIZE > cap) bad = "over the cap";
        pull_resp_free(&r);
    }
    pull_decoder_free(&d);
    if (sql_pragma((const char *)body, n, name, sizeof name, &has_arg) &&
        (strlen(name) == 0 || strlen(name) >= sizeof name))
        bad = bad != NULL ? bad : "a pragma name out of bounds";
    return bad;
}

#endif
