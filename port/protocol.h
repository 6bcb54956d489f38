/*
 * protocol.h - constants shared by the port program and the Erlang side.
 *
 * Every value here has a twin in erl/libsql_protocol.hrl: the two files
 * MUST match. The wire protocol itself is described in port/PROTOCOL.md.
 */
#ifndef LSQ_PROTOCOL_H
#define LSQ_PROTOCOL_H

/* Default largest request frame accepted, in bytes (--max-frame overrides). */
#define LSQ_DEFAULT_MAX_FRAME (256u * 1024u * 1024u)

/* Ref used in replies to frames whose own ref could not be read. */
#define LSQ_REF_UNKNOWN 0

/* Largest ref a request may carry: refs are 31-bit so that every reply can
 * encode its ref as a fixed 4-byte INTEGER_EXT (see PROTOCOL.md). */
#define LSQ_REF_MAX 0x7fffffffL

/* Exit codes of the port program. 0 is a normal exit after stdin closed. */
#define LSQ_EXIT_OK 0
#define LSQ_EXIT_READ 2    /* stdin read error or a frame cut off by EOF */
#define LSQ_EXIT_WRITE 3   /* stdout write failed (owner gone) */
#define LSQ_EXIT_NOMEM 4   /* an allocation failed */
#define LSQ_EXIT_USAGE 5   /* bad command-line arguments */
#define LSQ_EXIT_THREAD 6  /* a thread or lock could not be created */

#endif
