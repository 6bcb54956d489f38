/*
 * events.h - frames the port sends unasked: {0, event, Event}.
 *
 * Ref 0 is never a request's (port/PROTOCOL.md), so the connection process
 * tells an event from a reply by its ref and tag. Any thread may emit
 * (channel_emit: the writer main.c installs takes the same lock as
 * replies, so a frame is never interleaved with another). Without a
 * writer (the C tests) events are dropped.
 *
 * Events so far, all of an embedded replica's sync:
 *   {sync, Info}         a sync applied pages (Info as the sync command's);
 *   {sync_error, Error}  background sync failed, the first time since it
 *                        last worked (once per outage, not per attempt);
 *   {sync_ok, Info}      background sync works again after sync_error.
 */
#ifndef LSQ_EVENTS_H
#define LSQ_EVENTS_H

#include <stddef.h>
#include "backend.h"

/* Encode Info as the sync command's map into x. 0 or -1 (no memory). */
int events_encode_sync_info(ei_x_buff *x, const lsq_sync_info *info);

/* Emit {0, event, {Tag, Info}} (sync, sync_ok) or {0, event, {sync_error,
 * Error}}. Nothing happens without a writer or memory. */
void events_sync(const char *tag, const lsq_sync_info *info);
void events_sync_error(const lsq_error *err);

#endif
