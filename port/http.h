/*
 * http.h - one HTTP client per remote connection (libcurl, gnutls).
 *
 * Requests run on the main thread through a curl multi handle so that
 * http_interrupt(), called from the watchdog thread, wakes the wait at
 * once (curl_multi_wakeup) instead of after curl's next progress tick.
 * The multi handle keeps the connection cache: keep-alive is used where
 * the server allows it. TLS peer and host verification are always on;
 * ca_file adds a CA bundle.
 */
#ifndef LSQ_HTTP_H
#define LSQ_HTTP_H

#include <stddef.h>
#include "errors.h"

typedef struct http_client http_client;

typedef struct http_opts {
    const char *auth_token;     /* "Authorization: Bearer ..." or NULL */
    const char *ca_file;        /* CA bundle (PEM) or NULL for the system's */
    long connect_timeout_ms;
    long request_timeout_ms;    /* whole request, 0 = none */
    long buffer_size;           /* receive buffer, bytes (0: curl's 16 KB); big
                                 * responses (a replica's pulls) take fewer reads */
} http_opts;

/* Where a 2xx response body goes, piece by piece. 0, or -1 to abort (the
 * sink has filled *err). */
typedef int (*http_sink)(void *ctx, const char *p, size_t n, lsq_error *err);

/* Room for the start of an error body (non-2xx). */
#define HTTP_ERRBODY_MAX 4096
typedef struct http_errbody { char p[HTTP_ERRBODY_MAX]; size_t n; } http_errbody;

/* The base URL of a user's url: libsql:// means https://; no user, query
 * or fragment, no trailing '/'. malloc'd, or NULL with *err (bad_argument,
 * nomem). */
char *http_base_url(const char *url, lsq_error *err);

http_client *http_new(const http_opts *o, lsq_error *err);
void http_free(http_client *h);

/* GET (body == NULL) or POST url. On a 2xx status the body is streamed to
 * sink; otherwise up to HTTP_ERRBODY_MAX bytes of it land in *eb. Returns
 * 0 with *status set once a response arrived, or -1 with *err: network,
 * timeout, tls, interrupted, bad_argument (a URL curl refuses), or the
 * sink's own error. */
int http_request(http_client *h, const char *url, const char *body, size_t len,
                 http_sink sink, void *ctx, long *status, http_errbody *eb, lsq_error *err);

/* Change the whole-request timeout (0 = none) for later requests. */
void http_set_timeout(http_client *h, long ms);

/* From any thread: abort the request running now (and any until
 * http_clear_interrupt). */
void http_interrupt(http_client *h);
void http_clear_interrupt(http_client *h);

#endif
