/*
 * fatal.h - what the port program's threads do when the process cannot go
 * on (no memory for a reply, a lock that fails, a thread that cannot
 * start): say why on stderr and exit with a code of protocol.h. The
 * connection process sees the exit status and fails its callers.
 * Shared by main.c and intake.c, the two files that run the threads, and
 * journal_gather.c, whose mutex any of them may take.
 */
#ifndef LSQ_FATAL_H
#define LSQ_FATAL_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "protocol.h"

static inline _Noreturn void fatal(int code, const char *what)
{
    fprintf(stderr, "libsql_port: fatal: %s (%s)\n", what, strerror(errno));
    _exit(code);
}

static inline void lock(pthread_mutex_t *m)
{
    if (pthread_mutex_lock(m) != 0) fatal(LSQ_EXIT_THREAD, "lock");
}

static inline void unlock(pthread_mutex_t *m)
{
    (void)pthread_mutex_unlock(m);
}

#endif
