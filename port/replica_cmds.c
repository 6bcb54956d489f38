/*
 * replica_cmds.c - the commands of an embedded replica: sync, sync_until,
 * replication_index, freeze. Each is one backend operation; a backend
 * without it (local, remote) answers not_supported.
 */
#include "events.h"
#include "handlers.h"

/* The backend's operation, or an error reply saying there is none. */
static int need_replica(lsq_port *p, const lsq_request *r, ei_x_buff *x, const void *op)
{
    int rc = run_need_conn(p, r, x);

    if (rc != REPLY_OK) return rc;
    if (op == NULL)
        return reply_errorf(x, r->ref, LSQ_E_NOT_SUPPORTED, "%s: the connection is %s, not an "
                            "embedded replica (open it with both path and url)", r->cmd,
                            p->be->mode);
    return REPLY_OK;
}

/* {ok, #{revision_before, revision, pages, bytes, ms, locked_us, bootstrapped}} */
static int run_sync(lsq_port *p, const lsq_request *r, ei_x_buff *x, long long until)
{
    lsq_sync_info info;
    lsq_error err;

    if (p->be->sync(p->conn, until, &info, &err) != 0) return reply_error(x, r->ref, &err);
    if (reply_begin(x, r->ref) != 0 || events_encode_sync_info(x, &info) != 0) return REPLY_NOMEM;
    return REPLY_OK;
}

int cmd_sync(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int rc = need_replica(p, r, x, p->be != NULL ? (const void *)p->be->sync : NULL);

    return rc != REPLY_OK ? rc : run_sync(p, r, x, -1);
}

/* {sync_until, Revision} */
int cmd_sync_until(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int idx = r->idx, rc = need_replica(p, r, x, p->be != NULL ? (const void *)p->be->sync : NULL);
    long long until;

    if (rc != REPLY_OK) return rc;
    if (ei_decode_longlong(r->buf, &idx, &until) != 0 || until < 0)
        return reply_errorf(x, r->ref, LSQ_E_BAD_ARGUMENT,
                            "the revision must be a non-negative integer");
    return run_sync(p, r, x, until);
}

int cmd_replication_index(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int rc = need_replica(p, r, x, p->be != NULL ? (const void *)p->be->revision : NULL);
    long long rev;
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (p->be->revision(p->conn, &rev, &err) != 0) return reply_error(x, r->ref, &err);
    if (reply_begin(x, r->ref) != 0 || ei_x_encode_longlong(x, rev) != 0) return REPLY_NOMEM;
    return REPLY_OK;
}

int cmd_freeze(lsq_port *p, const lsq_request *r, ei_x_buff *x)
{
    int rc = need_replica(p, r, x, p->be != NULL ? (const void *)p->be->freeze : NULL);
    lsq_error err;

    if (rc != REPLY_OK) return rc;
    if (p->be->freeze(p->conn, &err) != 0) return reply_error(x, r->ref, &err);
    return reply_ok_atom(x, r->ref);
}
