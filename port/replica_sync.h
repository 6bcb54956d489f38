/*
 * replica_sync.h - one sync of an embedded replica: ask the server what
 * changed (/pull-updates), prove the server's history is still the one the
 * file came from, and apply (replica_file.h).
 *
 * A syncer owns what a sync needs and nothing else: its own read-write
 * SQLite handle on the file (the applier; the app's connections stay
 * query_only), its own HTTP client, no statement of anyone's. So a sync
 * can run on any thread, one syncer per thread: the port's main thread for
 * sync/1 and read-your-writes, the sync thread for sync_interval. Syncers
 * of one file in several threads or processes meet only in the file: its
 * EXCLUSIVE lock serializes applies, and the sidecar read under that lock
 * keeps a revision from being applied twice.
 *
 * Never silently wrong (protocols.md 3.8):
 * - before an increment, the page the stored revision's frame wrote is
 *   asked for again and compared (H1: a server whose WAL restarted, e.g.
 *   after VACUUM, has other frames under the same numbers);
 * - a server revision below the stored one, a probe that differs, or a
 *   revision we cannot probe (0) with changes after it: the full page set
 *   is pulled again and applied into the file (a re-bootstrap);
 * - every response is decoded and checked whole before the file is
 *   touched (pull_proto.h).
 */
#ifndef LSQ_REPLICA_SYNC_H
#define LSQ_REPLICA_SYNC_H

#include "backend.h"
#include "replica_file.h"

typedef struct replica_sync replica_sync;

/* What a sync did (backend.h). */
typedef lsq_sync_info replica_sync_info;

/* A syncer for the replica at o->path of the server at o->url (with
 * o->auth_token, o->ca_file, the timeouts). The file is not touched.
 * NULL with *err. */
replica_sync *replica_sync_new(const lsq_open_opts *o, lsq_error *err);
void replica_sync_free(replica_sync *s);

/* Ready the file for readers: a missing file is bootstrapped from the
 * server (*info says so); an existing one must be a replica (its sidecar)
 * and is opened read-write once, which rolls back the journal of an apply
 * that crashed. 0, or -1 with *err (a plain database at the path, a
 * frozen replica, a server that cannot be reached for a missing file). */
int replica_sync_prepare(replica_sync *s, replica_sync_info *info, lsq_error *err);

/* One sync (the file must be prepared). 0 with *info, or -1 with *err;
 * the file is never left half applied. */
int replica_sync_run(replica_sync *s, replica_sync_info *info, lsq_error *err);

/* What the sidecar says now (another process may have synced). */
int replica_sync_state(replica_sync *s, replica_state *st, lsq_error *err);

/* Mark the file a plain database for good (freeze/1): the sidecar says
 * so, under the file's EXCLUSIVE lock. 0 or -1 with *err. */
int replica_sync_freeze(replica_sync *s, lsq_error *err);

/* How long a sync waits for the file's readers (sqlite3_busy_timeout). */
void replica_sync_set_busy_timeout(replica_sync *s, int ms);

/* From any thread: abort the HTTP request running now (until cleared). */
void replica_sync_interrupt(replica_sync *s);
void replica_sync_clear_interrupt(replica_sync *s);

#endif
