/*
 * replica_sync.c - pull, prove, apply (replica_sync.h).
 */
#include "replica_sync.h"
#include "crypt_vfs.h"
#include "http.h"
#include "journal_gather.h"
#include "mono_clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Attempts of one sync: a re-bootstrap can race a server write, and an
 * apply another process's; each retry starts from what the file says. */
#define SYNC_ATTEMPTS 4

struct replica_sync {
    char *path;          /* the replica file */
    char *pull_url;      /* <base>/pull-updates */
    http_client *http;
    sqlite3 *db;         /* the applier: read-write, once the file exists */
    const char *vfs;
    const lsq_crypt_key *key; /* the file's (its VFS's), or NULL: plain */
    int busy_ms;
    size_t max_bytes;    /* cap on a response held in memory */
};

static void nomem(lsq_error *err)
{
    lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
}

/* Wall time in ms, for a sync's `ms'. */
static long long now_ms(void)
{
    return lsq_mono_ns() / 1000000;
}

replica_sync *replica_sync_new(const lsq_open_opts *o, lsq_error *err)
{
    replica_sync *s = calloc(1, sizeof *s);
    char *base = NULL;
    http_opts ho;
    size_t n;

    if (s == NULL) {
        nomem(err);
        return NULL;
    }
    /* An encrypted replica: the file goes through the shim the owner
     * made (kept alive by the owner until this syncer is freed). */
    s->vfs = o->crypt != NULL ? lsq_crypt_vfs_name(o->crypt) : lsq_plain_vfs(o->vfs);
    s->key = lsq_crypt_vfs_key(o->crypt);
    s->busy_ms = (int)o->busy_timeout_ms;
    /* A bootstrap is the whole database in one response: the cap is the
     * reply cap, but never under 2 GiB, so that a max_result_bytes tuned
     * for replies does not make a replica unable to bootstrap. */
    s->max_bytes = (size_t)o->max_result;
    if (s->max_bytes < (size_t)1 << 31) s->max_bytes = (size_t)1 << 31;
    if ((base = http_base_url(o->url, err)) == NULL) goto fail;
    n = strlen(base) + sizeof "/pull-updates";
    s->pull_url = malloc(n);
    s->path = strdup(o->path);
    if (s->pull_url == NULL || s->path == NULL) {
        nomem(err);
        goto fail;
    }
    (void)snprintf(s->pull_url, n, "%s/pull-updates", base);
    ho.auth_token = o->auth_token;
    ho.ca_file = o->ca_file;
    ho.connect_timeout_ms = o->connect_timeout_ms;
    /* A pull is one request: sync_timeout bounds it whole. */
    ho.request_timeout_ms = o->sync_timeout_ms;
    /* A pull can be the whole database: 512 KB reads (curl's default, 16
     * KB, made 2,600 reads and decoder calls of a 40 MB bootstrap). */
    ho.buffer_size = 512 * 1024;
    if ((s->http = http_new(&ho, err)) == NULL) goto fail;
    free(base);
    return s;
fail:
    free(base);
    replica_sync_free(s);
    return NULL;
}

void replica_sync_free(replica_sync *s)
{
    if (s == NULL) return;
    if (s->db != NULL) (void)sqlite3_close_v2(s->db);
    if (s->http != NULL) http_free(s->http);
    free(s->pull_url);
    free(s->path);
    free(s);
}

void replica_sync_set_busy_timeout(replica_sync *s, int ms)
{
    s->busy_ms = ms;
    if (s->db != NULL) (void)sqlite3_busy_timeout(s->db, ms);
}

void replica_sync_interrupt(replica_sync *s)
{
    http_interrupt(s->http);
}

void replica_sync_clear_interrupt(replica_sync *s)
{
    http_clear_interrupt(s->http);
}

/* ---- one request ------------------------------------------------------------ */

static int feed(void *ctx, const char *p, size_t n, lsq_error *err)
{
    return pull_decoder_feed(ctx, p, n, err);
}

/* The text of an error body, made printable. */
static void status_error(long status, const http_errbody *eb, lsq_error *err)
{
    char text[200];
    size_t i, n = eb->n < sizeof text - 1 ? eb->n : sizeof text - 1;

    for (i = 0; i < n; i++) text[i] = eb->p[i] >= 32 && eb->p[i] < 127 ? eb->p[i] : ' ';
    text[n] = 0;
    if (status == 404)
        lsq_error_set(err, LSQ_E_NOT_SUPPORTED, "the server has no /pull-updates: it cannot "
                      "serve an embedded replica (a tursodb --sync-server can)");
    else
        lsq_error_set(err, status == 401 || status == 403 ? LSQ_E_AUTH : LSQ_E_HTTP,
                      "pull-updates: the server answered HTTP %ld: %s", status, text);
}

static int pull(replica_sync *s, const pull_req *q, pull_resp *out, replica_sync_info *info,
                lsq_error *err)
{
    unsigned char *body = NULL;
    http_errbody *eb = malloc(sizeof *eb);
    pull_decoder d;
    size_t len = 0;
    long status = 0;
    int rc = -1;

    memset(out, 0, sizeof *out);
    pull_decoder_init(&d, s->max_bytes);
    if (eb == NULL || pull_req_encode(q, &body, &len) != 0) {
        nomem(err);
        goto out;
    }
    eb->n = 0;
    if (http_request(s->http, s->pull_url, (const char *)body, len, feed, &d, &status, eb, err) != 0)
        goto out;
    if (status < 200 || status >= 300) {
        status_error(status, eb, err);
        goto out;
    }
    info->bytes += d.bytes;
    rc = pull_decoder_finish(&d, out, err);
out:
    pull_decoder_free(&d);
    free(body);
    free(eb);
    return rc;
}

/* ---- proving the history ------------------------------------------------------- */

/* The page the server's frame `rev' wrote: 1 and *page (owned by *resp)
 * when the server has exactly that frame; 0 when it has not (its history
 * is not the one we know); -1 with *err when it cannot be asked. */
static int probe(replica_sync *s, long long rev, pull_resp *resp, const pull_page **page,
                 replica_sync_info *info, lsq_error *err)
{
    pull_req q = { rev - 1, rev, 0 };
    lsq_error perr;

    if (pull(s, &q, resp, info, &perr) != 0) {
        /* No answer at all: the sync fails. A refusal of the question
         * itself (a frame the server does not have): another history. */
        if (perr.code == LSQ_E_NETWORK || perr.code == LSQ_E_TIMEOUT ||
            perr.code == LSQ_E_INTERRUPTED || perr.code == LSQ_E_TLS || perr.code == LSQ_E_AUTH ||
            perr.code == LSQ_E_NOMEM || perr.code == LSQ_E_NOT_SUPPORTED) {
            *err = perr;
            return -1;
        }
        return 0;
    }
    if (resp->revision != rev || resp->npages != 1) return 0;
    *page = &resp->pages[0];
    return 1;
}

/* 1 if the server still has the history of the stored state. */
static int history_holds(replica_sync *s, const replica_state *st, replica_sync_info *info,
                         lsq_error *err)
{
    pull_resp r;
    const pull_page *pg = NULL;
    int rc = probe(s, st->revision, &r, &pg, info, err);

    if (rc == 1)
        rc = pg->pgno == st->probe_pgno && pull_page_hash(pg->data) == st->probe_hash;
    pull_resp_free(&r);
    return rc;
}

/* The probe of a fresh full set at revision rev: the page frame rev wrote,
 * which must be the set's copy of that page. 1 with *st filled, 0 when
 * the server moved to another history meanwhile, -1 with *err. */
static int probe_full_set(replica_sync *s, const pull_resp *set, replica_state *st,
                          replica_sync_info *info, lsq_error *err)
{
    pull_resp r;
    const pull_page *pg = NULL;
    size_t i;
    int rc;

    st->revision = set->revision;
    st->probe_pgno = 0;
    st->probe_hash = 0;
    st->frozen = 0;
    if (set->revision == 0) return 1; /* nothing to probe until a frame exists */
    rc = probe(s, set->revision, &r, &pg, info, err);
    if (rc == 1) {
        rc = 0;
        for (i = 0; i < set->npages; i++)
            if (set->pages[i].pgno == pg->pgno &&
                memcmp(set->pages[i].data, pg->data, PULL_PAGE_SIZE) == 0) {
                st->probe_pgno = pg->pgno;
                st->probe_hash = pull_page_hash(pg->data);
                rc = 1;
            }
    }
    pull_resp_free(&r);
    return rc;
}

/* ---- the applier connection ------------------------------------------------------- */

static int open_applier(replica_sync *s, lsq_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s->db != NULL) return 0;
    rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, s->vfs);
    if (rc != SQLITE_OK) goto fail;
    (void)sqlite3_extended_result_codes(s->db, 1);
    (void)sqlite3_busy_timeout(s->db, s->busy_ms);
    /* The first read rolls back the journal of an apply that crashed
     * (only a read-write handle can), and says how the file is kept. */
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL);
    if (rc != SQLITE_OK) goto fail;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) goto fail;
    if (strcmp((const char *)sqlite3_column_text(st, 0), "delete") != 0) {
        lsq_error_set(err, LSQ_E_CORRUPT, "%s is in journal mode %s: a replica is always in "
                      "rollback-journal mode (delete); was it written by something else?",
                      s->path, (const char *)sqlite3_column_text(st, 0));
        (void)sqlite3_finalize(st);
        (void)sqlite3_close_v2(s->db);
        s->db = NULL;
        return -1;
    }
    (void)sqlite3_finalize(st);
    return 0;
fail:
    lsq_error_sqlite(err, s->db != NULL ? sqlite3_extended_errcode(s->db) : rc,
                     s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    (void)sqlite3_finalize(st);
    (void)sqlite3_close_v2(s->db);
    s->db = NULL;
    return -1;
}

static int file_exists(const char *path, int *empty)
{
    struct stat sb;

    if (stat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
    *empty = sb.st_size == 0;
    return 1;
}

/* ---- bootstrap ---------------------------------------------------------------------- */

/* A server with no pages at all (nothing was ever written to it) has an
 * empty database: one page 1 of our own. 0 or -1 (no memory). */
static int empty_database(pull_resp *set, lsq_error *err)
{
    set->pages = malloc(sizeof *set->pages);
    if (set->pages == NULL || (set->pages[0].data = malloc(PULL_PAGE_SIZE)) == NULL) {
        free(set->pages);
        set->pages = NULL;
        nomem(err);
        return -1;
    }
    replica_empty_page1(set->pages[0].data);
    set->pages[0].pgno = 1;
    set->npages = 1;
    set->db_size = 1;
    return 0;
}

/* Pull the full page set and make it the file's (a new file, or into the
 * existing one). 0 done, 1 try again (the server or another process moved
 * meanwhile), -1 with *err. */
static int bootstrap(replica_sync *s, replica_sync_info *info, lsq_error *err)
{
    pull_req q = { -1, -1, 1 };
    pull_resp set;
    replica_state st;
    int rc, exists, empty = 0;

    if (pull(s, &q, &set, info, err) != 0) return -1;
    if (set.replace_base && set.db_size == 0 && set.npages == 0 &&
        empty_database(&set, err) != 0) {
        pull_resp_free(&set);
        return -1;
    }
    if (!set.replace_base || set.db_size == 0) {
        pull_resp_free(&set);
        lsq_error_set(err, LSQ_E_PROTOCOL, "pull-updates: the server sent no full page set to "
                      "bootstrap from");
        return -1;
    }
    rc = probe_full_set(s, &set, &st, info, err);
    if (rc <= 0) {
        pull_resp_free(&set);
        return rc < 0 ? -1 : 1;
    }
    exists = file_exists(s->path, &empty);
    if (exists < 0) {
        lsq_error_set(err, LSQ_E_CANTOPEN, "cannot stat %s: %s", s->path, strerror(errno));
        rc = -1;
    } else if (exists == 0) {
        rc = replica_file_create(s->path, &set, &st, s->key, err);
    } else if (empty) {
        lsq_error_set(err, LSQ_E_CANTOPEN, "%s is an empty file, not a replica: remove it to "
                      "bootstrap a replica there", s->path);
        rc = -1;
    } else {
        rc = open_applier(s, err);
        if (rc == 0) rc = replica_file_apply(s->db, s->path, &set, -1, &st, &info->locked_us, err);
    }
    if (rc == 0) {
        info->pages = set.npages;
        info->revision = set.revision;
        info->bootstrapped = 1;
    }
    pull_resp_free(&set);
    return rc;
}

/* ---- a sync ---------------------------------------------------------------------------- */

/* The page the response's last frame wrote: the probe of its revision. */
static void probe_of(const pull_resp *r, const replica_state *prev, replica_state *next)
{
    *next = *prev;
    next->revision = r->revision;
    if (r->npages > 0) {
        next->probe_pgno = r->pages[r->npages - 1].pgno;
        next->probe_hash = pull_page_hash(r->pages[r->npages - 1].data);
    }
}

/* One attempt: 0 done, 1 try again, -1 with *err. */
static int sync_once(replica_sync *s, replica_sync_info *info, lsq_error *err)
{
    replica_state st, next;
    pull_req q = { -1, -1, 0 };
    pull_resp r;
    int empty = 0, rc = replica_state_read(s->path, &st, err);

    if (rc < 0) return -1;
    /* No state, or a state without its file: a bootstrap killed between
     * writing the state and linking the file in (replica_file_create). */
    if (rc == 0 || st.revision < 0 || file_exists(s->path, &empty) == 0)
        return bootstrap(s, info, err);
    if (st.frozen) {
        lsq_error_set(err, LSQ_E_NOT_SUPPORTED, "%s was frozen: it is a plain database now "
                      "and never syncs", s->path);
        return -1;
    }
    if (info->revision_before == -2) info->revision_before = st.revision;
    if (st.probe_pgno != 0) {
        rc = history_holds(s, &st, info, err);
        if (rc < 0) return -1;
        if (rc == 0) return bootstrap(s, info, err);
    }
    q.client_revision = st.revision;
    if (pull(s, &q, &r, info, err) != 0) return -1;
    if (r.revision < st.revision || r.replace_base ||
        (st.probe_pgno == 0 && r.revision != st.revision)) {
        /* Behind us (the server's WAL restarted), or changes after a
         * revision we could not prove (0): only the full set is safe. */
        pull_resp_free(&r);
        return bootstrap(s, info, err);
    }
    info->revision = r.revision;
    if (r.revision == st.revision) {
        pull_resp_free(&r);
        return 0;
    }
    probe_of(&r, &st, &next);
    rc = open_applier(s, err);
    if (rc == 0) rc = replica_file_apply(s->db, s->path, &r, st.revision, &next, &info->locked_us, err);
    if (rc == 0) info->pages = r.npages;
    pull_resp_free(&r);
    return rc;
}

int replica_sync_run(replica_sync *s, replica_sync_info *info, lsq_error *err)
{
    long long t0 = now_ms();
    int i, rc = 1;

    memset(info, 0, sizeof *info);
    info->revision_before = -2; /* set by the first attempt that reads a state */
    for (i = 0; i < SYNC_ATTEMPTS && rc == 1; i++) {
        info->pages = 0;
        info->bootstrapped = 0;
        info->locked_us = 0;
        rc = sync_once(s, info, err);
    }
    if (info->revision_before == -2) info->revision_before = -1;
    info->ms = now_ms() - t0;
    if (rc == 1) {
        lsq_error_set(err, LSQ_E_BUSY, "the replica could not be synced: the server or another "
                      "process kept changing it (%d attempts)", SYNC_ATTEMPTS);
        return -1;
    }
    return rc;
}

int replica_sync_prepare(replica_sync *s, replica_sync_info *info, lsq_error *err)
{
    replica_state st;
    int empty = 0, exists = file_exists(s->path, &empty), rc;

    memset(info, 0, sizeof *info);
    info->revision_before = -1;
    if (exists < 0) {
        lsq_error_set(err, LSQ_E_CANTOPEN, "cannot stat %s: %s", s->path, strerror(errno));
        return -1;
    }
    if (exists == 0) {
        long long t0 = now_ms();

        rc = replica_sync_run(s, info, err);
        info->ms = now_ms() - t0;
        if (rc != 0) return -1;
        return open_applier(s, err);
    }
    rc = replica_state_read(s->path, &st, err);
    if (rc < 0) return -1;
    if (rc == 0) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "%s exists and is not a replica (there is no %s-"
                      "replica beside it): open it without url, or give a new path",
                      s->path, s->path);
        return -1;
    }
    if (st.frozen) {
        lsq_error_set(err, LSQ_E_BAD_ARGUMENT, "%s was frozen: it is a plain database now; open it "
                      "without url", s->path);
        return -1;
    }
    info->revision_before = info->revision = st.revision;
    return open_applier(s, err);
}

int replica_sync_state(replica_sync *s, replica_state *st, lsq_error *err)
{
    int rc = replica_state_read(s->path, st, err);

    if (rc == 0) {
        lsq_error_set(err, LSQ_E_CORRUPT, "the replica state %s-replica is gone", s->path);
        return -1;
    }
    return rc < 0 ? -1 : 0;
}

int replica_sync_freeze(replica_sync *s, lsq_error *err)
{
    replica_state st;
    int rc;

    if (open_applier(s, err) != 0) return -1;
    rc = sqlite3_exec(s->db, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        lsq_error_sqlite(err, sqlite3_extended_errcode(s->db), sqlite3_errmsg(s->db));
        return -1;
    }
    rc = replica_sync_state(s, &st, err);
    if (rc == 0) {
        st.frozen = 1;
        rc = replica_state_write(s->path, &st, err);
    }
    (void)sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}
