/*
 * extensions.c - SQLite extensions from an allowlist (extensions.h).
 */
#include "extensions.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct loaded {
    char *path;         /* the real path loaded */
    char *entry;        /* its entry point, or NULL */
    struct loaded *next;
} loaded;

struct lsq_extensions {
    char **allow;       /* the listed paths, as given */
    size_t n;
    loaded *done;       /* loaded so far, most recent first */
};

static char *copy(const char *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL) return NULL;
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

int extensions_allow(lsq_extensions **e, const char *const *paths, const size_t *lens,
                     size_t n, lsq_error *err)
{
    lsq_extensions *x;
    size_t i;

    if (*e != NULL) {
        lsq_error_set(err, LSQ_E_MISUSE, "the extensions a connection may load are given once, "
                      "when it opens");
        return -1;
    }
    x = calloc(1, sizeof *x);
    if (x == NULL || (n > 0 && (x->allow = calloc(n, sizeof *x->allow)) == NULL)) goto nomem;
    for (i = 0; i < n; i++) {
        if (lens[i] == 0 || memchr(paths[i], 0, lens[i]) != NULL) {
            extensions_free(&x);
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "extension %zu: a path is a non-empty binary "
                          "without NUL bytes", i + 1);
            return -1;
        }
        if ((x->allow[i] = copy(paths[i], lens[i])) == NULL) goto nomem;
        x->n = i + 1;
    }
    *e = x;
    return 0;
nomem:
    extensions_free(&x);
    lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
    return -1;
}

/* The allowed entry whose real path is real, or NULL. */
static const char *listed(const lsq_extensions *e, const char *real)
{
    char buf[PATH_MAX];
    size_t i;

    for (i = 0; e != NULL && i < e->n; i++)
        if (realpath(e->allow[i], buf) != NULL && strcmp(buf, real) == 0) return e->allow[i];
    return NULL;
}

/* sqlite3_load_extension with the C API enabled for the call only. */
static int load(sqlite3 *db, const char *real, const char *entry, lsq_error *err)
{
    char *msg = NULL;
    int rc;

    if (sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, NULL) != SQLITE_OK) {
        lsq_error_set(err, LSQ_E_INTERNAL, "cannot enable loading extensions");
        return -1;
    }
    rc = sqlite3_load_extension(db, real, entry, &msg);
    (void)sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    if (rc == SQLITE_OK) return 0;
    lsq_error_set(err, LSQ_E_ERROR, "extension %.300s: %.500s", real,
                  msg != NULL ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return -1;
}

int extensions_load(lsq_extensions *e, sqlite3 *db, const char *path, size_t n,
                    const char *entry, lsq_error *err)
{
    char real[PATH_MAX], *given = NULL;
    loaded *l;

    if (n == 0 || n >= PATH_MAX || memchr(path, 0, n) != NULL || (given = copy(path, n)) == NULL) {
        free(given);
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "an extension's path is a binary of 1 to %d "
                      "bytes without NUL", PATH_MAX - 1);
        return -1;
    }
    if (realpath(given, real) == NULL) {
        int e_no = errno;

        /* Listed or not, a file that is not there: say which it is only
         * for a listed one (the list is no oracle for other paths). */
        if (e != NULL) {
            size_t i;

            for (i = 0; i < e->n; i++)
                if (strcmp(e->allow[i], given) == 0) {
                    lsq_error_set(err, LSQ_E_CANTOPEN, "extension %.300s: %s", given,
                                  strerror(e_no));
                    free(given);
                    return -1;
                }
        }
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "extension %.300s is not one this connection "
                      "was opened to allow (the extensions option)", given);
        free(given);
        return -1;
    }
    if (listed(e, real) == NULL) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "extension %.300s is not one this connection "
                      "was opened to allow (the extensions option)", given);
        free(given);
        return -1;
    }
    free(given);
    if (load(db, real, entry, err) != 0) return -1;
    l = calloc(1, sizeof *l);
    if (l == NULL || (l->path = strdup(real)) == NULL ||
        (entry != NULL && (l->entry = strdup(entry)) == NULL)) {
        if (l != NULL) free(l->path);
        free(l);
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    l->next = e->done;
    e->done = l;
    return 0;
}

static int reapply(const loaded *l, sqlite3 *db, lsq_error *err)
{
    if (l == NULL) return 0;
    /* Oldest first, as they were loaded. */
    if (reapply(l->next, db, err) != 0) return -1;
    return load(db, l->path, l->entry, err);
}

int extensions_reapply(lsq_extensions *e, sqlite3 *db, lsq_error *err)
{
    return e != NULL ? reapply(e->done, db, err) : 0;
}

void extensions_free(lsq_extensions **e)
{
    lsq_extensions *x = *e;
    size_t i;

    if (x == NULL) return;
    for (i = 0; i < x->n; i++) free(x->allow[i]);
    free(x->allow);
    while (x->done != NULL) {
        loaded *l = x->done;

        x->done = l->next;
        free(l->path);
        free(l->entry);
        free(l);
    }
    free(x);
    *e = NULL;
}
