/*
 * curl_api.h - libcurl, loaded when the first remote connection opens.
 *
 * Linking libcurl-gnutls pulls some thirty shared libraries into every
 * port process, and GnuTLS initialises itself when it is loaded: measured,
 * a local open + close went from 6.9 ms to 19.4 ms and an idle port from
 * 3.0 MB to 8.9 MB RSS. Only remote connections need it, so it is
 * dlopen()ed on first use and reached through this table; the types and
 * constants still come from <curl/curl.h>.
 */
#ifndef LSQ_CURL_API_H
#define LSQ_CURL_API_H

#include <curl/curl.h>
#include "errors.h"

typedef struct curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode rc);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_perform)(CURLM *m, int *running);
    CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms, int *ret);
    CURLMcode (*multi_wakeup)(CURLM *m);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    const char *(*multi_strerror)(CURLMcode rc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} curl_api;

/* The loaded library with curl_global_init done (once per process), or
 * NULL with *err (the library or a symbol is missing). Thread-safe. */
const curl_api *curl_api_get(lsq_error *err);

#endif
