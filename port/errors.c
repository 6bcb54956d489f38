/*
 * errors.c - the error codes of error_codes.h as C strings, SQLite result
 * codes to them, and the encoder of error maps.
 */
#include "errors.h"
#include "term.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The atoms: const char LSQ_E_BUSY[] = "busy"; ... */
#define LSQ_CLIENT(NAME, atom) const char LSQ_E_##NAME[] = #atom;
#define LSQ_SQLITE(NAME, atom, rc, SQLNAME, from_server) const char LSQ_E_##NAME[] = #atom;
#include "error_codes.h"

/* The table's result codes are sqlite3.h's. */
#define LSQ_SQLITE(NAME, atom, rc, SQLNAME, from_server) \
    _Static_assert((rc) == SQLITE_##SQLNAME, "error_codes.h: SQLITE_" #SQLNAME " is not " #rc);
#include "error_codes.h"

/* Indexed by primary result code (rc & 0xff). SQLITE_OK is no error and
 * should never get here; it reads "ok" as it always has. */
static const char *const aCodeAtom[] = {
    [SQLITE_OK] = "ok",
#define LSQ_SQLITE(NAME, atom, rc, SQLNAME, from_server) [rc] = LSQ_E_##NAME,
#include "error_codes.h"
};

const char *lsq_sqlite_code_atom(int rc)
{
    int primary = rc & 0xff;

    if (primary < 0 || (size_t)primary >= sizeof aCodeAtom / sizeof aCodeAtom[0] ||
        aCodeAtom[primary] == NULL)
        return LSQ_E_ERROR;
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
