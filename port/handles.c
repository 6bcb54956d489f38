/*
 * handles.c - a small array of live handles, searched linearly: a
 * connection holds a handful of prepared statements and cursors.
 */
#include "handles.h"

#include <stdlib.h>

handle *handles_add(handles *h, int kind, lsq_stmt *stmt, char *sql, size_t sql_len)
{
    handle *grown, *e;
    size_t cap;

    if (h->n == h->cap) {
        cap = h->cap ? h->cap * 2 : 8;
        grown = realloc(h->a, cap * sizeof *grown);
        if (grown == NULL) return NULL;
        h->a = grown;
        h->cap = cap;
    }
    e = &h->a[h->n++];
    e->id = ++h->next_id;
    e->kind = kind;
    e->stmt = stmt;
    e->sql = sql;
    e->sql_len = sql_len;
    e->done = 0;
    e->pending = 0;
    e->started = 0;
    e->ncols = 0;
    return e;
}

handle *handles_get(handles *h, long long id, int kind)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        if (h->a[i].id == id && h->a[i].kind == kind) return &h->a[i];
    return NULL;
}

void handles_remove(handles *h, handle *e)
{
    size_t i = (size_t)(e - h->a);

    if (i >= h->n) return;
    h->a[i] = h->a[h->n - 1];
    h->n--;
}

size_t handles_count(const handles *h, int kind)
{
    size_t i, k = 0;

    for (i = 0; i < h->n; i++)
        if (h->a[i].kind == kind) k++;
    return k;
}
