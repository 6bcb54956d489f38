/*
 * replica_bg.h - background sync of an embedded replica (sync_interval):
 * a thread of the port with a syncer of its own (its own read-write SQLite
 * handle, its own HTTP client), so that a pull never runs on the thread
 * that serves queries and never waits behind one.
 *
 * Every interval it syncs; after a failure it waits longer (doubling, up
 * to a minute) and says so once per outage (events.h: sync_error, then
 * sync_ok), not once per attempt. A sync that applied pages is an event.
 */
#ifndef LSQ_REPLICA_BG_H
#define LSQ_REPLICA_BG_H

#include "replica_sync.h"

typedef struct replica_bg replica_bg;

/* Start syncing s (taken over: freed by replica_bg_stop) every
 * interval_ms. NULL with *err (s freed too). */
replica_bg *replica_bg_start(replica_sync *s, long long interval_ms, lsq_error *err);

/* Stop: the sync running now is interrupted, the thread joined, its
 * syncer freed. */
void replica_bg_stop(replica_bg *b);

#endif
