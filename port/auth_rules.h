/*
 * auth_rules.h - declarative authorizer rules, evaluated in the port with
 * no round trip: [{deny | ignore, Action, Object, Detail}], the first rule
 * that matches decides. Action is SQLite's authorizer action in lower
 * case (read, insert, update, delete, pragma, attach, function, ...) or
 * '_'; Object and Detail are names (case-insensitive, exact) or '_'.
 *
 * What Object and Detail are depends on the action (auth_args):
 *
 *   read, update                     table, column
 *   insert, delete, analyze          table, -
 *   create_table, drop_table, ...    the table or view, -
 *   create_index, drop_index (temp)  the index, its table
 *   create_trigger, drop_trigger     the trigger, its table
 *   create_vtable, drop_vtable       the table, the module
 *   pragma                           the pragma, its argument
 *   function                         the function, -
 *   attach                           the file name, -
 *   detach                           the database name, -
 *   alter_table                      the table, the database name
 *   reindex                          the index, -
 *   transaction                      BEGIN, COMMIT or ROLLBACK, -
 *   savepoint                        the savepoint, BEGIN, RELEASE or ROLLBACK
 *   select, recursive                -, -
 *
 * A rule whose Detail is not '_' does not match an action without one.
 */
#ifndef LSQ_AUTH_RULES_H
#define LSQ_AUTH_RULES_H

#include <stddef.h>
#include "errors.h"

typedef struct lsq_auth_rule {
    int verdict;        /* SQLITE_DENY or SQLITE_IGNORE */
    int action;         /* SQLite's action code, or -1: any */
    char *object;       /* NULL: any */
    char *detail;       /* NULL: any */
} lsq_auth_rule;

typedef struct lsq_auth_rules {
    lsq_auth_rule *rule;
    size_t n;
    int ask_erlang;     /* no rule matched: ask the caller's fun (channel.h) */
} lsq_auth_rules;

/* Decode Rules at *idx (a list of 4-tuples as above; atoms for the
 * verdict and action and '_', binaries for names) into *out. 0, or -1
 * with *err naming the rule at fault. */
int auth_rules_decode(const char *buf, int *idx, lsq_auth_rules *out, lsq_error *err);
void auth_rules_free(lsq_auth_rules *rs);

/* The object and detail of an action's arguments (see above); NULL when
 * the action has none. */
void auth_args(int action, const char *a1, const char *a2, const char **object,
               const char **detail);

/* The verdict of the first rule matching, *which its index (0-based), or
 * -1 when none matches. */
int auth_rules_check(const lsq_auth_rules *rs, int action, const char *object,
                     const char *detail, size_t *which);

/* The action's name ("read"), or NULL for an unknown code. */
const char *auth_action_name(int action);

#endif
