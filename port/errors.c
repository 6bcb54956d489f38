/*
 * errors.c - the one table from SQLite result codes to Erlang atoms,
 * and the encoder of error maps.
 */
#include "errors.h"
#include "term.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Indexed by primary result code (rc & 0xff). SQLITE_INTERRUPT maps to the
 * client code `interrupted` so that a cancelled query reads the same
 * whichever side stopped it. */
static const char *const aCodeAtom[] = {
    [SQLITE_OK] = "ok",
    [SQLITE_ERROR] = "error",
    [SQLITE_INTERNAL] = "internal",
    [SQLITE_PERM] = "perm",
    [SQLITE_ABORT] = "abort",
    [SQLITE_BUSY] = "busy",
    [SQLITE_LOCKED] = "locked",
    [SQLITE_NOMEM] = "nomem",
    [SQLITE_READONLY] = "readonly",
    [SQLITE_INTERRUPT] = "interrupted",
    [SQLITE_IOERR] = "ioerr",
    [SQLITE_CORRUPT] = "corrupt",
    [SQLITE_NOTFOUND] = "notfound",
    [SQLITE_FULL] = "full",
    [SQLITE_CANTOPEN] = "cantopen",
    [SQLITE_PROTOCOL] = "sqlite_protocol",
    [SQLITE_EMPTY] = "empty",
    [SQLITE_SCHEMA] = "schema",
    [SQLITE_TOOBIG] = "toobig",
    [SQLITE_CONSTRAINT] = "constraint",
    [SQLITE_MISMATCH] = "mismatch",
    [SQLITE_MISUSE] = "misuse",
    [SQLITE_NOLFS] = "nolfs",
    [SQLITE_AUTH] = "sqlite_auth",
    [SQLITE_FORMAT] = "format",
    [SQLITE_RANGE] = "range",
    [SQLITE_NOTADB] = "notadb",
    [SQLITE_NOTICE] = "notice",
    [SQLITE_WARNING] = "warning",
};

const char *lsq_sqlite_code_atom(int rc)
{
    int primary = rc & 0xff;

    if (primary < 0 || (size_t)primary >= sizeof aCodeAtom / sizeof aCodeAtom[0] ||
        aCodeAtom[primary] == NULL)
        return "error";
    return aCodeAtom[primary];
}

void lsq_error_set(lsq_error *e, const char *code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    e->extended_code = -1;
    e->sql = NULL;
    e->sql_len = 0;
    e->index = 0;
    va_start(ap, fmt);
    (void)vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void lsq_error_sqlite(lsq_error *e, int rc, const char *msg)
{
    e->code = lsq_sqlite_code_atom(rc);
    e->extended_code = rc;
    e->sql = NULL;
    e->sql_len = 0;
    e->index = 0;
    (void)snprintf(e->message, sizeof e->message, "%s", msg ? msg : sqlite3_errstr(rc));
}

int lsq_error_encode(ei_x_buff *x, const lsq_error *e)
{
    long n = 2 + (e->extended_code >= 0) + (e->sql != NULL) + (e->index > 0);

    if (ei_x_encode_map_header(x, n) != 0 ||
        ei_x_encode_atom(x, "code") != 0 || ei_x_encode_atom(x, e->code) != 0 ||
        ei_x_encode_atom(x, "message") != 0 ||
        term_encode_binary(x, e->message, strlen(e->message)) != 0)
        return -1;
    if (e->extended_code >= 0 &&
        (ei_x_encode_atom(x, "extended_code") != 0 ||
         ei_x_encode_long(x, e->extended_code) != 0))
        return -1;
    if (e->sql != NULL &&
        (ei_x_encode_atom(x, "sql") != 0 ||
         term_encode_binary(x, e->sql, e->sql_len) != 0))
        return -1;
    if (e->index > 0 &&
        (ei_x_encode_atom(x, "index") != 0 || ei_x_encode_long(x, e->index) != 0))
        return -1;
    return 0;
}
