/*
 * auth_rules.c - declarative authorizer rules (auth_rules.h).
 */
#include "auth_rules.h"
#include "term.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* SQLite's action codes (sqlite3.h) by name; the order is SQLite's. */
static const struct { int code; const char *name; } kAction[] = {
    { SQLITE_CREATE_INDEX, "create_index" },
    { SQLITE_CREATE_TABLE, "create_table" },
    { SQLITE_CREATE_TEMP_INDEX, "create_temp_index" },
    { SQLITE_CREATE_TEMP_TABLE, "create_temp_table" },
    { SQLITE_CREATE_TEMP_TRIGGER, "create_temp_trigger" },
    { SQLITE_CREATE_TEMP_VIEW, "create_temp_view" },
    { SQLITE_CREATE_TRIGGER, "create_trigger" },
    { SQLITE_CREATE_VIEW, "create_view" },
    { SQLITE_DELETE, "delete" },
    { SQLITE_DROP_INDEX, "drop_index" },
    { SQLITE_DROP_TABLE, "drop_table" },
    { SQLITE_DROP_TEMP_INDEX, "drop_temp_index" },
    { SQLITE_DROP_TEMP_TABLE, "drop_temp_table" },
    { SQLITE_DROP_TEMP_TRIGGER, "drop_temp_trigger" },
    { SQLITE_DROP_TEMP_VIEW, "drop_temp_view" },
    { SQLITE_DROP_TRIGGER, "drop_trigger" },
    { SQLITE_DROP_VIEW, "drop_view" },
    { SQLITE_INSERT, "insert" },
    { SQLITE_PRAGMA, "pragma" },
    { SQLITE_READ, "read" },
    { SQLITE_SELECT, "select" },
    { SQLITE_TRANSACTION, "transaction" },
    { SQLITE_UPDATE, "update" },
    { SQLITE_ATTACH, "attach" },
    { SQLITE_DETACH, "detach" },
    { SQLITE_ALTER_TABLE, "alter_table" },
    { SQLITE_REINDEX, "reindex" },
    { SQLITE_ANALYZE, "analyze" },
    { SQLITE_CREATE_VTABLE, "create_vtable" },
    { SQLITE_DROP_VTABLE, "drop_vtable" },
    { SQLITE_FUNCTION, "function" },
    { SQLITE_SAVEPOINT, "savepoint" },
    { SQLITE_RECURSIVE, "recursive" },
};

const char *auth_action_name(int action)
{
    size_t i;

    for (i = 0; i < sizeof kAction / sizeof kAction[0]; i++)
        if (kAction[i].code == action) return kAction[i].name;
    return NULL;
}

static int action_code(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof kAction / sizeof kAction[0]; i++)
        if (strcmp(kAction[i].name, name) == 0) return kAction[i].code;
    return 0;
}

void auth_args(int action, const char *a1, const char *a2, const char **object,
               const char **detail)
{
    switch (action) {
    case SQLITE_FUNCTION:       /* a1 is always NULL */
        *object = a2;
        *detail = NULL;
        return;
    case SQLITE_ALTER_TABLE:    /* a1 the database, a2 the table */
        *object = a2;
        *detail = a1;
        return;
    case SQLITE_SAVEPOINT:      /* a1 the operation, a2 the savepoint */
        *object = a2;
        *detail = a1;
        return;
    default:
        *object = a1;
        *detail = a2;
        return;
    }
}

static int matches(const char *pattern, const char *name)
{
    if (pattern == NULL) return 1;
    return name != NULL && sqlite3_stricmp(pattern, name) == 0;
}

int auth_rules_check(const lsq_auth_rules *rs, int action, const char *object,
                     const char *detail, size_t *which)
{
    size_t i;

    for (i = 0; i < rs->n; i++) {
        const lsq_auth_rule *r = &rs->rule[i];

        if ((r->action < 0 || r->action == action) && matches(r->object, object) &&
            matches(r->detail, detail)) {
            *which = i;
            return r->verdict;
        }
    }
    return -1;
}

void auth_rules_free(lsq_auth_rules *rs)
{
    size_t i;

    for (i = 0; i < rs->n; i++) {
        free(rs->rule[i].object);
        free(rs->rule[i].detail);
    }
    free(rs->rule);
    rs->rule = NULL;
    rs->n = 0;
}

/* '_' (NULL: any) or a name: a binary of 1..255 bytes without NUL. */
static int pattern(const char *buf, int *idx, char **out)
{
    char atom[MAXATOMLEN_UTF8];
    const char *p;
    size_t n;
    int type, size;

    *out = NULL;
    if (ei_get_type(buf, idx, &type, &size) != 0) return -1;
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT)
        return ei_decode_atom(buf, idx, atom) == 0 && strcmp(atom, "_") == 0 ? 0 : -1;
    if (term_decode_binary(buf, idx, &p, &n) != 0 || n == 0 || n > 255 ||
        memchr(p, 0, n) != NULL)
        return -1;
    *out = malloc(n + 1);
    if (*out == NULL) return -1;
    memcpy(*out, p, n);
    (*out)[n] = 0;
    return 0;
}

static int decode_rule(const char *buf, int *idx, lsq_auth_rule *r)
{
    char atom[MAXATOMLEN_UTF8];
    int arity;

    if (ei_decode_tuple_header(buf, idx, &arity) != 0 || arity != 4 ||
        ei_decode_atom(buf, idx, atom) != 0)
        return -1;
    if (strcmp(atom, "deny") == 0) r->verdict = SQLITE_DENY;
    else if (strcmp(atom, "ignore") == 0) r->verdict = SQLITE_IGNORE;
    else return -1;
    if (ei_decode_atom(buf, idx, atom) != 0) return -1;
    r->action = strcmp(atom, "_") == 0 ? -1 : action_code(atom);
    if (r->action == 0) return -1;
    if (pattern(buf, idx, &r->object) != 0) return -1;
    return pattern(buf, idx, &r->detail);
}

int auth_rules_decode(const char *buf, int *idx, lsq_auth_rules *out, lsq_error *err)
{
    int n, i;

    memset(out, 0, sizeof *out);
    if (ei_decode_list_header(buf, idx, &n) != 0 || n < 0 || n > 10000) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "authorizer rules are a list of at most 10000");
        return -1;
    }
    if (n == 0) return 0;
    out->rule = calloc((size_t)n, sizeof *out->rule);
    if (out->rule == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    for (i = 0; i < n; i++) {
        out->n = (size_t)i + 1; /* so that auth_rules_free frees this one's names */
        if (decode_rule(buf, idx, &out->rule[i]) != 0) {
            auth_rules_free(out);
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                          "authorizer rule %d is not {deny | ignore, Action, Object, Detail} "
                          "(an action of SQLite's authorizer, names as binaries, '_' for any)",
                          i + 1);
            return -1;
        }
    }
    if (ei_decode_list_header(buf, idx, &n) != 0 || n != 0) {
        auth_rules_free(out);
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "authorizer rules must be a proper list");
        return -1;
    }
    return 0;
}
