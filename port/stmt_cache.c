/*
 * stmt_cache.c - LRU statement cache: a chained hash table over the SQL
 * bytes for lookup, and a doubly linked list for recency.
 */
#include "stmt_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *sql;              /* owned copy of the key */
    size_t n;               /* its length */
    uint64_t hash;          /* FNV-1a of the key */
    lsq_stmt *stmt;         /* the cached statement (owned) */
    struct entry *chain;    /* next in the same bucket */
    struct entry *newer;    /* LRU list: towards the most recent */
    struct entry *older;    /* LRU list: towards the least recent */
} entry;

struct stmt_cache {
    entry **buckets;        /* nbuckets chains */
    size_t nbuckets;        /* a power of two */
    entry *newest, *oldest; /* LRU list ends */
    void (*fin)(lsq_stmt *);
    cache_stats st;
};

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

stmt_cache *cache_new(size_t capacity, void (*fin)(lsq_stmt *))
{
    stmt_cache *c = calloc(1, sizeof *c);
    size_t nb = 16;

    if (c == NULL) return NULL;
    while (nb < capacity * 2 && nb < ((size_t)1 << 20)) nb <<= 1;
    c->buckets = calloc(nb, sizeof *c->buckets);
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    c->nbuckets = nb;
    c->fin = fin;
    c->st.capacity = capacity;
    return c;
}

static void lru_unlink(stmt_cache *c, entry *e)
{
    if (e->newer) e->newer->older = e->older; else c->newest = e->older;
    if (e->older) e->older->newer = e->newer; else c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_newest(stmt_cache *c, entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest) c->newest->newer = e; else c->oldest = e;
    c->newest = e;
}

/* Unlink e from its bucket and the LRU list; return its statement. */
static lsq_stmt *detach(stmt_cache *c, entry *e)
{
    entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    lsq_stmt *s = e->stmt;

    while (*pp != e) pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(c, e);
    free(e->sql);
    free(e);
    c->st.size--;
    return s;
}

static entry *find(stmt_cache *c, const char *sql, size_t n, uint64_t h)
{
    entry *e;

    for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->chain)
        if (e->hash == h && e->n == n && memcmp(e->sql, sql, n) == 0) return e;
    return NULL;
}

lsq_stmt *cache_take(stmt_cache *c, const char *sql, size_t n)
{
    entry *e = find(c, sql, n, fnv1a(sql, n));

    if (e == NULL) {
        c->st.misses++;
        return NULL;
    }
    c->st.hits++;
    return detach(c, e);
}

void cache_put(stmt_cache *c, const char *sql, size_t n, lsq_stmt *s)
{
    uint64_t h = fnv1a(sql, n);
    entry *e;

    if (c->st.capacity == 0 || find(c, sql, n, h) != NULL) goto drop;
    while (c->st.size >= c->st.capacity && c->oldest != NULL) {
        c->fin(detach(c, c->oldest));
        c->st.evictions++;
    }
    e = calloc(1, sizeof *e);
    if (e == NULL) goto drop;
    e->sql = malloc(n ? n : 1);
    if (e->sql == NULL) {
        free(e);
        goto drop;
    }
    memcpy(e->sql, sql, n);
    e->n = n;
    e->hash = h;
    e->stmt = s;
    e->chain = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = e;
    lru_push_newest(c, e);
    c->st.size++;
    return;
drop:
    c->fin(s);
}

void cache_clear(stmt_cache *c)
{
    while (c->oldest != NULL) c->fin(detach(c, c->oldest));
}

void cache_free(stmt_cache *c)
{
    if (c == NULL) return;
    cache_clear(c);
    free(c->buckets);
    free(c);
}

void cache_get_stats(const stmt_cache *c, cache_stats *out)
{
    *out = c->st;
}
