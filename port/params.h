/*
 * params.h - a request's parameters in the statement's own order.
 *
 * A list binds by position and must have exactly as many values as the
 * statement has parameters. A named list ({named, [{Name, Value}]}) is
 * matched by name with SQLite's rules: a name that carries its prefix
 * (: @ $) is that parameter, a bare name the first of :name, @name, $name
 * the statement uses; every parameter must get exactly one value. The
 * backend only says how to find a name and what parameter i is called
 * (SQLite for a local file, the SQL scanner for a server); the rules and
 * the error messages live here, once.
 */
#ifndef LSQ_PARAMS_H
#define LSQ_PARAMS_H

#include "backend.h"

typedef struct lsq_param_lookup {
    int count; /* parameters of the statement */
    /* 1-based index of the parameter a caller's name means (the prefix
     * rules above), 0 if none, -1 out of memory. */
    int (*index)(const void *ctx, const char *name, size_t n);
    /* Name of parameter i (1-based, with its prefix), NULL if positional. */
    const char *(*name)(const void *ctx, int i);
    const void *ctx;
} lsq_param_lookup;

/* 0 with *vals holding count values in parameter order: p->values itself
 * for a list (*owned = 0), a new array for names (*owned = 1: free it).
 * -1 with *err (bad_argument naming the parameter at fault, or nomem). */
int lsq_params_order(const lsq_param_lookup *l, const lsq_params *p,
                     const lsq_value **vals, int *owned, lsq_error *err);

#endif
