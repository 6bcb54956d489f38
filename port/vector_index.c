/*
 * vector_index.c - libSQL's vector indexes kept on a stock SQLite handle
 * (vector_index.h): the list of the file's vector indexes, their TEMP
 * maintenance triggers, the work around CREATE and DROP, and the b-tree
 * repair.
 */
#include "vector_index.h"

#include <stdint.h>
#include <string.h>

#include "vector.h"
#include "vector_ddl.h"
#include "vector_sql.h"

const char lsq_vindex_savepoint[] = "libsql_vector_ddl";

/* The maintenance triggers' names: prefix, kind, index name. */
#define TRIGGER_PREFIX "libsql_vidx_"

typedef struct {
    char *name, *table;
    lsq_vddl ddl;      /* its column, options and WHERE */
    char *bad;         /* why its text is not a vector index libSQL accepts, or NULL */
    char *key;         /* what keys its rows: _rowid_, or a WITHOUT ROWID table's
                          INTEGER primary key (quoted) */
    lsq_vidx *open;    /* opened on first use */
} vx_index;

struct lsq_vindex {
    sqlite3 *db;
    int writable;
    int loaded;               /* idx matches main's schema_version below */
    int dirty;                /* our own DDL ran: read the schema again */
    unsigned data_version;    /* main's, when last loaded */
    int schema_version;       /* main's, when last loaded */
    int temp_version;         /* temp's, after the triggers were last made */
    vx_index *idx;
    int n;
    sqlite3_stmt *main_sv, *temp_sv; /* the two schema_version pragmas, kept */
    int made;                 /* triggers of ours were made on this handle */
    int ready_pending;        /* the work at open is still to do (lsq_vindex_ready) */
};

/* ---- small SQL helpers --------------------------------------------------------- */

static int db_error(sqlite3 *db, char **err)
{
    *err = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    return -1;
}

static int exec(sqlite3 *db, const char *sql, char **err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

    if (rc == SQLITE_OK) return 0;
    *err = msg != NULL ? msg : sqlite3_mprintf("%s", sqlite3_errstr(rc));
    return -1;
}

/* exec of a sqlite3_mprintf'd statement (NULL: out of memory), freed. */
static int exec_owned(sqlite3 *db, char *sql, char **err)
{
    int rc;

    if (sql == NULL) {
        *err = NULL;
        return -1;
    }
    rc = exec(db, sql, err);
    sqlite3_free(sql);
    return rc;
}

/* One integer from a statement of no parameters; -1 with *err. */
static int one_int(sqlite3 *db, const char *sql, int *out, char **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
        db_error(db, err);
        (void)sqlite3_finalize(st);
        return -1;
    }
    (void)sqlite3_finalize(st);
    return 0;
}

/* One integer from a kept statement (prepared on first use). */
static int kept_int(sqlite3 *db, sqlite3_stmt **st, const char *sql, int *out, char **err)
{
    int rc;

    if (*st == NULL &&
        sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_error(db, err);
    rc = sqlite3_step(*st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int(*st, 0);
    (void)sqlite3_reset(*st);
    if (rc != SQLITE_ROW) return db_error(db, err);
    return 0;
}

/* ---- the list of the file's vector indexes ----------------------------------- */

static void free_list(lsq_vindex *x)
{
    int i;

    for (i = 0; i < x->n; i++) {
        sqlite3_free(x->idx[i].name);
        sqlite3_free(x->idx[i].table);
        sqlite3_free(x->idx[i].bad);
        sqlite3_free(x->idx[i].key);
        lsq_vddl_free(&x->idx[i].ddl);
        lsq_vidx_close(x->idx[i].open);
    }
    sqlite3_free(x->idx);
    x->idx = NULL;
    x->n = 0;
    x->loaded = 0;
}

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *z = sqlite3_column_text(st, col);

    return sqlite3_mprintf("%s", z != NULL ? (const char *)z : "");
}

/* What keys a table's rows in its index: _rowid_, or for a WITHOUT ROWID
 * table its single INTEGER primary key (libSQL keys on that value; its
 * other shape, for a text key, is not built here). *key sqlite3_malloc'd,
 * or NULL with *why (sqlite3_malloc'd) when the table cannot be indexed.
 * -1 with *err when a query failed. */
static int key_of(lsq_vindex *x, const char *table, char **key, char **why, char **err)
{
    sqlite3_stmt *st = NULL;
    int rc, without_rowid, n = 0;
    char *pk = NULL;

    *key = *why = NULL;
    if (sqlite3_prepare_v2(x->db, "SELECT wr FROM main.pragma_table_list WHERE name = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return db_error(x->db, err);
    (void)sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    without_rowid = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    (void)sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(x->db, err);
    if (!without_rowid) {
        *key = sqlite3_mprintf("_rowid_");
        return *key != NULL ? 0 : (*err = NULL, -1);
    }
    if (sqlite3_prepare_v2(x->db, "SELECT name, upper(type) LIKE '%INT%' FROM main.pragma_table_info(?1) "
                                  "WHERE pk > 0", -1, &st, NULL) != SQLITE_OK)
        return db_error(x->db, err);
    (void)sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == 0 && sqlite3_column_int(st, 1))
            pk = sqlite3_mprintf("\"%w\"", (const char *)sqlite3_column_text(st, 0));
    }
    (void)sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        sqlite3_free(pk);
        return db_error(x->db, err);
    }
    if (n == 1 && pk != NULL) {
        *key = pk;
        return 0;
    }
    sqlite3_free(pk);
    *why = sqlite3_mprintf(n == 1 ? "vector index: unsupported for tables without ROWID and a "
                                    "non-INTEGER primary key"
                                  : "vector index: unsupported for tables without ROWID and "
                                    "composite primary key");
    return 0;
}

/* Reads main's vector indexes. One whose text libSQL would refuse keeps
 * the reason (`bad`): a CREATE INDEX fails with it; one already in a file
 * (written by hand) is left alone, without triggers. */
static int load_list(lsq_vindex *x, char **err)
{
    static const char sql[] =
        "SELECT name, tbl_name, sql FROM main.sqlite_master "
        "WHERE type = 'index' AND sql LIKE '%libsql_vector_idx%'";
    sqlite3_stmt *st = NULL;
    int rc;

    free_list(x);
    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) return db_error(x->db, err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 2);
        vx_index e, *grown;
        char *why = NULL;

        memset(&e, 0, sizeof e);
        if (text == NULL) continue;
        switch (lsq_vddl_parse(text, &e.ddl, &why)) {
        case 1:
            break;
        case 0:
            continue; /* libsql_vector_idx only in a WHERE, say: an ordinary index */
        default:
            e.bad = why != NULL ? why : sqlite3_mprintf("out of memory");
            if (e.bad == NULL) {
                (void)sqlite3_finalize(st);
                *err = NULL;
                return -1;
            }
        }
        e.name = dup_text(st, 0);
        e.table = dup_text(st, 1);
        if (e.bad == NULL && e.table != NULL && key_of(x, e.table, &e.key, &e.bad, err) != 0) {
            sqlite3_free(e.name);
            sqlite3_free(e.table);
            lsq_vddl_free(&e.ddl);
            (void)sqlite3_finalize(st);
            return -1;
        }
        grown = sqlite3_realloc64(x->idx, sizeof *grown * (size_t)(x->n + 1));
        if (e.name == NULL || e.table == NULL || grown == NULL) {
            sqlite3_free(e.name);
            sqlite3_free(e.table);
            sqlite3_free(e.bad);
            sqlite3_free(e.key);
            lsq_vddl_free(&e.ddl);
            if (grown != NULL) x->idx = grown;
            (void)sqlite3_finalize(st);
            *err = NULL;
            return -1;
        }
        x->idx = grown;
        x->idx[x->n++] = e;
    }
    (void)sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_error(x->db, err);
    x->loaded = 1;
    return 0;
}

static vx_index *find(lsq_vindex *x, const char *name)
{
    int i;

    for (i = 0; i < x->n; i++)
        if (sqlite3_stricmp(x->idx[i].name, name) == 0) return &x->idx[i];
    return NULL;
}

/* ---- triggers ------------------------------------------------------------------ */

/* The condition a row must meet to be in the index: its vector is not
 * NULL, and a partial index's WHERE holds for it (evaluated on the row as
 * the table holds it, so the WHERE's text needs no rewriting). */
static char *row_in_index(const vx_index *e)
{
    if (e->ddl.where == NULL) return sqlite3_mprintf("new.\"%w\" IS NOT NULL", e->ddl.column);
    return sqlite3_mprintf("new.\"%w\" IS NOT NULL AND EXISTS (SELECT 1 FROM main.\"%w\" "
                           "WHERE %s = new.%s AND (%s))",
                           e->ddl.column, e->table, e->key, e->key, e->ddl.where);
}

/* The three triggers of an index. Their SQL names the key as new.K and
 * old.K (K _rowid_ or the primary key). */
static int make_triggers(lsq_vindex *x, const vx_index *e, char **err)
{
    char *cond = row_in_index(e), *when = NULL, *sql = NULL;
    const char *k = e->key;
    int rc;

    if (cond == NULL) goto nomem;
    when = e->ddl.where == NULL
               ? sqlite3_mprintf("WHEN old.%s IS NOT new.%s OR old.\"%w\" IS NOT new.\"%w\"",
                                 k, k, e->ddl.column, e->ddl.column)
               : sqlite3_mprintf("%s", ""); /* a partial index: any column may matter */
    if (when == NULL) goto nomem;
    /* The insert trigger removes the rowid first, whatever the new row:
     * INSERT OR REPLACE of a row with the same rowid fires no delete
     * trigger, and the new row may have no vector. */
    sql = sqlite3_mprintf(
        "CREATE TEMP TRIGGER IF NOT EXISTS \"" TRIGGER_PREFIX "i_%w\" AFTER INSERT ON main.\"%w\" "
        "BEGIN SELECT libsql_vidx_update('main', %Q, new.%s, CASE WHEN %s THEN new.%s END, "
        "new.\"%w\"); END;"
        "CREATE TEMP TRIGGER IF NOT EXISTS \"" TRIGGER_PREFIX "d_%w\" AFTER DELETE ON main.\"%w\" "
        "BEGIN SELECT libsql_vidx_update('main', %Q, old.%s, NULL, NULL); END;"
        "CREATE TEMP TRIGGER IF NOT EXISTS \"" TRIGGER_PREFIX "u_%w\" AFTER UPDATE ON main.\"%w\" "
        "%s BEGIN SELECT libsql_vidx_update('main', %Q, old.%s, NULL, NULL);"
        " SELECT libsql_vidx_update('main', %Q, NULL, new.%s, new.\"%w\") WHERE %s; END;",
        e->name, e->table, e->name, k, cond, k, e->ddl.column,
        e->name, e->table, e->name, k,
        e->name, e->table, when, e->name, k, e->name, k, e->ddl.column, cond);
    if (sql == NULL) goto nomem;
    rc = exec(x->db, sql, err);
    sqlite3_free(sql);
    sqlite3_free(when);
    sqlite3_free(cond);
    return rc;
nomem:
    sqlite3_free(when);
    sqlite3_free(cond);
    *err = NULL;
    return -1;
}

/* Drops the triggers of indexes that are gone. */
static int drop_stale_triggers(lsq_vindex *x, char **err)
{
    static const char sql[] = "SELECT name FROM temp.sqlite_master WHERE type = 'trigger' "
                              "AND name LIKE '" TRIGGER_PREFIX "%'";
    sqlite3_stmt *st = NULL;
    char **stale = NULL;
    int n = 0, i, rc, out = 0;

    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) return db_error(x->db, err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        char **grown;

        /* TRIGGER_PREFIX, a kind letter, '_', the index's name */
        if (name == NULL || strlen(name) < sizeof TRIGGER_PREFIX + 2) continue;
        if (find(x, name + sizeof TRIGGER_PREFIX + 1) != NULL) continue;
        grown = sqlite3_realloc64(stale, sizeof *grown * (size_t)(n + 1));
        if (grown == NULL || (grown[n] = sqlite3_mprintf("%s", name)) == NULL) {
            if (grown != NULL) stale = grown;
            out = -1;
            *err = NULL;
            break;
        }
        stale = grown;
        n++;
    }
    (void)sqlite3_finalize(st);
    if (out == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW) out = db_error(x->db, err);
    for (i = 0; i < n; i++) {
        if (out == 0) out = exec_owned(x->db, sqlite3_mprintf("DROP TRIGGER IF EXISTS temp.\"%w\"", stale[i]), err);
        sqlite3_free(stale[i]);
    }
    sqlite3_free(stale);
    return out;
}

static int ensure_triggers(lsq_vindex *x, char **err)
{
    int i;

    if (drop_stale_triggers(x, err) != 0) return -1;
    if (x->n > 0 && lsq_vidx_prepare_connection(x->db, err) != 0) return -1;
    if (x->n > 0) x->made = 1;
    for (i = 0; i < x->n; i++)
        if (x->idx[i].bad == NULL && make_triggers(x, &x->idx[i], err) != 0) return -1;
    return kept_int(x->db, &x->temp_sv, "PRAGMA temp.schema_version", &x->temp_version, err);
}

/* ---- keeping up with the schema ---------------------------------------------- */

static unsigned data_version(sqlite3 *db)
{
    unsigned v = 0;

    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_DATA_VERSION, &v) != SQLITE_OK) return 0;
    return v;
}

/* The list matches main's schema, and (writable) the triggers match the
 * list. main's schema_version is read only when another connection
 * committed, our own DDL ran, or there are vector indexes (a rollback
 * may have undone a CREATE or the triggers). */
static int sync_list(lsq_vindex *x, char **err)
{
    unsigned dv = data_version(x->db);
    int sv;

    if (!x->loaded || x->dirty || dv != x->data_version || x->n > 0) {
        if (kept_int(x->db, &x->main_sv, "PRAGMA main.schema_version", &sv, err) != 0) return -1;
        if (!x->loaded || sv != x->schema_version) {
            if (load_list(x, err) != 0) return -1;
            x->schema_version = sv;
            x->temp_version = -1;
        }
        x->data_version = dv;
        x->dirty = 0;
    }
    return 0;
}

/* sync_list, then the triggers. Never while a statement of the
 * connection is running (a search): creating them changes the schema. */
static int sync(lsq_vindex *x, char **err)
{
    int tv;

    if (sync_list(x, err) != 0) return -1;
    if (!x->writable) return 0;
    /* No vector index and no trigger of ours: the temp database is not
     * even opened (it would show in database_list and hold a file). */
    if (x->n == 0 && (!x->made || x->temp_version != -1)) return 0;
    if (kept_int(x->db, &x->temp_sv, "PRAGMA temp.schema_version", &tv, err) != 0) return -1;
    if (tv == x->temp_version) return 0;
    return ensure_triggers(x, err);
}

int lsq_vindex_before_write(lsq_vindex *x, char **err)
{
    return sync(x, err);
}

void lsq_vindex_set_writable(lsq_vindex *x, int writable)
{
    x->writable = writable;
    x->temp_version = -1;
}

lsq_vidx *lsq_vindex_get(lsq_vindex *x, const char *schema, const char *name, char **err)
{
    vx_index *e;

    if (sync_list(x, err) != 0) return NULL;
    if (find(x, name) == NULL) {
        /* Perhaps restored by a ROLLBACK since the list was read. */
        x->dirty = 1;
        if (sync_list(x, err) != 0) return NULL;
    }
    /* libSQL looks the name up in its metadata table, as given: case
     * matters there (not to SQLite's own names). */
    if (sqlite3_stricmp(schema, "main") != 0 || (e = find(x, name)) == NULL ||
        strcmp(e->name, name) != 0 || e->bad != NULL) {
        *err = sqlite3_mprintf("vector index(search): failed to parse vector index parameters");
        return NULL;
    }
    if (e->open == NULL && lsq_vidx_open(x->db, "main", e->name, &e->open, err) != 0) return NULL;
    return e->open;
}

/* ---- the maintenance function ------------------------------------------------- */

static int insert_row(lsq_vidx *vi, sqlite3_int64 rowid, sqlite3_value *v, char **err)
{
    unsigned char *buf;
    lsq_vec vec;
    int rc;

    /* a blob by §1, text as FLOAT32, as libSQL's index reads a row */
    if (lsq_vec_from_value(v, LSQ_VEC_F32, &vec, &buf, err) != 0) return -1;
    rc = lsq_vidx_insert(vi, rowid, &vec, err);
    sqlite3_free(buf);
    return rc;
}

/* libsql_vidx_update(schema, index, old_rowid, new_rowid, vector): the
 * old row leaves the graph, the new one (if new_rowid is not NULL)
 * enters it. Called by the triggers only. */
static void fn_update(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    lsq_vindex *x = sqlite3_user_data(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[1]);
    char *err = NULL;
    lsq_vidx *vi;
    vx_index *e;

    (void)argc;
    if (name == NULL) return;
    if ((e = find(x, name)) == NULL) {
        /* Not in the list, yet its trigger fired: a ROLLBACK brought it
         * back (the triggers came back with it). Read the list again. */
        x->dirty = 1;
        if (sync_list(x, &err) != 0) goto fail;
        e = find(x, name);
    }
    if (e == NULL || e->bad != NULL) return; /* gone: nothing to keep */
    if (e->open == NULL && lsq_vidx_open(x->db, "main", e->name, &e->open, &err) != 0) goto fail;
    vi = e->open;
    if (sqlite3_value_type(argv[2]) != SQLITE_NULL &&
        lsq_vidx_delete(vi, sqlite3_value_int64(argv[2]), &err) != 0)
        goto fail;
    if (sqlite3_value_type(argv[3]) != SQLITE_NULL &&
        insert_row(vi, sqlite3_value_int64(argv[3]), argv[4], &err) != 0)
        goto fail;
    return;
fail:
    if (err == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_error(ctx, err, -1);
    sqlite3_free(err);
}

/* ---- CREATE and DROP ------------------------------------------------------------ */

int lsq_vindex_check_create(const char *sql, char **err)
{
    lsq_vddl d;
    int rc = lsq_vddl_parse(sql, &d, err);

    if (rc == 1) lsq_vddl_free(&d);
    return rc < 0 ? -1 : 0;
}

int lsq_vindex_ddl_begin(lsq_vindex *x, char **err)
{
    return exec_owned(x->db, sqlite3_mprintf("SAVEPOINT %s", lsq_vindex_savepoint), err);
}

/* Whether main holds libSQL's metadata table; and whether index has a row in it. */
static int has_meta_table(lsq_vindex *x, int *yes, char **err)
{
    return one_int(x->db, "SELECT count(*) FROM main.sqlite_master WHERE type = 'table' "
                          "AND name = 'libsql_vector_meta_shadow'", yes, err);
}

static int has_meta_row(lsq_vindex *x, const char *name, int *yes, char **err)
{
    char *sql = sqlite3_mprintf("SELECT count(*) FROM main.libsql_vector_meta_shadow WHERE name = %Q",
                                name);
    int rc;

    if (sql == NULL) {
        *err = NULL;
        return -1;
    }
    rc = one_int(x->db, sql, yes, err);
    sqlite3_free(sql);
    return rc;
}

/* The metadata rows (and shadow tables) of indexes that no longer exist. */
static int drop_orphans(lsq_vindex *x, char **err)
{
    static const char sql[] =
        "SELECT name FROM main.libsql_vector_meta_shadow WHERE name NOT IN "
        "(SELECT name FROM main.sqlite_master WHERE type = 'index')";
    sqlite3_stmt *st = NULL;
    char *name = NULL;
    int rc;

    /* One at a time: dropping changes the table being read. */
    for (;;) {
        if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) return db_error(x->db, err);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) name = dup_text(st, 0);
        (void)sqlite3_finalize(st);
        if (rc == SQLITE_DONE) return 0;
        if (rc != SQLITE_ROW) return db_error(x->db, err);
        if (name == NULL) {
            *err = NULL;
            return -1;
        }
        rc = lsq_vidx_drop(x->db, "main", name, err);
        sqlite3_free(name);
        name = NULL;
        if (rc != 0) return -1;
    }
}

/* The declared type of the index's column, and whether its table has
 * rowids. */
static int column_facts(lsq_vindex *x, const vx_index *e, char **decl, int *rowid_table, char **err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *decl = NULL;
    if (sqlite3_prepare_v2(x->db, "SELECT type FROM main.pragma_table_xinfo(?1) WHERE name = ?2 "
                                  "COLLATE NOCASE", -1, &st, NULL) != SQLITE_OK)
        return db_error(x->db, err);
    (void)sqlite3_bind_text(st, 1, e->table, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, e->ddl.column, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *decl = dup_text(st, 0);
    (void)sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        *err = sqlite3_mprintf("vector index: libsql_vector_idx first argument must be a column token");
        return -1;
    }
    if (rc != SQLITE_ROW) return db_error(x->db, err);
    if (*decl == NULL) {
        *err = NULL;
        return -1;
    }
    if (sqlite3_prepare_v2(x->db, "SELECT wr FROM main.pragma_table_list WHERE name = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return db_error(x->db, err);
    (void)sqlite3_bind_text(st, 1, e->table, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *rowid_table = !(rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0);
    (void)sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(x->db, err);
    return 0;
}

/* Every row of the table already there goes into the new graph, in rowid
 * order (as libSQL fills it). */
static int fill(lsq_vindex *x, vx_index *e, char **err)
{
    sqlite3_stmt *st = NULL;
    char *sql;
    int rc, failed = 0;

    if (e->open == NULL && lsq_vidx_open(x->db, "main", e->name, &e->open, err) != 0) return -1;
    sql = sqlite3_mprintf("SELECT %s, \"%w\" FROM main.\"%w\" WHERE \"%w\" IS NOT NULL%s%s%s "
                          "ORDER BY %s",
                          e->key, e->ddl.column, e->table, e->ddl.column,
                          e->ddl.where != NULL ? " AND (" : "",
                          e->ddl.where != NULL ? e->ddl.where : "",
                          e->ddl.where != NULL ? ")" : "", e->key);
    if (sql == NULL) {
        *err = NULL;
        return -1;
    }
    rc = sqlite3_prepare_v2(x->db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return db_error(x->db, err);
    /* each block written once, at the end, rather than per row inserted */
    lsq_vidx_bulk_begin(e->open);
    while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW)
        failed = insert_row(e->open, sqlite3_column_int64(st, 0), sqlite3_column_value(st, 1), err) != 0;
    (void)sqlite3_finalize(st);
    if (!failed && rc != SQLITE_DONE) failed = db_error(x->db, err) != 0;
    if (failed) {
        char *none = NULL; /* bulk_end sets none when it drops the build */

        (void)lsq_vidx_bulk_end(e->open, 0, &none);
        return -1;
    }
    return lsq_vidx_bulk_end(e->open, 1, err);
}

/* A vector index just created by SQL (no metadata row yet): check its
 * options, write libSQL's objects and fill the graph. */
static int build(lsq_vindex *x, vx_index *e, char **err)
{
    lsq_vidx_params p;
    char *decl = NULL;
    int rowid_table, rc;

    if (e->bad != NULL) {
        *err = sqlite3_mprintf("%s", e->bad);
        return -1;
    }
    if (column_facts(x, e, &decl, &rowid_table, err) != 0) return -1;
    (void)rowid_table; /* a WITHOUT ROWID table's key: key_of, when the list was read */
    rc = lsq_vidx_parse(decl, (const char *const *)e->ddl.opts, e->ddl.nopts, &p, err);
    sqlite3_free(decl);
    if (rc != 0) return -1;
    rc = lsq_vidx_create(x->db, "main", e->name, &p, (const char *const *)e->ddl.opts, e->ddl.nopts,
                         err);
    if (rc < 0) return -1;
    if (rc == 1) return 0; /* its meta row was there (a dump): kept, not refilled */
    return fill(x, e, err);
}

/* After a schema statement completed: shadow tables of dropped indexes go,
 * new vector indexes are built, triggers follow. */
static int reconcile(lsq_vindex *x, char **err)
{
    int meta = 0, row, i;

    x->dirty = 1;
    if (sync(x, err) != 0) return -1;
    if (has_meta_table(x, &meta, err) != 0) return -1;
    if (meta && drop_orphans(x, err) != 0) return -1;
    for (i = 0; i < x->n; i++) {
        row = 0;
        if (meta && has_meta_row(x, x->idx[i].name, &row, err) != 0) return -1;
        if (row) continue; /* libSQL's own, or a loaded dump: kept as it is */
        if (build(x, &x->idx[i], err) != 0) return -1;
        meta = 1;
    }
    return 0;
}

int lsq_vindex_ddl_end(lsq_vindex *x, int ok, char **err)
{
    char *why = NULL, *ignored = NULL;

    if (ok && reconcile(x, &why) == 0)
        return exec_owned(x->db, sqlite3_mprintf("RELEASE %s", lsq_vindex_savepoint), err);
    /* Undo the statement and what was done for it; the cached list and
     * opened indexes may describe what was undone. */
    free_list(x);
    x->temp_version = -1;
    (void)exec_owned(x->db, sqlite3_mprintf("ROLLBACK TO %s; RELEASE %s", lsq_vindex_savepoint,
                                            lsq_vindex_savepoint), &ignored);
    sqlite3_free(ignored);
    if (!ok) return 0; /* the statement's own error stands */
    *err = why;
    return -1;
}

/* ---- libSQL's empty b-trees -------------------------------------------------- */

/* Whether the index's b-tree has the table's rows: counts and rowid sums
 * through it and through the table. */
static int btree_stale(lsq_vindex *x, const vx_index *e, int *stale, char **err)
{
    const char *w = e->ddl.where;
    char *sql = sqlite3_mprintf(
        "SELECT (SELECT count(*) || ':' || total(%s) FROM main.\"%w\" INDEXED BY \"%w\"%s%s%s) IS NOT "
        "(SELECT count(*) || ':' || total(%s) FROM main.\"%w\" NOT INDEXED%s%s%s)",
        e->key, e->table, e->name, w ? " WHERE (" : "", w ? w : "", w ? ")" : "",
        e->key, e->table, w ? " WHERE (" : "", w ? w : "", w ? ")" : "");
    int rc;

    if (sql == NULL) {
        *err = NULL;
        return -1;
    }
    rc = one_int(x->db, sql, stale, err);
    sqlite3_free(sql);
    return rc;
}

static int reindex(lsq_vindex *x, const vx_index *e, char **err)
{
    return exec_owned(x->db, sqlite3_mprintf("REINDEX main.\"%w\"", e->name), err);
}

int lsq_vindex_repair(lsq_vindex *x, char **err)
{
    int i;

    if (sync(x, err) != 0) return -1;
    for (i = 0; i < x->n; i++)
        if (reindex(x, &x->idx[i], err) != 0) return -1;
    return x->n > 0;
}

/* At open: b-trees libSQL left without the rows it wrote are rebuilt,
 * so that integrity_check agrees and deletes find their entries. Best
 * effort: a busy file is repaired when a write needs it. */
static void repair_at_open(lsq_vindex *x)
{
    char *err = NULL;
    int i, stale;

    for (i = 0; i < x->n; i++) {
        stale = 0;
        if (x->idx[i].bad == NULL && btree_stale(x, &x->idx[i], &stale, &err) == 0 && stale)
            (void)reindex(x, &x->idx[i], &err);
        sqlite3_free(err);
        err = NULL;
    }
}

/* ---- attach ----------------------------------------------------------------- */

void lsq_vindex_detach(lsq_vindex *x)
{
    if (x == NULL) return;
    free_list(x);
    (void)sqlite3_finalize(x->main_sv);
    (void)sqlite3_finalize(x->temp_sv);
    x->main_sv = x->temp_sv = NULL;
}

static void destroy(void *p)
{
    lsq_vindex_detach(p);
    sqlite3_free(p);
}

void lsq_vindex_ready(lsq_vindex *x)
{
    x->ready_pending = 1;
}

void lsq_vindex_before_statement(lsq_vindex *x)
{
    char *err = NULL;

    if (!x->ready_pending) return;
    x->ready_pending = 0;
    if (sync(x, &err) == 0 && x->writable && x->n > 0) repair_at_open(x);
    sqlite3_free(err);
}

int lsq_vindex_attach(sqlite3 *db, int writable, lsq_vindex **out, char **err)
{
    lsq_vindex *x = sqlite3_malloc(sizeof *x);
    int rc;

    *out = NULL;
    if (x == NULL) {
        *err = NULL;
        return -1;
    }
    memset(x, 0, sizeof *x);
    x->db = db;
    x->writable = writable;
    x->temp_version = -1;
    /* Owned by the function from here: destroy runs when db closes (or
     * at once if registering fails). */
    rc = sqlite3_create_function_v2(db, "libsql_vidx_update", 5, SQLITE_UTF8 | SQLITE_DIRECTONLY, x,
                                    fn_update, NULL, NULL, destroy);
    if (rc != SQLITE_OK) return db_error(db, err);
    if (lsq_vector_topk_register(db, x) != SQLITE_OK) return db_error(db, err);
    *out = x;
    return 0;
}
