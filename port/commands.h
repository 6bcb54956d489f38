/*
 * commands.h - the command table: request name -> handler, with the
 * argument count checked in one place before any handler runs.
 */
#ifndef LSQ_COMMANDS_H
#define LSQ_COMMANDS_H

#include <pthread.h>
#include "backend.h"
#include "handles.h"
#include "reply.h"
#include "stmt_cache.h"
#include "term.h"

/* The defaults of the open options (cache size, max_result_bytes, ...)
 * are in open_options.h. */

/* Counters reported by the `stats` command. */
typedef struct port_counters {
    unsigned long long requests; /* worker requests run */
    unsigned long long errors;   /* of which answered with an error */
    unsigned long long rows;     /* rows sent back */
    unsigned long long prepares; /* statements compiled by the backend */
} port_counters;

/* State of one port program: at most one open connection. */
typedef struct lsq_port {
    const lsq_backend *be;       /* backend of the open connection, or NULL */
    lsq_conn *conn;              /* the open connection, or NULL */
    pthread_mutex_t conn_lock;   /* held to change be/conn and by interrupt() */
    stmt_cache *cache;           /* statements by SQL; NULL when closed */
    handles h;                   /* prepared statements and cursors by id */
    port_counters n;             /* counters */
    size_t max_result;           /* reply size cap (bytes) of the open connection */
    struct lsq_function *functions; /* Erlang SQL functions (functions.h) */
    struct cdc *cdc;             /* change data capture, or NULL (cdc.h) */
    struct lsq_extensions *extensions; /* the extensions allowed and loaded (extensions.h) */
} lsq_port;

/* Where a command runs: queued for the main thread (worker), acted on at
 * once by whoever reads it (control), or handed to the callback waiting
 * for it (answer: intake.h). */
enum { CMD_WORKER = 0, CMD_CONTROL = 1, CMD_ANSWER = 2 };

/* An entry of the command table (opaque). */
typedef struct lsq_command lsq_command;

/* The table entry named by r, or NULL for an unknown name. Looked up once
 * per request: main.c keeps it with the request until it runs. */
const lsq_command *commands_find(const lsq_request *r);

/* CMD_CONTROL if c (of r) is a command run at once (not queued),
 * CMD_ANSWER for a callback's answer, CMD_WORKER otherwise (unknown names and wrong argument counts included:
 * commands_run answers them). */
int commands_kind(const lsq_command *c, const lsq_request *r);

/* Run request r (worker commands), whose entry is c (commands_find; NULL:
 * unknown), and leave one complete reply in x. Returns 0, or -1 if the
 * reply could not be encoded (out of memory). */
int commands_run(lsq_port *p, const lsq_command *c, const lsq_request *r, ei_x_buff *x);

/* commands_run for a request whose entry was not looked up yet. */
int commands_dispatch(lsq_port *p, const lsq_request *r, ei_x_buff *x);

/* Close the connection if one is open (shutdown path; main thread). */
void commands_close_all(lsq_port *p);

/* Interrupt the running statement (thread-safe). The caller makes sure a
 * request is running: the flag stays set until commands_clear_interrupt. */
void commands_interrupt(lsq_port *p);
void commands_clear_interrupt(lsq_port *p);

#endif
