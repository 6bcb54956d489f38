/*
 * functions.c - Erlang SQL functions (functions.h).
 */
#include "functions.h"
#include "channel.h"
#include "error_codes.h"
#include "sqlite_value.h"
#include "term.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_BATCH_BYTES (64 * 1024) /* send pending steps past this */
#define STEP_SYNC_EVERY 16           /* every so many batches, wait for Erlang */

struct lsq_function {
    long long id;
    int arity;
    int flags;
    char *name;             /* NUL-terminated copy */
    struct lsq_function *next;
};

/* What SQLite holds as a function's user data: its own copy, freed by
 * SQLite when the function is replaced, deleted or the handle closed. */
typedef struct fn_data {
    long long id;
    char name[];
} fn_data;

/* An aggregate's per-group state on SQLite's side: only its number. */
typedef struct agg_ctx {
    unsigned long long ctx;
} agg_ctx;

/* Steps not sent yet (main thread only): the encoded list elements. */
static struct {
    ei_x_buff x;            /* elements {FunId, Ctx, Args}, no list header */
    int ready;              /* x allocated */
    int n;                  /* elements in x */
    int batches;            /* batches sent since the last wait */
    unsigned long long next_ctx;
} g_steps;

static int steps_ready(void)
{
    if (g_steps.ready) return 0;
    if (ei_x_new(&g_steps.x) != 0) return -1;
    g_steps.x.index = 0;
    g_steps.ready = 1;
    return 0;
}

static void steps_clear(void)
{
    if (g_steps.ready) g_steps.x.index = 0;
    g_steps.n = 0;
}

/* Append the pending steps to x as a list (and forget them). */
static int put_steps(ei_x_buff *x)
{
    int rc = 0;

    if (g_steps.n > 0)
        rc = ei_x_encode_list_header(x, g_steps.n) != 0 ||
             ei_x_append_buf(x, g_steps.x.buff, g_steps.x.index) != 0;
    if (rc == 0) rc = ei_x_encode_empty_list(x) != 0;
    steps_clear();
    return rc ? -1 : 0;
}

static int put_args(ei_x_buff *x, int argc, sqlite3_value **argv)
{
    lsq_value v;
    lsq_error err;
    int i;

    if (argc > 0 && ei_x_encode_list_header(x, argc) != 0) return -1;
    for (i = 0; i < argc; i++)
        if (lsq_sqlite_value(argv[i], &v, &err) != 0 || term_encode_value(x, &v) != 0) return -1;
    return ei_x_encode_empty_list(x) != 0 ? -1 : 0;
}

/* The statement fails because the call could not be made or answered. */
static void result_channel(sqlite3_context *ctx, const fn_data *f, int rc)
{
    char msg[512];

    switch (rc) {
    case CHANNEL_INTERRUPTED:
        sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
        return;
    case CHANNEL_NOMEM:
        sqlite3_result_error_nomem(ctx);
        return;
    case CHANNEL_CLOSED:
        (void)snprintf(msg, sizeof msg, "%.200s: the connection is closing", f->name);
        break;
    default:
        (void)snprintf(msg, sizeof msg,
                       "%.200s: an Erlang function runs only inside a request", f->name);
        break;
    }
    sqlite3_result_error(ctx, msg, -1);
}

/* Decode {error, Msg} at *idx into the statement's error. 0 if it was. */
static int result_error(sqlite3_context *ctx, const char *buf, int idx)
{
    int arity;
    char atom[MAXATOMLEN_UTF8];
    const char *p;
    size_t n;

    if (ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity != 2 ||
        ei_decode_atom(buf, &idx, atom) != 0 || strcmp(atom, "error") != 0 ||
        term_decode_binary(buf, &idx, &p, &n) != 0)
        return -1;
    sqlite3_result_error(ctx, p, n > 4096 ? 4096 : (int)n);
    return 0;
}

/* Set the function's result from {ok, Value} | {error, Msg}. */
static void result_answer(sqlite3_context *ctx, const fn_data *f, const channel_call *c)
{
    int idx = c->idx, arity;
    char atom[MAXATOMLEN_UTF8];
    const char *why;
    lsq_value v;

    if (result_error(ctx, c->answer, c->idx) == 0) return;
    if (ei_decode_tuple_header(c->answer, &idx, &arity) != 0 || arity != 2 ||
        ei_decode_atom(c->answer, &idx, atom) != 0 || strcmp(atom, "ok") != 0 ||
        term_decode_value(c->answer, &idx, &v, &why) != 0) {
        char msg[300];

        (void)snprintf(msg, sizeof msg, "%.200s: the Erlang side answered with no value",
                       f->name);
        sqlite3_result_error(ctx, msg, -1);
        return;
    }
    switch (v.type) {
    case LSQ_NULL: sqlite3_result_null(ctx); break;
    case LSQ_INT: sqlite3_result_int64(ctx, v.u.i); break;
    case LSQ_REAL: sqlite3_result_double(ctx, v.u.r); break;
    case LSQ_TEXT:
        sqlite3_result_text64(ctx, v.u.s.p, v.u.s.n, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    case LSQ_BLOB: sqlite3_result_blob64(ctx, v.u.s.p, v.u.s.n, SQLITE_TRANSIENT); break;
    }
}

static void call_scalar(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const fn_data *f = sqlite3_user_data(ctx);
    channel_call c;
    int rc = channel_begin(&c, 1);

    if (rc == 0 && g_steps.n > 0) {
        /* Steps come first, as they were made (an aggregate and a scalar
         * function of one statement may share a process's state). */
        channel_call s;

        rc = channel_begin(&s, 0);
        if (rc == 0 && (ei_x_encode_tuple_header(&s.x, 2) != 0 ||
                        ei_x_encode_atom(&s.x, "steps") != 0 || put_steps(&s.x) != 0))
            rc = CHANNEL_NOMEM;
        if (rc == 0) rc = channel_finish(&s);
        channel_free(&s);
    }
    if (rc == 0 && (ei_x_encode_tuple_header(&c.x, 3) != 0 ||
                    ei_x_encode_atom(&c.x, "call") != 0 ||
                    ei_x_encode_longlong(&c.x, f->id) != 0 || put_args(&c.x, argc, argv) != 0))
        rc = CHANNEL_NOMEM;
    if (rc == 0) rc = channel_finish(&c);
    if (rc == CHANNEL_ANSWERED) result_answer(ctx, f, &c);
    else result_channel(ctx, f, rc);
    channel_free(&c);
}

/* Send the pending steps: as a call every STEP_SYNC_EVERY batches. */
static void flush_steps(sqlite3_context *ctx, const fn_data *f)
{
    channel_call c;
    int wait = ++g_steps.batches >= STEP_SYNC_EVERY, rc = channel_begin(&c, wait);

    if (rc == 0 && (ei_x_encode_tuple_header(&c.x, 2) != 0 ||
                    ei_x_encode_atom(&c.x, "steps") != 0 || put_steps(&c.x) != 0))
        rc = CHANNEL_NOMEM;
    if (rc == 0) rc = channel_finish(&c);
    if (wait) g_steps.batches = 0;
    if (rc != CHANNEL_ANSWERED) {
        steps_clear();
        result_channel(ctx, f, rc);
    } else if (wait) {
        /* ok, or the error of a step that raised: stop here. */
        (void)result_error(ctx, c.answer, c.idx);
    }
    channel_free(&c);
}

static void call_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const fn_data *f = sqlite3_user_data(ctx);
    agg_ctx *a = sqlite3_aggregate_context(ctx, (int)sizeof *a);

    if (a == NULL || steps_ready() != 0) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (a->ctx == 0) a->ctx = ++g_steps.next_ctx;
    if (ei_x_encode_tuple_header(&g_steps.x, 3) != 0 ||
        ei_x_encode_longlong(&g_steps.x, f->id) != 0 ||
        ei_x_encode_ulonglong(&g_steps.x, a->ctx) != 0 || put_args(&g_steps.x, argc, argv) != 0) {
        steps_clear();
        sqlite3_result_error_nomem(ctx);
        return;
    }
    g_steps.n++;
    if (g_steps.x.index >= STEP_BATCH_BYTES) flush_steps(ctx, f);
}

static void call_final(sqlite3_context *ctx)
{
    const fn_data *f = sqlite3_user_data(ctx);
    agg_ctx *a = sqlite3_aggregate_context(ctx, 0);
    channel_call c;
    int rc = channel_begin(&c, 1);

    if (rc == 0 && (ei_x_encode_tuple_header(&c.x, 4) != 0 ||
                    ei_x_encode_atom(&c.x, "final") != 0 ||
                    ei_x_encode_longlong(&c.x, f->id) != 0 ||
                    ei_x_encode_ulonglong(&c.x, a != NULL ? a->ctx : 0) != 0 ||
                    put_steps(&c.x) != 0))
        rc = CHANNEL_NOMEM;
    if (rc == 0) rc = channel_finish(&c);
    g_steps.batches = 0;
    steps_clear();
    if (rc == CHANNEL_ANSWERED) result_answer(ctx, f, &c);
    else result_channel(ctx, f, rc);
    channel_free(&c);
}

static int sqlite_error(lsq_error *err, sqlite3 *db, int rc, const char *what, const char *name)
{
    const char *code = rc == SQLITE_BUSY ? LSQ_E_BUSY : rc == SQLITE_NOMEM ? LSQ_E_NOMEM
                                                                          : LSQ_E_BAD_ARGUMENT;

    lsq_error_set(err, code, "%s %.200s: %s", what, name, sqlite3_errmsg(db));
    return -1;
}

static int register_one(sqlite3 *db, const lsq_function *fn, lsq_error *err)
{
    size_t n = strlen(fn->name);
    fn_data *d = malloc(sizeof *d + n + 1);
    int rc, text = SQLITE_UTF8 | (fn->flags & LSQ_FN_DETERMINISTIC ? SQLITE_DETERMINISTIC : 0);

    if (d == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory registering a function");
        return -1;
    }
    d->id = fn->id;
    memcpy(d->name, fn->name, n + 1);
    /* On failure SQLite calls the destructor itself (free: d is gone). */
    if (fn->flags & LSQ_FN_AGGREGATE)
        rc = sqlite3_create_function_v2(db, fn->name, fn->arity, text, d, NULL, call_step,
                                        call_final, free);
    else
        rc = sqlite3_create_function_v2(db, fn->name, fn->arity, text, d, call_scalar, NULL,
                                        NULL, free);
    return rc == SQLITE_OK ? 0 : sqlite_error(err, db, rc, "cannot create function", fn->name);
}

static lsq_function **find(lsq_function **list, const char *name, int arity)
{
    for (; *list != NULL; list = &(*list)->next)
        if ((*list)->arity == arity && sqlite3_stricmp((*list)->name, name) == 0) return list;
    return NULL;
}

static int check_name(const char *name, size_t n, int arity, lsq_error *err)
{
    if (n == 0 || n > 255 || memchr(name, 0, n) != NULL) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                      "a function name is 1 to 255 bytes, without NUL bytes");
        return -1;
    }
    if (arity < -1 || arity > LSQ_FN_MAX_ARITY) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "arity %d: a function takes -1 (any) to %d "
                       "arguments", arity, LSQ_FN_MAX_ARITY);
        return -1;
    }
    return 0;
}

int functions_create(sqlite3 *db, lsq_function **list, long long id, const char *name,
                     size_t n, int arity, int flags, lsq_error *err)
{
    lsq_function *fn, **old;

    if (check_name(name, n, arity, err) != 0) return -1;
    fn = calloc(1, sizeof *fn);
    if (fn == NULL || (fn->name = malloc(n + 1)) == NULL) {
        free(fn);
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory registering a function");
        return -1;
    }
    memcpy(fn->name, name, n);
    fn->name[n] = 0;
    fn->id = id;
    fn->arity = arity;
    fn->flags = flags;
    if (register_one(db, fn, err) != 0) {
        free(fn->name);
        free(fn);
        return -1;
    }
    old = find(list, fn->name, arity);
    if (old != NULL) {
        lsq_function *o = *old;

        *old = o->next;
        free(o->name);
        free(o);
    }
    fn->next = *list;
    *list = fn;
    return 0;
}

int functions_delete(sqlite3 *db, lsq_function **list, const char *name, size_t n, int arity,
                     lsq_error *err)
{
    lsq_function **old, *o;
    char copy[256];
    int rc;

    if (check_name(name, n, arity, err) != 0) return -1;
    memcpy(copy, name, n); /* n <= 255: check_name */
    copy[n] = 0;
    old = find(list, copy, arity);
    if (old == NULL) return 0;
    o = *old;
    rc = sqlite3_create_function_v2(db, o->name, arity, SQLITE_UTF8, NULL, NULL, NULL, NULL,
                                    NULL);
    if (rc != SQLITE_OK) return sqlite_error(err, db, rc, "cannot delete function", o->name);
    *old = o->next;
    free(o->name);
    free(o);
    return 0;
}

int functions_reapply(sqlite3 *db, const lsq_function *list, lsq_error *err)
{
    for (; list != NULL; list = list->next)
        if (register_one(db, list, err) != 0) return -1;
    return 0;
}

void functions_free(lsq_function **list)
{
    lsq_function *fn;

    while ((fn = *list) != NULL) {
        *list = fn->next;
        free(fn->name);
        free(fn);
    }
    if (g_steps.ready) (void)ei_x_free(&g_steps.x);
    g_steps.ready = 0;
    g_steps.n = 0;
}
