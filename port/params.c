/*
 * params.c - a request's parameters in the statement's own order (see
 * params.h for the rules).
 */
#include "params.h"

#include <stdlib.h>

static int shown(size_t n) { return (int)(n > 200 ? 200 : n); }

int lsq_params_order(const lsq_param_lookup *l, const lsq_params *p,
                     const lsq_value **vals, int *owned, lsq_error *err)
{
    lsq_value *out;
    unsigned char *given;
    size_t k;
    int i, idx;

    *vals = NULL;
    *owned = 0;
    if (p->names == NULL) {
        if (p->n != (size_t)l->count) {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "the statement takes %d parameter%s, %zu given",
                          l->count, l->count == 1 ? "" : "s", p->n);
            return -1;
        }
        *vals = p->values;
        return 0;
    }
    /* One block: the values in order, then a flag per parameter (1-based)
     * saying it got one. A named bind runs once per row of execute_many. */
    out = calloc((size_t)l->count + 1, sizeof *out + 1);
    if (out == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    given = (unsigned char *)(out + l->count + 1);
    for (k = 0; k < p->n; k++) {
        idx = l->index(l->ctx, p->names[k].p, p->names[k].n);
        if (idx < 0) {
            lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
            goto fail;
        }
        if (idx == 0 || idx > l->count) {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                          "unknown parameter %.*s: the statement has no such named parameter",
                          shown(p->names[k].n), p->names[k].p);
            goto fail;
        }
        if (given[idx]) {
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "parameter %s is given more than once",
                          l->name(l->ctx, idx));
            goto fail;
        }
        given[idx] = 1;
        out[idx - 1] = p->values[k];
    }
    for (i = 1; i <= l->count; i++) {
        if (given[i]) continue;
        if (l->name(l->ctx, i) == NULL)
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                          "parameter %d is positional; pass a list to bind it", i);
        else
            lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "missing value for parameter %s",
                          l->name(l->ctx, i));
        goto fail;
    }
    *vals = out;
    *owned = 1;
    return 0;
fail:
    free(out);
    return -1;
}
