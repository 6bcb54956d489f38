/*
 * hrana_resp.c - the streaming Hrana response parser (see hrana_resp.h).
 *
 * A stack of frames follows the document: each frame says which object or
 * array of the Hrana schema it is and which key was read last, so every
 * scalar lands in its place as it arrives. Unknown keys are skipped with
 * whatever they hold; a known key with the wrong JSON type is a protocol
 * error.
 */
#include "hrana_resp.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define MAX_DEPTH 64

typedef enum {
    C_DOC, C_TOP, C_RESULTS, C_ENTRY, C_RESPONSE, C_RESULT, C_STEP_RESULTS, C_STEP_ERRORS,
    C_COLS, C_COL, C_ROWS, C_ROW, C_VALUE, C_ERROR, C_SKIP
} ctx_kind;

typedef enum {
    K_NONE, K_OTHER, K_BATON, K_BASE_URL, K_RESULTS, K_TYPE, K_RESPONSE, K_ERROR, K_RESULT,
    K_IS_AUTOCOMMIT, K_COLS, K_ROWS, K_AFFECTED, K_ROWID, K_STEP_RESULTS, K_STEP_ERRORS,
    K_NAME, K_DECLTYPE, K_VALUE, K_BASE64, K_MESSAGE, K_CODE
} key_kind;

typedef struct frame {
    ctx_kind ctx;
    key_kind key;
    hr_stmt *stmt; /* C_RESULT, C_COLS, C_ROWS, C_ROW, C_VALUE, C_COL */
    hr_err *err;   /* C_ERROR */
} frame;

/* The value object being read: its fields may come in any order. */
typedef enum { VT_UNSET, VT_NULL, VT_INTEGER, VT_FLOAT, VT_TEXT, VT_BLOB, VT_BAD } value_type;
typedef enum { VV_UNSET, VV_NULL, VV_STRING, VV_NUMBER } value_kind;

struct hr_parser {
    yajl_handle h;
    hr_response *r;
    size_t cap;
    frame stack[MAX_DEPTH];
    int depth;
    lsq_error *err;     /* where a callback reports */
    int failed;
    /* the value object being read */
    value_type vtype;
    value_kind vkind;
    hr_span vstr;       /* value (string) or base64 in the arena */
    double vnum;
    int vnum_ok;
    int seen_top;
};

static const struct { const char *name; key_kind key; } aKey[] = {
    { "baton", K_BATON }, { "base_url", K_BASE_URL }, { "results", K_RESULTS },
    { "type", K_TYPE }, { "response", K_RESPONSE }, { "error", K_ERROR },
    { "result", K_RESULT }, { "is_autocommit", K_IS_AUTOCOMMIT }, { "cols", K_COLS },
    { "rows", K_ROWS }, { "affected_row_count", K_AFFECTED },
    { "last_insert_rowid", K_ROWID }, { "step_results", K_STEP_RESULTS },
    { "step_errors", K_STEP_ERRORS }, { "name", K_NAME }, { "decltype", K_DECLTYPE },
    { "value", K_VALUE }, { "base64", K_BASE64 }, { "message", K_MESSAGE },
    { "code", K_CODE },
};

static key_kind key_of(const unsigned char *s, size_t n)
{
    size_t k;

    for (k = 0; k < sizeof aKey / sizeof aKey[0]; k++)
        if (strlen(aKey[k].name) == n && memcmp(aKey[k].name, s, n) == 0) return aKey[k].key;
    return K_OTHER;
}

static int fail(hr_parser *ps, const char *code, const char *what)
{
    if (!ps->failed) {
        ps->failed = 1;
        lsq_error_set(ps->err, code, "%s", what);
    }
    return 0; /* cancels the parse */
}

static int bad_shape(hr_parser *ps)
{
    return fail(ps, LSQ_E_PROTOCOL, "the server's response does not follow the Hrana schema");
}

/* Count memory against the cap. */
static int charge(hr_parser *ps, size_t bytes)
{
    hr_response *r = ps->r;

    if (bytes > ps->cap || r->bytes > ps->cap - bytes) {
        char msg[160];

        (void)snprintf(msg, sizeof msg,
                       "the server's response is over max_result_bytes (%zu bytes)", ps->cap);
        return fail(ps, LSQ_E_TOOBIG, msg);
    }
    r->bytes += bytes;
    return 1;
}

/* Grow an array of elements of size sz to hold one more. */
static int grow(hr_parser *ps, void **a, size_t *cap, size_t n, size_t sz)
{
    size_t ncap;
    void *p;

    if (n < *cap) return 1;
    ncap = *cap ? *cap * 2 : 4;
    if (ncap > ((size_t)-1) / sz / 2) return fail(ps, LSQ_E_NOMEM, "out of memory");
    if (!charge(ps, (ncap - *cap) * sz)) return 0;
    p = realloc(*a, ncap * sz);
    if (p == NULL) return fail(ps, LSQ_E_NOMEM, "out of memory");
    *a = p;
    *cap = ncap;
    return 1;
}

static int arena_put(hr_parser *ps, const void *p, size_t n, hr_span *out)
{
    hr_response *r = ps->r;
    size_t ncap;
    char *a;

    if (r->arena_cap - r->arena_len < n) {
        ncap = r->arena_cap ? r->arena_cap : 4096;
        while (ncap - r->arena_len < n) {
            if (ncap > ((size_t)-1) / 4) return fail(ps, LSQ_E_NOMEM, "out of memory");
            ncap *= 2;
        }
        if (!charge(ps, ncap - r->arena_cap)) return 0;
        a = realloc(r->arena, ncap);
        if (a == NULL) return fail(ps, LSQ_E_NOMEM, "out of memory");
        r->arena = a;
        r->arena_cap = ncap;
    }
    if (n > 0) memcpy(r->arena + r->arena_len, p, n);
    out->off = r->arena_len;
    out->len = n;
    out->set = 1;
    r->arena_len += n;
    return 1;
}

static frame *top(hr_parser *ps)
{
    return &ps->stack[ps->depth - 1];
}

static int push(hr_parser *ps, ctx_kind ctx, hr_stmt *stmt, hr_err *err)
{
    frame *f;

    if (ps->depth == MAX_DEPTH)
        return fail(ps, LSQ_E_PROTOCOL, "the server's response nests too deep");
    f = &ps->stack[ps->depth++];
    f->ctx = ctx;
    f->key = K_NONE;
    f->stmt = stmt;
    f->err = err;
    return 1;
}

static hr_entry *cur_entry(hr_parser *ps)
{
    return &ps->r->entries[ps->r->nentries - 1];
}

static hr_stmt *new_stmt(hr_parser *ps)
{
    hr_stmt *s;

    if (!charge(ps, sizeof *s)) return NULL;
    s = calloc(1, sizeof *s);
    if (s == NULL) fail(ps, LSQ_E_NOMEM, "out of memory");
    return s;
}

static void free_stmt(hr_stmt *s)
{
    if (s == NULL) return;
    free(s->cols);
    free(s->cells);
    free(s);
}

/* ---- scalars -------------------------------------------------------------- */

static int parse_i64(const char *p, size_t n, long long *out)
{
    char buf[32], *end;
    long long v;

    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, p, n);
    buf[n] = 0;
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != 0 || !(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9')))
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *p, size_t n, double *out)
{
    char buf[64], *end;

    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, p, n);
    buf[n] = 0;
    *out = strtod(buf, &end);
    return *end == 0 ? 0 : -1;
}

/* A string or null for an optional string field (span left unset). */
static int set_span(hr_parser *ps, hr_span *dst, const unsigned char *s, size_t n)
{
    return arena_put(ps, s, n, dst);
}

static value_type value_type_of(const unsigned char *s, size_t n)
{
    static const struct { const char *name; value_type t; } types[] = {
        { "null", VT_NULL }, { "integer", VT_INTEGER }, { "float", VT_FLOAT },
        { "text", VT_TEXT }, { "blob", VT_BLOB },
    };
    size_t k;

    for (k = 0; k < sizeof types / sizeof types[0]; k++)
        if (strlen(types[k].name) == n && memcmp(types[k].name, s, n) == 0) return types[k].t;
    return VT_BAD;
}

static int resp_type_of(const unsigned char *s, size_t n)
{
    if (n == 7 && memcmp(s, "execute", 7) == 0) return HR_RESP_EXECUTE;
    if (n == 5 && memcmp(s, "batch", 5) == 0) return HR_RESP_BATCH;
    if (n == 14 && memcmp(s, "get_autocommit", 14) == 0) return HR_RESP_AUTOCOMMIT;
    return HR_RESP_OTHER;
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    hr_parser *ps = ctx;
    frame *f = top(ps);
    hr_entry *e;

    switch (f->ctx) {
    case C_TOP:
        if (f->key == K_BATON) return set_span(ps, &ps->r->baton, s, n);
        if (f->key == K_BASE_URL) return set_span(ps, &ps->r->base_url, s, n);
        return f->key == K_OTHER ? 1 : bad_shape(ps);
    case C_ENTRY:
        e = cur_entry(ps);
        if (f->key == K_TYPE) {
            if (n == 5 && memcmp(s, "error", 5) == 0) e->is_error = 1;
            else if (!(n == 2 && memcmp(s, "ok", 2) == 0)) return bad_shape(ps);
            return 1;
        }
        return f->key == K_OTHER ? 1 : bad_shape(ps);
    case C_RESPONSE:
        if (f->key == K_TYPE) {
            cur_entry(ps)->resp_type = resp_type_of(s, n);
            return 1;
        }
        return f->key == K_OTHER ? 1 : bad_shape(ps);
    case C_RESULT:
        if (f->key == K_ROWID) {
            f->stmt->has_rowid = 1;
            return parse_i64((const char *)s, n, &f->stmt->rowid) == 0 ? 1 : bad_shape(ps);
        }
        return f->key == K_OTHER ? 1 : bad_shape(ps);
    case C_COL:
        if (f->key == K_NAME) return set_span(ps, &f->stmt->cols[f->stmt->ncols - 1].name, s, n);
        if (f->key == K_DECLTYPE)
            return set_span(ps, &f->stmt->cols[f->stmt->ncols - 1].decltype, s, n);
        return f->key == K_OTHER ? 1 : bad_shape(ps);
    case C_VALUE:
        if (f->key == K_TYPE) {
            ps->vtype = value_type_of(s, n);
            return ps->vtype == VT_BAD ? bad_shape(ps) : 1;
        }
        if (f->key == K_VALUE || f->key == K_BASE64) {
            if (ps->vkind != VV_UNSET) return bad_shape(ps);
            ps->vkind = VV_STRING;
            return arena_put(ps, s, n, &ps->vstr);
        }
        return f->key == K_OTHER ? 1 : bad_shape(ps);
    case C_ERROR:
        if (f->key == K_MESSAGE) return set_span(ps, &f->err->message, s, n);
        if (f->key == K_CODE) return set_span(ps, &f->err->code, s, n);
        return f->key == K_OTHER ? 1 : bad_shape(ps);
    case C_SKIP:
        return 1;
    default:
        return bad_shape(ps);
    }
}

static int on_null(void *ctx)
{
    hr_parser *ps = ctx;
    frame *f = top(ps);
    hr_entry *e;

    switch (f->ctx) {
    case C_STEP_RESULTS:
        e = cur_entry(ps);
        if (!grow(ps, (void **)&e->steps, &e->steps_cap, e->nsteps, sizeof *e->steps)) return 0;
        e->steps[e->nsteps++] = NULL;
        return 1;
    case C_STEP_ERRORS:
        e = cur_entry(ps);
        if (!grow(ps, (void **)&e->step_errors, &e->errors_cap, e->nerrors,
                  sizeof *e->step_errors))
            return 0;
        memset(&e->step_errors[e->nerrors++], 0, sizeof *e->step_errors);
        return 1;
    case C_VALUE:
        if (f->key == K_VALUE) {
            if (ps->vkind != VV_UNSET) return bad_shape(ps);
            ps->vkind = VV_NULL;
        }
        return 1;
    case C_TOP: case C_ENTRY: case C_RESPONSE: case C_RESULT: case C_COL: case C_ERROR:
    case C_SKIP:
        return 1; /* an optional field given as null */
    default:
        return bad_shape(ps);
    }
}

static int on_bool(void *ctx, int b)
{
    hr_parser *ps = ctx;
    frame *f = top(ps);

    if (f->ctx == C_RESPONSE && f->key == K_IS_AUTOCOMMIT) {
        cur_entry(ps)->is_autocommit = b;
        return 1;
    }
    if (f->ctx == C_SKIP || f->key == K_OTHER) return 1;
    return bad_shape(ps);
}

static int on_number(void *ctx, const char *s, size_t n)
{
    hr_parser *ps = ctx;
    frame *f = top(ps);

    if (f->ctx == C_RESULT && f->key == K_AFFECTED)
        return parse_i64(s, n, &f->stmt->affected) == 0 ? 1 : bad_shape(ps);
    if (f->ctx == C_RESULT && f->key == K_ROWID) {
        f->stmt->has_rowid = 1;
        return parse_i64(s, n, &f->stmt->rowid) == 0 ? 1 : bad_shape(ps);
    }
    if (f->ctx == C_VALUE && f->key == K_VALUE) {
        if (ps->vkind != VV_UNSET) return bad_shape(ps);
        ps->vkind = VV_NUMBER;
        ps->vnum_ok = parse_double(s, n, &ps->vnum) == 0;
        return ps->vnum_ok ? 1 : bad_shape(ps);
    }
    if (f->ctx == C_SKIP || f->key == K_OTHER) return 1;
    return bad_shape(ps);
}

/* ---- containers ------------------------------------------------------------ */

static int start_value(hr_parser *ps, hr_stmt *s)
{
    if (!grow(ps, (void **)&s->cells, &s->cells_cap, s->ncells, sizeof *s->cells)) return 0;
    memset(&s->cells[s->ncells++], 0, sizeof *s->cells);
    s->row_width++;
    ps->vtype = VT_UNSET;
    ps->vkind = VV_UNSET;
    ps->vstr.set = 0;
    return push(ps, C_VALUE, s, NULL);
}

static int on_start_map(void *ctx)
{
    hr_parser *ps = ctx;
    frame *f = top(ps);
    hr_response *r = ps->r;
    hr_entry *e;
    hr_stmt *s;

    switch (f->ctx) {
    case C_DOC:
        if (ps->seen_top) return bad_shape(ps);
        ps->seen_top = 1;
        return push(ps, C_TOP, NULL, NULL);
    case C_RESULTS:
        if (!grow(ps, (void **)&r->entries, &r->entries_cap, r->nentries, sizeof *r->entries))
            return 0;
        memset(&r->entries[r->nentries++], 0, sizeof *r->entries);
        return push(ps, C_ENTRY, NULL, NULL);
    case C_ENTRY:
        e = cur_entry(ps);
        if (f->key == K_RESPONSE) return push(ps, C_RESPONSE, NULL, NULL);
        if (f->key == K_ERROR) {
            e->error.set = 1;
            return push(ps, C_ERROR, NULL, &e->error);
        }
        break;
    case C_RESPONSE:
        if (f->key == K_RESULT) {
            e = cur_entry(ps);
            if (e->stmt != NULL) return bad_shape(ps);
            if ((e->stmt = new_stmt(ps)) == NULL) return 0;
            return push(ps, C_RESULT, e->stmt, NULL);
        }
        break;
    case C_STEP_RESULTS:
        e = cur_entry(ps);
        if (!grow(ps, (void **)&e->steps, &e->steps_cap, e->nsteps, sizeof *e->steps)) return 0;
        if ((s = new_stmt(ps)) == NULL) return 0;
        e->steps[e->nsteps++] = s;
        return push(ps, C_RESULT, s, NULL);
    case C_STEP_ERRORS:
        e = cur_entry(ps);
        if (!grow(ps, (void **)&e->step_errors, &e->errors_cap, e->nerrors,
                  sizeof *e->step_errors))
            return 0;
        memset(&e->step_errors[e->nerrors], 0, sizeof *e->step_errors);
        e->step_errors[e->nerrors].set = 1;
        return push(ps, C_ERROR, NULL, &e->step_errors[e->nerrors++]);
    case C_COLS:
        s = f->stmt;
        if (!grow(ps, (void **)&s->cols, &s->cols_cap, s->ncols, sizeof *s->cols)) return 0;
        memset(&s->cols[s->ncols++], 0, sizeof *s->cols);
        return push(ps, C_COL, s, NULL);
    case C_ROW:
        return start_value(ps, f->stmt);
    case C_SKIP:
        return push(ps, C_SKIP, NULL, NULL);
    default:
        break;
    }
    if (f->key == K_OTHER) return push(ps, C_SKIP, NULL, NULL);
    return bad_shape(ps);
}

static int on_key(void *ctx, const unsigned char *s, size_t n)
{
    hr_parser *ps = ctx;

    top(ps)->key = key_of(s, n);
    return 1;
}

/* A value object is complete: turn its fields into the cell. */
static int finish_value(hr_parser *ps, hr_stmt *s)
{
    hr_response *r = ps->r;
    hr_cell *c = &s->cells[s->ncells - 1];
    size_t len;

    switch (ps->vtype) {
    case VT_NULL:
        c->type = LSQ_NULL;
        break;
    case VT_INTEGER:
        if (ps->vkind != VV_STRING ||
            parse_i64(r->arena + ps->vstr.off, ps->vstr.len, &c->u.i) != 0)
            return bad_shape(ps);
        c->type = LSQ_INT;
        /* The digits are no longer needed: give their room back. */
        if (ps->vstr.off + ps->vstr.len == r->arena_len) r->arena_len = ps->vstr.off;
        break;
    case VT_FLOAT:
        /* Servers write +-Inf as null (serde_json): the sign is lost, so
         * the value reads as NULL rather than a guessed infinity. */
        if (ps->vkind == VV_NULL || ps->vkind == VV_UNSET) {
            c->type = LSQ_NULL;
        } else if (ps->vkind == VV_NUMBER) {
            c->type = LSQ_REAL;
            c->u.r = ps->vnum;
        } else {
            return bad_shape(ps);
        }
        break;
    case VT_TEXT:
        if (ps->vkind != VV_STRING) return bad_shape(ps);
        c->type = LSQ_TEXT;
        c->u.s = ps->vstr;
        break;
    case VT_BLOB:
        if (ps->vkind != VV_STRING ||
            hr_base64_decode(r->arena + ps->vstr.off, ps->vstr.len, &len) != 0)
            return bad_shape(ps);
        c->type = LSQ_BLOB;
        c->u.s = ps->vstr;
        c->u.s.len = len;
        if (ps->vstr.off + ps->vstr.len == r->arena_len) r->arena_len = ps->vstr.off + len;
        break;
    default:
        return bad_shape(ps);
    }
    return 1;
}

static int on_end_map(void *ctx)
{
    hr_parser *ps = ctx;
    frame *f = top(ps);

    if (f->ctx == C_VALUE && !finish_value(ps, f->stmt)) return 0;
    if (f->ctx == C_RESULT) {
        hr_stmt *s = f->stmt;

        /* Every row as wide as the columns (a server without cols sends
         * none only when there are no rows). */
        if (s->nrows > 0 && s->width != s->ncols) return bad_shape(ps);
    }
    ps->depth--;
    return 1;
}

static int on_start_array(void *ctx)
{
    hr_parser *ps = ctx;
    frame *f = top(ps);

    switch (f->ctx) {
    case C_TOP:
        if (f->key == K_RESULTS) return push(ps, C_RESULTS, NULL, NULL);
        break;
    case C_RESULT:
        if (f->key == K_COLS) return push(ps, C_COLS, f->stmt, NULL);
        if (f->key == K_ROWS) return push(ps, C_ROWS, f->stmt, NULL);
        if (f->key == K_STEP_RESULTS) return push(ps, C_STEP_RESULTS, NULL, NULL);
        if (f->key == K_STEP_ERRORS) return push(ps, C_STEP_ERRORS, NULL, NULL);
        break;
    case C_ROWS:
        f->stmt->row_width = 0;
        f->stmt->nrows++;
        return push(ps, C_ROW, f->stmt, NULL);
    case C_SKIP:
        return push(ps, C_SKIP, NULL, NULL);
    default:
        break;
    }
    if (f->key == K_OTHER) return push(ps, C_SKIP, NULL, NULL);
    return bad_shape(ps);
}

static int on_end_array(void *ctx)
{
    hr_parser *ps = ctx;
    frame *f = top(ps);

    /* Every row as wide as the first; the first as wide as cols (checked
     * when the result ends, since cols may come after rows). */
    if (f->ctx == C_ROW) {
        if (f->stmt->nrows == 1) f->stmt->width = f->stmt->row_width;
        else if (f->stmt->row_width != f->stmt->width) return bad_shape(ps);
    }
    ps->depth--;
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null, on_bool, NULL, NULL, on_number, on_string,
    on_start_map, on_key, on_end_map, on_start_array, on_end_array,
};

/* ---- API ------------------------------------------------------------------ */

int hr_begin(hr_response *r, size_t cap)
{
    hr_parser *ps;

    memset(r, 0, sizeof *r);
    ps = calloc(1, sizeof *ps);
    if (ps == NULL) return -1;
    ps->h = yajl_alloc(&callbacks, NULL, ps);
    if (ps->h == NULL) {
        free(ps);
        return -1;
    }
    /* The arena always exists, so an empty text's pointer is never NULL. */
    r->arena = malloc(256);
    if (r->arena == NULL) {
        yajl_free(ps->h);
        free(ps);
        return -1;
    }
    r->arena_cap = 256;
    r->bytes = 256;
    ps->r = r;
    ps->cap = cap;
    ps->depth = 1;
    ps->stack[0].ctx = C_DOC;
    r->parser = ps;
    return 0;
}

static int parse_failed(hr_parser *ps, lsq_error *err)
{
    unsigned char *why;

    if (ps->failed) return -1; /* *err set by the callback */
    why = yajl_get_error(ps->h, 0, NULL, 0);
    lsq_error_set(err, LSQ_E_PROTOCOL, "the server's response is not valid JSON: %s",
                  why != NULL ? (const char *)why : "parse error");
    if (why != NULL) yajl_free_error(ps->h, why);
    ps->failed = 1;
    return -1;
}

int hr_feed(hr_response *r, const char *p, size_t n, lsq_error *err)
{
    hr_parser *ps = r->parser;

    if (ps == NULL || ps->failed) return -1;
    ps->err = err;
    if (yajl_parse(ps->h, (const unsigned char *)p, n) != yajl_status_ok)
        return parse_failed(ps, err);
    return 0;
}

int hr_finish(hr_response *r, lsq_error *err)
{
    hr_parser *ps = r->parser;

    if (ps == NULL || ps->failed) return -1;
    ps->err = err;
    if (yajl_complete_parse(ps->h) != yajl_status_ok) return parse_failed(ps, err);
    if (!ps->seen_top) {
        lsq_error_set(err, LSQ_E_PROTOCOL, "the server's response is empty");
        return -1;
    }
    yajl_free(ps->h);
    free(ps);
    r->parser = NULL;
    return 0;
}

void hr_free(hr_response *r)
{
    size_t i, k;

    if (r->parser != NULL) {
        yajl_free(r->parser->h);
        free(r->parser);
    }
    for (i = 0; i < r->nentries; i++) {
        hr_entry *e = &r->entries[i];

        free_stmt(e->stmt);
        for (k = 0; k < e->nsteps; k++) free_stmt(e->steps[k]);
        free(e->steps);
        free(e->step_errors);
    }
    free(r->entries);
    free(r->arena);
    memset(r, 0, sizeof *r);
}

void hr_cell_value(const hr_response *r, const hr_cell *c, lsq_value *v)
{
    v->type = c->type;
    switch (c->type) {
    case LSQ_INT: v->u.i = c->u.i; break;
    case LSQ_REAL: v->u.r = c->u.r; break;
    case LSQ_TEXT:
    case LSQ_BLOB:
        v->u.s.p = r->arena + c->u.s.off;
        v->u.s.n = c->u.s.len;
        break;
    default: break;
    }
}

/* ---- errors ----------------------------------------------------------------- */

/* A server's SQLITE_<name> codes (error_codes.h, those from servers). */
static const struct { const char *name; int rc, from_server; } aSqliteName[] = {
#define LSQ_SQLITE(NAME, atom, rc, SQLNAME, from_server) { #SQLNAME, rc, from_server },
#include "error_codes.h"
};

/* Hrana codes of sqld and tursodb that are not SQLite codes. */
static const struct { const char *name; const char *code; } aHranaCode[] = {
#define LSQ_HRANA(HRANA_CODE, NAME) { #HRANA_CODE, LSQ_E_##NAME },
#include "error_codes.h"
};

static int name_is(const char *p, size_t n, const char *name)
{
    size_t k = strlen(name);

    /* SQLITE_CONSTRAINT_UNIQUE matches CONSTRAINT. */
    return n >= k && memcmp(p, name, k) == 0 && (n == k || p[k] == '_');
}

/* A trailing " (N)" in tursodb's messages is the SQLite result code. */
static int trailing_rc(const char *msg, size_t n)
{
    size_t i = n - 1, digits;
    int rc = 0;

    if (n < 4 || msg[n - 1] != ')') return -1;
    while (i > 0 && msg[i - 1] >= '0' && msg[i - 1] <= '9') i--;
    digits = n - 1 - i;
    if (digits == 0 || digits > 5 || i < 2 || msg[i - 1] != '(' || msg[i - 2] != ' ')
        return -1;
    for (; i < n - 1; i++) rc = rc * 10 + (msg[i] - '0');
    return rc;
}

void hr_map_error(const char *code, size_t code_len, const char *msg, size_t msg_len,
                  lsq_error *err)
{
    size_t k;
    int rc = trailing_rc(msg, msg_len);

    lsq_error_set(err, LSQ_E_ERROR, "%.*s", (int)(msg_len > 400 ? 400 : msg_len),
                  msg_len ? msg : "");
    if (msg_len == 0 && code_len > 0)
        lsq_error_set(err, LSQ_E_ERROR, "%.*s", (int)(code_len > 100 ? 100 : code_len), code);
    if (code_len > 7 && memcmp(code, "SQLITE_", 7) == 0) {
        for (k = 0; k < sizeof aSqliteName / sizeof aSqliteName[0]; k++)
            if (aSqliteName[k].from_server &&
                name_is(code + 7, code_len - 7, aSqliteName[k].name)) {
                err->code = lsq_sqlite_code_atom(aSqliteName[k].rc);
                err->extended_code = aSqliteName[k].rc;
                return;
            }
        return;
    }
    for (k = 0; k < sizeof aHranaCode / sizeof aHranaCode[0]; k++)
        if (code_len == strlen(aHranaCode[k].name) &&
            memcmp(code, aHranaCode[k].name, code_len) == 0) {
            err->code = aHranaCode[k].code;
            return;
        }
    if (rc > 0 && rc < 256) {
        err->code = lsq_sqlite_code_atom(rc);
        err->extended_code = rc;
    }
}

void hr_error_to_lsq(const hr_response *r, const hr_err *e, lsq_error *err)
{
    hr_map_error(hr_ptr(r, e->code), e->code.set ? e->code.len : 0, hr_ptr(r, e->message),
                 e->message.set ? e->message.len : 0, err);
}

/* ---- base64 ------------------------------------------------------------------ */

static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int hr_base64_decode(char *p, size_t n, size_t *out_len)
{
    size_t i, o = 0;
    unsigned acc = 0;
    int bits = 0, d;

    while (n > 0 && p[n - 1] == '=') n--;
    if (n % 4 == 1) return -1;
    for (i = 0; i < n; i++) {
        d = b64_digit((unsigned char)p[i]);
        if (d < 0) return -1;
        acc = (acc << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    *out_len = o;
    return 0;
}
