/*
 * pull_proto.h - the wire format of tursodb's `POST /pull-updates`
 * (../shared/protocols.md 3.1-3.5): a hand-written protobuf codec, with
 * no generated code and no library, for exactly the messages a replica
 * needs.
 *
 * Request: one plain PullUpdatesReqProtoBody. Response: a stream of
 * length-delimited messages, the header (PullUpdatesRespProtoBody) then
 * PageData up to EOF. The decoder takes the body as it arrives, keeps
 * nothing but the pages, and checks everything a page writer relies on
 * before anyone touches a file: raw encoding, the pages stream kind,
 * 4096-byte pages, page ids in range, the revision's shape. A response
 * that fails a check is an error (`protocol'), never a partial set.
 */
#ifndef LSQ_PULL_PROTO_H
#define LSQ_PULL_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "errors.h"

/* The only page size the server has (H7). */
#define PULL_PAGE_SIZE 4096

/* What to ask for. Revisions are decimal frame numbers; -1: field absent
 * (client: from nothing; server: the latest). */
typedef struct pull_req {
    long long client_revision;
    long long server_revision;
    int bootstrap; /* stream_kind=1: the full page set (replace base) */
} pull_req;

/* The request body, malloc'd, in *out (*len bytes). 0 or -1 (no memory). */
int pull_req_encode(const pull_req *r, unsigned char **out, size_t *len);

/* A decoded response. */
typedef struct pull_page {
    uint32_t pgno;        /* 1-based (the wire's page_id + 1) */
    unsigned char *data;  /* PULL_PAGE_SIZE bytes (malloc'd) */
} pull_page;

typedef struct pull_resp {
    long long revision;    /* server_revision ("page:N" gives N) */
    int page_prefixed;     /* the revision came as "page:N" (a bootstrap) */
    unsigned long long db_size; /* pages; 0: the server's WAL is empty */
    int replace_base;      /* apply_mode REPLACE_BASE: every page is here */
    size_t npages;
    pull_page *pages;      /* in the order they came (frame order) */
} pull_resp;

/* The streaming decoder. */
typedef struct pull_decoder {
    pull_resp r;
    int have_header;
    unsigned char *buf;    /* bytes of an unfinished message */
    size_t len, cap;
    size_t max_bytes;      /* cap on the pages held */
    size_t cap_pages;
    unsigned long long bytes; /* body bytes seen */
} pull_decoder;

/* A decoder that keeps at most max_bytes of pages. */
void pull_decoder_init(pull_decoder *d, size_t max_bytes);
/* Feed body bytes as they come. 0, or -1 with *err (protocol, nomem,
 * toobig). */
int pull_decoder_feed(pull_decoder *d, const void *p, size_t n, lsq_error *err);
/* End of body: 0 with the checked response moved to *out (free with
 * pull_resp_free), or -1 with *err (a message cut short, no header). */
int pull_decoder_finish(pull_decoder *d, pull_resp *out, lsq_error *err);
void pull_decoder_free(pull_decoder *d);

void pull_resp_free(pull_resp *r);

/* The first PULL_PAGE_SIZE-byte page's checks (page 1 of a set that has
 * it): page size 4096, no reserved bytes, a SQLite header. 0 or -1 with
 * *err (protocol). */
int pull_check_page1(const unsigned char *page, lsq_error *err);

/* A 64-bit FNV-1a hash of a page: the probe's fingerprint of the page a
 * revision wrote (protocols.md 3.8, H1). */
uint64_t pull_page_hash(const unsigned char *page);

#endif
