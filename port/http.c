/*
 * http.c - HTTP requests for the remote backend (see http.h).
 */
#include "http.h"
#include "curl_api.h"
#include "wipe.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_client {
    const curl_api *api;        /* libcurl, loaded on first use */
    CURL *easy;
    CURLM *multi;
    struct curl_slist *headers; /* JSON, no Expect:, Authorization */
    atomic_int interrupted;
    char errbuf[CURL_ERROR_SIZE];
    /* the request running now */
    const char *body;   /* request body (POST) or NULL (GET) */
    int attempts;       /* times curl was about to send it */
    int resend_refused; /* a second attempt was refused (on_prereq) */
    http_sink sink;
    void *ctx;
    http_errbody *eb;
    long status;
    int sink_failed;
    lsq_error *err;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    http_client *h = arg;
    size_t n = size * nmemb, room;

    if (h->status == 0 &&
        h->api->easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->status) != CURLE_OK)
        h->status = 0;
    if (h->status >= 200 && h->status < 300) {
        if (h->sink(h->ctx, p, n, h->err) != 0) {
            h->sink_failed = 1;
            return 0; /* CURLE_WRITE_ERROR */
        }
        return n;
    }
    /* An error body: keep its start for the message, drop the rest. */
    room = HTTP_ERRBODY_MAX - h->eb->n;
    if (room > n) room = n;
    memcpy(h->eb->p + h->eb->n, p, room);
    h->eb->n += room;
    return n;
}

/* Called each time curl is about to send the request on a connection.
 * libcurl resends a request by itself when a reused keep-alive
 * connection dies before any byte of answer (the server may have closed
 * it as idle just then, or crashed after running the request). The
 * server may well have run it: an INSERT would run twice, and a Hrana
 * pipeline holding a baton is not idempotent either. So a POST goes out
 * once: a second attempt is refused and becomes an error saying it may
 * have run. A GET (the version probe) may go again. A connection the
 * server closed while it was idle is seen by curl before the first
 * attempt and replaced: that costs a reconnect, not an error. */
static int on_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port)
{
    http_client *h = arg;

    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
    if (++h->attempts > 1 && h->body != NULL) {
        h->resend_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

/* Token bytes that could split a header line are refused. */
static int header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n') return 0;
    return 1;
}

http_client *http_new(const http_opts *o, lsq_error *err)
{
    const curl_api *api = curl_api_get(err);
    http_client *h;
    char *auth = NULL;
    int ok = 1;

    if (api == NULL) return NULL;
    if (o->auth_token != NULL && !header_safe(o->auth_token)) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "auth_token holds a line break");
        return NULL;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL) goto nomem;
    h->api = api;
    h->easy = h->api->easy_init();
    h->multi = h->api->multi_init();
    if (h->easy == NULL || h->multi == NULL) goto nomem;
    h->headers = h->api->slist_append(NULL, "Content-Type: application/json");
    /* curl adds Expect: 100-continue to bodies over 1 MiB; tursodb never
     * answers it and curl then waits a whole second. */
    if (h->headers != NULL) h->headers = h->api->slist_append(h->headers, "Expect:");
    if (h->headers == NULL) goto nomem;
    if (o->auth_token != NULL && o->auth_token[0] != 0) {
        size_t n = strlen(o->auth_token) + sizeof "Authorization: Bearer ";
        struct curl_slist *more;

        auth = malloc(n);
        if (auth == NULL) goto nomem;
        (void)snprintf(auth, n, "Authorization: Bearer %s", o->auth_token);
        more = h->api->slist_append(h->headers, auth);
        /* The token is copied into the list; wipe our copy. */
        wipe(auth, n);
        free(auth);
        if (more == NULL) goto nomem;
        h->headers = more;
    }
    ok &= h->api->easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, o->request_timeout_ms) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_ERRORBUFFER, h->errbuf) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_WRITEDATA, h) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_TCP_NODELAY, 1L) == CURLE_OK;
    if (o->buffer_size > 0)
        ok &= h->api->easy_setopt(h->easy, CURLOPT_BUFFERSIZE, o->buffer_size) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_PREREQFUNCTION, on_prereq) == CURLE_OK;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_PREREQDATA, h) == CURLE_OK;
    if (o->ca_file != NULL)
        ok &= h->api->easy_setopt(h->easy, CURLOPT_CAINFO, o->ca_file) == CURLE_OK;
    if (!ok) {
        lsq_error_set(err, LSQ_E_INTERNAL, "libcurl refused an option");
        http_free(h);
        return NULL;
    }
    return h;
nomem:
    http_free(h);
    lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
    return NULL;
}

void http_free(http_client *h)
{
    if (h == NULL || h->api == NULL) {
        free(h);
        return;
    }
    if (h->multi != NULL) (void)h->api->multi_cleanup(h->multi);
    if (h->easy != NULL) h->api->easy_cleanup(h->easy);
    /* The Authorization header holds the token: wipe before freeing. */
    for (struct curl_slist *l = h->headers; l != NULL; l = l->next)
        if (l->data != NULL) wipe(l->data, strlen(l->data));
    h->api->slist_free_all(h->headers);
    free(h);
}

void http_set_timeout(http_client *h, long ms)
{
    (void)h->api->easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, ms);
}

void http_interrupt(http_client *h)
{
    atomic_store(&h->interrupted, 1);
    (void)h->api->multi_wakeup(h->multi);
}

void http_clear_interrupt(http_client *h)
{
    atomic_store(&h->interrupted, 0);
}

static void curl_error(http_client *h, CURLcode rc, lsq_error *err)
{
    const char *why = h->errbuf[0] ? h->errbuf : h->api->easy_strerror(rc);

    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        lsq_error_set(err, LSQ_E_TIMEOUT, "the server did not answer in time: %s", why);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        lsq_error_set(err, LSQ_E_TLS, "TLS failed: %s", why);
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "bad URL: %s", why);
        break;
    case CURLE_OUT_OF_MEMORY:
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory in libcurl");
        break;
    case CURLE_ABORTED_BY_CALLBACK: /* only on_prereq aborts */
        lsq_error_set(err, LSQ_E_NETWORK,
                      "the connection to the server closed before it answered: the request "
                      "may have run on the server, and was not sent again");
        break;
    default:
        lsq_error_set(err, LSQ_E_NETWORK, "the request to the server failed: %s", why);
        break;
    }
}

int http_request(http_client *h, const char *url, const char *body, size_t len,
                 http_sink sink, void *ctx, long *status, http_errbody *eb, lsq_error *err)
{
    CURLMcode mrc = CURLM_OK;
    CURLcode rc = CURLE_OK;
    CURLMsg *msg;
    int running = 1, left, ok = 1;

    h->errbuf[0] = 0;
    h->sink = sink;
    h->ctx = ctx;
    h->eb = eb;
    h->status = 0;
    h->sink_failed = 0;
    h->attempts = 0;
    h->resend_refused = 0;
    h->err = err;
    eb->n = 0;
    ok &= h->api->easy_setopt(h->easy, CURLOPT_URL, url) == CURLE_OK;
    h->body = body;
    if (body != NULL) {
        /* With a Content-Length (tursodb refuses chunked bodies). Given
         * as POSTFIELDS, a body under 64 KiB goes out in the same send()
         * as the headers (through a read callback it took a second one,
         * and a second packet for the server to wait for); resends are
         * refused in on_prereq. body outlives the request. */
        ok &= h->api->easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK;
        ok &= h->api->easy_setopt(h->easy, CURLOPT_POSTFIELDS, body) == CURLE_OK;
    } else {
        ok &= h->api->easy_setopt(h->easy, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    }
    if (!ok) {
        lsq_error_set(err, LSQ_E_INTERNAL, "libcurl refused an option");
        return -1;
    }
    if (h->api->multi_add_handle(h->multi, h->easy) != CURLM_OK) {
        lsq_error_set(err, LSQ_E_INTERNAL, "libcurl could not start the request");
        return -1;
    }
    while (running) {
        if (atomic_load(&h->interrupted)) break;
        mrc = h->api->multi_perform(h->multi, &running);
        if (mrc != CURLM_OK) break;
        if (running && h->api->multi_poll(h->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
            mrc = CURLM_INTERNAL_ERROR;
            break;
        }
    }
    if (running) {
        (void)h->api->multi_remove_handle(h->multi, h->easy);
        if (atomic_load(&h->interrupted))
            lsq_error_set(err, LSQ_E_INTERRUPTED, "interrupted");
        else
            lsq_error_set(err, LSQ_E_INTERNAL, "libcurl failed: %s", h->api->multi_strerror(mrc));
        return -1;
    }
    while ((msg = h->api->multi_info_read(h->multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == h->easy) rc = msg->data.result;
    (void)h->api->multi_remove_handle(h->multi, h->easy);
    if (rc != CURLE_OK) {
        if (h->sink_failed) return -1; /* *err set by the sink */
        curl_error(h, rc, err);
        return -1;
    }
    if (h->api->easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, status) != CURLE_OK) *status = 0;
    return 0;
}

/* The base URL: libsql:// means https://; no query, fragment or user. */
char *http_base_url(const char *url, lsq_error *err)
{
    const char *rest;
    char *z;
    size_t n;

    if (strncmp(url, "libsql://", 9) == 0) rest = url + 9;
    else if (strncmp(url, "https://", 8) == 0) rest = url + 8;
    else if (strncmp(url, "http://", 7) == 0) rest = url + 7;
    else {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                      "url must start with libsql://, https:// or http://");
        return NULL;
    }
    if (strpbrk(rest, "?#@ \t\r\n") != NULL || rest[0] == 0 || rest[0] == '/') {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                      "url must be scheme://host[:port][/path] without user, query or "
                      "fragment (give the token as auth_token)");
        return NULL;
    }
    n = strlen(rest);
    while (n > 0 && rest[n - 1] == '/') n--;
    z = malloc(n + 9);
    if (z == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return NULL;
    }
    (void)snprintf(z, n + 9, "%s%.*s", strncmp(url, "http://", 7) == 0 ? "http://" : "https://",
                   (int)n, rest);
    return z;
}
