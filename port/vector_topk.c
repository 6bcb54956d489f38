/*
 * vector_topk.c - vector_top_k(index, query, k), libSQL's table-valued
 * function (../shared/vectors.md §5): the k nearest rows of a vector
 * index, nearest first, as one column `id` (the base row's rowid).
 *
 * An eponymous-only virtual table with hidden columns idx, vector and k.
 * Like libSQL's, its xBestIndex numbers each usable equality constraint
 * by its column, so a missing or unusable one leaves a gap that SQLite
 * reports as "vector_top_k.xBestIndex malfunction", and fewer than three
 * arguments reach xFilter, which reports libSQL's count error. Errors
 * are checked in libSQL's order: query vector, k, index name, schema,
 * index, then the index's own checks (dimensions, type).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vector.h"
#include "vector_index.h"
#include "vector_sql.h"

enum { COL_IDX, COL_VECTOR, COL_K, COL_ID };

/* The largest k a search is given room for (see topk_filter). */
#define TOPK_MAX (1u << 20)

typedef struct {
    sqlite3_vtab base;
    sqlite3 *db;
    lsq_vindex *x;
} topk_vtab;

typedef struct {
    sqlite3_vtab_cursor base;
    int64_t *ids;
    unsigned n, at;
} topk_cursor;

static int topk_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err)
{
    topk_vtab *v;
    int rc;

    (void)argc, (void)argv, (void)err;
    rc = sqlite3_declare_vtab(db, "CREATE TABLE x(idx hidden, vector hidden, k hidden, id)");
    if (rc != SQLITE_OK) return rc;
    v = sqlite3_malloc(sizeof *v);
    if (v == NULL) return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->db = db;
    v->x = aux;
    *out = &v->base;
    return SQLITE_OK;
}

static int topk_disconnect(sqlite3_vtab *base)
{
    sqlite3_free(base);
    return SQLITE_OK;
}

static int topk_best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
    int i;

    (void)base;
    for (i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
        if (c->iColumn < COL_IDX || c->iColumn > COL_K) continue;
        info->aConstraintUsage[i].argvIndex = c->iColumn + 1;
        info->aConstraintUsage[i].omit = 1;
    }
    info->estimatedCost = 1;
    info->estimatedRows = 100;
    return SQLITE_OK;
}

static int topk_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
    topk_cursor *c = sqlite3_malloc(sizeof *c);

    (void)base;
    if (c == NULL) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static void reset(topk_cursor *c)
{
    sqlite3_free(c->ids);
    c->ids = NULL;
    c->n = c->at = 0;
}

static int topk_close(sqlite3_vtab_cursor *cur)
{
    reset((topk_cursor *)cur);
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int set_error(topk_vtab *v, char *msg)
{
    sqlite3_free(v->base.zErrMsg);
    v->base.zErrMsg = msg;
    return msg == NULL ? SQLITE_NOMEM : SQLITE_ERROR;
}

static int search_error(topk_vtab *v, const char *why)
{
    return set_error(v, sqlite3_mprintf("vector index(search): %s", why));
}

/* k as libSQL reads it: an integer (taken as 32 bits), or a REAL with no
 * fraction. -1 with the error set. */
static int read_k(topk_vtab *v, sqlite3_value *arg, unsigned *k)
{
    sqlite3_int64 i;
    double r;

    switch (sqlite3_value_type(arg)) {
    case SQLITE_INTEGER:
        i = sqlite3_value_int64(arg);
        break;
    case SQLITE_FLOAT:
        r = sqlite3_value_double(arg);
        if (!(r == floor(r)) || r > 9.2e18 || r < -9.2e18)
            return search_error(v, "third parameter (k) must be an integer, but float value were provided"),
                   -1;
        i = (sqlite3_int64)r;
        break;
    default:
        return search_error(v, "third parameter (k) must be an integer, but unexpected type of value "
                               "were provided"),
               -1;
    }
    if ((int32_t)(uint32_t)(uint64_t)i < 0)
        return search_error(v, "third parameter (k) must be a non-negative integer, but negative value "
                               "were provided"),
               -1;
    *k = (unsigned)(int32_t)(uint32_t)(uint64_t)i;
    return 0;
}

/* Whether db has a schema of that name. */
static int schema_exists(sqlite3 *db, const char *name)
{
    const char *s;
    int i;

    for (i = 0; (s = sqlite3_db_name(db, i)) != NULL; i++)
        if (sqlite3_stricmp(s, name) == 0) return 1;
    return 0;
}

static int topk_filter(sqlite3_vtab_cursor *cur, int num, const char *str, int argc,
                       sqlite3_value **argv)
{
    topk_cursor *c = (topk_cursor *)cur;
    topk_vtab *v = (topk_vtab *)cur->pVtab;
    unsigned char *buf = NULL;
    const char *name, *dot;
    char *schema = NULL, *err = NULL;
    lsq_vidx *vi;
    unsigned k;
    lsq_vec q;
    int rc = SQLITE_ERROR;

    (void)num, (void)str;
    reset(c);
    if (argc != 3)
        return set_error(v, sqlite3_mprintf("vector index(search): got %d parameters, expected 3", argc));
    /* the query: a blob by §1's rules, text as FLOAT32 */
    if (lsq_vec_from_value(argv[1], LSQ_VEC_F32, &q, &buf, &err) != 0) return set_error(v, err);
    if (read_k(v, argv[2], &k) != 0) goto out;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT ||
        (name = (const char *)sqlite3_value_text(argv[0])) == NULL) {
        rc = search_error(v, "first parameter (index) must be a string");
        goto out;
    }
    if ((dot = strchr(name, '.')) != NULL) {
        schema = sqlite3_mprintf("%.*s", (int)(dot - name), name);
        if (schema == NULL) {
            rc = SQLITE_NOMEM;
            goto out;
        }
        if (!schema_exists(v->db, schema)) {
            rc = set_error(v, sqlite3_mprintf("vector index(search): unknown schema '%s'", schema));
            goto out;
        }
        name = dot + 1;
    }
    vi = lsq_vindex_get(v->x, schema != NULL ? schema : "main", name, &err);
    if (vi == NULL) {
        rc = set_error(v, err);
        goto out;
    }
    if (k == 0) {
        /* libSQL crashes on k = 0 with rows; none is the answer */
        rc = SQLITE_OK;
        goto out;
    }
    /* A search returns no more rows than it visits, about search_l (at
     * most 65536): room for k = 2^31 would only be memory asked for
     * nothing, and could fail. */
    if (k > TOPK_MAX) k = TOPK_MAX;
    c->ids = sqlite3_malloc64(sizeof *c->ids * (sqlite3_uint64)k);
    if (c->ids == NULL) {
        rc = SQLITE_NOMEM;
        goto out;
    }
    if (lsq_vidx_search(vi, &q, k, c->ids, &c->n, &err) != 0) {
        rc = set_error(v, err);
        reset(c);
        goto out;
    }
    rc = SQLITE_OK;
out:
    sqlite3_free(buf);
    sqlite3_free(schema);
    return rc;
}

static int topk_next(sqlite3_vtab_cursor *cur)
{
    ((topk_cursor *)cur)->at++;
    return SQLITE_OK;
}

static int topk_eof(sqlite3_vtab_cursor *cur)
{
    topk_cursor *c = (topk_cursor *)cur;

    return c->at >= c->n;
}

/* Every column, the hidden ones included, gives the id (as libSQL's). */
static int topk_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    topk_cursor *c = (topk_cursor *)cur;

    (void)col;
    sqlite3_result_int64(ctx, c->ids[c->at]);
    return SQLITE_OK;
}

static int topk_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    topk_cursor *c = (topk_cursor *)cur;

    *rowid = c->ids[c->at];
    return SQLITE_OK;
}

static const sqlite3_module k_topk = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only */
    .xConnect = topk_connect,
    .xBestIndex = topk_best_index,
    .xDisconnect = topk_disconnect,
    .xDestroy = topk_disconnect,
    .xOpen = topk_open,
    .xClose = topk_close,
    .xFilter = topk_filter,
    .xNext = topk_next,
    .xEof = topk_eof,
    .xColumn = topk_column,
    .xRowid = topk_rowid,
};

int lsq_vector_topk_register(sqlite3 *db, lsq_vindex *x)
{
    return sqlite3_create_module_v2(db, "vector_top_k", &k_topk, x, NULL);
}
