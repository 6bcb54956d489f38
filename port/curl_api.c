/*
 * curl_api.c - dlopen() of libcurl-gnutls on first use (see curl_api.h).
 */
#include "curl_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

/* Debian's libcurl3-gnutls package. */
#define CURL_LIBRARY "libcurl-gnutls.so.4"

static curl_api g_api;
static const curl_api *g_loaded;
static char g_why[256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* dlsym returns void *; POSIX guarantees it can be stored into a function
 * pointer through this cast (ISO C alone does not). */
#define LOAD(field, name)                                                   \
    do {                                                                    \
        void *sym = dlsym(lib, name);                                       \
        if (sym == NULL) {                                                  \
            (void)snprintf(g_why, sizeof g_why, "%s lacks %s", CURL_LIBRARY, name); \
            return;                                                         \
        }                                                                   \
        *(void **)(&g_api.field) = sym;                                     \
    } while (0)

static void load(void)
{
    void *lib = dlopen(CURL_LIBRARY, RTLD_NOW | RTLD_LOCAL);

    if (lib == NULL) {
        (void)snprintf(g_why, sizeof g_why,
                       "remote connections need %s (Debian package libcurl3-gnutls): %s",
                       CURL_LIBRARY, dlerror());
        return;
    }
    LOAD(global_init, "curl_global_init");
    LOAD(easy_init, "curl_easy_init");
    LOAD(easy_cleanup, "curl_easy_cleanup");
    LOAD(easy_setopt, "curl_easy_setopt");
    LOAD(easy_getinfo, "curl_easy_getinfo");
    LOAD(easy_strerror, "curl_easy_strerror");
    LOAD(multi_init, "curl_multi_init");
    LOAD(multi_cleanup, "curl_multi_cleanup");
    LOAD(multi_add_handle, "curl_multi_add_handle");
    LOAD(multi_remove_handle, "curl_multi_remove_handle");
    LOAD(multi_perform, "curl_multi_perform");
    LOAD(multi_poll, "curl_multi_poll");
    LOAD(multi_wakeup, "curl_multi_wakeup");
    LOAD(multi_info_read, "curl_multi_info_read");
    LOAD(multi_strerror, "curl_multi_strerror");
    LOAD(slist_append, "curl_slist_append");
    LOAD(slist_free_all, "curl_slist_free_all");
    if (g_api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        (void)snprintf(g_why, sizeof g_why, "libcurl could not be initialised");
        return;
    }
    /* The library stays loaded for the life of the process. */
    g_loaded = &g_api;
}

const curl_api *curl_api_get(lsq_error *err)
{
    if (pthread_once(&g_once, load) != 0) {
        lsq_error_set(err, LSQ_E_INTERNAL, "pthread_once failed");
        return NULL;
    }
    if (g_loaded == NULL) lsq_error_set(err, LSQ_E_INTERNAL, "%s", g_why);
    return g_loaded;
}
