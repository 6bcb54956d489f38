/*
 * test_diskann.c - tests of the vector index engine (vector_diskann.c,
 * vector_idx_params.c) on real SQLite databases: every option and column
 * type error of §4, the metadata blob of a default index (the Appendix's
 * bytes) and the block sizes the peer gave, the shadow schema text, the
 * Appendix's 3-row example block, recall against exact search, delete
 * (deleted rows never come back, no edge keeps pointing at them), edges to
 * missing rows (libSQL's zombies), rollbacks and another connection's
 * writes seen through the cache.
 */
#include "test_util.h"
#include "vector.h"
#include "vector_diskann.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

/* lsq_vidx_parse's error for a declared type and options ("" if none). */
static int parse_err(const char *decl, const char *const *opts, int n, const char *want)
{
    lsq_vidx_params p;
    char *err = NULL;
    int ok = lsq_vidx_parse(decl, opts, n, &p, &err) == -1 && err != NULL && strcmp(err, want) == 0;

    if (!ok) fprintf(stderr, "  parse(%s): got '%s', want '%s'\n", decl, err ? err : "(none)", want);
    sqlite3_free(err);
    return ok;
}

static int parse_ok(const char *decl, const char *const *opts, int n, lsq_vidx_params *p)
{
    char *err = NULL;
    int rc = lsq_vidx_parse(decl, opts, n, p, &err);

    if (rc != 0) fprintf(stderr, "  parse(%s): %s\n", decl, err ? err : "?");
    sqlite3_free(err);
    return rc == 0;
}

static void hex(const unsigned char *b, int n, char *out)
{
    int i;

    for (i = 0; i < n; i++) sprintf(out + 2 * i, "%02X", b[i]);
    out[2 * n] = '\0';
}

/* An index "t_idx" of F32 vectors of dims on db, opened: NULL on failure. */
static lsq_vidx *make_index(sqlite3 *db, unsigned dims, const char *const *opts, int nopts)
{
    lsq_vidx_params p;
    lsq_vidx *x = NULL;
    char decl[32], *err = NULL;

    snprintf(decl, sizeof decl, "F32_BLOB(%u)", dims);
    if (!parse_ok(decl, opts, nopts, &p)) return NULL;
    if (lsq_vidx_create(db, "main", "t_idx", &p, opts, nopts, &err) != 0 ||
        lsq_vidx_open(db, "main", "t_idx", &x, &err) != 0) {
        fprintf(stderr, "  make_index: %s\n", err ? err : "?");
        sqlite3_free(err);
        return NULL;
    }
    return x;
}

static uint64_t g_seed = 12345;

static float rnd(void)
{
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_seed >> 40) / (double)(1ull << 24)) * 2 - 1;
}

static int insert_f32(lsq_vidx *x, int64_t id, const float *v, unsigned dims)
{
    lsq_vec vec = { LSQ_VEC_F32, dims, (const unsigned char *)v };
    char *err = NULL;
    int rc = lsq_vidx_insert(x, id, &vec, &err);

    if (rc != 0) fprintf(stderr, "  insert %lld: %s\n", (long long)id, err ? err : "?");
    sqlite3_free(err);
    return rc;
}

static int search_f32(lsq_vidx *x, const float *q, unsigned dims, unsigned k, int64_t *ids, unsigned *n)
{
    lsq_vec vec = { LSQ_VEC_F32, dims, (const unsigned char *)q };
    char *err = NULL;
    int rc = lsq_vidx_search(x, &vec, k, ids, n, &err);

    if (rc != 0) fprintf(stderr, "  search: %s\n", err ? err : "?");
    sqlite3_free(err);
    return rc;
}

/* The exact k nearest of rows 1..n (vectors vs) by cosine, into ids. */
static void exact_knn(const float *vs, unsigned n, unsigned dims, const float *q, unsigned k, int64_t *ids,
                      const unsigned char *gone)
{
    float best[64];
    unsigned nb = 0, i, j;
    lsq_vec a = { LSQ_VEC_F32, dims, (const unsigned char *)q };

    for (i = 0; i < n; i++) {
        lsq_vec b = { LSQ_VEC_F32, dims, (const unsigned char *)(vs + (size_t)i * dims) };
        float d;

        if (gone != NULL && gone[i]) continue;
        d = lsq_vec_distance(LSQ_VEC_COS, &a, &b);
        for (j = nb; j > 0 && best[j - 1] > d; j--) {}
        if (j >= k) continue;
        if (nb < k) nb++;
        memmove(best + j + 1, best + j, (nb - 1 - j) * sizeof *best);
        memmove(ids + j + 1, ids + j, (nb - 1 - j) * sizeof *ids);
        best[j] = d;
        ids[j] = (int64_t)i + 1;
    }
}

/* Every edge of every block points at an existing row, and each stored
 * distance is libSQL's distance of the two vectors. */
static int graph_consistent_z(sqlite3 *db, unsigned dims, int zombies_ok)
{
    sqlite3_stmt *st = NULL, *ex = NULL;
    lsq_vidx_params p;
    lsq_vidx_layout_t l;
    int ok = 1;
    char decl[32];

    snprintf(decl, sizeof decl, "F32_BLOB(%u)", dims);
    if (!parse_ok(decl, NULL, 0, &p)) return 0;
    lsq_vidx_layout(&p, &l);
    if (sqlite3_prepare_v2(db, "SELECT rowid, data FROM t_idx_shadow", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT data FROM t_idx_shadow WHERE rowid = ?", -1, &ex, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return 0;
    }
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *b = sqlite3_column_blob(st, 1);
        unsigned cnt = b[8] | b[9] << 8, j;

        ok = (uint64_t)sqlite3_column_bytes(st, 1) == p.block_size && cnt <= l.max_edges;
        for (j = 0; ok && j < cnt; j++) {
            const unsigned char *rec = b + l.records_at + 16 * j;
            int64_t id = 0;
            float stored;
            int k;

            for (k = 7; k >= 0; k--) id = id << 8 | rec[8 + k];
            memcpy(&stored, rec + 4, 4);
            sqlite3_bind_int64(ex, 1, id);
            if (sqlite3_step(ex) != SQLITE_ROW) {
                if (zombies_ok) {
                    sqlite3_reset(ex);
                    continue;
                }
                fprintf(stderr, "  block %lld: edge to missing %lld\n", (long long)sqlite3_column_int64(st, 0),
                        (long long)id);
                ok = 0;
            } else {
                lsq_vec a = { LSQ_VEC_F32, dims, b + l.header };
                lsq_vec c = { LSQ_VEC_F32, dims, (const unsigned char *)sqlite3_column_blob(ex, 0) + l.header };
                lsq_vec e = { LSQ_VEC_F32, dims, b + l.edges_at + j * l.edge_size };
                float d = lsq_vec_distance(LSQ_VEC_COS, &a, &c);

                ok = memcmp(&d, &stored, 4) == 0 && memcmp(e.data, c.data, l.edge_size) == 0;
                if (!ok) fprintf(stderr, "  block %lld edge %u: distance or vector differs\n",
                                 (long long)sqlite3_column_int64(st, 0), j);
            }
            sqlite3_reset(ex);
        }
    }
    sqlite3_finalize(st);
    sqlite3_finalize(ex);
    return ok;
}

static int graph_consistent(sqlite3 *db, unsigned dims) { return graph_consistent_z(db, dims, 0); }

/* Every stored edge is self-consistent, whatever its target became since:
 * its distance is libSQL's distance of the block's node vector and the
 * edge vector stored beside it (after an UPDATE both may be the old
 * vector's, as libSQL leaves them). */
static int edges_self_consistent(sqlite3 *db, unsigned dims)
{
    sqlite3_stmt *st = NULL;
    lsq_vidx_params p;
    lsq_vidx_layout_t l;
    int ok = 1;
    char decl[32];

    snprintf(decl, sizeof decl, "F32_BLOB(%u)", dims);
    if (!parse_ok(decl, NULL, 0, &p)) return 0;
    lsq_vidx_layout(&p, &l);
    if (sqlite3_prepare_v2(db, "SELECT rowid, data FROM t_idx_shadow", -1, &st, NULL) != SQLITE_OK) return 0;
    while (ok && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *b = sqlite3_column_blob(st, 1);
        unsigned cnt = b[8] | b[9] << 8, j;

        ok = (uint64_t)sqlite3_column_bytes(st, 1) == p.block_size && cnt <= l.max_edges;
        for (j = 0; ok && j < cnt; j++) {
            lsq_vec a = { LSQ_VEC_F32, dims, b + l.header };
            lsq_vec e = { LSQ_VEC_F32, dims, b + l.edges_at + j * l.edge_size };
            float d = lsq_vec_distance(LSQ_VEC_COS, &a, &e), stored;

            memcpy(&stored, b + l.records_at + 16 * j + 4, 4);
            ok = memcmp(&d, &stored, 4) == 0;
            if (!ok)
                fprintf(stderr, "  block %lld edge %u: stored %g, computed %g\n",
                        (long long)sqlite3_column_int64(st, 0), j, stored, d);
        }
    }
    sqlite3_finalize(st);
    return ok;
}

/* ---- options and metadata --------------------------------------------------------- */

static void test_column_type_errors(void)
{
    CHECK(parse_err("INT", NULL, 0, "vector index: unexpected vector column type: INT"));
    CHECK(parse_err("F32_BLOBX(3)", NULL, 0, "vector index: unexpected vector column type: F32_BLOBX(3)"));
    CHECK(parse_err("FLOAT32(3a)", NULL, 0, "vector index: non digit symbol in vector column parameter: FLOAT32(3a)"));
    CHECK(parse_err("FLOAT32(3", NULL, 0, "vector index: missed closing brace for vector column type: FLOAT32(3"));
    CHECK(parse_err("FLOAT32(3) x", NULL, 0,
                    "vector index: extra data after dimension parameter for vector column type: FLOAT32(3) x"));
    CHECK(parse_err("F32_BLOB(0)", NULL, 0,
                    "vector index: vector column must have non-zero dimension for index: F32_BLOB(0)"));
    CHECK(parse_err("F32_BLOB()", NULL, 0,
                    "vector index: vector column must have non-zero dimension for index: F32_BLOB()"));
    CHECK(parse_err("FLOAT64(65537)", NULL, 0, "vector index: max vector dimension exceeded: FLOAT64(65537)"));
    {
        lsq_vidx_params p;

        CHECK(parse_ok(" float32 ( 3 ) ", NULL, 0, &p) && p.vector_type == LSQ_VEC_F32 && p.dims == 3);
        CHECK(parse_ok("FB16_BLOB(8)", NULL, 0, &p) && p.vector_type == LSQ_VEC_BF16 && p.dims == 8);
        CHECK(parse_ok("FLOAT1BIT(64)", NULL, 0, &p) && p.vector_type == LSQ_VEC_1BIT);
    }
}

static void test_option_errors(void)
{
    static const char *const o1[] = { "metric" }, *const o2[] = { "metrics=cos" }, *const o3[] = { "metric=dot" },
                             *const o4[] = { "search_l=abc" }, *const o5[] = { "insert_l=-5" },
                             *const o6[] = { "alpha=1e" }, *const o7[] = { "metric=l2", "compress_neighbors=float1bit" },
                             *const o8[] = { "max_neighbors=2000000000" }, *const o9[] = { "type=hnsw" },
                             *const o10[] = { "max_neighbors=0" }, *const o11[] = { " metric=cos" };
    const char *many[12];
    int i;

    CHECK(parse_err("F32_BLOB(3)", o1, 1, "vector index: invalid vector index parameter 'metric': unexpected parameter format"));
    CHECK(parse_err("F32_BLOB(3)", o2, 1, "vector index: invalid vector index parameter 'metrics=cos': invalid parameter"));
    CHECK(parse_err("F32_BLOB(3)", o3, 1, "vector index: invalid vector index parameter 'metric=dot': invalid parameter"));
    CHECK(parse_err("F32_BLOB(3)", o4, 1,
                    "vector index: invalid vector index parameter 'search_l=abc': invalid representation of integer vector index parameter"));
    CHECK(parse_err("F32_BLOB(3)", o10, 1,
                    "vector index: invalid vector index parameter 'max_neighbors=0': invalid representation of integer vector index parameter"));
    CHECK(parse_err("F32_BLOB(3)", o5, 1,
                    "vector index: invalid vector index parameter 'insert_l=-5': integer vector index parameter must be positive"));
    CHECK(parse_err("F32_BLOB(3)", o6, 1,
                    "vector index: invalid vector index parameter 'alpha=1e': invalid representation of floating point vector index parameter"));
    CHECK(parse_err("F32_BLOB(3)", o7, 2,
                    "vector index: unable to initialize diskann: 1-bit compression available only for cosine metric"));
    CHECK(parse_err("F32_BLOB(3)", o8, 1, "vector index: unable to initialize diskann"));
    CHECK(parse_err("F32_BLOB(3)", o9, 1, "vector index: invalid vector index parameter 'type=hnsw': invalid parameter"));
    CHECK(parse_err("F32_BLOB(3)", o11, 1, "vector index: invalid vector index parameter ' metric=cos': invalid parameter"));
    /* 128 bytes of metadata: 3 records + 11 options fill 126, the 12th overflows */
    for (i = 0; i < 12; i++) many[i] = "search_l=10";
    CHECK(parse_err("F32_BLOB(3)", many, 12,
                    "vector index: invalid vector index parameter 'search_l=10': unable to serialize integer vector index parameter"));
    /* 11 fit, then the index type record libSQL appends does not */
    CHECK(parse_err("F32_BLOB(3)", many, 11, "vector index: unable to initialize diskann"));
}

static void test_options_values(void)
{
    static const char *const prefix[] = { "METRIC=co", "compress_neighbors=float", "type=", "alpha=0" },
                             *const ints[] = { "search_l=12abc", "insert_l=0x10", "metric=l2", "metric=" },
                             *const l2[] = { "Metric=L", "compress_neighbors=FLOAT16", "alpha=1.25" };
    lsq_vidx_params p;

    CHECK(parse_ok("F32_BLOB(3)", prefix, 4, &p));
    CHECK(p.metric == LSQ_VEC_COS && p.compress == LSQ_VEC_1BIT && p.alpha == 1.2 && p.index_type == 1);
    CHECK(parse_ok("F32_BLOB(3)", l2, 3, &p));
    CHECK(p.metric == LSQ_VEC_L2 && p.compress == LSQ_VEC_F16 && p.alpha == 1.25);
    CHECK(parse_ok("F32_BLOB(3)", ints, 4, &p));
    CHECK(p.search_l == 12 && p.insert_l == 16 && p.metric == LSQ_VEC_COS); /* the last duplicate wins */
}

static void test_meta_default(void)
{
    /* what libsql@0.5.29 stores (81 bytes: 9 records); the Appendix's
     * hex has one 00 too many after the block size record */
    static const char want[] = "01030000000000000003010000000000000004030000000000000002010000000000000005"
                               "010000000000000006000100000000000007333333333333F33F0846000000000000000"
                               "9C800000000000000";
    lsq_vidx_params p, d;
    unsigned char *meta = NULL;
    char *err = NULL, h[300];
    int n = 0;

    CHECK(parse_ok("F32_BLOB(3)", NULL, 0, &p));
    CHECK(p.block_size == 256 && lsq_vidx_max_edges(&p) == 8);
    CHECK(lsq_vidx_meta_encode(&p, NULL, 0, &meta, &n, &err) == 0 && n == 81);
    if (meta != NULL) {
        hex(meta, n, h);
        CHECK(strcmp(h, want) == 0);
        if (strcmp(h, want) != 0) fprintf(stderr, "  got  %s\n  want %s\n", h, want);
        CHECK(lsq_vidx_meta_decode(meta, n, &d, &err) == 0);
        CHECK(d.format == 3 && d.vector_type == LSQ_VEC_F32 && d.dims == 3 && d.metric == LSQ_VEC_COS &&
              d.compress == LSQ_VEC_F32 && d.block_size == 256 && d.alpha == 1.2 && d.insert_l == 70 &&
              d.search_l == 200);
    }
    sqlite3_free(meta);
    /* options go in the user's order after format/type/dims; legacy
     * block sizes are 512-byte units */
    {
        static const char *const o[] = { "metric=l2", "alpha=1.5" };
        unsigned char legacy[9] = { 6, 2, 0, 0, 0, 0, 0, 0, 0 }, full[45];

        meta = NULL;
        CHECK(parse_ok("FLOAT64(4)", o, 2, &p));
        CHECK(lsq_vidx_meta_encode(&p, o, 2, &meta, &n, &err) == 0 && n == 9 * 9);
        if (meta != NULL) {
            CHECK(meta[27] == 5 && meta[28] == 2 && meta[36] == 7 && meta[45] == 2 && meta[54] == 6 && meta[63] == 8);
            sqlite3_free(meta);
        }
        memcpy(full, "\x03\x01\0\0\0\0\0\0\0\x04\x02\0\0\0\0\0\0\0\x05\x01\0\0\0\0\0\0\0\x01\x02\0\0\0\0\0\0\0", 36);
        memcpy(full + 36, legacy, 9);
        CHECK(lsq_vidx_meta_decode(full, 45, &d, &err) == 0 && d.block_size == 1024 && d.format == 2);
        CHECK(lsq_vidx_meta_decode(full, 36, &d, &err) == -1 && strcmp(err, "failed to parse vector index parameters") == 0);
        sqlite3_free(err);
    }
}

static void test_block_sizes(void)
{
    static const char *const bit[] = { "compress_neighbors=float1bit" }, *const f8[] = { "compress_neighbors=float8", "max_neighbors=64" };
    lsq_vidx_params p;

    CHECK(parse_ok("F32_BLOB(768)", NULL, 0, &p) && p.block_size == 160576);
    CHECK(parse_ok("F32_BLOB(768)", bit, 1, &p) && p.block_size == 12496);
    CHECK(parse_ok("F32_BLOB(768)", f8, 2, &p) && p.block_size == 53776);
    CHECK(parse_ok("FLOAT8(16)", NULL, 0, &p) && p.block_size == 640);
    CHECK(parse_ok("FLOAT16(5)", NULL, 0, &p) && p.block_size == 260);
    CHECK(parse_ok("F32_BLOB(1536)", NULL, 0, &p) && p.block_size == 320320);
}

/* ---- the index on a database ------------------------------------------------------- */

static void test_schema_and_example_block(void)
{
    static const char *const want[] = {
        "CREATE TABLE libsql_vector_meta_shadow ( name TEXT PRIMARY KEY, metadata BLOB ) WITHOUT ROWID",
        "CREATE TABLE t_idx_shadow (index_key  INTEGER , data BLOB, PRIMARY KEY (index_key))",
        "CREATE INDEX t_idx_shadow_idx ON t_idx_shadow (index_key)",
    };
    static const float v[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    lsq_vidx *x;
    int i = 0;

    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    x = make_index(db, 3, NULL, 0);
    CHECK(x != NULL);
    if (x == NULL) goto out;
    CHECK(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master ORDER BY rowid", -1, &st, NULL) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && i < 3) {
        CHECK(strcmp((const char *)sqlite3_column_text(st, 0), want[i]) == 0);
        i++;
    }
    CHECK(i == 3);
    sqlite3_finalize(st);
    st = NULL;
    CHECK(insert_f32(x, 10, v[0], 3) == 0 && insert_f32(x, 20, v[1], 3) == 0 && insert_f32(x, 30, v[2], 3) == 0);
    CHECK(sqlite3_prepare_v2(db, "SELECT data FROM t_idx_shadow WHERE rowid = 10", -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *b = sqlite3_column_blob(st, 0);
        static const unsigned char head[] = { 0x0A, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
                                              0, 0, 0x80, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0 };
        unsigned j, seen = 0;

        CHECK(sqlite3_column_bytes(st, 0) == 256);
        CHECK(memcmp(b, head, sizeof head) == 0);
        for (j = 0; j < 2; j++) { /* edges are unordered: 20 and 30, each with its vector */
            const unsigned char *rec = b + 124 + 16 * j, *ev = b + 28 + 12 * j;
            float one = 1.0f;

            CHECK(memcmp(rec, "\0\0\0\0", 4) == 0 && memcmp(rec + 4, &one, 4) == 0);
            CHECK(memcmp(rec + 9, "\0\0\0\0\0\0\0", 7) == 0);
            if (rec[8] == 20) {
                seen |= 1;
                CHECK(memcmp(ev, v[1], 12) == 0);
            } else if (rec[8] == 30) {
                seen |= 2;
                CHECK(memcmp(ev, v[2], 12) == 0);
            }
        }
        CHECK(seen == 3);
        for (j = 28 + 24; j < 124; j++) CHECK(b[j] == 0);
        for (j = 124 + 32; j < 256; j++) CHECK(b[j] == 0);
    } else {
        CHECK(0);
    }
    sqlite3_finalize(st);
    {
        int64_t ids[5];
        unsigned n = 0;
        float q[3] = { 1, 0.1f, 0 };

        CHECK(search_f32(x, q, 3, 5, ids, &n) == 0 && n == 3 && ids[0] == 10 && ids[1] == 20 && ids[2] == 30);
        CHECK(search_f32(x, q, 3, 0, ids, &n) == 0 && n == 0);
    }
    {
        static const float q2[2] = { 1, 2 };
        lsq_vec bad = { LSQ_VEC_F32, 2, (const unsigned char *)q2 };
        lsq_vec bad64 = { LSQ_VEC_F64, 3, (const unsigned char *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" };
        int64_t ids[1];
        unsigned n;
        char *err = NULL;

        CHECK(lsq_vidx_insert(x, 40, &bad, &err) == -1 && strcmp(err, "vector index(insert): dimensions are different: 2 != 3") == 0);
        sqlite3_free(err);
        CHECK(lsq_vidx_insert(x, 40, &bad64, &err) == -1 &&
              strcmp(err, "vector index(insert): vector type differs from column type: 2 != 1") == 0);
        sqlite3_free(err);
        CHECK(lsq_vidx_search(x, &bad, 1, ids, &n, &err) == -1 &&
              strcmp(err, "vector index(search): dimensions are different: 2 != 3") == 0);
        sqlite3_free(err);
    }
    CHECK(graph_consistent(db, 3));
    lsq_vidx_close(x);
    {
        char *err = NULL;

        CHECK(lsq_vidx_drop(db, "main", "t_idx", &err) == 0);
        CHECK(lsq_vidx_open(db, "main", "t_idx", &x, &err) == -1 &&
              strcmp(err, "failed to parse vector index parameters") == 0);
        sqlite3_free(err);
    }
out:
    sqlite3_close(db);
}

/* Of the top 10 of the q queries stored after the n rows in vs, how many
 * are in the exact top 10 (recall@10 is hits / (q * 10)). */
static unsigned recall_hits(lsq_vidx *x, const float *vs, unsigned n, unsigned dims, unsigned q)
{
    unsigned i, hits = 0;

    for (i = 0; i < q; i++) {
        const float *qv = vs + (size_t)(n + i) * dims;
        int64_t got[10], want[10];
        unsigned got_n = 0, a, b;

        exact_knn(vs, n, dims, qv, 10, want, NULL);
        CHECK(search_f32(x, qv, dims, 10, got, &got_n) == 0 && got_n == 10);
        for (a = 0; a < got_n; a++)
            for (b = 0; b < 10; b++) hits += got[a] == want[b];
    }
    return hits;
}

static void test_recall(void)
{
    enum { N = 2000, D = 32, Q = 40, K = 10 };
    float *vs = malloc(sizeof(float) * (N + Q) * D);
    sqlite3 *db = NULL;
    lsq_vidx *x;
    unsigned i, hits;

    CHECK(vs != NULL && sqlite3_open(":memory:", &db) == SQLITE_OK);
    if (vs == NULL) goto out;
    for (i = 0; i < (N + Q) * D; i++) vs[i] = rnd();
    x = make_index(db, D, NULL, 0);
    CHECK(x != NULL);
    if (x == NULL) goto out;
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    for (i = 0; i < N; i++)
        if (insert_f32(x, i + 1, vs + (size_t)i * D, D) != 0) break;
    CHECK(i == N);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    hits = recall_hits(x, vs, N, D, Q);
    fprintf(stderr, "  recall@10 at %d x %d: %.3f\n", N, D, hits / (double)(Q * K));
    CHECK(hits >= 0.95 * Q * K);
    CHECK(graph_consistent(db, D));
    lsq_vidx_close(x);
out:
    sqlite3_close(db);
    free(vs);
}

static void test_delete(void)
{
    enum { N = 600, D = 16, K = 20 };
    float *vs = malloc(sizeof(float) * N * D);
    unsigned char gone[N];
    sqlite3 *db = NULL;
    lsq_vidx *x;
    unsigned i, q, bad = 0, hits = 0;
    char *err = NULL;

    memset(gone, 0, sizeof gone);
    CHECK(vs != NULL && sqlite3_open(":memory:", &db) == SQLITE_OK);
    if (vs == NULL) goto out;
    for (i = 0; i < N * D; i++) vs[i] = rnd();
    x = make_index(db, D, NULL, 0);
    CHECK(x != NULL);
    if (x == NULL) goto out;
    for (i = 0; i < N; i++) CHECK(insert_f32(x, i + 1, vs + (size_t)i * D, D) == 0);
    for (i = 0; i < N; i += 3) {
        CHECK(lsq_vidx_delete(x, i + 1, &err) == 0);
        gone[i] = 1;
    }
    CHECK(lsq_vidx_delete(x, 100000, &err) == 0); /* absent: not an error */
    CHECK(graph_consistent(db, D));               /* no edge to a deleted row */
    for (q = 0; q < 50; q++) {
        int64_t got[K], want[K];
        unsigned n = 0, a, b;
        const float *qv = vs + (size_t)(q * 7 % N) * D;

        CHECK(search_f32(x, qv, D, K, got, &n) == 0 && n == K);
        exact_knn(vs, N, D, qv, K, want, gone);
        for (a = 0; a < n; a++) {
            bad += gone[got[a] - 1];
            for (b = 0; b < K; b++) hits += got[a] == want[b];
        }
    }
    CHECK(bad == 0);
    CHECK(hits >= 0.95 * 50 * K);
    /* a fresh handle (cold cache) agrees */
    lsq_vidx_close(x);
    CHECK(lsq_vidx_open(db, "main", "t_idx", &x, &err) == 0);
    for (q = 0; q < 20; q++) {
        int64_t got[K];
        unsigned n = 0, a;

        CHECK(search_f32(x, vs + (size_t)q * D, D, K, got, &n) == 0 && n == K);
        for (a = 0; a < n; a++) CHECK(!gone[got[a] - 1]);
    }
    lsq_vidx_close(x);
out:
    sqlite3_close(db);
    free(vs);
}

/* After deleting a third of the rows of an index of N <= search_l rows, a
 * search with k >= N still reaches every live row (the deleted nodes'
 * in-neighbours get edges to their out-neighbours), whether the deleting
 * handle's cache was warm or cold. */
static void test_delete_keeps_reach(void)
{
    enum { N = 120, D = 8, ROUNDS = 12 };
    float v[N][D];
    unsigned r, i, j, missed = 0;
    char *err = NULL;

    for (r = 0; r < ROUNDS; r++) {
        sqlite3 *db = NULL;
        lsq_vidx *x;
        int64_t got[N];
        unsigned n = 0, live = 0, q;

        CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
        x = make_index(db, D, NULL, 0);
        CHECK(x != NULL);
        if (x == NULL) {
            sqlite3_close(db);
            continue;
        }
        for (i = 0; i < N; i++) {
            for (j = 0; j < D; j++) v[i][j] = rnd();
            CHECK(insert_f32(x, i + 1, v[i], D) == 0);
        }
        if (r % 2 == 1) { /* cold */
            lsq_vidx_close(x);
            x = NULL;
            CHECK(lsq_vidx_open(db, "main", "t_idx", &x, &err) == 0);
            if (x == NULL) {
                sqlite3_close(db);
                continue;
            }
        }
        for (i = 0; i < N; i++)
            if (i % 3 == 2) CHECK(lsq_vidx_delete(x, i + 1, &err) == 0);
            else live++;
        for (q = 0; q < 5; q++) {
            CHECK(search_f32(x, v[q], D, N, got, &n) == 0);
            missed += live - n;
        }
        CHECK(graph_consistent(db, D));
        lsq_vidx_close(x);
        sqlite3_close(db);
    }
    if (missed != 0) fprintf(stderr, "  %u live rows not reached\n", missed);
    CHECK(missed == 0);
}

/* Rows removed behind the index's back leave edges to missing rows, as
 * libSQL's DELETE does: searches skip them, inserts drop them. */
static void test_zombies(void)
{
    enum { N = 300, D = 8 };
    float *vs = malloc(sizeof(float) * (N + 50) * D);
    sqlite3 *db = NULL;
    lsq_vidx *x;
    unsigned i, q;
    char *err = NULL;

    CHECK(vs != NULL && sqlite3_open(":memory:", &db) == SQLITE_OK);
    if (vs == NULL) goto out;
    for (i = 0; i < (N + 50) * D; i++) vs[i] = rnd();
    x = make_index(db, D, NULL, 0);
    CHECK(x != NULL);
    if (x == NULL) goto out;
    for (i = 0; i < N; i++) CHECK(insert_f32(x, i + 1, vs + (size_t)i * D, D) == 0);
    lsq_vidx_close(x);
    CHECK(sqlite3_exec(db, "DELETE FROM t_idx_shadow WHERE rowid % 5 = 0", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(lsq_vidx_open(db, "main", "t_idx", &x, &err) == 0);
    for (q = 0; q < 30; q++) {
        int64_t got[10];
        unsigned n = 0, a;

        CHECK(search_f32(x, vs + (size_t)(N + q) * D, D, 10, got, &n) == 0 && n > 0);
        for (a = 0; a < n; a++) CHECK(got[a] % 5 != 0);
    }
    for (i = N; i < N + 50; i++) CHECK(insert_f32(x, i + 1, vs + (size_t)i * D, D) == 0);
    {
        int64_t got[10];
        unsigned n = 0;

        CHECK(search_f32(x, vs + (size_t)(N + 7) * D, D, 10, got, &n) == 0 && n == 10 && got[0] == N + 8);
    }
    lsq_vidx_close(x);
out:
    sqlite3_close(db);
    free(vs);
}

/* The cache must not outlive what a rollback undid. */
static void test_rollback(void)
{
    enum { D = 8 };
    float v[40][D];
    sqlite3 *db = NULL;
    lsq_vidx *x;
    unsigned i, j;
    int64_t got[40];
    unsigned n = 0;
    char *err = NULL;

    for (i = 0; i < 40; i++)
        for (j = 0; j < D; j++) v[i][j] = rnd();
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    x = make_index(db, D, NULL, 0);
    CHECK(x != NULL);
    if (x == NULL) goto out;
    for (i = 0; i < 20; i++) CHECK(insert_f32(x, i + 1, v[i], D) == 0);
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    for (i = 20; i < 40; i++) CHECK(insert_f32(x, i + 1, v[i], D) == 0);
    CHECK(lsq_vidx_delete(x, 3, &err) == 0);
    CHECK(search_f32(x, v[0], D, 40, got, &n) == 0 && n == 39);
    CHECK(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(search_f32(x, v[0], D, 40, got, &n) == 0 && n == 20);
    for (i = 0; i < n; i++) CHECK(got[i] >= 1 && got[i] <= 20);
    /* ROLLBACK TO a savepoint */
    CHECK(sqlite3_exec(db, "SAVEPOINT a", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(insert_f32(x, 21, v[20], D) == 0);
    CHECK(sqlite3_exec(db, "SAVEPOINT b", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(insert_f32(x, 22, v[21], D) == 0);
    CHECK(sqlite3_exec(db, "ROLLBACK TO b; RELEASE a", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(search_f32(x, v[0], D, 40, got, &n) == 0 && n == 21);
    for (i = 0; i < n; i++) CHECK(got[i] >= 1 && got[i] <= 21);
    CHECK(insert_f32(x, 22, v[21], D) == 0); /* the rolled-back row can come again */
    CHECK(graph_consistent(db, D));
    /* a failing insert (the row exists) leaves everything as it was */
    CHECK(lsq_vidx_insert(x, 5, &(lsq_vec){ LSQ_VEC_F32, D, (const unsigned char *)v[30] }, &err) == -1);
    sqlite3_free(err);
    CHECK(search_f32(x, v[0], D, 40, got, &n) == 0 && n == 22);
    CHECK(graph_consistent(db, D));
    lsq_vidx_close(x);
out:
    sqlite3_close(db);
}

/* A graph built by another handle (a cold cache, as on a file libSQL
 * built), then vectors updated (delete + insert of the same rowid) and
 * rows added: blocks the cache did not know at the delete keep edges to
 * the old vectors, and when such an edge moves to another slot (libSQL's
 * removal puts the last edge in the hole) its stored vector and distance
 * must move together. */
static void test_stale_edges_move_whole(void)
{
    enum { N = 400, D = 8, ROUNDS = 4 };
    float v[D];
    sqlite3 *db = NULL;
    lsq_vidx *x;
    unsigned i, j, r;
    char *err = NULL;

    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    x = make_index(db, D, NULL, 0);
    CHECK(x != NULL);
    if (x == NULL) goto out;
    for (i = 0; i < N; i++) {
        for (j = 0; j < D; j++) v[j] = rnd();
        CHECK(insert_f32(x, i + 1, v, D) == 0);
    }
    for (r = 0; r < ROUNDS; r++) {
        lsq_vidx_close(x); /* cold again */
        x = NULL;
        CHECK(lsq_vidx_open(db, "main", "t_idx", &x, &err) == 0);
        if (x == NULL) goto out;
        for (i = 1; i <= 20; i++) { /* UPDATE t SET e = ... */
            for (j = 0; j < D; j++) v[j] = rnd();
            CHECK(lsq_vidx_delete(x, r * 20 + i, &err) == 0);
            CHECK(insert_f32(x, r * 20 + i, v, D) == 0);
        }
        for (i = 0; i < 40; i++) {
            for (j = 0; j < D; j++) v[j] = rnd();
            CHECK(insert_f32(x, N + r * 40 + i + 1, v, D) == 0);
        }
        CHECK(edges_self_consistent(db, D));
    }
    lsq_vidx_close(x);
out:
    sqlite3_close(db);
}

/* lsq_vidx_defer: neighbour blocks are written once, at lsq_vidx_flush;
 * until then searches of the handle see every write; after the flush the
 * file is what a cold handle (or libSQL) reads; lsq_vidx_discard before a
 * ROLLBACK leaves the index as it was. */
static void test_deferred_writes(void)
{
    enum { N = 150, D = 8 };
    float v[N + 40][D];
    sqlite3 *db = NULL;
    lsq_vidx *x, *y = NULL;
    unsigned i, j, n = 0;
    int64_t got[N + 40];
    char *err = NULL;

    for (i = 0; i < N + 40; i++)
        for (j = 0; j < D; j++) v[i][j] = rnd();
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    x = make_index(db, D, NULL, 0);
    CHECK(x != NULL);
    if (x == NULL) goto out;
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    lsq_vidx_defer(db);
    for (i = 0; i < N; i++) CHECK(insert_f32(x, i + 1, v[i], D) == 0);
    for (i = 0; i < 10; i++) CHECK(lsq_vidx_delete(x, 3 * i + 1, &err) == 0);      /* deletes */
    for (i = 0; i < 5; i++) {                                                        /* updates */
        CHECK(lsq_vidx_delete(x, 40 + i, &err) == 0);
        CHECK(insert_f32(x, 40 + i, v[N + i], D) == 0);
    }
    CHECK(search_f32(x, v[5], D, N + 40, got, &n) == 0 && n == N - 10);
    CHECK(lsq_vidx_flush(db, &err) == 0);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(graph_consistent(db, D));
    CHECK(lsq_vidx_open(db, "main", "t_idx", &y, &err) == 0); /* a cold handle reads the same graph */
    if (y != NULL) {
        int64_t a[N], b[N];
        unsigned na = 0, nb = 0;

        CHECK(search_f32(y, v[7], D, N, a, &na) == 0 && search_f32(x, v[7], D, N, b, &nb) == 0);
        CHECK(na == N - 10 && nb == na && memcmp(a, b, na * sizeof *a) == 0);
        lsq_vidx_close(y);
    }
    /* undone: discard, then ROLLBACK */
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    lsq_vidx_defer(db);
    for (i = N; i < N + 40; i++) CHECK(insert_f32(x, i + 1, v[i], D) == 0);
    lsq_vidx_discard(db);
    CHECK(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(search_f32(x, v[5], D, N + 40, got, &n) == 0 && n == N - 10);
    for (i = 0; i < n; i++) CHECK(got[i] >= 1 && got[i] <= N);
    CHECK(graph_consistent(db, D));
    /* a handle closed with writes pending writes them */
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    lsq_vidx_defer(db);
    for (i = N; i < N + 20; i++) CHECK(insert_f32(x, i + 1, v[i], D) == 0);
    lsq_vidx_close(x);
    x = NULL;
    CHECK(lsq_vidx_flush(db, &err) == 0);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(graph_consistent(db, D));
out:
    lsq_vidx_close(x);
    sqlite3_close(db);
}

static int shadow_rows(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int n = -1;

    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t_idx_shadow", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* A bulk build (CREATE INDEX's fill) keeps every new block for its end
 * and writes it whole: the graph comes out complete, consistent and as
 * good as one built row by row, also when the cache's budget makes it
 * write part way and go on from the file; undone, it leaves nothing; a
 * write by another connection during it is an error, not a smaller
 * graph. */
static void test_bulk_build(void)
{
    enum { N = 2000, D = 32, Q = 40, K = 10 };
    float *vs = malloc(sizeof(float) * (N + Q) * D);
    static const char *const names[] = { "b.db" };
    unsigned i, hits, pass;
    char *err = NULL;

    CHECK(vs != NULL);
    if (vs == NULL) return;
    for (i = 0; i < (N + Q) * D; i++) vs[i] = rnd();
    for (pass = 0; pass < 2; pass++) {
        sqlite3 *db = NULL;
        lsq_vidx *x;
        int mid;

        CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
        x = make_index(db, D, NULL, 0);
        CHECK(x != NULL);
        if (x == NULL) {
            sqlite3_close(db);
            continue;
        }
        /* pass 1: a budget of about a thousand nodes: past it the build
         * writes what it has, drops its cache and goes on from the file,
         * again every few rows as the cache refills */
        if (pass == 1) lsq_vidx_set_cache_budget(512 * 1024);
        CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
        lsq_vidx_bulk_begin(x);
        for (i = 0; i < N; i++)
            if (insert_f32(x, i + 1, vs + (size_t)i * D, D) != 0) break;
        CHECK(i == N);
        mid = shadow_rows(db);
        if (pass == 0) CHECK(mid == 0);
        else CHECK(mid > 0); /* written part way: the budget's path ran */
        CHECK(lsq_vidx_bulk_end(x, 1, &err) == 0);
        CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
        lsq_vidx_set_cache_budget(0);
        CHECK(shadow_rows(db) == N);
        CHECK(graph_consistent(db, D));
        hits = recall_hits(x, vs, N, D, Q);
        fprintf(stderr, "  bulk build%s: recall@10 at %d x %d: %.3f (%d of %d blocks written part way)\n",
                pass ? " with a small budget" : "", N, D, hits / (double)(Q * K), mid, N);
        CHECK(hits >= 0.95 * Q * K);
        /* undone: nothing of it stays, and the handle goes on */
        CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
        lsq_vidx_bulk_begin(x);
        for (i = 0; i < 20; i++) CHECK(insert_f32(x, N + 1 + i, vs + (size_t)(N + i) * D, D) == 0);
        CHECK(lsq_vidx_bulk_end(x, 0, &err) == 0);
        CHECK(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
        CHECK(shadow_rows(db) == N && graph_consistent(db, D));
        CHECK(insert_f32(x, N + 1, vs + (size_t)N * D, D) == 0 && shadow_rows(db) == N + 1);
        lsq_vidx_close(x);
        sqlite3_close(db);
    }
    {
        /* another connection writes during the build */
        tmpdir t;
        sqlite3 *a = NULL, *b = NULL;
        lsq_vidx *xa = NULL;

        CHECK(tmpdir_make(&t) == 0);
        CHECK(sqlite3_open(tmpdir_file(&t, "b.db"), &a) == SQLITE_OK);
        CHECK(sqlite3_open(tmpdir_file(&t, "b.db"), &b) == SQLITE_OK);
        xa = make_index(a, D, NULL, 0);
        CHECK(xa != NULL);
        if (xa != NULL) {
            lsq_vidx_bulk_begin(xa);
            for (i = 0; i < 10; i++) CHECK(insert_f32(xa, i + 1, vs + (size_t)i * D, D) == 0);
            CHECK(sqlite3_exec(b, "CREATE TABLE z(a)", NULL, NULL, NULL) == SQLITE_OK);
            for (i = 10; i < 20; i++) CHECK(insert_f32(xa, i + 1, vs + (size_t)i * D, D) == 0);
            CHECK(lsq_vidx_bulk_end(xa, 1, &err) == -1 && err != NULL &&
                  strcmp(err, "vector index: the file changed during the build") == 0);
            sqlite3_free(err);
            err = NULL;
            CHECK(shadow_rows(a) == 0);
        }
        lsq_vidx_close(xa);
        sqlite3_close(a);
        sqlite3_close(b);
        tmpdir_remove(&t, names, 1);
    }
    free(vs);
}

/* Writes by another connection are seen (PRAGMA data_version). */
static void test_other_connection(void)
{
    enum { D = 8 };
    float v[30][D];
    tmpdir t;
    sqlite3 *a = NULL, *b = NULL;
    lsq_vidx *xa = NULL, *xb = NULL;
    unsigned i, j, n = 0;
    int64_t got[30];
    char *err = NULL;
    static const char *const names[] = { "v.db" };

    for (i = 0; i < 30; i++)
        for (j = 0; j < D; j++) v[i][j] = rnd();
    CHECK(tmpdir_make(&t) == 0);
    CHECK(sqlite3_open(tmpdir_file(&t, "v.db"), &a) == SQLITE_OK);
    CHECK(sqlite3_open(tmpdir_file(&t, "v.db"), &b) == SQLITE_OK);
    xa = make_index(a, D, NULL, 0);
    CHECK(xa != NULL && lsq_vidx_open(b, "main", "t_idx", &xb, &err) == 0);
    if (xa == NULL || xb == NULL) goto out;
    for (i = 0; i < 10; i++) CHECK(insert_f32(xa, i + 1, v[i], D) == 0);
    CHECK(search_f32(xb, v[0], D, 30, got, &n) == 0 && n == 10);
    for (i = 10; i < 30; i++) CHECK(insert_f32(xb, i + 1, v[i], D) == 0);
    CHECK(lsq_vidx_delete(xb, 1, &err) == 0);
    CHECK(search_f32(xa, v[0], D, 30, got, &n) == 0 && n == 29);
    for (i = 0; i < n; i++) CHECK(got[i] != 1);
    CHECK(graph_consistent_z(a, D, 1)); /* b's cache knew only some in-edges of row 1 */
out:
    lsq_vidx_close(xa);
    lsq_vidx_close(xb);
    sqlite3_close(a);
    sqlite3_close(b);
    tmpdir_remove(&t, names, 1);
}

static const test_case k_tests[] = {
    TEST(test_column_type_errors), TEST(test_option_errors), TEST(test_options_values),
    TEST(test_meta_default), TEST(test_block_sizes), TEST(test_schema_and_example_block),
    TEST(test_recall), TEST(test_delete), TEST(test_delete_keeps_reach), TEST(test_zombies), TEST(test_rollback),
    TEST(test_other_connection), TEST(test_stale_edges_move_whole), TEST(test_deferred_writes), TEST(test_bulk_build),
};

const test_suite diskann_suite = SUITE("diskann", k_tests);
