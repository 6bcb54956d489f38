/*
 * replica_bg.c - the sync thread (replica_bg.h).
 */
#include "replica_bg.h"
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* The longest wait between attempts while the server cannot be reached. */
#define MAX_BACKOFF_MS 60000

struct replica_bg {
    replica_sync *sync;
    long long interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* signalled by stop */
    int stop;
};

/* Wait ms or until stop; 1 when stopping. */
static int nap(replica_bg *b, long long ms)
{
    struct timespec until;
    int stop;

    (void)clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_lock(&b->lock) != 0) return 1;
    while (!b->stop) {
        int rc = pthread_cond_timedwait(&b->wake, &b->lock, &until);

        if (rc == ETIMEDOUT) break;
        if (rc != 0) { /* cannot wait: treat as a stop rather than spin */
            b->stop = 1;
            break;
        }
    }
    stop = b->stop;
    (void)pthread_mutex_unlock(&b->lock);
    return stop;
}

static void *bg_main(void *arg)
{
    replica_bg *b = arg;
    long long wait = b->interval_ms;
    int failing = 0;

    while (!nap(b, wait)) {
        lsq_sync_info info;
        lsq_error err;

        if (replica_sync_run(b->sync, &info, &err) == 0) {
            if (failing) events_sync("sync_ok", &info);
            else if (info.pages > 0 || info.bootstrapped) events_sync("sync", &info);
            failing = 0;
            wait = b->interval_ms;
            continue;
        }
        if (err.code == LSQ_E_INTERRUPTED) continue; /* stopping */
        if (!failing) events_sync_error(&err);
        failing = 1;
        wait = wait * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : wait * 2;
        if (wait < b->interval_ms) wait = b->interval_ms;
    }
    return NULL;
}

replica_bg *replica_bg_start(replica_sync *s, long long interval_ms, lsq_error *err)
{
    replica_bg *b = calloc(1, sizeof *b);
    pthread_condattr_t ca;

    if (b == NULL) {
        replica_sync_free(s);
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return NULL;
    }
    b->sync = s;
    b->interval_ms = interval_ms;
    if (pthread_mutex_init(&b->lock, NULL) != 0) goto fail_mutex;
    if (pthread_condattr_init(&ca) != 0) goto fail_cond;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&b->wake, &ca) != 0) {
        (void)pthread_condattr_destroy(&ca);
        goto fail_cond;
    }
    (void)pthread_condattr_destroy(&ca);
    if (pthread_create(&b->thread, NULL, bg_main, b) != 0) {
        (void)pthread_cond_destroy(&b->wake);
        goto fail_cond;
    }
    return b;
fail_cond:
    (void)pthread_mutex_destroy(&b->lock);
fail_mutex:
    replica_sync_free(s);
    free(b);
    lsq_error_set(err, LSQ_E_INTERNAL, "cannot start the sync thread");
    return NULL;
}

void replica_bg_stop(replica_bg *b)
{
    if (b == NULL) return;
    if (pthread_mutex_lock(&b->lock) == 0) {
        b->stop = 1;
        (void)pthread_cond_signal(&b->wake);
        (void)pthread_mutex_unlock(&b->lock);
    }
    replica_sync_interrupt(b->sync); /* a pull under way ends now */
    (void)pthread_join(b->thread, NULL);
    (void)pthread_cond_destroy(&b->wake);
    (void)pthread_mutex_destroy(&b->lock);
    replica_sync_free(b->sync);
    free(b);
}
