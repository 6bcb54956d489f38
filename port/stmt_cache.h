/*
 * stmt_cache.h - a bounded LRU cache of prepared statements keyed by SQL.
 *
 * A statement is taken out of the cache while it runs (cache_take) and
 * put back when done (cache_put), so a statement is never shared by two
 * users at once (a cursor holding it, and a query of the same SQL, each
 * get their own). The cache owns what it holds and finalizes what it
 * evicts.
 */
#ifndef LSQ_STMT_CACHE_H
#define LSQ_STMT_CACHE_H

#include <stddef.h>
#include "backend.h"

typedef struct stmt_cache stmt_cache;

typedef struct cache_stats {
    unsigned long long hits;      /* takes that found a statement */
    unsigned long long misses;    /* takes that did not */
    unsigned long long evictions; /* statements finalized to make room */
    size_t size;                  /* statements held now */
    size_t capacity;              /* most statements held */
} cache_stats;

/* New empty cache holding at most capacity statements (0: caching off).
 * fin finalizes an evicted statement. NULL on allocation failure. */
stmt_cache *cache_new(size_t capacity, void (*fin)(lsq_stmt *));

/* Remove and return the statement cached for sql[0..n), or NULL. */
lsq_stmt *cache_take(stmt_cache *c, const char *sql, size_t n);

/* Give s (already reset) to the cache as the most recently used statement
 * for sql. If the cache cannot keep it (capacity 0, a statement for the
 * same SQL already there, allocation failure), s is finalized. */
void cache_put(stmt_cache *c, const char *sql, size_t n, lsq_stmt *s);

/* Finalize everything held; the cache stays usable. */
void cache_clear(stmt_cache *c);

void cache_free(stmt_cache *c);
void cache_get_stats(const stmt_cache *c, cache_stats *out);

#endif
