/*
 * pull_proto.c - protobuf for /pull-updates: varints, the request
 * encoder, the response stream decoder and its checks (pull_proto.h).
 *
 * Only wire types 0 (varint) and 2 (length-delimited) carry fields we
 * read; 1 and 5 are skipped in unknown fields, as proto3 requires of a
 * reader that meets a newer writer (tursodb after 0.7.0 adds field 8).
 */
#include "pull_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message bigger than one page plus its framing is not a PageData, and
 * no header is that big either: the cap keeps a lying length prefix from
 * making us buffer gigabytes. */
#define MSG_MAX (PULL_PAGE_SIZE + 1024)
/* SQLite's own limit on pages in a file. */
#define PAGES_MAX 4294967294ULL

/* ---- varints --------------------------------------------------------------- */

static size_t put_varint(unsigned char *out, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        out[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char)v;
    return n;
}

/* Read a varint from p[*i..n). 1 read, 0 incomplete, -1 malformed. */
static int get_varint(const unsigned char *p, size_t n, size_t *i, uint64_t *v)
{
    uint64_t r = 0;
    size_t k;

    for (k = 0; k < 10; k++) {
        if (*i + k >= n) return 0;
        r |= (uint64_t)(p[*i + k] & 0x7f) << (7 * k);
        if ((p[*i + k] & 0x80) == 0) {
            if (k == 9 && p[*i + k] > 1) return -1; /* beyond 64 bits */
            *i += k + 1;
            *v = r;
            return 1;
        }
    }
    return -1;
}

/* ---- request ------------------------------------------------------------------- */

static size_t put_string_field(unsigned char *out, int field, const char *s)
{
    size_t n = strlen(s), k = 0;

    out[k++] = (unsigned char)(field << 3 | 2);
    k += put_varint(out + k, n);
    memcpy(out + k, s, n);
    return k + n;
}

int pull_req_encode(const pull_req *r, unsigned char **out, size_t *len)
{
    /* Three small fields: room for the longest of each. */
    unsigned char *b = malloc(96);
    char num[24];
    size_t k = 0;

    if (b == NULL) return -1;
    /* encoding = RAW (0) is proto3's default: not written. */
    if (r->server_revision >= 0) {
        (void)snprintf(num, sizeof num, "%lld", r->server_revision);
        k += put_string_field(b + k, 2, num);
    }
    if (r->client_revision >= 0) {
        (void)snprintf(num, sizeof num, "%lld", r->client_revision);
        k += put_string_field(b + k, 3, num);
    }
    if (r->bootstrap) {
        b[k++] = 8 << 3 | 0; /* stream_kind */
        b[k++] = 1;
    }
    *out = b;
    *len = k;
    return 0;
}

/* ---- response ------------------------------------------------------------------ */

void pull_decoder_init(pull_decoder *d, size_t max_bytes)
{
    memset(d, 0, sizeof *d);
    d->max_bytes = max_bytes;
    d->r.revision = -1;
}

void pull_resp_free(pull_resp *r)
{
    size_t i;

    for (i = 0; i < r->npages; i++) free(r->pages[i].data);
    free(r->pages);
    memset(r, 0, sizeof *r);
}

void pull_decoder_free(pull_decoder *d)
{
    pull_resp_free(&d->r);
    free(d->buf);
    memset(d, 0, sizeof *d);
}

static int bad(lsq_error *err, const char *what)
{
    lsq_error_set(err, LSQ_E_PROTOCOL, "pull-updates response: %s", what);
    return -1;
}

/* Skip an unknown field's value of wire type wt. 0 or -1. */
static int skip_field(const unsigned char *p, size_t n, size_t *i, unsigned wt)
{
    uint64_t v;

    switch (wt) {
    case 0: return get_varint(p, n, i, &v) == 1 ? 0 : -1;
    case 1: if (n - *i < 8) return -1; *i += 8; return 0;
    case 5: if (n - *i < 4) return -1; *i += 4; return 0;
    case 2:
        if (get_varint(p, n, i, &v) != 1 || v > n - *i) return -1;
        *i += (size_t)v;
        return 0;
    default: return -1;
    }
}

/* "123" or "page:123" (a bootstrap's) into *rev. 0 or -1. */
static int parse_revision(const unsigned char *s, size_t n, long long *rev, int *prefixed)
{
    long long v = 0;
    size_t i = 0;

    *prefixed = 0;
    if (n >= 5 && memcmp(s, "page:", 5) == 0) {
        *prefixed = 1;
        i = 5;
    }
    if (i == n) return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (0x7fffffffffffffffLL - 9) / 10) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *rev = v;
    return 0;
}

static int decode_header(pull_decoder *d, const unsigned char *p, size_t n, lsq_error *err)
{
    size_t i = 0;
    int raw = 0;

    while (i < n) {
        uint64_t key, v;
        unsigned field, wt;

        if (get_varint(p, n, &i, &key) != 1) return bad(err, "malformed header");
        field = (unsigned)(key >> 3);
        wt = (unsigned)(key & 7);
        if (field == 1 && wt == 2) {
            if (get_varint(p, n, &i, &v) != 1 || v > n - i ||
                parse_revision(p + i, (size_t)v, &d->r.revision, &d->r.page_prefixed) != 0)
                return bad(err, "server_revision is not a frame number");
            i += (size_t)v;
        } else if (field == 2 && wt == 0) {
            if (get_varint(p, n, &i, &v) != 1 || v > PAGES_MAX) return bad(err, "bad db_size");
            d->r.db_size = v;
        } else if (field == 3 && wt == 2) {
            raw = 1;
            if (skip_field(p, n, &i, wt) != 0) return bad(err, "malformed header");
        } else if (field == 4 || field == 7) {
            return bad(err, field == 4 ? "zstd encoding is not supported"
                                       : "an MVCC logical log is not supported");
        } else if ((field == 5 || field == 6) && wt == 0) {
            if (get_varint(p, n, &i, &v) != 1 || v > 1) return bad(err, "malformed header");
            if (field == 5 && v != 0) return bad(err, "stream kind is not pages");
            if (field == 6) d->r.replace_base = (int)v;
        } else if (skip_field(p, n, &i, wt) != 0) {
            return bad(err, "malformed header");
        }
    }
    if (!raw) return bad(err, "pages are not in raw encoding");
    if (d->r.revision < 0) return bad(err, "no server_revision");
    d->have_header = 1;
    return 0;
}

static int decode_page(pull_decoder *d, const unsigned char *p, size_t n, lsq_error *err)
{
    uint64_t id = 0, v;
    const unsigned char *page = NULL;
    size_t i = 0;
    int have_id = 0;
    pull_page *pg;

    while (i < n) {
        uint64_t key;
        unsigned wt;

        if (get_varint(p, n, &i, &key) != 1) return bad(err, "malformed page");
        wt = (unsigned)(key & 7);
        if (key >> 3 == 1 && wt == 0) {
            if (get_varint(p, n, &i, &id) != 1) return bad(err, "malformed page");
            have_id = 1;
        } else if (key >> 3 == 2 && wt == 2) {
            if (get_varint(p, n, &i, &v) != 1 || v > n - i) return bad(err, "malformed page");
            if (v != PULL_PAGE_SIZE) return bad(err, "a page is not 4096 bytes");
            page = p + i;
            i += (size_t)v;
        } else if (skip_field(p, n, &i, wt) != 0) {
            return bad(err, "malformed page");
        }
    }
    /* proto3 leaves out a zero page_id: page 1 may come without field 1. */
    (void)have_id;
    if (page == NULL) return bad(err, "a page without content");
    if (id >= PAGES_MAX) return bad(err, "page id out of range");
    if ((d->r.npages + 1) * (size_t)PULL_PAGE_SIZE > d->max_bytes) {
        lsq_error_set(err, LSQ_E_TOOBIG, "pull-updates response over %zu bytes (max_result_bytes)",
                      d->max_bytes);
        return -1;
    }
    if (d->r.npages == d->cap_pages) {
        size_t cap = d->cap_pages ? d->cap_pages * 2 : 64;
        pull_page *np = realloc(d->r.pages, cap * sizeof *np);

        if (np == NULL) goto nomem;
        d->r.pages = np;
        d->cap_pages = cap;
    }
    pg = &d->r.pages[d->r.npages];
    pg->data = malloc(PULL_PAGE_SIZE);
    if (pg->data == NULL) goto nomem;
    memcpy(pg->data, page, PULL_PAGE_SIZE);
    pg->pgno = (uint32_t)(id + 1);
    d->r.npages++;
    return 0;
nomem:
    lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
    return -1;
}

/* Decode every complete message in the buffer; keep the rest. */
static int drain(pull_decoder *d, lsq_error *err)
{
    size_t i = 0;

    while (i < d->len) {
        size_t at = i;
        uint64_t mlen;
        int rc = get_varint(d->buf, d->len, &at, &mlen);

        if (rc < 0 || (rc == 1 && mlen > MSG_MAX)) return bad(err, "bad message length");
        if (rc == 0 || mlen > d->len - at) break;
        rc = d->have_header ? decode_page(d, d->buf + at, (size_t)mlen, err)
                            : decode_header(d, d->buf + at, (size_t)mlen, err);
        if (rc != 0) return -1;
        i = at + (size_t)mlen;
    }
    memmove(d->buf, d->buf + i, d->len - i);
    d->len -= i;
    return 0;
}

int pull_decoder_feed(pull_decoder *d, const void *p, size_t n, lsq_error *err)
{
    const unsigned char *src = p;

    d->bytes += n;
    while (n > 0) {
        /* Take at most what completes a message or two at a time. */
        size_t room, take;

        if (d->cap - d->len < MSG_MAX + 16) {
            size_t cap = d->len + MSG_MAX + 16 + 4096;
            unsigned char *nb = realloc(d->buf, cap);

            if (nb == NULL) {
                lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
                return -1;
            }
            d->buf = nb;
            d->cap = cap;
        }
        room = d->cap - d->len;
        take = n < room ? n : room;
        memcpy(d->buf + d->len, src, take);
        d->len += take;
        src += take;
        n -= take;
        if (drain(d, err) != 0) return -1;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

int pull_decoder_finish(pull_decoder *d, pull_resp *out, lsq_error *err)
{
    uint32_t *ids;
    size_t i;

    if (d->len != 0) return bad(err, "the body ends inside a message");
    if (!d->have_header) return bad(err, "no header");
    /* A page twice in one set: the server never sends that; a set that
     * does is not what we think it is. */
    ids = malloc((d->r.npages ? d->r.npages : 1) * sizeof *ids);
    if (ids == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    for (i = 0; i < d->r.npages; i++) ids[i] = d->r.pages[i].pgno;
    qsort(ids, d->r.npages, sizeof *ids, cmp_u32);
    for (i = 1; i < d->r.npages; i++)
        if (ids[i] == ids[i - 1]) {
            free(ids);
            return bad(err, "a page comes twice");
        }
    free(ids);
    for (i = 0; i < d->r.npages; i++)
        if (d->r.pages[i].pgno == 1 && pull_check_page1(d->r.pages[i].data, err) != 0) return -1;
    if (d->r.replace_base) {
        /* Every page of the file, 1..db_size, and nothing else. */
        if (d->r.npages != d->r.db_size) return bad(err, "a full page set with pages missing");
        for (i = 0; i < d->r.npages; i++)
            if (d->r.pages[i].pgno > d->r.db_size) return bad(err, "a page past the end");
    }
    *out = d->r;
    memset(&d->r, 0, sizeof d->r);
    return 0;
}

int pull_check_page1(const unsigned char *page, lsq_error *err)
{
    if (memcmp(page, "SQLite format 3", 16) != 0) return bad(err, "page 1 is not a SQLite header");
    if (page[16] != 0x10 || page[17] != 0x00) return bad(err, "page size is not 4096");
    if (page[20] != 0) return bad(err, "pages have reserved bytes");
    return 0;
}

uint64_t pull_page_hash(const unsigned char *page)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < PULL_PAGE_SIZE; i++) {
        h ^= page[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
