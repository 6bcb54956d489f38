/*
 * callback_cmds.c - the commands that plug into SQLite and call back to
 * Erlang: Erlang SQL functions (functions.h) and change data capture
 * (cdc.h). A backend whose SQL runs on a server has no SQLite handle of
 * ours (backend.h, sqlite): there they are `not_supported'.
 */
#include "handlers.h"
#include "auth_rules.h"
#include "cdc.h"
#include "functions.h"

#include <string.h>

/* Name and Arity, the first two arguments of both commands. */
static int name_arity(const lsq_request *r, int *idx, const char **name, size_t *n, int *arity)
{
    long long a;

    if (term_decode_binary(r->buf, idx, name, n) != 0 || term_decode_int(r->buf, idx, &a) != 0 ||
        a < -1 || a > LSQ_FN_MAX_ARITY)
        return -1;
    *arity = (int)a;
    return 0;
}

/* Flags: a list of the atoms aggregate and deterministic. */
static int fn_flags(const char *buf, int *idx, int *flags)
{
    int n, i;
    char atom[MAXATOMLEN_UTF8];

    *flags = 0;
    if (ei_decode_list_header(buf, idx, &n) != 0) return -1;
    for (i = 0; i < n; i++) {
        if (ei_decode_atom(buf, idx, atom) != 0) return -1;
        if (strcmp(atom, "aggregate") == 0) *flags |= LSQ_FN_AGGREGATE;
        else if (strcmp(atom, "deterministic") == 0) *flags |= LSQ_FN_DETERMINISTIC;
        else return -1;
    }
    /* A proper list: its tail is [] (nothing to read after an empty one). */
    return n > 0 && (ei_decode_list_header(buf, idx, &n) != 0 || n != 0) ? -1 : 0;
}

/* {Ref, create_function, Name, Arity, FunId, Flags} */
int cmd_create_function(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    sqlite3 *db = NULL;
    int idx = r->idx, arity, flags, rc = run_need_sqlite(p, r, x, &db);
    const char *name;
    size_t n;
    long long id;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (name_arity(r, &idx, &name, &n, &arity) != 0 || term_decode_int(r->buf, &idx, &id) != 0 ||
        id <= 0 || fn_flags(r->buf, &idx, &flags) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "create_function takes a name (binary), an arity (-1..%d), a "
                            "positive id and a list of flags (aggregate, deterministic)",
                            LSQ_FN_MAX_ARITY);
    if (functions_create(db, &p->functions, id, name, n, arity, flags, &err) != 0)
        return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

/* {Ref, delete_function, Name, Arity} */
int cmd_delete_function(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    sqlite3 *db = NULL;
    int idx = r->idx, arity, rc = run_need_sqlite(p, r, x, &db);
    const char *name;
    size_t n;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (name_arity(r, &idx, &name, &n, &arity) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "delete_function takes a name (binary) and an arity (-1..%d)",
                            LSQ_FN_MAX_ARITY);
    if (functions_delete(db, &p->functions, name, n, arity, &err) != 0)
        return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

/* {Ref, capture, Updates, Commits}: booleans, what to capture from now. */
int cmd_capture(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int idx = r->idx, updates, commits, rc = run_need_conn(p, r, x);
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (term_decode_bool(r->buf, &idx, &updates) != 0 ||
        term_decode_bool(r->buf, &idx, &commits) != 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "capture takes two booleans: updates, commits");
    if (cdc_configure(p, updates, commits, &err) != 0) return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}

/* {Ref, set_authorizer, Rules, AskErlang}: rules (auth_rules.h) and
 * whether the caller's fun decides what no rule does. */
int cmd_set_authorizer(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int idx = r->idx, ask, rc = run_need_conn(p, r, x);
    lsq_auth_rules rules;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (p->be->set_authorizer == NULL)
        return reply_errorf(x, r->ref, LSQ_E_NOT_SUPPORTED,
                            "a %s connection's statements are not all compiled here (writes go "
                            "to the server): an authorizer of ours cannot guard them",
                            p->be->mode);
    if (auth_rules_decode(r->buf, &idx, &rules, &err) != 0) return reply_error(x, r->ref, &err);
    if (term_decode_bool(r->buf, &idx, &ask) != 0) {
        auth_rules_free(&rules);
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "set_authorizer takes the rules and a boolean");
    }
    rules.ask_erlang = ask;
    rc = p->be->set_authorizer(p->conn, &rules, &err);
    auth_rules_free(&rules); /* empty when taken */
    if (rc != 0) return reply_error(x, r->ref, &err);
    /* Cached statements were compiled under the old rules: SQLite compiles
     * them again when they next run. */
    return reply_ok_atom(x, r->ref);
}
