/*
 * sqlite_log.c - SQLite's error log as events (sqlite_log.h).
 */
#include "sqlite_log.h"
#include "channel.h"
#include "mono_clock.h"
#include "term.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#define LOG_PER_SECOND 20

static struct {
    pthread_mutex_t lock;
    long long window_start;  /* ns: the current second began */
    int sent;                /* messages sent in it */
    long long dropped;       /* messages dropped since the last one sent */
} g = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0 };

/* Whether this message may go, and how many were dropped before it. */
static int admit(long long *dropped)
{
    long long now = lsq_mono_ns();
    int ok;

    if (pthread_mutex_lock(&g.lock) != 0) return 0;
    if (now - g.window_start >= 1000000000LL) {
        g.window_start = now;
        g.sent = 0;
    }
    ok = g.sent < LOG_PER_SECOND;
    if (ok) {
        g.sent++;
        *dropped = g.dropped;
        g.dropped = 0;
    } else {
        g.dropped++;
    }
    (void)pthread_mutex_unlock(&g.lock);
    return ok;
}

/* What an operator must hear of: SQLite's notices and warnings (a WAL
 * recovered, a string literal in double quotes), and what concerns the
 * file or the process (no memory, I/O errors, corruption, a full disk).
 * The rest (a statement that failed or was interrupted, a schema change,
 * a file that did not open) is the caller's error already: sending it
 * would cost a frame per failed statement for a message nobody reads. */
static int worth_sending(int code)
{
    switch (code & 0xff) {
    case SQLITE_NOTICE: case SQLITE_WARNING: case SQLITE_NOMEM: case SQLITE_IOERR:
    case SQLITE_CORRUPT: case SQLITE_FULL:
        return 1;
    default:
        return 0;
    }
}

static void on_log(void *arg, int code, const char *msg)
{
    long long dropped = 0;
    ei_x_buff x;

    (void)arg;
    if (msg == NULL || !worth_sending(code) || !admit(&dropped)) return;
    if (ei_x_new(&x) != 0) return;
    if (term_reply_begin(&x, 0, "event") == 0 && ei_x_encode_tuple_header(&x, 4) == 0 &&
        ei_x_encode_atom(&x, "log") == 0 && ei_x_encode_long(&x, code) == 0 &&
        term_encode_binary(&x, msg, strnlen(msg, 4096)) == 0 &&
        ei_x_encode_longlong(&x, dropped) == 0)
        (void)channel_emit(x.buff, (size_t)x.index);
    (void)ei_x_free(&x);
}

int sqlite_log_setup(void)
{
    return sqlite3_config(SQLITE_CONFIG_LOG, on_log, NULL) == SQLITE_OK ? 0 : -1;
}
