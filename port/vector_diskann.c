/*
 * vector_diskann.c - libSQL's DiskANN vector index in libSQL's file
 * format (../shared/vectors.md §4): the shadow tables, the node blocks,
 * and the graph's search, insert and delete.
 *
 * The file format is libSQL's to the byte, so a file indexed by either
 * engine is searched and written by the other; the graph is built by
 * libSQL's rules (search with insert_l, then N->P and P->N for every
 * visited P with its alpha pruning). What differs is how the work is
 * done, because libSQL reads every visited block whole (~54 KB at
 * 256-d) and writes every touched neighbour's block back whole:
 *
 *  - A cache of the graph (each node's vector, its edge list with the
 *    stored distances) lives in the lsq_vidx between calls, so a search
 *    or an insert runs from memory and reads only blocks it has not seen.
 *    It is checked at the start of every call (PRAGMA data_version for
 *    other connections; a sentinel in the TEMP table libsql_vidx_state
 *    that every write of ours sets, so a rollback of any kind shows as a
 *    mismatch) and
 *    dropped when in doubt, and on any error in the middle of a write.
 *  - A write touches only the bytes that change: the new row is inserted
 *    whole (no zeroblob + rewrite), and a neighbour gets its changed edge
 *    slots, records and edge count through sqlite3_blob_write.
 *  - Searching compares candidates with a distance summed in several
 *    lanes (fast, not libSQL's rounding); what is stored, and the
 *    distances that rank a search's answer, are lsq_vec_distance's, the
 *    exact libSQL arithmetic.
 *  - DELETE removes the deleted node from its neighbours' edge lists
 *    (libSQL leaves those edges as zombies); zombies in files libSQL
 *    wrote are skipped by searches and dropped when a node is rewritten.
 *
 * Main thread only (the registry of open handles is not locked).
 */
#include "vector_diskann.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define META_TABLE "libsql_vector_meta_shadow"

/* The sentinel's home: a TEMP table, never in the file. (A cookie such
 * as temp.user_version would do as well, but setting any cookie of the
 * temp database expires every prepared statement of the connection,
 * the running one included.) */
#define STATE_TABLE "libsql_vidx_state"
#define STATE_CREATE "CREATE TEMP TABLE IF NOT EXISTS " STATE_TABLE \
                     "(k INTEGER PRIMARY KEY, v INTEGER NOT NULL)"
/* Clamp for search lists: far above any useful L, below what could not be allocated. */
#define MAX_L 65536u
/* Above this the cache is dropped at the start of the next call and
 * refills from the blocks the calls read (a working-set cache). */
#define CACHE_BUDGET ((size_t)512 << 20)
static size_t g_cache_budget = CACHE_BUDGET; /* lsq_vidx_set_cache_budget */

/* ---- little-endian fields --------------------------------------------------- */

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static float get_lef32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;

    memcpy(&f, &u, sizeof f);
    return f;
}

static void put_lef32(unsigned char *p, float f)
{
    uint32_t u;
    int i;

    memcpy(&u, &f, sizeof u);
    for (i = 0; i < 4; i++) p[i] = (unsigned char)(u >> (8 * i));
}

/* ---- fast distances (search only) ------------------------------------------- */

/* Four 4-lane accumulators: ~16x fewer dependent additions than libSQL's
 * one running float sum. The values differ from libSQL's in the last bits;
 * they only order candidates and test pruning, never get stored.
 *
 * The accumulators are written as one 16-float vector (GCC's vector
 * extension, loads by memcpy): lane j of it is what accumulator j / 4
 * holds in lane j % 4, so the sums are the same to the bit whatever width
 * the code runs at. target_clones compiles each function again for AVX2
 * and AVX-512 (two 8-lane or one 16-lane operation instead of four
 * 4-lane ones) and picks the one this CPU runs when the program loads;
 * with -ffp-contract=off none of them fuses a multiply and an add. This
 * loop was half the port's CPU in an index build at 16,000 x 256 (perf),
 * 37% after: the rest is waiting for the candidates' vectors. */
typedef float v4f __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));

/* Only where the clones can be made and chosen: x86-64 and an ifunc
 * resolver (glibc; musl has none), with GCC or clang 14+. Elsewhere one
 * build of the same code. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define FAST_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef FAST_CLONES
#define FAST_CLONES
#endif

static float hsum(v4f s)
{
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* Lanes 4q .. 4q+3 of a 16-lane vector. */
static v4f quarter(const v16f *s, unsigned q)
{
    v4f r = { (*s)[4 * q], (*s)[4 * q + 1], (*s)[4 * q + 2], (*s)[4 * q + 3] };

    return r;
}

FAST_CLONES
static float dot_f(const float *a, const float *b, unsigned n)
{
    v16f s = { 0 };
    v4f s0, s1, s2, s3;
    unsigned i = 0;
    float r;

    for (; i + 16 <= n; i += 16) {
        v16f x, y;

        memcpy(&x, a + i, 64);
        memcpy(&y, b + i, 64);
        s += x * y;
    }
    s0 = quarter(&s, 0);
    s1 = quarter(&s, 1);
    s2 = quarter(&s, 2);
    s3 = quarter(&s, 3);
    for (; i + 4 <= n; i += 4) {
        v4f x, y;

        memcpy(&x, a + i, 16);
        memcpy(&y, b + i, 16);
        s0 += x * y;
    }
    r = hsum((s0 + s1) + (s2 + s3));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* Two 4-lane accumulators over 8 floats at a time, held as one 8-lane
 * vector (lanes 0-3 and 4-7), the same sums at any width. */
FAST_CLONES
static float l2sq_f(const float *a, const float *b, unsigned n)
{
    v8f s = { 0 };
    v4f s0, s1;
    unsigned i = 0;
    float r;

    for (; i + 8 <= n; i += 8) {
        v8f x, y, d;

        memcpy(&x, a + i, 32);
        memcpy(&y, b + i, 32);
        d = x - y;
        s += d * d;
    }
    s0 = (v4f){ s[0], s[1], s[2], s[3] };
    s1 = (v4f){ s[4], s[5], s[6], s[7] };
    r = hsum(s0 + s1);
    for (; i < n; i++) {
        float d = a[i] - b[i];

        r += d * d;
    }
    return r;
}

/* ---- the cache -------------------------------------------------------------- */

/* One node as far as it is known: its vector (edge form, and node form
 * once its own block was read) and its edge list. Entries live until the
 * cache is cleared (a deleted node is marked missing), so edge lists can
 * point at them. */
typedef struct vnode vnode;
struct vnode {
    int64_t id;          /* shadow rowid */
    uint32_t visit;      /* search epoch that visited it */
    uint32_t cand;       /* search epoch that has it in the candidate list */
    uint32_t qd_epoch;   /* query epoch qd belongs to */
    float qd;            /* fast distance to the current query (memo) */
    unsigned vidx;       /* index in x->vis when visit == epoch */
    unsigned char has_vec; /* eb/f hold its edge form */
    unsigned char exact;   /* nb holds its node vector, read from its own block */
    unsigned char has_adj; /* the edge list is loaded */
    unsigned char missing; /* no such row (deleted: a zombie edge's target) */
    unsigned char pend;  /* in x->pend: slots flagged in dirty not written yet */
    unsigned char fresh; /* bulk build: its whole block is still to be inserted */
    uint16_t nadj;       /* edges */
    uint16_t fcount;     /* while pend: the edge count the file holds */
    float norm;          /* sum of squares of f (cosine), in lanes */
    float nseq;          /* the same summed in order, as libSQL sums it */
    float *f;            /* edge form as floats (NULL for 1-bit edges) */
    unsigned char *eb;   /* edge form, edge_size bytes */
    unsigned char *nb;   /* node form, node_size bytes (== eb when the types agree) */
    int64_t *adj;        /* max_edges neighbour ids, slot order */
    vnode **adjn;        /* their entries */
    float *adist;        /* stored distances */
    unsigned char *dirty; /* max_edges flags: slots changed since the block was written */
};

struct lsq_vidx {
    sqlite3 *db;
    char *schema, *name, *shadow; /* shadow: name + "_shadow" */
    lsq_vidx_params p;
    lsq_vidx_layout_t l;
    float alpha;           /* libSQL multiplies in float */
    int fast;              /* edge vectors decode to floats (all but 1-bit) */
    sqlite3_stmt *st_minmax, *st_probe, *st_insert, *st_delete, *st_dv, *st_uv, *st_sw;
    sqlite3_blob *blob;    /* open during a call only (an open blob is a running statement) */
    int64_t blob_row;
    int blob_rw;
    int writing;           /* the current call writes: open blobs read-write */
    unsigned char *buf;    /* one block */
    vnode **pend;          /* nodes whose changed slots are not in the file yet */
    unsigned pend_n, pend_cap;
    int defer;             /* lsq_vidx_defer: pending blocks wait for lsq_vidx_flush */
    int bulk;              /* lsq_vidx_bulk_begin: new nodes' blocks wait too */
    int bulk_defer;        /* defer as it was before the bulk build */
    int bulk_lost;         /* the cache was dropped with fresh nodes in it */
    int64_t *fresh_ids;    /* the fresh nodes' ids, ascending (start picks) */
    unsigned fresh_n, fresh_cap;
    int complete;          /* every row's block is loaded (a small index, for delete) */
    sqlite3_stmt *st_count, *st_rows;
    vnode **todo;          /* max_edges: a node's neighbours still to compare */
    /* the cache */
    vnode **tab;           /* open addressing by id, tab_cap a power of 2 */
    size_t tab_cap, tab_n, mem;
    int64_t data_version;
    uint32_t seen;         /* the sentinel as last seen or written */
    uint32_t epoch;
    /* the query of the running call */
    unsigned char *q_eb;
    float *q_f;
    float q_norm;
    uint32_t q_epoch;      /* one per query: the qd memos */
    vnode *q_node;         /* insert: the node being inserted (its distances are qd) */
    float *pm;             /* insert: fast distances between visited nodes (NaN: not yet), vis_n^2 */
    size_t pm_cap;
    unsigned pm_n;         /* its row length; 0: no memo */
    int alias_f32;         /* F32 edges on a little-endian host: eb is f's bytes */
    size_t f_bytes;        /* bytes of a node's floats */
    /* search scratch */
    vnode **c_node;        /* candidates, by distance */
    float *c_dist;
    unsigned c_n, c_cap;
    vnode **t_node;        /* results */
    float *t_dist;
    unsigned t_n, t_cap;
    vnode **vis;           /* visited, in visit order */
    unsigned vis_n, vis_cap;
    lsq_vidx *next;        /* the registry of open handles */
};

static lsq_vidx *g_open;    /* every open handle (the sentinel is per connection) */
static sqlite3 *g_defer_db; /* lsq_vidx_defer's connection: its handles defer block writes */
static uint32_t g_sentinel; /* the last sentinel written */

static void node_free(vnode *n)
{
    sqlite3_free(n->f);
    sqlite3_free(n->adj);
    sqlite3_free(n);
}

static void cache_clear(lsq_vidx *x)
{
    size_t i;

    for (i = 0; i < x->tab_cap; i++)
        if (x->tab[i] != NULL) node_free(x->tab[i]);
    sqlite3_free(x->tab);
    x->tab = NULL;
    x->tab_cap = x->tab_n = 0;
    x->mem = 0;
    x->pend_n = 0; /* what was pending is dropped with the rest */
    x->complete = 0;
    if (x->fresh_n > 0) x->bulk_lost = 1;
    x->fresh_n = 0;
}

static size_t slot_of(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;

    return (size_t)(h >> 17) & (cap - 1);
}

static vnode *node_find(const lsq_vidx *x, int64_t id)
{
    size_t i;

    if (x->tab_cap == 0) return NULL;
    for (i = slot_of(id, x->tab_cap); x->tab[i] != NULL; i = (i + 1) & (x->tab_cap - 1))
        if (x->tab[i]->id == id) return x->tab[i];
    return NULL;
}

/* The entry of id, made empty if there was none; NULL when out of memory. */
static vnode *node_get(lsq_vidx *x, int64_t id)
{
    vnode *n = node_find(x, id);
    size_t i;

    if (n != NULL) return n;
    if (2 * (x->tab_n + 1) > x->tab_cap) {
        size_t cap = x->tab_cap ? 2 * x->tab_cap : 1024, j;
        vnode **t = sqlite3_malloc64(cap * sizeof *t);

        if (t == NULL) return NULL;
        memset(t, 0, cap * sizeof *t);
        for (j = 0; j < x->tab_cap; j++) {
            vnode *m = x->tab[j];

            if (m == NULL) continue;
            for (i = slot_of(m->id, cap); t[i] != NULL; i = (i + 1) & (cap - 1)) {}
            t[i] = m;
        }
        sqlite3_free(x->tab);
        x->mem += (cap - x->tab_cap) * sizeof *t;
        x->tab = t;
        x->tab_cap = cap;
    }
    n = sqlite3_malloc(sizeof *n);
    if (n == NULL) return NULL;
    memset(n, 0, sizeof *n);
    n->id = id;
    for (i = slot_of(id, x->tab_cap); x->tab[i] != NULL; i = (i + 1) & (x->tab_cap - 1)) {}
    x->tab[i] = n;
    x->tab_n++;
    x->mem += sizeof *n;
    return n;
}

/* The buffers of a node's vectors, allocated once: floats, edge form,
 * node form (when it differs). 0 or -1 (out of memory). */
static int vec_alloc(lsq_vidx *x, vnode *n)
{
    size_t nf = x->fast ? (size_t)x->p.dims * sizeof(float) : 0;
    size_t ne = x->alias_f32 ? 0 : x->l.edge_size, nn = x->p.compress != x->p.vector_type ? x->l.node_size : 0;
    unsigned char *b;

    if (n->eb != NULL) return 0;
    b = sqlite3_malloc64(nf + ne + nn + 1);
    if (b == NULL) return -1;
    n->f = (float *)(void *)b; /* the floats come first: malloc's alignment */
    n->eb = x->alias_f32 ? b : b + nf;
    n->nb = nn ? b + nf + ne : n->eb;
    x->mem += nf + ne + nn;
    return 0;
}

/* The floats of the edge form, once its bytes are in eb (aliased: they
 * are the floats already, the search reads the stored bits as they are). */
static void vec_floats(lsq_vidx *x, vnode *n)
{
    lsq_vec e = { x->p.compress, x->p.dims, n->eb };

    if (!x->fast) return;
    if (!x->alias_f32) lsq_vec_to_floats(&e, n->f);
    n->norm = dot_f(n->f, n->f, x->p.dims);
    if (x->alias_f32) {
        float s = 0;
        unsigned i;

        for (i = 0; i < x->p.dims; i++) s += n->f[i] * n->f[i];
        n->nseq = s;
    }
}

/* Sets a node's edge form from an edge slot of some block: a vector known
 * before its own block is read (a zombie's may even be stale). */
static int vec_from_edge(lsq_vidx *x, vnode *n, const unsigned char *edge)
{
    if (vec_alloc(x, n) != 0) return -1;
    memcpy(n->eb, edge, x->l.edge_size);
    vec_floats(x, n);
    n->has_vec = 1;
    n->exact = x->p.compress == x->p.vector_type;
    return 0;
}

/* Sets a node's vectors from its node form (its own block, or a row being
 * inserted): the edge form is libSQL's conversion of it. */
static int vec_from_node(lsq_vidx *x, vnode *n, const unsigned char *node)
{
    lsq_vec v = { x->p.vector_type, x->p.dims, node };

    if (vec_alloc(x, n) != 0) return -1;
    if (n->nb != n->eb) {
        memcpy(n->nb, node, x->l.node_size);
        lsq_vec_convert(&v, x->p.compress, n->eb);
    } else {
        memcpy(n->eb, node, x->l.node_size);
    }
    vec_floats(x, n);
    n->has_vec = 1;
    n->exact = 1;
    return 0;
}

static int adj_alloc(lsq_vidx *x, vnode *n)
{
    size_t m = x->l.max_edges;
    unsigned char *b;

    if (n->adj != NULL) return 0;
    b = sqlite3_malloc64(m * (sizeof(int64_t) + sizeof(vnode *) + sizeof(float) + 1));
    if (b == NULL) return -1;
    n->adj = (int64_t *)(void *)b;
    n->adjn = (vnode **)(void *)(b + m * sizeof(int64_t));
    n->adist = (float *)(void *)(b + m * (sizeof(int64_t) + sizeof(vnode *)));
    n->dirty = b + m * (sizeof(int64_t) + sizeof(vnode *) + sizeof(float));
    memset(n->dirty, 0, m);
    x->mem += m * (sizeof(int64_t) + sizeof(vnode *) + sizeof(float) + 1);
    return 0;
}

/* ---- distances ---------------------------------------------------------------- */

/* libSQL's exact distance of two edge forms, a first (its argument order:
 * FLOAT8's cosine is not symmetric). */
static float exact_edges(const lsq_vidx *x, const vnode *a, const vnode *b)
{
    if (x->alias_f32) {
        /* F32: vector.c's arithmetic to the bit (products and sums in
         * float, in order; the norms are each node's nseq), without its
         * per-element decoding */
        unsigned i;
        float s = 0;

        if (x->p.metric == LSQ_VEC_COS) {
            for (i = 0; i < x->p.dims; i++) s += a->f[i] * b->f[i];
            return (float)(1.0 - (double)s / sqrt((double)(a->nseq * b->nseq)));
        }
        for (i = 0; i < x->p.dims; i++) {
            float d = a->f[i] - b->f[i];

            s += d * d;
        }
        return (float)sqrt((double)s);
    }
    lsq_vec va = { x->p.compress, x->p.dims, a->eb }, vb = { x->p.compress, x->p.dims, b->eb };

    return lsq_vec_distance(x->p.metric, &va, &vb);
}

/* A NaN distance (a zero vector under cosine) sorts as infinitely far, so
 * the lists stay sorted and can be searched by halves. */
static float not_nan(float d) { return isnan(d) ? INFINITY : d; }

static float fast_cos(float dot, float n1, float n2)
{
    return (float)(1.0 - (double)dot / sqrt((double)(n1 * n2)));
}

/* The search's distance between two nodes' edge forms. */
static float fast_nodes(const lsq_vidx *x, const vnode *a, const vnode *b)
{
    if (!x->fast) return not_nan(exact_edges(x, a, b));
    if (x->p.metric == LSQ_VEC_COS)
        return not_nan(fast_cos(dot_f(a->f, b->f, x->p.dims), a->norm, b->norm));
    return sqrtf(l2sq_f(a->f, b->f, x->p.dims));
}

/* The search's distance between the query and a node, edge forms. */
static float fast_query(const lsq_vidx *x, const vnode *b)
{
    if (!x->fast) {
        lsq_vec va = { x->p.compress, x->p.dims, x->q_eb }, vb = { x->p.compress, x->p.dims, b->eb };

        return not_nan(lsq_vec_distance(x->p.metric, &va, &vb));
    }
    if (x->p.metric == LSQ_VEC_COS)
        return not_nan(fast_cos(dot_f(x->q_f, b->f, x->p.dims), x->q_norm, b->norm));
    return sqrtf(l2sq_f(x->q_f, b->f, x->p.dims));
}

/* fast_query, remembered for the rest of the call: an insert's search
 * computes d(node, N) for the nodes that P -> N then compares with N. */
static float fast_q(lsq_vidx *x, vnode *b)
{
    if (b->qd_epoch != x->q_epoch) {
        b->qd = fast_query(x, b);
        b->qd_epoch = x->q_epoch;
    }
    return b->qd;
}

/* fast_nodes between two nodes, remembered during an insert for pairs of
 * visited nodes (N -> P compares them pairwise; it is symmetric). */
static float fast_pair(lsq_vidx *x, const vnode *a, const vnode *b)
{
    float *m;

    if (x->pm_n == 0 || a->visit != x->epoch || b->visit != x->epoch) return fast_nodes(x, a, b);
    m = &x->pm[(size_t)a->vidx * x->pm_n + b->vidx];
    if (isnan(*m)) {
        *m = fast_nodes(x, a, b);
        x->pm[(size_t)b->vidx * x->pm_n + a->vidx] = *m;
    }
    return *m;
}

/* ---- blocks ------------------------------------------------------------------- */

static void blob_close(lsq_vidx *x)
{
    if (x->blob != NULL) sqlite3_blob_close(x->blob);
    x->blob = NULL;
}

/* Points the blob handle at a shadow row: 0, 1 when there is no such row,
 * -1 with *err. A failed reopen leaves the handle unusable (SQLite aborts
 * it), so it is closed and opened afresh next time, as libSQL does. */
static int blob_seek(lsq_vidx *x, int64_t row, char **err)
{
    int rc;

    if (x->blob != NULL && x->blob_row == row && x->blob_rw == x->writing) return 0;
    if (x->blob != NULL && x->blob_rw != x->writing) blob_close(x);
    if (x->blob != NULL) {
        rc = sqlite3_blob_reopen(x->blob, row);
        if (rc != SQLITE_OK) blob_close(x);
    } else {
        rc = sqlite3_blob_open(x->db, x->schema, x->shadow, "data", row, x->writing, &x->blob);
        if (rc != SQLITE_OK) x->blob = NULL;
    }
    if (rc == SQLITE_OK) {
        x->blob_row = row;
        x->blob_rw = x->writing;
        if ((uint64_t)sqlite3_blob_bytes(x->blob) < x->p.block_size) {
            *err = sqlite3_mprintf("vector index: block %lld is %d bytes, expected %llu", (long long)row,
                                   sqlite3_blob_bytes(x->blob), (unsigned long long)x->p.block_size);
            blob_close(x);
            return -1;
        }
        return 0;
    }
    /* sqlite3_blob_* report a missing row only as text (libSQL tests it too) */
    if (rc == SQLITE_ERROR && strncmp(sqlite3_errmsg(x->db), "no such rowid", 13) == 0) return 1;
    *err = sqlite3_mprintf("vector index: cannot open block %lld: %s", (long long)row, sqlite3_errmsg(x->db));
    return -1;
}

static int blob_read(lsq_vidx *x, void *out, unsigned n, unsigned at, char **err)
{
    int rc;

    if (n == 0) return 0;
    rc = sqlite3_blob_read(x->blob, out, (int)n, (int)at);
    if (rc == SQLITE_OK) return 0;
    *err = sqlite3_mprintf("vector index: cannot read block %lld: %s", (long long)x->blob_row, sqlite3_errstr(rc));
    blob_close(x);
    return -1;
}

static int blob_write(lsq_vidx *x, const void *in, unsigned n, unsigned at, char **err)
{
    int rc = sqlite3_blob_write(x->blob, in, (int)n, (int)at);

    if (rc == SQLITE_OK) return 0;
    *err = sqlite3_mprintf("vector index: cannot write block %lld: %s", (long long)x->blob_row, sqlite3_errstr(rc));
    blob_close(x);
    return -1;
}

/* Loads a node's own block into the cache: its node vector and edge
 * list, and the edge forms of neighbours not seen yet (from its edge
 * slots, so one read makes a whole neighbourhood searchable). Only the
 * used parts are read. 0; 1 when the row does not exist (the node is
 * marked missing); -1 with *err. */
static int node_load(lsq_vidx *x, vnode *n, char **err)
{
    const lsq_vidx_layout_t *l = &x->l;
    unsigned cnt, j;
    int rc;

    if (n->has_adj) return 0;
    if (n->missing) return 1;
    rc = blob_seek(x, n->id, err);
    if (rc == 1) n->missing = 1;
    if (rc != 0) return rc;
    if (blob_read(x, x->buf, l->edges_at, 0, err) != 0) return -1;
    cnt = (unsigned)x->buf[8] | (unsigned)x->buf[9] << 8;
    if (cnt > l->max_edges) cnt = l->max_edges; /* a damaged count reads what fits */
    if (blob_read(x, x->buf + l->edges_at, cnt * l->edge_size, l->edges_at, err) != 0 ||
        blob_read(x, x->buf + l->records_at, 16 * cnt, l->records_at, err) != 0)
        return -1;
    if (vec_from_node(x, n, x->buf + l->header) != 0 || adj_alloc(x, n) != 0) goto nomem;
    n->nadj = 0;
    for (j = 0; j < cnt; j++) {
        const unsigned char *rec = x->buf + l->records_at + 16 * j;
        const unsigned char *ev = x->buf + l->edges_at + j * l->edge_size;
        int64_t id = (int64_t)get_le64(rec + 8);
        vnode *m;

        /* a self edge (serves nothing) stays in its slot, so that the
         * cache's slots are the file's: edge_add drops it */
        m = id == n->id ? n : node_get(x, id);
        if (m == NULL) goto nomem;
        if (!m->has_vec && vec_from_edge(x, m, ev) != 0) goto nomem;
        n->adj[n->nadj] = id;
        n->adjn[n->nadj] = m;
        /* format 1 stores no distance: libSQL recomputes it each time */
        n->adist[n->nadj] = x->p.format == 1 ? exact_edges(x, n, m) : get_lef32(rec + 4);
        n->nadj++;
    }
    n->has_adj = 1;
    return 0;
nomem:
    *err = sqlite3_mprintf("out of memory");
    return -1;
}

/* Writes what changed in a node's block: the flagged edge slots (vector
 * and record) below its edge count, and the count if it moved since the
 * file last had it (fcount); then nothing of it is pending. */
static int node_flush(lsq_vidx *x, vnode *n, char **err)
{
    const lsq_vidx_layout_t *l = &x->l;
    unsigned char rec[16];
    unsigned j;
    int rc = blob_seek(x, n->id, err);

    if (rc == 1) *err = sqlite3_mprintf("vector index: block %lld vanished", (long long)n->id);
    if (rc != 0) return -1;
    for (j = 0; j < n->nadj; j++) {
        if (!n->dirty[j]) continue;
        if (blob_write(x, n->adjn[j]->eb, l->edge_size, l->edges_at + j * l->edge_size, err) != 0) return -1;
    }
    for (j = 0; j < n->nadj; j++) {
        if (!n->dirty[j]) continue;
        memset(rec, 0, 4);
        put_lef32(rec + 4, n->adist[j]);
        put_le64(rec + 8, (uint64_t)n->adj[j]);
        if (blob_write(x, rec, 16, l->records_at + 16 * j, err) != 0) return -1;
    }
    if (n->nadj != n->fcount) {
        rec[0] = (unsigned char)n->nadj;
        rec[1] = (unsigned char)(n->nadj >> 8);
        if (blob_write(x, rec, 2, 8, err) != 0) return -1;
    }
    memset(n->dirty, 0, x->l.max_edges);
    n->pend = 0;
    return 0;
}

static int pend_flush(lsq_vidx *x, char **err);
static int block_insert(lsq_vidx *x, const vnode *nn, const unsigned char *node, char **err);

/* A node's edge list changed (its slots flagged in n->dirty; old_count
 * the count before the change): written now, or, while writes are
 * deferred, at the next flush. 0 or -1 with *err. */
static int node_write(lsq_vidx *x, vnode *n, unsigned old_count, char **err)
{
    if (!n->pend) {
        if (x->pend_n == x->pend_cap) {
            unsigned cap = x->pend_cap ? 2 * x->pend_cap : 256;
            vnode **a = sqlite3_realloc64(x->pend, (uint64_t)cap * sizeof *a);

            if (a == NULL) {
                *err = sqlite3_mprintf("out of memory");
                return -1;
            }
            x->pend = a;
            x->pend_cap = cap;
        }
        x->pend[x->pend_n++] = n;
        n->pend = 1;
        n->fcount = (uint16_t)old_count;
    }
    return x->defer ? 0 : pend_flush(x, err);
}

/* Writes every pending block (a deleted node has none left: skipped).
 * 0 or -1 with *err. */
static int pend_flush(lsq_vidx *x, char **err)
{
    unsigned i;

    for (i = 0; i < x->pend_n; i++) {
        vnode *n = x->pend[i];

        if (!n->pend) continue;
        if (n->missing) {
            memset(n->dirty, 0, x->l.max_edges);
            n->pend = 0;
            continue;
        }
        if (n->fresh) {
            /* its block whole, final edges and all: the one write it gets */
            blob_close(x);
            if (block_insert(x, n, n->nb, err) != 0) return -1;
            memset(n->dirty, 0, x->l.max_edges);
            n->pend = 0;
            n->fresh = 0;
            continue;
        }
        if (node_flush(x, n, err) != 0) return -1;
    }
    x->pend_n = 0;
    x->fresh_n = 0;
    return 0;
}

/* ---- the graph ------------------------------------------------------------------ */

/* The fast distance of two nodes for the add and prune rules, from the
 * memos when one is the node being inserted or both were visited. */
static float node_dist(lsq_vidx *x, vnode *a, vnode *b)
{
    if (a == x->q_node) return fast_q(x, b);
    if (b == x->q_node) return fast_q(x, a);
    return fast_pair(x, a, b);
}

/* Removes edge i by moving the last edge into its slot (libSQL's
 * nodeBinDeleteEdge). The moved edge is written from the cache: its
 * target's vector as the cache knows it, which need not be the one the
 * file holds in the last slot (a target updated since, delete + insert,
 * leaves the old vector and distance in blocks the cache did not know
 * then), so its distance is computed again for that vector: vector and
 * distance always go to the file together. */
static void edge_remove(lsq_vidx *x, vnode *n, unsigned i, unsigned char *dirty)
{
    unsigned last = n->nadj - 1u;

    if (i < last) {
        n->adj[i] = n->adj[last];
        n->adjn[i] = n->adjn[last];
        n->adist[i] = exact_edges(x, n, n->adjn[i]);
        if (dirty != NULL) dirty[i] = 1;
    }
    n->nadj--;
}

/* After edge h was added: drops every other edge j that the new one
 * dominates, stored_j > alpha * d(h, j) (libSQL's diskAnnPruneEdges). */
static void edges_prune(lsq_vidx *x, vnode *n, unsigned h, unsigned char *dirty)
{
    vnode *hint = n->adjn[h];
    unsigned i = 0;

    while (i < n->nadj) {
        if (n->adjn[i] == hint) {
            i++;
            continue;
        }
        if (n->adist[i] > x->alpha * node_dist(x, hint, n->adjn[i]))
            edge_remove(x, n, i, dirty);
        else
            i++;
    }
}

/* Adds the edge x->y by libSQL's rule (diskAnnReplaceEdgeIdx, then the
 * prune): an edge already to y is reused; y is given up when some edge j
 * is much closer to it (D > alpha * d(j, y)); else it is appended, or
 * replaces the edge with the largest stored distance among those farther
 * than D. Edges to rows known to be gone, and self edges, are dropped
 * first (they would be zombies). 1 when the list changed, 0 when not. */
static int edge_add(lsq_vidx *x, vnode *n, vnode *y, unsigned char *dirty)
{
    float d = exact_edges(x, n, y), far = 0;
    int i, slot = -1, changed = 0;

    for (i = (int)n->nadj - 1; i >= 0; i--)
        if ((n->adjn[i]->missing || n->adjn[i] == n) && n->adjn[i] != y) {
            edge_remove(x, n, (unsigned)i, dirty);
            changed = 1;
        }
    for (i = (int)n->nadj - 1; i >= 0; i--) {
        if (n->adjn[i] == y) {
            slot = i;
            goto store;
        }
        if (d > x->alpha * node_dist(x, n->adjn[i], y)) return changed;
        if (d < n->adist[i] && (slot == -1 || far < n->adist[i])) {
            far = n->adist[i];
            slot = i;
        }
    }
    if (n->nadj < x->l.max_edges)
        slot = n->nadj;
    else if (slot == -1)
        return changed;
store:
    n->adj[slot] = y->id;
    n->adjn[slot] = y;
    n->adist[slot] = d;
    if ((unsigned)slot == n->nadj) n->nadj++;
    if (dirty != NULL) dirty[slot] = 1;
    edges_prune(x, n, (unsigned)slot, dirty);
    return 1;
}

/* Where d goes in a sorted list of n (capacity cap): before the first
 * strictly larger entry; -1 when the list is full and nothing is larger. */
static int list_pos(const float *dist, unsigned n, unsigned cap, float d)
{
    unsigned lo = 0, hi = n;

    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;

        if (d < dist[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == n && n == cap) return -1;
    return (int)lo;
}

static void cand_insert(lsq_vidx *x, unsigned pos, vnode *n, float d)
{
    unsigned cnt = x->c_n;

    if (cnt == x->c_cap) {
        vnode *last = x->c_node[cnt - 1];

        if (last->visit != x->epoch) last->cand = 0; /* dropped: may come back */
        cnt--;
    }
    memmove(x->c_node + pos + 1, x->c_node + pos, (cnt - pos) * sizeof *x->c_node);
    memmove(x->c_dist + pos + 1, x->c_dist + pos, (cnt - pos) * sizeof *x->c_dist);
    x->c_node[pos] = n;
    x->c_dist[pos] = d;
    x->c_n = cnt + 1;
    n->cand = x->epoch;
}

static int scratch_reserve(lsq_vidx *x, unsigned L, unsigned k)
{
    if (L > x->c_cap) {
        vnode **a = sqlite3_realloc64(x->c_node, (uint64_t)L * sizeof *a);
        float *b;

        if (a == NULL) return -1;
        x->c_node = a;
        b = sqlite3_realloc64(x->c_dist, (uint64_t)L * sizeof *b);
        if (b == NULL) return -1;
        x->c_dist = b;
    }
    x->c_cap = L;
    if (k > x->t_cap) {
        vnode **a = sqlite3_realloc64(x->t_node, (uint64_t)k * sizeof *a);
        float *b;

        if (a == NULL) return -1;
        x->t_node = a;
        b = sqlite3_realloc64(x->t_dist, (uint64_t)k * sizeof *b);
        if (b == NULL) return -1;
        x->t_dist = b;
    }
    x->t_cap = k;
    return 0;
}

static int vis_push(lsq_vidx *x, vnode *n)
{
    if (x->vis_n == x->vis_cap) {
        unsigned cap = x->vis_cap ? 2 * x->vis_cap : 256;
        vnode **a = sqlite3_realloc64(x->vis, (uint64_t)cap * sizeof *a);

        if (a == NULL) return -1;
        x->vis = a;
        x->vis_cap = cap;
    }
    x->vis[x->vis_n++] = n;
    return 0;
}

static void next_epoch(lsq_vidx *x)
{
    size_t i;

    if (++x->epoch != 0) return;
    /* wrapped: old marks could equal the new epochs */
    for (i = 0; i < x->tab_cap; i++)
        if (x->tab[i] != NULL) x->tab[i]->visit = x->tab[i]->cand = 0;
    x->epoch = 1;
}

static void prefetch_vec(const lsq_vidx *x, const vnode *y)
{
    const char *pf = (const char *)y->f;
    size_t o;

    if (pf == NULL || y->qd_epoch == x->q_epoch) return;
    for (o = 0; o < x->f_bytes; o += 64) __builtin_prefetch(pf + o);
}

/* The search of §4 from start with a candidate list of L: take the
 * nearest unvisited candidate, load it (gone: drop it), mark it visited,
 * add its unvisited neighbours by distance. Visited nodes end in x->vis
 * in visit order; with k > 0 the k nearest visited, by libSQL's exact
 * distance to qnode (the query's node form), in x->t_*. 0 or -1. */
static int graph_search(lsq_vidx *x, int64_t start, unsigned L, unsigned k,
                        const unsigned char *qnode, char **err)
{
    vnode *s;
    unsigned first = 0, j, m;
    int rc;

    if (L > MAX_L) L = MAX_L;
    if (L == 0) L = 1;
    if (scratch_reserve(x, L, k) != 0) goto nomem;
    next_epoch(x);
    x->c_n = x->t_n = x->vis_n = 0;
    s = node_get(x, start);
    if (s == NULL) goto nomem;
    rc = node_load(x, s, err);
    if (rc != 0) return rc < 0 ? -1 : 0;
    cand_insert(x, 0, s, fast_q(x, s));
    for (;;) {
        vnode *n;

        while (first < x->c_n && x->c_node[first]->visit == x->epoch) first++;
        if (first >= x->c_n) break;
        n = x->c_node[first];
        rc = node_load(x, n, err);
        if (rc < 0) return -1;
        if (rc == 1) { /* a zombie edge's target: drop it */
            n->cand = 0;
            memmove(x->c_node + first, x->c_node + first + 1, (x->c_n - first - 1) * sizeof *x->c_node);
            memmove(x->c_dist + first, x->c_dist + first + 1, (x->c_n - first - 1) * sizeof *x->c_dist);
            x->c_n--;
            continue;
        }
        n->visit = x->epoch;
        n->vidx = x->vis_n;
        if (vis_push(x, n) != 0) goto nomem;
        if (k > 0) {
            /* compressed edges: the candidate's distance is approximate, and
             * libSQL ranks by the node vector's; otherwise the candidate's
             * own distance (the caller ranks the k it keeps exactly) */
            float d = x->c_dist[first];
            int pos;

            if (x->p.compress != x->p.vector_type) {
                lsq_vec a = { x->p.vector_type, x->p.dims, qnode }, b = { x->p.vector_type, x->p.dims, n->nb };

                d = not_nan(lsq_vec_distance(x->p.metric, &a, &b));
            }
            pos = list_pos(x->t_dist, x->t_n, x->t_cap, d);

            if (pos >= 0) {
                unsigned cnt = x->t_n < x->t_cap ? x->t_n : x->t_cap - 1;

                memmove(x->t_node + pos + 1, x->t_node + pos, (cnt - (unsigned)pos) * sizeof *x->t_node);
                memmove(x->t_dist + pos + 1, x->t_dist + pos, (cnt - (unsigned)pos) * sizeof *x->t_dist);
                x->t_node[pos] = n;
                x->t_dist[pos] = d;
                x->t_n = cnt + 1;
            }
        }
        /* the neighbours' entries and vectors are scattered over the heap
         * and each would be a cache miss in turn: ask for the entries all
         * at once, then for the vectors a few ahead of their use */
        for (j = 0; j < n->nadj; j++) __builtin_prefetch(n->adjn[j]);
        m = 0;
        for (j = 0; j < n->nadj; j++) {
            vnode *y = n->adjn[j];

            /* a known-deleted target is what libSQL would load and drop */
            if (y->missing || !y->has_vec || y->visit == x->epoch || y->cand == x->epoch) continue;
            x->todo[m++] = y;
        }
        for (j = 0; j < m && j < 4; j++) prefetch_vec(x, x->todo[j]);
        for (j = 0; j < m; j++) {
            vnode *y = x->todo[j];
            float d;
            int pos;

            if (j + 4 < m) prefetch_vec(x, x->todo[j + 4]);
            if (y->cand == x->epoch) continue; /* an edge listed twice */
            d = fast_q(x, y);
            pos = list_pos(x->c_dist, x->c_n, x->c_cap, d);
            if (pos < 0) continue;
            cand_insert(x, (unsigned)pos, y, d);
            if ((unsigned)pos < first) first = (unsigned)pos;
        }
    }
    return 0;
nomem:
    *err = sqlite3_mprintf("out of memory");
    return -1;
}

/* ---- calls ---------------------------------------------------------------------- */

static int step_int64(sqlite3_stmt *st, int64_t *out, int *null)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        if (null != NULL) *null = sqlite3_column_type(st, 0) == SQLITE_NULL;
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    return rc;
}

static int fail_db(lsq_vidx *x, char **err, const char *what)
{
    *err = sqlite3_mprintf("vector index: %s: %s", what, sqlite3_errmsg(x->db));
    return -1;
}

int lsq_vidx_prepare_connection(sqlite3 *db, char **err)
{
    char *msg = NULL;

    if (sqlite3_exec(db, STATE_CREATE, NULL, NULL, &msg) == SQLITE_OK) return 0;
    *err = sqlite3_mprintf("vector index: cannot create its state table: %s",
                           msg != NULL ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* The sentinel's statements, prepared once the table exists. */
static int state_statements(lsq_vidx *x)
{
    if (x->st_uv == NULL &&
        sqlite3_prepare_v3(x->db, "SELECT v FROM temp." STATE_TABLE " WHERE k = 1", -1,
                           SQLITE_PREPARE_PERSISTENT, &x->st_uv, NULL) != SQLITE_OK)
        return -1;
    if (x->st_sw == NULL &&
        sqlite3_prepare_v3(x->db, "INSERT OR REPLACE INTO temp." STATE_TABLE "(k, v) VALUES (1, ?1)", -1,
                           SQLITE_PREPARE_PERSISTENT, &x->st_sw, NULL) != SQLITE_OK)
        return -1;
    return 0;
}

/* The sentinel now (0 while there is no state table: nothing of ours
 * was written through this connection yet). */
static int sentinel_read(lsq_vidx *x, int64_t *uv)
{
    int rc;

    *uv = 0;
    if (x->st_uv == NULL && state_statements(x) != 0) return SQLITE_OK;
    rc = step_int64(x->st_uv, uv, NULL);
    return rc == SQLITE_DONE ? SQLITE_OK : rc; /* no row yet: 0 */
}

/* Writes a new sentinel: every other handle on this connection that was
 * up to date stays so (unless it is another handle on the same index: its
 * cache missed our change). The state table is made if the caller did
 * not (lsq_vidx_prepare_connection): only outside a running statement is
 * that safe, which is why vector_index.c makes it first. */
static int sentinel_write(sqlite3 *db, lsq_vidx *self, char **err)
{
    sqlite3_stmt *st = self != NULL ? self->st_sw : NULL, *own = NULL;
    uint32_t old, now;
    lsq_vidx *h;
    int rc;

    if (++g_sentinel == 0) g_sentinel = 1;
    now = g_sentinel;
    if (st == NULL) {
        if (self != NULL && state_statements(self) == 0) {
            st = self->st_sw;
        } else {
            if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO temp." STATE_TABLE "(k, v) VALUES (1, ?1)",
                                   -1, &own, NULL) != SQLITE_OK) {
                if (lsq_vidx_prepare_connection(db, err) != 0) return -1;
                if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO temp." STATE_TABLE "(k, v) VALUES (1, ?1)",
                                       -1, &own, NULL) != SQLITE_OK) {
                    *err = sqlite3_mprintf("vector index: cannot write its state: %s", sqlite3_errmsg(db));
                    return -1;
                }
            }
            st = own;
        }
    }
    (void)sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
    rc = sqlite3_step(st);
    (void)sqlite3_reset(st);
    (void)sqlite3_finalize(own);
    if (rc != SQLITE_DONE) {
        *err = sqlite3_mprintf("vector index: cannot write its state: %s", sqlite3_errmsg(db));
        return -1;
    }
    old = self != NULL ? self->seen : 0;
    for (h = g_open; h != NULL; h = h->next) {
        if (h->db != db) continue;
        if (h == self ||
            (self != NULL && h->seen == old &&
             !(strcmp(h->schema, self->schema) == 0 && sqlite3_stricmp(h->name, self->name) == 0)))
            h->seen = now;
    }
    return 0;
}

/* The start of every call: drops the cache if the file changed under it
 * (another connection: data_version; a rollback of ours or a write by
 * another handle: the sentinel), then, for a write, sets a new sentinel
 * before anything is written. */
static int call_begin(lsq_vidx *x, int writing, char **err)
{
    int64_t dv = 0, uv = 0;

    x->writing = writing;
    if (step_int64(x->st_dv, &dv, NULL) != SQLITE_OK) return fail_db(x, err, "data_version");
    if (sentinel_read(x, &uv) != SQLITE_OK) return fail_db(x, err, "its state");
    /* a mismatch drops what is pending too: it belonged to what was
     * rolled back; the budget waits for the pending blocks' flush */
    if (dv != x->data_version || (uint32_t)uv != x->seen || (x->mem > g_cache_budget && x->pend_n == 0))
        cache_clear(x);
    x->data_version = dv;
    x->seen = (uint32_t)uv;
    if (writing && sentinel_write(x->db, x, err) != 0) return -1;
    return 0;
}

/* The end of every call: the blob handle closes (an open one would keep
 * the statement, and so the transaction, open); after a failed write the
 * cache is dropped, since it may hold changes that never reached the file. */
static int call_end(lsq_vidx *x, int rc)
{
    blob_close(x);
    x->q_node = NULL;
    x->pm_n = 0;
    if (rc != 0 && x->writing) cache_clear(x);
    x->writing = 0;
    return rc;
}

/* The first fresh node at or after id (one exists: id <= the last). */
static int64_t fresh_at(const lsq_vidx *x, int64_t id)
{
    unsigned lo = 0, hi = x->fresh_n - 1;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;

        if (x->fresh_ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return x->fresh_ids[lo];
}

/* A random existing shadow row, like libSQL's random start node but by
 * a seek into [min, max] rather than an OFFSET scan; during a bulk build
 * the fresh nodes (not in the table yet) count as rows. 0, 1 when there
 * is none, -1 with *err. */
static int pick_start(lsq_vidx *x, int64_t *start, char **err)
{
    int64_t lo, hi, row = 0;
    uint64_t r;
    int rc, null = 0;

    rc = sqlite3_step(x->st_minmax);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(x->st_minmax);
        return fail_db(x, err, "cannot select a start node");
    }
    null = sqlite3_column_type(x->st_minmax, 0) == SQLITE_NULL;
    lo = sqlite3_column_int64(x->st_minmax, 0);
    hi = sqlite3_column_int64(x->st_minmax, 1);
    sqlite3_reset(x->st_minmax);
    if (x->fresh_n > 0) {
        int64_t flo = x->fresh_ids[0], fhi = x->fresh_ids[x->fresh_n - 1];
        int64_t all_lo = null || flo < lo ? flo : lo, all_hi = null || fhi > hi ? fhi : hi;

        sqlite3_randomness(sizeof r, &r);
        r %= (uint64_t)all_hi - (uint64_t)all_lo + 1 == 0 ? UINT64_MAX : (uint64_t)all_hi - (uint64_t)all_lo + 1;
        row = (int64_t)((uint64_t)all_lo + r);
        if (null || (row >= flo && row <= fhi)) {
            *start = fresh_at(x, row < flo ? flo : row);
            return 0;
        }
        lo = row; /* else the table's first row from there, as below */
        r = 0;
    } else {
        if (null) return 1;
        sqlite3_randomness(sizeof r, &r);
        r %= (uint64_t)hi - (uint64_t)lo + 1 == 0 ? UINT64_MAX : (uint64_t)hi - (uint64_t)lo + 1;
    }
    if (sqlite3_bind_int64(x->st_probe, 1, (int64_t)((uint64_t)lo + r)) != SQLITE_OK)
        return fail_db(x, err, "cannot select a start node");
    rc = step_int64(x->st_probe, &row, NULL);
    if (rc == SQLITE_DONE) row = hi; /* past the table's last row: that one */
    else if (rc != SQLITE_OK) return fail_db(x, err, "cannot select a start node");
    *start = row;
    return 0;
}

/* The query's edge form, as floats too. 0 or -1 (out of memory). */
static int query_prepare(lsq_vidx *x, const lsq_vec *q)
{
    if (x->q_eb == NULL) {
        x->q_eb = sqlite3_malloc64(x->l.edge_size + 1);
        x->q_f = sqlite3_malloc64((uint64_t)x->p.dims * sizeof(float) + 1);
        if (x->q_eb == NULL || x->q_f == NULL) return -1;
    }
    if (++x->q_epoch == 0) { /* wrapped: old memos could pass for new ones */
        size_t i;

        for (i = 0; i < x->tab_cap; i++)
            if (x->tab[i] != NULL) x->tab[i]->qd_epoch = 0;
        x->q_epoch = 1;
    }
    lsq_vec_convert(q, x->p.compress, x->q_eb);
    if (x->fast) {
        lsq_vec e = { x->p.compress, x->p.dims, x->q_eb };

        /* as the nodes' floats are made, so that an inserted node's
         * distances equal the query's */
        if (x->alias_f32)
            memcpy(x->q_f, x->q_eb, x->f_bytes);
        else
            lsq_vec_to_floats(&e, x->q_f);
        x->q_norm = dot_f(x->q_f, x->q_f, x->p.dims);
    }
    return 0;
}

int lsq_vidx_search(lsq_vidx *x, const lsq_vec *q, unsigned k, int64_t *ids, unsigned *n,
                    char **err)
{
    int64_t start;
    unsigned i;
    int rc;

    *err = NULL;
    *n = 0;
    if (q->dims != x->p.dims) {
        *err = sqlite3_mprintf("vector index(search): dimensions are different: %u != %u", q->dims, x->p.dims);
        return -1;
    }
    if (q->type != x->p.vector_type) {
        *err = sqlite3_mprintf("vector index(search): vector type differs from column type: %d != %d", q->type,
                               x->p.vector_type);
        return -1;
    }
    if (k == 0) return 0;
    if (call_begin(x, 0, err) != 0) return call_end(x, -1);
    rc = pick_start(x, &start, err);
    if (rc != 0) return call_end(x, rc < 0 ? -1 : 0);
    if (query_prepare(x, q) != 0) {
        *err = sqlite3_mprintf("out of memory");
        return call_end(x, -1);
    }
    if (graph_search(x, start, (unsigned)(x->p.search_l > MAX_L ? MAX_L : x->p.search_l), k, q->data, err) != 0)
        return call_end(x, -1);
    if (x->p.compress == x->p.vector_type) {
        /* the k kept were ranked by the fast distance: rank them by
         * libSQL's (stable: equal distances keep their visit order) */
        for (i = 0; i < x->t_n; i++) {
            lsq_vec b = { x->p.vector_type, x->p.dims, x->t_node[i]->nb };
            float d = not_nan(lsq_vec_distance(x->p.metric, q, &b));
            vnode *t = x->t_node[i];
            unsigned j = i;

            for (; j > 0 && x->t_dist[j - 1] > d; j--) {
                x->t_dist[j] = x->t_dist[j - 1];
                x->t_node[j] = x->t_node[j - 1];
            }
            x->t_dist[j] = d;
            x->t_node[j] = t;
        }
    }
    for (i = 0; i < x->t_n && i < k; i++) ids[i] = x->t_node[i]->id;
    *n = i;
    return call_end(x, 0);
}

/* The new node's block, whole: header, node vector, its edges. */
static void block_compose(lsq_vidx *x, const vnode *nn, const unsigned char *node)
{
    const lsq_vidx_layout_t *l = &x->l;
    unsigned j;

    memset(x->buf, 0, x->p.block_size);
    put_le64(x->buf, (uint64_t)nn->id);
    x->buf[8] = (unsigned char)nn->nadj;
    x->buf[9] = (unsigned char)(nn->nadj >> 8);
    memcpy(x->buf + l->header, node, l->node_size);
    for (j = 0; j < nn->nadj; j++) {
        unsigned char *rec = x->buf + l->records_at + 16 * j;

        memcpy(x->buf + l->edges_at + j * l->edge_size, nn->adjn[j]->eb, l->edge_size);
        put_lef32(rec + 4, nn->adist[j]);
        put_le64(rec + 8, (uint64_t)nn->adj[j]);
    }
}

/* Inserts a node's shadow row: its block as the cache has it, node is its
 * node form. 0, or -1 with *err. */
static int block_insert(lsq_vidx *x, const vnode *nn, const unsigned char *node, char **err)
{
    int64_t got = 0;
    int rc;

    block_compose(x, nn, node);
    if (sqlite3_bind_int64(x->st_insert, 1, nn->id) != SQLITE_OK ||
        sqlite3_bind_blob64(x->st_insert, 2, x->buf, x->p.block_size, SQLITE_STATIC) != SQLITE_OK)
        goto failed;
    rc = sqlite3_step(x->st_insert);
    if (rc == SQLITE_ROW) {
        got = sqlite3_column_int64(x->st_insert, 0);
        rc = sqlite3_step(x->st_insert);
    }
    if (rc != SQLITE_DONE) goto failed;
    sqlite3_reset(x->st_insert);
    sqlite3_clear_bindings(x->st_insert);
    if (got != nn->id) {
        *err = sqlite3_mprintf("vector index(insert): shadow row %lld is not %lld", (long long)got,
                               (long long)nn->id);
        return -1;
    }
    return 0;
failed:
    *err = sqlite3_mprintf("vector index(insert): failed to insert shadow row: %s", sqlite3_errmsg(x->db));
    sqlite3_reset(x->st_insert);
    sqlite3_clear_bindings(x->st_insert);
    return -1;
}

/* Adds a fresh node's id, keeping them ascending. 0 or -1 (out of memory). */
static int fresh_push(lsq_vidx *x, int64_t id)
{
    unsigned i;

    if (x->fresh_n == x->fresh_cap) {
        unsigned cap = x->fresh_cap ? 2 * x->fresh_cap : 1024;
        int64_t *a = sqlite3_realloc64(x->fresh_ids, (uint64_t)cap * sizeof *a);

        if (a == NULL) return -1;
        x->fresh_ids = a;
        x->fresh_cap = cap;
    }
    /* a CREATE INDEX fills in key order: almost always the end */
    for (i = x->fresh_n; i > 0 && x->fresh_ids[i - 1] > id; i--) x->fresh_ids[i] = x->fresh_ids[i - 1];
    x->fresh_ids[i] = id;
    x->fresh_n++;
    return 0;
}

int lsq_vidx_insert(lsq_vidx *x, int64_t rowid, const lsq_vec *v, char **err)
{
    int64_t start;
    vnode *nn;
    unsigned i;
    int rc, first;

    *err = NULL;
    if (v->dims != x->p.dims) {
        *err = sqlite3_mprintf("vector index(insert): dimensions are different: %u != %u", v->dims, x->p.dims);
        return -1;
    }
    if (v->type != x->p.vector_type) {
        *err = sqlite3_mprintf("vector index(insert): vector type differs from column type: %d != %d", v->type,
                               x->p.vector_type);
        return -1;
    }
    if (call_begin(x, 1, err) != 0) return call_end(x, -1);
    if (query_prepare(x, v) != 0) goto nomem;
    /* the search runs before the row exists, as libSQL's: a zombie edge
     * to this rowid is then reused rather than duplicated */
    rc = pick_start(x, &start, err);
    if (rc < 0) return call_end(x, -1);
    first = rc == 1;
    x->vis_n = 0;
    if (!first && graph_search(x, start, (unsigned)(x->p.insert_l > MAX_L ? MAX_L : x->p.insert_l), 0, v->data,
                               err) != 0)
        return call_end(x, -1);
    nn = node_get(x, rowid);
    if (nn == NULL || vec_from_node(x, nn, v->data) != 0 || adj_alloc(x, nn) != 0) goto nomem;
    x->q_node = nn;
    x->pm_n = 0;
    if (x->vis_n <= 4096) { /* N -> P compares visited nodes pairwise: remember them */
        size_t cells = (size_t)x->vis_n * x->vis_n, c;

        if (cells > x->pm_cap) {
            float *m = sqlite3_realloc64(x->pm, cells * sizeof *m);

            if (m == NULL) goto nomem;
            x->pm = m;
            x->pm_cap = cells;
        }
        for (c = 0; c < cells; c++) x->pm[c] = NAN;
        x->pm_n = x->vis_n;
    }
    nn->missing = 0;
    nn->has_adj = 1;
    nn->nadj = 0;
    if (nn->pend) { /* a deleted node's leftovers: its block is written whole below */
        memset(nn->dirty, 0, x->l.max_edges);
        nn->pend = 0;
    }
    /* N -> P for every visited P, most recent first */
    for (i = x->vis_n; i-- > 0;)
        if (x->vis[i] != nn) edge_add(x, nn, x->vis[i], NULL);
    if (x->bulk) {
        /* the block waits, whole, for the end of the build (pend_flush) */
        if (fresh_push(x, rowid) != 0) goto nomem;
        nn->fresh = 1;
        if (node_write(x, nn, 0, err) != 0) return call_end(x, -1);
    } else if (block_insert(x, nn, v->data, err) != 0) {
        return call_end(x, -1);
    }
    /* P -> N, writing only what changed in P */
    for (i = x->vis_n; i-- > 0;) {
        vnode *p = x->vis[i];
        unsigned old = p->nadj;

        if (p == nn) continue;
        if (edge_add(x, p, nn, p->dirty) && node_write(x, p, old, err) != 0) return call_end(x, -1);
    }
    /* a bulk build past the cache's budget writes what it has, so that
     * the next call may drop the cache and go on from the file */
    if (x->bulk && x->mem > g_cache_budget && pend_flush(x, err) != 0) return call_end(x, -1);
    return call_end(x, 0);
nomem:
    *err = sqlite3_mprintf("out of memory");
    return call_end(x, -1);
}

/* How many of a deleted node's out-neighbours each of its in-neighbours
 * is offered instead of it. */
#define REPAIR_NEAREST 8u

/* Makes the cache hold every block of a small index (at most search_l
 * rows), so that a delete finds every edge to the deleted node (a search
 * with N <= search_l must go on reaching every row); above that, the
 * delete repairs what the cache knows. 0, or -1 with *err. */
static int load_all(lsq_vidx *x, char **err)
{
    int64_t cnt = 0, *ids = NULL;
    unsigned n = 0, i;
    int rc;

    if (x->complete) return 0;
    if (step_int64(x->st_count, &cnt, NULL) != SQLITE_OK) return fail_db(x, err, "cannot count the index");
    if (cnt <= 0 || (uint64_t)cnt > x->p.search_l) return 0;
    ids = sqlite3_malloc64((uint64_t)cnt * sizeof *ids);
    if (ids == NULL) goto nomem;
    while ((rc = sqlite3_step(x->st_rows)) == SQLITE_ROW && n < (unsigned)cnt)
        ids[n++] = sqlite3_column_int64(x->st_rows, 0);
    sqlite3_reset(x->st_rows);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_free(ids);
        return fail_db(x, err, "cannot list the index");
    }
    for (i = 0; i < n; i++) {
        vnode *m = node_get(x, ids[i]);

        if (m == NULL) goto nomem;
        if (node_load(x, m, err) < 0) {
            sqlite3_free(ids);
            return -1;
        }
    }
    sqlite3_free(ids);
    x->complete = rc == SQLITE_DONE;
    return 0;
nomem:
    sqlite3_free(ids);
    *err = sqlite3_mprintf("out of memory");
    return -1;
}

/* After y lost its edge to the deleted node n: y -> z for the nearest few
 * of n's out-neighbours z, by the usual add-and-prune (FreshDiskANN's
 * repair, cut short), so that what was reached through n stays reachable. */
static void repair_edges(lsq_vidx *x, vnode *y, vnode *n)
{
    vnode *best[REPAIR_NEAREST];
    float bd[REPAIR_NEAREST];
    unsigned nb = 0, j, k;

    for (j = 0; j < n->nadj; j++) {
        vnode *z = n->adjn[j];
        float d;

        if (z == y || z == n || z->missing || !z->has_vec) continue;
        d = fast_nodes(x, y, z);
        for (k = nb; k > 0 && bd[k - 1] > d; k--) {}
        if (k >= REPAIR_NEAREST) continue;
        if (nb < REPAIR_NEAREST) nb++;
        memmove(best + k + 1, best + k, (nb - 1 - k) * sizeof *best);
        memmove(bd + k + 1, bd + k, (nb - 1 - k) * sizeof *bd);
        best[k] = z;
        bd[k] = d;
    }
    for (k = 0; k < nb; k++) (void)edge_add(x, y, best[k], y->dirty);
}

int lsq_vidx_delete(lsq_vidx *x, int64_t rowid, char **err)
{
    vnode *n;
    unsigned j, i;
    size_t t;
    int rc;

    *err = NULL;
    if (call_begin(x, 1, err) != 0) return call_end(x, -1);
    n = node_get(x, rowid);
    if (n == NULL) goto nomem;
    rc = node_load(x, n, err);
    if (rc != 0) return call_end(x, rc < 0 ? -1 : 0); /* no block: a NULL vector, nothing to do */
    /* the back-edges libSQL leaves as zombies: its neighbours' edges to
     * it, and those of every other node the cache knows (a warm cache
     * knows them all); any left elsewhere are skipped by searches */
    for (j = 0; j < n->nadj; j++)
        if (node_load(x, n->adjn[j], err) < 0) return call_end(x, -1);
    if (load_all(x, err) != 0) return call_end(x, -1);
    /* every in-neighbour loses its edge to n and gets edges to n's nearest
     * out-neighbours instead */
    for (t = 0; t < x->tab_cap; t++) {
        vnode *y = x->tab[t];
        unsigned old;
        int had = 0;

        if (y == NULL || !y->has_adj || y == n) continue;
        old = y->nadj;
        for (i = y->nadj; i-- > 0;)
            if (y->adjn[i] == n) {
                edge_remove(x, y, i, y->dirty);
                had = 1;
            }
        if (!had) continue;
        repair_edges(x, y, n);
        if (node_write(x, y, old, err) != 0) return call_end(x, -1);
    }
    if (sqlite3_bind_int64(x->st_delete, 1, rowid) != SQLITE_OK || sqlite3_step(x->st_delete) != SQLITE_DONE) {
        *err = sqlite3_mprintf("vector index(delete): failed to remove shadow row: %s", sqlite3_errmsg(x->db));
        sqlite3_reset(x->st_delete);
        return call_end(x, -1);
    }
    sqlite3_reset(x->st_delete);
    n->missing = 1;
    n->has_adj = 0;
    n->nadj = 0;
    return call_end(x, 0);
nomem:
    *err = sqlite3_mprintf("out of memory");
    return call_end(x, -1);
}

int lsq_vidx_clear(lsq_vidx *x, char **err)
{
    char *sql;
    int rc;

    *err = NULL;
    if (call_begin(x, 1, err) != 0) return call_end(x, -1);
    sql = sqlite3_mprintf("DELETE FROM \"%w\".\"%w\"", x->schema, x->shadow);
    if (sql == NULL) {
        *err = sqlite3_mprintf("out of memory");
        return call_end(x, -1);
    }
    rc = sqlite3_exec(x->db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    cache_clear(x);
    if (rc != SQLITE_OK) return call_end(x, fail_db(x, err, "cannot clear the index"));
    return call_end(x, 0);
}

/* ---- objects -------------------------------------------------------------------- */

static int exec_fmt(sqlite3 *db, char **err, const char *what, const char *fmt, ...)
{
    va_list ap;
    char *sql;
    int rc;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sql == NULL) {
        *err = sqlite3_mprintf("out of memory");
        return -1;
    }
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK) return 0;
    *err = sqlite3_mprintf("vector index: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

int lsq_vidx_create(sqlite3 *db, const char *schema, const char *idx, const lsq_vidx_params *p,
                    const char *const *opts, int nopts, char **err)
{
    unsigned char *meta = NULL;
    int nmeta = 0, rc;
    char *sql;
    sqlite3_stmt *st = NULL;

    *err = NULL;
    /* libSQL's text exactly (sqlite_master keeps it from the name on, so
     * the schema prefix and IF NOT EXISTS do not show); names unquoted,
     * as libSQL writes them */
    if (exec_fmt(db, err, "failed to init meta table",
                 "CREATE TABLE IF NOT EXISTS \"%w\"." META_TABLE
                 " ( name TEXT PRIMARY KEY, metadata BLOB ) WITHOUT ROWID;", schema) != 0)
        return -1;
    if (lsq_vidx_meta_encode(p, opts, nopts, &meta, &nmeta, err) != 0) return -1;
    if (exec_fmt(db, err, "unable to initialize diskann",
                 "CREATE TABLE IF NOT EXISTS \"%w\".%s_shadow (index_key  INTEGER , data BLOB, PRIMARY KEY (index_key))",
                 schema, idx) != 0 ||
        exec_fmt(db, err, "unable to initialize diskann",
                 "CREATE INDEX IF NOT EXISTS \"%w\".%s_shadow_idx ON %s_shadow (index_key)", schema, idx, idx) != 0) {
        sqlite3_free(meta);
        return -1;
    }
    sql = sqlite3_mprintf("INSERT INTO \"%w\"." META_TABLE " VALUES (?, ?)", schema);
    if (sql == NULL) {
        sqlite3_free(meta);
        *err = sqlite3_mprintf("out of memory");
        return -1;
    }
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, idx, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_bind_blob(st, 2, meta, nmeta, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    sqlite3_finalize(st);
    sqlite3_free(meta);
    /* any handle this connection has on an index of that name is stale */
    if ((rc == SQLITE_DONE || (rc & 0xff) == SQLITE_CONSTRAINT) && sentinel_write(db, NULL, err) != 0) return -1;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) return 1; /* a dump: the rows are there already */
    if (rc != SQLITE_DONE) {
        *err = sqlite3_mprintf("vector index: unable to update global metadata table");
        return -1;
    }
    return 0;
}

int lsq_vidx_drop(sqlite3 *db, const char *schema, const char *idx, char **err)
{
    char *e1 = NULL, *e2 = NULL;
    int r1, r2;

    *err = NULL;
    /* both, whatever the first did: a half-dropped index must not stay
     * undroppable (libSQL does the same) */
    r1 = exec_fmt(db, &e1, "cannot drop the shadow table", "DROP TABLE IF EXISTS \"%w\".\"%w_shadow\"", schema,
                  idx);
    r2 = exec_fmt(db, &e2, "cannot remove the index parameters",
                  "DELETE FROM \"%w\"." META_TABLE " WHERE name = %Q", schema, idx);
    if (r1 != 0 || r2 != 0) {
        *err = r1 != 0 ? e1 : e2;
        sqlite3_free(r1 != 0 ? e2 : e1);
        return -1;
    }
    return sentinel_write(db, NULL, err);
}

static int prepare_fmt(sqlite3 *db, sqlite3_stmt **st, char **err, const char *fmt, ...)
{
    va_list ap;
    char *sql;
    int rc;

    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sql == NULL) {
        *err = sqlite3_mprintf("out of memory");
        return -1;
    }
    rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK) return 0;
    *err = sqlite3_mprintf("vector index: %s", sqlite3_errmsg(db));
    return -1;
}

/* The parameters: the meta row, or the table libSQL used before July 2024. */
static int read_params(sqlite3 *db, const char *schema, const char *idx, lsq_vidx_params *p, char **err)
{
    sqlite3_stmt *st = NULL;
    char *e = NULL;
    int rc;

    if (prepare_fmt(db, &st, &e, "SELECT metadata FROM \"%w\"." META_TABLE " WHERE name = ?", schema) == 0) {
        rc = sqlite3_bind_text(st, 1, idx, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *b = sqlite3_column_blob(st, 0);
            int n = sqlite3_column_bytes(st, 0);

            rc = lsq_vidx_meta_decode(b != NULL ? b : (const unsigned char *)"", n, p, err);
            sqlite3_finalize(st);
            return rc;
        }
        sqlite3_finalize(st);
    }
    sqlite3_free(e);
    e = NULL;
    if (prepare_fmt(db, &st, &e,
                    "SELECT block_size, dims FROM \"%w\".libsql_vector_index WHERE name = ?", schema) == 0) {
        rc = sqlite3_bind_text(st, 1, idx, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
            unsigned char meta[6 * 9];
            int64_t vals[6][2] = { { 1, 1 }, { 2, 1 }, { 3, LSQ_VEC_F32 }, { 4, 0 }, { 5, LSQ_VEC_COS }, { 6, 0 } };
            int i, j;

            vals[3][1] = sqlite3_column_int(st, 1);
            vals[5][1] = sqlite3_column_int(st, 0);
            sqlite3_finalize(st);
            for (i = 0; i < 6; i++) {
                meta[9 * i] = (unsigned char)vals[i][0];
                for (j = 0; j < 8; j++) meta[9 * i + 1 + j] = (unsigned char)((uint64_t)vals[i][1] >> (8 * j));
            }
            return lsq_vidx_meta_decode(meta, (int)sizeof meta, p, err);
        }
        sqlite3_finalize(st);
    }
    sqlite3_free(e);
    *err = sqlite3_mprintf("failed to parse vector index parameters");
    return -1;
}

void lsq_vidx_close(lsq_vidx *x)
{
    lsq_vidx **pp;

    if (x == NULL) return;
    if (x->pend_n > 0) { /* deferred writes (see lsq_vidx_flush): written if still valid */
        char *err = NULL;

        if (call_begin(x, 1, &err) == 0) (void)call_end(x, pend_flush(x, &err));
        sqlite3_free(err);
    }
    for (pp = &g_open; *pp != NULL; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    blob_close(x);
    sqlite3_finalize(x->st_minmax);
    sqlite3_finalize(x->st_probe);
    sqlite3_finalize(x->st_insert);
    sqlite3_finalize(x->st_delete);
    sqlite3_finalize(x->st_dv);
    sqlite3_finalize(x->st_uv);
    sqlite3_finalize(x->st_sw);
    sqlite3_finalize(x->st_count);
    sqlite3_finalize(x->st_rows);
    cache_clear(x);
    sqlite3_free(x->schema);
    sqlite3_free(x->name);
    sqlite3_free(x->shadow);
    sqlite3_free(x->buf);
    sqlite3_free(x->pend);
    sqlite3_free(x->fresh_ids);
    sqlite3_free(x->todo);
    sqlite3_free(x->q_eb);
    sqlite3_free(x->q_f);
    sqlite3_free(x->c_node);
    sqlite3_free(x->c_dist);
    sqlite3_free(x->t_node);
    sqlite3_free(x->t_dist);
    sqlite3_free(x->vis);
    sqlite3_free(x->pm);
    sqlite3_free(x);
}

int lsq_vidx_open(sqlite3 *db, const char *schema, const char *idx, lsq_vidx **out, char **err)
{
    lsq_vidx *x;
    int64_t uv = 0;

    *err = NULL;
    *out = NULL;
    x = sqlite3_malloc(sizeof *x);
    if (x == NULL) {
        *err = sqlite3_mprintf("out of memory");
        return -1;
    }
    memset(x, 0, sizeof *x);
    x->db = db;
    x->defer = db == g_defer_db;
    x->next = g_open;
    g_open = x;
    if (read_params(db, schema, idx, &x->p, err) != 0) goto fail;
    lsq_vidx_layout(&x->p, &x->l);
    x->alpha = (float)x->p.alpha;
    x->fast = x->p.compress != LSQ_VEC_1BIT;
    {
        const uint32_t one = 1;
        unsigned char first_byte;

        memcpy(&first_byte, &one, 1);
        x->alias_f32 = x->p.compress == LSQ_VEC_F32 && first_byte == 1;
    }
    x->f_bytes = x->fast ? (size_t)x->p.dims * sizeof(float) : 0;
    x->schema = sqlite3_mprintf("%s", schema);
    x->name = sqlite3_mprintf("%s", idx);
    x->shadow = sqlite3_mprintf("%s_shadow", idx);
    x->buf = sqlite3_malloc64(x->p.block_size);
    x->todo = sqlite3_malloc64((uint64_t)x->l.max_edges * sizeof *x->todo);
    if (x->schema == NULL || x->name == NULL || x->shadow == NULL || x->buf == NULL ||
        x->todo == NULL) {
        *err = sqlite3_mprintf("out of memory");
        goto fail;
    }
    if (prepare_fmt(db, &x->st_minmax, err, "SELECT (SELECT min(rowid) FROM \"%w\".\"%w\"), (SELECT max(rowid) FROM \"%w\".\"%w\")",
                    schema, x->shadow, schema, x->shadow) ||
        prepare_fmt(db, &x->st_probe, err, "SELECT rowid FROM \"%w\".\"%w\" WHERE rowid >= ?1 ORDER BY rowid LIMIT 1",
                    schema, x->shadow) ||
        prepare_fmt(db, &x->st_insert, err,
                    "INSERT INTO \"%w\".\"%w\"(index_key, data) VALUES (?1, ?2) RETURNING rowid", schema, x->shadow) ||
        prepare_fmt(db, &x->st_delete, err, "DELETE FROM \"%w\".\"%w\" WHERE rowid = ?1", schema, x->shadow) ||
        prepare_fmt(db, &x->st_dv, err, "PRAGMA \"%w\".data_version", schema) ||
        prepare_fmt(db, &x->st_count, err, "SELECT count(*) FROM \"%w\".\"%w\"", schema, x->shadow) ||
        prepare_fmt(db, &x->st_rows, err, "SELECT rowid FROM \"%w\".\"%w\"", schema, x->shadow))
        goto fail;
    if (step_int64(x->st_dv, &x->data_version, NULL) != SQLITE_OK || sentinel_read(x, &uv) != SQLITE_OK) {
        fail_db(x, err, "cannot read the versions");
        goto fail;
    }
    x->seen = (uint32_t)uv;
    *out = x;
    return 0;
fail:
    lsq_vidx_close(x);
    return -1;
}

const lsq_vidx_params *lsq_vidx_get_params(const lsq_vidx *x) { return &x->p; }

void lsq_vidx_set_cache_budget(size_t bytes)
{
    g_cache_budget = bytes > 0 ? bytes : CACHE_BUDGET;
}

void lsq_vidx_bulk_begin(lsq_vidx *x)
{
    x->bulk_defer = x->defer;
    x->bulk = x->defer = 1;
    x->bulk_lost = 0;
}

int lsq_vidx_bulk_end(lsq_vidx *x, int ok, char **err)
{
    int rc = 0;

    *err = NULL;
    x->bulk = 0;
    x->defer = x->bulk_defer;
    if (ok && x->pend_n > 0) {
        /* call_begin drops the cache, fresh nodes and all, if the file
         * changed under the build (bulk_lost) */
        rc = call_begin(x, 1, err);
        if (rc == 0 && !x->bulk_lost) rc = pend_flush(x, err);
        rc = call_end(x, rc);
    }
    if (ok && rc == 0 && x->bulk_lost) {
        *err = sqlite3_mprintf("vector index: the file changed during the build");
        rc = -1;
    }
    if (!ok || rc != 0) cache_clear(x); /* the caller undoes the statement */
    x->bulk_lost = 0;
    return rc;
}

void lsq_vidx_defer(sqlite3 *db)
{
    lsq_vidx *h;

    g_defer_db = db;
    for (h = g_open; h != NULL; h = h->next)
        if (h->db == db) h->defer = 1;
}

int lsq_vidx_flush(sqlite3 *db, char **err)
{
    lsq_vidx *h;
    int rc = 0;

    *err = NULL;
    if (g_defer_db == db) g_defer_db = NULL;
    for (h = g_open; h != NULL; h = h->next) {
        if (h->db != db) continue;
        h->defer = 0;
        if (h->pend_n == 0 || rc != 0) continue;
        /* call_begin drops the pending blocks if a rollback came between */
        if (call_begin(h, 1, err) != 0 || pend_flush(h, err) != 0) rc = -1;
        call_end(h, rc);
    }
    return rc;
}

void lsq_vidx_discard(sqlite3 *db)
{
    lsq_vidx *h;

    if (g_defer_db == db) g_defer_db = NULL;
    for (h = g_open; h != NULL; h = h->next)
        if (h->db == db) {
            h->defer = 0;
            if (h->pend_n > 0) cache_clear(h);
        }
}
