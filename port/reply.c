/*
 * reply.c - building the one reply of a request (see reply.h).
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>

int reply_begin(ei_x_buff *x, long ref)
{
    return term_reply_begin(x, ref, "ok");
}

int reply_ok_atom(ei_x_buff *x, long ref)
{
    if (reply_begin(x, ref) != 0 || ei_x_encode_atom(x, "ok") != 0) return REPLY_NOMEM;
    return REPLY_OK;
}

int reply_error(ei_x_buff *x, long ref, const lsq_error *e)
{
    if (term_reply_begin(x, ref, "error") != 0 || lsq_error_encode(x, e) != 0) return REPLY_NOMEM;
    return REPLY_ERROR;
}

int reply_verrorf(ei_x_buff *x, long ref, const char *code, const char *fmt, va_list ap)
{
    lsq_error err;

    lsq_error_set(&err, code, "%s", "");
    (void)vsnprintf(err.message, sizeof err.message, fmt, ap);
    return reply_error(x, ref, &err);
}

int reply_errorf(ei_x_buff *x, long ref, const char *code, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = reply_verrorf(x, ref, code, fmt, ap);
    va_end(ap);
    return rc;
}
