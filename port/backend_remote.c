/*
 * backend_remote.c - a libSQL/Turso server spoken to in Hrana over HTTP
 * (JSON pipelines; ../shared/protocols.md sections 1-2).
 *
 * Protocol choice, once at open: `GET /v3` answering 2xx means Hrana 3
 * (sqld, Turso Cloud): /v3/pipeline with real batons, one stream held per
 * connection, `get_autocommit` after each pipeline, `close` at the end,
 * interactive transactions pinned to the stream. Anything else means the
 * /v2/pipeline subset tursodb 0.7.0 accepts: `execute` and `batch` only,
 * no stream state between requests - so a statement that would leave a
 * transaction open is refused (not_supported) instead of being left on a
 * server connection every client shares.
 *
 * Every statement goes as a batch with a probe before it and one after it
 * (on ok of the statement): SELECT changes(), last_insert_rowid(),
 * total_changes(); a batch has one probe after each statement (or after
 * the last only, when per-statement counts are not wanted),
 * because tursodb leaves affected_row_count and last_insert_rowid empty.
 * The server runs a whole request before the next, so the probes see
 * exactly this statement's effect. A statement's result rows are held
 * parsed in memory (one response) and stepped through like a local
 * statement's.
 */
#include "backend.h"
#include "params.h"
#include "hrana_req.h"
#include "hrana_resp.h"
#include "http.h"
#include "sql_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run before the first statement of a request and after each statement. */
#define PROBE_SQL "SELECT changes(), last_insert_rowid(), total_changes()"
#define PROBE_FIRST "{\"stmt\":{\"sql\":\"" PROBE_SQL "\"}}"

/* A parsed response shared by the statements reading from it. */
typedef struct resp_ref {
    hr_response r;
    int refs;
} resp_ref;

/* A remote connection: the base every backend's connection starts with
 * (backend.h), then the HTTP client and the stream. */
typedef struct remote_conn {
    lsq_conn base;     /* base.be == &lsq_backend_remote */
    http_client *http;
    char *base_url;    /* scheme://host[:port][/path], no trailing '/' */
    char *stream_url;  /* base_url the server gave for this stream, or NULL */
    int v3;            /* Hrana 3 with batons */
    char *baton;       /* v3: the stream held, or NULL */
    int autocommit;    /* v3: as the server last said; v2: always 1 */
    int tx_read_only;  /* query_only was set by a read_only begin */
    long long changes, total_changes, last_rowid;
    size_t max_result;
} remote_conn;

static remote_conn *as_remote(lsq_conn *c)
{
    return (remote_conn *)c;
}

struct lsq_stmt {
    remote_conn *c;
    char *sql;             /* owned copy */
    size_t n;
    sql_stmt_info info;    /* parameters, first keyword */
    char **pnames;         /* 1-based NUL-terminated names (NULL: positional) */
    jbuf body;             /* the Stmt JSON once bound */
    int bound;
    resp_ref *resp;        /* once executed */
    const hr_stmt *res;    /* the statement's result in resp */
    size_t row;            /* rows stepped over so far */
    int view;              /* a batch result: rows in memory, nothing to run */
};

/* ---- small helpers ------------------------------------------------------- */

static char *dup_n(const char *p, size_t n)
{
    char *z = malloc(n + 1);

    if (z == NULL) return NULL;
    if (n > 0) memcpy(z, p, n);
    z[n] = 0;
    return z;
}

static void nomem(lsq_error *err)
{
    lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
}

static void resp_release(resp_ref *rr)
{
    if (rr != NULL && --rr->refs == 0) {
        hr_free(&rr->r);
        free(rr);
    }
}

/* An integer cell of a result; 0 when absent (a probe that did not run). */
static long long int_cell(const hr_stmt *s, size_t row, size_t col)
{
    const hr_cell *c;

    if (s == NULL || row >= s->nrows || col >= s->ncols) return 0;
    c = &s->cells[row * s->ncols + col];
    return c->type == LSQ_INT ? c->u.i : 0;
}

/* ---- the pipeline ------------------------------------------------------------- */

static int sink(void *ctx, const char *p, size_t n, lsq_error *err)
{
    return hr_feed(ctx, p, n, err);
}

/* Find "key":"..." in a small JSON object; the value's raw bytes. */
static const char *json_field(const http_errbody *eb, const char *key, size_t *len)
{
    size_t klen = strlen(key), i, n;

    for (i = 0; i + klen + 3 <= eb->n; i++) {
        if (eb->p[i] != '"' || memcmp(eb->p + i + 1, key, klen) != 0 ||
            memcmp(eb->p + i + 1 + klen, "\":\"", 3) != 0)
            continue;
        i += klen + 4;
        for (n = 0; i + n < eb->n && eb->p[i + n] != '"'; n++)
            if (eb->p[i + n] == '\\' && i + n + 1 < eb->n) n++;
        *len = n;
        return eb->p + i;
    }
    return NULL;
}

/* The error of a non-2xx answer: a JSON Error {"message","code"} (sqld,
 * STREAM_EXPIRED) or plain text (protocol errors, tursodb's 500s). */
static void http_status_error(long status, const http_errbody *eb, lsq_error *err,
                              int *expired)
{
    const char *code = NULL, *msg = NULL;
    size_t code_len = 0, msg_len = 0, i, n;
    char text[300];

    *expired = 0;
    if (eb->n > 0 && eb->p[0] == '{') {
        code = json_field(eb, "code", &code_len);
        msg = json_field(eb, "message", &msg_len);
    }
    if (code != NULL || msg != NULL) {
        hr_map_error(code, code_len, msg, msg_len, err);
        *expired = code_len == 14 && memcmp(code, "STREAM_EXPIRED", 14) == 0;
        if (strcmp(err->code, LSQ_E_ERROR) != 0 || err->extended_code >= 0) return;
        (void)snprintf(text, sizeof text, "%.*s", (int)(msg_len > 250 ? 250 : msg_len),
                       msg != NULL ? msg : "");
    } else {
        /* Plain text: keep it printable and short. */
        n = eb->n < 250 ? eb->n : 250;
        for (i = 0; i < n; i++)
            text[i] = (eb->p[i] >= 0x20 && eb->p[i] < 0x7f) ? eb->p[i] : ' ';
        text[n] = 0;
    }
    lsq_error_set(err, status == 401 || status == 403 ? LSQ_E_AUTH : LSQ_E_HTTP,
                  "the server answered HTTP %ld: %s", status, text);
}

static void drop_stream(remote_conn *c)
{
    free(c->baton);
    c->baton = NULL;
    free(c->stream_url);
    c->stream_url = NULL;
}

/* After a failed request the stream is gone; a transaction on it too. */
static void stream_lost(remote_conn *c, lsq_error *err)
{
    int in_tx = c->v3 && !c->autocommit;

    drop_stream(c);
    c->autocommit = 1;
    if (in_tx && strlen(err->message) + 60 < sizeof err->message)
        strcat(err->message, " (the open transaction was lost with the stream)");
}

/* A base_url is followed only to http(s), and never from https to http:
 * a server must not be able to take the connection (and its token) out of
 * TLS. An unsafe one is ignored: the stream goes on at the URL it has, and
 * if the server insists, the next request fails rather than leaking. */
static int base_url_safe(const remote_conn *c, const hr_response *r)
{
    const char *u = hr_ptr(r, r->base_url);
    size_t n = r->base_url.len;

    if (memchr(u, 0, n) != NULL) return 0;
    if (n > 8 && memcmp(u, "https://", 8) == 0) return 1;
    return n > 7 && memcmp(u, "http://", 7) == 0 && strncmp(c->base_url, "http://", 7) == 0;
}

static int keep_stream(remote_conn *c, const hr_response *r, lsq_error *err)
{
    free(c->baton);
    c->baton = NULL;
    if (r->baton.set && (c->baton = dup_n(hr_ptr(r, r->baton), r->baton.len)) == NULL) {
        nomem(err);
        return -1;
    }
    if (r->base_url.set && r->base_url.len > 0 && base_url_safe(c, r)) {
        char *u = dup_n(hr_ptr(r, r->base_url), r->base_url.len);

        if (u == NULL) {
            nomem(err);
            return -1;
        }
        while (strlen(u) > 0 && u[strlen(u) - 1] == '/') u[strlen(u) - 1] = 0;
        free(c->stream_url);
        c->stream_url = u;
    }
    return 0;
}

/* POST one pipeline: reqs holds nreqs comma-separated request objects.
 * On success *out holds exactly nreqs entries' worth of results (the
 * get_autocommit a v3 pipeline ends with is consumed here). */
static int pipeline_once(remote_conn *c, const jbuf *reqs, size_t nreqs, int ask_autocommit,
                         resp_ref **out, int *expired, lsq_error *err)
{
    jbuf body = { 0 }, url = { 0 };
    http_errbody *eb;
    resp_ref *rr;
    long status = 0;
    int rc = -1;
    size_t want;

    ask_autocommit = ask_autocommit && c->v3;
    want = nreqs + (ask_autocommit ? 1 : 0);

    *expired = 0;
    *out = NULL;
    eb = malloc(sizeof *eb);
    rr = calloc(1, sizeof *rr);
    if (eb == NULL || rr == NULL || hr_begin(&rr->r, c->max_result) != 0) goto nomem;
    rr->refs = 1;
    if (jb_lit(&body, "{\"baton\":") != 0) goto nomem;
    if (c->v3 && c->baton != NULL) {
        if (jb_str(&body, c->baton, strlen(c->baton)) != 0) goto nomem;
    } else if (jb_lit(&body, "null") != 0) {
        goto nomem;
    }
    if (jb_lit(&body, ",\"requests\":[") != 0 || jb_raw(&body, reqs->p, reqs->n) != 0 ||
        (ask_autocommit && jb_lit(&body, ",{\"type\":\"get_autocommit\"}") != 0) ||
        jb_lit(&body, "]}") != 0)
        goto nomem;
    if (jb_lit(&url, c->stream_url != NULL ? c->stream_url : c->base_url) != 0 ||
        jb_lit(&url, c->v3 ? "/v3/pipeline" : "/v2/pipeline") != 0 || jb_raw(&url, "", 1) != 0)
        goto nomem;
    if (http_request(c->http, url.p, body.p, body.n, sink, &rr->r, &status, eb, err) != 0) {
        stream_lost(c, err);
        goto done;
    }
    if (status < 200 || status >= 300) {
        http_status_error(status, eb, err, expired);
        if (!*expired) stream_lost(c, err);
        goto done;
    }
    if (hr_finish(&rr->r, err) != 0) {
        stream_lost(c, err);
        goto done;
    }
    if (rr->r.nentries != want) {
        lsq_error_set(err, LSQ_E_PROTOCOL, "the server answered %zu results for %zu requests",
                      rr->r.nentries, want);
        stream_lost(c, err);
        goto done;
    }
    if (c->v3) {
        const hr_entry *last = &rr->r.entries[want - 1];

        if (ask_autocommit && !last->is_error && last->resp_type == HR_RESP_AUTOCOMMIT)
            c->autocommit = last->is_autocommit;
        if (keep_stream(c, &rr->r, err) != 0) goto done;
    }
    *out = rr;
    rr = NULL;
    rc = 0;
    goto done;
nomem:
    nomem(err);
done:
    if (rr != NULL) resp_release(rr);
    free(eb);
    jb_free(&body);
    jb_free(&url);
    return rc;
}

/* A pipeline, reopening an expired stream when that loses nothing. */
static int pipeline(remote_conn *c, const jbuf *reqs, size_t nreqs, resp_ref **out,
                    lsq_error *err)
{
    int expired;

    if (pipeline_once(c, reqs, nreqs, 1, out, &expired, err) == 0) return 0;
    if (!expired) return -1;
    if (!c->autocommit) {
        drop_stream(c);
        c->autocommit = 1;
        lsq_error_set(err, LSQ_E_STREAM_EXPIRED,
                      "the server closed the stream of an open transaction for "
                      "inactivity: the transaction was rolled back");
        return -1;
    }
    /* Outside a transaction a new stream is as good as the old one. */
    drop_stream(c);
    return pipeline_once(c, reqs, nreqs, 1, out, &expired, err);
}

/* ---- open / close --------------------------------------------------------------- */

static int ignore_body(void *ctx, const char *p, size_t n, lsq_error *err)
{
    (void)ctx, (void)p, (void)n, (void)err;
    return 0;
}

static int remote_close(lsq_conn *c, lsq_error *err);

static int remote_open(const lsq_open_opts *o, lsq_conn **out, lsq_error *err)
{
    http_opts ho;
    http_errbody *eb = NULL;
    remote_conn *c;
    jbuf url = { 0 };
    long status = 0;

    *out = NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        nomem(err);
        return -1;
    }
    c->base.be = &lsq_backend_remote;
    c->autocommit = 1;
    c->max_result = (size_t)o->max_result;
    if ((c->base_url = http_base_url(o->url, err)) == NULL) goto fail;
    ho.auth_token = o->auth_token;
    ho.ca_file = o->ca_file;
    ho.connect_timeout_ms = o->connect_timeout_ms;
    ho.request_timeout_ms = o->request_timeout_ms;
    ho.buffer_size = 0;
    if ((c->http = http_new(&ho, err)) == NULL) goto fail;
    eb = malloc(sizeof *eb);
    if (eb == NULL || jb_lit(&url, c->base_url) != 0 || jb_lit(&url, "/v3") != 0 ||
        jb_raw(&url, "", 1) != 0) {
        nomem(err);
        goto fail;
    }
    /* The version probe also proves the server is there. */
    if (http_request(c->http, url.p, NULL, 0, ignore_body, NULL, &status, eb, err) != 0)
        goto fail;
    if (status == 401 || status == 403) {
        /* Turso answers the probe with the token check too. */
        lsq_error_set(err, LSQ_E_AUTH, "the server refused the credentials (HTTP %ld); "
                      "check auth_token", status);
        goto fail;
    }
    c->v3 = status >= 200 && status < 300;
    free(eb);
    jb_free(&url);
    *out = &c->base;
    return 0;
fail:
    free(eb);
    jb_free(&url);
    {
        lsq_error ignored;

        (void)remote_close(&c->base, &ignored);
    }
    return -1;
}

static int remote_close(lsq_conn *conn, lsq_error *err)
{
    remote_conn *c = as_remote(conn);

    (void)err;
    if (c == NULL) return 0;
    if (c->v3 && c->baton != NULL && c->http != NULL) {
        /* Close the stream so the server can free it (best effort). */
        jbuf reqs = { 0 };
        resp_ref *rr = NULL;
        int expired;
        lsq_error ignored;

        /* A server that stopped answering must not hold up the close. */
        http_set_timeout(c->http, 2000);
        if (jb_lit(&reqs, "{\"type\":\"close\"}") == 0)
            (void)pipeline_once(c, &reqs, 1, 0, &rr, &expired, &ignored);
        resp_release(rr);
        jb_free(&reqs);
    }
    http_free(c->http);
    free(c->base_url);
    free(c->stream_url);
    free(c->baton);
    free(c);
    return 0;
}

/* ---- statements -------------------------------------------------------------------- */

/* The names of the parameters by number, 1-based and NUL-terminated
 * (NULL for positional ones): what errors and param_name show. NULL if
 * out of memory. */
static char **param_names(const sql_stmt_info *info)
{
    char **names = calloc((size_t)info->nparams + 1, sizeof *names);
    int k, i;

    for (i = 0; names != NULL && i < info->nnamed; i++) {
        k = info->named[i].index;
        if ((names[k] = dup_n(info->named[i].name, info->named[i].len)) == NULL) {
            while (i-- > 0) free(names[info->named[i].index]);
            free(names);
            names = NULL;
        }
    }
    return names;
}

static void free_names(char **names, int nparams)
{
    int i;

    if (names != NULL)
        for (i = 0; i <= nparams; i++) free(names[i]);
    free(names);
}

static void remote_finalize(lsq_stmt *s)
{
    if (s == NULL) return;
    resp_release(s->resp);
    jb_free(&s->body);
    free_names(s->pnames, s->info.nparams);
    sql_info_free(&s->info);
    free(s->sql);
    free(s);
}

static int refuse_transaction(const remote_conn *c, const sql_stmt_info *info, lsq_error *err)
{
    if (c->v3 || !sql_is_transaction_control(info->keyword)) return 0;
    lsq_error_set(err, LSQ_E_NOT_SUPPORTED,
                  "%s: this server has no streams (Hrana 2 only), so a transaction cannot "
                  "stay open between requests; use batch(Conn, Statements, "
                  "#{transaction => true}) or execute_many", info->keyword);
    return -1;
}

/* A statement for text holding exactly one statement (after the first
 * only white space, comments and ';' may follow). */
static int make_stmt(remote_conn *c, const char *sql, size_t n, lsq_stmt **out, lsq_error *err)
{
    lsq_stmt *s;
    int i;

    s = calloc(1, sizeof *s);
    if (s == NULL || (s->sql = dup_n(sql, n)) == NULL ||
        sql_scan_params(sql, n, &s->info) != 0) {
        if (s != NULL) free(s->sql);
        free(s);
        nomem(err);
        return -1;
    }
    s->c = c;
    s->n = n;
    /* Names point into the caller's text: repoint them to our copy. */
    for (i = 0; i < s->info.nnamed; i++) s->info.named[i].name = s->sql + (s->info.named[i].name - sql);
    if ((s->pnames = param_names(&s->info)) == NULL) goto nomem;
    if (refuse_transaction(c, &s->info, err) != 0) {
        remote_finalize(s);
        return -1;
    }
    *out = s;
    return 0;
nomem:
    remote_finalize(s);
    nomem(err);
    return -1;
}

/* Text holding at most one statement (then only white space, comments
 * and ';'): servers run only the first (tursodb) or refuse the rest.
 * *empty = 1 when it holds none. 0, or -1 with *err. */
static int check_single(const char *sql, size_t n, int *empty, lsq_error *err)
{
    size_t len, off;
    int rest_empty = 1;

    if (sql_next_statement(sql, n, &len, empty) != 0) goto nomem;
    for (off = len; off < n && rest_empty; off += len)
        if (sql_next_statement(sql + off, n - off, &len, &rest_empty) != 0) goto nomem;
    if (!rest_empty) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                      "the SQL text holds more than one statement; "
                      "run it with execute_script or one statement at a time");
        return -1;
    }
    return 0;
nomem:
    nomem(err);
    return -1;
}

static int remote_prepare(lsq_conn *conn, const char *sql, size_t n, lsq_stmt **out,
                          lsq_error *err)
{
    remote_conn *c = as_remote(conn);
    int empty;

    *out = NULL;
    if (check_single(sql, n, &empty, err) != 0) return -1;
    if (empty) return 0;
    return make_stmt(c, sql, n, out, err);
}

static int remote_prepare_next(lsq_conn *conn, const char *sql, size_t n, lsq_stmt **out,
                               size_t *used, lsq_error *err)
{
    remote_conn *c = as_remote(conn);
    size_t len, off = 0;
    int empty = 1;

    *out = NULL;
    *used = n;
    while (off < n && empty) {
        if (sql_next_statement(sql + off, n - off, &len, &empty) != 0) {
            nomem(err);
            return -1;
        }
        if (empty) off += len;
    }
    if (empty) return 0;
    *used = off + len;
    return make_stmt(c, sql + off, len, out, err);
}

/* Names are resolved to positions here (params.h), with SQLite's
 * numbering as the scanner found it, because servers ignore (tursodb) or
 * treat differently (sqld) named arguments. */
typedef struct scanned_params {
    const sql_stmt_info *info;
    char *const *names; /* names[i]: parameter i's name, NULL if positional */
} scanned_params;

static int scanned_index(const void *ctx, const char *name, size_t n)
{
    return sql_param_index(((const scanned_params *)ctx)->info, name, n);
}

static const char *scanned_name(const void *ctx, int i)
{
    return ((const scanned_params *)ctx)->names[i];
}

/* The Stmt JSON of sql[0..n) with the caller's parameters in order. */
static int stmt_json(jbuf *out, const char *sql, size_t n, const sql_stmt_info *info,
                     char *const *names, const lsq_params *p, lsq_error *err)
{
    scanned_params sp = { info, names };
    lsq_param_lookup lookup = { info->nparams, scanned_index, scanned_name, &sp };
    const lsq_value *args;
    int owned, rc;

    if (lsq_params_order(&lookup, p, &args, &owned, err) != 0) return -1;
    rc = hq_stmt(out, sql, n, args, (size_t)info->nparams, err);
    if (owned) free((void *)args);
    return rc;
}

static void release_run(lsq_stmt *s)
{
    resp_release(s->resp);
    s->resp = NULL;
    s->res = NULL;
    s->row = 0;
}

static int remote_bind(lsq_stmt *s, const lsq_params *p, int copy, lsq_error *err)
{
    (void)copy; /* the values are written into the request now */
    release_run(s);
    s->body.n = 0;
    s->bound = 0;
    if (stmt_json(&s->body, s->sql, s->n, &s->info, s->pnames, p, err) != 0) return -1;
    s->bound = 1;
    return 0;
}

static void remote_reset(lsq_stmt *s)
{
    release_run(s);
    s->body.n = 0;
    s->bound = 0;
}

static int remote_param_count(lsq_stmt *s)
{
    return s->info.nparams;
}

static const char *remote_param_name(lsq_stmt *s, int i)
{
    return i >= 1 && i <= s->info.nparams ? s->pnames[i] : NULL;
}

/* One step of a batch, run only if step cond_step succeeded (cond_step
 * < 0: always). Steps after the first start with a comma. */
static int add_stmt_step(jbuf *b, const char *stmt, size_t n, int cond_step)
{
    char cond[80];

    if (jb_lit(b, ",{") != 0) return -1;
    if (cond_step >= 0) {
        (void)snprintf(cond, sizeof cond, "\"condition\":{\"type\":\"ok\",\"step\":%d},",
                       cond_step);
        if (jb_lit(b, cond) != 0) return -1;
    }
    return jb_lit(b, "\"stmt\":") || jb_raw(b, stmt, n) || jb_lit(b, "}") ? -1 : 0;
}

static int add_probe_step(jbuf *b, int cond_step)
{
    static const char probe[] = "{\"sql\":\"" PROBE_SQL "\"}";

    return add_stmt_step(b, probe, sizeof probe - 1, cond_step);
}

/* The counts between two probes, as SQLite's run_to_end reports them:
 * changes() only if total_changes() moved (DDL leaves changes() as it
 * was). A probe that did not run reads as zeros. */
static void probe_counts(const hr_entry *e, size_t before, size_t after, long long *changes,
                         long long *rowid, long long *total_delta)
{
    const hr_stmt *b = before < e->nsteps ? e->steps[before] : NULL;
    const hr_stmt *a = after < e->nsteps ? e->steps[after] : NULL;
    long long t0 = int_cell(b, 0, 2), t1 = int_cell(a, 0, 2);

    *changes = t1 == t0 ? 0 : int_cell(a, 0, 0);
    *rowid = int_cell(a, 0, 1);
    *total_delta = t1 - t0;
}

/* Whether a statement's first keyword makes it an INSERT, UPDATE or
 * DELETE (what sqlite3_changes counts). */
static int is_write(const char *keyword)
{
    return strcmp(keyword, "INSERT") == 0 || strcmp(keyword, "UPDATE") == 0 ||
           strcmp(keyword, "DELETE") == 0 || strcmp(keyword, "REPLACE") == 0;
}

static int run_stmt(lsq_stmt *s, lsq_error *err)
{
    remote_conn *c = s->c;
    jbuf reqs = { 0 };
    resp_ref *rr;
    const hr_entry *e;
    long long delta, changes, rowid;

    if (!s->bound) {
        lsq_params none = { 0, NULL, NULL };

        if (remote_bind(s, &none, 0, err) != 0) return -1;
    }
    if (jb_lit(&reqs, "{\"type\":\"batch\",\"batch\":{\"steps\":[" PROBE_FIRST) != 0 ||
        add_stmt_step(&reqs, s->body.p, s->body.n, -1) != 0 || add_probe_step(&reqs, 1) != 0 ||
        jb_lit(&reqs, "]}}") != 0) {
        jb_free(&reqs);
        nomem(err);
        return -1;
    }
    if (pipeline(c, &reqs, 1, &rr, err) != 0) {
        jb_free(&reqs);
        return -1;
    }
    jb_free(&reqs);
    e = &rr->r.entries[0];
    if (e->is_error) {
        hr_error_to_lsq(&rr->r, &e->error, err);
        resp_release(rr);
        return -1;
    }
    if (e->resp_type != HR_RESP_BATCH || e->nsteps < 3) {
        lsq_error_set(err, LSQ_E_PROTOCOL, "the server's answer to a batch is not a batch result");
        resp_release(rr);
        return -1;
    }
    if (e->nerrors > 1 && e->step_errors[1].set) {
        hr_error_to_lsq(&rr->r, &e->step_errors[1], err);
        resp_release(rr);
        return -1;
    }
    if (e->steps[1] == NULL) {
        lsq_error_set(err, LSQ_E_PROTOCOL, "the server did not run the statement");
        resp_release(rr);
        return -1;
    }
    s->resp = rr;
    s->res = e->steps[1];
    s->row = 0;
    probe_counts(e, 0, 2, &changes, &rowid, &delta);
    /* Like sqlite3_changes: the count of the last statement that wrote,
     * 0 included (a DELETE that matched nothing); a SELECT keeps it. */
    if (delta != 0 || is_write(s->info.keyword)) c->changes = changes;
    c->last_rowid = rowid;
    c->total_changes += delta > 0 ? delta : 0;
    return 0;
}

static int remote_step(lsq_stmt *s, lsq_error *err)
{
    if (!s->view && s->resp == NULL && run_stmt(s, err) != 0) return LSQ_STEP_ERROR;
    if (s->res == NULL || s->row >= s->res->nrows) return LSQ_STEP_DONE;
    s->row++;
    return LSQ_STEP_ROW;
}

static int remote_column_count(lsq_stmt *s)
{
    return s->res != NULL ? (int)s->res->ncols : 0;
}

static int remote_column_name(lsq_stmt *s, int i, const char **p, size_t *n)
{
    const hr_col *col;

    if (s->res == NULL || i < 0 || (size_t)i >= s->res->ncols) return -1;
    col = &s->res->cols[i];
    *p = col->name.set ? hr_ptr(&s->resp->r, col->name) : "";
    *n = col->name.set ? col->name.len : 0;
    return 0;
}

static const char *remote_column_decltype(lsq_stmt *s, int i)
{
    (void)s, (void)i;
    return NULL; /* known only after a run; prepare cannot ask the server */
}

static int remote_readonly(lsq_stmt *s)
{
    return sql_keyword_readonly(s->info.keyword);
}

static int remote_column_value(lsq_stmt *s, int i, lsq_value *v, lsq_error *err)
{
    (void)err;
    if (s->res == NULL || s->row == 0 || i < 0 || (size_t)i >= s->res->ncols) {
        v->type = LSQ_NULL;
        return 0;
    }
    hr_cell_value(&s->resp->r, &s->res->cells[(s->row - 1) * s->res->ncols + (size_t)i], v);
    return 0;
}

/* ---- batches -------------------------------------------------------------------------- */

/* Group SQL: a transaction of our own, or a savepoint inside the
 * caller's interactive one (v3). */
typedef struct group_sql { const char *begin, *commit, *undo1, *undo2; } group_sql;

static int add_plain_step(jbuf *b, const char *sql, const char *cond)
{
    if (jb_lit(b, ",{") != 0) return -1;
    if (cond != NULL && (jb_lit(b, "\"condition\":") || jb_lit(b, cond) || jb_lit(b, ",")))
        return -1;
    return jb_lit(b, "\"stmt\":{\"sql\":") || jb_str(b, sql, strlen(sql)) || jb_lit(b, "}}")
               ? -1 : 0;
}

/* What a batch item's SQL text says, kept while the next items have the
 * same text: execute_many sends one statement with many parameter lists,
 * and scanning it once per row would be the port's per-row cost. */
typedef struct sql_scan_cache {
    const char *sql;      /* the text scanned (by address), or NULL */
    size_t n;
    int empty;            /* no statement in it */
    sql_stmt_info info;
    char **names;
} sql_scan_cache;

static void scan_cache_clear(sql_scan_cache *sc)
{
    if (sc->sql != NULL) {
        free_names(sc->names, sc->info.nparams);
        sql_info_free(&sc->info);
    }
    memset(sc, 0, sizeof *sc);
}

/* Scan (or reuse) it->sql; only text that passed every check is kept. */
static int scan_item(remote_conn *c, const lsq_batch_item *it, int mode, sql_scan_cache *sc,
                     lsq_error *err)
{
    if (sc->sql == it->sql && sc->n == it->n) return 0;
    scan_cache_clear(sc);
    /* One statement per item, as for execute (a script was split already). */
    if (mode != LSQ_BATCH_SCRIPT && check_single(it->sql, it->n, &sc->empty, err) != 0)
        return -1;
    if (sql_scan_params(it->sql, it->n, &sc->info) != 0) {
        nomem(err);
        return -1;
    }
    /* A batch's transaction is #{transaction => true}; only a script may
     * hold its own BEGIN ... COMMIT (rolled back if left open). */
    if (mode != LSQ_BATCH_SCRIPT && refuse_transaction(c, &sc->info, err) != 0) goto fail;
    if ((sc->names = param_names(&sc->info)) == NULL) {
        nomem(err);
        goto fail;
    }
    sc->sql = it->sql;
    sc->n = it->n;
    return 0;
fail:
    sql_info_free(&sc->info);
    memset(sc, 0, sizeof *sc);
    return -1;
}

/* The Stmt JSON of one batch item (named parameters resolved). 0, 1 for
 * text without a statement (nothing to send), -1 with *err. */
static int item_json(remote_conn *c, const lsq_batch_item *it, int mode, sql_scan_cache *sc,
                     jbuf *stmt, lsq_error *err)
{
    static const lsq_params none = { 0, NULL, NULL };
    const lsq_params *p = it->params != NULL ? it->params : &none;
    if (scan_item(c, it, mode, sc, err) != 0) return -1;
    if (sc->empty) {
        if (p->n == 0) return 1;
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "the statement takes 0 parameters, %zu given",
                      p->n);
        return -1;
    }
    stmt->n = 0;
    return stmt_json(stmt, it->sql, it->n, &sc->info, sc->names, p, err);
}

/* What a batch's round trip gave: with want_results, per item a
 * statement standing before its first row (a view of the response), its
 * changes and last rowid; always the changes of the whole batch and the
 * last rowid. */
typedef struct batch_res {
    lsq_stmt **results;
    long long *changes, *rowids;
    long long total_changes, last_rowid;
} batch_res;

static void batch_res_free(batch_res *out, size_t n);

/* A result of a batch: a statement that only hands out rows already in
 * memory (res NULL for an item without a statement). */
static int add_view(batch_res *out, size_t i, remote_conn *c, resp_ref *rr, const hr_stmt *res,
                    lsq_error *err)
{
    lsq_stmt *view = calloc(1, sizeof *view);

    if (view == NULL) {
        nomem(err);
        return -1;
    }
    view->c = c;
    view->view = 1;
    view->resp = rr;
    if (rr != NULL) rr->refs++;
    view->res = res;
    out->results[i] = view;
    return 0;
}

/* Steps: probe, [BEGIN], then each statement (on ok of the one before)
 * followed by a probe (every statement's with want_results, else one
 * after the last), [COMMIT on ok, ROLLBACK on not ok(COMMIT)], [a script
 * on Hrana 2: ROLLBACK if it left a transaction open]. An item that
 * cannot be sent ends the batch there: outside TX the items before it
 * still run, then its own error is the answer. */
static int run_steps(remote_conn *c, const lsq_batch_item *items, size_t n, int mode,
                     int want_results, batch_res *out, lsq_error *err)
{
    static const group_sql own = { "BEGIN", "COMMIT", "ROLLBACK", NULL };
    static const group_sql nested = { "SAVEPOINT libsql_group", "RELEASE libsql_group",
                                      "ROLLBACK TO libsql_group", "RELEASE libsql_group" };
    const group_sql *g = c->autocommit ? &own : &nested;
    jbuf reqs = { 0 }, stmt = { 0 };
    sql_scan_cache sc = { 0 };
    resp_ref *rr = NULL;
    const hr_entry *e = NULL;
    size_t i, nsend = n, step = 1, commit_step = 0, guard_step = 0, begin_step = 0;
    size_t last_probe = 0, before = 0, sent = 0;
    size_t *stmt_step = NULL, *probe_step = NULL;
    char cond[128];
    int tx = mode == LSQ_BATCH_TX, prev = -1, rc = -1, r, item_failed = 0;
    long long delta, ch, rowid, total = 0;
    lsq_error item_err;

    memset(out, 0, sizeof *out);
    stmt_step = calloc(n + 1, sizeof *stmt_step);
    probe_step = calloc(n + 1, sizeof *probe_step);
    if (stmt_step == NULL || probe_step == NULL) goto nomem;
    if (want_results) {
        out->results = calloc(n + 1, sizeof *out->results);
        out->changes = calloc(n + 1, sizeof *out->changes);
        out->rowids = calloc(n + 1, sizeof *out->rowids);
        if (out->results == NULL || out->changes == NULL || out->rowids == NULL) goto nomem;
    }
    if (jb_lit(&reqs, "{\"type\":\"batch\",\"batch\":{\"steps\":[" PROBE_FIRST) != 0)
        goto nomem;
    if (tx) {
        if (add_plain_step(&reqs, g->begin, NULL) != 0) goto nomem;
        begin_step = step;
        prev = (int)step++;
    }
    for (i = 0; i < n; i++) {
        r = item_json(c, &items[i], mode, &sc, &stmt, err);
        if (r < 0) {
            err->index = (long)i + 1;
            if (tx) goto done;
            item_err = *err;
            item_failed = 1;
            nsend = i;
            break;
        }
        if (r == 1) continue; /* nothing to send: an empty result */
        stmt_step[i] = step;
        if (add_stmt_step(&reqs, stmt.p, stmt.n, prev) != 0) goto nomem;
        prev = (int)step++;
        sent++;
        if (want_results) {
            probe_step[i] = step;
            if (add_probe_step(&reqs, (int)stmt_step[i]) != 0) goto nomem;
            step++;
        }
    }
    if (!want_results && sent > 0) {
        last_probe = step;
        if (add_probe_step(&reqs, prev) != 0) goto nomem;
        step++;
    }
    if (tx) {
        (void)snprintf(cond, sizeof cond, "{\"type\":\"ok\",\"step\":%d}", prev);
        if (add_plain_step(&reqs, g->commit, cond) != 0) goto nomem;
        commit_step = step++;
        (void)snprintf(cond, sizeof cond,
                       "{\"type\":\"not\",\"cond\":{\"type\":\"ok\",\"step\":%zu}}", commit_step);
        if (add_plain_step(&reqs, g->undo1, cond) != 0) goto nomem;
        step++;
        if (g->undo2 != NULL) {
            if (add_plain_step(&reqs, g->undo2, cond) != 0) goto nomem;
            step++;
        }
    }
    if (!c->v3 && mode == LSQ_BATCH_SCRIPT && sent > 0) {
        /* Never leave a transaction open on a server whose one connection
         * every client shares: roll back what the script left. */
        if (add_plain_step(&reqs, "ROLLBACK",
                           "{\"type\":\"not\",\"cond\":{\"type\":\"is_autocommit\"}}") != 0)
            goto nomem;
        guard_step = step++;
    }
    if (jb_lit(&reqs, "]}}") != 0) goto nomem;
    if (sent > 0 || tx) {
        if (pipeline(c, &reqs, 1, &rr, err) != 0) goto done;
        e = &rr->r.entries[0];
        if (e->is_error) {
            hr_error_to_lsq(&rr->r, &e->error, err);
            goto done;
        }
        if (e->resp_type != HR_RESP_BATCH || e->nsteps != step) {
            lsq_error_set(err, LSQ_E_PROTOCOL,
                          "the server's answer to a batch is not a batch result");
            goto done;
        }
        if (tx && e->nerrors > begin_step && e->step_errors[begin_step].set) {
            hr_error_to_lsq(&rr->r, &e->step_errors[begin_step], err);
            goto done;
        }
    }
    /* The first failing statement, in order. */
    for (i = 0; i < nsend; i++) {
        size_t k = stmt_step[i];

        if (k == 0) continue;
        if (k < e->nerrors && e->step_errors[k].set) {
            hr_error_to_lsq(&rr->r, &e->step_errors[k], err);
            err->index = (long)i + 1;
            goto done;
        }
        if (e->steps[k] == NULL) {
            lsq_error_set(err, LSQ_E_PROTOCOL, "the server skipped statement %zu", i + 1);
            goto done;
        }
    }
    if (tx && e->steps[commit_step] == NULL) {
        if (commit_step < e->nerrors && e->step_errors[commit_step].set)
            hr_error_to_lsq(&rr->r, &e->step_errors[commit_step], err);
        else
            lsq_error_set(err, LSQ_E_ERROR, "the batch did not commit");
        goto done;
    }
    if (guard_step != 0 && e->steps[guard_step] != NULL) {
        lsq_error_set(err, LSQ_E_NOT_SUPPORTED,
                      "interactive transactions need a server with Hrana 3 streams; this one "
                      "speaks only Hrana 2 and shares one connection between clients, so the "
                      "transaction the script opened was rolled back");
        goto done;
    }
    out->last_rowid = c->last_rowid;
    for (i = 0; i < nsend; i++) {
        if (want_results && stmt_step[i] == 0) {
            /* An item without a statement: no rows, nothing changed. */
            out->rowids[i] = c->last_rowid;
            if (add_view(out, i, c, rr, NULL, err) != 0) goto done;
            continue;
        }
        if (probe_step[i] == 0) continue;
        probe_counts(e, before, probe_step[i], &ch, &rowid, &delta);
        before = probe_step[i];
        total += delta > 0 ? delta : 0;
        out->last_rowid = rowid;
        if (delta != 0) c->changes = ch;
        c->last_rowid = rowid;
        out->changes[i] = ch;
        out->rowids[i] = rowid;
        if (add_view(out, i, c, rr, e->steps[stmt_step[i]], err) != 0) goto done;
    }
    if (last_probe != 0) {
        probe_counts(e, 0, last_probe, &ch, &rowid, &delta);
        total = delta > 0 ? delta : 0;
        out->last_rowid = rowid;
        if (delta != 0) c->changes = ch;
        c->last_rowid = rowid;
    }
    out->total_changes = total;
    c->total_changes += total;
    if (item_failed) {
        /* The items before the one that could not be sent ran; now its
         * error is the answer. */
        *err = item_err;
        goto done;
    }
    rc = 0;
    goto done;
nomem:
    nomem(err);
done:
    /* On failure nothing is handed back: the caller frees nothing. */
    if (rc != 0) batch_res_free(out, n);
    resp_release(rr);
    scan_cache_clear(&sc);
    jb_free(&reqs);
    jb_free(&stmt);
    free(stmt_step);
    free(probe_step);
    return rc;
}

static void batch_res_free(batch_res *out, size_t n)
{
    size_t i;

    if (out->results != NULL)
        for (i = 0; i < n; i++) remote_finalize(out->results[i]);
    free(out->results);
    free(out->changes);
    free(out->rowids);
    memset(out, 0, sizeof *out);
}

/* A script: split here into statements (as the server will parse them)
 * and run in one round trip, so that its own BEGIN ... COMMIT never spans
 * two requests. A statement with parameters ends it: the ones before it
 * run (as locally), then it is the error. */
static int run_script(remote_conn *c, const char *sql, size_t n, lsq_batch_out *out,
                      lsq_error *err)
{
    lsq_batch_item *items = NULL, *grown;
    batch_res res;
    size_t off = 0, len = 0, cap = 0, count = 0, nparams;
    int empty, bad = 0;
    sql_stmt_info info;

    while (off < n) {
        if (sql_next_statement(sql + off, n - off, &len, &empty) != 0) goto nomem;
        if (!empty) {
            if (sql_scan_params(sql + off, len, &info) != 0) goto nomem;
            nparams = (size_t)info.nparams;
            sql_info_free(&info);
            if (nparams > 0) {
                bad = 1;
                break;
            }
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                grown = realloc(items, cap * sizeof *grown);
                if (grown == NULL) goto nomem;
                items = grown;
            }
            items[count].sql = sql + off;
            items[count].n = len;
            items[count].params = NULL;
            count++;
        }
        off += len;
    }
    if (run_steps(c, items, count, LSQ_BATCH_SCRIPT, 0, &res, err) != 0) {
        if (err->index > 0 && (size_t)err->index <= count) {
            err->sql = items[err->index - 1].sql;
            err->sql_len = items[err->index - 1].n;
        }
        free(items);
        return -1;
    }
    out->total_changes = res.total_changes;
    out->last_rowid = res.last_rowid;
    out->statements = count;
    batch_res_free(&res, 0);
    free(items);
    if (bad) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT,
                      "a script cannot have parameters; use execute or batch");
        err->index = (long)count + 1;
        err->sql = sql + off;
        err->sql_len = len;
        return -1;
    }
    return 0;
nomem:
    free(items);
    nomem(err);
    return -1;
}

/* The batch in one round trip, then each item's outcome to the sink. */
static int remote_run_batch(lsq_conn *conn, const lsq_stmt_source *src, const lsq_batch_item *items,
                            size_t n, int mode, const lsq_batch_sink *sink, lsq_batch_out *out,
                            lsq_error *err)
{
    remote_conn *c = as_remote(conn);
    batch_res res;
    size_t i;
    int rc = 0;

    (void)src; /* statements are sent as text; the server prepares them */
    memset(out, 0, sizeof *out);
    if (mode == LSQ_BATCH_SCRIPT) return run_script(c, items[0].sql, items[0].n, out, err);
    if (run_steps(c, items, n, mode, sink != NULL, &res, err) != 0) return -1;
    for (i = 0; sink != NULL && rc == 0 && i < n; i++) {
        rc = sink->rows(sink->ctx, i, res.results[i], err);
        if (rc == 0 && sink->counts(sink->ctx, i, res.changes[i], res.rowids[i]) != 0) rc = -1;
    }
    out->total_changes = res.total_changes;
    out->last_rowid = res.last_rowid;
    out->statements = n;
    batch_res_free(&res, n);
    return rc < 0 ? LSQ_BATCH_NOMEM : rc > 0 ? -1 : 0;
}

/* ---- transactions -------------------------------------------------------------------- */

static int remote_autocommit(lsq_conn *c);

/* Statements of transaction control, in order, in one round trip (on the
 * connection's stream). A server without streams refuses them
 * (refuse_transaction): a transaction cannot stay open there between
 * requests. 0, or -1 with *err (err->index the failing one). */
static int run_control(remote_conn *c, const char *const *sqls, size_t n, lsq_error *err)
{
    lsq_batch_item items[3];
    batch_res res;
    size_t i;

    for (i = 0; i < n && i < sizeof items / sizeof items[0]; i++) {
        items[i].sql = sqls[i];
        items[i].n = strlen(sqls[i]);
        items[i].params = NULL;
    }
    if (run_steps(c, items, i, LSQ_BATCH_SEQUENCE, 0, &res, err) != 0) {
        /* The error names the statement (static texts: not owned). */
        if (err->index > 0 && (size_t)err->index <= i) {
            err->sql = sqls[err->index - 1];
            err->sql_len = strlen(err->sql);
        }
        return -1;
    }
    batch_res_free(&res, 0);
    return 0;
}

static int remote_begin(lsq_conn *conn, int mode, int read_only, lsq_error *err)
{
    remote_conn *c = as_remote(conn);
    const char *sqls[2] = { lsq_tx_sql(LSQ_TXSQL_DEFERRED + mode),
                            lsq_tx_sql(LSQ_TXSQL_QUERY_ONLY_ON) };
    const char *undo[1] = { lsq_tx_sql(LSQ_TXSQL_ROLLBACK) };
    lsq_error ignored;

    if (run_control(c, sqls, read_only ? 2 : 1, err) != 0) {
        /* The BEGIN ran but the guard did not: undo the BEGIN. */
        if (err->index > 1) (void)run_control(c, undo, 1, &ignored);
        err->index = 0;
        return -1;
    }
    c->tx_read_only = read_only;
    return 0;
}

/* COMMIT or ROLLBACK, with the read-only guard of a read_only begin
 * lifted first, in one round trip. */
static int end_tx(remote_conn *c, const char *sql, lsq_error *err)
{
    const char *sqls[2] = { lsq_tx_sql(LSQ_TXSQL_QUERY_ONLY_OFF), sql };
    int ro = c->tx_read_only;

    if (run_control(c, ro ? sqls : sqls + 1, ro ? 2 : 1, err) != 0) {
        if (ro && err->index > 1) c->tx_read_only = 0;
        err->index = 0;
        return -1;
    }
    c->tx_read_only = 0;
    return 0;
}

static int remote_commit(lsq_conn *conn, lsq_error *err)
{
    remote_conn *c = as_remote(conn);

    return end_tx(c, lsq_tx_sql(LSQ_TXSQL_COMMIT), err);
}

static int remote_rollback(lsq_conn *conn, lsq_error *err)
{
    remote_conn *c = as_remote(conn);

    return end_tx(c, lsq_tx_sql(LSQ_TXSQL_ROLLBACK), err);
}

static int remote_savepoint(lsq_conn *conn, int op, const char *name, lsq_error *err)
{
    remote_conn *c = as_remote(conn);
    char sql[LSQ_SAVEPOINT_SQL_MAX];
    const char *sqls[1] = { sql };
    int rc;

    lsq_savepoint_sql(op, name, sql);
    rc = run_control(c, sqls, 1, err);
    err->index = 0;
    err->sql = NULL; /* sql is ours and goes now: the caller names it */
    return rc;
}

/* An interactive transaction of the last holder rolled back. A server's
 * pragmas are the server's: only a read-only guard of ours is lifted. */
static int remote_clean(lsq_conn *conn, lsq_error *err)
{
    remote_conn *c = as_remote(conn);

    if (remote_autocommit(conn) && !c->tx_read_only) return 0;
    return end_tx(c, lsq_tx_sql(LSQ_TXSQL_ROLLBACK), err);
}

/* ---- connection facts ------------------------------------------------------------------ */

static long long remote_changes(lsq_conn *c) { return as_remote(c)->changes; }
static long long remote_total_changes(lsq_conn *c) { return as_remote(c)->total_changes; }
static long long remote_last_insert_rowid(lsq_conn *c) { return as_remote(c)->last_rowid; }
static void remote_interrupt(lsq_conn *c) { http_interrupt(as_remote(c)->http); }
static void remote_clear_interrupt(lsq_conn *c) { http_clear_interrupt(as_remote(c)->http); }
static int remote_autocommit(lsq_conn *c) { return as_remote(c)->v3 ? as_remote(c)->autocommit : 1; }
/* A server's statement has no columns until it ran. */
static int remote_steps_at_open(lsq_stmt *s)
{
    (void)s;
    return 1;
}

static const char *remote_filename(lsq_conn *c) { return as_remote(c)->base_url; }
static int remote_db_readonly(lsq_conn *c) { (void)c; return 0; }

static int remote_set_busy_timeout(lsq_conn *conn, int ms, lsq_error *err)
{
    (void)conn, (void)ms;
    lsq_error_set(err, LSQ_E_NOT_SUPPORTED, "the busy timeout of a remote database is the "
                  "server's; set timeout and request_timeout instead");
    return -1;
}

static int remote_backup(lsq_conn *conn, const char *dest, const unsigned char *key, size_t n,
                         lsq_error *err)
{
    (void)conn, (void)dest, (void)key, (void)n;
    lsq_error_set(err, LSQ_E_NOT_SUPPORTED, "backup of a remote database is not supported; "
                  "open an embedded replica to get a local copy");
    return -1;
}

const lsq_backend lsq_backend_remote = {
    .mode = "remote",
    .open = remote_open,
    .close = remote_close,
    .prepare = remote_prepare,
    .prepare_next = remote_prepare_next,
    .bind = remote_bind,
    .reset = remote_reset,
    .param_count = remote_param_count,
    .param_name = remote_param_name,
    .column_decltype = remote_column_decltype,
    .readonly = remote_readonly,
    .step = remote_step,
    .column_count = remote_column_count,
    .column_name = remote_column_name,
    .column_value = remote_column_value,
    .finalize = remote_finalize,
    .changes = remote_changes,
    .total_changes = remote_total_changes,
    .last_insert_rowid = remote_last_insert_rowid,
    .interrupt = remote_interrupt,
    .clear_interrupt = remote_clear_interrupt,
    .autocommit = remote_autocommit,
    .filename = remote_filename,
    .db_readonly = remote_db_readonly,
    .set_busy_timeout = remote_set_busy_timeout,
    .limit = NULL, /* the server's */
    .backup = remote_backup,
    .begin = remote_begin,
    .commit = remote_commit,
    .rollback = remote_rollback,
    .savepoint = remote_savepoint,
    .clean = remote_clean,
    .steps_at_open = remote_steps_at_open,
    .run_batch = remote_run_batch,
};
