/*
 * wipe.h - erase secrets (auth tokens, encryption keys) from memory.
 *
 * A plain memset before free() is a dead store the compiler may drop;
 * explicit_bzero (glibc, with _DEFAULT_SOURCE) is never dropped.
 */
#ifndef LSQ_WIPE_H
#define LSQ_WIPE_H

#include <string.h>

static inline void wipe(void *p, size_t n)
{
    if (p != NULL && n > 0) explicit_bzero(p, n);
}

#endif
