/*
 * reply.h - the one reply of every request, at the bottom of the command
 * layer: {Ref, ok, Result} or {Ref, error, #{code, message, ...}}.
 *
 * Every command handler returns what it answered, so that the dispatcher
 * counts errors without reading the encoded reply back:
 *   REPLY_OK     an ok reply is in x,
 *   REPLY_ERROR  an error reply is in x,
 *   REPLY_NOMEM  nothing could be encoded (out of memory; the port exits).
 */
#ifndef LSQ_REPLY_H
#define LSQ_REPLY_H

#include <stdarg.h>

#include "errors.h"
#include "term.h"

enum { REPLY_NOMEM = -1, REPLY_OK = 0, REPLY_ERROR = 1 };

/* Start an ok reply {Ref, ok, _} in x (the caller encodes the Result).
 * 0 or -1 (no memory). */
int reply_begin(ei_x_buff *x, long ref);

/* {Ref, ok, ok}: REPLY_OK or REPLY_NOMEM. */
int reply_ok_atom(ei_x_buff *x, long ref);

/* {Ref, error, Map} from *e, replacing whatever x held: REPLY_ERROR or
 * REPLY_NOMEM. */
int reply_error(ei_x_buff *x, long ref, const lsq_error *e);

/* The same from a code and a printf-style message. */
int reply_errorf(ei_x_buff *x, long ref, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int reply_verrorf(ei_x_buff *x, long ref, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
